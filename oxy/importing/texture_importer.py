"""Standalone texture import: image files into a loose cooked root's texture table.

Request options (all optional, declared once in :data:`TEXTURE_OPTIONS` with their
types): ``preset`` (albedo, normal, data, hdr, ui), ``quality`` / ``output`` /
``mips`` / ``perceptual`` / ``alpha_coverage`` / ``mip_filter`` overrides (see
:class:`~oxy.cook.texture.TextureSettings`), ``kind`` ("2d": every source is its
own texture; "cube": six faces +X -X +Y -Y +Z -Z, or one cross/strip image;
"array": the sources are the layers), ``sources`` (a list of more files after
``source_path``) and ``source_key`` (16 bytes: the root's GUID when it is new).
An unknown key (a typo such as ``quailty``) or a wrongly typed value (``sources``
given as one string) fails the job before anything is read, with
``import.unknown_option`` / ``import.bad_option`` naming the key.

A source that cannot be read or decoded fails alone with a diagnostic naming the
file and the reason; the other textures of the batch are still cooked and
committed, and the job reports ``success=False``. ``report.outputs`` maps each
source to its texture index.

Runs as an importer on the import hub (see ``oxy.importing.registry``).
"""
from __future__ import annotations

import os

import gevent

from oxy.cook import bc7
from oxy.cook.mips import FILTERS
from oxy.cook.texture import OUTPUT_FORMATS, PRESETS, TextureCookError, settings_for
from oxy.hub import WriteOptions
from oxy.importing.registry import JobContext, register_importer
from oxy.importing.session import ImportSession
from oxy.importing.session_io import HubSessionIO, SessionIOError
from oxy.importing.root_state import RootStateError
from oxy.importing.texture_pipeline import TexturePipeline, TextureSource, TextureWorkItem
from oxy.importing.types import (SOURCE_KEY_OPTION, ImportDiagnostic, ImportPhase, ImportReport, ImportRequest,
                                 OptionSpec, Severity, check_options)
from oxy.importing.incremental import (SourceCheck, check_source, output_record, recorded_outputs, root_texture_keys,
                                       source_record, stat_files, unit_reason)
from oxy.importing.units import UnitStore
from oxy.build.records import RecordSet
from oxy.build.settings_files import SettingsFileCache
from oxy.formats.resources import TEXTURE_DESC_SIZE

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tga", ".bmp", ".hdr"})
SETTING_OPTIONS = ("quality", "output", "mips", "perceptual", "alpha_coverage", "mip_filter")
TEXTURE_KINDS = ("2d", "cube", "array")


def _unit_interval(value: float) -> str | None:
    return None if 0.0 < value < 1.0 else f"must be a cut-off strictly between 0 and 1, got {value!r}"


#: Every option the texture importer reads, with its type (the one declaration).
TEXTURE_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("preset", (str,), "texture preset", choices=tuple(PRESETS)),
    OptionSpec("quality", (str,), "BC7 effort", choices=bc7.QUALITIES),
    OptionSpec("output", (str,), "output format", choices=OUTPUT_FORMATS),
    OptionSpec("mips", (bool,), "a full mip chain (True) or level 0 only"),
    OptionSpec("perceptual", (bool,), "perceptual BC7 error metric"),
    OptionSpec("alpha_coverage", (float,), "alpha-test cut-off whose coverage the mips keep",
               check=_unit_interval),
    OptionSpec("mip_filter", (str,), "mip filter", choices=tuple(FILTERS)),
    OptionSpec("kind", (str,), "2d, cube or array", choices=TEXTURE_KINDS),
    OptionSpec("sources", (), "more source files after source_path", items=(str, os.PathLike)),
    OptionSpec("force", (bool,), "cook even when the build records say the source is up to date"),
    SOURCE_KEY_OPTION,
)
#: The options an ``oxy.toml`` (sidecar or folder rule) may set for an image.
SETTING_SPECS: tuple[OptionSpec, ...] = tuple(o for o in TEXTURE_OPTIONS if o.name in ("preset", *SETTING_OPTIONS)) \
    + (OptionSpec("kind", (str,), "2d, cube or array", choices=("2d", "cube", "array")),)
SETTINGS_FILE_KEYS = frozenset(o.name for o in SETTING_SPECS)


