"""Serving one request: its listener, its handle, its callback, its placeholder.

A request (``load_*``, ``start_load_*``, a bundle member) is served by
:meth:`RequestServer.serve`, a plain call on the owning hub (a loop callback; no
greenlet): it attaches a :class:`_Request` listener to the key's load in the
:class:`~oxy.runtime.engine.LoadEngine` (a cache hit settles it at once). When the
load settles, the listener settles the request's
:class:`~oxy.runtime.handles.LoadHandle` and queues its callback. A request
cancelled meanwhile is detached from its load (which stops when nobody else
waits), or gives its reference back if the value was already on its way. A failed
request with ``fallback`` completes with a placeholder: the object built around
its failed dependencies' placeholders when there is one (a material whose texture
failed, with the checker texture), else its kind's (:mod:`oxy.runtime.placeholders`),
and keeps the error. Loads from memory (:meth:`serve_buffer`) decode the caller's
bytes in a greenlet of their own.

**Callbacks are published in batches.** ``callback(value, error)`` runs on the
owning hub in the loader's *publisher* greenlet, which drains the queue of settled
requests, yielding to the hub after every :data:`PUBLISH_BATCH` callbacks: many
completions per hub wake-up, and the hub's other work (timers, I/O) never waits
for more than one batch. A callback may block greenlet-style; the callbacks queued
behind it wait meanwhile. :meth:`flush` runs what is queued (at stop).

Thread rules: owning hub only. An exception a callback raises is logged, never
propagated. Failure modes: the request's error goes to its handle and callback;
nothing is raised from here.
"""
from __future__ import annotations

import collections
import logging
from typing import Any, Callable

import gevent

from oxy.errors import OperationCancelled
from oxy.formats import BufferResourceDesc, TextureResourceDesc
from oxy.hub import allocate_lock, run_blocking
from oxy.runtime.decoders import Where, decode_resource
from oxy.runtime.engine import Key, LoadEngine, gate_rank, timed
from oxy.runtime.errors import AssetNotFound
from oxy.runtime.handles import LOADING, LoadHandle
from oxy.runtime.keys import ResourceKey, ResourceKind
from oxy.runtime.placeholders import placeholder_for
from oxy.runtime.progress import ProgressCounter

__all__ = ["Callback", "Intake", "PUBLISH_BATCH", "RequestServer", "yield_to_loop"]

log = logging.getLogger("oxy.runtime")
Callback = Callable[[Any, BaseException | None], object]
#: Callbacks the publisher runs (requests the intake serves) before it yields to the hub's loop.
PUBLISH_BATCH = 32


def yield_to_loop() -> None:
    """Let the hub's loop run one iteration (timers, I/O, other greenlets) before this
    greenlet goes on. ``gevent.sleep(0)`` would not: it only reschedules the greenlet
    among the loop's callbacks, which may run again before any timer fires."""
    gevent.sleep(1e-6)


class Intake:
    """Requests arriving from any thread, served on the owning hub in batches.

    ``submit(*args)`` (any thread) queues ``serve(*args)``; the first submission
    while the queue is idle posts *one* loop callback that starts a drain greenlet
    (``spawn``), which serves :data:`PUBLISH_BATCH` requests, lets the loop run an
    iteration (:func:`yield_to_loop`), and so on until the queue is empty. A burst
    of 1,200 requests is one cross-thread wake-up and ~40 short hub turns, not
    1,200 loop callbacks run back to back (gevent runs queued callbacks for up to
    the switch interval, 5 ms, before it looks at its timers).

    Thread rules: ``submit`` from any thread; the drain runs on the owning hub.
    ``drain_now`` (owning hub) serves what is queued at once (at stop, refused).
    Failure modes: ``submit`` returns False when the loop no longer takes callbacks.
    """

    __slots__ = ("_queue", "_lock", "_posted", "_post", "_spawn", "_serve")

    def __init__(self, post: Callable[..., bool], spawn: Callable[..., object],
                 serve: Callable[..., object]) -> None:
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._lock = allocate_lock()
        self._posted = False
        self._post, self._spawn, self._serve = post, spawn, serve

    def submit(self, *args: Any) -> bool:
        self._queue.append(args)
        with self._lock:
            if self._posted:
                return True
            self._posted = True
        if self._post(self._spawn, self._drain):
            return True
        with self._lock:
            self._posted = False
        return False

    def _drain(self) -> None:
        queue = self._queue
        while True:
            for _ in range(PUBLISH_BATCH):
                try:
                    args = queue.popleft()
                except IndexError:
                    break
                try:
                    self._serve(*args)
                except Exception:  # noqa: BLE001 - one broken request must not stop the intake
                    log.exception("serving a load request failed")
            with self._lock:
                if not queue:
                    self._posted = False
                    return
            yield_to_loop()

    def drain_now(self) -> None:
        queue = self._queue
        while queue:
            self._serve(*queue.popleft())
        with self._lock:
            self._posted = False


