"""``oxy export``: DDS, KTX2, PNG and Radiance HDR files of cooked textures, read back
by readers that share no code with the writers.

* DDS: Pillow (``Image.open``, first surface) and texture2ddecoder (every mip of a BC
  texture), plus a strict header parser written here from Microsoft's DDS_HEADER /
  DDS_HEADER_DXT10 documentation.
* KTX2: no maintained KTX2 reader is installable here (PyPI's ``pyktx`` needs libktx,
  which neither PyPI nor Debian bookworm ships; ``pyktx2`` reads only RGBA16F), so
  :func:`parse_ktx2` below is a strict parser written from the KTX 2.0 specification,
  sharing no code with ``oxy.interop.ktx2``.
* PNG: Pillow. HDR: :func:`read_hdr` below (RGBE, flat and run-length scanlines) and
  oxy's own Radiance decoder (the cook's reader, independent of the writer).

Expected bytes come from the payloads on disk, unpadded here with the row pitch of
each subresource layout (``tests/cooking.py`` parses them with the declarations only).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import pathlib
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import DdsImagePlugin, Image

from oxy.cli.main import main
from oxy.cook.payload import TextureShape, fallback_texture, pack_texture_payload
from oxy.cook.descriptors import build_material
from oxy.formats import AssetType, Format, TextureType
from oxy.formats.enums import format_block_info
from oxy.interop.select import safe_relpath
from oxy.interop.texformats import FORMATS
from oxy.samples import ContentSet, write_sample_pak

from conftest import CORPUS, PROJECT
from cooking import BLOCK, cook, decode_mip, payload, read_table, tight

IMAGES = CORPUS / "images"

# ------------------------------------------------------------------ independent readers


def parse_dds(data: bytes) -> dict:
    """A strict DDS + DX10 parser (Microsoft's DDS_HEADER and DDS_HEADER_DXT10)."""
    assert data[:4] == b"DDS ", data[:4]
    (size, flags, height, width, pitch, depth, mips) = struct.unpack_from("<7I", data, 4)
    assert size == 124
    pf_size, pf_flags, fourcc = struct.unpack_from("<II4s", data, 76)
    assert pf_size == 32 and pf_flags & 0x4 and fourcc == b"DX10"
    caps, caps2 = struct.unpack_from("<II", data, 108)
    dxgi, dimension, misc, array_size, misc2 = struct.unpack_from("<5I", data, 128)
    assert flags & 0x1007 == 0x1007  # CAPS HEIGHT WIDTH PIXELFORMAT
    assert caps & 0x1000  # TEXTURE
    return dict(flags=flags, height=height, width=width, pitch=pitch, depth=depth, mips=mips, caps=caps,
                caps2=caps2, dxgi=dxgi, dimension=dimension, misc=misc, array_size=array_size, misc2=misc2,
                data=data[148:])


KTX2_ID = bytes([0xAB, 0x4B, 0x54, 0x58, 0x20, 0x32, 0x30, 0xBB, 0x0D, 0x0A, 0x1A, 0x0A])


def parse_ktx2(data: bytes) -> dict:
    """A strict KTX 2.0 parser (Khronos specification, sections 3-4), for files
    without supercompression. Returns the header, DFD, key/values and each level's bytes."""
    assert data[:12] == KTX2_ID
    names = ("vkFormat", "typeSize", "pixelWidth", "pixelHeight", "pixelDepth", "layerCount", "faceCount",
             "levelCount", "supercompressionScheme")
    h = dict(zip(names, struct.unpack_from("<9I", data, 12)))
    dfd_off, dfd_len, kvd_off, kvd_len = struct.unpack_from("<4I", data, 48)
    sgd_off, sgd_len = struct.unpack_from("<2Q", data, 64)
    assert h["supercompressionScheme"] == 0 and sgd_off == 0 and sgd_len == 0
    assert h["faceCount"] in (1, 6) and h["pixelWidth"] > 0
    levels = max(1, h["levelCount"])
    index = [struct.unpack_from("<3Q", data, 80 + 24 * i) for i in range(levels)]
    assert dfd_off == 80 + 24 * levels, "the DFD follows the level index"
    dfd = parse_dfd(data, dfd_off)
    assert dfd["total"] == dfd_len
    # key/value data: right after the DFD, entries 4-aligned, keys sorted
    assert kvd_off == dfd_off + dfd_len and kvd_off % 4 == 0
    kv, at = {}, kvd_off
    while at < kvd_off + kvd_len:
        length, = struct.unpack_from("<I", data, at)
        entry = data[at + 4:at + 4 + length]
        key, _, value = entry.partition(b"\0")
        kv[key.decode()] = value
        at += 4 + length + (-length % 4)
    assert at == kvd_off + kvd_len and list(kv) == sorted(kv)
    # levels: aligned to lcm(texel block size, 4), smallest first, no overlaps, inside the file
    align = math.lcm(dfd["bytes_plane0"], 4)
    end_of_meta = kvd_off + kvd_len
    for i, (off, length, uncompressed) in enumerate(index):
        assert off % align == 0, (i, off, align)
        assert length == uncompressed and off >= end_of_meta and off + length <= len(data)
        if i + 1 < levels:
            assert index[i + 1][0] + index[i + 1][1] <= off, "level i+1 (smaller) lies before level i"
    assert index[0][0] + index[0][1] == len(data)
    return dict(header=h, **dfd, kv=kv, levels=[data[off:off + length] for off, length, _u in index])


def parse_dfd(data: bytes, at: int) -> dict:
    """A data format descriptor (Khronos Data Format 1.3): dfdTotalSize and one basic block."""
    total, = struct.unpack_from("<I", data, at)
    word0, version, block_size = struct.unpack_from("<IHH", data, at + 4)
    assert word0 == 0 and version == 2 and 4 + block_size == total and (block_size - 24) % 16 == 0
    model, primaries, transfer, dflags = data[at + 12:at + 16]
    samples = []
    for s in range((block_size - 24) // 16):
        where = at + 28 + 16 * s
        bit_offset, bit_length, channel, *_pos = struct.unpack_from("<HBB4B", data, where)
        lower, upper = struct.unpack_from("<II", data, where + 8)
        samples.append((bit_offset, bit_length + 1, channel & 0x0F, channel & 0xF0, lower, upper))
    return dict(total=total, model=model, primaries=primaries, transfer=transfer, dfd_flags=dflags,
                dims=tuple(data[at + 16:at + 20]), bytes_plane0=data[at + 20], samples=samples)


def read_hdr(data: bytes) -> np.ndarray:
    """A Radiance RGBE reader: header, '-Y H +X W', flat or new run-length scanlines."""
    head, _, rest = data.partition(b"\n\n")
    assert head.startswith(b"#?") and b"FORMAT=32-bit_rle_rgbe" in head
    res, _, body = rest.partition(b"\n")
    ys, hs, xs, ws = res.split()
    assert ys == b"-Y" and xs == b"+X"
    h, w = int(hs), int(ws)
    out = np.zeros((h, w, 4), np.uint8)
    pos = 0
    for y in range(h):
        if 8 <= w < 0x8000 and body[pos:pos + 2] == b"\x02\x02" and body[pos + 2] < 128:
            assert (body[pos + 2] << 8) | body[pos + 3] == w
            pos += 4
            for c in range(4):
                x = 0
                while x < w:
                    count = body[pos]
                    pos += 1
                    if count > 128:
                        out[y, x:x + count - 128, c] = body[pos]
                        x, pos = x + count - 128, pos + 1
                    else:
                        out[y, x:x + count, c] = np.frombuffer(body, np.uint8, count, pos)
                        x, pos = x + count, pos + count
        else:
            out[y] = np.frombuffer(body, np.uint8, 4 * w, pos).reshape(w, 4)
            pos += 4 * w
    assert pos == len(body)
    e = out[..., 3].astype(np.int32)
    scale = np.where(e > 0, np.ldexp(1.0, e - 136), 0.0)
    return out[..., :3] * scale[..., None]


# ------------------------------------------------------------------ content

def run_oxy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oxy", *args], capture_output=True, text=True, cwd=PROJECT,
                          timeout=300)


@pytest.fixture(scope="module")
def cooked(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A loose root (sample textures and model: BC7 sRGB with a material; a BC7 cube;
    an RGBA8 array; an RGBA16F HDR; an RGBA32F image) and the PAK packed from it."""
    tmp = tmp_path_factory.mktemp("export")
    root = tmp / "root"
    result = run_oxy("cook", "samples/textures", "samples/models", "-o", str(root))
    assert result.returncode == 0, result.stderr
    face = 32
    cross = np.zeros((3 * face, 4 * face, 4), np.uint8)
    cells = [(1, 2), (1, 0), (0, 1), (2, 1), (1, 1), (1, 3)]
    for i, (row, col) in enumerate(cells):
        cross[row * face:(row + 1) * face, col * face:(col + 1) * face] = (40 * i, 255 - 40 * i, 90, 255)
    Image.fromarray(cross, "RGBA").save(tmp / "cross.png")
    for sources, options in (([tmp / "cross.png"], dict(kind="cube", preset="data")),
                             ([IMAGES / "basn6a16.png", IMAGES / "basn2c16.png"],
                              dict(kind="array", preset="data", output="rgba8")),
                             ([IMAGES / "royal_esplanade_1k.hdr"], dict(preset="hdr", output="rgba16f")),
                             ([IMAGES / "net.png"], dict(preset="data", output="rgba32f"))):
        report = cook(root, sources, **options)
        assert report.success, [str(d) for d in report.diagnostics]
    pak = tmp / "content.pak"
    result = run_oxy("pack", str(root), "-o", str(pak))
    assert result.returncode == 0, result.stderr
    table = read_table(root)
    find = {}
    for i, e in enumerate(table):
        find.setdefault((int(e["format"]), int(e["texture_type"])), i)
    return dict(tmp=tmp, root=root, pak=pak, table=table, index=find)


def export(*args: str) -> tuple[int, dict]:
    """Run ``oxy export ... --json`` in process; returns (exit code, the one JSON document)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["export", *args, "--json"])
    return code, json.loads(out.getvalue())


# ------------------------------------------------------------------ format table


DXGI_NAMES = {
    "R8_UINT": "R8_UINT", "R8_SINT": "R8_SINT", "R8_UNORM": "R8_UNORM", "R8_SNORM": "R8_SNORM",
    "R16_UINT": "R16_UINT", "R16_SINT": "R16_SINT", "R16_UNORM": "R16_UNORM", "R16_SNORM": "R16_SNORM",
    "R16_FLOAT": "R16_FLOAT", "R32_UINT": "R32_UINT", "R32_SINT": "R32_SINT", "R32_FLOAT": "R32_FLOAT",
    "RG8_UINT": "R8G8_UINT", "RG8_SINT": "R8G8_SINT", "RG8_UNORM": "R8G8_UNORM", "RG8_SNORM": "R8G8_SNORM",
    "RG16_UINT": "R16G16_UINT", "RG16_SINT": "R16G16_SINT", "RG16_UNORM": "R16G16_UNORM",
    "RG16_SNORM": "R16G16_SNORM", "RG16_FLOAT": "R16G16_FLOAT", "RG32_UINT": "R32G32_UINT",
    "RG32_SINT": "R32G32_SINT", "RG32_FLOAT": "R32G32_FLOAT", "RGB32_UINT": "R32G32B32_UINT",
    "RGB32_SINT": "R32G32B32_SINT", "RGB32_FLOAT": "R32G32B32_FLOAT", "RGBA8_UINT": "R8G8B8A8_UINT",
    "RGBA8_SINT": "R8G8B8A8_SINT", "RGBA8_UNORM": "R8G8B8A8_UNORM", "RGBA8_UNORM_SRGB": "R8G8B8A8_UNORM_SRGB",
    "RGBA8_SNORM": "R8G8B8A8_SNORM", "BGRA8_UNORM": "B8G8R8A8_UNORM", "BGRA8_UNORM_SRGB": "B8G8R8A8_UNORM_SRGB",
    "RGBA16_UINT": "R16G16B16A16_UINT", "RGBA16_SINT": "R16G16B16A16_SINT", "RGBA16_UNORM": "R16G16B16A16_UNORM",
    "RGBA16_SNORM": "R16G16B16A16_SNORM", "RGBA16_FLOAT": "R16G16B16A16_FLOAT",
    "RGBA32_UINT": "R32G32B32A32_UINT", "RGBA32_SINT": "R32G32B32A32_SINT", "RGBA32_FLOAT": "R32G32B32A32_FLOAT",
    "B5G6R5_UNORM": "B5G6R5_UNORM", "B5G5R5A1_UNORM": "B5G5R5A1_UNORM", "B4G4R4A4_UNORM": "B4G4R4A4_UNORM",
    "R11G11B10_FLOAT": "R11G11B10_FLOAT", "R10G10B10A2_UNORM": "R10G10B10A2_UNORM",
    "R10G10B10A2_UINT": "R10G10B10A2_UINT", "R9G9B9E5_FLOAT": "R9G9B9E5_SHAREDEXP",
    "BC1_UNORM": "BC1_UNORM", "BC1_UNORM_SRGB": "BC1_UNORM_SRGB", "BC2_UNORM": "BC2_UNORM",
    "BC2_UNORM_SRGB": "BC2_UNORM_SRGB", "BC3_UNORM": "BC3_UNORM", "BC3_UNORM_SRGB": "BC3_UNORM_SRGB",
    "BC4_UNORM": "BC4_UNORM", "BC4_SNORM": "BC4_SNORM", "BC5_UNORM": "BC5_UNORM", "BC5_SNORM": "BC5_SNORM",
    "BC6H_FLOAT_U": "BC6H_UF16", "BC6H_FLOAT_S": "BC6H_SF16", "BC7_UNORM": "BC7_UNORM",
    "BC7_UNORM_SRGB": "BC7_UNORM_SRGB", "DEPTH16": "D16_UNORM", "DEPTH24_STENCIL8": "D24_UNORM_S8_UINT",
    "DEPTH32": "D32_FLOAT", "DEPTH32_STENCIL8": "D32_FLOAT_S8X24_UINT",
}


def test_every_format_maps_to_the_dxgi_format_of_its_name_and_agrees_on_block_sizes():
    assert {Format(f).name for f in FORMATS} == {f.name for f in Format if f != Format.UNKNOWN}
    for fmt, info in FORMATS.items():
        name = Format(fmt).name
        assert DdsImagePlugin.DXGI_FORMAT(info.dxgi).name == DXGI_NAMES[name], name
        known = format_block_info(fmt)
        if known is not None:
            assert known == (info.block_bytes, info.block), name


def test_ktx2_data_format_descriptors_of_formats_oxy_does_not_cook():
    """Expected values written from the Khronos Data Format specification's tables."""
    from oxy.interop.ktx2 import data_format_descriptor

    def dfd(fmt):
        return parse_dfd(data_format_descriptor(FORMATS[fmt]), 0)

    e5 = dfd(Format.R9G9B9E5_FLOAT)
    assert e5["model"] == 1 and e5["bytes_plane0"] == 4 and e5["transfer"] == 1
    assert e5["samples"] == [(0, 9, 0, 0, 0, 8448), (27, 5, 0, 0x20, 15, 31), (9, 9, 1, 0, 0, 8448),
                             (27, 5, 1, 0x20, 15, 31), (18, 9, 2, 0, 0, 8448), (27, 5, 2, 0x20, 15, 31)]
    bc3 = dfd(Format.BC3_UNORM_SRGB)  # alpha (linear even in sRGB) then colour, 64 bits each
    assert (bc3["model"], bc3["transfer"], bc3["dims"], bc3["bytes_plane0"]) == (130, 2, (3, 3, 0, 0), 16)
    assert bc3["samples"] == [(0, 64, 15, 0x10, 0, 0xFFFFFFFF), (64, 64, 0, 0, 0, 0xFFFFFFFF)]
    assert dfd(Format.BC4_SNORM)["samples"] == [(0, 64, 0, 0x40, 0x80000000, 0x7FFFFFFF)]
    assert dfd(Format.BC1_UNORM)["samples"] == [(0, 64, 1, 0, 0, 0xFFFFFFFF)]  # BC1A: alpha present
    assert dfd(Format.BC6H_FLOAT_S)["samples"] == [(0, 128, 0, 0xC0, 0xBF800000, 0x3F800000)]
    assert dfd(Format.RG8_SNORM)["samples"] == [(0, 8, 0, 0x40, 0xFFFFFF81, 127), (8, 8, 1, 0x40, 0xFFFFFF81, 127)]
    assert dfd(Format.R32_SINT)["samples"] == [(0, 32, 0, 0x40, 0xFFFFFFFF, 1)]
    assert dfd(Format.B5G6R5_UNORM)["samples"] == [(0, 5, 2, 0, 0, 31), (5, 6, 1, 0, 0, 63), (11, 5, 0, 0, 0, 31)]
    d16 = dfd(Format.DEPTH16)
    assert d16["primaries"] == 0 and d16["samples"] == [(0, 16, 14, 0, 0, 0xFFFF)]
    assert dfd(Format.BGRA8_UNORM_SRGB)["samples"][3] == (24, 8, 15, 0x10, 0, 255)


# ------------------------------------------------------------------ DDS


@pytest.mark.parametrize("source", ["root", "pak"])
def test_dds_of_every_texture_reopens_with_pillow_and_matches_the_payloads(cooked, tmp_path, source):
    import texture2ddecoder

    code, doc = export(str(cooked[source]), "--all", "-o", str(tmp_path / "out"), "--format", "dds")
    assert code == 0, doc
    assert doc["schema"] == "oxy.export/1" and doc["format"] == "dds" and doc["ok"] is True and doc["exit_code"] == 0
    table = cooked["table"]
    assert sorted(int(f["resource"].split(":")[1]) for f in doc["files"]) == list(range(1, len(table)))
    by_content = {int(e["content_hash"]): i for i, e in enumerate(table)}
    seen_types = set()
    for f in doc["files"]:
        data = pathlib.Path(f["path"]).read_bytes()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
        dds = parse_dds(data)
        # the PAK renumbers textures: find the root's entry by content hash of the same texture
        pak_index = int(f["resource"].split(":")[1])
        entry = table[pak_index] if source == "root" else None
        if entry is None:
            from oxy.interop.select import TextureCatalog

            with TextureCatalog(str(cooked["pak"])) as catalog:
                entry = table[by_content[catalog.texture(pak_index).content_hash]]
        fmt, ttype = int(entry["format"]), int(entry["texture_type"])
        seen_types.add((fmt, ttype))
        assert f["format"] == Format(fmt).name and (f["width"], f["mips"]) == (int(entry["width"]),
                                                                              int(entry["mip_levels"]))
        layers, mips = int(entry["array_layers"]), int(entry["mip_levels"])
        assert (dds["width"], dds["height"], dds["mips"]) == (int(entry["width"]), int(entry["height"]), mips)
        assert dds["dxgi"] == FORMATS[fmt].dxgi and dds["dimension"] == 3
        if ttype == TextureType.TEXTURE_CUBE:
            assert dds["misc"] & 0x4 and dds["array_size"] == layers // 6 and dds["caps2"] & 0xFE00 == 0xFE00
        else:
            assert dds["misc"] == 0 and dds["array_size"] == layers
        block_bytes, block = BLOCK[fmt]
        w, h = int(entry["width"]), int(entry["height"])
        if block == 4:
            assert dds["flags"] & 0x80000 and dds["pitch"] == -(-w // 4) * -(-h // 4) * block_bytes
        else:
            assert dds["flags"] & 0x8 and dds["pitch"] == w * block_bytes
        blob = payload(cooked["root"], entry)
        expected = b"".join(tight(blob, entry, layer, mip) for layer in range(layers) for mip in range(mips))
        assert dds["data"] == expected
        if fmt in (Format.BC7_UNORM, Format.BC7_UNORM_SRGB, Format.RGBA8_UNORM, Format.RGBA8_UNORM_SRGB):
            with Image.open(f["path"]) as image:  # Pillow reads the first surface
                assert image.size == (w, h)
                theirs = np.asarray(image.convert("RGBA")).astype(int)
            assert np.abs(theirs - decode_mip(blob, entry, 0, 0)).max() <= 1
        if fmt in (Format.BC7_UNORM, Format.BC7_UNORM_SRGB):  # every mip and layer with texture2ddecoder
            at = 0
            for layer in range(layers):
                for mip in range(mips):
                    mw, mh = max(1, w >> mip), max(1, h >> mip)
                    size = -(-mw // 4) * -(-mh // 4) * 16
                    bgra = texture2ddecoder.decode_bc7(dds["data"][at:at + size], mw, mh)
                    theirs = np.frombuffer(bgra, np.uint8).reshape(mh, mw, 4)[..., [2, 1, 0, 3]].astype(int)
                    assert np.abs(theirs - decode_mip(blob, entry, mip, layer)).max() <= 1, (layer, mip)
                    at += size
    assert (Format.BC7_UNORM, TextureType.TEXTURE_CUBE) in seen_types
    assert (Format.RGBA8_UNORM, TextureType.TEXTURE_2D_ARRAY) in seen_types
    assert (Format.RGBA16_FLOAT, TextureType.TEXTURE_2D) in seen_types


def test_material_key_and_virtual_path_export_the_slots_named_after_the_material(cooked, tmp_path):
    code, by_path = export(str(cooked["root"]), "/.cooked/Materials/brick_cube_Brick.omat", "-o",
                           str(tmp_path / "a"))
    assert code == 0
    [file] = by_path["files"]
    assert file["slot"] == "base_color" and file["path"].endswith("Materials/brick_cube_Brick.base_color.dds")
    code, by_key = export(str(cooked["pak"]), file["key"], "-o", str(tmp_path / "b"))
    assert code == 0 and [f["sha256"] for f in by_key["files"]] == [file["sha256"]]
    code, by_scene = export(str(cooked["root"]), "Scenes/brick_cube.oscene", "-o", str(tmp_path / "c"))
    assert code == 0 and [f["sha256"] for f in by_scene["files"]] == [file["sha256"]]
    code, by_source = export(str(cooked["root"]), str(PROJECT / "samples" / "textures" / "badge.png"), "-o",
                             str(tmp_path / "d"), "--format", "ktx2")
    assert code == 0 and [pathlib.Path(f["path"]).name for f in by_source["files"]] == ["badge.ktx2"]


# ------------------------------------------------------------------ KTX2


def test_ktx2_levels_equal_the_subresources_and_the_header_follows_the_spec(cooked, tmp_path):
    code, doc = export(str(cooked["root"]), "--all", "-o", str(tmp_path), "--format", "ktx2")
    assert code == 0, doc
    table = cooked["table"]
    vk = {Format.BC7_UNORM: 145, Format.BC7_UNORM_SRGB: 146, Format.RGBA8_UNORM: 37, Format.RGBA16_FLOAT: 97,
          Format.RGBA32_FLOAT: 109}
    for f in doc["files"]:
        entry = table[int(f["resource"].split(":")[1])]
        fmt, ttype = int(entry["format"]), int(entry["texture_type"])
        k = parse_ktx2(pathlib.Path(f["path"]).read_bytes())
        h = k["header"]
        cube = ttype == TextureType.TEXTURE_CUBE
        layers, mips = int(entry["array_layers"]), int(entry["mip_levels"])
        assert h["vkFormat"] == vk[fmt]
        assert (h["pixelWidth"], h["pixelHeight"], h["pixelDepth"]) == (int(entry["width"]), int(entry["height"]), 0)
        assert h["faceCount"] == (6 if cube else 1) and h["levelCount"] == mips
        assert h["layerCount"] == (layers if ttype == TextureType.TEXTURE_2D_ARRAY else 0)
        block_bytes, block = BLOCK[fmt]
        assert k["bytes_plane0"] == block_bytes and k["dims"] == ((3, 3, 0, 0) if block == 4 else (0, 0, 0, 0))
        assert k["transfer"] == (2 if fmt in (Format.BC7_UNORM_SRGB, Format.RGBA8_UNORM_SRGB) else 1)
        assert k["primaries"] == 1 and k["kv"]["KTXwriter"].startswith(b"oxy ") and k["kv"]["KTXwriter"][-1:] == b"\0"
        if block == 4:
            assert k["model"] == 134 and h["typeSize"] == 1 and k["samples"] == [(0, 128, 0, 0, 0, 0xFFFFFFFF)]
        elif fmt == Format.RGBA16_FLOAT:
            assert h["typeSize"] == 2 and k["model"] == 1
            assert [(s[0], s[1], s[2], s[3]) for s in k["samples"]] == [(0, 16, 0, 0xC0), (16, 16, 1, 0xC0),
                                                                        (32, 16, 2, 0xC0), (48, 16, 15, 0xC0)]
        elif fmt == Format.RGBA8_UNORM:
            assert h["typeSize"] == 1 and [s[1:] for s in k["samples"]] == [(8, c, 0, 0, 255) for c in (0, 1, 2, 15)]
        blob = payload(cooked["root"], entry)
        for mip in range(mips):
            assert k["levels"][mip] == b"".join(tight(blob, entry, layer, mip) for layer in range(layers)), mip


# ------------------------------------------------------------------ PNG and HDR


def test_png_of_a_chosen_mip_layer_and_face_equals_the_decode(cooked, tmp_path):
    table, root, index = cooked["table"], cooked["root"], cooked["index"]
    cube = index[(Format.BC7_UNORM, TextureType.TEXTURE_CUBE)]
    array = index[(Format.RGBA8_UNORM, TextureType.TEXTURE_2D_ARRAY)]
    for selector, options, layer, mip in ((f"texture:{cube}", ["--face=-y", "--mip", "1"], 3, 1),
                                          (f"texture:{cube}", ["--face", "5"], 5, 0), (f"texture:{cube}", ["--face", "px"], 0, 0),
                                          (f"texture:{array}", ["--layer", "1"], 1, 0),
                                          ("texture:1", ["--mip", "2"], 0, 2)):
        out = tmp_path / f"{selector}{layer}{mip}".replace(":", "_")
        code, doc = export(str(root), selector, "-o", str(out), "--format", "png", *options)
        assert code == 0, doc
        entry = table[int(selector.split(":")[1])]
        with Image.open(doc["files"][0]["path"]) as image:
            pixels = np.asarray(image.convert("RGBA"))
        assert np.array_equal(pixels, decode_mip(payload(root, entry), entry, mip, layer)), selector


def test_hdr_of_float_textures_reads_back_close_to_the_floats(cooked, tmp_path):
    from oxy.cook.image_decode import decode_image

    table, root, index = cooked["table"], cooked["root"], cooked["index"]
    for fmt in (Format.RGBA16_FLOAT, Format.RGBA32_FLOAT):
        i = index[(fmt, TextureType.TEXTURE_2D)]
        for mip in (0, 1):
            code, doc = export(str(root), f"texture:{i}", "-o", str(tmp_path / f"{fmt}{mip}"), "--format", "hdr",
                               "--mip", str(mip))
            assert code == 0, doc
            data = pathlib.Path(doc["files"][0]["path"]).read_bytes()
            source = decode_mip(payload(root, table[i]), table[i], mip).astype(np.float64)[..., :3]
            ours = read_hdr(data)
            assert ours.shape == source.shape
            peak = np.maximum(source.max(axis=2, keepdims=True), 1e-30)
            assert np.all(np.abs(ours - source) <= peak / 128 + 1e-30), fmt
            cooks = decode_image(data, "x.hdr").pixels[..., :3]  # oxy's own Radiance reader agrees
            assert np.array_equal(cooks, ours.astype(np.float32))
    code, doc = export(str(root), "texture:1", "-o", str(tmp_path / "x"), "--format", "hdr")
    assert code == 4 and doc["error"]["code"] == "unsupported_format" and "BC7_UNORM_SRGB" in doc["error"]["message"]
    code, doc = export(str(root), f"texture:{index[(Format.RGBA16_FLOAT, TextureType.TEXTURE_2D)]}", "-o",
                       str(tmp_path / "y"), "--format", "png")
    assert code == 4 and "RGBA16_FLOAT" in doc["error"]["message"] and "--format hdr" in doc["error"]["message"]


# ------------------------------------------------------------------ formats oxy does not cook


def _texture(fmt: Format, w: int, h: int, mips: int, layers: int, ttype: TextureType, seed: int, depth: int = 1):
    rng = np.random.default_rng(seed)
    block_bytes, block = BLOCK[fmt]
    subs = []
    for _layer in range(layers):
        for mip in range(mips):
            mw, mh, md = max(1, w >> mip), max(1, h >> mip), max(1, depth >> mip)
            size = -(-mw // block) * -(-mh // block) * block_bytes * md
            subs.append(rng.integers(0, 256, size, np.uint8).tobytes())
    shape = TextureShape(width=w, height=h, format=fmt, mip_levels=mips, array_layers=layers, texture_type=ttype,
                         depth=depth)
    return pack_texture_payload(shape, subs), subs


def test_formats_oxy_does_not_cook_round_trip_through_dds_and_ktx2(tmp_path):
    import texture2ddecoder

    specs = [(Format.BC1_UNORM, 20, 12, 3, 1, TextureType.TEXTURE_2D),
             (Format.BC4_UNORM, 16, 16, 2, 2, TextureType.TEXTURE_2D_ARRAY),
             (Format.BC5_UNORM, 8, 8, 1, 12, TextureType.TEXTURE_CUBE_ARRAY),
             (Format.R11G11B10_FLOAT, 6, 5, 3, 1, TextureType.TEXTURE_2D),
             (Format.R8_UNORM, 7, 3, 2, 1, TextureType.TEXTURE_2D),
             (Format.BGRA8_UNORM, 5, 4, 1, 1, TextureType.TEXTURE_2D),
             (Format.R9G9B9E5_FLOAT, 9, 3, 1, 1, TextureType.TEXTURE_2D)]
    content = ContentSet()
    content.textures = [fallback_texture()]
    subs_of = {}
    for n, spec in enumerate(specs):
        cooked, subs = _texture(*spec, seed=n)
        content.textures.append(cooked)
        subs_of[n + 1] = (spec, subs)
    volume, volume_subs = _texture(Format.R8_UNORM, 5, 4, 2, 1, TextureType.TEXTURE_3D, 9, depth=3)
    premultiplied = bytearray(volume.payload)
    premultiplied[5] = 1  # TexturePayloadHeader.flags: PremultipliedAlpha
    content.textures.append(dataclasses.replace(volume, payload=bytes(premultiplied)))
    subs_of[len(specs) + 1] = ((Format.R8_UNORM, 5, 4, 2, 1, TextureType.TEXTURE_3D), volume_subs)
    assert subs_of[7][0][0] == Format.R9G9B9E5_FLOAT and subs_of[8][0][1:] == (5, 4, 2, 1, TextureType.TEXTURE_3D)
    content.assets = [(AssetType.MATERIAL, "Odd", build_material("Odd", textures={"base_color": 1, "normal": 2}))]
    pak = tmp_path / "odd.pak"
    write_sample_pak(pak, content)
    for kind in ("dds", "ktx2"):
        code, doc = export(str(pak), "--all", "-o", str(tmp_path / kind), "--format", kind)
        assert code == 0, doc
        for f in doc["files"]:
            (fmt, w, h, mips, layers, ttype), subs = subs_of[int(f["resource"].split(":")[1])]
            data = pathlib.Path(f["path"]).read_bytes()
            if kind == "dds":
                dds = parse_dds(data)
                assert dds["data"] == b"".join(subs) and dds["dxgi"] == FORMATS[fmt].dxgi
                cube = ttype == TextureType.TEXTURE_CUBE_ARRAY
                assert dds["array_size"] == (layers // 6 if cube else layers) and bool(dds["misc"] & 4) == cube
                volume = ttype == TextureType.TEXTURE_3D
                assert dds["dimension"] == (4 if volume else 3) and dds["misc2"] == (2 if volume else 0)
                assert (dds["depth"], bool(dds["flags"] & 0x800000), bool(dds["caps2"] & 0x200000)) == (
                    (3, True, True) if volume else (0, False, False))
                if fmt == Format.BC1_UNORM:  # Pillow (DXGI rules: 3-colour blocks' index 3 is transparent)
                    with Image.open(f["path"]) as image:
                        pillow_bc1 = np.asarray(image.convert("RGBA"))
                    bgra = texture2ddecoder.decode_bc1(subs[0], w, h)  # colours only (it ignores BC1 alpha)
                    assert np.array_equal(pillow_bc1[..., :3],
                                          np.frombuffer(bgra, np.uint8).reshape(h, w, 4)[..., [2, 1, 0]])
                    assert (pillow_bc1[..., 3] == 0).any()
            else:
                k = parse_ktx2(data)
                for mip in range(mips):
                    assert k["levels"][mip] == b"".join(subs[layer * mips + mip] for layer in range(layers))
                if ttype == TextureType.TEXTURE_CUBE_ARRAY:
                    assert k["header"]["faceCount"] == 6 and k["header"]["layerCount"] == layers // 6
                assert k["header"]["pixelDepth"] == (3 if ttype == TextureType.TEXTURE_3D else 0)
                if fmt == Format.R11G11B10_FLOAT:
                    assert k["header"]["vkFormat"] == 122 and k["header"]["typeSize"] == 4
                    assert [s[:4] for s in k["samples"]] == [(0, 11, 0, 0x80), (11, 11, 1, 0x80), (22, 10, 2, 0x80)]
    # HDR of R11G11B10: decoded here from the bit layout (5-bit exponent, 6/5-bit mantissa)
    code, doc = export(str(pak), "texture:4", "-o", str(tmp_path / "hdr"), "--format", "hdr", "--mip", "1")
    packed = np.frombuffer(subs_of[4][1][1], "<u4").reshape(2, 3)

    def small(v, mbits):
        e, m = v >> mbits, v & ((1 << mbits) - 1)
        return np.where(e == 0, m / (1 << mbits) * 2.0 ** -14, (1 + m / (1 << mbits)) * 2.0 ** (e.astype(int) - 15))

    rgb = np.stack([small(packed & 0x7FF, 6), small((packed >> 11) & 0x7FF, 6), small(packed >> 22, 5)], axis=2)
    finite = np.isfinite(rgb).all(axis=2) & ((packed >> 6) & 0x1F != 31) & ((packed >> 17) & 0x1F != 31) \
        & ((packed >> 27) != 31)
    ours = read_hdr(pathlib.Path(doc["files"][0]["path"]).read_bytes())
    peak = rgb.max(axis=2, keepdims=True)
    assert np.all((np.abs(ours - rgb) <= peak / 128 + 1e-30)[finite])
    # HDR of R9G9B9E5: mantissa / 512 * 2^(exponent - 15), decoded here from the bit layout
    code, doc = export(str(pak), "texture:7", "-o", str(tmp_path / "hdr"), "--format", "hdr")
    assert code == 0, doc
    packed = np.frombuffer(subs_of[7][1][0], "<u4").reshape(3, 9).astype(np.int64)
    rgb = np.stack([((packed >> s) & 511) / 512 * 2.0 ** ((packed >> 27) - 15) for s in (0, 9, 18)], axis=2)
    ours = read_hdr(pathlib.Path(doc["files"][0]["path"]).read_bytes())
    assert np.all(np.abs(ours - rgb) <= rgb.max(axis=2, keepdims=True) / 128 + 1e-30)
    # PNG of BC1, R8 and BGRA8
    for index in (1, 5, 6):
        (fmt, w, h, *_), subs = subs_of[index]
        code, doc = export(str(pak), f"texture:{index}", "-o", str(tmp_path / "png"), "--format", "png")
        assert code == 0, doc
        with Image.open(doc["files"][0]["path"]) as image:
            pixels = np.asarray(image)
        raw = np.frombuffer(subs[0], np.uint8)
        if fmt == Format.BC1_UNORM:
            assert np.array_equal(pixels, pillow_bc1)
        elif fmt == Format.R8_UNORM:
            assert np.array_equal(pixels[..., 0], raw.reshape(h, w)) and (pixels[..., 3] == 255).all()
        elif fmt == Format.BGRA8_UNORM:
            assert np.array_equal(pixels, raw.reshape(h, w, 4)[..., [2, 1, 0, 3]])


# ------------------------------------------------------------------ names, confinement, JSON contract


def test_safe_relpath_never_climbs_or_starts_at_the_root():
    assert safe_relpath("../../etc/passwd") == "__/__/etc/passwd"
    assert safe_relpath("/abs/x y") == "abs/x_y"
    assert safe_relpath("a/./b//..") == "a/_/b/__"
    assert safe_relpath("C:\\Windows\\x") == "C_/Windows/x"
    assert safe_relpath("///") == "texture"
    for hostile in ("..", "../..", "/..", "a/../../..", "\\..\\.."):
        assert ".." not in safe_relpath(hostile).split("/") and not safe_relpath(hostile).startswith("/")


def test_hostile_virtual_paths_and_planted_links_stay_inside_the_output_folder(tmp_path):
    content = ContentSet()
    content.textures = [fallback_texture(), _texture(Format.RGBA8_UNORM, 4, 4, 1, 1, TextureType.TEXTURE_2D, 7)[0]]
    content.assets = [(AssetType.MATERIAL, "../../../../escape", build_material("x", textures={"base_color": 1}))]
    pak = tmp_path / "hostile.pak"
    write_sample_pak(pak, content)
    out = tmp_path / "deep" / "out"
    code, doc = export(str(pak), "--all", "-o", str(out), "--format", "png")
    assert code == 0, doc
    [f] = doc["files"]
    written = pathlib.Path(f["path"]).resolve()
    assert out.resolve() in written.parents and written.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "hostile.pak"]
    # a link planted in the output folder that leads out of it is refused, not followed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(out)
    out.mkdir()
    os.symlink(elsewhere, out / "Materials")
    code, doc = export(str(pak), "--all", "-o", str(out), "--format", "png")
    assert code == 3 and doc["error"]["code"] == "root_escape" and list(elsewhere.iterdir()) == []


def test_json_failures_are_one_document_with_the_exit_codes(cooked, tmp_path):
    root = str(cooked["root"])
    code, doc = export(root, "no/such/asset.omat", "-o", str(tmp_path / "o"))
    assert code == 4 and doc == {"schema": "oxy.export/1", "ok": False, "exit_code": 4, "error": {
        "code": "no_match", "path": root, "message": doc["error"]["message"]}}
    assert "no/such/asset.omat" in doc["error"]["message"] and "texture:N" in doc["error"]["message"]
    code, doc = export(root, "texture:999", "-o", str(tmp_path / "o"))
    assert code == 4 and "holds" in doc["error"]["message"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, doc = export(root, "--all", "-o", str(a_file))
    assert code == 2 and doc["error"]["code"] == "io_error" and doc["error"]["path"] == str(a_file)
    assert "not a directory" in doc["error"]["message"]
    code, doc = export(root, "--all", "-o", str(a_file / "sub"))
    assert code == 2 and "not a directory" in doc["error"]["message"]
    code, doc = export(root, "--all", "-o", str(tmp_path / "o"), "--mip", "1")
    assert code == 1 and doc["error"]["code"] == "usage" and "--mip" in doc["error"]["message"]
    code, doc = export(root, "texture:1", "--all", "-o", str(tmp_path / "o"))
    assert code == 1 and doc["error"]["code"] == "usage"
    code, doc = export(root, "texture:1", "-o", str(tmp_path / "o"), "--format", "png", "--face", "+x")
    assert code == 4 and "cube" in doc["error"]["message"]
    code, doc = export(str(tmp_path / "missing.pak"), "--all", "-o", str(tmp_path / "o"))
    assert code == 2 and doc["error"]["code"] == "not_found" and doc["error"]["path"] == str(tmp_path / "missing.pak")
    broken = tmp_path / "broken.pak"
    broken.write_bytes(cooked["pak"].read_bytes()[:300])
    code, doc = export(str(broken), "--all", "-o", str(tmp_path / "o"))
    assert code == 3 and doc["error"]["code"] == "invalid_content" and doc["error"]["path"] == str(broken)
    # argparse's own usage errors are JSON too when --json is given
    result = run_oxy("export", root, "--all", "-o", str(tmp_path / "o"), "--format", "tga", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["error"]["code"] == "usage"


def test_cli_text_output_creates_nested_folders_and_json_lists_every_file(cooked, tmp_path):
    out = tmp_path / "a" / "b" / "c"
    result = run_oxy("export", str(cooked["root"]), "--all", "-o", str(out), "--format", "ktx2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(cooked["table"]) - 1 and all(line.split("\t")[0].endswith(".ktx2") for line in lines)
    assert "written to" in result.stderr
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.ktx2"))
    assert len(files) == len(lines)
    names = {pathlib.Path(line.split("\t")[0]).name for line in lines}
    assert {"badge.ktx2", "checker.ktx2", "brick_cube_Brick.base_color.ktx2", "cross.ktx2", "basn6a16.ktx2",
            "royal_esplanade_1k.ktx2", "net.ktx2"} == names  # names from the build records and the material
