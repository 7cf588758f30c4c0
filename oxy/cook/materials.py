"""Material mapping: parsed material properties -> ``MaterialAssetDesc`` v1 fields.

Input is a :class:`MaterialSource`: the material's properties keyed the way assimp
stores them, ``(key, texture_type, texture_index)`` (``("$clr.base", 0, 0)``,
``("$tex.file", 12, 0)``), with plain Python values (float/int tuples, str, bytes).

* **glTF metallic-roughness** (``$mat.gltf.alphaMode`` or shading model PBR): base colour
  ``$clr.base`` + BASE_COLOR map, ``$mat.metallicFactor`` / ``$mat.roughnessFactor``, the
  metallic-roughness map (reported as METALNESS + DIFFUSE_ROUGHNESS) in both slots with
  the ``GltfOrmPacked`` flag (occlusion in R, roughness G, metal B); occlusion (LIGHTMAP
  or AMBIENT_OCCLUSION) in its own slot, or the same texture when packed.
* **Legacy FBX/OBJ** (Phong/Blinn/Lambert): base colour from ``$clr.diffuse`` (alpha from
  ``$mat.opacity``) + DIFFUSE map, metalness 0, roughness from ``$mat.roughnessFactor``
  when the importer derived one, else from the Phong exponent (sqrt(2 / (n + 2))).
* Both: NORMALS / NORMAL_CAMERA map with ``$tex.scale`` or ``$mat.bumpscaling``, EMISSIVE
  map and ``$clr.emissive`` (times ``$mat.emissiveIntensity``), alpha mode -> domain
  Opaque / Masked (+AlphaTest, cut-off) / AlphaBlended, ``$mat.twosided`` -> DoubleSided,
  unlit shading -> Unlit, ``$tex.uvtrafo`` of the base-colour map -> uv scale/offset/rotation.

Pure functions: safe from any thread. Failure modes: unknown or malformed property
values are ignored (defaults apply); nothing raises for bad input.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Mapping, Union

from oxy.cook.descriptors import build_material
from oxy.formats.enums import MaterialDomain, MaterialFlags

PropValue = Union[tuple, str, bytes, float, int]
PropKey = tuple[str, int, int]

# aiTextureType
TT_NONE, TT_DIFFUSE, TT_EMISSIVE, TT_NORMALS, TT_OPACITY, TT_LIGHTMAP = 0, 1, 4, 6, 8, 10
TT_BASE_COLOR, TT_NORMAL_CAMERA, TT_EMISSION_COLOR = 12, 13, 14
TT_METALNESS, TT_ROUGHNESS, TT_AMBIENT_OCCLUSION = 15, 16, 17
SHADING_NO_SHADING, SHADING_PBR = 9, 11

PRESET_FOR_SLOT = {"base_color": "albedo", "emissive": "albedo", "normal": "normal",
                   "metallic": "data", "roughness": "data", "ambient_occlusion": "data"}


@dataclass(frozen=True)
class MaterialSource:
    """One parsed material: its file name (may be empty) and its raw properties."""

    name: str
    properties: Mapping[PropKey, PropValue]

    def get(self, key: str, ttype: int = 0, index: int = 0) -> PropValue | None:
        return self.properties.get((key, ttype, index))

    def texture_path(self, ttype: int) -> str | None:
        """The path of the first map of ``ttype`` ("" when the file gives an empty one)."""
        value = self.get("$tex.file", ttype)
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class TextureRef:
    """A texture a material slot wants: the path as written in the file, and the preset."""

    path: str
    preset: str


@dataclass
class MaterialSpec:
    """The mapped material, waiting for texture indices (see :func:`build_material_bytes`)."""

    name: str
    domain: MaterialDomain = MaterialDomain.OPAQUE
    flags: int = 0
    factors: dict[str, object] = field(default_factory=dict)
    slots: dict[str, TextureRef] = field(default_factory=dict)


def floats(value: PropValue | None, count: int) -> tuple[float, ...] | None:
    """``count`` finite floats from a property value, or None."""
    if isinstance(value, (int, float)):
        value = (value,)
    if isinstance(value, bytes) and len(value) >= 4 * count:
        value = struct.unpack_from(f"<{count}f", value)
    if not isinstance(value, tuple) or len(value) < count:
        return None
    out = tuple(float(v) for v in value[:count])
    return out if all(math.isfinite(v) for v in out) else None


def integer(value: PropValue | None) -> int | None:
    if isinstance(value, bytes) and value:
        return int.from_bytes(value[:4], "little", signed=True)
    if isinstance(value, tuple) and value:
        value = value[0]
    if isinstance(value, (int, float)) and math.isfinite(value):
        return int(value)
    return None


def is_gltf(src: MaterialSource) -> bool:
    return (src.get("$mat.gltf.alphaMode") is not None or integer(src.get("$mat.shadingm")) == SHADING_PBR
            or src.get("$clr.base") is not None)


def _clamp01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def _base_color(src: MaterialSource, gltf: bool) -> tuple[float, float, float, float]:
    color = floats(src.get("$clr.base"), 4) if gltf else None
    if color is None:
        rgb = floats(src.get("$clr.diffuse"), 3) or (1.0, 1.0, 1.0)
        opacity = floats(src.get("$mat.opacity"), 1)
        rgba = floats(src.get("$clr.diffuse"), 4)
        alpha = opacity[0] if opacity is not None else (rgba[3] if rgba else 1.0)
        color = (*rgb, alpha)
    return tuple(_clamp01(c) for c in color)  # type: ignore[return-value]


def _roughness(src: MaterialSource, gltf: bool) -> float:
    explicit = floats(src.get("$mat.roughnessFactor"), 1)
    if explicit is not None:
        return _clamp01(explicit[0])
    shininess = floats(src.get("$mat.shininess"), 1)
    if gltf or shininess is None or shininess[0] <= 0.0:
        return 1.0
    return _clamp01(math.sqrt(2.0 / (shininess[0] + 2.0)))


def _alpha(src: MaterialSource, spec: MaterialSpec, alpha: float) -> None:
    mode = src.get("$mat.gltf.alphaMode")
    cutoff = floats(src.get("$mat.gltf.alphaCutoff"), 1)
    if mode == "MASK":
        spec.domain = MaterialDomain.MASKED
        spec.flags |= MaterialFlags.ALPHA_TEST
        spec.factors["alpha_cutoff"] = _clamp01(cutoff[0]) if cutoff else 0.5
    elif mode == "BLEND" or (mode is None and (alpha < 1.0 or src.texture_path(TT_OPACITY))):
        spec.domain = MaterialDomain.ALPHA_BLENDED


def _uv_transform(src: MaterialSource, ttype: int, spec: MaterialSpec) -> None:
    """aiUVTransform: translation (2), scaling (2), rotation (1)."""
    trafo = floats(src.get("$tex.uvtrafo", ttype), 5)
    if trafo is None:
        return
    tx, ty, sx, sy, rot = trafo
    if (tx, ty, sx, sy, rot) != (0.0, 0.0, 1.0, 1.0, 0.0):
        spec.factors.update(uv_offset=(tx, ty), uv_scale=(sx, sy), uv_rotation_radians=rot)


def _first_path(src: MaterialSource, *ttypes: int) -> tuple[int, str] | None:
    for ttype in ttypes:
        path = src.texture_path(ttype)
        if path is not None:
            return ttype, path
    return None


def _map_textures(src: MaterialSource, spec: MaterialSpec, gltf: bool) -> None:
    base = _first_path(src, TT_BASE_COLOR, TT_DIFFUSE) if gltf else _first_path(src, TT_DIFFUSE, TT_BASE_COLOR)
    if base is not None:
        spec.slots["base_color"] = TextureRef(base[1], "albedo")
        _uv_transform(src, base[0], spec)
        uv_set = integer(src.get("$tex.uvwsrc", base[0]))
        if uv_set:
            spec.factors["uv_set"] = max(0, min(uv_set, 255))
    normal = _first_path(src, TT_NORMALS, TT_NORMAL_CAMERA)
    if normal is not None:
        spec.slots["normal"] = TextureRef(normal[1], "normal")
        scale = floats(src.get("$tex.scale", normal[0]), 1) or floats(src.get("$mat.bumpscaling"), 1)
        if scale is not None:
            spec.factors["normal_scale"] = scale[0]
    emissive = _first_path(src, TT_EMISSION_COLOR, TT_EMISSIVE)
    if emissive is not None:
        spec.slots["emissive"] = TextureRef(emissive[1], "albedo")
    metal, rough = src.texture_path(TT_METALNESS), src.texture_path(TT_ROUGHNESS)
    occlusion = _first_path(src, TT_AMBIENT_OCCLUSION, TT_LIGHTMAP) if gltf else _first_path(src, TT_AMBIENT_OCCLUSION)
    if gltf and (metal is not None or rough is not None):
        packed = TextureRef(metal if metal is not None else rough or "", "data")
        spec.slots["metallic"] = spec.slots["roughness"] = packed
        spec.flags |= MaterialFlags.GLTF_ORM_PACKED
    else:
        if metal is not None:
            spec.slots["metallic"] = TextureRef(metal, "data")
        if rough is not None:
            spec.slots["roughness"] = TextureRef(rough, "data")
    if occlusion is not None:
        spec.slots["ambient_occlusion"] = TextureRef(occlusion[1], "data")
        strength = floats(src.get("$tex.strength", occlusion[0]), 1)
        if strength is not None:
            spec.factors["ambient_occlusion"] = _clamp01(strength[0])


def map_material(src: MaterialSource, name: str) -> MaterialSpec:
    """Map one parsed material (see the module docstring); ``name`` is the asset name."""
    gltf = is_gltf(src)
    spec = MaterialSpec(name)
    color = _base_color(src, gltf)
    metal = floats(src.get("$mat.metallicFactor"), 1) if gltf else None
    spec.factors.update(base_color=color, metalness=_clamp01(metal[0]) if metal else 0.0,
                        roughness=_roughness(src, gltf))
    emissive = floats(src.get("$clr.emissive"), 3)
    if emissive is not None:
        strength = floats(src.get("$mat.emissiveIntensity"), 1)
        k = strength[0] if strength else 1.0
        spec.factors["emissive_factor"] = tuple(max(0.0, min(c * k, 65504.0)) for c in emissive)
    _alpha(src, spec, color[3])
    if integer(src.get("$mat.twosided")):
        spec.flags |= MaterialFlags.DOUBLE_SIDED
    if integer(src.get("$mat.shadingm")) == SHADING_NO_SHADING:
        spec.flags |= MaterialFlags.UNLIT
    _map_textures(src, spec, gltf)
    return spec


def build_material_bytes(spec: MaterialSpec, indices: Mapping[str, int]) -> bytes:
    """The finished descriptor: ``indices`` maps each slot to its texture index (a slot
    that is missing or 0 uses the fallback). NoTextureSampling is set when none is > 0."""
    textures = {slot: int(indices.get(slot, 0)) for slot in spec.slots}
    return build_material(spec.name, domain=spec.domain, flags=spec.flags, textures=textures, **spec.factors)
