"""AssetLoader: mounts, loads, equality of root vs PAK, de-dup, callbacks, buffers."""
from __future__ import annotations

import threading

import gevent
import numpy as np
import pytest

from oxy.cook.descriptors import build_material
from oxy.cook.payload import fallback_texture
from oxy.formats import AssetKey, AssetType
from oxy.runtime import (AssetLoader, AssetNotFound, BufferResource, GeometryAsset, LoaderConfig,
                         LoaderNotRunning, MaterialAsset, ResourceKey, ResourceKind, ResourceNotFound,
                         SceneAsset, TextureResource, WrongAssetKind)
from oxy.samples import ContentSet, checker_texture, cube_buffers, textured_cube, write_loose_root, write_sample_pak

from conftest import GOLDEN_PAK

T = 20  # seconds: every wait is bounded so a bug fails instead of hanging
SCENE = ContentSet.key(AssetType.SCENE, "CubeScene")
GEOMETRY = ContentSet.key(AssetType.GEOMETRY, "Cube")
MATERIAL = ContentSet.key(AssetType.MATERIAL, "Checker")


@pytest.fixture
def loader():
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        yield ldr


@pytest.fixture
def cube_pak(tmp_path):
    path = tmp_path / "cube.pak"
    write_sample_pak(path, textured_cube())
    return path


def test_load_before_start_fails_fast(sample_root):
    ldr = AssetLoader(LoaderConfig(cpu_threads=1))
    ldr.add_loose_cooked_root(str(sample_root))  # mounting before start is allowed
    with pytest.raises(LoaderNotRunning, match="start"):
        ldr.load_asset(MATERIAL, MaterialAsset)
    with pytest.raises(LoaderNotRunning):
        ldr.start_load_asset(MATERIAL, MaterialAsset, lambda v, e: None)
    ldr.start()
    try:
        assert ldr.load_asset(MATERIAL, MaterialAsset).result(T).name == "Checker"
    finally:
        ldr.stop()
    with pytest.raises(LoaderNotRunning):
        ldr.load_asset(MATERIAL)


def test_scene_loads_with_every_dependency(loader, sample_root):
    loader.add_loose_cooked_root(str(sample_root))
    scene = loader.load_asset(SCENE, SceneAsset).result(T)
    assert [n.name for n in scene.nodes] == ["Root", "Cube"]
    assert scene.nodes[1].parent_index == 0
    geometry = scene.geometry(GEOMETRY)
    mesh = geometry.meshes[0]
    assert isinstance(mesh.vertex_buffer, BufferResource) and mesh.vertex_buffer.size_bytes == 24 * 72
    vb, ib, _lo, _hi = cube_buffers()
    assert mesh.vertex_buffer.data == vb and mesh.index_buffer.data == ib
    assert mesh.index_buffer.as_array().tolist() == np.frombuffer(ib, "<u4").tolist()
    assert mesh.submeshes[0].views[0].index_count == 36
    material = geometry.material(MATERIAL)
    assert material.name == "Checker" and material.roughness == pytest.approx(0.6, abs=1e-4)
    texture = material.texture("base_color")
    assert isinstance(texture, TextureResource) and (texture.width, texture.mip_levels) == (64, 7)
    # textures maps each used slot to its texture, as the docstring says: a read-only mapping
    assert material.textures["base_color"] is texture and list(material.textures) == ["base_color"]
    assert dict(material.textures.items()) == {"base_color": texture} and "normal" not in material.textures
    assert material.texture_keys["base_color"] == loader.dependencies(MATERIAL)[0]
    with pytest.raises(TypeError):
        material.textures["normal"] = texture  # type: ignore[index]
    expected = checker_texture()
    assert texture.payload == expected.payload
    # the dependency graph: scene -> geometry -> (buffers, material) -> texture
    assert loader.dependencies(SCENE) == (GEOMETRY,)
    assert set(loader.dependencies(GEOMETRY)) == {MATERIAL, *[k for _n, k in mesh.buffer_keys]}
    assert loader.dependencies(MATERIAL) == (dict(material.texture_keys)["base_color"],)
    assert loader.ref_count(SCENE) == 1 and loader.ref_count(GEOMETRY) == 1


