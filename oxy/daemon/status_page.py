"""The status page at ``/`` and its assets under ``/ui/`` (docs/daemon.md, "Status page").

``GET /`` renders the page on the server from the daemon's status and job table
(every string escaped: source paths and diagnostics are untrusted text), so it reads
without a script. ``/ui/status.js`` (no build step, no external request) then
subscribes to ``/api/events`` with ``EventSource`` and keeps it live. Other routes:
``/ui/status.css``, ``/ui/favicon.svg`` and ``/ui/thumb/N.png`` (the thumbnail of
texture N of the root: :mod:`oxy.daemon.thumbs`).

Every answer of this sub-application carries a Content-Security-Policy that allows
only this origin's script, style, images and connections (no inline script or style,
no frames, no form posts), ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
no-referrer``. With ``--token``, ``GET /?token=T`` (authorised by the caller,
:mod:`oxy.daemon.auth`) answers 303 to ``/`` and sets the session cookie.

Thread rules: called by the WSGI server in greenlets of the main hub; thumbnails are
made in the main hub's thread pool (``gevent.get_hub().threadpool``), never on the hub.
Errors are JSON ``{"error": {"code", "message"}}`` like the API's: 404 ``not_found``
(unknown path, malformed thumbnail name), 405, and the :class:`~oxy.daemon.thumbs.ThumbnailError` ones.
"""
from __future__ import annotations

import json
import re
from html import escape
from typing import Any, Callable, Iterable

import gevent

from oxy.daemon import status_view as view
from oxy.daemon.api import status_doc
from oxy.daemon.auth import set_cookie_header
from oxy.daemon.status_assets import FAVICON, SCRIPT, STYLE
from oxy.daemon.thumbs import ThumbnailError, Thumbnails

StartResponse = Callable[..., Any]
_THUMB = re.compile(r"^/ui/thumb/(\d{1,9})\.png$")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_SECURITY = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
             ("Referrer-Policy", "no-referrer")]
_ASSETS = {"/ui/status.js": ("text/javascript; charset=utf-8", SCRIPT.encode()),
           "/ui/status.css": ("text/css; charset=utf-8", STYLE.encode()),
           "/ui/favicon.svg": ("image/svg+xml", FAVICON.encode())}
_STATUS_TEXT = {200: "OK", 303: "See Other", 304: "Not Modified", 404: "Not Found", 405: "Method Not Allowed",
                422: "Unprocessable Content", 503: "Service Unavailable"}


class StatusPage:
    """WSGI sub-application for ``/`` and ``/ui/...``. ``daemon`` is the :class:`~oxy.daemon.server.Daemon`
    (its ``cfg``, job table and status are read on the main hub)."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon
        self.thumbs = Thumbnails(daemon.cfg.root)

    def close(self) -> None:
        """Unmount the root the thumbnails read (shutdown). Blocking, brief."""
        self.thumbs.close()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        if method not in ("GET", "HEAD"):
            return _error(start_response, 405, "method_not_allowed", f"{method} {path}: use GET")
        if path == "/":
            if environ.get("oxy.auth") == "query":  # the token came in the address: trade it for the cookie
                start_response("303 See Other", [("Location", "/"), set_cookie_header(environ, self.d.cfg.token),
                                                 ("Content-Length", "0"), ("Cache-Control", "no-store"), *_SECURITY])
                return [b""]
            return _send(start_response, 200, "text/html; charset=utf-8", self.render().encode(),
                         [("Cache-Control", "no-store")])
        asset = _ASSETS.get(path)
        if asset is not None:
            return _send(start_response, 200, asset[0], asset[1], [("Cache-Control", "no-cache")])
        match = _THUMB.match(path)
        if match:
            return self._thumbnail(int(match.group(1)), environ, start_response)
        return _error(start_response, 404, "not_found", f"no such page: {path}")

    def _thumbnail(self, index: int, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            thumb = gevent.get_hub().threadpool.apply(self.thumbs.render, (index,))
        except ThumbnailError as exc:
            return _error(start_response, exc.status, exc.code, exc.message)
        etag = f'"{thumb.etag}"'
        headers = [("ETag", etag), ("Cache-Control", "no-cache"), ("X-Oxy-Thumb-Cache", "hit" if thumb.cached else "miss")]
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", [*headers, *_SECURITY])
            return [b""]
        return _send(start_response, 200, "image/png", thumb.png, headers)

    # -- the page ---------------------------------------------------------------------------------
    def render(self) -> str:
        """The whole page for the daemon's current state (main hub)."""
        status = status_doc(self.d)
        jobs = [j.to_json() for j in self.d.jobs.jobs.values()]
        cfg = self.d.cfg
        thumbs = view.thumbs(jobs)
        limits = escape(json.dumps(view.LIMITS), quote=True)
        return "".join([
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>oxy serve</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="/ui/favicon.svg" type="image/svg+xml">'
            '<link rel="stylesheet" href="/ui/status.css"><script src="/ui/status.js" defer></script></head>',
            f'<body data-limits="{limits}"><header><h1>oxy serve</h1>',
            f'<p class="where">root <code id="root">{escape(cfg.root)}</code> \u00b7 watching ',
            ", ".join(f"<code>{escape(w)}</code>" for w in cfg.watch),
            '</p><p id="conn" data-conn="static">snapshot (the live view needs JavaScript)</p></header>',
            '<section id="summary"><h2>Summary</h2><dl>',
            f'<dt>Queue</dt><dd id="queue-depth">{status["queue_depth"]}</dd>',
            f'<dt>Watched files</dt><dd id="watched-files">{status["watched_files"]}</dd>',
            f'<dt>Cache hit rate</dt><dd id="cache-rate">{escape(view.cache_rate(status["cache"]))}</dd>',
            f'<dt>Jobs</dt><dd id="job-outcomes">{escape(view.outcomes(status["jobs"]))}</dd></dl></section>',
            '<section id="running"><h2>Running</h2><div id="running-job">',
            _running(status["running"]), '</div></section>',
            '<section id="queue"><h2>Queue</h2><ol id="queue-list">',
            "".join(_queued(j) for j in view.queued(jobs)), '</ol></section>',
            f'<section id="thumbs"><h2>Recently cooked textures</h2>'
            f'<div id="thumb-list" data-key="{escape(view.thumbs_key(thumbs))}">',
            "".join(_thumb(t) for t in thumbs), '</div></section>',
            '<section id="failures"><h2>Recent failures</h2><div id="failure-list">',
            "".join(_failure(j) for j in view.failures(jobs)), '</div></section>',
            '<section id="recent"><h2>Recent jobs</h2><table><thead><tr><th>job</th><th>kind</th><th>trigger</th>'
            '<th>state</th><th>time</th><th>sources</th></tr></thead><tbody id="recent-jobs">',
            "".join(_row(j) for j in view.finished(jobs)), '</tbody></table></section></body></html>\n'])


