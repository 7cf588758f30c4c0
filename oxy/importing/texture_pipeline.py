"""TexturePipeline: cooks textures on the CPU pool; pure compute, never writes files.

Each item is read (through the job's async reader, on the I/O pool) or taken from
embedded bytes, then keyed and looked up (the root, then the cook cache:
:mod:`oxy.importing.units`) or decoded, mip-mapped, encoded and packed, in ONE
``run_blocking`` call, so a texture costs one crossing and the kernels run GIL-free
on the pool. ``workers`` greenlets (default: the CPU pool's size) keep the pool busy.

Back-pressure: :meth:`submit` blocks its greenlet while ``queue_capacity`` items
wait, and finished results wait (at most ``workers`` of them) until :meth:`collect`
takes them, so memory stays bounded however many textures a job has. Submit from a
producer greenlet while another greenlet collects.

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
        self._input: Channel[TextureWorkItem] = Channel(queue_capacity or 2 * self._workers)
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
            self._input.send(item)
        except ChannelClosed:
            self._counts.submitted -= 1
            raise OperationCancelled("the texture pipeline is closed") from None

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
            for item in self._input:
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
