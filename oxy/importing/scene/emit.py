"""Emission steps shared by the async importer and the sync path.

Each step takes an open :class:`ImportSession` and a :class:`ScenePlan` and emits
one thing in the same way on both paths: a geometry (vertex buffer, index buffer,
descriptor), a material (descriptor, once its texture indices are known), the scene.
``pack_checked`` is the per-geometry compute (validation + packing) run on the CPU
pool by the async path and inline by the sync path.

Thread rules: the emit functions run on the session's thread (the import hub, or
the sync caller); ``pack_checked`` is pure and runs anywhere. Failure modes:
``pack_checked`` returns a diagnostic instead of raising for bad mesh data; emit
errors (EmitError) propagate to the caller, which turns them into a failed report.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

from oxy.cook.texture import TextureSettings, settings_for
from oxy.cook.vertices import VERTEX_FLOATS, MeshDataError, PackedGeometry, pack_geometry
from oxy.formats.enums import AssetType, BufferUsage, Format
from oxy.formats.primitives import AssetKey
from oxy.importing.scene.plan import GeometryPlan, MaterialPlan, PlanDiagnostic, ScenePlan
from oxy.importing.session import ImportSession
from oxy.importing.types import Severity

VERTEX_USAGE = BufferUsage.VERTEX | BufferUsage.STATIC   # 0x101
INDEX_USAGE = BufferUsage.INDEX | BufferUsage.STATIC     # 0x102
VERTEX_STRIDE = 4 * VERTEX_FLOATS                        # 72


@lru_cache(maxsize=None)
def texture_settings(preset: str, quality: str = "normal") -> TextureSettings:
    return settings_for(preset, quality=quality)


def pack_checked(plan: ScenePlan, geometry: GeometryPlan) -> tuple[PackedGeometry | None, list[PlanDiagnostic]]:
    """Validate and pack one geometry; (None, [error]) for mesh data that cannot be used."""
    try:
        packed = pack_geometry(plan.meshes_for(geometry))
    except MeshDataError as exc:
        code = "scene.mesh_invalid"
        for known in ("not finite", "indexes vertex", "faces are not triangles"):
            if known in str(exc):
                code = {"not finite": "scene.mesh_nonfinite", "indexes vertex": "scene.mesh_index_range",
                        "faces are not triangles": "scene.mesh_not_triangles"}[known]
        return None, [PlanDiagnostic(Severity.ERROR, code, f"geometry {geometry.asset_name!r}: {exc}",
                                     exc.field_path)]
    notes = [PlanDiagnostic(Severity.WARNING, w.code, w.message, w.field_path) for w in packed.warnings]
    return packed, notes


def emit_geometry(session: ImportSession, plan: ScenePlan, geometry: GeometryPlan,
                  packed: PackedGeometry) -> tuple[AssetKey, int, int]:
    """Buffers, then the descriptor; (key, vertex buffer index, index buffer index)."""
    vb = session.buffers.emit(packed.vertices, usage=VERTEX_USAGE, stride=VERTEX_STRIDE,
                              content_hash=packed.vertex_hash)
    ib = session.buffers.emit(packed.indices, usage=INDEX_USAGE, element_format=Format.R32_UINT,
                              content_hash=packed.index_hash)
    key = session.assets.emit(AssetType.GEOMETRY, geometry.asset_name, plan.geometry_bytes(geometry, packed, vb, ib))
    return key, vb, ib


def emit_material(session: ImportSession, plan: ScenePlan, material: MaterialPlan,
                  index_of: Callable[[str], int]) -> AssetKey:
    return session.assets.emit(AssetType.MATERIAL, material.asset_name, plan.material_bytes(material, index_of))


def emit_scene(session: ImportSession, plan: ScenePlan, emitted_geometries: set[AssetKey]) -> AssetKey:
    return session.assets.emit(AssetType.SCENE, plan.scene_name, plan.scene_bytes(emitted_geometries))


def forward(session: ImportSession, diagnostics: list[PlanDiagnostic]) -> None:
    for d in diagnostics:
        session.diagnose(d.severity, d.code, d.message, d.field_path)


def written_counts(session: ImportSession, materials: int, geometries: int, scenes: int) -> dict[str, int]:
    return {"textures": session.textures.new_count, "buffers": session.buffers.new_count,
            "materials": materials, "geometries": geometries, "scenes": scenes}
