"""``oxy serve``: a real daemon process, spoken to over HTTP (urllib), its root checked on disk."""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from conftest import CORPUS, PROJECT
from daemon_proc import START_TIMEOUT, Daemon, SseReader
from daemon_proc import png as _png, valid as _valid, wait as _wait


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("daemon")
    src, root = tmp / "src", tmp / "root"
    src.mkdir()
    _png(src / "before.png", seed=1)
    daemon = Daemon(tmp, root, [src])
    try:
        yield daemon.started(), src, tmp
    finally:
        daemon.kill()


def test_catch_up_cooks_sources_present_at_start(served) -> None:
    daemon, src, _tmp = served
    jobs = _wait(lambda: [j for j in daemon.jobs() if j["trigger"] == "catch-up" and j["state"] == "committed"],
                 20, "the catch-up job")
    assert str(src / "before.png") in jobs[0]["sources"]
    assert str(src / "before.png") in daemon.assets()
    status = daemon.get("/api/status")
    assert status["root"] == str(daemon.root) and status["watch"] == [str(src)]
    assert status["counts"]["texture"]["cooked"] >= 1
    _valid(daemon.root)


def test_new_modified_renamed_and_deleted_sources(served) -> None:
    daemon, src, tmp = served
    sse = SseReader(daemon.port)
    sse.start()
    assert sse.connected.wait(10)
    last = daemon.last_id()
    _png(src / "new.png", seed=2)  # a new image: cooked
    jobs = daemon.wait_idle(last)
    assert any(str(src / "new.png") in j["sources"] and j["state"] == "committed" for j in jobs)
    assert str(src / "new.png") in daemon.assets()
    _valid(daemon.root)
    _wait(lambda: any(e == "committed" for e, _d, _t in sse.snapshot()), 10, "an SSE committed event")
    names = [e for e, _d, _t in sse.snapshot()]
    assert "queued" in names and "started" in names

    before = daemon.assets()[str(src / "new.png")]["cooked_at"]
    last = daemon.last_id()
    _png(src / "new.png", seed=3)  # modified: cooked again
    jobs = daemon.wait_idle(last)
    assert jobs[-1]["counts"]["texture"]["cooked"] == 1
    assert daemon.assets()[str(src / "new.png")]["cooked_at"] > before

    last = daemon.last_id()
    _png(tmp / "scratch.png", seed=4)  # an editor's save: a temp name, then a rename to the final name
    shutil.copy(tmp / "scratch.png", src / "saved.png.tmp")
    os.replace(src / "saved.png.tmp", src / "saved.png")
    jobs = daemon.wait_idle(last)
    assert all(not s.endswith(".tmp") for j in jobs for s in j["sources"])
    assert str(src / "saved.png") in daemon.assets()

    last = daemon.last_id()
    os.remove(src / "new.png")  # deleted: no longer live, gone from the assets
    daemon.wait_idle(last)
    assets = daemon.assets()
    assert str(src / "new.png") not in assets and str(src / "saved.png") in assets
    _valid(daemon.root)
    status, _doc = daemon.request("POST", "/api/compact")  # the deleted texture is dropped
    assert status == 202
    compacted = daemon.wait_job(_doc["id"])
    assert compacted["state"] == "committed", compacted
    _valid(daemon.root)


def test_api_refuses_paths_outside_and_bad_requests(served) -> None:
    daemon, src, tmp = served
    outside = _png(tmp / "outside.png", seed=5)
    status, doc = daemon.request("POST", "/api/cook", {"paths": [str(outside)]})
    assert status == 403 and doc["error"]["code"] == "outside_watch"
    last = daemon.last_id()
    (src / "link.png").symlink_to(outside)  # inside the folder, pointing out of it
    status, doc = daemon.request("POST", "/api/cook", {"paths": [str(src / "link.png")]})
    assert status == 403, doc
    daemon.wait_idle(last)  # the watcher saw it, and did not cook it either
    assert str(src / "link.png") not in daemon.assets() and str(outside) not in daemon.assets()
    (src / "link.png").unlink()
    assert daemon.request("POST", "/api/cook", raw=b"{not json")[0] == 400
    assert daemon.request("POST", "/api/cook", {"paths": "x"})[0] == 400
    status, doc = daemon.request("POST", "/api/cook", raw=b"{" + b" " * (1 << 20) + b"}")
    assert status == 413 and doc["error"]["code"] == "body_too_large"
    status, doc = daemon.request("GET", "/api/jobs/999999")
    assert status == 404 and set(doc["error"]) == {"code", "message"}
    assert daemon.request("DELETE", "/api/jobs/999999")[0] == 404
    assert daemon.request("GET", "/api/nothing")[0] == 404
    status, doc = daemon.request("POST", "/api/cook", {"paths": [str(src / "before.png")], "force": True})
    assert status == 202 and doc["state"] in ("queued", "running")
    done = daemon.wait_job(doc["id"])
    assert done["state"] == "committed" and done["counts"]["texture"]["cooked"] == 1
    status, doc = daemon.request("DELETE", f"/api/jobs/{done['id']}")
    assert status == 409 and doc["error"]["code"] == "job_finished"