def test_root_and_pak_load_equal_objects(tmp_path, sample_root, cube_pak):
    results = []
    for mount in ("add_loose_cooked_root", "add_pak"):
        with AssetLoader(LoaderConfig(cpu_threads=2, verify_content_hashes=True)) as ldr:
            getattr(ldr, mount)(str(sample_root if mount == "add_loose_cooked_root" else cube_pak))
            results.append([ldr.load_asset(k).result(T) for k in (MATERIAL, GEOMETRY, SCENE)])
    assert results[0] == results[1]
    # equality is by content: a changed factor makes them differ
    assert results[0][0] != results[0][0].__class__(**{**results[0][0].__dict__, "name": "Other"})


def test_texture_to_rgba8_matches_the_source(loader, sample_root):
    loader.add_loose_cooked_root(str(sample_root))
    material = loader.load_asset(MATERIAL, MaterialAsset).result(T)
    rgba = material.texture("base_color").to_rgba8()
    assert rgba.shape == (64, 64, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0].tolist() == [30, 0, 0, 255] and rgba[0, 8, 0] == 230
    assert material.texture("base_color").to_rgba8(mip=6).shape == (1, 1, 4)


def test_bc7_texture_decodes_through_the_bc7_decoder(tmp_path, loader):
    from oxy.cook import bc7
    from oxy.cook.payload import TextureShape, pack_texture_payload
    from oxy.formats import Format

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (8, 12, 4), dtype=np.uint8)
    blocks = bc7.encode(image)
    shape = TextureShape(width=12, height=8, format=Format.BC7_UNORM)
    content = ContentSet()
    content.textures = [fallback_texture(), pack_texture_payload(shape, [bytes(blocks)])]
    content.assets = [(AssetType.MATERIAL, "B", build_material("B", textures={"base_color": 1}))]
    write_loose_root(tmp_path / "r", content)
    loader.add_loose_cooked_root(str(tmp_path / "r"))
    key = ContentSet.key(AssetType.MATERIAL, "B")
    tex = loader.load_asset(key, MaterialAsset).result(T).texture("base_color")
    assert np.array_equal(tex.to_rgba8(), bc7.decode(bytes(blocks), 12, 8))


def test_golden_pak_mounts_and_its_material_loads():
    with AssetLoader(LoaderConfig(cpu_threads=1, verify_content_hashes=True)) as ldr:
        ldr.add_pak(str(GOLDEN_PAK))
        key = AssetKey.parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")
        assert ldr.find_virtual_path("/MatRef") == key
        material = ldr.load_asset(key, MaterialAsset).result(T)
        assert material.name == "MatRef" and material.base_color == (1.0, 1.0, 1.0, 1.0)
        assert material.ior == 1.5 and material.textures == {} and not material.textures


def test_hundred_concurrent_loads_decode_once(loader, sample_root):
    loader.add_loose_cooked_root(str(sample_root))

    def on_hub():
        # 100 greenlets on the owning hub, each waiting on its own future
        futures = [loader.load_asset(MATERIAL, MaterialAsset) for _ in range(100)]
        greenlets = [gevent.spawn(f.result, T) for f in futures]
        gevent.joinall(greenlets, timeout=T, raise_error=True)
        return [g.value for g in greenlets]

    values = loader.loop.call(on_hub, timeout=T)
    assert len(values) == 100 and all(v is values[0] for v in values)
    # material + its one texture: two decodes, 99 requests joined the in-flight load
    assert loader.stats.decodes == 2
    assert loader.stats.joined + loader.stats.cache_hits == 99
    assert loader.ref_count(MATERIAL) == 100
    for _ in range(100):
        assert loader.release(MATERIAL)
    assert loader.ref_count(MATERIAL) == 0 and not loader.release(MATERIAL)


def test_concurrent_loads_from_plain_threads(loader, sample_root):
    loader.add_loose_cooked_root(str(sample_root))
    out, errors = [], []

    def worker():
        try:
            out.append(loader.load_asset(SCENE, SceneAsset).result(T))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T)
    assert not errors and len(out) == 8 and all(o is out[0] for o in out)
    assert loader.stats.decodes == 6  # scene, geometry, material, texture, 2 buffers
    assert loader.ref_count(SCENE) == 8


