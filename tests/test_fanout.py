"""One texture across the CPU pool (issue 15, items 1, 2 and 5): the strips of one
image are spread over idle pool threads (oxy.hub.fanout through oxy.cook.strips).

Bytes are identical for any pool size and strip height (the cooked payloads on disk
are parsed and compared with a plain, sequential cook); strips of one texture run on
more than one pool thread (thread objects recorded, a handshake instead of timing);
a cancel stops the helpers (strips counted, not timed); an exception in a helper's
strip is the texture's failure; outside a pool task everything runs on the caller.
"""
from __future__ import annotations

import pathlib
import threading
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

from oxy.cook import bc7, strips
from oxy.cook.image_decode import decode_image
from oxy.cook.texture import TextureCookError, cook_texture_files, settings_for, watch_progress
from oxy.hub import ImportLoop, run_blocking
from oxy.hub import fanout
from oxy.importing import AsyncImportService, ImportRequest
from tests.cooking import payload, read_table

T = 120.0  # bound for every wait: a bug fails the test instead of hanging CI
CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus"
WRINKLES = CORPUS / "images" / "Wrinkles.jpg"  # 1024x683 RGB photo: 683 rows is not a multiple of 4


def wrinkles_rgba() -> np.ndarray:
    return np.ascontiguousarray(decode_image(WRINKLES.read_bytes(), WRINKLES.name).pixels)


