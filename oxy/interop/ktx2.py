"""KTX 2.0 writer (Khronos KTX File Format Specification 2.0), no supercompression.

File layout, as the specification orders it::

    identifier (12 bytes: AB 4B 54 58 20 32 30 BB 0D 0A 1A 0A)
    header: vkFormat, typeSize, pixelWidth, pixelHeight, pixelDepth, layerCount,
            faceCount, levelCount, supercompressionScheme (u32 each)
    index: dfdByteOffset, dfdByteLength, kvdByteOffset, kvdByteLength (u32),
           sgdByteOffset, sgdByteLength (u64; 0: no global data)
    level index: levelCount x (byteOffset, byteLength, uncompressedByteLength) (u64),
                 entry 0 = the base (largest) level
    data format descriptor: dfdTotalSize, one basic descriptor block (24 bytes + 16 per sample)
    key/value data: "KTXwriter" (NUL-terminated), each entry padded to 4 bytes
    mip levels, smallest first, each at an offset aligned to lcm(texel block size, 4),
    zero padding between; inside a level: for each layer, for each face, for each
    depth slice, the rows tightly packed

Dimensions follow the specification's rules: pixelHeight 0 for 1D, pixelDepth 0
unless 3D, layerCount 0 for non-array textures, faceCount 6 for cubes (layerCount
then counts cubes). The data format descriptor is derived from the format's row of
:mod:`oxy.interop.texformats` as the Khronos Data Format Specification 1.3 describes
(colour model, BT.709 primaries (unspecified for depth), sRGB or linear transfer,
texel block dimensions, bytesPlane0, one sample per channel with its bit offset and
length, qualifiers FLOAT/SIGNED, LINEAR on the alpha of sRGB formats, sample
lower/upper bounds as the reference ``dfdutils`` (KTX-Software's createdfd.c) writes
them, including its six-sample form of the shared-exponent E5B9G9R9).

Pure: safe from any thread. Failure modes: UnsupportedFormat for formats without
a Vulkan equivalent here (combined depth-stencil) or unsupported texture types;
ValueError for a payload whose layouts do not fit it.
"""
from __future__ import annotations

import math
import struct

from oxy import __version__
from oxy.interop.layout import shape_of, tight_subresource
from oxy.formats.enums import Format
from oxy.interop.texformats import CH_A, CH_DEPTH, FormatInfo, UnsupportedFormat, format_info, format_name
from oxy.runtime.types import TextureResource

__all__ = ["KTX2_IDENTIFIER", "build_ktx2", "data_format_descriptor"]

KTX2_IDENTIFIER = b"\xabKTX 20\xbb\r\n\x1a\n"
_HEADER = struct.Struct("<9I4I2Q")    # header (9 x u32) + index (4 x u32, 2 x u64)
_LEVEL = struct.Struct("<3Q")
KHR_DF_VERSION_1_3 = 2
KHR_DF_PRIMARIES_BT709 = 1
KHR_DF_TRANSFER_LINEAR, KHR_DF_TRANSFER_SRGB = 1, 2
KHR_DF_PRIMARIES_UNSPECIFIED = 0
QUALIFIER_LINEAR, QUALIFIER_EXPONENT, QUALIFIER_SIGNED, QUALIFIER_FLOAT = 0x10, 0x20, 0x40, 0x80
#: E5B9G9R9 (dfdutils' values): each 9-bit mantissa sample has upper 8448, followed by the
#: shared 5-bit exponent at bit 27 as an EXPONENT sample of the same channel (lower 15 = the
#: bias, upper 31).
_MANTISSA_UPPER, _EXPONENT_OFFSET, _EXPONENT_BITS, _EXPONENT_LOWER, _EXPONENT_UPPER = 8448, 27, 5, 15, 31
_F32_ONE, _F32_MINUS_ONE = 0x3F800000, 0xBF800000


def _bounds(info: FormatInfo, bits: int) -> tuple[int, int, int]:
    """(qualifiers, sampleLower, sampleUpper) of one sample (``dfdutils`` conventions)."""
    kind = info.numeric
    if info.compressed:
        if kind == "snorm":
            return QUALIFIER_SIGNED, 0x80000000, 0x7FFFFFFF
        if kind == "sfloat":
            return QUALIFIER_FLOAT | QUALIFIER_SIGNED, _F32_MINUS_ONE, _F32_ONE
        if kind == "ufloat":
            return QUALIFIER_FLOAT, 0, _F32_ONE
        return 0, 0, 0xFFFFFFFF
    if kind in ("unorm", "srgb"):
        return 0, 0, (1 << bits) - 1 if bits < 32 else 0xFFFFFFFF
    if kind == "snorm":
        upper = (1 << (bits - 1)) - 1
        return QUALIFIER_SIGNED, (-upper) & 0xFFFFFFFF, upper
    if kind == "uint":
        return 0, 0, 1
    if kind == "sint":
        return QUALIFIER_SIGNED, 0xFFFFFFFF, 1
    if kind == "sfloat":
        return QUALIFIER_FLOAT | QUALIFIER_SIGNED, _F32_MINUS_ONE, _F32_ONE
    return QUALIFIER_FLOAT, 0, _F32_ONE  # ufloat


