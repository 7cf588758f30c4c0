"""The importer seam: the importer protocol, the job context, and the registry.

How a format plugs in (the contract later issues build on)::

    class GltfImporter:
        def __init__(self, request: ImportRequest) -> None: ...
        def run(self, ctx: JobContext) -> ImportReport:
            ctx.report_progress(ImportPhase.PARSING)
            scene = ctx.run_blocking(parse_gltf, ctx.request.source_path, ctx.token)
            ...
            return ctx.make_report(success=True, written={"textures": 3})

    register_importer({".gltf", ".glb"}, GltfImporter, name="gltf")

* ``register_importer(match, factory)``: ``match`` is a suffix, a set of suffixes
  (case-insensitive, with or without the dot) or a predicate
  ``(ImportRequest) -> bool``. The highest ``priority`` wins; on a tie, the latest
  registration. Safe from any thread; returns an ``unregister`` function.
* For each job the service calls ``factory(request)`` and then ``importer.run(ctx)``
  in a greenlet on the import hub. ``run`` may block its greenlet (file reads,
  ``ctx.run_blocking``, nurseries) but must not block the thread.
* Cancellation arrives two ways: ``ctx.token`` is cancelled (pass it to pool
  tasks, which poll ``raise_if_cancelled()``), and the job greenlet is killed with
  :class:`~oxy.errors.OperationCancelled` at its next blocking point. Use
  ``try/finally`` for cleanup; do not swallow the exception.
* ``run`` returns an :class:`ImportReport` (``ctx.make_report`` fills in the
  diagnostics). A raised exception becomes a failed report with an
  ``import.internal_error`` diagnostic; an input problem should instead be a
  diagnostic (``ctx.diagnose``) and ``success=False``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, TypeVar, Union

import gevent

from oxy.errors import OperationCancelled
from oxy.hub import (AsyncFileReader, AsyncFileWriter, CancelToken, ImportLoop, WriteOptions, allocate_lock,
                     run_blocking)
from oxy.importing.incremental import CookCounts
from oxy.importing.types import ImportDiagnostic, ImportPhase, ImportProgress, ImportReport, ImportRequest, Severity

if TYPE_CHECKING:
    from oxy.importing.session import ImportSession

__all__ = [
    "Importer",
    "ImporterEntry",
    "ImporterFactory",
    "ImporterRegistry",
    "JobContext",
    "default_registry",
    "register_importer",
]

T = TypeVar("T")


class Importer(Protocol):
    """One import of one source file. Created per job by an :data:`ImporterFactory`."""

    def run(self, ctx: JobContext) -> ImportReport:
        """Do the import on the import hub (greenlet-blocking calls allowed)."""
        ...


ImporterFactory = Callable[[ImportRequest], Importer]
Matcher = Union[str, Iterable[str], Callable[[ImportRequest], bool]]


class JobContext:
    """What an importer gets: the request, the cancel token, progress, diagnostics,
    the CPU pool, and file I/O bound to the job.

    Thread rules: use only on the import hub thread, from the job's greenlet or its
    children. ``token`` may be passed to pool tasks on any thread. Writers made
    with :meth:`writer` are flushed and closed by the service when the job ends.
    """

    __slots__ = ("job_id", "request", "token", "loop", "reader", "diagnostics", "_unsent", "_emit", "_writers",
                 "cache", "counts", "inputs")

    def __init__(
        self,
        job_id: int,
        request: ImportRequest,
        token: CancelToken,
        loop: ImportLoop,
        emit_progress: Callable[[ImportProgress], None],
        cache: Any = None,
    ) -> None:
        self.job_id = job_id
        self.request = request
        self.token = token
        self.loop = loop
        self.reader = AsyncFileReader(token)
        self.diagnostics: list[ImportDiagnostic] = []
        self._unsent: list[ImportDiagnostic] = []
        self._emit = emit_progress
        self._writers: list[AsyncFileWriter] = []
        self.cache = cache              # the service's CookCache (None: --no-cache); used on pool threads
        self.counts = CookCounts()      # per unit kind: cooked / up_to_date / cache hits / failed
        self.inputs: set[str] = set()   # every source file the job's outputs depend on (absolute)

    def diagnose(
        self, severity: Severity, code: str, message: str, *, field_path: str = "", source_path: str | None = None
    ) -> ImportDiagnostic:
        """Record a diagnostic (sent with the next progress event and in the report)."""
        diagnostic = ImportDiagnostic(
            severity, code, message, self.request.source_path if source_path is None else source_path, field_path
        )
        self.diagnostics.append(diagnostic)
        self._unsent.append(diagnostic)
        return diagnostic

    def report_progress(
        self,
        phase: ImportPhase,
        phase_fraction: float = 0.0,
        overall_fraction: float | None = None,
        items_done: int = 0,
        items_total: int = 0,
    ) -> None:
        """Send an :class:`ImportProgress` to the job's ``on_progress`` (if any)."""
        new, self._unsent = tuple(self._unsent), []
        overall = phase_fraction if overall_fraction is None else overall_fraction
        self._emit(ImportProgress(
            self.job_id, phase, _clamp(phase_fraction), _clamp(overall), items_done, items_total, new
        ))

    def take_unsent_diagnostics(self) -> tuple[ImportDiagnostic, ...]:
        new, self._unsent = tuple(self._unsent), []
        return new

    def run_blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """:func:`oxy.hub.run_blocking` after a cancellation check."""
        self.token.raise_if_cancelled()
        return run_blocking(fn, *args, **kwargs)

    def raise_if_cancelled(self) -> None:
        self.token.raise_if_cancelled()

    def writer(self, options: WriteOptions | None = None) -> AsyncFileWriter:
        """A file writer cancelled with the job and closed when the job ends."""
        writer = AsyncFileWriter(options, self.token)
        self._writers.append(writer)
        return writer

    def open_session(self, *, source_key: bytes | None = None, diagnose: Any = None) -> "ImportSession | None":
        """An opened :class:`~oxy.importing.session.ImportSession` on the request's root
        (hub I/O bound to this job), or None after a ``session.open_failed`` diagnostic
        (the root is untouched). Greenlet-blocking."""
        from oxy.hub import WriteOptions
        from oxy.importing.root_state import RootStateError
        from oxy.importing.session import ImportSession
        from oxy.importing.session_io import HubSessionIO, SessionIOError

        session = ImportSession(self.request.cooked_root, HubSessionIO(self.writer(WriteOptions(truncate=False))),
                                source_path=self.request.source_path, source_key=source_key, diagnose=diagnose)
        try:
            return session.open()
        except (RootStateError, SessionIOError) as exc:
            self.diagnose(Severity.ERROR, "session.open_failed", str(exc))
            return None

    def close_writers(self) -> None:
        """Close every writer of this job (called by the service; greenlet-blocking)."""
        while self._writers:
            try:
                self._writers[-1].close()
            except (OperationCancelled, gevent.GreenletExit):
                continue  # a cancel arrived while closing: finish the job anyway
            self._writers.pop()

    def make_report(self, *, success: bool, written: dict[str, int] | None = None,
                    outputs: dict[str, int] | None = None) -> ImportReport:
        """A report carrying every diagnostic recorded so far."""
        return ImportReport(
            cooked_root=self.request.cooked_root,
            diagnostics=list(self.diagnostics),
            written=dict(written or {}),
            outputs=dict(outputs or {}),
            success=success,
            job_id=self.job_id,
            source_path=self.request.source_path,
            counts=self.counts.to_json(),
            inputs=sorted(self.inputs),
        )


