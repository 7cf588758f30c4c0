"""The runtime :class:`AssetLoader`: mounts, asynchronous loads, cache, dependencies.

**Owning hub.** A loader belongs to one :class:`~oxy.hub.ImportLoop` (given in the
config, or created by :meth:`start` and closed by :meth:`stop`); all its state
lives on that loop's hub thread and is touched by it only.

**A load** (:mod:`oxy.runtime.engine`, owning hub): resolve -> read (I/O pool) ->
decode (CPU pool, pure) -> load dependencies concurrently -> publish (cache, edges,
waiters). Requests for a key already in flight join that load as listeners. A load
waits in a :class:`PriorityGate` in (priority, arrival) order *without a greenlet*;
admitted asset loads are read and decoded in batches, one pool task each way per
batch. A transient read error (EIO, EAGAIN, a file missing or short mid-swap) is
retried by ``config.retry`` (:mod:`oxy.runtime.retry`, re-resolving each time,
outside the gate while it waits). Requests from other threads enter through one
intake and callbacks are published in batches (:mod:`oxy.runtime.requests`), so the
owning hub's other greenlets and timers never wait long.

**Requests and handles.** Every ``load_*`` / ``start_load_*`` call is one request
with its own :class:`~oxy.runtime.handles.LoadHandle` (a CrossFuture: waitable from
any thread, greenlet-blocking on a hub, including the owning one) with ``status``,
``progress`` and ``cancel()``: cancelling one request leaves the others waiting on
the same load; the load itself is stopped when no request waits for it. With
``fallback`` a failed request completes with a placeholder
(:mod:`oxy.runtime.placeholders`) and keeps the error. ``load_bundle`` groups
requests (:mod:`oxy.runtime.bundles`); ``progress()`` counts them since a mark.

**Threads.** ``start_load_*`` callbacks ``callback(value, error)`` always run on the
owning hub, in the loader's publisher greenlet (they may block greenlet-style,
delaying the callbacks queued behind them; they must not call :meth:`stop`). Mounts, ``release``, ``get_cached``,
listing, memory and reload calls are safe from any thread (from a greenlet when on
the owning hub). Hot reload (:mod:`oxy.runtime.reload`): a watcher thread posts file
events to the owning hub; re-reads run on the I/O pool; ``on_reload`` subscribers
run on the owning hub.

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
:class:`~oxy.errors.OperationCancelled`; so does ``handle.cancel()`` for its own
request. A mount that fails to re-read keeps its previous content. See
docs/runtime.md.
"""
from __future__ import annotations

import gc
import itertools
import logging
from typing import Any, Callable, Iterable

from gevent.pool import Group

from oxy.build.journal import RecoveryReport, RootBusyError, recover_root
from oxy.formats import AssetKey
from oxy.hub import CrossFuture, ImportLoop, allocate_lock
from oxy.hub.pools import run_io
from oxy.runtime.bundles import BundleHandle, expand
from oxy.runtime.cache import ContentCache
from oxy.runtime.config import LoaderConfig
from oxy.runtime.engine import Key, LoadEngine
from oxy.runtime.errors import LoaderNotRunning
from oxy.runtime.handles import LoadHandle
from oxy.runtime.keys import BUFFER_SOURCE, ResourceKey, SourceId
from oxy.runtime.kinds import as_asset_key, asset_type, check_resource_kind, resource_kind
from oxy.runtime.listing import AssetInfo, list_assets, memory_by_type
from oxy.runtime.mounts import MountTable
from oxy.runtime.progress import LoaderStats, LoadProgress, ProgressCounter
from oxy.runtime.reload import MountWatcher, Reloader, ReloadReport
from oxy.runtime.requests import Callback, Intake, RequestServer
from oxy.runtime.scheduling import Priority, PriorityGate
from oxy.runtime.sources import open_loose_root, open_pak

__all__ = ["AssetLoader", "LoaderStats"]

