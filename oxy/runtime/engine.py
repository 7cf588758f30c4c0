"""The shared loads: one in-flight load per key, its read/decode, its dependencies, publishing.

:class:`LoadEngine` is the part of :class:`~oxy.runtime.AssetLoader` that turns a key
into a cached object with one reference per waiter: ``obtain`` joins the key's
in-flight load (a :class:`_Job`) or starts one (``produce``): resolve -> read (I/O
pool) -> decode (CPU pool, pure) -> dependencies loaded concurrently through
``obtain`` (one reference each = the edges) -> publish (cache entry with
refs = waiters, descriptor fingerprint for hot reload). Read + decode pass the
:class:`PriorityGate`; transient read errors are retried by ``config.retry``
outside it. A waiter that is killed (its request was cancelled) leaves the load; the
load is stopped when none is left. A load whose mount a hot reload replaced while
it read is built again from the new mount before it publishes.

Thread rules: owning hub only; every method runs in a greenlet there (``obtain``
and ``build`` block greenlet-style). Failure modes: the errors of the module
docstring of :mod:`oxy.runtime.loader`, raised to every waiter of the load;
GreenletExit (stop, cancel) becomes OperationCancelled for the remaining waiters.
"""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Any, Callable, Mapping

import gevent
from gevent.event import AsyncResult
from gevent.pool import Group

from oxy.errors import OperationCancelled
from oxy.formats import AssetKey, AssetType
from oxy.hub import CancelToken, run_blocking
from oxy.hub.pools import run_io
from oxy.runtime.cache import ContentCache
from oxy.runtime.config import LoaderConfig
from oxy.runtime.decoders import Tolerated, decode_asset, decode_resource
from oxy.runtime.errors import AssetNotFound, ResourceNotFound, WrongAssetKind
from oxy.runtime.handles import LoadHandle
from oxy.runtime.keys import ResourceKey, ResourceKind, SourceId
from oxy.runtime.kinds import ASSET_CLASSES, ASSET_TYPES, dep_type
from oxy.runtime.mounts import MountTable
from oxy.runtime.progress import LoaderStats
from oxy.runtime.retry import call_with_retry
from oxy.runtime.scheduling import PriorityGate
from oxy.validate.diagnostics import Diagnostic
from oxy.validate.rules import severity_of

__all__ = ["Key", "LoadEngine", "gate_rank", "timed"]

log = logging.getLogger("oxy.runtime")
Key = AssetKey | ResourceKey


