"""From units of cook work to Dask tasks: small units coalesced into one task, results per unit.

A Dask task costs a fixed overhead (submit, scheduling, a worker round trip, the
client's callback: about 0.1 s per task on a loaded 2-core machine), so a farm of
tiny textures was slower than cooking them locally. :class:`Batcher` sends each
unit (:class:`Call`) to the cluster through a queue of :class:`Batch` es:

* at most ``max_tasks`` Dask tasks are in flight; while they are, new units wait in
  the queue, and a *small* unit (``texels`` known and at most ``batch_texels``)
  joins the last queued batch of the same function if the batch stays within
  ``batch_texels`` and ``batch_units``. So batches form while the cluster is busy
  (the window is "until a task slot frees"), plus ``linger`` seconds after a small
  batch's first unit when a slot is free and another task is in flight (unless the
  batch is half full by texels already); on an idle farm the first unit goes at
  once. A large unit (or one whose size is unknown: a scene parse, a geometry, an
  image Pillow cannot size) is a batch of its own and never lingers.
* work stealing: while every task slot is busy, ``local_threads`` threads of this
  process take the unit at the tail of the queue (the one the cluster would get
  last) and run the same task function here (same bytes, same shared-cache write;
  its error is its outcome), so the client's idle cores help and the end of a job
  does not wait for a last batch on one worker while others idle.
* one Dask task runs a batch (:func:`oxy.farm.tasks.run_units`): every unit in
  turn, each one's failure caught and returned as *its* outcome, so a bad input
  in a batch fails only its unit.
* results are delivered per unit: the task's done callback frees its slot at once
  (the next batch goes), and a fetcher thread gathers the outcomes of every task
  done by then (one ``gather``; ``direct``: straight from the workers) and wakes
  each unit's :class:`~oxy.hub.future.CrossFuture`. Waiting for a unit never makes
  a blocking Dask call, so a greenlet on a hub can wait too (``wake`` is hub-aware).
* cancellation per unit: a unit still queued leaves its batch (an emptied batch is
  dropped); a unit already submitted in a batch of several is marked, and the
  submit thread broadcasts it to the workers (:func:`oxy.farm.tasks.cancel_units`,
  one ``client.run`` for every cancel gathered since the last), so the batch task
  skips it when it gets there; its task is cancelled on the cluster
  (``future.cancel()``) once every unit of the batch is cancelled. A unit already
  cooking (on a worker or here) finishes; its result is dropped.

Thread rules: :meth:`Batcher.start`, :meth:`Batcher.cancel` and
:meth:`Batcher.expire` from any thread, never blocking (also from a greenlet on a
hub); daemon threads of its own (``oxy-farm-submit``: submits, cancels and
broadcasts skips; ``oxy-farm-fetch``: gathers; ``oxy-farm-local-N``: cook stolen
units), started on first use and ended by :meth:`Batcher.close`. Failure modes:
a task that fails as a whole (``KilledWorker``, cancelled by a lost scheduler, an
OS error) sets :attr:`Batch.error` for all its units; a submit that raises does
the same. The farm (:mod:`oxy.farm.executor`) turns those into its errors.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import deque
from typing import Any, Callable

from oxy.farm import tasks
from oxy.farm.errors import RemoteFailure
from oxy.hub.future import CrossFuture

__all__ = ["Batch", "Batcher", "Call"]

log = logging.getLogger("oxy.farm")


class Call:
    """One unit of work for the farm: ``fn(*args)`` returning bytes. ``texels``: its
    size when known (small units can share a task); ``wake`` is set when its batch
    is done (or by whoever wants the waiter to look again: a cancel)."""

    __slots__ = ("fn", "args", "what", "sent", "texels", "wake", "batch", "index", "cancelled", "started", "woken")

    def __init__(self, fn: Callable[..., bytes], args: tuple[Any, ...], what: str, sent: int = 0,
                 texels: int | None = None) -> None:
        self.fn, self.args, self.what, self.sent, self.texels = fn, args, what, sent, texels
        self.wake: CrossFuture[None] = CrossFuture()
        self.batch: Batch | None = None
        self.index = -1          # position in its batch's task (set when submitted)
        self.cancelled = False
        self.started = time.time()  # queued (wall clock: the trace compares it with the workers')
        self.woken = 0.0            # its waiter had the outcome (set by the farm, for the trace)

    @property
    def done(self) -> bool:
        return self.batch is not None and self.batch.done

    def outcome(self) -> tuple[bool, Any]:
        """``(True, bytes)`` or ``(False, exception)`` for this unit; raises the
        batch's own error. Only once :attr:`done`."""
        batch = self.batch
        assert batch is not None and batch.done
        if batch.error is not None:
            raise batch.error
        assert batch.outcomes is not None
        return batch.outcomes[self.index]


