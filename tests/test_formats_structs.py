"""Every struct's size and field offsets against FORMATS.md, and parse -> build round trips."""
from __future__ import annotations

import math
import struct
import zlib

import construct as c
import numpy as np
import pytest

from oxy.errors import FormatError
from oxy.formats import geometry, loose, material, pak, resources, scene
from oxy.formats.primitives import (AssetKey, content_hash, half_decode, half_encode, pak_crc32,
                                    unorm16_decode, unorm16_encode)
from oxy.formats.views import numpy_dtype

SIZES = [
    (pak.PakHeader, 256), (pak.PakFooter, 256), (pak.ResourceRegion, 16), (pak.ResourceTable, 16),
    (pak.AssetDirectoryEntry, 64), (pak.PakBrowseIndexHeader, 24), (pak.PakBrowseIndexEntry, 24),
    (resources.TextureResourceDesc, 40), (resources.BufferResourceDesc, 32),
    (resources.AudioResourceDesc, 32), (resources.TexturePayloadHeader, 28),
    (resources.SubresourceLayout, 12), (material.AssetHeader, 95), (material.MaterialAssetDesc, 256),
    (material.ShaderReferenceDesc, 424), (geometry.GeometryAssetDesc, 256), (geometry.MeshDesc, 145),
    (geometry.StandardMeshInfo, 72), (geometry.SkinnedMeshInfo, 72), (geometry.ProceduralMeshInfo, 72),
    (geometry.SubMeshDesc, 108), (geometry.MeshViewDesc, 16), (scene.SceneAssetDesc, 256),
    (scene.NodeRecord, 68), (scene.SceneComponentTableDesc, 20), (scene.RenderableRecord, 36),
    (scene.PerspectiveCameraRecord, 32), (scene.OrthographicCameraRecord, 40),
    (scene.LightShadowSettingsRecord, 16), (scene.LightCommonRecord, 48),
    (scene.DirectionalLightRecord, 96), (scene.PointLightRecord, 80), (scene.SpotLightRecord, 88),
    (scene.EnvironmentHeader, 16), (loose.IndexHeader, 256), (loose.AssetEntry, 76), (loose.FileRecord, 64),
]


@pytest.mark.parametrize("view,size", SIZES, ids=[v.__name__ for v, _ in SIZES])
def test_struct_size_matches_formats_md(view, size):
    assert view.SIZE == size
    assert view.STRUCT.sizeof() == size
    assert numpy_dtype(view.STRUCT).itemsize == size


def _offsets(struct: c.Struct) -> dict[str, int]:
    out, at = {}, 0
    for sub in struct.subcons:
        out[sub.name] = at
        at += sub.sizeof()
    return out


