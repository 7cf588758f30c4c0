"""Delivering callbacks to the thread (or hub) the caller asked for, in order.

An *executor* is anything with ``submit(fn, *args)`` (a
``concurrent.futures.Executor`` qualifies). Three matter here:

* :class:`HubExecutor` runs calls in a new greenlet on another thread's gevent
  hub, entering through that loop's ``run_callback_threadsafe``. This is how a
  legacy gevent tool gets its results on its own loop, never blocked.
* :class:`LoopExecutor` runs calls in greenlets on an :class:`ImportLoop`, in a
  group its owner can join at shutdown so no delivery is cut short.
* :func:`caller_executor` picks the hub of the calling thread if it has one
  (without creating one).

:class:`SerialQueue` runs the calls of one stream (one job's callbacks) one at a
time and in order on such an executor. If the executor refuses (a destroyed loop,
a shut-down pool, a thread that has exited) it falls back to the next one, and as
a last resort runs the call inline, so a callback is never silently dropped.
"""
from __future__ import annotations

import logging
import sys
from collections import deque
from typing import Any, Callable, Protocol, Sequence

import gevent
from gevent._hub_local import get_hub_if_exists
from gevent.pool import Group

from oxy.hub._native import allocate_lock, get_ident
from oxy.hub.loop import ImportLoop, LoopClosed

__all__ = ["Executor", "HubExecutor", "LoopExecutor", "SerialQueue", "caller_executor"]

log = logging.getLogger("oxy.hub")


class Executor(Protocol):
    def submit(self, fn: Callable[..., object], *args: Any) -> Any: ...


def _spawn_here(fn: Callable[..., object], args: tuple[Any, ...]) -> None:
    gevent.spawn(fn, *args)


class HubExecutor:
    """Runs calls in greenlets on the gevent hub of another thread. Safe from any thread.

    ``submit`` raises ``LoopClosed`` when that hub's loop is destroyed or its
    thread has exited (so the caller can fall back).
    """

    __slots__ = ("hub", "thread_ident")

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.thread_ident = hub.thread_ident

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        loop = self.hub.loop
        if loop is None or self.thread_ident not in sys._current_frames():
            raise LoopClosed("the caller's gevent hub is gone")
        try:
            loop.run_callback_threadsafe(_spawn_here, fn, args)
        except ValueError as error:  # "operation on destroyed loop"
            raise LoopClosed(str(error)) from error

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HubExecutor) and other.hub is self.hub

    def __hash__(self) -> int:
        return id(self.hub)


class LoopExecutor:
    """Runs calls in greenlets of a group on an :class:`ImportLoop`.

    ``submit`` is safe from any thread; :meth:`join` only on the loop's hub thread
    (it waits, greenlet-blocking, for every delivery that has started).
    """

    __slots__ = ("loop", "_group")

    def __init__(self, loop: ImportLoop) -> None:
        self.loop = loop
        self._group = Group()

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        if self.loop.on_hub_thread():
            self._group.spawn(fn, *args)
        elif not self.loop.post(self._group.spawn, fn, *args):
            raise LoopClosed(f"{self.loop.name} is shut down")

    def join(self) -> None:
        self._group.join()

    def __len__(self) -> int:
        return len(self._group)


def caller_executor() -> HubExecutor | None:
    """A :class:`HubExecutor` for the calling thread's hub, or None if it has none."""
    hub = get_hub_if_exists()
    return None if hub is None else HubExecutor(hub)


class SerialQueue:
    """Runs queued calls one at a time, in order, on the first executor that takes them.

    Thread rules: :meth:`put` is safe from any thread. Calls must not raise (errors
    are logged and the queue carries on).
    """

    __slots__ = ("_executors", "_lock", "_items", "_scheduled")

    def __init__(self, executors: Sequence[Executor]) -> None:
        self._executors = list(executors)
        self._lock = allocate_lock()
        self._items: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._scheduled = False

    def put(self, fn: Callable[..., object], *args: Any) -> None:
        with self._lock:
            self._items.append((fn, args))
            if self._scheduled:
                return
            self._scheduled = True
        self._schedule()

    def _schedule(self) -> None:
        while self._executors:
            try:
                self._executors[0].submit(self._drain)
                return
            except Exception:  # noqa: BLE001 - this executor is gone; fall back to the next
                self._executors.pop(0)
        self._drain()  # nobody left to hand it to: run it here

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._items:
                    self._scheduled = False
                    return
                fn, args = self._items.popleft()
            try:
                fn(*args)
            except gevent.GreenletExit:
                with self._lock:
                    self._scheduled = False
                raise
            except Exception:  # noqa: BLE001 - one failing callback must not stop the stream
                log.exception("callback %r failed (thread %#x)", fn, get_ident())
