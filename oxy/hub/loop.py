"""The import event loop: a real thread running its own gevent hub.

:class:`ImportLoop` starts one native thread (native even after
``gevent.monkey.patch_all()``), creates a gevent hub there, the CPU pool and the
I/O pool, and only then lets the constructor return (a latch). Everything that
lives on the import hub (jobs, sessions, emitters, writers) is touched by that one
thread, so it needs no locks.

Crossing in: :meth:`ImportLoop.post` (run a short callback in the hub),
:meth:`ImportLoop.spawn` (start a greenlet) and :meth:`ImportLoop.submit` (start
a greenlet and get a :class:`~oxy.hub.future.CrossFuture`) are safe from any
thread; they use the loop's ``run_callback_threadsafe``.

Shutdown has two flags. :attr:`shutdown_requested` flips at once on
:meth:`request_shutdown` (non-blocking, any thread). The hub thread then runs the
shutdown hooks (newest first; each may block its greenlet), kills the greenlets
started with :meth:`spawn`, stops the pools, destroys the hub *on its own thread*
and sets :attr:`shutdown_complete`. :meth:`close` does all that and joins the
thread.
"""
from __future__ import annotations

import itertools
import logging
from typing import Any, Callable, Sequence, TypeVar

import gevent
from gevent.event import Event
from gevent.pool import Group

from oxy.errors import OxyError
from oxy.hub._native import NativeThread, allocate_lock, get_ident
from oxy.hub.future import CrossFuture
from oxy.hub.pools import Pools, register_hub_thread

__all__ = ["ImportLoop", "LoopClosed", "current_loop"]

T = TypeVar("T")
log = logging.getLogger("oxy.hub")

# Native ident of each live import hub thread -> its loop.
_loops_by_thread: dict[int, ImportLoop] = {}

GREENLET_KILL_TIMEOUT = 10.0


class LoopClosed(OxyError, RuntimeError):
    """The import loop no longer accepts work (shutdown requested or complete)."""


def current_loop() -> ImportLoop | None:
    """The :class:`ImportLoop` whose hub runs on the calling thread, or None."""
    return _loops_by_thread.get(get_ident())


