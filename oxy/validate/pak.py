"""Validation of a PAK file (FORMATS.md 3) with every runtime check, reporting all problems.

Reads the file through the declarations of ``oxy.formats`` only, by range (header,
footer, tables, directory, descriptors, one texture header at a time; hashes and
the CRC-32 streamed), so memory is bounded by the largest table or descriptor,
not the file. Each diagnostic names the file, the absolute byte offset and the
field path. Pure functions over files; safe from any thread.
"""
from __future__ import annotations

import os
from collections import Counter
from typing import TypeVar

import numpy as np

from oxy.errors import FormatError
from oxy.formats.pak import (DIRECTORY_ENTRY_SIZE, FOOTER_FIELD_OFFSETS, PAK_CRC_OFFSET_IN_FOOTER,
                             PAK_FOOTER_SIZE, PAK_HEADER_SIZE, PAK_VERSION, RESOURCE_KINDS, TABLE_ALIGNMENT,
                             AssetDirectoryEntry, PakFooter, PakHeader, parse_browse_index)
from oxy.formats.primitives import AssetKey
from oxy.formats.views import StructView
from oxy.validate.descriptors import ResourceCounts, check_descriptor, check_references
from oxy.validate.diagnostics import ValidationReport
from oxy.validate.reader import BytesReader, FileReader, RangeReader, stream_crc32
from oxy.validate.resources import check_buffer_table, check_texture_table

V = TypeVar("V", bound=StructView)


def validate_pak(path: str | os.PathLike[str], *, verify_hashes: bool = False,
                 strict: bool = False) -> ValidationReport:
    """Validate the PAK at ``path``, reading it by range. Never raises for bad content;
    an unreadable file raises OSError (the CLI maps it to exit code 2). ``strict``
    turns warnings into errors."""
    name = os.fspath(path)
    with FileReader.open(name) as reader:
        return validate_pak_reader(reader, verify_hashes=verify_hashes, strict=strict)


def validate_pak_bytes(data: bytes | bytearray | memoryview, *, name: str = "<bytes>",
                       verify_hashes: bool = False, strict: bool = False) -> ValidationReport:
    """Validate a PAK held in memory (``name`` is used in diagnostics)."""
    return validate_pak_reader(BytesReader(data, name), verify_hashes=verify_hashes, strict=strict)


def validate_pak_reader(reader: RangeReader, *, verify_hashes: bool = False,
                        strict: bool = False) -> ValidationReport:
    """Validate the PAK that ``reader`` serves (``reader.name`` in diagnostics)."""
    name, size = reader.name, reader.size
    report = ValidationReport(name, "pak", strict=strict)
    if size < PAK_HEADER_SIZE + PAK_FOOTER_SIZE:
        report.add("pak.size", f"file is {size} bytes; a PAK needs at least a 256-byte header "
                   "and a 256-byte footer", name, 0, "header")
        return report
    foot_at = size - PAK_FOOTER_SIZE
    header = _parse_or_report(report, PakHeader, reader.read(0, PAK_HEADER_SIZE), 0, name, "header",
                              "pak.header")
    footer = _parse_or_report(report, PakFooter, reader.read(foot_at, PAK_FOOTER_SIZE), foot_at, name,
                              "footer", "pak.footer")
    if header is not None and header.version != PAK_VERSION:
        report.add("pak.header.version", f"version {header.version}; the runtime reads only "
                   f"version {PAK_VERSION}", name, 8, "header.version")
    if header is None or footer is None:
        return report
    tables = _check_tables(report, reader, footer, foot_at, verify_hashes)
    resources = ResourceCounts(tables["texture"], tables["buffer"])
    _check_directory(report, reader, footer, foot_at, resources, verify_hashes)
    if footer.browse_index_offset and footer.browse_index_size:
        try:
            _in_range_or_raise(footer.browse_index_offset, footer.browse_index_size, size, name)
            blob = reader.read(footer.browse_index_offset, footer.browse_index_size)
            parse_browse_index(blob, 0, len(blob), name)
        except FormatError as exc:
            at = None if exc.offset is None else exc.offset + footer.browse_index_offset
            report.add("pak.browse_index", f"{exc.message} (the runtime ignores the browse "
                       "index)", name, at, exc.field)
    if verify_hashes and footer.pak_crc32:
        actual = stream_crc32(reader, foot_at + PAK_CRC_OFFSET_IN_FOOTER)
        if actual != footer.pak_crc32:
            report.add("pak.crc32", f"pak_crc32 is {footer.pak_crc32:#010x}, the file's CRC-32 is "
                       f"{actual:#010x}", name, foot_at + PAK_CRC_OFFSET_IN_FOOTER, "footer.pak_crc32")
    report.stats.update(size=size, assets=footer.asset_count, textures=len(tables["texture"]),
                        buffers=len(tables["buffer"]))
    return report


def _in_range_or_raise(offset: int, length: int, size: int, name: str) -> None:
    if offset + length > size:
        raise FormatError(f"range {offset}+{length} ends past the end of the file ({size} bytes)",
                          name, None, "browse_index")


def _parse_or_report(report: ValidationReport, view: type[V], blob: bytes, at: int, name: str,
                     field: str, code: str) -> V | None:
    try:
        return view.parse(blob, 0, path=name, field=field)
    except FormatError as exc:
        report.add(code, exc.message, name, None if exc.offset is None else at + exc.offset, exc.field)
        return None


