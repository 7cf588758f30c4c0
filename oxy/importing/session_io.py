"""File I/O for import sessions, in two interchangeable forms.

:class:`HubSessionIO` runs on the import hub: explicit-offset writes go through
:class:`~oxy.hub.AsyncFileWriter` (``write_at_async``, completions in any order) and
the other calls run on the I/O pool, blocking only the calling greenlet.
:class:`DirectSessionIO` does the same work synchronously in the calling thread (the
sync facade). Emitters and sessions are written once against :class:`SessionIO`, so
both paths write the same bytes.

Failure mode: every call that can fail raises :class:`SessionIOError` (naming the
path and the reason), except ``write_at_async``, whose callback receives the error
message (or None on success).
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Protocol, TypeVar

import gevent

from oxy.errors import OperationCancelled, OxyError
from oxy.hub import AsyncFileWriter, CancelToken, WriteOptions
from oxy.build.rootlock import RootLock
from oxy.rootfs import write_file_atomically
from oxy.hub.pools import run_blocking, run_io

WriteDone = Callable[[str | None], None]
T = TypeVar("T")


class SessionIOError(OxyError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SessionIO(Protocol):
    """What a session needs from the file system. Paths are absolute."""

    @property
    def pending_count(self) -> int: ...
    def write_at_async(self, path: str, offset: int, data: bytes, done: WriteDone) -> None: ...
    def write_file(self, path: str, data: bytes, *, atomic: bool = False) -> None: ...
    def flush(self) -> None: ...
    def cancel_all(self) -> None: ...
    def read(self, path: str) -> bytes | None: ...
    def size(self, path: str) -> int | None: ...
    def truncate(self, path: str, size: int) -> None: ...
    def rename(self, source: str, target: str) -> None: ...
    def remove(self, path: str) -> None: ...
    def lock_root(self, root: str) -> Callable[[], None]: ...
    def compute(self, fn: Callable[..., T], *args: Any) -> T: ...
    def blocking(self, fn: Callable[..., T], *args: Any) -> T: ...
    def shielded(self, fn: Callable[[], T]) -> T: ...


# ------------------------------------------------------------ plain functions
def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None


def _truncate(path: str, size: int) -> None:
    if _size(path) is not None:
        os.truncate(path, size)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _write_file(path: str, data: bytes, atomic: bool) -> None:
    if atomic:
        write_file_atomically(path, data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def _try_lock(root: str) -> RootLock | None:
    """The root's lock (``root/.oxy-lock``, flock) if free, else None."""
    lock = RootLock(root)
    return lock if lock.try_acquire() else None


def _call(path: str, fn: Callable, *args: object) -> object:
    try:
        return fn(*args)
    except OSError as exc:
        raise SessionIOError(path, exc.strerror or str(exc)) from None


