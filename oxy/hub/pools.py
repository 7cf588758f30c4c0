"""The CPU pool, the I/O pool, and the one crossing from greenlets to native threads.

Every native-thread task in oxy goes through this module:

* :func:`run_blocking` runs a CPU kernel (decode, mips, BC7, vertex packing) on the
  import hub's **CPU pool**. It is the only public crossing; nothing else in oxy
  touches a thread pool, so nested calls cannot oversubscribe the machine.
* :func:`run_io` runs a blocking file call (``os.pread``, ``os.pwrite``, ``fsync``,
  ``os.replace``) on the small **I/O pool**, so file traffic never queues behind a
  long kernel. It is meant for ``oxy.hub``'s own file reader and writer.

Both block only the calling greenlet; the import hub keeps running. The task's
exception (if any) is re-raised in the calling greenlet. Tasks are wrapped so
that an exception never reaches gevent's worker machinery (which would print it).

Calling rules:

* from a greenlet on an import hub thread: dispatched to that hub's pool;
* from inside a task already running on a pool thread (nesting): run inline on
  that thread, because waiting on the pool from the pool could deadlock it;
* from anywhere else: :class:`NotOnImportHub` is raised. Plain synchronous code
  should call the ``oxy.cook`` function directly instead.

Cancellation: a running native task cannot be interrupted. Pass it a
:class:`~oxy.hub.cancel.CancelToken` and poll ``token.raise_if_cancelled()`` between
work items. If the waiting greenlet is killed, the task still finishes and its
result is dropped; the task's own token (:func:`current_task`, cancelled when the
waiting greenlet stops waiting) tells code that waits on something else from the pool
thread (the cook farm, :mod:`oxy.farm`) to give up and pass the cancel on.

Helpers (fork-join inside one task): :meth:`Pools.request_helpers`, callable from a
pool thread, spawns extra CPU-pool tasks through the hub's loop (a thread-safe
callback; the hub never blocks) that help the calling task with its remaining items
(:mod:`oxy.hub.fanout`: one large texture's strips spread over idle pool threads).

Remote execution: :attr:`Pools.farm` (None unless the owner sets it) is the cook farm
of this hub; a unit of cook work running on a pool thread finds it with
:func:`current_task` and sends its pure cook step there instead of running it on the
thread (the thread then only waits; the hub never does).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, TypeVar

import gevent
from gevent.threadpool import ThreadPool

from oxy.errors import OxyError
from oxy.hub._native import ThreadLocal, get_ident, threading_native_id
from oxy.hub.cancel import CancelToken

__all__ = ["NotOnImportHub", "Pools", "TaskContext", "current_task", "register_hub_thread", "run_blocking",
           "run_io"]

T = TypeVar("T")

_worker = ThreadLocal()
# Maps the native ident of each live import hub thread to its Pools.
_pools_by_thread: dict[int, Pools] = {}


class NotOnImportHub(OxyError, RuntimeError):
    """A hub-only operation was called from a thread that is not an import hub."""


def _lower_priority(nice: int) -> None:
    """Raise this thread's nice value by ``nice`` (Linux: per thread). Best effort."""
    _worker.niced = True
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except (OSError, AttributeError):
        pass


class TaskContext:
    """What a pool task can know about itself (see :func:`current_task`): the
    ``pools`` it runs on (so its hub's :attr:`Pools.farm`) and its ``token``,
    cancelled when the greenlet waiting for it stops waiting (killed or cancelled)."""

    __slots__ = ("pools", "token")

    def __init__(self, pools: Pools, token: CancelToken) -> None:
        self.pools = pools
        self.token = token


def current_task() -> TaskContext | None:
    """The :class:`TaskContext` of the pool task running on this thread (also inside
    nested, inline ``run_blocking`` calls), or None outside pool tasks. Any thread."""
    return getattr(_worker, "task", None)


def _run_in_worker(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], nice: int = 0,
    task: TaskContext | None = None,
) -> tuple[bool, Any]:
    """Runs on a pool thread: call ``fn`` and return ``(ok, value_or_exception)``."""
    if not getattr(_worker, "niced", False):
        _lower_priority(nice)
    _worker.in_pool = True
    _worker.task = task
    try:
        return True, fn(*args, **kwargs)
    except BaseException as error:  # noqa: BLE001 - re-raised in the waiting greenlet
        return False, error
    finally:
        _worker.in_pool = False
        _worker.task = None