def test_callbacks_run_on_the_owning_hub(loader, sample_root):
    loader.add_loose_cooked_root(str(sample_root))
    done = threading.Event()
    seen = []

    def callback(value, error):
        seen.append((value, error, loader.loop.on_hub_thread()))
        done.set()

    loader.start_load_asset(GEOMETRY, GeometryAsset, callback)
    assert done.wait(T)
    value, error, on_hub = seen[0]
    assert error is None and isinstance(value, GeometryAsset) and on_hub
    done.clear()
    loader.start_load_asset(AssetKey.from_virtual_path("/nope"), MaterialAsset, callback)
    assert done.wait(T)
    assert seen[1][0] is None and isinstance(seen[1][1], AssetNotFound) and seen[1][2]


def test_resource_loads_by_key_and_from_a_buffer(loader, sample_root):
    source = loader.add_loose_cooked_root(str(sample_root))
    vb = loader.load_resource(ResourceKey(source, ResourceKind.BUFFER, 0), BufferResource).result(T)
    assert vb.element_stride == 72 and vb.as_array().shape == (24, 72)
    with pytest.raises(ResourceNotFound):
        loader.load_resource(ResourceKey(source, ResourceKind.BUFFER, 9)).result(T)
    with pytest.raises(WrongAssetKind):
        loader.load_resource(ResourceKey(source, ResourceKind.BUFFER, 0), TextureResource)
    texture_done, textures = threading.Event(), []
    loader.start_load_resource(ResourceKey(source, ResourceKind.TEXTURE, 1), TextureResource,
                               lambda v, e: (textures.append((v, e, loader.loop.on_hub_thread())), texture_done.set()))
    assert texture_done.wait(T)
    assert textures[0][1] is None and textures[0][2] and textures[0][0].width == 64
    cooked = checker_texture(16)
    done, got = threading.Event(), []
    key = loader.start_load_resource_from_buffer(
        TextureResource, cooked.table_entry(12345).build() + cooked.payload,
        lambda v, e: (got.append((v, e, loader.loop.on_hub_thread())), done.set()))
    assert done.wait(T)
    value, error, on_hub = got[0]
    assert error is None and on_hub and value.key == key and key.source is not source
    assert value.payload == cooked.payload and value.to_rgba8().shape == (16, 16, 4)
    assert loader.get_cached(key) is value and loader.ref_count(key) == 1
    assert loader.release(key) and loader.ref_count(key) == 0


def test_wrong_kind_and_missing_keys(loader, sample_root):
    loader.add_loose_cooked_root(str(sample_root))
    with pytest.raises(WrongAssetKind, match="material"):
        loader.load_asset(MATERIAL, SceneAsset).result(T)
    loader.load_asset(MATERIAL).result(T)
    with pytest.raises(WrongAssetKind):  # now from the cache
        loader.load_asset(MATERIAL, GeometryAsset).result(T)
    assert loader.ref_count(MATERIAL) == 1
    with pytest.raises(AssetNotFound):
        loader.load_asset(AssetKey.from_virtual_path("/x")).result(T)
    with pytest.raises(TypeError):
        loader.load_asset(MATERIAL, int)


def test_get_cached_and_has_cached(loader, sample_root):
    loader.add_loose_cooked_root(str(sample_root))
    assert loader.get_cached(MATERIAL) is None and not loader.has_cached(MATERIAL)
    material = loader.load_asset(str(MATERIAL)).result(T)  # text keys are accepted
    assert loader.get_cached(MATERIAL) is material and loader.has_cached(MATERIAL)
    assert loader.ref_count(MATERIAL) == 1  # get_cached takes no reference


def test_clear_mounts_keeps_cached_objects(loader, sample_root):
    loader.add_loose_cooked_root(str(sample_root))
    material = loader.load_asset(MATERIAL).result(T)
    loader.clear_mounts()
    assert loader.mounts == ()
    assert loader.load_asset(MATERIAL).result(T) is material  # served from the cache
    with pytest.raises(AssetNotFound):
        loader.load_asset(SCENE).result(T)


def test_runtime_layering():
    """oxy.runtime never imports the importers, and oxy.cook only lazily (to_rgba8)."""
    import subprocess
    import sys

    code = ("import sys, oxy.runtime; bad = [m for m in sys.modules if m.startswith(('oxy.importing', "
            "'oxy.cook'))]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
