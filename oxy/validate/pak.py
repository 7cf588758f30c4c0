"""Validation of a PAK file (FORMATS.md 3) with every runtime check, reporting all problems.

Reads the file through the declarations of ``oxy.formats`` only. Each diagnostic
names the file, the absolute byte offset and the field path.
"""
from __future__ import annotations

import os
from collections import Counter
from typing import TypeVar

import numpy as np

from oxy.errors import FormatError
from oxy.formats.pak import (DIRECTORY_ENTRY_SIZE, PAK_FOOTER_SIZE, PAK_HEADER_SIZE, PAK_VERSION,
                             RESOURCE_KINDS, TABLE_ALIGNMENT, AssetDirectoryEntry, PakFooter,
                             PakHeader, FOOTER_FIELD_OFFSETS, parse_browse_index)
from oxy.formats.primitives import pak_crc32
from oxy.formats.scene import SceneDescriptor
from oxy.formats.views import StructView
from oxy.validate.descriptors import ResourceCounts, check_descriptor, scene_geometry_keys
from oxy.validate.diagnostics import ValidationReport
from oxy.validate.resources import check_buffer_table, check_texture_table

V = TypeVar("V", bound=StructView)


def validate_pak(path: str | os.PathLike[str], *, verify_hashes: bool = False) -> ValidationReport:
    """Validate the PAK at ``path``. Never raises for bad content; an unreadable file
    raises OSError (the CLI maps it to exit code 2)."""
    name = os.fspath(path)
    with open(name, "rb") as fh:
        data = fh.read()
    return validate_pak_bytes(data, name=name, verify_hashes=verify_hashes)


def validate_pak_bytes(data: bytes, *, name: str = "<bytes>", verify_hashes: bool = False
                       ) -> ValidationReport:
    report = ValidationReport(name, "pak")
    size = len(data)
    if size < PAK_HEADER_SIZE + PAK_FOOTER_SIZE:
        report.error("pak.size", f"file is {size} bytes; a PAK needs at least a 256-byte header "
                     "and a 256-byte footer", name, 0, "header")
        return report
    header = _parse_or_report(report, PakHeader, data, 0, name, "header", "pak.header")
    foot_at = size - PAK_FOOTER_SIZE
    footer = _parse_or_report(report, PakFooter, data, foot_at, name, "footer", "pak.footer")
    if header is not None and header.version != PAK_VERSION:
        report.error("pak.header.version", f"version {header.version}; the runtime reads only "
                     f"version {PAK_VERSION}", name, 8, "header.version")
    if header is None or footer is None:
        return report
    tables = _check_tables(report, data, footer, foot_at, name, verify_hashes)
    resources = ResourceCounts(tables["texture"], tables["buffer"])
    _check_directory(report, data, footer, foot_at, name, resources, verify_hashes)
    if footer.browse_index_offset and footer.browse_index_size:
        try:
            parse_browse_index(data, footer.browse_index_offset, footer.browse_index_size, name)
        except FormatError as exc:
            report.warning("pak.browse_index", f"{exc.message} (the runtime ignores the browse "
                           "index)", name, exc.offset, exc.field)
    if verify_hashes and footer.pak_crc32:
        actual = pak_crc32(data)
        if actual != footer.pak_crc32:
            report.error("pak.crc32", f"pak_crc32 is {footer.pak_crc32:#010x}, the file's CRC-32 is "
                         f"{actual:#010x}", name, foot_at + 244, "footer.pak_crc32")
    report.stats.update(size=size, assets=footer.asset_count, textures=len(tables["texture"]),
                        buffers=len(tables["buffer"]))
    return report


def _parse_or_report(report: ValidationReport, view: type[V], data: bytes, at: int, name: str,
                     field: str, code: str) -> V | None:
    try:
        return view.parse(data, at, path=name, field=field)
    except FormatError as exc:
        report.error(code, exc.message, name, exc.offset, exc.field)
        return None


def _in_file(report: ValidationReport, offset: int, length: int, size: int, name: str, at: int,
             field: str, code: str) -> bool:
    if length and offset + length > size:
        report.error(code, f"range {offset}+{length} ends past the end of the file ({size} bytes)",
                     name, at, field)
        return False
    return True


