"""One cook per texture key at a time in this process.

The scene importer prepares the next models of a job while one is emitted, and the
daemon may run jobs back to back: two texture units with the same recipe key (an
image shared by two models, a texture atlas of a kit) can then miss the cook cache
at the same moment, because neither cook has finished. :func:`cook_once` makes the
second wait for the first and take its result instead of cooking the same bytes
again (the key names the sources' hashes, settings, kind and stage version, so the
result is the same either way).

Thread rules: called on CPU-pool threads (native threads); the first caller of a key
runs ``cook`` on its own thread, later callers of that key block their pool thread on
a native lock until it ends, polling their own task's cancel token every 50 ms
(a cancelled waiter raises :class:`~oxy.errors.OperationCancelled`; the cook goes on
for its owner). A waiter never cooks while holding anything the owner needs, so
there is no cycle: the owner's strip fan-out runs the strips itself when no helper
thread is free.
Failure modes: if the owner's cook raises (bad input, its job cancelled), each
waiter runs ``cook`` itself (so a bad input fails each unit with its own
diagnostic, and a cancel of one job never fails another job's unit).
"""
from __future__ import annotations

from typing import Callable, TypeVar

from oxy.hub._native import allocate_lock
from oxy.hub.pools import current_task

T = TypeVar("T")

#: Seconds between a waiter's checks of its own cancel token.
POLL = 0.05


class _Slot:
    """One cook in progress: ``done`` is held (locked) until the owner ends."""

    __slots__ = ("done", "value", "ok", "waiters")

    def __init__(self) -> None:
        self.done = allocate_lock()
        self.done.acquire()
        self.value: object = None
        self.ok = False
        self.waiters = 0


_guard = allocate_lock()
_slots: dict[str, _Slot] = {}


def cook_once(key: str, cook: Callable[[], T]) -> tuple[T, bool]:
    """``(cook(), True)``, unless another thread of this process is cooking ``key``
    right now: then wait for it and return ``(its result, False)`` (see the module
    docstring; after a failed cook elsewhere, ``(cook(), True)``)."""
    with _guard:
        slot = _slots.get(key)
        owner = slot is None
        if owner:
            slot = _slots[key] = _Slot()
        else:
            slot.waiters += 1  # type: ignore[union-attr]
    assert slot is not None
    if owner:
        try:
            value = cook()
            slot.value, slot.ok = value, True
            return value, True
        finally:
            with _guard:
                del _slots[key]
            slot.done.release()
    task = current_task()
    while not slot.done.acquire(True, POLL):
        if task is not None:
            task.token.raise_if_cancelled()
    slot.done.release()  # let the other waiters of this slot through
    if slot.ok:
        return slot.value, False  # type: ignore[return-value]
    return cook(), True


def waiting() -> int:
    """How many callers have waited, or are waiting, for a cook of their key still
    in progress (for tests and diagnostics)."""
    with _guard:
        return sum(slot.waiters for slot in _slots.values())
