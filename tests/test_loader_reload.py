"""AssetLoader hot reload: a re-cook into a watched loose root, a replaced PAK, a mount that fails to re-read."""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from oxy.cook.descriptors import build_material
from oxy.formats import AssetType
from oxy.runtime import AssetLoader, GeometryAsset, LoaderConfig, MaterialAsset, SceneAsset
from oxy.samples import ContentSet, textured_cube, write_sample_pak

T = 30
REPO = pathlib.Path(__file__).resolve().parents[1]


def cook(workdir: pathlib.Path) -> None:
    result = subprocess.run([sys.executable, "-m", "oxy", "cook", "textures", "models", "-o", "root", "--no-cache"],
                            cwd=workdir, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def workdir(tmp_path):
    """samples/textures and two models: brick_cube (brick.png) and stone_cube (checker.png), cooked."""
    shutil.copytree(REPO / "samples" / "textures", tmp_path / "textures")
    (tmp_path / "models").mkdir()
    brick = json.loads((REPO / "samples" / "models" / "brick_cube.gltf").read_text())
    (tmp_path / "models" / "brick_cube.gltf").write_text(json.dumps(brick))
    stone = json.loads(json.dumps(brick))
    stone["images"][0]["uri"] = "../textures/checker.png"
    stone["materials"][0]["name"] = "Stone"
    stone["nodes"][0]["name"] = stone["meshes"][0]["name"] = "StoneCube"
    (tmp_path / "models" / "stone_cube.gltf").write_text(json.dumps(stone))
    cook(tmp_path)
    return tmp_path


class Recorder:
    """on_reload subscriber: every (key, old, new), and an event per key."""

    def __init__(self, loader: AssetLoader) -> None:
        self.calls: list = []
        self.on_hub: list[bool] = []
        self.cond = threading.Condition()
        loader.on_reload(self)
        self.loader = loader

    def __call__(self, key, old, new) -> None:
        with self.cond:
            self.calls.append((key, old, new))
            self.on_hub.append(self.loader.loop.on_hub_thread())
            self.cond.notify_all()

    def wait_for(self, key, count: int = 1) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: sum(1 for k, *_ in self.calls if k == key) >= count, T), \
                f"no reload of {key}: {[c[0] for c in self.calls]}"


def test_recooked_texture_and_model_are_swapped_in_a_watched_root(workdir):
    with AssetLoader(LoaderConfig(cpu_threads=2, watch=True, reload_debounce=0.05)) as ldr:
        ldr.add_loose_cooked_root(str(workdir / "root"))
        recorder = Recorder(ldr)
        brick_scene_key = ldr.find_virtual_path("/.cooked/Scenes/brick_cube.oscene")
        stone_scene_key = ldr.find_virtual_path("/.cooked/Scenes/stone_cube.oscene")
        brick = ldr.load_asset(brick_scene_key, SceneAsset).result(T)
        stone = ldr.load_asset(stone_scene_key, SceneAsset).result(T)
        [(brick_geo_key, brick_geo)] = brick.geometries
        [(brick_mat_key, brick_mat)] = brick_geo.materials
        [(stone_geo_key, stone_geo)] = stone.geometries
        [(stone_mat_key, stone_mat)] = stone_geo.materials
        old_texture = brick_mat.texture("base_color")
        stone_texture = stone_mat.texture("base_color")

        # 1. a texture: brick.png changes, the cook appends a texture and rewrites the material
        image = np.asarray(Image.open(workdir / "textures" / "brick.png").convert("RGBA"))
        Image.fromarray(np.ascontiguousarray(255 - image)).save(workdir / "textures" / "brick.png")
        cook(workdir)
        recorder.wait_for(brick_scene_key)
        swapped = [k for k, *_ in recorder.calls]
        assert swapped == [brick_mat_key, brick_geo_key, brick_scene_key]  # once each, dependencies first
        assert all(recorder.on_hub)
        new_scene = ldr.get_cached(brick_scene_key)
        new_mat = ldr.get_cached(brick_mat_key)
        assert new_scene is recorder.calls[-1][2] and recorder.calls[-1][1] is brick
        assert new_scene.geometry(brick_geo_key).material(brick_mat_key) is new_mat
        new_texture = new_mat.texture("base_color")
        assert new_texture != old_texture and new_texture.width == old_texture.width
        inverted = new_texture.to_rgba8().astype(int) + old_texture.to_rgba8().astype(int) - 255
        assert np.abs(inverted[..., :3]).mean() < 8  # the new pixels are the old ones inverted (BC7 both)
        # untouched assets keep their identity; references stay counted
        assert ldr.get_cached(stone_scene_key) is stone and ldr.get_cached(stone_mat_key) is stone_mat
        assert stone_mat.texture("base_color") is stone_texture
        assert ldr.ref_count(brick_scene_key) == 1 and ldr.ref_count(brick_mat_key) == 1
        report = ldr.reload_reports[-1]
        assert report.changed == [brick_mat_key] and not report.errors

        # 2. a model: its material factor and its node move
        gltf = json.loads((workdir / "models" / "brick_cube.gltf").read_text())
        gltf["materials"][0]["pbrMetallicRoughness"]["roughnessFactor"] = 0.25
        gltf["nodes"][0]["translation"] = [0.0, 2.0, 0.0]
        (workdir / "models" / "brick_cube.gltf").write_text(json.dumps(gltf))
        cook(workdir)
        recorder.wait_for(brick_scene_key, count=2)
        second = [k for k, *_ in recorder.calls[3:]]
        assert second == [brick_mat_key, brick_geo_key, brick_scene_key]
        assert ldr.get_cached(brick_mat_key).roughness == pytest.approx(0.25, abs=1e-4)  # unorm16
        assert ldr.get_cached(brick_scene_key).nodes[0].translation == pytest.approx((0.0, 2.0, 0.0))
        assert ldr.get_cached(stone_scene_key) is stone
        assert set(ldr.reload_reports[-1].changed) == {brick_mat_key, brick_scene_key}
        # releasing the (twice replaced) scene drops everything it held
        assert ldr.release(brick_scene_key)
        assert ldr.ref_count(brick_mat_key) == 0 and ldr.ref_count(stone_mat_key) == 1
        assert ldr.stats.reloads == 6


