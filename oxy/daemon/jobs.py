"""The daemon's job table and its one-at-a-time scheduler onto the import service.

A daemon job is a cook (a set of paths: planned by :mod:`oxy.daemon.plan` when it
starts, then run as the import requests ``oxy cook`` would make, models first) or
a compaction (:func:`oxy.pack.compact_root.compact_root`). Jobs run one at a time,
in order, so a compaction never overlaps a cook and never meets the root lock
held by this daemon. States: ``queued`` -> ``running`` -> ``committed`` |
``failed`` | ``cancelled`` (a queued job can go straight to ``cancelled``).
Consecutive watcher batches merge into a cook that is still queued.

Thread rules: everything here belongs to the main hub thread (greenlets there).
Import service callbacks reach it through ``executor`` (a HubExecutor of the
main hub); blocking work (planning, compaction) goes to the main hub's thread
pool. Finished jobs are kept up to :data:`KEEP_FINISHED`.
"""
from __future__ import annotations

import itertools
import os
import time
from collections import OrderedDict, deque
from typing import Any, Callable

import gevent
from gevent.event import Event

from oxy.daemon.config import DaemonConfig, Log
from oxy.daemon.events import EventHub
from oxy.daemon.metrics import DaemonMetrics
from oxy.daemon import plan as planning
from oxy.daemon.thumbs import cooked_textures

#: Finished jobs kept for GET /api/jobs (about 3 KiB each with their diagnostics): the table
#: is full after this many jobs, and the daemon's memory flat from then on (docs/benchmarks.md).
KEEP_FINISHED = 100
TERMINAL = ("committed", "failed", "cancelled")


class Job:
    __slots__ = ("id", "kind", "trigger", "paths", "deleted", "force", "state", "sources", "phase", "progress",
                 "counts", "written", "diagnostics", "textures", "settings", "created", "started", "finished", "cancel_requested",
                 "handle", "result", "done")

    def __init__(self, job_id: int, kind: str, trigger: str, paths: list[str], deleted: list[str],
                 force: bool, settings: dict[str, str] | None = None) -> None:
        self.id = job_id
        self.kind = kind
        self.trigger = trigger
        self.paths = list(paths)
        self.deleted = list(deleted)
        self.force = force
        self.state = "queued"
        self.sources: list[str] = sorted(set(paths) | set(deleted))
        self.phase = "queued"
        self.progress = 0.0
        self.counts: dict[str, dict[str, int]] = {}
        self.written: dict[str, int] = {}
        self.diagnostics: list[dict[str, str]] = []
        self.textures: list[dict[str, Any]] = []
        self.settings: dict[str, str] = dict(settings or {})
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.cancel_requested = False
        self.handle: Any = None
        self.result: dict[str, Any] | None = None
        self.done = Event()

    def to_json(self) -> dict[str, Any]:
        end = self.finished or time.time()
        return {"id": self.id, "kind": self.kind, "trigger": self.trigger, "state": self.state,
                "sources": self.sources, "force": self.force, "settings": self.settings, "phase": self.phase,
                "progress": round(self.progress, 4), "counts": self.counts, "written": self.written,
                "diagnostics": self.diagnostics, "textures": self.textures, "created": self.created, "started": self.started,
                "finished": self.finished, "cancel_requested": self.cancel_requested,
                "seconds": None if self.started is None else round(end - self.started, 3), "result": self.result}


#: Diagnostics of a source that could not be read: when the source is gone by the end of
#: the job it was deleted while the job ran (the watcher's deletion follows as a batch of
#: its own, which forgets it), not a failure of the cook.
VANISHED_CODES = frozenset({"import.source_not_found", "import.source_unreadable", "texture.read_failed"})


def _vanished_sources(reports: list[Any]) -> set[str]:
    """Source paths named by a VANISHED_CODES error that no longer exist (blocking: stats)."""
    named = {d.source_path for r in reports for d in r.diagnostics if d.code in VANISHED_CODES and d.source_path}
    return {p for p in named if not os.path.lexists(p)}


def _vanished(d: Any) -> dict[str, str]:
    return {"severity": "warning", "code": "daemon.source_vanished",
            "message": f"deleted while its cook ran ({d.code}: {d.message}); the deletion is handled next",
            "source_path": d.source_path, "field_path": d.field_path}


def _diag(d: Any) -> dict[str, str]:
    return {"severity": d.severity.value, "code": d.code, "message": d.message, "source_path": d.source_path,
            "field_path": d.field_path}


