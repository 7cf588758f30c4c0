"""Encoding one image as strips of whole block rows: the seam for progress,
cancellation and spreading one large texture over the CPU pool.

Block compressors (BC1-BC7) encode every 4x4 block from its own 16 texels only
(edge blocks clamp to the image's last row and column, which a strip boundary never
cuts, since strips are whole block rows), so encoding rows ``[top, top + rows)`` of
a C-contiguous image and concatenating the parts in order gives the same bytes as
one call over the whole image, for any strip height that is a multiple of 4.

Fan-out: when :func:`encode_in_strips` (one image) or :func:`encode_levels` (a mip
chain: the strips of every level together, so one fork-join per texture layer) runs
inside a task on a CPU-pool thread of an import hub whose pool has more than one
thread, and the work is more than one strip's worth, the strips go into a shared
claim queue that idle pool threads help with (:func:`oxy.hub.fanout.spread`:
fork-join, the calling thread claims strips too and never waits for unclaimed ones).
Parts are placed by strip index, so the bytes are the same for any thread count and
split. Elsewhere (plain calls, tests, the farm's Dask workers) it runs strip after
strip on the calling thread (one call per level when nothing is reported).
``oxy.hub.fanout.ENABLED`` (env ``OXY_FANOUT=0``) turns the fan-out off.

Progress leaving the cooking thread goes through :class:`ProgressThrottle` (at most
one report per 1/64 of the work, and the last): per-strip reports would be hundreds
per large texture.

Thread rules: :func:`encode_in_strips` and :func:`encode_levels` return on the calling thread;
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
from typing import Callable, Final, Sequence

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
    return encode_levels([image], encode_strip, progress, None if rows is None else (lambda _level: rows))[0]


def encode_levels(levels: Sequence[np.ndarray], encode_strip: StripEncoder, progress: Progress | None = None,
                  rows: Callable[[np.ndarray], int] | None = None) -> list[bytes]:
    """Encode every image of ``levels`` (a mip chain: C-contiguous, shape ``(H, W, ...)``)
    with ``encode_strip``; return each level's blocks (identical to one call per level).

    On a pool thread the strips of *all* levels form one fan-out (one fork-join per
    texture, not one per level): level 0's strips are claimed first and the small
    levels last, so the work left when a thread runs out of strips is a small strip,
    and the levels too small to split run beside the others instead of alone.
    ``rows(level)``: texel rows per strip of a level (default :func:`strip_rows`).
    ``progress(blocks_done, blocks_total)`` counts the 4x4 blocks of all levels."""
    items: list[tuple[int, int, int]] = []       # (level, top, bottom)
    blocks: list[int] = []
    source_bytes = 0
    for index, image in enumerate(levels):
        height, width = image.shape[0], image.shape[1]
        texel_bytes = image.itemsize * (image.shape[2] if image.ndim == 3 else 1)
        per_block_row = (width + 3) // 4
        source_bytes += image.nbytes
        for top, bottom in strip_bounds(height, rows(image) if rows else strip_rows(width, texel_bytes)):
            items.append((index, top, bottom))
            blocks.append(per_block_row * ((bottom - top + 3) // 4))
    total = sum(blocks)
    if len(items) == len(levels) and progress is None:  # one strip per level, nothing to report
        return [encode_strip(image) for image in levels]
    parts = _spread(levels, items, blocks, total, encode_strip, progress) if source_bytes > STRIP_BYTES else None
    if parts is None and progress is None:  # nothing to report and no pool to share with: one call per level
        return [encode_strip(image) for image in levels]
    if parts is None:
        parts, done = [], 0
        for (index, top, bottom), count in zip(items, blocks):
            parts.append(encode_strip(levels[index][top:bottom]))  # whole rows of a C-contiguous array
            done += count
            progress(done, total)  # type: ignore[misc]
    out: list[list[bytes]] = [[] for _ in levels]
    for (index, _top, _bottom), part in zip(items, parts):
        out[index].append(part)
    return [b"".join(level) for level in out]


def _spread(levels: Sequence[np.ndarray], items: list[tuple[int, int, int]], blocks: list[int], total: int,
            encode_strip: StripEncoder, progress: Progress | None) -> list[bytes] | None:
    """The strips spread over the pool, or None when this thread cannot fan out."""
    if len(items) < 2 or "oxy.hub.pools" not in sys.modules:  # no import hub in this process
        return None
    from oxy.hub import fanout

    done = 0

    def after(index: int) -> None:
        nonlocal done
        done += blocks[index]
        if progress is not None:
            progress(done, total)

    def work(index: int) -> bytes:
        level, top, bottom = items[index]
        return encode_strip(levels[level][top:bottom])

    return fanout.spread(work, len(items), after)


class ProgressThrottle:
    """Forwards ``progress(done, total)`` to ``sink`` at most once per ``1/steps`` of
    the total (so at most ``steps`` reports before the end, however many strips the
    work has), and always the final one (``done >= total``).

    Counted, not timed: the same work gives the same reports on any machine. Used
    where per-strip reports leave the cooking thread (the sinks of
    :func:`oxy.cook.texture.watch_progress`, which post to the import hub): a 2048²
    texture has about 350 strips (level 0 alone 256), so unthrottled each would be a
    hub wake-up and a job progress event. Thread rules: call from one thread at a
    time (a cook reports on its calling thread). What ``sink`` raises propagates."""

    __slots__ = ("sink", "steps", "_sent")

    def __init__(self, sink: Progress, steps: int = 64) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.sink = sink
        self.steps = steps
        self._sent = 0

    def __call__(self, done: int, total: int) -> None:
        if done < total and (done - self._sent) * self.steps < total:
            return
        self._sent = done
        self.sink(done, total)