def option_problems(request: ImportRequest) -> list[ImportDiagnostic]:
    """The request's option errors against :data:`TEXTURE_OPTIONS` (empty when sound)."""
    return check_options(request.options, TEXTURE_OPTIONS, importer="texture", source_path=request.source_path)


TEXTURE_PHASE_SHARE = 0.9  # of the overall progress; writing takes the rest


def work_items(request: ImportRequest) -> list[TextureWorkItem]:
    """The pipeline items of a request whose options passed :func:`option_problems`
    (None values mean the default). Raises TextureCookError for bad settings."""
    options = {k: v for k, v in request.options.items() if v is not None}
    settings = settings_for(options.get("preset", "albedo"),
                            **{k: options[k] for k in SETTING_OPTIONS if k in options})
    paths = [request.source_path, *(os.fspath(p) for p in options.get("sources", ()))]
    kind = options.get("kind", "2d")
    sources = [TextureSource(p, path=p) for p in paths]
    if kind == "2d":
        return [TextureWorkItem(p, (s,), settings, "2d") for p, s in zip(paths, sources)]
    if kind in ("cube", "array"):
        return [TextureWorkItem(request.source_path, tuple(sources), settings, kind)]
    raise TextureCookError(f"unknown texture kind {kind!r} (2d, cube, array)")


