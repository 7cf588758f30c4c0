"""Synthetic cooked content: a small, deterministic, fully valid content set.

Used for the bundled sample (``samples/sample.pak``), tests of validators and
readers, and benchmarks that need many assets (``many_materials``). It writes a PAK
through :mod:`oxy.pack.writer` and a loose cooked root through the index writer of
:mod:`oxy.formats.loose` in the default layout. The import pipeline's emitters are
the production writers of loose roots; this module only builds test content.

Plain functions; safe from any thread.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from oxy.cook.descriptors import build_material, build_standard_geometry, finalize_descriptor, asset_header
from oxy.cook.payload import CookedTexture, TextureShape, fallback_texture, pack_texture_payload
from oxy.formats.enums import AssetType, BufferUsage, ComponentType, FileKind, Format, NodeFlags
from oxy.formats.geometry import MeshViewDesc
from oxy.formats.loose import DEFAULT_RELPATHS, INDEX_FILE_NAME, IndexAsset, IndexFile, LooseIndex, build_index
from oxy.formats.primitives import VIRTUAL_MOUNT_ROOT, AssetKey, align_up, content_hash, sha256
from oxy.formats.resources import BufferResourceDesc
from oxy.formats.scene import (SCENE_VERSION, ComponentTable, NodeRecord, RenderableRecord,
                               SceneAssetDesc, SceneDescriptor)
from oxy.pack.writer import PakAsset, PakResource, write_pak

FOLDERS = {AssetType.MATERIAL: ("Materials", ".omat"), AssetType.GEOMETRY: ("Geometry", ".ogeo"),
           AssetType.SCENE: ("Scenes", ".oscene")}


@dataclass
class ContentSet:
    """Assets (type, name, descriptor bytes) and resources, ready to write."""

    textures: list[CookedTexture] = field(default_factory=list)
    buffers: list[tuple[BufferResourceDesc, bytes]] = field(default_factory=list)
    assets: list[tuple[int, str, bytes]] = field(default_factory=list)
    guid: bytes = b"\x01" + bytes(range(1, 16))

    @staticmethod
    def relpath(asset_type: int, name: str) -> str:
        folder, suffix = FOLDERS[AssetType(asset_type)]
        return f"{folder}/{name}{suffix}"

    @classmethod
    def virtual_path(cls, asset_type: int, name: str) -> str:
        return f"{VIRTUAL_MOUNT_ROOT}/{cls.relpath(asset_type, name)}"

    @classmethod
    def key(cls, asset_type: int, name: str) -> AssetKey:
        return AssetKey.from_virtual_path(cls.virtual_path(asset_type, name))


def checker_texture(size: int = 64, *, mips: bool = True) -> CookedTexture:
    """An RGBA8 sRGB checkerboard with a full mip chain (box-filtered in numpy)."""
    y, x = np.mgrid[0:size, 0:size]
    level = np.zeros((size, size, 4), np.uint8)
    level[..., 0] = np.where((x // 8 + y // 8) % 2, 230, 30)
    level[..., 1] = (x * 255 // max(size - 1, 1)).astype(np.uint8)
    level[..., 2] = (y * 255 // max(size - 1, 1)).astype(np.uint8)
    level[..., 3] = 255
    chain = [level]
    while mips and chain[-1].shape[0] > 1:
        prev = chain[-1].astype(np.uint16)
        chain.append(((prev[0::2, 0::2] + prev[1::2, 0::2] + prev[0::2, 1::2] + prev[1::2, 1::2] + 2) // 4)
                     .astype(np.uint8))
    shape = TextureShape(width=size, height=size, format=Format.RGBA8_UNORM_SRGB, mip_levels=len(chain))
    return pack_texture_payload(shape, [c.tobytes() for c in chain])


def cube_buffers() -> tuple[bytes, bytes, tuple[float, ...], tuple[float, ...]]:
    """72-byte vertices and u32 indices of a unit cube (24 vertices, 36 indices)."""
    vertices: list[np.ndarray] = []
    indices: list[int] = []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            normal = np.zeros(3, np.float32)
            normal[axis] = sign
            u, v = np.eye(3, dtype=np.float32)[(axis + 1) % 3], np.eye(3, dtype=np.float32)[(axis + 2) % 3]
            base = len(vertices)
            for du, dv in ((0, 0), (1, 0), (1, 1), (0, 1)):
                pos = normal * 0.5 + (du - 0.5) * u + (dv - 0.5) * v
                vertices.append(np.concatenate([pos, normal, [du, dv], u, v, [1, 1, 1, 1]]).astype(np.float32))
            quad = (0, 1, 2, 0, 2, 3) if sign > 0 else (0, 2, 1, 0, 3, 2)
            indices.extend(base + i for i in quad)
    vb = np.stack(vertices).astype("<f4")
    return vb.tobytes(), np.asarray(indices, "<u4").tobytes(), (-0.5,) * 3, (0.5,) * 3


def buffer_entry(data: bytes, usage: int, stride: int, fmt: int) -> BufferResourceDesc:
    return BufferResourceDesc(data_offset=0, size_bytes=len(data), usage_flags=usage, element_stride=stride,
                              element_format=fmt, content_hash=content_hash(data))


def textured_cube() -> ContentSet:
    """Fallback + checker texture, a cube's two buffers, one material, geometry and scene."""
    content = ContentSet()
    content.textures = [fallback_texture(), checker_texture()]
    vb, ib, lo, hi = cube_buffers()
    content.buffers = [(buffer_entry(vb, BufferUsage.VERTEX | BufferUsage.STATIC, 72, 0), vb),
                       (buffer_entry(ib, BufferUsage.INDEX | BufferUsage.STATIC, 0, Format.R32_UINT), ib)]
    material = build_material("Checker", textures={"base_color": 1}, roughness=0.6)
    material_key = ContentSet.key(AssetType.MATERIAL, "Checker")
    view = MeshViewDesc(first_index=0, index_count=36, first_vertex=0, vertex_count=24)
    geometry = build_standard_geometry("Cube", vertex_buffer=0, index_buffer=1,
                                       submeshes=[("Cube", material_key, view)], bbox_min=lo, bbox_max=hi)
    scene = build_scene("CubeScene", [("Root", 0, None), ("Cube", 0, ContentSet.key(AssetType.GEOMETRY, "Cube"))])
    content.assets = [(AssetType.MATERIAL, "Checker", material), (AssetType.GEOMETRY, "Cube", geometry),
                      (AssetType.SCENE, "CubeScene", scene)]
    return content


