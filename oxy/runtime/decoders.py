"""Decoders: pure functions from cooked bytes to runtime objects (run on the CPU pool).

A decoder never calls the loader and never blocks on anything but computation.
Asset decoders return a :class:`Decoded`: the keys of the dependencies they found
(textures, buffers, materials, geometries) and a ``finish`` function that the
loader calls on its owning hub with the loaded dependencies to build the final
immutable object. Resource decoders return the finished object directly.

**One rule book.** Decoders run the validator's own checks
(:func:`oxy.validate.descriptors.check_descriptor`, the texture and buffer checks
of :mod:`oxy.validate.resources`) on the bytes they decode: an *error* of
:mod:`oxy.validate.rules` fails the load with a :class:`~oxy.errors.FormatError`
naming the file, the absolute byte offset, the field and the code; *warnings*
(what the engine tolerates) are attached to the object (``.warnings``). Dangling
references are tolerated as the engine does: a texture or buffer index past its
table is not loaded (the slot keeps the fallback, the mesh buffer is ``None``);
the loader substitutes missing submesh materials (default material) and skips
missing scene geometries (``Decoded.tolerated``). ``strict`` makes every warning
an error. Safe from any thread.
"""
from __future__ import annotations

import dataclasses
import operator
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, cast

import numpy as np

from oxy.errors import FormatError
from oxy.formats import AssetKey, AssetType, BufferResourceDesc, MeshType, TextureResourceDesc, mesh_info
from oxy.formats.geometry import GeometryDescriptor
from oxy.formats.material import TEXTURE_SLOTS, MaterialAssetDesc, MaterialDescriptor
from oxy.formats.resources import (BUFFER_DESC_DTYPE, SUBRESOURCE_LAYOUT_SIZE, TEXTURE_DESC_DTYPE,
                                   TEXTURE_PAYLOAD_HEADER_SIZE, SubresourceLayout, TexturePayloadHeader)
from oxy.formats.scene import SceneDescriptor
from oxy.runtime.keys import ResourceKey, ResourceKind, SourceId
from oxy.runtime.types import (BufferResource, GeometryAsset, MaterialAsset, MeshAsset, SceneAsset, SlotMap,
                               SceneNode, SubMeshAsset, TextureResource)
from oxy.validate.descriptors import (ResourceCounts, check_descriptor, scene_geometry_keys,
                                      submesh_material_keys)
from oxy.validate.diagnostics import Diagnostic, ValidationReport
from oxy.validate.reader import BytesReader
from oxy.validate.resources import check_buffer, check_texture_entry, check_texture_payload

Key = AssetKey | ResourceKey
Warnings = tuple[Diagnostic, ...]


@dataclass(frozen=True)
class Where:
    """Where a blob came from, for error messages: file and the blob's offset in it."""

    path: str
    offset: int = 0

    def error(self, message: str, at: int, field: str) -> FormatError:
        return FormatError(message, self.path, self.offset + at, field)


@dataclass(frozen=True)
class Tolerated:
    """A dependency the engine does without: if it is missing or of another asset type,
    the loader records ``code`` at ``file``/``offset``/``field`` as a warning and
    ``finish`` gets no value for it."""

    code: str
    consequence: str
    file: str
    offset: int | None
    field: str


@dataclass(frozen=True)
class Decoded:
    """An asset decoded up to its dependencies. ``finish(loaded, extra_warnings)``
    builds the object from the dependencies that loaded."""

    asset_type: int
    deps: tuple[Key, ...]
    finish: Callable[[Mapping[Key, Any], Warnings], Any]
    size: int
    warnings: Warnings = ()
    tolerated: Mapping[Key, Tolerated] = field(default_factory=dict)


def decode_asset(asset_type: int, key: AssetKey, blob: bytes, *, source: SourceId,
                 tables: tuple[np.ndarray, np.ndarray], where: Where, verify: bool,
                 strict: bool = False) -> Decoded:
    """Decode one asset descriptor. ``tables`` are the source's (texture, buffer)
    tables. Raises FormatError for every error of the rule book (with ``strict``,
    for warnings too)."""
    report = ValidationReport(where.path, "asset", strict=strict)
    parsed = check_descriptor(report, asset_type, blob, file=where.path, base=where.offset, field="descriptor",
                              resources=ResourceCounts(*tables), verify_hashes=verify)
    report.raise_errors()
    warnings = tuple(report.warnings)
    if isinstance(parsed, MaterialDescriptor):
        return _material(key, parsed, len(blob), source, len(tables[0]), warnings)
    if isinstance(parsed, GeometryDescriptor):
        return _geometry(key, parsed, len(blob), source, len(tables[1]), where, warnings)
    assert isinstance(parsed, SceneDescriptor)  # check_descriptor reported anything else
    return _scene(key, parsed, len(blob), where, warnings)


