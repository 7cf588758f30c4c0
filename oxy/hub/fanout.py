"""Fork-join with caller-runs: one pool task spreads its items over idle CPU-pool threads.

A task already running on a CPU-pool thread of an import hub (the cook of one large
texture) calls :func:`spread` with ``count`` independent items (strips of block
rows). The calling thread puts them in a shared claim queue, asks its hub for up to
``pool size - 1`` *helper* tasks (:meth:`oxy.hub.pools.Pools.request_helpers`, the
one place that submits to the pool), and claims items itself until none are left.
Then it waits only for items that helpers have claimed and are still running, never
for unclaimed work, so it cannot deadlock even when every pool thread is busy: a
helper that starts late (the pool was saturated with other textures) finds nothing
and returns at once. Results are placed by item index, so the output is the same
for any number of threads and any interleaving.

Thread rules: :func:`spread` runs ``work(i)`` on the calling thread and on helper
pool threads concurrently (``work`` must be safe for that: a GIL-free kernel on
disjoint inputs); ``after(i)`` runs only on the calling thread, once per finished
item (in completion order as the caller sees it: after each of its own items and
whenever a helper's item is done while it waits).

Cancellation and failures: what ``after`` raises (a cancel), a cancelled task token
(:func:`oxy.hub.pools.current_task`; the texture pipeline links the job's token to
it) or an exception from ``work`` on any thread stops the claiming everywhere; the
caller waits for the items helpers are running (at most one per helper), then
raises the first error (a helper's exception object is re-raised on the caller).
Outside a pool task, on a one-thread pool, with fewer than two items, or with
:data:`ENABLED` false, :func:`spread` returns None and the caller works alone.
"""
from __future__ import annotations

import os
from typing import Callable, Generic, TypeVar

from oxy.errors import OperationCancelled
from oxy.hub._native import allocate_lock
from oxy.hub.cancel import CancelToken
from oxy.hub.pools import current_task

__all__ = ["ENABLED", "spread"]

T = TypeVar("T")

#: Master switch (benchmarks compare with and without; ``OXY_FANOUT=0`` turns it off).
ENABLED: bool = os.environ.get("OXY_FANOUT", "1") not in ("0", "off", "false", "no")


class _Signal:
    """A binary semaphore on a native lock: :meth:`notify` from any thread wakes one
    :meth:`wait` (a notify with nobody waiting is remembered once)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._lock.acquire()

    def notify(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:  # already signalled
            pass

    def wait(self, timeout: float) -> None:
        self._lock.acquire(True, timeout)


class _Spread(Generic[T]):
    """The shared state of one fork-join: the claim cursor, results by index, the
    items finished by helpers (not yet reported), and the first error."""

    def __init__(self, work: Callable[[int], T], count: int, token: CancelToken) -> None:
        self.work = work
        self.count = count
        self.token = token
        self.lock = allocate_lock()
        self.wake = _Signal()
        self.cursor = 0
        self.running = 0          # items claimed by helpers and not finished
        self.stopped = False
        self.error: BaseException | None = None
        self.results: list[T | None] = [None] * count
        self.finished: list[int] = []

    def claim(self, helper: bool) -> int | None:
        with self.lock:
            if self.stopped or self.token.cancelled or self.cursor >= self.count:
                return None
            index = self.cursor
            self.cursor += 1
            if helper:
                self.running += 1
            return index

    def stop(self, error: BaseException | None = None) -> None:
        with self.lock:
            self.stopped = True
            if error is not None and self.error is None:
                self.error = error

    def help(self) -> None:
        """A helper task's body (runs on another pool thread): claim and run items
        until none are left or the spread stopped."""
        while (index := self.claim(helper=True)) is not None:
            try:
                result = self.work(index)
            except BaseException as error:  # noqa: BLE001 - re-raised on the caller
                with self.lock:  # one step: the caller never sees the item ended without its error
                    self.running -= 1
                    self.stopped = True
                    if self.error is None:
                        self.error = error
                self.wake.notify()
                return
            with self.lock:
                self.results[index] = result
                self.finished.append(index)
                self.running -= 1
            self.wake.notify()

    def drain(self) -> tuple[list[int], int, BaseException | None]:
        """Items finished by helpers since the last call, items helpers are running, the
        first error: read together, under the lock."""
        with self.lock:
            finished, self.finished = self.finished, []
            return finished, self.running, self.error


def spread(work: Callable[[int], T], count: int, after: Callable[[int], None] | None = None) -> list[T] | None:
    """Run ``work(0) .. work(count - 1)`` on this pool thread and idle pool threads of
    its hub; return the results in index order, or None (nothing run) when this is no
    place to fan out (see the module docstring). ``after(i)`` is called on this thread
    once per finished item. Raises the first error of any item, what ``after`` raised,
    or :class:`OperationCancelled` when the task's token was cancelled."""
    task = current_task()
    if not ENABLED or task is None or count < 2 or task.pools.cpu_size < 2:
        return None
    state = _Spread(work, count, task.token)
    task.pools.request_helpers(state.help, min(task.pools.cpu_size - 1, count - 1))
    try:
        while (index := state.claim(helper=False)) is not None:
            state.results[index] = work(index)
            if after is not None:
                after(index)
            finished, _running, _error = state.drain()
            for done in finished:
                if after is not None:
                    after(done)
        while True:
            finished, running, error = state.drain()
            for done in finished:
                if after is not None:
                    after(done)
            if error is not None:
                raise error
            if running == 0:
                break
            state.wake.wait(1.0)
    except BaseException as error:
        state.stop(error)
        _wait_helpers(state)
        raise
    if state.cursor < count:  # stopped early: the task's token was cancelled
        state.token.raise_if_cancelled()
        raise OperationCancelled("the fan-out stopped before every item ran")  # pragma: no cover - defensive
    return list(state.results)  # type: ignore[arg-type]


def _wait_helpers(state: _Spread[T]) -> None:
    """After a failure on the caller: wait for the items helpers are running (no
    more are claimed), so nothing of this spread runs once the caller has left."""
    while True:
        _finished, running, _error = state.drain()
        if running == 0:
            return
        state.wake.wait(1.0)