# Field offsets quoted from FORMATS.md tables.
OFFSETS = [
    (pak.PakFooterStruct, {"directory_offset": 0, "asset_count": 16, "texture_region": 24, "audio_region": 56,
                           "texture_table": 72, "audio_table": 104, "browse_index_offset": 120,
                           "browse_index_size": 128, "reserved": 136, "pak_crc32": 244, "footer_magic": 248}),
    (pak.AssetDirectoryEntryStruct, {"asset_type": 16, "entry_offset": 17, "desc_offset": 25, "desc_size": 33,
                                     "reserved": 37}),
    (resources.TextureResourceDescStruct, {"size_bytes": 8, "texture_type": 12, "compression_type": 13,
                                           "width": 14, "height": 18, "depth": 22, "array_layers": 24,
                                           "mip_levels": 26, "format": 28, "alignment": 29,
                                           "content_hash": 31, "reserved": 39}),
    (resources.BufferResourceDescStruct, {"usage_flags": 12, "element_stride": 16, "element_format": 20,
                                          "content_hash": 21, "reserved": 29}),
    (resources.TexturePayloadHeaderStruct, {"packing_policy": 4, "flags": 5, "subresource_count": 6,
                                            "total_payload_size": 8, "layouts_offset_bytes": 12,
                                            "data_offset_bytes": 16, "content_hash": 20}),
    (material.AssetHeaderStruct, {"name": 1, "version": 65, "streaming_priority": 66, "content_hash": 67,
                                  "variant_flags": 75, "reserved": 79}),
    (material.MaterialAssetDescStruct, {
        "material_domain": 95, "flags": 96, "shader_stages": 100, "base_color": 104, "normal_scale": 120,
        "metalness": 124, "roughness": 126, "ambient_occlusion": 128, "base_color_texture": 130,
        "normal_texture": 134, "metallic_texture": 138, "roughness_texture": 142,
        "ambient_occlusion_texture": 146, "emissive_texture": 150, "specular_texture": 154,
        "sheen_color_texture": 158, "clearcoat_texture": 162, "clearcoat_normal_texture": 166,
        "transmission_texture": 170, "thickness_texture": 174, "emissive_factor": 178, "alpha_cutoff": 184,
        "ior": 186, "specular_factor": 190, "sheen_color_factor": 192, "clearcoat_factor": 198,
        "clearcoat_roughness": 200, "transmission_factor": 202, "thickness_factor": 204,
        "attenuation_color": 206, "attenuation_distance": 212, "uv_scale": 216, "uv_offset": 224,
        "uv_rotation_radians": 232, "uv_set": 236, "reserved": 237}),
    (material.ShaderReferenceDescStruct, {"reserved0": 1, "source_path": 8, "entry_point": 128, "defines": 160,
                                          "shader_hash": 416}),
    (geometry.GeometryAssetDescStruct, {"lod_count": 95, "bounding_box_min": 99, "bounding_box_max": 111,
                                        "reserved": 123}),
    (geometry.MeshDescStruct, {"mesh_type": 64, "submesh_count": 65, "mesh_view_count": 69, "info": 73}),
    (geometry.SkinnedMeshInfoStruct, {"joint_index_buffer": 8, "joint_weight_buffer": 12,
                                      "inverse_bind_buffer": 16, "joint_remap_buffer": 20,
                                      "skeleton_asset_key": 24, "joint_count": 40,
                                      "influences_per_vertex": 42, "flags": 44, "bbox_min": 48,
                                      "bbox_max": 60}),
    (geometry.SubMeshDescStruct, {"material_asset_key": 64, "mesh_view_count": 80, "bbox_min": 84,
                                  "bbox_max": 96}),
    (scene.SceneAssetDescStruct, {"nodes": 95, "scene_strings": 111, "component_table_directory_offset": 119,
                                  "component_table_count": 127, "reserved": 131}),
    (scene.NodeRecordStruct, {"scene_name_offset": 16, "parent_index": 20, "node_flags": 24, "translation": 28,
                              "rotation": 40, "scale": 56}),
    (scene.LightCommonRecordStruct, {"color_rgb": 4, "intensity": 16, "mobility": 20, "casts_shadows": 21,
                                     "shadow": 24, "exposure_compensation_ev": 40}),
    (scene.DirectionalLightRecordStruct, {"common": 4, "angular_size_radians": 52,
                                          "environment_contribution": 56, "is_sun_light": 60,
                                          "cascade_count": 64, "cascade_distances": 68,
                                          "distribution_exponent": 84, "reserved": 88}),
    (scene.PointLightRecordStruct, {"range": 52, "attenuation_model": 56, "decay_exponent": 60,
                                    "source_radius": 64}),
    (scene.SpotLightRecordStruct, {"decay_exponent": 60, "inner_cone_angle_radians": 64,
                                   "outer_cone_angle_radians": 68, "source_radius": 72, "reserved1": 76}),
    (loose.IndexHeaderStruct, {"version": 8, "content_version": 10, "flags": 12, "string_table_offset": 16,
                               "string_table_size": 24, "asset_entries_offset": 32, "asset_count": 40,
                               "asset_entry_size": 44, "file_records_offset": 48, "file_record_count": 56,
                               "file_record_size": 60, "guid": 64, "reserved": 80}),
    (loose.AssetEntryStruct, {"descriptor_relpath_offset": 16, "virtual_path_offset": 20, "asset_type": 24,
                              "descriptor_size": 28, "descriptor_sha256": 36, "reserved1": 68}),
    (loose.FileRecordStruct, {"relpath_offset": 4, "size": 8, "reserved1": 16}),
]


