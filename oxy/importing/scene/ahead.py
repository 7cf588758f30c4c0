"""HeldReports: a model's diagnostics and progress, held while it is prepared ahead of its turn.

The scene importer prepares the next models of a job (check, parse, plan, cooks
started) while an earlier model is emitted (see ``SceneImporter._run_models``).
What such a preparation would tell the job (``ctx.diagnose`` /
``ctx.report_progress``) is recorded here and replayed, in the order it was said,
when the model's turn comes: the report lists each model's diagnostics together and
in model order, and progress never jumps between models, whatever ran first.

Thread rules: the import hub only (one job's greenlets). Failure modes: none of its
own; :meth:`replay` raises what the job context's calls raise.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oxy.importing.types import ImportPhase, Severity

if TYPE_CHECKING:
    from oxy.importing.registry import JobContext


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
