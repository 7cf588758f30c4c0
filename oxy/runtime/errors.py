"""Errors of the runtime loader. All derive from :class:`oxy.errors.OxyError`.

Cancellation is :class:`oxy.errors.OperationCancelled` (re-exported here), never
one of these: a load cut short by :meth:`AssetLoader.stop` is not a failure.
"""
from __future__ import annotations

from dataclasses import dataclass

from oxy.errors import FormatError, OperationCancelled, OxyError

__all__ = ["AssetNotFound", "LoaderNotRunning", "MountError", "OperationCancelled", "SourceReadError",
           "ResourceNotFound", "WrongAssetKind"]


class LoaderNotRunning(OxyError, RuntimeError):
    """A load was requested before :meth:`AssetLoader.start` or after :meth:`stop`."""


@dataclass(eq=False)
class MountError(FormatError):
    """A PAK file or loose cooked root failed its mount checks.

    ``path``/``offset``/``field`` name the first problem (as in FormatError);
    the message says which mount failed. Other mounts are unaffected.
    """


class AssetNotFound(OxyError, LookupError):
    """No mounted source holds the asset key."""


class ResourceNotFound(OxyError, LookupError):
    """A resource key names an unmounted source or an index past its table."""


class WrongAssetKind(OxyError, TypeError):
    """The asset exists but is of another type than the one requested."""


class SourceReadError(OxyError, OSError):
    """Reading a mounted file failed at load time (removed, truncated, closed mount).

    ``transient``: whether a retry may succeed (a file missing or short while a cook
    swaps it, EIO, EAGAIN; see :mod:`oxy.runtime.retry`). False for a path that
    escapes its root. ``errno`` is the OS error number when there was one."""

    transient = True
