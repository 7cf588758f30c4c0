"""DDS and KTX2 files as cook sources: pass-through of matching blocks, decoding of the rest,
and one clear error per corrupt or hostile file.

Sources are made two ways: by oxy's own exporter (cook a PNG, ``oxy export --format
dds|ktx2``) and by hand here from Microsoft's DDS_HEADER documentation and the KTX 2.0
specification (a legacy DXT1 DDS, an uncompressed BGRA8 DDS, a KTX2 RGBA8 with mips),
with struct packing written in this file (sharing no code with the readers). Results
are read back from the cooked root on disk (``tests/cooking.py``) and the roots are
checked with ``oxy validate --verify-hashes``.
"""
from __future__ import annotations

import io
import pathlib
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from oxy.cook import bcn
from oxy.cook.image_decode import ImageDecodeError
from oxy.cook.texture import DECODED, PASSTHROUGH, container_source_path, settings_for
from oxy.formats import Format, TextureType
from oxy.interop.containers import read_container

from conftest import PROJECT
from cooking import cook, decode_mip, payload, psnr, read_table, subresource, tight

def run_oxy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oxy", *args], capture_output=True, text=True, cwd=PROJECT,
                          timeout=300)


def gradient(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) * 2 % 256,
                     255 - x * 2 % 256], -1).astype(np.uint8)


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array, "RGBA").save(out, format="PNG")
    return out.getvalue()


# ------------------------------------------------------------------ hand-made files

DDSD = 0x1 | 0x2 | 0x4 | 0x1000  # CAPS | HEIGHT | WIDTH | PIXELFORMAT


def legacy_dds(width: int, height: int, data: bytes, *, fourcc: bytes = b"", bits: int = 0,
               masks: tuple[int, int, int, int] = (0, 0, 0, 0), mips: int = 1, caps2: int = 0) -> bytes:
    """A DDS with the legacy header only (no DX10 extension)."""
    pf_flags = 0x4 if fourcc else 0x40 | (0x1 if masks[3] else 0)   # FOURCC, or RGB (+ ALPHAPIXELS)
    flags = DDSD | (0x20000 if mips > 1 else 0)
    header = struct.pack("<4sIIIIIII44xIIIIIIIIIIII4x", b"DDS ", 124, flags, height, width, 0, 0, mips,
                         32, pf_flags, int.from_bytes(fourcc or b"\0\0\0\0", "little"), bits, *masks,
                         0x1000, caps2, 0, 0)
    assert len(header) == 128
    return header + data


def ktx2(vk: int, type_size: int, width: int, height: int, levels: list[bytes], *, layers: int = 0,
         faces: int = 1, scheme: int = 0) -> bytes:
    """A KTX2 file without DFD/KVD content checks (readers here ignore the DFD): levels
    stored smallest first, each at a 16-byte aligned offset."""
    index_at = 80
    data_at = index_at + 24 * len(levels)
    offsets, cursor = {}, data_at
    for mip in reversed(range(len(levels))):
        cursor += -cursor % 16
        offsets[mip] = cursor
        cursor += len(levels[mip])
    out = bytearray(b"\xabKTX 20\xbb\r\n\x1a\n" + struct.pack("<9I4I2Q", vk, type_size, width, height, 0, layers,
                                                               faces, len(levels), scheme, 0, 0, 0, 0, 0, 0))
    for mip, level in enumerate(levels):
        out += struct.pack("<3Q", offsets[mip], len(level), len(level))
    for mip in reversed(range(len(levels))):
        out += bytes(offsets[mip] - len(out)) + levels[mip]
    return bytes(out)


def box_mips(image: np.ndarray) -> list[np.ndarray]:
    """A full chain (sides halved, rounded down) by Pillow's box filter (any filter will do:
    pass-through must keep the levels as given)."""
    chain = [image]
    while max(chain[-1].shape[:2]) > 1:
        h, w = chain[-1].shape[:2]
        smaller = Image.fromarray(chain[-1], "RGBA").resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BOX)
        chain.append(np.asarray(smaller))
    return chain