def build_scene(name: str, nodes: list[tuple[str, int, AssetKey | None]]) -> bytes:
    """A scene of ``(node name, parent index, geometry key or None)``; node 0 is the root."""
    strings, offsets = bytearray(b"\0"), []
    for node_name, _parent, _geometry in nodes:
        offsets.append(len(strings))
        strings += node_name.encode("utf-8") + b"\0"
    scene_vpath = ContentSet.virtual_path(AssetType.SCENE, name)
    records = tuple(NodeRecord(node_id=AssetKey.from_virtual_path(f"{scene_vpath}/{i}/{n}"),
                               scene_name_offset=offsets[i], parent_index=parent,
                               node_flags=NodeFlags.VISIBLE, translation=(0.0, 0.0, 0.0),
                               rotation=(0.0, 0.0, 0.0, 1.0), scale=(1.0, 1.0, 1.0))
                    for i, (n, parent, _g) in enumerate(nodes))
    renderables = tuple(RenderableRecord(node_index=i, geometry_key=g, visible=1)
                        for i, (_n, _p, g) in enumerate(nodes) if g is not None)
    components = (ComponentTable(ComponentType.RENDERABLE, renderables),) if renderables else ()
    desc = SceneAssetDesc(header=asset_header(AssetType.SCENE, name, SCENE_VERSION),
                          nodes=dict(offset=0, count=0, entry_size=0), scene_strings=dict(offset=0, size=0),
                          component_table_directory_offset=0, component_table_count=0)
    return finalize_descriptor(SceneDescriptor(desc, records, bytes(strings), components).build())


def many_materials(count: int) -> ContentSet:
    """``count`` material assets over the fallback texture (for scale benchmarks)."""
    content = ContentSet()
    content.textures = [fallback_texture()]
    content.assets = [(AssetType.MATERIAL, f"M{i:06d}", build_material(f"M{i:06d}", metalness=(i % 100) / 100))
                      for i in range(count)]
    return content


def write_sample_pak(path: str | os.PathLike[str], content: ContentSet, *, content_version: int = 0) -> bytes:
    """Write ``content`` as a PAK and return its bytes."""
    assets = [PakAsset(ContentSet.key(t, n), t, blob, ContentSet.virtual_path(t, n)) for t, n, blob in content.assets]
    data = write_pak(assets, guid=content.guid, content_version=content_version,
                     textures=[PakResource(t.table_entry(0), t.payload) for t in content.textures],
                     buffers=[PakResource(entry, blob) for entry, blob in content.buffers])
    with open(path, "wb") as fh:
        fh.write(data)
    return data


def write_loose_root(root: str | os.PathLike[str], content: ContentSet) -> None:
    """Write ``content`` as a loose cooked root in the default layout (index last)."""
    root = os.fspath(root)
    os.makedirs(os.path.join(root, "Resources"), exist_ok=True)
    files = []
    for table_kind, data_kind, items, alignment in (
            (FileKind.TEXTURES_TABLE, FileKind.TEXTURES_DATA,
             [(t.table_entry(0), t.payload) for t in content.textures], 256),
            (FileKind.BUFFERS_TABLE, FileKind.BUFFERS_DATA, content.buffers, 16)):
        data, entries = bytearray(), []
        for entry, blob in items:
            at = align_up(len(data), max(alignment, entry.element_stride if table_kind == FileKind.BUFFERS_TABLE else 1))
            data += bytes(at - len(data))
            entries.append(entry.replace(data_offset=at).build())
            data += blob
        for kind, blob in ((table_kind, b"".join(entries)), (data_kind, bytes(data))):
            rel = DEFAULT_RELPATHS[kind]
            with open(os.path.join(root, rel), "wb") as fh:
                fh.write(blob)
            files.append(IndexFile(kind, rel, len(blob)))
    assets = []
    for asset_type, name, blob in content.assets:
        rel = ContentSet.relpath(asset_type, name)
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as fh:
            fh.write(blob)
        assets.append(IndexAsset(ContentSet.key(asset_type, name), asset_type, rel,
                                 ContentSet.virtual_path(asset_type, name), len(blob), sha256(blob)))
    index = build_index(LooseIndex(content.guid, 0, tuple(assets), tuple(files)))
    with open(os.path.join(root, INDEX_FILE_NAME), "wb") as fh:
        fh.write(index)
