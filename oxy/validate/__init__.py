"""Independent validators for PAK files and loose cooked roots.

They implement every runtime check of FORMATS.md and report all problems as
:class:`Diagnostic` records naming the file, the byte offset and the field path,
with the severity of :mod:`oxy.validate.rules`: **errors** for what the engine
rejects, **warnings** for what it tolerates (``report.errors`` /
``report.warnings``; ``report.ok`` means no errors). ``strict=True`` turns
warnings into errors. They share only the declarations of ``oxy.formats`` with
the writers, never the writers' code, so a writer bug cannot hide itself. The
runtime loader applies the same checks (``oxy.validate.descriptors``,
``oxy.validate.resources``), so the two agree.

Pure functions over files: safe from any thread; bad content never raises, an
unreadable path raises OSError.
"""
from __future__ import annotations

import os

from oxy.validate.diagnostics import Diagnostic, Severity, ValidationReport, printable
from oxy.validate.loose import validate_loose_root
from oxy.validate.pak import validate_pak, validate_pak_bytes
from oxy.validate.rules import RULES, Rule


def validate_path(path: str | os.PathLike[str], *, verify_hashes: bool = False,
                  strict: bool = False) -> ValidationReport:
    """Validate a ``.pak`` file, a loose cooked root folder, or its ``container.index.bin``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return validate_loose_root(path, verify_hashes=verify_hashes, strict=strict)
    if os.path.basename(path) == "container.index.bin":
        return validate_loose_root(os.path.dirname(path) or ".", verify_hashes=verify_hashes, strict=strict)
    return validate_pak(path, verify_hashes=verify_hashes, strict=strict)


__all__ = ["Diagnostic", "RULES", "Rule", "Severity", "ValidationReport", "printable", "validate_loose_root",
           "validate_pak", "validate_pak_bytes", "validate_path"]
