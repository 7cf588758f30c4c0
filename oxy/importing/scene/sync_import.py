"""The synchronous scene import (used by ``AssetImporter.import_to_loose_cooked``).

Same plan, same pure cook functions and same emission steps as the async importer,
in the calling thread with :class:`DirectSessionIO`: parse -> textures in plan
order -> materials in plan order -> geometries in plan order -> scene -> finalize.
Descriptors, buffers and texture payloads equal the async path's; texture indices
(and so material bytes) can differ only by emission order.

Thread rules: blocks the calling thread; never call it on a gevent hub that must
stay responsive. It keeps no build records (an incremental ``oxy cook`` of the
model afterwards checks it from scratch; see :mod:`oxy.importing.incremental`).
Failure modes: returned in the report, never raised (parse errors
name the file and assimp's reason; a missing or undecodable texture is a warning
and index 0; invalid mesh data fails the import and leaves the root as it was).
"""
from __future__ import annotations

import os

from oxy.cook.image_decode import ImageDecodeError
from oxy.cook.texture import TextureCookError, cook_texture_files
from oxy.importing.emitters import EmitError
from oxy.importing.scene.backend import SceneBackend, SceneParseError
from oxy.importing.scene.emit import (emit_geometry, emit_material, emit_scene, forward, pack_checked,
                                      texture_settings, written_counts)
from oxy.importing.scene.plan import ScenePlan, TextureJob, make_plan, option_problems
from oxy.importing.session import ImportSession, open_direct_session
from oxy.importing.types import ImportDiagnostic, ImportReport, ImportRequest, Severity


def default_backend() -> SceneBackend:
    from oxy.importing.scene.backend_assimp import AssimpBackend  # noqa: PLC0415

    return AssimpBackend()


def import_scene_sync(request: ImportRequest, backend: SceneBackend | None = None) -> ImportReport:
    """Import one scene file into ``request.cooked_root`` (see the module docstring)."""
    report = ImportReport(cooked_root=request.cooked_root, source_path=request.source_path)
    report.diagnostics.extend(option_problems(request))
    if report.diagnostics:
        return report
    try:
        parsed = (backend or request.options.get("backend") or default_backend()).parse(request.source_path)
    except SceneParseError as exc:
        report.diagnostics.append(ImportDiagnostic(Severity.ERROR, "scene.parse_failed",
                                                   f"cannot import {exc.path}: {exc.reason}", request.source_path))
        return report
    session = open_direct_session(request, report)
    if session is None:
        return report
    with session:
        plan = make_plan(parsed, session.assets.key_for, request.options)
        forward(session, plan.diagnostics)
        committed = False
        counts: dict[str, int] = {}
        outputs: dict[str, int] = {}
        if not plan.failed:
            try:
                outputs, geometries = _run(session, plan)
                # This path keeps no build records of its own: the model's record (if the
                # root has one) no longer describes what it cooked, so it is dropped and the
                # next incremental cook checks the model from scratch (its outputs are assets
                # the index names: pack keeps them whatever the records say).
                if os.path.abspath(request.source_path) in session.records.sources:
                    session.record_source(os.path.abspath(request.source_path), None)
                committed = session.finalize()
                counts = written_counts(session, len(plan.materials), geometries, 1)
            except EmitError as exc:
                session.diagnose(Severity.ERROR, "scene.emit_failed", str(exc))
    report.diagnostics.extend(session.diagnostics)
    report.written = counts if committed else {}
    report.outputs = outputs if committed else {}
    report.success = committed
    return report


def _run(session: ImportSession, plan: ScenePlan) -> tuple[dict[str, int], int]:
    """Emit everything in plan order; (outputs, number of geometries emitted)."""
    outputs: dict[str, int] = {}
    for job in plan.textures:
        index = _cook_one(session, job, plan.quality)
        outputs[f"texture:{job.source_id}"] = index
    for material in plan.materials:
        emit_material(session, plan, material, lambda sid: outputs.get(f"texture:{sid}", 0))
    emitted = set()
    for geometry in plan.geometries:
        packed, notes = pack_checked(plan, geometry)
        forward(session, notes)
        if packed is None:
            continue
        key, vb, ib = emit_geometry(session, plan, geometry, packed)
        emitted.add(key)
        outputs[f"geometry:{geometry.asset_name}:vertices"] = vb
        outputs[f"geometry:{geometry.asset_name}:indices"] = ib
    emit_scene(session, plan, emitted)
    return outputs, len(emitted)


def _cook_one(session: ImportSession, job: TextureJob, quality: str) -> int:
    """Cook and emit one texture; 0 (with a warning) when it cannot be read or decoded."""
    try:
        data = job.data if job.data is not None else _read(job.path or "")
        texture = cook_texture_files([(job.display, data)], texture_settings(job.preset, quality))
    except OSError as exc:
        reason = f"cannot read {job.path}: {exc.strerror or exc}"
    except ImageDecodeError as exc:
        reason = f"cannot decode {job.display}: {exc.reason}"
    except TextureCookError as exc:
        reason = f"cannot cook {job.display}: {exc}"
    else:
        for note in texture.notes:
            session.diagnose(Severity(note.severity), note.code, note.message, job.source_id)
        return session.textures.emit(texture)
    session.diagnose(Severity.WARNING, "scene.texture_failed", f"{reason}; using texture index 0", job.source_id)
    return 0


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()
