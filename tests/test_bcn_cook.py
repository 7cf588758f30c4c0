"""BC1, BC4, BC5 and BC6H as cook outputs (issue 15, item 4), end to end.

Each format is cooked from a real corpus image by the real ``oxy cook`` CLI into a
fresh loose root; then ``oxy validate --verify-hashes`` accepts the root, the table
entry read from disk has the format's value, every subresource parsed from the
payload on disk decodes with ``texture2ddecoder`` (an independent decoder) to within
a quality floor of the source, and the runtime loader decodes the same pixels
(``to_rgba8`` / ``to_float32``). Preset defaults (``normal`` -> BC5, ``hdr`` -> BC6H,
``data`` on a greyscale PNG -> BC4), ``--format``, the recipe change, per-strip
progress and a cancel between strips are checked too.

Floors were measured (``normal`` quality, the default; mip 0) and set a little below:
BC1 Wrinkles 42.1 dB -> 41.0; BC4 "This Way Up" 45.35 dB -> 44.5; BC5 normal map
from Wrinkles' heights 0.440 degrees mean angular error (fast 0.458) -> 0.5; BC6H
royal_esplanade log-PSNR 57.8 dB (RMSE 0.00126 in linear light) -> 56.5. (That file
decodes to values in [0, 0.992]: its range is not widened here; ``test_bcn.py``
covers wide-range BC6H.)
"""
from __future__ import annotations

import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from conftest import CORPUS, PROJECT
from cooking import payload, read_table, subresource
from oxy.formats import Format

t2d = pytest.importorskip("texture2ddecoder")

IMAGES = CORPUS / "images"
T = 120.0


def oxy(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oxy", *map(str, args)], capture_output=True, text=True,
                          cwd=PROJECT, timeout=timeout)


def source_pixels(path: pathlib.Path) -> np.ndarray:
    from oxy.cook.image_decode import decode_image

    return decode_image(path.read_bytes(), str(path)).pixels


def normals_from_height(height: np.ndarray, strength: float = 8.0) -> np.ndarray:
    """Unit tangent-space normals (H, W, 3) of a height field in [0, 255]."""
    h = height.astype(np.float64) / 255.0
    dx = np.gradient(h, axis=1) * strength
    dy = np.gradient(h, axis=0) * strength
    n = np.stack([-dx, -dy, np.ones_like(h)], axis=2)
    return n / np.linalg.norm(n, axis=2, keepdims=True)


