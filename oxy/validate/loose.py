"""Validation of a loose cooked root (FORMATS.md 6) with every runtime check.

Checks ``container.index.bin`` (header, sections, strings, paths, duplicates, file
records), then what mounting checks (descriptor and file sizes on disk, table sizes),
then the tables, payloads and descriptors in depth. Hashes only when asked. Reads
through the declarations of ``oxy.formats`` only; never a writer.

Every file is opened through :mod:`oxy.rootfs`: a file (or folder) of the root that
resolves outside it, through a symlink or otherwise, is reported as ``root.escape``
and never read. Data files are read by range (one texture header at a time, hashes
streamed), so memory is bounded by the largest table or descriptor.
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Callable, TypeVar

import numpy as np

from oxy.errors import FormatError
from oxy.formats.enums import FileKind
from oxy.formats.loose import (JOURNAL_FILE_NAME, ASSET_ENTRY_SIZE, FILE_RECORD_SIZE, FLAG_HAS_FILE_RECORDS,
                               FLAG_HAS_VIRTUAL_PATHS, INDEX_FILE_NAME, INDEX_HEADER_SIZE,
                               INDEX_VERSION, KNOWN_INDEX_FLAGS, IndexHeader, read_c_string,
                               relpath_problem, virtual_path_problem)
from oxy.formats.loose import AssetEntryStruct, FileRecordStruct
from oxy.formats.primitives import AssetKey, sha256
from oxy.formats.resources import (BUFFER_DESC_DTYPE, BUFFER_DESC_SIZE, TEXTURE_DESC_DTYPE,
                                   TEXTURE_DESC_SIZE)
from oxy.formats.views import numpy_dtype
from oxy.rootfs import RootEscapeError, cached_resolution, read_inside, size_inside
from oxy.validate.descriptors import ResourceCounts, check_descriptor, check_references
from oxy.validate.diagnostics import ValidationReport
from oxy.validate.reader import FileReader
from oxy.validate.resources import check_buffer_table, check_texture_table

T = TypeVar("T")
ENTRY_DTYPE = numpy_dtype(AssetEntryStruct)
RECORD_DTYPE = numpy_dtype(FileRecordStruct)
TABLE_ENTRY_SIZES: dict[int, int] = {FileKind.TEXTURES_TABLE: TEXTURE_DESC_SIZE, FileKind.BUFFERS_TABLE: BUFFER_DESC_SIZE}
#: (index, key, asset type, descriptor relpath, virtual path, size, sha256); a path is
#: None when it broke the rules (already reported).
AssetRow = tuple[int, AssetKey, int, "str | None", "str | None", int, bytes]
PAIRS = ((FileKind.TEXTURES_TABLE, FileKind.TEXTURES_DATA), (FileKind.BUFFERS_TABLE, FileKind.BUFFERS_DATA))


def validate_loose_root(root: str | os.PathLike[str], *, verify_hashes: bool = False,
                        deep: bool = True, strict: bool = False) -> ValidationReport:
    """Validate the loose cooked root at ``root``.

    Never raises for bad content (an index that resolves outside the root is a
    ``root.escape`` error). An unreadable index raises OSError (exit code 2 in the
    CLI). ``deep=False`` stops after what the runtime checks at mount time;
    ``strict`` turns warnings into errors.
    """
    with cached_resolution():  # each folder of the root resolved once, not once per file
        return _validate_loose_root(os.fspath(root), verify_hashes, deep, strict)


def _validate_loose_root(root: str, verify_hashes: bool, deep: bool, strict: bool) -> ValidationReport:
    report = ValidationReport(root, "loose", strict=strict)
    name = INDEX_FILE_NAME
    if os.path.lexists(os.path.join(root, JOURNAL_FILE_NAME)):
        report.add("root.unfinished_commit", "a commit was interrupted (its journal is still there); "
                   "`oxy validate --repair` or the next `oxy cook` rolls it back or completes it",
                   JOURNAL_FILE_NAME)
    try:
        data = read_inside(root, INDEX_FILE_NAME)
    except RootEscapeError as exc:
        _escape(report, name, exc, "index")
        return report
    header = _check_header(report, data, name)
    if header is None:
        return report
    strings = _check_sections(report, data, header, name)
    if strings is None:
        return report
    assets = _check_assets(report, data, header, strings, name)
    files = _check_records(report, data, header, strings, name)
    files_ = _Files(report, root)
    blobs = _check_on_disk(report, files_, assets, files, verify_hashes)
    report.stats.update(assets=len(assets), file_records=len(files))
    index_sound = not any(e.code.startswith("index.") for e in report.errors)
    if deep and index_sound:
        _check_contents(report, files_, assets, files, verify_hashes, blobs)
    return report


def _check_header(report: ValidationReport, data: bytes, name: str) -> IndexHeader | None:
    if len(data) < INDEX_HEADER_SIZE:
        report.add("index.size", f"file is {len(data)} bytes; the header alone is "
                     f"{INDEX_HEADER_SIZE}", name, 0, "header")
        return None
    try:
        h = IndexHeader.parse(data, 0, path=name, field="header")
    except FormatError as exc:
        report.add("index.header.magic", exc.message, name, exc.offset, exc.field)
        return None
    if h.version != INDEX_VERSION:
        report.add("index.header.version", f"version {h.version}; the runtime reads only "
                     f"{INDEX_VERSION}", name, 8, "header.version")
    if h.flags & ~KNOWN_INDEX_FLAGS:
        report.add("index.header.flags", f"unknown flag bits {h.flags & ~KNOWN_INDEX_FLAGS:#x}",
                     name, 12, "header.flags")
    if h.flags:
        if not h.flags & FLAG_HAS_VIRTUAL_PATHS:
            report.add("index.header.flags", "HasVirtualPaths (1) is required when flags are set",
                         name, 12, "header.flags")
        if h.file_record_count and not h.flags & FLAG_HAS_FILE_RECORDS:
            report.add("index.header.file_record_count", f"{h.file_record_count} file records but "
                         "HasFileRecords (2) is not set", name, 56, "header.file_record_count")
        if h.flags & FLAG_HAS_FILE_RECORDS and h.file_record_size != FILE_RECORD_SIZE:
            report.add("index.header.file_record_size", f"file_record_size {h.file_record_size}, "
                         f"expected {FILE_RECORD_SIZE}", name, 60, "header.file_record_size")
    if not any(h.guid):
        report.add("index.header.guid", "guid is all zero; it must be a non-zero source key",
                     name, 64, "header.guid")
    if h.asset_entry_size != ASSET_ENTRY_SIZE:
        report.add("index.header.asset_entry_size", f"asset_entry_size {h.asset_entry_size}, "
                     f"expected {ASSET_ENTRY_SIZE}", name, 44, "header.asset_entry_size")
    if h.file_record_count and h.file_record_size != FILE_RECORD_SIZE:
        report.add("index.header.file_record_size", f"file_record_size {h.file_record_size}, "
                     f"expected {FILE_RECORD_SIZE}", name, 60, "header.file_record_size")
    return h if report.ok else None


def _check_sections(report: ValidationReport, data: bytes, h: IndexHeader, name: str) -> bytes | None:
    size = len(data)
    st_off, st_size = h.string_table_offset, h.string_table_size
    st_end = st_off + st_size
    if st_size == 0:
        report.add("index.strings.empty", "the string table is empty", name, 24, "header.string_table_size")
    elif st_off < INDEX_HEADER_SIZE:
        report.add("index.strings.offset", f"string table at {st_off}, inside the header", name, 16,
                     "header.string_table_offset")
    elif st_end > size:
        report.add("index.strings.range", f"string table {st_off}+{st_size} ends past the file "
                     f"({size} bytes)", name, 16, "header.string_table_offset")
    elif data[st_off] != 0:
        report.add("index.strings.first_byte", "the string table must start with NUL", name, st_off,
                     "strings[0]")
    assets_end = h.asset_entries_offset + h.asset_count * ASSET_ENTRY_SIZE
    if h.asset_entries_offset < st_end:
        report.add("index.assets.offset", f"asset entries at {h.asset_entries_offset} overlap the "
                     f"string table (ends at {st_end})", name, 32, "header.asset_entries_offset")
    elif assets_end > size:
        report.add("index.assets.range", f"{h.asset_count} asset entries at {h.asset_entries_offset} "
                     f"end past the file ({size} bytes)", name, 40, "header.asset_count")
    records_end = h.file_records_offset + h.file_record_count * FILE_RECORD_SIZE
    if h.file_record_count and h.file_records_offset < assets_end:
        report.add("index.records.offset", f"file records at {h.file_records_offset} overlap the "
                     f"asset entries (end at {assets_end})", name, 48, "header.file_records_offset")
    elif records_end > size:
        report.add("index.records.range", f"{h.file_record_count} file records at "
                     f"{h.file_records_offset} end past the file ({size} bytes)", name, 56,
                     "header.file_record_count")
    return data[st_off:st_end] if report.ok else None


def _string(report: ValidationReport, table: bytes, offset: int, name: str, at: int, fld: str) -> str | None:
    text = read_c_string(table, offset)
    if text is None:
        report.add("index.string_offset", f"offset {offset} is not a NUL-terminated UTF-8 string "
                     f"inside the {len(table)}-byte string table", name, at, fld)
    return text


def _check_assets(report: ValidationReport, data: bytes, h: IndexHeader, strings: bytes,
                  name: str) -> list[AssetRow]:
    rows = np.frombuffer(data, ENTRY_DTYPE, h.asset_count, h.asset_entries_offset)
    out: list[AssetRow] = []
    for i, e in enumerate(rows):
        at = h.asset_entries_offset + i * ASSET_ENTRY_SIZE
        fld = f"assets[{i}]"
        rel = _string(report, strings, int(e["descriptor_relpath_offset"]), name, at + 16,
                      fld + ".descriptor_relpath_offset")
        vpath = _string(report, strings, int(e["virtual_path_offset"]), name, at + 20,
                        fld + ".virtual_path_offset")
        if rel is not None and (problem := relpath_problem(rel)):
            report.add("index.asset.relpath", f"descriptor path {rel!r} {problem}", name, at + 16,
                         fld + ".descriptor_relpath_offset")
            rel = None
        if vpath is not None and (problem := virtual_path_problem(vpath)):
            report.add("index.asset.virtual_path", f"virtual path {vpath!r} {problem}", name, at + 20,
                         fld + ".virtual_path_offset")
        key = AssetKey(e["asset_key"].tobytes())
        out.append((i, key, int(e["asset_type"]), rel, vpath, int(e["descriptor_size"]),
                    e["descriptor_sha256"].tobytes()))
    for what, column, offs in (("asset key", 1, 0), ("virtual path", 4, 20)):
        _report_duplicates(report, [row[column] for row in out], h.asset_entries_offset, offs, what, name)
    _report_duplicates(report, [int(v) for v in rows["virtual_path_offset"]], h.asset_entries_offset, 20,
                       "virtual path offset", name)
    return out


def _report_duplicates(report: ValidationReport, values: list, base: int, field_at: int, what: str,
                       name: str) -> None:
    counts = Counter(v for v in values if v is not None)
    for value, n in counts.items():
        if n > 1:
            first = values.index(value)
            second = values.index(value, first + 1)
            report.add("index.asset.duplicate", f"duplicate {what} {value} (assets {first} and {second})",
                         name, base + second * ASSET_ENTRY_SIZE + field_at, f"assets[{second}]")


def _check_records(report: ValidationReport, data: bytes, h: IndexHeader, strings: bytes,
                   name: str) -> dict[int, tuple[str, int]]:
    rows = np.frombuffer(data, RECORD_DTYPE, h.file_record_count, h.file_records_offset)
    files: dict[int, tuple[str, int]] = {}
    for i, r in enumerate(rows):
        at = h.file_records_offset + i * FILE_RECORD_SIZE
        kind = int(r["kind"])
        fld = f"files[{i}]"
        if not FileKind.BUFFERS_TABLE <= kind <= FileKind.TEXTURES_DATA:
            report.add("index.record.kind", f"file kind {kind} is not 1..4", name, at, fld + ".kind")
            continue
        if kind in files:
            report.add("index.record.duplicate_kind", f"a second {FileKind(kind).name} record", name, at,
                         fld + ".kind")
            continue
        rel = _string(report, strings, int(r["relpath_offset"]), name, at + 4, fld + ".relpath_offset")
        if rel is not None and (problem := relpath_problem(rel)):
            report.add("index.record.relpath", f"path {rel!r} {problem}", name, at + 4, fld + ".relpath_offset")
            rel = None
        if rel is not None:
            files[kind] = (rel, int(r["size"]))
    for table, data_kind in PAIRS:
        if (table in files) != (data_kind in files):
            missing = FileKind(data_kind if table in files else table).name
            report.add("index.record.pair", f"{missing} record missing: a table and its data go "
                         "together", name, h.file_records_offset, "files")
    return files


def _escape(report: ValidationReport, rel: str, exc: RootEscapeError, field: str) -> None:
    report.add("root.escape", f"resolves to {exc.target}, outside the root; refusing to read it", rel,
               None, field)


class _Files:
    """Confined access to a root's files; remembers (and reports once) those that
    resolve outside the root or cannot be read, so they are never read later."""

    def __init__(self, report: ValidationReport, root: str) -> None:
        self.report, self.root = report, root
        self.refused: set[str] = set()

    def size(self, rel: str, field: str) -> int | None:
        """The regular file's size, or None (missing, not a file, or refused: reported)."""
        return self._confined(rel, field, size_inside)

    def read(self, rel: str | None) -> bytes | None:
        """The file's bytes, or None when it cannot be read (already reported)."""
        return self._confined(rel, "", read_inside)

    def reader(self, rel: str | None) -> FileReader | None:
        return self._confined(rel, "", FileReader.open_in_root)

    def _confined(self, rel: str | None, field: str, fn: Callable[[str, str], T]) -> T | None:
        """``fn(root, rel)``; None for a refused or unreadable file (a root escape is
        reported once, and the file is never touched again)."""
        if rel is None or rel in self.refused:
            return None
        try:
            return fn(self.root, rel)
        except RootEscapeError as exc:
            self.refused.add(rel)
            _escape(self.report, rel, exc, field)
            return None
        except OSError:
            return None


