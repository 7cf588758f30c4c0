"""ScenePlan: everything decided about a parsed scene before any work is done.

Shared by the async importer and the sync path so both produce the same
descriptors: asset names (``<prefix>_<name>``, made safe and unique with ``_1``,
``_2`` suffixes in file order), asset keys (from the virtual paths, known before
anything is emitted), the texture jobs (one per resolved image and preset, de-duplicated),
the materials in use and the textures each slot waits for, the geometry groups
(the meshes one node references become one geometry, one submesh per material),
and the scene. Building the descriptors needs the texture indices and buffer
indices that only emission gives; the ``*_bytes`` methods take them.

Thread rules: no gevent, no I/O except the resolver's file-system lookups while
the plan is made; use a plan from one thread. Failure modes: problems become
:attr:`ScenePlan.diagnostics` (an ``error`` one means the import must fail).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Mapping

from oxy.cook import bc7
from oxy.cook.materials import PRESET_FOR_SLOT, MaterialSource, MaterialSpec, build_material_bytes, map_material
from oxy.cook.descriptors import build_standard_geometry
from oxy.cook.scene_build import SceneInput, build_scene_descriptor
from oxy.cook.vertices import MeshData, PackedGeometry
from oxy.formats.enums import AssetType
from oxy.formats.geometry import MeshViewDesc
from oxy.formats.primitives import VIRTUAL_MOUNT_ROOT, AssetKey
from oxy.importing.emitters import ASSET_FOLDERS, safe_asset_name
from oxy.importing.scene.backend import ParsedScene, SceneBackend
from oxy.importing.scene.backend_assimp import DROPPED_FACES
from oxy.importing.scene.resolver import ResolvedTexture, TextureResolver
from oxy.importing.types import SOURCE_KEY_OPTION, ImportDiagnostic, ImportRequest, OptionSpec, Severity, check_options

KeyFor = Callable[[int, str], AssetKey]

#: Every option the scene importer reads (async and sync), with its type.
SCENE_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("name_prefix", (str,), "asset name prefix (default: the file's stem)"),
    OptionSpec("scene_name", (str,), "scene asset name (default: the file's stem)"),
    OptionSpec("quality", (str,), "BC7 effort of the scene's textures", choices=bc7.QUALITIES),
    OptionSpec("backend", (SceneBackend,), "the parser (default: assimp)"),
    OptionSpec("preset", (str,), "texture preset of the colour roles (base colour, emissive); "
               "normal and data maps keep theirs", choices=("albedo", "ui", "data")),
    OptionSpec("roles", (dict,), "texture preset per material role, e.g. {'normal': 'normal', 'base_color': 'ui'}",
               check=lambda roles: _roles_problem(roles)),
    OptionSpec("force", (bool,), "cook even when the build records say the model is up to date"),
    OptionSpec("models", (), "more models for the same job (one commit): {'path', 'name_prefix', 'scene_name'}",
               items=(dict,), check=lambda models: _models_problem(models)),
    SOURCE_KEY_OPTION,
)
#: Material texture roles and their default presets (colour sRGB, normals, linear data).
ROLE_PRESETS = dict(PRESET_FOR_SLOT)
COLOUR_ROLES = ("base_color", "emissive")
#: The options an ``oxy.toml`` (sidecar or folder rule) may set for a model.
SCENE_SETTINGS_FILE_KEYS = frozenset({"quality", "preset", "roles"})


def _models_problem(models: list) -> str | None:
    for n, model in enumerate(models):
        if not isinstance(model.get("path"), (str, os.PathLike)):
            return f"item {n} needs a 'path' (a model file)"
        unknown = set(model) - {"path", "name_prefix", "scene_name"}
        if unknown:
            return f"item {n}: unknown key(s) {', '.join(sorted(map(str, unknown)))} (path, name_prefix, scene_name)"
        if any(not isinstance(model.get(k, ""), str) for k in ("name_prefix", "scene_name")):
            return f"item {n}: name_prefix and scene_name must be strings"
    return None


def _roles_problem(roles: dict) -> str | None:
    from oxy.cook.texture import PRESETS
    for role, preset in roles.items():
        if role not in ROLE_PRESETS:
            return f"unknown role {role!r} (roles: {', '.join(ROLE_PRESETS)})"
        if preset not in PRESETS:
            return f"role {role!r}: unknown preset {preset!r} (presets: {', '.join(PRESETS)})"
    return None


def role_presets(options: Mapping[str, object]) -> dict[str, str]:
    """Each role's preset: the defaults, then ``preset`` for the colour roles, then ``roles``."""
    presets = dict(ROLE_PRESETS)
    preset = options.get("preset")
    if isinstance(preset, str):
        presets.update({role: preset for role in COLOUR_ROLES})
    roles = options.get("roles")
    if isinstance(roles, Mapping):
        presets.update({str(k): str(v) for k, v in roles.items()})
    return presets


def option_problems(request: ImportRequest) -> list[ImportDiagnostic]:
    """The request's option errors against :data:`SCENE_OPTIONS` (empty when sound)."""
    return check_options(request.options, SCENE_OPTIONS, importer="scene", source_path=request.source_path)


