"""Unit functions for the cook-farm tests that run on Dask workers (imported there by
name from this folder, on the workers' ``sys.path`` as on the test process's): no
import of the test modules or their fixtures."""
from __future__ import annotations

import os
import time


def unit(name: str, gate: str = "") -> bytes:
    """``name``'s bytes, after the gate: ``file:PATH`` waits until PATH exists (the test
    creates it); ``skipped:N`` waits until this worker process was told to skip unit N
    of the task running this (``oxy.farm.tasks.cancel_units``). Raises TimeoutError
    after 120 s."""
    deadline = time.monotonic() + 120
    if gate.startswith("file:"):
        while not os.path.exists(gate[len("file:"):]):
            if time.monotonic() > deadline:
                raise TimeoutError(gate)
            time.sleep(0.005)
    elif gate.startswith("skipped:"):
        from distributed import get_worker

        from oxy.farm import tasks

        key = get_worker().get_current_task()
        while not tasks.is_cancelled(str(key), int(gate[len("skipped:"):])):
            if time.monotonic() > deadline:
                raise TimeoutError(gate)
            time.sleep(0.005)
    return name.encode()
