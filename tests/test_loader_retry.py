"""AssetLoader retries (transient read errors only, exponential backoff) and placeholders (fallback=True)."""
from __future__ import annotations

import errno
import threading
import time

import pytest

from oxy.errors import FormatError
from oxy.formats import AssetKey, AssetType
from oxy.runtime import (AssetLoader, AssetNotFound, GeometryAsset, LoaderConfig, MaterialAsset, RetryPolicy,
                         SceneAsset, SourceReadError, TextureResource)
from oxy.runtime.placeholders import checker_texture, empty_buffer, error_scene
from oxy.runtime.retry import is_transient
from oxy.runtime.sources import LooseSource
from oxy.samples import ContentSet

T = 20
FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05, backoff=2.0)
SCENE = ContentSet.key(AssetType.SCENE, "CubeScene")
GEOMETRY = ContentSet.key(AssetType.GEOMETRY, "Cube")
MATERIAL = ContentSet.key(AssetType.MATERIAL, "Checker")


class Flaky:
    """Injects ``failures`` errors into LooseSource.read_resource for ``kind`` (textures), then reads normally."""

    def __init__(self, monkeypatch, failures: int, error=lambda: OSError(errno.EIO, "Input/output error"),
                 kind: str = "texture"):
        self.failures, self.error, self.calls = failures, error, 0
        real = LooseSource.read_resource
        what = kind
        lock = threading.Lock()

        def read_resource(source, kind, index):
            with lock:
                self.calls += 1
                fail = kind.value == what and self.failures > 0
                if fail:
                    self.failures -= 1
            if fail:
                raise self.error()
            return real(source, kind, index)

        monkeypatch.setattr(LooseSource, "read_resource", read_resource)


def test_policy_delays_and_what_is_transient():
    policy = RetryPolicy(max_attempts=5, initial_delay=0.1, max_delay=0.5, backoff=2.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.5]
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    assert is_transient(OSError(errno.EIO, "x")) and is_transient(OSError(errno.EAGAIN, "x"))
    assert is_transient(SourceReadError("short read while a cook swaps the file"))
    assert not is_transient(OSError(errno.EACCES, "x"))
    assert not is_transient(FormatError("bad", "f", 0, "field")) and not is_transient(AssetNotFound("k"))
    escaped = SourceReadError("outside the root [root.escape]")
    escaped.transient = False
    assert not is_transient(escaped)


def test_a_flaky_read_is_retried_then_succeeds(sample_root, monkeypatch):
    flaky = Flaky(monkeypatch, failures=2)
    with AssetLoader(LoaderConfig(cpu_threads=2, retry=FAST)) as ldr:
        ldr.add_loose_cooked_root(str(sample_root))
        material = ldr.load_asset(MATERIAL, MaterialAsset).result(T)
        assert material.texture("base_color").width == 64
        assert ldr.stats.retries == 2 and ldr.stats.failures == 0 and flaky.failures == 0


def test_a_permanent_failure_becomes_a_placeholder(sample_root, monkeypatch):
    flaky = Flaky(monkeypatch, failures=10**6)
    with AssetLoader(LoaderConfig(cpu_threads=2, retry=FAST)) as ldr:
        source = ldr.add_loose_cooked_root(str(sample_root))
        # without a fallback the error comes out after max_attempts tries
        with pytest.raises(OSError) as info:
            ldr.load_asset(MATERIAL, MaterialAsset).result(T)
        assert info.value.errno == errno.EIO and any("3 attempts" in n for n in info.value.__notes__)
        assert ldr.stats.retries == 2
        # a texture: the magenta/black checker, and the error
        from oxy.runtime import ResourceKey, ResourceKind
        handle = ldr.load_resource(ResourceKey(source, ResourceKind.TEXTURE, 1), TextureResource, fallback=True)
        checker = handle.result(T)
        assert handle.fallback and handle.status == "failed" and handle.error.errno == errno.EIO
        rgba = checker.to_rgba8()
        assert rgba.shape == (8, 8, 4) and rgba[0, 0].tolist() == [255, 0, 255, 255]
        assert rgba[0, 1].tolist() == [0, 0, 0, 255] and rgba[1, 1].tolist() == [255, 0, 255, 255]
        # a material whose texture fails: the material itself, its texture the checker; the
        # callback gets that stand-in and the error
        done, got = threading.Event(), []
        ldr.start_load_asset(MATERIAL, MaterialAsset, lambda v, e: (got.append((v, e)), done.set()), fallback=True)
        assert done.wait(T)
        material, error = got[0]
        assert material.name == "Checker" and not material.is_default and isinstance(error, OSError)
        assert material.texture("base_color") is checker_texture()
        assert any("dependency" in n for n in error.__notes__)
        # a geometry whose material's texture fails: its own meshes, that material inside
        handle = ldr.load_asset(GEOMETRY, GeometryAsset, fallback=True)
        geometry = handle.result(T)
        assert handle.fallback and isinstance(handle.error, OSError)
        assert geometry.name == "Cube" and geometry.meshes[0].index_buffer.as_array().shape == (36,)
        assert geometry.material(MATERIAL).texture("base_color") is checker_texture()
        # a scene: built around that geometry too
        scene = ldr.load_asset(SCENE, SceneAsset, fallback=True).result(T)
        assert scene.name == "CubeScene" and scene.geometry(GEOMETRY).name == "Cube"
        assert ldr.stats.fallbacks == 4
        # degraded objects and placeholders are not cached; the dependencies that loaded
        # are released (cached, unreferenced)
        assert not ldr.has_cached(MATERIAL) and not ldr.has_cached(GEOMETRY) and not ldr.has_cached(SCENE)
        assert all(ldr.ref_count(k) == 0 for k in ldr.loop.call(ldr._cache.keys, timeout=T))
        # without a fallback the same scene still fails
        with pytest.raises(OSError):
            ldr.load_asset(SCENE, SceneAsset).result(T)
    assert flaky.calls > 0


