"""Validation diagnostics: what is wrong, where (file, byte offset, field path) and how bad.

A :class:`ValidationReport` collects diagnostics from one validation run. Plain
data; safe to pass between threads once the run has finished.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


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
        return f"{self.severity.value}: {where}: {self.message} [{self.code}]"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["severity"] = self.severity.value
        return out


@dataclass
class ValidationReport:
    """Diagnostics of one validated PAK file or loose cooked root."""

    target: str
    kind: str  # "pak" or "loose"
    diagnostics: list[Diagnostic] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    def error(self, code: str, message: str, file: str, offset: int | None = None,
              field: str = "") -> None:
        self.diagnostics.append(Diagnostic(Severity.ERROR, code, message, file, offset, field))

    def warning(self, code: str, message: str, file: str, offset: int | None = None,
                field: str = "") -> None:
        self.diagnostics.append(Diagnostic(Severity.WARNING, code, message, file, offset, field))

    def to_dict(self) -> dict:
        return {"target": self.target, "kind": self.kind, "valid": self.ok,
                "errors": len(self.errors), "warnings": len(self.warnings),
                "stats": dict(self.stats),
                "diagnostics": [d.to_dict() for d in self.diagnostics]}
