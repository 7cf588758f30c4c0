"""Where a descriptor references resources: the byte offsets of its u32 index fields.

A material names textures (twelve slots; 0 = the fallback, not a reference); a
geometry names buffers (per mesh: vertex and index buffer, plus the skinned
buffers). Compaction rewrites these fields, and merging compares assets by what
they reference rather than by index numbers.

Pure functions over bytes: safe from any thread. ``buffer_index_offsets`` raises
:class:`~oxy.errors.FormatError` for a geometry it cannot parse.
"""
from __future__ import annotations

from oxy.formats import MeshType, parse_geometry
from oxy.formats.geometry import GEOMETRY_DESC_SIZE, MESH_DESC_SIZE, MESH_VIEW_DESC_SIZE, SUBMESH_DESC_SIZE
from oxy.formats.material import TEXTURE_SLOTS

__all__ = ["MATERIAL_TEXTURE_OFFSETS", "MESH_INFO_BUFFER_FIELDS", "buffer_index_offsets", "read_u32",
           "texture_index_offsets"]

MATERIAL_TEXTURE_OFFSETS = tuple(130 + 4 * i for i in range(len(TEXTURE_SLOTS)))
#: Buffer index fields inside MeshDesc.info (at MeshDesc + 73) per mesh type.
MESH_INFO_BUFFER_FIELDS = {MeshType.STANDARD: (0, 4), MeshType.SKINNED: (0, 4, 8, 12, 16, 20)}


def read_u32(blob: bytes, at: int) -> int:
    return int.from_bytes(blob[at:at + 4], "little")


def texture_index_offsets(blob: bytes) -> list[int]:
    """Offsets of the material's non-zero texture index fields (0 = the fallback)."""
    return [at for at in MATERIAL_TEXTURE_OFFSETS if read_u32(blob, at)]


def buffer_index_offsets(blob: bytes, *, path: str = "<bytes>") -> list[int]:
    """Offsets of every buffer index field of a geometry descriptor, in stream order
    (per LOD: vertex, index, then skinned buffers). Raises FormatError on bad bytes."""
    parsed = parse_geometry(blob, path=path)
    out, pos = [], GEOMETRY_DESC_SIZE
    for mesh in parsed.meshes:
        info_at = pos + 73
        out += [info_at + off for off in MESH_INFO_BUFFER_FIELDS.get(mesh.desc.mesh_type, ())]
        pos += MESH_DESC_SIZE + len(mesh.procedural_params)
        pos += sum(SUBMESH_DESC_SIZE + MESH_VIEW_DESC_SIZE * len(s.views) for s in mesh.submeshes)
    return out
