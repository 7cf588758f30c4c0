"""Load priorities and the priority gate that admits decodes in priority order.

A :class:`PriorityGate` has ``slots`` places. Two ways in, served together in
(priority, arrival) order:

* ``with gate.slot(priority):`` blocks the calling greenlet until a place is free;
* ``gate.enqueue(priority, ticket)`` never blocks: the :class:`Ticket`'s ``start``
  is called (on the hub, from whoever frees the place) once a place is handed to
  it, and must then return True (the place is its until :meth:`PriorityGate.release`)
  or False (abandoned: the place goes on to the next). A cancelled ticket is
  skipped. This is how the loader admits a load *before* it has a greenlet: 1,200
  queued loads are 1,200 tickets, not 1,200 parked greenlets.

Thread rules: a :class:`PriorityGate` belongs to one hub (the loader's owning hub);
use it from that hub's thread only (``slot`` from greenlets there). Killing a
greenlet that waits in ``slot`` removes it from the queue (nothing leaks).
``start`` must not block or raise.
"""
from __future__ import annotations

import enum
import heapq
import itertools
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from gevent.event import Event

__all__ = ["Priority", "PriorityGate", "Ticket"]


class Priority(enum.IntEnum):
    """Lower value = served first. Equal priorities are served in request order."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class Ticket:
    """A place in the gate's queue without a greenlet: ``start(arg)`` is called
    when the gate hands it a slot (see the module docstring)."""

    __slots__ = ("start", "arg", "cancelled")

    def __init__(self, start: Callable[[Any], bool], arg: Any) -> None:
        self.start, self.arg, self.cancelled = start, arg, False

    def cancel(self) -> None:
        """Never start (the queue skips it); drops what it refers to."""
        self.cancelled, self.start, self.arg = True, _declined, None

    def is_set(self) -> bool:   # the queue's "no longer waiting" test, as for an Event
        return self.cancelled


def _declined(_arg: Any) -> bool:
    return False


class PriorityGate:
    """At most ``slots`` holders at once; waiters are admitted by (priority, arrival)."""

    __slots__ = ("_free", "_heap", "_seq")

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self._free = slots
        self._heap: list[tuple[int, int, Any]] = []   # (priority, seq, Event or Ticket)
        self._seq = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for *_x, item in self._heap if not item.is_set())

    @contextmanager
    def slot(self, priority: int) -> Iterator[None]:
        """Hold one slot for the ``with`` body (greenlet-blocking while none is free)."""
        self._acquire(int(priority))
        try:
            yield
        finally:
            self.release()

    def enqueue(self, priority: int, ticket: Ticket) -> None:
        """Start ``ticket`` now if a slot is free, else queue it. Never blocks."""
        self._prune()
        if self._free > 0 and not self._heap:
            self._free -= 1
            if not ticket.cancelled and ticket.start(ticket.arg):
                return
            self.release()
            return
        heapq.heappush(self._heap, (int(priority), next(self._seq), ticket))

    def _prune(self) -> None:
        heap = self._heap
        while heap and isinstance(heap[0][2], Ticket) and heap[0][2].cancelled:
            heapq.heappop(heap)

    def _acquire(self, priority: int) -> None:
        self._prune()
        if self._free > 0 and not self._heap:
            self._free -= 1
            return
        ticket = (priority, next(self._seq), Event())
        heapq.heappush(self._heap, ticket)
        try:
            ticket[2].wait()
        except BaseException:
            if ticket[2].is_set():      # the slot was handed over as we were killed
                self.release()
            else:
                self._heap.remove(ticket)
                heapq.heapify(self._heap)
            raise

    def release(self) -> None:
        """Give a slot back: to the best waiter (a greenlet or a ticket), else free."""
        heap = self._heap
        while heap:
            _p, _s, item = heapq.heappop(heap)
            if isinstance(item, Ticket):
                if not item.cancelled and item.start(item.arg):
                    return              # the slot is the ticket's now
                continue
            item.set()                  # hand the slot straight to the waiting greenlet
            return
        self._free += 1

    _release = release
