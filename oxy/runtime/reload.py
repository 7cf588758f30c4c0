"""Hot reload of mounted content: watch the mounts, re-read a changed one, swap what changed.

**Watching** (:class:`MountWatcher`): ``watchfiles`` (inotify) on a thread of its
own, non-recursively, on each loose root's folder (a cook commits by renaming a
new ``container.index.bin`` into place) and on each PAK's folder (a PAK is
replaced by rename). Events cross into the owning hub with
:meth:`~oxy.hub.ImportLoop.post`; there they are debounced per mount (``debounce``
seconds after the last event, at most :data:`MAX_WAIT` after the first) and one
reload runs per mount at a time (a change during a reload queues one more).

**Reloading** (:class:`Reloader`, owning-hub greenlets): the mount is re-opened on
the I/O pool with the same :class:`SourceId` (so resource keys stay valid), then
compared with the mounted one for every *cached* key of that mount:

* an asset changed when its descriptor's SHA-256 differs from the one recorded at
  load time (loose roots: read from the new index; PAKs: the new descriptor is
  read and hashed) or its asset type changed;
* a texture or buffer changed when its table entry differs (``data_offset`` left
  out, so repacking alone is no change), or, for an entry whose content hash is 0
  ("not hashed"), when the payload differs from the cached object's.

The new source then replaces the old one in the mount table (the old is closed;
a load reading it at that moment fails with a transient ``SourceReadError`` and
its retry reads the new one). Changed keys *and every cached key that depends on
them* (a material whose texture changed, the geometries using it...) are rebuilt
in dependency order (resources, materials, geometries, scenes) and swapped into
the cache in place: keys stay valid, references held by callers stay counted, the
old objects are freed when their holders drop them. Unreferenced stale entries
are simply evicted. Subscribers of :meth:`AssetLoader.on_reload` get
``callback(key, old, new)`` on the owning hub, once per swapped key, in that
order. Keys gone from the new mount (an asset no longer in it, a resource index
past its new table) are reported in :class:`ReloadReport` ``removed`` and to the same
subscribers as ``callback(key, old, None)`` (after the swaps); their holders keep the
old object, which is evicted from the cache as soon as the last reference is
released (at once when nothing holds it), never kept for reuse.

**Failure modes.** A mount that fails to re-read (a torn or corrupt file, a
missing PAK) keeps its previous content; the error is logged, counted
(``stats.reload_errors``) and passed to :meth:`AssetLoader.on_reload_error`
subscribers as ``callback(path, error)``. A key whose rebuild fails keeps its old
object; the error is in the report and goes to the same subscribers. A load in
flight that read the old mount reads again from the new one before publishing
(:meth:`LoadEngine.build_current <oxy.runtime.engine.LoadEngine.build_current>`).
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import gevent

from oxy.formats import AssetKey, AssetType
from oxy.formats.loose import INDEX_FILE_NAME
from oxy.hub import ImportLoop
from oxy.hub.pools import run_io
from oxy.runtime.keys import ResourceKey, SourceId
from oxy.runtime.kinds import ASSET_TYPES
from oxy.runtime.scheduling import Priority
from oxy.runtime.sources import Source, open_loose_root, open_pak

if TYPE_CHECKING:
    from oxy.runtime.loader import AssetLoader

__all__ = ["MAX_WAIT", "MountWatcher", "ReloadReport", "Reloader"]

log = logging.getLogger("oxy.runtime")
MAX_WAIT = 5.0
ReloadCallback = Callable[[Any, Any, Any], object]
ErrorCallback = Callable[[str, BaseException], object]
_LEVEL: dict[int, int] = {AssetType.MATERIAL: 1, AssetType.GEOMETRY: 2, AssetType.SCENE: 3}


@dataclass
class ReloadReport:
    """What one reload of one mount did. ``changed``: keys whose content changed;
    ``reloaded``: keys swapped in the cache (changed + dependents, in order);
    ``dropped``: stale unreferenced entries evicted; ``removed``: cached keys no
    longer in the mount (``on_reload(key, old, None)``; evicted once released); ``errors``: (key or path, error);
    ``detected``/``finished``: ``time.monotonic()`` of the first change event (or
    the call) and of the last notification."""

    path: str
    changed: list[Any] = field(default_factory=list)
    reloaded: list[Any] = field(default_factory=list)
    dropped: list[Any] = field(default_factory=list)
    removed: list[Any] = field(default_factory=list)
    errors: list[tuple[Any, BaseException]] = field(default_factory=list)
    detected: float = 0.0
    finished: float = 0.0


class Reloader:
    """The reload side of one loader (owning hub only). See the module docstring."""

    def __init__(self, loader: "AssetLoader") -> None:
        self.loader = loader
        self.subscribers: list[ReloadCallback] = []
        self.error_subscribers: list[ErrorCallback] = []
        self._running: dict[SourceId, bool] = {}   # source -> another reload requested meanwhile
        self.reports: list[ReloadReport] = []       # the last few, newest last

    # -- entry points (owning hub) ------------------------------------------------------
    def request(self, source_id: SourceId, detected: float) -> None:
        """A hub callback or greenlet: reload ``source_id`` now, or once more after the
        reload already running for it."""
        if source_id in self._running:
            self._running[source_id] = True
            return
        group = self.loader._engine.group
        if group is not None:
            self._running[source_id] = False
            group.spawn(self._reload_loop, source_id, detected)

    def _reload_loop(self, source_id: SourceId, detected: float) -> None:
        try:
            while True:
                self.reload(source_id, detected)
                if not self._running.get(source_id):
                    return
                self._running[source_id] = False
                detected = time.monotonic()
        finally:
            self._running.pop(source_id, None)

    def reload(self, source_id: SourceId, detected: float | None = None) -> ReloadReport:
        """Re-read one mount and swap what changed (owning-hub greenlet)."""
        ldr = self.loader
        try:
            old = ldr._mounts.source(source_id)
        except LookupError as exc:
            return ReloadReport("", errors=[(source_id, exc)])
        report = ReloadReport(old.path, detected=detected or time.monotonic())
        opener = open_pak if old.kind == "pak" else open_loose_root
        try:
            new = run_io(opener, old.path, verify=ldr.config.verify_content_hashes, source_id=old.id)
        except Exception as exc:  # noqa: BLE001 - the previous content stays mounted
            ldr.stats.reload_errors += 1
            report.errors.append((old.path, exc))
            log.warning("%s: re-reading %s failed; keeping what was mounted: %s", ldr.config.name, old.path, exc)
            self._tell_error(old.path, exc)
            return self._done(report)
        try:
            changed = self._changed(old, new, report)
        except BaseException:
            new.close()
            raise
        ldr._mounts.replace(new)
        old.close()
        report.changed = list(changed)
        self._swap(self._with_dependents(changed), report)
        self._retire(report.removed)
        return self._done(report)

    def _done(self, report: ReloadReport) -> ReloadReport:
        report.finished = time.monotonic()
        self.reports = self.reports[-15:] + [report]
        return report

    # -- what changed ------------------------------------------------------------------
    def _changed(self, old: Source, new: Source, report: ReloadReport) -> list[Any]:
        """Cached keys of ``old`` whose content differs in ``new`` (may read ``new``)."""
        ldr = self.loader
        changed: list[Any] = []
        to_read: list[AssetKey] = []
        fingerprints = ldr._engine.fingerprints
        for gone in [k for k in fingerprints if k not in ldr._cache]:
            del fingerprints[gone]      # evicted since: nothing to compare
        for key in ldr._cache.keys():
            if isinstance(key, ResourceKey):
                if key.source is not old.id:
                    continue
                if not 0 <= key.index < new.count(key.kind):
                    report.removed.append(key)
                elif self._resource_changed(key, old, new):
                    changed.append(key)
                continue
            if not isinstance(key, AssetKey):
                continue
            fingerprint = ldr._engine.fingerprints.get(key)
            if fingerprint is None or fingerprint[0] is not old.id:
                continue
            if key not in new.assets:
                report.removed.append(key)
            elif new.assets[key] != old.assets.get(key):
                changed.append(key)
            else:
                sha = new.descriptor_sha256(key)
                if sha is None:
                    to_read.append(key)
                elif sha != fingerprint[1]:
                    changed.append(key)
        if to_read:
            digests = run_io(_descriptor_digests, new, to_read)
            changed += [k for k in to_read if digests[k] != ldr._engine.fingerprints[k][1]]
        return changed

    def _resource_changed(self, key: ResourceKey, old: Source, new: Source) -> bool:
        before, after = old.entry(key.kind, key.index), new.entry(key.kind, key.index)
        if before[8:] != after[8:]:    # everything but data_offset (the first 8 bytes)
            return True
        if int(new.tables[key.kind][key.index]["content_hash"]):
            return False
        cached = self.loader._cache.peek(key)
        _e, _w, payload, _pw = run_io(new.read_resource, key.kind, key.index)
        held = getattr(cached, "payload", None)
        return bytes(payload) != (held if held is not None else getattr(cached, "data", None))

    def _with_dependents(self, changed: list[Any]) -> list[Any]:
        """``changed`` and every cached key depending on them, dependencies first."""
        cache = self.loader._cache
        users: dict[Any, list[Any]] = {}
        for entry in cache.entries():
            for dep in entry.deps:
                users.setdefault(dep, []).append(entry.key)
        seen, stack = set(changed), list(changed)
        while stack:
            for user in users.get(stack.pop(), ()):
                if user not in seen:
                    seen.add(user)
                    stack.append(user)
        return sorted(seen, key=self._level)

    def _level(self, key: Any) -> int:
        if isinstance(key, ResourceKey):
            return 0
        return _LEVEL.get(ASSET_TYPES.get(type(self.loader._cache.peek(key)), 0), 4)

    # -- swapping ----------------------------------------------------------------------
    def _swap(self, keys: list[Any], report: ReloadReport) -> None:
        ldr = self.loader
        cache = ldr._cache
        for key in keys:
            if key not in cache:
                continue
            if not cache.refs(key):
                cache.drop(key)
                ldr._engine.fingerprints.pop(key, None)
                report.dropped.append(key)
                continue
            try:
                value, size, deps, fingerprint = ldr._engine.build(key, Priority.HIGH, None)
            except gevent.GreenletExit:
                raise
            except Exception as exc:  # noqa: BLE001 - the old object stays
                report.errors.append((key, exc))
                log.warning("%s: reloading %s failed; keeping the old object: %s", ldr.config.name, key, exc)
                self._tell_error(str(key), exc)
                continue
            if key not in cache or not cache.refs(key):   # released while it was rebuilt
                cache.release_all(deps)
                continue
            old = cache.replace(key, value, size, deps)
            if fingerprint is not None:
                ldr._engine.fingerprints[key] = fingerprint
            ldr.stats.reloads += 1
            report.reloaded.append(key)
            for callback in list(self.subscribers):
                _call(callback, key, old, value)

    def _retire(self, keys: list[Any]) -> None:
        """Keys gone from the mount: ``callback(key, old, None)`` to the subscribers,
        and the cached object is evicted once released (at once if nothing holds it)."""
        ldr = self.loader
        cache = ldr._cache
        for key in keys:
            old = cache.peek(key)
            if old is None:
                continue
            cache.retire(key)
            ldr._engine.fingerprints.pop(key, None)
            for callback in list(self.subscribers):
                _call(callback, key, old, None)

    def _tell_error(self, what: str, error: BaseException) -> None:
        for callback in list(self.error_subscribers):
            _call(callback, what, error)


def _descriptor_digests(source: Source, keys: list[AssetKey]) -> dict[AssetKey, bytes]:
    """I/O pool: SHA-256 of each key's descriptor in ``source`` (b"" when unreadable)."""
    out = {}
    for key in keys:
        try:
            out[key] = hashlib.sha256(source.read_descriptor(key)[0]).digest()
        except OSError:
            out[key] = b""
    return out