@pytest.mark.parametrize("struct,expected", OFFSETS, ids=lambda v: getattr(v, "name", None) or "")
def test_field_offsets_match_formats_md(struct, expected):
    offsets = _offsets(struct)
    for name, at in expected.items():
        assert offsets[name] == at, name


ROUND_TRIP = [pak.AssetDirectoryEntry, pak.ResourceTable, resources.TextureResourceDesc,
              resources.BufferResourceDesc, resources.AudioResourceDesc, resources.SubresourceLayout,
              geometry.MeshViewDesc, scene.SceneComponentTableDesc, loose.AssetEntry, loose.FileRecord]


@pytest.mark.parametrize("view", ROUND_TRIP, ids=lambda v: v.__name__)
def test_integer_structs_round_trip_random_bytes(view):
    rng = np.random.default_rng(7)
    for _ in range(200):
        data = rng.integers(0, 256, view.SIZE, dtype=np.uint8).tobytes()
        assert view.parse(data).build() == data


def test_numpy_dtype_parses_like_construct():
    rng = np.random.default_rng(3)
    data = rng.integers(0, 256, 40 * 50, dtype=np.uint8).tobytes()
    table = np.frombuffer(data, resources.TEXTURE_DESC_DTYPE)
    for i in (0, 17, 49):
        view = resources.TextureResourceDesc.parse(data, 40 * i)
        for name in ("data_offset", "size_bytes", "width", "alignment", "content_hash", "format"):
            assert int(table[i][name]) == getattr(view, name)


def test_names_round_trip_and_reject_overlong():
    head = material.AssetHeader(asset_type=1, name="Mat ünïcode", version=1, streaming_priority=0,
                                content_hash=5, variant_flags=0)
    data = head.build()
    assert data[1:1 + 64].rstrip(b"\0") == "Mat ünïcode".encode()
    assert material.AssetHeader.parse(data) == head
    with pytest.raises(FormatError, match="at most 63"):
        head.replace(name="x" * 64).build()


def test_magic_mismatch_names_field():
    data = bytearray(pak.PakHeader(version=4, content_version=0, guid=bytes(16)).build())
    data[0] = ord("X")
    with pytest.raises(FormatError) as err:
        pak.PakHeader.parse(bytes(data), path="a.pak", field="header")
    assert err.value.path == "a.pak" and err.value.offset == 0 and "magic" in err.value.field


def test_asset_key_text_form_and_virtual_path_rule():
    key = AssetKey(bytes(range(16)))
    assert str(key) == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert AssetKey.parse(str(key)) == key
    import hashlib
    vpath = "/.cooked/Materials/Wood.omat"
    assert AssetKey.from_virtual_path(vpath).raw == hashlib.sha256(vpath.encode()).digest()[:16]
    assert sorted([AssetKey(b"\x02" * 16), AssetKey(b"\x01" * 16)])[0].raw == b"\x01" * 16
    with pytest.raises(ValueError):
        AssetKey.parse("not-a-key")


def test_content_hash_is_truncated_sha256_le():
    import hashlib
    assert content_hash(b"abc") == int.from_bytes(hashlib.sha256(b"abc").digest()[:8], "little")


def test_pak_crc_skips_the_field():
    data = bytes(range(256)) * 3
    at = len(data) - 256 + 244
    expected = zlib.crc32(data[:at] + data[at + 4:])
    assert pak_crc32(data) == expected
    patched = data[:at] + b"\xde\xad\xbe\xef" + data[at + 4:]
    assert pak_crc32(patched) == expected


def test_unorm16_rule():
    assert unorm16_encode(0.5) == math.floor(0.5 * 65535 + 0.5)
    assert unorm16_encode(-1) == 0 and unorm16_encode(2) == 65535
    for u in (0, 1, 12345, 32768, 65535):
        assert unorm16_encode(unorm16_decode(u)) == u