def test_metrics_parse_and_count_jobs(served) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    daemon, _src, _tmp = served
    text = daemon.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    committed = [s.value for s in families["oxy_daemon_jobs"].samples
                 if s.name == "oxy_daemon_jobs_total" and s.labels.get("outcome") == "committed"]
    assert committed and committed[0] >= 1
    for name in ("oxy_daemon_cook_seconds", "oxy_daemon_queue_depth", "oxy_daemon_watched_files",
                 "oxy_daemon_cache_hits", "oxy_daemon_cache_misses", "process_resident_memory_bytes"):
        assert name in families, name


def test_malformed_corpus_fails_jobs_not_the_daemon(served) -> None:
    daemon, src, _tmp = served
    last = daemon.last_id()
    bad = src / "bad"
    bad.mkdir()
    names = []
    for item in sorted((CORPUS / "malformed").iterdir()):
        if item.is_dir():
            shutil.copytree(item, bad / item.name)
            names += [p.name for p in (bad / item.name).iterdir() if p.suffix in (".gltf", ".glb")]
        else:
            shutil.copy(item, bad / item.name)
            names.append(item.name)
    misattributed: set[str] = set()  # every model of a batch names its own diagnostics

    def errors() -> list[dict[str, Any]]:
        jobs = daemon.wait_idle(last, timeout=30)
        return [d for j in jobs for d in j["diagnostics"] if d["severity"] == "error"]

    def covered() -> bool:
        found = errors()
        named = {os.path.basename(d["source_path"]) for d in found}
        return len(found) >= len(names) and set(names) - misattributed <= named

    _wait(covered, 30, "an error for every malformed file")
    jobs = daemon.wait_idle(last)
    assert any(j["state"] == "failed" for j in jobs)
    assert daemon.proc.poll() is None
    assert daemon.get("/api/status")["accepting"] is True
    _valid(daemon.root)
    shutil.rmtree(bad)
    daemon.wait_idle(daemon.last_id() - 1)


def test_many_saves_cook_as_one_job(served) -> None:
    daemon, src, tmp = served
    staging = tmp / "staging"
    staging.mkdir()
    files = [_png(staging / f"many{n:02}.png", seed=100 + n) for n in range(20)]
    last = daemon.last_id()
    for f in files:
        os.replace(f, src / f.name)
    jobs = daemon.wait_idle(last)
    assert len(jobs) == 1, [j["sources"] for j in jobs]
    assert {str(src / f.name) for f in files} <= set(jobs[0]["sources"])
    assert jobs[0]["state"] == "committed" and jobs[0]["counts"]["texture"]["cooked"] == 20


def test_settings_change_recooks_what_it_affects(served) -> None:
    daemon, src, _tmp = served
    last = daemon.last_id()
    (src / "before.png.oxy.toml").write_text("mips = false\n")
    jobs = daemon.wait_idle(last)
    assert sum(j["counts"].get("texture", {}).get("cooked", 0) for j in jobs) == 1  # only before.png
    record = daemon.assets()[str(src / "before.png")]
    assert "setting" in record["reason_text"], record["reason_text"]