def _clamp(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else float(value)


@dataclass(frozen=True, slots=True)
class ImporterEntry:
    """One registration: ``factory`` serves requests for which ``matches`` is true."""

    name: str
    matches: Callable[[ImportRequest], bool]
    factory: ImporterFactory
    priority: int
    suffixes: frozenset[str]
    order: int


def _normalise_suffix(suffix: str) -> str:
    suffix = suffix.strip().lower()
    if not suffix:
        raise ValueError("empty suffix")
    return suffix if suffix.startswith(".") else "." + suffix


def _matcher(match: Matcher) -> tuple[Callable[[ImportRequest], bool], frozenset[str]]:
    if callable(match):
        return match, frozenset()
    items = [match] if isinstance(match, str) else list(match)
    suffixes = frozenset(_normalise_suffix(s) for s in items)
    if not suffixes:
        raise ValueError("an importer needs at least one suffix or a predicate")
    return (lambda request: request.suffix in suffixes), suffixes


class ImporterRegistry:
    """Finds the importer for a request. Safe from any thread."""

    __slots__ = ("_lock", "_entries", "_order")

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._entries: tuple[ImporterEntry, ...] = ()
        self._order = itertools.count()

    def register(
        self, match: Matcher, factory: ImporterFactory, *, name: str | None = None, priority: int = 0
    ) -> Callable[[], None]:
        """Add an importer; returns a function that removes exactly this registration."""
        if not callable(factory):
            raise TypeError(f"factory must be callable, got {factory!r}")
        matches, suffixes = _matcher(match)
        entry = ImporterEntry(
            name or str(getattr(factory, "__name__", repr(factory))), matches, factory, priority, suffixes,
            next(self._order),
        )
        with self._lock:
            self._entries = tuple(sorted(self._entries + (entry,), key=lambda e: (-e.priority, -e.order)))
        return lambda: self._remove(entry)

    def _remove(self, entry: ImporterEntry) -> None:
        with self._lock:
            self._entries = tuple(e for e in self._entries if e is not entry)

    def find(self, request: ImportRequest) -> ImporterEntry | None:
        """The best registration matching ``request``, or None. A predicate that
        raises is treated as not matching."""
        for entry in self._entries:  # an immutable snapshot
            try:
                if entry.matches(request):
                    return entry
            except Exception:  # noqa: BLE001 - a broken predicate must not break lookups
                continue
        return None

    def known_suffixes(self) -> list[str]:
        return sorted({s for e in self._entries for s in e.suffixes})

    def __len__(self) -> int:
        return len(self._entries)


default_registry = ImporterRegistry()


def register_importer(
    match: Matcher,
    factory: ImporterFactory,
    *,
    name: str | None = None,
    priority: int = 0,
    registry: ImporterRegistry | None = None,
) -> Callable[[], None]:
    """Register ``factory`` in ``registry`` (the process-wide default if None)."""
    target = default_registry if registry is None else registry  # an empty registry is falsy
    return target.register(match, factory, name=name, priority=priority)