def test_half_matches_numpy_and_the_nan_rule():
    rng = np.random.default_rng(11)
    values = np.concatenate([rng.normal(0, 1000, 2000), rng.normal(0, 1e-5, 500), [0.0, -0.0, 65504, 65520, 1e9,
                                                                                 -1e9, 1e-45, 5.9604645e-8]])
    for v in values.astype(np.float32):
        with np.errstate(over="ignore"):
            expected = int(np.float16(v).view(np.uint16))
        assert half_encode(float(v)) == expected, v
    nan_bits = struct.unpack("<f", struct.pack("<I", 0x7FC00001 | (0x155 << 13)))[0]
    encoded = half_encode(nan_bits)
    assert encoded & 0x7C00 == 0x7C00 and encoded & 0x0200 and encoded & 0x3FF
    assert half_encode(float("-inf")) == 0xFC00
    assert half_decode(0x3C00) == 1.0


def _all_views():
    from oxy.formats import views

    found = []
    for mod in (pak, resources, scene, geometry, loose, material):
        for name in dir(mod):
            v = getattr(mod, name)
            if isinstance(v, type) and issubclass(v, views.StructView) and v is not views.StructView \
                    and v.__module__.startswith("oxy.formats") \
                    and v not in found:
                found.append(v)
    return found


@pytest.mark.parametrize("view", _all_views(), ids=lambda v: v.__name__)
def test_fast_parse_path_equals_construct(view):
    """The struct-module fast path derived from each declaration parses exactly as construct does."""
    assert view._FAST is not None
    rng = np.random.default_rng(5)
    for _ in range(100):
        data = rng.integers(0, 256, view.SIZE, dtype=np.uint8).tobytes()
        fast = view._FAST.unpack(data, 0)
        try:
            slow = view.from_container(view.STRUCT.parse(data))
        except c.ConstructError:
            assert fast is None  # a magic mismatch: the caller re-parses with construct for the error
            continue
        assert repr(fast.to_dict()) == repr(slow.to_dict())


@pytest.mark.parametrize("view", _all_views(), ids=lambda v: v.__name__)
def test_fast_build_path_equals_construct(view):
    """The struct-module build path writes exactly the bytes construct writes, for views
    parsed from random bytes; what it cannot take (a bad value) falls back to construct."""
    assert view._FAST_BUILD is not None
    rng = np.random.default_rng(7)
    built = 0
    for _ in range(100):
        data = _with_magic(view, rng.integers(0, 256, view.SIZE, dtype=np.uint8).tobytes())
        try:
            value = view.from_container(view.STRUCT.parse(data))
        except c.ConstructError:
            continue
        try:
            slow = view.STRUCT.build(value._to_build_dict())
        except c.ConstructError:
            continue
        assert view._FAST_BUILD.pack(value) == slow
        assert value.build() == slow
        built += 1
    assert built >= 10, f"only {built} of 100 random {view.__name__} values could be built to compare"


def _with_magic(view, data: bytes) -> bytes:
    """``data`` with every top-level magic constant of ``view`` in place and every name
    field NUL-terminated halfway, so that random bytes parse and build (the other bytes
    stay random)."""
    from oxy.formats.primitives import _CNameAdapter

    out, at = bytearray(data), 0
    for sub in view.STRUCT.subcons:
        inner = sub
        while isinstance(inner, (c.Renamed, c.Default)):
            inner = inner.subcon
        if isinstance(inner, c.Const):
            out[at:at + len(inner.value)] = inner.value
        elif isinstance(inner, _CNameAdapter):
            out[at + sub.sizeof() // 2] = 0
        at += sub.sizeof()
    return bytes(out)


def test_fast_build_refuses_what_construct_refuses():
    from oxy.errors import FormatError
    from oxy.formats.resources import BufferResourceDesc

    good = BufferResourceDesc(data_offset=0, size_bytes=4, usage_flags=1, element_stride=4, element_format=0,
                              content_hash=1)
    assert good.build() == BufferResourceDesc.STRUCT.build(good._to_build_dict())
    with pytest.raises(FormatError):
        good.replace(size_bytes=-1).build()   # out of range: construct names the field
    with pytest.raises(FormatError):
        good.replace(size_bytes=1 << 40).build()