def test_event_hub_drops_a_client_that_falls_behind() -> None:
    """In a thread of its own: the event hub is gevent code, and a gevent hub made on the
    test process's main thread would change where later tests' callbacks are delivered."""
    from oxy.daemon.events import CLIENT_QUEUE, EventHub

    outcome: list[object] = []

    def body() -> None:
        try:
            hub = EventHub()
            slow = hub.stream()
            assert next(slow).startswith(b": connected")  # registered, then never read again
            for n in range(CLIENT_QUEUE + 10):
                hub.publish("progress", {"job": 1, "n": n})
            assert len(hub) == 0 and hub.dropped == 1
            assert list(slow) == []  # its stream ends at once
            outcome.append("ok")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            outcome.append(exc)

    worker = threading.Thread(target=body)
    worker.start()
    worker.join(30)
    assert outcome and outcome[0] == "ok", outcome


def test_sigterm_stops_cleanly(served) -> None:
    daemon, _src, _tmp = served
    daemon.wait_idle(0, 60)  # (run alone, the catch-up may not have committed the root yet)
    assert daemon.stop() == 0
    events = [line["event"] for line in daemon.log_lines()]
    assert "shutdown.done" in events
    _valid(daemon.root)


def test_cancel_and_sigterm_mid_cook(tmp_path: pathlib.Path) -> None:
    src, root = tmp_path / "src", tmp_path / "root"
    src.mkdir()
    _png(src / "small.png")
    daemon = Daemon(tmp_path, root, [src], "--quality", "high", "--no-cache", "--grace", "0.5")
    try:
        daemon.started()
        daemon.wait_idle(0)
        _png(tmp_path / "big.png", size=1024, seed=7)
        os.replace(tmp_path / "big.png", src / "big.png")
        running = _wait(lambda: next((j for j in daemon.jobs() if j["state"] == "running"), None), 10, "a running job")
        status, queued = daemon.request("POST", "/api/cook", {"paths": [str(src / "big.png")], "force": True})
        assert status == 202 and queued["state"] == "queued"
        status, doc = daemon.request("DELETE", f"/api/jobs/{queued['id']}")  # a queued job: cancelled at once
        assert status == 200 and doc["state"] == "cancelled"
        status, doc = daemon.request("DELETE", f"/api/jobs/{running['id']}")  # a running one: requested
        if status == 202:
            assert doc["cancel_requested"] is True
            assert daemon.wait_job(running["id"])["state"] in ("cancelled", "committed")
        else:  # it had already finished: the documented conflict
            assert status == 409
        _valid(root)
        status, doc = daemon.request("POST", "/api/cook", {"paths": [str(src / "big.png")], "force": True})
        assert status == 202
        _wait(lambda: daemon.job(doc["id"])["state"] == "running", 10, "the forced cook to run")
        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        _wait(lambda: any(line["event"] == "signal" for line in daemon.log_lines()), 5, "the signal")
        try:  # new work is refused while the running job gets its grace
            status, doc = daemon.request("POST", "/api/cook", {"paths": [str(src / "small.png")]})
            assert status == 503 and doc["error"]["code"] == "shutting_down"
        except urllib.error.URLError:
            pass  # already closed: also a refusal
        try:
            code = daemon.proc.wait(0.5 + 15)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"no exit 15 s after the grace period:\n{daemon.log_text()[-3000:]}") from None
        assert code == 0
        assert time.monotonic() - started < 0.5 + 15
        _valid(root)
        assert any(line["event"] == "shutdown.cancelling" for line in daemon.log_lines())
    finally:
        daemon.kill()


def test_token_second_daemon_and_refusals(tmp_path: pathlib.Path) -> None:
    src, root = tmp_path / "src", tmp_path / "root"
    src.mkdir()
    daemon = Daemon(tmp_path, root, [src], token="s3cret")
    try:
        daemon.started()
        status, doc = daemon.request("GET", "/api/status", token=None)
        assert status == 401 and doc["error"]["code"] == "unauthorized"
        assert daemon.request("GET", "/metrics", token="wrong")[0] == 401
        assert daemon.request("GET", "/api/status")[0] == 200
        second = Daemon(tmp_path, root, [src])  # the same root: refused at start
        try:
            assert second.proc.wait(START_TIMEOUT) == 2
            assert "already serves" in second.log_text()
        finally:
            second.kill()
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    refused = Daemon(tmp_path, tmp_path / "r2", [src], "--host", "0.0.0.0")
    try:
        assert refused.proc.wait(START_TIMEOUT) == 1
        assert "--token is required" in refused.log_text()
    finally:
        refused.kill()
    inside = Daemon(tmp_path, src, [src])  # a watched folder that is the root
    try:
        assert inside.proc.wait(START_TIMEOUT) == 1
    finally:
        inside.kill()


