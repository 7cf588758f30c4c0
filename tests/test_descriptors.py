"""Whole descriptors (material, geometry, scene) and texture payloads: round trips and rules."""
from __future__ import annotations

import numpy as np
import pytest

from oxy.cook.descriptors import build_material, build_standard_geometry, finalize_descriptor
from oxy.cook.payload import TextureShape, fallback_texture, pack_texture_payload, unpack_subresource
from oxy.errors import FormatError
from oxy.formats import (AssetKey, ComponentType, Format, MaterialFlags, PackingPolicy, parse_geometry,
                         parse_material, parse_scene)
from oxy.formats.geometry import MeshViewDesc
from oxy.formats.material import HEADER_CONTENT_HASH_OFFSET
from oxy.formats.primitives import content_hash
from oxy.formats.resources import TexturePayloadHeader
from oxy.samples import build_scene


def _header_hash_ok(blob: bytes) -> bool:
    at = HEADER_CONTENT_HASH_OFFSET
    stored = int.from_bytes(blob[at:at + 8], "little")
    return stored == content_hash(blob[:at] + bytes(8) + blob[at + 8:]) and stored != 0


def test_material_defaults_shaders_and_round_trip():
    blob = build_material("Wood", textures={"base_color": 3, "normal": 4}, flags=MaterialFlags.ALPHA_TEST)
    m = parse_material(blob)
    assert len(blob) == 256 + 2 * 424
    assert m.desc.shader_stages == 0x88
    assert [s.shader_type for s in m.shaders] == [3, 7]
    assert m.shaders[0].source_path == "Passes/Forward/ForwardMesh_VS.hlsl" and m.shaders[0].entry_point == "VS"
    assert m.shaders[1].defines == "ALPHA_TEST=1"
    assert m.desc.base_color_texture == 3 and m.desc.normal_texture == 4
    assert blob[130:134] == (3).to_bytes(4, "little") and blob[134:138] == (4).to_bytes(4, "little")
    assert m.desc.ior == 1.5 and m.desc.alpha_cutoff == pytest.approx(0.5, abs=1e-4)
    assert m.desc.uv_scale == (1.0, 1.0) and m.desc.attenuation_color == (1.0, 1.0, 1.0)
    assert not m.desc.flags & MaterialFlags.NO_TEXTURE_SAMPLING
    assert m.build() == blob
    assert _header_hash_ok(blob)


def test_material_without_textures_sets_no_texture_sampling():
    m = parse_material(build_material("Plain"))
    assert m.desc.flags & MaterialFlags.NO_TEXTURE_SAMPLING
    assert m.shaders[1].defines == ""


def test_material_shader_type_must_match_its_bit():
    blob = bytearray(build_material("Bad"))
    blob[256] = 4  # first reference claims Hull, its bit is Vertex
    with pytest.raises(FormatError) as err:
        parse_material(bytes(blob), path="Bad.omat")
    assert err.value.offset == 256 and err.value.field.endswith("shaders[0].shader_type")


def test_geometry_stream_order_and_round_trip():
    key = AssetKey.from_virtual_path("/.cooked/Materials/A.omat")
    views = [("A", key, MeshViewDesc(first_index=0, index_count=6, first_vertex=0, vertex_count=4)),
             ("B", key, MeshViewDesc(first_index=6, index_count=3, first_vertex=4, vertex_count=3))]
    blob = build_standard_geometry("G", vertex_buffer=2, index_buffer=3, submeshes=views,
                                   bbox_min=(-1, -2, -3), bbox_max=(1, 2, 3))
    assert len(blob) == 256 + 145 + 2 * (108 + 16)
    g = parse_geometry(blob)
    assert g.build() == blob
    mesh = g.meshes[0]
    assert mesh.desc.submesh_count == 2 and mesh.desc.mesh_view_count == 2
    assert mesh.submeshes[1].views[0].first_index == 6
    assert blob[256 + 145 + 108:256 + 145 + 108 + 4] == (0).to_bytes(4, "little")  # view right after submesh
    assert g.desc.bounding_box_max == (1.0, 2.0, 3.0)
    assert _header_hash_ok(blob)