def _material(key: AssetKey, parsed: MaterialDescriptor, size: int, source: SourceId, texture_count: int,
              warnings: Warnings) -> Decoded:
    desc = parsed.desc
    slots: list[tuple[str, ResourceKey]] = []
    for slot, index in zip(TEXTURE_SLOTS, _TEXTURE_INDICES(desc)):
        if index and index < texture_count:  # 0 = the fallback; past the table: warned, skipped
            slots.append(_shared((slot, source.key(ResourceKind.TEXTURE, index))))
    factors = tuple(map(_shared, zip(_FACTOR_NAMES, _FACTOR_VALUES(desc))))
    h = desc.header
    # Everything but the loaded textures is bound here, on the CPU pool: ``finish``
    # runs on the loader's owning hub and only adds the textures and the warnings.
    fields = {"key": key, "name": h.name, "version": h.version, "streaming_priority": h.streaming_priority,
              "variant_flags": h.variant_flags, "factors": factors,
              "shaders": _shared(("shaders", parsed.shaders))[1],
              "texture_keys": _shared(("texture_keys", SlotMap(slots)))[1], "desc": desc}

    def finish(deps: Mapping[Key, Any], extra: Warnings) -> MaterialAsset:
        return MaterialAsset(textures=SlotMap((slot, deps[k]) for slot, k in slots if k in deps),
                             warnings=warnings + extra, **fields)

    return Decoded(AssetType.MATERIAL, tuple(k for _s, k in slots), finish, size, warnings)


# Immutable (name, value) pairs shared between the objects decoded: most materials
# repeat the same factors (roughness 1.0, an emissive of (0, 0, 0)...), texture slots,
# shader references and texture-key maps (values equal by content, never by identity:
# no loaded object is shared this way),
# so 1,200 materials hold a few hundred pair objects instead of ~30,000. Fewer objects
# kept alive = fewer allocations counted by the garbage collector = fewer (and shorter)
# collections while a burst of loads runs. Bounded: the table starts afresh when full.
# Safe from any thread (dict get/setdefault under the GIL; a lost race only means one
# duplicate pair).
_SHARED_MAX = 8192
_shared_pairs: dict[tuple[str, Any], tuple[str, Any]] = {}


def _shared(pair: tuple[str, Any]) -> tuple[str, Any]:
    """``pair`` or an identical one decoded before (same types, floats bit for bit:
    0.0 == -0.0 and 1 == 1.0 == True are *not* shared)."""
    try:
        found = _shared_pairs.get(pair)
    except TypeError:   # an unhashable value: kept as it is
        return pair
    if found is not None:
        return found if _identical(found[1], pair[1]) else pair
    if len(_shared_pairs) >= _SHARED_MAX:
        _shared_pairs.clear()
    found = _shared_pairs.setdefault(pair, pair)
    return found if _identical(found[1], pair[1]) else pair


def _identical(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return bool(_DOUBLE.pack(a) == _DOUBLE.pack(b))
    if type(a) is tuple:
        return len(a) == len(b) and all(map(_identical, a, b))
    return bool(a == b)


_DOUBLE = struct.Struct("<d")


# The material's plain factors (every field but the header and the texture indices), in
# declaration order, and two C-level getters: one call each instead of a getattr loop.
_FACTOR_NAMES: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(cast(Any, MaterialAssetDesc))
    if f.name not in {"header"} | {f"{s}_texture" for s in TEXTURE_SLOTS})
_FACTOR_VALUES = operator.attrgetter(*_FACTOR_NAMES)
_TEXTURE_INDICES = operator.attrgetter(*(f"{s}_texture" for s in TEXTURE_SLOTS))