def _in_file(report: ValidationReport, offset: int, length: int, size: int, name: str, at: int,
             field: str, code: str, empty_ok: bool = True) -> bool:
    """``[offset, offset + length)`` inside the file (an empty range anywhere, when
    ``empty_ok``: regions and tables with nothing in them are never read)."""
    if (length or not empty_ok) and (offset > size or offset + length > size):
        report.add(code, f"range {offset}+{length} ends past the end of the file ({size} bytes)",
                   name, at, field)
        return False
    return True


def _check_tables(report: ValidationReport, reader: RangeReader, footer: PakFooter, foot_at: int,
                  verify_hashes: bool) -> dict[str, np.ndarray]:
    """Regions and tables: sizes, ranges, alignment; then every entry and payload."""
    out: dict[str, np.ndarray] = {}
    name, size = reader.name, reader.size
    for kind, (table_field, region_field, view, dtype) in RESOURCE_KINDS.items():
        out[kind] = np.zeros(0, dtype)
        # The v4 runtime creates texture and buffer tables only; it never reads the
        # audio ones, so their problems are the audio rules' (warnings).
        prefix = "pak.audio." if kind == "audio" else "pak."
        region = getattr(footer, region_field)
        r_at = foot_at + FOOTER_FIELD_OFFSETS[region_field]
        region_ok = _in_file(report, region.offset, region.size, size, name, r_at,
                             f"footer.{region_field}", f"{prefix}region.range")
        if region.size and region.offset % 256:
            report.add("pak.region.alignment", f"{kind} region starts at {region.offset}, not "
                       "256-aligned (engine pack-tool layout)", name, r_at, f"footer.{region_field}.offset")
        table = getattr(footer, table_field)
        t_at = foot_at + FOOTER_FIELD_OFFSETS[table_field]
        if not table.count:
            continue
        if table.entry_size != view.SIZE:
            report.add(f"{prefix}table.entry_size", f"{kind} table entry_size {table.entry_size}, "
                       f"the runtime requires {view.SIZE}", name, t_at + 12, f"footer.{table_field}.entry_size")
            continue
        if not _in_file(report, table.offset, table.count * view.SIZE, size, name, t_at,
                        f"footer.{table_field}", f"{prefix}table.range"):
            continue
        if table.offset % TABLE_ALIGNMENT:
            report.add("pak.table.alignment", f"{kind} table at {table.offset} is not "
                       f"{TABLE_ALIGNMENT}-aligned (engine pack-tool layout)", name, t_at,
                       f"footer.{table_field}.offset")
        out[kind] = np.frombuffer(reader.read(table.offset, table.count * view.SIZE), dtype, table.count)
        if not region_ok:
            continue
        bounds = (region.offset, region.offset + region.size)
        if kind == "texture":
            check_texture_table(report, out[kind], reader, table_file=name, table_base=table.offset,
                                data_file=name, data_base=0, region=bounds, verify_hashes=verify_hashes)
        elif kind == "buffer":
            check_buffer_table(report, out[kind], reader, table_file=name, table_base=table.offset,
                               data_file=name, data_base=0, region=bounds, verify_hashes=verify_hashes)
    return out


def _check_directory(report: ValidationReport, reader: RangeReader, footer: PakFooter, foot_at: int,
                     resources: ResourceCounts, verify_hashes: bool) -> None:
    count, name, size = footer.asset_count, reader.name, reader.size
    if footer.directory_size != count * DIRECTORY_ENTRY_SIZE:
        report.add("pak.directory.size", f"directory_size {footer.directory_size} != asset_count "
                   f"{count} x {DIRECTORY_ENTRY_SIZE}", name, foot_at + 8, "footer.directory_size")
    if not _in_file(report, footer.directory_offset, count * DIRECTORY_ENTRY_SIZE, size, name,
                    foot_at, "footer.directory_offset", "pak.directory.range"):
        return
    blob = reader.read(footer.directory_offset, count * DIRECTORY_ENTRY_SIZE) if count else b""
    entries: list[AssetDirectoryEntry] = []
    parsed_all = []
    for i in range(count):
        at = footer.directory_offset + i * DIRECTORY_ENTRY_SIZE
        entry = AssetDirectoryEntry.parse(blob, i * DIRECTORY_ENTRY_SIZE, path=name, field=f"directory[{i}]")
        entries.append(entry)
        fld = f"directory[{i}]"
        if entry.entry_offset != at:
            report.add("pak.directory.entry_offset", f"entry_offset {entry.entry_offset} but the "
                       f"entry is at {at}", name, at + 17, fld + ".entry_offset")
        if not _in_file(report, entry.desc_offset, entry.desc_size, size, name, at + 25,
                        fld + ".desc_offset", "pak.descriptor.range", empty_ok=False):
            continue
        desc = reader.read(entry.desc_offset, entry.desc_size)
        parsed = check_descriptor(report, entry.asset_type, desc, file=name, base=entry.desc_offset,
                                  field=f"{fld}.descriptor", resources=resources, verify_hashes=verify_hashes)
        if parsed is not None:
            parsed_all.append((i, entry, parsed))
    dupes = [k for k, n in Counter(e.asset_key for e in entries).items() if n > 1]
    for key in dupes:
        first = next(i for i, e in enumerate(entries) if e.asset_key == key)
        report.add("pak.directory.duplicate_key", f"asset key {key} appears more than once", name,
                   footer.directory_offset + first * DIRECTORY_ENTRY_SIZE, f"directory[{first}].asset_key")
    types: dict[AssetKey, int] = {}
    for e in entries:
        types.setdefault(e.asset_key, e.asset_type)
    for i, entry, parsed in parsed_all:
        check_references(report, parsed, types, file=name, base=entry.desc_offset,
                         field=f"directory[{i}].descriptor", where="this PAK")
