"""What the loader returns: decoded assets and resources (immutable dataclasses).

Equality is by *content*: two objects are equal when their decoded fields and the
content of their dependencies are equal, whatever source or table index they came
from. So an asset loaded from a loose root equals the same asset loaded from the
PAK packed from it, although the PAK's texture indices were remapped. Fields that
depend on where content lives (resource keys, raw table entries, descriptor views
with indices, header content hashes) are kept for inspection but not compared.

Every object carries ``warnings``: the :class:`~oxy.validate.Diagnostic` records
of what the engine tolerates in its bytes (rule book :mod:`oxy.validate.rules`),
such as a dangling buffer index or a missing submesh material. They are not
compared, and they are the object's own (a scene does not repeat its geometries'
warnings; :func:`all_warnings` walks the dependencies).

Immutable: safe to share between threads once published. Nothing here blocks but
:meth:`TextureResource.to_rgba8` (pixel decoding on the calling thread; its
awaitable form :meth:`TextureResource.to_rgba8_async` runs on a CPU pool).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Iterable, Iterator, Mapping, TypeVar

import numpy as np

from oxy.formats import AssetKey
from oxy.formats.enums import Format, MaterialDomain, MaterialFlags, format_block_info
from oxy.runtime.keys import ResourceKey
from oxy.hub import CrossFuture, ImportLoop, run_blocking
from oxy.validate.diagnostics import Diagnostic

__all__ = ["BufferResource", "GeometryAsset", "MaterialAsset", "MeshAsset", "SceneAsset",
           "SceneNode", "SlotMap", "SubMeshAsset", "TextureResource", "all_warnings", "unpitch"]

Warnings = tuple[Diagnostic, ...]


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
    warnings: Warnings = field(compare=False, default=())

    @property
    def size_bytes(self) -> int:
        return len(self.payload)

    def subresource(self, index: int = 0) -> bytes:
        """The bytes of subresource ``index`` (layer-major), row padding included."""
        offset, _pitch, size = self.layouts[index]
        start = self.data_offset_bytes + offset
        return self.payload[start:start + size]

    def to_rgba8(self, layer: int = 0, mip: int = 0) -> np.ndarray:
        """Decode one subresource to a new ``(h, w, 4)`` uint8 array. **Blocking.**

        Runs on the calling thread: a BC7 2048x2048 mip 0 takes tens of ms, and on a
        gevent hub's thread every greenlet of that hub waits meanwhile. From a hub
        (a gevent application, a load callback) use :meth:`to_rgba8_async`. The BC7
        kernel releases the GIL, so other threads keep running during the decode.

        RGBA8 formats are copied without row padding; BC7 goes through
        ``oxy.cook.bc7.decode`` (imported here, lazily) straight from the payload
        when rows are not padded. Safe from any thread (pure). Raises ValueError for
        other formats, out-of-range subresources, or a layout (row pitch, size)
        that does not fit the payload; checked before allocating, so a hostile
        pitch never allocates more than the payload holds.
        """
        self._check_rgba8(layer, mip)
        w, h = max(1, self.width >> mip), max(1, self.height >> mip)
        index = layer * self.mip_levels + mip
        offset, pitch, size = self.layouts[index]
        start = self.data_offset_bytes + offset
        data = memoryview(self.payload)[start:start + size]  # no copy of the payload
        if self.format in _BC7_FORMATS:
            from oxy.cook import bc7

            bw, bh = -(-w // 4), -(-h // 4)
            return bc7.decode(unpitch(data, pitch, bw * 16, bh), w, h)  # a view when unpadded: no copy
        return unpitch(data, pitch, w * 4, h).reshape(h, w, 4).copy()

    def to_rgba8_async(self, loop: ImportLoop | None, layer: int = 0, mip: int = 0) -> CrossFuture[np.ndarray]:
        """:meth:`to_rgba8` on the CPU pool of ``loop``; returns a CrossFuture of the array.

        ``loop`` is an :class:`~oxy.hub.ImportLoop`, normally the loader's
        (``loader.loop``). Nothing heavy runs on the calling thread or on the
        loop's hub: the hub only starts the pool task (one greenlet) and the decode
        runs on a CPU-pool thread (the BC7 kernel without the GIL). Safe from any
        thread. ``future.result()`` blocks only the calling greenlet when the
        caller runs a gevent hub (a gevent application's main thread, or the
        loop's own hub), the calling thread otherwise.

        Failure modes: ValueError at once for a subresource outside the texture or
        a format other than RGBA8/BC7, or when ``loop`` is None (a loader not
        started); :class:`~oxy.hub.LoopClosed` at once if the loop no longer takes
        work, or through the future if it shuts down before the decode started; a
        layout that does not fit the payload fails the future with ValueError.
        The decode itself cannot be interrupted once it runs.
        """
        self._check_rgba8(layer, mip)
        if loop is None:
            raise ValueError("to_rgba8_async needs a running ImportLoop (loader.loop is None before start())")
        return loop.submit(run_blocking, self.to_rgba8, layer, mip)

    def _check_rgba8(self, layer: int, mip: int) -> None:
        """The argument checks of :meth:`to_rgba8` (ValueError), cheap: no payload access."""
        if not (0 <= layer < self.array_layers and 0 <= mip < self.mip_levels):
            raise ValueError(f"layer {layer} mip {mip} outside {self.array_layers}x{self.mip_levels}")
        if self.format not in _BC7_FORMATS and self.format not in _RGBA8_FORMATS:
            raise ValueError(f"to_rgba8 supports RGBA8 and BC7, not format {self.format} "
                             f"({Format(self.format).name if self.format in Format._value2member_map_ else '?'})")


_RGBA8_FORMATS = frozenset((Format.RGBA8_UNORM, Format.RGBA8_UNORM_SRGB, Format.RGBA8_UINT))
_BC7_FORMATS = frozenset((Format.BC7_UNORM, Format.BC7_UNORM_SRGB))


def unpitch(data: bytes | memoryview, pitch: int, row_bytes: int, rows: int) -> np.ndarray:
    """``rows`` rows of ``row_bytes`` taken every ``pitch`` bytes of ``data``. Checks the
    pitch and the sizes against ``data`` before allocating anything, so the result is
    never larger than ``data`` (a hostile pitch or size is a ValueError, not a huge
    allocation)."""
    if pitch < row_bytes:
        raise ValueError(f"row pitch {pitch} is smaller than a row ({row_bytes} bytes)")
    need = pitch * (rows - 1) + row_bytes
    if need > len(data):
        raise ValueError(f"subresource holds {len(data)} bytes; {rows} rows of {row_bytes} bytes at "
                         f"pitch {pitch} need {need}")
    raw = np.frombuffer(data, np.uint8, need)
    if pitch == row_bytes:
        return raw
    rows_view = np.lib.stride_tricks.as_strided(raw, shape=(rows, row_bytes), strides=(pitch, 1), writeable=False)
    return rows_view.reshape(-1)  # reshape copies the strided rows: rows * row_bytes <= len(data)


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
    warnings: Warnings = field(compare=False, default=())

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


V = TypeVar("V")


class SlotMap(Mapping[str, V], Generic[V]):
    """An immutable, hashable mapping of material slot names (``"base_color"``, ...) to
    values, in slot order: ``material.textures["normal"]``, ``.items()``, ``dict(...)``.
    Equal to another SlotMap or dict with the same items."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, V]] = ()) -> None:
        self._items: tuple[tuple[str, V], ...] = tuple(items)

    def __getitem__(self, slot: str) -> V:
        for name, value in self._items:
            if name == slot:
                return value
        raise KeyError(slot)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _v in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SlotMap):
            return self._items == other._items
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __repr__(self) -> str:
        return f"SlotMap({dict(self._items)!r})"


