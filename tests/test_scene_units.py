"""Issue 6 pure parts: tangents, vertex packing, material mapping, scene building,
the texture resolver and the readiness tracker."""
from __future__ import annotations

import math

import numpy as np
import pytest

from oxy.cook.materials import MaterialSource, build_material_bytes, map_material
from oxy.cook.scene_build import (CameraData, LightData, NodeData, SceneInput, build_scene_descriptor,
                                  decompose, light_range, node_paths)
from oxy.cook.vertices import MeshData, MeshDataError, generate_tangents, pack_geometry, validate_mesh
from oxy.formats import ComponentType, MaterialDomain, MaterialFlags, parse_material, parse_scene
from oxy.formats.primitives import AssetKey
from oxy.importing.scene.backend import EmbeddedTexture
from oxy.importing.scene.readiness import MaterialReadinessTracker
from oxy.importing.scene.resolver import TextureResolver

QUAD = np.array([[0, 0, 0], [2, 0, 0], [2, 1, 0], [0, 1, 0]], np.float32)
QUAD_UV = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
QUAD_IDX = np.array([[0, 1, 2], [0, 2, 3]], np.uint32)
UP = np.tile([0.0, 0.0, 1.0], (4, 1))


def test_tangents_follow_the_uv_gradient():
    t, b = generate_tangents(QUAD, UP, QUAD_UV, QUAD_IDX)
    assert np.allclose(t, [1, 0, 0]) and np.allclose(b, [0, 1, 0])
    flipped = QUAD_UV * [-1, 1]  # mirrored U: tangent flips, handedness kept in the bitangent
    t, b = generate_tangents(QUAD, UP, flipped, QUAD_IDX)
    assert np.allclose(t, [-1, 0, 0]) and np.allclose(b, [0, 1, 0])


