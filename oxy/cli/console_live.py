"""The live ``oxy cook`` display on a terminal, drawn with ``rich``.

One line per running job (``[2/6] king.fbx (+3 more)  textures 3/8``, its bar, its
elapsed time), removed when the job ends; one overall line (``job 2 of 6, 14
texture(s) done``, the bar of every job's progress, elapsed time and ETA). Warnings
and errors are printed above the display as the jobs report them, and the
display is erased by :meth:`LiveReporter.close`, before the summary, so the
terminal keeps the messages and the summary, not scrolled bar lines. rich
redraws about eight times a second from a thread of its own.

Imported only when a live display is wanted (``oxy --help`` and the other commands
never import rich). Thread rules: as :class:`~oxy.cli.progress.CookReporter` (its
lock serialises every call; rich's own lock guards its task table).
"""
from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.progress import (BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Column
from rich.text import Text

from oxy.cli.console import Verbosity
from oxy.cli.progress import CookReporter, JobView, job_tag, phase_text
from oxy.importing.types import ImportPhase, ImportReport

STYLES = {"error": "bold red", "warning": "yellow", "info": "dim"}


class _EtaColumn(ProgressColumn):
    """Time remaining, on the overall line only."""

    def __init__(self) -> None:
        super().__init__()
        self._eta = TimeRemainingColumn()

    def render(self, task: Task) -> Text:
        if not task.fields.get("overall"):
            return Text("")
        return Text("ETA ") + self._eta.render(task)


class LiveReporter(CookReporter):
    """A rich display redrawn in place (see the module docstring)."""

    def __init__(self, verbosity: Verbosity, stream: TextIO) -> None:
        super().__init__(verbosity, stream)
        self.console = Console(file=stream, highlight=False)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False,
                       table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
            BarColumn(bar_width=16),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            _EtaColumn(),
            console=self.console, transient=True, refresh_per_second=8, expand=True)
        self._overall = self.progress.add_task("starting", total=1.0, overall=True)
        self._tasks: dict[int, TaskID] = {}
        self._closed = False
        self.progress.start()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.progress.stop()

    def _planned(self) -> None:
        self._update_overall()

    def _progressed(self, job: JobView, first_in_phase: bool) -> None:
        if job.phase is ImportPhase.PENDING:
            return  # one line per running job: a queued job has none yet
        description = f"{job_tag(job, self.total_jobs)} {job.label}  {phase_text(job)}"
        task = self._tasks.get(job.number)
        if task is None:
            task = self._tasks[job.number] = self.progress.add_task(description, total=1.0)
        self.progress.update(task, description=description, completed=job.fraction)
        self._update_overall()

    def _finished(self, job: JobView, report: ImportReport) -> None:
        task = self._tasks.pop(job.number, None)
        if task is not None:
            self.progress.remove_task(task)
        self._update_overall()

    def _message(self, severity: str, line: str) -> None:
        if self._closed:
            self._write(line)
        else:
            self.progress.console.print(Text(line, style=STYLES.get(severity, "")), soft_wrap=True)

    def _update_overall(self) -> None:
        total = max(1, self.total_jobs)
        running = [j.number for j in self.jobs.values() if j.started is not None]
        current = max(running) if running else 0
        textures = sum(j.textures_done for j in self.jobs.values())
        what = f"job {current} of {total}" if current else f"{total} job(s) queued"
        description = f"{what}, {textures} texture(s) done"
        self.progress.update(self._overall, description=description, total=float(total),
                             completed=sum(j.fraction for j in self.jobs.values()))
