"""AssetLoader bundles (keys and virtual-path globs, one broken member), progress since a mark, stats()."""
from __future__ import annotations

import threading

import pytest

from oxy.cook.descriptors import build_material
from oxy.cook.payload import fallback_texture
from oxy.errors import FormatError
from oxy.formats import AssetType
from oxy.runtime import AssetLoader, AssetNotFound, BundleHandle, LoaderConfig, MaterialAsset
from oxy.runtime import engine as engine_module
from oxy.samples import ContentSet, checker_texture, write_loose_root

T = 20


def _key(name: str):
    return ContentSet.key(AssetType.MATERIAL, name)


@pytest.fixture
def root(tmp_path):
    content = ContentSet()
    content.textures = [fallback_texture(), checker_texture(16)]
    bad = bytearray(build_material("Bad"))
    bad[0] = AssetType.GEOMETRY  # the header disagrees with the index
    content.assets = [(AssetType.MATERIAL, "Good1", build_material("Good1", textures={"base_color": 1})),
                      (AssetType.MATERIAL, "Good2", build_material("Good2")),
                      (AssetType.MATERIAL, "Bad", bytes(bad))]
    write_loose_root(tmp_path / "r", content)
    return tmp_path / "r"


def test_a_bundle_with_one_broken_member(root):
    folder = ContentSet.virtual_path(AssetType.MATERIAL, "Good1").rsplit("/", 1)[0]
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(root))
        ldr.mark_progress()
        bundle = ldr.load_bundle([f"{folder}/*", str(_key("Good1")), "/nowhere/*"], MaterialAsset)
        assert isinstance(bundle, BundleHandle)
        result = bundle.result(T)
        assert set(result.values) == {_key("Good1"), _key("Good2")}
        assert result.values[_key("Good1")].texture("base_color").width == 16
        assert set(result.failures) == {_key("Bad"), "/nowhere/*"}
        assert isinstance(result.failures[_key("Bad")], FormatError)
        assert isinstance(result.failures["/nowhere/*"], AssetNotFound)
        assert bundle.status == "failed" and bundle.progress == 1.0 and not result.ok
        assert [bundle.members[k].status for k in (_key("Good1"), _key("Good2"), _key("Bad"))] == \
            ["completed", "completed", "failed"]
        progress = ldr.progress()
        assert (progress.total, progress.loaded, progress.failed, progress.in_flight) == (3, 2, 1, 0)
        assert progress.fraction == 1.0 and progress.done
        # each value holds one reference, released together
        assert ldr.ref_count(_key("Good1")) == 1
        assert ldr.release_all(result.values) == 2 and ldr.ref_count(_key("Good1")) == 0
        # with fallbacks the broken member is usable (the default material) and still listed as failed
        again = ldr.load_bundle([_key("Bad"), _key("Good2")], fallback=True).result(T)
        assert again.values[_key("Bad")].is_default and isinstance(again.failures[_key("Bad")], FormatError)
        stats = ldr.stats()
        assert stats["fallbacks"] == 1 and stats["failures"] == 2 and stats["bytes_read"] > 0
        assert stats["decode_seconds"] > 0 and stats["retries"] == 0 and stats["reloads"] == 0
        ldr.mark_progress()
        assert ldr.progress().total == 0 and ldr.progress().fraction == 1.0


def test_bundle_progress_while_loading_and_cancel(root, monkeypatch):
    entered, gate = threading.Event(), threading.Event()
    real = engine_module.decode_asset

    def held(asset_type, key, *args, **kwargs):
        if key == _key("Good2"):
            entered.set()
            assert gate.wait(T)
        return real(asset_type, key, *args, **kwargs)

    monkeypatch.setattr(engine_module, "decode_asset", held)
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(root))
        ldr.mark_progress()
        bundle = ldr.load_bundle([_key("Good1"), _key("Good2")])
        assert entered.wait(T)
        bundle.members[_key("Good1")].result(T)
        assert 0.5 <= bundle.progress < 1.0 and bundle.status == "loading"
        progress = ldr.progress()
        assert (progress.total, progress.loaded, progress.in_flight) == (2, 1, 1) and progress.fraction == 0.5
        assert bundle.cancel()
        result = bundle.result(T)
        gate.set()
        assert set(result.values) == {_key("Good1")} and set(result.failures) == {_key("Good2")}
        assert ldr.progress().cancelled == 1 and ldr.progress().in_flight == 0
