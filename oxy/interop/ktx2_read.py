"""KTX2 reader: header and level index into a :class:`~oxy.interop.containers.ContainerTexture`.

The writer's counterpart (:mod:`oxy.interop.ktx2`; Khronos KTX File Format
Specification 2.0). File offsets of the fields named in errors: vkFormat 0xC,
typeSize 0x10, pixelWidth 0x14, pixelHeight 0x18, pixelDepth 0x1C, layerCount 0x20,
faceCount 0x24, levelCount 0x28, supercompressionScheme 0x2C, dfdByteOffset 0x30,
dfdByteLength 0x34, level index from 0x50 (24 bytes per level: byteOffset,
byteLength, uncompressedByteLength).

Read: any vkFormat of :mod:`oxy.interop.texformats`, supercompression none only
(BasisLZ, Zstandard and zlib are refused naming the scheme: decode them with
KTX-Software's ``ktx extract`` / ``ktx transcode`` first); levelCount 0 ("generate
mips") reads as one level; 1D (pixelHeight 0) reads as height 1; arrays and cubes
(faceCount 6). Not read: 3D textures (pixelDepth > 0). Every level's byte range must
lie inside the file, be aligned to lcm(texel block size, 4) and hold exactly its
images (layers x faces, rows tightly packed); this is checked before slicing.

Inside a level the images are layer-major then face; oxy's layer order is the same
(layer * faces + face), so subresource (layer, mip) is one slice of level ``mip``.

Pure: safe from any thread. Failures: ImageDecodeError naming file, field and offset.
"""
from __future__ import annotations

import math
import struct

from oxy.cook.image_decode import ImageDecodeError
from oxy.interop.containers import KTX2_IDENTIFIER, ContainerTexture, check_extent
from oxy.interop.texformats import FORMATS, FormatInfo

__all__ = ["read_ktx2"]

_HEADER = struct.Struct("<12s9I4I2Q")
_LEVEL = struct.Struct("<3Q")
LEVEL_INDEX_AT = 0x50
_SCHEMES = {1: "BasisLZ", 2: "Zstandard", 3: "zlib"}
_BY_VK: dict[int, FormatInfo] = {info.vk: info for info in FORMATS.values() if info.vk is not None}


def read_ktx2(data: bytes, source: str) -> ContainerTexture:
    """Parse a KTX2 file. Raises ImageDecodeError (file, field, offset)."""
    view = memoryview(data)
    if len(view) < LEVEL_INDEX_AT:
        raise ImageDecodeError(source, f"KTX2 @{len(view):#x}: truncated header ({len(view)} of "
                               f"{LEVEL_INDEX_AT} bytes)")
    (ident, vk, type_size, width, height, depth, layer_count, faces, level_count, scheme,
     dfd_at, dfd_len, _kvd_at, _kvd_len, _sgd_at, _sgd_len) = _HEADER.unpack_from(view)
    if ident != KTX2_IDENTIFIER:
        raise ImageDecodeError(source, "KTX2 @0x0: identifier is not that of KTX 2.0")
    if scheme:
        name = _SCHEMES.get(scheme, f"scheme {scheme}")
        raise ImageDecodeError(source, f"KTX2 @0x2c: supercompressionScheme {name} is not supported (only none; "
                               "decompress or transcode the file first, e.g. with KTX-Software's `ktx extract`)")
    info = _BY_VK.get(vk)
    if info is None:
        raise ImageDecodeError(source, f"KTX2 @0xc: vkFormat {vk} is not supported (no oxy format)")
    if type_size != info.type_size:
        raise ImageDecodeError(source, f"KTX2 @0x10: typeSize {type_size} is not {info.type_size} for "
                               f"{info.format.name}")
    if depth:
        raise ImageDecodeError(source, "KTX2 @0x1c: 3D textures (pixelDepth > 0) are not supported as cook sources")
    if faces not in (1, 6):
        raise ImageDecodeError(source, f"KTX2 @0x24: faceCount {faces} is not 1 or 6")
    height = height or 1
    levels = level_count or 1
    check_extent(source, "KTX2", width, height, levels, (0x14, 0x18, 0x28))
    if faces == 6 and width != height:
        raise ImageDecodeError(source, f"KTX2 @0x14: cube faces are {width}x{height}, not square")
    layers = max(1, layer_count) * faces
    index_end = LEVEL_INDEX_AT + _LEVEL.size * levels
    if len(view) < index_end:
        raise ImageDecodeError(source, f"KTX2 @{len(view):#x}: truncated level index ({levels} levels end at "
                               f"{index_end:#x})")
    if dfd_len and dfd_at + dfd_len > len(view):
        raise ImageDecodeError(source, f"KTX2 @0x30: data format descriptor {dfd_at:#x}+{dfd_len} is outside the "
                               f"file ({len(view)} bytes)")
    align = math.lcm(info.block_bytes, 4)
    ranges = []
    for mip in range(levels):
        at = LEVEL_INDEX_AT + _LEVEL.size * mip
        offset, length, uncompressed = _LEVEL.unpack_from(view, at)
        row_bytes, rows = info.row_bytes_and_rows(max(1, width >> mip), max(1, height >> mip))
        image = row_bytes * rows
        if length != image * layers or uncompressed != length:
            raise ImageDecodeError(source, f"KTX2 @{at + 8:#x}: level {mip} byteLength {length} "
                                   f"(uncompressed {uncompressed}) is not {layers} image(s) of {image} bytes")
        if offset % align or offset < index_end or offset + length > len(view):
            raise ImageDecodeError(source, f"KTX2 @{at:#x}: level {mip} byteOffset {offset:#x} (+{length}) is "
                                   f"misaligned (needs {align}) or outside the data ({index_end:#x}.."
                                   f"{len(view):#x})")
        ranges.append((offset, image))
    # Every level fits the file (so ``layers`` is bounded by its length): slice, layer-major.
    ordered = tuple(view[offset + layer * image:offset + (layer + 1) * image]
                    for layer in range(layers) for offset, image in ranges)
    return ContainerTexture(source, "KTX2", info, width, height, levels, layers, faces == 6, ordered)
