"""oxy's texture formats as other containers name them: DXGI (DDS) and Vulkan (KTX2).

One table, :data:`FORMATS`: for each :class:`~oxy.formats.enums.Format` that the
interchange writers can express, its ``DXGI_FORMAT`` value, its ``VkFormat`` value
(None where this module writes no KTX2 data format descriptor for it), its block
size, the KTX2 ``typeSize``, its numeric kind and its channels (bit offset and length
of each, in memory order) for the KTX2 data format descriptor. Values are those of
``dxgiformat.h`` and ``vulkan_core.h``; the tests check the DXGI names against
Pillow's own enum.

Packed formats: DXGI names components from the least significant bit, Vulkan's
``*_PACK16/32`` names from the most significant, so DXGI ``B5G6R5_UNORM`` is Vulkan
``R5G6B5_UNORM_PACK16`` and DXGI ``R10G10B10A2_UNORM`` is ``A2B10G10R10_UNORM_PACK32``.

Not here (refused with a message naming the format): the combined depth-stencil
formats in KTX2. ``channels`` of ``R9G9B9E5_FLOAT`` name its three mantissas; the KTX2
writer adds the shared exponent's samples.

Pure data and lookups: safe from any thread.
"""
from __future__ import annotations

from dataclasses import dataclass

from oxy.errors import OxyError
from oxy.formats.enums import Format

__all__ = ["FormatInfo", "FORMATS", "UnsupportedFormat", "format_info", "format_name",
           "CH_R", "CH_G", "CH_B", "CH_A", "CH_DEPTH"]

# KTX2 / Khronos Data Format channel ids (RGBSDA model; the BC models reuse 0, 1 and 15).
CH_R, CH_G, CH_B, CH_DEPTH, CH_A = 0, 1, 2, 14, 15


class UnsupportedFormat(OxyError):
    """The texture's format cannot be written to the requested file type (names both)."""