def test_root_inside_a_watched_folder_is_never_a_source(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _png(src / "a.png")
    root = src / "cooked"
    daemon = Daemon(tmp_path, root, [src])
    try:
        daemon.started()
        jobs = daemon.wait_idle(0)
        assert daemon.get("/api/status")["watching"] is True
        _png(root / "stray.png", seed=9)  # a file inside the root: ignored
        time.sleep(0.6)  # several debounce periods: a commit's own writes must not start a loop of jobs
        assert len(daemon.jobs()) == len(jobs) == 1
        assert list(daemon.assets()) == [str(src / "a.png")]
        assert daemon.stop() == 0
        _valid(root)
    finally:
        daemon.kill()


def test_port_in_use_is_refused(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        env = {**os.environ, "OXY_CACHE_DIR": str(tmp_path / "cache")}
        proc = subprocess.run([sys.executable, "-m", "oxy", "serve", "--root", str(tmp_path / "root"), "--watch",
                               str(src), "--port", str(port)], capture_output=True, text=True, timeout=START_TIMEOUT,
                              env=env, cwd=PROJECT)
    assert proc.returncode == 2
    assert "already in use" in proc.stderr


def test_a_parser_crash_fails_that_model_and_the_daemon_goes_on(tmp_path: pathlib.Path) -> None:
    """libassimp runs in worker processes in the daemon: a segfault in one (injected
    through the worker's test hook) fails that model's job with the signal named; the
    next model cooks, and the daemon keeps serving."""
    src, root = tmp_path / "src", tmp_path / "root"
    src.mkdir()
    daemon = Daemon(tmp_path, root, [src], env_extra={"OXY_TEST_PARSER_CRASH": "crashme"}).started()
    try:
        _wait(lambda: daemon.jobs() and daemon.get("/api/status")["watching"], 30, "the catch-up and the watcher")
        daemon.wait_idle(0, timeout=60)
        last = daemon.last_id()
        shutil.copytree(CORPUS / "models" / "gltf_BoxTextured", src / "crashme")
        jobs = daemon.wait_idle(last, timeout=60)
        errors = [d for j in jobs for d in j["diagnostics"] if d["severity"] == "error"]
        assert any(d["code"] == "scene.parse_failed" and "SIGSEGV" in d["message"]
                   and "crashme" in d["source_path"] for d in errors), errors
        last = daemon.last_id()
        shutil.copytree(CORPUS / "models" / "gltf_Duck", src / "duck")
        jobs = daemon.wait_idle(last, timeout=60)
        assert any(j["state"] == "committed" for j in jobs), jobs
        assert daemon.proc.poll() is None and daemon.get("/api/status")["accepting"] is True
        _valid(root)
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_a_source_reported_changed_but_gone_is_forgotten(tmp_path: pathlib.Path) -> None:
    """The watcher's change set is unordered: a file rewritten and deleted within one
    batch may arrive as "modified" alone. The plan still forgets it (the soak tool found
    such sources staying live)."""
    from oxy.cli.main import main
    from oxy.daemon.config import make_config
    from oxy.daemon.plan import make_plan

    src, root = tmp_path / "src", tmp_path / "root"
    src.mkdir()
    image = _png(src / "gone.png", seed=4)
    assert main(["cook", str(src), "-o", str(root), "--no-cache"]) == 0
    image.unlink()
    plan = make_plan(make_config(str(root), [str(src)]), [os.path.realpath(image)], [])
    assert plan.forget == [os.path.realpath(image)] and not plan.images and not plan.models


def test_sigterm_right_after_listening_is_a_clean_stop(tmp_path: pathlib.Path) -> None:
    """A supervisor may signal as soon as the daemon says it listens: the handlers are in
    place before that line, so the daemon stops cleanly (exit 0), never dies of the signal."""
    src, root = tmp_path / "src", tmp_path / "root"
    src.mkdir()
    _png(src / "a.png")
    daemon = Daemon(tmp_path, root, [src])
    try:
        daemon.started()
        assert daemon.stop() == 0, daemon.log_text()
        assert "shutdown.done" in [line["event"] for line in daemon.log_lines()]
    finally:
        daemon.kill()
