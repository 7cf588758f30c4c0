"""What the loader returns: decoded assets and resources (immutable dataclasses).

Equality is by *content*: two objects are equal when their decoded fields and the
content of their dependencies are equal, whatever source or table index they came
from. So an asset loaded from a loose root equals the same asset loaded from the
PAK packed from it, although the PAK's texture indices were remapped. Fields that
depend on where content lives (resource keys, raw table entries, descriptor views
with indices, header content hashes) are kept for inspection but not compared.

Immutable: safe to share between threads once published.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oxy.formats import AssetKey
from oxy.formats.enums import Format, format_block_info
from oxy.runtime.keys import ResourceKey

__all__ = ["BufferResource", "GeometryAsset", "MaterialAsset", "MeshAsset", "SceneAsset",
           "SceneNode", "SubMeshAsset", "TextureResource"]


@dataclass(frozen=True, eq=True)
class TextureResource:
    """A texture table entry, its payload header and subresource layouts, and the payload.

    ``payload`` is the whole cooked payload (header, layouts, padding, data).
    """

    key: ResourceKey = field(compare=False)
    texture_type: int
    format: int
    width: int
    height: int
    depth: int
    array_layers: int
    mip_levels: int
    compression_type: int
    content_hash: int
    packing_policy: int
    layouts: tuple[tuple[int, int, int], ...]  # (offset_bytes, row_pitch_bytes, size_bytes)
    data_offset_bytes: int
    payload: bytes = field(repr=False)
    entry: Any = field(compare=False, repr=False, default=None)  # TextureResourceDesc as stored

    @property
    def size_bytes(self) -> int:
        return len(self.payload)

    def subresource(self, index: int = 0) -> bytes:
        """The bytes of subresource ``index`` (layer-major), row padding included."""
        offset, _pitch, size = self.layouts[index]
        start = self.data_offset_bytes + offset
        return self.payload[start:start + size]

    def to_rgba8(self, layer: int = 0, mip: int = 0) -> np.ndarray:
        """Decode one subresource to a new ``(h, w, 4)`` uint8 array.

        RGBA8 formats are copied without row padding; BC7 goes through
        ``oxy.cook.bc7.decode`` (imported here, lazily). Safe from any thread (pure).
        Raises ValueError for other formats or out-of-range subresources.
        """
        if not (0 <= layer < self.array_layers and 0 <= mip < self.mip_levels):
            raise ValueError(f"layer {layer} mip {mip} outside {self.array_layers}x{self.mip_levels}")
        w, h = max(1, self.width >> mip), max(1, self.height >> mip)
        index = layer * self.mip_levels + mip
        _offset, pitch, _size = self.layouts[index]
        data = self.subresource(index)
        if self.format in (Format.RGBA8_UNORM, Format.RGBA8_UNORM_SRGB, Format.RGBA8_UINT):
            return _unpitch(data, pitch, w * 4, h).reshape(h, w, 4).copy()
        if self.format in (Format.BC7_UNORM, Format.BC7_UNORM_SRGB):
            from oxy.cook import bc7

            bw, bh = -(-w // 4), -(-h // 4)
            blocks = _unpitch(data, pitch, bw * 16, bh)
            return bc7.decode(blocks.tobytes(), w, h)
        raise ValueError(f"to_rgba8 supports RGBA8 and BC7, not format {self.format} "
                         f"({Format(self.format).name if self.format in Format._value2member_map_ else '?'})")


def _unpitch(data: bytes, pitch: int, row_bytes: int, rows: int) -> np.ndarray:
    if pitch * (rows - 1) + row_bytes > len(data):
        raise ValueError(f"subresource holds {len(data)} bytes, {rows} rows of pitch {pitch} need more")
    raw = np.frombuffer(data, np.uint8)
    if pitch == row_bytes:
        return raw[:row_bytes * rows]
    padded = np.zeros(pitch * rows, np.uint8)
    padded[:len(raw[:pitch * rows])] = raw[:pitch * rows]
    return padded.reshape(rows, pitch)[:, :row_bytes].reshape(-1)


@dataclass(frozen=True, eq=True)
class BufferResource:
    """A buffer table entry and its bytes."""

    key: ResourceKey = field(compare=False)
    usage_flags: int
    element_stride: int
    element_format: int
    content_hash: int
    data: bytes = field(repr=False)
    entry: Any = field(compare=False, repr=False, default=None)  # BufferResourceDesc as stored

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    def as_array(self) -> np.ndarray:
        """A read-only numpy view: typed buffers by format (R32UInt -> uint32 ...),
        structured ones as ``(n, stride)`` bytes, raw ones as uint8."""
        formats: dict[int, str] = {Format.R32_UINT: "<u4", Format.R32_FLOAT: "<f4", Format.RGBA32_UINT: "<u4",
                                   Format.RGBA32_FLOAT: "<f4", Format.R16_UINT: "<u2"}
        fmt = formats.get(self.element_format)
        if fmt is not None:
            arr = np.frombuffer(self.data, fmt)
            block = format_block_info(self.element_format)
            width = block[0] // np.dtype(fmt).itemsize if block else 1
            return arr.reshape(-1, width) if width > 1 else arr
        if self.element_stride > 1:
            return np.frombuffer(self.data, np.uint8).reshape(-1, self.element_stride)
        return np.frombuffer(self.data, np.uint8)


@dataclass(frozen=True, eq=True)
class MaterialAsset:
    """A decoded material: factors, shader references and its textures.

    ``textures`` maps each used slot (non-zero index; 0 means the engine's fallback
    and is not loaded) to its :class:`TextureResource`, ``texture_keys`` to the key
    it was loaded under. Unknown attributes read through to ``desc``
    (the :class:`~oxy.formats.MaterialAssetDesc`), e.g. ``material.roughness``.
    """

    key: AssetKey
    name: str
    version: int
    streaming_priority: int
    variant_flags: int
    factors: tuple[tuple[str, Any], ...]
    shaders: tuple[Any, ...]  # ShaderReferenceDesc views
    textures: tuple[tuple[str, TextureResource], ...]
    texture_keys: tuple[tuple[str, ResourceKey], ...] = field(compare=False, default=())
    desc: Any = field(compare=False, repr=False, default=None)

    def texture(self, slot: str) -> TextureResource | None:
        return dict(self.textures).get(slot)

    def __getattr__(self, name: str) -> Any:
        desc = self.__dict__.get("desc")
        if desc is None or name.startswith("_"):
            raise AttributeError(name)
        return getattr(desc, name)


@dataclass(frozen=True, eq=True)
class SubMeshAsset:
    name: str
    material_key: AssetKey
    bbox_min: tuple[float, ...]
    bbox_max: tuple[float, ...]
    views: tuple[Any, ...]  # MeshViewDesc views: first_index, index_count, first_vertex, vertex_count


@dataclass(frozen=True, eq=True)
class MeshAsset:
    """One LOD: its buffers (standard and skinned meshes) and submeshes."""

    name: str
    mesh_type: int
    bbox_min: tuple[float, ...] | None
    bbox_max: tuple[float, ...] | None
    vertex_buffer: BufferResource | None
    index_buffer: BufferResource | None
    submeshes: tuple[SubMeshAsset, ...]
    procedural_params: bytes = b""
    buffer_keys: tuple[tuple[str, ResourceKey], ...] = field(compare=False, default=())


@dataclass(frozen=True, eq=True)
class GeometryAsset:
    """A decoded geometry: LOD meshes, submeshes, views, buffers and the materials used."""

    key: AssetKey
    name: str
    version: int
    variant_flags: int
    bbox_min: tuple[float, ...]
    bbox_max: tuple[float, ...]
    meshes: tuple[MeshAsset, ...]
    materials: tuple[tuple[AssetKey, MaterialAsset], ...]

    def material(self, key: AssetKey) -> MaterialAsset | None:
        return dict(self.materials).get(key)


@dataclass(frozen=True, eq=True)
class SceneNode:
    name: str
    node_id: AssetKey
    parent_index: int
    flags: int
    translation: tuple[float, ...]
    rotation: tuple[float, ...]
    scale: tuple[float, ...]


@dataclass(frozen=True, eq=True)
class SceneAsset:
    """A decoded scene: nodes, component tables, environment and its geometries."""

    key: AssetKey
    name: str
    version: int
    nodes: tuple[SceneNode, ...]
    components: tuple[Any, ...]   # oxy.formats.scene.ComponentTable
    environment: tuple[Any, ...]  # oxy.formats.scene.EnvironmentSystemRecord
    geometries: tuple[tuple[AssetKey, GeometryAsset], ...]

    def geometry(self, key: AssetKey) -> GeometryAsset | None:
        return dict(self.geometries).get(key)
