"""IsolatedAssimpBackend: libassimp in worker processes, so a crash fails one parse alone.

Scene files are untrusted and libassimp is native code: a segfault, an abort or an
endless loop in it would take the whole process (``oxy cook``, a cook daemon) with
it. This backend runs :class:`~oxy.importing.scene.backend_assimp.AssimpBackend`
in a small pool of persistent worker processes instead::

    pool thread: parse(path) -> take a free worker (start one lazily, up to ``workers``)
      -> send the path -> wait for the reply, at most ``timeout`` seconds
    worker (python -c ..., its own interpreter): AssimpBackend().parse(path)
      -> reply unit_codec.encode(scene), or the SceneParseError's reason

Wire format (stdin/stdout pipes of the worker; the worker's own stdout is moved
to its stderr so nothing native can write into the protocol): a request is a u32
length and the UTF-8 path; a reply is one status byte (``R`` ready, ``O`` scene,
``E`` parse error) and a u64 length, then the body.

Failures, each for that parse alone (a :class:`SceneParseError` naming the file):

* the worker dies (EOF on its pipe): it is reaped, and the reason names the signal
  from its wait status (``parser crashed: killed by signal SIGSEGV (worker
  replaced)``) or its exit code; the next parse starts a new worker;
* no reply within ``timeout``: the worker is killed (SIGKILL) and reaped
  (``parser timed out after N s (worker killed)``);
* a parse error inside the worker: assimp's own reason, as in-process; the
  worker is reused.

Recycling: a worker that has done ``max_parses`` parses (default 200), or whose
resident memory (``VmRSS``, read from ``/proc`` once it has replied) exceeds
``max_rss`` bytes (default 1 GiB), is retired after that parse: its request pipe is
closed, it exits on the EOF and is reaped before its slot frees up (so there are
never more than ``workers`` processes), and the next parse starts a new one. So
whatever libassimp leaks cannot pile up over the weeks a daemon runs. The
defaults can be changed per process with ``OXY_PARSER_MAX_PARSES`` and
``OXY_PARSER_MAX_RSS_MIB``; 0 turns that limit off. :attr:`IsolatedAssimpBackend.recycled`
counts retirements by reason.

Workers are started with ``posix_spawn`` (never fork: the parent has threads and
gevent hubs), a clean interpreter that imports pyassimp once. ``posix_spawn``,
``close``, ``poll``, ``waitpid``, ``sleep`` and the locks are the unpatched originals,
so the backend works the same after ``gevent.monkey.patch_all()`` and never makes a
hub in the calling thread. A worker exits by itself when its request pipe
reaches EOF (the parent closed it or died) or when its parent process changes
(a watchdog thread, for a parent killed while the worker is busy). :meth:`close`
stops the workers; a finalizer does the same at interpreter exit.

Test hooks, read only by the worker from the environment it was started with:
``OXY_TEST_PARSER_CRASH=<substring>``: a path containing it makes the worker
SIGSEGV itself; ``OXY_TEST_PARSER_HANG=<substring>``: the worker sleeps forever.

``name`` is ``"assimp"``: the output is the in-process backend's, byte for byte,
so cook-cache keys are shared; being an :class:`AssimpBackend`, its parses are
cacheable (see ``SceneImporter``).

Thread rules: :meth:`parse` blocks the calling native thread (a CPU-pool thread,
never a hub); it is safe from many threads at once, one worker each. Failure
modes: SceneParseError only (also after :meth:`close`); cancellation and
interpreter exits propagate (the worker involved is killed, not reused).
"""
from __future__ import annotations

import os
import signal
import struct
import sys
import time
import weakref
from collections import deque
from typing import Any

from gevent import monkey

from oxy.build import unit_codec
from oxy.importing import units as _units  # noqa: F401 - registers ParsedScene & co. with unit_codec
from oxy.importing.scene.backend import ParsedScene, SceneParseError
from oxy.importing.scene.backend_assimp import AssimpBackend

_allocate_lock = monkey.get_original("_thread", "allocate_lock")
_poll = monkey.get_original("select", "poll")
_waitpid, _posix_spawn, _close = monkey.get_original("os", ["waitpid", "posix_spawn", "close"])
_sleep = monkey.get_original("time", "sleep")  # gevent's would make a hub in the calling pool thread

