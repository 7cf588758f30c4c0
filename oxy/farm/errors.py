"""The cook farm's errors (importable without Dask).

- :class:`FarmError`: the farm cannot do what was asked (base class).
- :class:`FarmUnavailable`: cannot connect, or ``dask[distributed]`` is missing.
- :class:`FarmVersionMismatch`: a worker runs another oxy (or other stage versions).
- :class:`FarmLost`: the scheduler went away while tasks were running; the jobs that
  were waiting fail (nothing of theirs is committed).
- :class:`FarmTimeout`: one task took longer than the farm's ``task_timeout``.
- :class:`RemoteFailure`: how a task carries a cook error (bad input) back to the
  client: plain, picklable arguments; :func:`rebuild` makes the original exception
  type again on the client (``ImageDecodeError``, ``TextureCookError``,
  ``SceneParseError``), so a bad input gives the same diagnostic as a local cook.
"""
from __future__ import annotations

from oxy.errors import OxyError

__all__ = ["FarmError", "FarmLost", "FarmTimeout", "FarmUnavailable", "FarmVersionMismatch", "RemoteFailure",
           "rebuild"]


class FarmError(OxyError):
    """The cook farm cannot do what was asked (see the subclasses)."""


class FarmUnavailable(FarmError):
    """No farm: the address does not answer, or Dask is not installed (``pip install oxy[farm]``)."""


class FarmVersionMismatch(FarmError):
    """A worker runs another oxy version or other cook-stage versions than the client."""


class FarmLost(FarmError):
    """The scheduler (or the connection to it) was lost while tasks were running."""


class FarmTimeout(FarmError):
    """A task did not finish within the farm's ``task_timeout``."""


class RemoteFailure(Exception):
    """A cook error raised on a worker, carried back as plain data: ``kind`` is the
    original class name, ``fields`` its constructor arguments. Picklable (its
    ``args`` are exactly what ``__init__`` takes)."""

    def __init__(self, kind: str, fields: tuple[str, ...]) -> None:
        super().__init__(kind, fields)
        self.kind = kind
        self.fields = fields


def rebuild(failure: RemoteFailure) -> Exception:
    """The exception a local cook would have raised for ``failure``."""
    from oxy.cook.image_decode import ImageDecodeError
    from oxy.cook.texture import TextureCookError
    from oxy.importing.scene.backend import SceneParseError

    if failure.kind == "ImageDecodeError":
        return ImageDecodeError(*failure.fields)
    if failure.kind == "SceneParseError":
        return SceneParseError(*failure.fields)
    if failure.kind == "TextureCookError":
        return TextureCookError(*failure.fields)
    return FarmError(f"a farm task failed: {failure.kind}: {'; '.join(failure.fields)}")
