"""``oxy compact ROOT``: rewrite a loose cooked root in place with only its live data.

Re-imports append (log-structured), so a root accumulates superseded table entries
and their payloads. Compaction keeps what :func:`oxy.pack.compact.renumber` keeps
for ``oxy pack`` (every resource an asset references, the live standalone textures
of the build records; with no records for the index, every texture, since nothing
is known to be superseded) and renumbers it with the same canonical order, so a
root packs to the same PAK bytes before and after.

Steps, all under the root lock (:class:`~oxy.build.rootlock.RootLock`, taken
without waiting: a running cook makes this fail with RootBusyError):

1. recover an unfinished commit (:func:`~oxy.build.journal.recover_root_locked`);
2. read and validate the root (:func:`oxy.pack.content.read_content`, deep, hashes
   verified) and its live set;
3. lay out new tables and data files (texture 0 the fallback, payloads 256-aligned;
   buffers aligned as the buffer emitter aligns them) and remap descriptors; a file
   whose bytes would not change is not rewritten, and when nothing changes nothing
   is written at all (not one byte or mtime);
4. write each changed file to ``<relpath>.oxy-tmp-<tag>``, build the new index (same
   GUID and content_version, new file sizes and descriptor digests), stage a build
   records generation for it whose outputs carry the new texture (and geometry
   buffer) indices, or none for an entry that was dropped;
5. :func:`~oxy.build.commit.execute_commit` replaces the files whole (hard-link
   backups, renames, the index last), then the records' other generations are
   dropped (:meth:`~oxy.build.records.BuildRecords.finish`), or the staged one is
   discarded when the commit did not take place.

A crash at any instant leaves the old root or the new one (the journal's recovery
restores the backups, or completes the commit once its index is in place), and the
records read back are those of whichever index is in place.

Plain blocking code: call from one thread. Failure modes: RootBusyError (a cook
holds the lock), FormatError (invalid content or records that disagree with the
index), RootEscapeError, CommitError (rolled back), RecordsError, OSError.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from oxy.build.commit import CommitPlan, FileReplace, execute_commit
from oxy.build.journal import TEMP_MARKER, RootBusyError, file_sha256, recover_root_locked, remove_if_present
from oxy.build.records import BuildRecords, OutputRecord, RecordSet, RecordsError, SourceRecord
from oxy.build.rootlock import RootLock, holder_of
from oxy.formats import AssetKey, FileKind, IndexAsset, IndexFile, LooseIndex, build_index
from oxy.formats.loose import INDEX_FILE_NAME, JOURNAL_FILE_NAME, LOCK_FILE_NAME
from oxy.formats.primitives import align_up
from oxy.formats.resources import TEXTURE_DATA_ALIGNMENT, buffer_alignment
from oxy.pack.compact import PackStats, renumber
from oxy.pack.content import Content, Resource, read_content
from oxy.rootfs import open_inside, read_inside, resolve_inside, size_inside

__all__ = ["CompactResult", "compact_root"]


@dataclass(frozen=True)
class CompactResult:
    """What :func:`compact_root` found and did. ``changed`` False: the root was
    already compact and nothing was written (``dry_run``: nothing is ever written,
    ``changed`` says whether a real run would write)."""

    root: str
    changed: bool
    dry_run: bool
    bytes_before: int        # the index and every file it names
    bytes_after: int
    textures_before: int     # table entries
    textures_after: int
    buffers_before: int
    buffers_after: int
    rewritten_files: tuple[str, ...]
    stats: PackStats
    live_known: bool
    live_note: str
    recovery: tuple[str, ...] = ()   # what recovery did first (a dry run: what it would do)
    records_note: str = ""

    def to_dict(self) -> dict[str, object]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "stats"}
        out["rewritten_files"] = list(self.rewritten_files)
        out["recovery"] = list(self.recovery)
        out["stats"] = self.stats.to_dict()
        return out


@dataclass(frozen=True)
class _Kind:
    """One resource kind of the root: its file records and the new layout."""

    table_kind: int
    data_kind: int
    table_relpath: str
    data_relpath: str
    old: list[Resource]
    new: list[Resource]
    entries: bytes           # the new table
    offsets: list[int]       # where each new payload goes in the new data file
    data_size: int
    old_data_size: int
    table_changed: bool
    data_changed: bool


def _layout(resources: Sequence[Resource], align: Callable[[Resource], int]) -> tuple[bytes, list[int], int]:
    """The table bytes, payload offsets and data size of ``resources`` packed in order."""
    entries, offsets, end = [], [], 0
    for r in resources:
        at = align_up(end, max(1, align(r)))
        offsets.append(at)
        entries.append(r.entry.replace(data_offset=at).build())
        end = at + len(r.payload)
    return b"".join(entries), offsets, end


def _plan_kind(root: str, index: LooseIndex, table_kind: int, data_kind: int, old: list[Resource],
               new: list[Resource], align: Callable[[Resource], int]) -> _Kind | None:
    table, data = index.file(table_kind), index.file(data_kind)
    if table is None or data is None:
        return None
    entries, offsets, size = _layout(new, align)
    table_changed = entries != read_inside(root, table.relpath)
    same_payloads = len(old) == len(new) and all(a.payload == b.payload for a, b in zip(old, new))
    data_changed = table_changed or size != data.size or not same_payloads
    return _Kind(table_kind, data_kind, table.relpath, data.relpath, old, new, entries, offsets, size, data.size,
                 table_changed, data_changed)


def _write_new(root: str, relpath: str, chunks: Sequence[tuple[int, bytes]]) -> None:
    """Create ``relpath`` (must not exist) holding each (offset, bytes); gaps are zeros."""
    fd = open_inside(root, relpath, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        end = 0
        for at, blob in chunks:
            if at > end:
                _pwrite_all(fd, bytes(at - end), end)
            _pwrite_all(fd, blob, at)
            end = at + len(blob)
    finally:
        os.close(fd)


def _pwrite_all(fd: int, blob: bytes, at: int) -> None:
    view, done = memoryview(blob), 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], at + done)


def _remap_output(o: OutputRecord, texture_map: dict[int, int], buffer_map: dict[int, int]) -> OutputRecord:
    """``o`` with its texture index (None once dropped) and, when records carry them,
    its geometry's buffer indices (none once any was dropped) renumbered."""
    if o.kind == "texture" and o.index is not None:
        o = dataclasses.replace(o, index=texture_map.get(o.index))
    buffers = getattr(o, "buffers", ())  # a geometry's buffers (records of scene cooks)
    if buffers:
        moved = [buffer_map.get(b) for b in buffers]
        kept = () if None in moved else tuple(b for b in moved if b is not None)
        changes: dict[str, Any] = {"buffers": kept}
        o = dataclasses.replace(o, **changes)
    return o