@dataclass(frozen=True)
class FormatInfo:
    """How one oxy format is written elsewhere.

    ``block_bytes``/``block``: bytes per texel block and its side (1 or 4).
    ``numeric``: "unorm", "srgb", "snorm", "uint", "sint", "sfloat" or "ufloat".
    ``channels``: (channel id, bit offset, bit length) per sample, in memory order.
    ``model``: the KTX2 colour model (1 RGBSDA, 128-134 BC1A..BC7).
    """

    format: Format
    dxgi: int
    vk: int | None
    block_bytes: int
    block: int
    type_size: int
    numeric: str
    channels: tuple[tuple[int, int, int], ...]
    model: int = 1

    @property
    def compressed(self) -> bool:
        return self.block > 1

    def row_bytes_and_rows(self, width: int, height: int) -> tuple[int, int]:
        """(bytes of one row of blocks, number of block rows) of a ``width`` x ``height`` image."""
        if self.block == 1:
            return width * self.block_bytes, height
        return -(-width // self.block) * self.block_bytes, -(-height // self.block)


def _plain(fmt: Format, dxgi: int, vk: int | None, size: int, numeric: str, bits: int, count: int,
           order: tuple[int, ...] = (CH_R, CH_G, CH_B, CH_A)) -> FormatInfo:
    channels = tuple((order[i], i * bits, bits) for i in range(count))
    return FormatInfo(fmt, dxgi, vk, size, 1, bits // 8, numeric, channels)


def _bc(fmt: Format, dxgi: int, vk: int, size: int, numeric: str, model: int,
        samples: tuple[tuple[int, int, int], ...]) -> FormatInfo:
    return FormatInfo(fmt, dxgi, vk, size, 4, 1, numeric, samples, model)


F = Format
_BGRA = (CH_B, CH_G, CH_R, CH_A)
_TABLE: tuple[FormatInfo, ...] = (
    _plain(F.R8_UINT, 62, 13, 1, "uint", 8, 1), _plain(F.R8_SINT, 64, 14, 1, "sint", 8, 1),
    _plain(F.R8_UNORM, 61, 9, 1, "unorm", 8, 1), _plain(F.R8_SNORM, 63, 10, 1, "snorm", 8, 1),
    _plain(F.R16_UINT, 57, 74, 2, "uint", 16, 1), _plain(F.R16_SINT, 59, 75, 2, "sint", 16, 1),
    _plain(F.R16_UNORM, 56, 70, 2, "unorm", 16, 1), _plain(F.R16_SNORM, 58, 71, 2, "snorm", 16, 1),
    _plain(F.R16_FLOAT, 54, 76, 2, "sfloat", 16, 1),
    _plain(F.R32_UINT, 42, 98, 4, "uint", 32, 1), _plain(F.R32_SINT, 43, 99, 4, "sint", 32, 1),
    _plain(F.R32_FLOAT, 41, 100, 4, "sfloat", 32, 1),
    _plain(F.RG8_UINT, 50, 20, 2, "uint", 8, 2), _plain(F.RG8_SINT, 52, 21, 2, "sint", 8, 2),
    _plain(F.RG8_UNORM, 49, 16, 2, "unorm", 8, 2), _plain(F.RG8_SNORM, 51, 17, 2, "snorm", 8, 2),
    _plain(F.RG16_UINT, 36, 81, 4, "uint", 16, 2), _plain(F.RG16_SINT, 38, 82, 4, "sint", 16, 2),
    _plain(F.RG16_UNORM, 35, 77, 4, "unorm", 16, 2), _plain(F.RG16_SNORM, 37, 78, 4, "snorm", 16, 2),
    _plain(F.RG16_FLOAT, 34, 83, 4, "sfloat", 16, 2),
    _plain(F.RG32_UINT, 17, 101, 8, "uint", 32, 2), _plain(F.RG32_SINT, 18, 102, 8, "sint", 32, 2),
    _plain(F.RG32_FLOAT, 16, 103, 8, "sfloat", 32, 2),
    _plain(F.RGB32_UINT, 7, 104, 12, "uint", 32, 3), _plain(F.RGB32_SINT, 8, 105, 12, "sint", 32, 3),
    _plain(F.RGB32_FLOAT, 6, 106, 12, "sfloat", 32, 3),
    _plain(F.RGBA8_UINT, 30, 41, 4, "uint", 8, 4), _plain(F.RGBA8_SINT, 32, 42, 4, "sint", 8, 4),
    _plain(F.RGBA8_UNORM, 28, 37, 4, "unorm", 8, 4), _plain(F.RGBA8_UNORM_SRGB, 29, 43, 4, "srgb", 8, 4),
    _plain(F.RGBA8_SNORM, 31, 38, 4, "snorm", 8, 4),
    _plain(F.BGRA8_UNORM, 87, 44, 4, "unorm", 8, 4, _BGRA), _plain(F.BGRA8_UNORM_SRGB, 91, 50, 4, "srgb", 8, 4, _BGRA),
    _plain(F.RGBA16_UINT, 12, 95, 8, "uint", 16, 4), _plain(F.RGBA16_SINT, 14, 96, 8, "sint", 16, 4),
    _plain(F.RGBA16_UNORM, 11, 91, 8, "unorm", 16, 4), _plain(F.RGBA16_SNORM, 13, 92, 8, "snorm", 16, 4),
    _plain(F.RGBA16_FLOAT, 10, 97, 8, "sfloat", 16, 4),
    _plain(F.RGBA32_UINT, 3, 107, 16, "uint", 32, 4), _plain(F.RGBA32_SINT, 4, 108, 16, "sint", 32, 4),
    _plain(F.RGBA32_FLOAT, 2, 109, 16, "sfloat", 32, 4),
    FormatInfo(F.B5G6R5_UNORM, 85, 4, 2, 1, 2, "unorm", ((CH_B, 0, 5), (CH_G, 5, 6), (CH_R, 11, 5))),
    FormatInfo(F.B5G5R5A1_UNORM, 86, 8, 2, 1, 2, "unorm",
               ((CH_B, 0, 5), (CH_G, 5, 5), (CH_R, 10, 5), (CH_A, 15, 1))),
    FormatInfo(F.B4G4R4A4_UNORM, 115, 1000340000, 2, 1, 2, "unorm",
               ((CH_B, 0, 4), (CH_G, 4, 4), (CH_R, 8, 4), (CH_A, 12, 4))),
    FormatInfo(F.R11G11B10_FLOAT, 26, 122, 4, 1, 4, "ufloat", ((CH_R, 0, 11), (CH_G, 11, 11), (CH_B, 22, 10))),
    FormatInfo(F.R10G10B10A2_UNORM, 24, 64, 4, 1, 4, "unorm",
               ((CH_R, 0, 10), (CH_G, 10, 10), (CH_B, 20, 10), (CH_A, 30, 2))),
    FormatInfo(F.R10G10B10A2_UINT, 25, 68, 4, 1, 4, "uint",
               ((CH_R, 0, 10), (CH_G, 10, 10), (CH_B, 20, 10), (CH_A, 30, 2))),
    FormatInfo(F.R9G9B9E5_FLOAT, 67, 123, 4, 1, 4, "ufloat", ((CH_R, 0, 9), (CH_G, 9, 9), (CH_B, 18, 9))),
    _bc(F.BC1_UNORM, 71, 133, 8, "unorm", 128, ((1, 0, 64),)),
    _bc(F.BC1_UNORM_SRGB, 72, 134, 8, "srgb", 128, ((1, 0, 64),)),
    _bc(F.BC2_UNORM, 74, 135, 16, "unorm", 129, ((CH_A, 0, 64), (0, 64, 64))),
    _bc(F.BC2_UNORM_SRGB, 75, 136, 16, "srgb", 129, ((CH_A, 0, 64), (0, 64, 64))),
    _bc(F.BC3_UNORM, 77, 137, 16, "unorm", 130, ((CH_A, 0, 64), (0, 64, 64))),
    _bc(F.BC3_UNORM_SRGB, 78, 138, 16, "srgb", 130, ((CH_A, 0, 64), (0, 64, 64))),
    _bc(F.BC4_UNORM, 80, 139, 8, "unorm", 131, ((0, 0, 64),)),
    _bc(F.BC4_SNORM, 81, 140, 8, "snorm", 131, ((0, 0, 64),)),
    _bc(F.BC5_UNORM, 83, 141, 16, "unorm", 132, ((0, 0, 64), (1, 64, 64))),
    _bc(F.BC5_SNORM, 84, 142, 16, "snorm", 132, ((0, 0, 64), (1, 64, 64))),
    _bc(F.BC6H_FLOAT_U, 95, 143, 16, "ufloat", 133, ((0, 0, 128),)),
    _bc(F.BC6H_FLOAT_S, 96, 144, 16, "sfloat", 133, ((0, 0, 128),)),
    _bc(F.BC7_UNORM, 98, 145, 16, "unorm", 134, ((0, 0, 128),)),
    _bc(F.BC7_UNORM_SRGB, 99, 146, 16, "srgb", 134, ((0, 0, 128),)),
    FormatInfo(F.DEPTH16, 55, 124, 2, 1, 2, "unorm", ((CH_DEPTH, 0, 16),)),
    FormatInfo(F.DEPTH24_STENCIL8, 45, None, 4, 1, 4, "unorm", ()),
    FormatInfo(F.DEPTH32, 40, 126, 4, 1, 4, "sfloat", ((CH_DEPTH, 0, 32),)),
    FormatInfo(F.DEPTH32_STENCIL8, 20, None, 8, 1, 4, "sfloat", ()),
)
del F

#: Every format oxy's enum has, except UNKNOWN (all of them have a DXGI equivalent).
FORMATS: dict[int, FormatInfo] = {int(info.format): info for info in _TABLE}


def format_name(fmt: int) -> str:
    """``"BC7_UNORM_SRGB (63)"``; ``"format 200"`` for a value the enum does not know."""
    return f"{Format(fmt).name} ({fmt})" if fmt in Format._value2member_map_ else f"format {fmt}"


def format_info(fmt: int, what: str) -> FormatInfo:
    """The table row of ``fmt``. Raises UnsupportedFormat naming ``what`` (e.g. "DDS")."""
    info = FORMATS.get(int(fmt))
    if info is None:
        raise UnsupportedFormat(f"{format_name(fmt)} cannot be written as {what}: it has no known layout")
    return info
