"""Root-confined file access: the one place that turns a cooked root's relative paths
into file handles, and refuses any path that resolves outside the root.

Every reader and writer of a root's own files (the import session, the validator,
``oxy inspect``, the loader's sources, the pack tool) goes through these helpers, so
a symlinked ``textures.data``, a symlinked ``Materials/`` folder or a descriptor
that links to ``/etc/passwd`` is refused with :class:`RootEscapeError` naming the
file, just as ``..`` and absolute relpaths are refused by the index reader.

The rule: ``os.path.realpath(root/relpath)`` must lie inside
``os.path.realpath(root)``. Symlinks that stay inside the root are followed. The
helpers open the *resolved* path, which narrows (but on a hostile, concurrently
changing tree cannot close) the window between the check and the open; the final
component is opened with ``O_NOFOLLOW`` so a link swapped in after the check is
refused rather than followed.

Also here: :func:`pread_exact`, which reads in a loop (one ``pread`` returns at most
about 2 GiB on Linux) and raises on a short file instead of returning fewer bytes;
:func:`write_file_atomically`, oxy's one atomic whole-file write (a fresh
``O_EXCL | O_NOFOLLOW`` temporary beside the target under a random name, fsync,
rename, fsync of the folder: a link planted at a predictable name cannot redirect
it, and a crash leaves the old file or the new one); and :func:`fsync_dir`.

Thread rules: plain blocking functions, safe from any thread. They never import
gevent; callers on a hub run them on their I/O pool.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import threading
from typing import Iterator

from oxy.errors import OxyError

__all__ = ["RootEscapeError", "ShortReadError", "resolve_inside", "open_inside", "read_inside",
           "size_inside", "pread_exact", "is_inside", "fsync_dir", "write_file_atomically", "ATOMIC_TEMP_MARKER"]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
PREAD_CHUNK = 1 << 30  # well under Linux's 0x7ffff000-byte cap on one read
#: In the names of write_file_atomically's temporaries (and of every oxy temporary in a
#: root: recovery removes stale files whose names hold ``.oxy-tmp-``).
ATOMIC_TEMP_MARKER = ".oxy-tmp-"


class RootEscapeError(OxyError):
    """A path inside a root resolves (through a symlink or otherwise) outside it.

    ``path`` is the path as named (root joined with the relpath), ``target`` where it
    resolves to."""

    def __init__(self, path: str, target: str, root: str) -> None:
        super().__init__(f"{path}: resolves to {target}, outside the root {root}; refusing to follow it")
        self.path = path
        self.target = target
        self.root = root


class ShortReadError(OxyError):
    """A file holds fewer bytes than a read at an explicit offset asked for."""

    def __init__(self, path: str, size: int, offset: int, got: int) -> None:
        super().__init__(f"{path}: {size} bytes at offset {offset} requested, only {got} there "
                         "(the file is shorter than its index or table says)")
        self.path = path
        self.size = size
        self.offset = offset
        self.got = got


def is_inside(real_root: str, real_path: str) -> bool:
    """True when ``real_path`` is ``real_root`` or below it (both already resolved)."""
    return real_path == real_root or real_path.startswith(real_root.rstrip(os.sep) + os.sep)


_memo = threading.local()


@contextlib.contextmanager
def cached_resolution() -> Iterator[None]:
    """Within the block, on this thread, :func:`resolve_inside` resolves each folder
    once (the root's and every parent's real path are remembered; a file costs one
    ``lstat`` to see whether it is a link, which is then resolved in full). For one
    operation over many files of a root: a validation, a commit, a recovery. A folder
    replaced by a link during the block is not seen again (the same window as
    between any check and use). Nested blocks share the outer one's memory."""
    outer = getattr(_memo, "folders", None)
    if outer is None:
        _memo.folders = {}
    try:
        yield
    finally:
        if outer is None:
            _memo.folders = None


def _realpath(path: str) -> str:
    folders: dict[str, str] | None = getattr(_memo, "folders", None)
    if folders is None or ".." in path.split(os.sep):  # ".." after a link: only realpath gets it right
        return os.path.realpath(path)
    path = os.path.abspath(path)
    parent, leaf = os.path.split(path)
    if not leaf:
        return os.path.realpath(path)
    real_parent = folders.get(parent)
    if real_parent is None:
        real_parent = folders[parent] = os.path.realpath(parent)
    candidate = os.path.join(real_parent, leaf)
    return os.path.realpath(path) if os.path.islink(candidate) else candidate