@dataclass(frozen=True, eq=True)
class MaterialAsset:
    """A decoded material: factors, shader references and its textures.

    ``textures`` maps each used slot (non-zero index; 0 means the engine's fallback
    and is not loaded) to its :class:`TextureResource` (a :class:`SlotMap`:
    ``material.textures["base_color"]``, ``.items()``), ``texture_keys`` maps it to the
    key it was loaded under (a SlotMap too). Both are immutable; a material without
    textures has empty ones. Unknown attributes read through to ``desc``
    (the :class:`~oxy.formats.MaterialAssetDesc`), e.g. ``material.roughness``.
    """

    key: AssetKey
    name: str
    version: int
    streaming_priority: int
    variant_flags: int
    factors: tuple[tuple[str, Any], ...]
    shaders: tuple[Any, ...]  # ShaderReferenceDesc views
    textures: SlotMap[TextureResource]
    texture_keys: SlotMap[ResourceKey] = field(compare=False, default_factory=SlotMap)
    desc: Any = field(compare=False, repr=False, default=None)
    warnings: Warnings = field(compare=False, default=())

    def __post_init__(self) -> None:
        for name in ("textures", "texture_keys"):  # pairs (or a dict) given: keep them as a SlotMap
            value = getattr(self, name)
            if not isinstance(value, SlotMap):
                object.__setattr__(self, name, SlotMap(value.items() if isinstance(value, Mapping) else value))

    def texture(self, slot: str) -> TextureResource | None:
        return self.textures.get(slot)

    @property
    def is_default(self) -> bool:
        """True for :meth:`default` (what a submesh gets when its material is missing)."""
        return self.key.is_zero()

    @classmethod
    def default(cls) -> "MaterialAsset":
        """The engine's ``MaterialAsset::CreateDefault()``: an opaque material with the
        FORMATS.md 5.1 defaults, no textures and no shader references; its key is
        the zero key. Not cached and not a dependency edge."""
        return _DEFAULT_MATERIAL

    def __getattr__(self, name: str) -> Any:
        desc = self.__dict__.get("desc")
        if name.startswith("_"):
            raise AttributeError(name)
        if desc is None:  # the default material: its factors
            for factor, value in self.__dict__.get("factors", ()):
                if factor == name:
                    return value
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
    materials: tuple[tuple[AssetKey, MaterialAsset], ...]  # a missing material: MaterialAsset.default()
    warnings: Warnings = field(compare=False, default=())

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
    geometries: tuple[tuple[AssetKey, GeometryAsset], ...]  # missing geometries are left out (warned)
    warnings: Warnings = field(compare=False, default=())

    def geometry(self, key: AssetKey) -> GeometryAsset | None:
        return dict(self.geometries).get(key)


