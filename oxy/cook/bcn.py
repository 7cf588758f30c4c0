"""BC1, BC4, BC5 and BC6H (unsigned) texture compression and decompression.

The encoders and decoders run in the compiled kernel ``oxy._kernels.bcn``, which
releases the GIL for the whole image. Layout is that of :mod:`oxy.cook.bc7`: 4x4
texel blocks in row-major block order, ``ceil(W/4) * ceil(H/4)`` of them; sides that
are not multiples of 4 are padded by edge replication (each block is gathered with
clamped coordinates, so no padded copy is made).

Formats (block bytes; DXGI name):

* ``bc1``  (8; BC1_UNORM) -- opaque RGB, 565 endpoints, 4-colour blocks; ``normal``
  and ``high`` also use the 3-colour mode where it is closer (never its
  transparent-black index: the output is opaque).
* ``bc4``  (8; BC4_UNORM) -- one channel (masks, roughness, height), 8-value and
  6-value (with exact 0 and 255) endpoint modes.
* ``bc5``  (16; BC5_UNORM) -- two channels, two BC4 blocks (red, then green): normal
  maps store X and Y; the engine reconstructs Z = sqrt(1 - X^2 - Y^2).
* ``bc6h`` (16; BC6H_UF16) -- unsigned half-float RGB (HDR). ``fast`` uses the
  four one-region modes (10.10.10 raw, 11/12/16-bit base with 9/8/4-bit deltas:
  per block the most precise whose deltas fit); ``normal`` and ``high`` add the
  ten two-region modes on the best four / sixteen partition shapes. The decoder
  handles all fourteen modes (D3D11 specification; reserved modes decode to 0).

Presets (``quality=``): ``"ultrafast"`` (vectorised C in ``kernels/bcn_simd.h``;
see :func:`simd_path`: BC4/BC5 min/max endpoints and exact nearest indices, 6-10x
faster than ``fast`` at ~0.7 dB less; BC1 the ``fast`` algorithm on 8 blocks per
AVX2 vector, same quality, ~5x faster; BC6H 8 blocks per AVX2 vector, one mode per
block -- 12-bit base with 8-bit deltas where they fit, else 10.10.10 -- projected
indices, one refit, errors in half-float bits: 4-8x ``fast``'s speed at ~2.2 dB less),
``"fast"`` (one least-squares pass; BC1 indices by projection), ``"normal"``
(refinement rounds plus the secondary modes: BC1 3-colour, BC4 6-value and a +/-1
endpoint hill climb, BC6H two regions on the best four shapes), ``"high"`` (more
rounds, BC1 +/-1 per-channel endpoint search, a longer BC4 climb, BC6H every
one-region mode, two regions on the best sixteen shapes and a +/-1 climb on the
quantized endpoints). Speed and quality
against ISPC texcomp: ``docs/benchmarks.md`` ("BC1/BC4/BC5/BC6H kernels"). Errors
are plain squared errors per channel, except BC6H ``fast``/``normal``/``high``,
which score every candidate by the squared error of log2(1 + x) per channel (x the
half-float value: the log-PSNR of the benchmarks; dark texels count little, above
1.0 it tracks relative error) and fit endpoints with weights that linearise it.

Thread rules: every function is pure; none starts threads and the kernels release
the GIL, so calls from several threads run in parallel; output is deterministic
(same input and preset -> same bytes on any thread).
Failure modes: ``ValueError`` naming the argument for bad input (type, dtype,
shape, strides, empty image, channel index, unknown preset, block-data length);
``MemoryError`` if the output cannot be allocated.
"""
from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from oxy._kernels import bcn as _k
from oxy.cook.bc7 import _block_buffer, block_count

__all__ = ["BLOCK_BYTES", "FORMATS", "QUALITIES", "block_count", "decode", "decode_bc1",
           "decode_bc4", "decode_bc5", "decode_bc6h", "encode", "encode_bc1", "encode_bc4",
           "encode_bc5", "encode_bc6h", "simd_path"]

