"""SceneImporter: FBX / glTF / GLB / OBJ scenes into a loose cooked root, on the import hub.

::

    parse (backend.parse_async: one run_blocking call on the CPU pool)
    plan  (names, keys, texture jobs, geometry groups; on the CPU pool)
    producer greenlet: every texture job -> TexturePipeline.submit (bounded, back-pressure)
    Nursery:
      stream A: pipeline.collect() -> TextureEmitter.emit() -> tracker.mark_texture_ready()
                -> each material emitted the moment its last texture is in
      stream B: each geometry packed on the CPU pool (up to pool-size at once, emitted in
                plan order so buffer indices are deterministic) -> buffers -> descriptor
    scene descriptor (needs every geometry key) -> session.finalize() (index written last)

Request options (declared once in :data:`~oxy.importing.scene.plan.SCENE_OPTIONS`):
``name_prefix`` / ``scene_name`` (default: the file's stem), ``quality`` (BC7 effort
of the textures), ``source_key`` (the root's GUID when new), ``backend`` (a
:class:`SceneBackend`). Unknown or wrongly typed options fail the job first
(``import.unknown_option`` / ``import.bad_option``).
``report.outputs`` maps ``texture:<source>[<preset>]`` to texture indices and
``geometry:<name>:vertices|indices`` to buffer indices; ``report.written`` counts
textures, buffers, materials, geometries and scenes.

Thread rules: runs in the job greenlet on the import hub (see oxy.importing.registry).
Failure modes: a file assimp cannot read fails with ``scene.parse_failed`` naming the
file and assimp's reason; invalid mesh data fails the job (nothing is committed); a
missing or undecodable texture is a warning and texture index 0. Cancellation kills
the streams, cancels the pipeline and rolls the session back: the previous index stays.
"""
from __future__ import annotations

import gevent
from gevent.pool import Pool

from oxy.formats.primitives import AssetKey
from oxy.hub import Nursery, WriteOptions
from oxy.importing.emitters import EmitError
from oxy.importing.registry import JobContext, register_importer
from oxy.importing.root_state import RootStateError
from oxy.importing.scene.backend import SceneBackend, SceneParseError
from oxy.importing.scene.backend_assimp import AssimpBackend
from oxy.importing.scene.emit import (emit_geometry, emit_material, emit_scene, forward, pack_checked,
                                      texture_settings, written_counts)
from oxy.importing.scene.plan import ScenePlan, make_plan, option_problems
from oxy.importing.scene.readiness import MaterialReadinessTracker
from oxy.importing.session import ImportSession
from oxy.importing.session_io import HubSessionIO, SessionIOError
from oxy.importing.texture_pipeline import TexturePipeline, TextureSource, TextureWorkItem
from oxy.importing.types import ImportPhase, ImportReport, ImportRequest, Severity

SCENE_SUFFIXES = AssimpBackend.suffixes
PARSE_SHARE, WORK_SHARE, SCENE_SHARE = 0.1, 0.8, 0.05  # of the overall progress; writing takes the rest


class _Job:
    """The state of one import between parse and finalize (one job greenlet)."""

    def __init__(self, ctx: JobContext, session: ImportSession, plan: ScenePlan, pipeline: TexturePipeline) -> None:
        self.ctx, self.session, self.plan, self.pipeline = ctx, session, plan, pipeline
        self.outputs: dict[str, int] = {}
        self.geometries: set[AssetKey] = set()
        self.materials = 0
        self.done = 0
        self.total = max(1, len(plan.textures) + len(plan.geometries))

    def progress(self, phase: ImportPhase, phase_done: int, phase_total: int) -> None:
        self.done += 1
        self.ctx.report_progress(phase, phase_done / max(1, phase_total),
                                 PARSE_SHARE + WORK_SHARE * self.done / self.total, phase_done, phase_total)

    def produce(self) -> None:
        for job in self.plan.textures:
            source = TextureSource(job.display, path=job.path, data=job.data)
            self.pipeline.submit(TextureWorkItem(job.source_id, (source,),
                                                 texture_settings(job.preset, self.plan.quality), "2d"))
        self.pipeline.close_input()

    def stream_textures_and_materials(self) -> None:
        """Stream A: collect -> texture emit -> readiness -> material emit."""
        plan, session = self.plan, self.session
        by_index = {m.material_index: m for m in plan.materials}
        tracker = MaterialReadinessTracker(plan.texture_needs())
        for ready in tracker.take_ready():
            self._emit_material(by_index[ready], tracker)
        collected = 0
        while (result := self.pipeline.collect()) is not None:
            collected += 1
            index = 0
            if result.success and result.texture is not None:
                index = session.textures.emit(result.texture)
                for d in result.diagnostics:  # the cook's warnings (repairs, losses)
                    session.diagnose(d.severity, d.code, d.message, result.source_id)
            else:
                reasons = "; ".join(d.message for d in result.diagnostics) or "cook failed"
                session.diagnose(Severity.WARNING, "scene.texture_failed",
                                 f"{reasons}; using texture index 0", result.source_id)
            self.outputs[f"texture:{result.source_id}"] = index
            for ready in tracker.mark_texture_ready(result.source_id, index):
                self._emit_material(by_index[ready], tracker)
            self.progress(ImportPhase.TEXTURES, collected, len(plan.textures))
        for material in tracker.pending():  # only if a result never came back (cancelled pipeline)
            self._emit_material(by_index[material], tracker)

    def _emit_material(self, material, tracker: MaterialReadinessTracker) -> None:
        emit_material(self.session, self.plan, material, tracker.index_of)
        self.materials += 1
        self.ctx.report_progress(ImportPhase.MATERIALS, self.materials / max(1, len(self.plan.materials)),
                                 PARSE_SHARE + WORK_SHARE * self.done / self.total,
                                 self.materials, len(self.plan.materials))

    def stream_geometry(self, workers: int) -> None:
        """Stream B: pack each geometry on the CPU pool; emit buffers + descriptor in plan order."""
        plan, ctx = self.plan, self.ctx
        group = Pool(max(1, workers))
        try:
            packed_all = group.imap(lambda g: ctx.run_blocking(pack_checked, plan, g), plan.geometries)
            for n, (geometry, (packed, notes)) in enumerate(zip(plan.geometries, packed_all), 1):
                forward(self.session, notes)
                if packed is not None:
                    key, vb, ib = emit_geometry(self.session, plan, geometry, packed)
                    self.geometries.add(key)
                    self.outputs[f"geometry:{geometry.asset_name}:vertices"] = vb
                    self.outputs[f"geometry:{geometry.asset_name}:indices"] = ib
                self.progress(ImportPhase.GEOMETRY, n, len(plan.geometries))
        finally:
            group.kill(block=True)


