"""The synchronous facade: the same import, in the calling thread, without a hub.

``AssetImporter().import_to_loose_cooked(request)`` cooks with the same pure
functions (``oxy.cook``) and writes through the same :class:`ImportSession` and
emitters as the async path, using :class:`DirectSessionIO`; textures are emitted in
source order. Scene files (FBX, glTF, GLB, OBJ) go to
:func:`oxy.importing.scene.sync_import.import_scene_sync`. Per source it produces the same table entry (all but ``data_offset``,
which depends on emission order) and the same payload bytes as the async path.

Thread rules: call from any one thread; it blocks that thread (never call it on a
gevent hub that must stay responsive: use :class:`AsyncImportService` there).
Failure modes: as the async path, returned in the report, never raised.
"""
from __future__ import annotations

import os
from typing import Any

from oxy.cook.image_decode import ImageDecodeError
from oxy.cook.texture import TextureCookError
from oxy.formats.resources import TEXTURE_DESC_SIZE
from oxy.importing.incremental import COUNT_FIELDS, root_texture_keys
from oxy.importing.scene.importer import SCENE_SUFFIXES
from oxy.importing.scene.sync_import import import_scene_sync
from oxy.importing.session import ImportSession, open_direct_session
from oxy.importing.texture_importer import (IMAGE_SUFFIXES, check_textures, option_problems, plan_textures,
                                            source_groups, texture_base_settings, texture_record)
from oxy.importing.units import UnitStore, cook_texture_unit
from oxy.importing.types import ImportDiagnostic, ImportReport, ImportRequest, Severity


class AssetImporter:
    """Synchronous imports into a loose cooked root (see the module docstring).
    ``cache``: a :class:`~oxy.build.cache.CookCache` for texture units (None: none);
    the root's build records are always used (an up-to-date image is not cooked)."""

    def __init__(self, cache: Any = None) -> None:
        """``cache``: the cook cache to read and fill (None: cook every unit not already
        in the root). Nothing starts here; the importer holds no thread or file."""
        self.cache = cache

    def import_to_loose_cooked(self, request: ImportRequest) -> ImportReport:
        """Import ``request.source_path`` into ``request.cooked_root`` on the calling thread
        and return the report (blocks until the commit or rollback). Images and scene files
        (suffixes of the default registry's texture and scene importers) are supported;
        another suffix or a bad option is an ERROR diagnostic in the report. Never raises
        for bad input: a corrupt source or an unreadable root ends as diagnostics, with the
        root's previous index kept. Waits while another process holds the root's lock."""
        if request.suffix in SCENE_SUFFIXES:
            return import_scene_sync(request)
        report = ImportReport(cooked_root=request.cooked_root, source_path=request.source_path)
        if request.suffix not in IMAGE_SUFFIXES:
            report.diagnostics.append(ImportDiagnostic(
                Severity.ERROR, "import.unsupported_format",
                f"no synchronous importer for {request.suffix or 'files without a suffix'} "
                f"(known: {', '.join(sorted(IMAGE_SUFFIXES | SCENE_SUFFIXES))})", request.source_path))
            return report
        report.diagnostics.extend(option_problems(request))
        if report.diagnostics:
            return report
        session = open_direct_session(request, report)
        if session is None:
            return report
        with session:
            committed, outputs, complete = self._textures(request, session, report)
        report.diagnostics.extend(session.diagnostics)
        report.written = {"textures": session.textures.new_count} if committed else {}
        report.outputs = outputs if committed else {}
        report.success = committed and complete
        return report

    def _textures(self, request: ImportRequest, session: ImportSession,
                  report: ImportReport) -> tuple[bool, dict[str, int], bool]:
        options = {k: v for k, v in request.options.items() if v is not None}
        kind, force = options.get("kind", "2d"), bool(options.get("force"))
        groups = source_groups([request.source_path, *(os.fspath(p) for p in options.get("sources", ()))], kind)
        checks = check_textures(groups, texture_base_settings(options), kind, session.records, force)
        work = plan_textures(groups, checks, kind, session)
        report.diagnostics.extend(work.problems)
        for kind_name, what, n in work.count_updates():
            _count(report, kind_name, what, n)
        report.inputs = sorted(work.inputs)
        outputs = dict(work.outputs)
        count = len(session.state.texture_table) // TEXTURE_DESC_SIZE
        store = UnitStore(self.cache, root_texture_keys(session.records, count), force=force)
        for item in work.items:
            try:
                sources = [(s.name, _read(s.path or s.name)) for s in item.sources]
                texture, reused, outcome = cook_texture_unit(sources, item.settings, item.kind, store)
            except OSError as exc:
                problem = ImportDiagnostic(Severity.ERROR, "texture.read_failed",
                                           f"cannot read {exc.filename}: {exc.strerror}", str(exc.filename))
            except ImageDecodeError as exc:
                problem = ImportDiagnostic(Severity.ERROR, "texture.decode_failed", exc.reason, exc.source)
            except TextureCookError as exc:
                problem = ImportDiagnostic(Severity.ERROR, "texture.cook_failed", str(exc), item.source_id)
            else:
                if texture is not None:
                    report.diagnostics.extend(ImportDiagnostic.from_note(n, item.source_id) for n in texture.notes)
                index = reused if reused is not None else session.textures.emit(texture)  # type: ignore[arg-type]
                outputs[item.source_id] = index
                _count(report, "texture", {"cooked": "cooked", "cache:local": "cache_hits_local",
                                           "cache:remote": "cache_hits_remote"}.get(outcome.origin, "up_to_date"), 1)
                session.record_source(work.pending[item.source_id].path,
                                      texture_record(work.pending[item.source_id], item.source_id, outcome, index,
                                                     force))
                continue
            report.diagnostics.append(problem)
            _count(report, "texture", "failed", 1)
        committed = session.finalize()
        return committed, outputs, not work.failed and len(outputs) == len(groups)


def _count(report: ImportReport, kind: str, what: str, n: int) -> None:
    counts = report.counts.setdefault(kind, dict.fromkeys(COUNT_FIELDS, 0))
    counts[what] += n


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()