Quality = Literal["ultrafast", "fast", "normal", "high"]
Format = Literal["bc1", "bc4", "bc5", "bc6h"]

#: Formats of this module and the size of one 4x4 block of each, in bytes.
BLOCK_BYTES: Final[dict[str, int]] = {"bc1": 8, "bc4": 8, "bc5": 16, "bc6h": 16}
FORMATS: Final[tuple[str, ...]] = tuple(BLOCK_BYTES)
#: Preset names accepted by the encoders, fastest first.
QUALITIES: Final[tuple[str, ...]] = ("ultrafast", "fast", "normal", "high")


def simd_path() -> str:
    """Name of the code path the ``ultrafast`` encoders run on this CPU: ``"avx2"``,
    ``"sse2"`` (baseline x86_64) or ``"scalar"``; every path gives the same bytes.
    The environment variable ``OXY_BCN_SIMD`` (read at import) can lower it."""
    return str(_k.simd_path())


def _level(quality: object) -> int:
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
    return QUALITIES.index(str(quality))


def _check_image(image: object, name: str, dtypes: tuple[type, ...], min_channels: int) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype not in [np.dtype(d) for d in dtypes]:
        allowed = " or ".join(np.dtype(d).name for d in dtypes)
        raise ValueError(f"{name} must have dtype {allowed}, got {image.dtype}")
    if image.ndim == 2 and min_channels == 1:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] < min_channels:
        raise ValueError(f"{name} must have shape (H, W, C) with C >= {min_channels}, got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} must have height and width >= 1, got {image.shape}")
    if not image.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous, got strides {image.strides}; "
                         "pass numpy.ascontiguousarray(...)")
    return image


def _check_channel(channel: object, name: str, channels: int) -> int:
    if not isinstance(channel, (int, np.integer)) or isinstance(channel, bool):
        raise ValueError(f"{name} must be an integer, got {channel!r}")
    if not 0 <= channel < channels:
        raise ValueError(f"{name} must be in 0..{channels - 1} for an image with "
                         f"{channels} channels, got {channel}")
    return int(channel)


def encode_bc1(image: npt.NDArray[np.uint8], quality: Quality = "normal") -> bytes:
    """Compress the RGB of a ``uint8`` ``(H, W, C >= 3)`` image to opaque BC1;
    returns ``block_count(W, H) * 8`` bytes. Releases the GIL."""
    img = _check_image(image, "image", (np.uint8,), 3)
    return bytes(_k.encode_bc1(img, _level(quality)))


def encode_bc4(image: npt.NDArray[np.uint8], quality: Quality = "normal", channel: int = 0) -> bytes:
    """Compress one channel of a ``uint8`` ``(H, W)`` or ``(H, W, C)`` image to BC4;
    returns ``block_count(W, H) * 8`` bytes. Releases the GIL."""
    img = _check_image(image, "image", (np.uint8,), 1)
    ch = _check_channel(channel, "channel", img.shape[2])
    return bytes(_k.encode_bc4(img, ch, _level(quality)))


def encode_bc5(image: npt.NDArray[np.uint8], quality: Quality = "normal",
               channels: tuple[int, int] = (0, 1)) -> bytes:
    """Compress two channels (red, green by default) of a ``uint8`` ``(H, W, C >= 2)``
    image to BC5; returns ``block_count(W, H) * 16`` bytes. Releases the GIL."""
    img = _check_image(image, "image", (np.uint8,), 2)
    if not isinstance(channels, (tuple, list)) or len(channels) != 2:
        raise ValueError(f"channels must be a pair of channel indices, got {channels!r}")
    c0 = _check_channel(channels[0], "channels[0]", img.shape[2])
    c1 = _check_channel(channels[1], "channels[1]", img.shape[2])
    return bytes(_k.encode_bc5(img, c0, c1, _level(quality)))