@dataclass(frozen=True)
class PlanDiagnostic:
    severity: Severity
    code: str
    message: str
    field_path: str = ""


@dataclass(frozen=True)
class TextureJob:
    source_id: str       # "<display>[<preset>]": unique per image and preset
    display: str         # the file relative to the model, or "<model>#N" for embedded
    path: str | None
    data: bytes | None
    preset: str


@dataclass
class MaterialPlan:
    material_index: int
    asset_name: str
    key: AssetKey
    spec: MaterialSpec
    slot_sources: dict[str, str] = field(default_factory=dict)  # slot -> TextureJob.source_id


@dataclass
class GeometryPlan:
    asset_name: str
    key: AssetKey
    mesh_indices: tuple[int, ...]


class _Names:
    """Safe, unique asset names per asset type, prefixed with the model's name."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._used: dict[int, set[str]] = {}

    def take(self, asset_type: int, raw: str) -> str:
        used = self._used.setdefault(asset_type, set())
        base = safe_asset_name(f"{self.prefix}_{raw}" if self.prefix else raw)
        name, n = base, 0
        while name.lower() in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name.lower())
        return name


class ScenePlan:
    """See the module docstring. Build with :func:`make_plan`."""

    def __init__(self, parsed: ParsedScene, key_for: KeyFor, prefix: str, scene_name: str,
                 quality: str = "normal", presets: Mapping[str, str] | None = None) -> None:
        self.parsed = parsed
        self.quality = quality
        self.presets = dict(presets or ROLE_PRESETS)
        self.key_for = key_for
        self.names = _Names(prefix)
        self.scene_name = safe_asset_name(scene_name)
        self.scene_key = key_for(AssetType.SCENE, self.scene_name)
        folder, suffix = ASSET_FOLDERS[AssetType.SCENE]
        self.scene_vpath = f"{VIRTUAL_MOUNT_ROOT}/{folder}/{self.scene_name}{suffix}"
        self.textures: list[TextureJob] = []
        self.materials: list[MaterialPlan] = []
        self.geometries: list[GeometryPlan] = []
        self.diagnostics: list[PlanDiagnostic] = []
        self.node_geometry: dict[int, GeometryPlan] = {}
        self._material_by_index: dict[int, MaterialPlan] = {}

    @property
    def failed(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    def note(self, severity: Severity, code: str, message: str, field_path: str = "") -> None:
        self.diagnostics.append(PlanDiagnostic(severity, code, message, field_path))

    def vpath_of(self, asset_type: int, name: str) -> str:
        folder, suffix = ASSET_FOLDERS[AssetType(asset_type)]
        return f"{VIRTUAL_MOUNT_ROOT}/{folder}/{name}{suffix}"

    def material_key(self, material_index: int) -> AssetKey:
        return self._material_by_index[material_index].key

    def meshes_for(self, geometry: GeometryPlan) -> list[MeshData]:
        return [self.parsed.meshes[i] for i in geometry.mesh_indices]

    def texture_needs(self) -> dict[int, set[str]]:
        """Material index -> the texture source ids it waits for (for the tracker)."""
        return {m.material_index: set(m.slot_sources.values()) for m in self.materials}

    # -- descriptors ---------------------------------------------------------------------
    def material_bytes(self, material: MaterialPlan, index_of: Callable[[str], int]) -> bytes:
        indices = {slot: index_of(source) for slot, source in material.slot_sources.items()}
        return build_material_bytes(material.spec, indices)

    def geometry_bytes(self, geometry: GeometryPlan, packed: PackedGeometry, vertex_buffer: int,
                       index_buffer: int) -> bytes:
        submeshes, boxes = [], []
        for sub in packed.submeshes:
            material = self._material_by_index[sub.material_index]
            view = MeshViewDesc(first_index=sub.first_index, index_count=sub.index_count,
                                first_vertex=0, vertex_count=packed.vertex_count)
            submeshes.append((material.spec.name, material.key, view))
            boxes.append((sub.bbox_min, sub.bbox_max))
        return build_standard_geometry(geometry.asset_name, vertex_buffer=vertex_buffer, index_buffer=index_buffer,
                                       submeshes=submeshes, bbox_min=packed.bbox_min, bbox_max=packed.bbox_max,
                                       submesh_boxes=boxes)

    def scene_bytes(self, emitted_geometries: set[AssetKey]) -> bytes:
        """The scene; renderables only for geometries that were emitted."""
        nodes = self.parsed.nodes
        first_node: dict[str, int] = {}
        for i, node in enumerate(nodes):
            first_node.setdefault(node.name, i)
        renderables = {i: g.key for i, g in self.node_geometry.items() if g.key in emitted_geometries}
        cameras = {first_node[c.name]: c for c in self.parsed.cameras if c.name in first_node}
        lights = {first_node[light.name]: light for light in self.parsed.lights if light.name in first_node}
        return build_scene_descriptor(SceneInput(self.scene_name, self.scene_vpath, nodes, renderables,
                                                 cameras, lights))


def make_plan(parsed: ParsedScene, key_for: KeyFor, options: Mapping[str, object] | None = None) -> ScenePlan:
    """Plan the import of ``parsed``. Options (see :data:`SCENE_OPTIONS`; checked by
    the caller): ``name_prefix`` and ``scene_name`` (default: the model's file stem),
    ``quality`` (BC7 effort of its textures)."""
    options = {k: v for k, v in (options or {}).items() if v is not None}
    stem = parsed.stem
    plan = ScenePlan(parsed, key_for, str(options.get("name_prefix", stem)), str(options.get("scene_name", stem)),
                     str(options.get("quality", "normal")), role_presets(options))
    for code, message, where in parsed.warnings:
        if DROPPED_FACES in message:
            plan.note(Severity.ERROR, "scene.mesh_index_range", f"assimp: {message}", where)
        else:
            plan.note(Severity.WARNING, code, message, where)
    usable = _usable_meshes(plan)
    if not usable:
        plan.note(Severity.ERROR, "scene.empty", "the scene has no triangle meshes")
        return plan
    _plan_geometries(plan, usable)
    _plan_materials(plan, usable)
    return plan


def _usable_meshes(plan: ScenePlan) -> list[int]:
    usable = []
    for i, mesh in enumerate(plan.parsed.meshes):
        if len(mesh.positions) == 0 or mesh.indices.size == 0:
            plan.note(Severity.WARNING, "scene.mesh_empty",
                      f"mesh {mesh.name!r} has no triangles; skipped", mesh.field_path)
            continue
        usable.append(i)
    return usable


def _plan_geometries(plan: ScenePlan, usable: list[int]) -> None:
    allowed = set(usable)
    groups: dict[tuple[int, ...], GeometryPlan] = {}
    referenced: set[int] = set()
    for n, node in enumerate(plan.parsed.nodes):
        group = tuple(i for i in node.meshes if i in allowed)
        if not group:
            continue
        referenced.update(group)
        if group not in groups:
            meshes = plan.parsed.meshes
            raw = meshes[group[0]].name if len(group) == 1 else (node.name or meshes[group[0]].name)
            name = plan.names.take(AssetType.GEOMETRY, raw)
            groups[group] = GeometryPlan(name, plan.key_for(AssetType.GEOMETRY, name), group)
        plan.node_geometry[n] = groups[group]
    for i in usable:  # meshes no node references still become geometries (no renderable)
        if i not in referenced:
            name = plan.names.take(AssetType.GEOMETRY, plan.parsed.meshes[i].name)
            groups[(i,)] = GeometryPlan(name, plan.key_for(AssetType.GEOMETRY, name), (i,))
    plan.geometries = list(groups.values())


def _plan_materials(plan: ScenePlan, usable: list[int]) -> None:
    parsed = plan.parsed
    resolver = TextureResolver(parsed.source_path, parsed.embedded)
    jobs: dict[str, TextureJob] = {}
    for index in sorted({parsed.meshes[i].material_index for i in usable}):
        if 0 <= index < len(parsed.materials):
            source = parsed.materials[index]
        else:
            plan.note(Severity.WARNING, "scene.material_missing",
                      f"meshes use material {index}, the file has {len(parsed.materials)}; using defaults")
            source = MaterialSource("", {})
        name = plan.names.take(AssetType.MATERIAL, source.name or f"material{index}")
        material = MaterialPlan(index, name, plan.key_for(AssetType.MATERIAL, name), map_material(source, name))
        for slot, ref in material.spec.slots.items():
            job = _texture_job(plan, resolver, ref.path, plan.presets.get(slot, ref.preset), source.name,
                               f"materials[{index}].{slot}")
            if job is not None:
                jobs.setdefault(job.source_id, job)
                material.slot_sources[slot] = job.source_id
        plan.materials.append(material)
        plan._material_by_index[index] = material  # noqa: SLF001 - the plan's own builder
    plan.textures = list(jobs.values())


def _texture_job(plan: ScenePlan, resolver: TextureResolver, raw: str, preset: str, material_name: str,
                 where: str) -> TextureJob | None:
    resolved, reason = resolver.resolve(raw, material_name)
    if resolved is None:
        plan.note(Severity.WARNING, "scene.texture_missing", f"{reason}; using texture index 0", where)
        return None
    if resolved.note:
        plan.note(Severity.WARNING if not raw.strip() else Severity.INFO, "scene.texture_path_fallback",
                  resolved.note, where)
    display = _display(plan, resolved)
    return TextureJob(f"{display}[{preset}]", display, resolved.path,
                      resolved.embedded.data if resolved.embedded else None, preset)


def _display(plan: ScenePlan, resolved: ResolvedTexture) -> str:
    model = os.path.basename(plan.parsed.source_path)
    if resolved.embedded is not None:
        return f"{model}#{resolved.embedded.index}"
    return os.path.relpath(resolved.path or "", os.path.dirname(os.path.abspath(plan.parsed.source_path)))