class SceneImporter:
    """Importer for scene files (see the module docstring)."""

    def __init__(self, request: ImportRequest, backend: SceneBackend | None = None) -> None:
        self.request = request
        self._backend = backend

    def run(self, ctx: JobContext) -> ImportReport:
        path = self.request.source_path
        problems = option_problems(self.request)
        for d in problems:
            ctx.diagnose(d.severity, d.code, d.message, field_path=d.field_path)
        if problems:
            return ctx.make_report(success=False)
        self.backend = self._backend or self.request.options.get("backend") or AssimpBackend()
        ctx.report_progress(ImportPhase.PARSING, 0.0, 0.0)
        try:
            parsed = self.backend.parse_async(ctx.run_blocking, path)
        except SceneParseError as exc:
            ctx.diagnose(Severity.ERROR, "scene.parse_failed", f"cannot import {exc.path}: {exc.reason}")
            return ctx.make_report(success=False)
        ctx.report_progress(ImportPhase.PARSING, 1.0, PARSE_SHARE)
        session = ImportSession(self.request.cooked_root, HubSessionIO(ctx.writer(WriteOptions(truncate=False))),
                                source_path=path, source_key=self.request.options.get("source_key"),
                                diagnose=lambda s, c, m, f: ctx.diagnose(s, c, m, field_path=f))
        try:
            session.open()
        except (RootStateError, SessionIOError) as exc:
            ctx.diagnose(Severity.ERROR, "session.open_failed", str(exc))
            return ctx.make_report(success=False)
        try:
            return self._import(ctx, session, ctx.run_blocking(make_plan, parsed, session.assets.key_for,
                                                               dict(self.request.options)))
        finally:
            session.abort()  # no-op after a successful finalize

    def _import(self, ctx: JobContext, session: ImportSession, plan: ScenePlan) -> ImportReport:
        forward(session, plan.diagnostics)
        if plan.failed:
            return ctx.make_report(success=False)
        pools = ctx.loop.pools
        workers = pools.cpu_size if pools else None
        job = _Job(ctx, session, plan, TexturePipeline(reader=ctx.reader, token=ctx.token, workers=workers))
        producer = gevent.spawn(job.produce)
        try:
            with Nursery(ctx.token) as nursery:
                nursery.start(job.stream_textures_and_materials)
                nursery.start(job.stream_geometry, workers or 1)
            producer.get()
            ctx.report_progress(ImportPhase.SCENE, 0.0, PARSE_SHARE + WORK_SHARE)
            emit_scene(session, plan, job.geometries)
            ctx.report_progress(ImportPhase.WRITING, 0.0, PARSE_SHARE + WORK_SHARE + SCENE_SHARE)
            committed = session.finalize()
        except EmitError as exc:
            session.diagnose(Severity.ERROR, "scene.emit_failed", str(exc))
            return ctx.make_report(success=False)
        finally:
            producer.kill(block=False)
            job.pipeline.cancel_all()
        ctx.report_progress(ImportPhase.WRITING, 1.0, 1.0)
        written = written_counts(session, job.materials, len(job.geometries), 1) if committed else {}
        return ctx.make_report(success=committed, written=written, outputs=job.outputs if committed else {})


register_importer(SCENE_SUFFIXES, SceneImporter, name="scene")
