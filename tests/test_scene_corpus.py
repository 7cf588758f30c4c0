"""Issue 6: every corpus model cooks (async, all at once, one root each) into a root that
validates, with the expected content read back from disk; malformed scenes fail with the
file and assimp's reason without disturbing the other jobs."""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from cooking import decode_mip, payload, psnr, read_table
from oxy.formats import ComponentType, MaterialDomain, MaterialFlags, mesh_info
from oxy.importing import AsyncImportService, ImportRequest
from oxy.validate import validate_loose_root
from scene_disk import read_root

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus"
MODELS, MALFORMED = CORPUS / "models", CORPUS / "malformed"

# model -> (geometries, submeshes, materials, nodes, {material name: source image or None})
EXPECTED = {
    "gltf_Box/Box.gltf": (1, 1, 1, 2, {"Box_Red": None}),
    "gltf_BoxTextured/BoxTextured.gltf": (1, 1, 1, 2, {"BoxTextured_Texture": "gltf_BoxTextured/CesiumLogoFlat.png"}),
    "glb_BoxTextured/BoxTextured.glb": (1, 1, 1, 2, {"BoxTextured_Texture": "gltf_BoxTextured/CesiumLogoFlat.png"}),
    "gltf_BoxTexturedNonPowerOfTwo/BoxTexturedNonPowerOfTwo.gltf":
        (1, 1, 1, 2, {"BoxTexturedNonPowerOfTwo_Texture": "gltf_BoxTexturedNonPowerOfTwo/CesiumLogoFlat.png"}),
    "gltf_Duck/Duck.gltf": (1, 1, 1, 3, {"Duck_blinn3-fx": "gltf_Duck/DuckCM.png"}),
    "glb_Duck/Duck.glb": (1, 1, 1, 3, {"Duck_blinn3-fx": "gltf_Duck/DuckCM.png"}),
    "fbx_bin_box/box.fbx": (1, 1, 1, 5, {"box_Material_50": None}),
    "fbx_ascii_box_embedded_texture/box.FBX": (1, 1, 1, 2, {"box_03 - Default": "embedded"}),
    "fbx_ascii_kenney_king/king.fbx": (4, 5, 2, 5, {"king_king": "fbx_ascii_kenney_king/Textures/king.png",
                                                   "king_astronaut": "fbx_ascii_kenney_king/Textures/astronaut.png"}),
    "fbx_bin_spider_abs_paths/spider.fbx": (19, 19, 4, 22, {"spider_HLeibTex": "fbx_bin_spider_abs_paths/SpiderTex.jpg",
                                                            "spider_BeinTex": "fbx_bin_spider_abs_paths/drkwood2.jpg"}),
    "obj_spider/spider.obj": (19, 19, 4, 20, {"spider_HLeibTex": "obj_spider/SpiderTex.jpg",
                                              "spider_Skin": "obj_spider/wal67ar_small.jpg"}),
}
MALFORMED_REASONS = {
    "empty.obj": "OBJ-file is too small",
    "malformed.obj": "OBJ: Invalid face index",
    "gltf_MissingBin/BoxTextured.gltf": 'could not open referenced file "BoxTextured0.bin"',
    "gltf_IndexOutOfRange/IndexOutOfRange.gltf": "out-of-range indices",
}


@pytest.fixture(scope="module")
def cooked(tmp_path_factory):
    """All models and malformed files submitted at once to one service, one root each."""
    base = tmp_path_factory.mktemp("scenes")
    jobs = {}
    with AsyncImportService() as service:
        for i, rel in enumerate([*EXPECTED, *(f"!{m}" for m in MALFORMED_REASONS)]):
            source = MALFORMED / rel[1:] if rel.startswith("!") else MODELS / rel
            jobs[rel] = (base / f"root{i}", service.submit(ImportRequest(str(source), str(base / f"root{i}"))))
        return {rel: (root, handle.wait(120)) for rel, (root, handle) in jobs.items()}


@pytest.mark.parametrize("model", list(EXPECTED))
def test_model_cooks_into_a_valid_root(cooked, model):
    root, report = cooked[model]
    assert report is not None and report.success, [str(d) for d in report.diagnostics]
    validation = validate_loose_root(root, verify_hashes=True)
    assert validation.ok, [str(e) for e in validation.errors]
    assert not validation.warnings, [str(w) for w in validation.warnings]


@pytest.mark.parametrize("model", list(EXPECTED))
def test_model_counts_on_disk(cooked, model):
    geometries, submeshes, materials, nodes, _textures = EXPECTED[model]
    disk = read_root(cooked[model][0])
    assert len(disk.geometries) == geometries
    assert sum(len(g.meshes[0].submeshes) for g in disk.geometries.values()) == submeshes
    assert len(disk.materials) == materials
    (scene,) = disk.scenes.values()
    assert len(scene.nodes) == nodes
    assert scene.nodes[0].parent_index == 0
    assert all(n.parent_index < i for i, n in enumerate(scene.nodes) if i)
    renderables = [r for t in scene.components if t.component_type == ComponentType.RENDERABLE for r in t.records]
    assert {r.geometry_key for r in renderables} == {k for k, (t, _n) in disk.keys.items() if t == 2}
    for geometry in disk.geometries.values():  # every submesh names a material of this root
        for sub in geometry.meshes[0].submeshes:
            assert disk.keys[sub.desc.material_asset_key][0] == 1


