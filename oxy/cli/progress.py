"""Progress of ``oxy cook``'s jobs, as a user sees it: live on a terminal, plain lines elsewhere.

:func:`make_reporter` picks the display:

* a terminal (stderr is a TTY, ``TERM`` is not ``dumb``) and neither ``--quiet``
  nor ``--no-progress``: :class:`~oxy.cli.console_live.LiveReporter`, a ``rich``
  display redrawn in place (one line per running job, one overall line), with
  warnings and errors printed above it as they happen;
* anything else (a pipe, a file, ``--no-progress``): :class:`PlainReporter`, one
  plain line per job event (queued, a phase started, done, failed, cancelled) and
  one per diagnostic shown, with no bar and no control character;
* ``--quiet``: :class:`PlainReporter` that prints errors only.

Every reporter shows diagnostics as the job reports them (they ride on the job's
progress events), filtered by :class:`~oxy.cli.console.DiagnosticFilter`, and
after :meth:`CookReporter.close` prints the summary lines it is given.

Thread rules: the ``on_progress``/``on_complete`` callbacks made by
:meth:`CookReporter.watch` may run on any thread (``oxy cook`` gets them on the
import thread); every method takes the reporter's lock, so events of several jobs
and the main thread's calls never interleave a line. Failure modes: writing to a
closed stream raises (``BrokenPipeError``) in the calling thread.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, TextIO

from oxy.cli.console import DiagnosticFilter, Verbosity, is_third_party, job_label
from oxy.importing.types import ImportDiagnostic, ImportPhase, ImportProgress, ImportReport

PREFIX = "oxy cook: "


@dataclass
class JobView:
    """What the display knows of one job (owned by the reporter, under its lock)."""

    number: int
    label: str
    sources: list[str]
    phase: ImportPhase = ImportPhase.PENDING
    phases: set[ImportPhase] = field(default_factory=set)  # every phase the job has been in
    items_done: int = 0
    items_total: int = 0
    fraction: float = 0.0            # the job's overall fraction, never going back
    textures_done: int = 0
    started: float | None = None
    seen: Counter[ImportDiagnostic] = field(default_factory=Counter)
    errors: int = 0
    warnings: int = 0
    third_party_sources: set[str] = field(default_factory=set)


class CookReporter:
    """Tracks the jobs and filters their diagnostics; subclasses draw (see the module
    docstring for which one is used and the thread rules)."""

    def __init__(self, verbosity: Verbosity = Verbosity.NORMAL, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.verbosity = verbosity
        self.filter = DiagnosticFilter(verbosity)
        self.jobs: dict[int, JobView] = {}
        self.total_jobs = 0
        self._lock = threading.RLock()

    # -- what the command calls ----------------------------------------------------------
    def plan(self, total_jobs: int) -> None:
        """The number of jobs the command expects (it may end with fewer)."""
        with self._lock:
            self.total_jobs = total_jobs
            self._planned()

    def watch(self, number: int, sources: list[str]) -> tuple[Callable[[ImportProgress], None],
                                                              Callable[[ImportReport], None]]:
        """(on_progress, on_complete) for job ``number`` (1-based) cooking ``sources``."""
        with self._lock:
            self.total_jobs = max(self.total_jobs, number)
            job = self.jobs[number] = JobView(number, job_label(sources), list(sources))
        return (lambda event: self._on_progress(job, event)), (lambda report: self._on_complete(job, report))

    def close(self) -> None:
        """End the live display (if any); idempotent."""

    def summary(self, line: str) -> None:
        """Print one summary line (after :meth:`close`); shown at every verbosity."""
        with self._lock:
            self._write(PREFIX + line)

    # -- events --------------------------------------------------------------------------
    def _on_progress(self, job: JobView, event: ImportProgress) -> None:
        with self._lock:
            if not event.phase.terminal:  # a terminal event only carries the last diagnostics
                first = event.phase not in job.phases
                job.phases.add(event.phase)
                job.phase = event.phase
                job.items_done, job.items_total = event.items_done, event.items_total
                job.fraction = max(job.fraction, event.overall_fraction)
                if event.phase is ImportPhase.TEXTURES:
                    job.textures_done = max(job.textures_done, event.items_done)
                if event.phase is not ImportPhase.PENDING and job.started is None:
                    job.started = time.monotonic()
                self._progressed(job, first)
            for d in event.new_diagnostics:
                self._diagnostic(job, d)

    def _on_complete(self, job: JobView, report: ImportReport) -> None:
        with self._lock:
            for d in report.diagnostics:  # anything the progress events did not carry
                if job.seen[d] > 0:
                    job.seen[d] -= 1
                else:
                    self._diagnostic(job, d, count=False)
            job.phase = report.phase
            job.fraction = 1.0
            for source in sorted(job.third_party_sources):
                note = self.filter.hidden_note(source)
                if note:
                    self._message("warning", PREFIX + "warning: " + note)
            self._finished(job, report)

    def _diagnostic(self, job: JobView, d: ImportDiagnostic, count: bool = True) -> None:
        if count:
            job.seen[d] += 1
        if d.severity.value == "error":
            job.errors += 1
        elif d.severity.value == "warning":
            job.warnings += 1
        if is_third_party(d):
            job.third_party_sources.add(d.source_path)
        if self.filter.admit(d):
            self._message(d.severity.value, PREFIX + str(d))

    # -- drawing (subclasses) --------------------------------------------------------------
    def _planned(self) -> None:
        pass

    def _progressed(self, job: JobView, first_in_phase: bool) -> None:
        pass

    def _finished(self, job: JobView, report: ImportReport) -> None:
        pass

    def _message(self, severity: str, line: str) -> None:
        self._write(line)

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


def job_tag(job: JobView, total: int) -> str:
    """``[2/6]``: job 2 of 6."""
    return f"[{job.number}/{max(total, job.number)}]"


def phase_text(job: JobView) -> str:
    """``textures 3/8``, ``parsing``."""
    count = f" {job.items_done}/{job.items_total}" if job.items_total else ""
    return f"{job.phase.value}{count}"


def outcome_text(job: JobView, report: ImportReport) -> str:
    """``done in 1.20 s, wrote 3 textures`` / ``failed (2 errors)`` / ``cancelled``."""
    seconds = time.monotonic() - job.started if job.started is not None else 0.0
    if report.cancelled:
        return "cancelled"
    if not report.success:
        return f"failed after {seconds:.2f} s ({job.errors} error(s))"
    wrote = ", ".join(f"{n} {kind}" for kind, n in report.written.items() if n) or "nothing new"
    warned = f", {job.warnings} warning(s)" if job.warnings else ""
    return f"done in {seconds:.2f} s, wrote {wrote}{warned}"


class PlainReporter(CookReporter):
    """One plain line per job event (queued; each phase, the first time the job enters
    it; done, failed or cancelled) and per diagnostic shown (pipes, files,
    ``--no-progress``); with ``--quiet`` only errors. No bar, no control character."""

    def _progressed(self, job: JobView, first_in_phase: bool) -> None:
        if first_in_phase and self.verbosity is not Verbosity.QUIET:
            what = "queued" if job.phase is ImportPhase.PENDING else phase_text(job)
            self._write(f"{PREFIX}{job_tag(job, self.total_jobs)} {what}: {job.label}")

    def _finished(self, job: JobView, report: ImportReport) -> None:
        if self.verbosity is not Verbosity.QUIET:
            self._write(f"{PREFIX}{job_tag(job, self.total_jobs)} {outcome_text(job, report)}: {job.label}")


def interactive(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal that can redraw in place."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def make_reporter(verbosity: Verbosity = Verbosity.NORMAL, *, progress: bool = True,
                  stream: TextIO | None = None) -> CookReporter:
    """The reporter for ``stream`` (default stderr): live on a terminal unless
    ``progress`` is False or ``verbosity`` is quiet; plain lines otherwise."""
    out = stream if stream is not None else sys.stderr
    if progress and verbosity is not Verbosity.QUIET and interactive(out):
        from oxy.cli.console_live import LiveReporter  # rich is imported only here

        return LiveReporter(verbosity, out)
    return PlainReporter(verbosity, out)
