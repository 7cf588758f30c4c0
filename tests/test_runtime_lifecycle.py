"""AssetLoader: release cascades, LRU eviction, stop() cancellation, priorities, mount errors."""
from __future__ import annotations

import os
import shutil
import threading
import time

import gevent
import pytest

from oxy.cook.descriptors import build_material
from oxy.cook.payload import fallback_texture
from oxy.errors import FormatError, OperationCancelled
from oxy.formats import AssetType
from oxy.hub import ImportLoop
from oxy.runtime import (AssetLoader, LoaderConfig, LoaderNotRunning, MaterialAsset, MountError,
                         Priority, SceneAsset)
from oxy.runtime import engine as engine_module
from oxy.runtime.cache import ContentCache
from oxy.runtime.scheduling import PriorityGate
from oxy.samples import (ContentSet, checker_texture, many_materials, textured_cube, write_loose_root,
                         write_sample_pak)

T = 20


def _key(name: str):
    return ContentSet.key(AssetType.MATERIAL, name)


def shared_texture_content() -> ContentSet:
    """M1 uses textures A and B, M2 uses A only."""
    content = ContentSet()
    content.textures = [fallback_texture(), checker_texture(16), checker_texture(8)]
    content.assets = [
        (AssetType.MATERIAL, "M1", build_material("M1", textures={"base_color": 1, "normal": 2})),
        (AssetType.MATERIAL, "M2", build_material("M2", textures={"base_color": 1})),
    ]
    return content


@pytest.mark.parametrize("budget", [0, 1 << 30])
def test_release_frees_dependencies_nothing_else_holds(tmp_path, budget):
    write_loose_root(tmp_path / "r", shared_texture_content())
    with AssetLoader(LoaderConfig(cpu_threads=2, memory_budget=budget)) as ldr:
        ldr.add_loose_cooked_root(str(tmp_path / "r"))
        m1 = ldr.load_asset(_key("M1"), MaterialAsset).result(T)
        m2 = ldr.load_asset(_key("M2"), MaterialAsset).result(T)
        a, b = dict(m1.texture_keys)["base_color"], dict(m1.texture_keys)["normal"]
        assert dict(m2.texture_keys)["base_color"] == a
        assert (ldr.ref_count(a), ldr.ref_count(b)) == (2, 1)
        assert set(ldr.dependents(a)) == {_key("M1"), _key("M2")}
        assert ldr.release(_key("M1"))
        assert (ldr.ref_count(_key("M1")), ldr.ref_count(a), ldr.ref_count(b)) == (0, 1, 0)
        kept = budget > 0  # unreferenced entries stay only while the budget allows
        assert (ldr.has_cached(_key("M1")), ldr.has_cached(b)) == (kept, kept)
        assert ldr.has_cached(a) and ldr.has_cached(_key("M2"))
        assert ldr.release(_key("M2"))
        assert ldr.ref_count(a) == 0 and ldr.has_cached(a) == kept
        # loading again revives from the cache (or reloads) and re-takes the edges
        again = ldr.load_asset(_key("M1"), MaterialAsset).result(T)
        assert again == m1 and (ldr.ref_count(a), ldr.ref_count(b)) == (1, 1)


def test_lru_evicts_unreferenced_entries_under_the_budget(tmp_path):
    content = many_materials(8)
    write_loose_root(tmp_path / "r", content)
    size = len(content.assets[0][2])  # every material descriptor has this size
    keys = [_key(f"M{i:06d}") for i in range(8)]
    with AssetLoader(LoaderConfig(cpu_threads=2, memory_budget=3 * size)) as ldr:
        ldr.add_loose_cooked_root(str(tmp_path / "r"))
        held = ldr.load_asset(keys[0]).result(T)  # stays referenced throughout
        for key in keys[1:]:
            ldr.load_asset(key).result(T)
            ldr.release(key)
        info = ldr.cache_info()
        assert info["bytes"] <= 3 * size and info["evictions"] == 5
        assert ldr.get_cached(keys[0]) is held
        assert [ldr.has_cached(k) for k in keys[1:]] == [False] * 5 + [True, True]
        ldr.get_cached(keys[6])  # touching refreshes its LRU position
        ldr.load_asset(keys[1]).result(T)
        ldr.release(keys[1])
        assert ldr.has_cached(keys[6]) and not ldr.has_cached(keys[7])


