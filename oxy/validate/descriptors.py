"""Checks of asset descriptors (material, geometry, scene), shared by both validators
and by the runtime loader's decoders (one rule book: :mod:`oxy.validate.rules`).

Each descriptor is parsed with the declarations of ``oxy.formats`` (which apply the
loader's structural checks) and then cross-checked: header type and version, the
descriptor's exact size, texture and buffer indices against the tables, mesh views
against buffer sizes, and (when asked) the header content hash. References to
other assets (submesh materials, scene geometries) are checked per container by
:func:`check_references`. Pure functions; safe from any thread.
"""
from __future__ import annotations

import operator

import numpy as np

from oxy.errors import FormatError
from oxy.formats import AssetType, ComponentType, MeshType, enum_name, mesh_info, parse_descriptor
from oxy.formats.geometry import (GEOMETRY_VERSION, Mesh, MESH_DESC_SIZE, MESH_VIEW_DESC_SIZE,
                                  SUBMESH_DESC_SIZE, GeometryDescriptor)
from oxy.formats.material import (HEADER_CONTENT_HASH_OFFSET, MATERIAL_VERSION, TEXTURE_SLOTS,
                                  MaterialDescriptor, material_descriptor_size)
from oxy.formats.primitives import content_hash
from oxy.formats.scene import SCENE_VERSION, SceneDescriptor
from oxy.formats.primitives import AssetKey
from oxy.validate.diagnostics import ValidationReport

EXPECTED_VERSIONS: dict[int, int] = {AssetType.MATERIAL: MATERIAL_VERSION, AssetType.GEOMETRY: GEOMETRY_VERSION,
                     AssetType.SCENE: SCENE_VERSION}


class ResourceCounts:
    """What descriptors may reference: table sizes and per-buffer element counts."""

    def __init__(self, textures: np.ndarray, buffers: np.ndarray) -> None:
        self.texture_count = len(textures)
        self.buffer_count = len(buffers)
        self._buffers = buffers

    def elements(self, index: int, default_stride: int) -> int:
        e = self._buffers[index]
        stride = int(e["element_stride"]) or default_stride
        return int(e["size_bytes"]) // max(stride, 1)


def check_descriptor(report: ValidationReport, asset_type: int, blob: bytes, *, file: str,
                     base: int, field: str, resources: ResourceCounts, verify_hashes: bool
                     ) -> MaterialDescriptor | GeometryDescriptor | SceneDescriptor | None:
    """Parse and cross-check one descriptor. Returns the parsed descriptor or None.

    ``base`` is the file offset of ``blob`` (0 for a loose descriptor file).
    """
    if asset_type not in EXPECTED_VERSIONS:
        report.add("asset.type", f"asset type {asset_type} is not Material, Geometry or Scene",
                     file, base, field + ".asset_type")
        return None
    try:
        parsed = parse_descriptor(asset_type, blob, path=file, base_offset=base)
    except FormatError as exc:
        report.add("asset.descriptor", exc.message, file, exc.offset,
                     field + "." + exc.field if exc.field else field)
        return None
    header = parsed.desc.header
    if header.asset_type != asset_type:
        report.add("asset.header.asset_type", f"header says {enum_name(AssetType, header.asset_type)}, "
                     f"the index says {enum_name(AssetType, asset_type)}", file, base, field + ".header.asset_type")
    expected_version = EXPECTED_VERSIONS[asset_type]
    if header.version != expected_version:
        report.add("asset.header.version", f"version {header.version}, expected {expected_version} "
                     f"for {enum_name(AssetType, asset_type)}", file, base + 65, field + ".header.version")
    used = _parsed_size(parsed, len(blob))
    if used != len(blob):
        report.add("asset.descriptor_size", f"descriptor holds {len(blob)} bytes, its content is "
                     f"{used} bytes", file, base, field)
    if isinstance(parsed, MaterialDescriptor):
        _check_material(report, parsed, file, base, field, resources)
    elif isinstance(parsed, GeometryDescriptor):
        _check_geometry(report, parsed, file, base, field, resources)
    if verify_hashes and header.content_hash:
        at = HEADER_CONTENT_HASH_OFFSET
        actual = content_hash(blob[:at] + bytes(8) + blob[at + 8:])
        if actual != header.content_hash:
            report.add("asset.header.content_hash", f"content_hash {header.content_hash:#018x} != "
                         f"{actual:#018x} computed over the descriptor", file, base + at,
                         field + ".header.content_hash")
    return parsed


def _parsed_size(parsed: object, blob_size: int) -> int:
    if isinstance(parsed, MaterialDescriptor):
        return material_descriptor_size(parsed.desc.shader_stages)
    if isinstance(parsed, GeometryDescriptor):
        size = parsed.desc.SIZE
        for mesh in parsed.meshes:
            size += MESH_DESC_SIZE + len(mesh.procedural_params)
            size += sum(SUBMESH_DESC_SIZE + MESH_VIEW_DESC_SIZE * len(s.views) for s in mesh.submeshes)
        return size
    return blob_size  # a scene's environment block must end the blob; parse_scene checks it


def _check_material(report: ValidationReport, m: MaterialDescriptor, file: str, base: int,
                    field: str, resources: ResourceCounts) -> None:
    limit = max(resources.texture_count, 1)
    for k, (slot, index) in enumerate(zip(TEXTURE_SLOTS, _TEXTURE_INDICES(m.desc))):
        if index >= limit and index != 0:
            report.add("material.texture_index", f"{slot} texture index {index} >= texture count "
                       f"{resources.texture_count}: the slot keeps the fallback texture", file, base + 130 + 4 * k,
                         f"{field}.{slot}_texture")