def _variant(roughness: float) -> ContentSet:
    content = textured_cube()
    material = build_material("Checker", textures={"base_color": 1}, roughness=roughness)
    content.assets = [(AssetType.MATERIAL, "Checker", material), *content.assets[1:]]
    return content


def test_a_replaced_pak_is_reloaded(tmp_path):
    pak = tmp_path / "content.pak"
    write_sample_pak(pak, textured_cube())
    material_key = ContentSet.key(AssetType.MATERIAL, "Checker")
    geometry_key = ContentSet.key(AssetType.GEOMETRY, "Cube")
    with AssetLoader(LoaderConfig(cpu_threads=2, reload_debounce=0.05)) as ldr:
        ldr.add_pak(str(pak))
        ldr.watch()
        recorder = Recorder(ldr)
        errors: list = []
        ldr.on_reload_error(lambda what, error: errors.append((what, error)))
        geometry = ldr.load_asset(geometry_key, GeometryAsset).result(T)
        texture = geometry.material(material_key).texture("base_color")
        write_sample_pak(tmp_path / "next.pak", _variant(0.125))
        os.replace(tmp_path / "next.pak", pak)
        recorder.wait_for(geometry_key)
        assert [k for k, *_ in recorder.calls] == [material_key, geometry_key]
        material = ldr.get_cached(material_key)
        assert material.roughness == pytest.approx(0.125, abs=1e-4)
        assert material.texture("base_color") is texture  # same table entry: kept
        assert ldr.get_cached(geometry_key).material(material_key) is material
        # a torn PAK keeps the previous content and reports the error
        (tmp_path / "bad.pak").write_bytes(b"not a pak at all" * 20)
        os.replace(tmp_path / "bad.pak", pak)
        deadline = time.monotonic() + T
        while not errors:
            assert time.monotonic() < deadline, "the failed re-read was not reported"
            time.sleep(0.01)
        assert errors[0][0] == str(pak) and "PAK" in str(errors[0][1])
        assert ldr.stats.reload_errors == 1
        assert ldr.load_asset(material_key, MaterialAsset).result(T) is material  # still served
        assert ldr.mounts and len(recorder.calls) == 2


def test_a_manual_reload_of_unchanged_content_swaps_nothing(tmp_path):
    pak = tmp_path / "content.pak"
    write_sample_pak(pak, textured_cube())
    scene_key = ContentSet.key(AssetType.SCENE, "CubeScene")
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        source = ldr.add_pak(str(pak))
        scene = ldr.load_asset(scene_key, SceneAsset).result(T)
        ldr.release(scene_key)  # unreferenced but cached
        write_sample_pak(tmp_path / "same.pak", textured_cube())
        os.replace(tmp_path / "same.pak", pak)
        [report] = ldr.reload()
        assert report.changed == [] and report.reloaded == [] and report.errors == []
        assert ldr.mounts == (source,) and ldr.load_asset(scene_key).result(T) is scene
        write_sample_pak(tmp_path / "next.pak", _variant(0.5))
        os.replace(tmp_path / "next.pak", pak)
        ldr.release(scene_key)
        [report] = ldr.reload(source)
        # nothing referenced it: the stale entries are dropped, not rebuilt
        assert report.changed == [ContentSet.key(AssetType.MATERIAL, "Checker")]
        assert report.reloaded == [] and set(report.dropped) >= {report.changed[0], scene_key}
        assert ldr.load_asset(scene_key).result(T).geometries[0][1].materials[0][1].roughness == pytest.approx(0.5, abs=1e-4)


