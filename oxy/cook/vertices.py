"""Mesh data, validation, tangent generation and 72-byte vertex packing (FORMATS.md 4.2).

A :class:`MeshData` is what a scene backend hands over: plain numpy arrays copied out
of the parser. :func:`validate_mesh` finds what would make garbage output
(non-finite positions, out-of-range indices, no triangles); :func:`pack_geometry`
packs one or more meshes into one vertex buffer (72-byte ``Vertex``: position,
normal, texcoord0, tangent, bitangent, colour) and one u32 index buffer, with one
submesh per material (contiguous index range) and bounding boxes.

Tangents come from the file when it has them; otherwise they are generated per
triangle from the UVs (Lengyel), accumulated per vertex, orthogonalised against the
normal (Gram-Schmidt) with the handedness kept in the bitangent; vertices without a
usable UV gradient (or meshes without UVs) get an arbitrary orthonormal basis.

Repairs are reported, never silent: :func:`pack_geometry` returns a warning per
mesh and kind of repair, with counts (``scene.degenerate_faces_dropped``: triangles
with a repeated index or two corners at the same position;
``scene.normals_repaired``: normals renormalised or replaced by computed ones;
``scene.nonfinite_replaced``: NaN/Inf normals, UVs, tangents or colours replaced).

Pure numpy, vectorised: safe from any thread, no gevent. Failure modes: the pack
functions raise :class:`MeshDataError` (with a field path) for input that
:func:`validate_mesh` reports as an error; nothing else is raised for bad data.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from oxy.cook.notes import CookNote
from oxy.formats.primitives import content_hash

VERTEX_FLOATS = 18  # 72 bytes
_EPS = 1e-12


class MeshDataError(ValueError):
    """A mesh that cannot be packed; ``field_path`` names the failing element."""

    def __init__(self, message: str, field_path: str = "") -> None:
        super().__init__(message)
        self.field_path = field_path


@dataclass
class MeshData:
    """One triangle mesh with one material, as parsed (arrays are owned copies)."""

    name: str
    material_index: int
    positions: np.ndarray                 # (N, 3) float32
    indices: np.ndarray                   # (F, 3) uint32 triangles
    normals: np.ndarray | None = None     # (N, 3)
    texcoords: np.ndarray | None = None   # (N, 2) texcoord set 0
    tangents: np.ndarray | None = None    # (N, 3)
    bitangents: np.ndarray | None = None  # (N, 3)
    colors: np.ndarray | None = None      # (N, 4) colour set 0
    field_path: str = ""                  # e.g. "meshes[3]", for diagnostics


#: The old name of :class:`~oxy.cook.notes.CookNote` for mesh findings ("error": the
#: mesh cannot be used; "warning": repaired or skipped).
MeshProblem = CookNote
UNIT_TOLERANCE = 1e-3  # a normal whose length is further than this from 1 is renormalised (and counted)


def validate_mesh(mesh: MeshData) -> list[CookNote]:
    """Everything wrong with ``mesh``; an "error" means it must not be packed."""
    where = mesh.field_path or mesh.name
    problems: list[CookNote] = []
    pos, idx = mesh.positions, mesh.indices
    if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0 or idx.size == 0:
        return [MeshProblem("warning", "scene.mesh_empty",
                            f"mesh {mesh.name!r} has {len(pos)} vertices and {len(idx)} triangles; skipped",
                            where)]
    bad = ~np.isfinite(pos).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        problems.append(MeshProblem("error", "scene.mesh_nonfinite",
                                    f"mesh {mesh.name!r}: {int(bad.sum())} vertex positions are not finite "
                                    f"(first: vertex {first} = {pos[first].tolist()})", f"{where}.vertices[{first}]"))
    if idx.ndim != 2 or idx.shape[1] != 3:
        problems.append(MeshProblem("error", "scene.mesh_not_triangles",
                                    f"mesh {mesh.name!r}: faces are not triangles (shape {idx.shape})", where))
    elif int(idx.max()) >= len(pos):
        flat = int(np.argmax((idx >= len(pos)).any(axis=1)))
        problems.append(MeshProblem("error", "scene.mesh_index_range",
                                    f"mesh {mesh.name!r}: triangle {flat} indexes vertex {int(idx[flat].max())} "
                                    f"of {len(pos)}", f"{where}.faces[{flat}]"))
    for name in ("normals", "texcoords", "tangents", "bitangents", "colors"):
        arr = getattr(mesh, name)
        if arr is not None and len(arr) != len(pos):
            problems.append(MeshProblem("error", "scene.mesh_attribute_count",
                                        f"mesh {mesh.name!r}: {len(arr)} {name} for {len(pos)} vertices",
                                        f"{where}.{name}"))
    return problems


def _normalize(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    length = np.linalg.norm(v, axis=1)
    ok = length > _EPS
    out = np.zeros_like(v)
    out[ok] = v[ok] / length[ok, None]
    return out, ok


def _accumulate(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum per-triangle ``values`` (F, 3) onto the vertices of each corner."""
    out = np.zeros((n, values.shape[1]), np.float64)
    for corner in range(3):
        for c in range(values.shape[1]):
            out[:, c] += np.bincount(index[:, corner], weights=values[:, c], minlength=n)
    return out


