"""The loader's owning hub stays light: queued loads hold no greenlet, admitted loads are
read and decoded in batches, dependencies and requests wait as listeners, callbacks are
published in batches, and those paths keep retries and cancellation right.

Lateness itself is measured by tools/bench_loader.py, never asserted here."""
from __future__ import annotations

import errno
import threading

import gevent
import pytest

from oxy.errors import OperationCancelled
from oxy.formats import AssetType
from oxy.runtime import AssetLoader, LoaderConfig, MaterialAsset, RetryPolicy
from oxy.runtime import engine as engine_module
from oxy.runtime.sources import LooseSource
from waiting import until
from oxy.samples import ContentSet, many_materials, write_loose_root

T = 20
MATERIAL = ContentSet.key(AssetType.MATERIAL, "Checker")


@pytest.fixture
def materials(tmp_path):
    write_loose_root(tmp_path / "r", many_materials(40))
    return tmp_path / "r", [ContentSet.key(AssetType.MATERIAL, f"M{i:06d}") for i in range(40)]


def _hold_first_decode(monkeypatch):
    """decode_asset blocks on the first call until the returned event is set."""
    entered, gate = threading.Event(), threading.Event()
    real = engine_module.decode_asset

    def held(*args, **kwargs):
        if not entered.is_set():
            entered.set()
            assert gate.wait(T)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "decode_asset", held)
    return entered, gate


def test_queued_loads_hold_no_greenlet(materials, monkeypatch):
    root, keys = materials
    entered, gate = _hold_first_decode(monkeypatch)
    with AssetLoader(LoaderConfig(cpu_threads=1, decode_slots=1)) as ldr:
        ldr.add_loose_cooked_root(str(root))
        handles = [ldr.load_asset(k, MaterialAsset) for k in keys]
        assert entered.wait(T)
        until(lambda: ldr.loop.call(lambda: ldr._engine.gate.waiting, timeout=T) == len(keys) - 1,
               "every other load queued in the gate")
        # 39 queued loads: tickets in the gate, no greenlet (the one running is the batch's)
        assert ldr.loop.call(lambda: len(ldr._engine.group), timeout=T) <= 2
        assert all(h.status == "queued" for h in handles[1:])
        gate.set()
        assert [h.result(T).name for h in handles] == [f"M{i:06d}" for i in range(40)]
        assert all(h.status == "completed" for h in handles)
        assert ldr.stats.decodes == 40 and ldr.loop.call(lambda: len(ldr._engine.inflight), timeout=T) == 0


def test_admitted_loads_are_decoded_in_batches(materials, monkeypatch):
    root, keys = materials
    batches = []
    real = engine_module._decode_assets

    def counting(work, *args):
        batches.append(len(work))
        return real(work, *args)

    monkeypatch.setattr(engine_module, "_decode_assets", counting)
    with AssetLoader(LoaderConfig(cpu_threads=1, decode_slots=8)) as ldr:
        ldr.add_loose_cooked_root(str(root))
        values = [h.result(T) for h in [ldr.load_asset(k) for k in keys]]
        assert [v.name for v in values] == [f"M{i:06d}" for i in range(40)]
    assert sum(batches) == 40 and max(batches) > 1 and len(batches) < 40
    assert max(batches) <= 8   # one batch never holds more than the decode slots


def test_a_transient_descriptor_error_in_a_batch_is_retried_alone(materials, monkeypatch):
    root, keys = materials
    real = LooseSource.read_descriptor
    failed = []

    def flaky(source, key):
        if key == keys[3] and not failed:
            failed.append(key)
            raise OSError(errno.EIO, "Input/output error")
        return real(source, key)

    monkeypatch.setattr(LooseSource, "read_descriptor", flaky)
    fast = RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.01)
    with AssetLoader(LoaderConfig(cpu_threads=2, retry=fast)) as ldr:
        ldr.add_loose_cooked_root(str(root))
        values = [h.result(T) for h in [ldr.load_asset(k) for k in keys]]
        assert values[3].name == "M000003" and failed == [keys[3]]
        assert ldr.stats.retries == 1 and ldr.stats.failures == 0
    # with one attempt only, the batch's failure is final (the note counts that attempt)
    failed.clear()
    with AssetLoader(LoaderConfig(cpu_threads=2, retry=RetryPolicy(max_attempts=1))) as ldr:
        ldr.add_loose_cooked_root(str(root))
        with pytest.raises(OSError):
            ldr.load_asset(keys[3]).result(T)
        assert ldr.stats.retries == 0


