"""The shared loads: one in-flight load per key, its read/decode, its dependencies, publishing.

:class:`LoadEngine` is the part of :class:`~oxy.runtime.AssetLoader` that turns a key
into a cached object with one reference per waiter. :meth:`LoadEngine.attach` never
blocks: a cache hit calls the waiter's *listener* at once; otherwise the listener
joins the key's in-flight load (a :class:`_Job`) or a new job is queued in the
:class:`PriorityGate`. **A job gets its greenlet only when the gate admits it**
(it is spawned holding its decode slot): a burst of 1,200 requests is 1,200 small
job records, not 1,200 greenlets with their frames, so the owning hub switches less
and the garbage collector has fewer live objects to scan. The job's greenlet
(``produce``): resolve -> read (I/O pool) -> decode and fingerprint (CPU pool, pure)
-> dependencies attached the same way, waited for with one event (no greenlet per
dependency) -> publish (cache entry with refs = listeners, descriptor fingerprint
for hot reload) -> every listener called with the value, in one pass.

Listeners are plain callables ``listener(value, error)`` run on the owning hub
(in the job's greenlet, a loop callback, or :meth:`stop`); they must not block.
A listener that received a value owns one reference. ``detach`` takes a listener
back before its job settles; a job nobody listens to any more is stopped (a queued
one never starts). Transient read errors are retried by ``config.retry`` outside
the gate. A load whose mount a hot reload replaced while it read is built again
from the new mount before it publishes.

**Fallback inside a parent.** A job some request asked ``fallback`` for (it passes
to its dependencies) that loses a dependency builds its object anyway around the
dependency's placeholder (:func:`dependency_placeholder`: the checker texture, the
default material, the ``ERROR`` cube) and fails with the dependency's error,
handing the degraded object to its listeners as ``listener(degraded, error)``. It
is never cached (later requests load again).

Thread rules: owning hub only; ``produce``/``build``/``load_deps`` run in greenlets
there and block greenlet-style, everything else never blocks. Failure modes: the
errors of the module docstring of :mod:`oxy.runtime.loader`, given to every
listener of the load; GreenletExit (stop, cancel) becomes OperationCancelled.
"""
from __future__ import annotations

import hashlib
import logging
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import gevent
from gevent.event import AsyncResult, Event
from gevent.pool import Group

from oxy.errors import OperationCancelled
from oxy.formats import AssetKey, AssetType
from oxy.hub import CancelToken, run_blocking
from oxy.hub.pools import run_io
from oxy.runtime.cache import ContentCache
from oxy.runtime.config import LoaderConfig
from oxy.runtime.decoders import Decoded, Tolerated, decode_asset, decode_resource
from oxy.runtime.errors import AssetNotFound, ResourceNotFound, WrongAssetKind
from oxy.runtime.keys import ResourceKey, ResourceKind, SourceId
from oxy.runtime.kinds import ASSET_CLASSES, ASSET_TYPES, dep_type
from oxy.runtime.mounts import MountTable
from oxy.runtime.placeholders import placeholder_for
from oxy.runtime.progress import LoaderStats
from oxy.runtime.retry import call_with_retry, is_transient
from oxy.runtime.scheduling import PriorityGate, Ticket
from oxy.validate.diagnostics import Diagnostic
from oxy.validate.rules import severity_of

__all__ = ["Key", "Listener", "LoadEngine", "dependency_placeholder", "gate_rank", "timed"]

log = logging.getLogger("oxy.runtime")
Key = AssetKey | ResourceKey
Listener = Callable[[Any, "BaseException | None"], object]


