"""The loose cooked root index, ``container.index.bin`` version 1 (FORMATS.md 6).

A 256-byte ``IndexHeader``, the string table at 256 (byte 0 NUL, NUL-terminated
UTF-8, deduplicated), ``AssetEntry[]`` (76 B, sorted by key) right after it, then
``FileRecord[]`` (64 B, one per kind, sorted by kind). No alignment padding.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import construct as c

from oxy.errors import FormatError
from oxy.formats.enums import FileKind
from oxy.formats.primitives import AssetKey, KeyField, Magic, Reserved
from oxy.formats.views import StructView

INDEX_MAGIC = b"OXLCIDX\0"
INDEX_VERSION = 1
INDEX_HEADER_SIZE = 256
ASSET_ENTRY_SIZE = 76
FILE_RECORD_SIZE = 64
FLAG_HAS_VIRTUAL_PATHS = 1
FLAG_HAS_FILE_RECORDS = 2
KNOWN_INDEX_FLAGS = FLAG_HAS_VIRTUAL_PATHS | FLAG_HAS_FILE_RECORDS
INDEX_FILE_NAME = "container.index.bin"
#: oxy's own files in a root, beside the engine's (the engine never reads them): the
#: commit journal (oxy.build.journal) and the writers' lock (oxy.build.rootlock).
JOURNAL_FILE_NAME = ".oxy-journal"
LOCK_FILE_NAME = ".oxy-lock"

#: The default layout (``LooseCookedLayout``); the runtime follows the paths the index records.
DEFAULT_RELPATHS: dict[int, str] = {
    FileKind.BUFFERS_TABLE: "Resources/buffers.table",
    FileKind.BUFFERS_DATA: "Resources/buffers.data",
    FileKind.TEXTURES_TABLE: "Resources/textures.table",
    FileKind.TEXTURES_DATA: "Resources/textures.data",
}

IndexHeaderStruct = c.Struct(
    "magic" / Magic(INDEX_MAGIC),
    "version" / c.Int16ul,             # must be 1
    "content_version" / c.Int16ul,
    "flags" / c.Int32ul,               # 1 HasVirtualPaths, 2 HasFileRecords; 0 = legacy
    "string_table_offset" / c.Int64ul,
    "string_table_size" / c.Int64ul,
    "asset_entries_offset" / c.Int64ul,
    "asset_count" / c.Int32ul,
    "asset_entry_size" / c.Int32ul,    # 76
    "file_records_offset" / c.Int64ul,
    "file_record_count" / c.Int32ul,
    "file_record_size" / c.Int32ul,    # 64
    "guid" / c.Bytes(16),              # source key, must be non-zero
    "reserved" / Reserved(176),
)
AssetEntryStruct = c.Struct(
    "asset_key" / KeyField,
    "descriptor_relpath_offset" / c.Int32ul,
    "virtual_path_offset" / c.Int32ul,
    "asset_type" / c.Int8ul,
    "reserved0" / Reserved(3),
    "descriptor_size" / c.Int64ul,
    "descriptor_sha256" / c.Bytes(32),  # all zero = absent
    "reserved1" / Reserved(8),
)
FileRecordStruct = c.Struct(
    "kind" / c.Int16ul,                # FileKind 1..4
    "reserved0" / c.Default(c.Int16ul, 0),
    "relpath_offset" / c.Int32ul,
    "size" / c.Int64ul,                # exact file size
    "reserved1" / Reserved(48),
)

class IndexHeader(StructView, struct=IndexHeaderStruct):
    "The 256-byte loose index header."
class AssetEntry(StructView, struct=AssetEntryStruct):
    "A 76-byte loose index asset entry."
class FileRecord(StructView, struct=FileRecordStruct):
    "A 64-byte loose index file record."


# ------------------------------------------------------------------ path rules
_DOT_SEGMENT = re.compile(r"(^|/)\.{1,2}(/|$)")


def relpath_problem(relpath: str) -> str | None:
    """Why ``relpath`` breaks the relative-path rules, or None when it is valid."""
    if not relpath:
        return "is empty"
    if "\\" in relpath or ":" in relpath:
        return "contains '\\' or ':'"
    if relpath.startswith("/") or relpath.endswith("/"):
        return "has a leading or trailing '/'"
    if "//" in relpath:
        return "contains '//'"
    if _DOT_SEGMENT.search(relpath):
        return "contains a '.' or '..' segment"
    if "\0" in relpath:
        return "contains NUL"
    return None


def virtual_path_problem(vpath: str) -> str | None:
    """Why ``vpath`` breaks the virtual-path rules, or None when it is valid."""
    if not vpath.startswith("/"):
        return "does not start with '/'"
    if vpath != "/" and vpath.endswith("/"):
        return "has a trailing '/'"
    if "\\" in vpath:
        return "contains '\\'"
    if "//" in vpath:
        return "contains '//'"
    if _DOT_SEGMENT.search(vpath):
        return "contains a '.' or '..' segment"
    if "\0" in vpath:
        return "contains NUL"
    return None


# ------------------------------------------------------------- string table
class StringTable:
    """The index string table: byte 0 is NUL, each string UTF-8 plus NUL, deduplicated."""

    def __init__(self) -> None:
        self._data = bytearray(b"\0")
        self._offsets: dict[str, int] = {}

    def add(self, text: str) -> int:
        """The offset of ``text``, appending it the first time it is seen."""
        if text in self._offsets:
            return self._offsets[text]
        offset = len(self._data)
        self._data += text.encode("utf-8") + b"\0"
        self._offsets[text] = offset
        return offset

    def to_bytes(self) -> bytes:
        return bytes(self._data)


def read_c_string(table: bytes, offset: int) -> str | None:
    """The NUL-terminated UTF-8 string at ``offset``, or None when out of range,
    unterminated or not UTF-8."""
    if offset >= len(table):
        return None
    end = table.find(b"\0", offset)
    if end < 0:
        return None
    try:
        return table[offset:end].decode("utf-8")
    except UnicodeDecodeError:
        return None


# ------------------------------------------------------------------ the index
@dataclass(frozen=True)
class IndexAsset:
    key: AssetKey
    asset_type: int
    descriptor_relpath: str
    virtual_path: str
    descriptor_size: int
    descriptor_sha256: bytes = bytes(32)


@dataclass(frozen=True)
class IndexFile:
    kind: int
    relpath: str
    size: int


@dataclass(frozen=True)
class LooseIndex:
    """A decoded ``container.index.bin``."""

    guid: bytes
    content_version: int
    assets: tuple[IndexAsset, ...]
    files: tuple[IndexFile, ...]
    header: IndexHeader | None = None

    def file(self, kind: int) -> IndexFile | None:
        return next((f for f in self.files if f.kind == kind), None)


def build_index(index: LooseIndex) -> bytes:
    """Serialise with the writer rules: assets sorted by key, records by kind (one
    per kind), deduplicated strings in insertion order, no padding. Raises
    FormatError when a path breaks the rules, a key or vpath repeats, or the GUID is 0."""
    if not any(index.guid) or len(index.guid) != 16:
        raise FormatError("guid must be 16 non-zero bytes", "<build>", 64, "index.guid")
    assets = sorted(index.assets, key=lambda a: a.key.raw)
    files = sorted(index.files, key=lambda f: f.kind)
    _check_unique([a.key for a in assets], "asset_key")
    _check_unique([a.virtual_path for a in assets], "virtual_path")
    _check_unique([f.kind for f in files], "file kind")
    strings = StringTable()
    entries, records = [], []
    for i, a in enumerate(assets):
        for text, check in ((a.descriptor_relpath, relpath_problem), (a.virtual_path, virtual_path_problem)):
            problem = check(text)
            if problem:
                raise FormatError(f"path {text!r} {problem}", "<build>", None, f"assets[{i}]")
        entries.append((a, strings.add(a.descriptor_relpath), strings.add(a.virtual_path)))
    for f in files:
        if f.kind not in FileKind.__members__.values() or f.kind == FileKind.UNKNOWN:
            raise FormatError(f"unknown file kind {f.kind}", "<build>", None, "files.kind")
        problem = relpath_problem(f.relpath)
        if problem:
            raise FormatError(f"path {f.relpath!r} {problem}", "<build>", None, "files.relpath")
        records.append((f, strings.add(f.relpath)))
    table = strings.to_bytes()
    entries_at = INDEX_HEADER_SIZE + len(table)
    records_at = entries_at + ASSET_ENTRY_SIZE * len(entries)
    header = IndexHeader(
        version=INDEX_VERSION, content_version=index.content_version,
        flags=FLAG_HAS_VIRTUAL_PATHS | (FLAG_HAS_FILE_RECORDS if records else 0),
        string_table_offset=INDEX_HEADER_SIZE, string_table_size=len(table),
        asset_entries_offset=entries_at, asset_count=len(entries), asset_entry_size=ASSET_ENTRY_SIZE,
        file_records_offset=records_at, file_record_count=len(records),
        file_record_size=FILE_RECORD_SIZE, guid=bytes(index.guid))
    body = [header.build(), table]
    body += [AssetEntry(asset_key=a.key, descriptor_relpath_offset=r, virtual_path_offset=v,
                        asset_type=a.asset_type, descriptor_size=a.descriptor_size,
                        descriptor_sha256=a.descriptor_sha256).build() for a, r, v in entries]
    body += [FileRecord(kind=f.kind, relpath_offset=r, size=f.size).build() for f, r in records]
    return b"".join(body)


def _check_unique(values: list, what: str) -> None:
    if len(set(values)) != len(values):
        raise FormatError(f"duplicate {what}", "<build>", None, what)


def parse_index(data: bytes | memoryview, *, path: str = INDEX_FILE_NAME) -> LooseIndex:
    """Decode an index, raising FormatError at the first structural problem (sizes,
    magic, version, section ranges, string offsets, path rules, file kinds), so that no
    path read from it can leave the root. The full rule set, with every
    problem reported, is :func:`oxy.validate.validate_loose_root`."""
    if len(data) < INDEX_HEADER_SIZE:
        raise FormatError(f"file is {len(data)} bytes; the header alone is 256", path, 0, "header")
    h = IndexHeader.parse(data, 0, path=path, field="header")
    if h.version != INDEX_VERSION:
        raise FormatError(f"version {h.version}, expected {INDEX_VERSION}", path, 8, "header.version")
    for name, offset, count, size, expected in (
            ("asset", h.asset_entries_offset, h.asset_count, h.asset_entry_size, ASSET_ENTRY_SIZE),
            ("file_record", h.file_records_offset, h.file_record_count, h.file_record_size, FILE_RECORD_SIZE)):
        if count and size != expected:
            raise FormatError(f"{name} size {size}, expected {expected}", path,
                              44 if name == "asset" else 60, f"header.{name}_{'entry_size' if name == 'asset' else 'size'}")
        if offset + count * expected > len(data):
            raise FormatError(f"{count} {name}s at {offset} end past the file ({len(data)} bytes)",
                              path, 32 if name == "asset" else 48, f"header.{name}s_offset")
    st_end = h.string_table_offset + h.string_table_size
    if h.string_table_offset < INDEX_HEADER_SIZE or st_end > len(data):
        raise FormatError("string table outside the file", path, 16, "header.string_table_offset")
    table = bytes(data[h.string_table_offset:st_end])

    def string(offset: int, at: int, fld: str, rule=relpath_problem) -> str:
        text = read_c_string(table, offset)
        if text is None:
            raise FormatError(f"string offset {offset} is not a NUL-terminated UTF-8 string "
                              f"inside the {len(table)}-byte table", path, at, fld)
        problem = rule(text)
        if problem:
            raise FormatError(f"path {text!r} {problem}", path, at, fld)
        return text

    assets = []
    for i in range(h.asset_count):
        at = h.asset_entries_offset + i * ASSET_ENTRY_SIZE
        e = AssetEntry.parse(data, at, path=path, field=f"assets[{i}]")
        assets.append(IndexAsset(e.asset_key, e.asset_type,
                                 string(e.descriptor_relpath_offset, at + 16, f"assets[{i}].descriptor_relpath_offset"),
                                 string(e.virtual_path_offset, at + 20, f"assets[{i}].virtual_path_offset",
                                        virtual_path_problem),
                                 e.descriptor_size, e.descriptor_sha256))
    files = []
    for i in range(h.file_record_count):
        at = h.file_records_offset + i * FILE_RECORD_SIZE
        r = FileRecord.parse(data, at, path=path, field=f"files[{i}]")
        if not FileKind.BUFFERS_TABLE <= r.kind <= FileKind.TEXTURES_DATA:
            raise FormatError(f"file kind {r.kind} is not 1..4", path, at, f"files[{i}].kind")
        files.append(IndexFile(r.kind, string(r.relpath_offset, at + 4, f"files[{i}].relpath_offset"), r.size))
    return LooseIndex(h.guid, h.content_version, tuple(assets), tuple(files), h)
