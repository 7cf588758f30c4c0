"""Emitters: own a cooked root's files and hand out stable indices at once.

``TextureEmitter`` and ``BufferEmitter`` reserve an aligned range past the end of
their ``.data`` file (offsets as they will be once committed), queue zero padding
plus the payload with ``write_at_async`` into a **stage file** (``<data>.oxy-stage-<tag>``,
byte ``i`` of it is byte ``base + i`` of the data file) and record the table entry in
memory. The data file itself is untouched until the session's commit appends the
stage file (:mod:`oxy.build.commit`), so a reader never sees it grow mid-cook. The
table is written whole at ``finalize``. Identical content (same signature) gets the
same index and writes nothing. ``AssetEmitter`` writes each descriptor to a
temporary name; the commit renames them into place just before the index.

Thread rules: use an emitter only from its session's thread (the import hub, or the
sync facade's caller). Failure modes: data ``emit`` never raises for I/O; write
failures arrive in ``on_error`` (and ``error_count``); bad names or paths raise
:class:`EmitError`; ``AssetEmitter.emit`` raises SessionIOError when its descriptor
cannot be written and RootEscapeError when its folder leads out of the root.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Generic, Mapping, TypeVar

import numpy as np

from oxy.build.journal import TEMP_MARKER
from oxy.cook.payload import CookedTexture, fallback_texture
from oxy.errors import OxyError
from oxy.formats.enums import AssetType
from oxy.formats.loose import relpath_problem, virtual_path_problem
from oxy.formats.primitives import VIRTUAL_MOUNT_ROOT, AssetKey, align_up, sha256
from oxy.formats.primitives import content_hash as truncated_sha256
from oxy.formats.resources import (BUFFER_DESC_DTYPE, BUFFER_DESC_SIZE, TEXTURE_DATA_ALIGNMENT, TEXTURE_DESC_DTYPE,
                                   TEXTURE_DESC_SIZE, BufferResourceDesc, TextureResourceDesc, buffer_alignment)
from oxy.importing.session_io import SessionIO
from oxy.rootfs import RootEscapeError, resolve_inside, size_inside

E = TypeVar("E")
ASSET_FOLDERS = {AssetType.MATERIAL: ("Materials", ".omat"), AssetType.GEOMETRY: ("Geometry", ".ogeo"),
                 AssetType.SCENE: ("Scenes", ".oscene")}
TEMP_SUFFIX = TEMP_MARKER  # descriptors and tables live under <relpath>.oxy-tmp-<session> until the commit
_UNSAFE_NAME = re.compile(r'[\x00-\x1f/\\:*?"<>|]')


class EmitError(OxyError):
    """An emit request that cannot be honoured (a bad name, path or duplicate)."""


class _ExistingEntries:
    """The committed entries of a table, found by signature without a Python object per
    entry: the content hashes are sorted once (numpy, C memory); a lookup is a binary
    search, then the full signature of each entry with that hash, in index order (the
    first match wins). ``signature_of(row)`` gives an entry's signature, or None for one
    that can never be reused. A per-session dict of every entry grew the daemon's memory
    with each dead entry of an uncompacted root (docs/benchmarks.md, cook daemon)."""

    def __init__(self, table: np.ndarray, signature_of: Callable[[dict], tuple | None]) -> None:
        self._table = table
        self._signature_of = signature_of
        hashes = table["content_hash"]
        self._order = np.argsort(hashes, kind="stable")
        self._sorted = hashes[self._order]

    def get(self, signature: tuple) -> int | None:
        digest = signature[0]
        if not digest or not len(self._sorted):
            return None
        lo = int(np.searchsorted(self._sorted, digest, "left"))
        hi = int(np.searchsorted(self._sorted, digest, "right"))
        names = self._table.dtype.names or ()
        for i in self._order[lo:hi].tolist():
            if self._signature_of(dict(zip(names, self._table[i].tolist()))) == signature:
                return int(i)
        return None


class _DataEmitter(Generic[E]):
    """Appends payloads to one ``.data`` file and keeps its table entries."""

    ENTRY_SIZE = 0  # set by subclasses

    def __init__(self, io: SessionIO, stage_path: str, existing_table: bytes, data_size: int,
                 on_error: Callable[[str], None]) -> None:
        """``stage_path``: where payloads wait for the commit (byte ``i`` of it becomes
        byte ``data_size + i`` of the data file). ``existing_table``: the root's table
        as it is (kept verbatim; new entries follow). ``data_size``: the data file's
        committed size."""
        if len(existing_table) % self.ENTRY_SIZE:
            raise EmitError(f"existing table of {len(existing_table)} bytes is not whole {self.ENTRY_SIZE}-byte entries")
        self._io = io
        self._stage = stage_path
        self._base = data_size
        self._existing_table = existing_table
        self._existing = len(existing_table) // self.ENTRY_SIZE
        self._entries: list[E] = []            # this session's entries, indices from _existing on
        self._end = data_size
        self._signatures: dict[tuple, int] = {}            # this session's entries
        self._committed: _ExistingEntries | None = None    # the existing table's, built on first use
        self._reused = 0
        self._pending = 0
        self._errors = 0
        self._on_error = on_error

    @property
    def count(self) -> int:
        return self._existing + len(self._entries)

    @property
    def new_count(self) -> int:
        return len(self._entries)

    @property
    def pending_count(self) -> int:
        return self._pending

    @property
    def error_count(self) -> int:
        return self._errors

    @property
    def data_file_size(self) -> int:
        """The size the data file has once every queued write has landed."""
        return self._end

    @property
    def stage_path(self) -> str:
        """Where this session's payloads wait for the commit (absent until the first write)."""
        return self._stage

    @property
    def base_size(self) -> int:
        """The data file's committed size: stage byte ``i`` lands at ``base_size + i``."""
        return self._base

    def new_entries(self) -> list[E]:
        return list(self._entries)

    def table_bytes(self) -> bytes:
        """The whole table: the existing entries verbatim, then this session's."""
        return self._existing_table + b"".join(e.build() for e in self._entries)  # type: ignore[attr-defined]

    @property
    def reused_count(self) -> int:
        """Emits answered by an entry the root already held (nothing appended)."""
        return self._reused

    DTYPE: np.dtype = np.dtype([("content_hash", "<u8")])  # set by subclasses

    @staticmethod
    def _row_signature(row: dict) -> tuple | None:
        """A committed entry's signature, None when it is never reused (subclasses)."""
        return None

    def _existing_entries(self) -> _ExistingEntries:
        return _ExistingEntries(np.frombuffer(self._existing_table, dtype=self.DTYPE), self._row_signature)

    def _append(self, signature: tuple, payload: bytes, alignment: int, make_entry: Callable[[int], E]) -> int:
        if self._committed is None and self._existing:  # a sort of 100,000 hashes: off the hub thread
            self._committed = self._io.compute(self._existing_entries)
        known = self._signatures.get(signature)
        if known is None and self._committed is not None:
            known = self._committed.get(signature)
        if known is not None:
            if known < self._existing:
                self._reused += 1
            return known
        offset = align_up(self._end, max(alignment, 1))
        index = self.count
        self._entries.append(make_entry(offset))
        self._signatures[signature] = index
        if offset > self._end:  # the zero padding, as its own small write: the payload is not copied
            self._pending += 1
            self._io.write_at_async(self._stage, self._end - self._base, bytes(offset - self._end), self._written)
        self._pending += 1
        self._io.write_at_async(self._stage, offset - self._base, payload, self._written)
        self._end = offset + len(payload)
        return index

    def _written(self, error: str | None) -> None:
        self._pending -= 1
        if error is not None:
            self._errors += 1
            self._on_error(error)


