"""AssetLoader retries (transient read errors only, exponential backoff) and placeholders (fallback=True)."""
from __future__ import annotations

import errno
import threading
import time

import numpy as np
import pytest

from oxy.errors import FormatError
from oxy.formats import AssetKey, AssetType
from oxy.runtime import (AssetLoader, AssetNotFound, GeometryAsset, LoaderConfig, MaterialAsset, RetryPolicy,
                         SceneAsset, SourceReadError, TextureResource)
from oxy.runtime.retry import is_transient
from oxy.runtime.sources import LooseSource
from oxy.samples import ContentSet

T = 20
FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05, backoff=2.0)
SCENE = ContentSet.key(AssetType.SCENE, "CubeScene")
GEOMETRY = ContentSet.key(AssetType.GEOMETRY, "Cube")
MATERIAL = ContentSet.key(AssetType.MATERIAL, "Checker")


class Flaky:
    """Injects ``failures`` errors into LooseSource.read_resource for textures, then reads normally."""

    def __init__(self, monkeypatch, failures: int, error=lambda: OSError(errno.EIO, "Input/output error")):
        self.failures, self.error, self.calls = failures, error, 0
        real = LooseSource.read_resource
        lock = threading.Lock()

        def read_resource(source, kind, index):
            with lock:
                self.calls += 1
                fail = kind.value == "texture" and self.failures > 0
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
        # a material: the default material; the callback gets the placeholder and the error
        done, got = threading.Event(), []
        ldr.start_load_asset(MATERIAL, MaterialAsset, lambda v, e: (got.append((v, e)), done.set()), fallback=True)
        assert done.wait(T)
        assert got[0][0].is_default and isinstance(got[0][1], OSError)
        # a geometry (its material's texture fails): the ERROR cube
        cube = ldr.load_asset(GEOMETRY, GeometryAsset, fallback=True).result(T)
        assert cube.name == "ERROR" and cube.meshes[0].index_buffer.as_array().shape == (36,)
        positions = cube.meshes[0].vertex_buffer.as_array().view("<f4")[:, :3]
        assert np.allclose(positions.min(0), -0.5) and np.allclose(positions.max(0), 0.5)
        # scenes have no placeholder: the error is raised
        with pytest.raises(OSError):
            ldr.load_asset(SCENE, SceneAsset, fallback=True).result(T)
        assert ldr.stats.fallbacks == 3
        # placeholders are not cached
        assert not ldr.has_cached(MATERIAL) and not ldr.has_cached(GEOMETRY)
    assert flaky.calls > 0


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
