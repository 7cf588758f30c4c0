"""The PAK container, format version 4 (FORMATS.md 3).

A 256-byte header at 0, a 256-byte footer in the last 256 bytes, and between them
(engine pack-tool order) the texture/buffer/audio regions, the resource tables, the
descriptors, the asset directory and the optional browse index. The runtime only
follows offsets, so :func:`parse_pak` reads whatever layout the offsets describe and
:func:`build_pak` writes a :class:`PakFile` back at the offsets it records.
"""
from __future__ import annotations

from dataclasses import dataclass

import construct as c
import numpy as np

from oxy.errors import FormatError
from oxy.formats.primitives import KeyField, Magic, Reserved, AssetKey, pak_crc32
from oxy.formats.resources import (AUDIO_DESC_DTYPE, BUFFER_DESC_DTYPE, TEXTURE_DESC_DTYPE,
                                   AudioResourceDesc, BufferResourceDesc, TextureResourceDesc)
from oxy.formats.views import StructView

PAK_MAGIC = b"OXPAK\0\0\0"
PAK_FOOTER_MAGIC = b"OXPAKEND"
PAK_BROWSE_MAGIC = b"OXPAKBIX"
PAK_VERSION = 4
PAK_HEADER_SIZE = 256
PAK_FOOTER_SIZE = 256
DIRECTORY_ENTRY_SIZE = 64
BROWSE_HEADER_SIZE = 24
BROWSE_ENTRY_SIZE = 24
BROWSE_VERSION = 1
DATA_ALIGNMENT = 256
TABLE_ALIGNMENT = 16
PAK_CRC_OFFSET_IN_FOOTER = 244

PakHeaderStruct = c.Struct(
    "magic" / Magic(PAK_MAGIC),
    "version" / c.Int16ul,             # 4; the runtime rejects anything else
    "content_version" / c.Int16ul,
    "guid" / c.Bytes(16),              # PAK source key
    "reserved" / Reserved(228),
)
ResourceRegionStruct = c.Struct("offset" / c.Int64ul, "size" / c.Int64ul)
ResourceTableStruct = c.Struct("offset" / c.Int64ul, "count" / c.Int32ul, "entry_size" / c.Int32ul)
PakFooterStruct = c.Struct(
    "directory_offset" / c.Int64ul,
    "directory_size" / c.Int64ul,
    "asset_count" / c.Int64ul,
    "texture_region" / ResourceRegionStruct,
    "buffer_region" / ResourceRegionStruct,
    "audio_region" / ResourceRegionStruct,
    "texture_table" / ResourceTableStruct,
    "buffer_table" / ResourceTableStruct,
    "audio_table" / ResourceTableStruct,
    "browse_index_offset" / c.Int64ul,  # 0 = none
    "browse_index_size" / c.Int64ul,
    "reserved" / Reserved(108),
    "pak_crc32" / c.Int32ul,            # 0 = skip validation
    "footer_magic" / Magic(PAK_FOOTER_MAGIC),
)
AssetDirectoryEntryStruct = c.Struct(
    "asset_key" / KeyField,
    "asset_type" / c.Int8ul,
    "entry_offset" / c.Int64ul,        # absolute offset of this entry
    "desc_offset" / c.Int64ul,         # absolute offset of the descriptor
    "desc_size" / c.Int32ul,           # informational
    "reserved" / Reserved(27),
)
PakBrowseIndexHeaderStruct = c.Struct(
    "magic" / Magic(PAK_BROWSE_MAGIC),
    "version" / c.Int32ul,
    "entry_count" / c.Int32ul,
    "string_table_size" / c.Int32ul,
    "reserved" / Reserved(4),
)
PakBrowseIndexEntryStruct = c.Struct(
    "asset_key" / KeyField,
    "virtual_path_offset" / c.Int32ul,
    "virtual_path_length" / c.Int32ul,  # no NUL terminator
)

class PakHeader(StructView, struct=PakHeaderStruct):
    "The 256-byte PAK header at offset 0."
class ResourceRegion(StructView, struct=ResourceRegionStruct):
    "View of the ResourceRegion struct."
class ResourceTable(StructView, struct=ResourceTableStruct):
    "View of the ResourceTable struct."
class PakFooter(StructView, struct=PakFooterStruct):
    "The 256-byte footer ending a PAK."
class AssetDirectoryEntry(StructView, struct=AssetDirectoryEntryStruct):
    "A 64-byte asset directory entry."
class PakBrowseIndexHeader(StructView, struct=PakBrowseIndexHeaderStruct):
    "View of the PakBrowseIndexHeader struct."
class PakBrowseIndexEntry(StructView, struct=PakBrowseIndexEntryStruct):
    "View of the PakBrowseIndexEntry struct."

