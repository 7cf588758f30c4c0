"""Decoders: pure functions from cooked bytes to runtime objects (run on the CPU pool).

A decoder never calls the loader and never blocks on anything but computation.
Asset decoders return a :class:`Decoded`: the keys of the dependencies they found
(textures, buffers, materials, geometries) and a ``finish`` function that the
loader calls on its owning hub with the loaded dependencies to build the final
immutable object. Resource decoders return the finished object directly.

Every check failure is a :class:`~oxy.errors.FormatError` naming the file, the
absolute byte offset and the field. Safe from any thread.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping, cast

from oxy.errors import FormatError
from oxy.formats import (AssetKey, AssetType, BufferResourceDesc, MeshType, TextureResourceDesc,
                         TextureType, content_hash, format_block_info, mesh_info, parse_geometry,
                         parse_material, parse_scene)
from oxy.formats.geometry import MESH_DESC_SIZE, MESH_VIEW_DESC_SIZE, SUBMESH_DESC_SIZE, GEOMETRY_DESC_SIZE
from oxy.formats.material import HEADER_CONTENT_HASH_OFFSET, TEXTURE_SLOTS
from oxy.formats.resources import (SUBRESOURCE_LAYOUT_SIZE, TEXTURE_DATA_ALIGNMENT,
                                   TEXTURE_PAYLOAD_HEADER_SIZE, TEXTURE_PAYLOAD_MAGIC,
                                   SubresourceLayout, TexturePayloadHeader)
from oxy.runtime.keys import ResourceKey, ResourceKind, SourceId
from oxy.runtime.types import (BufferResource, GeometryAsset, MaterialAsset, MeshAsset, SceneAsset,
                               SceneNode, SubMeshAsset, TextureResource)

Key = AssetKey | ResourceKey
TEXTURE_SLOT_OFFSET = 130  # base_color_texture; each slot is a u32


@dataclass(frozen=True)
class Where:
    """Where a blob came from, for error messages: file and the blob's offset in it."""

    path: str
    offset: int = 0

    def error(self, message: str, at: int, field: str) -> FormatError:
        return FormatError(message, self.path, self.offset + at, field)


@dataclass(frozen=True)
class Decoded:
    """An asset decoded up to its dependencies."""

    asset_type: int
    deps: tuple[Key, ...]
    finish: Callable[[Mapping[Key, Any]], Any]
    size: int


def check_header_hash(blob: bytes, where: Where) -> None:
    """The header content hash must equal the truncated SHA-256 of the blob with
    that field zeroed (FORMATS.md 5). A zero stored hash means "not hashed"."""
    at = HEADER_CONTENT_HASH_OFFSET
    stored = int.from_bytes(blob[at:at + 8], "little")
    if stored and content_hash(blob[:at] + bytes(8) + blob[at + 8:]) != stored:
        raise where.error(f"header content_hash {stored:#018x} does not match the descriptor",
                          at, "header.content_hash")


def decode_asset(asset_type: int, key: AssetKey, blob: bytes, *, source: SourceId,
                 texture_count: int, buffer_count: int, where: Where, verify: bool) -> Decoded:
    """Decode one asset descriptor. Raises FormatError for bad bytes or indices past
    the source's tables."""
    if len(blob) < 1 or blob[0] != asset_type:
        raise where.error(f"descriptor says asset type {blob[0] if blob else None}, the directory "
                          f"says {asset_type}", 0, "header.asset_type")
    if verify:
        check_header_hash(blob, where)
    if asset_type == AssetType.MATERIAL:
        return _material(key, blob, source, texture_count, where)
    if asset_type == AssetType.GEOMETRY:
        return _geometry(key, blob, source, buffer_count, where)
    if asset_type == AssetType.SCENE:
        return _scene(key, blob, where)
    raise where.error(f"unknown asset type {asset_type}", 0, "header.asset_type")