def _geometry(key: AssetKey, parsed: GeometryDescriptor, size: int, source: SourceId, buffer_count: int,
              where: Where, warnings: Warnings) -> Decoded:
    deps: list[Key] = []
    plans = []
    for mesh in parsed.meshes:
        info = mesh_info(mesh.desc)
        buffers: list[tuple[str, ResourceKey]] = []
        if mesh.desc.mesh_type in (MeshType.STANDARD, MeshType.SKINNED):
            for name in ("vertex_buffer", "index_buffer"):
                index = getattr(info, name)
                if index < buffer_count:  # past the table: warned (geometry.buffer_index), None
                    buffers.append((name, source.key(ResourceKind.BUFFER, index)))
        deps += [k for _n, k in buffers]
        plans.append((mesh, info, tuple(buffers)))
    tolerated: dict[Key, Tolerated] = {}
    for at, fld, material in submesh_material_keys(parsed, where.offset):
        deps.append(material)
        tolerated.setdefault(material, Tolerated("geometry.material_key", "the submesh gets the default "
                                                 "material", where.path, at, f"descriptor.{fld}"))
    d = parsed.desc
    material_keys = [k for k in dict.fromkeys(deps) if isinstance(k, AssetKey)]

    def finish(loaded: Mapping[Key, Any], extra: Warnings) -> GeometryAsset:
        meshes = tuple(_mesh_asset(mesh, info, buffers, loaded) for mesh, info, buffers in plans)
        materials = {k: loaded[k] if k in loaded else MaterialAsset.default() for k in material_keys}
        return GeometryAsset(key=key, name=d.header.name, version=d.header.version,
                             variant_flags=d.header.variant_flags, bbox_min=d.bounding_box_min,
                             bbox_max=d.bounding_box_max, meshes=meshes,
                             materials=tuple(sorted(materials.items(), key=lambda kv: kv[0].raw)),
                             warnings=warnings + extra)

    return Decoded(AssetType.GEOMETRY, tuple(dict.fromkeys(deps)), finish, size, warnings, tolerated)


def _mesh_asset(mesh: Any, info: Any, buffers: tuple[tuple[str, ResourceKey], ...],
                loaded: Mapping[Key, Any]) -> MeshAsset:
    by_name = {name: loaded[k] for name, k in buffers if k in loaded}
    subs = tuple(SubMeshAsset(name=s.desc.name, material_key=s.desc.material_asset_key,
                              bbox_min=s.desc.bbox_min, bbox_max=s.desc.bbox_max, views=s.views)
                 for s in mesh.submeshes)
    return MeshAsset(name=mesh.desc.name, mesh_type=mesh.desc.mesh_type,
                     bbox_min=getattr(info, "bbox_min", None), bbox_max=getattr(info, "bbox_max", None),
                     vertex_buffer=by_name.get("vertex_buffer"), index_buffer=by_name.get("index_buffer"),
                     submeshes=subs, procedural_params=mesh.procedural_params, buffer_keys=buffers)


def _scene(key: AssetKey, parsed: SceneDescriptor, size: int, where: Where, warnings: Warnings) -> Decoded:
    nodes = tuple(SceneNode(name=parsed.string_at(n.scene_name_offset), node_id=n.node_id,
                            parent_index=n.parent_index, flags=n.node_flags, translation=n.translation,
                            rotation=n.rotation, scale=n.scale) for n in parsed.nodes)
    deps = tuple(dict.fromkeys(scene_geometry_keys(parsed)))
    tolerated: dict[Key, Tolerated] = {g: Tolerated("scene.geometry_key", "the renderable is skipped", where.path, where.offset,
                              "descriptor.components") for g in deps}
    h = parsed.desc.header

    def finish(loaded: Mapping[Key, Any], extra: Warnings) -> SceneAsset:
        return SceneAsset(key=key, name=h.name, version=h.version, nodes=nodes,
                          components=parsed.components, environment=parsed.environment,
                          geometries=tuple(sorted(((g, loaded[g]) for g in deps if g in loaded),
                                                  key=lambda kv: kv[0].raw)),
                          warnings=warnings + extra)

    return Decoded(AssetType.SCENE, deps, finish, size, warnings, tolerated)


# ------------------------------------------------------------------ resources
def _entry_row(entry_bytes: bytes, dtype: np.dtype, where: Where, what: str) -> np.void:
    if len(entry_bytes) != dtype.itemsize:
        raise where.error(f"{what} entry holds {len(entry_bytes)} bytes, not {dtype.itemsize}", 0, what)
    return np.frombuffer(entry_bytes, dtype, 1)[0]


