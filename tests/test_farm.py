"""The cook farm on a real Dask LocalCluster (2 worker processes, one per module):
byte-identical roots and PAKs against a local cook (also against 1- and 2-thread
local cooks of textures whose cooks finish out of order), a bad input failing alone
(also inside a batch of small units), cancellation reaching the cluster (and a
queued unit leaving its batch), the version check, address parsing and the gevent
rule."""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import pytest

from conftest import CORPUS, PROJECT
from farming import (IMAGES, MODEL, assert_identical_roots, assert_same_roots, cook_set, fresh, mixed_images, noise_images,
                     out_of_order_counts)
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
    with pytest.raises(FarmVersionMismatch, match=r"texture.: 999.*has oxy .* stages {.texture.: (?!999)"):
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


def test_farm_and_local_cooks_of_out_of_order_textures_give_identical_roots(farm, tmp_path, caplog):
    """A 1-thread and a 2-thread local cook and a ``local:2`` farm cook of textures of very
    different sizes (the biggest first, so cooks finish out of submission order): every
    file of the roots and the packed PAKs byte-identical. The completion order is
    recorded, and must have differed from the submission order in at least one run."""
    caplog.set_level(logging.DEBUG, logger="oxy.importing.reorder")
    images = mixed_images(tmp_path / "src")
    roots, differed = [], {}
    for name, threads, with_farm in (("one", 1, None), ("two", 2, None), ("farm", None, farm), ("two-again", 2, None),
                                     ("farm-again", None, farm)):
        caplog.clear()
        with AsyncImportService(cpu_threads=threads, farm=with_farm) as service:
            report = service.submit(ImportRequest(str(images[0]), str(fresh(tmp_path / name)),
                                                  options={"sources": [str(i) for i in images[1:]]})).wait(600)
        assert report is not None and report.success, report and report.diagnostics
        counts = out_of_order_counts(caplog.records)
        assert len(counts) == 1, counts
        differed[name] = counts[0]
        roots.append(tmp_path / name)
    assert max(differed.values()) > 0, differed  # the test can fail: some run finished out of order
    assert_identical_roots(roots, tmp_path)


def small_farm(farm: Farm, **bounds) -> Farm:
    """Another Farm on the same client, with its own bounds (only its batcher is closed);
    no local threads unless asked (they would take the queued units these tests watch)."""
    return Farm(farm.client, address=farm.address, **{"local_threads": 0, **bounds})


def texture_sources(paths) -> list[list[tuple[str, bytes]]]:
    return [[(str(p), p.read_bytes())] for p in paths]


def test_small_units_share_a_task_and_a_bad_one_fails_alone(farm, tmp_path):
    """While the one task slot is busy with a big texture, three small units queue up and
    travel as ONE Dask task; the corrupt one fails with its own cook error, the other
    two return exactly what a local cook gives."""
    from oxy.cook.image_decode import ImageDecodeError
    from oxy.cook.texture import cook_texture_files, settings_for

    bad = CORPUS / "malformed" / "truncated_jpeg.jpg"
    big, *small = noise_images(tmp_path / "n", 1, 512) + mixed_images(tmp_path / "m", (16, 24))
    settings = settings_for("albedo")
    one = small_farm(farm, max_tasks=1, max_in_flight=4)
    try:
        results: dict[str, object] = {}

        def cook(name: str, sources: list[tuple[str, bytes]]) -> None:
            try:
                results[name] = one.cook_texture(sources, settings, "2d", f"key-{name}", None)
            except Exception as exc:  # noqa: BLE001 - recorded for the assertions
                results[name] = exc

        tasks_before = one.tasks_submitted
        threads = [threading.Thread(target=cook, args=("big", texture_sources([big])[0]))]
        threads[0].start()
        deadline = time.monotonic() + 60  # the big one holds the only task slot
        while one.tasks_in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert one.tasks_in_flight == 1
        for name, sources in (("a", texture_sources([small[0]])[0]), ("bad", texture_sources([bad])[0]),
                              ("b", texture_sources([small[1]])[0])):
            threads.append(threading.Thread(target=cook, args=(name, sources)))
            threads[-1].start()
        for thread in threads:
            thread.join(300)
        assert one.tasks_submitted - tasks_before == 2 and one.units_batched == 3
        assert isinstance(results["bad"], ImageDecodeError) and results["bad"].source == str(bad)
        for name, path in (("a", small[0]), ("b", small[1]), ("big", big)):
            assert results[name] == cook_texture_files(texture_sources([path])[0], settings, kind="2d"), name
    finally:
        one._batcher.close()