class TextureEmitter(_DataEmitter[TextureResourceDesc]):
    """``textures.table`` / ``textures.data``. Index 0 is the fallback texture (FORMATS.md 8.1),
    emitted before the first user texture when the root does not have one yet."""

    ENTRY_SIZE = TEXTURE_DESC_SIZE
    DTYPE = TEXTURE_DESC_DTYPE

    def ensure_fallback(self) -> None:
        if not self.count:
            self.emit(fallback_texture())

    @staticmethod
    def _row_signature(row: dict) -> tuple | None:
        """Committed entries with a content hash: an identical texture (same hash, size
        and shape) emitted again reuses its index and appends nothing (early cut-off)."""
        if not row["content_hash"] or row["data_offset"] % TEXTURE_DATA_ALIGNMENT:
            return None
        return (row["content_hash"], row["size_bytes"], row["width"], row["height"], row["depth"],
                row["array_layers"], row["mip_levels"], row["format"], row["texture_type"])

    def emit(self, texture: CookedTexture) -> int:
        """The texture's stable index (at once); the payload is written asynchronously.
        A texture identical to a committed one gets that one's index."""
        if not self.count and texture.payload != fallback_texture().payload:
            self.ensure_fallback()
        s = texture.shape
        signature = (texture.content_hash, len(texture.payload), s.width, s.height, s.depth, s.array_layers,
                     s.mip_levels, int(s.format), int(s.texture_type))
        return self._append(signature, texture.payload, TEXTURE_DATA_ALIGNMENT, texture.table_entry)