def _remap_records(records: RecordSet, texture_map: dict[int, int],
                   buffer_map: dict[int, int]) -> dict[str, SourceRecord | None]:
    """Every source whose outputs move (the incremental cook reuses root entries by
    these indices, so none may be left pointing at another entry)."""
    changed: dict[str, SourceRecord | None] = {}
    for path, record in records.sources.items():
        outputs = [_remap_output(o, texture_map, buffer_map) for o in record.outputs]
        if outputs != record.outputs:
            changed[path] = dataclasses.replace(record, outputs=outputs)
    return changed


def _total_size(root: str, index: LooseIndex, index_size: int) -> int:
    sizes = [size_inside(root, a.descriptor_relpath) for a in index.assets]
    return index_size + sum(s or 0 for s in sizes) + sum(f.size for f in index.files)


def compact_root(root: str | os.PathLike[str], *, dry_run: bool = False, verify_hashes: bool = True) -> CompactResult:
    """Compact the loose root at ``root`` in place (see the module docstring)."""
    root = os.fspath(root)
    if not os.path.isfile(os.path.join(root, INDEX_FILE_NAME)):
        raise FileNotFoundError(2, "not a loose cooked root (no container.index.bin)", root)
    lock = RootLock(root)
    if not lock.try_acquire():
        raise RootBusyError(f"{root}: {holder_of(root) or 'another process'} holds {os.path.join(root, LOCK_FILE_NAME)} "
                            "(a cook is running); not compacting under it")
    try:
        if dry_run:  # recovery writes: a dry run only says that it would recover
            pending = os.path.lexists(os.path.join(root, JOURNAL_FILE_NAME))
            recovery: tuple[str, ...] = ((f"{JOURNAL_FILE_NAME} present: a real run first finishes or undoes that "
                                          "commit; these figures are for the root as it is now",) if pending else ())
        else:
            recovery = tuple(recover_root_locked(root).actions)
        return _compact_locked(root, dry_run, verify_hashes, recovery)
    finally:
        lock.release()


