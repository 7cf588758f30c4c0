"""Independent validators for PAK files and loose cooked roots.

They implement every runtime check of FORMATS.md and report all problems as
:class:`Diagnostic` records naming the file, the byte offset and the field path.
They share only the declarations of ``oxy.formats`` with the writers, never the
writers' code, so a writer bug cannot hide itself. Pure functions over files:
safe from any thread; bad content never raises, an unreadable path raises OSError.
"""
from __future__ import annotations

import os

from oxy.validate.diagnostics import Diagnostic, Severity, ValidationReport
from oxy.validate.loose import validate_loose_root
from oxy.validate.pak import validate_pak, validate_pak_bytes


def validate_path(path: str | os.PathLike[str], *, verify_hashes: bool = False) -> ValidationReport:
    """Validate a ``.pak`` file, a loose cooked root folder, or its ``container.index.bin``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return validate_loose_root(path, verify_hashes=verify_hashes)
    if os.path.basename(path) == "container.index.bin":
        return validate_loose_root(os.path.dirname(path) or ".", verify_hashes=verify_hashes)
    return validate_pak(path, verify_hashes=verify_hashes)


__all__ = ["Diagnostic", "Severity", "ValidationReport", "validate_loose_root", "validate_pak",
           "validate_pak_bytes", "validate_path"]
