"""The cook farm against real processes: a ``dask scheduler`` and two ``dask worker``
processes (with oxy's preload) on 127.0.0.1, started here; a shared cook cache in a
temporary folder that the workers fill, so a second client (fresh root, fresh local
cache) is all cache hits; a worker killed mid-run; the scheduler killed mid-run."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from farming import assert_same_roots, cook_set, fresh, noise_images
from oxy.build.cache import open_cache
from oxy.importing import AsyncImportService, ImportRequest

pytest.importorskip("distributed")

from oxy.farm import Farm  # noqa: E402



class Cluster:
    """One scheduler and ``workers`` nanny-managed worker processes (1 thread each)."""

    def __init__(self, folder: pathlib.Path, workers: int = 2) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.file = folder / "scheduler.json"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(self.file)],
            stdout=subprocess.DEVNULL, stderr=open(folder / "scheduler.log", "wb"), env=env)
        deadline = time.monotonic() + 120
        while not self.file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.file.exists(), (folder / "scheduler.log").read_text()
        time.sleep(0.2)  # the file is written in one go, but let the write finish
        self.address = json.loads(self.file.read_text())["address"]
        self.workers = [
            subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", self.address, "--nthreads", "1", "--no-dashboard",
                 "--host", "127.0.0.1", "--name", f"w{i}", "--preload", "oxy.farm.worker"],
                stdout=subprocess.DEVNULL, stderr=open(folder / f"worker{i}.log", "wb"), env=env)
            for i in range(workers)]

    def worker_pids(self, farm: Farm) -> list[int]:
        """The pids of the worker processes themselves (the nannies' children)."""
        return sorted(farm.client.run(os.getpid).values())

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("dask"))
    yield cluster
    cluster.stop()


def connect(cluster: Cluster, **options) -> Farm:
    farm = Farm.connect(cluster.address, connect_timeout=120, **options)
    farm.client.wait_for_workers(2, timeout=120)
    return farm


def test_a_shared_cache_filled_by_workers_makes_a_second_client_all_hits(cluster, tmp_path):
    shared = tmp_path / "shared-cache"
    with AsyncImportService() as local:
        expected = cook_set(local, fresh(tmp_path / "local"))
    farm = connect(cluster)
    try:
        assert len(farm.check_versions()) == 2
        first_cache = open_cache(str(shared), local_dir=str(tmp_path / "client1-cache"))
        with AsyncImportService(farm=farm, cache=first_cache) as service:
            first = cook_set(service, fresh(tmp_path / "first"))
        assert all(r.success for r in first), [r.diagnostics for r in first]
        submitted = farm.counters.submitted
        assert submitted == 7
        # the workers wrote every unit into the shared folder (this client skips the upload)
        assert first_cache.counters.snapshot().get("remote_writes", 0) == 0
        assert len(list((shared / "v1").rglob("*"))) - len(list((shared / "v1").glob("*"))) == 7
        second_cache = open_cache(str(shared), local_dir=str(tmp_path / "client2-cache"))
        with AsyncImportService(farm=farm, cache=second_cache) as service:
            second = cook_set(service, fresh(tmp_path / "second"))
        assert all(r.success for r in second)
        assert farm.counters.submitted == submitted  # nothing went to the cluster
        for report in second:
            for kind in ("texture", "scene_parse", "geometry"):
                if kind in report.counts:
                    assert report.counts[kind]["cooked"] == 0
                    assert report.counts[kind]["cache_hits_remote"] > 0
    finally:
        farm.close()
    assert_same_roots(tmp_path / "local", tmp_path / "first", tmp_path, expected, first)
    assert_same_roots(tmp_path / "local", tmp_path / "second", tmp_path, expected, second)


@pytest.mark.slow
def test_a_worker_killed_mid_run_still_gives_identical_bytes(cluster, tmp_path):
    images = noise_images(tmp_path / "noise", 6, 768)
    with AsyncImportService() as local:
        expected = cook_set(local, fresh(tmp_path / "local"), images, model=None)
    farm = connect(cluster)
    try:
        victim = cluster.worker_pids(farm)[0]
        with AsyncImportService(farm=farm) as service:
            handle = service.submit(ImportRequest(str(images[0]), str(fresh(tmp_path / "farm")),
                                                  options={"sources": [str(i) for i in images[1:]]}))
            deadline = time.monotonic() + 120  # kill once the victim is executing one of our tasks
            while time.monotonic() < deadline and not handle.done():
                busy = farm.client.run(lambda dask_worker: [str(k) for k in dask_worker.state.executing],
                                       workers=None)
                if any(pid_tasks for pid_tasks in busy.values()):
                    break
                time.sleep(0.05)
            os.kill(victim, signal.SIGKILL)
            report = handle.wait(600)
        assert report is not None and report.success, report and report.diagnostics
    finally:
        farm.close()
    assert_same_roots(tmp_path / "local", tmp_path / "farm", tmp_path, expected, [report])


@pytest.mark.slow
def test_a_lost_scheduler_fails_the_job_cleanly(cluster, tmp_path):
    images = noise_images(tmp_path / "noise", 8, 1024)
    root = fresh(tmp_path / "root")
    farm = connect(cluster, lost_after=3)
    try:
        with AsyncImportService(farm=farm) as service:
            handle = service.submit(ImportRequest(str(images[0]), str(root),
                                                  options={"sources": [str(i) for i in images[1:]]}))
            deadline = time.monotonic() + 120
            while farm.in_flight == 0 and not handle.done() and time.monotonic() < deadline:
                time.sleep(0.02)
            cluster.scheduler.send_signal(signal.SIGKILL)
            report = handle.wait(300)
            assert report is not None and not report.success and not report.cancelled
            assert [d.code for d in report.errors] == ["farm.failed"]
            assert "lost the cook farm's scheduler" in report.errors[0].message
            later = service.submit(ImportRequest(str(images[0]), str(root))).wait(120)
            assert later is not None and [d.code for d in later.errors] == ["farm.failed"]
    finally:
        farm.close()
    assert not (root / "container.index.bin").exists()  # nothing committed, nothing staged left behind
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == [".oxy-lock"]