def _compact_locked(root: str, dry_run: bool, verify: bool, recovery: tuple[str, ...]) -> CompactResult:
    content = read_content(root, verify_hashes=verify)
    index = content.index
    assert index is not None
    r = renumber([content])
    kinds = [k for k in (
        _plan_kind(root, index, FileKind.TEXTURES_TABLE, FileKind.TEXTURES_DATA, content.textures,
                   r.textures if content.textures else [], lambda _r: TEXTURE_DATA_ALIGNMENT),
        _plan_kind(root, index, FileKind.BUFFERS_TABLE, FileKind.BUFFERS_DATA, content.buffers, r.buffers,
                   lambda res: buffer_alignment(res.entry.usage_flags, res.entry.element_stride)))
        if k is not None]
    descriptors = {a.key: blob for _c, a, blob in r.assets if blob != a.descriptor}
    assets = tuple(IndexAsset(a.key, a.asset_type, a.descriptor_relpath, a.virtual_path, a.descriptor_size,
                              hashlib.sha256(descriptors[a.key]).digest()) if a.key in descriptors else a
                   for a in index.assets)
    files = {f.kind: f for f in index.files}
    for k in kinds:
        files[k.table_kind] = IndexFile(k.table_kind, k.table_relpath, len(k.entries))
        files[k.data_kind] = IndexFile(k.data_kind, k.data_relpath, k.data_size)
    blob = build_index(LooseIndex(index.guid, index.content_version, assets, tuple(files.values())))
    old_index_size = size_inside(root, INDEX_FILE_NAME) or 0
    rewritten = [k.table_relpath for k in kinds if k.table_changed] + [k.data_relpath for k in kinds if k.data_changed]
    rewritten += [a.descriptor_relpath for a in index.assets if a.key in descriptors]
    # Nothing to rewrite, or only an order that no descriptor or size reveals (standalone
    # textures in another order): the index would not change, and a commit must change
    # it (recovery tells a finished commit from an unfinished one by the index's hash).
    changed = bool(rewritten) and hashlib.sha256(blob).hexdigest() != content.index_sha256
    before = _total_size(root, index, old_index_size)
    after = len(blob) + sum(a.descriptor_size for a in assets) + sum(f.size for f in files.values())
    new_textures = len(r.textures) if content.textures else 0
    result = CompactResult(
        root, changed, dry_run, before, after if changed else before,
        len(content.textures), new_textures if changed else len(content.textures),
        len(content.buffers), len(r.buffers) if changed else len(content.buffers),
        tuple(rewritten) if changed else (), r.stats, content.live.known, content.live.note, recovery)
    if dry_run:
        return result
    if not changed:
        if recovery and content.live.records is not None:  # a recovered commit may leave an older generation
            return dataclasses.replace(result, records_note=_finish_quietly(BuildRecords(root),
                                                                            content.live.records.gen))
        return result
    note = _commit(root, content, (r.texture_maps[0], r.buffer_maps[0]), kinds, descriptors, blob)
    return dataclasses.replace(result, records_note=note)


def _commit(root: str, content: Content, maps: tuple[dict[int, int], dict[int, int]], kinds: list[_Kind],
            descriptors: dict[AssetKey, bytes], blob: bytes) -> str:
    """Write the temporaries, stage the records, commit; the records note (empty when fine)."""
    index = content.index
    assert index is not None
    tag = f"compact-{os.getpid()}-{secrets.token_hex(4)}"
    replaces: list[FileReplace] = []

    def temp(relpath: str) -> str:
        name = f"{relpath}{TEMP_MARKER}{tag}"
        replaces.append(FileReplace(name, relpath))
        return name

    new_sha = hashlib.sha256(blob).hexdigest()
    records = BuildRecords(root)
    gen = 0
    try:
        for k in kinds:
            if k.data_changed:
                _write_new(root, temp(k.data_relpath), [(at, res.payload) for at, res in zip(k.offsets, k.new)])
            if k.table_changed:
                _write_new(root, temp(k.table_relpath), [(0, k.entries)])
        for a in index.assets:
            if a.key in descriptors:
                _write_new(root, temp(a.descriptor_relpath), [(0, descriptors[a.key])])
        if content.live.known and content.live.records is not None:
            base = content.live.records
            gen = records.stage(new_sha, base, _remap_records(base, *maps))
        execute_commit(CommitPlan(root, tag, (), tuple(replaces), blob))
    except BaseException:
        for rep in replaces:
            remove_if_present(resolve_inside(root, rep.temp))
        # A failure after the index went in place (during the cleanup) is still a
        # commit: its records generation must stay (the reader picks it by hash).
        if gen and file_sha256(resolve_inside(root, INDEX_FILE_NAME)) != new_sha:
            _discard_quietly(records, gen)
        raise
    return _finish_quietly(records, gen) if gen else ""


def _finish_quietly(records: BuildRecords, gen: int) -> str:
    """Drop every other generation; a failure only leaves them taking room (the
    reader picks the generation by the index's hash). The note, empty when fine."""
    try:
        records.finish(gen)
    except RecordsError as exc:
        return f"older build records generations stay: {exc}"
    return ""


def _discard_quietly(records: BuildRecords, gen: int) -> None:
    try:
        records.discard(gen)
    except RecordsError:
        pass  # an unmatched generation is inert (its index never went in place)