def test_a_cancelled_unit_leaves_its_queued_batch(farm, tmp_path):
    """Per-unit cancellation: a unit still queued behind a busy task slot is cancelled
    (its waiting greenlet is killed); it is never sent, and the unit queued with it
    still travels and returns."""
    import gevent

    from oxy.cook.texture import settings_for
    from oxy.errors import OperationCancelled
    from oxy.hub import ImportLoop, run_blocking

    big, *small = noise_images(tmp_path / "n", 1, 512) + mixed_images(tmp_path / "m", (16, 24))
    settings = settings_for("albedo")
    one = small_farm(farm, max_tasks=1, max_in_flight=4)
    loop = ImportLoop(cpu_threads=4, name="farm-cancel-test")
    try:
        loop.pools.farm = one

        def cook(path):
            return gevent.spawn(run_blocking, one.cook_texture, texture_sources([path])[0], settings, "2d",
                                f"key-{path.name}", None)

        tasks_before = one.tasks_submitted
        g_big = loop.call(cook, big)
        deadline = time.monotonic() + 60
        while one.tasks_in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        g_a, g_b = loop.call(cook, small[0]), loop.call(cook, small[1])
        while one.in_flight < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert one.in_flight == 3 and one.tasks_in_flight == 1  # both small ones queued
        loop.call(lambda: g_a.kill(OperationCancelled("stop"), block=False))
        while one.counters.cancelled == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert one.counters.cancelled == 1
        assert loop.call(lambda: g_b.get(timeout=300)) is not None
        assert loop.call(lambda: g_big.get(timeout=300)) is not None
        assert one.tasks_submitted - tasks_before == 2 and one.units_batched == 0  # b went alone
    finally:
        loop.close(60)
        one._batcher.close()


def test_a_killed_greenlet_waiting_with_farm_wait_drops_its_unit(farm, tmp_path):
    """A greenlet waiting with Farm.wait (no token: a texture pipeline worker) is killed
    while its unit is queued behind a busy task slot (a job cancel kills those
    greenlets): the unit is dropped, never sent to the cluster to cook for nobody."""
    import gevent

    from oxy.cook.texture import settings_for
    from oxy.errors import OperationCancelled
    from oxy.hub import ImportLoop

    big, small = noise_images(tmp_path / "n", 1, 512) + mixed_images(tmp_path / "m", (16,))
    settings = settings_for("albedo")
    one = small_farm(farm, max_tasks=1, max_in_flight=4)
    loop = ImportLoop(cpu_threads=1, name="farm-kill-test")
    try:
        def wait_for(path):
            call = one.start_texture(texture_sources([path])[0], settings, "2d", f"key-{path.name}", None)
            return call, gevent.spawn(one.wait, call)

        tasks_before = one.tasks_submitted
        _big_call, g_big = loop.call(wait_for, big)
        deadline = time.monotonic() + 60
        while one.tasks_in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        small_call, g_small = loop.call(wait_for, small)
        assert one.in_flight == 2 and one.tasks_in_flight == 1  # the small one is queued
        loop.call(lambda: g_small.kill(OperationCancelled("job cancelled"), block=False))
        while not small_call.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert small_call.cancelled and one.counters.cancelled == 1
        assert loop.call(lambda: g_big.get(timeout=300)) is not None
        while one.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert one.in_flight == 0 and one.tasks_submitted - tasks_before == 1  # never sent
    finally:
        loop.close(60)
        one._batcher.close()


def test_a_greenlet_can_wait_for_the_farm_without_a_pool_thread(farm, tmp_path):
    """Farm.start_texture / Farm.wait from a greenlet on an import hub: the hub keeps
    running other greenlets while the unit is on the cluster, no CPU-pool thread is
    taken, and the bytes are a local cook's."""
    import gevent

    from oxy.cook.texture import cook_texture_files, settings_for
    from oxy.hub import ImportLoop

    path = noise_images(tmp_path / "n", 1, 256)[0]
    sources = [(str(path), path.read_bytes())]
    settings = settings_for("albedo")
    loop = ImportLoop(cpu_threads=1, name="farm-greenlet-test")
    try:
        def job():
            ticks = [0]

            def tick():
                while True:
                    ticks[0] += 1
                    gevent.sleep(0.005)

            ticker = gevent.spawn(tick)
            call = farm.start_texture(sources, settings, "2d", "key-greenlet", None)
            busy = loop.pools.cpu_busy
            data = farm.wait(call)
            ticker.kill()
            return farm.decode(data), ticks[0], busy

        texture, ticks, busy = loop.call(job, timeout=300)
    finally:
        loop.close(60)
    assert busy == 0 and ticks > 1  # no pool task; the hub ran the ticker while the unit was away
    assert texture == cook_texture_files(sources, settings, kind="2d")