def _material(key: AssetKey, blob: bytes, source: SourceId, texture_count: int, where: Where) -> Decoded:
    parsed = parse_material(blob, path=where.path, base_offset=where.offset)
    desc = parsed.desc
    slots: list[tuple[str, ResourceKey]] = []
    for i, slot in enumerate(TEXTURE_SLOTS):
        index = getattr(desc, f"{slot}_texture")
        if not index:
            continue  # 0 = the engine's fallback texture
        if index >= texture_count:
            raise where.error(f"texture index {index} past the {texture_count}-entry texture table",
                              TEXTURE_SLOT_OFFSET + 4 * i, f"material.{slot}_texture")
        slots.append((slot, ResourceKey(source, ResourceKind.TEXTURE, index)))
    skip = {"header"} | {f"{s}_texture" for s in TEXTURE_SLOTS}
    factors = tuple((f.name, getattr(desc, f.name)) for f in dataclasses.fields(cast(Any, desc))
                    if f.name not in skip)
    h = desc.header

    def finish(deps: Mapping[Key, Any]) -> MaterialAsset:
        return MaterialAsset(key=key, name=h.name, version=h.version,
                             streaming_priority=h.streaming_priority, variant_flags=h.variant_flags,
                             factors=factors, shaders=parsed.shaders,
                             textures=tuple((slot, deps[k]) for slot, k in slots),
                             texture_keys=tuple(slots), desc=desc)

    return Decoded(AssetType.MATERIAL, tuple(k for _s, k in slots), finish, len(blob))


def _buffer_key(index: int, source: SourceId, count: int, where: Where, at: int, field: str) -> ResourceKey:
    if index >= count:
        raise where.error(f"buffer index {index} past the {count}-entry buffer table", at, field)
    return ResourceKey(source, ResourceKind.BUFFER, index)


def _geometry(key: AssetKey, blob: bytes, source: SourceId, buffer_count: int, where: Where) -> Decoded:
    parsed = parse_geometry(blob, path=where.path, base_offset=where.offset)
    deps: list[Key] = []
    plans = []
    pos = GEOMETRY_DESC_SIZE
    for m, mesh in enumerate(parsed.meshes):
        info_at = pos + 73
        pos += MESH_DESC_SIZE + len(mesh.procedural_params)
        pos += sum(SUBMESH_DESC_SIZE + MESH_VIEW_DESC_SIZE * len(s.views) for s in mesh.submeshes)
        info = mesh_info(mesh.desc)
        buffers: list[tuple[str, ResourceKey]] = []
        if mesh.desc.mesh_type in (MeshType.STANDARD, MeshType.SKINNED):
            for name, off in (("vertex_buffer", 0), ("index_buffer", 4)):
                buffers.append((name, _buffer_key(getattr(info, name), source, buffer_count, where,
                                                  info_at + off, f"geometry.meshes[{m}].info.{name}")))
        deps += [k for _n, k in buffers]
        for sub in mesh.submeshes:
            if not sub.desc.material_asset_key.is_zero():
                deps.append(sub.desc.material_asset_key)
        plans.append((mesh, info, tuple(buffers)))
    d = parsed.desc

    def finish(loaded: Mapping[Key, Any]) -> GeometryAsset:
        meshes = tuple(_mesh_asset(mesh, info, buffers, loaded) for mesh, info, buffers in plans)
        materials = {k: loaded[k] for k in deps if isinstance(k, AssetKey)}
        return GeometryAsset(key=key, name=d.header.name, version=d.header.version,
                             variant_flags=d.header.variant_flags, bbox_min=d.bounding_box_min,
                             bbox_max=d.bounding_box_max, meshes=meshes,
                             materials=tuple(sorted(materials.items(), key=lambda kv: kv[0].raw)))

    return Decoded(AssetType.GEOMETRY, tuple(dict.fromkeys(deps)), finish, len(blob))


def _mesh_asset(mesh: Any, info: Any, buffers: tuple[tuple[str, ResourceKey], ...],
                loaded: Mapping[Key, Any]) -> MeshAsset:
    by_name = {name: loaded[k] for name, k in buffers}
    subs = tuple(SubMeshAsset(name=s.desc.name, material_key=s.desc.material_asset_key,
                              bbox_min=s.desc.bbox_min, bbox_max=s.desc.bbox_max, views=s.views)
                 for s in mesh.submeshes)
    return MeshAsset(name=mesh.desc.name, mesh_type=mesh.desc.mesh_type,
                     bbox_min=getattr(info, "bbox_min", None), bbox_max=getattr(info, "bbox_max", None),
                     vertex_buffer=by_name.get("vertex_buffer"), index_buffer=by_name.get("index_buffer"),
                     submeshes=subs, procedural_params=mesh.procedural_params, buffer_keys=buffers)


