"""Per-request load handles: :class:`LoadHandle` (one key) and the status names.

Every ``load_*`` / ``start_load_*`` call returns its own :class:`LoadHandle`, a
:class:`~oxy.hub.CrossFuture` (so ``result(timeout)``, ``wait``, ``done`` and
``add_done_callback`` work as before: thread-blocking in a plain thread,
greenlet-blocking on any gevent hub) with:

* ``status``: ``queued`` (not served yet, or its load waits for a decode slot),
  ``loading`` (reading, decoding or loading dependencies), then ``completed``,
  ``failed`` or ``cancelled``;
* ``progress``: 0.0 .. 1.0 (0.5 once read and decoded, then the fraction of its
  dependencies loaded; 1.0 when done);
* ``cancel()``: cancels *this* request only. Its waiters get
  :class:`~oxy.errors.OperationCancelled` at once; the shared read/decode goes on
  while another request waits for it, and is stopped when none does;
* ``error`` / ``fallback``: with ``fallback=True`` a failed load completes with a
  placeholder as its result (``fallback`` is True) and ``error`` holds why.

Thread rules: every public member is safe from any thread. The loader's owning hub
alone writes ``_phase``/``_job``/``_request``/``_greenlet``/``load_error`` (plain attribute
stores, read racily by other threads: a status seen from another thread may lag
by one step, never run ahead of the result).
"""
from __future__ import annotations

from typing import Any, Callable

from oxy.errors import OperationCancelled
from oxy.hub import CrossFuture

__all__ = ["CANCELLED", "COMPLETED", "FAILED", "LOADING", "QUEUED", "LoadHandle"]

QUEUED, LOADING, COMPLETED, FAILED, CANCELLED = "queued", "loading", "completed", "failed", "cancelled"


class LoadHandle(CrossFuture[Any]):
    """One load request. See the module docstring."""

    __slots__ = ("key", "load_error", "fallback", "_phase", "_job", "_request", "_greenlet", "_on_cancel")

    def __init__(self, key: Any, on_cancel: Callable[["LoadHandle"], object] | None = None) -> None:
        super().__init__()
        self.key = key
        self.load_error: BaseException | None = None   # the failure behind a fallback
        self.fallback = False
        self._phase = QUEUED
        self._job: Any = None          # the in-flight load this request waits on (owning hub; cleared when settled)
        self._request: Any = None      # the request's listener on that load (owning hub; cleared when settled)
        self._greenlet: Any = None     # a load from a buffer: its greenlet on the owning hub
        self._on_cancel = on_cancel

    @property
    def status(self) -> str:
        if not self.done():
            job = self._job
            return LOADING if job is not None and job.started else self._phase
        error = self.exception()
        if isinstance(error, OperationCancelled):
            return CANCELLED
        return FAILED if error is not None or self.load_error is not None else COMPLETED

    @property
    def progress(self) -> float:
        if self.done():
            return 1.0
        job = self._job
        return 0.0 if job is None else float(job.progress)

    @property
    def error(self) -> BaseException | None:
        """Why the load failed (also when a fallback was returned); None otherwise."""
        return self.exception() or self.load_error

    def cancel(self) -> bool:
        """Cancel this request; False if it already finished. Any thread."""
        if not self.set_exception(OperationCancelled(f"load of {self.key} cancelled by its requester")):
            return False
        hook = self._on_cancel
        if hook is not None:
            hook(self)
        return True

    def __repr__(self) -> str:
        return f"<LoadHandle {self.key} {self.status} {self.progress:.0%}>"
