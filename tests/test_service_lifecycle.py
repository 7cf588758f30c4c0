"""Service lifecycle: construct/close cycles leave no thread, greenlet or descriptor behind."""
from __future__ import annotations

import gc
import os
import threading
import time

import pytest
from greenlet import greenlet

from oxy.hub import AsyncFileWriter
from oxy.importing import AsyncImportService, ImporterRegistry, ImportPhase, ImportRequest

T = 30.0


class WritingImporter:
    """Uses the CPU pool, the I/O pool and a job writer, so every resource kind exists."""

    def __init__(self, request):
        self.request = request

    def run(self, ctx):
        ctx.report_progress(ImportPhase.WRITING)
        data = ctx.run_blocking(lambda: b"payload" * 100)
        writer: AsyncFileWriter = ctx.writer()
        out = os.path.join(ctx.request.cooked_root, "out.bin")
        writer.write_at_async(out, 0, data)
        flushed = writer.flush()
        source = ctx.reader.read_file(ctx.request.source_path)
        return ctx.make_report(success=flushed.ok and source.ok, written={"files": 1})


def counts():
    gc.collect()
    return (
        len(os.listdir("/proc/self/task")),
        len(threading.enumerate()),
        len(os.listdir("/proc/self/fd")),
        sum(1 for o in gc.get_objects() if isinstance(o, greenlet)),
    )


def settle_threads(limit: int) -> int:
    deadline = time.monotonic() + 10
    while len(os.listdir("/proc/self/task")) > limit and time.monotonic() < deadline:
        time.sleep(0.005)
    return len(os.listdir("/proc/self/task"))


@pytest.fixture
def request_(tmp_path):
    (tmp_path / "scene.w").write_bytes(b"source bytes")
    return ImportRequest(tmp_path / "scene.w", tmp_path / "cooked")


def test_one_hundred_construct_close_cycles_leak_nothing(request_):
    registry = ImporterRegistry()
    registry.register(".w", WritingImporter)

    def cycle():
        with AsyncImportService(registry=registry, cpu_threads=2, io_threads=2) as svc:
            report = svc.submit(request_).wait(T)
            assert report is not None and report.success and report.written == {"files": 1}

    cycle()  # warm-up: lazy imports, logging, caches
    threads, enumerated, fds, greenlets = counts()
    for _ in range(100):
        cycle()
    assert settle_threads(threads) <= threads
    after_threads, after_enumerated, after_fds, after_greenlets = counts()
    assert after_enumerated == enumerated
    assert after_fds == fds
    assert after_greenlets <= greenlets
    assert (request_.cooked_root and os.path.getsize(os.path.join(request_.cooked_root, "out.bin")) == 700)


def test_close_without_any_job_and_twice():
    svc = AsyncImportService(cpu_threads=1, registry=ImporterRegistry())
    assert svc.is_accepting_jobs()
    svc.close(T)
    svc.close(T)
    assert not svc.is_accepting_jobs() and svc.loop.shutdown_complete


def test_close_from_a_callback_on_the_import_thread_is_refused(request_):
    registry = ImporterRegistry()
    registry.register(".w", WritingImporter)
    errors: list[tuple[BaseException, bool]] = []

    def on_complete(report):
        try:
            svc.close()
        except RuntimeError as error:
            errors.append((error, svc.is_accepting_jobs()))  # refused before anything changed

    with AsyncImportService(registry=registry, cpu_threads=1) as svc:
        svc.submit(request_, on_complete).wait(T)
    assert len(errors) == 1 and "own hub thread" in str(errors[0][0]) and errors[0][1] is True
