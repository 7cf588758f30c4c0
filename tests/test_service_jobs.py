"""AsyncImportService: many jobs from many threads, cancellation, shutdown, exactly-once callbacks."""
from __future__ import annotations

import collections
import hashlib
import threading

import gevent
import pytest

from oxy.hub._native import Latch, allocate_lock
from oxy.importing import (
    AsyncImportService,
    ImporterRegistry,
    ImportPhase,
    ImportReport,
    ImportRequest,
    ServiceClosed,
    Severity,
)

T = 60.0


class Recorder:
    """Thread-safe record of every callback, per job, in arrival order."""

    def __init__(self, expected: int = 0) -> None:
        self.lock = allocate_lock()
        self.events: dict[int, list[tuple[str, object]]] = collections.defaultdict(list)
        self.reports: dict[int, list[ImportReport]] = collections.defaultdict(list)
        self.expected = expected
        self.all_done = Latch()
        if expected == 0:
            self.all_done.set()

    def on_complete(self, report: ImportReport) -> None:
        with self.lock:
            self.events[report.job_id].append(("complete", report))
            self.reports[report.job_id].append(report)
            if sum(len(r) for r in self.reports.values()) >= self.expected:
                self.all_done.set()

    def on_progress(self, event) -> None:
        with self.lock:
            self.events[event.job_id].append(("progress", event.phase))

    def on_cancel(self, job_id: int) -> None:
        with self.lock:
            self.events[job_id].append(("cancel", job_id))

    def kinds(self, job_id: int) -> list[str]:
        return [k for k, _ in self.events[job_id]]

    def check_exactly_once(self, job_id: int) -> ImportReport:
        """on_complete once and last; on_cancel once iff cancelled; progress first."""
        kinds = self.kinds(job_id)
        assert kinds.count("complete") == 1 and kinds[-1] == "complete", kinds
        report = self.reports[job_id][0]
        assert kinds.count("cancel") == (1 if report.cancelled else 0), kinds
        if report.cancelled:
            assert kinds[-2] == "cancel"
        assert all(k == "progress" for k in kinds[: len(kinds) - 1 - int(report.cancelled)])
        phases = [p for k, p in self.events[job_id] if k == "progress"]
        if phases:
            assert phases[-1] is report.phase
        return report

    def submit(self, service: AsyncImportService, request: ImportRequest, **kw) -> int:
        return service.submit_import(request, self.on_complete, self.on_progress, self.on_cancel, **kw)


class WorkImporter:
    """Does a little CPU-pool work and succeeds; tracks peak concurrency (hub thread only)."""

    running = 0
    peak = 0

    def __init__(self, request: ImportRequest) -> None:
        self.request = request

    def run(self, ctx) -> ImportReport:
        cls = type(self)
        cls.running += 1
        cls.peak = max(cls.peak, cls.running)
        try:
            ctx.report_progress(ImportPhase.PARSING, 0.5, items_done=1, items_total=2)
            digest = ctx.run_blocking(lambda: hashlib.sha256(b"x" * 65536).hexdigest())
            ctx.diagnose(Severity.INFO, "test.digest", digest[:8])
            ctx.report_progress(ImportPhase.WRITING, 1.0, items_done=2, items_total=2)
            return ctx.make_report(success=True, written={"test": 1})
        finally:
            cls.running -= 1


class GreenletBlocker:
    """Parks its greenlet until cancelled."""

    started = None  # set per test to a Latch

    def __init__(self, request: ImportRequest) -> None:
        pass

    def run(self, ctx) -> ImportReport:
        GreenletBlocker.started.set()
        gevent.sleep(3600)
        return ctx.make_report(success=True)


class PoolBlocker:
    """Keeps a CPU-pool thread busy until the job token is cancelled."""

    started = None

    def __init__(self, request: ImportRequest) -> None:
        pass

    def run(self, ctx) -> ImportReport:
        def kernel(token):
            PoolBlocker.started.set()
            while True:
                hashlib.sha256(b"p" * 16384).digest()
                token.raise_if_cancelled()

        ctx.run_blocking(kernel, ctx.token)
        return ctx.make_report(success=True)


class Failing:
    def __init__(self, request: ImportRequest) -> None:
        self.request = request

    def run(self, ctx) -> ImportReport:
        suffix = self.request.suffix
        if suffix == ".raise":
            raise RuntimeError("kaboom")
        if suffix == ".wrong":
            return "not a report"  # type: ignore[return-value]
        ctx.diagnose(Severity.ERROR, "test.bad_input", "bad", field_path="meshes[0]")
        return ctx.make_report(success=True)  # claims success despite an error diagnostic


