"""The HTTP/JSON API: a plain WSGI application served by ``gevent.pywsgi`` on the main hub.

Routes (every response shape is in docs/daemon.md): ``GET /api/status``, ``GET
/api/jobs``, ``GET|DELETE /api/jobs/{id}``, ``POST /api/cook``, ``POST
/api/compact``, ``GET /api/assets``, ``GET /api/events`` (Server-Sent Events),
``GET /metrics`` (Prometheus text); ``/`` and ``/ui/...`` go to the status page
(:mod:`oxy.daemon.status_page`). Errors are ``{"error": {"code", "message"}}``
with the matching status. With a token, every request needs ``Authorization:
Bearer TOKEN`` (401 otherwise), or for ``GET``/``HEAD`` the status page's session
cookie (:mod:`oxy.daemon.auth`). Request bodies are capped at
:data:`~oxy.daemon.config.MAX_BODY` bytes (413).

Thread rules: handlers run in greenlets of the main hub (pywsgi spawns one per
connection), touching the job table directly; blocking reads (build records)
go to the main hub's thread pool.
"""
from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Callable, Iterable

import gevent

from oxy.daemon.auth import Unauthorized, authorise
from oxy.daemon.config import MAX_BODY
from oxy.daemon.metrics import CONTENT_TYPE_LATEST
from oxy.daemon.plan import check_settings

