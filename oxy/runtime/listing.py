"""What is mounted and what the cache holds: :class:`AssetInfo` listings and memory by type.

Pure functions over the loader's mount table and cache; call them on the owning hub
(the loader's ``assets()`` / ``memory_usage()`` do). The results are plain values,
safe to hand to any thread.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from oxy.formats import AssetKey, AssetType
from oxy.formats.loose import INDEX_FILE_NAME
from oxy.runtime.cache import ContentCache
from oxy.runtime.keys import ResourceKey, SourceId
from oxy.runtime.mounts import MountTable

__all__ = ["AssetInfo", "assets_in", "list_assets", "memory_by_type", "type_name"]


@dataclass(frozen=True)
class AssetInfo:
    """One mounted asset: its key, type (the enum value and the name ``oxy inspect
    --json`` prints), virtual path (None when a PAK has no browse index for it) and
    the mount it resolves to."""

    key: AssetKey
    asset_type: int
    type: str
    virtual_path: str | None
    source: SourceId
    source_path: str


def type_name(asset_type: int) -> str:
    """``material``, ``geometry``, ``scene``...; the number for a type outside the enum."""
    try:
        return AssetType(asset_type).name.lower()
    except ValueError:
        return str(asset_type)


def list_assets(mounts: MountTable, source: SourceId | None = None) -> list[AssetInfo]:
    """Every asset of ``source`` (or of every mount, each key once: the mount it
    resolves to, as loads do), in mount order then the source's own order."""
    out: list[AssetInfo] = []
    seen: set[AssetKey] = set()
    for src in mounts.sources:
        if source is not None and src.id is not source:
            continue
        paths = {key: vpath for vpath, key in src.virtual_paths.items()}
        for key, atype in src.assets.items():
            if source is None and key in seen:
                continue
            seen.add(key)
            out.append(AssetInfo(key, atype, type_name(atype), paths.get(key), src.id, src.path))
    return out


def assets_in(path: str | os.PathLike[str], *, verify: bool = False) -> list[AssetInfo]:
    """Every asset of a ``.pak`` file or a loose cooked root (its folder or its
    ``container.index.bin``), in the container's own order: what ``oxy.list_assets``
    gives validation scripts, the same keys, types and virtual paths as ``oxy inspect
    --json`` and a loader's :meth:`~oxy.runtime.AssetLoader.assets`, without starting
    a loader or a hub. Plain blocking code; any thread (importing it imports gevent, as
    all of ``oxy.runtime`` does, but starts no hub or thread). Raises
    :class:`~oxy.runtime.errors.MountError` (a FormatError naming the file, and the offset
    and field when the bytes are at fault) for a container that is missing, unreadable
    or broken. ``verify``: also check content hashes / the PAK's CRC first."""
    from oxy.runtime.sources import open_loose_root, open_pak

    text = os.fspath(path)
    if os.path.basename(text) == INDEX_FILE_NAME and os.path.isfile(text):
        text = os.path.dirname(text) or "."
    source = open_loose_root(text, verify=verify) if os.path.isdir(text) else open_pak(text, verify=verify)
    try:
        table = MountTable()
        table.add(source)
        return list_assets(table)
    finally:
        source.close()


def memory_by_type(cache: ContentCache) -> dict[str, dict[str, int]]:
    """Cached bytes and entries per kind (``texture``, ``buffer``, ``material``,
    ``geometry``, ``scene``), split into referenced and unreferenced bytes, plus
    ``total``."""
    out: dict[str, dict[str, int]] = {}
    for entry in cache.entries():
        kind = _kind(entry.key, entry.value)
        row = out.setdefault(kind, {"entries": 0, "bytes": 0, "referenced_bytes": 0, "unreferenced_bytes": 0})
        row["entries"] += 1
        row["bytes"] += entry.size
        row["referenced_bytes" if entry.refs else "unreferenced_bytes"] += entry.size
    total = {"entries": 0, "bytes": 0, "referenced_bytes": 0, "unreferenced_bytes": 0}
    for row in out.values():
        for name in total:
            total[name] += row[name]
    out["total"] = total
    return out


def _kind(key: Any, value: Any) -> str:
    if isinstance(key, ResourceKey):
        return key.kind.value
    from oxy.runtime.kinds import ASSET_TYPES

    atype = ASSET_TYPES.get(type(value))
    return type_name(atype) if atype is not None else type(value).__name__
