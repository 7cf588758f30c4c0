"""The live set of a loose cooked root: which unreferenced textures must be kept.

Re-imports append (log-structured), so a root accumulates superseded table
entries; standalone textures (images cooked on their own) are entries that no
descriptor references either. Only the build records (:mod:`oxy.build.records`)
tell the two apart: a texture is *live* when the latest cook of a live source
produced it (:func:`~oxy.build.records.live_texture_indices`).

:class:`LiveSet` is ``known`` only when the root holds records for exactly the
index being read (their generation is tagged with that index's SHA-256). A PAK, a
root that oxy cooked before it kept records, a root the engine's tools wrote, or a
root whose records cannot be read has an *unknown* live set: nothing is known to be
superseded, so the packer and ``oxy compact`` keep every texture (``note`` says why).

Plain blocking code (sqlite3 through :class:`~oxy.build.records.BuildRecords`):
safe from any thread. Never raises for missing or unreadable records (the set is
then unknown); :meth:`LiveSet.check` raises FormatError for records that name a
texture the table does not hold.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Mapping

from oxy.build.records import RECORDS_FILE, BuildRecords, RecordSet, RecordsError, live_texture_indices
from oxy.errors import FormatError
from oxy.rootfs import RootEscapeError

__all__ = ["LiveSet", "read_live_set"]


@dataclass(frozen=True)
class LiveSet:
    """``textures``: texture index -> the source that keeps it live (empty when not
    ``known``). ``records``: the record set it was computed from (None when not known)."""

    known: bool
    textures: Mapping[int, str] = field(default_factory=dict)
    note: str = ""
    records: RecordSet | None = field(default=None, compare=False, repr=False)

    @classmethod
    def unknown(cls, note: str) -> "LiveSet":
        return cls(False, {}, note)

    def ordered(self) -> list[tuple[str, int]]:
        """(source path, texture index) in canonical order: by source path, then index."""
        return sorted((path, index) for index, path in self.textures.items())

    def check(self, texture_count: int, where: str) -> None:
        """Raise FormatError when the records name a texture past the table (records and
        index disagree: packing would silently lose that texture)."""
        for index, path in sorted(self.textures.items()):
            if not 0 <= index < texture_count:
                raise FormatError(f"the build records keep texture {index} live (source {path}), but the "
                                  f"texture table holds {texture_count} entries; run `oxy cook` on that source "
                                  f"again or remove {RECORDS_FILE}", os.path.join(where, RECORDS_FILE), None,
                                  f"sources[{path!r}].outputs")


def read_live_set(root: str, index_blob: bytes) -> LiveSet:
    """The live set of ``root`` whose committed ``container.index.bin`` is ``index_blob``."""
    index_sha256 = hashlib.sha256(index_blob).hexdigest()
    try:
        records = BuildRecords(root).load(index_sha256)
    except (RecordsError, RootEscapeError, OSError) as exc:
        return LiveSet.unknown(f"build records unreadable ({exc}); every texture is kept")
    if not records.gen:
        return LiveSet.unknown("no build records for this index (an older oxy, another tool, or records "
                               "lost); every texture is kept")
    return LiveSet(True, live_texture_indices(records), f"build records generation {records.gen}", records)