def _attrs(job: dict[str, Any], cls: str) -> str:
    return f'class="{cls}" data-job="{int(job["id"])}" data-state="{escape(job["state"])}"'


def _running(job: dict[str, Any] | None) -> str:
    if job is None:
        return '<p class="empty">Nothing running.</p>'
    progress = float(job.get("progress") or 0.0)
    return (f'<div {_attrs(job, "job")}><p><strong>{escape(view.job_title(job))}</strong> '
            f'<span class="phase">{escape(job["phase"])}</span> <span class="pct">{round(progress * 100)}%</span></p>'
            f'<progress max="1" value="{progress:.4f}"></progress>'
            f'<p class="sources">{escape(view.sources_text(job))}</p></div>')


def _queued(job: dict[str, Any]) -> str:
    return (f'<li {_attrs(job, "job")}><strong>{escape(view.job_title(job))}</strong> '
            f'<span class="sources">{escape(view.sources_text(job))}</span></li>')


def _row(job: dict[str, Any]) -> str:
    return (f'<tr {_attrs(job, "job")}><td>#{int(job["id"])}</td><td>{escape(job["kind"])}</td>'
            f'<td>{escape(job["trigger"])}</td><td class="state">{escape(job["state"])}</td>'
            f'<td>{escape(view.seconds_text(job))}</td><td class="sources">{escape(view.sources_text(job))}</td></tr>')


def _failure(job: dict[str, Any]) -> str:
    shown, more = view.shown_diagnostics(job)
    items = "".join(
        f'<li class="diag" data-code="{escape(d["code"])}" data-severity="{escape(d["severity"])}">'
        f'<code class="code">{escape(d["code"])}</code> <span class="message">{escape(d["message"])}</span> '
        f'<span class="path">{escape(d["source_path"])}</span></li>' for d in shown)
    tail = f'<li class="more">and {more} more</li>' if more else ""
    return (f'<div class="failure" data-job="{int(job["id"])}"><p><strong>{escape(view.job_title(job))}</strong> '
            f'<span class="sources">{escape(view.sources_text(job))}</span></p>'
            f'<ul class="diags">{items}{tail}</ul></div>')


def _thumb(t: dict[str, Any]) -> str:
    name = escape(view.basename(t["source"]))
    return (f'<figure class="thumb" data-index="{int(t["index"])}" data-job="{int(t["job"])}">'
            f'<img src="/ui/thumb/{int(t["index"])}.png" alt="{name}" title="{escape(t["name"])}">'
            f'<figcaption>{name}</figcaption></figure>')


def _send(start_response: StartResponse, status: int, ctype: str, body: bytes,
          extra: list[tuple[str, str]]) -> list[bytes]:
    start_response(f"{status} {_STATUS_TEXT.get(status, 'Error')}",
                   [("Content-Type", ctype), ("Content-Length", str(len(body))), *extra, *_SECURITY])
    return [body]


def _error(start_response: StartResponse, status: int, code: str, message: str) -> list[bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return _send(start_response, status, "application/json", body, [])