#: (footer table field, footer region field, entry view, numpy dtype) per resource kind.
RESOURCE_KINDS: dict[str, tuple[str, str, type[StructView], np.dtype]] = {
    "texture": ("texture_table", "texture_region", TextureResourceDesc, TEXTURE_DESC_DTYPE),
    "buffer": ("buffer_table", "buffer_region", BufferResourceDesc, BUFFER_DESC_DTYPE),
    "audio": ("audio_table", "audio_region", AudioResourceDesc, AUDIO_DESC_DTYPE),
}


@dataclass(frozen=True)
class PakFile:
    """Everything a PAK holds, with the offsets it was found at.

    ``tables`` maps a resource kind to its numpy structured array (fast for 100k
    entries; use :meth:`resource` for one view), ``regions`` to the region's raw
    bytes, ``descriptors`` each directory entry's descriptor bytes (``desc_size``
    long), ``browse`` the browse index as (key, virtual path) pairs or None.
    """

    size: int
    header: PakHeader
    footer: PakFooter
    directory: tuple[AssetDirectoryEntry, ...]
    descriptors: tuple[bytes, ...]
    tables: dict[str, np.ndarray]
    regions: dict[str, bytes]
    browse: tuple[tuple[AssetKey, str], ...] | None
    browse_error: str | None = None

    def resource(self, kind: str, index: int) -> StructView:
        view = RESOURCE_KINDS[kind][2]
        return view.parse(self.tables[kind][index : index + 1].tobytes())


def parse_pak(data: bytes | memoryview, *, path: str = "<bytes>") -> PakFile:
    """Read a PAK the way the runtime does, raising FormatError at the first problem.

    Checks: header magic and version 4, footer magic, table entry sizes (40/32/32),
    every table, region, directory entry and descriptor range inside the file, and
    counts small enough for the bytes present (no huge allocation on absurd counts).
    A malformed browse index is ignored (``browse_error`` says why), as at runtime.
    """
    size = len(data)
    if size < PAK_HEADER_SIZE + PAK_FOOTER_SIZE:
        raise FormatError(f"file is {size} bytes; a PAK has a 256-byte header and footer",
                          path, 0, "header")
    header = PakHeader.parse(data, 0, path=path, field="header")
    if header.version != PAK_VERSION:
        raise FormatError(f"version {header.version}, the runtime reads only {PAK_VERSION}",
                          path, 8, "header.version")
    foot_at = size - PAK_FOOTER_SIZE
    footer = PakFooter.parse(data, foot_at, path=path, field="footer")
    tables, regions = {}, {}
    for kind, (table_field, region_field, view, dtype) in RESOURCE_KINDS.items():
        table = getattr(footer, table_field)
        at = foot_at + FOOTER_FIELD_OFFSETS[table_field]
        if table.count:
            if table.entry_size != view.SIZE:
                raise FormatError(f"entry_size {table.entry_size}, expected {view.SIZE}",
                                  path, at + 12, f"footer.{table_field}.entry_size")
            _check_range(table.offset, table.count * view.SIZE, size, path, at,
                         f"footer.{table_field}")
            tables[kind] = np.frombuffer(data, dtype, table.count, table.offset).copy()
        else:
            tables[kind] = np.zeros(0, dtype)
        region = getattr(footer, region_field)
        _check_range(region.offset, region.size, size, path,
                     foot_at + FOOTER_FIELD_OFFSETS[region_field], f"footer.{region_field}")
        regions[kind] = bytes(data[region.offset:region.offset + region.size])
    count = footer.asset_count
    _check_range(footer.directory_offset, count * DIRECTORY_ENTRY_SIZE, size, path, foot_at,
                 "footer.directory_offset")
    directory, descriptors = [], []
    for i in range(count):
        at = footer.directory_offset + i * DIRECTORY_ENTRY_SIZE
        entry = AssetDirectoryEntry.parse(data, at, path=path, field=f"directory[{i}]")
        _check_range(entry.desc_offset, entry.desc_size, size, path, at + 25,
                     f"directory[{i}].desc_offset")
        directory.append(entry)
        descriptors.append(bytes(data[entry.desc_offset:entry.desc_offset + entry.desc_size]))
    browse, browse_error = None, None
    if footer.browse_index_offset and footer.browse_index_size:
        try:
            browse = parse_browse_index(data, footer.browse_index_offset, footer.browse_index_size, path)
        except FormatError as exc:
            browse_error = str(exc)
    return PakFile(size, header, footer, tuple(directory), tuple(descriptors), tables,
                   regions, browse, browse_error)


