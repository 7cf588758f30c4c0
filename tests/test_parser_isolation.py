"""Parser isolation: libassimp in worker processes (oxy/importing/scene/isolated.py).

Real worker processes throughout; crashes and hangs are injected with the worker's
test hooks (``OXY_TEST_PARSER_CRASH`` / ``OXY_TEST_PARSER_HANG``, read by the worker
from the environment it starts with)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import CORPUS, PROJECT
from oxy.build import unit_codec
from oxy.importing.scene.backend import SceneParseError
from oxy.importing.scene.backend_assimp import AssimpBackend
from oxy.importing.scene.isolated import CRASH_ENV, HANG_ENV, IsolatedAssimpBackend
from oxy.validate import validate_loose_root

MODELS = CORPUS / "models"
DUCK = MODELS / "gltf_Duck" / "Duck.gltf"
BOX = MODELS / "gltf_BoxTextured" / "BoxTextured.gltf"
GLB_DUCK = MODELS / "glb_Duck" / "Duck.glb"


def _gone(pid: int) -> bool:
    """True when the process no longer exists or is a zombie of a process that is not us
    (a zombie child of ours would mean a worker was never reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return True
    return fields[0] == "Z" and int(fields[1]) != os.getpid()


def _worker_children() -> list[int]:
    """Our child processes (zombies included) that run the parser worker."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and (b"worker_main" in cmdline or not cmdline):
            out.append(int(entry))
    return out


def _wait_gone(pids: list[int], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(_gone(p) for p in pids):
            return True
        time.sleep(0.05)
    return all(_gone(p) for p in pids)


def test_isolated_parse_equals_the_in_process_parse():
    with IsolatedAssimpBackend(workers=1) as backend:
        assert backend.name == AssimpBackend.name == "assimp"
        isolated = backend.parse(str(DUCK))
        again = backend.parse(str(DUCK))  # the same worker, reused
        assert len(backend.worker_pids()) == 1
    local = AssimpBackend().parse(str(DUCK))
    assert isolated.source_path == local.source_path == str(DUCK)
    assert unit_codec.encode(isolated) == unit_codec.encode(local) == unit_codec.encode(again)
    assert isolated.meshes and isolated.materials


def test_parse_errors_come_back_with_the_reason_and_keep_the_worker(tmp_path):
    bad = tmp_path / "bad.gltf"
    bad.write_text("{ not json")
    with IsolatedAssimpBackend(workers=1) as backend:
        with pytest.raises(SceneParseError) as err:
            backend.parse(str(bad))
        local = pytest.raises(SceneParseError, AssimpBackend().parse, str(bad))
        assert err.value.path == str(bad) and err.value.reason == local.value.reason
        pids = backend.worker_pids()
        with pytest.raises(SceneParseError, match="file not found"):
            backend.parse(str(tmp_path / "missing.gltf"))
        assert backend.parse(str(BOX)).meshes
        assert backend.worker_pids() == pids  # an ordinary parse error does not cost the worker


def test_a_segfault_fails_that_parse_alone_and_the_worker_is_replaced(monkeypatch):
    monkeypatch.setenv(CRASH_ENV, "gltf_Duck")
    with IsolatedAssimpBackend(workers=1) as backend:
        assert backend.parse(str(BOX)).meshes
        [first] = backend.worker_pids()
        with pytest.raises(SceneParseError) as err:
            backend.parse(str(DUCK))
        assert err.value.path == str(DUCK) and str(DUCK) in str(err.value)
        assert err.value.reason == "parser crashed: killed by signal SIGSEGV (worker replaced)"
        assert _gone(first)  # killed and reaped at once: no zombie
        assert backend.parse(str(GLB_DUCK)).meshes  # the next parse works, on a new worker
        [second] = backend.worker_pids()
        assert second != first
    assert _wait_gone([second]) and not _worker_children()


def test_a_hang_times_out_and_the_worker_is_killed(monkeypatch):
    monkeypatch.setenv(HANG_ENV, "gltf_Duck")
    with IsolatedAssimpBackend(workers=2, timeout=2) as backend:
        started = time.monotonic()
        with pytest.raises(SceneParseError) as err:
            backend.parse(str(DUCK))
        assert time.monotonic() - started < 30
        assert err.value.path == str(DUCK)
        assert err.value.reason == "parser timed out after 2 s (worker killed)"
        assert backend.worker_pids() == []  # killed and reaped
        assert backend.parse(str(BOX)).meshes
    assert not _worker_children()


def test_concurrent_parses_from_many_threads_with_a_crash_among_them(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv(CRASH_ENV, "glb_Duck")
    paths = [str(p) for p in (DUCK, BOX, GLB_DUCK, BOX, DUCK, BOX)]
    with IsolatedAssimpBackend(workers=2) as backend:
        def parse(path):
            try:
                return backend.parse(path).source_path
            except SceneParseError as exc:
                return exc.reason
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(parse, paths))
        assert len(backend.worker_pids()) <= 2
    assert results[2] == "parser crashed: killed by signal SIGSEGV (worker replaced)"
    assert [r for i, r in enumerate(results) if i != 2] == [p for i, p in enumerate(paths) if i != 2]
    assert not _worker_children()


def test_workers_of_a_killed_parent_exit_by_themselves(tmp_path):
    """One idle worker (EOF on its pipe) and one stuck in a parse (its watchdog)."""
    script = textwrap.dedent(f"""
        import os, signal, threading, time
        from oxy.importing.scene.isolated import IsolatedAssimpBackend
        b = IsolatedAssimpBackend(workers=2, timeout=600)
        threading.Thread(target=b.parse, args=({str(DUCK)!r},), daemon=True).start()
        while not b.worker_pids():
            time.sleep(0.05)
        b.parse({str(BOX)!r})  # on a second worker: the first is stuck
        time.sleep(0.5)
        print(" ".join(map(str, b.worker_pids())), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**os.environ, HANG_ENV: "gltf_Duck"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT, env=env,
                            timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    pids = [int(p) for p in result.stdout.split()]
    assert len(pids) == 2
    assert _wait_gone(pids, 10.0), [open(f"/proc/{p}/stat").read() for p in pids if not _gone(p)]


def test_service_with_isolated_parsers_after_monkey_patching(tmp_path):
    """An embedder that called ``gevent.monkey.patch_all()``: spawning, waiting and reaping
    use the unpatched originals (gevent's posix_spawn wants child watchers)."""
    script = textwrap.dedent(f"""
        from gevent import monkey; monkey.patch_all()
        from oxy.importing import AsyncImportService, ImportRequest
        with AsyncImportService(isolate_parsers=True, parse_timeout=60) as service:
            for source, root in (({str(DUCK)!r}, "a"), ({str(BOX)!r}, "b")):
                report = service.submit(ImportRequest(source, {str(tmp_path)!r} + "/" + root)).wait(120)
                print(report.success, *[d.message for d in report.errors], sep="|")
    """)
    env = {**os.environ, CRASH_ENV: "gltf_Duck"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    crashed, ok = result.stdout.splitlines()
    assert crashed == f"False|cannot import {DUCK}: parser crashed: killed by signal SIGSEGV (worker replaced)"
    assert ok == "True"


def test_close_stops_the_workers_and_refuses_further_parses():
    backend = IsolatedAssimpBackend(workers=2)
    backend.parse(str(BOX))
    pids = backend.worker_pids()
    backend.close()
    assert pids and _wait_gone(pids) and backend.worker_pids() == []
    with pytest.raises(SceneParseError, match="closed"):
        backend.parse(str(BOX))
    backend.close()  # idempotent


def _copies(tmp_path, names):
    out = []
    for name in names:
        shutil.copytree(BOX.parent, tmp_path / name)
        out.append(tmp_path / name / BOX.name)
    return out


def test_service_batch_with_a_crashing_model(tmp_path, monkeypatch):
    from oxy.formats import parse_index
    from oxy.importing import AsyncImportService, ImportRequest

    monkeypatch.setenv(CRASH_ENV, f"{os.sep}crash{os.sep}")
    models = _copies(tmp_path, ("good1", "crash", "good2"))
    root = tmp_path / "root"
    request = ImportRequest(str(models[0]), str(root), options={
        "name_prefix": "good1", "scene_name": "good1",
        "models": [{"path": str(models[1]), "name_prefix": "crash", "scene_name": "crash"},
                   {"path": str(models[2]), "name_prefix": "good2", "scene_name": "good2"}]})
    with AsyncImportService(isolate_parsers=True, parse_timeout=60) as service:
        report = service.submit(request).wait(120)
        assert report is not None and not report.success
        [error] = report.errors
        assert error.code == "scene.parse_failed" and error.source_path == str(models[1])
        assert str(models[1]) in error.message and "SIGSEGV" in error.message
        index = parse_index((root / "container.index.bin").read_bytes())
        names = sorted(a.virtual_path.rsplit("/", 1)[1] for a in index.assets)
        assert [n for n in names if n.startswith("good1")] and [n for n in names if n.startswith("good2")]
        assert not [n for n in names if n.startswith("crash")]
        assert validate_loose_root(root, verify_hashes=True).ok
        # the service (and its backend) stay usable
        again = service.submit(ImportRequest(str(DUCK), str(tmp_path / "root2"))).wait(120)
        assert again is not None and again.success, again.diagnostics
        assert _worker_children()
    assert _wait_gone(_worker_children()) and not _worker_children()


def test_isolated_parses_share_the_cook_cache_with_in_process_ones(tmp_path):
    from oxy.build.cache import open_cache
    from oxy.importing import AsyncImportService, ImportRequest

    cache = open_cache(str(tmp_path / "cache"))
    with AsyncImportService(cache=cache) as service:
        first = service.submit(ImportRequest(str(DUCK), str(tmp_path / "a"))).wait(120)
    with AsyncImportService(cache=cache, isolate_parsers=True) as service:
        second = service.submit(ImportRequest(str(DUCK), str(tmp_path / "b"))).wait(120)
    assert first.success and second.success
    assert first.counts["scene_parse"].get("cooked") == 1
    assert second.counts["scene_parse"].get("cache_hits_local") == 1  # same key: backend name "assimp"


def test_oxy_cook_isolate_parsers(tmp_path):
    folder = tmp_path / "models"
    for name in ("gltf_BoxTextured", "gltf_Duck", "obj_spider"):
        shutil.copytree(MODELS / name, folder / name)
    root = tmp_path / "root"
    command = [sys.executable, "-m", "oxy", "cook", str(folder), "-o", str(root), "--no-cache", "--json",
               "--isolate-parsers", "--parse-timeout", "60"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, timeout=300)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["counts"]["scene_parse"]["cooked"] == 3 and all(j["success"] for j in doc["jobs"])
    assert validate_loose_root(root, verify_hashes=True).ok
    # a crash in one model: exit 4, that model named with the signal, the others written
    env = {**os.environ, CRASH_ENV: "gltf_Duck"}
    crashed = subprocess.run([*command[:6], str(tmp_path / "root2"), *command[7:]], capture_output=True, text=True,
                             cwd=PROJECT, timeout=300, env=env)
    assert crashed.returncode == 4, crashed.stderr
    assert "scene.parse_failed" in crashed.stderr and "Duck.gltf" in crashed.stderr
    assert "killed by signal SIGSEGV" in crashed.stderr
    parses = json.loads(crashed.stdout)["counts"]["scene_parse"]
    assert (parses["cooked"], parses["failed"]) == (2, 1)


# -- recycling: a worker is replaced after max_parses parses or above max_rss -------------------------

def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_worker_is_replaced_after_max_parses_and_nothing_leaks():
    fds = _fds()
    reference = unit_codec.encode(AssimpBackend().parse(str(BOX)))
    seen: list[int] = []
    with IsolatedAssimpBackend(workers=1, max_parses=3, max_rss=0) as backend:
        for n in range(1, 8):
            parsed = backend.parse(str(BOX))
            assert unit_codec.encode(parsed) == reference  # parses keep working across replacements
            pids = backend.worker_pids()
            assert len(_worker_children()) == len(pids) <= 1
            if n % 3 == 0:
                assert pids == [] and _gone(seen[-1])  # retired after its 3rd parse: exited and reaped
            else:
                assert len(pids) == 1
                if not seen or seen[-1] != pids[0]:
                    seen.append(pids[0])
        assert len(seen) == 3 and len(set(seen)) == 3
        assert backend.recycled == {"parses": 2, "rss": 0}
        live = backend.worker_pids()
    assert _wait_gone(live) and not _worker_children()
    assert _fds() == fds  # every worker's two pipe ends were closed


def test_a_worker_above_max_rss_is_replaced_after_its_parse():
    with IsolatedAssimpBackend(workers=1, max_parses=0, max_rss=0) as backend:
        backend.parse(str(DUCK))
        [pid] = backend.worker_pids()
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    # a limit above what the worker holds keeps it; one below replaces it after every parse
    with IsolatedAssimpBackend(workers=1, max_parses=0, max_rss=4 * rss) as backend:
        backend.parse(str(DUCK))
        first = backend.worker_pids()
        assert backend.parse(str(DUCK)).meshes and backend.worker_pids() == first
        assert backend.recycled == {"parses": 0, "rss": 0}
    with IsolatedAssimpBackend(workers=1, max_parses=0, max_rss=rss // 2) as backend:
        for _ in range(3):
            assert backend.parse(str(DUCK)).meshes
            assert backend.worker_pids() == [] and not _worker_children()  # retired and reaped
        assert backend.recycled == {"parses": 0, "rss": 3}
    assert not _worker_children()


def test_recycling_under_concurrent_parses_keeps_within_the_pool_size():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    fds = _fds()
    most, stop = [0], threading.Event()

    def watch():
        while not stop.is_set():
            most[0] = max(most[0], len(_worker_children()))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with IsolatedAssimpBackend(workers=2, max_parses=2, max_rss=0) as backend:
            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(lambda p: backend.parse(p).source_path, [str(BOX), str(DUCK)] * 6))
            assert results == [str(BOX), str(DUCK)] * 6
            assert backend.recycled["parses"] >= 5  # 12 parses, 2 per worker
            live = backend.worker_pids()
    finally:
        stop.set()
        watcher.join()
    assert 1 <= most[0] <= 2
    assert _wait_gone(live) and not _worker_children()
    assert _fds() == fds


def test_recycling_limits_from_the_environment(monkeypatch):
    from oxy.importing.scene.isolated import DEFAULT_MAX_PARSES, DEFAULT_MAX_RSS, MAX_PARSES_ENV, MAX_RSS_ENV

    backend = IsolatedAssimpBackend(workers=1)
    assert (backend.max_parses, backend.max_rss) == (DEFAULT_MAX_PARSES, DEFAULT_MAX_RSS) == (200, 1 << 30)
    monkeypatch.setenv(MAX_PARSES_ENV, "7")
    monkeypatch.setenv(MAX_RSS_ENV, "512")
    backend = IsolatedAssimpBackend(workers=1)
    assert (backend.max_parses, backend.max_rss) == (7, 512 << 20)
    assert IsolatedAssimpBackend(workers=1, max_parses=0).max_parses == 0  # an argument wins
    monkeypatch.setenv(MAX_RSS_ENV, "lots")
    with pytest.raises(ValueError, match="OXY_PARSER_MAX_RSS_MIB='lots': not a whole number"):
        IsolatedAssimpBackend(workers=1)
    with pytest.raises(ValueError, match="max_parses must be 0"):
        IsolatedAssimpBackend(workers=1, max_parses=-1)
