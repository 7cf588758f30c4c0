"""Wiring and lifecycle of the cook daemon (``oxy serve``).

:meth:`Daemon.run` runs on the main thread, which becomes the *main hub*: it
takes the daemon lock (``ROOT/.oxy/daemon.lock``, an exclusive ``flock``: a
second daemon on the same root exits with a clear error; cooks still take the
root lock per job), binds the port (refusing one in use), starts the import
service (its own hub thread), the job table, the watcher thread and the WSGI
server, queues the catch-up cook of every watched folder, and waits for SIGTERM
or SIGINT.

Shutdown: new cooks get 503, the watcher thread stops, queued jobs are
cancelled, the running job gets ``grace`` seconds to finish and is then
cancelled (its session rolls back: nothing partial is committed), event streams
end, the import service closes, the server stops, the lock is released; exit 0.
"""
from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import time
from typing import Any

import gevent
from gevent.event import Event

from oxy.daemon.config import DaemonConfig, Log
from oxy.farm.errors import FarmError

LOCK_NAME = os.path.join(".oxy", "daemon.lock")


class StartError(Exception):
    """The daemon cannot start (message for the user; ``exit_code``)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class DaemonLock:
    """``ROOT/.oxy/daemon.lock``, held (flock) for the daemon's lifetime; holds its pid."""

    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, LOCK_NAME)
        self.fd: int | None = None

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StartError(f"another oxy serve (pid {other or '?'}) already serves {os.path.dirname(os.path.dirname(self.path))}"
                                 f" (it holds {self.path})") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


class Daemon:
    def __init__(self, cfg: DaemonConfig, log: Log) -> None:
        self.cfg = cfg
        self.log = log
        self.started = time.time()
        self.cache: Any = None
        self._stop = Event()
        self._signals = 0

    def run(self) -> int:
        from oxy.daemon.heap import set_mmap_threshold

        # Buffers of a commit's size (tables, index) grow a little every job; with glibc's
        # sliding threshold they stayed in the heap and fragmented it (docs/benchmarks.md,
        # cook daemon): blocks from 64 KiB on get mappings of their own.
        set_mmap_threshold(64 << 10)
        lock = DaemonLock(self.cfg.root)
        lock.acquire()
        try:
            return self._run_locked(lock)
        finally:
            lock.release()

    def _bind(self, app: Any) -> Any:
        from gevent.pywsgi import WSGIServer

        class NoDelayServer(WSGIServer):
            """Replies leave at once: without TCP_NODELAY a kept-alive connection waited
            about 40 ms per request (Nagle against the client's delayed ACK)."""

            def handle(self, sock: Any, address: Any) -> Any:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
                return super().handle(sock, address)

        server = NoDelayServer((self.cfg.host, self.cfg.port), app, log=None, spawn=1000)
        try:
            server.init_socket()
        except OSError as exc:
            reason = "already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise StartError(f"cannot listen on {self.cfg.host}:{self.cfg.port}: {reason}") from None
        return server

    def _run_locked(self, lock: DaemonLock) -> int:
        from oxy.daemon.api import Api
        from oxy.daemon.events import EventHub
        from oxy.daemon.forget import register
        from oxy.daemon.jobs import JobTable
        from oxy.daemon.metrics import DaemonMetrics
        from oxy.daemon.status_page import StatusPage
        from oxy.daemon.watcher import Watcher
        from oxy.hub.delivery import HubExecutor
        from oxy.importing import AsyncImportService

        # Handlers first: a SIGTERM that arrives as soon as "listening" is logged (a
        # supervisor, a test) must mean a clean shutdown, not the default death.
        for signum in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(signum, self._on_signal, signum)
        self.page = StatusPage(self)
        server = self._bind(Api(self))
        self.log("listening", host=self.cfg.host, port=server.server_port, root=self.cfg.root,
                 watch=list(self.cfg.watch), pid=os.getpid(), auth=bool(self.cfg.token))
        self.cache = self._open_cache()
        register()
        executor = HubExecutor(gevent.get_hub())
        self.events = EventHub()
        try:
            self.service = AsyncImportService(cpu_threads=self.cfg.threads, max_concurrent_jobs=1, cache=self.cache,
                                              name="oxy-serve-import", isolate_parsers=self.cfg.isolate_parsers,
                                              parse_timeout=self.cfg.parse_timeout, farm=self.cfg.farm)
        except FarmError as exc:
            raise StartError(f"--farm {self.cfg.farm}: {exc}") from None
        self.watcher = Watcher(self.cfg, executor, self._on_batch, self.log)
        self.jobs = JobTable(self.cfg, self.service, executor, self.events, self.log, lock.path,
                             lambda t: DaemonMetrics(self.cache, lambda: t.depth, lambda: len(self.watcher.files)))
        self.metrics = self.jobs.metrics
        server.start()
        known, gone = gevent.get_hub().threadpool.apply(_catch_up_inputs, (self.cfg,))
        # start() returns once the watcher thread's inotify watches exist, so a file created
        # from now on is seen by the watcher, and one created before by the catch-up's walk.
        self.watcher.start(known)
        if not self._stop.is_set():
            self.jobs.cook(list(self.cfg.watch), gone, trigger="catch-up")
        self._stop.wait()
        self._shutdown(server)
        return 0

    def _open_cache(self) -> Any:
        if self.cfg.no_cache:
            return None
        from oxy.build.cache import open_cache

        try:
            return open_cache(self.cfg.cache)
        except (ValueError, ImportError) as exc:
            raise StartError(f"--cache {self.cfg.cache}: {exc}", 1) from None

    def _on_batch(self, changed: list[str], deleted: list[str]) -> None:
        self.jobs.cook(changed, deleted, trigger="watch", merge=True)

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        self.log("signal", signal=signal.Signals(signum).name,
                 action="shutting down" if self._signals == 1 else "already shutting down")
        jobs = getattr(self, "jobs", None)  # None while still starting: nothing is queued yet
        if jobs is not None:
            jobs.accepting = False  # from now on: 503 for new cooks
        self._stop.set()

    def _shutdown(self, server: Any) -> None:
        self.log("shutdown.begin", grace=self.cfg.grace, queued=self.jobs.depth,
                 running=self.jobs.running.id if self.jobs.running else None)
        self.jobs.accepting = False
        self.watcher.stop()
        self.jobs.drain(self.cfg.grace)
        self.events.close()
        self.service.close(timeout=60)
        server.stop(timeout=1)
        gevent.get_hub().threadpool.apply(self.page.close)  # may wait for a thumbnail being made
        self.log("shutdown.done", jobs=dict(self.jobs.outcomes))


def _catch_up_inputs(cfg: DaemonConfig) -> tuple[list[str], list[str]]:
    """(the sources in the watched folders, recorded sources in them that are gone). Blocking."""
    from oxy.cli.cook_cmd import expand_inputs
    from oxy.daemon.plan import load_records

    images, others, _missing = expand_inputs(list(cfg.watch))
    known = [os.path.abspath(p) for p in images + others if not cfg.excluded(os.path.abspath(p))]
    records = load_records(cfg.root)
    gone = [p for p in records.sources if cfg.watched_folder(p) is not None and not os.path.exists(p)]
    return known, gone
