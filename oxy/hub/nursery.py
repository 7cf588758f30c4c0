"""Structured concurrency: a nursery of child greenlets.

::

    with Nursery(parent_token) as nursery:
        nursery.start(stream_textures, nursery.token)
        nursery.start(stream_geometry, nursery.token)
    # here every child has ended

Leaving the ``with`` block joins every child. The first child that fails (raises
anything but a cancellation) cancels the nursery: its token is cancelled (so pool
tasks polling it stop) and every sibling greenlet is killed. The first error is
then re-raised from the ``with``. :meth:`Nursery.cancel` does the same without an
error, and the ``with`` raises :class:`~oxy.errors.OperationCancelled`. If the
body itself raises, or the greenlet running it is killed, the children are
cancelled and joined before the exception propagates.

Thread rules: use only from greenlets of one hub (the import hub). ``token`` may
be handed to pool tasks on any thread.
"""
from __future__ import annotations

from typing import Any, Callable, Literal

import gevent
from gevent import Greenlet

from oxy.errors import OperationCancelled
from oxy.hub.cancel import CancelToken

__all__ = ["Nursery"]


class Nursery:
    """Owns child greenlets; cancels the siblings of a failed child."""

    __slots__ = ("token", "_children", "_error", "_open", "_cancel_requested")

    def __init__(self, parent: CancelToken | None = None) -> None:
        self.token = CancelToken(parent)
        self._children: list[Greenlet] = []
        self._error: BaseException | None = None
        self._open = True
        self._cancel_requested = False

    @property
    def error(self) -> BaseException | None:
        """The first child failure, if any."""
        return self._error

    def start(self, fn: Callable[..., object], *args: Any) -> Greenlet:
        """Start ``fn(*args)`` as a child greenlet. Raises ``RuntimeError`` after the
        nursery closed, :class:`OperationCancelled` once it was cancelled."""
        if not self._open:
            raise RuntimeError("nursery is closed")
        self.token.raise_if_cancelled()
        child = gevent.spawn(self._run_child, fn, args)
        self._children.append(child)
        return child

    def _run_child(self, fn: Callable[..., object], args: tuple[Any, ...]) -> object:
        try:
            return fn(*args)
        except (gevent.GreenletExit, OperationCancelled):
            return None  # being cancelled is not a failure
        except BaseException as error:  # noqa: BLE001 - recorded and re-raised by __exit__
            if self._error is None:
                self._error = error
            self._cancel_children(f"sibling failed: {type(error).__name__}: {error}")
            return None

    def cancel(self, reason: str = "nursery cancelled") -> None:
        """Cancel the token and kill every running child (without waiting)."""
        self._cancel_requested = True
        self._cancel_children(reason)

    def _cancel_children(self, reason: str) -> None:
        self.token.cancel(reason)
        current = gevent.getcurrent()
        for child in self._children:
            if child is not current and not child.dead:
                child.kill(block=False)

    def join(self) -> None:
        """Wait for every child, including ones started while waiting."""
        while True:
            running = [c for c in self._children if not c.dead]
            if not running:
                return
            gevent.joinall(running)

    def __enter__(self) -> Nursery:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> Literal[False]:
        try:
            if exc is not None:
                self._cancel_children(f"nursery body raised {exc_type.__name__ if exc_type else ''}")
            try:
                self.join()
            except BaseException:
                # This greenlet is being killed while joining: take the children down too.
                self._cancel_children("nursery owner killed")
                gevent.killall([c for c in self._children if not c.dead], block=True)
                raise
        finally:
            self._open = False
            self.token.detach()
        if exc is not None:
            return False
        if self._error is not None:
            raise self._error
        if self._cancel_requested:
            raise OperationCancelled(self.token.reason or "nursery cancelled")
        return False