class Batch:
    """Units of one function sent as one Dask task (see the module docstring)."""

    __slots__ = ("fn", "calls", "texels", "small", "submitted", "future", "key", "deadline", "outcomes", "error",
                 "done", "slot_held", "opened", "local", "times", "worker")

    def __init__(self, fn: Callable[..., bytes], small: bool, local: bool = False) -> None:
        self.fn = fn
        self.opened = time.monotonic()
        self.local = local       # cooked by one of the client's own threads (stolen from the queue)
        #: wall-clock times for the trace: sent (submit called), submitted (submit returned),
        #: done (Dask's callback, or the local cook's end), fetched (outcomes delivered)
        self.times = {"opened": time.time()}
        #: the worker's side, from the task's result: (wall start, task seconds, each unit's seconds)
        self.worker: tuple[float, float, list[float]] | None = None
        self.calls: list[Call] = []
        self.texels = 0
        self.small = small
        self.submitted = False
        self.future: Any = None
        self.key = ""
        self.deadline = 0.0
        self.outcomes: list[tuple[bool, Any]] | None = None
        self.error: BaseException | None = None
        self.done = False
        self.slot_held = False


class Batcher:
    """See the module docstring."""

    def __init__(self, client: Any, *, max_tasks: int, batch_texels: int, batch_units: int,
                 task_timeout: float, linger: float = 0.0, local_threads: int = 0, direct: bool | None = None,
                 trace: Callable[[Batch], object] | None = None) -> None:
        """``local_threads``: threads of this process that cook queued units themselves
        while every task slot is busy (0: none); ``direct``: fetch results straight from
        the workers (None: Dask's default, through the scheduler); ``trace``: called with
        every finished batch (:mod:`oxy.farm.trace`), on the thread that finished it."""
        if max_tasks < 1 or batch_units < 1 or batch_texels < 0 or linger < 0 or local_threads < 0:
            raise ValueError("max_tasks and batch_units must be >= 1, batch_texels, linger and local_threads >= 0")
        self.client = client
        self.max_tasks, self.batch_texels, self.batch_units = max_tasks, batch_texels, batch_units
        self.linger = linger
        self.task_timeout = task_timeout
        self.local_threads = local_threads
        self.direct = direct
        self.trace = trace
        #: size submitted batches by guided self-scheduling (:meth:`_take`); False: whole queued batches
        self.guided = True
        self._cond = threading.Condition()
        self._queue: deque[Batch] = deque()
        self._tasks = 0
        self._cancels: list[Batch] = []   # submitted tasks to cancel on the cluster (submit thread)
        self._skips: dict[str, set[int]] = {}  # units of submitted tasks the workers should skip (submit thread)
        self._closed = False
        self._done: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        #: Dask tasks submitted; units that travelled in a task with others; most tasks at
        #: once; units cooked by this process's own threads; per-unit cancels broadcast.
        self.tasks_submitted = 0
        self.units_batched = 0
        self.peak_tasks = 0
        self.units_local = 0
        self.skips_sent = 0

    # -- any thread ---------------------------------------------------------------------------------
    def start(self, call: Call) -> None:
        """Queue ``call`` (joining a queued batch when it is small and fits)."""
        small = call.texels is not None and call.texels <= self.batch_texels
        with self._cond:
            if self._closed:
                raise RuntimeError("the farm is closed")
            if not self._threads:
                self._threads = [threading.Thread(target=self._submit_loop, name="oxy-farm-submit", daemon=True),
                                 threading.Thread(target=self._fetch_loop, name="oxy-farm-fetch", daemon=True)]
                self._threads += [threading.Thread(target=self._local_loop, name=f"oxy-farm-local-{i}", daemon=True)
                                  for i in range(self.local_threads)]
                for thread in self._threads:
                    thread.start()
            batch = self._queue[-1] if self._queue else None
            if not (small and batch is not None and batch.small and batch.fn is call.fn
                    and len(batch.calls) < self.batch_units
                    and batch.texels + int(call.texels or 0) <= self.batch_texels):
                batch = Batch(call.fn, small)
                self._queue.append(batch)
            batch.calls.append(call)
            batch.texels += int(call.texels or 0)
            call.batch = batch
            self._cond.notify_all()

    def cancel(self, call: Call) -> None:
        """Cancel one unit: out of its queued batch; or, submitted, marked and the workers
        told to skip it (:func:`oxy.farm.tasks.cancel_units`: a batch task looks before
        each unit), and its task cancelled on the cluster (``future.cancel()``) when no
        unit of it is still wanted; or, cooking on a local thread, its result dropped.
        Never blocks (the submit thread talks to Dask)."""
        with self._cond:
            if call.cancelled:
                return
            call.cancelled = True
            batch = call.batch
            if batch is None or batch.done:
                return
            if not batch.submitted:
                batch.calls.remove(call)
                batch.texels -= int(call.texels or 0)
                if not batch.calls and batch in self._queue:
                    self._queue.remove(batch)
                return
            if batch.future is None:
                return  # being submitted (or cooked here): _submit looks at the cancelled units
            if len(batch.calls) > 1:
                self._skips.setdefault(batch.key, set()).add(call.index)
            if all(c.cancelled for c in batch.calls):
                self._free_slot(batch)
                self._cancels.append(batch)
            self._cond.notify_all()

    def expire(self, batch: Batch) -> None:
        """Give up on a submitted batch (its task timed out): cancel it on the cluster."""
        with self._cond:
            self._free_slot(batch)
            if batch.future is not None:
                self._cancels.append(batch)
                self._cond.notify_all()

    @property
    def tasks_in_flight(self) -> int:
        return self._tasks

    def close(self) -> None:
        """Stop the threads; queued units are woken (their waiters see the farm closed)."""
        with self._cond:
            self._closed = True
            queued = [c for b in self._queue for c in b.calls]
            self._queue.clear()
            self._cond.notify_all()
        self._done.put(None)
        for call in queued:
            call.wake.set_result(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(10)

    # -- the submit thread ---------------------------------------------------------------------------
    def _free_slot(self, batch: Batch) -> None:
        """Under ``_cond``: the batch no longer holds a task slot."""
        if batch.slot_held:
            batch.slot_held = False
            self._tasks -= 1
            self._cond.notify_all()

    def _submit_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._cancels and not self._skips \
                        and not (self._queue and self._tasks < self.max_tasks):
                    self._cond.wait()
                if self._closed:
                    return
                cancels, self._cancels = self._cancels, []
                skips, self._skips = self._skips, {}
            self._tell_cluster(cancels, skips)
            with self._cond:
                if self._closed:
                    return
                if not (self._queue and self._tasks < self.max_tasks):
                    continue
                head = self._queue[0]
                wait = head.opened + self.linger - time.monotonic()
                if head.small and wait > 0 and self._tasks > 0 and not self._full(head):
                    self._cond.wait(wait)  # a slot is free: let a few more small units join first
                    continue
                batch = self._take(head)
                batch.submitted = True
                for index, call in enumerate(batch.calls):
                    call.index = index
                calls = list(batch.calls)
                if not calls:
                    continue
                batch.slot_held = True
                self._tasks += 1
                self.peak_tasks = max(self.peak_tasks, self._tasks)
            self._submit(batch, calls)

    def _tell_cluster(self, cancels: list[Batch], skips: dict[str, set[int]]) -> None:
        """Cancel whole tasks (``future.cancel()``) and broadcast the units to skip to
        every worker (one ``client.run`` for all of them; the task looks between units)."""
        if skips:
            try:
                # returns once every worker has the marks (cancel_units is synchronous there)
                self.client.run(tasks.cancel_units, {key: sorted(units) for key, units in skips.items()},
                                on_error="ignore")
                self.skips_sent += sum(len(units) for units in skips.values())
            except Exception as exc:  # noqa: BLE001 - a lost client cannot tell anyone; the results are dropped
                log.debug("telling the workers to skip %d units: %s", len(skips), exc)
        for batch in cancels:
            try:
                batch.future.cancel()
            except Exception as exc:  # noqa: BLE001 - a lost client cannot cancel; nothing more to do
                log.debug("cancelling %s: %s", batch.key, exc)

    def _take(self, head: Batch) -> Batch:
        """Under ``_cond``: the batch to submit from the queue's head, sized by guided
        self-scheduling: at most the units queued divided by ``max_tasks`` (rounded
        up), so batches are large while much is queued and shrink to single units as
        the queue drains (the end of a job is not one long batch on one worker while
        the others idle). The rest of the head batch stays queued."""
        queued = sum(len(b.calls) for b in self._queue)
        take = max(1, -(-queued // self.max_tasks))
        if not head.small or not self.guided or take >= len(head.calls):
            return self._queue.popleft()
        batch = Batch(head.fn, True)
        batch.opened, batch.times = head.opened, dict(head.times)
        batch.calls, head.calls = head.calls[:take], head.calls[take:]
        batch.texels = sum(int(c.texels or 0) for c in batch.calls)
        head.texels -= batch.texels
        for call in batch.calls:
            call.batch = batch
        return batch

    def _full(self, batch: Batch) -> bool:
        return len(batch.calls) >= self.batch_units or 2 * batch.texels >= self.batch_texels

    def _submit(self, batch: Batch, calls: list[Call]) -> None:
        name = getattr(batch.fn, "__name__", "task").removesuffix("_task")
        batch.key = f"oxy-{name}-{uuid.uuid4().hex}" if len(calls) == 1 else \
            f"oxy-{name}-{len(calls)}x-{uuid.uuid4().hex}"
        batch.times["sent"] = time.time()
        try:
            future = self.client.submit(tasks.run_units, batch.fn, [c.args for c in calls], batch.key if
                                        len(calls) > 1 else None, key=batch.key, pure=False)
        except Exception as exc:  # noqa: BLE001 - every unit of the batch gets it
            batch.error = exc
            with self._cond:
                self._free_slot(batch)
            self._finish(batch)
            return
        batch.times["submitted"] = time.time()
        with self._cond:
            batch.future = future
            batch.deadline = time.monotonic() + self.task_timeout
            self.tasks_submitted += 1
            if len(calls) > 1:
                self.units_batched += len(calls)
                skipped = {c.index for c in calls if c.cancelled}
                if skipped:  # cancelled while being submitted
                    self._skips.setdefault(batch.key, set()).update(skipped)
                    self._cond.notify_all()
            unwanted = all(c.cancelled for c in calls)
            if unwanted:
                self._free_slot(batch)
        if unwanted:
            future.cancel()
        future.add_done_callback(lambda _f: self._task_done(batch))

    # -- the local threads ------------------------------------------------------------------------------
    def _local_loop(self) -> None:
        """Cook queued units here while every task slot is busy: the last unit of the
        last queued batch (the one the cluster would get last), run as a worker would
        (``run_units``' way: the same function, the same bytes, its error its outcome)."""
        while True:
            with self._cond:
                while not self._closed and not (self._queue and self._tasks >= self.max_tasks):
                    self._cond.wait()
                if self._closed:
                    return
                call = self._steal()
            batch = call.batch
            assert batch is not None
            batch.times["sent"] = batch.times["submitted"] = time.time()
            start = time.perf_counter()
            outcome: tuple[bool, Any]
            if call.cancelled:
                outcome = (False, RemoteFailure("Cancelled", ()))
            else:
                try:
                    outcome = (True, call.fn(*call.args))
                except Exception as exc:  # noqa: BLE001 - the unit's own outcome, as on a worker
                    outcome = (False, exc)
            seconds = time.perf_counter() - start
            batch.worker = (batch.times["sent"], seconds, [seconds])
            batch.times["done"] = time.time()
            batch.outcomes = [outcome]
            self._finish(batch)

    def _steal(self) -> Call:
        """Under ``_cond``, with a non-empty queue: take the tail unit out of the queue
        as a batch of its own, cooked here."""
        tail = self._queue[-1]
        call = tail.calls.pop()
        tail.texels -= int(call.texels or 0)
        if not tail.calls:
            self._queue.pop()
        batch = Batch(call.fn, tail.small, local=True)
        batch.submitted = True
        batch.calls.append(call)
        call.batch, call.index = batch, 0
        self.units_local += 1
        return batch.calls[0]

    # -- Dask's callback thread, then the fetch thread ---------------------------------------------------
    def _task_done(self, batch: Batch) -> None:
        batch.times["done"] = time.time()
        with self._cond:
            self._free_slot(batch)  # the next batch may go while this one's results are fetched
        self._done.put(batch)

    def _fetch_loop(self) -> None:
        """Gather finished tasks' outcomes: every batch done by now in one
        ``client.gather`` (one round trip for many tasks), a failed or cancelled one
        on its own (its error is every unit's)."""
        while (first := self._done.get()) is not None:
            batches, stop = [first], False
            while True:
                try:
                    more = self._done.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batches.append(more)
            finished = [b for b in batches if getattr(b.future, "status", "") == "finished"]
            if finished:
                try:
                    values = self.client.gather([b.future for b in finished], direct=self.direct)
                except BaseException as exc:  # noqa: BLE001 - each is fetched on its own below
                    log.debug("gathering %d farm results at once failed (%s); one by one", len(finished), exc)
                else:
                    for batch, value in zip(finished, values):
                        self._settle(batch, value)
            for batch in batches:
                if not batch.done:
                    try:
                        value = batch.future.result(timeout=self.task_timeout)
                    except BaseException as exc:  # noqa: BLE001 - the batch's own failure, for every unit
                        batch.error = exc
                        self._release(batch)
                        self._finish(batch)
                    else:
                        self._settle(batch, value)
            if stop:
                return

    def _settle(self, batch: Batch, value: Any) -> None:
        if not (isinstance(value, tuple) and len(value) == 4 and isinstance(value[0], list)
                and len(value[0]) == len(batch.calls)):
            batch.error = TypeError(f"the farm task {batch.key} returned {type(value).__name__}, "
                                    f"not {len(batch.calls)} outcomes")
        else:
            batch.outcomes, batch.worker = value[0], (value[1], value[2], value[3])
        self._release(batch)
        self._finish(batch)

    @staticmethod
    def _release(batch: Batch) -> None:
        try:
            batch.future.release()
        except Exception:  # noqa: BLE001 - a closed client: nothing to release
            pass

    def _finish(self, batch: Batch) -> None:
        batch.times["fetched"] = time.time()
        batch.done = True
        for call in batch.calls:
            call.wake.set_result(None)
        if self.trace is not None:
            try:
                self.trace(batch)
            except Exception:  # noqa: BLE001 - a trace must never break the farm
                log.exception("farm trace failed")