def _check_geometry(report: ValidationReport, g: GeometryDescriptor, file: str, base: int,
                    field: str, resources: ResourceCounts) -> None:
    if g.desc.lod_count < 1:
        report.add("geometry.lod_count", "lod_count is 0", file, base + 95, field + ".lod_count")
    at = base + g.desc.SIZE
    for m, mesh in enumerate(g.meshes):
        mfld = f"{field}.meshes[{m}]"
        views = sum(len(s.views) for s in mesh.submeshes)
        if mesh.desc.mesh_view_count != views:
            report.add("geometry.mesh_view_count", f"mesh_view_count {mesh.desc.mesh_view_count} "
                         f"!= {views} views in its submeshes", file, at + 69, mfld + ".mesh_view_count")
        if mesh.desc.mesh_type == MeshType.SKINNED:
            report.add("geometry.skinned", "skinned meshes are unverified (FORMATS.md 8.2)",
                           file, at + 64, mfld + ".mesh_type")
        if mesh.desc.mesh_type in (MeshType.STANDARD, MeshType.SKINNED):
            _check_mesh_buffers(report, mesh, file, at, mfld, resources)
        at += MESH_DESC_SIZE + len(mesh.procedural_params)
        at += sum(SUBMESH_DESC_SIZE + MESH_VIEW_DESC_SIZE * len(s.views) for s in mesh.submeshes)


def _check_mesh_buffers(report: ValidationReport, mesh: Mesh, file: str, at: int, mfld: str,
                         resources: ResourceCounts) -> None:
    info = mesh_info(mesh.desc)
    assert info is not None  # standard and skinned meshes always have a layout
    vb, ib = info.vertex_buffer, info.index_buffer
    ok = True
    for name, index, off in (("vertex_buffer", vb, 73), ("index_buffer", ib, 77)):
        if index >= resources.buffer_count:
            report.add("geometry.buffer_index", f"{name} {index} >= buffer count "
                       f"{resources.buffer_count}: the mesh gets no {name.split('_')[0]} buffer",
                       file, at + off, f"{mfld}.info.{name}")
            ok = False
    if not ok:
        return
    vertices, indices = resources.elements(vb, 72), resources.elements(ib, 4)
    pos = at + MESH_DESC_SIZE
    for s, sub in enumerate(mesh.submeshes):
        pos += SUBMESH_DESC_SIZE
        for v, view in enumerate(sub.views):
            if view.first_index + view.index_count > indices or view.first_vertex + view.vertex_count > vertices:
                report.add("geometry.mesh_view_range", f"view indices {view.first_index}+{view.index_count} "
                             f"/ vertices {view.first_vertex}+{view.vertex_count} exceed the buffers "
                             f"({indices} indices, {vertices} vertices)", file, pos,
                             f"{mfld}.submeshes[{s}].views[{v}]")
            pos += MESH_VIEW_DESC_SIZE


_TEXTURE_INDICES = operator.attrgetter(*(f"{slot}_texture" for slot in TEXTURE_SLOTS))


def scene_geometry_keys(scene: SceneDescriptor) -> list[AssetKey]:
    """The geometry keys referenced by a scene's renderables (zero keys left out)."""
    return [r.geometry_key for t in scene.components if t.component_type == ComponentType.RENDERABLE
            for r in t.records if not r.geometry_key.is_zero()]


def submesh_material_keys(g: GeometryDescriptor, base: int) -> list[tuple[int, str, AssetKey]]:
    """(file offset of the key, field path, key) of every non-zero submesh material key."""
    out = []
    at = base + g.desc.SIZE
    for m, mesh in enumerate(g.meshes):
        pos = at + MESH_DESC_SIZE + len(mesh.procedural_params)
        for s, sub in enumerate(mesh.submeshes):
            key = sub.desc.material_asset_key
            if not key.is_zero():
                out.append((pos + 64, f"meshes[{m}].submeshes[{s}].material_asset_key", key))
            pos += SUBMESH_DESC_SIZE + MESH_VIEW_DESC_SIZE * len(sub.views)
        at = pos
    return out


def check_references(report: ValidationReport, parsed: object, assets: dict[AssetKey, int], *,
                     file: str, base: int, field: str, where: str) -> None:
    """Submesh materials and scene geometries must name an asset of the right type in
    ``assets`` (key -> asset type of the container, ``where`` names it). The engine
    tolerates both (default material; skipped renderable): warnings."""
    if isinstance(parsed, GeometryDescriptor):
        for at, fld, key in submesh_material_keys(parsed, base):
            kind = assets.get(key)
            if kind != AssetType.MATERIAL:
                what = "is not in " + where if kind is None else f"is a {enum_name(AssetType, kind)}"
                report.add("geometry.material_key", f"material {key} {what}; the submesh gets the "
                           "default material", file, at, f"{field}.{fld}")
    elif isinstance(parsed, SceneDescriptor):
        for key in scene_geometry_keys(parsed):
            kind = assets.get(key)
            if kind != AssetType.GEOMETRY:
                what = "is not in " + where if kind is None else f"is a {enum_name(AssetType, kind)}"
                report.add("scene.geometry_key", f"renderable geometry {key} {what}; the renderable is "
                           "skipped", file, base, f"{field}.components")