class StripSpy:
    """Stands in for the BC7 kernel module (``bc7._enc``): records the thread object of
    every strip encode, counts starts, and can hold the first thread until a second
    thread encodes a strip (so "several threads took part" needs no timing)."""

    def __init__(self, real: Any, *, handshake: bool = False,
                 on_second: Callable[[], None] | None = None) -> None:
        self.real = real
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.started = 0
        self.running = 0
        self.handshake = handshake
        self.on_second = on_second
        self.second = threading.Event()

    def encode(self, image: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        me = threading.current_thread()
        with self.lock:
            self.started += 1
            self.running += 1
            first_thread = not self.threads
            if me not in self.threads:
                self.threads.append(me)
            is_second = len(self.threads) >= 2 and me is self.threads[1]
        try:
            if is_second:
                self.second.set()
                if self.on_second is not None:
                    self.on_second()
            elif first_thread and self.handshake:
                self.second.wait(T)
            return self.real.encode(image, *args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Callable[..., StripSpy]:
    def install(**kwargs: Any) -> StripSpy:
        made = StripSpy(bc7._enc, **kwargs)
        monkeypatch.setattr(bc7, "_enc", made)
        return made
    return install


def cook_into(root: pathlib.Path, source: pathlib.Path, threads: int, **options: Any) -> bytes:
    with AsyncImportService(cpu_threads=threads, cache=None) as service:
        report = service.submit(ImportRequest(str(source), str(root), options=options)).wait(T)
    assert report is not None and report.success, [str(d) for d in report.diagnostics] if report else None
    return payload(root, read_table(root)[report.outputs[str(source)]])


# -- bytes ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("threads", [1, 2, 3])
def test_strips_give_the_bytes_of_one_call_for_any_pool_size_and_strip_height(threads: int) -> None:
    image = wrinkles_rgba()
    expected = bc7.encode(image, "fast")  # one kernel call over the whole image, no pool
    with ImportLoop(cpu_threads=threads) as loop:
        for rows in (4, 8, 36, 64, 700):
            reports: list[tuple[int, int, threading.Thread]] = []

            def work(rows: int = rows) -> bytes:
                return strips.encode_in_strips(image, lambda s: bc7.encode(s, "fast"),
                                               lambda d, t: reports.append((d, t, threading.current_thread())),
                                               rows)

            assert loop.call(run_blocking, work, timeout=T) == expected, (threads, rows)
            done = [d for d, _t, _th in reports]
            assert done == sorted(set(done)) and done[-1] == reports[-1][1], "progress must grow to the total"
            assert len({th for _d, _t, th in reports}) == 1, "progress is reported on the calling thread only"


def test_cooked_payload_on_disk_is_identical_for_1_2_3_threads_and_strip_heights(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = cook_texture_files([(WRINKLES.name, WRINKLES.read_bytes())], settings_for("albedo", quality="fast"))
    for strip_bytes in (strips.STRIP_BYTES, 16 * 1024, 4096 * 20):
        monkeypatch.setattr(strips, "STRIP_BYTES", strip_bytes)
        for threads in (1, 2, 3):
            on_disk = cook_into(tmp_path / f"root-{strip_bytes}-{threads}", WRINKLES, threads, quality="fast")
            assert on_disk == plain.payload, (strip_bytes, threads)


# -- several threads -----------------------------------------------------------------------------------

def test_strips_of_one_texture_run_on_more_than_one_pool_thread(tmp_path: pathlib.Path, spy: Any) -> None:
    recorder = spy(handshake=True)
    on_disk = cook_into(tmp_path / "root", WRINKLES, 2, quality="fast")
    assert recorder.second.is_set(), "no second pool thread encoded a strip of the texture"
    assert len(recorder.threads) == 2 and threading.current_thread() not in recorder.threads
    plain = cook_texture_files([(WRINKLES.name, WRINKLES.read_bytes())], settings_for("albedo", quality="fast"))
    assert on_disk == plain.payload


def test_a_one_thread_pool_encodes_every_strip_on_its_thread(tmp_path: pathlib.Path, spy: Any) -> None:
    recorder = spy()
    cook_into(tmp_path / "root", WRINKLES, 1, quality="fast")
    assert len(recorder.threads) == 1 and recorder.started > 10  # 11 strips of level 0 alone


# -- cancel and failures -------------------------------------------------------------------------------

def test_a_cancel_stops_the_helpers_and_the_remaining_strips(tmp_path: pathlib.Path, spy: Any) -> None:
    src = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (1024, 1024, 4), dtype=np.uint8)).save(src)
    recorder = spy(handshake=True)
    total_strips = 1024 // bc7.strip_rows(1024)  # level 0 alone
    with AsyncImportService(cpu_threads=2, cache=None) as service:
        handle = service.submit(ImportRequest(str(src), str(tmp_path / "root"), options={"quality": "high"}))
        assert recorder.second.wait(T), "no helper thread joined the encode"
        assert handle.cancel()
        with recorder.lock:
            at_cancel = recorder.started
        report = handle.wait(T)
        assert report is not None and report.cancelled
    # The service has stopped: its pool threads ended after their current task.
    with recorder.lock:
        after, running = recorder.started, recorder.running
    assert running == 0
    assert after <= at_cancel + 2, "strips were started after the cancel"  # one claim per thread may race it
    assert after < total_strips, "the whole texture was encoded after the cancel"
    assert len(recorder.threads) == 2
    assert not (tmp_path / "root" / "container.index.bin").exists()


def test_an_exception_in_a_helper_strip_is_the_texture_failure(tmp_path: pathlib.Path, spy: Any) -> None:
    def boom() -> None:
        raise TextureCookError("strip kernel failed on the helper")

    recorder = spy(handshake=True, on_second=boom)
    with AsyncImportService(cpu_threads=2, cache=None) as service:
        report = service.submit(ImportRequest(str(WRINKLES), str(tmp_path / "root"),
                                              options={"quality": "fast"})).wait(T)
    assert recorder.second.is_set()
    assert report is not None and not report.success and not report.cancelled
    failures = [d for d in report.diagnostics if d.code == "texture.cook_failed"]
    assert failures and "strip kernel failed on the helper" in failures[0].message


def test_an_exception_in_a_helper_strip_reaches_the_caller_and_stops_claiming() -> None:
    image = wrinkles_rgba()
    second = threading.Event()
    seen: list[threading.Thread] = []
    started = {"n": 0}
    lock = threading.Lock()

    def encode(strip: np.ndarray) -> bytes:
        me = threading.current_thread()
        with lock:
            started["n"] += 1
            if me not in seen:
                seen.append(me)
            helper = len(seen) == 2 and me is seen[1]
        if helper:
            second.set()
            raise RuntimeError("helper strip failed")
        second.wait(T)
        return bc7.encode(strip, "fast")

    with ImportLoop(cpu_threads=2) as loop:
        with pytest.raises(RuntimeError, match="helper strip failed"):
            loop.call(run_blocking, strips.encode_in_strips, image, encode, None, 4, timeout=T)
    assert second.is_set()
    assert started["n"] < 171 // 2, "claiming went on after the helper failed"  # 171 strips of 4 rows


# -- sequential outside the pool -----------------------------------------------------------------------

def test_sequential_on_a_thread_that_is_not_a_pool_thread() -> None:
    image = wrinkles_rgba()
    order: list[tuple[int, threading.Thread]] = []

    def encode(strip: np.ndarray) -> bytes:
        order.append((strip.shape[0], threading.current_thread()))
        return bc7.encode(strip, "fast")

    # without progress: nothing to report, nobody to share with -> one call over the image
    assert strips.encode_in_strips(image, encode, rows=64) == bc7.encode(image, "fast")
    assert [rows for rows, _th in order] == [683]
    # with progress: strip by strip, in order, on this thread, reporting after each
    order.clear()
    reports: list[tuple[int, int]] = []
    assert strips.encode_in_strips(image, encode, lambda d, t: reports.append((d, t)), rows=64) == \
        bc7.encode(image, "fast")
    assert {th for _rows, th in order} == {threading.current_thread()}
    assert [rows for rows, _th in order] == [64] * 10 + [683 - 640]
    assert len(reports) == 11 and reports[-1][0] == reports[-1][1]
    assert fanout.spread(lambda i: i, 4) is None  # no pool task here: the caller works alone


def test_progress_through_watch_progress_comes_from_one_thread(tmp_path: pathlib.Path) -> None:
    reports: list[tuple[int, int, threading.Thread]] = []

    def sink(_name: str, done: int, total: int) -> None:
        reports.append((done, total, threading.current_thread()))

    with watch_progress([WRINKLES.name, str(WRINKLES)], sink):
        cook_into(tmp_path / "root", WRINKLES, 2, quality="fast")
    done = [d for d, _t, _th in reports]
    assert done == sorted(done) and done[-1] == reports[-1][1]
    assert len({th for _d, _t, th in reports}) == 1
    assert len(reports) > 11  # strips of level 0 at least, not one report per level
