"""Cancellation tokens that native pool threads can poll.

A :class:`CancelToken` is a thread-safe, one-way flag. Jobs, nurseries and pool
tasks share one: the import hub cancels it, and a CPU kernel running on a pool
thread calls :meth:`CancelToken.raise_if_cancelled` between work items to stop
early. Tokens form a tree: cancelling a parent cancels every child created from
it (a job's token is a child of the service's token, a nursery's a child of the
job's), never the other way round.
"""
from __future__ import annotations

from typing import Callable

from oxy.errors import OperationCancelled
from oxy.hub._native import allocate_lock

__all__ = ["CancelToken"]


class CancelToken:
    """A thread-safe cancellation flag.

    Thread rules: every method is safe from any thread. Callbacks registered with
    :meth:`on_cancel` run exactly once, synchronously, in the thread that calls
    :meth:`cancel` (or immediately in the registering thread if the token is
    already cancelled); they must be short and must not raise (errors are
    swallowed so one bad callback cannot stop the others).
    """

    __slots__ = ("_lock", "_cancelled", "_reason", "_callbacks", "_next_key", "_detach")

    def __init__(self, parent: CancelToken | None = None) -> None:
        self._lock = allocate_lock()
        self._cancelled = False
        self._reason = ""
        self._callbacks: dict[int, Callable[[], object]] = {}
        self._next_key = 0
        self._detach: Callable[[], None] | None = None
        if parent is not None:
            self._detach = parent.on_cancel(lambda: self.cancel(parent.reason))

    def child(self) -> CancelToken:
        """A new token cancelled whenever this one is (until :meth:`detach`)."""
        return CancelToken(self)

    def detach(self) -> None:
        """Stop following the parent (call when the owner is finished, so a
        long-lived parent does not keep every finished child alive)."""
        detach, self._detach = self._detach, None
        if detach is not None:
            detach()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` ran. A plain read: cheap enough for hot loops."""
        return self._cancelled

    @property
    def reason(self) -> str:
        return self._reason

    def cancel(self, reason: str = "cancelled") -> bool:
        """Set the flag and run the callbacks; False if it was already set."""
        with self._lock:
            if self._cancelled:
                return False
            self._reason = reason
            self._cancelled = True
            callbacks, self._callbacks = list(self._callbacks.values()), {}
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - documented: callbacks must not raise
                pass
        return True

    def on_cancel(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Run ``callback()`` once when the token is cancelled (now, if it already is).

        Returns a function that unregisters the callback (a no-op once it ran).
        """
        with self._lock:
            if not self._cancelled:
                key = self._next_key
                self._next_key += 1
                self._callbacks[key] = callback
                return lambda: self._remove(key)
        try:
            callback()
        except Exception:  # noqa: BLE001
            pass
        return _noop

    def _remove(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~oxy.errors.OperationCancelled` if the token is cancelled."""
        if self._cancelled:
            raise OperationCancelled(self._reason or "cancelled")

    def __repr__(self) -> str:
        state = f"cancelled ({self._reason})" if self._cancelled else "active"
        return f"<CancelToken {state}>"


def _noop() -> None:
    return None