# ------------------------------------------------------------------ exported sources


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A PNG and a cube cross cooked (BC7 sRGB with mips; BC7 linear cube), exported as DDS and KTX2."""
    tmp = tmp_path_factory.mktemp("containers")
    (tmp / "src").mkdir()
    (tmp / "src" / "grad.png").write_bytes(png(gradient(72, 40)))
    root = tmp / "root"
    result = run_oxy("cook", str(tmp / "src" / "grad.png"), "-o", str(root))
    assert result.returncode == 0, result.stderr
    face = 16
    cross = np.zeros((3 * face, 4 * face, 4), np.uint8)
    for i, (row, col) in enumerate([(1, 2), (1, 0), (0, 1), (2, 1), (1, 1), (1, 3)]):
        cross[row * face:(row + 1) * face, col * face:(col + 1) * face] = (40 * i, 255 - 40 * i, 90, 255)
    (tmp / "cross.png").write_bytes(png(cross))
    report = cook(root, [tmp / "cross.png"], kind="cube", preset="data")
    assert report.success, [str(d) for d in report.diagnostics]
    files = {}
    for fmt in ("dds", "ktx2"):
        result = run_oxy("export", str(root), "--all", "-o", str(tmp / fmt), "--format", fmt)
        assert result.returncode == 0, result.stderr
        files[fmt] = sorted((tmp / fmt).glob(f"*.{fmt}"))
    table = read_table(root)
    return dict(tmp=tmp, root=root, table=table, files=files)


def _source_entry(exported: dict, texture_type: int) -> tuple[np.void, bytes]:
    entry = next(e for e in exported["table"] if int(e["texture_type"]) == texture_type and int(e["width"]) > 1)
    return entry, payload(exported["root"], entry)


@pytest.mark.parametrize("fmt", ["dds", "ktx2"])
def test_exported_blocks_pass_through_byte_identical_and_the_root_validates(exported, tmp_path, fmt):
    source = next(p for p in exported["files"][fmt] if p.stem.startswith("grad"))
    src_entry, src_payload = _source_entry(exported, TextureType.TEXTURE_2D)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / source.name).write_bytes(source.read_bytes())
    root = tmp_path / "root"
    result = run_oxy("cook", str(folder), "-o", str(root))   # a folder: the suffix is picked up
    assert result.returncode == 0, result.stderr
    entry = read_table(root)[1]
    assert int(entry["format"]) == Format.BC7_UNORM_SRGB
    assert (int(entry["width"]), int(entry["height"]), int(entry["mip_levels"])) == (72, 40, 7)
    cooked = payload(root, entry)
    for mip in range(7):
        assert tight(cooked, entry, 0, mip) == tight(src_payload, src_entry, 0, mip), mip
    # rows are laid at oxy's pitch (256-byte multiple), not the container's packing
    layout, _ = subresource(cooked, 0)
    assert int(layout["row_pitch_bytes"]) % 256 == 0
    check = run_oxy("validate", str(root), "--verify-hashes")
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("fmt", ["dds", "ktx2"])
def test_exported_cube_passes_through_with_kind_cube_and_is_refused_as_2d(exported, tmp_path, fmt):
    source = next(p for p in exported["files"][fmt] if p.stem.startswith("cross"))
    src_entry, src_payload = _source_entry(exported, TextureType.TEXTURE_CUBE)
    report = cook(tmp_path / "cube", [source], kind="cube", preset="data")
    assert report.success, [str(d) for d in report.diagnostics]
    assert any(d.code == "texture.passthrough" for d in report.diagnostics)
    entry = read_table(tmp_path / "cube")[report.outputs[str(source)]]
    assert int(entry["texture_type"]) == TextureType.TEXTURE_CUBE and int(entry["array_layers"]) == 6
    cooked = payload(tmp_path / "cube", entry)
    for layer in range(6):
        for mip in range(int(entry["mip_levels"])):
            assert tight(cooked, entry, layer, mip) == tight(src_payload, src_entry, layer, mip)
    report = cook(tmp_path / "flat", [source], preset="data")
    assert not report.success
    errors = [str(d) for d in report.diagnostics if d.severity.name == "ERROR"]
    assert any("cube map" in e and "--kind cube" in e for e in errors), errors


def test_other_settings_decode_and_recook(exported, tmp_path):
    """BC7 sRGB with a linear preset (data) is decoded and re-encoded: the pixels stay close."""
    source = next(p for p in exported["files"]["dds"] if p.stem.startswith("grad"))
    src_entry, src_payload = _source_entry(exported, TextureType.TEXTURE_2D)
    report = cook(tmp_path / "root", [source], preset="data")
    assert report.success, [str(d) for d in report.diagnostics]
    assert any(d.code == "texture.decoded" for d in report.diagnostics)
    entry = read_table(tmp_path / "root")[report.outputs[str(source)]]
    assert int(entry["format"]) == Format.BC7_UNORM
    assert psnr(decode_mip(payload(tmp_path / "root", entry), entry), decode_mip(src_payload, src_entry)) > 40
    settings, data = settings_for("data"), source.read_bytes()
    assert container_source_path([(source.name, data)], settings, "2d") == DECODED
    assert container_source_path([(source.name, data)], settings_for("albedo"), "2d") == PASSTHROUGH
    assert container_source_path([("a.png", png(gradient(4, 4)))], settings, "2d") is None


def test_mips_off_passes_level_zero_only(exported, tmp_path):
    source = next(p for p in exported["files"]["ktx2"] if p.stem.startswith("grad"))
    src_entry, src_payload = _source_entry(exported, TextureType.TEXTURE_2D)
    report = cook(tmp_path / "root", [source], preset="ui")   # BC7 sRGB, no mips
    assert report.success, [str(d) for d in report.diagnostics]
    entry = read_table(tmp_path / "root")[report.outputs[str(source)]]
    assert int(entry["mip_levels"]) == 1
    assert tight(payload(tmp_path / "root", entry), entry, 0, 0) == tight(src_payload, src_entry, 0, 0)


# ------------------------------------------------------------------ hand-made sources


def test_legacy_dxt1_dds_is_decoded_and_cooked_close_to_the_source(tmp_path):
    image = gradient(40, 24)
    image[..., 3] = 255
    path = tmp_path / "dxt1.dds"
    path.write_bytes(legacy_dds(40, 24, bcn.encode_bc1(image), fourcc=b"DXT1"))
    report = cook(tmp_path / "root", [path])
    assert report.success, [str(d) for d in report.diagnostics]
    entry = read_table(tmp_path / "root")[report.outputs[str(path)]]
    assert int(entry["format"]) == Format.BC7_UNORM_SRGB and int(entry["mip_levels"]) == 6  # mips regenerated
    assert psnr(decode_mip(payload(tmp_path / "root", entry), entry), image) > 32


def test_uncompressed_bgra8_dds_decodes_exactly(tmp_path):
    image = gradient(30, 18)
    path = tmp_path / "bgra.dds"
    path.write_bytes(legacy_dds(30, 18, image[..., [2, 1, 0, 3]].tobytes(), bits=32,
                                masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000)))
    report = cook(tmp_path / "root", [path], preset="data", output="rgba8")
    assert report.success, [str(d) for d in report.diagnostics]
    entry = read_table(tmp_path / "root")[report.outputs[str(path)]]
    assert int(entry["format"]) == Format.RGBA8_UNORM and int(entry["mip_levels"]) == 5
    assert np.array_equal(decode_mip(payload(tmp_path / "root", entry), entry), image)


def test_ktx2_rgba8_with_mips_passes_through_and_is_repacked_to_oxys_pitch(tmp_path):
    chain = box_mips(gradient(20, 12))  # 80-byte rows: oxy pads them to 256
    path = tmp_path / "mips.ktx2"
    path.write_bytes(ktx2(43, 1, 20, 12, [level.tobytes() for level in chain]))   # R8G8B8A8_SRGB
    report = cook(tmp_path / "root", [path], output="rgba8")
    assert report.success, [str(d) for d in report.diagnostics]
    assert any(d.code == "texture.passthrough" for d in report.diagnostics)
    entry = read_table(tmp_path / "root")[report.outputs[str(path)]]
    assert int(entry["format"]) == Format.RGBA8_UNORM_SRGB and int(entry["mip_levels"]) == len(chain)
    cooked = payload(tmp_path / "root", entry)
    for mip, level in enumerate(chain):
        assert tight(cooked, entry, 0, mip) == level.tobytes(), mip
    assert int(subresource(cooked, 0)[0]["row_pitch_bytes"]) == 256
    check = run_oxy("validate", str(tmp_path / "root"), "--verify-hashes")
    assert check.returncode == 0, check.stdout + check.stderr


def test_ktx2_rgba8_with_a_partial_chain_is_decoded_and_mips_regenerated(tmp_path):
    chain = box_mips(gradient(16, 16))[:2]
    path = tmp_path / "partial.ktx2"
    path.write_bytes(ktx2(43, 1, 16, 16, [level.tobytes() for level in chain]))
    report = cook(tmp_path / "root", [path], output="rgba8")
    assert report.success, [str(d) for d in report.diagnostics]
    entry = read_table(tmp_path / "root")[report.outputs[str(path)]]
    assert int(entry["mip_levels"]) == 5
    assert np.array_equal(decode_mip(payload(tmp_path / "root", entry), entry), chain[0])


# ------------------------------------------------------------------ bad files


GOOD_BC1 = legacy_dds(8, 8, bytes(8 * 4), fourcc=b"DXT1")
RGBA8_KTX2 = ktx2(37, 1, 4, 4, [bytes(64)])


def _patch(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


BAD = {
    "fourcc.dds": (_patch(GOOD_BC1, 0x54, "<I", int.from_bytes(b"XYZ1", "little")),
                   "@0x54: pixel format fourCC 'XYZ1' is not supported"),
    "truncated.dds": (GOOD_BC1[:-5], "truncated"),
    "short.dds": (GOOD_BC1[:60], "truncated header"),
    "huge.dds": (_patch(_patch(GOOD_BC1, 0x10, "<I", 0xFFFFFFF0), 0xC, "<I", 0xFFFFFFF0), "@0x10: width"),
    "mips.dds": (_patch(_patch(GOOD_BC1, 0x1C, "<I", 0xFFFFFFFF), 0x8, "<I", DDSD | 0x20000), "@0x1c:"),
    "array.dds": (legacy_dds(8, 8, b"", fourcc=b"DX10")[:0x80] + struct.pack("<5I", 71, 3, 0, 0xFFFFFFFF, 0)
                  + bytes(64), "truncated"),
    "size.dds": (_patch(GOOD_BC1, 0x4, "<I", 123), "@0x4: header size 123"),
    "zstd.ktx2": (_patch(RGBA8_KTX2, 0x2C, "<I", 2), "@0x2c: supercompressionScheme Zstandard"),
    "basis.ktx2": (_patch(RGBA8_KTX2, 0x2C, "<I", 1), "BasisLZ"),
    "vk.ktx2": (_patch(RGBA8_KTX2, 0xC, "<I", 999), "@0xc: vkFormat 999"),
    "layers.ktx2": (_patch(RGBA8_KTX2, 0x20, "<I", 0xFFFFFFFF), "@0x58: level 0 byteLength"),
    "offset.ktx2": (_patch(RGBA8_KTX2, 0x50, "<Q", 1 << 40), "@0x50: level 0 byteOffset"),
    "truncated.ktx2": (RGBA8_KTX2[:-8], "outside the data"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_header_is_one_error_naming_file_and_field(name):
    data, expected = BAD[name]
    with pytest.raises(ImageDecodeError) as info:
        read_container(data, name)
    assert str(info.value).startswith(f"{name}: ") and expected in str(info.value), str(info.value)


def test_bad_files_fail_alone_and_the_good_image_is_committed(tmp_path):
    sources = []
    for name, (data, _expected) in BAD.items():
        (tmp_path / name).write_bytes(data)
        sources.append(tmp_path / name)
    good = tmp_path / "good.png"
    good.write_bytes(png(gradient(8, 8)))
    report = cook(tmp_path / "root", [*sources, good])
    assert not report.success
    assert list(report.outputs) == [str(good)]
    errors = [d for d in report.diagnostics if d.severity.name == "ERROR"]
    assert sorted(pathlib.Path(d.source_path).name for d in errors) == sorted(BAD)
    for d in errors:
        assert BAD[pathlib.Path(d.source_path).name][1] in d.message, d.message
    assert len(read_table(tmp_path / "root")) == 2   # the fallback and the good image


def bc3_blocks(image: np.ndarray) -> bytes:
    """BC3 from oxy's BC4 (alpha) and 4-colour BC1 (colour, preset fast) encoders: per
    block the 8 alpha bytes then the 8 colour bytes."""
    alpha = np.frombuffer(bcn.encode_bc4(np.ascontiguousarray(image[..., 3:4])), np.uint8).reshape(-1, 8)
    colour = np.frombuffer(bcn.encode_bc1(image, "fast"), np.uint8).reshape(-1, 8)
    return np.concatenate([alpha, colour], axis=1).tobytes()


def test_dxt5_dds_decodes_through_texture2ddecoder_or_is_refused_naming_the_format(tmp_path, monkeypatch):
    pytest.importorskip("texture2ddecoder")
    image = gradient(24, 20)
    path = tmp_path / "dxt5.dds"
    path.write_bytes(legacy_dds(24, 20, bc3_blocks(image), fourcc=b"DXT5"))
    report = cook(tmp_path / "root", [path], preset="data", output="rgba8")
    assert report.success, [str(d) for d in report.diagnostics]
    entry = read_table(tmp_path / "root")[report.outputs[str(path)]]
    decoded = decode_mip(payload(tmp_path / "root", entry), entry)
    assert psnr(decoded[..., :3], image[..., :3]) > 30 and psnr(decoded[..., 3], image[..., 3]) > 40
    monkeypatch.setitem(sys.modules, "texture2ddecoder", None)   # as if the dev extra were not installed
    with pytest.raises(ImageDecodeError, match="DDS BC3_UNORM needs texture2ddecoder"):
        from oxy.cook.image_decode import decode_image
        decode_image(path.read_bytes(), "dxt5.dds")


def test_the_daemon_and_the_importer_know_the_suffixes():
    from oxy.daemon.plan import source_kind
    from oxy.importing.texture_importer import IMAGE_SUFFIXES

    assert {".dds", ".ktx2"} <= IMAGE_SUFFIXES
    assert source_kind("/x/sky.DDS") == "image" and source_kind("/x/a.ktx2") == "image"
