"""A bounded channel between greenlets of one hub.

Producers :meth:`Channel.send`; when ``capacity`` items are buffered the sender's
greenlet blocks until a receiver takes one (back-pressure: a fast decoder cannot
run ahead of a slow writer and fill memory). :meth:`Channel.close` ends the
stream: buffered items are still delivered, then iteration stops; senders
(including ones blocked) get :class:`ChannelClosed`.

Thread rules: use only from greenlets of one hub (normally the import hub). It is
not thread-safe; cross threads with ``ImportLoop.post`` instead.
"""
from __future__ import annotations

from collections import deque
from typing import Generic, Iterator, TypeVar

from gevent.event import Event

from oxy.errors import OxyError

__all__ = ["Channel", "ChannelClosed"]

T = TypeVar("T")


class ChannelClosed(OxyError):
    """Send on a closed channel, or receive on a closed and drained one."""


class Channel(Generic[T]):
    """A FIFO with a fixed capacity, blocking senders when full."""

    __slots__ = ("capacity", "_items", "_closed", "_not_full", "_not_empty")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: deque[T] = deque()
        self._closed = False
        self._not_full = Event()
        self._not_full.set()
        self._not_empty = Event()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, item: T, timeout: float | None = None) -> None:
        """Append ``item``, blocking the greenlet while the channel is full.

        Raises :class:`ChannelClosed` if the channel is (or becomes) closed, and
        ``TimeoutError`` if ``timeout`` seconds pass while full.
        """
        while True:
            if self._closed:
                raise ChannelClosed("send on a closed channel")
            if len(self._items) < self.capacity:
                self._items.append(item)
                self._not_empty.set()
                if len(self._items) >= self.capacity:
                    self._not_full.clear()
                return
            if not self._not_full.wait(timeout):
                raise TimeoutError(f"channel full for {timeout} s")

    def try_send(self, item: T) -> bool:
        """Append without blocking; False when full. Raises if closed."""
        if self._closed:
            raise ChannelClosed("send on a closed channel")
        if len(self._items) >= self.capacity:
            return False
        self.send(item)
        return True

    def receive(self, timeout: float | None = None) -> T:
        """Take the oldest item, blocking the greenlet while empty.

        Raises :class:`ChannelClosed` once closed and drained, ``TimeoutError``
        when ``timeout`` seconds pass while empty.
        """
        while True:
            if self._items:
                item = self._items.popleft()
                self._not_full.set()
                if not self._items and not self._closed:
                    self._not_empty.clear()
                return item
            if self._closed:
                raise ChannelClosed("channel closed and drained")
            if not self._not_empty.wait(timeout):
                raise TimeoutError(f"channel empty for {timeout} s")

    def close(self) -> None:
        """No more sends; wakes blocked senders (they raise) and receivers."""
        self._closed = True
        self._not_full.set()
        self._not_empty.set()

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                yield self.receive()
            except ChannelClosed:
                return
