"""Writing the pack tool's output file atomically, without following planted links.

The bytes go to a fresh temporary file beside the output, created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random name: an existing
file or symlink at that name is never opened, so a link planted where a
predictable temporary name would be cannot redirect the write. The temporary file
is fsynced, renamed over the output (``os.replace``: if the output path is itself
a symlink, the link is replaced, not its target), and the folder is fsynced.

The implementation is oxy's one atomic-write helper, :func:`oxy.rootfs.write_file_atomically`.

Thread rules: a plain blocking function, safe from any thread. Failure modes:
OSError (the temporary file is removed); the previous output stays as it was.
"""
from __future__ import annotations

from oxy.rootfs import write_file_atomically

__all__ = ["write_file_atomically"]
