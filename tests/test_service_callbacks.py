"""Where callbacks run: the caller's gevent hub, the import thread, or an executor; and
the monkey-patched / unpatched processes (each in a subprocess, since ``patch_all``
must come before every other import)."""
from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import textwrap
import threading

import gevent
import pytest

from oxy.hub._native import Latch, get_ident
from oxy.importing import AsyncImportService, ImporterRegistry, ImportRequest

T = 60.0
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GateImporter:
    """Waits (greenlet-blocking, polling a native latch) until the test opens the gate."""

    gate: Latch

    def __init__(self, request):
        pass

    def run(self, ctx):
        while not GateImporter.gate.is_set():
            gevent.sleep(0.001)
        return ctx.make_report(success=True)


class QuickImporter:
    def __init__(self, request):
        pass

    def run(self, ctx):
        return ctx.make_report(success=True)


@pytest.fixture
def service(tmp_path):
    reg = ImporterRegistry()
    reg.register(".gate", GateImporter)
    reg.register(".quick", QuickImporter)
    GateImporter.gate = Latch()
    for name in ("s.gate", "s.quick"):
        (tmp_path / name).write_bytes(b"x")
    with AsyncImportService(registry=reg, cpu_threads=1) as svc:
        yield svc


def request(tmp_path, name):
    return ImportRequest(tmp_path / name, tmp_path / "cooked")


def where() -> dict[str, object]:
    hub = gevent._hub_local.get_hub_if_exists()
    return {"thread": get_ident(), "hub": hub, "in_hub_greenlet": hub is not None and gevent.getcurrent() is hub}


def test_callbacks_run_on_the_gevent_callers_own_hub_without_blocking_it(service, tmp_path):
    out: dict[str, object] = {}

    def gevent_thread():
        hub = gevent.get_hub()  # this thread runs gevent
        calls: list[tuple[str, dict]] = []
        handle = service.submit(
            request(tmp_path, "s.gate"),
            on_complete=lambda report: calls.append(("complete", where())),
            on_progress=lambda event: calls.append(("progress", where())),
        )

        def opener():
            # runs only if this hub keeps turning while the main greenlet waits
            GateImporter.gate.set()

        gevent.spawn(opener)
        with gevent.Timeout(T):
            report = handle.wait()
        out.update(report=report, calls=calls, hub=hub, thread=get_ident())
        hub.destroy(True)

    t = threading.Thread(target=gevent_thread)
    t.start()
    t.join(T)
    report, calls = out["report"], out["calls"]
    assert report is not None and report.success
    assert [k for k, _ in calls][-1] == "complete" and len(calls) >= 2
    for _, info in calls:
        assert info["thread"] == out["thread"] and info["hub"] is out["hub"]
        assert not info["in_hub_greenlet"]  # each callback in its own greenlet: it may block


def test_plain_thread_callbacks_run_on_the_import_thread(service, tmp_path):
    import_thread = service.loop.call(get_ident, timeout=T)
    seen: list[dict] = []
    report = service.submit(request(tmp_path, "s.quick"), lambda r: seen.append(where())).wait(T)
    assert report.success and seen[0]["thread"] == import_thread and seen[0]["thread"] != get_ident()


def test_executor_argument_and_service_default_executor(tmp_path):
    (tmp_path / "s.quick").write_bytes(b"x")
    reg = ImporterRegistry()
    reg.register(".quick", QuickImporter)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cb") as pool:
        pool_thread = pool.submit(get_ident).result(T)
        with AsyncImportService(registry=reg, cpu_threads=1, callback_executor=pool) as svc:
            seen: list[int] = []
            svc.submit(request(tmp_path, "s.quick"), lambda r: seen.append(get_ident())).wait(T)
            other = concurrent.futures.ThreadPoolExecutor(1)
            other_thread = other.submit(get_ident).result(T)
            svc.submit(request(tmp_path, "s.quick"), lambda r: seen.append(get_ident()), executor=other).wait(T)
            other.shutdown()
            # an executor that refuses work: delivery falls back to the import thread
            import_thread = svc.loop.call(get_ident, timeout=T)
            svc.submit(request(tmp_path, "s.quick"), lambda r: seen.append(get_ident()), executor=other).wait(T)
    assert seen == [pool_thread, other_thread, import_thread]