def resolve_inside(root: str, relpath: str = "") -> str:
    """The resolved absolute path of ``root/relpath``; raises RootEscapeError when it
    lies outside the resolved root. ``relpath`` may also be an absolute path below
    ``root`` (as sessions pass them). A missing file is fine: its parents are resolved.
    Inside :func:`cached_resolution`, folders are resolved once."""
    real_root = _realpath(root)
    named = relpath if os.path.isabs(relpath) else os.path.join(root, relpath)
    real = _realpath(named)
    if not is_inside(real_root, real):
        raise RootEscapeError(named, real, real_root)
    return real


def open_inside(root: str, relpath: str, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """``os.open`` of ``root/relpath`` once it is known to resolve inside ``root``.
    Raises RootEscapeError, or OSError from the open (FileNotFoundError and so on)."""
    real = resolve_inside(root, relpath)
    try:
        return os.open(real, flags | _CLOEXEC | _NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link appeared at the last component after the check
            named = relpath if os.path.isabs(relpath) else os.path.join(root, relpath)
            raise RootEscapeError(named, os.path.realpath(named), os.path.realpath(root)) from None
        raise


def read_inside(root: str, relpath: str) -> bytes:
    """The whole file ``root/relpath`` (confined). Raises RootEscapeError or OSError."""
    fd = open_inside(root, relpath)
    try:
        size = os.fstat(fd).st_size
        return pread_exact(fd, size, 0, os.path.join(root, relpath), allow_short=True)
    finally:
        os.close(fd)


def size_inside(root: str, relpath: str) -> int | None:
    """The size of the regular file ``root/relpath`` (confined), or None when there is
    no such file (missing, or a folder or device: the engine cannot read those as files,
    and a folder's ``st_size`` is no file size)."""
    real = resolve_inside(root, relpath)
    try:
        st = os.stat(real)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def pread_exact(fd: int, size: int, offset: int, path: str = "<fd>", *, allow_short: bool = False) -> bytes:
    """Read ``size`` bytes at ``offset``, looping over ``pread`` (each call returns at
    most ~2 GiB). Raises ShortReadError when the file ends first (unless
    ``allow_short``, then the bytes there are returned), OSError on an I/O error."""
    if size < 0 or offset < 0:
        raise ShortReadError(path, size, offset, 0)
    if size <= PREAD_CHUNK:
        data = os.pread(fd, size, offset)
        if len(data) == size or not data:
            if len(data) != size and not allow_short:
                raise ShortReadError(path, size, offset, len(data))
            return data
        parts, got = [data], len(data)
    else:
        parts, got = [], 0
    buf = bytearray(size)
    view = memoryview(buf)
    for part in parts:
        view[:len(part)] = part
    while got < size:
        n = os.preadv(fd, [view[got:got + min(PREAD_CHUNK, size - got)]], offset + got)
        if n == 0:
            if allow_short:
                return bytes(view[:got])
            raise ShortReadError(path, size, offset, got)
        got += n
    return buf  # type: ignore[return-value]  # a bytearray: no second copy of a multi-GiB resource


def fsync_dir(path: str) -> None:
    """fsync a folder, making renames, links and removals in it durable. Best effort:
    a folder that cannot be opened or synced (some file systems) is skipped."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file_atomically(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> str:
    """Replace ``path`` with ``data`` atomically and durably; returns the path as a
    string. The temporary is ``<name>.oxy-tmp-<random>`` beside it, created with
    ``O_CREAT | O_EXCL | O_NOFOLLOW`` (never an existing file or link); if ``path``
    is itself a symlink, the link is replaced, not its target. Raises OSError (the
    temporary is removed; the previous file stays as it was).

    ``durable=False`` skips the fsync of the file and of its folder: still atomic
    (readers see the old file or the new one, never a part), but after a power loss
    the file may be missing or empty. For data that can be made again (the cook cache)."""
    out = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(out))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    for _attempt in range(100):
        tmp = os.path.join(folder, f"{os.path.basename(out)}{ATOMIC_TEMP_MARKER}{secrets.token_hex(8)}")
        try:
            fd = os.open(tmp, flags, 0o644)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "cannot create a temporary file beside it", out)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(folder)
    return out
