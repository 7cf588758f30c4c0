"""Load priorities and the priority gate that admits decodes in priority order.

Thread rules: a :class:`PriorityGate` belongs to one hub (the loader's owning hub);
``slot`` must be used from greenlets on that hub. Killing a greenlet that waits in
``slot`` removes it from the queue (nothing leaks).
"""
from __future__ import annotations

import enum
import heapq
import itertools
from contextlib import contextmanager
from typing import Iterator

from gevent.event import Event

__all__ = ["Priority", "PriorityGate"]


class Priority(enum.IntEnum):
    """Lower value = served first. Equal priorities are served in request order."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class PriorityGate:
    """At most ``slots`` holders at once; waiters are admitted by (priority, arrival)."""

    __slots__ = ("_free", "_heap", "_seq")

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self._free = slots
        self._heap: list[tuple[int, int, Event]] = []
        self._seq = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for *_x, ev in self._heap if not ev.is_set())

    @contextmanager
    def slot(self, priority: int) -> Iterator[None]:
        """Hold one slot for the ``with`` body (greenlet-blocking while none is free)."""
        self._acquire(int(priority))
        try:
            yield
        finally:
            self._release()

    def _acquire(self, priority: int) -> None:
        if self._free > 0 and not self._heap:
            self._free -= 1
            return
        ticket = (priority, next(self._seq), Event())
        heapq.heappush(self._heap, ticket)
        try:
            ticket[2].wait()
        except BaseException:
            if ticket[2].is_set():      # the slot was handed over as we were killed
                self._release()
            else:
                self._heap.remove(ticket)
                heapq.heapify(self._heap)
            raise

    def _release(self) -> None:
        if self._heap:
            _p, _s, event = heapq.heappop(self._heap)
            event.set()                 # hand the slot straight to the best waiter
        else:
            self._free += 1