def test_cancelling_a_parent_that_waits_for_its_dependency_stops_both(sample_root, monkeypatch):
    entered, gate = threading.Event(), threading.Event()
    real = engine_module.decode_resource

    def held(*args, **kwargs):
        entered.set()
        assert gate.wait(T)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "decode_resource", held)
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(sample_root))
        handle = ldr.load_asset(MATERIAL, MaterialAsset)
        assert entered.wait(T)   # the material is decoded and waits for its texture
        assert handle.status == "loading" and 0.5 <= handle.progress < 1.0
        assert handle.cancel()
        until(lambda: ldr.loop.call(lambda: len(ldr._engine.inflight), timeout=T) == 0,
               "the material and its texture to stop")
        gate.set()
        with pytest.raises(OperationCancelled):
            handle.result(0)
        assert ldr.ref_count(MATERIAL) == 0 and not ldr.is_loaded(MATERIAL)
        # nothing leaked: a new request loads both again and holds one reference
        assert ldr.load_asset(MATERIAL, MaterialAsset).result(T).name == "Checker"
        assert ldr.ref_count(MATERIAL) == 1


def test_callbacks_run_on_the_owning_hub_in_the_publisher_greenlet(materials):
    root, keys = materials
    seen, done = [], threading.Event()
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(root))
        hub = ldr.loop.call(gevent.get_hub, timeout=T)

        def callback(value, error):
            seen.append((value.name, error, ldr.loop.on_hub_thread(), gevent.getcurrent() is not hub))
            if len(seen) == len(keys):
                done.set()
        for key in keys:
            ldr.start_load_asset(key, MaterialAsset, callback)
        assert done.wait(T)
    assert sorted(name for name, *_ in seen) == [f"M{i:06d}" for i in range(40)]
    assert all(error is None and on_hub and in_greenlet for _n, error, on_hub, in_greenlet in seen)


def test_stop_settles_requests_not_served_yet(materials, monkeypatch):
    root, keys = materials
    entered, gate = _hold_first_decode(monkeypatch)
    ldr = AssetLoader(LoaderConfig(cpu_threads=1, decode_slots=1)).start()
    ldr.add_loose_cooked_root(str(root))
    calls = []
    handles = [ldr.start_load_asset(k, MaterialAsset, lambda v, e: calls.append(e)) for k in keys]
    assert entered.wait(T)
    stopper = threading.Thread(target=ldr.stop)
    stopper.start()
    try:
        for h in handles:
            assert h.wait(T) and isinstance(h.exception(), OperationCancelled)
    finally:
        gate.set()
        stopper.join(T)
    assert len(calls) == len(keys) and all(isinstance(e, OperationCancelled) for e in calls)


def test_gc_freeze_is_an_explicit_option(sample_root):
    import gc
    before = gc.get_freeze_count()
    try:
        with AssetLoader(LoaderConfig(cpu_threads=1)) as ldr:
            ldr.add_loose_cooked_root(str(sample_root))
            assert gc.get_freeze_count() == before   # off by default: the process's GC is left alone
        with AssetLoader(LoaderConfig(cpu_threads=1, gc_freeze=True)) as ldr:
            ldr.add_loose_cooked_root(str(sample_root))
            assert gc.get_freeze_count() > before
            assert ldr.load_asset(MATERIAL, MaterialAsset).result(T).name == "Checker"
    finally:
        gc.unfreeze()


