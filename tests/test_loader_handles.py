"""AssetLoader per-request handles: status, progress, cancel one waiter, cancel the last, buffers."""
from __future__ import annotations

import threading

import pytest

from oxy.errors import OperationCancelled
from oxy.formats import AssetType
from oxy.runtime import (AssetLoader, LoadHandle, LoaderConfig, MaterialAsset, SceneAsset, TextureResource)
from oxy.runtime import engine as engine_module
from waiting import until
from oxy.samples import ContentSet, checker_texture

T = 20
SCENE = ContentSet.key(AssetType.SCENE, "CubeScene")
MATERIAL = ContentSet.key(AssetType.MATERIAL, "Checker")


@pytest.fixture
def held_decode(monkeypatch):
    """decode_asset blocks until the test opens the gate; ``entered`` is set on entry."""
    entered, gate = threading.Event(), threading.Event()
    real = engine_module.decode_asset
    calls = []

    def slow(*args, **kwargs):
        calls.append(args[1])
        entered.set()
        assert gate.wait(T)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "decode_asset", slow)
    yield entered, gate, calls
    gate.set()


def test_a_handle_reports_status_and_progress(sample_root, held_decode):
    entered, gate, _calls = held_decode
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(sample_root))
        handle = ldr.load_asset(SCENE, SceneAsset)
        assert isinstance(handle, LoadHandle) and handle.key == SCENE
        assert handle.status in ("queued", "loading") and handle.progress == 0.0
        assert entered.wait(T)
        until(lambda: handle.status == "loading", "the loading status")
        assert ldr.is_loading(SCENE) and not ldr.is_loaded(SCENE)
        gate.set()
        scene = handle.result(T)
        assert handle.status == "completed" and handle.progress == 1.0 and handle.error is None
        assert scene.name == "CubeScene" and ldr.is_loaded(SCENE) and not ldr.is_loading(SCENE)
        assert not handle.cancel()  # already finished: nothing to cancel
        assert handle.status == "completed" and ldr.ref_count(SCENE) == 1


def test_cancel_one_of_two_waiters(sample_root, held_decode):
    entered, gate, calls = held_decode
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(sample_root))
        first, second = ldr.load_asset(MATERIAL, MaterialAsset), ldr.load_asset(MATERIAL, MaterialAsset)
        seen = []
        third = ldr.start_load_asset(MATERIAL, MaterialAsset, lambda v, e: seen.append((v, e)))
        assert entered.wait(T)
        until(lambda: ldr.loop.call(lambda: ldr._engine.inflight[MATERIAL].waiters, timeout=T) == 3, "three waiters")
        assert first.cancel() and third.cancel()
        assert first.status == "cancelled" and first.done()
        with pytest.raises(OperationCancelled, match="cancelled by its requester"):
            first.result(0)
        assert ldr.is_loading(MATERIAL)  # the second request still waits: the decode goes on
        gate.set()
        material = second.result(T)
        assert material.name == "Checker" and second.status == "completed"
        assert calls == [MATERIAL]  # decoded once
        until(lambda: len(seen) == 1, "the cancelled request's callback")
        assert seen[0][0] is None and isinstance(seen[0][1], OperationCancelled)
        assert ldr.ref_count(MATERIAL) == 1  # only the second request's reference
        assert ldr.release(MATERIAL) and not ldr.release(MATERIAL)
        assert ldr.stats.cancelled == 2


def test_cancelling_the_last_waiter_stops_the_shared_load(sample_root, held_decode):
    entered, gate, _calls = held_decode
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(sample_root))
        handle = ldr.load_asset(SCENE, SceneAsset)
        assert entered.wait(T)
        assert handle.cancel()
        until(lambda: not ldr.is_loading(SCENE), "the abandoned load to stop")
        gate.set()
        assert handle.status == "cancelled"
        # nothing was published for nobody; a later request loads afresh
        assert not ldr.is_loaded(SCENE)
        hits, decodes = ldr.stats.cache_hits, ldr.stats.decodes
        again = ldr.load_asset(SCENE, SceneAsset).result(T)
        assert again.name == "CubeScene" and ldr.ref_count(SCENE) == 1
        assert ldr.stats.cache_hits == hits and ldr.stats.decodes == decodes + 6  # scene and its 5 dependencies


def test_load_resource_from_buffer_is_awaitable(sample_root):
    with AssetLoader(LoaderConfig(cpu_threads=1)) as ldr:
        cooked = checker_texture(16)
        handle = ldr.load_resource_from_buffer(TextureResource, cooked.table_entry(7).build() + cooked.payload)
        texture = handle.result(T)
        assert texture.key == handle.key and texture.payload == cooked.payload
        assert handle.status == "completed" and ldr.ref_count(handle.key) == 1
        bad = ldr.load_resource_from_buffer(TextureResource, b"\0" * 10)
        with pytest.raises(Exception):
            bad.result(T)
        assert bad.status == "failed"


def test_a_handle_waits_greenlet_style_on_the_owning_hub(sample_root):
    with AssetLoader(LoaderConfig(cpu_threads=1)) as ldr:
        ldr.add_loose_cooked_root(str(sample_root))

        def on_hub():
            handle = ldr.load_asset(MATERIAL)
            return handle.result(T).name, handle.status

        assert ldr.loop.call(on_hub, timeout=T) == ("Checker", "completed")