def _scene(key: AssetKey, blob: bytes, where: Where) -> Decoded:
    parsed = parse_scene(blob, path=where.path, base_offset=where.offset)
    nodes = tuple(SceneNode(name=parsed.string_at(n.scene_name_offset), node_id=n.node_id,
                            parent_index=n.parent_index, flags=n.node_flags, translation=n.translation,
                            rotation=n.rotation, scale=n.scale) for n in parsed.nodes)
    geometry_keys = []
    for table in parsed.components:
        for record in table.records:
            g = getattr(record, "geometry_key", None)
            if g is not None and not g.is_zero():
                geometry_keys.append(g)
    deps = tuple(dict.fromkeys(geometry_keys))
    h = parsed.desc.header

    def finish(loaded: Mapping[Key, Any]) -> SceneAsset:
        return SceneAsset(key=key, name=h.name, version=h.version, nodes=nodes,
                          components=parsed.components, environment=parsed.environment,
                          geometries=tuple(sorted(((g, loaded[g]) for g in deps), key=lambda kv: kv[0].raw)))

    return Decoded(AssetType.SCENE, deps, finish, len(blob))


# ------------------------------------------------------------------ resources
def decode_texture(key: ResourceKey, entry_bytes: bytes, payload: bytes, *, entry_where: Where,
                   payload_where: Where, verify: bool) -> TextureResource:
    """Decode a texture entry and its payload with the runtime's checks (FORMATS.md 4.3)."""
    e = TextureResourceDesc.parse(entry_bytes, 0, path=entry_where.path, field="texture")
    _check_texture_entry(e, entry_where)
    if len(payload) != e.size_bytes:
        raise payload_where.error(f"payload holds {len(payload)} bytes, size_bytes is {e.size_bytes}",
                                  0, "texture.payload")
    h = TexturePayloadHeader.parse(payload, 0, path=payload_where.path, field="payload.header")
    fail = payload_where.error
    if h.magic != TEXTURE_PAYLOAD_MAGIC:
        raise fail(f"magic {h.magic:#010x}, expected OTX1", 0, "payload.header.magic")
    if h.subresource_count != e.array_layers * e.mip_levels:
        raise fail(f"subresource_count {h.subresource_count} != layers x mips "
                   f"{e.array_layers * e.mip_levels}", 6, "payload.header.subresource_count")
    if h.total_payload_size != e.size_bytes:
        raise fail(f"total_payload_size {h.total_payload_size} != size_bytes {e.size_bytes}", 8,
                   "payload.header.total_payload_size")
    layouts_end = h.layouts_offset_bytes + SUBRESOURCE_LAYOUT_SIZE * h.subresource_count
    if h.layouts_offset_bytes < TEXTURE_PAYLOAD_HEADER_SIZE or layouts_end > len(payload):
        raise fail(f"layouts at {h.layouts_offset_bytes} outside the payload", 12,
                   "payload.header.layouts_offset_bytes")
    if not layouts_end <= h.data_offset_bytes <= len(payload):
        raise fail(f"data_offset_bytes {h.data_offset_bytes} before the end of the layouts "
                   f"({layouts_end}) or past the payload", 16, "payload.header.data_offset_bytes")
    layouts = []
    for i in range(h.subresource_count):
        at = h.layouts_offset_bytes + i * SUBRESOURCE_LAYOUT_SIZE
        lay = SubresourceLayout.parse(payload, at, path=payload_where.path, field=f"payload.layouts[{i}]")
        if h.data_offset_bytes + lay.offset_bytes + lay.size_bytes > len(payload):
            raise fail(f"subresource {i} ({lay.offset_bytes}+{lay.size_bytes}) ends past the data",
                       at, f"payload.layouts[{i}]")
        layouts.append((lay.offset_bytes, lay.row_pitch_bytes, lay.size_bytes))
    if verify:
        _check_texture_hashes(e, h, payload, entry_where, payload_where)
    return TextureResource(key=key, texture_type=e.texture_type, format=e.format, width=e.width,
                           height=e.height, depth=e.depth, array_layers=e.array_layers,
                           mip_levels=e.mip_levels, compression_type=e.compression_type,
                           content_hash=e.content_hash, packing_policy=h.packing_policy,
                           layouts=tuple(layouts), data_offset_bytes=h.data_offset_bytes,
                           payload=bytes(payload), entry=e)