class _Request:
    """One request waiting for its load: the engine's listener for it (owning hub)."""

    __slots__ = ("server", "key", "expect", "handle", "callback", "fallback", "epoch", "job")

    def __init__(self, server: "RequestServer", key: Key, expect: int | None, handle: LoadHandle,
                 callback: Callback | None, fallback: bool, epoch: int) -> None:
        self.server, self.key, self.expect, self.handle = server, key, expect, handle
        self.callback, self.fallback, self.epoch = callback, fallback, epoch
        self.job: Any = None

    def __call__(self, value: Any, error: BaseException | None) -> None:
        self.job = None
        self.server.settle(self, value, error)


class RequestServer:
    """See the module docstring."""

    def __init__(self, engine: LoadEngine, progress: ProgressCounter) -> None:
        self.engine = engine
        self.progress = progress
        self._callbacks: collections.deque[tuple[Callback, Any, BaseException | None]] = collections.deque()
        self._publisher: Any = None

    def serve(self, key: Key, expect: int | None, priority: int, handle: LoadHandle,
              callback: Callback | None, fallback: bool, refused: bool = False) -> None:
        """One request (owning hub, never blocks): attach it to its load."""
        request = _Request(self, key, expect, handle, callback, fallback, self.progress.started())
        if refused:
            request(None, OperationCancelled(f"load of {key} cancelled: loader stopped"))
            return
        if handle.done():  # cancelled before it was served
            request(None, OperationCancelled(f"load of {key} cancelled by its requester"))
            return
        try:
            job = self.engine.attach(key, expect, priority, request, fallback)
        except Exception as exc:  # noqa: BLE001 - handed to the requester
            request(None, exc)
            return
        if job is not None:  # waiting (a listener is never called from within attach)
            request.job = handle._job = job
            handle._request = request

    def cancel(self, handle: LoadHandle) -> None:
        """``handle.cancel()`` reached the owning hub: detach its request from the load
        and settle it as cancelled (a request already settled is left alone)."""
        request = handle._request
        if request is None or request.job is None:
            return
        job, request.job = request.job, None
        if self.engine.detach(job, request):
            request(None, OperationCancelled(f"load of {request.key} cancelled by its requester"))

    def serve_buffer(self, key: ResourceKey, blob: bytes, priority: int, handle: LoadHandle,
                     callback: Callback | None, refused: bool = False) -> None:
        """A resource decoded from the caller's bytes (entry + payload), cached under
        ``key`` (a greenlet of its own on the owning hub)."""
        handle._greenlet = gevent.getcurrent()
        request = _Request(self, key, None, handle, callback, False, self.progress.started())
        engine, cfg = self.engine, self.engine.config
        value: Any = None
        error: BaseException | None = None
        try:
            if refused:
                raise OperationCancelled("load from buffer cancelled: loader stopped")
            view = TextureResourceDesc if key.kind is ResourceKind.TEXTURE else BufferResourceDesc
            where = Where(f"<buffer {key.index}>")
            assert engine.gate is not None
            with engine.gate.slot(gate_rank(priority)):
                engine.token.raise_if_cancelled()
                handle._phase = LOADING
                value, seconds = run_blocking(timed, decode_resource, key, blob[:view.SIZE], where,
                                              blob[view.SIZE:], Where(where.path, view.SIZE),
                                              cfg.verify_content_hashes, cfg.strict)
            engine.stats.decodes += 1
            engine.stats.decode_seconds += seconds
            engine.cache.publish(key, value, value.size_bytes, (), 1)
        except gevent.GreenletExit:
            value, error = None, OperationCancelled("load from buffer cancelled: loader stopped")
        except Exception as exc:  # noqa: BLE001 - handed to the callback
            value, error = None, exc
        handle._greenlet = None
        request(value, error)

    def settle(self, request: _Request, value: Any, error: BaseException | None) -> None:
        """Settle ``request`` with what its load gave (a value holds one reference;
        with an error, ``value`` is the degraded object built around placeholders,
        or None), then queue its callback."""
        handle, key = request.handle, request.key
        handle._job = handle._request = None   # nothing of the load stays reachable from the handle
        if error is None and not handle.set_result(value):  # cancelled while the value came in
            self.engine.cache.release(key)
            value, error = None, handle.exception()
        if error is not None:
            value = self._fail(handle, key, request.expect, error, request.fallback, value)
            error = handle.error or error
        self.progress.finished(handle.status, request.epoch)
        if request.callback is not None:
            self._publish(request.callback, value, error)

    def _fail(self, handle: LoadHandle, key: Key, expect: int | None, error: BaseException, fallback: bool,
              degraded: Any) -> Any:
        """Settle a failed request: a placeholder when asked for (and one exists),
        else the error. Returns what the callback gets as its value."""
        stats = self.engine.stats
        if isinstance(error, OperationCancelled) or handle.done():
            handle.set_exception(error)  # no effect when the requester cancelled it first
            if isinstance(handle.exception(), OperationCancelled):
                stats.cancelled += 1
            return None
        stats.failures += 1
        placeholder = (degraded if degraded is not None else self.placeholder(key, expect)) if fallback else None
        if placeholder is None:
            handle.set_exception(error)
            return None
        handle.load_error, handle.fallback = error, True
        stats.fallbacks += 1
        handle.set_result(placeholder)
        return placeholder

    def placeholder(self, key: Key, expect: int | None) -> Any:
        """The placeholder for ``key`` (its kind: ``expect``, else what the mounts say);
        None when there is none."""
        if isinstance(key, ResourceKey):
            return placeholder_for(key.kind)
        if expect is None:
            try:
                expect = self.engine.mounts.resolve(key)[1]
            except AssetNotFound:
                return None
        return placeholder_for(expect)

    # ------------------------------------------------------------------ callbacks
    def _publish(self, callback: Callback, value: Any, error: BaseException | None) -> None:
        self._callbacks.append((callback, value, error))
        if self._publisher is None:
            group = self.engine.group
            if group is None or self.engine.token.cancelled:
                return  # stopping: flush() runs them
            self._publisher = group.spawn(self._drain)

    def _drain(self) -> None:
        """The publisher greenlet: run queued callbacks, yielding every PUBLISH_BATCH."""
        queue = self._callbacks
        try:
            while queue:
                for _ in range(min(PUBLISH_BATCH, len(queue))):
                    _call_back(*queue.popleft())
                if queue:
                    yield_to_loop()
        finally:
            self._publisher = None

    def flush(self) -> None:
        """Run every queued callback now (owning-hub greenlet; at stop)."""
        queue = self._callbacks
        while queue:
            _call_back(*queue.popleft())


def _call_back(callback: Callback, value: Any, error: BaseException | None) -> None:
    try:
        callback(value, error)
    except gevent.GreenletExit:
        raise
    except Exception:  # noqa: BLE001 - a failing callback must not break the loader
        log.exception("load callback %r failed", callback)
