"""One subresource of a texture as pixels: 8-bit RGBA (for PNG) or float RGBA (for HDR).

8 bits: RGBA8, BC7, BC1, BC4 and BC5 (unorm) through :meth:`TextureResource.to_rgba8`
(the runtime's own decoders: BC1 with D3D's transparent black, BC4 as grey, BC5 as
red/green with blue 0); BGRA8, R8 and RG8 unorm by reordering bytes; BC3 through
``texture2ddecoder`` (an optional dependency, in oxy's ``dev`` extra: without it BC3
is refused with a message saying so). Other missing channels read as a GPU samples
them: green and blue 0, alpha 255.

Float: RGBA16/RG16/R16 float, RGBA32/RGB32/RG32/R32 float and the packed
R11G11B10 and R9G9B9E5 floats, decoded with numpy (missing channels as above, alpha 1);
BC6H (unsigned) through :meth:`TextureResource.to_float32` (alpha 1).

Anything else raises :class:`~oxy.interop.texformats.UnsupportedFormat` naming the
format and what would work instead. Pure: safe from any thread.
"""
from __future__ import annotations

import numpy as np

from oxy.formats.enums import Format
from oxy.interop.layout import mip_extent, tight_subresource
from oxy.interop.texformats import UnsupportedFormat, format_info, format_name
from oxy.runtime.types import RGBA8_DECODABLE, TextureResource

__all__ = ["FLOAT_FORMATS", "to_rgba8", "to_float_rgba"]

#: Decoded by the runtime (BC6H is not: it is a float format, exported as HDR).
_RUNTIME_RGBA8 = RGBA8_DECODABLE - {Format.BC6H_FLOAT_U}
_BYTE_CHANNELS = {Format.BGRA8_UNORM: (2, 1, 0, 3), Format.BGRA8_UNORM_SRGB: (2, 1, 0, 3),
                  Format.R8_UNORM: (0,), Format.RG8_UNORM: (0, 1)}
_T2D = {Format.BC3_UNORM: "decode_bc3", Format.BC3_UNORM_SRGB: "decode_bc3"}
_FLOATS = {Format.R16_FLOAT: ("<f2", 1), Format.RG16_FLOAT: ("<f2", 2), Format.RGBA16_FLOAT: ("<f2", 4),
           Format.R32_FLOAT: ("<f4", 1), Format.RG32_FLOAT: ("<f4", 2), Format.RGB32_FLOAT: ("<f4", 3),
           Format.RGBA32_FLOAT: ("<f4", 4)}
#: Formats :func:`to_float_rgba` decodes.
FLOAT_FORMATS = frozenset(_FLOATS) | {Format.R11G11B10_FLOAT, Format.R9G9B9E5_FLOAT, Format.BC6H_FLOAT_U}


def _expand(channels: np.ndarray, one: float | int, dtype: type) -> np.ndarray:
    """(h, w, n) -> (h, w, 4): missing green/blue 0, missing alpha ``one``."""
    h, w, n = channels.shape
    out: np.ndarray = np.zeros((h, w, 4), dtype)
    out[..., :n] = channels
    if n < 4:
        out[..., 3] = one
    return out


def to_rgba8(tex: TextureResource, layer: int, mip: int) -> np.ndarray:
    """A new ``(h, w, 4)`` uint8 array of subresource (``layer``, ``mip``)."""
    fmt = tex.format
    if fmt in _RUNTIME_RGBA8:
        return tex.to_rgba8(layer, mip)
    w, h, _d = mip_extent(tex, mip)
    if fmt in _BYTE_CHANNELS:
        order = _BYTE_CHANNELS[Format(fmt)]
        info = format_info(fmt, "PNG")
        raw = np.frombuffer(tight_subresource(tex, layer, mip, info), np.uint8)
        pixels = raw[:w * h * info.block_bytes].reshape(h, w, info.block_bytes)
        return _expand(pixels[..., list(order)], 255, np.uint8)
    if fmt in _T2D:
        try:
            import texture2ddecoder
        except ImportError:
            raise UnsupportedFormat(f"{format_name(fmt)}: decoding it for PNG needs the texture2ddecoder "
                                    "package (pip install texture2ddecoder); DDS and KTX2 export need nothing")
        blocks = tight_subresource(tex, layer, mip)
        bgra = getattr(texture2ddecoder, _T2D[Format(fmt)])(blocks, w, h)
        return np.frombuffer(bgra, np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]].copy()
    hint = " (a float format: export it with --format hdr)" if fmt in FLOAT_FORMATS else ""
    raise UnsupportedFormat(f"{format_name(fmt)} cannot be exported as PNG{hint}; DDS and KTX2 keep every "
                            "format")


def to_float_rgba(tex: TextureResource, layer: int, mip: int) -> np.ndarray:
    """A new ``(h, w, 4)`` float32 array of subresource (``layer``, ``mip``) of a float format."""
    fmt = tex.format
    if fmt not in FLOAT_FORMATS:
        raise UnsupportedFormat(f"{format_name(fmt)} is not a float format: export it as PNG (--format png), "
                                "DDS or KTX2")
    if fmt == Format.BC6H_FLOAT_U:
        return tex.to_float32(layer, mip)
    w, h, _d = mip_extent(tex, mip)
    data = tight_subresource(tex, layer, mip)
    if fmt == Format.R11G11B10_FLOAT:
        packed = np.frombuffer(data, "<u4", w * h).reshape(h, w)
        rgb = np.stack([_small_float(packed & 0x7FF, 6), _small_float((packed >> 11) & 0x7FF, 6),
                        _small_float((packed >> 22) & 0x3FF, 5)], axis=2)
        return _expand(rgb, 1.0, np.float32)
    if fmt == Format.R9G9B9E5_FLOAT:  # three 9-bit mantissas, shared 5-bit exponent (bias 15, no implicit 1)
        packed = np.frombuffer(data, "<u4", w * h).reshape(h, w)
        scale = np.ldexp(np.float32(1.0), (packed >> 27).astype(np.int32) - 15 - 9)
        rgb = np.stack([((packed >> shift) & 0x1FF) * scale for shift in (0, 9, 18)], axis=2)
        return _expand(rgb.astype(np.float32), 1.0, np.float32)
    dtype, count = _FLOATS[Format(fmt)]
    values = np.frombuffer(data, dtype, w * h * count).reshape(h, w, count).astype(np.float32)
    return _expand(values, 1.0, np.float32)


def _small_float(bits: np.ndarray, mantissa_bits: int) -> np.ndarray:
    """Unsigned 10/11-bit floats (5-bit exponent, bias 15, no sign) to float32."""
    exponent = (bits >> mantissa_bits).astype(np.int32)
    mantissa = (bits & ((1 << mantissa_bits) - 1)).astype(np.float32)
    scale = float(1 << mantissa_bits)
    normal = np.ldexp(1.0 + mantissa / scale, exponent - 15)
    subnormal = np.ldexp(mantissa / scale, -14)
    special = np.where(mantissa == 0, np.inf, np.nan)
    out = np.where(exponent == 0, subnormal, np.where(exponent == 31, special, normal))
    return out.astype(np.float32)
