"""Pixel decoding never stalls a hub: TextureResource.to_rgba8_async runs on the CPU pool.

The gevent application runs in a subprocess (monkey-patched, as legacy gevent tools
are): a gevent hub must never be created on pytest's main thread. Assertions are on
counts, never on wall-clock time: while ten BC7 textures decode synchronously on the
application's hub a heartbeat greenlet cannot run at all (0 beats, which shows that
the test can fail), while they decode through ``to_rgba8_async`` it keeps running.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from gil import ticks_while

from oxy.cook import bc7
from oxy.cook.descriptors import build_material
from oxy.cook.payload import TextureShape, fallback_texture, pack_texture_payload
from oxy.formats import AssetType, Format
from oxy.hub import ImportLoop, LoopClosed
from oxy.runtime import AssetLoader, LoaderConfig, MaterialAsset
from oxy.samples import ContentSet, checker_texture, write_loose_root

T = 60  # seconds: every wait is bounded so a bug fails instead of hanging
SIZE = 1024
TEXTURES = 10


def _bc7_root(path, count: int, size: int) -> list[str]:
    """A loose root with ``count`` materials, each over its own BC7 ``size``x``size``
    texture of random blocks (any 16 bytes are a BC7 block), so no encode is needed."""
    rng = np.random.default_rng(11)
    shape = TextureShape(width=size, height=size, format=Format.BC7_UNORM)
    content = ContentSet()
    content.textures = [fallback_texture()] + [
        pack_texture_payload(shape, [rng.integers(0, 256, bc7.block_count(size, size) * 16, np.uint8).tobytes()])
        for _ in range(count)]
    names = [f"T{i}" for i in range(count)]
    content.assets = [(AssetType.MATERIAL, n, build_material(n, textures={"base_color": 1 + i}))
                      for i, n in enumerate(names)]
    write_loose_root(path, content)
    return [str(ContentSet.key(AssetType.MATERIAL, n)) for n in names]


APP = textwrap.dedent('''
    from gevent import monkey
    monkey.patch_all()
    import json, sys, time
    import gevent
    import numpy as np
    from oxy.formats import AssetKey
    from oxy.runtime import AssetLoader, LoaderConfig, MaterialAsset

    root, keys = sys.argv[1], json.loads(sys.argv[2])
    beats = []
    running = [True]

    def heartbeat():
        while running[0]:
            gevent.sleep(0.001)
            beats.append(time.perf_counter())

    def window(t0, t1):
        inside = [b for b in beats if t0 <= b <= t1]
        gaps = np.diff([t0] + inside + [t1]) * 1000 if inside or t1 > t0 else [0.0]
        return len(inside), float(max(gaps))

    with AssetLoader(LoaderConfig(cpu_threads=2)) as loader:
        loader.add_loose_cooked_root(root)
        textures = [loader.load_asset(AssetKey.parse(k), MaterialAsset).result(60).texture("base_color")
                    for k in keys]
        hb = gevent.spawn(heartbeat)
        gevent.sleep(0.01)
        tb = time.perf_counter()
        gevent.sleep(0.3)                                 # baseline: the same hub, idle
        t0 = time.perf_counter()
        sync = [t.to_rgba8() for t in textures]          # blocking form, on this hub
        t1 = time.perf_counter()
        futures = [t.to_rgba8_async(loader.loop) for t in textures]
        async_ = [f.result(60) for f in futures]          # greenlet-blocking waits
        t2 = time.perf_counter()
        running[0] = False
        hb.join(5)
    same = all(np.array_equal(a, b) for a, b in zip(sync, async_))
    _idle_beats, idle_gap = window(tb, t0)
    sync_beats, sync_gap = window(t0, t1)
    async_beats, async_gap = window(t1, t2)
    print(json.dumps({"idle_max_gap_ms": idle_gap, "same": same, "shape": list(async_[0].shape), "sync_beats": sync_beats,
                      "sync_max_gap_ms": sync_gap, "async_beats": async_beats, "async_max_gap_ms": async_gap}))
''')


def test_gevent_app_hub_keeps_running_while_textures_decode(tmp_path):
    keys = _bc7_root(tmp_path / "root", TEXTURES, SIZE)
    proc = subprocess.run([sys.executable, "-c", APP, str(tmp_path / "root"), json.dumps(keys)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(result)  # the max gaps are informative only (-s shows them)
    assert result["same"] and result["shape"] == [SIZE, SIZE, 4]
    # the sync form decodes on the app's hub thread: the heartbeat cannot run at all
    assert result["sync_beats"] == 0
    # the awaitable form leaves the hub free: at least one beat per texture decoded
    assert result["async_beats"] >= TEXTURES


def test_bc7_decode_releases_the_gil():
    """With a huge switch interval a thread holding the GIL is never preempted, so the
    main thread can only run while the worker is inside the decode kernel if the
    kernel released the GIL (as tests/test_bc7.py checks for the encoder). A
    1024x1024 decode takes far longer than one 0.5 ms wait."""
    blocks = np.random.default_rng(2).integers(0, 256, bc7.block_count(SIZE, SIZE) * 16, np.uint8).tobytes()
    ticks, value = ticks_while(lambda: bc7.decode(blocks, SIZE, SIZE))
    assert ticks >= 1
    assert np.array_equal(value, bc7.decode(blocks, SIZE, SIZE))


@pytest.fixture
def loader():
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        yield ldr


def test_async_form_equals_the_sync_form(tmp_path, loader):
    """BC7 with padded rows (12x8: 48-byte rows at a 256-byte pitch), RGBA8 every mip."""
    rng = np.random.default_rng(5)
    blocks = bc7.encode(rng.integers(0, 256, (8, 12, 4), dtype=np.uint8))
    content = ContentSet()
    content.textures = [fallback_texture(), checker_texture(),
                        pack_texture_payload(TextureShape(width=12, height=8, format=Format.BC7_UNORM), [blocks])]
    content.assets = [(AssetType.MATERIAL, "M", build_material("M", textures={"base_color": 1, "normal": 2}))]
    write_loose_root(tmp_path / "r", content)
    loader.add_loose_cooked_root(str(tmp_path / "r"))
    material = loader.load_asset(ContentSet.key(AssetType.MATERIAL, "M"), MaterialAsset).result(T)
    checker, packed = material.texture("base_color"), material.texture("normal")
    assert packed.layouts[0][1] > 3 * 16  # the BC7 rows really are padded
    got = packed.to_rgba8_async(loader.loop).result(T)  # from a plain thread: blocks the thread
    assert np.array_equal(got, bc7.decode(blocks, 12, 8)) and np.array_equal(got, packed.to_rgba8())
    for mip in range(checker.mip_levels):
        assert np.array_equal(checker.to_rgba8_async(loader.loop, 0, mip).result(T), checker.to_rgba8(0, mip))
    # from a greenlet on the owning hub itself (a load callback's situation): greenlet-blocking
    on_hub = loader.loop.call(lambda: packed.to_rgba8_async(loader.loop).result(T), timeout=T)
    assert np.array_equal(on_hub, got)


def test_async_form_fails_early_and_through_the_future(tmp_path, loader):
    content = ContentSet()
    content.textures = [fallback_texture(), checker_texture()]
    content.assets = [(AssetType.MATERIAL, "M", build_material("M", textures={"base_color": 1}))]
    write_loose_root(tmp_path / "r", content)
    loader.add_loose_cooked_root(str(tmp_path / "r"))
    tex = loader.load_asset(ContentSet.key(AssetType.MATERIAL, "M"), MaterialAsset).result(T).texture("base_color")
    with pytest.raises(ValueError, match="mip 9 outside 1x7"):
        tex.to_rgba8_async(loader.loop, 0, 9)
    with pytest.raises(ValueError, match="ImportLoop"):
        tex.to_rgba8_async(None)
    # a layout that does not fit the payload fails the future, not the caller
    bad = tex.__class__(**{**tex.__dict__, "layouts": ((0, 1 << 20, 64),) + tex.layouts[1:]})
    with pytest.raises(ValueError, match="row pitch|need"):
        bad.to_rgba8_async(loader.loop).result(T)
    loop = ImportLoop(cpu_threads=1, name="closed")
    loop.close(T)
    with pytest.raises(LoopClosed):
        tex.to_rgba8_async(loop)


def test_async_decodes_run_on_the_cpu_pool_not_the_hub(tmp_path, loader, monkeypatch):
    """Several decodes at once from several threads: every one runs on a CPU-pool
    thread (never the caller's, never the hub's)."""
    keys = _bc7_root(tmp_path / "root", 4, 64)
    loader.add_loose_cooked_root(str(tmp_path / "root"))
    textures = [loader.load_asset(k, MaterialAsset).result(T).texture("base_color") for k in keys]
    assert loader.loop is not None
    # thread objects, not idents: a finished client thread's ident can be reused by a
    # pool thread started after it (seen in CI), thread objects held here cannot
    hub_thread = loader.loop.call(threading.current_thread)
    seen: list[threading.Thread] = []
    original = bc7.decode

    def spy(*args, **kwargs):
        seen.append(threading.current_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(bc7, "decode", spy)
    results: list[np.ndarray | None] = [None] * len(textures)

    def client(i: int) -> None:
        results[i] = textures[i].to_rgba8_async(loader.loop).result(T)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(textures))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T)
    monkeypatch.undo()
    callers = [*threads, threading.current_thread(), hub_thread]
    assert len(seen) == len(textures) and not any(s is c for s in seen for c in callers)
    assert all(np.array_equal(r, t.to_rgba8()) for r, t in zip(results, textures))
