"""The cook cache's entry format, and its local tier: one file per entry under
``<dir>/v1/<key[:2]>/<key>``.

Entry format (local and remote tiers), version 1, little-endian, 84-byte header::

    offset size
    0      8    magic b"OXYCACHE"
    8      1    format version (1)
    9      3    reserved, zero
    12     32   the cook key (the 32 bytes whose hex is the file's name)
    44     32   SHA-256 of the data
    76     8    data length (u64)
    84     ...  data

:func:`decode_entry` checks every field against the bytes and the key asked for.
The tier itself moves whole entry files and never looks inside them; the cache
(:mod:`oxy.build.cache`) verifies every entry it reads.
Writes go through :func:`oxy.rootfs.write_file_atomically` without fsync (a
``<key>.oxy-tmp-<hex>`` temporary renamed over the entry: readers see a whole entry
or none; after a power loss an entry may be missing or empty, which the cache's
check turns into a miss). A hit sets the entry's mtime: mtime is its recency, and
:meth:`LocalTier.trim` removes the oldest first.

Thread and process rules: plain blocking functions over files, no state besides the
folder's path, safe from any thread and from many processes sharing the folder.
Files may vanish at any moment (another process trims or clears): a vanished file
is a miss while reading and is skipped while scanning or removing. Trims serialise
across processes through a ``flock`` on ``<dir>/v1/.trim-lock`` when they can;
without it they are still safe, only wasteful.

Failure modes: ``read``/``write`` raise OSError (the cache logs and counts it);
``scan`` raises OSError only when the folder itself cannot be listed.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import stat
import struct
import time
from dataclasses import dataclass
from typing import Iterator

from oxy.rootfs import ATOMIC_TEMP_MARKER, pread_exact, write_file_atomically

__all__ = ["FORMAT_VERSION", "HEADER_SIZE", "KEY_RE", "LAYOUT", "MAGIC", "STALE_TEMP_SECONDS", "CorruptEntry",
           "FileId", "LocalTier", "Sweep", "decode_entry", "encode_entry"]

log = logging.getLogger("oxy.build.cache")

MAGIC = b"OXYCACHE"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sB3s32s32sQ")
HEADER_SIZE = _HEADER.size  # 84
#: A cook key: the recipe's SHA-256 as 64 lower-case hex digits. Nothing else ever
#: becomes a path component of the cache.
KEY_RE = re.compile(r"[0-9a-f]{64}")
#: The folder of this layout below the cache folder.
LAYOUT = "v1"
#: Temporaries older than this (an interrupted writer's) are removed by trim and clear.
STALE_TEMP_SECONDS = 3600.0
TRIM_LOCK_NAME = ".trim-lock"
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_HEX = frozenset("0123456789abcdef")

#: (st_dev, st_ino) of an entry file as it was read: removal of a corrupt entry checks
#: that the path still names that file, not a good one renamed there since.
FileId = tuple[int, int]


class CorruptEntry(ValueError):
    """An entry that fails its checks. ``foreign``: another format version (left in place)."""

    def __init__(self, reason: str, foreign: bool = False) -> None:
        super().__init__(reason)
        self.foreign = foreign


def encode_entry(key: str, data: bytes | bytearray | memoryview) -> bytes:
    data = bytes(data)
    return _HEADER.pack(MAGIC, FORMAT_VERSION, bytes(3), bytes.fromhex(key), hashlib.sha256(data).digest(),
                        len(data)) + data


def decode_entry(key: str, blob: bytes) -> bytes:
    """The data of the entry ``blob`` read for ``key``; raises CorruptEntry saying why not."""
    if len(blob) < HEADER_SIZE:
        raise CorruptEntry(f"truncated: {len(blob)} bytes, shorter than the {HEADER_SIZE}-byte header")
    magic, version, reserved, entry_key, digest, length = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise CorruptEntry(f"bad magic {magic!r} (not a cook cache entry)")
    if version != FORMAT_VERSION:
        raise CorruptEntry(f"entry format version {version}, this oxy reads {FORMAT_VERSION}", foreign=True)
    if reserved != bytes(3):
        raise CorruptEntry(f"reserved header bytes {reserved.hex()} are not zero")
    if entry_key.hex() != key:
        raise CorruptEntry(f"the header names key {entry_key.hex()} (a misplaced entry)")
    if len(blob) - HEADER_SIZE != length:
        raise CorruptEntry(f"the header says {length} data bytes, the entry holds {len(blob) - HEADER_SIZE}")
    data = blob[HEADER_SIZE:]
    if hashlib.sha256(data).digest() != digest:
        raise CorruptEntry("the data's SHA-256 differs from the header's")
    return data


@dataclass(frozen=True)
class Sweep:
    """What one scan-and-remove pass found and did."""

    removed: int          # entries removed by this pass
    removed_bytes: int
    entries: int          # entries left
    bytes: int            # bytes left (file sizes, headers included)
    stale_temps: int      # abandoned temporaries removed


class LocalTier:
    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(os.path.expanduser(directory))
        self.root = os.path.join(self.directory, LAYOUT)

    def path_for(self, key: str) -> str:
        return os.path.join(self.root, key[:2], key)

    def read(self, key: str) -> tuple[bytes, FileId] | None:
        """The entry file's bytes and identity, or None when there is none."""
        path = self.path_for(key)
        try:
            fd = os.open(path, _READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", path)
            blob = pread_exact(fd, st.st_size, 0, path, allow_short=True)
            return bytes(blob), (st.st_dev, st.st_ino)
        finally:
            os.close(fd)

    def touch(self, key: str) -> None:
        """Mark the entry as just used (its mtime); best effort (a read-only cache stays as it is)."""
        try:
            os.utime(self.path_for(key))
        except OSError:
            pass

    def write(self, key: str, blob: bytes) -> None:
        path = self.path_for(key)
        try:
            write_file_atomically(path, blob, durable=False)
        except FileNotFoundError:  # first entry of this prefix, or the folder was removed
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_file_atomically(path, blob, durable=False)

    def discard(self, key: str, file_id: FileId | None) -> bool:
        """Remove the entry if the path still names the file read as ``file_id``; True when removed."""
        path = self.path_for(key)
        try:
            st = os.lstat(path)
            if file_id is not None and (st.st_dev, st.st_ino) != file_id:
                return False  # replaced since it was read: leave the new one alone
            os.unlink(path)
            return True
        except OSError:
            return False

    def scan(self) -> tuple[list[tuple[float, int, str]], list[tuple[float, str]]]:
        """Every entry as (mtime, size, path), and every temporary as (mtime, path)."""
        entries: list[tuple[float, int, str]] = []
        temps: list[tuple[float, str]] = []
        try:
            folders = os.scandir(self.root)
        except FileNotFoundError:
            return entries, temps
        with folders:
            for folder in folders:
                if len(folder.name) != 2 or not _HEX.issuperset(folder.name):
                    continue
                try:
                    files = os.scandir(folder.path)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                with files:
                    for f in files:
                        try:
                            st = f.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue
                        if not stat.S_ISREG(st.st_mode):
                            continue
                        if KEY_RE.fullmatch(f.name) and f.name.startswith(folder.name):
                            entries.append((st.st_mtime, st.st_size, f.path))
                        elif ATOMIC_TEMP_MARKER in f.name:
                            temps.append((st.st_mtime, f.path))
        return entries, temps

    def sweep(self, target: int | None, *, only_above: int | None = None) -> Sweep:
        """Remove least-recently-used entries until at most ``target`` bytes remain
        (``None``: remove every entry), and temporaries older than an hour. With
        ``only_above``, entries are removed only when the total exceeds it."""
        entries, temps = self.scan()
        cutoff = time.time() - STALE_TEMP_SECONDS
        stale = sum(1 for mtime, path in temps if mtime < cutoff and _unlink(path))
        total = sum(size for _, size, _ in entries)
        count = len(entries)
        removed = removed_bytes = 0
        if only_above is None or total > only_above:
            entries.sort()
            for _mtime, size, path in entries:
                if target is not None and total <= target:
                    break
                try:
                    os.unlink(path)
                    removed += 1
                    removed_bytes += size
                except FileNotFoundError:
                    pass  # another process trimmed it first
                except OSError as exc:
                    log.warning("cook cache: cannot remove %s: %s", path, exc.strerror or exc)
                    continue
                total -= size
                count -= 1
        return Sweep(removed, removed_bytes, count, total, stale)

    @contextlib.contextmanager
    def exclusive(self, wait: bool) -> Iterator[bool]:
        """Hold the folder's trim lock (across processes) for the block; yields False
        when ``wait`` is false and another process holds it."""
        os.makedirs(self.root, exist_ok=True)
        fd = os.open(os.path.join(self.root, TRIM_LOCK_NAME), os.O_RDWR | os.O_CREAT | _READ_FLAGS, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing drops the flock


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False
