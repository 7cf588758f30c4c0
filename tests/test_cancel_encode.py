"""A cancelled job stops its texture encode between strips: the pool thread does not
encode the rest of an abandoned texture (issue 15, cancellable kernels). Counted, not
timed: the strips reported after the cancel are few, never the whole texture."""
from __future__ import annotations

import pathlib
import threading

import numpy as np
from PIL import Image

from oxy.cook.texture import watch_progress
from oxy.importing import AsyncImportService, ImportRequest

T = 300.0


def test_a_cancelled_cook_stops_between_strips(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "big.png"
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (1024, 1024, 4), dtype=np.uint8)).save(src)
    reports: list[tuple[int, int]] = []
    first = threading.Event()

    def sink(_name: str, done: int, total: int) -> None:
        reports.append((done, total))
        first.set()

    with watch_progress([src.name, str(src)], sink), \
            AsyncImportService(cpu_threads=1, cache=None) as service:
        request = ImportRequest(str(src), str(tmp_path / "root"), options={"quality": "high", "mips": True})
        handle = service.submit(request)
        assert first.wait(T), "the encode never reported a strip"
        at_cancel = len(reports)
        assert handle.cancel()
        report = handle.wait(T)
        assert report is not None and report.cancelled
    done, total = reports[-1]
    assert done < total, "the whole texture was encoded after the cancel"
    assert len(reports) <= at_cancel + 2  # at most the strip running at the cancel (and a report racing it)
    assert not (tmp_path / "root" / "container.index.bin").exists()  # nothing committed
