"""SceneImporter: FBX / glTF / GLB / OBJ scenes into a loose cooked root, on the import hub.

::

    parse (backend.parse_async: one run_blocking call on the CPU pool)
    plan  (names, keys, texture jobs, geometry groups; on the CPU pool)
    producer greenlet: every texture job -> TexturePipeline.submit (bounded, back-pressure)
    Nursery:
      stream A: pipeline.collect() (in plan order: oxy.importing.reorder) -> TextureEmitter.emit()
                -> tracker.mark_texture_ready()
                -> each material emitted the moment its last texture is in
      stream B: each geometry packed on the CPU pool (up to pool-size at once, emitted in
                plan order so buffer indices are deterministic) -> buffers -> descriptor
    scene descriptor (needs every geometry key) -> session.finalize() (index written last)

A job with several models (the ``models`` option: ``oxy cook a.gltf b.fbx ...``) is
pipelined across models: while model k is emitted, models k+1 .. k+MODELS_AHEAD (more
while they are small: :class:`~oxy.importing.scene.ahead.Lookahead`) are checked,
parsed (one parse at a time per job) and planned, and their texture cooks and
geometry packing already run on the CPU pool (bounded by each model's pipeline).
Everything that touches the session (emission, records, plan diagnostics,
savepoints) still happens model after model, in request order, and textures are
emitted in plan order, so the root's bytes are the same as a one-model-at-a-time
cook, for any thread count. Diagnostics and progress of a model prepared ahead are
held and replayed at its turn. An image two models of the job share is cooked once
even when both reach it at the same time: the second unit waits for the first's cook
(:mod:`oxy.importing.in_flight`) and, with a cook cache, counts as a cache hit.

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
the streams, cancels the pipeline (and those of the models prepared ahead) and rolls
the session back: the previous index stays.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import gevent
from gevent.lock import Semaphore
from gevent.pool import Pool

from oxy.build.model_deps import model_dependencies
from oxy.build.recipe import Recipe
from oxy.build.records import OutputRecord, SourceRecord
from oxy.cook.vertices import PackedGeometry
from oxy.formats.enums import AssetType
from oxy.formats.primitives import AssetKey
from oxy.formats.resources import TEXTURE_DESC_SIZE
from oxy.importing.incremental import (SourceCheck, check_source, output_record, recorded_outputs, root_texture_keys,
                                       source_record, stat_files, unit_reason)
from oxy.importing.units import COOKED, UNCHANGED, UnitOutcome, UnitStore, pack_unit_on_hub, parse_unit_on_hub
from oxy.hub import Nursery
from oxy.importing.emitters import EmitError
from oxy.importing.registry import JobContext, register_importer
from oxy.importing.scene.backend import SceneBackend, SceneParseError
from oxy.importing.scene.backend_assimp import AssimpBackend
from oxy.importing.scene.emit import (emit_geometry, emit_material, emit_scene, forward, pack_checked,
                                      texture_settings)
from oxy.importing.scene.resolver import IMAGE_EXTENSIONS
from oxy.importing.scene.ahead import HeldReports, Lookahead
from oxy.importing.scene.plan import (SCENE_OPTIONS, SCENE_SETTINGS_FILE_KEYS, GeometryPlan, ScenePlan, make_plan,
                                      option_problems)
from oxy.importing.scene.readiness import MaterialReadinessTracker
from oxy.importing.session import ImportSession
from oxy.importing.session_io import SessionIO
from oxy.importing.texture_importer import OrderedTextures, in_order
from oxy.importing.texture_pipeline import TexturePipeline, TextureSource, TextureWorkItem
from oxy.importing.types import ImportPhase, ImportReport, ImportRequest, Severity, check_options

SCENE_SUFFIXES = AssimpBackend.suffixes
PARSE_SHARE, WORK_SHARE, SCENE_SHARE = 0.1, 0.8, 0.05  # of the overall progress; writing takes the rest
#: Models of a job prepared (checked, parsed, planned, their cooks started) while an
#: earlier model is emitted: always the next MODELS_AHEAD, and up to MODELS_AHEAD_MAX
#: while those ahead are prepared and weigh less than TEXTURES_AHEAD_PER_THREAD x the
#: CPU pool's size textures in all (_Prepared.weight: textures, and meshes by size;
#: oxy.importing.scene.ahead.Lookahead). A model ahead holds its parsed scene, its
#: packed geometry and at most ~2x the pool size of cooked textures (its pipeline's
#: bounds) until its turn.
MODELS_AHEAD, MODELS_AHEAD_MAX, TEXTURES_AHEAD_PER_THREAD = 2, 8, 2
#: Mesh bytes that weigh as much as one texture in that budget (a 1024² BC7 texture
#: with mips is 1.4 MB cooked, a 2048² one 5.6 MB).
MESH_BYTES_PER_TEXTURE = 4 << 20


class _Job:
    """The state of one import between parse and finalize (one job greenlet)."""

    def __init__(self, ctx: JobContext, session: ImportSession, plan: ScenePlan, pipeline: OrderedTextures,
                 unit: "_UnitBook") -> None:
        self.ctx, self.session, self.plan, self.pipeline, self.unit = ctx, session, plan, pipeline, unit
        self.outputs: dict[str, int] = {}
        self.geometries: set[AssetKey] = set()
        self.geometry_keys: dict[AssetKey, str] = {}
        self.materials = 0
        self.done = 0
        self.total = max(1, len(plan.textures) + len(plan.geometries))
        self.producer: gevent.Greenlet | None = None
        self.group: Pool | None = None
        self.packs: Any = None   # the geometry packing (a gevent IMap, results in plan order)

    def start(self, workers: int) -> None:
        """Start the cooks: texture jobs into the pipeline (a producer greenlet) and the
        geometry packing on the CPU pool (up to ``workers`` at once). Nothing touches the
        session, so this may run before the model's turn."""
        self.producer = gevent.spawn(self.produce)
        self.group = Pool(max(1, workers))
        store, model, parse_key, plan, ctx = self.unit.store, self.unit.model_name, self.unit.parse_key, \
            self.plan, self.ctx

        def pack(g: GeometryPlan) -> tuple[tuple[PackedGeometry | None, list], UnitOutcome]:
            return pack_unit_on_hub(ctx, model, parse_key, g.mesh_indices, store, partial(pack_checked, plan, g))
        self.packs = self.group.imap(pack, plan.geometries)

    def stop(self) -> None:
        """Stop whatever still runs (the producer, the pipeline, the packing); idempotent.
        Pool tasks already running finish, their results are dropped."""
        if self.producer is not None:
            self.producer.kill(block=False)
        self.pipeline.cancel_all()
        if self.packs is not None:
            self.packs.kill(block=False)
        if self.group is not None:
            self.group.kill(block=True)

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
            if result.success and result.outcome is not None:
                index = result.reused_index if result.reused_index is not None \
                    else session.textures.emit(result.texture)  # type: ignore[arg-type]
                self.unit.texture(result.source_id, result.outcome, index)
                for d in result.diagnostics:  # the cook's warnings (repairs, losses)
                    session.diagnose(d.severity, d.code, d.message, result.source_id)
            else:
                self.ctx.counts.add("texture", "failed")
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
        key = emit_material(self.session, self.plan, material, tracker.index_of)
        self.unit.asset("material", key, self.plan.vpath_of(AssetType.MATERIAL, material.asset_name),
                        [self.unit.texture_input(source) for _slot, source in sorted(material.slot_sources.items())])
        self.materials += 1
        self.ctx.report_progress(ImportPhase.MATERIALS, self.materials / max(1, len(self.plan.materials)),
                                 PARSE_SHARE + WORK_SHARE * self.done / self.total,
                                 self.materials, len(self.plan.materials))

    def stream_geometry(self) -> None:
        """Stream B: emit buffers + descriptor of each geometry packed by :meth:`start`, in plan order."""
        plan, ctx = self.plan, self.ctx
        for n, (geometry, ((packed, notes), outcome)) in enumerate(zip(plan.geometries, self.packs), 1):
            forward(self.session, notes)
            if packed is None:
                ctx.counts.add("geometry", "failed")
            if packed is not None:
                key, vb, ib = emit_geometry(self.session, plan, geometry, packed)
                self.unit.geometry(key, plan.vpath_of(AssetType.GEOMETRY, geometry.asset_name), outcome, (vb, ib))
                self.geometry_keys[key] = outcome.key
                self.geometries.add(key)
                self.outputs[f"geometry:{geometry.asset_name}:vertices"] = vb
                self.outputs[f"geometry:{geometry.asset_name}:indices"] = ib
            self.progress(ImportPhase.GEOMETRY, n, len(plan.geometries))