def _check_on_disk(report: ValidationReport, files_: _Files, assets: list, files: dict[int, tuple[str, int]],
                   verify_hashes: bool) -> dict[str, bytes]:
    """What the runtime checks when it mounts the root. Returns the descriptor bytes it
    read for the SHA-256 check, so the deep checks need not read them again."""
    blobs: dict[str, bytes] = {}
    for i, _key, _type, rel, _vpath, size, digest in assets:
        if rel is None:
            continue
        actual = files_.size(rel, f"assets[{i}]")
        if rel in files_.refused:
            continue
        if actual is None:
            report.add("mount.descriptor.missing",
                       f"descriptor file {rel} does not exist (or is not a regular file)", rel, None, f"assets[{i}]")
        elif actual != size:
            report.add("mount.descriptor.size", f"descriptor is {actual} bytes, the index says {size}",
                       rel, None, f"assets[{i}].descriptor_size")
        elif verify_hashes and any(digest):
            blob = blobs[rel] = files_.read(rel) or b""
            if sha256(blob) != digest:
                report.add("mount.descriptor.sha256", "SHA-256 of the descriptor does not match "
                           "descriptor_sha256", rel, None, f"assets[{i}].descriptor_sha256")
    for kind, (rel, size) in files.items():
        actual = files_.size(rel, "files")
        if rel in files_.refused:
            continue
        if actual is None:
            report.add("mount.file.missing",
                       f"{FileKind(kind).name} file {rel} does not exist (or is not a regular file)", rel, None, "files")
            continue
        if actual != size:
            report.add("mount.file.size", f"file is {actual} bytes, the index says {size}", rel, None, "files.size")
        entry = TABLE_ENTRY_SIZES.get(kind)
        if entry and actual % entry:
            report.add("mount.table.size", f"table is {actual} bytes, not a multiple of {entry}", rel, None,
                       "files.size")
        if entry and actual // entry >= 2**32:
            report.add("mount.table.count", "more than 2^32-1 entries", rel, None, "files.size")
    return blobs


