"""Scene building: parsed nodes, cameras and lights -> ``SceneAssetDesc`` v2 (FORMATS.md 5.3).

Nodes arrive in depth-first pre-order (parents before children, node 0 the root,
which is its own parent). Each node's 4x4 local matrix (row-major, translation in
the last column, as assimp stores it) is decomposed into translation, rotation
(quaternion x, y, z, w) and scale; shear is dropped, a negative determinant flips
the X scale. Node ids are ``AssetKey.from_virtual_path(scene_vpath + "/" + node path)``
so re-cooks give the same ids. Renderables, cameras and lights are component
records sorted by node index; the environment block is empty (``16, 0``).

Cameras: ``fov_y`` from assimp's half horizontal FOV and aspect; orthographic when
the file gives an orthographic half-width. Lights: colour normalised with the
largest channel as intensity; spot cones are assimp's angles (half angles, radians);
a point/spot ``range`` is where the attenuated intensity falls under 1/256
(0 = unbounded when the file has no attenuation).

Pure functions: safe from any thread. Failure modes: ValueError for a node list
that is not in pre-order (a parent index not before its child).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from oxy.cook.descriptors import asset_header, finalize_descriptor
from oxy.formats.enums import AssetType, ComponentType, NodeFlags
from oxy.formats.primitives import AssetKey
from oxy.formats.scene import (SCENE_VERSION, ComponentTable, DirectionalLightRecord, LightCommonRecord,
                               LightShadowSettingsRecord, NodeRecord, OrthographicCameraRecord,
                               PerspectiveCameraRecord, PointLightRecord, RenderableRecord, SceneAssetDesc,
                               SceneDescriptor, SpotLightRecord)

LIGHT_CUTOFF = 1.0 / 256.0


@dataclass
class NodeData:
    """One scene node: ``parent`` is the parent's index (-1 for the root)."""

    name: str
    parent: int
    matrix: np.ndarray  # (4, 4) local transform, row-major, translation in column 3
    meshes: tuple[int, ...] = ()


@dataclass
class CameraData:
    name: str  # the node it belongs to
    half_fov_x: float = math.pi / 4
    aspect: float = 0.0
    near: float = 0.1
    far: float = 1000.0
    ortho_half_width: float = 0.0


@dataclass
class LightData:
    name: str
    kind: str  # "directional", "point", "spot"
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    attenuation: tuple[float, float, float] = (1.0, 0.0, 0.0)  # constant, linear, quadratic
    inner_cone: float = 0.0
    outer_cone: float = math.pi / 4
    source_radius: float = 0.0


@dataclass
class SceneInput:
    """What the scene descriptor is built from."""

    name: str
    virtual_path: str
    nodes: Sequence[NodeData]
    renderables: Mapping[int, AssetKey] = field(default_factory=dict)  # node index -> geometry
    cameras: Mapping[int, CameraData] = field(default_factory=dict)
    lights: Mapping[int, LightData] = field(default_factory=dict)


