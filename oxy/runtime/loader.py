"""The runtime :class:`AssetLoader`: mounts, asynchronous loads, cache, dependencies.

**Owning hub.** A loader belongs to one :class:`~oxy.hub.ImportLoop` (given in the
config, or created by :meth:`start` and closed by :meth:`stop`); all its state
lives on that loop's hub thread and is touched by it only.

**A load** (greenlets on the owning hub): resolve -> read (I/O pool) -> decode (CPU
pool, pure) -> load dependencies concurrently -> publish (cache, edges, waiters).
Requests for a key already in flight join that load. Read + decode pass a
:class:`PriorityGate` in (priority, arrival) order.

**Threads.** ``load_*`` return a :class:`~oxy.hub.CrossFuture` (waitable from any
thread, greenlet-blocking on a hub, including the owning one). ``start_load_*``
callbacks ``callback(value, error)`` always run on the owning hub (they must not
call :meth:`stop`). Mounts, ``release``, ``get_cached`` and friends are safe from
any thread (from a greenlet when on the owning hub).

**Failure modes.** Loading before :meth:`start` or after :meth:`stop` raises
:class:`LoaderNotRunning` at once. Bad content fails only its load (FormatError
naming file/offset/field and the rule's code); AssetNotFound, ResourceNotFound,
WrongAssetKind (also for an asset type outside the enum), SourceReadError
likewise. What the engine tolerates loads, with the rule book's warnings on the
object (``.warnings``): dangling texture/buffer indices are not loaded, a submesh
whose material is missing (or not a material) gets ``MaterialAsset.default()``, a
scene skips a renderable geometry that is missing; a dependency that exists but
fails to load still fails its parent. ``LoaderConfig(strict=True)`` fails on
warnings too. :meth:`stop` fails in-flight loads with
:class:`~oxy.errors.OperationCancelled`. See docs/runtime.md.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import gevent
from gevent.event import AsyncResult
from gevent.pool import Group

from oxy.build.journal import RecoveryReport, RootBusyError, recover_root
from oxy.errors import OperationCancelled
from oxy.formats import AssetKey, AssetType, BufferResourceDesc, TextureResourceDesc
from oxy.hub import CancelToken, CrossFuture, ImportLoop, allocate_lock, run_blocking
from oxy.hub.pools import run_io
from oxy.runtime.cache import ContentCache
from oxy.runtime.config import LoaderConfig
from oxy.runtime.decoders import Tolerated, Where, decode_asset, decode_resource
from oxy.runtime.errors import AssetNotFound, LoaderNotRunning, ResourceNotFound, WrongAssetKind
from oxy.runtime.keys import BUFFER_SOURCE, ResourceKey, ResourceKind, SourceId
from oxy.runtime.mounts import MountTable
from oxy.runtime.scheduling import Priority, PriorityGate
from oxy.runtime.sources import open_loose_root, open_pak
from oxy.validate.diagnostics import Diagnostic
from oxy.validate.rules import severity_of
from oxy.runtime.kinds import (ASSET_CLASSES, ASSET_TYPES, as_asset_key, asset_type, check_resource_kind,
                               dep_type, resource_kind)

__all__ = ["AssetLoader", "LoaderStats"]

log = logging.getLogger("oxy.runtime")
Key = AssetKey | ResourceKey
Callback = Callable[[Any, BaseException | None], object]


@dataclass
class LoaderStats:
    """Counters (owning hub). ``decodes``: loads actually run; ``joined``: requests
    that joined an in-flight load; ``cache_hits``: requests served from the cache."""

    requests: int = 0
    decodes: int = 0
    joined: int = 0
    cache_hits: int = 0
    failures: int = 0


class _Job:
    __slots__ = ("key", "priority", "result", "waiters")

    def __init__(self, key: Key, priority: int) -> None:
        self.key, self.priority = key, priority
        self.result: AsyncResult = AsyncResult()
        self.waiters = 0


class AssetLoader:
    """See the module docstring. ``AssetLoader(LoaderConfig(...))``; ``start()`` first."""

    def __init__(self, config: LoaderConfig | None = None) -> None:
        self.config = config or LoaderConfig()
        self._loop: ImportLoop | None = None
        self._owns_loop = False
        self._state = "new"
        self._lock = allocate_lock()
        self._mounts = MountTable()
        self._cache = ContentCache(self.config.memory_budget)
        self._inflight: dict[Key, _Job] = {}
        self._group: Group | None = None
        self._gate: PriorityGate | None = None
        self._token = CancelToken()
        self._buffer_serial = itertools.count()
        self._remove_hook: Callable[[], None] | None = None
        self.stats = LoaderStats()

    # ------------------------------------------------------------------ lifecycle
    @property
    def loop(self) -> ImportLoop | None:
        return self._loop

    @property
    def running(self) -> bool:
        return self._state == "running"

    def start(self) -> "AssetLoader":
        """Activate: bind to (or create) the owning loop. Any thread but the owning hub's."""
        with self._lock:
            if self._state != "new":
                raise LoaderNotRunning(f"{self.config.name}: start() called twice (state {self._state})")
            self._state = "starting"
        cfg = self.config
        self._owns_loop = cfg.loop is None
        self._loop = cfg.loop or ImportLoop(cpu_threads=cfg.cpu_threads, io_threads=cfg.io_threads,
                                            name=cfg.name)
        try:
            self._loop.call(self._start_on_hub)
        except BaseException:
            if self._owns_loop:
                self._loop.close()
            self._state = "stopped"
            raise
        self._state = "running"
        return self

    def _start_on_hub(self) -> None:
        assert self._loop is not None and self._loop.pools is not None
        self._group = Group()
        self._gate = PriorityGate(self.config.decode_slots or 4 * self._loop.pools.cpu_size)
        self._remove_hook = self._loop.add_shutdown_hook(self._stop_on_hub)

    def stop(self, timeout: float | None = 30.0) -> None:
        """Cancel every in-flight load (they raise OperationCancelled), drop the cache
        and the mounts, and close the loop if the loader created it. Idempotent.
        Any thread, except from a load callback."""
        with self._lock:
            state, self._state = self._state, "stopped"
        if state != "running":
            return
        loop = self._loop
        assert loop is not None
        if loop.on_hub_thread():
            self._stop_on_hub()
        elif not loop.shutdown_requested:
            try:
                loop.call(self._stop_on_hub, timeout=timeout)
            except Exception:  # noqa: BLE001 - the loop went away: nothing left to stop
                log.debug("loader stop: loop already closed", exc_info=True)
        if self._owns_loop:
            loop.close(timeout)

    def _stop_on_hub(self) -> None:
        self._state = "stopped"
        self._token.cancel("the asset loader was stopped")
        if self._remove_hook is not None:
            self._remove_hook()
            self._remove_hook = None
        for job in list(self._inflight.values()):
            job.result.set_exception(OperationCancelled(f"load of {job.key} cancelled: loader stopped"))
        if self._group is not None:
            self._group.kill(block=True, timeout=10.0)
        self._inflight.clear()
        self._cache.clear()
        for source in self._mounts.clear():
            source.close()

    def __enter__(self) -> "AssetLoader":
        return self.start() if self._state == "new" else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _require_running(self) -> ImportLoop:
        if self._state != "running" or self._loop is None:
            raise LoaderNotRunning(f"{self.config.name}: the loader is {self._state}; call start() "
                                   "before loading" if self._state == "new" else
                                   f"{self.config.name}: the loader is {self._state}")
        return self._loop

    def _on_hub(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = self._require_running()
        if loop.on_hub_thread():
            return fn(*args)
        return loop.call(fn, *args)

    # ------------------------------------------------------------------ mounts
    def add_pak(self, path: str) -> SourceId:
        """Mount a PAK (checks as in FORMATS.md; CRC with verify_content_hashes).
        Returns its opaque source id. Raises MountError; other mounts stay."""
        return self._mount(open_pak, path)

    def add_loose_cooked_root(self, path: str, *, repair: bool = False) -> SourceId:
        """Mount a loose cooked root (index, files and sizes; descriptor SHA-256 with
        verify_content_hashes). Returns its opaque source id. Raises MountError.
        ``repair``: first :meth:`repair_root` (roll back a crashed cook's unfinished
        commit); a root whose cook is still running is mounted as it is."""
        if repair:
            try:
                self.repair_root(path)
            except RootBusyError:
                pass  # a live cook commits atomically: what is mounted now is a committed state
        return self._mount(open_loose_root, path)

    def repair_root(self, path: str) -> RecoveryReport:
        """The loader's repair helper: finish or roll back an unfinished commit that a
        crashed cook left in the loose root ``path`` and remove stale temporaries
        (:func:`oxy.build.recover_root`; blocking file work, on the I/O pool when the
        loader runs). Raises RootBusyError while a live cook holds the root's lock,
        JournalError or RootEscapeError for a journal naming bad paths, OSError."""
        if self._state == "running":
            return self._on_hub(lambda: run_io(recover_root, path))
        return recover_root(path)

    def clear_mounts(self) -> None:
        """Unmount everything. Cached objects stay usable; new loads of unmounted
        keys fail. Loads reading at that moment fail with SourceReadError."""
        if self._state == "running":
            self._on_hub(self._clear_mounts_here)
        else:
            with self._lock:
                self._clear_mounts_here()

    def _clear_mounts_here(self) -> None:
        for source in self._mounts.clear():
            source.close()

    def _mount(self, opener: Callable[..., Any], path: Any) -> SourceId:
        verify = self.config.verify_content_hashes
        if self._state == "running":
            return self._on_hub(lambda: self._mounts.add(run_io(opener, path, verify=verify)))
        with self._lock:
            if self._state != "new":
                raise LoaderNotRunning(f"{self.config.name}: cannot mount, the loader is {self._state}")
            return self._mounts.add(opener(path, verify=verify))

    @property
    def mounts(self) -> tuple[SourceId, ...]:
        return tuple(s.id for s in self._mounts.sources)

    def find_virtual_path(self, vpath: str) -> AssetKey | None:
        """The key of a virtual path in the mounted indices (or PAK browse indices)."""
        return self._mounts.find_virtual_path(vpath)

    # ------------------------------------------------------------------ loads
    def load_asset(self, key: AssetKey | str, kind: Any = None, *,
                   priority: Priority = Priority.NORMAL) -> CrossFuture:
        """Load an asset (``kind``: MaterialAsset/GeometryAsset/SceneAsset, an
        AssetType, or None for any). Returns a CrossFuture of the asset."""
        return self._request(as_asset_key(key), asset_type(kind), priority, None)

    def load_resource(self, key: ResourceKey, kind: Any = None, *,
                      priority: Priority = Priority.NORMAL) -> CrossFuture:
        """Load a texture or buffer by resource key; CrossFuture of the resource."""
        check_resource_kind(key, kind)
        return self._request(key, None, priority, None)

    def start_load_asset(self, key: AssetKey | str, kind: Any, callback: Callback, *,
                         priority: Priority = Priority.NORMAL) -> None:
        """Like :meth:`load_asset`; ``callback(asset, error)`` runs on the owning hub."""
        self._request(as_asset_key(key), asset_type(kind), priority, callback)

    def start_load_resource(self, key: ResourceKey, kind: Any, callback: Callback, *,
                            priority: Priority = Priority.NORMAL) -> None:
        """Like :meth:`load_resource`; ``callback(resource, error)`` on the owning hub."""
        check_resource_kind(key, kind)
        self._request(key, None, priority, callback)

    def start_load_resource_from_buffer(self, kind: Any, data: bytes, callback: Callback, *,
                                        priority: Priority = Priority.NORMAL) -> ResourceKey:
        """Decode a resource from memory: ``data`` is its table entry (40-byte
        TextureResourceDesc or 32-byte BufferResourceDesc; ``data_offset`` ignored)
        followed by its payload. Cached under the returned loader-minted key (one
        reference, as any load); ``callback(resource, error)`` runs on the owning hub."""
        rkind = resource_kind(kind)
        key = ResourceKey(BUFFER_SOURCE, rkind, next(self._buffer_serial))
        loop = self._require_running()
        blob = bytes(data)
        loop.post(self._spawn, self._serve_buffer, key, blob, int(priority), callback)
        return key

    def _request(self, key: Key, expect: int | None, priority: int, callback: Callback | None) -> CrossFuture:
        loop = self._require_running()
        future: CrossFuture = CrossFuture()
        if not loop.post(self._spawn, self._serve, key, expect, int(priority), future, callback):
            raise LoaderNotRunning(f"{self.config.name}: the owning loop is shut down")
        return future

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        """Hub callback: start a load greenlet in the loader's group (or refuse)."""
        if self._state != "running" or self._group is None:
            fn(*args, refused=True)
            return
        self._group.spawn(fn, *args)

    def _serve(self, key: Key, expect: int | None, priority: int, future: CrossFuture,
               callback: Callback | None, refused: bool = False) -> None:
        """One request (owning hub greenlet): obtain a reference, hand over the value."""
        value: Any = None
        error: BaseException | None = None
        try:
            if refused:
                raise OperationCancelled(f"load of {key} cancelled: loader stopped")
            value = self._obtain(key, expect, priority)
        except gevent.GreenletExit:
            error = OperationCancelled(f"load of {key} cancelled: loader stopped")
        except Exception as exc:  # noqa: BLE001 - handed to the requester
            error = exc
            self.stats.failures += 1
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
        if callback is not None:
            _call_back(callback, value, error)

    def _obtain(self, key: Key, expect: int | None, priority: int) -> Any:
        """Greenlet on the owning hub: the value of ``key`` with one reference taken."""
        self.stats.requests += 1
        value = self._cache.acquire(key)
        if value is not None:
            self.stats.cache_hits += 1
            if expect is not None and ASSET_TYPES.get(type(value)) != expect:
                self._cache.release(key)
                raise WrongAssetKind(f"asset {key} is a {type(value).__name__}, not a "
                                     f"{ASSET_CLASSES[expect].__name__}")
            return value
        if isinstance(key, AssetKey) and expect is not None:
            _source, actual = self._mounts.resolve(key)
            if actual != expect:
                what = (AssetType(actual).name.lower() if actual in ASSET_CLASSES
                        else f"asset of type {actual} (not Material, Geometry or Scene)")
                raise WrongAssetKind(f"asset {key} is a {what}, not a {AssetType(expect).name.lower()}")
        job = self._inflight.get(key)
        if job is None:
            job = self._inflight[key] = _Job(key, priority)
            self.stats.decodes += 1
            assert self._group is not None
            self._group.spawn(self._produce, job)
        else:
            self.stats.joined += 1
        job.waiters += 1
        return job.result.get()

    def _produce(self, job: _Job) -> None:
        """The one load of ``job.key`` (owning hub greenlet); publishes or fails it."""
        try:
            value, size, deps = self._build(job.key, job.priority)
        except gevent.GreenletExit:
            job.result.set_exception(OperationCancelled(f"load of {job.key} cancelled: loader stopped"))
            self._inflight.pop(job.key, None)
            raise
        except Exception as exc:  # noqa: BLE001 - every waiter gets it
            self._inflight.pop(job.key, None)
            job.result.set_exception(exc)
            return
        self._inflight.pop(job.key, None)
        if self._token.cancelled:
            job.result.set_exception(OperationCancelled(f"load of {job.key} cancelled: loader stopped"))
            return
        self._cache.publish(job.key, value, size, deps, job.waiters)
        job.result.set(value)

    def _build(self, key: Key, priority: int) -> tuple[Any, int, tuple[Key, ...]]:
        if isinstance(key, ResourceKey):
            value = self._build_resource(key, priority)
            return value, value.size_bytes, ()
        source, asset_type = self._mounts.resolve(key)
        cfg = self.config
        assert self._gate is not None
        with self._gate.slot(priority):
            self._token.raise_if_cancelled()
            blob, where = run_io(source.read_descriptor, key)
            decoded = run_blocking(decode_asset, asset_type, key, blob, source=source.id,
                                   tables=(source.tables[ResourceKind.TEXTURE], source.tables[ResourceKind.BUFFER]),
                                   where=where, verify=cfg.verify_content_hashes, strict=cfg.strict)
        loaded, warnings = self._load_deps(key, asset_type, decoded.deps, priority, decoded.tolerated)
        try:
            value = decoded.finish(loaded, warnings)
        except BaseException:
            self._cache.release_all(loaded)
            raise
        return value, decoded.size, tuple(loaded)

    def _load_deps(self, parent: Key, parent_type: int, deps: tuple[Key, ...], priority: int,
                   tolerated: Mapping[Key, Tolerated]) -> tuple[dict[Key, Any], tuple[Diagnostic, ...]]:
        """Load every dependency concurrently, one reference each (the edges).

        A dependency in ``tolerated`` that is missing or of another asset type is left
        out with a warning (unless the loader is strict), as the engine does. If any
        other fails, release the others and raise the first error, naming the parent.
        Returns (loaded dependencies in ``deps`` order, warnings)."""
        if not deps:
            return {}, ()
        assert self._group is not None
        greenlets = [self._group.spawn(self._try_obtain, dep, dep_type(parent_type, dep), priority)
                     for dep in deps]
        try:
            gevent.joinall(greenlets)
        except BaseException:
            gevent.killall(greenlets)
            raise
        outcomes = [g.value if g.successful() else (False, OperationCancelled("killed")) for g in greenlets]
        warnings: list[Diagnostic] = []
        failed = []
        for dep, (ok, value) in zip(deps, outcomes):
            if ok:
                continue
            rule = tolerated.get(dep)
            if (rule is not None and not self.config.strict and isinstance(value, (AssetNotFound, WrongAssetKind))):
                warnings.append(_tolerated_warning(rule, dep, value))
            else:
                failed.append((dep, value))
        if failed:
            self._cache.release_all(d for d, (ok, _v) in zip(deps, outcomes) if ok)
            dep, exc = failed[0]
            if isinstance(exc, OperationCancelled):
                raise OperationCancelled(f"load of {parent} cancelled: loader stopped")
            raise _with_context(exc, f"dependency {dep} of {parent}")
        return {d: value for d, (ok, value) in zip(deps, outcomes) if ok}, tuple(warnings)

    def _try_obtain(self, key: Key, expect: int | None, priority: int) -> tuple[bool, Any]:
        """:meth:`_obtain` as (True, value) or (False, error), so that a failing
        dependency is reported once, by its parent, and never printed by gevent."""
        try:
            return True, self._obtain(key, expect, priority)
        except gevent.GreenletExit:
            return False, OperationCancelled(f"load of {key} cancelled: loader stopped")
        except Exception as exc:  # noqa: BLE001 - handed to the parent load
            return False, exc

    def _build_resource(self, key: ResourceKey, priority: int) -> Any:
        source = self._mounts.source(key.source)
        count = source.count(key.kind)
        if not 0 <= key.index < count:
            raise ResourceNotFound(f"{key.kind.value} index {key.index} outside the {count}-entry table "
                                   f"of {source.path}")
        cfg = self.config
        assert self._gate is not None
        with self._gate.slot(priority):
            self._token.raise_if_cancelled()
            entry, ewhere, payload, pwhere = run_io(source.read_resource, key.kind, key.index)
            return run_blocking(decode_resource, key, entry, ewhere, payload, pwhere, cfg.verify_content_hashes,
                                cfg.strict)

    def _serve_buffer(self, key: ResourceKey, blob: bytes, priority: int, callback: Callback,
                      refused: bool = False) -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            if refused:
                raise OperationCancelled("load from buffer cancelled: loader stopped")
            view = TextureResourceDesc if key.kind is ResourceKind.TEXTURE else BufferResourceDesc
            where = Where(f"<buffer {key.index}>")
            assert self._gate is not None
            with self._gate.slot(priority):
                self._token.raise_if_cancelled()
                value = run_blocking(decode_resource, key, blob[:view.SIZE], where,
                                     blob[view.SIZE:], Where(where.path, view.SIZE), self.config.verify_content_hashes,
                                     self.config.strict)
            self.stats.decodes += 1
            self._cache.publish(key, value, value.size_bytes, (), 1)
        except gevent.GreenletExit:
            value, error = None, OperationCancelled("load from buffer cancelled: loader stopped")
        except Exception as exc:  # noqa: BLE001 - handed to the callback
            value, error = None, exc
        _call_back(callback, value, error)

    # ------------------------------------------------------------------ cache API
    def release(self, key: Key) -> bool:
        """Drop one reference taken by a load; cascades to dependencies that nothing
        else holds. False if ``key`` held none (or the loader is not running). Any thread."""
        return bool(self._on_hub(self._cache.release, key)) if self.running else False

    def get_cached(self, key: Key) -> Any | None:
        """The cached object or None; takes no reference. Any thread."""
        return self._on_hub(self._cache.peek, key) if self.running else None

    def has_cached(self, key: Key) -> bool:
        return bool(self._on_hub(self._cache.__contains__, key)) if self.running else False

    def ref_count(self, key: Key) -> int:
        """References held on ``key`` (loads not yet released plus referenced dependents)."""
        return int(self._on_hub(self._cache.refs, key)) if self.running else 0

    def dependencies(self, key: Key) -> tuple[Key, ...]:
        return self._on_hub(self._cache.dependencies, key) if self.running else ()

    def dependents(self, key: Key) -> tuple[Key, ...]:
        return self._on_hub(self._cache.dependents, key) if self.running else ()

    def cache_info(self) -> dict[str, int]:
        """entries, bytes, budget, evictions."""
        def info() -> dict[str, int]:
            c = self._cache
            return {"entries": len(c), "bytes": c.total_bytes, "budget": c.budget,
                    "evictions": c.stats.evictions}
        return self._on_hub(info)


# ---------------------------------------------------------------------- helpers
def _call_back(callback: Callback, value: Any, error: BaseException | None) -> None:
    try:
        callback(value, error)
    except gevent.GreenletExit:
        raise
    except Exception:  # noqa: BLE001 - a failing callback must not break the loader
        log.exception("load callback %r failed", callback)


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
