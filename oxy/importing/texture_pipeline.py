"""TexturePipeline: cooks textures on the CPU pool; pure compute, never writes files.

Each item is read (through the job's async reader, on the I/O pool) or taken from
embedded bytes, then keyed and looked up (the root, then the cook cache:
:mod:`oxy.importing.units`) or decoded, mip-mapped, encoded and packed, in ONE
``run_blocking`` call, so a texture costs one crossing and the kernels run GIL-free
on the pool. ``workers`` greenlets (default: the CPU pool's size) keep the pool busy.

Back-pressure: :meth:`submit` blocks its greenlet while ``queue_capacity`` items
(default: 16, or twice the workers if more) wait, and finished results wait (at most ``workers`` of them) until :meth:`collect`
takes them, so memory stays bounded however many textures a job has. Submit from a
producer greenlet while another greenlet collects.

Order: with more than one worker, a free worker takes the *heaviest* waiting item
(the most source bytes: the embedded data's length, or the file's size, asked for on
the I/O pool by :meth:`submit`; the oldest of equal weight), not the oldest (with
one worker, the oldest: nothing runs beside it, so the order gains nothing). Large textures start
first, so the serial parts of the last textures (decode, mips, packing, which the
strip fan-out of :mod:`oxy.cook.strips` does not spread) are those of small ones,
covered by the other pool threads' work. Results still come in completion order
(the importers restore submission order, :mod:`oxy.importing.reorder`).

Thread rules: use only from greenlets of the import hub. Failure modes: a bad
source never raises; its result has ``success=False`` and diagnostics naming the
file and the reason. A successful result carries the cook's warnings (e.g.
``texture.hdr_to_ldr``) as diagnostics too; consumers forward them.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event

from oxy.cook.image_decode import ImageDecodeError
from oxy.cook.payload import CookedTexture
from oxy.cook.texture import TextureCookError, TextureSettings
from oxy.errors import OperationCancelled
from oxy.hub import AsyncFileReader, CancelToken, Channel, ChannelClosed, run_blocking
from oxy.hub.pools import current_pools, current_task
from oxy.importing.types import ImportDiagnostic, Severity
from oxy.importing.units import (UnitOutcome, UnitStore, cook_texture_unit, finish_farmed_texture,
                                 texture_lookup)


@dataclass(frozen=True)
class TextureSource:
    """One image: a file ``path``, or embedded ``data`` (``name`` names it in messages)."""

    name: str
    path: str | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class TextureWorkItem:
    source_id: str
    sources: tuple[TextureSource, ...]
    settings: TextureSettings
    kind: str = "2d"  # "2d", "cube" (six sources or one cross/strip), "array"


@dataclass(frozen=True)
class TextureResult:
    source_id: str
    texture: CookedTexture | None
    diagnostics: tuple[ImportDiagnostic, ...] = ()
    success: bool = False
    cook_seconds: float = 0.0
    reused_index: int | None = None       # the root already holds this texture (nothing to emit)
    outcome: UnitOutcome | None = None    # the unit's recipe and where its result came from


@dataclass(frozen=True)
class PipelineProgress:
    submitted: int
    completed: int
    failed: int
    in_flight: int
    throughput: float  # textures per second since the first submit


@dataclass
class _Counters:
    submitted: int = 0
    completed: int = 0
    failed: int = 0
    started_at: float = 0.0
    workers: list = field(default_factory=list)


class TexturePipeline:
    """See the module docstring."""

    def __init__(self, *, reader: AsyncFileReader, token: CancelToken, workers: int | None = None,
                 queue_capacity: int | None = None, store: UnitStore | None = None) -> None:
        self._store = store or UnitStore()
        self._reader = reader
        self._token = token
        self._workers = max(1, workers or os.cpu_count() or 1)
        pools = current_pools()
        self._farm = getattr(pools, "farm", None) if pools is not None else None
        if self._farm is not None:
            # farm cooks wait on greenlets, not pool threads: as many workers as units the farm takes
            self._workers = max(self._workers, int(getattr(self._farm, "max_in_flight", 1)))
        # a window of at least 16 waiting items (descriptors, not pixels) for largest-first to choose from
        self._input = _HeaviestFirst(queue_capacity or max(16, 2 * self._workers), heaviest=self._workers > 1)
        self._output: Channel[TextureResult] = Channel(self._workers)
        self._counts = _Counters()
        self._running = 0

    # -- producer side -------------------------------------------------------------------
    def submit(self, item: TextureWorkItem) -> None:
        """Queue an item (greenlet-blocking while the queue is full). Raises
        OperationCancelled after cancel_all or when the job is cancelled."""
        self._token.raise_if_cancelled()
        if not self._counts.workers:
            self._counts.started_at = time.perf_counter()
            self._counts.workers = [gevent.spawn(self._work) for _ in range(self._workers)]
        self._counts.submitted += 1
        try:
            self._input.put(item, self._weight(item) if self._input.heaviest else 0)
        except ChannelClosed:
            self._counts.submitted -= 1
            raise OperationCancelled("the texture pipeline is closed") from None

    def _weight(self, item: TextureWorkItem) -> int:
        """Bytes of the item's sources (a file that cannot be stat'ed weighs 0; its
        read then fails with the reason). Greenlet-blocking (the I/O pool)."""
        weight = 0
        for source in item.sources:
            if source.data is not None:
                weight += len(source.data)
            elif source.path:
                info = self._reader.info(source.path)
                weight += info.value.size if info.ok and info.value is not None else 0
        return weight

    def close_input(self) -> None:
        """No more items; :meth:`collect` returns None once everything is collected."""
        self._input.close()
        if not self._counts.workers:
            self._output.close()

    # -- consumer side -------------------------------------------------------------------
    def collect(self, timeout: float | None = None) -> TextureResult | None:
        """The next finished result (in completion order), or None when the input is
        closed and every result has been collected. Greenlet-blocking."""
        try:
            result = self._output.receive(timeout)
        except ChannelClosed:
            return None
        return result

    def has_pending(self) -> bool:
        return self.pending_count() > 0

    def pending_count(self) -> int:
        """Items submitted whose result has not been collected yet."""
        return self._counts.submitted - self._counts.completed - self._counts.failed + len(self._output)

    def progress(self) -> PipelineProgress:
        c = self._counts
        elapsed = time.perf_counter() - c.started_at if c.started_at else 0.0
        done = c.completed + c.failed
        return PipelineProgress(c.submitted, c.completed, c.failed, self._running,
                                done / elapsed if elapsed > 0 else 0.0)

    def cancel_all(self) -> None:
        """Drop queued items, stop the workers, end the stream. Pool tasks already
        running finish (their results are discarded)."""
        self._input.close()
        gevent.killall(self._counts.workers, OperationCancelled, block=False)
        self._output.close()

    # -- workers -------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            while (item := self._input.take()) is not None:
                self._running += 1
                try:
                    result = self._cook(item)
                finally:
                    self._running -= 1
                if result.success:
                    self._counts.completed += 1
                else:
                    self._counts.failed += 1
                self._output.send(result)
        except (OperationCancelled, ChannelClosed, gevent.GreenletExit):
            return
        finally:
            if all(g.dead or g is gevent.getcurrent() for g in self._counts.workers) and self._input.closed:
                self._output.close()

    def _cook(self, item: TextureWorkItem) -> TextureResult:
        sources, problems = [], []
        for source in item.sources:
            if source.data is not None:
                sources.append((source.name, source.data))
                continue
            read = self._reader.read_file(source.path or source.name)
            if read.ok and read.value is not None:
                sources.append((source.name, read.value))
            else:
                problems.append(_error("texture.read_failed", f"cannot read {source.path}: "
                                       f"{read.error.value if read.error else 'error'}: {read.message}", source.name))
        if problems:
            return TextureResult(item.source_id, None, tuple(problems), False)
        start = time.perf_counter()
        try:
            if self._farm is not None:
                texture, reused, outcome = self._cook_on_farm(sources, item)
            else:
                texture, reused, outcome = run_blocking(_cook_checked, sources, item.settings, item.kind,
                                                        self._token, self._store)
        except ImageDecodeError as exc:
            return TextureResult(item.source_id, None, (_error("texture.decode_failed", exc.reason, exc.source),))
        except TextureCookError as exc:
            return TextureResult(item.source_id, None, (_error("texture.cook_failed", str(exc), item.source_id),))
        notes = tuple(ImportDiagnostic.from_note(n, item.source_id) for n in texture.notes) if texture else ()
        return TextureResult(item.source_id, texture, notes, True, time.perf_counter() - start, reused, outcome)

    def _cook_on_farm(self, sources: list[tuple[str, bytes]],
                      item: TextureWorkItem) -> tuple[CookedTexture | None, int | None, UnitOutcome]:
        """With a cook farm: the lookup on a pool thread, then the cook sent to the farm and
        waited for on this greenlet (no pool thread is held while the cluster works), then
        the result decoded and cached on a pool thread. Errors as the local cook's (a bad
        input's ImageDecodeError / TextureCookError comes back from the worker);
        FarmError / OperationCancelled propagate."""
        farm = self._farm
        assert farm is not None
        self._token.raise_if_cancelled()
        texture, reused, outcome, texels = run_blocking(_farm_lookup, farm, sources, item.settings, item.kind,
                                                        self._store)
        if texture is not None or reused is not None:
            return texture, reused, outcome
        key = outcome.recipe.key
        call = farm.start_texture(sources, item.settings, item.kind, key, self._store.farm_cache_url(), texels)
        data = farm.wait(call, self._token)
        texture = run_blocking(finish_farmed_texture, farm, data, key, self._store)
        return texture, None, outcome


class _HeaviestFirst:
    """The pipeline's input: bounded like a :class:`~oxy.hub.Channel` (:meth:`put`
    blocks its greenlet while ``capacity`` items wait; raises ChannelClosed once
    closed), but :meth:`take` returns the waiting item of the largest weight (the
    oldest of equal weights; with ``heaviest`` false, always the oldest), or None once
    closed and empty. Import hub greenlets only (no locks: every change wakes the
    waiting greenlets, which look again)."""

    __slots__ = ("capacity", "heaviest", "closed", "_items", "_seq", "_changed")

    def __init__(self, capacity: int, heaviest: bool = True) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.heaviest = heaviest
        self.closed = False
        self._items: list[tuple[int, int, TextureWorkItem]] = []  # (weight, arrival, item)
        self._seq = 0
        self._changed = gevent.event.Event()

    def put(self, item: TextureWorkItem, weight: int) -> None:
        while not self.closed and len(self._items) >= self.capacity:
            self._changed.wait()
        if self.closed:
            raise ChannelClosed("put on a closed queue")
        self._items.append((weight, self._seq, item))
        self._seq += 1
        self._wake()

    def take(self) -> TextureWorkItem | None:
        while not self._items:
            if self.closed:
                return None
            self._changed.wait()
        best = (max(range(len(self._items)), key=lambda i: (self._items[i][0], -self._items[i][1]))
                if self.heaviest else 0)
        item = self._items.pop(best)[2]
        self._wake()
        return item

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, gevent.event.Event()
        changed.set()


def _farm_lookup(farm: Any, sources: list[tuple[str, bytes]], settings: TextureSettings, kind: str,
                 store: UnitStore) -> tuple[CookedTexture | None, int | None, UnitOutcome, int | None]:
    """On a CPU-pool thread, before a farm cook: :func:`texture_lookup` and, on a miss,
    the unit's source pixels (image headers parsed here, not on the hub)."""
    texture, reused, outcome = texture_lookup(sources, settings, kind, store)
    if texture is not None or reused is not None:
        return texture, reused, outcome, None
    return None, None, outcome, farm.texels_of(sources)


def _cook_checked(sources: list[tuple[str, bytes]], settings: TextureSettings, kind: str,
                  token: CancelToken, store: UnitStore) -> tuple[CookedTexture | None, int | None, UnitOutcome]:
    """Runs on a CPU-pool thread: skip the work if the job was cancelled meanwhile;
    else the root's texture, the cache's, or a cook (:func:`cook_texture_unit`). A cook
    checks the token between strips of blocks (about 64 KB of source each), so a
    cancelled job frees its pool thread within a strip instead of encoding to the end.
    The job's token cancels this task's token while the cook runs, so pool threads
    helping with its strips (:mod:`oxy.hub.fanout`) stop claiming strips as well."""
    token.raise_if_cancelled()
    task = current_task()
    unlink = token.on_cancel(lambda: task.token.cancel(token.reason)) if task is not None else None
    try:
        return cook_texture_unit(sources, settings, kind, store, lambda _done, _total: token.raise_if_cancelled())
    finally:
        if unlink is not None:
            unlink()


def _error(code: str, message: str, source: str) -> ImportDiagnostic:
    return ImportDiagnostic(Severity.ERROR, code, message, source)
