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
:meth:`TextureResource.to_rgba8` and :meth:`TextureResource.to_float32` (pixel
decoding on the calling thread; the awaitable form
:meth:`TextureResource.to_rgba8_async` runs on a CPU pool).
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

    def to_rgba8(self, layer: int = 0, mip: int = 0, *, reconstruct_z: bool = False) -> np.ndarray:
        """Decode one subresource to a new ``(h, w, 4)`` uint8 array. **Blocking.**

        Runs on the calling thread: a BC7 2048x2048 mip 0 takes tens of ms, and on a
        gevent hub's thread every greenlet of that hub waits meanwhile. From a hub
        (a gevent application, a load callback) use :meth:`to_rgba8_async`. The BC
        kernels release the GIL, so other threads keep running during the decode.

        RGBA8 formats are copied without row padding; BC7 goes through
        ``oxy.cook.bc7.decode``, BC1/BC4/BC5/BC6H through ``oxy.cook.bcn`` (imported
        here, lazily) straight from the payload when rows are not padded. What the
        one-, two- and three-channel formats give:

        * BC1: RGB, alpha 255, except index 3 of a three-colour block, which is
          transparent black as D3D decodes it.
        * BC4: grey (R = G = B = the channel), alpha 255.
        * BC5: R, G = the two channels, B = 0 (as a GPU samples it), alpha 255; with
          ``reconstruct_z``, B = the normal map's Z = sqrt(1 - X^2 - Y^2) (X, Y
          mapped to [-1, 1], Z mapped back to [0, 255]) as an engine rebuilds it.
        * BC6H (HDR): a display view: the linear values clamped into [0, 1] and
          sRGB-encoded, alpha 255; :meth:`to_float32` gives the values.

        Safe from any thread (pure). Raises ValueError for other formats,
        out-of-range subresources, or a layout (row pitch, size) that does not fit
        the payload; checked before allocating, so a hostile pitch never allocates
        more than the payload holds.
        """
        self._check_rgba8(layer, mip)
        w, h = max(1, self.width >> mip), max(1, self.height >> mip)
        if self.format in _BC6H_FORMATS:
            from oxy.cook.colorspace import encode_srgb8

            rgb = np.clip(np.nan_to_num(self.to_float32(layer, mip)[..., :3], nan=0.0), 0.0, 1.0)
            out = np.full((h, w, 4), 255, np.uint8)
            out[..., :3] = encode_srgb8(rgb)
            return out
        data, pitch = self._subresource_view(layer, mip)
        if self.format in _BC7_FORMATS:
            from oxy.cook import bc7

            bw, bh = -(-w // 4), -(-h // 4)
            return bc7.decode(unpitch(data, pitch, bw * 16, bh), w, h)  # a view when unpadded: no copy
        if self.format in _BCN_FORMATS:
            return _decode_bcn(_BCN_FORMATS[self.format], data, pitch, w, h, reconstruct_z)
        return unpitch(data, pitch, w * 4, h).reshape(h, w, 4).copy()

    def to_float32(self, layer: int = 0, mip: int = 0) -> np.ndarray:
        """Decode one subresource of a float format (BC6H_FLOAT_U, RGBA16_FLOAT,
        RGBA32_FLOAT) to a new ``(h, w, 4)`` float32 array of its linear values
        (BC6H: alpha 1). **Blocking**, pure, safe from any thread, like
        :meth:`to_rgba8`. Raises ValueError for other formats, out-of-range
        subresources or a layout that does not fit the payload."""
        if not (0 <= layer < self.array_layers and 0 <= mip < self.mip_levels):
            raise ValueError(f"layer {layer} mip {mip} outside {self.array_layers}x{self.mip_levels}")
        if self.format not in _FLOAT_FORMATS:
            raise ValueError(f"to_float32 supports BC6H_FLOAT_U, RGBA16_FLOAT and RGBA32_FLOAT, not format "
                             f"{self.format} ({_format_name(self.format)})")
        w, h = max(1, self.width >> mip), max(1, self.height >> mip)
        data, pitch = self._subresource_view(layer, mip)
        if self.format in _BC6H_FORMATS:
            from oxy.cook import bcn

            blocks = unpitch(data, pitch, -(-w // 4) * 16, -(-h // 4))
            out = np.ones((h, w, 4), np.float32)
            out[..., :3] = bcn.decode_bc6h(blocks, w, h)
            return out
        dtype, texel = ("<f2", 8) if self.format == Format.RGBA16_FLOAT else ("<f4", 16)
        return unpitch(data, pitch, w * texel, h).view(dtype).reshape(h, w, 4).astype(np.float32)

    def _subresource_view(self, layer: int, mip: int) -> tuple[memoryview, int]:
        """(the bytes of subresource (layer, mip) without a copy, its row pitch)."""
        offset, pitch, size = self.layouts[layer * self.mip_levels + mip]
        start = self.data_offset_bytes + offset
        return memoryview(self.payload)[start:start + size], pitch

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
        a format :meth:`to_rgba8` does not decode, or when ``loop`` is None (a loader not
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
        if self.format not in RGBA8_DECODABLE:
            raise ValueError(f"to_rgba8 supports RGBA8, BC1, BC4, BC5, BC6H and BC7, not format {self.format} "
                             f"({_format_name(self.format)})")


def _format_name(fmt: int) -> str:
    return Format(fmt).name if fmt in Format._value2member_map_ else "?"


_RGBA8_FORMATS = frozenset((Format.RGBA8_UNORM, Format.RGBA8_UNORM_SRGB, Format.RGBA8_UINT))
_BC7_FORMATS = frozenset((Format.BC7_UNORM, Format.BC7_UNORM_SRGB))
_BC6H_FORMATS = frozenset((Format.BC6H_FLOAT_U,))
_BCN_FORMATS: dict[int, str] = {Format.BC1_UNORM: "bc1", Format.BC1_UNORM_SRGB: "bc1", Format.BC4_UNORM: "bc4",
                                Format.BC5_UNORM: "bc5"}
_FLOAT_FORMATS = _BC6H_FORMATS | {Format.RGBA16_FLOAT, Format.RGBA32_FLOAT}
#: The formats :meth:`TextureResource.to_rgba8` decodes.
RGBA8_DECODABLE = _RGBA8_FORMATS | _BC7_FORMATS | _BC6H_FORMATS | frozenset(_BCN_FORMATS)


def _decode_bcn(name: str, data: memoryview, pitch: int, w: int, h: int, reconstruct_z: bool) -> np.ndarray:
    """BC1 / BC4 / BC5 blocks (rows at ``pitch``) to RGBA8, as :meth:`TextureResource.to_rgba8` says."""
    from oxy.cook import bcn

    block_bytes = bcn.BLOCK_BYTES[name]
    blocks = unpitch(data, pitch, -(-w // 4) * block_bytes, -(-h // 4))
    if name == "bc1":
        out = bcn.decode_bc1(blocks, w, h)
        out[bc1_transparent(blocks, w, h)] = 0
        return out
    out = np.full((h, w, 4), 255, np.uint8)
    if name == "bc4":
        out[..., :3] = bcn.decode_bc4(blocks, w, h)
        return out
    out[..., :2] = bcn.decode_bc5(blocks, w, h)
    if reconstruct_z:
        xy = out[..., :2].astype(np.float32) * np.float32(2 / 255) - 1
        z = np.sqrt(np.clip(1 - (xy * xy).sum(axis=2), 0, 1))
        out[..., 2] = np.rint((z + 1) * np.float32(127.5)).astype(np.uint8)
    else:
        out[..., 2] = 0
    return out


def bc1_transparent(blocks: bytes | np.ndarray, w: int, h: int) -> np.ndarray:
    """(h, w) mask of the BC1 texels that D3D decodes as transparent black: index 3 of a
    block in three-colour mode (colour0 <= colour1). Pure."""
    bx, by = -(-w // 4), -(-h // 4)
    raw = np.frombuffer(blocks, np.uint8, bx * by * 8).reshape(by * bx, 8)
    c0 = raw[:, 0].astype(np.uint16) | (raw[:, 1].astype(np.uint16) << 8)
    c1 = raw[:, 2].astype(np.uint16) | (raw[:, 3].astype(np.uint16) << 8)
    bits = np.ascontiguousarray(raw[:, 4:]).view("<u4")[:, 0]
    index = (bits[:, None] >> (2 * np.arange(16, dtype=np.uint32))) & 3
    mask = (c0 <= c1)[:, None] & (index == 3)
    full = mask.reshape(by, bx, 4, 4).transpose(0, 2, 1, 3).reshape(by * 4, bx * 4)
    return full[:h, :w]


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
