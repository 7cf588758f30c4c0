"""InOrder: results of a completion-order pipeline, handed out in submission order.

The texture pipeline (:class:`~oxy.importing.texture_pipeline.TexturePipeline`)
yields results as their cooks finish, so timing (thread count, a farm, the machine's
load) would decide the order in which textures are appended to the root. Wrapped in
:class:`InOrder`, the consumer receives them in the order the items were submitted,
so any two cooks of the same inputs (1 or N threads, local or farm) append the same
bytes in the same order: byte-identical roots.

Bounded memory: a result that finished before an earlier one is *held* until the
earlier one is handed out. Held results count against the bound: :meth:`submit`
blocks the producer's greenlet while ``max_ahead`` items are submitted and not yet
handed out, or while the held results weigh ``max_held_bytes`` or more (so a huge
first texture with many small ones behind it keeps the pool busy on the small ones,
up to that budget, and then stops the producer until the first is done). It never
deadlocks: items are submitted in order, so the earliest item not handed out is
always already in the pipeline, and the consumer keeps draining the pipeline into
the buffer while it waits for it (the pipeline's own back-pressure still holds).

Thread rules: like the pipeline it wraps, use only from greenlets of one hub (a
producer greenlet calls :meth:`submit` / :meth:`close_input` while another calls
:meth:`collect`). Failure modes: none of its own; :meth:`submit` raises what the
pipeline's ``submit`` raises (OperationCancelled once cancelled), and after
:meth:`cancel_all` a producer blocked for room raises OperationCancelled.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Callable, Generic, Hashable, Protocol, TypeVar

from gevent.event import Event

from oxy.errors import OperationCancelled

__all__ = ["InOrder", "MAX_AHEAD", "MAX_HELD_BYTES"]

log = logging.getLogger("oxy.importing.reorder")

I = TypeVar("I")
R = TypeVar("R")
I_contra = TypeVar("I_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)

#: Default bound on items submitted and not yet handed out (tiny results: a count cap).
MAX_AHEAD = 1024
#: Default budget of held results (bytes of cooked payload waiting for an earlier one).
MAX_HELD_BYTES = 128 << 20


class Pipeline(Protocol[I_contra, R_co]):
    """What :class:`InOrder` wraps (the texture pipeline's consumer/producer surface)."""

    def submit(self, item: I_contra) -> None: ...

    def close_input(self) -> None: ...

    def collect(self) -> R_co | None: ...

    def cancel_all(self) -> None: ...


class InOrder(Generic[I, R]):
    """See the module docstring. ``item_id(item)`` and ``result_id(result)`` must name
    the same thing (items with equal ids are handed out in submission order among
    themselves); ``weight(result)`` is what a held result costs (bytes)."""

    def __init__(self, pipeline: Pipeline[I, R], *, item_id: Callable[[I], Hashable],
                 result_id: Callable[[R], Hashable], weight: Callable[[R], int],
                 max_ahead: int = MAX_AHEAD, max_held_bytes: int = MAX_HELD_BYTES, name: str = "") -> None:
        if max_ahead < 1 or max_held_bytes < 0:
            raise ValueError(f"max_ahead must be >= 1 and max_held_bytes >= 0 (got {max_ahead}, {max_held_bytes})")
        self._pipeline = pipeline
        self._item_id, self._result_id, self._weight = item_id, result_id, weight
        self.max_ahead, self.max_held_bytes, self.name = max_ahead, max_held_bytes, name
        self._seqs: dict[Hashable, deque[int]] = {}
        self._held: dict[int, tuple[R, int]] = {}
        self._submitted = 0
        self._next_out = 0
        self._held_bytes = 0
        self._room = Event()
        self._room.set()
        self._cancelled = False
        #: Results that finished before an earlier one (held, then handed out in order).
        self.out_of_order = 0
        #: The most results held at once, and the most bytes.
        self.peak_held = 0
        self.peak_held_bytes = 0
        #: Submission indices in the order the wrapped pipeline finished them.
        self.arrivals: list[int] = []
        #: Called with each result as the wrapped pipeline yields it (completion order,
        #: before it may be held): progress reporting, which should not wait for order.
        self.on_arrival: Callable[[R], object] | None = None

    # -- producer side -----------------------------------------------------------------------
    def _has_room(self) -> bool:
        ahead = self._submitted - self._next_out
        return ahead < self.max_ahead and (self._held_bytes < self.max_held_bytes or not self._held)

    def submit(self, item: I) -> None:
        """Wait (greenlet-blocking) for room under the bound, then submit ``item`` to
        the pipeline (which may block too: its own back-pressure)."""
        while not self._has_room():
            if self._cancelled:
                raise OperationCancelled("the ordered pipeline is cancelled")
            self._room.clear()
            self._room.wait()
        if self._cancelled:
            raise OperationCancelled("the ordered pipeline is cancelled")
        seq = self._submitted
        self._submitted += 1
        self._seqs.setdefault(self._item_id(item), deque()).append(seq)
        try:
            self._pipeline.submit(item)
        except BaseException:
            self._submitted -= 1
            self._seqs[self._item_id(item)].pop()
            raise

    def close_input(self) -> None:
        self._pipeline.close_input()

    def cancel_all(self) -> None:
        """Cancel the pipeline and wake a producer waiting for room (it raises)."""
        self._cancelled = True
        self._room.set()
        self._pipeline.cancel_all()

    # -- consumer side -----------------------------------------------------------------------
    def collect(self) -> R | None:
        """The next result in submission order (greenlet-blocking), or None at the end.
        If the pipeline ends with a gap (it was cancelled), what is held is handed
        out in order, skipping the gap."""
        while True:
            ready = self._take(self._next_out)
            if ready is not None:
                return ready
            result = self._pipeline.collect()
            if result is None:
                if not self._held:
                    self._log_summary()
                    return None
                self._next_out = min(self._held)
                continue
            if self.on_arrival is not None:
                self.on_arrival(result)
            seqs = self._seqs.get(self._result_id(result))
            if not seqs:  # not submitted through this wrapper: pass it on as it comes
                return result
            seq = seqs.popleft()
            self.arrivals.append(seq)
            if seq == self._next_out:
                self._advance()
                return result
            self.out_of_order += 1
            weight = max(0, int(self._weight(result)))
            self._held[seq] = (result, weight)
            self._held_bytes += weight
            self.peak_held = max(self.peak_held, len(self._held))
            self.peak_held_bytes = max(self.peak_held_bytes, self._held_bytes)

    def _take(self, seq: int) -> R | None:
        entry = self._held.pop(seq, None)
        if entry is None:
            return None
        self._held_bytes -= entry[1]
        self._advance()
        return entry[0]

    def _advance(self) -> None:
        self._next_out += 1
        self._room.set()

    def _log_summary(self) -> None:
        if self.arrivals:
            log.debug("%s: %d results, %d finished before an earlier one (held at most %d, %d bytes)",
                      self.name or "pipeline", len(self.arrivals), self.out_of_order, self.peak_held,
                      self.peak_held_bytes)