def test_tangents_without_uvs_are_an_orthonormal_basis():
    normals = np.random.default_rng(1).normal(size=(50, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    t, b = generate_tangents(np.zeros((50, 3)), normals, None, np.zeros((0, 3), np.uint32))
    for v in (t, b):
        assert np.allclose(np.linalg.norm(v, axis=1), 1)
    assert np.abs(np.sum(t * normals, axis=1)).max() < 1e-9 and np.abs(np.sum(b * t, axis=1)).max() < 1e-9


def test_pack_layout_submeshes_and_boxes():
    a = MeshData("a", 1, QUAD, QUAD_IDX, texcoords=QUAD_UV)
    b = MeshData("b", 0, QUAD + [0, 0, 5], QUAD_IDX)
    c = MeshData("c", 1, QUAD - [0, 0, 1], QUAD_IDX)
    packed = pack_geometry([a, b, c])
    assert len(packed.vertices) == 12 * 72 and packed.index_count == 18
    v = np.frombuffer(packed.vertices, "<f4").reshape(-1, 18)
    assert np.allclose(v[:4, 6:8], QUAD_UV) and np.allclose(v[:, 14:18], 1.0)
    idx = np.frombuffer(packed.indices, "<u4")
    assert [s.material_index for s in packed.submeshes] == [1, 0]  # grouped, first-seen order
    assert (packed.submeshes[0].first_index, packed.submeshes[0].index_count) == (0, 12)
    assert idx[6:12].min() == 4  # c's indices rebased past a's vertices
    assert packed.submeshes[1].bbox_min == (0.0, 0.0, 5.0) and packed.bbox_min == (0.0, 0.0, -1.0)


def test_validation_finds_bad_data():
    nan = QUAD.copy()
    nan[2, 1] = np.nan
    assert validate_mesh(MeshData("n", 0, nan, QUAD_IDX))[0].code == "scene.mesh_nonfinite"
    assert validate_mesh(MeshData("r", 0, QUAD, QUAD_IDX + 2))[0].code == "scene.mesh_index_range"
    assert validate_mesh(MeshData("e", 0, QUAD[:0], QUAD_IDX[:0]))[0].severity == "warning"
    with pytest.raises(MeshDataError):
        pack_geometry([MeshData("n", 0, nan, QUAD_IDX)])
    with pytest.raises(MeshDataError):
        pack_geometry([MeshData("e", 0, QUAD[:0], QUAD_IDX[:0])])


def _gltf(props=None):
    base = {("$mat.gltf.alphaMode", 0, 0): "OPAQUE", ("$clr.base", 0, 0): (1.0, 0.5, 0.25, 1.0),
            ("$mat.metallicFactor", 0, 0): (0.3,), ("$mat.roughnessFactor", 0, 0): (0.7,)}
    base.update(props or {})
    return MaterialSource("m", base)


def test_gltf_orm_packed_masked_double_sided():
    src = _gltf({("$tex.file", 12, 0): "c.png", ("$tex.file", 1, 0): "c.png", ("$tex.file", 15, 0): "orm.png",
                   ("$tex.file", 16, 0): "orm.png", ("$tex.file", 10, 0): "orm.png",
                   ("$tex.file", 6, 0): "n.png", ("$tex.scale", 6, 0): (0.5,),
                   ("$mat.gltf.alphaMode", 0, 0): "MASK", ("$mat.gltf.alphaCutoff", 0, 0): (0.25,),
                   ("$mat.twosided", 0, 0): (1,), ("$tex.uvtrafo", 12, 0): (0.5, 0.25, 2.0, 3.0, 0.1)})
    spec = map_material(src, "M")
    assert {s: r.path for s, r in spec.slots.items()} == {"base_color": "c.png", "normal": "n.png", "metallic": "orm.png",
                                                        "roughness": "orm.png", "ambient_occlusion": "orm.png"}
    desc = parse_material(build_material_bytes(spec, {"base_color": 3, "normal": 4, "metallic": 5,
                                                      "roughness": 5, "ambient_occlusion": 5})).desc
    assert desc.material_domain == MaterialDomain.MASKED
    assert desc.flags == MaterialFlags.GLTF_ORM_PACKED | MaterialFlags.ALPHA_TEST | MaterialFlags.DOUBLE_SIDED
    assert desc.alpha_cutoff == pytest.approx(0.25, abs=1e-4) and desc.normal_scale == 0.5
    assert desc.metalness == pytest.approx(0.3, abs=1e-4) and desc.roughness == pytest.approx(0.7, abs=1e-4)
    assert (desc.metallic_texture, desc.ambient_occlusion_texture) == (5, 5)
    assert tuple(desc.uv_scale) == (2.0, 3.0) and tuple(desc.uv_offset) == (0.5, 0.25)
    assert desc.uv_rotation_radians == pytest.approx(0.1)


def test_blend_and_legacy_phong():
    assert map_material(_gltf({("$mat.gltf.alphaMode", 0, 0): "BLEND"}), "b").domain == MaterialDomain.ALPHA_BLENDED
    legacy = MaterialSource("p", {("$clr.diffuse", 0, 0): (0.2, 0.4, 0.6), ("$mat.opacity", 0, 0): (0.5,),
                                  ("$mat.shininess", 0, 0): (98.0,), ("$tex.file", 1, 0): ".\\d.jpg",
                                  ("$tex.file", 15, 0): "m.png", ("$tex.file", 16, 0): "r.png"})
    spec = map_material(legacy, "P")
    assert spec.domain == MaterialDomain.ALPHA_BLENDED and not spec.flags & MaterialFlags.GLTF_ORM_PACKED
    assert spec.factors["base_color"] == pytest.approx((0.2, 0.4, 0.6, 0.5))
    assert spec.factors["roughness"] == pytest.approx(math.sqrt(2 / 100)) and spec.factors["metalness"] == 0.0
    assert spec.slots["metallic"].path == "m.png" and spec.slots["roughness"].path == "r.png"
    desc = parse_material(build_material_bytes(spec, {})).desc
    assert desc.flags & MaterialFlags.NO_TEXTURE_SAMPLING and desc.base_color_texture == 0


def test_decompose_round_trip():
    angle = 0.7
    rot = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    m = np.eye(4)
    m[:3, :3] = rot @ np.diag([2.0, 3.0, 4.0])
    m[:3, 3] = (1, 2, 3)
    t, q, s = decompose(m)
    assert t == (1.0, 2.0, 3.0) and s == pytest.approx((2, 3, 4))
    assert q == pytest.approx((0, 0, math.sin(angle / 2), math.cos(angle / 2)))


def test_scene_descriptor_nodes_components_and_ids():
    nodes = [NodeData("root", -1, np.eye(4)), NodeData("a/b", 0, np.eye(4)), NodeData("a/b", 0, np.eye(4)),
             NodeData("cam", 0, np.eye(4)), NodeData("sun", 0, np.eye(4)), NodeData("spot", 0, np.eye(4))]
    assert node_paths(nodes)[1:3] == ["root/a_b", "root/a_b#1"]
    geo = AssetKey.from_virtual_path("/.cooked/Geometry/g.ogeo")
    scene = SceneInput("S", "/.cooked/Scenes/S.oscene", nodes, {2: geo, 1: geo},
                       {3: CameraData("cam", math.radians(45), 2.0, 0.1, 50.0)},
                       {4: LightData("sun", "directional", (2.0, 1.0, 0.0)),
                        5: LightData("spot", "spot", (1, 1, 1), (1, 0, 1), 0.2, 0.4)})
    parsed = parse_scene(build_scene_descriptor(scene))
    assert [parsed.string_at(n.scene_name_offset) for n in parsed.nodes][:2] == ["root", "a/b"]
    assert parsed.nodes[1].node_id == AssetKey.from_virtual_path("/.cooked/Scenes/S.oscene/root/a_b")
    tables = {t.component_type: t.records for t in parsed.components}
    assert [r.node_index for r in tables[ComponentType.RENDERABLE]] == [1, 2]
    cam = tables[ComponentType.PERSPECTIVE_CAMERA][0]
    assert cam.fov_y == pytest.approx(2 * math.atan(math.tan(math.radians(45)) / 2))
    sun = tables[ComponentType.DIRECTIONAL_LIGHT][0]
    assert sun.common.intensity == 2.0 and tuple(sun.common.color_rgb) == (1.0, 0.5, 0.0)
    spot = tables[ComponentType.SPOT_LIGHT][0]
    assert spot.range == pytest.approx(light_range(1.0, (1, 0, 1))) and spot.outer_cone_angle_radians == pytest.approx(0.4)


def test_resolver_rules(tmp_path):
    (tmp_path / "Textures").mkdir()
    for name in ("Tex.jpg", "Textures/hero.png"):
        (tmp_path / name).write_bytes(b"x")
    model = str(tmp_path / "m.fbx")
    emb = [EmbeddedTexture(0, b"png", "png", "..\\..\\Desktop\\uv_test.png")]
    r = TextureResolver(model, emb)
    assert r.resolve("*0")[0].embedded is emb[0] and r.resolve("*3")[0] is None
    assert r.resolve("C:\\art\\uv_test.png")[0].embedded is emb[0]
    assert r.resolve(".\\Tex.jpg")[0].path == str(tmp_path / "Tex.jpg")
    assert r.resolve("D:\\projects\\x\\tex.JPG")[0].path == str(tmp_path / "Tex.jpg")
    assert r.resolve("", "hero")[0].path == str(tmp_path / "Textures" / "hero.png")
    assert r.resolve("")[0] is None and "empty" in r.resolve("")[1]
    assert r.resolve("nope.tif")[0] is None


def test_readiness_tracker():
    tracker = MaterialReadinessTracker({"a": {"t1", "t2"}, "b": set(), "c": {"t2"}})
    assert tracker.take_ready() == ["b"]
    assert tracker.mark_texture_ready("t2", 5) == ["c"]
    assert tracker.mark_texture_ready("t1", 0) == ["a"] and tracker.index_of("t2") == 5
    assert tracker.pending() == []
    with pytest.raises(ValueError):
        tracker.mark_texture_ready("t1", 1)
