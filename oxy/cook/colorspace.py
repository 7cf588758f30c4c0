"""sRGB <-> linear-light conversion: the exact formulas and the lookup tables kernels use.

The transfer function is IEC 61966-2-1 (sRGB), piecewise: a linear segment of slope
12.92 near black and a 2.4 power curve above it. Kernels never call ``pow`` per pixel;
they index these tables instead:

* :func:`srgb_to_linear_table` -- 256 float32 entries, entry ``v`` is the linear value
  of the 8-bit sRGB code ``v`` (exact formula in float64, rounded once to float32).
* :func:`linear_to_srgb_table` -- ``LINEAR_TO_SRGB_SIZE`` uint8 entries; a linear value
  ``c`` in [0, 1] is encoded as ``table[int(c * (LINEAR_TO_SRGB_SIZE - 1) + 0.5)]``.
  Entry ``i`` is the correctly rounded 8-bit sRGB code of ``i / (size - 1)``, so the
  result differs from the correctly rounded code of ``c`` itself by at most 1 (and only
  when ``c`` lies within ~0.03 LSB of a rounding boundary).

Thread rules: every function here is pure; the tables are built once, cached, and
returned read-only, so any thread may share them without locking.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

#: Number of entries of the linear -> sRGB table (16-bit quantisation of linear light).
LINEAR_TO_SRGB_SIZE = 65536


def srgb_to_linear(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Decode sRGB-encoded values in [0, 1] to linear light with the exact formula.

    Values outside [0, 1] are clipped first. Returns float64.
    """
    s = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    return np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Encode linear-light values in [0, 1] to sRGB with the exact formula.

    Values outside [0, 1] are clipped first. Returns float64 in [0, 1].
    """
    c = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1.0 / 2.4) - 0.055)


def linear_to_srgb8_exact(values: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Correctly rounded 8-bit sRGB codes of linear values (reference, uses ``pow``)."""
    return np.floor(linear_to_srgb(values) * 255.0 + 0.5).astype(np.uint8)


def _read_only(table: np.ndarray) -> np.ndarray:
    table.flags.writeable = False
    return table


@lru_cache(maxsize=None)
def srgb_to_linear_table() -> npt.NDArray[np.float32]:
    """The 256-entry sRGB code -> linear float32 table (read-only, cached)."""
    codes = np.arange(256, dtype=np.float64) / 255.0
    return _read_only(np.ascontiguousarray(srgb_to_linear(codes), dtype=np.float32))


@lru_cache(maxsize=None)
def linear_to_srgb_table() -> npt.NDArray[np.uint8]:
    """The ``LINEAR_TO_SRGB_SIZE``-entry linear -> 8-bit sRGB table (read-only, cached).

    Index with ``int(clip(c, 0, 1) * (LINEAR_TO_SRGB_SIZE - 1) + 0.5)``.
    """
    grid = np.arange(LINEAR_TO_SRGB_SIZE, dtype=np.float64) / (LINEAR_TO_SRGB_SIZE - 1)
    return _read_only(np.ascontiguousarray(linear_to_srgb8_exact(grid)))


def encode_srgb8(linear: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Encode linear values to 8-bit sRGB through :func:`linear_to_srgb_table`."""
    c = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    index = (c * np.float32(LINEAR_TO_SRGB_SIZE - 1) + np.float32(0.5)).astype(np.int64)
    return linear_to_srgb_table()[index]
