"""Radiance ``.hdr`` (RGBE) writer for float images.

Header ``#?RADIANCE``, ``FORMAT=32-bit_rle_rgbe``, a blank line, the resolution
``-Y H +X W`` (rows top to bottom), then the pixels. Each pixel is a shared-exponent
RGBE quadruple (Greg Ward's ``float2rgbe``: ``m, e = frexp(max(r, g, b))``, mantissas
``channel * m * 256 / max``, exponent ``e + 128``; a maximum below 1e-32 is 0 0 0 0).
Scanlines 8 to 32767 pixels wide are written in the "new" run-length format (2 2
hi lo, then each of the four channels as literal chunks of at most 128 bytes), which
every reader decodes and which cannot be mistaken for a run marker; other widths as
flat pixels (readers do not look for run markers there). Alpha is not stored.

Negative, NaN and infinite values cannot be represented: NaN and negative values are
written as 0 and +inf as the largest finite float32, and :func:`encode_hdr` counts
the texels it changed so the caller can report them.

Pure numpy: safe from any thread. Failure mode: ValueError for an array that is not
``(h, w, 3|4)``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["encode_hdr"]


def _rgbe(rgb: np.ndarray) -> np.ndarray:
    peak = rgb.max(axis=2)
    mantissa, exponent = np.frexp(peak)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(peak >= 1e-32, mantissa * 256.0 / np.where(peak > 0, peak, 1.0), 0.0)
    out = np.zeros(rgb.shape[:2] + (4,), np.uint8)
    out[..., :3] = np.clip(np.floor(rgb * scale[..., None]), 0, 255).astype(np.uint8)
    out[..., 3] = np.where(peak >= 1e-32, exponent + 128, 0).astype(np.uint8)
    return out


def _rle_scanlines(pixels: np.ndarray) -> bytes:
    """New-style RLE scanlines made only of literal chunks (no runs): valid and exact."""
    h, w, _ = pixels.shape
    chunks = -(-w // 128)
    counts = np.full(chunks, 128, np.uint8)
    counts[-1] = w - 128 * (chunks - 1)
    marker = np.array([2, 2, w >> 8, w & 0xFF], np.uint8)
    parts = []
    for row in pixels:
        parts.append(marker.tobytes())
        for channel in range(4):
            data = row[:, channel]
            for c in range(chunks):
                parts.append(bytes((int(counts[c]),)))
                parts.append(data[c * 128:(c + 1) * 128].tobytes())
    return b"".join(parts)


def encode_hdr(image: np.ndarray) -> tuple[bytes, int]:
    """The ``.hdr`` file of a float ``(h, w, 3 or 4)`` image and the number of texels
    whose colour was changed to fit RGBE (negative, NaN or infinite components)."""
    if image.ndim != 3 or image.shape[2] not in (3, 4) or not image.shape[0] or not image.shape[1]:
        raise ValueError(f"a Radiance image needs an (h, w, 3|4) array, got shape {image.shape}")
    rgb = np.asarray(image[..., :3], np.float64)
    bad = ~np.isfinite(rgb) | (rgb < 0)
    changed = int(bad.any(axis=2).sum())
    if changed:
        big = float(np.finfo(np.float32).max)
        rgb = np.where(np.isposinf(rgb), big, np.where(bad, 0.0, rgb))
    h, w = rgb.shape[:2]
    pixels = _rgbe(rgb)
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\nSOFTWARE=oxy export\n\n-Y {h} +X {w}\n".encode()
    body = _rle_scanlines(pixels) if 8 <= w <= 0x7FFF else pixels.tobytes()
    return header + body, changed