CRASH_ENV, HANG_ENV = "OXY_TEST_PARSER_CRASH", "OXY_TEST_PARSER_HANG"
MAX_PARSES_ENV, MAX_RSS_ENV = "OXY_PARSER_MAX_PARSES", "OXY_PARSER_MAX_RSS_MIB"
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_PARSES = 200      # parses before a worker is replaced (0: never)
DEFAULT_MAX_RSS = 1 << 30     # a worker resident above this many bytes after a parse is replaced (0: never)
STARTUP_TIMEOUT = 60.0        # a worker's interpreter start and imports (not the parse timeout)
MAX_REPLY = 1 << 36           # a reply claiming more is a protocol error, never an allocation
_REQUEST = struct.Struct("<I")
_REPLY = struct.Struct("<cQ")
# the folder holding the ``oxy`` package (this file is oxy/importing/scene/isolated.py)
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class _WorkerDied(Exception):
    """EOF or a broken pipe: the worker process is gone."""


class _WorkerTimeout(Exception):
    """No (complete) reply before the deadline."""


def describe_status(status: int | None) -> str:
    """``killed by signal SIGSEGV`` / ``exited with code 3`` from a wait status."""
    if status is None:
        return "exited (status unknown)"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by signal {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    return f"exited with code {os.WEXITSTATUS(status)}"


class _Worker:
    """One worker process and its two pipe ends. Used by one thread at a time."""

    __slots__ = ("pid", "to_worker", "from_worker", "status", "parses")

    def __init__(self, env: dict[str, str]) -> None:
        child_in, self.to_worker = os.pipe()
        self.from_worker, child_out = os.pipe()
        _grow_pipe(self.from_worker)
        self.status: int | None = None
        self.parses = 0
        code = "from oxy.importing.scene.isolated import worker_main; worker_main()"
        try:
            self.pid = _posix_spawn(sys.executable, [sys.executable, "-c", code], env, file_actions=[
                (os.POSIX_SPAWN_DUP2, child_in, 0), (os.POSIX_SPAWN_DUP2, child_out, 1)])
        except BaseException:
            for fd in (self.to_worker, self.from_worker):
                _close(fd)
            raise
        finally:
            _close(child_in)
            _close(child_out)

    def wait_ready(self, timeout: float) -> None:
        status, _body = self.read_reply(time.monotonic() + timeout)
        if status != b"R":
            raise _WorkerDied(f"unexpected first reply {status!r}")

    def request(self, path: str, timeout: float) -> tuple[bytes, bytes]:
        data = os.fsencode(path)
        try:
            _write_all(self.to_worker, _REQUEST.pack(len(data)) + data)
        except (BrokenPipeError, ConnectionResetError):
            raise _WorkerDied("broken pipe") from None
        return self.read_reply(time.monotonic() + timeout)

    def read_reply(self, deadline: float) -> tuple[bytes, bytes]:
        status, length = _REPLY.unpack(_read_exact(self.from_worker, _REPLY.size, deadline))
        if length > MAX_REPLY:
            raise _WorkerDied(f"reply of {length} bytes")
        return status, _read_exact(self.from_worker, length, deadline)

    def reap(self, grace: float) -> int | None:
        """Wait up to ``grace`` s for the process to end, then SIGKILL it; its wait status."""
        deadline = time.monotonic() + grace
        while self.status is None:
            try:
                pid, status = _waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler): status unknown
                return None
            if pid:
                self.status = status
                break
            if time.monotonic() >= deadline:
                self.kill()
                grace, deadline = 0.0, float("inf")  # a SIGKILLed process ends: wait for it
            _sleep(0.005)
        return self.status

    def rss(self) -> int | None:
        """The process's resident memory in bytes (``VmRSS``); None where /proc cannot tell."""
        try:
            with open(f"/proc/{self.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmRSS:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return None

    def kill(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close_pipes(self) -> None:
        for fd in (self.to_worker, self.from_worker):
            try:
                _close(fd)
            except OSError:
                pass
        self.to_worker = self.from_worker = -1

    def stop(self, grace: float) -> int | None:
        """Close the request pipe (the worker exits on EOF), reap; SIGKILL after ``grace``."""
        try:
            _close(self.to_worker)
        except OSError:
            pass
        self.to_worker = -1
        status = self.reap(grace)
        self.close_pipes()
        return status


def _limit(name: str, value: int | None, env: str, unit: int, default: int) -> int:
    """A recycling limit: ``value``, else the environment variable ``env`` (in ``unit``s), else ``default``."""
    if value is None:
        text = os.environ.get(env, "").strip()
        if not text:
            return default
        try:
            value = int(text) * unit
        except ValueError:
            raise ValueError(f"{env}={text!r}: not a whole number") from None
        name = env
    if value < 0:
        raise ValueError(f"{name} must be 0 (off) or positive, not {value}")
    return int(value)


def _grow_pipe(fd: int) -> None:
    try:
        import fcntl  # noqa: PLC0415

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)  # fewer wake-ups for large replies
    except (ImportError, AttributeError, OSError):
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, size: int, deadline: float) -> bytes:
    out = bytearray()
    poller = _poll()
    poller.register(fd, 0x001 | 0x008 | 0x010)  # POLLIN | POLLERR | POLLHUP
    while len(out) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _WorkerTimeout()
        if not poller.poll(max(1, int(left * 1000))):
            continue
        chunk = os.read(fd, min(size - len(out), 1 << 20))
        if not chunk:
            raise _WorkerDied("EOF")
        out += chunk
    return bytes(out)


