"""A mip chain is encoded as one set of strips (oxy.cook.strips.encode_levels): on a
pool thread one fork-join per texture layer instead of one per level; the bytes of
each level are those of one encode call per level, for any pool size and strip height."""
from __future__ import annotations

import pathlib
import threading
from typing import Any

import numpy as np
import pytest

from oxy.cook import bc7, mips, strips
from oxy.cook.image_decode import decode_image
from oxy.hub import ImportLoop, fanout, run_blocking
from oxy.importing import AsyncImportService, ImportRequest

T = 120.0
CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus"
WRINKLES = CORPUS / "images" / "Wrinkles.jpg"  # 1024x683: odd level sizes down the chain


def chain() -> list[np.ndarray]:
    return mips.mip_chain(np.ascontiguousarray(decode_image(WRINKLES.read_bytes(), WRINKLES.name).pixels))


def encode_fast(strip: np.ndarray) -> bytes:
    return bc7.encode(strip, "fast")


@pytest.fixture
def spreads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The strip count of every fork-join (:func:`oxy.hub.fanout.spread` call) while the test runs."""
    counts: list[int] = []
    real = fanout.spread

    def counting(work: Any, count: int, after: Any = None) -> Any:
        counts.append(count)
        return real(work, count, after)

    monkeypatch.setattr(fanout, "spread", counting)
    return counts


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_levels_give_the_bytes_of_one_call_per_level(threads: int, spreads: list[int]) -> None:
    levels = chain()
    expected = [bc7.encode(level, "fast") for level in levels]
    total = sum(bc7.block_count(level.shape[1], level.shape[0]) for level in levels)
    with ImportLoop(cpu_threads=threads) as loop:
        for rows in (None, 4, 8, 12):  # never taller than bc7.encode's own strips (it would split them)
            reports: list[tuple[int, int, threading.Thread]] = []
            spreads.clear()

            def work(rows: int | None = rows) -> list[bytes]:
                return strips.encode_levels(levels, encode_fast,
                                            lambda d, t: reports.append((d, t, threading.current_thread())),
                                            None if rows is None else (lambda _level: rows))

            assert loop.call(run_blocking, work, timeout=T) == expected, (threads, rows)
            done = [d for d, _t, _th in reports]
            assert done == sorted(set(done)) and done[-1] == total and reports[-1][1] == total
            assert len({th for _d, _t, th in reports}) == 1, "progress is reported on the calling thread only"
            assert len(spreads) == 1, "one fork-join for the whole chain"


def test_without_a_pool_or_progress_each_level_is_one_call() -> None:
    levels = chain()
    shapes: list[tuple[int, ...]] = []

    def encode(strip: np.ndarray) -> bytes:
        shapes.append(strip.shape)
        return encode_fast(strip)

    assert strips.encode_levels(levels, encode) == [bc7.encode(level, "fast") for level in levels]
    assert shapes == [level.shape for level in levels]
    shapes.clear()
    seen: list[int] = []
    strips.encode_levels(levels, encode, lambda d, _t: seen.append(d), lambda _level: 64)
    assert len(shapes) == len(seen) == sum(-(-level.shape[0] // 64) for level in levels) == 29  # 683 rows: 11...
    assert fanout.spread(lambda i: i, 4) is None


def test_a_texture_cook_on_the_pool_is_one_fork_join(tmp_path: pathlib.Path, spreads: list[int]) -> None:
    with AsyncImportService(cpu_threads=2, cache=None) as service:
        report = service.submit(ImportRequest(str(WRINKLES), str(tmp_path / "root"),
                                              options={"quality": "fast"})).wait(T)
    assert report is not None and report.success
    levels = chain()
    assert spreads == [sum(-(-level.shape[0] // bc7.strip_rows(level.shape[1])) for level in levels)]
