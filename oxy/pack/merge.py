"""Merging the assets of several inputs by meaning, with explicit conflict rules.

Two inputs may hold the same asset key. They *agree* when the asset means the same
thing in both: same type, same virtual path (when both know one), same descriptor
once resource index fields and the header content hash are set aside, and the same
resources (table entry without ``data_offset``, plus payload) behind every index
field. Agreeing copies are merged silently, whatever their index numbers.

Anything else is a :class:`Conflict`. With ``prefer=None`` every conflict is an
error (:class:`PackConflictError`, listing each key with both inputs); with
``prefer="first"`` or ``"last"`` the copy from the first or last input that holds
the key wins, and the conflicts are returned so the caller can say so. Resources
have no keys in PAK v4: they are compared through the assets that reference them,
so a material whose texture 1 is different pixels in A and in B is a conflict even
when its descriptor bytes are identical.

Pure functions over :class:`~oxy.pack.content.Content`: safe from any thread.
Failure modes: PackConflictError; FormatError for a geometry that cannot be parsed
or an index past its input's table.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, Sequence

from oxy.errors import FormatError, OxyError
from oxy.formats import AssetKey, AssetType
from oxy.formats.material import HEADER_CONTENT_HASH_OFFSET
from oxy.pack.content import Content, ContentAsset, Resource
from oxy.pack.references import buffer_index_offsets, read_u32, texture_index_offsets

__all__ = ["Conflict", "PackConflictError", "Prefer", "asset_meaning", "merge_assets", "resolve_reference"]

Prefer = Literal["first", "last"]
_ZERO_U32 = bytes(4)


@dataclass(frozen=True)
class Conflict:
    """One key whose asset differs between two inputs; ``kept`` is the winner's path
    when a ``prefer`` rule resolved it, else empty."""

    key: AssetKey
    virtual_path: str | None
    first: str
    second: str
    reason: str
    kept: str = ""

    def __str__(self) -> str:
        name = f"{self.key} ({self.virtual_path})" if self.virtual_path else str(self.key)
        kept = f"; kept {self.kept}" if self.kept else ""
        return f"asset {name} differs between {self.first} and {self.second}: {self.reason}{kept}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the key in its text form; ``kept`` null when no rule resolved it."""
        return {"key": str(self.key), "virtual_path": self.virtual_path, "first": self.first,
                "second": self.second, "reason": self.reason, "kept": self.kept or None}


class PackConflictError(OxyError):
    """Inputs disagree about one or more asset keys and no ``prefer`` rule was given."""

    def __init__(self, conflicts: Sequence[Conflict]) -> None:
        self.conflicts = tuple(conflicts)
        more = f" (and {len(conflicts) - 1} more conflicting key(s))" if len(conflicts) > 1 else ""
        super().__init__(f"{conflicts[0]}{more}; pass --prefer first|last to choose which input wins")


def resolve_reference(content: Content, asset: ContentAsset, kind: str, index: int) -> Resource:
    """The resource that ``asset`` of ``content`` names by ``index`` in its ``kind``
    ("texture" or "buffer") table. Raises FormatError past the end of the table."""
    table = content.textures if kind == "texture" else content.buffers
    if index >= len(table):
        raise FormatError(f"{kind} index {index} past the {len(table)}-entry table of {content.path}",
                          content.path, None, f"asset {asset.key}")
    return table[index]


def _reference_fields(content: Content, asset: ContentAsset) -> tuple[str, list[int]]:
    if asset.asset_type == AssetType.MATERIAL:
        return "texture", texture_index_offsets(asset.descriptor)
    if asset.asset_type == AssetType.GEOMETRY:
        return "buffer", buffer_index_offsets(asset.descriptor, path=content.path)
    return "", []


class _Meanings:
    """Asset meanings of one merge, with each resource hashed at most once."""

    def __init__(self) -> None:
        self._resources: dict[tuple[int, str, int], bytes] = {}

    def resource(self, content: Content, asset: ContentAsset, kind: str, index: int) -> bytes:
        slot = (id(content), kind, index)
        if slot not in self._resources:
            self._resources[slot] = hashlib.sha256(resolve_reference(content, asset, kind, index).identity()).digest()
        return self._resources[slot]

    def of(self, content: Content, asset: ContentAsset) -> tuple[bytes, tuple[tuple[int, bytes], ...]]:
        """(descriptor digest with index fields and header hash zeroed, (field offset,
        digest of the resource it names) per reference): equal meanings are interchangeable."""
        kind, offsets = _reference_fields(content, asset)
        blob = bytearray(asset.descriptor)
        blob[HEADER_CONTENT_HASH_OFFSET:HEADER_CONTENT_HASH_OFFSET + 8] = bytes(8)
        refs = []
        for at in offsets:
            refs.append((at, self.resource(content, asset, kind, read_u32(asset.descriptor, at))))
            blob[at:at + 4] = _ZERO_U32
        return hashlib.sha256(bytes(blob)).digest(), tuple(refs)

    def difference(self, a: tuple[Content, ContentAsset], b: tuple[Content, ContentAsset]) -> str | None:
        """Why the two copies of one key differ, or None when they agree."""
        (ca, xa), (cb, xb) = a, b
        if xa.asset_type != xb.asset_type:
            return f"asset type {xa.asset_type} vs {xb.asset_type}"
        if xa.virtual_path and xb.virtual_path and xa.virtual_path != xb.virtual_path:
            return f"virtual path {xa.virtual_path} vs {xb.virtual_path}"
        if ca is cb and xa.descriptor == xb.descriptor:
            return None
        (desc_a, refs_a), (desc_b, refs_b) = self.of(ca, xa), self.of(cb, xb)
        if desc_a != desc_b:
            return "the descriptors differ"
        if refs_a == refs_b:
            return None
        kind = "texture" if xa.asset_type == AssetType.MATERIAL else "buffer"
        fields_a, fields_b = dict(refs_a), dict(refs_b)
        if fields_a.keys() != fields_b.keys():
            return f"they reference {kind}s from different fields"
        at = next(at for at in fields_a if fields_a[at] != fields_b[at])
        return f"the {kind} named by the index field at descriptor byte {at} has different content"


def asset_meaning(content: Content, asset: ContentAsset) -> tuple[bytes, tuple[tuple[int, bytes], ...]]:
    """The meaning of one asset (see :class:`_Meanings`): what merging compares."""
    return _Meanings().of(content, asset)


def merge_assets(contents: Sequence[Content], prefer: Prefer | None = None
                 ) -> tuple[list[tuple[Content, ContentAsset]], list[Conflict]]:
    """One (content, asset) per key, in key-insertion order, and the conflicts that
    ``prefer`` resolved. Raises PackConflictError when ``prefer`` is None and any
    key conflicts (every conflicting key is listed)."""
    if prefer not in (None, "first", "last"):
        raise ValueError(f"prefer must be 'first', 'last' or None, not {prefer!r}")
    merged: dict[AssetKey, tuple[Content, ContentAsset]] = {}
    conflicts: list[Conflict] = []
    meanings = _Meanings()
    for content in contents:
        for key, asset in content.assets.items():
            held = merged.get(key)
            if held is None:
                merged[key] = (content, asset)
                continue
            reason = meanings.difference(held, (content, asset))
            if reason is None:
                continue
            winner = (content, asset) if prefer == "last" else held
            conflicts.append(Conflict(key, asset.virtual_path or held[1].virtual_path, held[0].path, content.path,
                                      reason, winner[0].path if prefer else ""))
            merged[key] = winner
    if conflicts and prefer is None:
        raise PackConflictError(conflicts)
    return list(merged.values()), conflicts