def test_cache_revival_needs_every_dependency():
    cache = ContentCache(budget=10**9)
    cache.publish("tex", "T", 10, (), refs=1)     # the edge of "mat"
    cache.publish("mat", "M", 5, ("tex",), refs=1)
    assert cache.release("mat") and cache.refs("tex") == 0
    cache.peek("mat")                             # "mat" becomes the most recently used
    cache.budget = 5
    cache.trim()                                  # so "tex" goes first, and that suffices
    assert "tex" not in cache and "mat" in cache
    assert cache.acquire("mat") is None and "mat" not in cache  # cannot revive: reload


def test_stop_cancels_in_flight_loads(sample_root, monkeypatch):
    entered, gate = threading.Event(), threading.Event()
    real = engine_module.decode_asset

    def slow_decode(*args, **kwargs):
        entered.set()
        gate.wait(T)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "decode_asset", slow_decode)
    ldr = AssetLoader(LoaderConfig(cpu_threads=2)).start()
    ldr.add_loose_cooked_root(str(sample_root))
    futures = [ldr.load_asset(ContentSet.key(AssetType.SCENE, "CubeScene"), SceneAsset) for _ in range(3)]
    calls = []
    ldr.start_load_asset(ContentSet.key(AssetType.SCENE, "CubeScene"), SceneAsset,
                         lambda v, e: calls.append((v, e)))
    assert entered.wait(T)
    stopper = threading.Thread(target=ldr.stop)
    stopper.start()
    try:
        for future in futures:
            assert future.wait(T)
            with pytest.raises(OperationCancelled):
                future.result(0)
    finally:
        gate.set()
        stopper.join(T)
    assert not stopper.is_alive()
    assert len(calls) == 1 and calls[0][0] is None and isinstance(calls[0][1], OperationCancelled)
    with pytest.raises(LoaderNotRunning):
        ldr.load_asset(ContentSet.key(AssetType.SCENE, "CubeScene"))
    assert ldr.loop.shutdown_complete  # the loader created the loop, so it closed it


def test_a_given_loop_is_left_running(sample_root):
    with ImportLoop(cpu_threads=1, name="shared") as loop:
        ldr = AssetLoader(LoaderConfig(loop=loop)).start()
        ldr.add_loose_cooked_root(str(sample_root))
        assert ldr.load_asset(_key("Checker")).result(T).name == "Checker"
        ldr.stop()
        assert not loop.shutdown_requested
        assert loop.call(lambda: 42, timeout=T) == 42


def test_priority_gate_admits_by_priority_then_arrival():
    order = []

    def run():
        gate = PriorityGate(1)
        holder_in, release = gevent.event.Event(), gevent.event.Event()

        def holder():
            with gate.slot(Priority.LOW):
                holder_in.set()
                release.wait()

        def waiter(name, prio):
            with gate.slot(prio):
                order.append(name)

        g = [gevent.spawn(holder)]
        holder_in.wait()
        for name, prio in (("low", Priority.LOW), ("normal1", Priority.NORMAL), ("critical", Priority.CRITICAL),
                           ("high", Priority.HIGH), ("normal2", Priority.NORMAL)):
            g.append(gevent.spawn(waiter, name, prio))
        gevent.sleep(0)
        killed = gevent.spawn(waiter, "killed", Priority.CRITICAL)
        gevent.sleep(0)
        killed.kill()
        assert gate.waiting == 5
        release.set()
        gevent.joinall(g, timeout=T, raise_error=True)

    with ImportLoop(cpu_threads=1) as loop:
        loop.call(run, timeout=T)
    assert order == ["critical", "high", "normal1", "normal2", "low"]


# ----------------------------------------------------------------- mount errors
def _corrupt(path, offset, data):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


@pytest.fixture
def good_pak(tmp_path):
    path = tmp_path / "good.pak"
    write_sample_pak(path, textured_cube())
    return path


