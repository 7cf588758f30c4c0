"""Where a farm job's time goes: per-phase times of the units and tasks a farm ran.

Set ``farm.trace = FarmTrace()`` (:class:`oxy.farm.Farm`), run a job, read
:meth:`FarmTrace.summary`: for every unit, from the moment it was queued to the
moment its waiter had its outcome, split into the phases of the crossing
(:mod:`oxy.farm.batching`):

* ``queued``: in the client's queue (the batching window, or every task slot busy);
* ``submit``: ``client.submit`` (pickling the arguments, the message to the scheduler);
* ``to_worker``: from the submit's return to the task's start on a worker (the
  scheduler's decision, the transfer, unpickling, waiting in the worker's own queue);
* ``cook``: the units' own cook on the worker (the pure function plus its codec
  encode), and ``worker_other`` the rest of the task's time there;
* ``back``: from the task's end on the worker to Dask's done callback on the client
  (serialising the result, the worker's and the scheduler's messages);
* ``fetch``: the callback to the outcomes delivered (the ``gather`` round trip);
* ``wake``: the outcomes delivered to the waiting greenlet or thread running again.

Units cooked by the client's own threads (stolen from the queue, ``local_threads``)
have only ``queued`` and ``local_cook``. Times are wall clock (``time.time``) so that
the client's and the workers' can be compared: exact on one machine, off by the
clocks' skew across machines (the durations measured on one side never are).

Thread rules: the farm calls the trace from its fetch and local threads; read
:meth:`summary` from any thread once the units are done. Keeps every batch until
:meth:`clear`: for benchmarks, not for a long-running service.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oxy.farm.batching import Batch

__all__ = ["FarmTrace", "PHASES"]

#: The phases of :meth:`FarmTrace.summary`, in crossing order.
PHASES = ("queued", "submit", "to_worker", "cook", "worker_other", "back", "fetch", "wake", "local_cook")


class FarmTrace:
    """See the module docstring. Pass to the farm (``farm.trace = FarmTrace()``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches: list[Batch] = []

    def __call__(self, batch: Batch) -> None:
        """Record a finished batch (the farm calls this)."""
        with self._lock:
            self._batches.append(batch)

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()

    def summary(self) -> dict[str, Any]:
        """``units``, ``farm_units``, ``local_units``, ``tasks``, ``span`` (first queued
        to last woken, s) and ``phases``: for each of :data:`PHASES` the seconds summed
        over the units (a task's phases count once per unit it carried: the time each
        unit spent in it). Batches that failed or were cancelled are left out."""
        with self._lock:
            batches = [b for b in self._batches if b.outcomes is not None]
        phases = dict.fromkeys(PHASES, 0.0)
        units = local = tasks = 0
        first, last = float("inf"), 0.0
        for batch in batches:
            times, n = batch.times, len(batch.calls)
            units += n
            for call in batch.calls:
                phases["queued"] += max(0.0, times.get("sent", call.started) - call.started)
                first = min(first, call.started)
                if call.woken:
                    phases["wake"] += max(0.0, call.woken - times["fetched"])
                    last = max(last, call.woken)
            if batch.local:
                local += n
                phases["local_cook"] += times["done"] - times["sent"]
                continue
            tasks += 1
            phases["submit"] += n * (times["submitted"] - times["sent"])
            phases["fetch"] += n * max(0.0, times["fetched"] - times["done"])
            if batch.worker is not None:
                start, seconds, unit_seconds = batch.worker
                # the units of a task wait for each other: each unit's share of the task
                cook = sum(unit_seconds)
                phases["to_worker"] += n * max(0.0, start - times["submitted"])
                phases["cook"] += cook
                phases["worker_other"] += max(0.0, seconds - cook)
                phases["back"] += n * max(0.0, times["done"] - (start + seconds))
        return {"units": units, "farm_units": units - local, "local_units": local, "tasks": tasks,
                "span": max(0.0, last - first) if units else 0.0, "phases": phases}
