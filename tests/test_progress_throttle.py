"""Progress from inside a texture is throttled where it leaves the cooking thread
(issue 15, item 5 follow-up): at most one report per 1/64 of the texture plus the
final one, so 64 KB strips (about 350 reports for a 2048² chain) do not flood the
hub, the CLI or the daemon's event stream; a long encode still shows motion; the
job's own cancel check still runs after every strip. Events are counted, never timed.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from PIL import Image

from oxy.cook import bc7, strips
from oxy.cook.texture import cook_texture_files, settings_for, watch_progress
from oxy.importing import AsyncImportService, ImportRequest
from oxy.importing.types import ImportPhase

T = 300.0


def test_the_throttle_forwards_one_report_per_64th_and_always_the_last() -> None:
    seen: list[tuple[int, int]] = []
    throttle = strips.ProgressThrottle(lambda d, t: seen.append((d, t)))
    for done in range(1, 10_001):  # 10,000 one-block strips
        throttle(done, 10_000)
    assert 60 <= len(seen) <= 64 + 1  # about one per 64th of the work, and the last
    assert seen[-1] == (10_000, 10_000)
    gaps = [b[0] - a[0] for a, b in zip([(0, 0)] + seen, seen)]
    assert all(gap * 64 >= 10_000 for gap in gaps[:-1]), "a report came before 1/64 more was done"
    assert [d for d, _t in seen] == sorted(d for d, _t in seen)


def test_the_throttle_passes_coarse_work_unchanged() -> None:
    seen: list[int] = []
    throttle = strips.ProgressThrottle(lambda d, _t: seen.append(d))
    for done in (10, 20, 30, 40):  # each step is a quarter: every report passes
        throttle(done, 40)
    assert seen == [10, 20, 30, 40]
    with pytest.raises(ValueError):
        strips.ProgressThrottle(lambda d, t: None, steps=0)


def _big_png(path: Any, size: int = 2048) -> None:
    rng = np.random.default_rng(11)
    Image.fromarray(rng.integers(0, 256, (size, size, 4), dtype=np.uint8)).save(path)


def test_watched_sinks_are_throttled_and_the_cancel_check_is_not(tmp_path: Any) -> None:
    src = tmp_path / "big.png"
    _big_png(src, 1024)
    data = src.read_bytes()
    settings = settings_for("albedo", quality="ultrafast")
    per_strip: list[int] = []
    watched: list[tuple[int, int]] = []
    with watch_progress(["big.png"], lambda _n, d, t: watched.append((d, t))):
        cooked = cook_texture_files([("big.png", data)], settings, progress=lambda d, _t: per_strip.append(d))
    strips_in_chain = sum(-(-max(1, 1024 >> i) // bc7.strip_rows(max(1, 1024 >> i))) for i in range(11))
    assert len(per_strip) == strips_in_chain > 64 + 1  # the job's cancel check: after every strip
    assert 32 <= len(watched) <= 64 + 1  # motion, but bounded
    assert watched[-1][0] == watched[-1][1]
    assert cooked == cook_texture_files([("big.png", data)], settings)  # reporting changes no byte


def test_a_long_encode_reports_motion_with_a_bounded_count_of_job_events(tmp_path: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "big.png"
    _big_png(src)
    calls = {"strips": 0}
    lock = threading.Lock()
    real = bc7._enc

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def encode(self, image: np.ndarray, *args: Any, **kwargs: Any) -> Any:
            with lock:
                calls["strips"] += 1
            return real.encode(image, *args, **kwargs)

    monkeypatch.setattr(bc7, "_enc", Counting())
    events: list[Any] = []
    with AsyncImportService(cpu_threads=2, cache=None) as service:
        report = service.submit(ImportRequest(str(src), str(tmp_path / "root"), options={"quality": "ultrafast"}),
                                on_progress=events.append).wait(T)
    assert report is not None and report.success
    assert calls["strips"] > 300  # 256 strips of level 0 alone
    textures = [e for e in events if e.phase is ImportPhase.TEXTURES]
    inside = [e for e in textures if 0.0 < e.phase_fraction < 1.0]
    assert len(inside) >= 16, f"only {len(inside)} progress events inside a 2048² texture"
    assert [e.phase_fraction for e in textures] == sorted(e.phase_fraction for e in textures)
    assert len(textures) <= 64 + 2, f"{len(textures)} textures events for one texture"  # + the start and the end
