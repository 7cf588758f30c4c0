"""DDS reader: legacy and DX10 headers into a :class:`~oxy.interop.containers.ContainerTexture`.

The writer's counterpart (:mod:`oxy.interop.dds`); same header rules (Microsoft's
"DDS_HEADER structure", "DDS_PIXELFORMAT" and "DDS_HEADER_DXT10"). File offsets of
the fields named in errors: header size 0x4, flags 0x8, height 0xC, width 0x10,
depth 0x18, mip count 0x1C, pixel format size 0x4C, flags 0x50, fourCC 0x54, bit
count 0x58, masks 0x5C..0x68, caps 0x6C, caps2 0x70; DX10 header: dxgiFormat 0x80,
resourceDimension 0x84, miscFlag 0x88, arraySize 0x8C; data at 0x80 (legacy) or
0x94 (DX10).

Read: legacy FourCC ``DXT1`` (BC1), ``DXT3`` (BC2), ``DXT5`` (BC3), ``ATI1``/``BC4U``
(BC4), ``ATI2``/``BC5U`` (BC5), D3DFMT 113 / 116 (RGBA16F / RGBA32F); uncompressed
32-bit RGB with the masks of RGBA8 and BGRA8 (with alpha, or X8: no alpha); the DX10
header with every DXGI format of :mod:`oxy.interop.texformats`. Mip chains, arrays
and cube maps (all six faces; partial cubes refused). Not read: volume textures,
DXT2/DXT4 (premultiplied), palettes, luminance and other masks: each refused naming
the field.

Data order: for each array element (cube: each face), every mip from the largest,
rows tightly packed. Sizes are checked against the file length before slicing.

Pure: safe from any thread. Failures: ImageDecodeError naming file, field and offset.
"""
from __future__ import annotations

import struct

from oxy.cook.image_decode import ImageDecodeError
from oxy.formats.enums import Format
from oxy.interop.containers import DDS_MAGIC, ContainerTexture, check_extent
from oxy.interop.dds import (D3D11_RESOURCE_MISC_TEXTURECUBE, DDPF_FOURCC, DDSCAPS2_ALLFACES, DDSCAPS2_CUBEMAP,
                             DDSCAPS2_VOLUME, DDSD_MIPMAPCOUNT)
from oxy.interop.texformats import FORMATS, FormatInfo

__all__ = ["read_dds"]

DDPF_ALPHAPIXELS, DDPF_RGB = 0x1, 0x40
HEADER_END, DX10_END = 0x80, 0x94
_HEADER = struct.Struct("<4s7I44x8I4I4x")
_DX10 = struct.Struct("<5I")
_BY_DXGI: dict[int, FormatInfo] = {info.dxgi: info for info in FORMATS.values()}
_FOURCC: dict[bytes, Format] = {
    b"DXT1": Format.BC1_UNORM, b"DXT3": Format.BC2_UNORM, b"DXT5": Format.BC3_UNORM,
    b"ATI1": Format.BC4_UNORM, b"BC4U": Format.BC4_UNORM, b"ATI2": Format.BC5_UNORM, b"BC5U": Format.BC5_UNORM,
    (113).to_bytes(4, "little"): Format.RGBA16_FLOAT, (116).to_bytes(4, "little"): Format.RGBA32_FLOAT,
}
#: (R, G, B masks) of 32-bit uncompressed formats -> format (alpha mask 0xFF000000, or 0 for X8).
_MASKS: dict[tuple[int, int, int], Format] = {
    (0xFF, 0xFF00, 0xFF0000): Format.RGBA8_UNORM,
    (0xFF0000, 0xFF00, 0xFF): Format.BGRA8_UNORM,
}
_DIMENSIONS = {2: "1D", 3: "2D", 4: "3D"}


def _fourcc_text(value: int) -> str:
    raw = value.to_bytes(4, "little")
    return repr(raw.decode("latin-1")) if all(32 <= b < 127 for b in raw) else f"{value:#010x}"