def _check_texture_entry(e: Any, where: Where) -> None:
    if e.alignment != TEXTURE_DATA_ALIGNMENT:
        raise where.error(f"alignment {e.alignment}; the runtime accepts only 256", 29, "texture.alignment")
    if e.width == 0:
        raise where.error("width is 0", 14, "texture.width")
    if e.array_layers < 1:
        raise where.error("array_layers is 0", 24, "texture.array_layers")
    max_mips = max(e.width, e.height, e.depth, 1).bit_length()
    if not 1 <= e.mip_levels <= max_mips:
        raise where.error(f"mip_levels {e.mip_levels} outside 1..{max_mips}", 26, "texture.mip_levels")
    t = e.texture_type
    bad = ((t in (TextureType.TEXTURE_1D, TextureType.TEXTURE_1D_ARRAY) and (e.height != 1 or e.depth != 1))
           or (t in (TextureType.TEXTURE_2D, TextureType.TEXTURE_2D_ARRAY, TextureType.TEXTURE_CUBE,
                     TextureType.TEXTURE_CUBE_ARRAY) and (e.height == 0 or e.depth != 1))
           or (t == TextureType.TEXTURE_3D and (e.height == 0 or e.depth == 0)))
    if bad:
        raise where.error(f"texture_type {t} with {e.width}x{e.height}x{e.depth}", 18, "texture.height")
    if format_block_info(e.format) is None:
        raise where.error(f"format {e.format} has no known block size", 28, "texture.format")


def _check_texture_hashes(e: Any, h: Any, payload: bytes, entry_where: Where, payload_where: Where) -> None:
    zeroed = content_hash(payload[:20] + bytes(8) + payload[28:])
    if h.content_hash and h.content_hash != zeroed:
        raise payload_where.error(f"payload content_hash {h.content_hash:#018x} does not match its bytes",
                                  20, "payload.header.content_hash")
    # The engine's loose fallback hashes the patched payload in the table entry (FORMATS 4.3).
    if e.content_hash and e.content_hash not in (zeroed, content_hash(payload)):
        raise entry_where.error(f"content_hash {e.content_hash:#018x} does not match the payload",
                                31, "texture.content_hash")


def decode_buffer(key: ResourceKey, entry_bytes: bytes, data: bytes, *, entry_where: Where,
                  data_where: Where, verify: bool) -> BufferResource:
    """Decode a buffer entry and its bytes (sizes, kind rules, hash when asked)."""
    e = BufferResourceDesc.parse(entry_bytes, 0, path=entry_where.path, field="buffer")
    if len(data) != e.size_bytes:
        raise data_where.error(f"buffer holds {len(data)} bytes, size_bytes is {e.size_bytes}", 0, "buffer.data")
    if e.element_format == 0 and e.element_stride > 1 and e.size_bytes % e.element_stride:
        raise entry_where.error(f"size_bytes {e.size_bytes} is not a multiple of element_stride "
                                f"{e.element_stride}", 8, "buffer.size_bytes")
    if verify and e.content_hash and content_hash(data) != e.content_hash:
        raise entry_where.error(f"content_hash {e.content_hash:#018x} does not match the buffer bytes",
                                21, "buffer.content_hash")
    return BufferResource(key=key, usage_flags=e.usage_flags, element_stride=e.element_stride,
                          element_format=e.element_format, content_hash=e.content_hash,
                          data=bytes(data), entry=e)


def decode_resource(key: ResourceKey, entry: bytes, entry_where: Where, payload: bytes, payload_where: Where,
                    verify: bool) -> TextureResource | BufferResource:
    """Decode a texture or buffer (by ``key.kind``); one CPU-pool task."""
    if key.kind is ResourceKind.TEXTURE:
        return decode_texture(key, entry, payload, entry_where=entry_where, payload_where=payload_where,
                              verify=verify)
    return decode_buffer(key, entry, payload, entry_where=entry_where, data_where=payload_where, verify=verify)
