"""Mounted sources: a PAK file (:class:`PakSource`) or a loose cooked root (:class:`LooseSource`).

Opening a source runs the mount checks of FORMATS.md: header, footer, table entry
sizes, every range inside its file (always); the PAK CRC-32 and the loose
descriptors' SHA-256 only with ``verify``. A failure is a :class:`MountError`
naming the file, offset and field. Opening and reading are blocking file calls:
the loader runs them on its I/O pool; plain code may call them directly.

Hostile numbers: every range check is done on Python integers (or checked for
wrap-around), so a ``data_offset`` near 2^64 is a MountError, never an overflow
at load time; reads loop (:func:`oxy.rootfs.pread_exact`), so a resource over
2 GiB reads whole. A loose root's files are opened through :mod:`oxy.rootfs`: a
file or folder that resolves outside the root (a symlink) is a MountError naming
it (a SourceReadError if it appears after mounting).

Thread rules: after ``open_*`` returns, a source is immutable except for
:meth:`close`; ``read_*`` are safe from any thread (``pread`` at explicit
offsets). Reading a closed source raises :class:`SourceReadError`.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from oxy.errors import FormatError
from oxy.formats import AssetKey, FileKind, parse_index
from oxy.formats.loose import INDEX_FILE_NAME
from oxy.formats.pak import (DIRECTORY_ENTRY_SIZE, FOOTER_FIELD_OFFSETS, PAK_CRC_OFFSET_IN_FOOTER,
                             PAK_FOOTER_SIZE, PAK_HEADER_SIZE, PAK_VERSION, RESOURCE_KINDS,
                             AssetDirectoryEntry, PakFooter, PakHeader, parse_browse_index)
from oxy.formats.resources import BUFFER_DESC_DTYPE, TEXTURE_DESC_DTYPE
from oxy.runtime.decoders import Where
from oxy.runtime.errors import MountError, SourceReadError
from oxy.runtime.keys import ResourceKind, SourceId
from oxy.rootfs import RootEscapeError, ShortReadError, open_inside, pread_exact, read_inside
from oxy.validate import validate_loose_root
from oxy.validate.reader import FileReader, stream_crc32

__all__ = ["LooseSource", "PakSource", "Source", "open_loose_root", "open_pak"]

_KIND_NAMES = {ResourceKind.TEXTURE: "texture", ResourceKind.BUFFER: "buffer"}


class Source:
    """What the loader needs from a mount. See the module docstring for thread rules."""

    kind = "source"

    def __init__(self, path: str, source_id: SourceId | None = None) -> None:
        self.path = path
        self.id = source_id or SourceId(f"{self.kind}:{path}")
        self.assets: dict[AssetKey, int] = {}        # key -> asset type
        self.virtual_paths: dict[str, AssetKey] = {}
        self.tables: dict[ResourceKind, np.ndarray] = {}
        self._fds: dict[str, int] = {}

    def count(self, kind: ResourceKind) -> int:
        return len(self.tables[kind])

    def entry(self, kind: ResourceKind, index: int) -> bytes:
        return self.tables[kind][index:index + 1].tobytes()

    def read_descriptor(self, key: AssetKey) -> tuple[bytes, Where]:
        raise NotImplementedError

    def read_resource(self, kind: ResourceKind, index: int) -> tuple[bytes, Where, bytes, Where]:
        """(entry bytes, where the entry is, payload bytes, where the payload is)."""
        raise NotImplementedError

    def descriptor_sha256(self, key: AssetKey) -> bytes | None:
        """The SHA-256 of ``key``'s descriptor when the source records one (loose
        index), else None (read the descriptor to know)."""
        return None

    def _pread(self, name: str, size: int, offset: int) -> bytes:
        fd = self._fds.get(name)
        if fd is None:
            raise SourceReadError(f"{name}: the source was unmounted")
        try:
            return pread_exact(fd, size, offset, name)
        except ShortReadError as exc:
            raise SourceReadError(f"{name}: {size} bytes at {offset} requested, only {exc.got} there "
                                  "(the file shrank after mounting)") from None
        except (OSError, OverflowError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            error = SourceReadError(f"{name}: cannot read {size} bytes at {offset}: {reason}")
            error.errno = getattr(exc, "errno", None)
            error.transient = isinstance(exc, OSError)
            raise error from None

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            try:
                os.close(fd)
            except OSError:
                pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path} assets={len(self.assets)}>"


def _open_fd(path: str, root: str | None = None) -> int:
    """Open ``path`` for reading (confined to ``root`` when given). MountError on failure."""
    try:
        if root is not None:
            return open_inside(root, path)
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except RootEscapeError as exc:
        raise MountError(f"{exc} [root.escape]", exc.path, None, "") from None
    except OSError as exc:
        raise MountError(f"cannot open: {exc.strerror}", path, None, "") from None


def _check_data_ranges(table: np.ndarray, lo: int, hi: int, path: str, table_at: int, entry_size: int,
                       kind: str) -> None:
    """Every entry's [data_offset, data_offset + size_bytes) must lie inside [lo, hi).
    A data_offset near 2^64 must not wrap the sum: ``start > hi`` is tested first."""
    if not len(table):
        return
    start = table["data_offset"].astype(np.uint64)
    size = table["size_bytes"].astype(np.uint64)
    hi_ = np.uint64(hi)
    # start <= hi, so hi - start cannot wrap; size > hi - start  <=>  start + size > hi
    bad = np.nonzero((start < np.uint64(lo)) | (start > hi_) | (size > hi_ - np.minimum(start, hi_)))[0]
    if len(bad):
        i = int(bad[0])
        raise MountError(f"{kind} {i} data {int(start[i])}+{int(table['size_bytes'][i])} lies outside "
                         f"its data ({lo}..{hi})", path, table_at + i * entry_size, f"{kind}s[{i}].data_offset")


class PakSource(Source):
    """A mounted PAK v4 file."""

    kind = "pak"

    def __init__(self, path: str, source_id: SourceId | None = None) -> None:
        super().__init__(path, source_id)
        self.header: PakHeader | None = None
        self.footer: PakFooter | None = None
        self._table_at: dict[ResourceKind, int] = {}
        self._descs: dict[AssetKey, tuple[int, int]] = {}   # key -> (offset, size)

    def read_descriptor(self, key: AssetKey) -> tuple[bytes, Where]:
        offset, size = self._descs[key]
        return self._pread(self.path, size, offset), Where(self.path, offset)

    def read_resource(self, kind: ResourceKind, index: int) -> tuple[bytes, Where, bytes, Where]:
        row = self.tables[kind][index]
        off, size = int(row["data_offset"]), int(row["size_bytes"])
        at = self._table_at[kind] + index * row.dtype.itemsize
        return (self.entry(kind, index), Where(self.path, at),
                self._pread(self.path, size, off), Where(self.path, off))


def open_pak(path: str | os.PathLike[str], *, verify: bool = False, source_id: SourceId | None = None) -> PakSource:
    """Mount checks of a PAK (FORMATS.md 3: "How the runtime reads a PAK"). Blocking.
    ``source_id``: keep the id of the mount this one replaces (hot reload)."""
    path = os.fspath(path)
    src = PakSource(path, source_id)
    src._fds[path] = fd = _open_fd(path)
    try:
        _load_pak(src, fd, verify)
    except FormatError as exc:
        src.close()
        raise MountError(f"cannot mount PAK: {exc.message}", exc.path, exc.offset, exc.field) from None
    except (OSError, ShortReadError) as exc:
        src.close()
        raise MountError(f"cannot mount PAK: {getattr(exc, 'strerror', None) or exc}", path, None, "") from None
    except BaseException:
        src.close()
        raise
    return src


def _load_pak(src: PakSource, fd: int, verify: bool) -> None:
    path = src.path
    size = os.fstat(fd).st_size
    if size < PAK_HEADER_SIZE + PAK_FOOTER_SIZE:
        raise FormatError(f"file is {size} bytes; a PAK has a 256-byte header and footer", path, 0, "header")
    header = PakHeader.parse(pread_exact(fd, PAK_HEADER_SIZE, 0, path), 0, path=path, field="header")
    if header.version != PAK_VERSION:
        raise FormatError(f"version {header.version}; the runtime reads only {PAK_VERSION}", path, 8,
                          "header.version")
    foot_at = size - PAK_FOOTER_SIZE
    footer_bytes = pread_exact(fd, PAK_FOOTER_SIZE, foot_at, path)
    footer = PakFooter.parse(footer_bytes, 0, path=path, field="footer")
    src.header, src.footer = header, footer
    src._table_at = {}

    def within(offset: int, length: int, at: int, field: str, empty_ok: bool = True) -> None:
        if (length or not empty_ok) and (offset > size or offset + length > size):
            raise FormatError(f"range {offset}+{length} ends past the end of the file ({size} bytes)",
                              path, at, field)

    for rkind, (table_field, region_field, view, dtype) in RESOURCE_KINDS.items():
        if rkind == "audio":
            continue
        kind = ResourceKind(rkind)
        table, region = getattr(footer, table_field), getattr(footer, region_field)
        t_at = foot_at + FOOTER_FIELD_OFFSETS[table_field]
        within(region.offset, region.size, foot_at + FOOTER_FIELD_OFFSETS[region_field], f"footer.{region_field}")
        src.tables[kind] = np.zeros(0, dtype)
        src._table_at[kind] = table.offset
        if not table.count:
            continue
        if table.entry_size != view.SIZE:
            raise FormatError(f"entry_size {table.entry_size}; the runtime requires {view.SIZE}", path,
                              t_at + 12, f"footer.{table_field}.entry_size")
        within(table.offset, table.count * view.SIZE, t_at, f"footer.{table_field}")
        rows = np.frombuffer(pread_exact(fd, table.count * view.SIZE, table.offset, path), dtype).copy()
        _check_data_ranges(rows, region.offset, region.offset + region.size, path, table.offset, view.SIZE, rkind)
        src.tables[kind] = rows
    _load_directory(src, fd, footer, foot_at, within)
    if footer.browse_index_offset and footer.browse_index_size:
        try:
            within(footer.browse_index_offset, footer.browse_index_size, foot_at + 120, "footer.browse_index")
            blob = pread_exact(fd, footer.browse_index_size, footer.browse_index_offset, path)
            src.virtual_paths = {v: k for k, v in parse_browse_index(blob, 0, len(blob), path)}
        except FormatError:
            src.virtual_paths = {}  # the runtime ignores a bad browse index
    if verify and footer.pak_crc32:
        # The validator's streaming CRC over this source's descriptor (not closed here: the source owns it).
        actual = stream_crc32(FileReader(fd, path), foot_at + PAK_CRC_OFFSET_IN_FOOTER)
        if actual != footer.pak_crc32:
            raise FormatError(f"pak_crc32 is {footer.pak_crc32:#010x}, the file's CRC-32 is {actual:#010x}",
                              path, foot_at + PAK_CRC_OFFSET_IN_FOOTER, "footer.pak_crc32")


def _load_directory(src: PakSource, fd: int, footer: Any, foot_at: int, within: Any) -> None:
    count, path = footer.asset_count, src.path
    within(footer.directory_offset, count * DIRECTORY_ENTRY_SIZE, foot_at, "footer.directory_offset")
    blob = pread_exact(fd, count * DIRECTORY_ENTRY_SIZE, footer.directory_offset, path) if count else b""
    src._descs = {}
    for i in range(count):
        at = footer.directory_offset + i * DIRECTORY_ENTRY_SIZE
        e = AssetDirectoryEntry.parse(blob, i * DIRECTORY_ENTRY_SIZE, path=path, field=f"directory[{i}]")
        within(e.desc_offset, e.desc_size, at + 25, f"directory[{i}].desc_offset", empty_ok=False)
        if e.asset_key in src.assets:
            raise FormatError(f"asset key {e.asset_key} appears twice in the directory", path, at,
                              f"directory[{i}].asset_key")
        src.assets[e.asset_key] = e.asset_type
        src._descs[e.asset_key] = (e.desc_offset, e.desc_size)


class LooseSource(Source):
    """A mounted loose cooked root (``container.index.bin`` and the files it names)."""

    kind = "loose"

    def __init__(self, path: str, source_id: SourceId | None = None) -> None:
        super().__init__(path, source_id)
        self.guid = b""
        self._shas: dict[AssetKey, bytes] = {}
        self._descs: dict[AssetKey, tuple[str, int]] = {}   # key -> (relpath, size)
        self._files: dict[ResourceKind, tuple[str, str]] = {}  # kind -> (table path, data path)

    def read_descriptor(self, key: AssetKey) -> tuple[bytes, Where]:
        rel, size = self._descs[key]
        full = os.path.join(self.path, rel)
        try:
            data = read_inside(self.path, rel)
        except RootEscapeError as exc:
            error = SourceReadError(f"{exc} [root.escape]")
            error.transient = False
            raise error from None
        except OSError as exc:
            error = SourceReadError(f"{full}: {exc.strerror}")
            error.errno = exc.errno
            raise error from None
        if len(data) != size:
            raise SourceReadError(f"{full}: {len(data)} bytes, the index says {size} (changed after mounting)")
        return data, Where(full, 0)

    def descriptor_sha256(self, key: AssetKey) -> bytes | None:
        sha = self._shas.get(key)
        return sha if sha and any(sha) else None

    def read_resource(self, kind: ResourceKind, index: int) -> tuple[bytes, Where, bytes, Where]:
        row = self.tables[kind][index]
        table_path, data_path = self._files[kind]
        off, size = int(row["data_offset"]), int(row["size_bytes"])
        return (self.entry(kind, index), Where(table_path, index * row.dtype.itemsize),
                self._pread(data_path, size, off), Where(data_path, off))


_LOOSE_PAIRS = ((ResourceKind.TEXTURE, FileKind.TEXTURES_TABLE, FileKind.TEXTURES_DATA, TEXTURE_DESC_DTYPE),
                (ResourceKind.BUFFER, FileKind.BUFFERS_TABLE, FileKind.BUFFERS_DATA, BUFFER_DESC_DTYPE))


def open_loose_root(root: str | os.PathLike[str], *, verify: bool = False,
                    source_id: SourceId | None = None) -> LooseSource:
    """Mount checks of a loose root (FORMATS.md 6, "Runtime validation"). Blocking.
    ``source_id``: keep the id of the mount this one replaces (hot reload)."""
    root = os.fspath(root)
    try:
        report = validate_loose_root(root, verify_hashes=verify, deep=False)
    except OSError as exc:
        raise MountError(f"cannot mount loose root: {INDEX_FILE_NAME}: {exc.strerror or exc}",
                         os.path.join(root, INDEX_FILE_NAME), None, "") from None
    if not report.ok:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more problems)" if len(report.errors) > 1 else ""
        raise MountError(f"cannot mount loose root {root}: {first.message} [{first.code}]{more}",
                         os.path.join(root, first.file), first.offset, first.field)
    src = LooseSource(root, source_id)
    try:
        _load_loose(src)
    except FormatError as exc:
        src.close()
        raise MountError(f"cannot mount loose root: {exc.message}", exc.path, exc.offset, exc.field) from None
    except RootEscapeError as exc:
        src.close()
        raise MountError(f"cannot mount loose root: {exc} [root.escape]", exc.path, None, "") from None
    except (OSError, ShortReadError) as exc:
        src.close()
        raise MountError(f"cannot mount loose root: {getattr(exc, 'strerror', None) or exc}", root, None,
                         "") from None
    except BaseException:
        src.close()
        raise
    return src


def _load_loose(src: LooseSource) -> None:
    root = src.path
    index = parse_index(read_inside(root, INDEX_FILE_NAME), path=os.path.join(root, INDEX_FILE_NAME))
    src.guid = index.guid
    src._descs = {}
    for a in index.assets:
        src.assets[a.key] = a.asset_type
        src.virtual_paths[a.virtual_path] = a.key
        src._descs[a.key] = (a.descriptor_relpath, a.descriptor_size)
        src._shas[a.key] = a.descriptor_sha256
    src._files = {}
    for kind, table_kind, data_kind, dtype in _LOOSE_PAIRS:
        src.tables[kind] = np.zeros(0, dtype)
        t, d = index.file(table_kind), index.file(data_kind)
        if t is None or d is None:
            continue
        table_path, data_path = os.path.join(root, t.relpath), os.path.join(root, d.relpath)
        table_bytes = read_inside(root, t.relpath)
        rows = np.frombuffer(table_bytes[:len(table_bytes) - len(table_bytes) % dtype.itemsize], dtype).copy()
        src._fds[data_path] = _open_fd(d.relpath, root)
        _check_data_ranges(rows, 0, os.fstat(src._fds[data_path]).st_size, table_path, 0, dtype.itemsize,
                           _KIND_NAMES[kind])
        src.tables[kind] = rows
        src._files[kind] = (table_path, data_path)
