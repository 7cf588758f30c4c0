"""Mip-chain generation for RGBA textures: sRGB-correct, alpha-aware, any size.

:func:`mip_chain` returns every level of a 2D texture, level 0 first, down to 1x1.
Level ``i`` is ``max(1, w >> i)`` by ``max(1, h >> i)`` (the D3D rule), and there are
``floor(log2(max(w, h))) + 1`` levels. The work is done by the compiled kernel
``oxy._kernels.mips`` in one GIL-free streaming pass over level 0 (see its docstring):
intermediate levels stay float32, extra memory is a few rows per level.

Filters (``filter=``):

* ``"box"`` -- 2x2 average for even sizes; for an odd size ``2m+1 -> m`` the 3-tap
  polyphase box with weights ``(m-x, m, x+1)/(2m+1)``, so no parent texel is skipped
  and the mean is preserved exactly.
* ``"kaiser"`` -- Kaiser-windowed sinc (width 3, alpha 4; NVTT's mipmap filter):
  sharper and much less aliasing than box, at several times the cost. It can ring
  at hard edges; uint8 results are clamped to the valid range, float32 ones are not.

Thread rules: :func:`mip_chain` is a pure function; it never starts threads and the
kernel releases the GIL for the whole computation, so calls from several threads run
in parallel. Results are deterministic (same input, same bytes, on any thread).
Failure modes: ``ValueError`` naming the argument for bad input; ``MemoryError`` if
the outputs or the kernel's row buffers cannot be allocated.
"""
from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from oxy._kernels import mips as _kernel
from oxy.cook.colorspace import linear_to_srgb_table, srgb_to_linear_table

__all__ = ["FILTERS", "mip_chain", "mip_count", "mip_sizes"]

#: Filter names accepted by :func:`mip_chain`, mapped to the kernel's filter ids.
FILTERS: Final[dict[str, int]] = {"box": _kernel.BOX, "kaiser": _kernel.KAISER}

_UNORM_TABLE: Final = np.ascontiguousarray(np.arange(256, dtype=np.float32) / np.float32(255.0))
_SNORM_TABLE: Final = np.ascontiguousarray(
    np.arange(256, dtype=np.float64) / 127.5 - 1.0, dtype=np.float32
)
for _table in (_UNORM_TABLE, _SNORM_TABLE):
    _table.flags.writeable = False


def mip_count(width: int, height: int) -> int:
    """Number of levels of a full chain: ``floor(log2(max(width, height))) + 1``."""
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    return max(width, height).bit_length()


def mip_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """``(width, height)`` of every level, level 0 first (D3D rule ``max(1, d >> i)``)."""
    return [(max(1, width >> i), max(1, height >> i)) for i in range(mip_count(width, height))]


def _check_image(image: object) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype != np.uint8 and image.dtype != np.float32:
        raise ValueError(f"image dtype must be uint8 or native float32, got {image.dtype}")
    if image.ndim != 3:
        raise ValueError(f"image must have shape (H, W, 4), got ndim={image.ndim}")
    if image.shape[2] != 4:
        raise ValueError(f"image must have 4 channels (RGBA), got {image.shape[2]}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must not be empty, got shape {image.shape}")
    if not image.flags.c_contiguous:
        raise ValueError("image must be C-contiguous (use numpy.ascontiguousarray)")
    return image


def _check_filter(filter: object) -> int:
    if not isinstance(filter, str) or filter not in FILTERS:
        raise ValueError(f"filter must be one of {sorted(FILTERS)}, got {filter!r}")
    return FILTERS[filter]


def _check_cutoff(alpha_coverage: object) -> float | None:
    if alpha_coverage is None:
        return None
    if isinstance(alpha_coverage, bool) or not isinstance(alpha_coverage, (int, float)):
        raise ValueError(f"alpha_coverage must be a float in (0, 1) or None, got {alpha_coverage!r}")
    cutoff = float(alpha_coverage)
    if not 0.0 < cutoff < 1.0:
        raise ValueError(f"alpha_coverage must be in (0, 1), got {alpha_coverage!r}")
    return cutoff


def _encoding(image: np.ndarray, srgb: bool, normal_map: bool) -> tuple[int, np.ndarray]:
    """The kernel's output coding and the uint8 decode table for this request."""
    if image.dtype == np.float32:
        return (_kernel.ENCODE_NORMAL_FLOAT if normal_map else _kernel.ENCODE_FLOAT), _UNORM_TABLE
    if normal_map:
        return _kernel.ENCODE_NORMAL8, _SNORM_TABLE
    if srgb:
        return _kernel.ENCODE_SRGB8, srgb_to_linear_table()
    return _kernel.ENCODE_UNORM8, _UNORM_TABLE


def _preserve_coverage(levels: list[np.ndarray], cutoff: float) -> None:
    """Scale each mip's alpha so its alpha-test coverage matches level 0's."""
    if levels[0].dtype == np.uint8:
        target = _kernel.alpha_coverage_u8(levels[0], cutoff)
        for level in levels[1:]:
            _kernel.preserve_coverage_u8(level, cutoff, target)
    else:
        target = _kernel.alpha_coverage_f32(levels[0], cutoff)
        for level in levels[1:]:
            _kernel.preserve_coverage_f32(level, cutoff, target)


def mip_chain(
    image: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    *,
    srgb: bool = True,
    filter: str = "box",
    normal_map: bool = False,
    alpha_coverage: float | None = None,
) -> list[np.ndarray]:
    """Build the full mip chain of an RGBA image; returns the levels, level 0 first.

    ``image`` is C-contiguous ``(H, W, 4)`` uint8 (RGBA8) or float32 (linear / HDR).
    Level 0 of the result *is* ``image`` (not copied); the other levels are new arrays
    of the same dtype.

    * ``srgb`` (uint8 only): colour is filtered in linear light (sRGB decoded through a
      256-entry table, re-encoded through a 65536-entry table); ``False`` filters the
      stored codes directly. Ignored for float32 input and normal maps.
    * Colour is alpha weighted (premultiplied in linear space, averaged, divided back),
      so transparent texels do not darken their neighbours; a fully transparent
      footprint keeps the unweighted average. Alpha itself is filtered linearly.
    * ``normal_map``: RGB is a tangent-space normal (uint8 ``v / 127.5 - 1``; float32
      holds the vector itself); vectors are averaged (not alpha weighted) and each level
      is renormalised when it is written (a zero average becomes +z). The chain carries
      the plain averages, so level ``i`` is the average over its whole footprint.
    * ``alpha_coverage``: an alpha-test cutoff in (0, 1); each level's alpha is scaled
      (binary search on the scale) so the fraction of texels with ``alpha >= cutoff``
      matches level 0's.

    Raises ``ValueError`` naming the argument for a wrong type, dtype, ndim, channel
    count, empty or non-contiguous image, unknown filter, or a cutoff outside (0, 1).
    """
    image = _check_image(image)
    filter_id = _check_filter(filter)
    cutoff = _check_cutoff(alpha_coverage)
    encode, decode_table = _encoding(image, bool(srgb), bool(normal_map))
    height, width = image.shape[:2]
    levels: list[np.ndarray] = [image]
    for w, h in mip_sizes(width, height)[1:]:
        levels.append(np.empty((h, w, 4), dtype=image.dtype))
    _kernel.build_chain(
        image, levels, filter_id, encode, not normal_map, decode_table, linear_to_srgb_table()
    )
    if cutoff is not None:
        _preserve_coverage(levels, cutoff)
    return levels