def encode_bc6h(image: npt.NDArray[np.float16] | npt.NDArray[np.float32],
                quality: Quality = "normal") -> bytes:
    """Compress the RGB of a ``float16`` or ``float32`` ``(H, W, C >= 3)`` image to
    BC6H_UF16; returns ``block_count(W, H) * 16`` bytes. float32 is rounded to
    float16 first; negatives and NaN become 0, values above 65504 (and +inf) 65504.
    Releases the GIL for the encode."""
    img = _check_image(image, "image", (np.float16, np.float32), 3)
    if img.dtype == np.float32:
        with np.errstate(over="ignore", invalid="ignore"):
            img = img.astype(np.float16)
    return bytes(_k.encode_bc6h(img.view(np.uint16), _level(quality)))


def encode(image: np.ndarray, fmt: Format, quality: Quality = "normal") -> bytes:
    """Compress ``image`` to ``fmt`` (one of :data:`FORMATS`) with the default
    channels: BC1 RGB, BC4 channel 0, BC5 channels 0 and 1, BC6H RGB."""
    if fmt == "bc1":
        return encode_bc1(image, quality)
    if fmt == "bc4":
        return encode_bc4(image, quality)
    if fmt == "bc5":
        return encode_bc5(image, quality)
    if fmt == "bc6h":
        return encode_bc6h(image, quality)
    raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")


def _blocks(blocks: object, fmt: str, width: object, height: object) -> tuple[np.ndarray, int, int]:
    if not isinstance(width, (int, np.integer)) or not isinstance(height, (int, np.integer)):
        raise ValueError(f"width and height must be integers, got {width!r}, {height!r}")
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    data = _block_buffer(blocks)
    count = block_count(int(width), int(height))
    expected = count * BLOCK_BYTES[fmt]
    if data.shape[0] != expected:
        raise ValueError(f"{fmt} blocks must be {expected} bytes for a {width}x{height} image "
                         f"({count} blocks of {BLOCK_BYTES[fmt]}), got {data.shape[0]}")
    return data, int(width), int(height)


def decode_bc1(blocks: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
               width: int, height: int) -> npt.NDArray[np.uint8]:
    """Decompress BC1 to a new ``(height, width, 4)`` uint8 RGBA array (alpha 255;
    index 3 of a 3-colour block decodes as opaque black, as texture2ddecoder does)."""
    data, w, h = _blocks(blocks, "bc1", width, height)
    out = np.empty((h, w, 4), np.uint8)
    _k.decode_bc1_into(data, out)
    return out


def decode_bc4(blocks: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
               width: int, height: int) -> npt.NDArray[np.uint8]:
    """Decompress BC4 to a new ``(height, width, 1)`` uint8 array."""
    data, w, h = _blocks(blocks, "bc4", width, height)
    out = np.empty((h, w, 1), np.uint8)
    _k.decode_bc45_into(data, out)
    return out


def decode_bc5(blocks: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
               width: int, height: int) -> npt.NDArray[np.uint8]:
    """Decompress BC5 to a new ``(height, width, 2)`` uint8 array (red, green)."""
    data, w, h = _blocks(blocks, "bc5", width, height)
    out = np.empty((h, w, 2), np.uint8)
    _k.decode_bc45_into(data, out)
    return out


def decode_bc6h(blocks: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
                width: int, height: int) -> npt.NDArray[np.float16]:
    """Decompress BC6H_UF16 to a new ``(height, width, 3)`` float16 array, following
    the D3D11 specification (reserved modes decode to 0)."""
    data, w, h = _blocks(blocks, "bc6h", width, height)
    out = np.empty((h, w, 3), np.uint16)
    _k.decode_bc6h_into(data, out)
    return out.view(np.float16)


def decode(blocks: bytes | bytearray | memoryview | npt.NDArray[np.uint8], fmt: Format,
           width: int, height: int) -> np.ndarray:
    """Decompress ``fmt`` blocks (see the ``decode_*`` functions for the shapes)."""
    if fmt == "bc1":
        return decode_bc1(blocks, width, height)
    if fmt == "bc4":
        return decode_bc4(blocks, width, height)
    if fmt == "bc5":
        return decode_bc5(blocks, width, height)
    if fmt == "bc6h":
        return decode_bc6h(blocks, width, height)
    raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
