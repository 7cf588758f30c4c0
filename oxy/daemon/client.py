"""A small client of a running ``oxy serve``: its Server-Sent Events as a thread.

For scripts, tools and tests that follow a daemon's jobs without a browser
(``tools/bench_daemon.py``, the daemon tests). Plain ``urllib``, no gevent.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any


class EventReader(threading.Thread):
    """Reads ``GET /api/events`` of the daemon on ``127.0.0.1:port`` on a daemon thread and
    keeps every event as ``(event name, data, local receipt time)`` in :attr:`events`
    (guarded by :attr:`lock`). :attr:`connected` is set once the stream answered. With
    ``token``, the request carries ``Authorization: Bearer TOKEN``. When the daemon
    goes away the thread ends quietly: the caller checks what arrived."""

    def __init__(self, port: int, *, token: str | None = None, timeout: float = 600.0,
                 host: str = "127.0.0.1") -> None:
        super().__init__(daemon=True, name=f"oxy-events-{port}")
        self.url = f"http://{host}:{port}/api/events"
        self.token = token
        self.timeout = timeout
        self.events: list[tuple[str, dict[str, Any], float]] = []
        self.connected = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        request = urllib.request.Request(self.url)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                event = ""
                for raw in resp:
                    line = raw.decode().rstrip("\n")
                    self.connected.set()
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        with self.lock:
                            self.events.append((event, json.loads(line[6:]), time.time()))
        except Exception:  # noqa: BLE001 - the daemon went away: the caller checks what arrived
            pass

    def snapshot(self) -> list[tuple[str, dict[str, Any], float]]:
        with self.lock:
            return list(self.events)

    def find(self, names: tuple[str, ...], source: str) -> tuple[str, dict[str, Any], float] | None:
        """The first event named one of ``names`` whose job lists ``source``."""
        with self.lock:
            return next((e for e in self.events if e[0] in names and source in e[1].get("sources", ())), None)
