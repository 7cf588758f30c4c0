"""Compaction: from validated content (loose roots or PAKs) to a minimal, canonical PAK.

What is kept: every resource some asset references, plus the *live* standalone
textures (images cooked on their own, which no descriptor references) that the
build records of a loose root name (:mod:`oxy.pack.live`). For an input whose live
set is unknown (a PAK, a root without records for its index) every texture is
kept, since nothing is known to be superseded; unreferenced buffers are always
dropped (oxy writes no standalone buffers). :class:`PackStats` counts what was kept
and dropped, with payload bytes.

Resources are renumbered canonically: texture 0 is the generated fallback
(FORMATS.md 8.1) whenever any texture is kept, then textures and buffers in order
of first reference while walking assets in (type, key) order (material slots in
declaration order; per mesh the vertex then the index buffer), then live standalone
textures by source path and index, then the unreferenced textures of inputs with an
unknown live set in index order; identical resources (same entry fields and
payload) share one index. Every material's texture indices and every geometry's
buffer indices are rewritten in place and the descriptor header content hash is
recomputed. Table order, file order, superseded re-import data and thread counts of
the cook therefore do not change the output bytes. ``oxy compact``
(:mod:`oxy.pack.compact_root`) renumbers a loose root in place with the same code.

Pure functions over bytes (plus :func:`pack_paths`, which reads and writes files):
safe from any thread.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from oxy.cook.descriptors import finalize_descriptor
from oxy.cook.payload import fallback_texture
from oxy.errors import FormatError
from oxy.formats import AssetType
from oxy.formats.material import HEADER_CONTENT_HASH_OFFSET
from oxy.pack.content import Content, ContentAsset, Resource, read_content
from oxy.pack.merge import Conflict, Prefer, merge_assets, resolve_reference
from oxy.pack.output import write_file_atomically
from oxy.pack.references import (MATERIAL_TEXTURE_OFFSETS, MESH_INFO_BUFFER_FIELDS, buffer_index_offsets,
                                 read_u32, texture_index_offsets)
from oxy.pack.writer import TYPE_ORDER, PakAsset, PakResource, write_pak

__all__ = ["MATERIAL_TEXTURE_OFFSETS", "MESH_INFO_BUFFER_FIELDS", "PackPlan", "format_bytes", "PackResult", "PackStats",
           "Renumbering", "Tally", "buffer_index_offsets", "pack_paths", "plan_pack", "remap_indices", "renumber",
           "texture_index_offsets"]

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
    """New resource order: first one added wins, identical resources share an index.
    ``idents`` caches each resource's identity digest (by object: a payload is hashed once)."""

    def __init__(self, first: Resource | None = None, idents: dict[int, bytes] | None = None) -> None:
        self.items: list[Resource] = []
        self._index: dict[bytes, int] = {}
        self._idents = idents if idents is not None else {}
        if first is not None:
            self.add(first)

    def _ident(self, resource: Resource) -> bytes:
        ident = self._idents.get(id(resource))
        if ident is None:
            ident = self._idents[id(resource)] = hashlib.sha256(resource.identity()).digest()
        return ident

    def add(self, resource: Resource) -> int:
        ident = self._ident(resource)
        if ident not in self._index:
            self._index[ident] = len(self.items)
            self.items.append(resource)
        return self._index[ident]

    def find(self, resource: Resource) -> int | None:
        return self._index.get(self._ident(resource))


@dataclass(frozen=True)
class Tally:
    """How many resources, and how many payload bytes."""

    count: int = 0
    bytes: int = 0

    def plus(self, size: int) -> "Tally":
        return Tally(self.count + 1, self.bytes + size)


def format_bytes(n: int) -> str:
    """``n`` bytes for people: "512 bytes", "3.4 KiB", "1.2 MiB", "2.0 GiB"."""
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


@dataclass(frozen=True)
class PackStats:
    """What compaction kept and dropped (the generated fallback texture is in none of
    these). Kept textures are referenced by an asset, or live standalone textures from
    the build records, or unreferenced textures of inputs whose live set is unknown
    (``unknown``: those inputs and why); dropped ones are superseded: nothing
    references them and the records do not keep them live. Entries identical to a kept
    one are merged into it, not counted as dropped."""

    referenced_textures: Tally = Tally()
    live_textures: Tally = Tally()
    unreferenced_textures: Tally = Tally()
    dropped_textures: Tally = Tally()
    referenced_buffers: Tally = Tally()
    dropped_buffers: Tally = Tally()
    unknown: tuple[tuple[str, str], ...] = ()

    def summary(self) -> str:
        """One line: what was kept and what was dropped, with payload bytes."""
        def n(t: Tally, what: str) -> str:
            return f"{t.count} {what} ({format_bytes(t.bytes)})"
        text = (f"textures kept: {n(self.referenced_textures, 'referenced')}, "
                f"{n(self.live_textures, 'live standalone')}, "
                f"{n(self.unreferenced_textures, 'unreferenced of inputs without build records')}; "
                f"buffers kept: {n(self.referenced_buffers, 'referenced')}; dropped as superseded: "
                f"{n(self.dropped_textures, 'textures')}, {n(self.dropped_buffers, 'buffers')}")
        if self.unknown:
            text += f"; no build records for {', '.join(p for p, _ in self.unknown)}: every texture kept"
        return text

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {name: {"count": getattr(self, name).count, "bytes": getattr(self, name).bytes}
                                  for name in ("referenced_textures", "live_textures", "unreferenced_textures",
                                               "dropped_textures", "referenced_buffers", "dropped_buffers")}
        out["live_set_unknown"] = [{"input": path, "why": why} for path, why in self.unknown]
        return out


