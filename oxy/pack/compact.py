"""Compaction: from validated content (loose roots or PAKs) to a minimal, canonical PAK.

Only resources that some asset references are copied. Resources are renumbered
canonically: texture 0 is the generated fallback (FORMATS.md 8.1) whenever any
texture is used, then textures and buffers in order of first reference while
walking assets in (type, key) order (material slots in declaration order; per
mesh the vertex then the index buffer), identical resources (same entry fields
and payload) sharing one index. Every material's texture indices and every
geometry's buffer indices are rewritten in place and the descriptor header
content hash is recomputed. Table order, file order, stale re-import data and
thread counts of the cook therefore do not change the output bytes.

Pure functions over bytes (plus :func:`pack_paths`, which reads and writes files):
safe from any thread.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Callable, Sequence

from oxy.cook.descriptors import finalize_descriptor
from oxy.cook.payload import fallback_texture
from oxy.formats import AssetType
from oxy.formats.material import HEADER_CONTENT_HASH_OFFSET
from oxy.pack.content import Content, ContentAsset, Resource, read_content
from oxy.pack.merge import Conflict, Prefer, merge_assets, resolve_reference
from oxy.pack.output import write_file_atomically
from oxy.pack.references import (MATERIAL_TEXTURE_OFFSETS, MESH_INFO_BUFFER_FIELDS, buffer_index_offsets,
                                 read_u32, texture_index_offsets)
from oxy.pack.writer import TYPE_ORDER, PakAsset, PakResource, write_pak

__all__ = ["MATERIAL_TEXTURE_OFFSETS", "MESH_INFO_BUFFER_FIELDS", "PackPlan", "PackResult", "buffer_index_offsets",
           "pack_paths", "plan_pack", "remap_indices", "texture_index_offsets"]

def remap_indices(blob: bytes, offsets: Sequence[int], remap: Callable[[int], int]) -> bytes:
    """Rewrite the u32 index at each offset through ``remap``. When that changes the
    bytes, the header content hash is recomputed, unless it was 0 (written without
    hashing, as the engine's golden PAK is): then it stays 0."""
    out = bytearray(blob)
    for at in offsets:
        out[at:at + 4] = remap(read_u32(blob, at)).to_bytes(4, "little")
    if out == blob:
        return blob
    hashed = any(blob[HEADER_CONTENT_HASH_OFFSET:HEADER_CONTENT_HASH_OFFSET + 8])
    return finalize_descriptor(bytes(out)) if hashed else bytes(out)


class _Table:
    """New resource order: first reference wins, identical resources share an index."""

    def __init__(self, first: Resource | None = None) -> None:
        self.items: list[Resource] = [first] if first is not None else []
        self._index: dict[bytes, int] = {}

    def add(self, resource: Resource) -> int:
        ident = hashlib.sha256(resource.identity()).digest()
        if ident not in self._index:
            self._index[ident] = len(self.items)
            self.items.append(resource)
        return self._index[ident]


@dataclass(frozen=True)
class PackPlan:
    assets: list[PakAsset]
    textures: list[PakResource]
    buffers: list[PakResource]
    guid: bytes
    content_version: int
    dropped_textures: int
    dropped_buffers: int
    conflicts: tuple[Conflict, ...] = ()  # resolved by ``prefer``


def plan_pack(contents: Sequence[Content], *, guid: bytes | None = None,
              content_version: int | None = None, prefer: Prefer | None = None) -> PackPlan:
    """Compact ``contents`` (already validated) into what :func:`write_pak` needs.
    Assets are merged by meaning (:mod:`oxy.pack.merge`): a key that differs between
    inputs raises PackConflictError unless ``prefer`` ("first" / "last") picks a side."""
    merged, conflicts = merge_assets(contents, prefer)
    rank: dict[int, int] = {t: i for i, t in enumerate(TYPE_ORDER)}
    ordered = sorted(merged, key=lambda ca: (rank.get(ca[1].asset_type, len(rank)), ca[1].key.raw))
    fallback = fallback_texture()
    fallback_res = Resource(fallback.table_entry(0), fallback.payload)
    textures, buffers = _Table(fallback_res), _Table()
    assets = []
    for content, asset in ordered:
        blob = asset.descriptor
        if asset.asset_type == AssetType.MATERIAL:
            def texture(i: int, c: Content = content, a: ContentAsset = asset) -> int:
                return textures.add(resolve_reference(c, a, "texture", i))
            blob = remap_indices(blob, texture_index_offsets(blob), texture)
        elif asset.asset_type == AssetType.GEOMETRY:
            def buffer(i: int, c: Content = content, a: ContentAsset = asset) -> int:
                return buffers.add(resolve_reference(c, a, "buffer", i))
            blob = remap_indices(blob, buffer_index_offsets(blob, path=content.path), buffer)
        assets.append(PakAsset(asset.key, asset.asset_type, blob, asset.virtual_path))
    used_textures = textures.items if len(textures.items) > 1 else []
    total_textures = sum(max(0, len(c.textures) - 1) for c in contents)  # each input's own fallback aside
    version = max((c.content_version for c in contents), default=0) if content_version is None else content_version
    plan = PackPlan(assets, [PakResource(r.entry, r.payload) for r in used_textures],
                    [PakResource(r.entry, r.payload) for r in buffers.items], b"", version,
                    dropped_textures=max(0, total_textures - max(0, len(used_textures) - 1)),
                    dropped_buffers=sum(len(c.buffers) for c in contents) - len(buffers.items),
                    conflicts=tuple(conflicts))
    return PackPlan(**{**plan.__dict__, "guid": guid if guid is not None else _content_guid(plan)})


def _content_guid(plan: PackPlan) -> bytes:
    """A PAK source key derived from the content, so equal content gives equal bytes."""
    h = hashlib.sha256(b"oxy.pack.guid/1")
    for a in plan.assets:
        h.update(a.key.raw + bytes([a.asset_type]) + hashlib.sha256(a.descriptor).digest())
        h.update((a.virtual_path or "").encode() + b"\0")
    for r in (*plan.textures, *plan.buffers):
        h.update(hashlib.sha256(r.entry.replace(data_offset=0).build() + r.data).digest())
    guid = bytearray(h.digest()[:16])
    if not any(guid):
        guid[0] = 1
    return bytes(guid)


@dataclass(frozen=True)
class PackResult:
    path: str
    size: int
    assets: int
    textures: int
    buffers: int
    dropped_textures: int
    dropped_buffers: int
    conflicts: tuple[Conflict, ...] = ()  # keys that differed, resolved by ``prefer``


def pack_paths(inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
               guid: bytes | None = None, content_version: int | None = None,
               verify_hashes: bool = True, prefer: Prefer | None = None) -> PackResult:
    """Validate and read every input (loose roots or PAKs), compact, write ``out``
    atomically (:func:`oxy.pack.output.write_file_atomically`).

    Raises FormatError for invalid input, PackConflictError when inputs disagree
    about a key and ``prefer`` is None, RootEscapeError when a file of an input root
    resolves outside that root, OSError for unreadable inputs or an unwritable output.
    """
    contents = [read_content(p, verify_hashes=verify_hashes) for p in inputs]
    plan = plan_pack(contents, guid=guid, content_version=content_version, prefer=prefer)
    data = write_pak(plan.assets, textures=plan.textures, buffers=plan.buffers, guid=plan.guid,
                     content_version=plan.content_version)
    path = write_file_atomically(out, data)
    return PackResult(path, len(data), len(plan.assets), len(plan.textures), len(plan.buffers),
                      plan.dropped_textures, plan.dropped_buffers, plan.conflicts)