_DEFAULT_FACTORS: tuple[tuple[str, Any], ...] = (
    ("material_domain", int(MaterialDomain.OPAQUE)), ("flags", int(MaterialFlags.NO_TEXTURE_SAMPLING)),
    ("shader_stages", 0), ("base_color", (1.0, 1.0, 1.0, 1.0)), ("normal_scale", 1.0), ("metalness", 0.0),
    ("roughness", 1.0), ("ambient_occlusion", 1.0), ("emissive_factor", (0.0, 0.0, 0.0)),
    ("alpha_cutoff", 0.5), ("ior", 1.5), ("specular_factor", 1.0), ("sheen_color_factor", (0.0, 0.0, 0.0)),
    ("clearcoat_factor", 0.0), ("clearcoat_roughness", 0.0), ("transmission_factor", 0.0),
    ("thickness_factor", 0.0), ("attenuation_color", (1.0, 1.0, 1.0)), ("attenuation_distance", 0.0),
    ("uv_scale", (1.0, 1.0)), ("uv_offset", (0.0, 0.0)), ("uv_rotation_radians", 0.0), ("uv_set", 0))
_DEFAULT_MATERIAL = MaterialAsset(key=AssetKey(bytes(16)), name="DefaultMaterial", version=1,
                                  streaming_priority=0, variant_flags=0, factors=_DEFAULT_FACTORS,
                                  shaders=(), textures=SlotMap())


def all_warnings(obj: Any) -> list[Diagnostic]:
    """The warnings of ``obj`` and of everything it holds (geometries, materials,
    buffers, textures), each object once, parents first."""
    out: list[Diagnostic] = []
    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        out.extend(getattr(item, "warnings", ()))
        children: list[Any] = []
        if isinstance(item, SceneAsset):
            children = [g for _k, g in item.geometries]
        elif isinstance(item, GeometryAsset):
            children = [m for _k, m in item.materials]
            for mesh in item.meshes:
                children += [mesh.vertex_buffer, mesh.index_buffer]
        elif isinstance(item, MaterialAsset):
            children = list(item.textures.values())
        stack.extend(reversed(children))
    return out
