"""``AsyncImportService``: the thread-safe front door of the import hub.

Any thread submits :class:`ImportRequest`s; each becomes a *job* that runs as a
greenlet on the service's :class:`~oxy.hub.ImportLoop`, at most
``max_concurrent_jobs`` at a time (the rest wait, in order). The importer for a
request comes from an :class:`~oxy.importing.registry.ImporterRegistry`.

Callbacks (every job: ``on_complete(report)`` exactly once; ``on_cancel(job_id)``
exactly once if and only if the report says ``cancelled``; ``on_progress(event)``
zero or more times, always before the other two) run, in that order and one at a
time:

1. on the ``executor`` passed to ``submit_import``, if any;
2. else on the submitting thread's gevent hub, if that thread has one (each
   callback in a new greenlet there, so it may block greenlet-style);
3. else on the service's ``callback_executor``, by default the import thread
   itself (callbacks there must be short and must not block the thread).

Shutdown: :meth:`request_shutdown` stops accepting, cancels every job and returns
at once; :meth:`close` also waits (greenlet-blocking in a gevent thread) until the
import thread has delivered every callback it owes, cleaned up and ended.
"""
from __future__ import annotations

import dataclasses
import enum
import itertools
from collections import deque
from typing import Any, Callable

import gevent
from gevent.event import Event

from oxy.errors import OperationCancelled, OxyError
from oxy.farm.errors import FarmError
from oxy.hub import CancelToken, CrossFuture, FileError, ImportLoop, allocate_lock
from oxy.hub.delivery import Executor, LoopExecutor, SerialQueue, caller_executor
from oxy.importing.registry import ImporterRegistry, JobContext, default_registry
from oxy.importing.session_io import SessionIOError
from oxy.importing.types import ImportDiagnostic, ImportPhase, ImportProgress, ImportReport, ImportRequest, Severity
from oxy.rootfs import RootEscapeError

__all__ = ["AsyncImportService", "JobHandle", "ServiceClosed"]

OnComplete = Callable[[ImportReport], object]
OnProgress = Callable[[ImportProgress], object]
OnCancel = Callable[[int], object]


class ServiceClosed(OxyError, RuntimeError):
    """The service no longer accepts jobs (shutdown was requested)."""


class _State(enum.Enum):
    PENDING = 1
    RUNNING = 2
    DONE = 3


class _Job:
    """One job's record. ``state``/``cancel_requested`` change under the service lock;
    ``greenlet`` and ``ctx`` belong to the import hub thread."""

    __slots__ = ("job_id", "request", "on_complete", "on_progress", "on_cancel", "queue", "token",
                 "state", "cancel_requested", "greenlet", "ctx", "future", "farm_error")

    def __init__(self, job_id: int, request: ImportRequest, on_complete: OnComplete,
                 on_progress: OnProgress | None, on_cancel: OnCancel | None,
                 queue: SerialQueue, token: CancelToken) -> None:
        self.job_id = job_id
        self.request = request
        self.on_complete = on_complete
        self.on_progress = on_progress
        self.on_cancel = on_cancel
        self.queue = queue
        self.token = token
        self.state = _State.PENDING
        self.cancel_requested = False
        self.greenlet: gevent.Greenlet | None = None
        self.ctx: JobContext | None = None
        self.future: CrossFuture[ImportReport] = CrossFuture()
        self.farm_error: str | None = None  # the cook farm failed under this running job


class JobHandle:
    """A submitted job as seen by the caller. Safe from any thread.

    :meth:`wait` blocks only the calling greenlet in a gevent thread and the
    thread otherwise; it returns after ``on_complete`` has run.
    """

    __slots__ = ("job_id", "request", "_future", "_service")

    def __init__(self, job: _Job, service: AsyncImportService) -> None:
        self.job_id = job.job_id
        self.request = job.request
        self._future = job.future
        self._service = service

    def wait(self, timeout: float | None = None) -> ImportReport | None:
        """The report, or None if ``timeout`` seconds passed first."""
        return self._future.result() if self._future.wait(timeout) else None

    def done(self) -> bool:
        return self._future.done()

    def cancel(self) -> bool:
        return self._service.cancel_job(self.job_id)

    def __repr__(self) -> str:
        return f"<JobHandle {self.job_id} {'done' if self.done() else 'active'}>"