class JobTable:
    def __init__(self, cfg: DaemonConfig, service: Any, executor: Any, events: EventHub, log: Log,
                 anchor: str, metrics_factory: Callable[["JobTable"], DaemonMetrics]) -> None:
        self.cfg = cfg
        self.service = service
        self.executor = executor
        self.events = events
        self.log = log
        self.anchor = anchor
        self.jobs: OrderedDict[int, Job] = OrderedDict()
        self.queue: deque[Job] = deque()
        self.running: Job | None = None
        self.accepting = True
        self.totals: dict[str, dict[str, int]] = {}
        self.outcomes = {"committed": 0, "failed": 0, "cancelled": 0}
        self._ids = itertools.count(1)
        self._wake = Event()
        self._idle = Event()
        self._idle.set()
        self.metrics = metrics_factory(self)
        self._runner = gevent.spawn(self._run)

    # -- queueing ----------------------------------------------------------------------------
    def cook(self, paths: list[str], deleted: list[str] = (), *, trigger: str, force: bool = False,  # type: ignore[assignment]
             merge: bool = False, settings: dict[str, str] | None = None) -> Job | None:
        """Queue a cook (None once shutting down). ``merge``: fold into a queued watcher cook.
        ``settings``: per-request texture settings, already checked (:func:`oxy.daemon.plan.check_settings`)."""
        if not self.accepting:
            return None
        if merge and not settings:
            for job in self.queue:
                if job.kind == "cook" and job.trigger == trigger and not job.force and not job.settings:
                    job.paths = sorted(set(job.paths) | set(paths))
                    job.deleted = sorted((set(job.deleted) | set(deleted)) - set(paths))
                    job.sources = sorted(set(job.paths) | set(job.deleted))
                    return job
        return self._add(Job(next(self._ids), "cook", trigger, paths, list(deleted), force, settings))

    def compact(self, trigger: str = "api") -> Job | None:
        if not self.accepting:
            return None
        return self._add(Job(next(self._ids), "compact", trigger, [], [], False))

    def _add(self, job: Job) -> Job:
        self.jobs[job.id] = job
        self.queue.append(job)
        self._idle.clear()
        self._wake.set()
        self._publish("queued", job)
        self.log("job.queued", job=job.id, kind=job.kind, trigger=job.trigger, sources=len(job.sources))
        return job

    def cancel(self, job: Job) -> bool:
        """Request cancellation; False when the job has already finished."""
        if job.state in TERMINAL:
            return False
        job.cancel_requested = True
        if job.state == "queued":
            self.queue.remove(job)
            self._finish(job, "cancelled")
        elif job.handle is not None:
            job.handle.cancel()
        return True

    @property
    def depth(self) -> int:
        return len(self.queue)

    # -- running -----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            while not self.queue:
                self._idle.set()
                if not self.accepting:
                    return
                self._wake.clear()
                self._wake.wait()
            job = self.queue.popleft()
            self.running = job
            job.state, job.phase, job.started = "running", "planning", time.time()
            self._publish("started", job)
            self.log("job.started", job=job.id, kind=job.kind)
            try:
                outcome = self._compact(job) if job.kind == "compact" else self._cook(job)
            except gevent.GreenletExit:
                raise
            except Exception as exc:  # noqa: BLE001 - a job's failure never ends the daemon
                job.diagnostics.append({"severity": "error", "code": "daemon.internal_error",
                                        "message": f"{type(exc).__name__}: {exc}", "source_path": "",
                                        "field_path": ""})
                outcome = "failed"
            self.running = None
            self._finish(job, outcome)

    def _finish(self, job: Job, outcome: str) -> None:
        job.state = outcome
        job.phase = outcome
        job.finished = time.time()
        if outcome == "committed":
            job.progress = 1.0
        self.outcomes[outcome] += 1
        self.metrics.job_finished(outcome, None if job.started is None else job.finished - job.started)
        job.done.set()
        self._publish(outcome, job)
        errors = sum(1 for d in job.diagnostics if d["severity"] == "error")
        self.log("job." + outcome, level="info" if outcome != "failed" else "warning", job=job.id,
                 kind=job.kind, sources=len(job.sources), errors=errors,
                 seconds=None if job.started is None else round(job.finished - job.started, 3))
        finished = [j for j in self.jobs.values() if j.state in TERMINAL]
        for old in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self.jobs[old.id]

    def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        return gevent.get_hub().threadpool.apply(fn, args)

    def _cook(self, job: Job) -> str:
        from oxy.cli.cook_cmd import total_counts

        plan = self._blocking(planning.make_plan, self.cfg, job.paths, job.deleted)
        if plan:
            job.sources = sorted(set(plan.sources))
        requests = []
        if plan.forget:
            requests.append(planning.forget_request(self.cfg, plan.forget, self.anchor))
        requests += planning.model_requests(self.cfg, plan.models, job.force, job.settings)
        reports = []
        steps = len(requests) + (1 if plan.images else 0)
        for n, request in enumerate(requests):
            if job.cancel_requested:
                break
            reports.append(self._submit(job, request, n, steps))
        used = {p for r in reports for p in r.inputs}
        images = [p for p in plan.images if p in plan.explicit or p not in used]
        if images and not job.cancel_requested:
            reports.append(self._submit(job, planning.image_request(self.cfg, images, job.force, job.settings), steps - 1, steps))
        job.counts = total_counts(reports)
        self._add_totals(job.counts)
        for r in reports:
            for kind, n in r.written.items():
                job.written[kind] = job.written.get(kind, 0) + n
        vanished = self._blocking(_vanished_sources, reports)
        failed = False
        for r in reports:
            diagnostics = [_vanished(d) if d.source_path in vanished and d.code in VANISHED_CODES else _diag(d)
                           for d in r.diagnostics]
            job.diagnostics += diagnostics
            failed |= not r.success and any(d["severity"] == "error" for d in diagnostics)
        if any(r.cancelled for r in reports) or (job.cancel_requested and len(reports) < steps):
            return "cancelled"
        if any(r.written or r.outputs for r in reports):
            job.textures = self._cooked_textures(job)
        return "failed" if failed else "committed"

    def _cooked_textures(self, job: Job) -> list[dict[str, Any]]:
        """The textures the job's sources were cooked to (for the status page's thumbnails);
        empty, with a log line, if the build records cannot be read."""
        try:
            return self._blocking(cooked_textures, self.cfg.root, job.sources, job.started or job.created)
        except Exception as exc:  # noqa: BLE001 - a missing thumbnail list never fails a committed job
            self.log("job.textures_failed", level="warning", job=job.id, error=repr(exc))
            return []

    def _submit(self, job: Job, request: Any, step: int, steps: int) -> Any:
        last: dict[str, Any] = {"progress": 0.0, "phase": ""}

        def on_progress(event: Any) -> None:
            job.phase = event.phase.value
            job.progress = (step + event.overall_fraction) / max(1, steps)
            if job.progress - last["progress"] >= 0.05 or job.phase != last["phase"]:
                last["progress"], last["phase"] = job.progress, job.phase
                self.events.publish("progress", {"job": job.id, "phase": job.phase,
                                                 "progress": round(job.progress, 4)})

        job.handle = self.service.submit(request, on_progress=on_progress, executor=self.executor)
        try:
            return job.handle.wait()
        finally:
            job.handle = None

    def _compact(self, job: Job) -> str:
        from oxy.daemon.heap import malloc_trim
        from oxy.pack.compact_root import compact_root

        job.phase = "compacting"
        try:
            result = self._blocking(compact_root, self.cfg.root)
        except Exception as exc:  # noqa: BLE001 - RootBusyError, FormatError, CommitError...: the job fails
            job.diagnostics.append({"severity": "error", "code": "compact.failed",
                                    "message": f"{type(exc).__name__}: {exc}", "source_path": self.cfg.root,
                                    "field_path": ""})
            return "failed"
        finally:
            # glibc keeps the compaction's peak as free heap (36-40 MiB after a 34 MB root,
            # docs/benchmarks.md): give it back
            malloc_trim()
        job.result = _jsonable(result.to_dict())
        return "committed"

    def _add_totals(self, counts: dict[str, dict[str, int]]) -> None:
        for kind, c in counts.items():
            into = self.totals.setdefault(kind, {})
            for what, n in c.items():
                into[what] = into.get(what, 0) + n

    def _publish(self, event: str, job: Job) -> None:
        self.events.publish(event, {"job": job.id, **job.to_json()})

    # -- shutdown ----------------------------------------------------------------------------
    def drain(self, grace: float) -> None:
        """Stop accepting; cancel what is queued; let the running job finish within
        ``grace`` seconds, then cancel it and wait for its (rolled back) end. Greenlet-blocking."""
        self.accepting = False
        for job in list(self.queue):
            self.cancel(job)
        self._wake.set()
        running = self.running
        if running is not None and not running.done.wait(grace):
            self.log("shutdown.cancelling", job=running.id)
            self.cancel(running)
            running.done.wait(60)
        self._runner.join(5)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
