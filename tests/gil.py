"""Does a call release the GIL? Shared by the kernel tests."""
from __future__ import annotations

import sys
import threading
from typing import Any, Callable


def ticks_while(call: Callable[[], Any]) -> tuple[int, Any]:
    """Run ``call`` on a worker thread while this thread counts 0.5 ms waits; returns
    (ticks, the call's result). With the switch interval set to 100 s, this thread gets
    the GIL back during the call only if the call released it: ``ticks >= 1`` proves the
    release (a GIL-holding call gives 0), independent of how fast the machine is."""
    started, done = threading.Event(), threading.Event()
    result: list[Any] = []

    def worker() -> None:
        started.set()
        result.append(call())
        done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        ticks = 0
        while not done.wait(0.0005):
            ticks += 1
        thread.join()
    finally:
        sys.setswitchinterval(old)
    return ticks, result[0]
