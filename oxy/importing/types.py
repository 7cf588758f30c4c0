"""The data that crosses the import service boundary: requests, progress, reports.

All are plain dataclasses, safe to hand between threads once built (treat them as
immutable after they are delivered). Nothing here imports gevent.
"""
from __future__ import annotations

import difflib
import enum
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from oxy.cook.notes import CookNote
from oxy.validate.diagnostics import Severity

__all__ = [
    "ImportDiagnostic",
    "ImportPhase",
    "ImportProgress",
    "ImportReport",
    "ImportRequest",
    "OptionSpec",
    "SOURCE_KEY_OPTION",
    "Severity",
    "check_options",
]


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

    @classmethod
    def from_note(cls, note: CookNote, source_path: str) -> ImportDiagnostic:
        """The diagnostic for a note of the pure cook code, about ``source_path``."""
        return cls(Severity(note.severity), note.code, note.message, source_path, note.field_path)

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
    #: Per unit kind (texture, scene_parse, geometry, material, scene): how many were
    #: ``cooked``, ``up_to_date``, ``cache_hits_local``, ``cache_hits_remote``, ``failed``.
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Every source file (absolute) the job's outputs depend on: images, models, their files.
    inputs: list[str] = field(default_factory=list)

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


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One declared ``ImportRequest.options`` key of an importer.

    ``types``: the accepted value types (``bool`` is accepted only where declared,
    although it is an ``int``; an ``int`` is accepted where ``float`` is).
    ``items``: for a list option, the accepted element types (a string is never a
    list). ``choices``: the allowed values, if limited. ``check``: a further test
    returning the problem as text, or None. ``allow_none``: None means "default".
    """

    name: str
    types: tuple[type, ...]
    help: str
    items: tuple[type, ...] = ()
    choices: tuple[Any, ...] = ()
    check: Callable[[Any], str | None] | None = None
    allow_none: bool = True

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this option, or None."""
        if value is None:
            return None if self.allow_none else "must not be None"
        if self.items:
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                return f"must be a list of {_type_names(self.items)}, got {type(value).__name__} {_short(value)}"
            for n, item in enumerate(value):
                if not _is_instance(item, self.items):
                    return f"item {n} must be {_type_names(self.items)}, got {type(item).__name__} {_short(item)}"
        elif not _is_instance(value, self.types):
            return f"must be {_type_names(self.types)}, got {type(value).__name__} {_short(value)}"
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
        return self.check(value) if self.check is not None else None


def _is_instance(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_options(options: Any, specs: Sequence[OptionSpec], *, importer: str,
                  source_path: str = "") -> list[ImportDiagnostic]:
    """Every problem of ``options`` against an importer's declared ``specs``, as
    ERROR diagnostics: ``import.unknown_option`` (naming the key, with a close
    match when there is one, and the known keys) and ``import.bad_option`` (naming
    the key, the expected type and the value). Empty when the options are sound.
    Pure; safe from any thread."""
    if not isinstance(options, Mapping):
        return [ImportDiagnostic(Severity.ERROR, "import.bad_option",
                                 f"options must be a mapping of option names to values, got "
                                 f"{type(options).__name__}", source_path)]
    known = {spec.name: spec for spec in specs}
    out = []
    for key, value in options.items():
        spec = known.get(key)
        if spec is None:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append(ImportDiagnostic(
                Severity.ERROR, "import.unknown_option",
                f"unknown option {key!r} for the {importer} importer{hint} (known: {', '.join(sorted(known))})",
                source_path, f"options.{key}"))
            continue
        problem = spec.problem(value)
        if problem is not None:
            out.append(ImportDiagnostic(Severity.ERROR, "import.bad_option", f"option {key!r} {problem}",
                                        source_path, f"options.{key}"))
    return out


def _source_key_problem(value: Any) -> str | None:
    if len(value) != 16:
        return f"must be 16 bytes (the root's GUID), got {len(value)}"
    return None if any(value) else "must not be all zero (the engine rejects a zero GUID)"


#: ``source_key``: the root's GUID when the import creates the root (every importer
#: that opens a session accepts it; the session reads it).
SOURCE_KEY_OPTION = OptionSpec("source_key", (bytes,), "16 bytes: the GUID of a new root",
                               check=_source_key_problem)