def test_corrupt_pak_fails_to_mount_while_other_mounts_work(tmp_path, good_pak, sample_root):
    bad = tmp_path / "bad.pak"
    shutil.copy(good_pak, bad)
    _corrupt(bad, os.path.getsize(bad) - 8, b"XXXXXXXX")  # footer magic
    truncated = tmp_path / "short.pak"
    truncated.write_bytes(good_pak.read_bytes()[:300])
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(sample_root))
        with pytest.raises(MountError) as info:
            ldr.add_pak(str(bad))
        assert info.value.path == str(bad) and "footer" in info.value.field
        assert str(bad) in str(info.value)
        with pytest.raises(MountError, match="256-byte header"):
            ldr.add_pak(str(truncated))
        with pytest.raises(MountError, match="cannot open"):
            ldr.add_pak(str(tmp_path / "missing.pak"))
        assert len(ldr.mounts) == 1
        assert ldr.load_asset(ContentSet.key(AssetType.SCENE, "CubeScene")).result(T).name == "CubeScene"


def test_pak_ranges_and_crc_checks(tmp_path, good_pak):
    data = bytearray(good_pak.read_bytes())
    foot = len(data) - 256
    table = bytearray(data)
    table[foot + 72 + 12:foot + 72 + 16] = (41).to_bytes(4, "little")  # texture_table.entry_size
    (tmp_path / "t.pak").write_bytes(table)
    flipped = bytearray(data)
    flipped[300] ^= 0xFF  # inside the texture region: only the CRC notices
    (tmp_path / "f.pak").write_bytes(flipped)
    with pytest.raises(MountError) as info:
        AssetLoader(LoaderConfig()).add_pak(str(tmp_path / "t.pak"))
    assert info.value.field == "footer.texture_table.entry_size" and info.value.offset == foot + 84
    AssetLoader(LoaderConfig()).add_pak(str(tmp_path / "f.pak")).__class__  # sizes fine: mounts
    with pytest.raises(MountError) as info:
        AssetLoader(LoaderConfig(verify_content_hashes=True)).add_pak(str(tmp_path / "f.pak"))
    assert info.value.field == "footer.pak_crc32"


def test_corrupt_loose_root_fails_to_mount(tmp_path, sample_root):
    desc = sample_root / "Materials" / "Checker.omat"
    desc.write_bytes(desc.read_bytes() + b"\0")  # size no longer matches the index
    with pytest.raises(MountError) as info:
        AssetLoader(LoaderConfig()).add_loose_cooked_root(str(sample_root))
    assert "Checker.omat" in info.value.path and "descriptor_size" in info.value.field
    with pytest.raises(MountError, match="container.index.bin"):
        AssetLoader(LoaderConfig()).add_loose_cooked_root(str(tmp_path / "nowhere"))


def test_descriptor_sha256_checked_only_with_verify(sample_root):
    desc = sample_root / "Materials" / "Checker.omat"
    blob = bytearray(desc.read_bytes())
    blob[200] ^= 1  # same size, different bytes
    desc.write_bytes(blob)
    AssetLoader(LoaderConfig()).add_loose_cooked_root(str(sample_root))
    with pytest.raises(MountError, match="SHA-256"):
        AssetLoader(LoaderConfig(verify_content_hashes=True)).add_loose_cooked_root(str(sample_root))


def test_bad_content_fails_only_its_own_load(tmp_path):
    content = ContentSet()
    content.textures = [fallback_texture()]
    bad = bytearray(build_material("Bad"))
    bad[0] = AssetType.GEOMETRY  # the header disagrees with the index: the engine rejects it
    content.assets = [(AssetType.MATERIAL, "Bad", bytes(bad)),
                      (AssetType.MATERIAL, "Dangling", build_material("Dangling", textures={"emissive": 5})),
                      (AssetType.MATERIAL, "Good", build_material("Good"))]
    write_loose_root(tmp_path / "r", content)
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(tmp_path / "r"))
        with pytest.raises(FormatError) as info:
            ldr.load_asset(_key("Bad")).result(T)
        assert "asset.header.asset_type" in info.value.message and info.value.path.endswith("Bad.omat")
        # a texture index past the table: the engine skips the texture; a warning, no failure
        dangling = ldr.load_asset(_key("Dangling")).result(T)
        assert dangling.texture("emissive") is None
        [warning] = dangling.warnings
        assert (warning.code, warning.offset, warning.field) == ("material.texture_index", 150,
                                                                 "descriptor.emissive_texture")
        assert ldr.load_asset(_key("Good")).result(T).name == "Good"
    with AssetLoader(LoaderConfig(cpu_threads=1, strict=True)) as ldr:
        ldr.add_loose_cooked_root(str(tmp_path / "r"))
        with pytest.raises(FormatError) as info:
            ldr.load_asset(_key("Dangling")).result(T)
        assert info.value.field == "descriptor.emissive_texture" and info.value.offset == 150
        assert info.value.path.endswith("Dangling.omat")