def read_dds(data: bytes, source: str) -> ContainerTexture:
    """Parse a DDS file. Raises ImageDecodeError (file, field, offset)."""
    view = memoryview(data)
    if len(view) < HEADER_END:
        raise ImageDecodeError(source, f"DDS @{len(view):#x}: truncated header ({len(view)} of {HEADER_END} bytes)")
    (magic, size, flags, height, width, _pitch, depth, mips, pf_size, pf_flags, fourcc, bits, r_mask, g_mask, b_mask,
     a_mask, _caps, caps2, _caps3, _caps4) = _HEADER.unpack_from(view)
    if magic != DDS_MAGIC:
        raise ImageDecodeError(source, f"DDS @0x0: magic {magic!r} is not 'DDS '")
    if size != 124:
        raise ImageDecodeError(source, f"DDS @0x4: header size {size} is not 124")
    if pf_size != 32:
        raise ImageDecodeError(source, f"DDS @0x4c: pixel format size {pf_size} is not 32")
    levels = mips if flags & DDSD_MIPMAPCOUNT and mips else 1
    opaque = False
    layers, cube, data_at = 1, False, HEADER_END
    if pf_flags & DDPF_FOURCC and fourcc == int.from_bytes(b"DX10", "little"):
        if len(view) < DX10_END:
            raise ImageDecodeError(source, f"DDS @{len(view):#x}: truncated DX10 header ({len(view)} of "
                                   f"{DX10_END} bytes)")
        dxgi, dimension, misc, array_size, _misc2 = _DX10.unpack_from(view, HEADER_END)
        info = _BY_DXGI.get(dxgi)
        if info is None:
            raise ImageDecodeError(source, f"DDS @0x80: dxgiFormat {dxgi} is not supported (no oxy format)")
        if dimension not in _DIMENSIONS:
            raise ImageDecodeError(source, f"DDS @0x84: resourceDimension {dimension} is not 2 (1D), 3 (2D) "
                                   "or 4 (3D)")
        if dimension == 4:
            raise ImageDecodeError(source, "DDS @0x84: 3D (volume) textures are not supported as cook sources")
        if dimension == 2 and height not in (0, 1):
            raise ImageDecodeError(source, f"DDS @0xc: a 1D texture has height {height}, not 1")
        height = height or 1
        if array_size < 1:
            raise ImageDecodeError(source, f"DDS @0x8c: arraySize {array_size} is 0")
        cube = bool(misc & D3D11_RESOURCE_MISC_TEXTURECUBE)
        layers = array_size * (6 if cube else 1)
        data_at = DX10_END
    elif pf_flags & DDPF_FOURCC:
        raw = fourcc.to_bytes(4, "little")
        if raw not in _FOURCC:
            raise ImageDecodeError(source, f"DDS @0x54: pixel format fourCC {_fourcc_text(fourcc)} is not supported "
                                   "(DXT1, DXT3, DXT5, ATI1, BC4U, ATI2, BC5U, DX10)")
        info = FORMATS[int(_FOURCC[raw])]
    elif pf_flags & DDPF_RGB:
        if bits != 32:
            raise ImageDecodeError(source, f"DDS @0x58: RGB bit count {bits} is not supported (32 only)")
        fmt = _MASKS.get((r_mask, g_mask, b_mask))
        alpha = pf_flags & DDPF_ALPHAPIXELS
        if fmt is None:
            raise ImageDecodeError(source, f"DDS @0x5c: RGB masks {r_mask:#x} {g_mask:#x} {b_mask:#x} are not "
                                   "those of RGBA8 or BGRA8")
        if alpha and a_mask != 0xFF000000:
            raise ImageDecodeError(source, f"DDS @0x68: alpha mask {a_mask:#x} is not 0xff000000")
        info, opaque = FORMATS[int(fmt)], not alpha
    else:
        raise ImageDecodeError(source, f"DDS @0x50: pixel format flags {pf_flags:#x} name neither a fourCC nor "
                               "RGB data (palette, luminance and alpha-only files are not supported)")
    if data_at == HEADER_END:
        if caps2 & DDSCAPS2_VOLUME or depth > 1:
            raise ImageDecodeError(source, "DDS @0x70: 3D (volume) textures are not supported as cook sources")
        if caps2 & DDSCAPS2_CUBEMAP:
            if caps2 & DDSCAPS2_ALLFACES != DDSCAPS2_ALLFACES:
                raise ImageDecodeError(source, f"DDS @0x70: cube map with faces {caps2 & DDSCAPS2_ALLFACES:#x}, "
                                       "not all six")
            cube, layers = True, 6
    check_extent(source, "DDS", width, height, levels, (0x10, 0xC, 0x1C))
    if cube and width != height:
        raise ImageDecodeError(source, f"DDS @0x10: cube faces are {width}x{height}, not square")
    return _slice(view, source, info, width, height, levels, layers, cube, data_at, opaque)


def _slice(view: memoryview, source: str, info: FormatInfo, width: int, height: int, levels: int, layers: int,
           cube: bool, data_at: int, opaque: bool) -> ContainerTexture:
    sizes = []
    for mip in range(levels):
        row_bytes, rows = info.row_bytes_and_rows(max(1, width >> mip), max(1, height >> mip))
        sizes.append(row_bytes * rows)
    per_layer = sum(sizes)
    need = data_at + per_layer * layers
    if len(view) < need:
        raise ImageDecodeError(source, f"DDS @{len(view):#x}: truncated: {layers} layer(s) x {levels} mip(s) of "
                               f"{info.format.name} {width}x{height} need {need} bytes, the file has {len(view)}")
    subs = []
    cursor = data_at
    for _layer in range(layers):
        for size in sizes:
            subs.append(view[cursor:cursor + size])
            cursor += size
    return ContainerTexture(source, "DDS", info, width, height, levels, layers, cube, tuple(subs), opaque)
