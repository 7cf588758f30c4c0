"""Placeholder objects handed out instead of a failed load (``fallback=True``).

* texture: an 8x8 magenta/black checker (RGBA8, one mip, tight packing), built as
  real payload bytes with the declarations of :mod:`oxy.formats` and decoded by the
  loader's own texture decoder, so it is a valid :class:`TextureResource`
  (``to_rgba8`` works);
* geometry: a unit cube named ``ERROR`` (24 vertices in the cooker's 72-byte
  layout: position, normal, uv, tangent, bitangent, colour; 36 uint32 indices),
  one submesh using :meth:`MaterialAsset.default`;
* material: :meth:`MaterialAsset.default`;
* scene: an empty scene named ``ERROR``: one root node (identity transform), no
  components, no geometries (nothing to draw, nothing for a scene walker to trip on);
* buffer: an empty buffer (0 bytes, stride 0, format 0, usage 0). A buffer means
  nothing without the mesh that reads it, so *inside a geometry* a failed buffer
  is not replaced: the geometry falls back as a whole (the ``ERROR`` cube); the
  empty buffer is what a direct ``load_resource(..., fallback=True)`` gets.

Inside a parent (:func:`oxy.runtime.engine.dependency_placeholder`) a failed texture
becomes the checker, a failed material the default material, a failed geometry of
a scene the ``ERROR`` cube (or, each time, the failed dependency's own object built
around placeholders when it has one).

Placeholders are built once, immutable, never cached by the loader and never a
dependency edge: releasing one is a no-op. Their keys are the zero asset key and
resource keys of :data:`PLACEHOLDER_SOURCE`. Pure; safe from any thread.
"""
from __future__ import annotations

import struct
from functools import lru_cache
from typing import Any

from oxy.formats import AssetKey, AssetType, BufferResourceDesc, Format, TextureResourceDesc
from oxy.formats.geometry import MeshViewDesc
from oxy.formats.resources import (SUBRESOURCE_LAYOUT_SIZE, TEXTURE_DATA_ALIGNMENT, TEXTURE_PAYLOAD_HEADER_SIZE,
                                   TEXTURE_PAYLOAD_MAGIC, SubresourceLayout, TexturePayloadHeader)
from oxy.runtime.decoders import Where, decode_resource
from oxy.runtime.keys import ResourceKey, ResourceKind, SourceId
from oxy.runtime.types import (BufferResource, GeometryAsset, MaterialAsset, MeshAsset, SceneAsset, SceneNode,
                               SubMeshAsset, TextureResource)

__all__ = ["CHECKER_SIZE", "PLACEHOLDER_SOURCE", "placeholder_for", "checker_texture", "empty_buffer", "error_cube",
           "error_scene"]

#: The source of placeholder resources (never mounted).
PLACEHOLDER_SOURCE = SourceId("<placeholders>")
CHECKER_SIZE = 8
MAGENTA, BLACK = b"\xff\x00\xff\xff", b"\x00\x00\x00\xff"
_TEXTURE_2D, _TIGHT = 3, 2
_VERTEX_USAGE, _INDEX_USAGE = 0x101, 0x102   # the cooker's vertex / index buffer usage flags


