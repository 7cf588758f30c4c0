"""Writing the pack tool's output file atomically, without following planted links.

The bytes go to a fresh temporary file beside the output, created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random name (mode 0644 less the umask): an existing
file or symlink at that name is never opened, so a link planted where a
predictable temporary name would be cannot redirect the write. The temporary file
is fsynced, renamed over the output (``os.replace``: if the output path is itself
a symlink, the link is replaced, not its target), and the folder is fsynced.

Thread rules: a plain blocking function, safe from any thread. Failure modes:
OSError (the temporary file is removed); the previous output stays as it was.
"""
from __future__ import annotations

import os
import secrets

__all__ = ["write_file_atomically"]


def write_file_atomically(path: str | os.PathLike[str], data: bytes) -> str:
    """Replace ``path`` with ``data`` atomically; returns the path as a string."""
    out = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(out))
    fd, tmp = _create_exclusive(folder, os.path.basename(out))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    return out


def _create_exclusive(folder: str, name: str) -> tuple[int, str]:
    """A new file ``folder/.name.<random>.tmp`` opened for writing; never an existing one."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _attempt in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, 0o644), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {os.path.join(folder, name)}")


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