class AsyncImportService:
    """Runs import jobs on a dedicated import thread; every public method is safe from
    any thread, except :meth:`close`, which must not be called from the import thread.

    Settings: ``max_concurrent_jobs`` (default ``os.cpu_count()``; jobs beyond it
    wait in submission order), ``cpu_threads`` (CPU pool size, default
    ``os.cpu_count()``), ``io_threads`` (I/O pool size, default 2), ``registry``
    (default: the process-wide :data:`~oxy.importing.registry.default_registry`),
    ``callback_executor`` (where plain threads' callbacks run; default the import
    thread), ``cpu_nice`` (nice increment of the CPU-pool threads, default 0),
    ``cache`` (a :class:`~oxy.build.cache.CookCache` every job consults before it
    cooks a unit and fills after; None: no cache. The root's own build records
    are always used), ``isolate_parsers`` (scene jobs parse through one shared
    :class:`~oxy.importing.scene.isolated.IsolatedAssimpBackend`: libassimp runs in
    worker processes, so a crash or hang fails that model alone; started on first
    use, stopped by :meth:`close`), ``parse_timeout`` (seconds one isolated parse
    may take, default 120), ``farm`` (a cook farm, :class:`oxy.farm.Farm`, or its
    address, ``tcp://HOST:PORT`` / ``tls://...`` / ``local:N``, connected here and
    closed by :meth:`close`: texture cooks, scene parses and geometry packing that
    the root and the cache do not already hold run as Dask tasks; every file is
    still written here. Texture units wait for the farm on the texture pipeline's
    greenlets (as many as the farm's ``max_in_flight``), scene parses and geometry
    on the job's greenlet, so no CPU-pool thread is held while the cluster works
    and the pool keeps its size. When the farm
    fails (scheduler lost, a task timed out or killed its workers), every running
    job fails with a ``farm.failed`` error and commits nothing).
    """

    def __init__(
        self,
        *,
        max_concurrent_jobs: int | None = None,
        cpu_threads: int | None = None,
        io_threads: int = 2,
        registry: ImporterRegistry | None = None,
        callback_executor: Executor | None = None,
        name: str = "oxy-import",
        cpu_nice: int = 0,
        cache: Any = None,
        isolate_parsers: bool = False,
        parse_timeout: float = 120.0,
        farm: Any = None,
    ) -> None:
        """Start the service: its import thread (a gevent hub of its own) and its CPU and
        I/O pools start here, before this returns; every argument is described in the
        class docstring. Call from any thread except a hub you need responsive meanwhile
        (starting takes a few milliseconds). Raises ValueError for a negative
        ``max_concurrent_jobs`` or a non-positive ``parse_timeout``; a farm address that cannot be
        used raises :class:`~oxy.farm.errors.FarmError` (or ValueError for a malformed one), with
        nothing started. Pair with :meth:`close` (or use the
        service as a context manager) so the thread and pools stop."""
        import os

        self._owns_farm = isinstance(farm, str)
        if isinstance(farm, str):
            from oxy.farm.executor import Farm

            farm = Farm.connect(farm)
        self._farm = farm

        self._max_jobs = int(max_concurrent_jobs or os.cpu_count() or 2)
        if self._max_jobs < 1:
            raise ValueError("max_concurrent_jobs must be >= 1")
        self._registry = default_registry if registry is None else registry
        self._lock = allocate_lock()
        self._ids = itertools.count(1)
        self._jobs: dict[int, _Job] = {}
        self._accepting = True
        self._pending_count = 0
        self._in_flight_count = 0
        self._token = CancelToken()
        # Hub-thread state:
        self._queue: deque[_Job] = deque()
        self._running = 0
        self._idle: Event | None = None
        try:
            self._loop = ImportLoop(cpu_threads=cpu_threads, io_threads=io_threads, name=name,
                                    shutdown_hooks=[self._shutdown_on_hub], cpu_nice=cpu_nice)
        except BaseException:
            if self._owns_farm:
                farm.close()
            raise
        if farm is not None and self._loop.pools is not None:
            self._loop.pools.farm = farm  # before any job runs: read by units on CPU-pool threads
            farm.add_failure_listener(self._on_farm_failure)
        self._loop_executor = LoopExecutor(self._loop)
        self._callback_executor = callback_executor
        self._cache = cache
        # parser isolation: the shared backend is made on the hub thread, on first use
        if parse_timeout <= 0:
            raise ValueError("parse_timeout must be positive")
        self._isolate_parsers = bool(isolate_parsers)
        self._parse_timeout = float(parse_timeout)
        self._cpu_threads = cpu_threads
        self._isolated_backend: Any = None

    # -- submitting --------------------------------------------------------------------------
    def submit(self, request: ImportRequest, on_complete: OnComplete | None = None,
               on_progress: OnProgress | None = None, on_cancel: OnCancel | None = None, *,
               executor: Executor | None = None) -> JobHandle:
        """Queue a job and return its handle; raises :class:`ServiceClosed` after shutdown."""
        job = self._new_job(request, on_complete, on_progress, on_cancel, executor)
        if job is None:
            raise ServiceClosed("the import service is shutting down")
        return JobHandle(job, self)

    def submit_import(self, request: ImportRequest, on_complete: OnComplete,
                      on_progress: OnProgress | None = None, on_cancel: OnCancel | None = None, *,
                      executor: Executor | None = None) -> int:
        """Queue a job; returns its id (>= 1), or 0 (and no callback) after shutdown."""
        job = self._new_job(request, on_complete, on_progress, on_cancel, executor)
        return 0 if job is None else job.job_id

    def _new_job(self, request: ImportRequest, on_complete: OnComplete | None, on_progress: OnProgress | None,
                 on_cancel: OnCancel | None, executor: Executor | None) -> _Job | None:
        if not isinstance(request, ImportRequest):
            raise TypeError(f"expected an ImportRequest, got {type(request).__name__}")
        queue = SerialQueue(self._executors_for(executor))
        with self._lock:
            if not self._accepting:
                return None
            job = _Job(next(self._ids), request, on_complete or _ignore, on_progress, on_cancel, queue,
                       self._token.child())
            self._jobs[job.job_id] = job
            self._pending_count += 1
        self._loop.post(self._enqueue, job)  # cannot fail: the loop outlives every accepted job
        return job

    def _executors_for(self, executor: Executor | None) -> list[Executor]:
        chain: list[Executor] = []
        if executor is not None:
            chain.append(executor)
        elif not self._loop.on_hub_thread():
            hub = caller_executor()
            if hub is not None:
                chain.append(hub)
            elif self._callback_executor is not None:
                chain.append(self._callback_executor)
        chain.append(self._loop_executor)
        return chain

    # -- cancelling and shutting down --------------------------------------------------------------
    def cancel_job(self, job_id: int) -> bool:
        """Request cancellation; True if the job was active and this call requested it.

        The report says whether the cancel took effect: a job already committing its
        index finishes (``success``, not ``cancelled``), and its root holds the new index."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state is _State.DONE or job.cancel_requested:
                return False
            job.cancel_requested = True
        job.token.cancel(f"job {job_id} cancelled")
        self._loop.post(self._cancel_on_hub, job)
        return True

    def cancel_all(self) -> int:
        """Cancel every active job; returns how many this call cancelled."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.state is not _State.DONE and not j.cancel_requested]
            for job in jobs:
                job.cancel_requested = True
        for job in jobs:
            job.token.cancel(f"job {job.job_id} cancelled")
            self._loop.post(self._cancel_on_hub, job)
        return len(jobs)

    def request_shutdown(self) -> None:
        """Stop accepting, cancel every job, begin shutting down; returns at once."""
        with self._lock:
            if not self._accepting:
                return
            self._accepting = False
        self.cancel_all()
        self._loop.request_shutdown()

    def close(self, timeout: float | None = None) -> None:
        """:meth:`request_shutdown`, then wait until the import thread has ended.

        Greenlet-blocking in a gevent thread. Raises ``RuntimeError`` (and changes
        nothing) when called on the import thread, ``TimeoutError`` on timeout."""
        if self._loop.on_hub_thread():
            raise RuntimeError(f"{self._loop.name}: close() called from its own hub thread")
        self.request_shutdown()
        self._loop.close(timeout)
        if self._isolated_backend is not None:  # parser isolation: no job uses it any more
            self._isolated_backend.close()
        if self._owns_farm and self._farm is not None:
            self._farm.close()

    def _on_farm_failure(self, error: FarmError) -> None:
        """The farm failed (any thread): fail every running job; nothing of theirs is
        committed (a job already past its commit keeps its success)."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.state is _State.RUNNING and not j.cancel_requested]
            for job in jobs:
                job.farm_error = str(error)
                job.cancel_requested = True
        for job in jobs:
            job.token.cancel(f"job {job.job_id}: {error}")
            self._loop.post(self._cancel_on_hub, job)

    @property
    def farm(self) -> Any:
        """The cook farm (:class:`oxy.farm.Farm`) or None."""
        return self._farm

    def __enter__(self) -> AsyncImportService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries (any thread) ---------------------------------------------------------------------
    def is_accepting_jobs(self) -> bool:
        return self._accepting

    def is_job_active(self, job_id: int) -> bool:
        """True from submission until the job's outcome is decided."""
        return job_id in self._jobs

    def pending_job_count(self) -> int:
        return self._pending_count

    def in_flight_job_count(self) -> int:
        return self._in_flight_count

    def handle(self, job_id: int) -> JobHandle | None:
        """A handle for an active job, or None."""
        job = self._jobs.get(job_id)
        return None if job is None else JobHandle(job, self)

    @property
    def max_concurrent_jobs(self) -> int:
        return self._max_jobs

    @max_concurrent_jobs.setter
    def max_concurrent_jobs(self, value: int) -> None:
        if value < 1:
            raise ValueError("max_concurrent_jobs must be >= 1")
        self._max_jobs = int(value)
        self._loop.post(self._pump)

    @property
    def loop(self) -> ImportLoop:
        return self._loop

    @property
    def registry(self) -> ImporterRegistry:
        return self._registry

    # -- the import hub thread ----------------------------------------------------------------------
    def _enqueue(self, job: _Job) -> None:
        if job.cancel_requested:
            self._finish(job, None)
            return
        self._emit(job, ImportProgress(job.job_id, ImportPhase.PENDING))
        self._queue.append(job)
        self._pump()

    def _pump(self) -> None:
        while self._running < self._max_jobs and self._queue:
            job = self._queue.popleft()
            with self._lock:
                if job.state is not _State.PENDING:
                    continue
                job.state = _State.RUNNING
                self._pending_count -= 1
                self._in_flight_count += 1
            self._running += 1
            job.greenlet = gevent.spawn(self._run_job, job)
            job.greenlet.rawlink(lambda _g, job=job: self._finish(job, None))

    def _cancel_on_hub(self, job: _Job) -> None:
        if job.state is _State.PENDING:
            self._finish(job, None)
        elif job.state is _State.RUNNING and job.greenlet is not None and not job.greenlet.dead:
            job.greenlet.kill(OperationCancelled(f"job {job.job_id} cancelled"), block=False)

    def _run_job(self, job: _Job) -> None:
        ctx = job.ctx = JobContext(job.job_id, job.request, job.token, self._loop,
                                   lambda event: self._emit(job, event), cache=self._cache)
        try:
            lost = self._farm.lost if self._farm is not None else None
            if lost is not None:
                raise lost
            report = self._execute(job, ctx)
        except (OperationCancelled, gevent.GreenletExit):
            report = None
        except FarmError as error:  # the farm failed (not the input): the job fails, nothing committed
            job.farm_error = str(error)
            report = None
        except (SessionIOError, RootEscapeError) as error:  # a file of the root could not be written
            ctx.diagnose(Severity.ERROR, "session.write_failed", str(error))
            report = ctx.make_report(success=False)
        except Exception as error:  # noqa: BLE001 - becomes a diagnostic, never a traceback
            ctx.diagnose(Severity.ERROR, "import.internal_error",
                         f"importer raised {type(error).__name__}: {error}")
            report = ctx.make_report(success=False)
        try:
            ctx.close_writers()
        except (OperationCancelled, gevent.GreenletExit):
            pass
        self._finish(job, report)

    def _execute(self, job: _Job, ctx: JobContext) -> ImportReport:
        request = job.request
        info = ctx.reader.info(request.source_path)
        if not info.ok:
            if info.error is FileError.CANCELLED:
                raise OperationCancelled(info.message)
            code = "import.source_not_found" if info.error is FileError.NOT_FOUND else "import.source_unreadable"
            ctx.diagnose(Severity.ERROR, code, f"cannot read {request.source_path}: {info.message}")
            return ctx.make_report(success=False)
        entry = self._registry.find(request)
        if entry is None:
            suffix = request.suffix or "(no suffix)"
            known = ", ".join(self._registry.known_suffixes()) or "none registered"
            ctx.diagnose(Severity.ERROR, "import.unsupported_format",
                         f"no importer for '{suffix}' files: {request.source_path} (known: {known})")
            return ctx.make_report(success=False)
        report = entry.factory(self._with_isolated_parser(request, entry)).run(ctx)
        if not isinstance(report, ImportReport):
            ctx.diagnose(Severity.ERROR, "import.internal_error",
                         f"importer {entry.name} returned {type(report).__name__}, not ImportReport")
            return ctx.make_report(success=False)
        return report

    def _with_isolated_parser(self, request: ImportRequest, entry: Any) -> ImportRequest:
        """Parser isolation: a scene request without its own ``backend`` gets the shared
        isolated one (made here on first use). Hub thread only."""
        from oxy.importing.scene.importer import SceneImporter

        if not (self._isolate_parsers and isinstance(entry.factory, type) and issubclass(entry.factory, SceneImporter)
                and request.options.get("backend") is None):
            return request
        if self._isolated_backend is None:
            from oxy.importing.scene.isolated import IsolatedAssimpBackend

            self._isolated_backend = IsolatedAssimpBackend(self._cpu_threads, self._parse_timeout)
        return dataclasses.replace(request, options={**request.options, "backend": self._isolated_backend})

    def _finish(self, job: _Job, report: ImportReport | None) -> None:
        """Decide the job's outcome once and queue its callbacks. Hub thread only."""
        with self._lock:
            if job.state is _State.DONE:
                return
            was_running = job.state is _State.RUNNING
            # A cancel that lost the race against a successful commit is not a cancel:
            # the job finished, and its report says so.
            cancelled = report is None or (job.cancel_requested and not report.success)
            if job.farm_error is not None and cancelled:
                cancelled = False  # failed by the farm, not cancelled by anyone
                report = None
            job.state = _State.DONE
            if was_running:
                self._in_flight_count -= 1
            else:
                self._pending_count -= 1
            del self._jobs[job.job_id]
        if was_running:
            self._running -= 1
        job.token.detach()
        report = self._normalise(job, report, cancelled)
        new = job.ctx.take_unsent_diagnostics() if job.ctx is not None else ()
        self._emit(job, ImportProgress(job.job_id, report.phase, 1.0, 1.0, 0, 0, new))
        if cancelled and job.on_cancel is not None:
            job.queue.put(job.on_cancel, job.job_id)
        job.queue.put(job.on_complete, report)
        job.queue.put(job.future.set_result, report)
        job.ctx = None
        self._pump()
        if self._idle is not None and not self._jobs:
            self._idle.set()

    def _normalise(self, job: _Job, report: ImportReport | None, cancelled: bool) -> ImportReport:
        ctx_diagnostics = job.ctx.diagnostics if job.ctx is not None else []
        if report is None:
            report = ImportReport(cooked_root=job.request.cooked_root, diagnostics=list(ctx_diagnostics))
            if job.farm_error is not None and not cancelled:
                report.diagnostics.append(ImportDiagnostic(Severity.ERROR, "farm.failed",
                                                           f"the cook farm failed: {job.farm_error}",
                                                           job.request.source_path))
                if job.ctx is not None:
                    report.counts = job.ctx.counts.to_json()
        else:
            report.diagnostics.extend(d for d in ctx_diagnostics if d not in report.diagnostics)
        report.job_id = job.job_id
        report.source_path = report.source_path or job.request.source_path
        report.cooked_root = report.cooked_root or job.request.cooked_root
        report.cancelled = cancelled
        report.success = bool(report.success) and not cancelled and not report.errors
        return report

    def _emit(self, job: _Job, event: ImportProgress) -> None:
        if job.on_progress is not None:
            job.queue.put(job.on_progress, event)

    def _shutdown_on_hub(self) -> None:
        """Loop shutdown hook: cancel everything, wait for every job and every delivery."""
        with self._lock:
            self._accepting = False
        self.cancel_all()
        self._idle = Event()
        if not self._jobs:
            self._idle.set()
        self._idle.wait()
        self._loop_executor.join()


def _ignore(_report: Any) -> None:
    return None