def mean_angle_deg(xy8: np.ndarray, normals: np.ndarray) -> float:
    """Mean angle between stored X/Y (Z reconstructed, renormalised) and ``normals``."""
    xy = xy8[..., :2].astype(np.float64) / 255.0 * 2 - 1
    z = np.sqrt(np.clip(1 - (xy ** 2).sum(axis=2), 0, 1))
    m = np.concatenate([xy, z[..., None]], axis=2)
    m /= np.linalg.norm(m, axis=2, keepdims=True)
    return float(np.degrees(np.arccos(np.clip((m * normals).sum(axis=2), -1, 1))).mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def log_psnr(decoded: np.ndarray, source: np.ndarray) -> float:
    """PSNR of log2(1 + x) over RGB, peak = the source's log peak (HDR quality)."""
    a, b = np.log2(1 + np.maximum(decoded, 0)), np.log2(1 + np.maximum(source, 0))
    mse = float(np.mean((a - b) ** 2))
    return 10 * np.log10(float(b.max()) ** 2 / mse)


def tight_blocks(blob: bytes, entry: np.void, index: int, block_bytes: int) -> bytes:
    """Subresource ``index`` of a payload as parsed from disk, row padding removed."""
    mip = index % int(entry["mip_levels"])
    w, h = max(1, int(entry["width"]) >> mip), max(1, int(entry["height"]) >> mip)
    layout, data = subresource(blob, index)
    pitch, row, rows = int(layout["row_pitch_bytes"]), -(-w // 4) * block_bytes, -(-h // 4)
    assert pitch % 256 == 0 and pitch >= row and int(layout["offset_bytes"]) % 512 == 0  # D3D12 packing
    assert int(layout["size_bytes"]) == pitch * rows
    return b"".join(data[r * pitch:r * pitch + row] for r in range(rows))


def reference_rgba(fmt: str, blocks: bytes, w: int, h: int) -> np.ndarray:
    """texture2ddecoder's decode as RGBA8 (it writes BGRA)."""
    bgra = getattr(t2d, {"bc1": "decode_bc1", "bc4": "decode_bc4", "bc5": "decode_bc5",
                         "bc6h": "decode_bc6"}[fmt])(blocks, w, h)
    return np.frombuffer(bgra, np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]]


def load_texture(root: pathlib.Path, index: int = 1):
    from oxy.runtime import AssetLoader, LoaderConfig, ResourceKey, ResourceKind, TextureResource

    with AssetLoader(LoaderConfig(cpu_threads=1, verify_content_hashes=True)) as loader:
        source = loader.add_loose_cooked_root(str(root))
        return loader.load_resource(ResourceKey(source, ResourceKind.TEXTURE, index), TextureResource).result(T)


@pytest.fixture(scope="module")
def normal_png(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, np.ndarray]:
    """A tangent-space normal map made from Wrinkles.jpg's luminance as a height field,
    written as an 8-bit PNG, and its exact (float) normals."""
    with Image.open(IMAGES / "Wrinkles.jpg") as im:
        height = np.asarray(im.convert("L"))
    normals = normals_from_height(height)
    rgb = np.clip(np.rint((normals * 0.5 + 0.5) * 255), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("normal") / "wrinkles_normal.png"
    Image.fromarray(rgb, "RGB").save(path)
    return path, normals


# (name, source, oxy cook flags, Format on disk, bcn name, block bytes)
CASES = {
    "bc1": (IMAGES / "Wrinkles.jpg", ("--format", "bc1"), Format.BC1_UNORM_SRGB, 8),
    "bc4": (IMAGES / "This Way Up.png", ("--preset", "data"), Format.BC4_UNORM, 8),
    "bc5": (None, ("--preset", "normal"), Format.BC5_UNORM, 16),
    "bc6h": (IMAGES / "royal_esplanade_1k.hdr", ("--preset", "hdr"), Format.BC6H_FLOAT_U, 16),
}


@pytest.fixture(scope="module")
def cooked(tmp_path_factory: pytest.TempPathFactory, normal_png) -> dict[str, tuple[pathlib.Path, pathlib.Path]]:
    """Each case cooked by ``oxy cook`` into its own fresh root: name -> (source, root)."""
    base = tmp_path_factory.mktemp("bcn_cook")
    out = {}
    for name, (source, flags, _fmt, _bytes) in CASES.items():
        source = source or normal_png[0]
        root = base / name
        result = oxy("cook", source, *flags, "-o", root, "--no-cache")
        assert result.returncode == 0, result.stderr
        out[name] = (source, root)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_cooked_root_validates_and_has_the_format(cooked, name: str) -> None:
    _source, root = cooked[name]
    result = oxy("validate", root, "--verify-hashes", "--strict", timeout=120)  # no warning either
    assert result.returncode == 0, result.stdout + result.stderr
    entry = read_table(root)[1]
    assert int(entry["format"]) == CASES[name][2]
    assert int(entry["mip_levels"]) > 1 and int(entry["compression_type"]) == 0  # 7 is for BC7 only
    assert int(entry["alignment"]) == 256


@pytest.mark.parametrize("name", list(CASES))
def test_every_subresource_decodes_with_texture2ddecoder_and_the_loader(cooked, name: str) -> None:
    """texture2ddecoder (independent) and the runtime loader decode the payload read
    from disk to the same pixels, on every mip."""
    _source, root = cooked[name]
    entry = read_table(root)[1]
    blob = payload(root, entry)
    texture = load_texture(root)
    assert texture.format == CASES[name][2] and texture.payload == blob
    for mip in range(int(entry["mip_levels"])):
        w, h = max(1, int(entry["width"]) >> mip), max(1, int(entry["height"]) >> mip)
        ref = reference_rgba(name, tight_blocks(blob, entry, mip, CASES[name][3]), w, h)
        ours = texture.to_rgba8(0, mip)
        if name == "bc1":
            assert np.array_equal(ours, ref), mip  # the cook never uses BC1's transparent index
        elif name == "bc4":  # texture2ddecoder: red only; the runtime: grey
            assert np.array_equal(ours[..., 0], ref[..., 0]) and np.array_equal(ours[..., 1], ours[..., 0])
            assert (ours[..., 3] == 255).all()
        elif name == "bc5":
            assert np.array_equal(ours[..., :2], ref[..., :2]) and (ours[..., 2] == 0).all(), mip
        else:  # texture2ddecoder's BC6H is 8-bit: clamp(x * 255) of the half-float values
            values = texture.to_float32(0, mip)
            assert np.array_equal(np.clip(np.floor(values[..., :3] * 255 + 0.5), 0, 255), ref[..., :3]), mip
            assert (values[..., 3] == 1).all()


PRESET_OF = {"bc1": "albedo", "bc4": "data", "bc5": "normal", "bc6h": "hdr"}


@pytest.mark.parametrize("name", list(CASES))
def test_exported_dds_cooks_back_by_passthrough(cooked, tmp_path: pathlib.Path, name: str) -> None:
    """``oxy export --format dds`` of the cooked texture, cooked again with the preset
    (and format) that made it: the blocks pass through and the payload is the same."""
    from oxy.cook.texture import cook_texture_files, settings_for

    _source, root = cooked[name]
    result = oxy("export", root, "--all", "-o", tmp_path, "--format", "dds", timeout=120)
    assert result.returncode == 0, result.stderr
    dds, = tmp_path.glob("*.dds")
    settings = settings_for(PRESET_OF[name], **({"output": "bc1"} if name == "bc1" else {}))
    again = cook_texture_files([(dds.name, dds.read_bytes())], settings)
    assert [n.code for n in again.notes] == ["texture.passthrough"]
    assert again.payload == payload(root, read_table(root)[1])


@pytest.mark.parametrize("name", list(CASES))
def test_status_page_thumbnails(cooked, name: str) -> None:
    """The daemon's thumbnails decode every new format (BC5 with its Z rebuilt: blue)."""
    import io

    from oxy.daemon.thumbs import THUMB_SIZE, Thumbnails

    _source, root = cooked[name]
    thumbs = Thumbnails(str(root))
    try:
        thumb = thumbs.render(1)
    finally:
        thumbs.close()
    with Image.open(io.BytesIO(thumb.png)) as im:
        rgba = np.asarray(im.convert("RGBA"))
    assert max(thumb.width, thumb.height) == THUMB_SIZE and rgba.shape[:2] == (thumb.height, thumb.width)
    assert rgba[..., :3].std() > 1  # a picture, not a flat fill
    if name == "bc5":  # mostly flat normals: Z near 1 -> blue near 255
        assert rgba[..., 2].mean() > 200


def test_bc1_quality(cooked) -> None:
    source, root = cooked["bc1"]
    got = load_texture(root).to_rgba8()
    assert psnr(got[..., :3], source_pixels(source)[..., :3]) >= 41.0


def test_bc4_quality(cooked) -> None:
    source, root = cooked["bc4"]
    got = load_texture(root).to_rgba8()
    assert psnr(got[..., 0], source_pixels(source)[..., 0]) >= 44.5


def test_bc5_normal_map_angular_error(cooked, normal_png) -> None:
    _source, root = cooked["bc5"]
    texture = load_texture(root)
    xy = texture.to_rgba8()
    assert mean_angle_deg(xy, normal_png[1]) <= 0.5
    rebuilt = texture.to_rgba8(reconstruct_z=True)  # the engine's Z (blue) against the source's
    assert np.abs(rebuilt[..., 2].astype(int) - source_pixels(normal_png[0])[..., 2]).mean() < 2.0


def test_bc6h_quality(cooked) -> None:
    source, root = cooked["bc6h"]
    values = load_texture(root).to_float32()[..., :3]
    assert log_psnr(values, source_pixels(source)[..., :3]) >= 56.5
    view = load_texture(root).to_rgba8()  # the display view: clamped, sRGB-encoded
    from oxy.cook.colorspace import encode_srgb8

    assert view.dtype == np.uint8 and (view[..., 3] == 255).all()
    assert np.array_equal(view[..., :3], encode_srgb8(np.clip(values, 0, 1)))


def test_format_override_and_preset_defaults(tmp_path: pathlib.Path) -> None:
    """``--format`` overrides every preset; a colour image with the data preset stays
    BC7 (only one-channel sources become BC4), and --format bc7 keeps BC7 for one."""
    grey = IMAGES / "This Way Up.png"
    for flags, source, fmt in ((("--preset", "normal", "--format", "bc7"), grey, Format.BC7_UNORM),
                               (("--preset", "data", "--format", "bc7"), grey, Format.BC7_UNORM),
                               (("--preset", "data"), IMAGES / "Concrete.tga", Format.BC7_UNORM),
                               (("--format", "bc5"), IMAGES / "Concrete.tga", Format.BC5_UNORM),
                               (("--preset", "hdr", "--format", "rgba16f", "--quality", "fast"),
                                IMAGES / "royal_esplanade_1k.hdr", Format.RGBA16_FLOAT)):
        root = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
        result = oxy("cook", source, *flags, "-o", root, "--no-cache")
        assert result.returncode == 0, result.stderr
        assert int(read_table(root)[1]["format"]) == fmt, flags
    result = oxy("cook", grey, "--format", "bc9", "-o", tmp_path / "bad")
    assert result.returncode == 1 and "bc9" in result.stderr


def test_resolution_is_pure_and_the_recipe_changed() -> None:
    """The output is chosen from the pixels and the settings alone, and the texture
    recipe of a normal map is not the one the old code (BC7 normal maps, stage 1) keyed."""
    from oxy.build.recipe import Recipe
    from oxy.cook.image_decode import DecodedImage
    from oxy.cook.texture import TextureSettings, resolve_output, settings_for
    from oxy.importing.units import _settings_json, texture_recipe

    grey = np.repeat(np.arange(64, dtype=np.uint8).reshape(8, 8, 1), 4, axis=2)
    grey[..., 3] = 255
    colour = grey.copy()
    colour[0, 0, 1] = 7
    data = settings_for("data")
    assert resolve_output(data, [DecodedImage(grey, "g", "png", False)]).output == "bc4"
    assert resolve_output(data, [DecodedImage(grey, "g", "png", False), DecodedImage(colour, "c", "png", False)]
                          ).output == "bc7"  # every layer must be one channel
    translucent = grey.copy()
    translucent[0, 0, 3] = 9
    assert resolve_output(data, [DecodedImage(translucent, "t", "png", True)]).output == "bc7"
    assert resolve_output(settings_for("data", output="bc7"), [DecodedImage(grey, "g", "png", False)]).output == "bc7"
    assert settings_for("normal").output == "bc5" and settings_for("hdr").output == "bc6h"
    sources = [("n.png", b"same bytes")]
    old_settings = TextureSettings("normal", "bc7", srgb=False, normal_map=True)
    old = {k: v for k, v in _settings_json(old_settings).items() if k != "grey_output"}
    old_recipe = Recipe("texture", texture_recipe(sources, old_settings, "2d").inputs, {**old, "kind": "2d"},
                        stage_version=1)
    new_recipe = texture_recipe(sources, settings_for("normal"), "2d")
    assert new_recipe.stage_version >= 2 and new_recipe.key != old_recipe.key
    assert new_recipe.settings["output"] == "bc5"
    # a grey data map: same settings fields as before, but the code version moved on
    data_old = {k: v for k, v in _settings_json(data).items() if k != "grey_output"}
    assert texture_recipe(sources, data, "2d").key != Recipe("texture", tuple(new_recipe.inputs),
                                                             {**data_old, "kind": "2d"}, stage_version=1).key


def test_bc5_cook_reports_per_strip_and_a_cancel_stops_it(tmp_path: pathlib.Path, normal_png) -> None:
    """A BC5 cook reports progress after each strip of block rows (more than once per
    level), and a cancel between strips stops the encode (counted, not timed)."""
    from oxy.cook.texture import cook_texture_files, settings_for, watch_progress
    from oxy.importing import AsyncImportService, ImportRequest

    reports: list[tuple[int, int]] = []
    data = normal_png[0].read_bytes()
    cooked = cook_texture_files([("n.png", data)], settings_for("normal"),
                                progress=lambda done, total: reports.append((done, total)))
    assert cooked.shape.format == Format.BC5_UNORM
    levels = cooked.shape.mip_levels
    assert len(reports) > levels and reports[-1][0] == reports[-1][1]
    assert all(b[0] >= a[0] for a, b in zip(reports, reports[1:]))

    src = tmp_path / "big_normal.png"
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (2048, 1024, 3), dtype=np.uint8)).save(src)
    seen: list[tuple[int, int]] = []
    first = threading.Event()

    def sink(_name: str, done: int, total: int) -> None:
        seen.append((done, total))
        first.set()

    with watch_progress([src.name, str(src)], sink), AsyncImportService(cpu_threads=1, cache=None) as service:
        handle = service.submit(ImportRequest(str(src), str(tmp_path / "root"),
                                              options={"preset": "normal", "quality": "high"}))
        assert first.wait(T), "the encode never reported a strip"
        at_cancel = len(seen)
        assert handle.cancel()
        report = handle.wait(T)
        assert report is not None and report.cancelled
    done, total = seen[-1]
    assert done < total, "the whole texture was encoded after the cancel"
    assert len(seen) <= at_cancel + 2
    assert not (tmp_path / "root" / "container.index.bin").exists()


