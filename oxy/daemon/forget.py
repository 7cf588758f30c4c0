"""The records-only job: deleted sources leave the live set.

A request with ``layout == FORGET_LAYOUT`` and ``options["forget"]`` (absolute
source paths) opens an import session on the root, forgets each path the build
records know (``session.record_source(path, None)``) and commits: nothing of the
index changes, a new records generation for the same index is written. ``oxy
pack`` and ``oxy compact`` then drop the standalone textures only those sources
kept live. Runs as an importer on the import hub (greenlets of its thread), like
every importer; :func:`register` adds it to the process-wide registry once.
"""
from __future__ import annotations

from typing import Any

from oxy.daemon.plan import FORGET_LAYOUT

_registered = False


class ForgetImporter:
    def __init__(self, request: Any) -> None:
        self.request = request

    def run(self, ctx: Any) -> Any:
        from oxy.importing.types import Severity

        paths = [str(p) for p in self.request.options.get("forget", ())]
        session = ctx.open_session()
        if session is None:
            return ctx.make_report(success=False)
        try:
            forgotten = [p for p in paths if p in session.records.sources]
            for path in forgotten:
                session.record_source(path, None)
                ctx.diagnose(Severity.INFO, "daemon.source_deleted", f"{path} was deleted: no longer live",
                             source_path=path)
            committed = session.finalize()
            for d in session.diagnostics:
                ctx.diagnose(d.severity, d.code, d.message, field_path=d.field_path)
            return ctx.make_report(success=committed)
        finally:
            session.abort()  # no-op after a successful finalize


def register() -> None:
    """Register :class:`ForgetImporter` (once per process)."""
    global _registered
    if _registered:
        return
    from oxy.importing import register_importer

    register_importer(lambda request: request.layout == FORGET_LAYOUT, ForgetImporter, name="daemon.forget",
                      priority=100)
    _registered = True
