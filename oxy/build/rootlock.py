"""The root lock: one writer per cooked root at a time, across processes.

An exclusive ``flock`` on ``<root>/.oxy-lock``. Import sessions hold it from open to
commit or rollback; crash recovery (``oxy validate --repair``, the loader's repair
helper) takes it without waiting, so it never rolls back a commit that a live
process is in the middle of.

Thread rules: a :class:`RootLock` belongs to the thread that acquired it. Failure
modes: ``try_acquire`` returns False when another holder has it; OSError for
anything else (an unwritable root, a lock file that is a symlink out of the root).
"""
from __future__ import annotations

import errno
import fcntl
import os

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
