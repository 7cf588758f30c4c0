"""The data that crosses the import service boundary: requests, progress, reports.

All are plain dataclasses, safe to hand between threads once built (treat them as
immutable after they are delivered). Nothing here imports gevent.
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = [
    "ImportDiagnostic",
    "ImportPhase",
    "ImportProgress",
    "ImportReport",
    "ImportRequest",
    "Severity",
]


class Severity(enum.Enum):
    """How bad a diagnostic is. ``ERROR`` means the job cannot succeed."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class ImportPhase(enum.Enum):
    """Where a job is. The last three are terminal."""

    PENDING = "pending"
    PARSING = "parsing"
    TEXTURES = "textures"
    MATERIALS = "materials"
    GEOMETRY = "geometry"
    SCENE = "scene"
    WRITING = "writing"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (ImportPhase.COMPLETE, ImportPhase.CANCELLED, ImportPhase.FAILED)


@dataclass(frozen=True, slots=True)
class ImportDiagnostic:
    """One finding about the input or the job.

    ``code`` is stable and dotted (``import.unsupported_format``); tools match on
    it, never on ``message``. ``field_path`` names the failing element inside the
    source (``meshes[3].uv1``) when it applies.
    """

    severity: Severity
    code: str
    message: str
    source_path: str = ""
    field_path: str = ""

    def __str__(self) -> str:
        where = self.source_path + (f" {self.field_path}" if self.field_path else "")
        return f"{self.severity.value} {self.code}: {where}: {self.message}" if where else (
            f"{self.severity.value} {self.code}: {self.message}"
        )


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """What to import and where to put it.

    ``source_path``: the authoring file (scene or image). ``cooked_root``: the loose
    cooked root to write into. ``layout``: the name of the output layout
    (``"loose"`` by default). ``options``: importer-specific settings (read-only
    by convention).
    """

    source_path: str
    cooked_root: str
    layout: str = "loose"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_path", os.fspath(self.source_path))
        object.__setattr__(self, "cooked_root", os.fspath(self.cooked_root))

    @property
    def suffix(self) -> str:
        """The lower-case file extension of the source, with the dot (``".gltf"``)."""
        return os.path.splitext(self.source_path)[1].lower()


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """A progress event of one job. Fractions are in ``[0, 1]``.

    ``new_diagnostics`` holds only the diagnostics raised since the previous event.
    """

    job_id: int
    phase: ImportPhase
    phase_fraction: float = 0.0
    overall_fraction: float = 0.0
    items_done: int = 0
    items_total: int = 0
    new_diagnostics: tuple[ImportDiagnostic, ...] = ()


@dataclass(slots=True)
class ImportReport:
    """The outcome of one job, delivered exactly once to ``on_complete``.

    ``success`` is true only if the importer finished, was not cancelled and raised
    no error diagnostic. ``cancelled`` jobs are not failures: ``success`` is false
    and ``cancelled`` true. ``written`` counts the outputs by kind
    (``{"textures": 3, "buffers": 1, ...}``); ``outputs`` names what each source
    became (``{"textures/brick.png": 3}``: a texture index, for example).
    """

    cooked_root: str
    diagnostics: list[ImportDiagnostic] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)
    success: bool = False
    cancelled: bool = False
    job_id: int = 0
    source_path: str = ""

    @property
    def errors(self) -> list[ImportDiagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def phase(self) -> ImportPhase:
        """The terminal phase this report stands for."""
        if self.cancelled:
            return ImportPhase.CANCELLED
        return ImportPhase.COMPLETE if self.success else ImportPhase.FAILED

    def diagnostic_codes(self) -> list[str]:
        return [d.code for d in self.diagnostics]