def test_texture_units_wait_for_the_farm_on_greenlets_not_pool_threads(farm, tmp_path):
    """With ONE CPU-pool thread, a texture job still keeps several units on the farm at
    once (each waits on its pipeline greenlet; the pool thread only hashes, looks up and
    decodes), and the root is byte-identical to a local cook. Waiting on pool threads,
    at most one unit could be in flight."""
    images = mixed_images(tmp_path / "src", (96, 64, 48, 32, 24, 16))
    wide = small_farm(farm, max_tasks=4, max_in_flight=8, batch_texels=0)
    try:
        reports = []
        for name, service_farm in (("local", None), ("farm", wide)):
            with AsyncImportService(cpu_threads=1, farm=service_farm) as service:
                reports += cook_set(service, fresh(tmp_path / name), images, model=None)
        assert all(r is not None and r.success for r in reports), [r and r.diagnostics for r in reports]
        assert wide.counters.completed == len(images)
        assert wide.counters.peak_in_flight > 1, wide.counters
        assert_identical_roots([tmp_path / "local", tmp_path / "farm"], tmp_path)
    finally:
        wide._batcher.close()


def worker_unit_counts(farm: Farm) -> dict[str, int]:
    """Units cooked and skipped so far, summed over the workers (counted on their side)."""
    from oxy.farm import tasks

    total = {"cooked": 0, "skipped": 0}
    for counts in farm.client.run(tasks.unit_counts).values():
        for name in total:
            total[name] += counts[name]
    return total


def test_a_unit_cancelled_inside_a_running_batch_is_not_cooked_by_the_worker(farm, tmp_path):
    """Per-unit cancel reaches the cluster: three units travel as one task; the first
    holds the task on the worker until the client's cancel of the second has reached
    that worker; the worker then skips the second (counted on the workers: 2 cooked,
    1 skipped) and still cooks and returns the third."""
    from farm_units import unit

    from oxy.farm.batching import Call
    from waiting import until

    one = small_farm(farm, max_tasks=1, max_in_flight=8, batch_units=3)
    gate = tmp_path / "open"
    try:
        before = worker_unit_counts(one)
        blocker = Call(unit, ("blocker", f"file:{gate}"), "blocker")  # size unknown: a task of its own
        one._batcher.start(blocker)
        until(lambda: one.tasks_in_flight == 1, "the blocker holding the only task slot")
        calls = [Call(unit, (name, gate_of), name, texels=1) for name, gate_of in
                 (("a", "skipped:1"), ("b", ""), ("c", ""))]
        for call in calls:
            one._batcher.start(call)
        assert len({id(c.batch) for c in calls}) == 1  # queued behind the blocker: one batch
        gate.touch()
        assert one.wait(blocker) == b"blocker"
        until(lambda: calls[1].batch.future is not None, "the batch of three submitted")
        skips = one._batcher.skips_sent
        one._batcher.cancel(calls[1])
        assert one.wait(calls[0]) == b"a" and one.wait(calls[2]) == b"c"
        assert one._batcher.skips_sent == skips + 1
        after = worker_unit_counts(one)
        assert after["cooked"] - before["cooked"] == 3  # the blocker, a and c: never b
        assert after["skipped"] - before["skipped"] == 1
        assert one.tasks_submitted == 2 and one.units_batched == 3
    finally:
        one._batcher.close()


def test_local_threads_cook_queued_units_with_the_same_bytes(farm, tmp_path):
    """While every task slot is busy, the client's own thread cooks queued units (taken
    from the tail of the queue) with the workers' function: the root is byte-identical
    to a local cook's, some units were cooked here and some on the workers, a bad input
    cooked here fails alone with the local diagnostic, and the trace accounts for every
    unit."""
    from oxy.farm.trace import FarmTrace

    bad = CORPUS / "malformed" / "truncated_jpeg.jpg"
    images = [*mixed_images(tmp_path / "src", (64, 48, 40, 32, 24, 16, 12, 8)), bad]
    stealing = small_farm(farm, max_tasks=1, max_in_flight=16, batch_units=2, local_threads=1)
    trace = stealing.trace = FarmTrace()
    try:
        reports = []
        for name, service_farm in (("local", None), ("farm", stealing)):
            with AsyncImportService(cpu_threads=2, farm=service_farm) as service:
                reports += cook_set(service, fresh(tmp_path / name), images, model=None)
        assert all(r is not None for r in reports)
        codes = [[(d.code, d.source_path, d.message) for d in r.diagnostics if d.code.endswith("failed")]
                 for r in reports]
        assert codes[0] == codes[1] and [c[0] for c in codes[1]] == ["texture.decode_failed"]
        assert reports[1].counts["texture"]["cooked"] == len(images) - 1
        assert 0 < stealing.units_local < len(images), stealing.units_local
        summary = trace.summary()
        assert summary["units"] == len(images)  # the bad unit too: its failure is its outcome
        assert summary["local_units"] + summary["farm_units"] == summary["units"]
        assert summary["phases"]["local_cook"] > 0 and summary["phases"]["cook"] > 0
        assert_identical_roots([tmp_path / "local", tmp_path / "farm"], tmp_path)
    finally:
        stealing._batcher.close()


