"""Geometry descriptors (FORMATS.md 5.2).

Stream order: ``GeometryAssetDesc`` (256 B); then per LOD a ``MeshDesc`` (145 B)
(for procedural meshes followed by its ``params_size``-byte parameter blob); then
per submesh a ``SubMeshDesc`` (108 B) immediately followed by its
``mesh_view_count`` ``MeshViewDesc`` records (16 B each).

The 72-byte mesh ``info`` union is kept as raw bytes in ``MeshDesc`` (so every
variant round-trips) and decoded on demand with :func:`mesh_info`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import construct as c

from oxy.errors import FormatError
from oxy.formats.enums import MeshType
from oxy.formats.material import AssetHeaderStruct
from oxy.formats.primitives import CName, KeyField, Reserved, Vec3
from oxy.formats.views import StructView

GEOMETRY_DESC_SIZE = 256
MESH_DESC_SIZE = 145
MESH_INFO_SIZE = 72
SUBMESH_DESC_SIZE = 108
MESH_VIEW_DESC_SIZE = 16
GEOMETRY_VERSION = 1
VERTEX_SIZE = 72
V = TypeVar("V", bound=StructView)

GeometryAssetDescStruct = c.Struct(
    "header" / AssetHeaderStruct,      # variant_flags = VertexAttributes mask
    "lod_count" / c.Int32ul,           # >= 1
    "bounding_box_min" / Vec3,
    "bounding_box_max" / Vec3,
    "reserved" / Reserved(133),
)

StandardMeshInfoStruct = c.Struct(
    "vertex_buffer" / c.Int32ul,       # index into buffers.table
    "index_buffer" / c.Int32ul,
    "bbox_min" / Vec3,
    "bbox_max" / Vec3,
    "reserved" / Reserved(MESH_INFO_SIZE - 32),
)

SkinnedMeshInfoStruct = c.Struct(
    "vertex_buffer" / c.Int32ul,
    "index_buffer" / c.Int32ul,
    "joint_index_buffer" / c.Int32ul,
    "joint_weight_buffer" / c.Int32ul,
    "inverse_bind_buffer" / c.Int32ul,
    "joint_remap_buffer" / c.Int32ul,
    "skeleton_asset_key" / KeyField,
    "joint_count" / c.Int16ul,
    "influences_per_vertex" / c.Int16ul,
    "flags" / c.Int32ul,
    "bbox_min" / Vec3,
    "bbox_max" / Vec3,
)

ProceduralMeshInfoStruct = c.Struct(
    "params_size" / c.Int32ul,
    "reserved" / Reserved(MESH_INFO_SIZE - 4),
)

MeshDescStruct = c.Struct(
    "name" / CName(64),
    "mesh_type" / c.Int8ul,            # MeshType
    "submesh_count" / c.Int32ul,
    "mesh_view_count" / c.Int32ul,     # total over submeshes
    "info" / c.Bytes(MESH_INFO_SIZE),  # union; decode with mesh_info()
)

SubMeshDescStruct = c.Struct(
    "name" / CName(64),
    "material_asset_key" / KeyField,
    "mesh_view_count" / c.Int32ul,
    "bbox_min" / Vec3,
    "bbox_max" / Vec3,
)

MeshViewDescStruct = c.Struct(
    "first_index" / c.Int32ul,
    "index_count" / c.Int32ul,
    "first_vertex" / c.Int32ul,
    "vertex_count" / c.Int32ul,
)

class GeometryAssetDesc(StructView, struct=GeometryAssetDescStruct):
    "The fixed 256-byte part of a geometry descriptor."
class StandardMeshInfo(StructView, struct=StandardMeshInfoStruct):
    "MeshDesc.info for MeshType.STANDARD (32 B used of 72)."
class SkinnedMeshInfo(StructView, struct=SkinnedMeshInfoStruct):
    "MeshDesc.info for MeshType.SKINNED (declared; unverified)."
class ProceduralMeshInfo(StructView, struct=ProceduralMeshInfoStruct):
    "MeshDesc.info for MeshType.PROCEDURAL."
class MeshDesc(StructView, struct=MeshDescStruct):
    "A 145-byte mesh (LOD) record."
class SubMeshDesc(StructView, struct=SubMeshDescStruct):
    "A 108-byte submesh record."
class MeshViewDesc(StructView, struct=MeshViewDescStruct):
    "A 16-byte mesh view."

_INFO_VIEWS: dict[int, type[StructView]] = {
    MeshType.STANDARD: StandardMeshInfo,
    MeshType.SKINNED: SkinnedMeshInfo,
    MeshType.PROCEDURAL: ProceduralMeshInfo,
}


def mesh_info(mesh: MeshDesc) -> StructView | None:
    """Decode ``mesh.info`` for its mesh type, or None for types without a layout."""
    view = _INFO_VIEWS.get(mesh.mesh_type)
    return None if view is None else view.parse(mesh.info)


@dataclass(frozen=True)
class SubMesh:
    desc: SubMeshDesc
    views: tuple[MeshViewDesc, ...]


@dataclass(frozen=True)
class Mesh:
    desc: MeshDesc
    submeshes: tuple[SubMesh, ...]
    procedural_params: bytes = b""


@dataclass(frozen=True)
class GeometryDescriptor:
    """A whole geometry descriptor: the fixed part and its LODs in stream order."""

    desc: GeometryAssetDesc
    meshes: tuple[Mesh, ...]

    def build(self) -> bytes:
        out = [self.desc.build()]
        for mesh in self.meshes:
            out.append(mesh.desc.build())
            out.append(mesh.procedural_params)
            for sub in mesh.submeshes:
                out.append(sub.desc.build())
                out.extend(v.build() for v in sub.views)
        return b"".join(out)


def parse_geometry(data: bytes | memoryview, *, path: str = "<bytes>",
                   base_offset: int = 0) -> GeometryDescriptor:
    """Parse a geometry descriptor; ``base_offset`` is where ``data`` starts in ``path``.

    Counts are checked against the bytes that remain before anything is allocated, so
    an absurd ``lod_count`` or ``submesh_count`` is a FormatError, not a huge list.
    """
    cursor = _Cursor(data, path, base_offset)
    desc = cursor.take(GeometryAssetDesc, "geometry")
    cursor.check_count(desc.lod_count, MESH_DESC_SIZE, "geometry.lod_count", at=95)
    meshes = []
    for m in range(desc.lod_count):
        mesh_at = cursor.pos
        mdesc = cursor.take(MeshDesc, f"geometry.meshes[{m}]")
        params = b""
        if mdesc.mesh_type == MeshType.PROCEDURAL:
            size = ProceduralMeshInfo.parse(mdesc.info).params_size
            params = cursor.take_bytes(size, f"geometry.meshes[{m}].params")
        cursor.check_count(mdesc.submesh_count, SUBMESH_DESC_SIZE,
                           f"geometry.meshes[{m}].submesh_count", at=mesh_at + 65)
        subs = []
        for s in range(mdesc.submesh_count):
            sub_at = cursor.pos
            sdesc = cursor.take(SubMeshDesc, f"geometry.meshes[{m}].submeshes[{s}]")
            cursor.check_count(sdesc.mesh_view_count, MESH_VIEW_DESC_SIZE,
                               f"geometry.meshes[{m}].submeshes[{s}].mesh_view_count",
                               at=sub_at + 80)
            views = tuple(cursor.take(MeshViewDesc, f"geometry.meshes[{m}].submeshes[{s}].views[{v}]")
                          for v in range(sdesc.mesh_view_count))
            subs.append(SubMesh(sdesc, views))
        meshes.append(Mesh(mdesc, tuple(subs), params))
    return GeometryDescriptor(desc, tuple(meshes))


class _Cursor:
    """Sequential reader over a descriptor that reports file offsets in errors."""

    def __init__(self, data: bytes | memoryview, path: str, base: int) -> None:
        self.data, self.path, self.base, self.pos = data, path, base, 0

    def take(self, view: type[V], field: str) -> V:
        try:
            value = view.parse(self.data, self.pos, path=self.path, field=field)
        except FormatError as exc:
            raise FormatError(exc.message, self.path, self.base + (exc.offset or 0),
                              exc.field) from None
        self.pos += view.SIZE
        return value

    def take_bytes(self, size: int, field: str) -> bytes:
        if self.pos + size > len(self.data):
            raise FormatError(f"{size} bytes declared, {len(self.data) - self.pos} remain",
                              self.path, self.base + self.pos, field)
        out = bytes(self.data[self.pos:self.pos + size])
        self.pos += size
        return out

    def check_count(self, count: int, min_record: int, field: str, *, at: int) -> None:
        """Fail before allocating when ``count`` records cannot fit in what remains.

        ``at`` is the offset of the count field within the descriptor.
        """
        remaining = len(self.data) - self.pos
        if count * min_record > remaining:
            raise FormatError(f"count {count} needs at least {count * min_record} bytes, "
                              f"{remaining} remain in the descriptor",
                              self.path, self.base + at, field)