def data_format_descriptor(info: FormatInfo) -> bytes:
    """The DFD of a format: dfdTotalSize then one Khronos basic descriptor block."""
    if info.vk is None or not info.channels:
        raise UnsupportedFormat(f"{format_name(info.format)} cannot be written as KTX2 (no Vulkan format "
                                "with a data format descriptor here)")
    samples = []
    shared_exponent = info.format == Format.R9G9B9E5_FLOAT
    for channel, offset, bits in info.channels:
        qualifiers, lower, upper = _bounds(info, bits)
        if shared_exponent:
            qualifiers, lower, upper = 0, 0, _MANTISSA_UPPER
        if info.numeric == "srgb" and channel == CH_A:
            qualifiers |= QUALIFIER_LINEAR
        samples.append(struct.pack("<HBB4B2I", offset, bits - 1, channel | qualifiers, 0, 0, 0, 0, lower, upper))
        if shared_exponent:
            samples.append(struct.pack("<HBB4B2I", _EXPONENT_OFFSET, _EXPONENT_BITS - 1,
                                       channel | QUALIFIER_EXPONENT, 0, 0, 0, 0, _EXPONENT_LOWER, _EXPONENT_UPPER))
    block_size = 24 + 16 * len(samples)
    transfer = KHR_DF_TRANSFER_SRGB if info.numeric == "srgb" else KHR_DF_TRANSFER_LINEAR
    dim = info.block - 1
    depth = any(channel == CH_DEPTH for channel, _o, _b in info.channels)
    primaries = KHR_DF_PRIMARIES_UNSPECIFIED if depth else KHR_DF_PRIMARIES_BT709  # not colour data
    block = struct.pack("<IHH4B4B8B", 0, KHR_DF_VERSION_1_3, block_size, info.model, primaries,
                        transfer, 0, dim, dim, 0, 0, info.block_bytes, 0, 0, 0, 0, 0, 0, 0)
    return struct.pack("<I", 4 + block_size) + block + b"".join(samples)


def _key_value_data() -> bytes:
    out = []
    for key, value in sorted({"KTXwriter": f"oxy {__version__}".encode() + b"\0"}.items()):
        entry = key.encode() + b"\0" + value
        out.append(struct.pack("<I", len(entry)) + entry + b"\0" * (-len(entry) % 4))
    return b"".join(out)


def build_ktx2(tex: TextureResource) -> bytes:
    """The complete KTX2 file of ``tex``: every layer, face and mip level."""
    info = format_info(tex.format, "KTX2")
    dfd = data_format_descriptor(info)
    assert info.vk is not None  # data_format_descriptor refused the rest
    shape = shape_of(tex, "KTX2")
    levels = tex.mip_levels
    levels_data = [b"".join(tight_subresource(tex, layer, mip, info) for layer in range(tex.array_layers))
                   for mip in range(levels)]
    kvd = _key_value_data()
    dfd_at = _HEADER.size + len(KTX2_IDENTIFIER) + _LEVEL.size * levels
    kvd_at = dfd_at + len(dfd)
    align = math.lcm(info.block_bytes, 4)
    cursor = kvd_at + len(kvd)
    offsets: dict[int, int] = {}
    for mip in reversed(range(levels)):  # smallest level first in the file
        cursor += -cursor % align
        offsets[mip] = cursor
        cursor += len(levels_data[mip])
    header = _HEADER.pack(info.vk, info.type_size, tex.width, tex.height if shape.dimension > 1 else 0,
                          tex.depth if shape.dimension == 3 else 0, shape.array if shape.is_array else 0,
                          shape.faces, levels, 0, dfd_at, len(dfd), kvd_at, len(kvd), 0, 0)
    index = b"".join(_LEVEL.pack(offsets[m], len(levels_data[m]), len(levels_data[m])) for m in range(levels))
    out = bytearray(KTX2_IDENTIFIER + header + index + dfd + kvd)
    for mip in reversed(range(levels)):
        out += b"\0" * (offsets[mip] - len(out))
        out += levels_data[mip]
    return bytes(out)