@dataclass(frozen=True)
class Renumbering:
    """Canonical renumbering of ``contents`` (see the module docstring).

    ``assets``: the kept copy of every asset with its descriptor remapped, in (type,
    key) order. ``textures`` (index 0: the generated fallback) and ``buffers``: the
    new tables. ``texture_maps`` / ``buffer_maps``: per input, old index -> new index
    for every entry whose content was kept (a superseded entry has none; texture 0,
    the fallback, maps to 0). ``fallback_live``: a live or kept texture is the
    fallback itself, so the texture table is needed even with nothing else in it."""

    assets: list[tuple[Content, ContentAsset, bytes]]
    textures: list[Resource]
    buffers: list[Resource]
    texture_maps: list[dict[int, int]]
    buffer_maps: list[dict[int, int]]
    stats: PackStats
    fallback_live: bool = False
    conflicts: tuple[Conflict, ...] = ()


def renumber(contents: Sequence[Content], *, prefer: Prefer | None = None) -> Renumbering:
    """Merge ``contents`` (already validated) by meaning and renumber their resources.

    Textures: the fallback, then every texture an asset references (first reference
    while walking assets in (type, key) order), then the live standalone textures of
    inputs with build records (by source path, input, index), then, for inputs whose
    live set is unknown, every texture no asset of that input references (input
    order, index order). Buffers: referenced ones only (oxy writes no standalone
    buffers). Raises PackConflictError (see :func:`plan_pack`), FormatError for a
    reference past its table or records that name a texture the table lacks."""
    merged, conflicts = merge_assets(contents, prefer)
    rank: dict[int, int] = {t: i for i, t in enumerate(TYPE_ORDER)}
    ordered = sorted(merged, key=lambda ca: (rank.get(ca[1].asset_type, len(rank)), ca[1].key.raw))
    fallback = fallback_texture()
    textures, buffers = _Table(Resource(fallback.table_entry(0), fallback.payload)), _Table()
    why: dict[int, str] = {}  # new texture index -> why it is kept (first reason wins)
    assets = []
    for content, asset in ordered:
        blob = asset.descriptor
        if asset.asset_type == AssetType.MATERIAL:
            def texture(i: int, c: Content = content, a: ContentAsset = asset) -> int:
                new = textures.add(resolve_reference(c, a, "texture", i))
                why.setdefault(new, "referenced")
                return new
            blob = remap_indices(blob, texture_index_offsets(blob), texture)
        elif asset.asset_type == AssetType.GEOMETRY:
            def buffer(i: int, c: Content = content, a: ContentAsset = asset) -> int:
                return buffers.add(resolve_reference(c, a, "buffer", i))
            blob = remap_indices(blob, buffer_index_offsets(blob, path=content.path), buffer)
        assets.append((content, asset, blob))
    fallback_live, unknown = _keep_unreferenced(contents, textures, why)
    texture_maps = [_index_map(c.textures, textures, fallback=True) for c in contents]
    buffer_maps = [_index_map(c.buffers, buffers, fallback=False) for c in contents]
    for content, mapping in zip(contents, texture_maps):
        lost = sorted(i for i in content.live.textures if i not in mapping)
        if lost:  # by construction never; a live texture must not vanish silently
            raise FormatError(f"live texture {lost[0]} of {content.path} was not kept", content.path, None, "live")
    stats = _stats(contents, textures, buffers, why, texture_maps, buffer_maps, unknown)
    return Renumbering(assets, textures.items, buffers.items, texture_maps, buffer_maps, stats, fallback_live,
                       tuple(conflicts))