def test_a_folder_cache_gets_each_farmed_entry_once(farm, tmp_path):
    """With a cook cache that is only a folder (no remote tier), the workers (and the
    client's own thread) write each entry into that folder, and the client does not
    write it a second time; a second cook into a fresh root is all cache hits."""
    from oxy.build.cache import open_cache

    images = mixed_images(tmp_path / "src", (40, 32, 24, 16))
    cache = open_cache(str(tmp_path / "cache"))
    with AsyncImportService(farm=farm, cache=cache) as service:
        first = service.submit(ImportRequest(str(images[0]), str(fresh(tmp_path / "one")),
                                             options={"sources": [str(i) for i in images[1:]]})).wait(600)
        assert first is not None and first.success, first and first.diagnostics
        assert first.counts["texture"]["cooked"] == len(images)
        assert cache.counters.snapshot()["writes"] == 0  # the entries came from the workers' side
        submitted = farm.counters.submitted
        second = service.submit(ImportRequest(str(images[0]), str(fresh(tmp_path / "two")),
                                              options={"sources": [str(i) for i in images[1:]]})).wait(600)
    assert second is not None and second.success
    assert farm.counters.submitted == submitted  # every unit found in the cache
    assert cache.counters.snapshot()["hits_local"] == len(images)
    assert_identical_roots([tmp_path / "one", tmp_path / "two"], tmp_path)


def test_scene_units_wait_for_the_farm_on_a_greenlet_not_a_pool_thread(farm):
    """units.parse_unit_on_hub / pack_unit_on_hub from a greenlet on an import hub with a
    farm: the pool only reads, looks up and decodes (the functions run through the job's
    run_blocking are recorded), the parse and each geometry go to the farm, and the
    results are the local parse_unit / pack_unit results, byte for byte."""
    from functools import partial

    from oxy.build import unit_codec
    from oxy.build.model_deps import model_dependencies
    from oxy.formats import AssetKey
    from oxy.hub import ImportLoop, run_blocking
    from oxy.hub.cancel import CancelToken
    from oxy.importing import units
    from oxy.importing.scene.backend_assimp import AssimpBackend
    from oxy.importing.scene.emit import pack_checked
    from oxy.importing.scene.plan import make_plan
    from oxy.importing.scene.resolver import IMAGE_EXTENSIONS

    path = str(MODEL)
    deps = [p for p in model_dependencies(path).files if not p.lower().endswith(IMAGE_EXTENSIONS)]

    def key_for(_asset_type: int, name: str) -> AssetKey:
        return AssetKey.from_virtual_path(f"/test/{name}")

    class Ctx:
        def __init__(self) -> None:
            self.token, self.ran = CancelToken(), []

        def run_blocking(self, fn, *args):
            self.ran.append(fn.__name__)
            return run_blocking(fn, *args)

    def cook(on_hub: bool, ctx: Ctx | None = None):
        store = units.UnitStore()
        if on_hub:
            parsed, outcome, hashes = units.parse_unit_on_hub(ctx, AssimpBackend(), path, deps, store, True)
        else:
            parsed, outcome, hashes = units.parse_unit(AssimpBackend(), path, deps, store, True)
        plan = make_plan(parsed, key_for)
        packs = [units.pack_unit_on_hub(ctx, "BoxTextured", outcome.key, g.mesh_indices, store,
                                        partial(pack_checked, plan, g)) if on_hub else
                 units.pack_unit("BoxTextured", outcome.key, g.mesh_indices, store, partial(pack_checked, plan, g))
                 for g in plan.geometries]
        return (unit_codec.encode(parsed), outcome.key, hashes,
                [(unit_codec.encode(result), o.key) for result, o in packs])

    expected = cook(False)  # this thread has no hub: parse_unit and pack_unit cook here
    loop = ImportLoop(cpu_threads=1, name="farm-scene-test")
    before = farm.counters.submitted
    try:
        loop.pools.farm = farm
        ctx = Ctx()
        got = loop.call(lambda: cook(True, ctx), timeout=300)
    finally:
        loop.close(60)
    geometries = len(expected[3])
    assert geometries >= 1 and got == expected
    assert farm.counters.submitted - before == 1 + geometries
    assert ctx.ran == ["_read_parse_inputs", "finish_farmed"] + ["_pack_lookup", "finish_farmed"] * geometries