def parse_browse_index(data: bytes | memoryview, at: int, size: int,
                  path: str) -> tuple[tuple[AssetKey, str], ...]:
    _check_range(at, size, len(data), path, at, "browse_index")
    head = PakBrowseIndexHeader.parse(data, at, path=path, field="browse_index.header")
    if head.version != BROWSE_VERSION:
        raise FormatError(f"version {head.version}, expected {BROWSE_VERSION}", path, at + 8,
                          "browse_index.version")
    need = BROWSE_HEADER_SIZE + head.entry_count * BROWSE_ENTRY_SIZE + head.string_table_size
    if need > size:
        raise FormatError(f"entries and strings need {need} bytes, browse_index_size is {size}",
                          path, at + 12, "browse_index.entry_count")
    strings_at = at + BROWSE_HEADER_SIZE + head.entry_count * BROWSE_ENTRY_SIZE
    strings = bytes(data[strings_at:strings_at + head.string_table_size])
    out, seen = [], set()
    for i in range(head.entry_count):
        e_at = at + BROWSE_HEADER_SIZE + i * BROWSE_ENTRY_SIZE
        e = PakBrowseIndexEntry.parse(data, e_at, path=path, field=f"browse_index.entries[{i}]")
        end = e.virtual_path_offset + e.virtual_path_length
        if end > len(strings):
            raise FormatError("virtual path range past the string table", path, e_at + 16,
                              f"browse_index.entries[{i}].virtual_path_offset")
        try:
            vpath = strings[e.virtual_path_offset:end].decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("virtual path is not UTF-8", path, e_at + 16,
                              f"browse_index.entries[{i}].virtual_path_offset") from None
        if not vpath.startswith("/") or vpath in seen:
            raise FormatError(f"virtual path {vpath!r} must start with '/' and be unique",
                              path, e_at + 16, f"browse_index.entries[{i}]")
        seen.add(vpath)
        out.append((e.asset_key, vpath))
    return tuple(out)


def _check_range(offset: int, length: int, size: int, path: str, at: int, field: str) -> None:
    if length and (offset > size or offset + length > size):
        raise FormatError(f"range {offset}+{length} ends past the end of the file ({size} bytes)",
                          path, at, field)


def _footer_offsets() -> dict[str, int]:
    out, offset = {}, 0
    for sub in PakFooterStruct.subcons:
        out[sub.name] = offset
        offset += sub.sizeof()
    return out


FOOTER_FIELD_OFFSETS = _footer_offsets()


def build_browse_index(entries: list[tuple[AssetKey, str]]) -> bytes:
    """Serialise a browse index (header, entries, then the paths without NULs)."""
    strings, records = bytearray(), []
    for key, vpath in entries:
        raw = vpath.encode("utf-8")
        records.append(PakBrowseIndexEntry(asset_key=key, virtual_path_offset=len(strings),
                                           virtual_path_length=len(raw)).build())
        strings += raw
    head = PakBrowseIndexHeader(version=BROWSE_VERSION, entry_count=len(entries),
                                string_table_size=len(strings)).build()
    return head + b"".join(records) + bytes(strings)


def build_pak(pak: PakFile) -> bytes:
    """Write ``pak`` back at the offsets it records (regions, tables, descriptors,
    directory, browse index, footer last), zero-filling gaps. The CRC is recomputed
    when the footer's ``pak_crc32`` is non-zero. parse -> build is byte-identical for
    files whose gaps are zero."""
    out = bytearray(pak.size)
    out[0:PAK_HEADER_SIZE] = pak.header.build()
    footer = pak.footer
    for kind, (table_field, region_field, _view, _dtype) in RESOURCE_KINDS.items():
        region = getattr(footer, region_field)
        out[region.offset:region.offset + len(pak.regions[kind])] = pak.regions[kind]
        table = pak.tables[kind]
        if len(table):
            at = getattr(footer, table_field).offset
            out[at:at + table.nbytes] = table.tobytes()
    for entry, blob in zip(pak.directory, pak.descriptors):
        out[entry.desc_offset:entry.desc_offset + len(blob)] = blob
        out[entry.entry_offset:entry.entry_offset + DIRECTORY_ENTRY_SIZE] = entry.build()
    if pak.browse is not None:
        blob = build_browse_index(list(pak.browse))
        out[footer.browse_index_offset:footer.browse_index_offset + len(blob)] = blob
    out[pak.size - PAK_FOOTER_SIZE:] = footer.build()
    if footer.pak_crc32:
        crc = pak_crc32(out)
        at = pak.size - PAK_FOOTER_SIZE + PAK_CRC_OFFSET_IN_FOOTER
        out[at:at + 4] = crc.to_bytes(4, "little")
    return bytes(out)
