"""Ranged reads for the validators: memory bounded by what one check needs.

A validator never holds a whole PAK or data file: it reads the header, footer,
tables, directory and descriptors by range, and the texture payload header and
layouts one texture at a time; hashes and the CRC-32 stream in chunks. So a
2.5 GiB PAK is validated in memory proportional to its largest table or
descriptor.

:class:`BytesReader` serves bytes already in memory (``validate_pak_bytes``, the
loader's decoded payloads); :class:`FileReader` reads a file with
:func:`oxy.rootfs.pread_exact` (looped, > 2 GiB safe). Both raise
:class:`oxy.rootfs.ShortReadError` for a range past the end (callers check ranges
first). Thread rules: a reader is used by one thread at a time; ``FileReader``
owns its descriptor until :meth:`FileReader.close`.
"""
from __future__ import annotations

import hashlib
import os
import zlib
from typing import Iterator, Protocol

from oxy.rootfs import ShortReadError, open_inside, pread_exact

__all__ = ["BytesReader", "FileReader", "RangeReader", "chunks", "stream_crc32", "stream_content_hashes"]

CHUNK = 4 << 20


class RangeReader(Protocol):
    """``size`` bytes, read by ``read(offset, length)``."""

    name: str
    size: int

    def read(self, offset: int, length: int) -> bytes: ...


class BytesReader:
    """A :class:`RangeReader` over bytes in memory (no copy until a range is read)."""

    def __init__(self, data: bytes | bytearray | memoryview, name: str = "<bytes>") -> None:
        self._view = memoryview(data).cast("B")
        self.name = name
        self.size = len(self._view)

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ShortReadError(self.name, length, offset, max(0, min(length, self.size - offset)))
        return bytes(self._view[offset:offset + length])


class FileReader:
    """A :class:`RangeReader` over an open file. ``FileReader.open(path)`` for a
    plain path, ``FileReader.open_in_root(root, relpath)`` for a root's file (refuses a
    path resolving outside the root: :class:`oxy.rootfs.RootEscapeError`)."""

    def __init__(self, fd: int, name: str) -> None:
        self._fd = fd
        self.name = name
        self.size = os.fstat(fd).st_size

    @classmethod
    def open(cls, path: str) -> "FileReader":
        return cls(os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)), path)

    @classmethod
    def open_in_root(cls, root: str, relpath: str) -> "FileReader":
        return cls(open_inside(root, relpath), relpath)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(pread_exact(self._fd, length, offset, self.name))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "FileReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunks(reader: RangeReader, start: int, end: int, size: int = CHUNK) -> Iterator[bytes]:
    """The bytes of ``[start, end)`` in chunks of at most ``size``."""
    pos = start
    while pos < end:
        n = min(size, end - pos)
        yield reader.read(pos, n)
        pos += n


def stream_crc32(reader: RangeReader, skip_at: int, skip_len: int = 4) -> int:
    """IEEE CRC-32 of the whole reader, skipping ``skip_len`` bytes at ``skip_at``."""
    crc = 0
    for start, end in ((0, skip_at), (skip_at + skip_len, reader.size)):
        for part in chunks(reader, start, end):
            crc = zlib.crc32(part, crc)
    return crc & 0xFFFFFFFF


def stream_content_hashes(reader: RangeReader, offset: int, length: int,
                          zero: tuple[int, int] | None = None) -> tuple[int, int]:
    """(truncated SHA-256 with bytes ``zero=(start, stop)`` of the range zeroed, truncated
    SHA-256 of the range as stored), in one streaming pass (FORMATS.md 2)."""
    zeroed, plain = hashlib.sha256(), hashlib.sha256()
    pos = offset
    for part in chunks(reader, offset, offset + length):
        plain.update(part)
        if zero is not None:
            lo, hi = offset + zero[0], offset + zero[1]
            if pos < hi and pos + len(part) > lo:
                buf = bytearray(part)
                a, b = max(lo, pos) - pos, min(hi, pos + len(part)) - pos
                buf[a:b] = bytes(b - a)
                part = bytes(buf)
        zeroed.update(part)
        pos += len(part)
    return (int.from_bytes(zeroed.digest()[:8], "little"), int.from_bytes(plain.digest()[:8], "little"))