def test_a_failed_buffer_makes_its_geometry_the_error_cube_and_scenes_get_an_empty_one(sample_root, monkeypatch):
    Flaky(monkeypatch, failures=10**6, kind="buffer")
    with AssetLoader(LoaderConfig(cpu_threads=2, retry=FAST, fallback=True)) as ldr:
        source = ldr.add_loose_cooked_root(str(sample_root))
        from oxy.runtime import BufferResource, ResourceKey, ResourceKind
        handle = ldr.load_resource(ResourceKey(source, ResourceKind.BUFFER, 0), BufferResource)
        assert handle.result(T) is empty_buffer() and handle.fallback and handle.error.errno == errno.EIO
        assert empty_buffer().size_bytes == 0 and empty_buffer().as_array().size == 0
        # a mesh without its vertex data is not drawable: the whole geometry is the ERROR cube
        cube = ldr.load_asset(GEOMETRY, GeometryAsset).result(T)
        assert cube.name == "ERROR"
        # the scene holds the ERROR cube in place of its geometry
        handle = ldr.load_asset(SCENE, SceneAsset)
        scene = handle.result(T)
        assert handle.status == "failed" and isinstance(handle.error, OSError) and handle.fallback
        assert scene.name == "CubeScene" and scene.geometry(GEOMETRY) is cube
        # a scene with no object of its own: the empty ERROR scene
        assert ldr.get_or_placeholder(SCENE) is error_scene()
        scene = error_scene()
        assert scene.name == "ERROR" and len(scene.nodes) == 1 and scene.nodes[0].parent_index == 0
        assert scene.geometries == () and scene.components == ()
        # the material (no buffer) loads for real and is cached
        assert ldr.load_asset(MATERIAL, MaterialAsset).result(T).texture("base_color").width == 64


def test_format_errors_are_not_retried(sample_root):
    desc = sample_root / "Materials" / "Checker.omat"
    blob = bytearray(desc.read_bytes())
    blob[0] = AssetType.GEOMETRY  # the header disagrees with the index
    desc.write_bytes(blob)
    with AssetLoader(LoaderConfig(cpu_threads=1, retry=FAST, fallback=True)) as ldr:  # config default
        ldr.add_loose_cooked_root(str(sample_root))
        handle = ldr.load_asset(MATERIAL, MaterialAsset)
        assert handle.result(T).is_default and isinstance(handle.error, FormatError)
        assert ldr.stats.retries == 0
        with pytest.raises(FormatError):
            ldr.load_asset(MATERIAL, MaterialAsset, fallback=False).result(T)


def test_a_file_missing_while_swapped_is_retried(sample_root, monkeypatch):
    desc = sample_root / "Materials" / "Checker.omat"
    saved = desc.read_bytes()
    real = LooseSource.read_descriptor
    failures = []

    def read_descriptor(source, key):
        try:
            return real(source, key)
        except SourceReadError as exc:  # the "cook" puts the file back right after the miss
            failures.append(exc)
            desc.write_bytes(saved)
            raise

    monkeypatch.setattr(LooseSource, "read_descriptor", read_descriptor)
    with AssetLoader(LoaderConfig(cpu_threads=1, retry=FAST)) as ldr:
        ldr.add_loose_cooked_root(str(sample_root))
        desc.unlink()
        assert ldr.load_asset(MATERIAL, MaterialAsset).result(T).name == "Checker"
        assert ldr.stats.retries == 1 and len(failures) == 1 and failures[0].errno == errno.ENOENT


def test_get_or_placeholder(sample_root):
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(sample_root))
        first = ldr.get_or_placeholder(GEOMETRY, GeometryAsset)
        assert first.name == "ERROR"  # not cached yet: the placeholder, and the load starts
        deadline = time.monotonic() + T
        while not ldr.is_loaded(GEOMETRY):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        real = ldr.get_or_placeholder(GEOMETRY)
        assert real.name == "Cube" and real is ldr.get_cached(GEOMETRY)
        deadline = time.monotonic() + T
        while ldr.ref_count(GEOMETRY):  # the background load gives its reference back
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert ldr.get_or_placeholder(AssetKey.from_virtual_path("/nothing")) is None