class _UnitBook:
    """What the build records will say of one model's outputs, and the job's counts
    per unit kind (one job greenlet)."""

    def __init__(self, ctx: JobContext, session: ImportSession, check: SourceCheck, store: UnitStore,
                 model_name: str, model_sha: str, display_paths: dict[str, str]) -> None:
        self.ctx, self.session, self.check, self.store = ctx, session, check, store
        self.model_name, self.model_sha = model_name, model_sha
        self.forced = bool(ctx.request.options.get("force"))
        self.display_paths = display_paths          # texture display name -> absolute file (not embedded)
        self.outputs: list[OutputRecord] = []
        self.texture_keys: dict[str, str] = {}      # texture source id -> unit key
        self.hashes: dict[str, str] = {}            # absolute path -> SHA-256 of the bytes cooked
        self.parse_key = ""                         # the parse unit's key: the geometries' input

    def _add(self, kind: str, name: str, outcome: UnitOutcome, **where: object) -> None:
        reason = unit_reason(self.check.old, name, outcome.recipe, forced=self.forced)
        self.outputs.append(output_record(kind, name, outcome, reason, **where))  # type: ignore[arg-type]

    def parse(self, outcome: UnitOutcome) -> None:
        self.parse_key = outcome.key
        self.ctx.counts.add_origin("scene_parse", outcome.origin)
        self._add("unit", "parse", outcome)

    def texture(self, source_id: str, outcome: UnitOutcome, index: int) -> None:
        self.ctx.counts.add_origin("texture", outcome.origin)
        self.texture_keys[source_id] = outcome.key
        for name, digest in outcome.recipe.inputs:
            if name in self.display_paths:
                self.hashes[self.display_paths[name]] = digest
        self._add("texture", f"texture:{source_id}", outcome, index=index)

    def texture_input(self, source_id: str) -> tuple[str, str]:
        return (f"texture:{source_id}", self.texture_keys.get(source_id, ""))

    def geometry(self, key: AssetKey, vpath: str, outcome: UnitOutcome, buffers: tuple[int, int]) -> None:
        self.ctx.counts.add_origin("geometry", outcome.origin)
        self._add("asset", vpath, outcome, asset=key.raw.hex(), vpath=vpath, buffers=buffers)

    def asset(self, stage: str, key: AssetKey, vpath: str, inputs: list[tuple[str, str]]) -> None:
        """A material or the scene: rebuilt every time the model is (cheap), recorded
        as "unchanged" when its bytes equal the committed descriptor's."""
        recipe = Recipe(stage, ((self.model_name, self.model_sha), *inputs), {})
        origin = UNCHANGED if self.session.assets.was_unchanged(key) else COOKED
        self.ctx.counts.add_origin(stage, origin)
        self._add("asset", vpath, UnitOutcome(recipe, origin), asset=key.raw.hex(), vpath=vpath)


