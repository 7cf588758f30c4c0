"""Encoding one image as strips of whole block rows: the seam for progress,
cancellation and (later) spreading one large texture over the CPU pool.

Block compressors (BC1-BC7) encode every 4x4 block from its own 16 texels only
(edge blocks clamp to the image's last row and column, which a strip boundary never
cuts, since strips are whole block rows), so encoding rows ``[top, top + rows)`` of
a C-contiguous image and concatenating the parts in order gives the same bytes as
one call over the whole image, for any strip height that is a multiple of 4.

Thread rules: :func:`encode_in_strips` runs on the calling thread (a CPU-pool
thread in the pipeline); ``encode_strip`` must be a GIL-free kernel call that is
safe to run concurrently on disjoint strips. ``progress(done, total)`` is called on
the calling thread after each strip; what it raises (a cancel) ends the encode and
is re-raised. Failure modes: whatever ``encode_strip`` raises.
"""
from __future__ import annotations

from typing import Callable, Final

import numpy as np

#: Bytes of source (about) per strip.
STRIP_BYTES: Final[int] = 256 * 1024

#: ``progress(blocks_done, blocks_total)``
Progress = Callable[[int, int], None]
#: Encodes one strip (a C-contiguous row slice of the image) into its blocks.
StripEncoder = Callable[[np.ndarray], bytes]


def strip_rows(width: int, texel_bytes: int = 4) -> int:
    """Texel rows per strip for an image ``width`` texels wide of ``texel_bytes`` per
    texel: a multiple of 4, about :data:`STRIP_BYTES` of source."""
    return max(4, STRIP_BYTES // (max(1, width) * max(1, texel_bytes)) // 4 * 4)


def strip_bounds(height: int, rows: int) -> list[tuple[int, int]]:
    """``(top, bottom)`` texel rows of each strip of ``rows`` rows (a multiple of 4)."""
    if rows < 4 or rows % 4:
        raise ValueError(f"rows must be a positive multiple of 4, got {rows}")
    return [(top, min(height, top + rows)) for top in range(0, height, rows)]


def encode_in_strips(image: np.ndarray, encode_strip: StripEncoder, progress: Progress | None = None,
                     rows: int | None = None) -> bytes:
    """Encode ``image`` (C-contiguous, shape ``(H, W, ...)``) strip by strip with
    ``encode_strip`` and return the concatenated blocks (identical to one call over
    the whole image). ``rows``: texel rows per strip (default :func:`strip_rows`).
    Reports ``progress(blocks_done, blocks_total)`` after each strip."""
    height, width = image.shape[0], image.shape[1]
    texel_bytes = image.itemsize * (image.shape[2] if image.ndim == 3 else 1)
    bounds = strip_bounds(height, rows or strip_rows(width, texel_bytes))
    per_block_row = (width + 3) // 4
    total = per_block_row * ((height + 3) // 4)
    if len(bounds) == 1 and progress is None:
        return encode_strip(image)
    parts, done = [], 0
    for top, bottom in bounds:
        parts.append(encode_strip(image[top:bottom]))  # whole rows of a C-contiguous array
        done += per_block_row * ((bottom - top + 3) // 4)
        if progress is not None:
            progress(done, total)
    return b"".join(parts)
