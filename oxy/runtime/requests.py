"""Serving one request: its greenlet, its handle, its callback, its placeholder.

A request (``load_*``, ``start_load_*``, a bundle member) runs :meth:`RequestServer.serve`
in a greenlet of the owning hub: it asks the :class:`~oxy.runtime.engine.LoadEngine`
for one reference to the key's object, then settles the request's
:class:`~oxy.runtime.handles.LoadHandle` and runs its callback. A request cancelled
meanwhile gives its reference back. A failed request with ``fallback`` completes
with the kind's placeholder (:mod:`oxy.runtime.placeholders`) and keeps the error.
Loads from memory (:meth:`serve_buffer`) decode the caller's bytes directly.

Thread rules: owning hub only (greenlets there). Callbacks run in the request's
greenlet; an exception they raise is logged, never propagated. Failure modes: the
request's error goes to its handle and callback; nothing is raised from here.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import gevent

from oxy.errors import OperationCancelled
from oxy.formats import BufferResourceDesc, TextureResourceDesc
from oxy.hub import run_blocking
from oxy.runtime.decoders import Where, decode_resource
from oxy.runtime.engine import Key, LoadEngine, gate_rank, timed
from oxy.runtime.errors import AssetNotFound
from oxy.runtime.handles import LOADING, LoadHandle
from oxy.runtime.keys import ResourceKey, ResourceKind
from oxy.runtime.placeholders import placeholder_for
from oxy.runtime.progress import ProgressCounter

__all__ = ["Callback", "RequestServer"]

log = logging.getLogger("oxy.runtime")
Callback = Callable[[Any, BaseException | None], object]


class RequestServer:
    """See the module docstring."""

    def __init__(self, engine: LoadEngine, progress: ProgressCounter) -> None:
        self.engine = engine
        self.progress = progress

    def serve(self, key: Key, expect: int | None, priority: int, handle: LoadHandle,
              callback: Callback | None, fallback: bool, refused: bool = False) -> None:
        """One request (owning hub greenlet): obtain a reference, hand over the value."""
        handle._greenlet = gevent.getcurrent()
        epoch = self.progress.started()
        value: Any = None
        error: BaseException | None = None
        try:
            if refused:
                raise OperationCancelled(f"load of {key} cancelled: loader stopped")
            if handle.done():  # cancelled before its greenlet ran
                raise OperationCancelled(f"load of {key} cancelled by its requester")
            value = self.engine.obtain(key, expect, priority, handle)
        except gevent.GreenletExit:
            error = OperationCancelled(f"load of {key} cancelled: loader stopped")
        except Exception as exc:  # noqa: BLE001 - handed to the requester
            error = exc
        self._settle(handle, key, expect, value, error, fallback, callback, epoch)

    def serve_buffer(self, key: ResourceKey, blob: bytes, priority: int, handle: LoadHandle,
                     callback: Callback | None, refused: bool = False) -> None:
        """A resource decoded from the caller's bytes (entry + payload), cached under ``key``."""
        handle._greenlet = gevent.getcurrent()
        epoch = self.progress.started()
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
        self._settle(handle, key, None, value, error, False, callback, epoch)

    def _settle(self, handle: LoadHandle, key: Key, expect: int | None, value: Any, error: BaseException | None,
                fallback: bool, callback: Callback | None, epoch: int) -> None:
        if error is None and not handle.set_result(value):  # cancelled while the value came in
            self.engine.cache.release(key)
            value, error = None, handle.exception()
        if error is not None:
            value = self._fail(handle, key, expect, error, fallback)
            error = handle.error or error
        self.progress.finished(handle.status, epoch)
        if callback is not None:
            _call_back(callback, value, error)

    def _fail(self, handle: LoadHandle, key: Key, expect: int | None, error: BaseException, fallback: bool) -> Any:
        """Settle a failed request: a placeholder when asked for (and one exists),
        else the error. Returns what the callback gets as its value."""
        stats = self.engine.stats
        if isinstance(error, OperationCancelled) or handle.done():
            handle.set_exception(error)  # no effect when the requester cancelled it first
            if isinstance(handle.exception(), OperationCancelled):
                stats.cancelled += 1
            return None
        stats.failures += 1
        placeholder = self.placeholder(key, expect) if fallback else None
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


def _call_back(callback: Callback, value: Any, error: BaseException | None) -> None:
    try:
        callback(value, error)
    except gevent.GreenletExit:
        raise
    except Exception:  # noqa: BLE001 - a failing callback must not break the loader
        log.exception("load callback %r failed", callback)