class _Job:
    """One in-flight load (owning hub): its listeners, its gate ticket, its greenlet and progress."""

    __slots__ = ("key", "priority", "listeners", "settled", "started", "progress", "greenlet", "source",
                 "ticket", "holds_slot", "fallback", "abandon")

    def __init__(self, key: Key, priority: float, fallback: bool) -> None:
        self.key, self.priority, self.fallback = key, priority, fallback
        self.listeners: list[Listener] = []
        self.settled = False
        self.started = False      # admitted by the gate (holds or held a decode slot)
        self.progress = 0.0
        self.greenlet: Any = None
        self.source: Any = None   # the Source object it read (a hot reload may replace it)
        self.ticket: Ticket | None = None
        self.holds_slot = False   # admitted holding the slot its first read + decode uses
        self.abandon: Callable[[], object] | None = None  # detaches it from its dependencies (batched loads)

    @property
    def waiters(self) -> int:
        return len(self.listeners)


class _DepWait:
    """The dependencies of one parent load: their outcomes and one event set when
    the last of them settled (owning hub)."""

    __slots__ = ("outcomes", "remaining", "event", "job", "total", "then", "attached")

    def __init__(self, count: int, job: _Job | None, then: Callable[[], object] | None = None) -> None:
        self.outcomes: list[tuple[bool, Any, Any] | None] = [None] * count  # (ok, value, degraded)
        self.remaining = count
        self.total = count
        self.event = Event() if then is None else None   # greenlet waiter, or ...
        self.then = then                                  # ... a continuation (never blocks)
        self.job = job
        self.attached: list[tuple[_Job, Listener]] = []

    def listener(self, index: int) -> Listener:
        def done(value: Any, error: BaseException | None) -> None:
            self.outcomes[index] = (True, value, None) if error is None else (False, error, value)
            self.remaining -= 1
            job = self.job
            if job is not None:
                job.progress = 0.5 + 0.5 * (self.total - self.remaining) / (self.total + 1)
            if self.remaining == 0:
                if self.then is not None:
                    then, self.then = self.then, None
                    then()
                else:
                    assert self.event is not None
                    self.event.set()
        return done


