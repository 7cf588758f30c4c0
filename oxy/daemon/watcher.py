"""The watcher: ``watchfiles`` (inotify) on its own thread, debounced batches on the main hub.

Thread rules: :meth:`Watcher.start` and :meth:`Watcher.stop` run on the main hub
thread. The watcher thread does nothing but ``watchfiles.watch`` and hands each
raw change set to the main hub through a :class:`~oxy.hub.delivery.HubExecutor`
(a greenlet there runs :meth:`Watcher._on_changes`). On the main hub, changes
collect in ``_changed`` / ``_deleted`` until ``debounce`` seconds pass without
a new one (at most :data:`MAX_WAIT` seconds after the first): then one batch goes
to ``on_batch(changed, deleted)``. So saving 50 files cooks them as one job.

What counts: sources (image and model suffixes the importers know) and settings
files (``oxy.toml``, ``*.oxy.toml``), never temporary names (``*.tmp``, ``*~``,
``.#*``, ``*.swp``...: an editor's save-to-temp-then-rename shows up as the final
name being added or modified) and never anything inside the cooked root. A name
reported deleted that exists again when the batch is taken was replaced: it is
cooked, not forgotten.

Start-up handshake: :meth:`Watcher.start` returns once the watcher thread has
registered its watches (``RustNotify`` adds the inotify watches of every folder
below the watched ones when it is built), so a file created after ``start``
returns is always reported, and the catch-up cook that follows sees anything
created before. If inotify cannot be used (the per-user watch limit
``fs.inotify.max_user_watches`` is reached, say), the watcher falls back to
polling every :data:`POLL_DELAY_MS` and logs ``watch.polling`` with the reason.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable

import gevent

from oxy.daemon.config import DaemonConfig, Log
from oxy.daemon.plan import interesting, is_settings, source_kind

MAX_WAIT = 5.0
#: How long :meth:`Watcher.start` waits for the thread's watches at most (a huge tree takes a while).
READY_TIMEOUT = 30.0
POLL_DELAY_MS = 500


class Watcher:
    def __init__(self, cfg: DaemonConfig, executor: Any, on_batch: Callable[[list[str], list[str]], object],
                 log: Log) -> None:
        self.cfg = cfg
        self.executor = executor
        self.on_batch = on_batch
        self.log = log
        self.debounce = cfg.debounce_ms / 1000.0
        self.files: set[str] = set()          # known sources (the watched-files gauge); main hub
        self._changed: set[str] = set()
        self._deleted: set[str] = set()
        self._timer: Any = None
        self._first = 0.0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.polling = False
        self._thread = threading.Thread(target=self._watch, name="oxy-serve-watcher", daemon=True)

    # -- main hub ----------------------------------------------------------------------------
    def start(self, known: list[str]) -> bool:
        """Start the thread and wait (greenlet-blocking) until its watches are registered.
        False if they were not within :data:`READY_TIMEOUT` (logged; the thread goes on)."""
        self.files.update(known)
        self._thread.start()
        ready = bool(gevent.get_hub().threadpool.apply(self._ready.wait, (READY_TIMEOUT,)))
        if not ready:
            self.log("watch.slow_start", level="warning", waited=READY_TIMEOUT)
        return ready

    @property
    def alive(self) -> bool:
        """The watcher thread is running (False before start, after stop, or after it failed)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop the thread (greenlet-blocking wait, at most a few seconds) and drop pending changes."""
        self._stop.set()
        if self._timer is not None:
            self._timer.kill(block=False)
        if self._thread.is_alive():
            gevent.get_hub().threadpool.apply(self._thread.join, (5.0,))

    def _on_changes(self, changes: set[tuple[Any, str]]) -> None:
        from watchfiles import Change

        for change, path in changes:
            path = os.path.abspath(path)
            if change == Change.deleted:
                self._deleted.add(path)
                self._changed.discard(path)
                self.files.discard(path)
            else:
                self._changed.add(path)
                self._deleted.discard(path)
                if not is_settings(path) and source_kind(path) is not None:
                    self.files.add(path)
        if not self._changed and not self._deleted:
            return
        now = gevent.get_hub().loop.now()
        if self._timer is None:
            self._first = now
        else:
            self._timer.kill(block=False)
        delay = min(self.debounce, max(0.0, self._first + MAX_WAIT - now))
        self._timer = gevent.spawn_later(delay, self._flush)

    def _flush(self) -> None:
        self._timer = None
        changed, deleted = self._changed, self._deleted
        self._changed, self._deleted = set(), set()
        replaced = {p for p in deleted if os.path.exists(p)}
        changed |= replaced
        deleted -= replaced
        if changed or deleted:
            self.log("watch.batch", changed=len(changed), deleted=len(deleted))
            self.on_batch(sorted(changed), sorted(deleted))

    # -- the watcher thread ------------------------------------------------------------------
    def _filter(self, _change: Any, path: str) -> bool:
        if self.cfg.excluded(os.path.abspath(path)):
            return False
        return interesting(path) or os.path.isdir(path)

    def _notifier(self) -> Any:
        """A ``RustNotify`` over the watched folders (its watches are registered when this returns):
        inotify, or polling when inotify is refused."""
        from watchfiles._rust_notify import RustNotify

        folders = list(self.cfg.watch)
        try:
            return RustNotify(folders, False, False, POLL_DELAY_MS, True, True)
        except OSError as exc:
            self.polling = True
            self.log("watch.polling", level="warning", reason=f"{type(exc).__name__}: {exc}",
                     poll_ms=POLL_DELAY_MS)
            return RustNotify(folders, False, True, POLL_DELAY_MS, True, True)

    def _watch(self) -> None:
        from watchfiles import Change

        try:
            notifier = self._notifier()
        except Exception as exc:  # noqa: BLE001 - a watcher failure is logged, the API keeps serving
            self.log("watch.failed", level="error", error=f"{type(exc).__name__}: {exc}")
            return
        finally:
            self._ready.set()
        debounce = max(50, self.cfg.debounce_ms)
        try:
            with notifier:
                while not self._stop.is_set():
                    raw = notifier.watch(debounce, 20, 0, self._stop)
                    if raw in ("stop", "signal") or self._stop.is_set():
                        return
                    if raw == "timeout":
                        continue
                    changes = {(Change(c), path) for c, path in raw}
                    changes = {(c, path) for c, path in changes if self._filter(c, path)}
                    if not changes:
                        continue
                    try:
                        self.executor.submit(self._on_changes, changes)
                    except Exception:  # noqa: BLE001 - the main hub is gone: nothing left to tell
                        return
        except Exception as exc:  # noqa: BLE001 - a watcher failure is logged, the API keeps serving
            self.log("watch.failed", level="error", error=f"{type(exc).__name__}: {exc}")
