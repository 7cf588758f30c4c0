"""The cook farm: pure cook steps run as Dask tasks, waited for on CPU-pool threads.

:class:`Farm` owns one ``distributed.Client`` (synchronous, with its own event-loop
thread, never the gevent hub) and, for ``local:N``, the ``LocalCluster`` it started.
It is the executor behind :func:`oxy.hub.run_blocking`'s seam: a unit of cook work
(:mod:`oxy.importing.units`) already runs on a CPU-pool thread; when its hub has a
farm (:attr:`oxy.hub.pools.Pools.farm`) and nothing finished is found (root, then
cache), it calls :meth:`Farm.cook_texture` / :meth:`Farm.parse_scene` /
:meth:`Farm.pack_geometry`, which submit a task of :mod:`oxy.farm.tasks` and wait
**on that pool thread**: the import hub never blocks on the cluster, and the session
on the hub still does every file write (commit protocol, determinism and crash safety
unchanged).

Crossing: the unit becomes a :class:`~oxy.farm.batching.Call`; the
:class:`~oxy.farm.batching.Batcher` submits it (alone, or with other small units of
the same step in one Dask task while the cluster is busy: ``max_tasks`` tasks in
flight, ``batch_texels`` / ``batch_units`` per task; or, while every slot is busy,
cooked by one of ``local_threads`` threads here) and wakes the call's
:class:`~oxy.hub.future.CrossFuture` when its task's results are fetched. The
waiter (a pool thread, or with :meth:`Farm.start_texture` / :meth:`Farm.wait` a
greenlet) waits on that CrossFuture only. Cancellation: the task's token (:func:`oxy.hub.pools.current_task`,
cancelled when the greenlet waiting for the pool task is killed: a cancelled job,
``cancel_all``, shutdown) wakes it too; the unit leaves its queued batch, or the
workers are told to skip it inside its running batch, and its Dask task is
cancelled (``future.cancel()``) once no unit of the task is still wanted.
Back-pressure: ``max_tasks`` Dask tasks; the service sizes its CPU pool to
``max_in_flight`` units, so that many units can wait (and small ones can queue up
into batches). Timeouts: ``task_timeout`` per task (:class:`FarmTimeout`, the task
is cancelled).

Failures: a worker killed mid-task is Dask's business (it reschedules the task on
another worker; after ``distributed.scheduler.allowed-failures`` kills the task
fails with ``KilledWorker``, reported as a :class:`FarmError`); a cook error on bad
input comes back as the local cook's exception for that unit only (bad input fails
alone, also inside a batch); a lost
scheduler makes every waiting task raise :class:`FarmLost` and calls the failure
listeners (the service fails its running jobs: nothing of theirs is committed).

Trust: Dask moves task arguments and results between the client, scheduler and
workers with pickle (cloudpickle): every process of the cluster must trust every
other (use TLS, ``security=``, on a shared network). Results are oxy's safe
:mod:`~oxy.build.unit_codec` bytes, as in the cook cache.

gevent: refused (``FarmError`` at connect) in a process where ``monkey.patch_all()``
patched ``socket`` or ``threading``: Dask's tornado/asyncio loop and its threads
need the real ones. oxy itself never patches.

Thread rules: :meth:`connect` and :meth:`close` from any thread that is not an
import hub (they block the calling thread while connecting / closing); the unit
methods from CPU-pool threads (or any plain thread); counters from any thread.
"""
from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping, Sequence

from oxy.errors import OperationCancelled
from oxy.farm import tasks
from oxy.farm.errors import FarmError, FarmLost, FarmTimeout, FarmUnavailable, FarmVersionMismatch, RemoteFailure, \
    rebuild
from oxy.farm.batching import Batcher, Call
from oxy.farm.trace import FarmTrace
from oxy.hub.pools import current_task

__all__ = ["Farm", "FarmCounters", "parse_address"]

log = logging.getLogger("oxy.farm")