class Pools:
    """The CPU pool and the I/O pool of one import hub.

    Thread rules: construct, use and :meth:`kill` only on the import hub thread
    (gevent's ``ThreadPool`` requires it). ``kill`` must run in a greenlet that
    may block (not in a hub callback): it waits for running tasks to end.
    """

    __slots__ = ("cpu", "io", "cpu_size", "io_size", "cpu_nice", "farm", "_hub", "_helpers")

    def __init__(self, hub: Any, cpu_threads: int | None = None, io_threads: int = 2, cpu_nice: int = 0) -> None:
        self.cpu_size = int(cpu_threads or os.cpu_count() or 1)
        self.io_size = int(io_threads)
        if self.cpu_size < 1 or self.io_size < 1:
            raise ValueError(f"pool sizes must be >= 1 (cpu={self.cpu_size}, io={self.io_size})")
        self.cpu_nice = max(0, int(cpu_nice))
        self._hub = hub
        self.cpu = ThreadPool(self.cpu_size, hub=hub)
        self.io = ThreadPool(self.io_size, hub=hub)
        #: The cook farm of this hub (an :class:`oxy.farm.Farm`), or None: set by the
        #: owner (``AsyncImportService(farm=)``) before any job runs.
        self.farm: Any = None
        #: Helper greenlets waiting for a CPU-pool slot (hub thread only).
        self._helpers: set[gevent.Greenlet] = set()

    def run_cpu(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the CPU pool; greenlet-blocking. Import hub thread only."""
        return self._run(self.cpu, fn, args, kwargs, self.cpu_nice)

    def run_io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the I/O pool; greenlet-blocking. Import hub thread only."""
        return self._run(self.io, fn, args, kwargs)

    def _run(
        self, pool: ThreadPool, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], nice: int = 0
    ) -> T:
        task = TaskContext(self, CancelToken())
        waiter = pool.spawn(_run_in_worker, fn, args, kwargs, nice, task)
        try:
            ok, value = waiter.get()
        except BaseException:
            task.token.cancel("the greenlet waiting for this task stopped waiting")
            raise
        if ok:
            return value
        raise value

    def request_helpers(self, fn: Callable[[], object], count: int) -> bool:
        """Ask for ``count`` extra CPU-pool tasks, each running ``fn()`` (which must not
        raise: its errors are dropped; :mod:`oxy.hub.fanout` records them itself).

        Safe from any thread (meant for a pool thread): the tasks are spawned by a
        callback on the hub's loop, each from its own greenlet, which waits for a free
        pool slot like any ``run_blocking`` caller, so the hub never blocks and a
        saturated pool runs them late (they then find no work and return). Nobody waits
        for their results. Returns False, spawning nothing, when the loop no longer
        takes callbacks (shutdown); the caller then works alone."""
        if count < 1:
            return True
        try:
            self._hub.loop.run_callback_threadsafe(self._spawn_helpers, fn, count)
        except Exception:  # noqa: BLE001 - a destroyed loop: no helpers, the caller works alone
            return False
        return True

    def _spawn_helpers(self, fn: Callable[[], object], count: int) -> None:
        """Hub callback (must not block): one greenlet per helper task."""
        for _ in range(count):
            helper = gevent.spawn(self._submit_helper, fn)
            self._helpers.add(helper)
            helper.link(self._helpers.discard)

    def _submit_helper(self, fn: Callable[[], object]) -> None:
        """Greenlet on the hub: wait for a CPU-pool slot, queue ``fn`` there, return."""
        self.cpu.spawn(_run_in_worker, fn, (), {}, self.cpu_nice, TaskContext(self, CancelToken()))

    @property
    def cpu_busy(self) -> int:
        """Tasks queued or running on the CPU pool (import hub thread only)."""
        return len(self.cpu)

    def kill(self, timeout: float = 30.0) -> None:
        """Stop both pools' threads after their current task and wait (greenlet-
        blocking, up to ``timeout`` s) until their thread states are gone, so a
        closed loop leaves no native thread behind. Import hub thread only."""
        idents = {
            getattr(worker, "_thread_ident", 0)
            for pool in (self.cpu, self.io)
            for worker in list(getattr(pool, "_worker_greenlets", ()))  # gevent internals, read-only
        }
        gevent.killall(list(self._helpers), block=False)
        self.cpu.kill()
        self.io.kill()
        idents.discard(0)
        waited = 0.0
        while idents & sys._current_frames().keys() and waited < timeout:
            gevent.sleep(0.001)
            waited += 0.001


def register_hub_thread(pools: Pools | None) -> None:
    """Bind (or with None, unbind) ``pools`` to the calling thread. Called by the loop."""
    ident = get_ident()
    if pools is None:
        _pools_by_thread.pop(ident, None)
    else:
        _pools_by_thread[ident] = pools


def current_pools() -> Pools | None:
    """The pools of the import hub running on this thread, or None."""
    return _pools_by_thread.get(get_ident())


def _dispatch(kind: str, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    if getattr(_worker, "in_pool", False):
        return fn(*args, **kwargs)
    pools = _pools_by_thread.get(get_ident())
    if pools is None:
        raise NotOnImportHub(
            f"{kind} called outside an import hub thread; call the function directly in synchronous code"
        )
    if kind == "run_blocking":
        return pools._run(pools.cpu, fn, args, kwargs, pools.cpu_nice)
    return pools._run(pools.io, fn, args, kwargs)


def run_blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` on the import hub's CPU pool and return its result.

    Blocks the calling greenlet only. Call from a greenlet on an import hub thread
    (or, nested, from a task already on a pool thread, where it runs inline).
    Raises whatever ``fn`` raised, or :class:`NotOnImportHub`.
    """
    return _dispatch("run_blocking", fn, args, kwargs)


def run_io(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Like :func:`run_blocking` but on the I/O pool; for blocking file calls only."""
    return _dispatch("run_io", fn, args, kwargs)
