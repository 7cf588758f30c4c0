"""The root lock: one writer per cooked root at a time, across processes.

An exclusive ``flock`` on ``<root>/.oxy-lock``. Import sessions hold it from open to
commit or rollback; crash recovery (``oxy validate --repair``, the loader's repair
helper) takes it without waiting, so it never rolls back a commit that a live
process is in the middle of.

A process that finds the root busy can say who holds it (:func:`holder_of`: the
kernel's ``/proc/locks`` names the pid holding the flock on the lock file's inode,
and ``/proc/PID/cmdline`` its command; nothing is written to the root for this) and
wait with a bound (:func:`wait_until_free`).

Thread rules: a :class:`RootLock` belongs to the thread that acquired it. Failure
modes: ``try_acquire`` returns False when another holder has it; OSError for
anything else (an unwritable root, a lock file that is a symlink out of the root).
"""
from __future__ import annotations

import errno
import fcntl
import os
import time
from typing import Callable

from oxy.formats.loose import LOCK_FILE_NAME
from oxy.rootfs import open_inside


class RootLock:
    """``with RootLock(root) as lock: ...`` blocks nothing: check ``lock.held``.
    Or call :meth:`try_acquire` / :meth:`release` yourself."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if free (creating the root and the lock file); True when held."""
        if self._fd is not None:
            return True
        os.makedirs(self.root, exist_ok=True)
        fd = open_inside(self.root, LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> "RootLock":
        self.try_acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _describe_pid(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = [a.decode("utf-8", "replace") for a in fh.read(4096).split(b"\0") if a]
    except OSError:
        return f"pid {pid}"
    if argv:
        argv[0] = os.path.basename(argv[0])
    command = " ".join(argv)[:200]
    command = "".join(c if c.isprintable() else "?" for c in command)
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def _flock_holders(path_fd: int) -> list[int]:
    """Pids that hold a flock on the file open as ``path_fd`` (from ``/proc/locks``)."""
    st = os.fstat(path_fd)
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids: list[int] = []
    try:
        with open("/proc/locks") as fh:
            for line in fh:
                parts = line.split()
                if "->" in parts:  # a waiter, not a holder
                    continue
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == ident:
                    pids.append(int(parts[4]))
    except (OSError, ValueError):
        return []
    return pids


def holder_of(root: str) -> str | None:
    """Who holds the lock of ``root`` (``"pid 1234 (oxy cook src -o root)"``, or "another
    process" when the kernel does not say), or None when the lock is free or the root has
    none. Never waits; never writes or creates anything."""
    try:
        fd = open_inside(root, LOCK_FILE_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            pids = [p for p in _flock_holders(fd) if p > 0]
            return ", ".join(_describe_pid(p) for p in sorted(set(pids))) if pids else "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def wait_until_free(root: str, timeout: float | None, on_busy: Callable[[str], object] | None = None,
                    poll: float = 0.1) -> bool:
    """Wait until nobody holds ``root``'s lock: True at once when free, False when still held
    after ``timeout`` seconds (None: wait for ever). ``on_busy(holder)`` is called once, the
    first time the lock is found held. The lock is not kept: the caller's session takes it.
    Blocking (sleeps); any thread."""
    deadline = None if timeout is None else time.monotonic() + timeout
    told = False
    while True:
        holder = holder_of(root)
        if holder is None:
            return True
        if not told and on_busy is not None:
            on_busy(holder)
            told = True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