class ImportLoop:
    """A dedicated thread with its own gevent hub, CPU pool and I/O pool.

    Thread rules: the constructor, :meth:`post`, :meth:`spawn`, :meth:`submit`,
    :meth:`request_shutdown` and the two flags are safe from any thread.
    :meth:`close` is safe from any thread except the hub's own. ``hub``, ``pools``
    and :meth:`add_shutdown_hook` belong to the import hub thread only.

    Failure modes: if the hub or a pool cannot be created the constructor raises
    the original error after the thread has ended. The constructor waits for the
    latch greenlet-style when the calling thread runs a gevent hub. The owner's
    ``shutdown_hooks`` run first at shutdown, in the given order (an owner such as
    the import service stops its work there), then the hooks added with
    :meth:`add_shutdown_hook` (resources such as writers), newest first.
    :meth:`close` with a timeout
    raises ``TimeoutError`` when a task ignores cancellation and outlives it.
    """

    __slots__ = (
        "name", "hub", "pools", "_thread", "_ready", "_startup_error", "_stop", "_hooks", "_owner_hooks",
        "_greenlets", "_post_lock", "_posts_open", "_shutdown_requested", "_shutdown_complete",
        "_cpu_threads", "_io_threads", "_stop_watcher", "_done", "_hook_keys", "_cpu_nice",
    )

    def __init__(
        self,
        *,
        cpu_threads: int | None = None,
        io_threads: int = 2,
        name: str = "oxy-import-hub",
        start_timeout: float = 60.0,
        shutdown_hooks: Sequence[Callable[[], object]] = (),
        cpu_nice: int = 0,
    ) -> None:
        self.name = name
        self.hub: Any = None
        self.pools: Pools | None = None
        self._cpu_threads = cpu_threads
        self._io_threads = io_threads
        self._cpu_nice = cpu_nice
        self._ready: CrossFuture[None] = CrossFuture()
        self._startup_error: BaseException | None = None
        self._stop: Event | None = None
        self._stop_watcher: Any = None
        self._done: CrossFuture[None] = CrossFuture()
        self._hooks: dict[int, Callable[[], object]] = {}
        self._hook_keys = itertools.count()
        self._owner_hooks = list(shutdown_hooks)
        self._greenlets: Group | None = None
        self._post_lock = allocate_lock()
        self._posts_open = False
        self._shutdown_requested = False
        self._shutdown_complete = False
        self._thread = NativeThread(self._main, name)
        self._thread.start()
        if not self._ready.wait(start_timeout):
            self.request_shutdown()
            raise TimeoutError(f"{name}: hub thread did not start within {start_timeout} s")
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error

    # -- the hub thread ----------------------------------------------------------
    def _main(self) -> None:
        hub = None
        try:
            hub = gevent.get_hub()
            hub.name = self.name
            self.hub = hub
            self._stop = Event()
            # A referenced async watcher: keeps the loop alive while the main
            # greenlet waits, and is the thread-safe way to wake it for shutdown.
            self._stop_watcher = hub.loop.async_()
            self._stop_watcher.start(self._stop.set)
            self._greenlets = Group()
            self.pools = Pools(hub, self._cpu_threads, self._io_threads, self._cpu_nice)
            register_hub_thread(self.pools)
            _loops_by_thread[get_ident()] = self
            with self._post_lock:
                self._posts_open = True
        except BaseException as error:  # noqa: BLE001 - reported by the constructor
            self._startup_error = error
            self._teardown(hub)
            self._ready.set_result(None)
            self._done.set_result(None)
            return
        self._ready.set_result(None)
        try:
            self._stop.wait()
            self._run_shutdown()
        finally:
            self._teardown(hub)
            self._done.set_result(None)

    def _run_shutdown(self) -> None:
        owner_hooks, self._owner_hooks = self._owner_hooks, []
        for hook in owner_hooks:
            self._call_hook(hook)
        while self._hooks:
            self._call_hook(self._hooks.popitem()[1])
        assert self._greenlets is not None
        self._greenlets.kill(block=True, timeout=GREENLET_KILL_TIMEOUT)
        with self._post_lock:
            self._posts_open = False
        gevent.sleep(0)  # run callbacks that were queued before the door closed
        if self.pools is not None:
            self.pools.kill()

    def _call_hook(self, hook: Callable[[], object]) -> None:
        try:
            hook()
        except Exception:  # noqa: BLE001 - one failing hook must not skip the others
            log.exception("%s: shutdown hook %r failed", self.name, hook)

    def _teardown(self, hub: Any) -> None:
        with self._post_lock:
            self._posts_open = False
        _loops_by_thread.pop(get_ident(), None)
        register_hub_thread(None)
        self.pools = None
        self._greenlets = None
        self._stop = None
        if self._stop_watcher is not None:
            self._stop_watcher.stop()
            self._stop_watcher.close()
            self._stop_watcher = None
        self.hub = None
        if hub is not None:
            _destroy_hub(hub)
        self._shutdown_complete = True

    # -- crossing in (any thread) ---------------------------------------------------
    def post(self, fn: Callable[..., object], *args: Any) -> bool:
        """Queue ``fn(*args)`` to run inside the hub (the hub greenlet itself).

        Safe from any thread. ``fn`` must not block (use :meth:`spawn` for that)
        and must not raise (errors are logged). Returns False, without queueing,
        once the loop has stopped taking callbacks late in shutdown.
        """
        with self._post_lock:
            if not self._posts_open:
                return False
            self.hub.loop.run_callback_threadsafe(_guarded, self.name, fn, args)
            return True

    def spawn(self, fn: Callable[..., object], *args: Any) -> bool:
        """Run ``fn(*args)`` in a new greenlet on the import hub. Safe from any thread.

        The greenlet may block (greenlet-style). It is killed if still running
        when shutdown reaches that step. Errors are logged. False if not queued.
        """
        return self.post(self._spawn_here, fn, args)

    def _spawn_here(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        if self._greenlets is not None:
            self._greenlets.spawn(_guarded, self.name, fn, args)

    def submit(self, fn: Callable[..., T], *args: Any) -> CrossFuture[T]:
        """Run ``fn(*args)`` in a greenlet on the hub; the future gets its result.

        Safe from any thread. Raises :class:`LoopClosed` if the loop stopped taking
        work; if the greenlet is killed by shutdown the future gets ``LoopClosed``.
        """
        future: CrossFuture[T] = CrossFuture()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except gevent.GreenletExit:
                future.set_exception(LoopClosed(f"{self.name}: shut down before the call finished"))
                raise
            except BaseException as error:  # noqa: BLE001 - handed to the waiter
                future.set_exception(error)

        if not self.spawn(run):
            raise LoopClosed(f"{self.name} is shut down")
        return future

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """``submit(fn, *args).result(timeout)``; not from the hub thread itself."""
        return self.submit(fn, *args).result(timeout)

    def on_hub_thread(self) -> bool:
        """True when called from this loop's hub thread."""
        return get_ident() == self._thread.ident

    # -- hub-thread helpers -------------------------------------------------------------
    def add_shutdown_hook(self, hook: Callable[[], object]) -> Callable[[], None]:
        """Run ``hook()`` on the hub thread at shutdown, newest first, before the
        pools stop. The hook may block its greenlet. Import hub thread only.

        Returns a function that removes the hook (for owners closed earlier).
        """
        key = next(self._hook_keys)
        self._hooks[key] = hook
        return lambda: self._hooks.pop(key, None) and None

    # -- shutdown ---------------------------------------------------------------------
    @property
    def shutdown_requested(self) -> bool:
        """True once shutdown was requested: stop accepting new work."""
        return self._shutdown_requested

    @property
    def shutdown_complete(self) -> bool:
        """True once cleanup ran (hooks, pools, hub destroyed). Set exactly once."""
        return self._shutdown_complete

    def request_shutdown(self) -> None:
        """Begin shutdown; returns at once. Safe from any thread; idempotent."""
        with self._post_lock:
            if self._shutdown_requested:
                return
            self._shutdown_requested = True
            if self._posts_open:
                self._stop_watcher.send()

    def close(self, timeout: float | None = None) -> None:
        """Request shutdown and wait until the hub thread has ended.

        Greenlet-blocking when the caller runs a gevent hub, thread-blocking
        otherwise. Raises ``RuntimeError`` from the hub thread itself and
        ``TimeoutError`` when ``timeout`` expires first.
        """
        if self.on_hub_thread():
            raise RuntimeError(f"{self.name}: close() called from its own hub thread")
        self.request_shutdown()
        if not self._done.wait(timeout) or not self._thread.join(timeout):
            raise TimeoutError(f"{self.name}: hub thread still running after {timeout} s")

    def __enter__(self) -> ImportLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "complete" if self._shutdown_complete else "requested" if self._shutdown_requested else "running"
        return f"<ImportLoop {self.name} shutdown={state}>"


def _guarded(name: str, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
    except gevent.GreenletExit:
        raise
    except Exception:  # noqa: BLE001 - logged, never allowed to reach the hub
        log.exception("%s: %r failed", name, fn)


def _destroy_hub(hub: Any) -> None:
    """Destroy ``hub`` on its own thread so that nothing of it outlives the thread.

    The hub greenlet must end, not stay suspended: a greenlet parked forever in a
    thread that then exits keeps its frames, the hub and the thread's main greenlet
    alive for good. ``join`` lets the loop run dry, which parks the hub greenlet in
    its final ``LoopExit`` throw, where ``destroy``'s ``HubDestroyed`` ends it; the
    extra ``throw`` covers a loop that still had watchers when ``join`` gave up.
    """
    try:
        hub.join(timeout=1.0)
    except Exception:  # noqa: BLE001 - best effort; destroy below still runs
        log.exception("joining hub %r failed", hub)
    hub.destroy(destroy_loop=True)
    if not hub.dead:
        try:
            hub.throw(gevent.GreenletExit)
        except gevent.GreenletExit:
            pass
