"""The async file writer: whole files and explicit-offset writes on the I/O pool.

Emitters reserve aligned byte ranges up front and write each range when its data
is ready, so writes to one file complete in any order. :meth:`AsyncFileWriter.write_at`
and :meth:`~AsyncFileWriter.write_at_async` use ``os.pwrite`` on one file
descriptor shared by all writes to that path; non-overlapping ranges may be in
flight at once. The first open of a path by a writer truncates it
(``overwrite=True``) or refuses an existing file (``overwrite=False``); later
writes reuse or reopen it without truncating.

Thread rules: create and use a writer only on an import hub thread, from its
greenlets. Completion callbacks run on the import hub, in the greenlet that did
the write, and may arrive out of order. Failure modes: file problems never
raise; they come back as a failed :class:`~oxy.hub.files.FileResult`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable, Union

import gevent
from gevent.event import Event
from gevent.lock import Semaphore
from gevent.pool import Group

from oxy.hub._native import allocate_lock, get_ident
from oxy.hub.cancel import CancelToken
from oxy.hub.files import FileError, FileResult, guarded_io
from oxy.hub.loop import current_loop
from oxy.hub.pools import NotOnImportHub, run_io
from oxy.rootfs import write_file_atomically

__all__ = ["AsyncFileWriter", "WriteCallback", "WriteOptions"]

log = logging.getLogger("oxy.hub")
Buffer = Union[bytes, bytearray, memoryview]
WriteCallback = Callable[[FileResult[int]], object]


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """How a writer opens files.

    ``create_directories``: make missing parent directories. ``overwrite``: the
    first open truncates an existing file (otherwise ``ALREADY_EXISTS``).
    ``share_write``: writes to one path may be in flight together (otherwise they
    run one at a time, in submission order). ``truncate``: with ``overwrite``, the
    first open empties an existing file; ``truncate=False`` keeps its bytes, for
    appending at explicit offsets (log-structured data files).
    """

    create_directories: bool = True
    overwrite: bool = True
    share_write: bool = True
    truncate: bool = True


class _OpenFiles:
    """Shared descriptors by path. Safe from any thread (a native lock)."""

    __slots__ = ("_lock", "_fds", "_users", "_claimed", "_options")

    def __init__(self, options: WriteOptions) -> None:
        self._lock = allocate_lock()
        self._fds: dict[str, int] = {}
        self._users: dict[str, int] = {}
        self._claimed: set[str] = set()
        self._options = options

    def acquire(self, path: str) -> int:
        with self._lock:
            fd = self._fds.get(path)
            if fd is None:
                fd = self._open(path)
                self._fds[path] = fd
            self._users[path] = self._users.get(path, 0) + 1
            return fd

    def _open(self, path: str) -> int:
        if self._options.create_directories:
            parent = os.path.dirname(path)
            if parent:
                os.makedirs(parent, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        if path not in self._claimed:
            if not self._options.overwrite:
                flags |= os.O_EXCL
            elif self._options.truncate:
                flags |= os.O_TRUNC
        fd = os.open(path, flags, 0o644)
        self._claimed.add(path)
        return fd

    def release(self, path: str) -> None:
        with self._lock:
            self._users[path] -= 1

    def close_idle(self, sync: bool) -> None:
        """Close (after ``fsync`` if ``sync``) every descriptor not in use."""
        with self._lock:
            idle = [p for p, n in self._users.items() if n == 0]
            fds = [(p, self._fds.pop(p)) for p in idle]
            for p in idle:
                del self._users[p]
        first: OSError | None = None
        for _path, fd in fds:
            try:
                if sync:
                    os.fsync(fd)
            except OSError as error:
                first = first or error
            finally:
                os.close(fd)
        if first is not None:
            raise first

    def open_count(self) -> int:
        return len(self._fds)


def _pwrite_all(fd: int, data: Buffer, offset: int) -> int:
    view = memoryview(data).cast("B")
    total = len(view)
    done = 0
    while done < total:
        done += os.pwrite(fd, view[done:], offset + done)
    return total


def _write_whole(path: str, data: Buffer, options: WriteOptions, atomic: bool) -> int:
    if options.create_directories and os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    if not options.overwrite and os.path.lexists(path):
        raise FileExistsError(17, "File exists", path)
    if atomic:  # oxy's one atomic write: exclusive temporary, fsync, rename, folder fsync
        write_file_atomically(path, bytes(data))
        return len(memoryview(data).cast("B"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        return _pwrite_all(fd, data, 0)
    finally:
        os.close(fd)


class AsyncFileWriter:
    """Writes bytes on the I/O pool for greenlets of the import hub.

    ``pending_count`` counts accepted operations whose completion has not been
    delivered yet. :meth:`flush` waits for all of them; :meth:`cancel_all` makes
    every operation that has not started complete with ``CANCELLED`` (a write
    already running on the I/O pool finishes). The writer closes its descriptors
    at :meth:`close`, at the latest when the import loop shuts down.
    """

    __slots__ = (
        "options", "_files", "_token", "_owner", "_group", "_idle", "_pending", "_generation",
        "_first_error", "_path_locks", "_closed", "_finished", "_remove_hook",
    )

    def __init__(self, options: WriteOptions | None = None, token: CancelToken | None = None) -> None:
        loop = current_loop()
        if loop is None:
            raise NotOnImportHub("AsyncFileWriter must be created on an import hub thread")
        self.options = options or WriteOptions()
        self._files = _OpenFiles(self.options)
        self._token = token
        self._owner = get_ident()
        self._group = Group()
        self._idle = Event()
        self._idle.set()
        self._pending = 0
        self._generation = 0
        self._first_error: FileResult[int] | None = None
        self._path_locks: dict[str, Semaphore] = {}
        self._closed = False
        self._finished = False
        self._remove_hook = loop.add_shutdown_hook(self.close)

    # -- public API (import hub greenlets only) -----------------------------------------------
    @property
    def pending_count(self) -> int:
        return self._pending

    def write(self, path: str | os.PathLike[str], data: Buffer, *, atomic: bool = False) -> FileResult[int]:
        """Write a whole file (to a temporary name then ``os.replace`` if ``atomic``).
        Greenlet-blocking; returns the number of bytes written."""
        p = os.fspath(path)
        self._check_thread()
        self._begin()
        try:
            return self._perform(p, lambda: _write_whole(p, data, self.options, atomic), self._generation)
        finally:
            self._end()

    def write_at(self, path: str | os.PathLike[str], offset: int, data: Buffer) -> FileResult[int]:
        """Write ``data`` at ``offset``; blocks the calling greenlet, not the hub."""
        self._check_thread()
        self._begin()
        try:
            return self._write_at(os.fspath(path), offset, data, self._generation)
        finally:
            self._end()

    def _write_at(self, path: str, offset: int, data: Buffer, generation: int) -> FileResult[int]:
        if offset < 0:
            return self._settle(FileResult.failure(FileError.INVALID_ARGUMENT, f"offset={offset}", path))
        return self._perform(path, lambda: self._pwrite(path, offset, data), generation)

    def write_at_async(
        self, path: str | os.PathLike[str], offset: int, data: Buffer, callback: WriteCallback | None = None
    ) -> None:
        """Start ``write_at`` and return at once; ``callback(result)`` runs on the hub."""
        self._check_thread()
        self._begin()
        self._group.spawn(self._run_async, os.fspath(path), offset, data, callback, self._generation)

    def flush(self, *, sync: bool = False) -> FileResult[int]:
        """Wait for every pending operation, then close idle descriptors (``fsync``
        first if ``sync``). Ok unless an operation failed since the last flush, in
        which case the first failure is returned (and forgotten)."""
        self._check_thread()
        self._idle.wait()
        closed = run_io(guarded_io, "", lambda: self._files.close_idle(sync))
        first, self._first_error = self._first_error, None
        if first is not None:
            return first
        if not closed.ok:
            return FileResult.failure(closed.error or FileError.IO_ERROR, closed.message)
        return FileResult.success(0)

    def cancel_all(self) -> int:
        """Make every operation not yet started complete as ``CANCELLED``.
        Returns how many operations were pending."""
        self._generation += 1
        return self._pending

    def close(self) -> None:
        """Flush and close every descriptor; later writes fail with ``CLOSED``.
        Idempotent, and safe to call again if a kill interrupted it. Called by the
        loop at shutdown if not before."""
        if self._finished:
            return
        self._idle.wait()
        self._closed = True
        self._group.join()
        run_io(guarded_io, "", lambda: self._files.close_idle(False))
        self._finished = True
        self._remove_hook()

    def open_file_count(self) -> int:
        return self._files.open_count()

    # -- internals ------------------------------------------------------------------------
    def _check_thread(self) -> None:
        if get_ident() != self._owner:
            raise NotOnImportHub("AsyncFileWriter is bound to the import hub thread that created it")

    def _begin(self) -> None:
        self._pending += 1
        self._idle.clear()

    def _settle(self, result: FileResult[int]) -> FileResult[int]:
        if not result.ok and self._first_error is None:
            self._first_error = result
        return result

    def _end(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    def _cancelled(self, generation: int) -> bool:
        return generation != self._generation or (self._token is not None and self._token.cancelled)

    def _pwrite(self, path: str, offset: int, data: Buffer) -> int:
        fd = self._files.acquire(path)
        try:
            return _pwrite_all(fd, data, offset)
        finally:
            self._files.release(path)

    def _perform(self, path: str, call: Callable[[], int], generation: int) -> FileResult[int]:
        """Run ``call`` on the I/O pool unless closed, or cancelled since ``generation``
        (the writer's cancel generation when the operation was accepted). The caller
        counts it in ``pending_count``."""
        if self._closed:
            return self._settle(FileResult.failure(FileError.CLOSED, "writer is closed", path))
        lock = None if self.options.share_write else self._path_locks.setdefault(path, Semaphore())
        if lock is not None:
            lock.acquire()
        try:
            if self._cancelled(generation):
                return self._settle(FileResult.failure(FileError.CANCELLED, "write cancelled", path))

            def task() -> FileResult[int]:
                if self._cancelled(generation):
                    return FileResult.failure(FileError.CANCELLED, "write cancelled", path)
                return guarded_io(path, call)

            return self._settle(run_io(task))
        finally:
            if lock is not None:
                lock.release()

    def _run_async(
        self, path: str, offset: int, data: Buffer, callback: WriteCallback | None, generation: int
    ) -> None:
        try:
            result = self._write_at(path, offset, data, generation)
            if callback is not None:
                try:
                    callback(result)
                except gevent.GreenletExit:
                    raise
                except Exception:  # noqa: BLE001 - a callback must not break the writer
                    log.exception("write_at_async callback %r failed", callback)
        finally:
            self._end()  # the count taken by write_at_async, after the callback ran

    def __repr__(self) -> str:
        return f"<AsyncFileWriter pending={self._pending} open_files={self._files.open_count()}>"