class LoadEngine:
    """See the module docstring. Created by the loader; ``group``/``gate`` are set
    when the loader starts on its owning hub."""

    def __init__(self, config: LoaderConfig, mounts: MountTable, cache: ContentCache, stats: LoaderStats) -> None:
        self.config, self.mounts, self.cache, self.stats = config, mounts, cache, stats
        self.inflight: dict[Key, _Job] = {}
        self.group: Group | None = None
        self.gate: PriorityGate | None = None
        self.token = CancelToken()
        self.fingerprints: dict[Key, tuple[SourceId, bytes]] = {}  # asset -> (source, descriptor SHA-256)
        self.batch_size = 4        # admitted asset loads read and decoded per pool task
        self.max_batches = 2       # batch greenlets at once (set from the CPU pool size)
        self._ready: list[_Job] = []   # admitted asset loads waiting for a batch
        self._batches = 0

    def stop(self) -> None:
        """Fail every in-flight load with OperationCancelled (their listeners are
        called) and kill the load greenlets."""
        self.token.cancel("the asset loader was stopped")
        jobs = list(self.inflight.values())
        self.inflight.clear()
        for job in jobs:
            if job.ticket is not None:
                job.ticket.cancel()
                job.ticket = None
            self._settle(job, None, OperationCancelled(f"load of {job.key} cancelled: loader stopped"))
        if self.group is not None:
            self.group.kill(block=True, timeout=10.0)

    # ------------------------------------------------------------------ joining a load
    def attach(self, key: Key, expect: int | None, priority: float, listener: Listener,
               fallback: bool = False) -> _Job | None:
        """Never blocks. A cache hit calls ``listener(value, None)`` now and returns
        None; otherwise ``listener`` joins the key's in-flight load (started and
        queued in the gate when there is none) and that job is returned. Raises
        AssetNotFound / WrongAssetKind at once (nothing attached)."""
        stats = self.stats
        stats.requests += 1
        value = self.cache.acquire(key)
        if value is not None:
            stats.cache_hits += 1
            if expect is not None and ASSET_TYPES.get(type(value)) != expect:
                self.cache.release(key)
                raise WrongAssetKind(f"asset {key} is a {type(value).__name__}, not a "
                                     f"{ASSET_CLASSES[expect].__name__}")
            listener(value, None)
            return None
        if expect is not None and isinstance(key, AssetKey):
            _source, actual = self.mounts.resolve(key)
            if actual != expect:
                what = (AssetType(actual).name.lower() if actual in ASSET_CLASSES
                        else f"asset of type {actual} (not Material, Geometry or Scene)")
                raise WrongAssetKind(f"asset {key} is a {what}, not a {AssetType(expect).name.lower()}")
        job = self.inflight.get(key)
        if job is None:
            if self.token.cancelled or self.gate is None:
                raise OperationCancelled(f"load of {key} cancelled: loader stopped")
            job = self.inflight[key] = _Job(key, priority, fallback)
            stats.decodes += 1
            job.listeners.append(listener)
            job.ticket = Ticket(self._admit, job)
            self.gate.enqueue(gate_rank(priority), job.ticket)
            return job
        stats.joined += 1
        job.fallback = job.fallback or fallback
        job.listeners.append(listener)
        return job

    def detach(self, job: _Job, listener: Listener) -> bool:
        """Take ``listener`` back from a job not settled yet (a cancelled request, a
        killed parent); stop the job when nobody listens any more. False when the
        listener was not waiting (it was called already)."""
        if job.settled:
            return False
        try:
            job.listeners.remove(listener)
        except ValueError:
            return False
        if job.listeners:
            return True
        if self.inflight.get(job.key) is job:
            del self.inflight[job.key]
        job.settled = True
        if job.ticket is not None:
            job.ticket.cancel()
            job.ticket = None
        if job.holds_slot:   # spawned but never ran: give its slot on
            job.holds_slot = False
            assert self.gate is not None
            self.gate.release()
        greenlet = job.greenlet
        if greenlet is not None and greenlet is not gevent.getcurrent():
            greenlet.kill(block=False)
        if job.abandon is not None:
            abandon, job.abandon = job.abandon, None
            abandon()
        return True

    def obtain(self, key: Key, expect: int | None, priority: float) -> Any:
        """Greenlet on the owning hub: the value of ``key`` with one reference taken
        (blocking form of :meth:`attach`)."""
        result: AsyncResult = AsyncResult()

        def listener(value: Any, error: BaseException | None) -> None:
            if error is None:
                result.set(value)
            else:
                result.set_exception(error)
        job = self.attach(key, expect, priority, listener)
        try:
            return result.get()
        except gevent.GreenletExit:
            if job is None or not self.detach(job, listener):
                if result.successful():
                    self.cache.release(key)
            raise

    def _admit(self, job: _Job) -> bool:
        """The gate's ticket: start ``job``'s greenlet holding the slot (False: the
        job was abandoned meanwhile; the slot goes to the next)."""
        if job.settled or self.group is None or self.token.cancelled:
            return False
        job.ticket = None
        job.started = job.holds_slot = True
        if isinstance(job.key, AssetKey):
            self._ready.append(job)
            if self._batches < self.max_batches:
                self._batches += 1
                self.group.spawn(self._batch_loop)
        else:
            job.greenlet = self.group.spawn(self.produce, job)
        return True

    def _settle(self, job: _Job, value: Any, error: BaseException | None) -> None:
        """Call every listener once (value: published, one reference each; or the error)."""
        job.settled = True
        job.greenlet = job.abandon = None
        listeners, job.listeners = job.listeners, []
        for listener in listeners:
            listener(value, error)

    def _forget(self, job: _Job) -> None:
        if self.inflight.get(job.key) is job:
            del self.inflight[job.key]

    # ------------------------------------------------------------------ one load
    def produce(self, job: _Job, failed_first: BaseException | None = None) -> None:
        """The one load of ``job.key`` (owning hub greenlet); publishes or fails it.
        ``failed_first``: its first read (in a batch) failed with this transient error."""
        try:
            value, size, deps, fingerprint = self.build_current(job, failed_first)
        except gevent.GreenletExit:
            self._forget(job)
            if not job.settled:
                self._settle(job, None, OperationCancelled(f"load of {job.key} cancelled: loader stopped"))
            raise
        except Exception as exc:  # noqa: BLE001 - every listener gets it
            self._forget(job)
            if not job.settled:
                self._settle(job, getattr(exc, "_oxy_degraded", None), exc)
            return
        finally:
            if job.holds_slot:
                job.holds_slot = False
                assert self.gate is not None
                self.gate.release()
        self._publish(job, value, size, deps, fingerprint)

    def _publish(self, job: _Job, value: Any, size: int, deps: tuple[Key, ...], fingerprint: Any) -> None:
        """Cache the built object (one reference per listener) and settle the job."""
        self._forget(job)
        if self.token.cancelled or job.settled:
            self.cache.release_all(deps)
            if not job.settled:
                self._settle(job, None, OperationCancelled(f"load of {job.key} cancelled: loader stopped"))
            return
        self.cache.publish(job.key, value, size, deps, len(job.listeners))
        if fingerprint is not None:
            self.fingerprints[job.key] = fingerprint
        job.progress = 1.0
        self._settle(job, value, None)

    def _fail(self, job: _Job, error: BaseException) -> None:
        self._forget(job)
        if not job.settled:
            self._settle(job, getattr(error, "_oxy_degraded", None), error)

    def _drop_slot(self, job: _Job) -> None:
        if job.holds_slot:
            job.holds_slot = False
            assert self.gate is not None
            self.gate.release()

    # ------------------------------------------------------------------ batched loads
    def _batch_loop(self) -> None:
        """A batch greenlet: read and decode admitted asset loads, up to ``batch_size``
        at a time (one I/O task and one CPU task per batch), until none is ready."""
        try:
            while self._ready:
                # share what is ready between the batch greenlets (a lone load is not held
                # up behind another's decode), at most batch_size each
                take = min(self.batch_size, -(-len(self._ready) // self.max_batches))
                batch, self._ready[:] = self._ready[:take], self._ready[take:]
                try:
                    self._run_batch(batch)
                except Exception:  # noqa: BLE001 - its loads got the error; the others go on
                    log.exception("%s: a load batch failed", self.config.name)
        finally:
            self._batches -= 1

    def _run_batch(self, jobs: list[_Job]) -> None:
        """First attempt of each job's read + decode, together; each then goes on
        alone: through its dependencies as listeners (no greenlet), or, after a
        transient error or a mount replaced meanwhile, in a greenlet of its own
        (:meth:`produce`, which retries)."""
        cfg = self.config
        live: list[tuple[_Job, Any, int]] = []
        try:
            for job in jobs:
                if job.settled:
                    self._drop_slot(job)
                    continue
                try:
                    assert isinstance(job.key, AssetKey)
                    source, asset_type_ = self.mounts.resolve(job.key)
                except Exception as exc:  # noqa: BLE001 - that load fails alone
                    self._drop_slot(job)
                    self._fail(job, exc)
                    continue
                job.source = source
                live.append((job, source, asset_type_))
            if not live:
                return
            self.token.raise_if_cancelled()
            reads = run_io(_read_descriptors, [(source, job.key) for job, source, _t in live])
            work: list[Any] = []
            for (job, source, asset_type_), read in zip(live, reads):
                if isinstance(read, tuple):
                    self.stats.bytes_read += len(read[0])
                    work.append((asset_type_, job.key, read[0], source.id,
                                 (source.tables[ResourceKind.TEXTURE], source.tables[ResourceKind.BUFFER]), read[1]))
                else:
                    work.append(None)
            decoded_all = run_blocking(_decode_assets, work, cfg.verify_content_hashes, cfg.strict)
        except BaseException as exc:
            for job in jobs:
                self._drop_slot(job)
                if not job.settled:
                    self._fail(job, OperationCancelled(f"load of {job.key} cancelled: loader stopped")
                               if isinstance(exc, (gevent.GreenletExit, OperationCancelled)) else exc)
            raise
        for job in jobs:
            self._drop_slot(job)
        for (job, source, asset_type_), read, outcome in zip(live, reads, decoded_all):
            if job.settled:
                continue
            failure = read if not isinstance(read, tuple) else outcome if isinstance(outcome, BaseException) else None
            if failure is not None or self.mounts.current(source.id) is not source:
                if failure is not None and not is_transient(failure):
                    self._fail(job, failure)
                    continue
                assert self.group is not None   # retry (or re-read a replaced mount) alone
                job.greenlet = self.group.spawn(self.produce, job, failure)
                continue
            decoded, digest, seconds = outcome
            self.stats.decode_seconds += seconds
            job.progress = 0.5
            self._continue(job, asset_type_, decoded, (source.id, digest))

    def _continue(self, job: _Job, parent_type: int, decoded: Decoded, fingerprint: Any) -> None:
        """A decoded asset of a batch: attach its dependencies with a continuation that
        finishes, publishes and settles it when the last one settled. Never blocks."""
        def complete() -> None:
            job.abandon = None
            wait.attached = []   # (job, listener) pairs whose listeners refer back to ``wait``
            if job.settled:       # cancelled or stopped meanwhile: give back what came in
                self.cache.release_all(d for d, o in zip(decoded.deps, wait.outcomes) if o is not None and o[0])
                return
            try:
                loaded, warnings = self._collect(job.key, parent_type, decoded, wait, job.fallback)
                try:
                    value = decoded.finish(loaded, warnings)
                except BaseException:
                    self.cache.release_all(loaded)
                    raise
            except Exception as exc:  # noqa: BLE001 - every listener gets it
                self._fail(job, exc)
                return
            self._publish(job, value, decoded.size, tuple(loaded), fingerprint)

        if not decoded.deps:
            wait = _DepWait(0, job)
            complete()
            return
        wait = _DepWait(len(decoded.deps), job, complete)
        job.abandon = lambda: self._detach_all(wait)
        self._attach_deps(job.key, parent_type, decoded, job.priority, wait, job.fallback)

    def _detach_all(self, wait: _DepWait) -> None:
        """Take back the listeners of ``wait`` still waiting (each dependency stops when
        nobody else waits for it); each counts as settled with OperationCancelled, so
        the wait completes once (a batched load's continuation then sees its load
        abandoned and gives back the references that did arrive)."""
        attached, wait.attached = wait.attached, []
        for dep_job, listener in attached:
            if self.detach(dep_job, listener):
                listener(None, OperationCancelled(f"load of {dep_job.key} abandoned by its parent"))

    def build_current(self, job: _Job, failed_first: BaseException | None = None
                      ) -> tuple[Any, int, tuple[Key, ...], Any]:
        """:meth:`build`, again when a hot reload replaced the mount it read
        meanwhile (so a load in flight never publishes pre-swap content)."""
        for _attempt in range(3):
            job.source = None
            built = self.build(job.key, job.priority, job, failed_first)
            failed_first = None
            read_from = job.source
            current = None if read_from is None else self.mounts.current(read_from.id)
            if current is None or current is read_from:
                return built
            self.cache.release_all(built[2])
        return built

    def build(self, key: Key, priority: float, job: _Job | None,
              failed_first: BaseException | None = None) -> tuple[Any, int, tuple[Key, ...], Any]:
        """Read, decode (retrying transient read errors) and load the dependencies of
        ``key``: (value, size, dependency keys, fingerprint). Owning-hub greenlet.
        A dependency failure of a job in fallback mode raises the dependency's error
        with the object built around placeholders on its ``_oxy_degraded``
        attribute (a fresh exception object per parent: see :meth:`load_deps`)."""
        policy = self.config.retry
        if isinstance(key, ResourceKey):
            value = call_with_retry(policy, lambda: self.read_resource(key, priority, job), self.on_retry)
            return value, value.size_bytes, (), None
        asset_type_, fingerprint, decoded = call_with_retry(policy, lambda: self.read_asset(key, priority, job),
                                                            self.on_retry, failed_first)
        loaded, warnings = self.load_deps(key, asset_type_, decoded, priority, job)
        try:
            value = decoded.finish(loaded, warnings)
        except BaseException:
            self.cache.release_all(loaded)
            raise
        return value, decoded.size, tuple(loaded), fingerprint

    def on_retry(self, attempt: int, error: BaseException, delay: float) -> None:
        self.stats.retries += 1
        log.info("%s: transient read error (attempt %d), retrying in %.2f s: %s", self.config.name, attempt,
                 delay, error)

    @contextmanager
    def _slot(self, job: _Job | None, priority: float) -> Iterator[None]:
        """The decode slot: the one the job was admitted with (first attempt), else
        a new one from the gate (retries, reloads)."""
        assert self.gate is not None
        if job is not None and job.holds_slot:
            job.holds_slot = False
            try:
                yield
            finally:
                self.gate.release()
        else:
            with self.gate.slot(gate_rank(priority)):
                yield

    def read_asset(self, key: AssetKey, priority: float, job: _Job | None) -> tuple[int, Any, Decoded]:
        """One attempt: resolve, read and decode an asset descriptor (in a decode slot)."""
        source, asset_type_ = self.mounts.resolve(key)
        cfg = self.config
        with self._slot(job, priority):
            self.token.raise_if_cancelled()
            if job is not None:
                job.source = source
            blob, where = run_io(source.read_descriptor, key)
            self.stats.bytes_read += len(blob)
            decoded, digest, seconds = run_blocking(
                _decode_asset_timed, asset_type_, key, blob, source=source.id,
                tables=(source.tables[ResourceKind.TEXTURE], source.tables[ResourceKind.BUFFER]),
                where=where, verify=cfg.verify_content_hashes, strict=cfg.strict)
            self.stats.decode_seconds += seconds
        if job is not None:
            job.progress = 0.5
        return asset_type_, (source.id, digest), decoded

    def read_resource(self, key: ResourceKey, priority: float, job: _Job | None) -> Any:
        """One attempt: read and decode a texture or buffer (in a decode slot)."""
        source = self.mounts.source(key.source)
        count = source.count(key.kind)
        if not 0 <= key.index < count:
            raise ResourceNotFound(f"{key.kind.value} index {key.index} outside the {count}-entry table "
                                   f"of {source.path}")
        cfg = self.config
        with self._slot(job, priority):
            self.token.raise_if_cancelled()
            if job is not None:
                job.source = source
            entry, ewhere, payload, pwhere = run_io(source.read_resource, key.kind, key.index)
            self.stats.bytes_read += len(entry) + len(payload)
            value, seconds = run_blocking(timed, decode_resource, key, entry, ewhere, payload, pwhere,
                                          cfg.verify_content_hashes, cfg.strict)
            self.stats.decode_seconds += seconds
            return value

    def load_deps(self, parent: Key, parent_type: int, decoded: Decoded, priority: float,
                  job: _Job | None = None) -> tuple[dict[Key, Any], tuple[Diagnostic, ...]]:
        """Load every dependency of ``decoded`` concurrently, one reference each (the edges).

        Cached dependencies are taken at once; the others are attached to their
        loads (admitted by the gate ahead of new loads of the parent's priority) and
        waited for with one event. A dependency in ``decoded.tolerated`` that is
        missing or of another asset type is left out with a warning (unless the
        loader is strict), as the engine does. If any other fails, release the
        others and raise the first error, naming the parent (in fallback mode with
        the parent built around placeholders, see :meth:`build`).
        Returns (loaded dependencies in ``deps`` order, warnings)."""
        if not decoded.deps:
            return {}, ()
        fallback = job is not None and job.fallback
        wait = _DepWait(len(decoded.deps), job)
        self._attach_deps(parent, parent_type, decoded, priority, wait, fallback)
        try:
            assert wait.event is not None
            wait.event.wait()
        except BaseException:
            self._detach_all(wait)
            self.cache.release_all(d for d, o in zip(decoded.deps, wait.outcomes) if o is not None and o[0])
            raise
        return self._collect(parent, parent_type, decoded, wait, fallback)

    def _attach_deps(self, parent: Key, parent_type: int, decoded: Decoded, priority: float, wait: _DepWait,
                     fallback: bool) -> None:
        """Attach one listener of ``wait`` per dependency (a cached one settles at once)."""
        dep_priority = _as_dependency(priority)
        for i, dep in enumerate(decoded.deps):
            listener = wait.listener(i)
            try:
                dep_job = self.attach(dep, dep_type(parent_type, dep), dep_priority, listener, fallback)
            except Exception as exc:  # noqa: BLE001 - handled with the others in _collect
                listener(None, exc)
                continue
            if dep_job is not None:
                wait.attached.append((dep_job, listener))

    def _collect(self, parent: Key, parent_type: int, decoded: Decoded, wait: _DepWait,
                 fallback: bool) -> tuple[dict[Key, Any], tuple[Diagnostic, ...]]:
        """The settled dependencies of ``wait``: (loaded, warnings), or the first
        failure raised (see :meth:`load_deps`)."""
        deps = decoded.deps
        outcomes: list[tuple[bool, Any, Any]] = [o for o in wait.outcomes if o is not None]
        warnings: list[Diagnostic] = []
        failed = []
        for dep, (ok, value, degraded) in zip(deps, outcomes):
            if ok:
                continue
            rule = decoded.tolerated.get(dep)
            if (rule is not None and not self.config.strict and isinstance(value, (AssetNotFound, WrongAssetKind))):
                warnings.append(_tolerated_warning(rule, dep, value))
            else:
                failed.append((dep, value, degraded))
        loaded = {d: value for d, (ok, value, _g) in zip(deps, outcomes) if ok}
        if not failed:
            return loaded, tuple(warnings)
        dep, first, _degraded = failed[0]
        if isinstance(first, OperationCancelled):
            self.cache.release_all(loaded)
            raise OperationCancelled(f"load of {parent} cancelled: loader stopped")
        degraded_parent = None
        if fallback:
            degraded_parent = self._degraded(parent_type, decoded, loaded, failed, warnings)
        self.cache.release_all(loaded)
        error = _with_context(first, f"dependency {dep} of {parent}")
        if degraded_parent is not None:
            error = _carrying(error, degraded_parent)
        raise error

    def _degraded(self, parent_type: int, decoded: Decoded, loaded: dict[Key, Any],
                  failed: list[tuple[Key, BaseException, Any]], warnings: list[Diagnostic]) -> Any:
        """The parent built with a placeholder for each failed dependency (its own
        degraded object when it has one, else its kind's); None when one of them
        has no placeholder (a buffer: the parent falls back as a whole)."""
        stand_ins = dict(loaded)
        for dep, _exc, degraded in failed:
            stand_in = degraded if degraded is not None else dependency_placeholder(parent_type, dep)
            if stand_in is None:
                return None
            stand_ins[dep] = stand_in
        try:
            return decoded.finish(stand_ins, tuple(warnings))
        except Exception:  # noqa: BLE001 - no degraded object then; the error stands
            log.debug("building a degraded object failed", exc_info=True)
            return None


def dependency_placeholder(parent_type: int, dep: Key) -> Any | None:
    """The placeholder that stands in for a failed dependency inside its parent:
    the checker texture, the default material, the ``ERROR`` cube; None for a
    buffer (a mesh without its vertex or index data is not drawable: its geometry
    falls back to the ``ERROR`` cube as a whole)."""
    if isinstance(dep, ResourceKey):
        return placeholder_for(dep.kind) if dep.kind is ResourceKind.TEXTURE else None
    expect = dep_type(parent_type, dep)
    return None if expect is None else placeholder_for(expect)


def _carrying(error: BaseException, degraded: Any) -> BaseException:
    """``error`` (shared by every parent of the failed dependency) as a copy of its own
    that carries ``degraded`` for this parent's listeners."""
    try:
        copy = type(error).__new__(type(error))
        copy.__dict__.update(getattr(error, "__dict__", {}))
        if "__notes__" in copy.__dict__:
            copy.__notes__ = list(copy.__notes__)
        copy.args = error.args
        copy.__cause__, copy.__context__, copy.__traceback__ = error.__cause__, error.__context__, error.__traceback__
        copy._oxy_degraded = degraded  # type: ignore[attr-defined]
        return copy
    except Exception:  # noqa: BLE001 - an exception type that cannot be copied: no degraded object
        return error


def _read_descriptors(items: list[tuple[Any, AssetKey]]) -> list[Any]:
    """I/O pool: each (source, key)'s descriptor as (blob, where), or the error."""
    out: list[Any] = []
    for source, key in items:
        try:
            out.append(source.read_descriptor(key))
        except Exception as exc:  # noqa: BLE001 - that load fails (or retries) alone
            out.append(exc)
    return out


def _decode_assets(work: list[Any], verify: bool, strict: bool) -> list[Any]:
    """CPU pool: decode and fingerprint each read descriptor, (decoded, digest,
    seconds) or the error; None stays None (its read failed)."""
    out: list[Any] = []
    for item in work:
        if item is None:
            out.append(None)
            continue
        asset_type_, key, blob, source_id, tables, where = item
        try:
            out.append(_decode_asset_timed(asset_type_, key, blob, source=source_id, tables=tables, where=where,
                                           verify=verify, strict=strict))
        except Exception as exc:  # noqa: BLE001 - that load fails alone
            out.append(exc)
    return out


def _decode_asset_timed(asset_type_: int, key: AssetKey, blob: bytes, **kwargs: Any) -> tuple[Decoded, bytes, float]:
    """CPU pool: decode an asset descriptor and fingerprint it (SHA-256), timed."""
    t0 = time.perf_counter()
    decoded = decode_asset(asset_type_, key, blob, **kwargs)
    digest = hashlib.sha256(blob).digest()
    return decoded, digest, time.perf_counter() - t0


def _as_dependency(priority: float) -> float:
    """A dependency's priority: its parent's, ranked ahead of the parent's peers, so
    that a load already holding decoded data finishes before new loads are admitted
    (otherwise every top-level request is decoded before any shared dependency and all
    of them stay in flight at once)."""
    return priority - 0.5 if priority == int(priority) else priority


def gate_rank(priority: float) -> int:
    """The PriorityGate rank of a load: 2 * priority (a dependency one rank ahead)."""
    return int(priority * 2)


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``fn(*args, **kwargs)`` and the seconds it took (run on the CPU pool)."""
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - t0


def _tolerated_warning(rule: Tolerated, dep: Key, exc: BaseException) -> Diagnostic:
    """The warning recorded when a tolerated dependency is missing or of another type."""
    reason = "is not in any mounted source" if isinstance(exc, AssetNotFound) else f"cannot be used: {exc}"
    return Diagnostic(severity_of(rule.code), rule.code, f"{dep} {reason}; {rule.consequence}", rule.file,
                      rule.offset, rule.field)


def _with_context(exc: BaseException, context: str) -> BaseException:
    try:
        exc.add_note(context)
    except AttributeError:
        pass
    return exc
