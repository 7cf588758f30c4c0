"""CookNote: what pure cook code reports besides its result (a repair it made, a part
of the input it skipped, a reason it cannot go on).

``oxy.cook`` sits below ``oxy.importing`` and cannot use its diagnostic type, so
cook functions return these plain records; the importers turn each one into an
:class:`~oxy.importing.types.ImportDiagnostic` with ``Severity(note.severity)``.
This is the only such record in ``oxy.cook`` (``MeshProblem`` is its old name).

``severity`` is one of "error" (the input cannot be used), "warning" (a repair or a
loss: the output differs from what the file says; the message gives the counts)
or "info". ``code`` is stable and dotted; tools match on it, never on ``message``.
Immutable: safe to hand between threads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CookNote", "NoteSeverity"]

NoteSeverity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class CookNote:
    severity: NoteSeverity
    code: str
    message: str
    field_path: str = ""
