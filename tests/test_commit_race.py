"""A cancel that arrives while an index is being committed must neither tear the commit
apart nor be reported as a cancel: the commit finishes and the report says so."""
from __future__ import annotations

import threading

import gevent

from oxy.errors import OperationCancelled
from oxy.hub import ImportLoop
from oxy.importing import AsyncImportService, ImportRequest, register_importer
from oxy.importing.registry import ImporterRegistry
from oxy.importing.session_io import HubSessionIO
from oxy.importing.types import ImportReport

from conftest import CORPUS


def test_shielded_runs_to_completion_and_absorbs_a_kill():
    with ImportLoop(cpu_threads=1) as loop:
        def scenario() -> tuple[object, list[str], int]:
            io = HubSessionIO()
            steps: list[str] = []

            def commit() -> str:
                steps.append("start")
                gevent.sleep(0.2)
                steps.append("end")
                return "committed"

            job = gevent.spawn(io.shielded, commit)
            gevent.sleep(0.05)
            job.kill(OperationCancelled("too late"), block=True)  # the cancel lands mid-commit
            io.close()
            return job.value, steps, io.absorbed_cancels
        value, steps, absorbed = loop.call(scenario, timeout=30)
    assert value == "committed" and steps == ["start", "end"] and absorbed == 1


COMMIT_STARTED = threading.Event()


class _SlowCommitImporter:
    """Commits through a shielded step that outlasts the cancel (``COMMIT_STARTED`` is set
    once the shielded step runs, so the test cancels mid-commit, never before it)."""

    def __init__(self, request: ImportRequest) -> None:
        self.request = request

    def run(self, ctx) -> ImportReport:
        io = HubSessionIO(ctx.writer())

        def commit() -> bool:
            COMMIT_STARTED.set()
            gevent.sleep(1.0)  # ample time for the test thread to cancel, even on a loaded machine
            return True
        ok = io.shielded(commit)
        return ctx.make_report(success=ok, written={"commits": 1})


def test_a_cancel_that_loses_to_the_commit_is_reported_as_success():
    registry = ImporterRegistry()
    register_importer(".png", _SlowCommitImporter, registry=registry)
    with AsyncImportService(registry=registry) as service:
        COMMIT_STARTED.clear()
        handle = service.submit(ImportRequest(str(CORPUS / "images" / "net.png"), "/tmp/unused-root"))
        assert COMMIT_STARTED.wait(30)  # the shielded commit is running (a fixed sleep lost that race under load)
        assert handle.cancel()  # requested while the commit runs
        report = handle.wait(30)
    assert report.success and not report.cancelled and report.written == {"commits": 1}
