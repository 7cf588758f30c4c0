"""The cook farm on a real Dask LocalCluster (2 worker processes, one per module):
byte-identical roots and PAKs against a local cook, a bad input failing alone,
cancellation reaching the cluster, the version check, address parsing and the
gevent rule."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from conftest import CORPUS, PROJECT
from farming import IMAGES, assert_same_roots, cook_set, fresh, noise_images
from oxy.importing import AsyncImportService, ImportRequest

pytest.importorskip("distributed")

from oxy.farm import Farm, FarmError, FarmVersionMismatch  # noqa: E402
from oxy.farm.executor import parse_address  # noqa: E402


@pytest.fixture(scope="module")
def farm():
    farm = Farm.connect("local:2", task_timeout=300)
    yield farm
    farm.close()


def scheduler_tasks(farm: Farm) -> list[str]:
    return farm.client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])


def test_a_farm_cook_gives_the_bytes_of_a_local_cook(farm, tmp_path):
    with AsyncImportService() as local:
        reports = cook_set(local, fresh(tmp_path / "local"))
    assert all(r.success for r in reports), [r.diagnostics for r in reports]
    before = farm.counters.submitted
    with AsyncImportService(farm=farm) as service:
        assert service.farm is farm
        farmed = cook_set(service, fresh(tmp_path / "farm"))
    assert all(r.success for r in farmed), [r.diagnostics for r in farmed]
    # every unit went to the cluster: the model's parse, its geometry and texture, four images
    assert farm.counters.submitted - before == 1 + 1 + 1 + len(IMAGES)
    assert [r.counts for r in farmed] == [r.counts for r in reports]
    assert_same_roots(tmp_path / "local", tmp_path / "farm", tmp_path, reports, farmed)


def test_a_bad_input_fails_alone(farm, tmp_path):
    bad = CORPUS / "malformed" / "truncated_jpeg.jpg"
    images = [IMAGES[0], bad, IMAGES[1]]
    with AsyncImportService() as local:
        expected = cook_set(local, fresh(tmp_path / "local"), images)
    with AsyncImportService(farm=farm) as service:
        got = cook_set(service, fresh(tmp_path / "farm"), images)
    codes = [(d.code, d.source_path, d.message) for d in got[1].diagnostics]
    assert codes == [(d.code, d.source_path, d.message) for d in expected[1].diagnostics]
    assert [c for c, _s, _m in codes] == ["texture.decode_failed"] and codes[0][1] == str(bad)
    assert got[0].success  # the model's job, on the same farm, is untouched
    assert got[1].counts["texture"]["cooked"] == 2 and got[1].counts["texture"]["failed"] == 1
    assert_same_roots(tmp_path / "local", tmp_path / "farm", tmp_path, expected, got)


def test_cancel_through_the_service_reaches_the_cluster(farm, tmp_path):
    images = noise_images(tmp_path / "noise", 6, 1024)
    cancelled_before = farm.counters.cancelled
    with AsyncImportService(farm=farm) as service:
        handle = service.submit(ImportRequest(str(images[0]), str(tmp_path / "root"),
                                              options={"sources": [str(i) for i in images[1:]]}))
        deadline = time.monotonic() + 120  # wait until texture tasks are on the cluster
        while not any(k.startswith("oxy-cook_texture") for k in scheduler_tasks(farm)) \
                and not handle.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(k.startswith("oxy-cook_texture") for k in scheduler_tasks(farm))
        assert handle.cancel()
        report = handle.wait(120)
    assert report is not None and report.cancelled and not report.success
    assert farm.counters.cancelled > cancelled_before
    assert not (tmp_path / "root" / "container.index.bin").exists()
    deadline = time.monotonic() + 60  # the scheduler forgets the cancelled futures
    while [k for k in scheduler_tasks(farm) if k.startswith("oxy-")] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [k for k in scheduler_tasks(farm) if k.startswith("oxy-")]


def test_a_worker_with_another_oxy_is_refused(farm, monkeypatch):
    from oxy.build import recipe

    assert set(farm.check_versions()) == set(farm.client.scheduler_info()["workers"])
    monkeypatch.setitem(recipe.STAGE_VERSIONS, "texture", 999)  # this client now differs from its workers
    with pytest.raises(FarmVersionMismatch, match="texture.: 1"):
        farm.check_versions()


def test_farm_addresses():
    assert parse_address("local:3") == ("local", 3)
    assert parse_address("tcp://10.0.0.5:8786") == ("remote", "tcp://10.0.0.5:8786")
    for bad in ("local:0", "local:x", "10.0.0.5:8786", "tcp://"):
        with pytest.raises(ValueError, match="--farm"):
            parse_address(bad)


def test_a_monkey_patched_process_is_refused_at_connect():
    code = ("from gevent import monkey; monkey.patch_all()\n"
            "from oxy.farm import Farm, FarmError\n"
            "try:\n    Farm.connect('local:1')\nexcept FarmError as e:\n    print('REFUSED', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=PROJECT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("REFUSED") and "monkey.patch_all()" in out.stdout


def test_a_farm_address_that_does_not_answer_fails_clearly():
    with pytest.raises(FarmError, match="cannot connect to the cook farm at tcp://127.0.0.1:9"):
        Farm.connect("tcp://127.0.0.1:9", connect_timeout=2)


def test_the_pool_task_token_is_cancelled_when_its_waiting_greenlet_is_killed():
    """The seam the farm waits behind (oxy.hub.pools): a pool task sees its pools and a
    token that the kill of the greenlet waiting for it cancels."""
    import gevent

    from oxy.errors import OperationCancelled
    from oxy.hub import ImportLoop, run_blocking
    from oxy.hub.pools import current_task

    started, cancelled = threading.Event(), threading.Event()
    seen = {}

    def task() -> None:
        ctx = current_task()
        seen["farm"] = ctx.pools.farm
        ctx.token.on_cancel(cancelled.set)
        started.set()
        cancelled.wait(60)

    loop = ImportLoop(cpu_threads=1, name="farm-seam-test")
    try:
        loop.pools.farm = "a farm"
        waiter = loop.call(lambda: gevent.spawn(run_blocking, task))
        assert started.wait(60)
        assert not cancelled.is_set()
        loop.call(lambda: waiter.kill(OperationCancelled("stop"), block=False))
        assert cancelled.wait(60)
        assert seen["farm"] == "a farm" and current_task() is None
    finally:
        loop.close(60)


def test_the_command_line_refuses_a_bad_farm_address(tmp_path):
    """``--farm`` on ``oxy cook`` and ``oxy serve``: a malformed address is a usage error
    (exit 1) naming the accepted forms, before anything is cooked or served."""
    import os

    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    src = tmp_path / "src"
    src.mkdir()
    noise_images(src, 1, size=8)
    for args in (["cook", str(src), "-o", str(tmp_path / "root"), "--farm", "bogus"],
                 ["serve", "--root", str(tmp_path / "root"), "--watch", str(src), "--farm", "bogus", "--port", "0"]):
        r = subprocess.run([sys.executable, "-m", "oxy", *args], capture_output=True, text=True, env=env,
                           cwd=PROJECT, timeout=60)
        assert r.returncode == 1, (args[0], r.returncode, r.stderr)
        assert "tcp://HOST:PORT" in r.stderr and "local:N" in r.stderr, r.stderr
    assert not (tmp_path / "root" / "container.index.bin").exists()