def decompose(matrix: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """(translation, rotation xyzw, scale) of an affine row-major matrix."""
    m = np.asarray(matrix, np.float64).reshape(4, 4)
    if not np.isfinite(m).all():
        return (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0), (1.0, 1.0, 1.0)
    basis = m[:3, :3].copy()
    scale = np.linalg.norm(basis, axis=0)
    if np.linalg.det(basis) < 0:
        scale[0] = -scale[0]
    safe = np.where(np.abs(scale) > 1e-12, scale, 1.0)
    rot = basis / safe
    return tuple(float(x) for x in m[:3, 3]), quaternion(rot), tuple(float(x) for x in scale)


def quaternion(r: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (x, y, z, w) of a rotation matrix (Shepperd's method), w >= 0."""
    trace = r[0, 0] + r[1, 1] + r[2, 2]
    if trace > 0:
        s = math.sqrt(trace + 1.0) * 2
        q = ((r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s)
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = math.sqrt(max(1.0 + r[0, 0] - r[1, 1] - r[2, 2], 1e-24)) * 2
        q = (0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s)
    elif r[1, 1] > r[2, 2]:
        s = math.sqrt(max(1.0 + r[1, 1] - r[0, 0] - r[2, 2], 1e-24)) * 2
        q = ((r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s)
    else:
        s = math.sqrt(max(1.0 + r[2, 2] - r[0, 0] - r[1, 1], 1e-24)) * 2
        q = ((r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s, (r[1, 0] - r[0, 1]) / s)
    n = math.sqrt(sum(c * c for c in q)) or 1.0
    sign = -1.0 if q[3] < 0 else 1.0
    return tuple(float(sign * c / n) for c in q)  # type: ignore[return-value]


def node_paths(nodes: Sequence[NodeData]) -> list[str]:
    """A unique, stable path per node: names joined with '/', '/' in names replaced,
    repeated sibling names suffixed ``#k``."""
    paths: list[str] = []
    seen: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node.parent >= i:
            raise ValueError(f"node {i} ({node.name!r}) has parent {node.parent}: not in pre-order")
        own = (node.name or f"node{i}").replace("/", "_")
        path = own if node.parent < 0 else f"{paths[node.parent]}/{own}"
        count = seen.get(path, 0)
        seen[path] = count + 1
        paths.append(path if count == 0 else f"{path}#{count}")
    return paths


def _string_table(names: Sequence[str]) -> tuple[bytes, list[int]]:
    table, offsets, known = bytearray(b"\0"), [], {"": 0}
    for name in names:
        if name not in known:
            known[name] = len(table)
            table += name.encode("utf-8") + b"\0"
        offsets.append(known[name])
    return bytes(table), offsets


def _camera_record(index: int, cam: CameraData):
    aspect = cam.aspect if cam.aspect > 0 and math.isfinite(cam.aspect) else 1.0
    if cam.ortho_half_width > 0:
        half_h = cam.ortho_half_width / aspect
        return OrthographicCameraRecord(node_index=index, left=-cam.ortho_half_width, right=cam.ortho_half_width,
                                        bottom=-half_h, top=half_h, near_plane=cam.near, far_plane=cam.far)
    fov_y = 2.0 * math.atan(math.tan(cam.half_fov_x) / aspect)
    return PerspectiveCameraRecord(node_index=index, fov_y=fov_y, aspect_ratio=aspect,
                                   near_plane=cam.near, far_plane=cam.far)


def light_range(intensity: float, attenuation: tuple[float, float, float]) -> float:
    """Distance where intensity / (c + l d + q d^2) drops under LIGHT_CUTOFF; 0 = unbounded."""
    c, lin, quad = (max(0.0, a) for a in attenuation)
    target = intensity / LIGHT_CUTOFF - c
    if target <= 0:
        return 0.0
    if quad > 0:
        return float((-lin + math.sqrt(lin * lin + 4 * quad * target)) / (2 * quad))
    return float(target / lin) if lin > 0 else 0.0


def _light_record(index: int, light: LightData):
    intensity = max(light.color) if max(light.color) > 0 else 0.0
    color = tuple(c / intensity for c in light.color) if intensity > 0 else (1.0, 1.0, 1.0)
    shadow = LightShadowSettingsRecord(bias=0.0, normal_bias=0.0, contact_shadows=0, resolution_hint=0)
    common = LightCommonRecord(affects_world=1, color_rgb=color, intensity=intensity, mobility=0,
                               casts_shadows=0, shadow=shadow, exposure_compensation_ev=0.0)
    if light.kind == "directional":
        return DirectionalLightRecord(node_index=index, common=common, angular_size_radians=0.0,
                                      environment_contribution=1, is_sun_light=0, cascade_count=4,
                                      cascade_distances=[0.0] * 4, distribution_exponent=1.0)
    rng = light_range(intensity, light.attenuation)
    decay = 2.0 if light.attenuation[2] > 0 else 1.0 if light.attenuation[1] > 0 else 0.0
    if light.kind == "spot":
        return SpotLightRecord(node_index=index, common=common, range=rng, attenuation_model=0,
                               decay_exponent=decay, inner_cone_angle_radians=light.inner_cone,
                               outer_cone_angle_radians=light.outer_cone, source_radius=light.source_radius)
    return PointLightRecord(node_index=index, common=common, range=rng, attenuation_model=0,
                            decay_exponent=decay, source_radius=light.source_radius)


_LIGHT_TYPES = {"directional": ComponentType.DIRECTIONAL_LIGHT, "point": ComponentType.POINT_LIGHT,
                "spot": ComponentType.SPOT_LIGHT}


def _components(scene: SceneInput) -> tuple[ComponentTable, ...]:
    tables: dict[int, list] = {t: [] for t in (ComponentType.RENDERABLE, ComponentType.PERSPECTIVE_CAMERA,
                                               ComponentType.ORTHOGRAPHIC_CAMERA, *_LIGHT_TYPES.values())}
    for index in sorted(scene.renderables):
        tables[ComponentType.RENDERABLE].append(RenderableRecord(
            node_index=index, geometry_key=scene.renderables[index], visible=1))
    for index in sorted(scene.cameras):
        record = _camera_record(index, scene.cameras[index])
        kind = (ComponentType.ORTHOGRAPHIC_CAMERA if isinstance(record, OrthographicCameraRecord)
                else ComponentType.PERSPECTIVE_CAMERA)
        tables[kind].append(record)
    for index in sorted(scene.lights):
        light = scene.lights[index]
        tables[_LIGHT_TYPES.get(light.kind, ComponentType.POINT_LIGHT)].append(_light_record(index, light))
    return tuple(ComponentTable(kind, tuple(records)) for kind, records in tables.items() if records)


def build_scene_descriptor(scene: SceneInput) -> bytes:
    """The finished (hashed) scene descriptor; see the module docstring."""
    paths = node_paths(scene.nodes)
    strings, offsets = _string_table([n.name for n in scene.nodes])
    records = []
    for i, (node, path) in enumerate(zip(scene.nodes, paths)):
        t, r, s = decompose(node.matrix)
        records.append(NodeRecord(node_id=AssetKey.from_virtual_path(f"{scene.virtual_path}/{path}"),
                                  scene_name_offset=offsets[i], parent_index=node.parent if node.parent >= 0 else i,
                                  node_flags=int(NodeFlags.VISIBLE), translation=t, rotation=r, scale=s))
    desc = SceneAssetDesc(header=asset_header(AssetType.SCENE, scene.name, SCENE_VERSION),
                          nodes=dict(offset=0, count=0, entry_size=0), scene_strings=dict(offset=0, size=0),
                          component_table_directory_offset=0, component_table_count=0)
    return finalize_descriptor(SceneDescriptor(desc, tuple(records), strings, _components(scene)).build())