#: Seconds between two checks of the scheduler connection while a task is awaited.
POLL = 0.25
#: Default batch budget: the source texels one Dask task may carry (a 256x256 image; 16 of 64x64).
BATCH_TEXELS = 256 * 256
#: Default most units in one Dask task.
BATCH_UNITS = 32
#: Default seconds a small batch waits for more units when a task slot is free.
LINGER = 0.005
#: Dask settings for a ``local:N`` cluster (its scheduler runs in this process, its
#: workers beside it on the same cores): Dask's background work trimmed, so that an
#: idle cluster burns about 2% of a core instead of 11% (measured): no statistical
#: profiler sampling every worker's stacks every 10 ms, no GIL monitor, the event-loop
#: tick, system monitor and memory monitor polled less often; tasks handed to workers
#: as soon as they are submitted (``worker-saturation: inf``: a worker finishing a
#: task has the next one already, no scheduler round trip in between).
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.scheduler.worker-saturation": float("inf"),
}
#: Default threads of the client that cook queued units themselves while every task slot is busy.
LOCAL_THREADS = 1


@dataclass
class FarmCounters:
    """What crossed to the cluster (bytes are the task's payload: input file bytes
    out, encoded result bytes back; Dask's own framing is not counted; a unit a
    client thread cooked counts as submitted and completed, not in the bytes)."""

    submitted: int = 0      # units (a texture, a parse, a geometry)
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    peak_in_flight: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _texels(sources: Sequence[tuple[str, bytes]]) -> int | None:
    """Source pixels of a texture unit from its image headers (Pillow reads only the
    header), or None when an image cannot be sized that way (it then goes alone)."""
    from PIL import Image

    total = 0
    for _name, data in sources:
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except Exception:  # noqa: BLE001 - unknown or bad header: not batched (a bad input fails on the worker)
            return None
        total += int(width) * int(height)
    return total


def parse_address(address: str) -> tuple[str, int | str]:
    """``("local", N)`` for ``local:N`` (N >= 1 worker processes), else
    ``("remote", address)`` for ``tcp://host:port`` / ``tls://host:port``. Raises
    ValueError naming the address otherwise."""
    if address.startswith("local:"):
        count = address[len("local:"):]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--farm {address!r}: local:N needs N >= 1 worker processes")
        return "local", int(count)
    if address.startswith(("tcp://", "tls://", "ucx://", "inproc://")) and len(address.split("://", 1)[1]) > 0:
        return "remote", address
    raise ValueError(f"--farm {address!r}: expected tcp://HOST:PORT, tls://HOST:PORT or local:N")


def _check_not_patched() -> None:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return
    patched = [m for m in ("socket", "threading", "select") if monkey.is_module_patched(m)]
    if patched:
        raise FarmError(
            f"the cook farm cannot run in a process where gevent's monkey.patch_all() patched "
            f"{', '.join(patched)}: Dask's client needs the real modules. Run the farm client in a process "
            "that does not patch (oxy cook and oxy serve never do), or submit to one over its API.")


def _security(security: Any) -> Any:
    """``security``: None, a ``distributed.security.Security``, or a dict of its
    keyword arguments (``tls_ca_file``, ``tls_client_cert``, ``tls_client_key``,
    ``require_encryption``...), passed through unchanged."""
    if security is None or not isinstance(security, Mapping):
        return security
    from distributed.security import Security

    return Security(**dict(security))


def _in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on a fresh native thread and return its result (so Dask's client
    is never created or closed on a thread that runs a gevent hub)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=run, name="oxy-farm-connect", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