def _check_contents(report: ValidationReport, files_: _Files, assets: list, files: dict[int, tuple[str, int]],
                    verify_hashes: bool, blobs: dict[str, bytes]) -> None:
    """Tables, payloads and descriptors in depth, for every file that can be read."""
    tables = {}
    for (table_kind, data_kind), dtype, checker in (
            (PAIRS[0], TEXTURE_DESC_DTYPE, check_texture_table), (PAIRS[1], BUFFER_DESC_DTYPE, check_buffer_table)):
        table_rel, data_rel = files.get(table_kind, (None, 0))[0], files.get(data_kind, (None, 0))[0]
        tables[table_kind] = np.zeros(0, dtype)
        table_bytes = files_.read(table_rel)
        if table_bytes is None or table_rel is None or data_rel is None:
            continue
        data = files_.reader(data_rel)
        if data is None:
            continue
        with data:
            table = np.frombuffer(table_bytes, dtype, len(table_bytes) // dtype.itemsize)
            tables[table_kind] = table
            checker(report, table, data, table_file=table_rel, table_base=0, data_file=data_rel,
                    data_base=0, region=(0, data.size), verify_hashes=verify_hashes)
    resources = ResourceCounts(tables[FileKind.TEXTURES_TABLE], tables[FileKind.BUFFERS_TABLE])
    types: dict[AssetKey, int] = {}
    for row in assets:
        types.setdefault(row[1], row[2])
    for i, key, asset_type, rel, _vpath, _size, _digest in assets:
        blob = blobs.get(rel) if rel in blobs else files_.read(rel)
        if blob is None:
            continue
        parsed = check_descriptor(report, asset_type, blob, file=rel, base=0, field="descriptor",
                                  resources=resources, verify_hashes=verify_hashes)
        if parsed is not None:
            check_references(report, parsed, types, file=rel, base=0, field="descriptor", where="this root")
    report.stats.update(textures=len(tables[FileKind.TEXTURES_TABLE]),
                        buffers=len(tables[FileKind.BUFFERS_TABLE]))