@dataclass
class _ModelResult:
    """What one model of a job produced (before the commit)."""

    ok: bool
    outputs: dict[str, int] = field(default_factory=dict)


class SceneImporter:
    """Importer for scene files (see the module docstring). A request may carry more
    models in its ``models`` option: they share one session, so the job commits once;
    a model that fails is rolled back to a savepoint and fails alone."""

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
        current = [path]  # the model each diagnostic is about (a batch moves it on)
        session = ctx.open_session(source_key=self.request.options.get("source_key"),
                                   diagnose=lambda s, c, m, f: ctx.diagnose(s, c, m, field_path=f,
                                                                            source_path=current[0]))
        if session is None:
            return ctx.make_report(success=False)
        self._current = current
        try:
            return self._run_models(ctx, session, session.io)
        finally:
            session.abort()  # no-op after a successful finalize

    def _models(self) -> list[tuple[str, dict[str, Any]]]:
        """(path, options) of every model of the request: its source, then ``models``."""
        options = {k: v for k, v in self.request.options.items() if v is not None and k != "models"}
        models = [(self.request.source_path, options)]
        for extra in self.request.options.get("models") or ():
            models.append((os.fspath(extra["path"]), {**options, **{k: v for k, v in extra.items()
                                                                    if k != "path" and v is not None}}))
        return models

    def _run_models(self, ctx: JobContext, session: ImportSession, io: SessionIO) -> ImportReport:
        """Each model in turn (savepoint, emit, roll back alone on failure), while the
        next ones are prepared and cook (see the module docstring and :data:`MODELS_AHEAD`)."""
        models = self._models()
        results = []
        pools = ctx.loop.pools
        parsing = Semaphore(1)  # one parse at a time per job (see _prepare)
        ahead = Lookahead(len(models), lambda i: self._prepare_safely(ctx, session, io, parsing, *models[i]),
                          _Prepared.weight, least=MODELS_AHEAD, most=MODELS_AHEAD_MAX,
                          budget=TEXTURES_AHEAD_PER_THREAD * (pools.cpu_size if pools else 1))
        try:
            for n, (path, _options) in enumerate(models):
                session.source_path = self._current[0] = path  # the model each diagnostic is about
                point = session.savepoint()
                try:
                    prepared = ahead.take(n)  # (never raises: _prepare_safely keeps errors for the turn)
                    try:
                        result = self._turn(ctx, session, prepared)
                    finally:
                        prepared.stop()
                except EmitError as exc:
                    session.diagnose(Severity.ERROR, "scene.emit_failed", str(exc))
                    result = _ModelResult(False)
                if not result.ok or session.has_errors:
                    result.ok = False
                    session.roll_back_to(point)  # this model fails alone
                results.append(result)
        finally:
            for prepared in ahead.close():  # models whose turn never came (a failure or a cancel)
                prepared.stop()
        if not any(r.ok for r in results):
            return ctx.make_report(success=False)
        ctx.report_progress(ImportPhase.WRITING, 0.0, PARSE_SHARE + WORK_SHARE + SCENE_SHARE)
        committed = session.finalize()
        ctx.report_progress(ImportPhase.WRITING, 1.0, 1.0)
        outputs: dict[str, int] = {}
        for (path, _options), result in zip(models, results):
            prefix = f"{path}:" if len(models) > 1 else ""
            outputs.update({prefix + k: v for k, v in result.outputs.items()})
        written = _written(session) if committed else {}
        return ctx.make_report(success=committed and all(r.ok for r in results), written=written,
                               outputs=outputs if committed else {})

    def _prepare_safely(self, ctx: JobContext, session: ImportSession, io: SessionIO, parsing: Semaphore,
                        path: str, options: dict[str, Any]) -> "_Prepared":
        """:meth:`_prepare` in its own greenlet: what it raises is kept for the model's
        turn (re-raised there, as if the model had been prepared at its turn)."""
        held = HeldReports(ctx)
        try:
            return self._prepare(ctx, held, session, io, parsing, path, options)
        except Exception as exc:  # noqa: BLE001 - re-raised at the model's turn
            return _Prepared(held, error=exc)

    def _turn(self, ctx: JobContext, session: ImportSession, prepared: "_Prepared") -> _ModelResult:
        """The model's turn: what its preparation said, then its emission into the session."""
        prepared.held.replay()
        if prepared.error is not None:
            raise prepared.error
        if prepared.result is not None:
            return prepared.result
        if prepared.check is not None and prepared.check.old is not None:
            return self._up_to_date(ctx, session, prepared.check.old, prepared.check)
        assert prepared.plan is not None
        return self._import(session, prepared.plan, prepared.job)

    def _prepare(self, ctx: JobContext, held: HeldReports, session: ImportSession, io: SessionIO,
                 parsing: Semaphore, path: str, options: dict[str, Any]) -> "_Prepared":
        """Check one model and, if stale, parse and plan it and start its cooks; nothing
        is emitted (that is the model's turn). Diagnostics and progress go to ``held``.
        ``parsing``: the job's models parse one at a time, waiting on a greenlet, not on
        a pool thread (the in-process backend serialises its loads anyway, and the
        isolated one would start a parser process per parse in flight: ~0.7 s of CPU
        each, more than a small model's whole cook)."""
        base: dict[str, Any] = {k: options[k] for k in ("quality", "preset", "roles", "name_prefix", "scene_name")
                                if k in options}
        check = io.blocking(partial(check_source, path, "scene", base, session.records,
                                    force=bool(options.get("force")), allowed=SCENE_SETTINGS_FILE_KEYS))
        if check.error or self._settings_problems(held, check, path):
            if check.error:
                held.diagnose(Severity.ERROR, "scene.bad_settings", check.error, source_path=path)
            ctx.counts.add("scene", "failed")
            return _Prepared(held, result=_ModelResult(False))
        if check.up_to_date and check.old is not None:
            return _Prepared(held, check=check)
        held.report_progress(ImportPhase.PARSING, 0.0, 0.0)
        deps = io.blocking(model_dependencies, check.path)
        check.pre.update(io.blocking(stat_files, [*deps.files, *deps.missing]))
        store = UnitStore(ctx.cache, root_texture_keys(session.records,
                                                       len(session.state.texture_table) // TEXTURE_DESC_SIZE),
                          force=bool(options.get("force")))
        cacheable = isinstance(self.backend, AssimpBackend) \
            and type(self.backend).parse_async is SceneBackend.parse_async
        try:
            # the parse reads the model and its buffers/.mtl; images are the texture units' inputs
            parse_inputs = [p for p in deps.files if not p.lower().endswith(IMAGE_EXTENSIONS)]
            with parsing:  # (with a farm, the parse waits on this greenlet, not on a pool thread)
                parsed, outcome, hashes = parse_unit_on_hub(ctx, self.backend, path, parse_inputs, store, cacheable)
        except SceneParseError as exc:
            held.diagnose(Severity.ERROR, "scene.parse_failed", f"cannot import {exc.path}: {exc.reason}",
                          source_path=path)
            ctx.counts.add("scene_parse", "failed")
            return _Prepared(held, result=_ModelResult(False))
        held.report_progress(ImportPhase.PARSING, 1.0, PARSE_SHARE)
        plan = ctx.run_blocking(make_plan, parsed, session.assets.key_for, {**options, **check.settings})
        display_paths = {job.display: os.path.abspath(job.path) for job in plan.textures if job.path}
        check.pre.update(io.blocking(stat_files, sorted(set(display_paths.values()))))
        book = _UnitBook(ctx, session, check, store, check.path, hashes.get(path, ""), display_paths)
        book.hashes.update({os.path.abspath(p): h for p, h in hashes.items()})
        book.parse(outcome)
        ctx.inputs.update(p for p, sig in check.pre.items() if not sig.missing)
        if plan.failed:
            return _Prepared(held, plan=plan)
        pools = ctx.loop.pools
        workers = pools.cpu_size if pools else None
        # textures are emitted in plan order (not as their cooks finish): the same bytes however timed
        pipeline = in_order(TexturePipeline(reader=ctx.reader, token=ctx.token, workers=workers, store=book.store),
                            f"textures of {book.model_name}")
        job = _Job(ctx, session, plan, pipeline, book)
        job.start(workers or 1)
        return _Prepared(held, plan=plan, job=job)

    def _settings_problems(self, held: HeldReports, check: SourceCheck, path: str) -> bool:
        settings = {k: v for k, v in check.settings.items() if k in ("quality", "preset", "roles")}
        problems = check_options(settings, SCENE_OPTIONS, importer="scene", source_path=path)
        for d in problems:
            origin = check.origins.get(d.field_path.removeprefix("options."), "the request")
            held.diagnose(d.severity, d.code, f"{d.message} (set in {origin})", field_path=d.field_path,
                          source_path=path)
        return bool(problems)

    @staticmethod
    def _up_to_date(ctx: JobContext, session: ImportSession, record: SourceRecord,
                    check: SourceCheck) -> _ModelResult:
        """Nothing the model's cook read has changed: nothing is parsed or cooked."""
        ctx.counts.add("scene", "up_to_date")
        ctx.inputs.update(d.path for d in record.deps if not d.missing and d.path != check.path)
        ctx.inputs.add(check.path)
        if check.refreshed is not None:
            session.refresh_source(check.refreshed)
        return _ModelResult(True, recorded_outputs(record))

    @staticmethod
    def _import(session: ImportSession, plan: ScenePlan, job: "_Job | None") -> _ModelResult:
        """Emit one planned model whose cooks :meth:`_prepare` started (``job``; None when
        the plan failed)."""
        forward(session, plan.diagnostics)
        if plan.failed or job is None:
            return _ModelResult(False)
        ctx, book = job.ctx, job.unit
        try:
            with Nursery(ctx.token) as nursery:
                nursery.start(job.stream_textures_and_materials)
                nursery.start(job.stream_geometry)
            if job.producer is not None:
                job.producer.get()
            ctx.report_progress(ImportPhase.SCENE, 0.0, PARSE_SHARE + WORK_SHARE)
            scene_key = emit_scene(session, plan, job.geometries)
            book.asset("scene", scene_key, plan.scene_vpath,
                       sorted((plan_vpath, job.geometry_keys[key]) for key, plan_vpath in
                              ((g.key, plan.vpath_of(AssetType.GEOMETRY, g.asset_name)) for g in plan.geometries)
                              if key in job.geometry_keys))
            session.record_source(book.check.path, source_record(book.check, hashes=dict(book.hashes),
                                                                 outputs=book.outputs))
        finally:
            job.stop()
        return _ModelResult(True, job.outputs)


@dataclass
class _Prepared:
    """One model, prepared before its turn (see ``SceneImporter._prepare``): a result
    decided already (``result``: it failed), or nothing to cook (``check``: up to date),
    or a plan whose cooks are running (``plan``, ``job``), or what the preparation
    raised (``error``). ``held``: its diagnostics and progress until the turn."""

    held: HeldReports
    result: _ModelResult | None = None
    check: SourceCheck | None = None
    plan: ScenePlan | None = None
    job: _Job | None = None
    error: Exception | None = None

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()

    def weight(self) -> int:
        """What this model holds while it waits for its turn, in textures: the texture
        cooks it started, and its meshes (parsed and packed) at MESH_BYTES_PER_TEXTURE."""
        if self.job is None or self.plan is None:
            return 0
        mesh_bytes = sum(a.nbytes for m in self.plan.parsed.meshes
                         for a in (m.positions, m.indices, m.normals, m.texcoords, m.tangents, m.bitangents, m.colors)
                         if a is not None)
        return len(self.plan.textures) + 2 * mesh_bytes // MESH_BYTES_PER_TEXTURE


def _written(session: ImportSession) -> dict[str, int]:
    """What the commit wrote: new table entries, and descriptors by type (unchanged ones aside)."""
    by_type = {AssetType.MATERIAL: "materials", AssetType.GEOMETRY: "geometries", AssetType.SCENE: "scenes"}
    written = {"textures": session.textures.new_count, "buffers": session.buffers.new_count,
               "materials": 0, "geometries": 0, "scenes": 0}
    for asset in session.assets.assets():
        written[by_type[AssetType(asset.asset_type)]] += 1
    return written


register_importer(SCENE_SUFFIXES, SceneImporter, name="scene")