def _stop_all(workers: set[_Worker], lock: Any) -> None:
    """Stop every worker: close every request pipe first (idle workers exit on EOF, all
    at once), then reap each, SIGKILLing one still busy after a short grace."""
    with lock:
        everyone = list(workers)
        workers.clear()
    _stop_many(everyone)


def _stop_many(workers: list[_Worker]) -> None:
    for worker in workers:
        try:
            _close(worker.to_worker)
        except OSError:
            pass
        worker.to_worker = -1
    for worker in workers:
        worker.stop(1.0)


class IsolatedAssimpBackend(AssimpBackend):
    """Scene parsing through pyassimp in worker processes (see the module docstring).

    ``workers``: the most processes at once (default ``os.cpu_count()``, the CPU
    pool's size); ``timeout``: seconds one parse may take (default 120);
    ``max_parses`` / ``max_rss``: a worker is replaced after that many parses / once
    resident above that many bytes (defaults: ``OXY_PARSER_MAX_PARSES`` or 200,
    ``OXY_PARSER_MAX_RSS_MIB`` or 1 GiB; 0 turns a limit off). ValueError for a
    non-positive timeout, a negative limit or an environment value that is not a
    whole number."""

    def __init__(self, workers: int | None = None, timeout: float = DEFAULT_TIMEOUT, *,
                 max_parses: int | None = None, max_rss: int | None = None) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.workers = max(1, int(workers or os.cpu_count() or 2))
        self.timeout = float(timeout)
        self.max_parses = _limit("max_parses", max_parses, MAX_PARSES_ENV, 1, DEFAULT_MAX_PARSES)
        self.max_rss = _limit("max_rss", max_rss, MAX_RSS_ENV, 1 << 20, DEFAULT_MAX_RSS)
        #: workers retired so far, by reason (``parses``: max_parses reached; ``rss``: above max_rss)
        self.recycled = {"parses": 0, "rss": 0}
        self._lock = _allocate_lock()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()        # every live worker, idle or busy (for close/exit)
        self._live = 0                         # workers started or starting
        self._waiters: deque[Any] = deque()    # native locks of threads waiting for a worker
        self._closed = False
        self._finalizer = weakref.finalize(self, _stop_all, self._all, self._lock)

    # -- the pool --------------------------------------------------------------------------------
    def _acquire(self, path: str) -> _Worker:
        while True:
            with self._lock:
                if self._closed:
                    raise SceneParseError(path, "the isolated parser pool is closed")
                if self._idle:
                    return self._idle.pop()
                if self._live < self.workers:
                    self._live += 1
                    break
                gate = _allocate_lock()
                gate.acquire()
                self._waiters.append(gate)
            gate.acquire()  # released by _release / close: blocks this native thread only
        try:
            worker = _Worker(self._worker_env())
        except OSError as exc:
            self._release(None)
            raise SceneParseError(path, f"cannot start a parser worker: {exc}") from None
        with self._lock:
            self._all.add(worker)
        try:
            worker.wait_ready(STARTUP_TIMEOUT)
        except (_WorkerDied, _WorkerTimeout) as exc:
            reason = describe_status(worker.reap(0.5)) if isinstance(exc, _WorkerDied) else "did not start"
            self._discard(worker)
            raise SceneParseError(path, f"parser worker failed to start: {reason}") from None
        except BaseException:
            self._discard(worker)
            raise
        return worker

    def _release(self, worker: _Worker | None) -> None:
        """Give a healthy worker back (None: a slot whose worker is gone)."""
        with self._lock:
            if worker is not None and not self._closed:
                self._idle.append(worker)
            else:
                self._live -= 1
            if self._waiters:
                self._waiters.popleft().release()
        if worker is not None and self._closed:
            self._stop(worker)

    def _give_back(self, worker: _Worker) -> None:
        """After a parse the worker answered: reuse it, or retire it when it is worn out
        (stopped and reaped before its slot frees up)."""
        worker.parses += 1
        reason = None
        if self.max_parses and worker.parses >= self.max_parses:
            reason = "parses"
        elif self.max_rss and (rss := worker.rss()) is not None and rss > self.max_rss:
            reason = "rss"
        if reason is None:
            self._release(worker)
            return
        with self._lock:
            self.recycled[reason] += 1
        try:
            self._stop(worker)  # EOF on its request pipe: it exits; SIGKILL if it has not after 2 s
        finally:
            self._release(None)

    def _discard(self, worker: _Worker) -> None:
        """Kill and reap a worker that must not be reused; its slot frees up."""
        worker.kill()
        self._stop(worker)
        self._release(None)

    def _stop(self, worker: _Worker) -> None:
        worker.stop(2.0)
        with self._lock:
            self._all.discard(worker)

    @staticmethod
    def _worker_env() -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        return env

    def worker_pids(self) -> list[int]:
        """The pids of the live workers (for tests and diagnostics)."""
        with self._lock:
            return sorted(w.pid for w in self._all)

    # -- parsing ----------------------------------------------------------------------------------
    def parse(self, path: str) -> ParsedScene:
        path = os.fspath(path)
        worker = self._acquire(path)
        healthy = False
        try:
            try:
                status, body = worker.request(os.path.abspath(path), self.timeout)
            except _WorkerTimeout:
                worker.kill()
                raise SceneParseError(path, f"parser timed out after {self.timeout:g} s (worker killed)") from None
            except _WorkerDied:
                how = describe_status(worker.reap(2.0))
                if self._closed:
                    raise SceneParseError(path, "the isolated parser pool was closed during the parse") from None
                raise SceneParseError(path, f"parser crashed: {how} (worker replaced)") from None
            if status == b"E":
                healthy = True
                raise SceneParseError(path, body.decode("utf-8", "replace"))
            try:
                parsed = unit_codec.decode(body) if status == b"O" else None
            except unit_codec.UnitCodecError as exc:
                raise SceneParseError(path, f"parser worker sent an undecodable scene: {exc}") from None
            if not isinstance(parsed, ParsedScene):
                raise SceneParseError(path, f"parser worker sent an unexpected reply {status!r}")
            healthy = True
            parsed.source_path = path
            return parsed
        finally:
            if healthy:
                self._give_back(worker)
            else:
                self._discard(worker)

    def close(self) -> None:
        """Stop every worker and refuse further parses; idempotent. Threads waiting for
        a worker get SceneParseError; a parse in flight is killed with its worker."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = [w for w in self._all if w not in idle]
            waiters, self._waiters = list(self._waiters), deque()
        for gate in waiters:
            gate.release()
        for worker in busy:
            worker.kill()  # its parse sees EOF and discards it
        _stop_many(idle)
        with self._lock:
            self._all.difference_update(idle)
            self._live -= len(idle)

    def __enter__(self) -> "IsolatedAssimpBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the worker process ------------------------------------------------------------------------------

def _read_request(fd: int) -> str | None:
    head = _read_exact_eof(fd, _REQUEST.size)
    if head is None:
        return None
    (length,) = _REQUEST.unpack(head)
    body = _read_exact_eof(fd, length)
    return None if body is None else os.fsdecode(body)


def _read_exact_eof(fd: int, size: int) -> bytes | None:
    out = bytearray()
    while len(out) < size:
        chunk = os.read(fd, size - len(out))
        if not chunk:
            return None
        out += chunk
    return bytes(out)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        _sleep(0.5)
    os._exit(3)


def _test_hooks(path: str) -> None:
    crash, hang = os.environ.get(CRASH_ENV), os.environ.get(HANG_ENV)
    if crash and crash in path:
        os.kill(os.getpid(), signal.SIGSEGV)
    if hang and hang in path:
        while True:
            _sleep(3600)


def worker_main() -> None:
    """The worker's loop: read a path, reply with the encoded scene or the reason; exit on EOF."""
    import threading  # noqa: PLC0415 - a fresh interpreter: never monkey-patched

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole group: the parent decides
    try:
        import resource  # noqa: PLC0415

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash on a hostile file leaves no core file
    except (ImportError, ValueError, OSError):
        pass
    out = os.dup(1)
    os.dup2(2, 1)  # native or stray prints go to stderr, never into the protocol
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    backend = AssimpBackend()
    try:
        from oxy.importing.scene.backend_assimp import _pyassimp  # noqa: PLC0415

        _pyassimp()  # import once, up front; if it is missing, every parse says so
    except SceneParseError:
        pass
    try:
        _write_all(out, _REPLY.pack(b"R", 0))
        while (path := _read_request(0)) is not None:
            _test_hooks(path)
            try:
                status, body = b"O", unit_codec.encode(backend.parse(path))
            except SceneParseError as exc:
                status, body = b"E", exc.reason.encode("utf-8", "replace")
            except Exception as exc:  # noqa: BLE001 - reported to the parent as this file's failure
                status, body = b"E", f"parser worker error: {type(exc).__name__}: {exc}".encode("utf-8", "replace")
            _write_all(out, _REPLY.pack(status, len(body)) + body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent is gone
