"""Native-thread primitives that stay native after ``gevent.monkey.patch_all()``.

After monkey-patching, ``threading.Thread`` runs a greenlet and ``threading.Lock``
is a gevent lock that only works inside one hub. The import hub is a *real* thread
and the objects that cross between threads need *real* locks, so everything in
``oxy.hub`` that talks across threads takes its primitives from here. Each name is
fetched with ``gevent.monkey.get_original``, which returns the unpatched function
whether or not patching happened.

Thread rules: every object here is safe from any thread.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

from gevent import monkey

start_new_thread, allocate_lock, get_ident, threading_native_id = monkey.get_original(
    "_thread", ["start_new_thread", "allocate_lock", "get_ident", "get_native_id"]
)
_ThreadLocal = monkey.get_original("_thread", "_local")

if sys.version_info >= (3, 13):  # pragma: no cover - exercised only on 3.13+
    _start_joinable_thread = monkey.get_original("_thread", "start_joinable_thread")
    _set_sentinel = None
else:
    _start_joinable_thread = None
    _set_sentinel = monkey.get_original("_thread", "_set_sentinel")

__all__ = ["Latch", "NativeThread", "ThreadLocal", "allocate_lock", "get_ident", "start_new_thread"]

ThreadLocal = _ThreadLocal


class Latch:
    """A one-shot native event: ``set()`` once, ``wait(timeout)`` from any thread.

    ``wait`` blocks the whole native thread (not just a greenlet); use it only where
    no hub of the calling thread needs to keep running, or with ``timeout=0``.
    """

    __slots__ = ("_lock", "_guard", "_is_set")

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._lock.acquire()
        self._guard = allocate_lock()
        self._is_set = False

    def set(self) -> None:
        """Open the latch; idempotent. Safe from any thread."""
        with self._guard:
            if self._is_set:
                return
            self._is_set = True
            self._lock.release()

    def is_set(self) -> bool:
        return self._is_set

    def wait(self, timeout: float | None = None) -> bool:
        """Block the native thread until set or ``timeout`` seconds pass; True if set."""
        if self._is_set:
            return True
        if timeout is not None and timeout <= 0:
            return False
        got = self._lock.acquire(True, -1 if timeout is None else timeout)
        if got:
            self._lock.release()
        return got or self._is_set


class NativeThread:
    """A real OS thread, joinable, invisible to ``threading.enumerate()``.

    The thread function runs in a fresh native thread even in a monkey-patched
    process. ``join`` waits until the interpreter has torn the thread state down
    (the same sentinel ``threading.Thread.join`` uses), so after a successful join
    the OS thread no longer counts in ``/proc/self/task``.
    """

    __slots__ = ("_target", "_name", "_started", "_finished", "_sentinel", "_handle", "ident")

    def __init__(self, target: Callable[[], Any], name: str) -> None:
        self._target = target
        self._name = name
        self._started = Latch()
        self._finished = Latch()
        self._sentinel: Any = None
        self._handle: Any = None
        self.ident: int = 0

    def start(self) -> None:
        """Start the thread; returns once it is running. Call once."""
        if _start_joinable_thread is not None:  # pragma: no cover - 3.13+
            self._handle = _start_joinable_thread(self._bootstrap, daemon=True)
        else:
            start_new_thread(self._bootstrap, ())
        self._started.wait()

    def _bootstrap(self) -> None:
        if _set_sentinel is not None:
            self._sentinel = _set_sentinel()
        self.ident = get_ident()
        self._started.set()
        try:
            self._target()
        finally:
            self._finished.set()

    @property
    def finished(self) -> Latch:
        """Set when the target has returned (the thread may still be unwinding)."""
        return self._finished

    def join(self, timeout: float | None = None) -> bool:
        """Block the native caller until the thread is gone; True if it is."""
        if not self._finished.wait(timeout):
            return False
        if self._handle is not None:  # pragma: no cover - 3.13+
            self._handle.join(timeout)
            return self._handle.is_done()
        sentinel = self._sentinel
        if sentinel is None:
            return True
        got = sentinel.acquire(True, -1 if timeout is None else timeout)
        if got:
            sentinel.release()
        return got

    def __repr__(self) -> str:
        return f"<NativeThread {self._name} ident={self.ident:#x}>"