def test_geometry_absurd_counts_fail_without_allocating():
    blob = bytearray(build_standard_geometry(
        "G", vertex_buffer=0, index_buffer=1, bbox_min=(0, 0, 0), bbox_max=(1, 1, 1),
        submeshes=[("A", AssetKey(bytes(16)), MeshViewDesc(first_index=0, index_count=3, first_vertex=0,
                                                           vertex_count=3))]))
    blob[95:99] = (2**32 - 1).to_bytes(4, "little")
    with pytest.raises(FormatError) as err:
        parse_geometry(bytes(blob), path="G.ogeo")
    assert err.value.offset == 95 and err.value.field == "geometry.lod_count"
    blob[95:99] = (1).to_bytes(4, "little")
    blob[256 + 65:256 + 69] = (10**9).to_bytes(4, "little")
    with pytest.raises(FormatError) as err:
        parse_geometry(bytes(blob), path="G.ogeo")
    assert err.value.offset == 256 + 65 and "submesh_count" in err.value.field


def test_scene_layout_round_trip_and_checks():
    geo = AssetKey.from_virtual_path("/.cooked/Geometry/Cube.ogeo")
    blob = build_scene("S", [("Root", 0, None), ("A", 0, geo), ("B", 1, geo)])
    s = parse_scene(blob)
    assert s.desc.nodes.offset == 256 and s.desc.nodes.count == 3 and s.desc.nodes.entry_size == 68
    assert s.strings[0] == 0 and s.string_at(s.nodes[2].scene_name_offset) == "B"
    assert [t.component_type for t in s.components] == [ComponentType.RENDERABLE]
    assert [r.node_index for r in s.components[0].records] == [1, 2]
    assert blob[-16:] == (16).to_bytes(4, "little") + bytes(12)  # empty environment block ends it
    assert s.build()[:67] == blob[:67] and finalize_descriptor(s.build()) == blob
    bad = bytearray(blob)
    bad[256 + 68 + 20:256 + 68 + 24] = (7).to_bytes(4, "little")
    with pytest.raises(FormatError) as err:
        parse_scene(bytes(bad), path="S.oscene")
    assert err.value.field == "scene.nodes[1].parent_index"
    with pytest.raises(FormatError, match="does not end the descriptor"):
        parse_scene(blob + b"\0\0\0\0", path="S.oscene")


def test_fallback_texture_is_self_consistent():
    tex = fallback_texture()
    h = TexturePayloadHeader.parse(tex.payload)
    assert h.total_payload_size == len(tex.payload) == 768
    assert h.data_offset_bytes == 512 and h.packing_policy == 1 and h.subresource_count == 1
    layout, data = unpack_subresource(tex.payload, 0)
    assert (layout.offset_bytes, layout.row_pitch_bytes, layout.size_bytes) == (0, 256, 256)
    assert data[:4] == b"\xff\xff\xff\xff" and not any(data[4:])
    assert h.content_hash == tex.content_hash == tex.table_entry(0).content_hash
    zeroed = tex.payload[:20] + bytes(8) + tex.payload[28:]
    assert content_hash(zeroed) == tex.content_hash


@pytest.mark.parametrize("policy,pitch_align,sub_align", [(PackingPolicy.D3D12, 256, 512),
                                                          (PackingPolicy.TIGHT, 1, 4)])
def test_payload_packing_policies(policy, pitch_align, sub_align):
    shape = TextureShape(width=13, height=9, format=Format.BC7_UNORM, mip_levels=4, array_layers=2)
    rng = np.random.default_rng(0)
    subs = []
    for layer in range(2):
        for mip in range(4):
            w, h = max(1, 13 >> mip), max(1, 9 >> mip)
            subs.append(rng.integers(0, 256, -(-w // 4) * -(-h // 4) * 16, dtype=np.uint8).tobytes())
    tex = pack_texture_payload(shape, subs, policy=policy)
    h = TexturePayloadHeader.parse(tex.payload)
    assert h.subresource_count == 8 and h.data_offset_bytes % sub_align == 0
    for i, original in enumerate(subs):
        layout, data = unpack_subresource(tex.payload, i)
        assert layout.offset_bytes % sub_align == 0
        row_bytes = -(-max(1, 13 >> (i % 4)) // 4) * 16
        assert layout.row_pitch_bytes == (-(-row_bytes // pitch_align) * pitch_align)
        rows = len(original) // row_bytes
        unpadded = b"".join(data[r * layout.row_pitch_bytes:r * layout.row_pitch_bytes + row_bytes]
                            for r in range(rows))
        assert unpadded == original
    with pytest.raises(ValueError):
        pack_texture_payload(shape, subs[:-1], policy=policy)
