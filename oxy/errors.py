"""The one exception tree of oxy.

Every error that a public entry point lets out derives from :class:`OxyError`.
Format problems carry the file, the byte offset and the field path so that a
message such as ``container.index.bin @0x28 header.asset_count: ...`` says where
to look without a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass


class OxyError(Exception):
    """Base class of every error oxy raises on purpose."""


@dataclass(eq=False)
class FormatError(OxyError):
    """A byte layout is violated.

    ``path`` names the file (or ``"<bytes>"``), ``offset`` the absolute byte offset in
    it (``None`` when unknown) and ``field`` the dotted field path.
    """

    message: str
    path: str = "<bytes>"
    offset: int | None = None
    field: str = ""

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path
        if self.offset is not None:
            where += f" @0x{self.offset:x}"
        if self.field:
            where += f" {self.field}"
        return f"{where}: {self.message}"


class OperationCancelled(OxyError):
    """An operation was cancelled (a job, a load, or a shutdown). Not a failure."""