class BufferEmitter(_DataEmitter[BufferResourceDesc]):
    """``buffers.table`` / ``buffers.data``: 32-byte entries with usage, stride, format and hash."""

    ENTRY_SIZE = BUFFER_DESC_SIZE
    DTYPE = BUFFER_DESC_DTYPE

    @staticmethod
    def _row_signature(row: dict) -> tuple | None:
        """Committed entries with a content hash (an identical buffer reuses its index)."""
        aligned = row["data_offset"] % max(1, buffer_alignment(row["usage_flags"], row["element_stride"])) == 0
        if not row["content_hash"] or not aligned:
            return None
        return (row["content_hash"], row["size_bytes"], row["usage_flags"], row["element_stride"],
                row["element_format"])

    def emit(self, data: bytes, *, usage: int, stride: int = 0, element_format: int = 0,
             alignment: int | None = None, content_hash: int | None = None) -> int:
        """The buffer's stable index (at once); the bytes are written asynchronously.
        ``content_hash``: the truncated SHA-256 of ``data`` when the caller already
        computed it off the hub (it is computed here otherwise)."""
        if element_format == 0 and stride == 0:
            raise EmitError("a buffer needs an element_format (typed) or an element_stride (structured/raw)")
        if element_format == 0 and stride > 1 and len(data) % stride:
            raise EmitError(f"buffer of {len(data)} bytes is not a multiple of its stride {stride}")
        digest = truncated_sha256(data) if content_hash is None else content_hash
        align = alignment if alignment is not None else buffer_alignment(usage, stride)

        def entry(offset: int) -> BufferResourceDesc:
            return BufferResourceDesc(data_offset=offset, size_bytes=len(data), usage_flags=int(usage),
                                      element_stride=stride, element_format=int(element_format),
                                      content_hash=digest)
        return self._append((digest, len(data), int(usage), stride, int(element_format)), data, align, entry)


@dataclass(frozen=True)
class EmittedAsset:
    key: AssetKey
    asset_type: int
    relpath: str
    virtual_path: str
    size: int
    sha256: bytes
    temp_path: str


def _write_all(files: list[tuple[str, bytes]]) -> None:
    """Write each (path, bytes), creating each folder once (a blocking procedure)."""
    made: set[str] = set()
    for path, data in files:
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(path, "wb") as fh:
            fh.write(data)