def test_a_load_in_flight_across_a_swap_publishes_the_new_content(tmp_path, monkeypatch):
    from oxy.runtime import engine as engine_module

    entered, gate = threading.Event(), threading.Event()
    real = engine_module.decode_asset
    decoded = []

    def held(*args, **kwargs):
        decoded.append(args[1])
        entered.set()
        assert gate.wait(T)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "decode_asset", held)
    pak = tmp_path / "content.pak"
    write_sample_pak(pak, _variant(0.5))
    material_key = ContentSet.key(AssetType.MATERIAL, "Checker")
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        ldr.add_pak(str(pak))
        handle = ldr.load_asset(material_key, MaterialAsset)
        assert entered.wait(T)  # it read the old PAK and is decoding it
        write_sample_pak(tmp_path / "next.pak", _variant(0.125))
        os.replace(tmp_path / "next.pak", pak)
        [report] = ldr.reload()
        assert report.changed == [] and not report.errors  # nothing cached yet
        gate.set()
        assert handle.result(T).roughness == pytest.approx(0.125, abs=1e-4)
        assert decoded == [material_key, material_key]  # read again from the new mount


def test_stop_ends_the_watcher_thread(tmp_path):
    pak = tmp_path / "content.pak"
    write_sample_pak(pak, textured_cube())

    def watchers():
        return [t for t in threading.enumerate() if t.name == "oxy-loader-watch" and t.is_alive()]

    before = len(watchers())
    ldr = AssetLoader(LoaderConfig(cpu_threads=1, watch=True)).start()
    ldr.add_pak(str(pak))
    assert len(watchers()) == before + 1
    ldr.add_pak(str(pak))  # a second mount: the watcher is restarted for both, not doubled
    deadline = time.monotonic() + T
    while len(watchers()) != before + 1:
        assert time.monotonic() < deadline, "the replaced watcher thread did not end"
        time.sleep(0.01)
    ldr.stop()
    while len(watchers()) != before:
        assert time.monotonic() < deadline, "the watcher thread outlived stop()"
        time.sleep(0.01)


def test_keys_removed_by_a_reload_are_announced_and_evicted_once_released(tmp_path):
    def content(*extra: str) -> ContentSet:
        cube = textured_cube()
        for name in extra:
            cube.assets.append((AssetType.MATERIAL, name, build_material(name, textures={"base_color": 1})))
        return cube

    pak = tmp_path / "content.pak"
    write_sample_pak(pak, content("Held", "Released"))
    held_key, released_key = (ContentSet.key(AssetType.MATERIAL, n) for n in ("Held", "Released"))
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        source = ldr.add_pak(str(pak))
        recorder = Recorder(ldr)
        held = ldr.load_asset(held_key, MaterialAsset).result(T)
        released = ldr.load_asset(released_key, MaterialAsset).result(T)
        ldr.release(released_key)   # cached, unreferenced
        texture = held.texture("base_color")
        write_sample_pak(tmp_path / "next.pak", content())
        os.replace(tmp_path / "next.pak", pak)
        [report] = ldr.reload(source)
        assert set(report.removed) == {held_key, released_key} and report.reloaded == []
        assert sorted((c for c in recorder.calls), key=lambda c: c[0] != held_key) == [
            (held_key, held, None), (released_key, released, None)]
        assert all(recorder.on_hub)
        # nothing held the released one: gone now; the held one stays valid until released
        assert not ldr.has_cached(released_key)
        assert ldr.has_cached(held_key) and ldr.ref_count(held_key) == 1
        assert held.texture("base_color") is texture and held.name == "Held"
        assert ldr.release(held_key) and not ldr.has_cached(held_key)   # evicted, not kept in the LRU
        from oxy.runtime import AssetNotFound
        with pytest.raises(AssetNotFound):
            ldr.load_asset(held_key).result(T)
        # the texture it used is still mounted and cached (unreferenced, reusable)
        assert ldr.has_cached(texture.key)