def _check_tables(report: ValidationReport, data: bytes, footer: PakFooter, foot_at: int, name: str,
                  verify_hashes: bool) -> dict[str, np.ndarray]:
    """Regions and tables: sizes, ranges, alignment; then every entry and payload."""
    out: dict[str, np.ndarray] = {}
    size = len(data)
    for kind, (table_field, region_field, view, dtype) in RESOURCE_KINDS.items():
        out[kind] = np.zeros(0, dtype)
        region = getattr(footer, region_field)
        r_at = foot_at + FOOTER_FIELD_OFFSETS[region_field]
        region_ok = _in_file(report, region.offset, region.size, size, name, r_at,
                             f"footer.{region_field}", "pak.region.range")
        if region.size and region.offset % 256:
            report.error("pak.region.alignment", f"{kind} region starts at {region.offset}, not "
                         "256-aligned", name, r_at, f"footer.{region_field}.offset")
        table = getattr(footer, table_field)
        t_at = foot_at + FOOTER_FIELD_OFFSETS[table_field]
        if not table.count:
            continue
        if table.entry_size != view.SIZE:
            report.error("pak.table.entry_size", f"{kind} table entry_size {table.entry_size}, "
                         f"the runtime requires {view.SIZE}", name, t_at + 12, f"footer.{table_field}.entry_size")
            continue
        if not _in_file(report, table.offset, table.count * view.SIZE, size, name, t_at,
                        f"footer.{table_field}", "pak.table.range"):
            continue
        if table.offset % TABLE_ALIGNMENT:
            report.warning("pak.table.alignment", f"{kind} table at {table.offset} is not "
                           f"{TABLE_ALIGNMENT}-aligned (engine pack-tool layout)", name, t_at,
                           f"footer.{table_field}.offset")
        out[kind] = np.frombuffer(data, dtype, table.count, table.offset)
        if not region_ok:
            continue
        bounds = (region.offset, region.offset + region.size)
        if kind == "texture":
            check_texture_table(report, out[kind], data, table_file=name, table_base=table.offset,
                                data_file=name, data_base=0, region=bounds, verify_hashes=verify_hashes)
        elif kind == "buffer":
            check_buffer_table(report, out[kind], data, table_file=name, table_base=table.offset,
                               data_file=name, data_base=0, region=bounds, verify_hashes=verify_hashes)
    return out


def _check_directory(report: ValidationReport, data: bytes, footer: PakFooter, foot_at: int, name: str,
                     resources: ResourceCounts, verify_hashes: bool) -> None:
    count, size = footer.asset_count, len(data)
    if footer.directory_size != count * DIRECTORY_ENTRY_SIZE:
        report.error("pak.directory.size", f"directory_size {footer.directory_size} != asset_count "
                     f"{count} x {DIRECTORY_ENTRY_SIZE}", name, foot_at + 8, "footer.directory_size")
    if not _in_file(report, footer.directory_offset, count * DIRECTORY_ENTRY_SIZE, size, name,
                    foot_at, "footer.directory_offset", "pak.directory.range"):
        return
    entries, scenes = [], []
    for i in range(count):
        at = footer.directory_offset + i * DIRECTORY_ENTRY_SIZE
        entry = AssetDirectoryEntry.parse(data, at, path=name, field=f"directory[{i}]")
        entries.append(entry)
        fld = f"directory[{i}]"
        if entry.entry_offset != at:
            report.warning("pak.directory.entry_offset", f"entry_offset {entry.entry_offset} but the "
                           f"entry is at {at}", name, at + 17, fld + ".entry_offset")
        if not _in_file(report, entry.desc_offset, entry.desc_size, size, name, at + 25,
                        fld + ".desc_offset", "pak.descriptor.range"):
            continue
        blob = data[entry.desc_offset:entry.desc_offset + entry.desc_size]
        parsed = check_descriptor(report, entry.asset_type, blob, file=name, base=entry.desc_offset,
                                  field=f"{fld}.descriptor", resources=resources,
                                  verify_hashes=verify_hashes)
        if isinstance(parsed, SceneDescriptor):
            scenes.append((i, entry, parsed))
    dupes = [k for k, n in Counter(e.asset_key for e in entries).items() if n > 1]
    for key in dupes:
        first = next(i for i, e in enumerate(entries) if e.asset_key == key)
        report.error("pak.directory.duplicate_key", f"asset key {key} appears more than once", name,
                     footer.directory_offset + first * DIRECTORY_ENTRY_SIZE, f"directory[{first}].asset_key")
    keys = {e.asset_key for e in entries}
    for i, entry, scene in scenes:
        for key in scene_geometry_keys(scene):
            if key not in keys:
                report.warning("scene.geometry_key", f"renderable geometry {key} is not in this PAK",
                               name, entry.desc_offset, f"directory[{i}].descriptor.components")