def safe_asset_name(name: str) -> str:
    """A file-system and virtual-path safe form of ``name`` (never empty, no separators)."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip().strip(".")
    return cleaned or "unnamed"


class AssetEmitter:
    """Writes ``.omat`` / ``.ogeo`` / ``.oscene`` descriptors (to temporary names until
    ``finalize`` commits them) and remembers what the index must record."""

    def __init__(self, io: SessionIO, root: str, session_tag: str,
                 committed: Mapping[AssetKey, tuple[int, str, bytes]] | None = None) -> None:
        """``committed``: key -> (asset type, relpath, descriptor SHA-256) of the
        root's index; a descriptor emitted again with the same bytes is not rewritten."""
        self._io = io
        self._root = root
        self._tag = session_tag
        self._committed = dict(committed or {})
        self._unchanged: set[AssetKey] = set()
        self._assets: dict[AssetKey, EmittedAsset] = {}
        self._vpaths: set[str] = set()
        self._order: list[tuple[AssetKey, str]] = []  # (key, vpath) in emission order, for savepoints
        self._unwritten: dict[AssetKey, bytes] = {}    # descriptors waiting for write_pending()
        self._folders: dict[str, str] = {}

    def _folder(self, name: str) -> str:
        """A descriptor folder, resolved once (on the I/O side) and refused when it
        leads out of the root (RootEscapeError). The names in it are sanitised, and
        the commit checks each final path again."""
        if name not in self._folders:
            self._folders[name] = self._io.blocking(resolve_inside, self._root, name)
        return self._folders[name]

    def _committed_size(self, relpath: str) -> int | None:
        """The committed descriptor's size, confined to the root (None when it is
        missing, not a regular file, or a link out of the root: it is then rewritten,
        and the commit refuses what must be refused)."""
        try:
            return self._io.blocking(size_inside, self._root, relpath)
        except (RootEscapeError, OSError):
            return None

    @property
    def count(self) -> int:
        """Descriptors this session writes (unchanged ones aside)."""
        return len(self._assets)

    @property
    def unchanged_count(self) -> int:
        """Descriptors emitted byte-identical to the committed ones (nothing written)."""
        return len(self._unchanged)

    def was_unchanged(self, key: AssetKey) -> bool:
        return key in self._unchanged

    @property
    def emitted_count(self) -> int:
        """Every emit so far, written or unchanged (a savepoint's position)."""
        return len(self._order)

    def forget_after(self, position: int) -> list[str]:
        """Undo every emit after ``position`` (a failed model of a batch): they will not
        be committed. Returns the temporary files written for them (to remove)."""
        temps = []
        for key, vpath in self._order[position:]:
            self._vpaths.discard(vpath)
            self._unchanged.discard(key)
            emitted = self._assets.pop(key, None)
            if emitted is not None and self._unwritten.pop(key, None) is None:
                temps.append(emitted.temp_path)  # already written: its temporary goes
        del self._order[position:]
        return temps

    def assets(self) -> list[EmittedAsset]:
        return list(self._assets.values())

    def relpath_for(self, asset_type: int, name: str) -> str:
        folder, suffix = ASSET_FOLDERS[AssetType(asset_type)]
        return f"{folder}/{safe_asset_name(name)}{suffix}"

    def key_for(self, asset_type: int, name: str) -> AssetKey:
        """The deterministic key (from the virtual path) an asset of this name will get."""
        return AssetKey.from_virtual_path(f"{VIRTUAL_MOUNT_ROOT}/{self.relpath_for(asset_type, name)}")

    def write_pending(self) -> None:
        """Write every descriptor emitted since the last call to its temporary name, in
        ONE blocking call (one crossing to the I/O pool, not one per file).
        Greenlet-blocking; SessionIOError names the file that could not be written."""
        pending = [(self._assets[key].temp_path, data) for key, data in self._unwritten.items()]
        if pending:
            self._io.blocking(_write_all, pending)
        self._unwritten.clear()

    def emit(self, asset_type: int, name: str, descriptor: bytes) -> AssetKey:
        """Record ``descriptor`` (written by :meth:`write_pending`, before the commit)
        and return its key. Raises EmitError for an unknown type, a path that breaks the
        rules, or a repeated asset; RootEscapeError when its folder leads out of the root."""
        if asset_type not in ASSET_FOLDERS:
            raise EmitError(f"asset type {asset_type} has no descriptor folder")
        relpath = self.relpath_for(asset_type, name)
        vpath = f"{VIRTUAL_MOUNT_ROOT}/{relpath}"
        problem = relpath_problem(relpath) or virtual_path_problem(vpath)
        if problem:
            raise EmitError(f"asset {name!r}: path {relpath!r} {problem}")
        if vpath in self._vpaths:
            raise EmitError(f"asset {name!r}: {vpath} was already emitted in this session")
        key = AssetKey.from_virtual_path(vpath)
        digest = sha256(descriptor)
        folder = self._folder(relpath.split("/", 1)[0])
        if self._committed.get(key) == (int(asset_type), relpath, digest) and self._committed_size(relpath) == len(descriptor):
            self._vpaths.add(vpath)  # early cut-off: the root already holds these bytes
            self._unchanged.add(key)
            self._order.append((key, vpath))
            return key
        temp = f"{folder}/{relpath.split('/', 1)[1]}{TEMP_SUFFIX}{self._tag}"
        self._unwritten[key] = descriptor
        self._vpaths.add(vpath)
        self._order.append((key, vpath))
        self._assets[key] = EmittedAsset(key, int(asset_type), relpath, vpath, len(descriptor), digest, temp)
        return key

