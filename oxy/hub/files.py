"""File results and the async file reader.

Errors from file calls never cross the thread boundary as exceptions: every
operation returns a :class:`FileResult` whose ``error`` is a :class:`FileError`
kind (plus a message and the path). The blocking call runs on the I/O pool
(:func:`oxy.hub.pools.run_io`), so a reader blocks only its greenlet.
"""
from __future__ import annotations

import enum
import errno
import os
import stat
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from oxy.hub.cancel import CancelToken
from oxy.hub.pools import run_io

__all__ = ["AsyncFileReader", "FileError", "FileInfo", "FileResult", "classify_os_error"]

T = TypeVar("T")


class FileError(enum.Enum):
    """What went wrong with a file operation (the ``kind`` of a failed result)."""

    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    IS_DIRECTORY = "is_directory"
    NOT_A_DIRECTORY = "not_a_directory"
    ALREADY_EXISTS = "already_exists"
    NO_SPACE = "no_space"
    INVALID_ARGUMENT = "invalid_argument"
    IO_ERROR = "io_error"
    CANCELLED = "cancelled"
    CLOSED = "closed"


_ERRNO_KINDS = {
    errno.ENOENT: FileError.NOT_FOUND,
    errno.EACCES: FileError.PERMISSION_DENIED,
    errno.EPERM: FileError.PERMISSION_DENIED,
    errno.EROFS: FileError.PERMISSION_DENIED,
    errno.EISDIR: FileError.IS_DIRECTORY,
    errno.ENOTDIR: FileError.NOT_A_DIRECTORY,
    errno.EEXIST: FileError.ALREADY_EXISTS,
    errno.ENOSPC: FileError.NO_SPACE,
    errno.EDQUOT: FileError.NO_SPACE,
    errno.EINVAL: FileError.INVALID_ARGUMENT,
    errno.EFBIG: FileError.INVALID_ARGUMENT,
}


def classify_os_error(error: OSError) -> FileError:
    """Map an ``OSError`` to its :class:`FileError` kind (``IO_ERROR`` if unknown)."""
    return _ERRNO_KINDS.get(error.errno or 0, FileError.IO_ERROR)


@dataclass(frozen=True, slots=True)
class FileResult(Generic[T]):
    """The outcome of one file operation: ``ok`` with a ``value``, or an ``error``."""

    ok: bool
    value: T | None = None
    error: FileError | None = None
    message: str = ""
    path: str = ""

    @classmethod
    def success(cls, value: T, path: str = "") -> FileResult[T]:
        return cls(True, value, None, "", path)

    @classmethod
    def failure(cls, error: FileError, message: str, path: str = "") -> FileResult[T]:
        return cls(False, None, error, message, path)

    @classmethod
    def from_os_error(cls, error: OSError, path: str = "") -> FileResult[T]:
        where = path or (error.filename if isinstance(error.filename, str) else "")
        return cls(False, None, classify_os_error(error), error.strerror or str(error), where)

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.path}"
        assert self.error is not None
        return f"{self.error.value}: {self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class FileInfo:
    """Size in bytes and modification time (ns since the epoch) of a regular file."""

    size: int
    mtime_ns: int

    @property
    def mtime(self) -> float:
        return self.mtime_ns / 1e9


def guarded_io(path: str, call: Callable[[], T]) -> FileResult[T]:
    """Run ``call`` on the calling thread and turn an ``OSError`` into a result.

    Used inside I/O-pool tasks so that no exception crosses back to the hub.
    """
    try:
        return FileResult.success(call(), path)
    except OSError as error:
        return FileResult.from_os_error(error, path)
    except (ValueError, OverflowError) as error:  # bad offsets, embedded NULs
        return FileResult.failure(FileError.INVALID_ARGUMENT, str(error), path)


def _read_range(path: str, offset: int, max_bytes: int | None) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if max_bytes is None:
            max_bytes = max(0, os.fstat(fd).st_size - offset)
        chunks: list[bytes] = []
        remaining = max_bytes
        while remaining > 0:
            chunk = os.pread(fd, min(remaining, 1 << 24), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _info(path: str) -> FileInfo:
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    return FileInfo(st.st_size, st.st_mtime_ns)


class AsyncFileReader:
    """Reads files on the I/O pool; blocks only the calling greenlet.

    Thread rules: call only from greenlets on the import hub thread (it dispatches
    through :func:`~oxy.hub.pools.run_io`). Failure modes: never raises for file
    problems; returns a failed :class:`FileResult` (``CANCELLED`` when the token
    was cancelled before the read started, ``INVALID_ARGUMENT`` for negative
    offsets or sizes).
    """

    __slots__ = ("_token",)

    def __init__(self, token: CancelToken | None = None) -> None:
        self._token = token

    def _run(self, path: str, call: Callable[[], T]) -> FileResult[T]:
        if self._token is not None and self._token.cancelled:
            return FileResult.failure(FileError.CANCELLED, "cancelled before the read started", path)
        return run_io(guarded_io, path, call)

    def read_file(self, path: str | os.PathLike[str]) -> FileResult[bytes]:
        """The whole file."""
        p = os.fspath(path)
        return self._run(p, lambda: _read_range(p, 0, None))

    def read_range(self, path: str | os.PathLike[str], offset: int, max_bytes: int) -> FileResult[bytes]:
        """Up to ``max_bytes`` from ``offset`` (fewer at the end of the file)."""
        p = os.fspath(path)
        if offset < 0 or max_bytes < 0:
            return FileResult.failure(FileError.INVALID_ARGUMENT, f"offset={offset} max_bytes={max_bytes}", p)
        return self._run(p, lambda: _read_range(p, offset, max_bytes))

    def info(self, path: str | os.PathLike[str]) -> FileResult[FileInfo]:
        """Size and mtime; ``IS_DIRECTORY`` for a directory."""
        p = os.fspath(path)
        return self._run(p, lambda: _info(p))

    def exists(self, path: str | os.PathLike[str]) -> FileResult[bool]:
        """Whether anything exists at ``path`` (ok with False when it does not)."""
        p = os.fspath(path)
        return self._run(p, lambda: os.path.lexists(p))
