"""Encoding one image as strips of whole block rows: the seam for progress,
cancellation and spreading one large texture over the CPU pool.

Block compressors (BC1-BC7) encode every 4x4 block from its own 16 texels only
(edge blocks clamp to the image's last row and column, which a strip boundary never
cuts, since strips are whole block rows), so encoding rows ``[top, top + rows)`` of
a C-contiguous image and concatenating the parts in order gives the same bytes as
one call over the whole image, for any strip height that is a multiple of 4.

Fan-out: when :func:`encode_in_strips` runs inside a task on a CPU-pool thread of an
import hub whose pool has more than one thread, the strips go into a shared claim
queue that idle pool threads help with (:func:`oxy.hub.fanout.spread`: fork-join,
the calling thread claims strips too and never waits for unclaimed ones). Parts are
placed by strip index, so the bytes are the same for any thread count and split.
Elsewhere (plain calls, tests, the farm's Dask workers) it runs strip after strip
on the calling thread. ``oxy.hub.fanout.ENABLED`` (env ``OXY_FANOUT=0``) turns the
fan-out off.

Thread rules: :func:`encode_in_strips` returns on the calling thread;
``encode_strip`` must be a GIL-free kernel call that is safe to run concurrently on
disjoint strips (it may run on other pool threads). ``progress(done, total)`` is
called only on the calling thread, as strips complete (its own after each strip,
helpers' between its strips and while it waits for them); what it raises (a cancel)
stops the claiming of strips on every thread and is re-raised once the strips that
are running have ended. A cancelled pool-task token (the pipeline links the job's
token to it) stops helpers and caller alike (:class:`OperationCancelled`).
Failure modes: whatever ``encode_strip`` raises, on any thread, is re-raised here.
"""
from __future__ import annotations

import sys
from typing import Callable, Final

import numpy as np

#: Bytes of source (about) per strip: 64 KB, 16K texels of RGBA8 (8 rows of a 2048²
#: image): about 9 ms of BC7 ``normal`` and 50 ms of ``high`` on one core, so a cancel
#: frees the pool within a strip, and one texture splits finely enough to balance
#: two or more pool threads. A kernel call per strip costs microseconds.
STRIP_BYTES: Final[int] = 64 * 1024

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
    blocks = [per_block_row * ((bottom - top + 3) // 4) for top, bottom in bounds]
    parts = _spread(image, bounds, blocks, total, encode_strip, progress)
    if parts is not None:
        return b"".join(parts)
    if progress is None:  # nothing to report and no pool to share with: one kernel call
        return encode_strip(image)
    parts, done = [], 0
    for (top, bottom), count in zip(bounds, blocks):
        parts.append(encode_strip(image[top:bottom]))  # whole rows of a C-contiguous array
        done += count
        if progress is not None:
            progress(done, total)
    return b"".join(parts)


def _spread(image: np.ndarray, bounds: list[tuple[int, int]], blocks: list[int], total: int,
            encode_strip: StripEncoder, progress: Progress | None) -> list[bytes] | None:
    """The strips spread over the pool, or None when this thread cannot fan out."""
    if len(bounds) < 2 or "oxy.hub.pools" not in sys.modules:  # no import hub in this process
        return None
    from oxy.hub import fanout

    done = 0

    def after(index: int) -> None:
        nonlocal done
        done += blocks[index]
        if progress is not None:
            progress(done, total)

    return fanout.spread(lambda index: encode_strip(image[bounds[index][0]:bounds[index][1]]), len(bounds), after)