class TextureImporter:
    """Importer for image files (see the module docstring)."""

    def __init__(self, request: ImportRequest) -> None:
        self.request = request

    def run(self, ctx: JobContext) -> ImportReport:
        problems = option_problems(self.request)
        for d in problems:
            ctx.diagnose(d.severity, d.code, d.message, field_path=d.field_path)
        if problems:
            return ctx.make_report(success=False)
        options = {k: v for k, v in self.request.options.items() if v is not None}
        kind = options.get("kind", "2d")
        paths = [self.request.source_path, *(os.fspath(p) for p in options.get("sources", ()))]
        io = HubSessionIO(ctx.writer(WriteOptions(truncate=False)))
        session = ImportSession(self.request.cooked_root, io, source_path=self.request.source_path,
                                source_key=options.get("source_key"))
        try:
            session.open()
        except (RootStateError, SessionIOError) as exc:
            ctx.diagnose(Severity.ERROR, "session.open_failed", str(exc))
            return ctx.make_report(success=False)
        try:
            return self._run_open(ctx, session, io, options, kind, paths)
        finally:
            session.abort()  # no-op after a successful finalize

    def _run_open(self, ctx: JobContext, session: ImportSession, io: HubSessionIO, options: dict,
                  kind: str, paths: list[str]) -> ImportReport:
        base = {k: options[k] for k in ("preset", *SETTING_OPTIONS) if k in options}
        base.setdefault("preset", "albedo")
        groups = [[p] for p in paths] if kind == "2d" else [paths]
        checks = io.blocking(_check_all, groups, base, kind, session.records, bool(options.get("force")))
        outputs: dict[str, int] = {}
        items: list[TextureWorkItem] = []
        pending: dict[str, SourceCheck] = {}
        failed = 0
        for group, check in zip(groups, checks):
            ctx.inputs.update(os.path.abspath(p) for p in group)
            item = self._item(ctx, group, check, kind)
            if check.up_to_date and check.old is not None:
                outputs.update(recorded_outputs(check.old))
                ctx.counts.add("texture", "up_to_date")
                if check.refreshed is not None:
                    session.refresh_source(check.refreshed)
            elif item is None:
                failed += 1
                ctx.counts.add("texture", "failed")
            else:
                items.append(item)
                pending[item.source_id] = check
        state = session.state
        store = UnitStore(ctx.cache, root_texture_keys(session.records, len(state.texture_table) // TEXTURE_DESC_SIZE),
                          force=bool(options.get("force")))
        pool = ctx.loop.pools
        pipeline = TexturePipeline(reader=ctx.reader, token=ctx.token, workers=pool.cpu_size if pool else None,
                                   store=store)
        producer = gevent.spawn(self._produce, pipeline, items)
        try:
            cooked = self._consume(ctx, pipeline, session, pending, len(items))
            producer.get()
            outputs.update(cooked)
            total = len(groups)
            ctx.report_progress(ImportPhase.WRITING, 0.0, TEXTURE_PHASE_SHARE, total, total)
            committed = session.finalize()
            ctx.report_progress(ImportPhase.WRITING, 1.0, 1.0, total, total)
        finally:
            producer.kill(block=False)
            pipeline.cancel_all()
        for d in session.diagnostics:
            ctx.diagnose(d.severity, d.code, d.message, field_path=d.field_path)
        written = {"textures": session.textures.new_count} if committed else {}
        return ctx.make_report(success=committed and not failed and len(cooked) == len(items), written=written,
                               outputs=outputs if committed else {})

    def _item(self, ctx: JobContext, group: list[str], check: SourceCheck, kind: str) -> TextureWorkItem | None:
        """The pipeline item of a stale source (None, with a diagnostic, when its
        settings cannot be used; also built for up-to-date ones, then unused)."""
        where = group[0]
        if check.error:
            ctx.diagnose(Severity.ERROR, "texture.bad_settings", check.error, source_path=where)
            return None
        settings_options = {k: v for k, v in check.settings.items()}
        problems = check_options(settings_options, SETTING_SPECS, importer="texture", source_path=where)
        for d in problems:
            origin = check.origins.get(d.field_path.removeprefix("options."), "the request")
            ctx.diagnose(d.severity, d.code, f"{d.message} (set in {origin})", source_path=where,
                         field_path=d.field_path)
        if problems:
            return None
        try:
            settings = settings_for(settings_options.get("preset", "albedo"),
                                    **{k: settings_options[k] for k in SETTING_OPTIONS if k in settings_options})
        except TextureCookError as exc:
            ctx.diagnose(Severity.ERROR, "texture.bad_options", str(exc), source_path=where)
            return None
        sources = tuple(TextureSource(p, path=p) for p in group)
        return TextureWorkItem(group[0], sources, settings, kind)

    @staticmethod
    def _produce(pipeline: TexturePipeline, items: list[TextureWorkItem]) -> None:
        for item in items:
            pipeline.submit(item)
        pipeline.close_input()

    @staticmethod
    def _consume(ctx: JobContext, pipeline: TexturePipeline, session: ImportSession,
                 pending: dict[str, SourceCheck], total: int) -> dict[str, int]:
        outputs: dict[str, int] = {}
        done = 0
        forced = bool(ctx.request.options.get("force"))
        while (result := pipeline.collect()) is not None:
            done += 1
            check = pending[result.source_id]
            if result.success and result.outcome is not None:
                if result.reused_index is not None:
                    index = result.reused_index
                else:
                    assert result.texture is not None
                    index = session.textures.emit(result.texture)
                outputs[result.source_id] = index
                outcome = result.outcome
                ctx.counts.add_origin("texture", outcome.origin)
                reason = unit_reason(check.old, result.source_id, outcome.recipe, forced=forced)
                hashes = {os.path.abspath(name): digest for name, digest in outcome.recipe.inputs}
                record = source_record(check, hashes=hashes, outputs=[
                    output_record("texture", result.source_id, outcome, reason, index=index)])
                session.record_source(check.path, record)
            else:
                ctx.counts.add("texture", "failed")
            for d in result.diagnostics:
                ctx.diagnose(d.severity, d.code, d.message, source_path=d.source_path)
            ctx.report_progress(ImportPhase.TEXTURES, done / max(1, total),
                                TEXTURE_PHASE_SHARE * done / max(1, total), done, total)
        return outputs


def _check_all(groups: list[list[str]], base: dict, kind: str, records: RecordSet, force: bool) -> list[SourceCheck]:
    """Blocking (the I/O pool): one :class:`SourceCheck` per texture; a cube or an
    array is one source whose faces are all recorded as its inputs."""
    cache = SettingsFileCache()
    checks = []
    for group in groups:
        check = check_source(group[0], "texture", {**base, "kind": kind}, records, force=force,
                             allowed=SETTINGS_FILE_KEYS, cache=cache)
        if not check.up_to_date and len(group) > 1:
            check.pre.update(stat_files(os.path.abspath(p) for p in group))
        checks.append(check)
    return checks


register_importer(IMAGE_SUFFIXES, TextureImporter, name="texture")