def test_decoders_share_equal_immutable_parts_but_never_merge_distinct_values(tmp_path):
    import math

    from oxy.cook.descriptors import build_material
    from oxy.runtime import ResourceKey, ResourceKind
    from oxy.runtime.decoders import _shared
    from oxy.runtime.keys import SourceId
    from oxy.samples import fallback_texture

    source = SourceId("test")
    key = source.key(ResourceKind.TEXTURE, 3)
    assert key is source.key(ResourceKind.TEXTURE, 3) and key == ResourceKey(source, ResourceKind.TEXTURE, 3)
    assert hash(key) == hash(ResourceKey(source, ResourceKind.TEXTURE, 3))
    assert key != SourceId("other").key(ResourceKind.TEXTURE, 3)
    # equal by ==, but not the same value: kept apart
    zero, negative = _shared(("x", 0.0)), _shared(("x", -0.0))
    assert math.copysign(1, negative[1]) == -1 and zero is not negative
    assert type(_shared(("y", 1))[1]) is int and type(_shared(("y", True))[1]) is bool
    assert type(_shared(("y", 1.0))[1]) is float
    _shared(("z", (1.0, 0.0)))
    assert math.copysign(1, _shared(("z", (1.0, -0.0)))[1][1]) == -1
    assert _shared(("z", (1.0, 0.0))) is _shared(("z", (1.0, 0.0)))
    assert _shared(("u", [1])) == ("u", [1])   # unhashable: as it is
    # through the loader: two materials share their texture-key map and shader tuple,
    # and keep their own factors
    content = many_materials(0)
    content.textures = [fallback_texture(), fallback_texture()]
    for name, metal in (("A", 0.25), ("B", 0.75)):
        content.assets.append((AssetType.MATERIAL, name, build_material(name, textures={"base_color": 1},
                                                                        metalness=metal)))
    write_loose_root(tmp_path / "r", content)
    with AssetLoader(LoaderConfig(cpu_threads=1)) as ldr:
        ldr.add_loose_cooked_root(str(tmp_path / "r"))
        a, b = (ldr.load_asset(ContentSet.key(AssetType.MATERIAL, n)).result(T) for n in ("A", "B"))
        assert a.texture_keys is b.texture_keys and a.shaders is b.shaders
        assert a.metalness == pytest.approx(0.25, abs=1e-4) and b.metalness == pytest.approx(0.75, abs=1e-4)
        assert a.texture("base_color") is b.texture("base_color")


def test_a_cancelled_parent_gives_back_the_dependencies_that_arrived(tmp_path, monkeypatch):
    from oxy.cook.descriptors import build_material
    from oxy.runtime import ResourceKind, TextureResource
    from oxy.samples import checker_texture, fallback_texture

    content = many_materials(0)
    content.textures = [fallback_texture(), checker_texture(8), checker_texture(16)]
    content.assets.append((AssetType.MATERIAL, "Two", build_material("Two", textures={"base_color": 1, "normal": 2})))
    write_loose_root(tmp_path / "r", content)
    entered, gate = threading.Event(), threading.Event()
    real = engine_module.decode_resource

    def held(key, *args, **kwargs):
        if key.index == 2:
            entered.set()
            assert gate.wait(T)
        return real(key, *args, **kwargs)

    monkeypatch.setattr(engine_module, "decode_resource", held)
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        source = ldr.add_loose_cooked_root(str(tmp_path / "r"))
        first = source.key(ResourceKind.TEXTURE, 1)
        ldr.load_resource(first, TextureResource).result(T)     # cached and held once
        handle = ldr.load_asset(ContentSet.key(AssetType.MATERIAL, "Two"), MaterialAsset)
        assert entered.wait(T)        # texture 1 arrived (a reference), texture 2 is decoding
        until(lambda: ldr.ref_count(first) == 2, "the material to take texture 1")
        assert handle.cancel()
        until(lambda: ldr.loop.call(lambda: len(ldr._engine.inflight), timeout=T) == 0, "the loads to stop")
        assert ldr.ref_count(first) == 1   # the material's reference was given back
        gate.set()
        assert not ldr.is_loaded(ContentSet.key(AssetType.MATERIAL, "Two"))
        assert ldr.ref_count(source.key(ResourceKind.TEXTURE, 2)) == 0