@pytest.fixture
def registry():
    reg = ImporterRegistry()
    reg.register({".ok", "work"}, WorkImporter)
    reg.register(".gblock", GreenletBlocker)
    reg.register(".pblock", PoolBlocker)
    reg.register({".raise", ".wrong", ".lying"}, Failing)
    GreenletBlocker.started = Latch()
    PoolBlocker.started = Latch()
    WorkImporter.running = WorkImporter.peak = 0
    return reg


@pytest.fixture
def sources(tmp_path):
    def make(name: str) -> ImportRequest:
        path = tmp_path / name
        if not path.exists():
            path.write_bytes(b"source")
        return ImportRequest(path, tmp_path / "cooked")

    return make


def test_hundreds_of_jobs_from_eight_threads(registry, sources):
    per_thread, threads = 60, 8
    rec = Recorder(per_thread * threads)
    ids: list[int] = []
    ids_lock = threading.Lock()
    with AsyncImportService(registry=registry, cpu_threads=2, max_concurrent_jobs=3) as svc:
        request = sources("scene.ok")
        barrier = threading.Barrier(threads)

        def submitter():
            barrier.wait(T)
            mine = [rec.submit(svc, request) for _ in range(per_thread)]
            with ids_lock:
                ids.extend(mine)

        workers = [threading.Thread(target=submitter) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(T)
        assert rec.all_done.wait(T)
        assert svc.pending_job_count() == 0 and svc.in_flight_job_count() == 0
        assert not any(svc.is_job_active(i) for i in ids)
    assert len(ids) == len(set(ids)) == per_thread * threads and 0 not in ids
    for job_id in ids:
        report = rec.check_exactly_once(job_id)
        assert report.success and not report.cancelled and report.written == {"test": 1}
        assert report.diagnostic_codes() == ["test.digest"]
        phases = [p for k, p in rec.events[job_id] if k == "progress"]
        assert phases == [ImportPhase.PENDING, ImportPhase.PARSING, ImportPhase.WRITING, ImportPhase.COMPLETE]
    assert 1 <= WorkImporter.peak <= 3


def test_unknown_format_fails_with_a_clear_diagnostic(registry, sources):
    with AsyncImportService(registry=registry, cpu_threads=1) as svc:
        report = svc.submit(sources("model.xyz")).wait(T)
        missing = svc.submit(ImportRequest("/nonexistent/dir/scene.ok", "/tmp/cooked")).wait(T)
        no_suffix = svc.submit(sources("README")).wait(T)
    assert not report.success and not report.cancelled
    (diag,) = report.diagnostics
    assert diag.code == "import.unsupported_format" and diag.severity is Severity.ERROR
    assert "model.xyz" in diag.message and "'.xyz'" in diag.message and ".ok" in diag.message
    assert diag.source_path.endswith("model.xyz")
    assert missing.diagnostic_codes() == ["import.source_not_found"] and not missing.success
    assert no_suffix.diagnostic_codes() == ["import.unsupported_format"] and "(no suffix)" in no_suffix.errors[0].message


def test_importer_failures_become_reports_never_fake_success(registry, sources):
    with AsyncImportService(registry=registry, cpu_threads=1) as svc:
        raised = svc.submit(sources("a.raise")).wait(T)
        wrong = svc.submit(sources("a.wrong")).wait(T)
        lying = svc.submit(sources("a.lying")).wait(T)
    assert raised.diagnostic_codes() == ["import.internal_error"] and "kaboom" in raised.errors[0].message
    assert wrong.diagnostic_codes() == ["import.internal_error"] and "str" in wrong.errors[0].message
    assert lying.diagnostic_codes() == ["test.bad_input"] and lying.errors[0].field_path == "meshes[0]"
    assert not any(r.success for r in (raised, wrong, lying))


def test_cancel_pending_and_in_flight_jobs(registry, sources):
    rec = Recorder(6)
    with AsyncImportService(registry=registry, cpu_threads=2, max_concurrent_jobs=1) as svc:
        blocker = rec.submit(svc, sources("a.gblock"))
        queued = [rec.submit(svc, sources("b.ok")) for _ in range(5)]
        assert GreenletBlocker.started.wait(T)
        assert svc.in_flight_job_count() == 1 and svc.pending_job_count() == 5
        assert svc.cancel_job(queued[2]) is True
        assert svc.cancel_job(queued[2]) is False  # already cancelling
        assert svc.cancel_job(blocker) is True
        assert svc.cancel_job(987654) is False and svc.cancel_job(0) is False
        assert rec.all_done.wait(T)
        assert svc.cancel_job(blocker) is False  # finished
    for job_id in [blocker, *queued]:
        report = rec.check_exactly_once(job_id)
        expect_cancel = job_id in (blocker, queued[2])
        assert report.cancelled is expect_cancel and report.success is (not expect_cancel)
    # cancelled before it ran: no importer phase, only (maybe) pending, then cancelled
    phases = [p for k, p in rec.events[queued[2]] if k == "progress"]
    assert phases in ([ImportPhase.PENDING, ImportPhase.CANCELLED], [ImportPhase.CANCELLED])
    assert rec.kinds(queued[2])[-2:] == ["cancel", "complete"]


def test_cancel_in_flight_job_blocked_on_the_cpu_pool(registry, sources):
    with AsyncImportService(registry=registry, cpu_threads=1) as svc:
        handle = svc.submit(sources("x.pblock"))
        assert PoolBlocker.started.wait(T)
        assert handle.cancel()
        report = handle.wait(T)
        assert report is not None and report.cancelled and not report.success
        # the pool thread is free again: a normal job completes
        assert svc.submit(sources("y.ok")).wait(T).success


def test_cancel_all_and_max_concurrent_jobs_setting(registry, sources):
    rec = Recorder(4)
    with AsyncImportService(registry=registry, cpu_threads=2, max_concurrent_jobs=1) as svc:
        assert svc.max_concurrent_jobs == 1
        ids = [rec.submit(svc, sources(f"{i}.gblock")) for i in range(4)]
        assert GreenletBlocker.started.wait(T)
        svc.max_concurrent_jobs = 4
        assert svc.loop.call(lambda: None, timeout=T) is None  # the pump ran
        assert svc.in_flight_job_count() == 4 and svc.pending_job_count() == 0
        assert svc.cancel_all() == 4 and svc.cancel_all() == 0
        assert rec.all_done.wait(T)
        with pytest.raises(ValueError):
            svc.max_concurrent_jobs = 0
    assert all(rec.check_exactly_once(i).cancelled for i in ids)


def test_shutdown_with_work_in_flight(registry, sources):
    rec = Recorder(8)
    svc = AsyncImportService(registry=registry, cpu_threads=2, max_concurrent_jobs=2)
    ids = [rec.submit(svc, sources("a.pblock")), rec.submit(svc, sources("b.gblock"))]
    ids += [rec.submit(svc, sources(f"c{i}.ok")) for i in range(6)]
    assert PoolBlocker.started.wait(T) and GreenletBlocker.started.wait(T)
    svc.request_shutdown()  # non-blocking
    assert not svc.is_accepting_jobs()
    assert svc.submit_import(sources("late.ok"), rec.on_complete) == 0
    with pytest.raises(ServiceClosed):
        svc.submit(sources("late.ok"))
    svc.close(T)
    assert svc.loop.shutdown_complete
    assert rec.all_done.is_set()  # close() returned only after every callback ran
    reports = [rec.check_exactly_once(i) for i in ids]
    assert reports[0].cancelled and reports[1].cancelled
    assert all(r.cancelled or r.success for r in reports)
    assert len(rec.reports) == 8


def test_cancel_racing_completion_keeps_callbacks_exactly_once(registry, sources):
    total = 300
    rec = Recorder(total)
    outcome: dict[int, bool] = {}
    with AsyncImportService(registry=registry, cpu_threads=2, max_concurrent_jobs=4) as svc:
        request = sources("r.ok")
        ids = [rec.submit(svc, request) for _ in range(total)]

        def canceller(mine):
            for job_id in mine:  # races the jobs that are finishing right now
                outcome[job_id] = svc.cancel_job(job_id)

        # every other job, from two threads: one from the front of the queue (jobs
        # completing as we go), one from the back (jobs still pending)
        threads = [threading.Thread(target=canceller, args=(ids[0::4],)),
                   threading.Thread(target=canceller, args=(ids[-2::-4],))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(T)
        assert rec.all_done.wait(T)
    assert len(outcome) == total // 2
    cancelled = 0
    for job_id in ids:
        report = rec.check_exactly_once(job_id)
        # Only a requested cancel cancels; a job whose cancel came after it had finished
        # reports its success (the report tells which happened), as untouched jobs do.
        if report.cancelled:
            assert outcome.get(job_id, False)
            cancelled += 1
        assert report.success is (not report.cancelled)
    assert cancelled > 0  # the race really cancelled jobs


def test_handle_wait_from_a_plain_thread_returns_after_on_complete(registry, sources):
    seen: list[int] = []
    with AsyncImportService(registry=registry, cpu_threads=1) as svc:
        handle = svc.submit(sources("h.ok"), lambda r: seen.append(r.job_id))
        report = handle.wait(T)
        assert report is not None and report.success and seen == [handle.job_id] and handle.done()
        blocked = svc.submit(sources("h.gblock"))
        assert blocked.wait(0.01) is None
        assert svc.is_job_active(blocked.job_id) and svc.handle(blocked.job_id) is not None
    assert blocked.wait(T).cancelled  # close() cancelled it


def test_request_type_is_checked():
    with AsyncImportService(cpu_threads=1, registry=ImporterRegistry()) as svc:
        with pytest.raises(TypeError):
            svc.submit_import("scene.gltf", print)  # type: ignore[arg-type]