class _Job:
    """One in-flight load (owning hub): the requests waiting for it, its greenlet and progress."""

    __slots__ = ("key", "priority", "result", "waiters", "started", "progress", "greenlet", "source")

    def __init__(self, key: Key, priority: int) -> None:
        self.key, self.priority = key, priority
        self.result: AsyncResult = AsyncResult()
        self.waiters = 0
        self.started = False      # holds (or held) a decode slot
        self.progress = 0.0
        self.greenlet: Any = None
        self.source: Any = None   # the Source object it read (a hot reload may replace it)


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

    def stop(self) -> None:
        """Fail every in-flight load with OperationCancelled and kill the load greenlets."""
        self.token.cancel("the asset loader was stopped")
        for job in list(self.inflight.values()):
            job.result.set_exception(OperationCancelled(f"load of {job.key} cancelled: loader stopped"))
        if self.group is not None:
            self.group.kill(block=True, timeout=10.0)
        self.inflight.clear()

    def obtain(self, key: Key, expect: int | None, priority: int, handle: LoadHandle | None = None) -> Any:
        """Greenlet on the owning hub: the value of ``key`` with one reference taken."""
        self.stats.requests += 1
        value = self.cache.acquire(key)
        if value is not None:
            self.stats.cache_hits += 1
            if expect is not None and ASSET_TYPES.get(type(value)) != expect:
                self.cache.release(key)
                raise WrongAssetKind(f"asset {key} is a {type(value).__name__}, not a "
                                     f"{ASSET_CLASSES[expect].__name__}")
            return value
        if isinstance(key, AssetKey) and expect is not None:
            _source, actual = self.mounts.resolve(key)
            if actual != expect:
                what = (AssetType(actual).name.lower() if actual in ASSET_CLASSES
                        else f"asset of type {actual} (not Material, Geometry or Scene)")
                raise WrongAssetKind(f"asset {key} is a {what}, not a {AssetType(expect).name.lower()}")
        job = self.inflight.get(key)
        if job is None:
            job = self.inflight[key] = _Job(key, priority)
            self.stats.decodes += 1
            assert self.group is not None
            job.greenlet = self.group.spawn(self.produce, job)
        else:
            self.stats.joined += 1
        if handle is not None:
            handle._job = job
        job.waiters += 1
        try:
            return job.result.get()
        except gevent.GreenletExit:
            self.leave(job)
            raise

    def leave(self, job: _Job) -> None:
        """A waiter of ``job`` was killed (cancelled): give back what it held, and
        stop the load when nobody waits for it any more."""
        if job.result.ready():
            if job.result.successful():
                self.cache.release(job.key)  # the reference published for this waiter
            return
        job.waiters -= 1
        if job.waiters > 0:
            return
        if self.inflight.get(job.key) is job:
            del self.inflight[job.key]
        job.result.set_exception(OperationCancelled(f"load of {job.key} cancelled: no request waits for it"))
        if job.greenlet is not None and job.greenlet is not gevent.getcurrent():
            job.greenlet.kill(block=False)

    def forget(self, job: _Job) -> None:
        if self.inflight.get(job.key) is job:
            del self.inflight[job.key]

    def produce(self, job: _Job) -> None:
        """The one load of ``job.key`` (owning hub greenlet); publishes or fails it."""
        try:
            value, size, deps, fingerprint = self.build_current(job)
        except gevent.GreenletExit:
            self.forget(job)
            if not job.result.ready():
                job.result.set_exception(OperationCancelled(f"load of {job.key} cancelled: loader stopped"))
            raise
        except Exception as exc:  # noqa: BLE001 - every waiter gets it
            self.forget(job)
            if not job.result.ready():
                job.result.set_exception(exc)
            return
        self.forget(job)
        if self.token.cancelled or job.result.ready():
            self.cache.release_all(deps)
            if not job.result.ready():
                job.result.set_exception(OperationCancelled(f"load of {job.key} cancelled: loader stopped"))
            return
        self.cache.publish(job.key, value, size, deps, job.waiters)
        if fingerprint is not None:
            self.fingerprints[job.key] = fingerprint
        job.progress = 1.0
        job.result.set(value)

    def build_current(self, job: _Job) -> tuple[Any, int, tuple[Key, ...], Any]:
        """:meth:`_build`, again when a hot reload replaced the mount it read
        meanwhile (so a load in flight never publishes pre-swap content)."""
        for _attempt in range(3):
            job.source = None
            built = self.build(job.key, job.priority, job)
            read_from = job.source
            current = None if read_from is None else self.mounts.current(read_from.id)
            if current is None or current is read_from:
                return built
            self.cache.release_all(built[2])
        return built

    def build(self, key: Key, priority: int, job: _Job | None) -> tuple[Any, int, tuple[Key, ...], Any]:
        """Read, decode (retrying transient read errors) and load the dependencies of
        ``key``: (value, size, dependency keys, fingerprint). Owning-hub greenlet."""
        policy = self.config.retry
        if isinstance(key, ResourceKey):
            value = call_with_retry(policy, lambda: self.read_resource(key, priority, job), self.on_retry)
            return value, value.size_bytes, (), None
        asset_type_, fingerprint, decoded = call_with_retry(policy, lambda: self.read_asset(key, priority, job),
                                                            self.on_retry)
        loaded, warnings = self.load_deps(key, asset_type_, decoded.deps, priority, decoded.tolerated, job)
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

    def read_asset(self, key: AssetKey, priority: int, job: _Job | None) -> tuple[int, Any, Any]:
        """One attempt: resolve, read and decode an asset descriptor (in a decode slot)."""
        source, asset_type_ = self.mounts.resolve(key)
        cfg = self.config
        assert self.gate is not None
        with self.gate.slot(gate_rank(priority)):
            self.token.raise_if_cancelled()
            if job is not None:
                job.started, job.source = True, source
            blob, where = run_io(source.read_descriptor, key)
            self.stats.bytes_read += len(blob)
            decoded, seconds = run_blocking(timed, decode_asset, asset_type_, key, blob, source=source.id,
                                            tables=(source.tables[ResourceKind.TEXTURE],
                                                    source.tables[ResourceKind.BUFFER]),
                                            where=where, verify=cfg.verify_content_hashes, strict=cfg.strict)
            self.stats.decode_seconds += seconds
        if job is not None:
            job.progress = 0.5
        return asset_type_, (source.id, hashlib.sha256(blob).digest()), decoded

    def read_resource(self, key: ResourceKey, priority: int, job: _Job | None) -> Any:
        """One attempt: read and decode a texture or buffer (in a decode slot)."""
        source = self.mounts.source(key.source)
        count = source.count(key.kind)
        if not 0 <= key.index < count:
            raise ResourceNotFound(f"{key.kind.value} index {key.index} outside the {count}-entry table "
                                   f"of {source.path}")
        cfg = self.config
        assert self.gate is not None
        with self.gate.slot(gate_rank(priority)):
            self.token.raise_if_cancelled()
            if job is not None:
                job.started, job.source = True, source
            entry, ewhere, payload, pwhere = run_io(source.read_resource, key.kind, key.index)
            self.stats.bytes_read += len(entry) + len(payload)
            value, seconds = run_blocking(timed, decode_resource, key, entry, ewhere, payload, pwhere,
                                          cfg.verify_content_hashes, cfg.strict)
            self.stats.decode_seconds += seconds
            return value

    def load_deps(self, parent: Key, parent_type: int, deps: tuple[Key, ...], priority: int,
                   tolerated: Mapping[Key, Tolerated],
                   job: _Job | None = None) -> tuple[dict[Key, Any], tuple[Diagnostic, ...]]:
        """Load every dependency concurrently, one reference each (the edges).

        A dependency in ``tolerated`` that is missing or of another asset type is left
        out with a warning (unless the loader is strict), as the engine does. If any
        other fails, release the others and raise the first error, naming the parent.
        Returns (loaded dependencies in ``deps`` order, warnings)."""
        if not deps:
            return {}, ()
        assert self.group is not None
        # A dependency already cached is taken right here: no greenlet, no switch (most
        # dependencies are shared textures and materials). The others load concurrently,
        # admitted by the gate ahead of new loads of the parent's priority.
        outcomes: list[tuple[bool, Any] | None] = [
            self.try_obtain(dep, dep_type(parent_type, dep), priority) if dep in self.cache else None
            for dep in deps]
        pending = [i for i, outcome in enumerate(outcomes) if outcome is None]
        greenlets = [self.group.spawn(self.try_obtain, deps[i], dep_type(parent_type, deps[i]),
                                       _as_dependency(priority)) for i in pending]
        if job is not None:
            finished = [len(deps) - len(pending)]
            job.progress = 0.5 + 0.5 * finished[0] / (len(deps) + 1)

            def step(_g: Any) -> None:
                finished[0] += 1
                job.progress = 0.5 + 0.5 * finished[0] / (len(deps) + 1)
            for g in greenlets:
                g.link(step)
        if greenlets:
            try:
                gevent.joinall(greenlets)
            except BaseException:
                gevent.killall(greenlets)
                self.cache.release_all(d for d, o in zip(deps, outcomes) if o is not None and o[0])
                raise
        for i, g in zip(pending, greenlets):
            outcomes[i] = g.value if g.successful() else (False, OperationCancelled("killed"))
        results = [outcome for outcome in outcomes if outcome is not None]  # every slot is filled now
        warnings: list[Diagnostic] = []
        failed = []
        for dep, (ok, value) in zip(deps, results):
            if ok:
                continue
            rule = tolerated.get(dep)
            if (rule is not None and not self.config.strict and isinstance(value, (AssetNotFound, WrongAssetKind))):
                warnings.append(_tolerated_warning(rule, dep, value))
            else:
                failed.append((dep, value))
        if failed:
            self.cache.release_all(d for d, (ok, _v) in zip(deps, results) if ok)
            dep, exc = failed[0]
            if isinstance(exc, OperationCancelled):
                raise OperationCancelled(f"load of {parent} cancelled: loader stopped")
            raise _with_context(exc, f"dependency {dep} of {parent}")
        return {d: value for d, (ok, value) in zip(deps, results) if ok}, tuple(warnings)

    def try_obtain(self, key: Key, expect: int | None, priority: int) -> tuple[bool, Any]:
        """:meth:`_obtain` as (True, value) or (False, error), so that a failing
        dependency is reported once, by its parent, and never printed by gevent."""
        try:
            return True, self.obtain(key, expect, priority)
        except gevent.GreenletExit:
            return False, OperationCancelled(f"load of {key} cancelled: loader stopped")
        except Exception as exc:  # noqa: BLE001 - handed to the parent load
            return False, exc


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
