"""A single-assignment result that crosses threads and hubs.

:class:`CrossFuture` is set once from any thread and awaited from any thread. Its
``wait`` adapts to the caller:

* in a thread that runs a gevent hub it blocks only the calling greenlet: the
  waiter starts an *async watcher* on its own loop (which also keeps that loop
  alive), and the setter fires it with ``watcher.send()``, the one libev/libuv
  operation that is safe from a foreign thread;
* in a plain thread (no hub) it blocks the native thread on a real lock.

Thread rules: every method is safe from any thread. ``wait`` must not be called
from a hub greenlet itself (a callback running inside a loop): that raises
gevent's ``BlockingSwitchOutError``.
"""
from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

from gevent._hub_local import get_hub_if_exists
from gevent.event import Event

from oxy.hub._native import Latch, allocate_lock

__all__ = ["CrossFuture", "FutureTimeout"]

T = TypeVar("T")


class FutureTimeout(TimeoutError):
    """``result(timeout)`` expired before the future was set."""


class CrossFuture(Generic[T]):
    """A thread-safe, hub-aware, single-assignment result."""

    __slots__ = ("_lock", "_latch", "_done", "_value", "_error", "_watchers", "_callbacks")

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._latch = Latch()
        self._done = False
        self._value: T | None = None
        self._error: BaseException | None = None
        # Created on the first waiter / callback: most futures never get either, and two
        # fewer tracked objects per future keep garbage collection cheap in bursts.
        self._watchers: list[Any] | None = None
        self._callbacks: list[Callable[[CrossFuture[T]], object]] | None = None

    # -- setting (any thread) --------------------------------------------------
    def set_result(self, value: T) -> bool:
        """Set the value; False (and no effect) if already set."""
        return self._finish(value, None)

    def set_exception(self, error: BaseException) -> bool:
        """Set an error that ``result()`` re-raises; False if already set."""
        return self._finish(None, error)

    def _finish(self, value: T | None, error: BaseException | None) -> bool:
        with self._lock:
            if self._done:
                return False
            self._value, self._error, self._done = value, error, True
            self._latch.set()
            # Sending under the lock: a waiter removes its watcher under the same
            # lock before closing it, so we never send to a closed watcher.
            for watcher in self._watchers or ():
                watcher.send()
            self._watchers = None
            callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            _call_quietly(callback, self)
        return True

    # -- reading (any thread) --------------------------------------------------
    def done(self) -> bool:
        return self._done

    def add_done_callback(self, callback: Callable[[CrossFuture[T]], object]) -> None:
        """Run ``callback(self)`` in the setting thread (now, if already set)."""
        with self._lock:
            if not self._done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        _call_quietly(callback, self)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until set; True if set, False on timeout. Greenlet-blocking on a hub."""
        if self._done:
            return True
        if timeout is not None and timeout <= 0:
            return False
        hub = get_hub_if_exists()
        if hub is None:
            return self._latch.wait(timeout)
        event = Event()
        watcher = hub.loop.async_()
        watcher.start(event.set)
        try:
            with self._lock:
                if self._done:
                    return True
                if self._watchers is None:
                    self._watchers = []
                self._watchers.append(watcher)
            try:
                return event.wait(timeout) or self._done
            finally:
                with self._lock:
                    if self._watchers and watcher in self._watchers:
                        self._watchers.remove(watcher)
        finally:
            watcher.stop()
            watcher.close()

    def result(self, timeout: float | None = None) -> T:
        """The value (re-raising a set exception); :class:`FutureTimeout` on timeout."""
        if not self.wait(timeout):
            raise FutureTimeout(f"no result within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def exception(self) -> BaseException | None:
        """The set exception, or None (also None while not done)."""
        return self._error


def _call_quietly(callback: Callable[[Any], object], arg: Any) -> None:
    try:
        callback(arg)
    except Exception:  # noqa: BLE001 - a done-callback must not break the setter
        import logging

        logging.getLogger("oxy.hub").exception("done-callback %r failed", callback)