@lru_cache(maxsize=1)
def checker_texture() -> TextureResource:
    """The magenta/black checker (one texel squares; top-left magenta)."""
    n = CHECKER_SIZE
    pixels = b"".join(MAGENTA if (x + y) % 2 == 0 else BLACK for y in range(n) for x in range(n))
    data_at = -(-(TEXTURE_PAYLOAD_HEADER_SIZE + SUBRESOURCE_LAYOUT_SIZE) // 4) * 4
    total = data_at + len(pixels)
    header = TexturePayloadHeader(magic=TEXTURE_PAYLOAD_MAGIC, packing_policy=_TIGHT, flags=0, subresource_count=1,
                                  total_payload_size=total, layouts_offset_bytes=TEXTURE_PAYLOAD_HEADER_SIZE,
                                  data_offset_bytes=data_at, content_hash=0)
    layout = SubresourceLayout(offset_bytes=0, row_pitch_bytes=n * 4, size_bytes=len(pixels))
    payload = header.build() + layout.build()
    payload += bytes(data_at - len(payload)) + pixels
    entry = TextureResourceDesc(data_offset=0, size_bytes=total, texture_type=_TEXTURE_2D, compression_type=0,
                                width=n, height=n, depth=1, array_layers=1, mip_levels=1,
                                format=int(Format.RGBA8_UNORM), alignment=TEXTURE_DATA_ALIGNMENT, content_hash=0)
    key = ResourceKey(PLACEHOLDER_SOURCE, ResourceKind.TEXTURE, 0)
    where = Where("<placeholder texture>")
    value = decode_resource(key, entry.build(), where, payload, Where(where.path, 0), False)
    assert isinstance(value, TextureResource)
    return value


def _cube_buffers() -> tuple[bytes, bytes]:
    """24 vertices (4 per face, 72 bytes each) and 36 indices of a unit cube at the origin."""
    faces = (((1, 0, 0), (0, 0, -1)), ((-1, 0, 0), (0, 0, 1)), ((0, 1, 0), (1, 0, 0)),
             ((0, -1, 0), (1, 0, 0)), ((0, 0, 1), (1, 0, 0)), ((0, 0, -1), (-1, 0, 0)))
    vertices, indices = bytearray(), []
    for face, (normal, tangent) in enumerate(faces):
        bitangent = (normal[1] * tangent[2] - normal[2] * tangent[1], normal[2] * tangent[0] - normal[0] * tangent[2],
                     normal[0] * tangent[1] - normal[1] * tangent[0])
        for u, v in ((0, 0), (1, 0), (1, 1), (0, 1)):
            su, sv = u - 0.5, v - 0.5
            pos = tuple(0.5 * normal[i] + su * tangent[i] + sv * bitangent[i] for i in range(3))
            vertices += struct.pack("<18f", *pos, *normal, u, v, *tangent, *bitangent, 1.0, 1.0, 1.0, 1.0)
        base = face * 4
        indices += [base, base + 1, base + 2, base, base + 2, base + 3]
    return bytes(vertices), struct.pack(f"<{len(indices)}I", *indices)


@lru_cache(maxsize=1)
def error_cube() -> GeometryAsset:
    """A unit cube named ``ERROR`` with the default material."""
    vb, ib = _cube_buffers()

    def buffer(index: int, data: bytes, usage: int, stride: int, fmt: int) -> BufferResource:
        entry = BufferResourceDesc(data_offset=0, size_bytes=len(data), usage_flags=usage, element_stride=stride,
                                   element_format=fmt, content_hash=0)
        return BufferResource(key=ResourceKey(PLACEHOLDER_SOURCE, ResourceKind.BUFFER, index), usage_flags=usage,
                              element_stride=stride, element_format=fmt, content_hash=0, data=data, entry=entry)

    lo, hi = (-0.5, -0.5, -0.5), (0.5, 0.5, 0.5)
    default = MaterialAsset.default()
    view = MeshViewDesc(first_index=0, index_count=36, first_vertex=0, vertex_count=24)
    submesh = SubMeshAsset(name="ERROR", material_key=default.key, bbox_min=lo, bbox_max=hi, views=(view,))
    mesh = MeshAsset(name="ERROR", mesh_type=1, bbox_min=lo, bbox_max=hi,
                     vertex_buffer=buffer(0, vb, _VERTEX_USAGE, 72, 0),
                     index_buffer=buffer(1, ib, _INDEX_USAGE, 0, int(Format.R32_UINT)), submeshes=(submesh,))
    return GeometryAsset(key=AssetKey(bytes(16)), name="ERROR", version=1, variant_flags=0, bbox_min=lo, bbox_max=hi,
                         meshes=(mesh,), materials=((default.key, default),))


@lru_cache(maxsize=1)
def error_scene() -> SceneAsset:
    """An empty scene named ``ERROR``: one root node, no components, no geometries."""
    zero = AssetKey(bytes(16))
    root = SceneNode(name="ERROR", node_id=zero, parent_index=0, flags=0, translation=(0.0, 0.0, 0.0),
                     rotation=(0.0, 0.0, 0.0, 1.0), scale=(1.0, 1.0, 1.0))
    return SceneAsset(key=zero, name="ERROR", version=1, nodes=(root,), components=(), environment=(),
                      geometries=())


@lru_cache(maxsize=1)
def empty_buffer() -> BufferResource:
    """A 0-byte buffer (stride 0, format 0, usage 0)."""
    entry = BufferResourceDesc(data_offset=0, size_bytes=0, usage_flags=0, element_stride=0, element_format=0,
                               content_hash=0)
    return BufferResource(key=ResourceKey(PLACEHOLDER_SOURCE, ResourceKind.BUFFER, 2), usage_flags=0,
                          element_stride=0, element_format=0, content_hash=0, data=b"", entry=entry)


def placeholder_for(what: Any) -> Any | None:
    """The placeholder for an asset type (int) or a resource kind; None for an
    unknown asset type."""
    if what is ResourceKind.TEXTURE:
        return checker_texture()
    if what is ResourceKind.BUFFER:
        return empty_buffer()
    if what == AssetType.SCENE and not isinstance(what, ResourceKind):
        return error_scene()
    if what == AssetType.GEOMETRY and not isinstance(what, ResourceKind):
        return error_cube()
    if what == AssetType.MATERIAL and not isinstance(what, ResourceKind):
        return MaterialAsset.default()
    return None
