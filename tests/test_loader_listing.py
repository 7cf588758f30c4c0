"""AssetLoader listing (equals `oxy inspect --json`), memory by type, budget, unload_unused."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from oxy.formats import AssetType
from oxy.runtime import AssetLoader, LoaderConfig, SceneAsset
from oxy.samples import ContentSet, textured_cube, write_sample_pak

from conftest import GOLDEN_PAK

T = 20
SCENE = ContentSet.key(AssetType.SCENE, "CubeScene")


def inspect_assets(path) -> set[tuple[str, str, str | None]]:
    result = subprocess.run([sys.executable, "-m", "oxy", "inspect", str(path), "--json"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {(a["key"], a["type"], a.get("virtual_path")) for a in json.loads(result.stdout)["assets"]}


@pytest.mark.parametrize("kind", ["loose", "pak", "golden"])
def test_listing_equals_oxy_inspect(kind, sample_root, tmp_path):
    if kind == "loose":
        path = sample_root
    elif kind == "pak":
        path = tmp_path / "cube.pak"
        write_sample_pak(path, textured_cube())
    else:
        path = GOLDEN_PAK
    ldr = AssetLoader(LoaderConfig(cpu_threads=1))
    source = ldr.add_pak(str(path)) if kind != "loose" else ldr.add_loose_cooked_root(str(path))
    before_start = ldr.assets()
    with ldr:
        listed = ldr.assets(source)
        assert {(str(a.key), a.type, a.virtual_path) for a in listed} == inspect_assets(path)
        assert all(a.source is source and a.source_path == str(path) for a in listed)
        assert ldr.assets() == listed == before_start


def test_a_key_in_two_mounts_is_listed_once(sample_root, tmp_path):
    pak = tmp_path / "cube.pak"
    write_sample_pak(pak, textured_cube())
    with AssetLoader(LoaderConfig(cpu_threads=1)) as ldr:
        first = ldr.add_loose_cooked_root(str(sample_root))
        second = ldr.add_pak(str(pak))
        everything = ldr.assets()
        assert len(everything) == 3 and {a.source for a in everything} == {first}
        assert len(ldr.assets(second)) == 3


def test_memory_usage_budget_and_unload_unused(sample_root):
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_loose_cooked_root(str(sample_root))
        scene = ldr.load_asset(SCENE, SceneAsset).result(T)
        usage = ldr.memory_usage()
        geometry = scene.geometries[0][1]
        texture = geometry.materials[0][1].texture("base_color")
        assert usage["texture"] == {"entries": 1, "bytes": texture.size_bytes, "referenced_bytes": texture.size_bytes,
                                    "unreferenced_bytes": 0}
        assert usage["buffer"]["entries"] == 2 and usage["scene"]["entries"] == 1
        assert usage["total"]["bytes"] == ldr.cache_info()["bytes"] == sum(
            row["bytes"] for name, row in usage.items() if name != "total")
        assert ldr.unload_unused() == (0, 0)  # everything is referenced
        ldr.set_memory_budget(0)
        assert ldr.cache_info()["entries"] == 6  # referenced entries are never evicted
        ldr.set_memory_budget(1 << 30)
        ldr.release(SCENE)
        assert ldr.memory_usage()["total"]["unreferenced_bytes"] == usage["total"]["bytes"]
        entries, freed = ldr.unload_unused()
        assert (entries, freed) == (6, usage["total"]["bytes"]) and ldr.cache_info()["entries"] == 0
        with pytest.raises(ValueError):
            ldr.set_memory_budget(-1)
