"""What a long command shows of its diagnostics: verbosity, and third-party warnings summarised.

oxy's own warnings and errors are always shown (errors even with ``--quiet``).
Warnings that a third-party parser wrote into its own log (assimp's, code in
:data:`~oxy.importing.scene.backend.THIRD_PARTY_CODES`) are counted per source file
and only the first :data:`THIRD_PARTY_SHOWN` of each file are shown, unless
``--verbose``; :meth:`DiagnosticFilter.hidden_note` says how many were left out.
Info diagnostics are shown only with ``--verbose``.

Thread rules: :class:`DiagnosticFilter` is not locked; its owner (the progress
reporter) calls it under its own lock. Pure: nothing here writes output.
"""
from __future__ import annotations

import enum
import os
from collections import Counter

from oxy.importing.scene.backend import THIRD_PARTY_CODES
from oxy.importing.types import ImportDiagnostic, Severity

#: Third-party warnings shown per source file without ``--verbose``.
THIRD_PARTY_SHOWN = 3


class Verbosity(enum.IntEnum):
    """``--quiet`` (errors and the summary), normal, ``--verbose`` (every diagnostic)."""

    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


def is_third_party(diagnostic: ImportDiagnostic) -> bool:
    """True for a message that a third-party library wrote (not one of oxy's findings)."""
    return diagnostic.code in THIRD_PARTY_CODES


class DiagnosticFilter:
    """Decides which diagnostics are shown, counting third-party warnings per source."""

    __slots__ = ("verbosity", "third_party", "seen")

    def __init__(self, verbosity: Verbosity) -> None:
        self.verbosity = verbosity
        self.third_party: Counter[str] = Counter()   # source path -> third-party warnings seen
        self.seen: Counter[str] = Counter()  # severity value -> diagnostics seen (shown or not)

    def admit(self, diagnostic: ImportDiagnostic) -> bool:
        """Count ``diagnostic`` and say whether to show it now."""
        self.seen[diagnostic.severity.value] += 1
        third_party = diagnostic.severity is Severity.WARNING and is_third_party(diagnostic)
        if third_party:
            self.third_party[diagnostic.source_path] += 1
        if diagnostic.severity is Severity.ERROR:
            return True
        if self.verbosity is Verbosity.QUIET:
            return False
        if diagnostic.severity is Severity.INFO:
            return self.verbosity is Verbosity.VERBOSE
        if third_party:
            return self.verbosity is Verbosity.VERBOSE or self.third_party[diagnostic.source_path] <= THIRD_PARTY_SHOWN
        return True

    def hidden(self, source_path: str) -> int:
        """How many third-party warnings of ``source_path`` were not shown."""
        if self.verbosity is not Verbosity.NORMAL:
            return 0
        return max(0, self.third_party[source_path] - THIRD_PARTY_SHOWN)

    def hidden_note(self, source_path: str) -> str | None:
        """``"... 12 more assimp warnings about X not shown (-v shows them)"``, or None."""
        n = self.hidden(source_path)
        if not n:
            return None
        total = self.third_party[source_path]
        return (f"{n} more assimp warning(s) about {source_path} not shown ({total} in all; "
                f"-v shows every one)")

    def third_party_total(self) -> int:
        return sum(self.third_party.values())


def short_name(path: str) -> str:
    """The file name of ``path`` (what a progress line shows)."""
    return os.path.basename(os.path.normpath(path)) or path


def job_label(sources: list[str]) -> str:
    """``king.fbx``, or ``king.fbx (+31 more)`` for a job of several sources."""
    if not sources:
        return "?"
    first = short_name(sources[0])
    return first if len(sources) == 1 else f"{first} (+{len(sources) - 1} more)"
