"""Server-Sent Events fan-out: every job event to every connected client.

Thread rules: main hub thread only (publish from greenlets or hub callbacks there).
Each client has a bounded queue (:data:`CLIENT_QUEUE`); a client that falls that
far behind (slow, or gone without the socket noticing yet) is dropped, so nothing
the daemon does ever waits for a client and no queue grows without bound. A
client's stream sends a keep-alive comment every :data:`KEEPALIVE` seconds, which
is also how a vanished client is noticed (the write fails and its generator closes).
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Iterator

from gevent.queue import Empty, Full, Queue

CLIENT_QUEUE = 256
KEEPALIVE = 15.0
_CLOSE = object()


class EventHub:
    def __init__(self, keepalive: float = KEEPALIVE) -> None:
        self.keepalive = keepalive
        self._clients: dict[int, Queue] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._clients)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Queue ``event`` for every client; drops clients whose queue is full."""
        frame = f"id: {next(self._seq)}\nevent: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()
        for cid, queue in list(self._clients.items()):
            try:
                queue.put_nowait(frame)
            except Full:
                self._drop(cid)

    def _drop(self, cid: int, lagging: bool = True) -> None:
        queue = self._clients.pop(cid, None)
        if queue is not None:
            self.dropped += lagging
            while True:  # make room for the close marker
                try:
                    queue.get_nowait()
                except Empty:
                    break
            queue.put_nowait(_CLOSE)

    def close(self) -> None:
        """End every stream (shutdown)."""
        for cid in list(self._clients):
            self._drop(cid, lagging=False)

    def stream(self) -> Iterator[bytes]:
        """A WSGI response body for one client (registered at once, before the first byte)."""
        cid = next(self._ids)
        queue: Queue = Queue(CLIENT_QUEUE)
        self._clients[cid] = queue
        return self._frames(cid, queue)

    def _frames(self, cid: int, queue: Queue) -> Iterator[bytes]:
        try:
            yield b": connected\nretry: 2000\n\n"
            while True:
                try:
                    frame = queue.get(timeout=self.keepalive)
                except Empty:
                    yield b": keep-alive\n\n"
                    continue
                if frame is _CLOSE:
                    return
                yield frame
        finally:
            self._clients.pop(cid, None)
