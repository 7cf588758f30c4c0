"""Preparing the models of a job ahead of their turn: how far ahead, and what they say meanwhile.

The scene importer prepares the next models of a job (check, parse, plan, cooks
started) while an earlier model is emitted (see ``SceneImporter._run_models``):

* :class:`Lookahead` decides which models are being prepared: always the next
  ``least`` ones, and more (up to ``most``) while every model ahead is prepared and
  together they plan fewer than ``budget`` textures (small models, untextured
  boxes: their preparations are short chains of pool and I/O calls, so a deeper
  look-ahead keeps the CPU pool fed; models with many textures hold cooked results
  until their turn, so the look-ahead stops there).
* :class:`HeldReports`: what a preparation would tell the job (``ctx.diagnose`` /
  ``ctx.report_progress``) is recorded and replayed, in the order it was said, when
  the model's turn comes: the report lists each model's diagnostics together and in
  model order, and progress never jumps between models, whatever ran first.

Thread rules: the import hub only (one job's greenlets and hub callbacks). Failure
modes: none of their own; :meth:`HeldReports.replay` raises what the job context's
calls raise, :meth:`Lookahead.take` what the preparation returned or raised (a
preparation should return its errors as values).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

import gevent

from oxy.importing.types import ImportPhase, Severity

if TYPE_CHECKING:
    from oxy.importing.registry import JobContext

P = TypeVar("P")


class Lookahead(Generic[P]):
    """Preparations of items ``0 .. count - 1`` (each a greenlet running ``start(i)``),
    handed out in order by :meth:`take`. See the module docstring for how far ahead of
    the item being taken they run; ``weight(prepared)`` is what a prepared item counts
    against ``budget`` until it is taken."""

    def __init__(self, count: int, start: Callable[[int], P], weight: Callable[[P], int], *, least: int,
                 most: int, budget: int) -> None:
        self._count, self._start, self._weight = count, start, weight
        self.least, self.most, self.budget = least, max(least, most), budget  # most=0: nothing ahead
        self._running: dict[int, gevent.Greenlet] = {}
        self._next = 0        # the next item to start
        self._taken = 0       # items handed out so far
        self._closed = False
        #: The most items started and not taken at once.
        self.peak_ahead = 0

    def take(self, index: int) -> P:
        """Item ``index`` (the next in order) once prepared; greenlet-blocking."""
        if index != self._taken:
            raise ValueError(f"items are taken in order: expected {self._taken}, got {index}")
        if self._next == index:
            self._spawn()  # (with most=0 nothing runs ahead: each item starts when taken)
        self._top_up()
        greenlet = self._running[index]
        value: P = greenlet.get()
        del self._running[index]
        self._taken += 1
        self._top_up()
        return value

    def close(self) -> list[P]:
        """Stop preparing: kill what still runs; the items prepared and never taken (to be
        cleaned up by the caller)."""
        self._closed = True
        left = []
        for greenlet in self._running.values():
            greenlet.kill(block=True)
            if greenlet.successful() and not isinstance(greenlet.value, BaseException):
                left.append(greenlet.value)
        self._running.clear()
        return left

    def _top_up(self, _finished: object = None) -> None:
        """Start what may start now (called on take and whenever a preparation ends)."""
        while not self._closed and self._next < self._count:
            ahead = self._next - self._taken  # started and not taken yet
            if ahead >= self.most or (ahead >= self.least and not self._room()):
                return
            self._spawn()

    def _spawn(self) -> None:
        greenlet = gevent.spawn(self._start, self._next)
        greenlet.link(self._top_up)
        self._running[self._next] = greenlet
        self._next += 1
        self.peak_ahead = max(self.peak_ahead, self._next - self._taken)

    def _room(self) -> bool:
        """Every item ahead is prepared, and together they weigh less than the budget."""
        weight = 0
        for greenlet in self._running.values():
            if not greenlet.ready():
                return False
            if greenlet.successful():
                weight += self._weight(greenlet.value)
        return weight < self.budget


class HeldReports:
    """Records ``diagnose`` and ``report_progress`` calls (the :class:`JobContext`
    signatures) until :meth:`replay`; from then on they go straight to the context."""

    __slots__ = ("_ctx", "_calls", "_live")

    def __init__(self, ctx: "JobContext") -> None:
        self._ctx = ctx
        self._calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._live = False

    def diagnose(self, severity: Severity, code: str, message: str, *, field_path: str = "",
                 source_path: str | None = None) -> None:
        if self._live:
            self._ctx.diagnose(severity, code, message, field_path=field_path, source_path=source_path)
        else:
            self._calls.append(("diagnose", (severity, code, message),
                                {"field_path": field_path, "source_path": source_path}))

    def report_progress(self, phase: ImportPhase, phase_fraction: float = 0.0, overall_fraction: float | None = None,
                        items_done: int = 0, items_total: int = 0) -> None:
        if self._live:
            self._ctx.report_progress(phase, phase_fraction, overall_fraction, items_done, items_total)
        else:
            self._calls.append(("report_progress", (phase, phase_fraction, overall_fraction, items_done,
                                                    items_total), {}))

    @property
    def held(self) -> int:
        """Calls recorded and not replayed yet."""
        return len(self._calls)

    def replay(self) -> None:
        """Send what was held to the context, in order; later calls go straight through."""
        calls, self._calls = self._calls, []
        self._live = True
        for name, args, kwargs in calls:
            getattr(self._ctx, name)(*args, **kwargs)
