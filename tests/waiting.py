"""Polling for a condition another thread brings about, for tests that have no event to
wait on. Fails the test (naming what it waited for) after ``timeout`` seconds."""
from __future__ import annotations

import time
from typing import Callable


def until(predicate: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` every 2 ms until it is true; an AssertionError naming ``what``
    after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)