@pytest.mark.parametrize("model", list(EXPECTED))
def test_vertices_indices_and_boxes(cooked, model):
    disk = read_root(cooked[model][0])
    for name, geometry in disk.geometries.items():
        vertices, indices = disk.vertices(geometry), disk.indices(geometry)
        assert np.isfinite(vertices).all() and indices.max() < len(vertices)
        normals, tangents, bitangents = vertices[:, 3:6], vertices[:, 8:11], vertices[:, 11:14]
        for v in (normals, tangents, bitangents):
            assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3), name
        assert np.abs(np.sum(normals * tangents, axis=1)).max() < 1e-3
        used = vertices[np.unique(indices), :3]
        assert np.allclose(geometry.desc.bounding_box_min, used.min(axis=0), atol=1e-5)
        assert np.allclose(geometry.desc.bounding_box_max, used.max(axis=0), atol=1e-5)
        info = mesh_info(geometry.meshes[0].desc)
        assert tuple(info.bbox_min) == tuple(geometry.desc.bounding_box_min)
        total = sum(s.views[0].index_count for s in geometry.meshes[0].submeshes)
        assert total == len(indices) and total % 3 == 0


@pytest.mark.parametrize("model", [m for m in EXPECTED if m.endswith(".gltf")])
def test_gltf_boxes_match_the_accessor_bounds(cooked, model):
    """Independent check: glTF POSITION accessors carry min/max."""
    doc = json.loads((MODELS / model).read_text())
    accessor = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    (geometry,) = read_root(cooked[model][0]).geometries.values()
    assert np.allclose(geometry.desc.bounding_box_min, accessor["min"], atol=1e-4)
    assert np.allclose(geometry.desc.bounding_box_max, accessor["max"], atol=1e-4)


def _embedded_png(model: pathlib.Path) -> np.ndarray:
    from oxy.importing.scene.backend_assimp import AssimpBackend
    import io
    (emb,) = AssimpBackend().parse(str(model)).embedded
    return np.asarray(Image.open(io.BytesIO(emb.data)).convert("RGBA"))


@pytest.mark.parametrize("model", list(EXPECTED))
def test_material_textures_decode_to_their_sources(cooked, model):
    root = cooked[model][0]
    disk = read_root(root)
    table = read_table(root)
    for name, source in EXPECTED[model][4].items():
        desc = disk.materials[name].desc
        index = desc.base_color_texture
        if source is None:
            assert index == 0 and desc.flags & MaterialFlags.NO_TEXTURE_SAMPLING
            continue
        assert index > 0 and not desc.flags & MaterialFlags.NO_TEXTURE_SAMPLING
        entry = table[index]
        decoded = decode_mip(payload(root, entry), entry)
        original = (_embedded_png(MODELS / model) if source == "embedded"
                    else np.asarray(Image.open(MODELS / source).convert("RGBA")))
        assert decoded.shape == original.shape
        # measured 2026-11-22: 40.5 dB (spider HLeibTex, a noisy JPEG) to 57 dB
        assert psnr(decoded[..., :3], original[..., :3]) >= 40.0, (model, name)


def test_material_factors_and_shaders(cooked):
    disk = read_root(cooked["gltf_Box/Box.gltf"][0])
    material = disk.materials["Box_Red"]
    assert material.desc.material_domain == MaterialDomain.OPAQUE
    assert np.allclose(material.desc.base_color, (0.8, 0.0, 0.0, 1.0), atol=1e-6)
    assert material.desc.metalness == 0.0 and material.desc.roughness == 1.0
    assert [s.source_path for s in material.shaders] == ["Passes/Forward/ForwardMesh_VS.hlsl",
                                                         "Passes/Forward/ForwardMesh_PS.hlsl"]
    fbx = read_root(cooked["fbx_bin_box/box.fbx"][0]).materials["box_Material_50"].desc
    assert np.allclose(fbx.base_color[:3], (0.99215686, 0.9254902, 0.6509804), atol=1e-5)


def test_scene_cameras_lights_and_transforms(cooked):
    duck = read_root(cooked["gltf_Duck/Duck.gltf"][0]).scenes["Duck"]
    cams = [r for t in duck.components if t.component_type == ComponentType.PERSPECTIVE_CAMERA for r in t.records]
    assert len(cams) == 1 and duck.string_at(duck.nodes[cams[0].node_index].scene_name_offset) == "nodes[1]"
    assert cams[0].aspect_ratio == pytest.approx(1.5) and cams[0].near_plane == pytest.approx(1.0)
    assert np.allclose(duck.nodes[0].scale, (0.01, 0.01, 0.01), atol=1e-6)  # the root's scale
    spider = read_root(cooked["fbx_bin_spider_abs_paths/spider.fbx"][0]).scenes["spider"]
    kinds = {t.component_type: len(t.records) for t in spider.components}
    assert kinds[ComponentType.POINT_LIGHT] == 1 and kinds[ComponentType.PERSPECTIVE_CAMERA] == 1
    for node in spider.nodes:
        assert np.isclose(np.linalg.norm(node.rotation), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", list(MALFORMED_REASONS))
def test_malformed_scene_fails_with_file_and_reason(cooked, name):
    root, report = cooked[f"!{name}"]
    assert report is not None and not report.success and not report.cancelled
    errors = [d for d in report.diagnostics if d.severity.value == "error"]
    assert errors and errors[0].source_path == str(MALFORMED / name)
    assert MALFORMED_REASONS[name] in errors[0].message
    assert not (root / "container.index.bin").exists()