def test_hash_mismatch_at_load_only_with_verify(tmp_path):
    content = ContentSet()
    content.textures = [fallback_texture()]
    blob = bytearray(build_material("H"))
    blob[120] ^= 0x40  # normal_scale changes; the header hash no longer matches
    content.assets = [(AssetType.MATERIAL, "H", bytes(blob))]
    write_loose_root(tmp_path / "r", content)
    for verify in (False, True):
        with AssetLoader(LoaderConfig(cpu_threads=1, verify_content_hashes=verify)) as ldr:
            ldr.add_loose_cooked_root(str(tmp_path / "r"))
            future = ldr.load_asset(_key("H"))
            if verify:
                with pytest.raises(FormatError, match="content_hash"):
                    future.result(T)
            else:
                assert future.result(T).name == "H"


def test_loads_are_decoded_in_priority_order(tmp_path, monkeypatch):
    write_loose_root(tmp_path / "r", many_materials(5))
    keys = [_key(f"M{i:06d}") for i in range(5)]
    first_in, gate = threading.Event(), threading.Event()
    order = []
    real = engine_module.decode_asset

    def recording_decode(asset_type, key, *args, **kwargs):
        order.append(key)
        if key == keys[0]:
            first_in.set()
            gate.wait(T)  # holds the only decode slot
        return real(asset_type, key, *args, **kwargs)

    monkeypatch.setattr(engine_module, "decode_asset", recording_decode)
    with AssetLoader(LoaderConfig(cpu_threads=1, decode_slots=1)) as ldr:
        ldr.add_loose_cooked_root(str(tmp_path / "r"))
        futures = [ldr.load_asset(keys[0])]
        assert first_in.wait(T)
        for key, prio in zip(keys[1:], (Priority.LOW, Priority.NORMAL, Priority.CRITICAL, Priority.HIGH)):
            futures.append(ldr.load_asset(key, priority=prio))

        def queued():  # on the owning hub: how many loads wait in the gate
            return ldr._engine.gate.waiting
        deadline = time.monotonic() + T
        while ldr.loop.call(queued, timeout=T) < 4:
            assert time.monotonic() < deadline, "the four loads never queued"
            time.sleep(0.001)
        gate.set()
        for f in futures:
            f.result(T)
    assert order == [keys[0], keys[3], keys[4], keys[2], keys[1]]


def test_a_failing_dependency_fails_its_parents_and_releases_the_rest(sample_root, capfd):
    with AssetLoader(LoaderConfig(cpu_threads=2, memory_budget=1 << 30)) as ldr:
        source = ldr.add_loose_cooked_root(str(sample_root))
        os.truncate(sample_root / "Resources" / "textures.data", 100)  # the texture can no longer be read
        from oxy.runtime import SourceReadError
        with pytest.raises(SourceReadError, match="textures.data") as info:
            ldr.load_asset(ContentSet.key(AssetType.SCENE, "CubeScene")).result(T)
        assert any("dependency" in note for note in info.value.__notes__)
        geometry = ContentSet.key(AssetType.GEOMETRY, "Cube")
        assert not ldr.has_cached(geometry) and not ldr.has_cached(_key("Checker"))
        assert ldr.cache_info()["entries"] == 2  # the two buffers, loaded but released
        from oxy.runtime import ResourceKey, ResourceKind
        buffers = [ResourceKey(source, ResourceKind.BUFFER, i) for i in (0, 1)]
        assert [ldr.has_cached(b) for b in buffers] == [True, True]
        assert [ldr.ref_count(b) for b in buffers] == [0, 0]
    assert "Traceback" not in capfd.readouterr().err