def _call_naming_the_file(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with an OSError turned into SessionIOError naming the file it hit."""
    try:
        return fn(*args)
    except OSError as exc:
        raise SessionIOError(exc.filename or "<root>", exc.strerror or str(exc)) from None


# ---------------------------------------------------------------- direct form
class DirectSessionIO:
    """Synchronous I/O in the calling thread. Not thread-safe: one session, one thread."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self._first_error: str | None = None

    @property
    def pending_count(self) -> int:
        return 0

    def write_at_async(self, path: str, offset: int, data: bytes, done: WriteDone) -> None:
        try:
            fd = self._fds.get(path)
            if fd is None:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = self._fds[path] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            view, done_bytes = memoryview(data), 0
            while done_bytes < len(view):
                done_bytes += os.pwrite(fd, view[done_bytes:], offset + done_bytes)
        except OSError as exc:
            message = f"{path}: {exc.strerror or exc}"
            self._first_error = self._first_error or message
            done(message)
            return
        done(None)

    def write_file(self, path: str, data: bytes, *, atomic: bool = False) -> None:
        _call(path, _write_file, path, data, atomic)

    def flush(self) -> None:
        for path, fd in list(self._fds.items()):
            _call(path, os.fsync, fd)
            os.close(fd)
            del self._fds[path]
        error, self._first_error = self._first_error, None
        if error:
            raise SessionIOError(error.split(": ", 1)[0], error.split(": ", 1)[-1])

    def cancel_all(self) -> None:
        """Nothing is ever pending in the direct form."""

    def read(self, path: str) -> bytes | None:
        return _call(path, _read, path)  # type: ignore[return-value]

    def size(self, path: str) -> int | None:
        return _call(path, _size, path)  # type: ignore[return-value]

    def truncate(self, path: str, size: int) -> None:
        _call(path, _truncate, path, size)

    def rename(self, source: str, target: str) -> None:
        _call(target, os.replace, source, target)

    def remove(self, path: str) -> None:
        _call(path, _remove, path)

    def compute(self, fn: Callable[..., T], *args: Any) -> T:
        """CPU work, here in the calling thread."""
        return fn(*args)

    def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking file-system procedure (a commit, a recovery), here in the calling
        thread. OSError becomes SessionIOError; OxyError passes through."""
        return _call_naming_the_file(fn, *args)

    def shielded(self, fn: Callable[[], T]) -> T:
        """Nothing interrupts the calling thread here: just call ``fn``."""
        return fn()

    def lock_root(self, root: str) -> Callable[[], None]:
        lock = _call(root, _try_lock, root)
        while lock is None:
            time.sleep(0.01)
            lock = _call(root, _try_lock, root)
        return lock.release  # type: ignore[attr-defined]


# ------------------------------------------------------------------- hub form
class HubSessionIO:
    """I/O for a session running on the import hub. Use only from its greenlets."""

    def __init__(self, writer: AsyncFileWriter | None = None, token: CancelToken | None = None) -> None:
        options = WriteOptions(create_directories=True, overwrite=True, share_write=True, truncate=False)
        self._writer = writer or AsyncFileWriter(options, token)
        self._owns_writer = writer is None
        self.absorbed_cancels = 0

    @property
    def pending_count(self) -> int:
        return self._writer.pending_count

    def write_at_async(self, path: str, offset: int, data: bytes, done: WriteDone) -> None:
        self._writer.write_at_async(path, offset, data,
                                    lambda result: done(None if result.ok else str(result)))

    def write_file(self, path: str, data: bytes, *, atomic: bool = False) -> None:
        self._io(path, _write_file, path, data, atomic)

    def flush(self) -> None:
        result = self._writer.flush(sync=True)
        if not result.ok:
            raise SessionIOError(result.path or "<data>", f"{result.error.value if result.error else 'error'}: "
                                 f"{result.message}")

    def cancel_all(self) -> None:
        self._writer.cancel_all()

    def close(self) -> None:
        if self._owns_writer:
            self._writer.close()

    def read(self, path: str) -> bytes | None:
        return self._io(path, _read, path)  # type: ignore[return-value]

    def size(self, path: str) -> int | None:
        return self._io(path, _size, path)  # type: ignore[return-value]

    def truncate(self, path: str, size: int) -> None:
        self._io(path, _truncate, path, size)

    def rename(self, source: str, target: str) -> None:
        self._io(target, os.replace, source, target)

    def remove(self, path: str) -> None:
        self._io(path, _remove, path)

    def compute(self, fn: Callable[..., T], *args: Any) -> T:
        """CPU work on the CPU pool (greenlet-blocking), keeping the import hub free."""
        return run_blocking(fn, *args)

    def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking file-system procedure (a commit, a recovery) on the I/O pool,
        greenlet-blocking. OSError becomes SessionIOError; OxyError passes through."""
        return run_io(_call_naming_the_file, fn, *args)

    def shielded(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` to completion in a greenlet of its own, even if the calling
        greenlet is killed (a job cancel) meanwhile. Such a cancel came too late: it is
        absorbed and ``fn``'s outcome stands (the caller goes on to report it). For
        steps that must not stop half-way, such as committing an index."""
        worker = gevent.spawn(fn)
        while True:
            try:
                return worker.get()
            except (OperationCancelled, gevent.GreenletExit):
                if worker.ready():
                    raise  # fn itself raised it
                self.absorbed_cancels += 1  # killed while waiting: keep waiting

    def lock_root(self, root: str) -> Callable[[], None]:
        """Wait (greenlet-blocking, cancellable) for the root's lock; returns the unlock."""
        delay = 0.005
        lock = self._io(root, _try_lock, root)
        while lock is None:
            gevent.sleep(delay)
            delay = min(delay * 2, 0.2)
            lock = self._io(root, _try_lock, root)
        def unlock() -> None:
            self._io(root, lock.release)  # type: ignore[attr-defined]
        return unlock

    @staticmethod
    def _io(path: str, fn: Callable, *args: object) -> object:
        return run_io(_call, path, fn, *args)
