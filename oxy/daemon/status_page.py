"""The status page at ``/`` and its assets under ``/ui/`` (being built; see issue 12)."""
from __future__ import annotations

from typing import Any, Callable, Iterable


class StatusPage:
    """WSGI sub-application for ``/`` and ``/ui/...``. ``daemon`` is the :class:`~oxy.daemon.server.Daemon`."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = b'{"error": {"code": "not_found", "message": "the status page is not built yet"}}'
        start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
