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

from oxy.cook.image_decode import ImageDecodeError
from oxy.cook.texture import TextureCookError, cook_texture_files
from oxy.importing.scene.importer import SCENE_SUFFIXES
from oxy.importing.scene.sync_import import import_scene_sync
from oxy.importing.session import open_direct_session
from oxy.importing.texture_importer import IMAGE_SUFFIXES, option_problems, work_items
from oxy.importing.types import ImportDiagnostic, ImportReport, ImportRequest, Severity


class AssetImporter:
    """Synchronous imports into a loose cooked root (see the module docstring)."""

    def import_to_loose_cooked(self, request: ImportRequest) -> ImportReport:
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
        try:
            items = work_items(request)
        except TextureCookError as exc:
            report.diagnostics.append(ImportDiagnostic(Severity.ERROR, "texture.bad_options", str(exc),
                                                       request.source_path))
            return report
        session = open_direct_session(request, report)
        if session is None:
            return report
        outputs: dict[str, int] = {}
        with session:
            for item in items:
                try:
                    sources = [(s.name, _read(s.path or s.name)) for s in item.sources]
                    texture = cook_texture_files(sources, item.settings, kind=item.kind)
                except OSError as exc:
                    report.diagnostics.append(ImportDiagnostic(
                        Severity.ERROR, "texture.read_failed", f"cannot read {exc.filename}: {exc.strerror}",
                        str(exc.filename)))
                    continue
                except ImageDecodeError as exc:
                    report.diagnostics.append(ImportDiagnostic(Severity.ERROR, "texture.decode_failed",
                                                               exc.reason, exc.source))
                    continue
                except TextureCookError as exc:
                    report.diagnostics.append(ImportDiagnostic(Severity.ERROR, "texture.cook_failed", str(exc),
                                                               item.source_id))
                    continue
                report.diagnostics.extend(ImportDiagnostic.from_note(n, item.source_id) for n in texture.notes)
                outputs[item.source_id] = session.textures.emit(texture)
            committed = session.finalize()
        report.diagnostics.extend(session.diagnostics)
        report.written = {"textures": session.textures.new_count} if committed else {}
        report.outputs = outputs if committed else {}
        report.success = committed and len(outputs) == len(items)
        return report


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()
