"""Validation diagnostics: what is wrong, where (file, byte offset, field path) and how bad.

A :class:`ValidationReport` collects diagnostics from one validation run; the
severity of each stable code comes from :mod:`oxy.validate.rules` (errors: the
engine rejects it; warnings: the engine tolerates it). ``strict`` turns warnings
into errors. Text from the file (names, paths) may be invalid UTF-8, kept as lone
surrogates by the readers; :func:`printable` escapes it so that printing or
JSON-encoding a diagnostic never fails. Plain data; safe to pass between threads
once the run has finished.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Callable

__all__ = ["Diagnostic", "Severity", "ValidationReport", "printable"]


class Severity(str, Enum):
    """How bad a diagnostic is: oxy's one severity scale, shared by validation reports and
    import diagnostics (``oxy.importing.types`` re-exports it). For validation, ``ERROR``
    is what the engine rejects and ``WARNING`` what it tolerates; for an import job,
    ``ERROR`` means the job cannot succeed."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def printable(text: str) -> str:
    """``text`` with undecodable bytes (lone surrogates from ``surrogateescape``)
    written as ``\\xNN``: safe for a strict UTF-8 stream and for JSON."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from surrogateescape
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class Diagnostic:
    """One finding. ``code`` is stable (for scripts); ``message`` is for people."""

    severity: Severity
    code: str
    message: str
    file: str
    offset: int | None = None
    field: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.offset is not None:
            where += f" @0x{self.offset:x}"
        if self.field:
            where += f" {self.field}"
        return printable(f"{self.severity.value}: {where}: {self.message} [{self.code}]")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["severity"] = self.severity.value
        for key in ("message", "file", "field"):
            out[key] = printable(out[key])
        return out

    def located(self) -> str:
        """``file @0xOFFSET field: message [code]`` without the severity."""
        return str(self).split(": ", 1)[1]


_severity_of: Callable[[str], Severity] | None = None


def _lookup(code: str) -> Severity:
    global _severity_of
    if _severity_of is None:  # rules imports this module: bind on first use
        from oxy.validate.rules import severity_of
        _severity_of = severity_of
    return _severity_of(code)


@dataclass
class ValidationReport:
    """Diagnostics of one validated PAK file, loose cooked root or loaded object.

    ``ok``: no errors (warnings allowed). ``strict``: warnings were promoted to errors
    (:meth:`make_strict`)."""

    target: str
    kind: str  # "pak", "loose", or what the loader checked ("asset", "texture", ...)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    strict: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    def add(self, code: str, message: str, file: str, offset: int | None = None, field: str = "") -> None:
        """Record a finding; its severity is the rule's (:mod:`oxy.validate.rules`),
        or ERROR for every rule once the report is strict."""
        severity = Severity.ERROR if self.strict else _lookup(code)
        self.diagnostics.append(Diagnostic(severity, code, message, file, offset, field))

    def make_strict(self) -> "ValidationReport":
        """Promote every warning (already recorded or recorded later) to an error.
        Returns self."""
        self.strict = True
        self.diagnostics = [replace(d, severity=Severity.ERROR) if d.severity is Severity.WARNING else d
                            for d in self.diagnostics]
        return self

    def raise_errors(self) -> None:
        """Raise the first error as a :class:`~oxy.errors.FormatError` (file, offset,
        field, ``[code]`` in the message), noting how many more there are."""
        errors = self.errors
        if not errors:
            return
        from oxy.errors import FormatError

        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise FormatError(printable(f"{first.message} [{first.code}]{more}"), first.file, first.offset, first.field)

    def to_dict(self) -> dict:
        return {"target": printable(self.target), "kind": self.kind, "valid": self.ok,
                "strict": self.strict, "errors": len(self.errors), "warnings": len(self.warnings),
                "stats": dict(self.stats),
                "diagnostics": [d.to_dict() for d in self.diagnostics]}