class Farm:
    """See the module docstring. Make one with :meth:`connect`; pass it to
    ``AsyncImportService(farm=...)``; :meth:`close` when done (or use ``with``)."""

    def __init__(self, client: Any, *, cluster: Any = None, address: str = "", max_in_flight: int | None = None,
                 task_timeout: float = 600.0, lost_after: float = 10.0, max_tasks: int | None = None,
                 batch_texels: int = BATCH_TEXELS, batch_units: int = BATCH_UNITS, linger: float = LINGER,
                 local_threads: int | None = None, direct: bool | None = None) -> None:
        """Wrap a connected synchronous ``distributed.Client`` (prefer :meth:`connect`).
        ``max_tasks``: Dask tasks in flight, default twice the workers' threads (at
        least 2); ``max_in_flight``: units the client should keep waiting on the farm
        (the service sizes its CPU pool to it), default 16 per worker thread (at least
        ``max_tasks``, at most ``max_tasks`` + 256: each holds its source bytes), so
        that small units queue up and share tasks (:mod:`oxy.farm.batching`); ``batch_texels`` / ``batch_units``: the most texels
        (source pixels) and units one task may carry (``batch_texels=0``: no
        batching); ``linger``: seconds a small batch waits for company when a task
        slot is free; ``task_timeout``: seconds per task; ``lost_after``: seconds without
        a scheduler connection before waiting units fail with :class:`FarmLost`;
        ``local_threads``: threads of this process that cook queued units themselves
        while every task slot is busy (default :data:`LOCAL_THREADS`; 0: every unit
        goes to the workers); ``direct``: gather results straight from the workers
        (None: Dask's default, through the scheduler)."""
        self.client = client
        self.cluster = cluster
        self.address = address
        self.task_timeout = float(task_timeout)
        self.lost_after = float(lost_after)
        if self.task_timeout <= 0 or self.lost_after <= 0:
            raise ValueError("task_timeout and lost_after must be positive")
        threads = self.worker_threads()
        self.max_tasks = int(max_tasks or max(2, 2 * threads))
        self.max_in_flight = int(max_in_flight or max(self.max_tasks, min(16 * threads, self.max_tasks + 256)))
        if self.max_in_flight < 1 or self.max_tasks < 1:
            raise ValueError("max_in_flight and max_tasks must be >= 1")
        self.counters = FarmCounters()
        self.local_threads = LOCAL_THREADS if local_threads is None else int(local_threads)
        self._batcher = Batcher(client, max_tasks=self.max_tasks, batch_texels=int(batch_texels),
                                batch_units=int(batch_units), task_timeout=self.task_timeout,
                                linger=float(linger), local_threads=self.local_threads, direct=direct)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._listeners: list[Callable[[FarmError], object]] = []
        self._lost: FarmLost | None = None
        self._disconnected_since: float | None = None
        self._closed = False

    # -- connecting -----------------------------------------------------------------------------
    @classmethod
    def connect(cls, address: str, *, security: Any = None, max_in_flight: int | None = None,
                task_timeout: float = 600.0, connect_timeout: float = 30.0, lost_after: float = 10.0,
                check_versions: bool = True, max_tasks: int | None = None, batch_texels: int | None = None,
                cluster_config: Mapping[str, Any] | None = None,
                batch_units: int | None = None, linger: float | None = None, local_threads: int | None = None,
                direct: bool | None = None) -> Farm:
        """Connect to ``address`` (:func:`parse_address`): an existing scheduler, or
        ``local:N``, a ``LocalCluster`` of N single-threaded worker processes started
        here (and stopped by :meth:`close`). ``security`` goes to Dask unchanged
        (:func:`_security`). Then, unless ``check_versions`` is false, every worker
        must report this process's :func:`~oxy.farm.tasks.worker_versions`. The
        bounds (``max_in_flight``, ``max_tasks``, ``batch_texels``, ``batch_units``,
        ``linger``, ``local_threads``) are :class:`Farm`'s.

        Raises FarmUnavailable (Dask missing, nothing answers in ``connect_timeout``
        s, or no worker joined), FarmVersionMismatch, FarmError (gevent-patched
        process), ValueError (bad address).

        For ``local:N``: the cluster starts with ``cluster_config`` (Dask settings;
        default :data:`LOCAL_CLUSTER_CONFIG`, ``{}`` for Dask's own defaults) and
        results are gathered straight from its workers unless ``direct=False``; an
        existing scheduler's settings are its operator's (``docs/farm.md``) and
        ``direct`` defaults to Dask's (through the scheduler)."""
        kind, where = parse_address(address)
        _check_not_patched()
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise FarmUnavailable(f"the cook farm needs Dask: pip install 'oxy[farm]' ({exc})") from None

        def make() -> tuple[Any, Any]:
            cluster = None
            if kind == "local":
                import dask

                with dask.config.set(dict(LOCAL_CLUSTER_CONFIG if cluster_config is None else cluster_config)):
                    cluster = LocalCluster(n_workers=int(where), threads_per_worker=1, processes=True,
                                           dashboard_address=":0", security=_security(security))
                client = Client(cluster, set_as_default=False, timeout=connect_timeout)
            else:
                client = Client(str(where), security=_security(security), set_as_default=False,
                                timeout=connect_timeout)
            return client, cluster

        try:
            client, cluster = _in_thread(make)
        except (OSError, TimeoutError) as exc:
            raise FarmUnavailable(f"cannot connect to the cook farm at {address}: {exc}") from None
        try:  # the in-flight bound is sized from the workers present: wait for a first one
            client.wait_for_workers(1, timeout=connect_timeout)
        except TimeoutError:
            _in_thread(lambda: (client.close(), cluster.close() if cluster is not None else None))
            raise FarmUnavailable(f"no worker joined the cook farm at {address} within {connect_timeout:g} s") \
                from None
        farm = cls(client, cluster=cluster, address=address, max_in_flight=max_in_flight,
                   task_timeout=task_timeout, lost_after=lost_after, max_tasks=max_tasks,
                   batch_texels=BATCH_TEXELS if batch_texels is None else batch_texels,
                   batch_units=BATCH_UNITS if batch_units is None else batch_units,
                   linger=LINGER if linger is None else linger, local_threads=local_threads,
                   direct=(kind == "local") if direct is None else direct)
        try:
            if check_versions:
                farm.check_versions(timeout=connect_timeout)
        except BaseException:
            farm.close()
            raise
        return farm

    def worker_threads(self) -> int:
        """Threads of all workers the scheduler knows now."""
        info = self.client.scheduler_info()
        return sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())

    def check_versions(self, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
        """Run :func:`~oxy.farm.tasks.worker_versions` on every worker (``client.run``)
        and compare with this process. Waits up to ``timeout`` s for a first worker.
        Returns the answers by worker address; raises FarmVersionMismatch naming each
        worker that differs and how, FarmUnavailable when no worker joined."""
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise FarmUnavailable(f"no worker joined the cook farm at {self.address} within {timeout:g} s") from None
        mine = tasks.worker_versions()
        try:
            answers = self.client.run(tasks.worker_versions)
        except (ImportError, AttributeError) as exc:
            raise FarmVersionMismatch(f"a worker of {self.address} cannot run oxy's tasks ({exc}): install the "
                                      f"same oxy ({mine['oxy']}) on every worker") from None
        wrong = {addr: got for addr, got in answers.items() if got != mine}
        if wrong:
            lines = "; ".join(f"{addr} has oxy {got.get('oxy')} stages {got.get('stages')} format {got.get('format')}"
                              for addr, got in sorted(wrong.items()))
            raise FarmVersionMismatch(f"cook farm workers differ from this oxy ({mine['oxy']}, stages "
                                      f"{mine['stages']}, format {mine['format']}): {lines}")
        return answers

    def add_failure_listener(self, listener: Callable[[FarmError], object]) -> None:
        """Call ``listener(error)`` when the farm fails (scheduler lost: sticky, every
        later task fails too; a task timed out or killed its workers), from the
        thread that noticed it; must be short and thread-safe."""
        with self._lock:
            self._listeners.append(listener)

    @property
    def lost(self) -> FarmLost | None:
        """The error once the scheduler was lost, else None."""
        return self._lost

    @property
    def in_flight(self) -> int:
        """Units sent to the farm and not finished (queued or in a Dask task)."""
        return self._in_flight

    @property
    def tasks_submitted(self) -> int:
        """Dask tasks submitted so far (fewer than units when small ones were batched)."""
        return self._batcher.tasks_submitted

    @property
    def units_batched(self) -> int:
        """Units that shared a Dask task with others."""
        return self._batcher.units_batched

    @property
    def units_local(self) -> int:
        """Units cooked by this process's own threads (taken from the queue while every
        task slot was busy) instead of a worker."""
        return self._batcher.units_local

    @property
    def trace(self) -> FarmTrace | None:
        """A :class:`~oxy.farm.trace.FarmTrace` recording every finished batch, or None
        (the default: nothing kept). Set it before a job to break its time down."""
        return self._batcher.trace  # type: ignore[return-value]

    @trace.setter
    def trace(self, trace: FarmTrace | None) -> None:
        self._batcher.trace = trace

    @property
    def tasks_in_flight(self) -> int:
        """Dask tasks submitted and not finished (each carries one or more units)."""
        return self._batcher.tasks_in_flight

    # -- the unit steps (CPU-pool threads) -----------------------------------------------------------
    def cook_texture(self, sources: Sequence[tuple[str, bytes]], settings: Any, kind: str, key: str,
                     cache_url: str | None) -> Any:
        """``cook_texture_files`` on the farm: the decoded ``CookedTexture``."""
        sent = sum(len(data) for _name, data in sources)
        return self._decode(self.run(tasks.cook_texture_task, list(sources), settings, kind, key, cache_url,
                                     what=f"texture {sources[0][0] if sources else ''}", sent=sent,
                                     texels=_texels(sources)))

    def parse_scene(self, path: str, model: bytes, deps: Mapping[str, bytes | None], key: str,
                    cache_url: str | None) -> Any:
        """The assimp parse of ``path`` on the farm (the model's bytes and its
        dependencies' shipped): the decoded ``ParsedScene``."""
        sent = len(model) + sum(len(b) for b in deps.values() if b is not None)
        return self._decode(self.run(tasks.parse_scene_task, path, model, dict(deps), key, cache_url,
                                     what=f"scene {path}", sent=sent))

    def pack_geometry(self, pack: Callable[[], Any], key: str, cache_url: str | None, what: str) -> Any:
        """``pack()`` on the farm. A ``functools.partial(f, plan, geometry)`` whose
        plan has ``meshes_for`` is slimmed to the meshes it packs first, so the whole
        parsed scene is not shipped per geometry."""
        pack, sent = _slim(pack)
        return self._decode(self.run(tasks.pack_geometry_task, pack, key, cache_url, what=f"geometry of {what}",
                                     sent=sent))

    @staticmethod
    def _decode(data: bytes) -> Any:
        import oxy.importing.units  # noqa: F401 - registers the cook results
        from oxy.build import unit_codec

        return unit_codec.decode(data)

    def run(self, fn: Callable[..., bytes], *args: Any, what: str, sent: int = 0, texels: int | None = None) -> bytes:
        """Send ``fn(*args)`` to the farm (alone, or with other small units in one task:
        :mod:`oxy.farm.batching`) and wait for its bytes on the calling thread (the
        token is the pool task's, :func:`~oxy.hub.pools.current_task`). Raises
        OperationCancelled (the token was cancelled: the unit leaves its batch, or
        its Dask task is cancelled once no unit of it is wanted), the rebuilt cook
        error (bad input, this unit only), or for the farm's own failures
        FarmTimeout / FarmLost / FarmError, after calling the failure listeners;
        when there are listeners (a service, which fails its running jobs) those
        become OperationCancelled, so the unit's caller stops quietly."""
        task = current_task()
        call = Call(fn, args, what, sent, texels)
        try:
            self._begin(call)
            return self._end(call, task.token if task is not None else None)
        except FarmError as error:
            if not self._fail(error):
                raise
            raise OperationCancelled(str(error)) from error

    @staticmethod
    def texels_of(sources: Sequence[tuple[str, bytes]]) -> int | None:
        """The source pixels of a texture unit, read from its image headers (what
        batching sizes units by), or None when a header cannot be read. Parses headers
        (CPU work): call it on a pool thread and pass the result to
        :meth:`start_texture`."""
        return _texels(sources)

    def start_texture(self, sources: Sequence[tuple[str, bytes]], settings: Any, kind: str, key: str,
                      cache_url: str | None, texels: int | None = None) -> Call:
        """Send a texture cook (as :meth:`cook_texture`) without waiting for it: the
        :class:`~oxy.farm.batching.Call` to pass to :meth:`wait`. ``texels``: from
        :meth:`texels_of` (None: the unit travels alone). Never blocks and parses
        nothing (no Dask call: the farm's submit thread submits), so a greenlet on an
        import hub may call it."""
        return self._start(Call(tasks.cook_texture_task, (list(sources), settings, kind, key, cache_url),
                                f"texture {sources[0][0] if sources else ''}", sum(len(d) for _n, d in sources),
                                texels))

    def start_parse(self, path: str, model: bytes, deps: Mapping[str, bytes | None], key: str,
                    cache_url: str | None) -> Call:
        """Send a scene parse (as :meth:`parse_scene`) without waiting: see :meth:`start_texture`."""
        sent = len(model) + sum(len(b) for b in deps.values() if b is not None)
        return self._start(Call(tasks.parse_scene_task, (path, model, dict(deps), key, cache_url), f"scene {path}",
                                sent))

    def start_geometry(self, pack: Callable[[], Any], key: str, cache_url: str | None, what: str) -> Call:
        """Send a geometry packing (as :meth:`pack_geometry`) without waiting: see
        :meth:`start_texture` (slimming the plan to the meshes packed is cheap: no copy)."""
        pack, sent = _slim(pack)
        return self._start(Call(tasks.pack_geometry_task, (pack, key, cache_url), f"geometry of {what}", sent))

    def _start(self, call: Call) -> Call:
        try:
            self._begin(call)
        except FarmError as error:
            if not self._fail(error):
                raise
            raise OperationCancelled(str(error)) from error
        return call

    def wait(self, call: Call, token: Any = None) -> bytes:
        """The bytes of a call from :meth:`start_texture` (:meth:`decode` them). From a
        plain or pool thread it blocks that thread; from a greenlet on an import hub
        only that greenlet (the wait is a hub-aware CrossFuture; no Dask call is
        made here: gathering and cancelling happen on the farm's own threads), so
        waiting for the cluster need not hold a CPU-pool thread. ``token``: a
        CancelToken whose cancel drops the unit; killing the waiting greenlet drops it
        too (a unit nobody waits for is never left to cook). Errors as :meth:`run`."""
        try:
            return self._end(call, token)
        except FarmError as error:
            if not self._fail(error):
                raise
            raise OperationCancelled(str(error)) from error

    def decode(self, data: bytes) -> Any:
        """The cook result encoded in a unit's bytes (a CookedTexture...)."""
        return self._decode(data)

    def _begin(self, call: Call) -> None:
        self._raise_if_lost()
        with self._lock:
            self._in_flight += 1
            self.counters.submitted += 1
            self.counters.bytes_sent += call.sent
            self.counters.peak_in_flight = max(self.counters.peak_in_flight, self._in_flight)
        try:
            self._batcher.start(call)
        except RuntimeError:  # the batcher is closed: the farm was closed
            with self._lock:
                self._in_flight -= 1
                self.counters.failed += 1
            self._raise_if_lost(force=True)
            raise

    def _end(self, call: Call, token: Any) -> bytes:
        forget = token.on_cancel(lambda: call.wake.set_result(None)) if token is not None else None
        try:
            data = self._wait(call, token)
            call.woken = time.time()
            with self._lock:
                self.counters.completed += 1
                if call.batch is not None and call.batch.local:  # cooked here: nothing crossed
                    self.counters.bytes_sent -= call.sent
                else:
                    self.counters.bytes_received += len(data)
            return data
        except OperationCancelled:
            with self._lock:
                self.counters.cancelled += 1
            raise
        except BaseException:
            with self._lock:
                self.counters.failed += 1
            raise
        finally:
            if forget is not None:
                forget()
            if not call.done:  # the waiter was killed or gave up: nobody wants the unit now
                self._batcher.cancel(call)
            with self._lock:
                self._in_flight -= 1

    def _wait(self, call: Call, token: Any) -> bytes:
        """Wait for ``call``'s outcome: woken by its batch's end or its token's cancel,
        and every POLL seconds to check the scheduler connection and the deadline.
        Only CrossFuture waits: no Dask call blocks here."""
        from distributed import CancelledError as DaskCancelled
        from distributed import KilledWorker

        what = call.what
        while not call.done:  # leaving early (cancel, lost, killed): _end drops the unit
            call.wake.wait(POLL)
            if token is not None and token.cancelled:
                token.raise_if_cancelled()
            if call.done:
                break
            self._raise_if_lost()
            batch = call.batch
            if batch is not None and batch.deadline and time.monotonic() > batch.deadline and not batch.done:
                self._batcher.expire(batch)
                raise FarmTimeout(f"{what}: the farm task took more than {self.task_timeout:g} s; cancelled")
        try:
            ok, value = call.outcome()
        except KilledWorker as exc:
            raise FarmError(f"{what}: the farm gave up on the task: {exc}") from None
        except DaskCancelled:
            if token is not None and token.cancelled:
                token.raise_if_cancelled()
            self._raise_if_lost(force=True)
            raise FarmLost(f"{what}: the farm cancelled the task (scheduler {self.address} lost?)") from None
        except (OSError, TimeoutError) as exc:
            self._raise_if_lost(force=True)
            raise FarmError(f"{what}: {type(exc).__name__}: {exc}") from None
        if not ok:
            if isinstance(value, RemoteFailure):
                raise rebuild(value) from None
            raise value
        if not isinstance(value, (bytes, bytearray)):
            raise FarmError(f"{what}: the farm task returned {type(value).__name__}, not bytes")
        return bytes(value)

    # -- losing the scheduler -----------------------------------------------------------------------
    def _raise_if_lost(self, force: bool = False) -> None:
        if self._lost is None:
            status = getattr(self.client, "status", "running")
            comm = getattr(self.client, "scheduler_comm", None)
            connected = status == "running" and comm is not None and not getattr(comm, "closed", lambda: False)()
            now = time.monotonic()
            if connected:
                self._disconnected_since = None
            else:
                since = self._disconnected_since = self._disconnected_since or now
                if force or self._closed or now - since >= self.lost_after:
                    self._mark_lost(FarmLost(f"lost the cook farm's scheduler at {self.address} "
                                             f"(client {status}); the running jobs fail, nothing of theirs "
                                             "is committed"))
        if self._lost is not None:
            raise self._lost

    def _mark_lost(self, error: FarmLost) -> None:
        with self._lock:
            if self._lost is None:
                self._lost = error

    def _fail(self, error: FarmError) -> bool:
        """Tell the listeners (once per error); True if there are any."""
        with self._lock:
            listeners = list(self._listeners)
            told = getattr(error, "_oxy_told", False)
            error._oxy_told = True  # type: ignore[attr-defined]
        if not told:
            log.error("%s", error)
            for listener in listeners:
                try:
                    listener(error)
                except Exception:  # noqa: BLE001 - one bad listener must not stop the others
                    log.exception("cook farm failure listener failed")
        return bool(listeners)

    # -- closing --------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the client (and the LocalCluster this farm started). Idempotent;
        blocks the calling thread (a few seconds for a LocalCluster)."""
        if self._closed:
            return
        self._closed = True
        self._batcher.close()

        def shut() -> None:
            try:
                self.client.close(timeout=10)
            except Exception as exc:  # noqa: BLE001 - closing a lost client may fail; nothing to keep
                log.debug("closing the farm client: %s", exc)
            if self.cluster is not None:
                try:
                    self.cluster.close(timeout=10)
                except Exception as exc:  # noqa: BLE001
                    log.debug("closing the local cluster: %s", exc)

        _in_thread(shut)

    def __enter__(self) -> Farm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Farm {self.address} in_flight={self._in_flight}/{self.max_in_flight}>"


class _MeshesOnly:
    """Stands in for a ScenePlan in ``pack_checked``: only ``meshes_for`` is used."""

    def __init__(self, meshes: list[Any]) -> None:
        self.meshes = meshes

    def meshes_for(self, _geometry: Any) -> list[Any]:
        return self.meshes


def _slim(pack: Callable[[], Any]) -> tuple[Callable[[], Any], int]:
    if isinstance(pack, partial) and len(pack.args) == 2 and not pack.keywords \
            and hasattr(pack.args[0], "meshes_for"):
        plan, geometry = pack.args
        meshes = list(plan.meshes_for(geometry))
        sent = 0
        for mesh in meshes:
            for value in vars(mesh).values() if hasattr(mesh, "__dict__") else ():
                sent += int(getattr(value, "nbytes", 0))
        return partial(pack.func, _MeshesOnly(meshes), geometry), sent
    return pack, 0