def face_normals(positions: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Area-weighted smooth vertex normals; (0, 0, 1) where they cannot be formed."""
    p = positions.astype(np.float64)
    tri = p[indices]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals, ok = _normalize(_accumulate(indices, cross, len(p)))
    normals[~ok] = (0.0, 0.0, 1.0)
    return normals


def orthonormal_basis(normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An arbitrary tangent/bitangent pair for each unit normal."""
    helper = np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    tangent, _ = _normalize(helper - normals * np.sum(normals * helper, axis=1, keepdims=True))
    return tangent, np.cross(normals, tangent)


def generate_tangents(positions: np.ndarray, normals: np.ndarray, texcoords: np.ndarray | None,
                      indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex tangents and bitangents (unit, orthogonal to ``normals``)."""
    if texcoords is None:
        return orthonormal_basis(normals)
    p, uv = positions.astype(np.float64), texcoords.astype(np.float64)
    e1 = p[indices[:, 1]] - p[indices[:, 0]]
    e2 = p[indices[:, 2]] - p[indices[:, 0]]
    d1 = uv[indices[:, 1]] - uv[indices[:, 0]]
    d2 = uv[indices[:, 2]] - uv[indices[:, 0]]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(np.abs(det) > _EPS, 1.0 / np.where(det == 0, 1.0, det), 0.0)[:, None]
    sdir = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * r
    tdir = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * r
    t_acc = _accumulate(indices, sdir, len(p))
    b_acc = _accumulate(indices, tdir, len(p))
    tangent, ok = _normalize(t_acc - normals * np.sum(normals * t_acc, axis=1, keepdims=True))
    fallback_t, _fallback_b = orthonormal_basis(normals)
    tangent[~ok] = fallback_t[~ok]
    sign = np.where(np.sum(np.cross(normals, tangent) * b_acc, axis=1) < 0.0, -1.0, 1.0)
    return tangent, np.cross(normals, tangent) * sign[:, None]


def _finite_or(arr: np.ndarray | None, n: int, width: int, default: Sequence[float],
               counts: dict[str, int] | None = None, name: str = "") -> np.ndarray:
    """``arr`` as float64 with non-finite values set to 0 (counted per vertex into
    ``counts[name]``), or ``default`` everywhere when there is no array."""
    if arr is None:
        return np.tile(np.asarray(default, np.float64), (n, 1))
    out = np.asarray(arr, np.float64)[:, :width]
    finite = np.isfinite(out)
    if counts is not None and not finite.all():
        counts[name] = int((~finite.all(axis=1)).sum())
    return np.where(finite, out, 0.0)


def _repair_notes(mesh: MeshData, nonfinite: dict[str, int], renormalised: int, replaced: int) -> list[CookNote]:
    where = mesh.field_path or mesh.name
    notes = []
    if nonfinite:
        parts = ", ".join(f"{count} {name}" for name, count in nonfinite.items())
        notes.append(CookNote("warning", "scene.nonfinite_replaced",
                              f"mesh {mesh.name!r}: non-finite (NaN/Inf) values replaced in {parts} of "
                              f"{len(mesh.positions)} vertices (normals recomputed, UVs 0, tangents regenerated, "
                              "colours 0)", where))
    if renormalised or replaced:
        notes.append(CookNote("warning", "scene.normals_repaired",
                              f"mesh {mesh.name!r}: {renormalised} normals renormalised (not unit length), "
                              f"{replaced} replaced by computed normals (zero length or not finite) of "
                              f"{len(mesh.positions)} vertices", f"{where}.normals"))
    return notes


def vertex_array(mesh: MeshData, notes: list[CookNote] | None = None) -> np.ndarray:
    """The (N, 18) float32 vertex array of a valid mesh (see the module docstring).
    The repairs it makes are appended to ``notes`` as counted warnings."""
    n = len(mesh.positions)
    positions = mesh.positions.astype(np.float64)
    nonfinite: dict[str, int] = {}
    renormalised = replaced = 0
    normals = None
    if mesh.normals is not None:
        raw = _finite_or(mesh.normals, n, 3, (0, 0, 1), nonfinite, "normals")
        normals, ok = _normalize(raw)
        ok &= np.isfinite(np.asarray(mesh.normals, np.float64)[:, :3]).all(axis=1)  # a NaN part: garbage
        length = np.linalg.norm(raw, axis=1)
        renormalised = int((ok & (np.abs(length - 1.0) > UNIT_TOLERANCE)).sum())
        replaced = int((~ok).sum())
        if not ok.all():
            normals[~ok] = face_normals(positions, mesh.indices)[~ok]
    else:
        normals = face_normals(positions, mesh.indices)
    uv = None if mesh.texcoords is None else _finite_or(mesh.texcoords, n, 2, (0, 0), nonfinite, "texcoords")
    if mesh.tangents is not None and mesh.bitangents is not None:
        tangents, t_ok = _normalize(_finite_or(mesh.tangents, n, 3, (1, 0, 0), nonfinite, "tangents"))
        bitangents, b_ok = _normalize(_finite_or(mesh.bitangents, n, 3, (0, 1, 0), nonfinite, "bitangents"))
        if not (t_ok & b_ok).all():
            gen_t, gen_b = generate_tangents(positions, normals, uv, mesh.indices)
            bad = ~(t_ok & b_ok)
            tangents[bad], bitangents[bad] = gen_t[bad], gen_b[bad]
    else:
        tangents, bitangents = generate_tangents(positions, normals, uv, mesh.indices)
    out = np.empty((n, VERTEX_FLOATS), np.float32)
    out[:, 0:3] = positions
    out[:, 3:6] = normals
    out[:, 6:8] = uv if uv is not None else 0.0
    out[:, 8:11] = tangents
    out[:, 11:14] = bitangents
    out[:, 14:18] = _finite_or(mesh.colors, n, 4, (1, 1, 1, 1), nonfinite, "colors")
    if notes is not None:
        notes.extend(_repair_notes(mesh, nonfinite, renormalised, replaced))
    return out


def drop_degenerate_faces(mesh: MeshData) -> tuple[MeshData, CookNote | None]:
    """``mesh`` without its degenerate triangles (a repeated index, or two corners at
    the same position: they cover no area and break tangent generation), and the
    counted warning when any was dropped. Expects a mesh that passed validation."""
    idx = mesh.indices
    repeated = (idx[:, 0] == idx[:, 1]) | (idx[:, 1] == idx[:, 2]) | (idx[:, 0] == idx[:, 2])
    tri = mesh.positions[idx]
    coincident = ((tri[:, 0] == tri[:, 1]).all(axis=1) | (tri[:, 1] == tri[:, 2]).all(axis=1)
                  | (tri[:, 0] == tri[:, 2]).all(axis=1))
    bad = repeated | coincident
    if not bad.any():
        return mesh, None
    note = CookNote("warning", "scene.degenerate_faces_dropped",
                    f"mesh {mesh.name!r}: {int(bad.sum())} of {len(idx)} triangles dropped as degenerate "
                    f"({int(repeated.sum())} with a repeated index, {int((coincident & ~repeated).sum())} with "
                    "coincident corners)", f"{mesh.field_path or mesh.name}.faces")
    return replace(mesh, indices=idx[~bad]), note


@dataclass(frozen=True)
class PackedSubmesh:
    material_index: int
    first_index: int
    index_count: int
    bbox_min: tuple[float, float, float]
    bbox_max: tuple[float, float, float]


@dataclass(frozen=True)
class PackedGeometry:
    """Buffers and ranges of one geometry: ``vertices`` is N*72 bytes, ``indices`` u32 LE.
    Indices address the whole vertex buffer (each view covers all vertices)."""

    vertices: bytes
    indices: bytes
    vertex_count: int
    index_count: int
    submeshes: tuple[PackedSubmesh, ...]
    bbox_min: tuple[float, float, float]
    bbox_max: tuple[float, float, float]
    warnings: tuple[CookNote, ...] = field(default=())
    vertex_hash: int = 0    # truncated SHA-256 of ``vertices`` (computed here, off the import hub)
    index_hash: int = 0


def _box(points: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    return (tuple(float(x) for x in lo), tuple(float(x) for x in hi))  # type: ignore[return-value]


def pack_geometry(meshes: Sequence[MeshData]) -> PackedGeometry:
    """Pack ``meshes`` (grouped by material, first-seen order of materials kept stable)
    into one geometry. Raises MeshDataError for an invalid mesh or when nothing is left."""
    usable: list[MeshData] = []
    warnings: list[CookNote] = []
    for mesh in meshes:
        problems = validate_mesh(mesh)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise MeshDataError(errors[0].message, errors[0].field_path)
        if problems:
            warnings.extend(problems)
            continue
        mesh, dropped = drop_degenerate_faces(mesh)
        if dropped is not None:
            warnings.append(dropped)
            if mesh.indices.size == 0:
                warnings.append(CookNote("warning", "scene.mesh_empty",
                                         f"mesh {mesh.name!r} has no triangles left; skipped",
                                         mesh.field_path or mesh.name))
                continue
        usable.append(mesh)
    if not usable:
        raise MeshDataError("no usable triangles in this geometry", meshes[0].field_path if meshes else "")
    order = {m: i for i, m in enumerate(dict.fromkeys(x.material_index for x in usable))}
    usable.sort(key=lambda x: order[x.material_index])  # stable: file order within a material
    arrays, index_parts, submeshes = [], [], []
    base = first = 0
    for material in order:
        group = [m for m in usable if m.material_index == material]
        start = first
        points = []
        for mesh in group:
            arrays.append(vertex_array(mesh, warnings))
            index_parts.append(mesh.indices.astype(np.uint32).reshape(-1) + np.uint32(base))
            points.append(mesh.positions[np.unique(mesh.indices)])
            base += len(mesh.positions)
            first += mesh.indices.size
        lo, hi = _box(np.concatenate(points))
        submeshes.append(PackedSubmesh(material, start, first - start, lo, hi))
    vertices = np.concatenate(arrays)
    lo, hi = _box(np.array([s.bbox_min for s in submeshes] + [s.bbox_max for s in submeshes]))
    vertex_bytes = vertices.astype("<f4").tobytes()
    index_bytes = np.concatenate(index_parts).astype("<u4").tobytes()
    return PackedGeometry(vertex_bytes, index_bytes, len(vertices), first, tuple(submeshes), lo, hi, tuple(warnings),
                          content_hash(vertex_bytes), content_hash(index_bytes))