def decode_texture(key: ResourceKey, entry_bytes: bytes, payload: bytes, *, entry_where: Where,
                   payload_where: Where, verify: bool, strict: bool = False) -> TextureResource:
    """Decode a texture entry and its payload with the rule book's checks (FORMATS.md 4.3)."""
    fld = f"textures[{key.index}]"
    row = _entry_row(entry_bytes, TEXTURE_DESC_DTYPE, entry_where, "texture")
    report = ValidationReport(entry_where.path, "texture", strict=strict)
    if check_texture_entry(report, row, file=entry_where.path, at=entry_where.offset, fld=fld):
        if len(payload) != int(row["size_bytes"]):
            raise payload_where.error(f"payload holds {len(payload)} bytes, size_bytes is {int(row['size_bytes'])}",
                                      0, fld + ".payload")
        check_texture_payload(report, row, BytesReader(payload, payload_where.path), 0, file=payload_where.path,
                              file_offset=payload_where.offset, fld=fld, table_file=entry_where.path,
                              at=entry_where.offset, verify_hashes=verify)
    report.raise_errors()
    e = TextureResourceDesc.parse(entry_bytes, 0, path=entry_where.path, field="texture")
    h = TexturePayloadHeader.parse(payload, 0, path=payload_where.path, field="payload.header")
    layouts = []
    for i in range(h.subresource_count):
        at = h.layouts_offset_bytes + i * SUBRESOURCE_LAYOUT_SIZE
        lay = SubresourceLayout.parse(payload, at, path=payload_where.path, field=f"payload.layouts[{i}]")
        layouts.append((lay.offset_bytes, lay.row_pitch_bytes, lay.size_bytes))
    assert h.data_offset_bytes >= TEXTURE_PAYLOAD_HEADER_SIZE  # checked above
    return TextureResource(key=key, texture_type=e.texture_type, format=e.format, width=e.width,
                           height=e.height, depth=e.depth, array_layers=e.array_layers,
                           mip_levels=e.mip_levels, compression_type=e.compression_type,
                           content_hash=e.content_hash, packing_policy=h.packing_policy,
                           layouts=tuple(layouts), data_offset_bytes=h.data_offset_bytes,
                           payload=bytes(payload), entry=e, warnings=tuple(report.warnings))


def decode_buffer(key: ResourceKey, entry_bytes: bytes, data: bytes, *, entry_where: Where,
                  data_where: Where, verify: bool, strict: bool = False) -> BufferResource:
    """Decode a buffer entry and its bytes (sizes, kind rules, hash when asked)."""
    fld = f"buffers[{key.index}]"
    row = _entry_row(entry_bytes, BUFFER_DESC_DTYPE, entry_where, "buffer")
    if len(data) != int(row["size_bytes"]):
        raise data_where.error(f"buffer holds {len(data)} bytes, size_bytes is {int(row['size_bytes'])}", 0,
                               fld + ".data")
    report = ValidationReport(entry_where.path, "buffer", strict=strict)
    check_buffer(report, row, BytesReader(data, data_where.path), 0, file=data_where.path,
                 file_offset=data_where.offset, table_file=entry_where.path, at=entry_where.offset, fld=fld,
                 verify_hashes=verify)
    report.raise_errors()
    e = BufferResourceDesc.parse(entry_bytes, 0, path=entry_where.path, field="buffer")
    return BufferResource(key=key, usage_flags=e.usage_flags, element_stride=e.element_stride,
                          element_format=e.element_format, content_hash=e.content_hash,
                          data=data if isinstance(data, bytes) else bytes(data), entry=e,
                          warnings=tuple(report.warnings))


def decode_resource(key: ResourceKey, entry: bytes, entry_where: Where, payload: bytes, payload_where: Where,
                    verify: bool, strict: bool = False) -> TextureResource | BufferResource:
    """Decode a texture or buffer (by ``key.kind``); one CPU-pool task."""
    if key.kind is ResourceKind.TEXTURE:
        return decode_texture(key, entry, payload, entry_where=entry_where, payload_where=payload_where,
                              verify=verify, strict=strict)
    return decode_buffer(key, entry, payload, entry_where=entry_where, data_where=payload_where, verify=verify,
                         strict=strict)