@pytest.mark.parametrize("fmt", [Format.BC1_UNORM, Format.BC4_UNORM])
def test_validator_checks_layouts_by_block_size(fmt: Format) -> None:
    """An 8-byte-block payload is sound as itself; read as a 16-byte-block format its
    tight rows are too short (texture.payload.row_pitch), and a moved subresource
    breaks the packing's alignment."""
    from oxy.cook.payload import TextureShape, pack_texture_payload
    from oxy.formats import PackingPolicy
    from oxy.formats.resources import TEXTURE_DESC_DTYPE
    from oxy.validate.diagnostics import ValidationReport
    from oxy.validate.reader import BytesReader
    from oxy.validate.resources import check_texture_payload

    def codes(cooked, **entry_fields) -> set[str]:
        entry = np.frombuffer(cooked.table_entry(0).build(), TEXTURE_DESC_DTYPE)[0].copy()
        for k, v in entry_fields.items():
            entry[k] = v
        report = ValidationReport("t", "texture")
        check_texture_payload(report, entry, BytesReader(cooked.payload), 0, file="t", file_offset=0, fld="t",
                              table_file="t", at=0, verify_hashes=True)
        return {d.code for d in report.diagnostics}

    subs = [bytes(range(256))[:(-(-max(1, 20 >> m) // 4)) * (-(-max(1, 12 >> m) // 4)) * 8] for m in range(5)]
    for policy in (PackingPolicy.D3D12, PackingPolicy.TIGHT):
        cooked = pack_texture_payload(TextureShape(20, 12, fmt, mip_levels=5), subs, policy=policy)
        assert codes(cooked) == set(), policy
    assert "texture.payload.row_pitch" in codes(cooked, format=Format.BC7_UNORM)  # tight: 40-byte rows < 80
    d3d12 = pack_texture_payload(TextureShape(20, 12, fmt, mip_levels=5), subs)
    moved = bytearray(d3d12.payload)
    moved[28 + 12:28 + 16] = (512 + 8).to_bytes(4, "little")  # subresource 1's offset off the 512 grid
    from dataclasses import replace

    assert "texture.payload.layout_alignment" in codes(replace(d3d12, payload=bytes(moved)), content_hash=0)


def test_cli_choices_are_the_cook_outputs_and_qualities() -> None:
    from oxy.cli.cook_cmd import OUTPUT_CHOICES, QUALITY_CHOICES
    from oxy.cook import bc7, bcn
    from oxy.cook.texture import OUTPUT_FORMATS, bcn_quality

    assert OUTPUT_CHOICES == OUTPUT_FORMATS and QUALITY_CHOICES == bc7.QUALITIES
    mapped = [bcn_quality(q) for q in bc7.QUALITIES]
    assert all(m in bcn.QUALITIES for m in mapped)
    assert [bcn.QUALITIES.index(m) for m in mapped] == sorted(bcn.QUALITIES.index(m) for m in mapped)  # monotone
    assert all(bcn_quality(q) == q for q in bcn.QUALITIES if q in bc7.QUALITIES)
