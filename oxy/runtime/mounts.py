"""The mount table: sources in mount order and the asset-key index over them.

Resolution: an asset key resolves to the *first* mounted source that holds it
(mount order), so later mounts never shadow earlier ones. Thread rules: owned by
the loader; mutated only on its owning hub (or, before the loader starts, under
the loader's lock).
"""
from __future__ import annotations

from oxy.formats import AssetKey
from oxy.runtime.errors import AssetNotFound, ResourceNotFound
from oxy.runtime.keys import SourceId
from oxy.runtime.sources import Source

__all__ = ["MountTable"]


class MountTable:
    def __init__(self) -> None:
        self.sources: list[Source] = []
        self._by_id: dict[SourceId, Source] = {}
        self._index: dict[AssetKey, Source] = {}

    def add(self, source: Source) -> SourceId:
        self.sources.append(source)
        self._by_id[source.id] = source
        for key in source.assets:
            self._index.setdefault(key, source)
        return source.id

    def replace(self, new: Source) -> Source:
        """Put ``new`` in the place of the mounted source with the same id (hot
        reload) and re-index; returns the old one (the caller closes it)."""
        old = self.source(new.id)
        self.sources[self.sources.index(old)] = new
        self._by_id[new.id] = new
        self._index.clear()
        for source in self.sources:
            for key in source.assets:
                self._index.setdefault(key, source)
        return old

    def clear(self) -> list[Source]:
        """Forget every source and return them (the caller closes them)."""
        old, self.sources = self.sources, []
        self._by_id.clear()
        self._index.clear()
        return old

    def resolve(self, key: AssetKey) -> tuple[Source, int]:
        """(source, asset type) of ``key``; AssetNotFound when no mount holds it."""
        source = self._index.get(key)
        if source is None:
            raise AssetNotFound(f"asset {key} is not in any of the {len(self.sources)} mounted sources")
        return source, source.assets[key]

    def source(self, source_id: SourceId) -> Source:
        source = self._by_id.get(source_id)
        if source is None:
            raise ResourceNotFound(f"{source_id!r} is not mounted")
        return source

    def current(self, source_id: SourceId) -> Source | None:
        """The source mounted under ``source_id`` now (None once unmounted)."""
        return self._by_id.get(source_id)

    def find_virtual_path(self, vpath: str) -> AssetKey | None:
        for source in self.sources:
            key = source.virtual_paths.get(vpath)
            if key is not None:
                return key
        return None