StartResponse = Callable[..., Any]
_JOB = re.compile(r"^/api/jobs/(\d{1,12})$")
_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 411: "Length Required",
            413: "Payload Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Api:
    """The WSGI callable. ``daemon`` is the :class:`~oxy.daemon.server.Daemon`."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            self._authorise(environ)
            return self._route(environ, start_response)
        except ApiError as exc:
            return _json(start_response, exc.status, {"error": {"code": exc.code, "message": exc.message}})
        except Exception as exc:  # noqa: BLE001 - a handler bug is a 500, never a dead daemon
            self.d.log("api.error", level="error", path=environ.get("PATH_INFO"), error=repr(exc))
            return _json(start_response, 500, {"error": {"code": "internal", "message": repr(exc)}})

    def _authorise(self, environ: dict[str, Any]) -> None:
        """Sets ``environ["oxy.auth"]`` to how the request is authorised (see
        :func:`oxy.daemon.auth.authorise`); 401 otherwise."""
        try:
            environ["oxy.auth"] = authorise(environ, self.d.cfg.token)
        except Unauthorized as exc:
            raise ApiError(401, "unauthorized", str(exc)) from None

    def _route(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        routes: dict[str, dict[str, Callable[[dict[str, Any]], tuple[int, Any]]]] = {
            "/api/status": {"GET": self.status}, "/api/jobs": {"GET": self.jobs},
            "/api/cook": {"POST": self.cook}, "/api/compact": {"POST": self.compact},
            "/api/assets": {"GET": self.assets},
        }
        if path == "/" or path.startswith("/ui/"):
            return self.d.page(environ, start_response)
        if path == "/api/events" and method == "GET":
            start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                                      ("X-Accel-Buffering", "no")])
            return self.d.events.stream()
        if path == "/metrics" and method == "GET":
            body = self.d.metrics.exposition()
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
            return [body]
        match = _JOB.match(path)
        if match:
            handlers = {"GET": self.job, "DELETE": self.cancel}
            if method not in handlers:
                raise ApiError(405, "method_not_allowed", f"{method} {path}: use GET or DELETE")
            status, doc = handlers[method](int(match.group(1)))
            return _json(start_response, status, doc)
        if path in ("/api/events", "/metrics"):
            raise ApiError(405, "method_not_allowed", f"{method} {path}: use GET")
        allowed = routes.get(path)
        if allowed is None:
            raise ApiError(404, "not_found", f"no such endpoint: {path}")
        if method not in allowed:
            raise ApiError(405, "method_not_allowed", f"{method} {path}: use {', '.join(allowed)}")
        status, doc = allowed[method](environ)
        return _json(start_response, status, doc)

    # -- handlers ---------------------------------------------------------------------------------
    def status(self, _environ: dict[str, Any]) -> tuple[int, Any]:
        return 200, status_doc(self.d)

    def jobs(self, _environ: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"jobs": [j.to_json() for j in reversed(list(self.d.jobs.jobs.values()))]}

    def _find(self, job_id: int) -> Any:
        job = self.d.jobs.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "job_not_found", f"no job {job_id} (unknown, or finished long ago)")
        return job

    def job(self, job_id: int) -> tuple[int, Any]:
        return 200, self._find(job_id).to_json()

    def cancel(self, job_id: int) -> tuple[int, Any]:
        job = self._find(job_id)
        if not self.d.jobs.cancel(job):
            raise ApiError(409, "job_finished", f"job {job_id} has already finished ({job.state})")
        return (200 if job.state == "cancelled" else 202), job.to_json()

    def cook(self, environ: dict[str, Any]) -> tuple[int, Any]:
        self._accepting()
        body = _read_json(environ)
        paths, force = body.get("paths"), body.get("force", False)
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
            raise ApiError(400, "bad_request", "'paths' must be a non-empty list of paths")
        if not isinstance(force, bool):
            raise ApiError(400, "bad_request", "'force' must be true or false")
        try:
            settings = check_settings(body.get("settings"))
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        real = [self._checked(p) for p in paths]
        job = self.d.jobs.cook(real, trigger="api", force=force, settings=settings)
        if job is None:
            raise ApiError(503, "shutting_down", "the daemon is shutting down")
        return 202, job.to_json()

    def _checked(self, path: str) -> str:
        if not os.path.isabs(path):
            raise ApiError(400, "bad_request", f"{path!r}: paths must be absolute")
        real = os.path.realpath(path)
        if self.d.cfg.watched_folder(real) is None or self.d.cfg.excluded(real):
            raise ApiError(403, "outside_watch", f"{path} resolves to {real}, outside the watched folders")
        if not os.path.exists(real):
            raise ApiError(404, "source_not_found", f"{path}: no such file or folder")
        return real

    def compact(self, environ: dict[str, Any]) -> tuple[int, Any]:
        self._accepting()
        _read_json(environ, optional=True)
        job = self.d.jobs.compact()
        if job is None:
            raise ApiError(503, "shutting_down", "the daemon is shutting down")
        return 202, job.to_json()

    def assets(self, _environ: dict[str, Any]) -> tuple[int, Any]:
        from oxy.daemon.plan import load_records

        records = gevent.get_hub().threadpool.apply(load_records, (self.d.cfg.root,))
        return 200, {"root": self.d.cfg.root, "index_sha256": records.index_sha256 or None,
                     "sources": [_source_json(r) for _p, r in sorted(records.sources.items())]}

    def _accepting(self) -> None:
        if not self.d.jobs.accepting:
            raise ApiError(503, "shutting_down", "the daemon is shutting down and takes no new jobs")


def status_doc(d: Any) -> dict[str, Any]:
    """The ``/api/status`` document of daemon ``d`` (main hub)."""
    t = d.jobs
    cache = d.cache
    return {"root": d.cfg.root, "watch": list(d.cfg.watch), "pid": os.getpid(),
            "uptime": round(time.time() - d.started, 3), "accepting": t.accepting,
            "queue_depth": t.depth, "running": t.running.to_json() if t.running else None,
            "jobs": dict(t.outcomes), "counts": t.totals, "watched_files": len(d.watcher.files),
            "watching": d.watcher.alive, "event_clients": len(d.events),
            "cache": cache.counters.snapshot() if cache is not None else None}


def _source_json(record: Any) -> dict[str, Any]:
    from oxy.build.recipe import Reason

    outputs = [{"name": o.name, "kind": o.kind, "stage": o.stage, "key": o.key, "origin": o.origin,
                "index": o.index, "asset": o.asset, "vpath": o.vpath,
                "reason_text": Reason.from_json(o.reason).describe()} for o in record.outputs]
    return {"path": record.path, "kind": record.kind, "live": record.live, "cooked_at": record.cooked_at,
            "reason_text": Reason.from_json(record.reason).describe(), "outputs": outputs}


def _read_json(environ: dict[str, Any], optional: bool = False) -> dict[str, Any]:
    length_text = environ.get("CONTENT_LENGTH") or ""
    try:
        length = int(length_text) if length_text else None
    except ValueError:
        raise ApiError(400, "bad_request", "bad Content-Length") from None
    if length is not None and length > MAX_BODY:
        raise ApiError(413, "body_too_large", f"request body over {MAX_BODY} bytes")
    stream = environ["wsgi.input"]
    raw = stream.read(length) if length is not None else stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise ApiError(413, "body_too_large", f"request body over {MAX_BODY} bytes")
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "bad_json", "a JSON object body is required")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"request body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "bad_json", "the request body must be a JSON object")
    return doc


def _json(start_response: StartResponse, status: int, doc: Any) -> list[bytes]:
    body = json.dumps(doc, default=str).encode()
    start_response(f"{status} {_REASONS.get(status, 'Error')}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