def test_delivery_falls_back_when_the_callers_hub_is_gone(service, tmp_path):
    handles = []
    seen: list[int] = []

    def short_lived_gevent_thread():
        gevent.get_hub()
        handles.append(service.submit(request(tmp_path, "s.gate"), lambda r: seen.append(get_ident())))
        gevent.get_hub().destroy(True)  # leaves before the job finishes

    t = threading.Thread(target=short_lived_gevent_thread)
    t.start()
    t.join(T)
    GateImporter.gate.set()
    report = handles[0].wait(T)
    assert report is not None and report.success
    assert seen == [service.loop.call(get_ident, timeout=T)]


EMBED_SCRIPT = textwrap.dedent(
    r"""
    import sys
    PATCH = sys.argv[1] == "patched"
    if PATCH:
        from gevent import monkey
        monkey.patch_all()
    import os, tempfile, threading, time, hashlib
    import gevent
    from gevent import monkey
    from oxy.importing import AsyncImportService, ImporterRegistry, ImportRequest
    from oxy.hub._native import get_ident

    assert monkey.is_module_patched("threading") is PATCH

    class Sleepy:
        def __init__(self, request):
            pass
        def run(self, ctx):
            time.sleep(0.001)  # patched: a greenlet sleep on the import hub
            ctx.run_blocking(hashlib.sha256, b"x" * 100000)
            return ctx.make_report(success=True, written={"n": 1})

    reg = ImporterRegistry()
    reg.register(".s", Sleepy)
    tmp = tempfile.mkdtemp()
    src = os.path.join(tmp, "a.s")
    open(src, "wb").write(b"x")
    native_before = len(os.listdir("/proc/self/task"))
    svc = AsyncImportService(registry=reg, cpu_threads=2)
    hub_thread = svc.loop.call(get_ident, timeout=30)
    assert hub_thread != get_ident(), "the import hub must be a real thread"

    main_hub = gevent.get_hub()  # the main thread runs gevent in both modes
    where = []
    ticks = []
    def ticker():
        while len(ticks) < 5:
            ticks.append(1)
            gevent.sleep(0.001)
    tick = gevent.spawn(ticker)
    handles = [svc.submit(ImportRequest(src, tmp), lambda r: where.append((get_ident(), gevent.getcurrent() is not main_hub)))
               for _ in range(20)]
    # waiting from many greenlets at once, with a timeout, never blocking the hub
    waiters = [gevent.spawn(h.wait, 30) for h in handles]
    gevent.joinall(waiters, timeout=30)
    reports = [w.value for w in waiters]
    tick.join(timeout=30)
    assert all(r is not None and r.success for r in reports), reports
    assert len(where) == 20 and all(ident == get_ident() and in_greenlet for ident, in_greenlet in where), where
    assert len(ticks) == 5

    # a second, greenlet-based "thread" (monkey-patched) submits too
    results = []
    def submit_from_patched_thread():
        results.append(svc.submit(ImportRequest(src, tmp)).wait(30))
    th = threading.Thread(target=submit_from_patched_thread)
    th.start(); th.join(30)
    assert results and results[0].success
    svc.close(timeout=30)
    for _ in range(2000):
        if len(os.listdir("/proc/self/task")) <= native_before:
            break
        gevent.sleep(0.005)
    assert len(os.listdir("/proc/self/task")) <= native_before, "native threads leaked"
    print("EMBED OK", "patched" if PATCH else "unpatched")
    """
)


@pytest.mark.parametrize("mode", ["patched", "unpatched"])
def test_embedding_in_a_subprocess(mode):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-c", EMBED_SCRIPT, mode], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"EMBED OK {mode}" in proc.stdout
