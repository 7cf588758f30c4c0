"""Building asset descriptors: defaults, importer shader references, and the header hash.

``finalize_descriptor`` applies the importer's rule (FORMATS.md 5): the header
``content_hash`` is the truncated SHA-256 of the whole descriptor computed with the
field zeroed, patched in at byte 67. Pure functions: safe from any thread.
"""
from __future__ import annotations

from typing import Sequence

from oxy.formats.enums import (AssetType, MaterialDomain, MaterialFlags, MeshType, ShaderType,
                               VertexAttributes)
from oxy.formats.geometry import (GEOMETRY_VERSION, GeometryAssetDesc, GeometryDescriptor, Mesh,
                                  MeshDesc, MeshViewDesc, StandardMeshInfo, SubMesh, SubMeshDesc)
from oxy.formats.material import (HEADER_CONTENT_HASH_OFFSET, MATERIAL_VERSION, TEXTURE_SLOTS,
                                  AssetHeader, MaterialAssetDesc, MaterialDescriptor,
                                  ShaderReferenceDesc)
from oxy.formats.primitives import MAX_NAME_SIZE, AssetKey, content_hash

VERTEX_SHADER = ("Passes/Forward/ForwardMesh_VS.hlsl", "VS")
PIXEL_SHADER = ("Passes/Forward/ForwardMesh_PS.hlsl", "PS")
STANDARD_VERTEX_ATTRIBUTES = (VertexAttributes.NORMAL | VertexAttributes.TANGENT
                              | VertexAttributes.BITANGENT | VertexAttributes.TEXCOORD0
                              | VertexAttributes.COLOR0)


def truncate_name(name: str, size: int = MAX_NAME_SIZE) -> str:
    """Cut ``name`` to at most ``size - 1`` UTF-8 bytes without splitting a character."""
    raw = name.encode("utf-8")[:size - 1]
    return raw.decode("utf-8", "ignore")


def finalize_descriptor(blob: bytes) -> bytes:
    """Patch the header content hash (computed with the field zeroed) into ``blob``."""
    at = HEADER_CONTENT_HASH_OFFSET
    zeroed = blob[:at] + bytes(8) + blob[at + 8:]
    return zeroed[:at] + content_hash(zeroed).to_bytes(8, "little") + zeroed[at + 8:]


def asset_header(asset_type: AssetType, name: str, version: int, variant_flags: int = 0) -> AssetHeader:
    return AssetHeader(asset_type=int(asset_type), name=truncate_name(name), version=version,
                       streaming_priority=0, content_hash=0, variant_flags=variant_flags)


def default_shaders(flags: int) -> tuple[int, tuple[ShaderReferenceDesc, ...]]:
    """The importer's Vertex and Pixel references; ALPHA_TEST=1 only with AlphaTest."""
    defines = "ALPHA_TEST=1" if flags & MaterialFlags.ALPHA_TEST else ""
    refs = (
        ShaderReferenceDesc(shader_type=ShaderType.VERTEX, source_path=VERTEX_SHADER[0],
                            entry_point=VERTEX_SHADER[1], defines="", shader_hash=0),
        ShaderReferenceDesc(shader_type=ShaderType.PIXEL, source_path=PIXEL_SHADER[0],
                            entry_point=PIXEL_SHADER[1], defines=defines, shader_hash=0),
    )
    return (1 << ShaderType.VERTEX) | (1 << ShaderType.PIXEL), refs


def build_material(name: str, *, domain: MaterialDomain = MaterialDomain.OPAQUE, flags: int = 0,
                   textures: dict[str, int] | None = None, **factors: object) -> bytes:
    """A finished material descriptor with FORMATS.md defaults, overridden by ``factors``
    (any MaterialAssetDesc field) and ``textures`` (slot -> texture index). Sets
    NoTextureSampling when no texture is assigned. Returns hashed bytes."""
    textures = dict(textures or {})
    unknown = set(textures) - set(TEXTURE_SLOTS)
    if unknown:
        raise ValueError(f"unknown texture slots: {sorted(unknown)}")
    if not any(textures.values()):
        flags |= MaterialFlags.NO_TEXTURE_SAMPLING
    stages, shaders = default_shaders(flags)
    fields: dict[str, object] = dict(
        header=asset_header(AssetType.MATERIAL, name, MATERIAL_VERSION),
        material_domain=int(domain), flags=int(flags), shader_stages=stages,
        base_color=(1.0, 1.0, 1.0, 1.0), normal_scale=1.0, metalness=0.0, roughness=1.0,
        ambient_occlusion=1.0, emissive_factor=(0.0, 0.0, 0.0), alpha_cutoff=0.5, ior=1.5,
        specular_factor=1.0, sheen_color_factor=(0.0, 0.0, 0.0), clearcoat_factor=0.0,
        clearcoat_roughness=0.0, transmission_factor=0.0, thickness_factor=0.0,
        attenuation_color=(1.0, 1.0, 1.0), attenuation_distance=0.0, uv_scale=(1.0, 1.0),
        uv_offset=(0.0, 0.0), uv_rotation_radians=0.0, uv_set=0,
        **{f"{slot}_texture": textures.get(slot, 0) for slot in TEXTURE_SLOTS})
    fields.update(factors)
    desc = MaterialAssetDesc(**fields)
    return finalize_descriptor(MaterialDescriptor(desc, shaders).build())


def build_standard_geometry(name: str, *, vertex_buffer: int, index_buffer: int,
                            submeshes: Sequence[tuple[str, AssetKey, MeshViewDesc]],
                            bbox_min: Sequence[float], bbox_max: Sequence[float],
                            submesh_boxes: Sequence[tuple[Sequence[float], Sequence[float]]] | None = None,
                            attributes: int = STANDARD_VERTEX_ATTRIBUTES) -> bytes:
    """A finished one-LOD standard geometry: one SubMeshDesc and one view per submesh."""
    boxes = submesh_boxes or [(bbox_min, bbox_max)] * len(submeshes)
    info = StandardMeshInfo(vertex_buffer=vertex_buffer, index_buffer=index_buffer,
                            bbox_min=tuple(bbox_min), bbox_max=tuple(bbox_max)).build()
    subs = tuple(SubMesh(SubMeshDesc(name=truncate_name(sub_name), material_asset_key=key, mesh_view_count=1,
                                     bbox_min=tuple(lo), bbox_max=tuple(hi)), (view,))
                 for (sub_name, key, view), (lo, hi) in zip(submeshes, boxes))
    mesh = Mesh(MeshDesc(name=truncate_name(name), mesh_type=MeshType.STANDARD, submesh_count=len(subs),
                         mesh_view_count=len(subs), info=info), subs)
    desc = GeometryAssetDesc(header=asset_header(AssetType.GEOMETRY, name, GEOMETRY_VERSION, attributes),
                             lod_count=1, bounding_box_min=tuple(bbox_min), bounding_box_max=tuple(bbox_max))
    return finalize_descriptor(GeometryDescriptor(desc, (mesh,)).build())