def _call(callback: Callable[..., object], *args: Any) -> None:
    try:
        callback(*args)
    except gevent.GreenletExit:
        raise
    except Exception:  # noqa: BLE001 - a failing subscriber must not break the reload
        log.exception("reload callback %r failed", callback)


class MountWatcher:
    """Watches mount files; calls ``on_change(source_id, detected)`` on the owning hub
    after the debounce. :meth:`update` / :meth:`stop` on the owning hub."""

    def __init__(self, loop: ImportLoop, debounce: float, on_change: Callable[[SourceId, float], object]) -> None:
        self.loop = loop
        self.debounce = debounce
        self.on_change = on_change
        self._targets: dict[str, SourceId] = {}     # watched file path -> mount
        self._timers: dict[SourceId, tuple[Any, float, float]] = {}  # mount -> (timer, first, detected)
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None

    def update(self, sources: list[Source]) -> None:
        """Watch exactly these mounts (restarts the thread when the set changed)."""
        targets = {}
        for source in sources:
            path = os.path.abspath(source.path)
            targets[os.path.join(path, INDEX_FILE_NAME) if source.kind == "loose" else path] = source.id
        if targets == self._targets and self._thread is not None:
            return
        self._stop_thread()
        self._targets = targets
        if targets:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._watch, args=(dict(targets), self._stop),
                                            name="oxy-loader-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop_thread()
        for timer, _f, _d in self._timers.values():
            timer.kill(block=False)
        self._timers.clear()

    def _stop_thread(self) -> None:
        if self._stop is not None:
            self._stop.set()   # the thread ends within a watchfiles step; not joined (daemon)
        self._thread, self._stop = None, None

    # -- owning hub --------------------------------------------------------------------
    def _changed(self, paths: list[str], detected: float) -> None:
        for path in paths:
            source_id = self._targets.get(path)
            if source_id is None:
                continue
            now = time.monotonic()
            timer, first, seen = self._timers.get(source_id, (None, now, detected))
            if timer is not None:
                timer.kill(block=False)
            delay = min(self.debounce, max(0.0, first + MAX_WAIT - now))
            self._timers[source_id] = (gevent.spawn_later(delay, self._fire, source_id), first, seen)

    def _fire(self, source_id: SourceId) -> None:
        _timer, _first, detected = self._timers.pop(source_id, (None, 0.0, time.monotonic()))
        self.on_change(source_id, detected)

    # -- the watcher thread ------------------------------------------------------------
    def _watch(self, targets: dict[str, SourceId], stop: threading.Event) -> None:
        import watchfiles

        folders = sorted({os.path.dirname(p) for p in targets})
        try:
            for changes in watchfiles.watch(*folders, watch_filter=lambda _c, p: os.path.abspath(p) in targets,
                                            stop_event=stop, debounce=50, step=10, recursive=False,
                                            yield_on_timeout=False, raise_interrupt=False):
                if stop.is_set():
                    return
                paths = sorted({os.path.abspath(p) for _c, p in changes})
                if not self.loop.post(self._changed, paths, time.monotonic()):
                    return
        except Exception as exc:  # noqa: BLE001 - watching stops; loads go on
            log.error("loader watcher stopped: %s: %s", type(exc).__name__, exc)