log = logging.getLogger("oxy.runtime")


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
        self._buffer_serial = itertools.count()
        self._remove_hook: Callable[[], None] | None = None
        self.stats = LoaderStats()
        self._progress = ProgressCounter()
        self._engine = LoadEngine(self.config, self._mounts, self._cache, self.stats)
        self._requests = RequestServer(self._engine, self._progress)
        self._intake = Intake(self._post, self._spawn_drain, self._serve)
        self._cancel_cb = self._cancel_handle   # one bound method shared by every handle
        self._reloader = Reloader(self)
        self._watcher: MountWatcher | None = None

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
        self._engine.group = Group()
        cpu = self._loop.pools.cpu_size
        slots = self.config.decode_slots or 4 * cpu
        self._engine.gate = PriorityGate(slots)
        self._engine.batch_size = max(1, slots // cpu)   # the slots' loads in one batch per CPU thread
        self._engine.max_batches = cpu
        self._remove_hook = self._loop.add_shutdown_hook(self._stop_on_hub)
        if self.config.watch:
            self._watch_here()

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
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._remove_hook is not None:
            self._remove_hook()
            self._remove_hook = None
        self._engine.stop()
        self._intake.drain_now()      # requests not served yet: refused (OperationCancelled)
        self._requests.flush()
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
        self._mounts_changed()

    def _mounts_changed(self) -> None:
        if self._watcher is not None:
            self._watcher.update(self._mounts.sources)

    def _mount(self, opener: Callable[..., Any], path: Any) -> SourceId:
        verify = self.config.verify_content_hashes
        if self._state == "running":
            def here() -> SourceId:
                source_id = self._mounts.add(run_io(opener, path, verify=verify))
                self._mounts_changed()
                return source_id
            source_id: SourceId = self._on_hub(here)
        else:
            with self._lock:
                if self._state != "new":
                    raise LoaderNotRunning(f"{self.config.name}: cannot mount, the loader is {self._state}")
                source_id = self._mounts.add(opener(path, verify=verify))
        if self.config.gc_freeze:
            freeze_heap()
        return source_id

    @property
    def mounts(self) -> tuple[SourceId, ...]:
        return tuple(s.id for s in self._mounts.sources)

    def find_virtual_path(self, vpath: str) -> AssetKey | None:
        """The key of a virtual path in the mounted indices (or PAK browse indices)."""
        return self._mounts.find_virtual_path(vpath)

    # ------------------------------------------------------------------ hot reload
    def watch(self) -> None:
        """Start watching every mount (now and later) for changes and hot-reload them
        (:mod:`oxy.runtime.reload`; ``LoaderConfig(watch=True)`` does it at start).
        Idempotent. Any thread, once running."""
        self._on_hub(self._watch_here)

    def _watch_here(self) -> None:
        if self._watcher is None:
            assert self._loop is not None
            self._watcher = MountWatcher(self._loop, self.config.reload_debounce, self._reloader.request)
            self._watcher.update(self._mounts.sources)

    def unwatch(self) -> None:
        """Stop watching (pending changes are dropped). Any thread, once running."""
        def here() -> None:
            if self._watcher is not None:
                self._watcher.stop()
                self._watcher = None
        self._on_hub(here)

    def reload(self, source: SourceId | None = None) -> list[ReloadReport]:
        """Re-read ``source`` (or every mount) now and swap what changed, as the
        watcher would; blocks until done and returns one report per mount. Any
        thread (a greenlet when on the owning hub)."""
        def here() -> list[ReloadReport]:
            ids = [source] if source is not None else [s.id for s in self._mounts.sources]
            return [self._reloader.reload(i) for i in ids]
        reports: list[ReloadReport] = self._on_hub(here)
        return reports

    def on_reload(self, callback: Callable[[Any, Any, Any], object]) -> Callable[[], None]:
        """Subscribe ``callback(key, old, new)``: called on the owning hub once per
        object a reload swapped (changed keys and their dependents, dependencies
        first), and ``callback(key, old, None)`` for a cached key the reload removed
        (gone from its mount: evicted once released). Returns the unsubscribe
        function. Any thread."""
        self._reloader.subscribers.append(callback)
        return lambda: _discard(self._reloader.subscribers, callback)

    def on_reload_error(self, callback: Callable[[str, BaseException], object]) -> Callable[[], None]:
        """Subscribe ``callback(what, error)``: a mount that failed to re-read (its
        path; the previous content stays) or a key that failed to rebuild (its old
        object stays). Owning hub. Returns the unsubscribe function. Any thread."""
        self._reloader.error_subscribers.append(callback)
        return lambda: _discard(self._reloader.error_subscribers, callback)

    @property
    def reload_reports(self) -> list[ReloadReport]:
        """The last reloads' reports (newest last)."""
        return list(self._reloader.reports)

    # ------------------------------------------------------------------ loads
    def load_asset(self, key: AssetKey | str, kind: Any = None, *, priority: Priority = Priority.NORMAL,
                   fallback: bool | None = None) -> LoadHandle:
        """Load an asset (``kind``: MaterialAsset/GeometryAsset/SceneAsset, an
        AssetType, or None for any). Returns this request's :class:`LoadHandle` (a
        CrossFuture of the asset). ``fallback`` (default: the config's): on failure
        complete with a placeholder and keep the error in ``handle.error``."""
        return self._request(as_asset_key(key), asset_type(kind), priority, None, fallback)

    def load_resource(self, key: ResourceKey, kind: Any = None, *, priority: Priority = Priority.NORMAL,
                      fallback: bool | None = None) -> LoadHandle:
        """Load a texture or buffer by resource key; the request's LoadHandle."""
        check_resource_kind(key, kind)
        return self._request(key, None, priority, None, fallback)

    def start_load_asset(self, key: AssetKey | str, kind: Any, callback: Callback, *,
                         priority: Priority = Priority.NORMAL, fallback: bool | None = None) -> LoadHandle:
        """Like :meth:`load_asset`; ``callback(asset, error)`` runs on the owning hub
        (with a fallback: ``callback(placeholder, error)``; cancelled: ``(None, OperationCancelled)``)."""
        return self._request(as_asset_key(key), asset_type(kind), priority, callback, fallback)

    def start_load_resource(self, key: ResourceKey, kind: Any, callback: Callback, *,
                            priority: Priority = Priority.NORMAL, fallback: bool | None = None) -> LoadHandle:
        """Like :meth:`load_resource`; ``callback(resource, error)`` on the owning hub."""
        check_resource_kind(key, kind)
        return self._request(key, None, priority, callback, fallback)

    def start_load_resource_from_buffer(self, kind: Any, data: bytes, callback: Callback, *,
                                        priority: Priority = Priority.NORMAL) -> ResourceKey:
        """Decode a resource from memory: ``data`` is its table entry (40-byte
        TextureResourceDesc or 32-byte BufferResourceDesc; ``data_offset`` ignored)
        followed by its payload. Cached under the returned loader-minted key (one
        reference, as any load); ``callback(resource, error)`` runs on the owning hub."""
        key: ResourceKey = self._request_buffer(kind, data, priority, callback).key
        return key

    def load_resource_from_buffer(self, kind: Any, data: bytes, *,
                                  priority: Priority = Priority.NORMAL) -> LoadHandle:
        """The awaitable form of :meth:`start_load_resource_from_buffer`: a LoadHandle
        whose ``key`` is the minted key and whose result is the resource."""
        return self._request_buffer(kind, data, priority, None)

    def _request_buffer(self, kind: Any, data: bytes, priority: int, callback: Callback | None) -> LoadHandle:
        rkind = resource_kind(kind)
        key = ResourceKey(BUFFER_SOURCE, rkind, next(self._buffer_serial))
        loop = self._require_running()
        handle = LoadHandle(key, self._cancel_cb)
        if not loop.post(self._spawn, self._requests.serve_buffer, key, bytes(data), int(priority), handle, callback):
            raise LoaderNotRunning(f"{self.config.name}: the owning loop is shut down")
        return handle

    def _request(self, key: Key, expect: int | None, priority: int, callback: Callback | None,
                 fallback: bool | None) -> LoadHandle:
        self._require_running()
        handle = LoadHandle(key, self._cancel_cb)
        use_fallback = self.config.fallback if fallback is None else fallback
        if not self._intake.submit(key, expect, int(priority), handle, callback, use_fallback):
            raise LoaderNotRunning(f"{self.config.name}: the owning loop is shut down")
        return handle

    def _cancel_handle(self, handle: LoadHandle) -> None:
        """``handle.cancel()`` (any thread, after the handle got OperationCancelled):
        stop its request greenlet on the owning hub."""
        loop = self._loop
        if loop is not None and self._state == "running":
            loop.post(self._kill_request, handle)

    def _kill_request(self, handle: LoadHandle) -> None:
        greenlet = handle._greenlet
        if greenlet is not None and not greenlet.dead:   # a load from a buffer
            greenlet.kill(block=False)
            return
        self._requests.cancel(handle)

    def _spawn_drain(self, drain: Callable[[], None]) -> None:
        """Hub callback: start the intake's drain greenlet (stopped: serve them refused, now)."""
        group = self._engine.group
        if self._state != "running" or group is None:
            self._intake.drain_now()
            return
        group.spawn(drain)

    def _post(self, fn: Callable[..., Any], *args: Any) -> bool:
        loop = self._loop
        return loop is not None and loop.post(fn, *args)

    def _serve(self, key: Key, expect: int | None, priority: int, handle: LoadHandle, callback: Callback | None,
               fallback: bool) -> None:
        """Hub callback: serve a request (no greenlet: it waits as a listener of its load)."""
        self._requests.serve(key, expect, priority, handle, callback, fallback,
                             refused=self._state != "running" or self._engine.group is None)

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        """Hub callback: start a load greenlet in the loader's group (or refuse)."""
        group = self._engine.group
        if self._state != "running" or group is None:
            fn(*args, refused=True)
            return
        group.spawn(fn, *args)

    # ------------------------------------------------------------------ bundles, progress
    def load_bundle(self, items: Iterable[Any], kind: Any = None, *, priority: Priority = Priority.NORMAL,
                    fallback: bool | None = None) -> BundleHandle:
        """Load asset keys and virtual-path globs (``"/.cooked/Materials/*"``) as one
        :class:`BundleHandle` (:mod:`oxy.runtime.bundles`): aggregate progress,
        completes when every member completed or failed, with a :class:`Bundle` of
        the values and the failures. ``kind`` applies to every member. Any thread."""
        loop = self._require_running()
        expect = asset_type(kind)
        items = list(items)
        bundle = BundleHandle()
        use_fallback = self.config.fallback if fallback is None else fallback

        def here() -> None:
            if self._state != "running":
                bundle.set_exception(LoaderNotRunning(f"{self.config.name}: stopped before the bundle started"))
                return
            try:
                keys, unmatched = expand(items, self._mounts)
            except Exception as exc:  # noqa: BLE001 - a bad key fails the bundle
                bundle.set_exception(exc)
                return
            members = {}
            for key in keys:
                handle = LoadHandle(key, self._cancel_cb)
                members[key] = handle
                self._serve(key, expect, int(priority), handle, None, use_fallback)
            bundle._start(members, unmatched)
        if not loop.post(here):
            raise LoaderNotRunning(f"{self.config.name}: the owning loop is shut down")
        return bundle

    def release_all(self, keys: Iterable[Key]) -> int:
        """:meth:`release` each key once (e.g. a bundle's ``values``); how many held one."""
        return sum(1 for key in list(keys) if self.release(key))

    def progress(self) -> LoadProgress:
        """Requests since :meth:`mark_progress` (total, loaded, failed, cancelled, in
        flight; ``fraction``) for a loading screen. Any thread."""
        if not self.running:
            return self._progress.snapshot()
        snapshot: LoadProgress = self._on_hub(self._progress.snapshot)
        return snapshot

    def mark_progress(self) -> None:
        """Start counting :meth:`progress` afresh (loads already running are left out). Any thread."""
        self._on_hub(self._progress.mark)

    # ------------------------------------------------------------------ listing, memory
    def assets(self, source: SourceId | None = None) -> list[AssetInfo]:
        """Keys, types and virtual paths of what is mounted (one mount, or all: each
        key once, from the mount it resolves to). Any thread."""
        if not self.running:
            with self._lock:
                return list_assets(self._mounts, source)
        infos: list[AssetInfo] = self._on_hub(list_assets, self._mounts, source)
        return infos

    def memory_usage(self) -> dict[str, dict[str, int]]:
        """Cached entries and bytes per kind (texture, buffer, material, geometry,
        scene) and ``total``, each split into referenced / unreferenced bytes. Any thread."""
        usage: dict[str, dict[str, int]] = self._on_hub(memory_by_type, self._cache)
        return usage

    def set_memory_budget(self, budget: int) -> None:
        """Change the cache budget now; unreferenced entries beyond it are evicted
        (least recently used first). Referenced entries stay. Any thread."""
        if budget < 0:
            raise ValueError(f"memory budget must be >= 0, got {budget}")

        def here() -> None:
            self._cache.budget = budget
            self._cache.trim()
        self._on_hub(here)

    def unload_unused(self) -> tuple[int, int]:
        """Evict every unreferenced entry now, whatever the budget: (entries, bytes)
        freed. Any thread."""
        freed: tuple[int, int] = self._on_hub(self._cache.evict_unreferenced)
        return freed

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

    def is_loading(self, key: Key) -> bool:
        """True while a load of ``key`` is in flight (requested and not yet settled). Any thread."""
        return bool(self._on_hub(self._engine.inflight.__contains__, _norm(key))) if self.running else False

    def is_loaded(self, key: Key) -> bool:
        """True when ``key`` is in the cache (loaded and not evicted). Any thread."""
        return self.has_cached(_norm(key))

    def get_or_placeholder(self, key: AssetKey | str | ResourceKey, kind: Any = None, *,
                           priority: Priority = Priority.NORMAL) -> Any:
        """The cached object if there is one, else a placeholder (the kind's:
        checker texture, ``ERROR`` cube, default material; ``kind`` or the mounted
        type decides) while a load of ``key`` starts in the background. Takes no
        reference: the background load releases its own once done, so the object
        stays cached while the memory budget allows; hold it with ``load_*``.
        None when the key is mounted nowhere (no kind, so no placeholder). Any thread."""
        norm = _norm(key)
        expect = None if isinstance(norm, ResourceKey) else asset_type(kind)
        if isinstance(norm, ResourceKey):
            check_resource_kind(norm, kind)

        def here() -> Any:
            value = self._cache.peek(norm)
            if value is not None:
                return value
            if norm not in self._engine.inflight:
                handle = self._request(norm, expect, priority, None, False)
                handle.add_done_callback(self._release_background)
            return self._requests.placeholder(norm, expect)
        return self._on_hub(here)

    def _release_background(self, handle: CrossFuture[Any]) -> None:
        assert isinstance(handle, LoadHandle)
        if handle.exception() is None and not handle.fallback and self._state == "running":
            assert self._loop is not None
            self._loop.post(self._cache.release, handle.key)

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
def freeze_heap() -> None:
    """``LoaderConfig(gc_freeze=True)``, after a mount, on the mounting thread: one
    full collection, then ``gc.freeze()``: every object alive now (the imported
    modules, the application's and the loader's long-lived structures, the new
    mount's index) leaves the collected generations, so the full collections a burst
    of loads triggers later scan only what was made since. Process-wide; undone by
    ``gc.unfreeze()`` (the loader never calls it: the application may freeze too)."""
    gc.collect()
    gc.freeze()


def _discard(items: list[Any], item: Any) -> None:
    try:
        items.remove(item)
    except ValueError:
        pass


def _norm(key: Any) -> Key:
    return key if isinstance(key, ResourceKey) else as_asset_key(key)