def _keep_unreferenced(contents: Sequence[Content], textures: _Table, why: dict[int, str]
                       ) -> tuple[bool, tuple[tuple[str, str], ...]]:
    """Add the live standalone textures (by source path, input, index), then every
    texture that no asset of an input with an unknown live set names. Returns whether
    one of them is the fallback itself, and the inputs whose live set is unknown."""
    fallback_live = False
    for content in contents:
        content.live.check(len(content.textures), content.path)
    live = sorted((path, pos, index) for pos, c in enumerate(contents) if c.live.known
                  for index, path in c.live.textures.items())
    for _path, pos, index in live:
        new = textures.add(contents[pos].textures[index])
        why.setdefault(new, "live")
        fallback_live |= new == 0
    unknown = []
    for content in contents:
        if content.live.known:
            continue
        unknown.append((content.path, content.live.note))
        named = _textures_named(content)
        for index in range(1, len(content.textures)):
            if index not in named:
                new = textures.add(content.textures[index])
                why.setdefault(new, "unreferenced")
                fallback_live |= new == 0
    return fallback_live, tuple(unknown)


def _textures_named(content: Content) -> set[int]:
    """Every texture index some asset of ``content`` names (0, the fallback, included)."""
    named = {0}
    for asset in content.assets.values():
        if asset.asset_type == AssetType.MATERIAL:
            named.update(read_u32(asset.descriptor, at) for at in texture_index_offsets(asset.descriptor))
    return named


def _index_map(resources: Sequence[Resource], table: _Table, *, fallback: bool) -> dict[int, int]:
    out = {}
    for index, resource in enumerate(resources):
        new = table.find(resource)
        if new is not None:
            out[index] = new
    if fallback and resources:
        out.setdefault(0, 0)
    return out


def _stats(contents: Sequence[Content], textures: _Table, buffers: _Table, why: dict[int, str],
           texture_maps: list[dict[int, int]], buffer_maps: list[dict[int, int]],
           unknown: tuple[tuple[str, str], ...]) -> PackStats:
    kept = {"referenced": Tally(), "live": Tally(), "unreferenced": Tally()}
    for new, reason in why.items():
        if new:
            kept[reason] = kept[reason].plus(len(textures.items[new].payload))
    dropped_t, dropped_b = Tally(), Tally()
    for content, tmap, bmap in zip(contents, texture_maps, buffer_maps):
        for index, resource in enumerate(content.textures):
            if index and index not in tmap:
                dropped_t = dropped_t.plus(len(resource.payload))
        for index, resource in enumerate(content.buffers):
            if index not in bmap:
                dropped_b = dropped_b.plus(len(resource.payload))
    referenced_b = Tally(len(buffers.items), sum(len(r.payload) for r in buffers.items))
    return PackStats(kept["referenced"], kept["live"], kept["unreferenced"], dropped_t, referenced_b, dropped_b,
                     unknown)


class _DroppedCounts:
    """``dropped_textures`` / ``dropped_buffers`` of a plan or result, from its ``stats``."""

    stats: PackStats

    @property
    def dropped_textures(self) -> int:
        return self.stats.dropped_textures.count

    @property
    def dropped_buffers(self) -> int:
        return self.stats.dropped_buffers.count


@dataclass(frozen=True)
class PackPlan(_DroppedCounts):
    assets: list[PakAsset]
    textures: list[PakResource]
    buffers: list[PakResource]
    guid: bytes
    content_version: int
    stats: PackStats
    conflicts: tuple[Conflict, ...] = ()  # resolved by ``prefer``


def plan_pack(contents: Sequence[Content], *, guid: bytes | None = None,
              content_version: int | None = None, prefer: Prefer | None = None) -> PackPlan:
    """Compact ``contents`` (already validated) into what :func:`write_pak` needs
    (:func:`renumber`). Assets are merged by meaning (:mod:`oxy.pack.merge`): a key
    that differs between inputs raises PackConflictError unless ``prefer`` ("first" /
    "last") picks a side."""
    r = renumber(contents, prefer=prefer)
    used_textures = r.textures if len(r.textures) > 1 or r.fallback_live else []
    version = max((c.content_version for c in contents), default=0) if content_version is None else content_version
    plan = PackPlan([PakAsset(a.key, a.asset_type, blob, a.virtual_path) for _c, a, blob in r.assets],
                    [PakResource(t.entry, t.payload) for t in used_textures],
                    [PakResource(b.entry, b.payload) for b in r.buffers], b"", version, r.stats, r.conflicts)
    return replace(plan, guid=guid if guid is not None else _content_guid(plan))


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
class PackResult(_DroppedCounts):
    path: str
    size: int
    assets: int
    textures: int  # in the PAK, the fallback included
    buffers: int
    stats: PackStats
    conflicts: tuple[Conflict, ...] = ()  # keys that differed, resolved by ``prefer``

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (the payload of ``oxy pack --json``)."""
        return {"output": self.path, "size": self.size, "assets": self.assets, "textures": self.textures,
                "buffers": self.buffers, "dropped_textures": self.dropped_textures,
                "dropped_buffers": self.dropped_buffers, "stats": self.stats.to_dict(),
                "conflicts": [c.to_dict() for c in self.conflicts]}


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
                      plan.stats, plan.conflicts)
