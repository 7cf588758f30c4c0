"""Reading cooked content (a loose cooked root or a PAK) into one plain model.

:func:`read_content` validates its input first with :mod:`oxy.validate` (every
runtime check, in depth) and raises :class:`~oxy.errors.FormatError` naming the
first problem's file, offset and field, so that the packer and the differ only
ever see sound content.

Every file of a loose root is read through :mod:`oxy.rootfs`: before validation,
each path the index names (and the index itself) must resolve inside the root, so
a symlinked ``textures.data``, descriptor or ``Materials/`` folder pointing out of
the root raises :class:`~oxy.rootfs.RootEscapeError` naming the file, and nothing
from outside is ever copied into a PAK. Payloads are read per entry with
:func:`~oxy.rootfs.pread_exact` (only referenced bytes, no whole-file copy, loops
past 2 GiB). A loose root's :class:`~oxy.pack.live.LiveSet` is read from its build
records for the very index bytes read here (a PAK's is unknown). Plain functions over
files: safe from any thread.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np

from oxy.errors import FormatError
from oxy.formats import AssetKey, FileKind, LooseIndex, parse_index, parse_pak
from oxy.formats.loose import INDEX_FILE_NAME
from oxy.pack.live import LiveSet, read_live_set
from oxy.rootfs import open_inside, pread_exact, read_inside, resolve_inside
from oxy.formats.resources import (BUFFER_DESC_DTYPE, TEXTURE_DESC_DTYPE, BufferResourceDesc,
                                   TextureResourceDesc)
from oxy.validate import validate_loose_root, validate_pak_bytes

__all__ = ["Content", "ContentAsset", "Resource", "read_content"]


@dataclass(frozen=True)
class ContentAsset:
    key: AssetKey
    asset_type: int
    descriptor: bytes
    virtual_path: str | None


@dataclass(frozen=True)
class Resource:
    """A table entry (as stored; ``data_offset`` is the source's) and its payload."""

    entry: TextureResourceDesc | BufferResourceDesc
    payload: bytes

    def identity(self) -> bytes:
        """The entry without its data_offset, then the payload: equal identities mean
        interchangeable resources."""
        return self.entry.replace(data_offset=0).build() + self.payload


@dataclass
class Content:
    path: str
    kind: str  # "loose" or "pak"
    guid: bytes
    content_version: int
    assets: dict[AssetKey, ContentAsset] = field(default_factory=dict)
    textures: list[Resource] = field(default_factory=list)
    buffers: list[Resource] = field(default_factory=list)
    live: LiveSet = field(default_factory=lambda: LiveSet.unknown("a PAK: no build records"))
    index: LooseIndex | None = field(default=None, repr=False)  # a loose root's index, as read
    index_sha256: str = ""                                       # ... and the SHA-256 of its bytes


def read_content(path: str | os.PathLike[str], *, verify_hashes: bool = True) -> Content:
    """Read and validate a loose root (a folder or its container.index.bin) or a PAK.

    Raises FormatError for invalid content, RootEscapeError when a file of a loose
    root resolves outside it, and OSError when the path cannot be read.
    """
    path = os.fspath(path)
    if os.path.basename(path) == INDEX_FILE_NAME:
        path = os.path.dirname(path) or "."
    if os.path.isdir(path):
        return _read_loose(path, verify_hashes)
    return _read_pak(path, verify_hashes)


def _raise_first(report: object, path: str) -> None:
    errors = report.errors  # type: ignore[attr-defined]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more; run `oxy validate {path}`)" if len(errors) > 1 else ""
        raise FormatError(first.message + more, first.file, first.offset, first.field)


def _read_pak(path: str, verify: bool) -> Content:
    with open(path, "rb") as fh:
        data = fh.read()
    _raise_first(validate_pak_bytes(data, name=path, verify_hashes=verify), path)
    pak = parse_pak(data, path=path)
    vpaths = dict(pak.browse or ())
    out = Content(path, "pak", pak.header.guid, pak.header.content_version)
    for entry, blob in zip(pak.directory, pak.descriptors):
        out.assets[entry.asset_key] = ContentAsset(entry.asset_key, entry.asset_type, blob,
                                                   vpaths.get(entry.asset_key))
    for kind, view, target in (("texture", TextureResourceDesc, out.textures),
                               ("buffer", BufferResourceDesc, out.buffers)):
        for row in pak.tables[kind]:
            entry = view.parse(row.tobytes())
            target.append(Resource(entry, data[entry.data_offset:entry.data_offset + entry.size_bytes]))
    return out


def _confine(root: str) -> None:
    """Refuse a root whose index, or any file its index names, resolves outside it.
    An index that does not parse is left to the validator, which says why."""
    try:
        index = parse_index(read_inside(root, INDEX_FILE_NAME), path=os.path.join(root, INDEX_FILE_NAME))
    except (FormatError, FileNotFoundError):
        return
    for relpath in [a.descriptor_relpath for a in index.assets] + [f.relpath for f in index.files]:
        resolve_inside(root, relpath)


def _read_loose(root: str, verify: bool) -> Content:
    _confine(root)
    _raise_first(validate_loose_root(root, verify_hashes=verify, deep=True), root)
    index_blob = read_inside(root, INDEX_FILE_NAME)
    index = parse_index(index_blob, path=os.path.join(root, INDEX_FILE_NAME))
    out = Content(root, "loose", index.guid, index.content_version, live=read_live_set(root, index_blob),
                  index=index, index_sha256=hashlib.sha256(index_blob).hexdigest())
    for a in index.assets:
        out.assets[a.key] = ContentAsset(a.key, a.asset_type, read_inside(root, a.descriptor_relpath), a.virtual_path)
    for table_kind, data_kind, dtype, view, target in (
            (FileKind.TEXTURES_TABLE, FileKind.TEXTURES_DATA, TEXTURE_DESC_DTYPE, TextureResourceDesc, out.textures),
            (FileKind.BUFFERS_TABLE, FileKind.BUFFERS_DATA, BUFFER_DESC_DTYPE, BufferResourceDesc, out.buffers)):
        t, d = index.file(table_kind), index.file(data_kind)
        if t is None or d is None:
            continue
        rows = np.frombuffer(read_inside(root, t.relpath), dtype)
        fd = open_inside(root, d.relpath)
        try:
            for row in rows:
                entry = view.parse(row.tobytes())
                payload = pread_exact(fd, entry.size_bytes, entry.data_offset, os.path.join(root, d.relpath))
                target.append(Resource(entry, bytes(payload)))
        finally:
            os.close(fd)
    return out
