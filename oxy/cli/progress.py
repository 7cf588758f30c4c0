"""Progress display for long commands: a bar per phase on a terminal, plain lines elsewhere.

``[Textures] 15/28 ██████░░░░ 53%`` is redrawn in place on a TTY; on a pipe or file
each phase start, every 25% step and the end of a phase print one line. Safe to call
from any thread (a lock serialises output).
"""
from __future__ import annotations

import sys
import threading
from typing import TextIO

from oxy.importing.types import ImportPhase, ImportProgress

BAR_WIDTH = 10


def render_bar(label: str, done: int, total: int, fraction: float) -> str:
    filled = int(round(fraction * BAR_WIDTH))
    count = f" {done}/{total}" if total else ""
    return f"[{label}]{count} {'█' * filled}{'░' * (BAR_WIDTH - filled)} {int(fraction * 100):3d}%"


class ProgressPrinter:
    """Turns ImportProgress events into bars (TTY) or lines (anything else)."""

    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty() if interactive is None else interactive
        self._lock = threading.Lock()
        self._phase: ImportPhase | None = None
        self._last_step = -1
        self._drawn = False

    def __call__(self, progress: ImportProgress) -> None:
        if progress.phase in (ImportPhase.PENDING, ImportPhase.COMPLETE, ImportPhase.FAILED,
                              ImportPhase.CANCELLED):
            return  # the command's summary line reports how the job ended
        label = progress.phase.value.capitalize()
        with self._lock:
            if progress.phase is not self._phase:
                self._end_line()
                self._phase, self._last_step = progress.phase, -1
            line = render_bar(label, progress.items_done, progress.items_total, progress.phase_fraction)
            if self._tty:
                self._stream.write("\r" + line)
                self._drawn = True
            else:
                step = int(progress.phase_fraction * 4)
                if step != self._last_step:
                    self._last_step = step
                    self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        with self._lock:
            self._end_line()

    def _end_line(self) -> None:
        if self._tty and self._drawn:
            self._stream.write("\n")
            self._drawn = False
