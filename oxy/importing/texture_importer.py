"""Standalone texture import: image files into a loose cooked root's texture table.

Request options (all optional, declared once in :data:`TEXTURE_OPTIONS` with their
types): ``preset`` (albedo, normal, data, hdr, ui), ``quality`` / ``output`` /
``mips`` / ``perceptual`` / ``alpha_coverage`` / ``mip_filter`` / ``ignore_alpha`` overrides (see
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

Progress: a ``textures`` event when cooking starts (0 of N), then one as each
texture ends and, inside a long texture, as its BC7 strips are encoded
(``phase_fraction`` counts the finished textures plus the encoded share of those in
flight; ``items_done`` only finished ones). The pool threads' reports reach the hub
through :func:`oxy.cook.texture.watch_progress` and ``loop.post``.

Order: textures are appended to the root in the order of the sources, whatever
cook finishes first (:func:`in_order`, :mod:`oxy.importing.reorder`), so two cooks
of the same sources give byte-identical roots (any thread count, local or farm).

Runs as an importer on the import hub (see ``oxy.importing.registry``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import gevent

from oxy.cook import bc7
from oxy.cook.mips import FILTERS
from oxy.cook.texture import OUTPUT_FORMATS, PRESETS, TextureCookError, settings_for, watch_progress
from oxy.importing.registry import JobContext, register_importer
from oxy.importing.reorder import InOrder
from oxy.importing.session import ImportSession
from oxy.importing.session_io import SessionIO
from oxy.importing.texture_pipeline import TexturePipeline, TextureResult, TextureSource, TextureWorkItem
from oxy.importing.types import (SOURCE_KEY_OPTION, ImportDiagnostic, ImportPhase, ImportReport, ImportRequest,
                                 OptionSpec, Severity, check_options)
from oxy.importing.incremental import (SourceCheck, check_source, output_record, recorded_outputs, root_texture_keys,
                                       source_record, stat_files, unit_reason)
from oxy.importing.units import UnitOutcome, UnitStore
from oxy.build.records import RecordSet, SourceRecord
from oxy.build.settings_files import SettingsFileCache
from oxy.formats.resources import TEXTURE_DESC_SIZE

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tga", ".bmp", ".hdr", ".dds", ".ktx2"})
SETTING_OPTIONS = ("quality", "output", "mips", "perceptual", "alpha_coverage", "mip_filter", "ignore_alpha")
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
    OptionSpec("ignore_alpha", (bool,), "nobody reads the alpha (opaque): BC7 spends its bits on colour"),
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

OrderedTextures = InOrder[TextureWorkItem, TextureResult]


def in_order(pipeline: TexturePipeline, name: str = "") -> OrderedTextures:
    """``pipeline`` with its results handed out in submission order (see
    :mod:`oxy.importing.reorder`), so the order textures are appended to the root
    never depends on which cook finished first: two cooks of the same inputs give
    the same bytes whatever the thread count, local or on a farm. Held results
    weigh their cooked payload against the buffer's budget."""
    return InOrder(pipeline, item_id=lambda item: item.source_id, result_id=lambda result: result.source_id,
                   weight=lambda result: len(result.texture.payload) if result.texture is not None else 0,
                   name=name)


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
        session = ctx.open_session(source_key=options.get("source_key"))
        if session is None:
            return ctx.make_report(success=False)
        try:
            return self._run_open(ctx, session, session.io, options, kind, paths)
        finally:
            session.abort()  # no-op after a successful finalize

    def _run_open(self, ctx: JobContext, session: ImportSession, io: SessionIO, options: dict,
                  kind: str, paths: list[str]) -> ImportReport:
        groups = source_groups(paths, kind)
        checks = io.blocking(check_textures, groups, texture_base_settings(options), kind, session.records,
                             bool(options.get("force")))
        work = plan_textures(groups, checks, kind, session)
        for d in work.problems:
            ctx.diagnose(d.severity, d.code, d.message, source_path=d.source_path, field_path=d.field_path)
        for kind_name, what, n in work.count_updates():
            ctx.counts.add(kind_name, what, n)
        ctx.inputs.update(work.inputs)
        outputs = dict(work.outputs)
        items, pending = work.items, work.pending
        state = session.state
        store = UnitStore(ctx.cache, root_texture_keys(session.records, len(state.texture_table) // TEXTURE_DESC_SIZE),
                          force=bool(options.get("force")))
        pool = ctx.loop.pools
        pipeline = in_order(TexturePipeline(reader=ctx.reader, token=ctx.token,
                                            workers=pool.cpu_size if pool else None, store=store),
                            f"textures of {self.request.source_path}")
        producer = gevent.spawn(self._produce, pipeline, items)
        progress = TextureProgress(ctx, len(items))
        pipeline.on_arrival = lambda result: progress.finished(result.source_id)  # as cooks end, not in order
        try:
            with watch_progress((item.sources[0].name for item in items), progress.on_cook_thread):
                cooked = self._consume(ctx, pipeline, session, pending, progress)
            progress.close()
            producer.get()
            outputs.update(cooked)
            total = len(groups)
            ctx.report_progress(ImportPhase.WRITING, 0.0, TEXTURE_PHASE_SHARE, total, total)
            committed = session.finalize()
            ctx.report_progress(ImportPhase.WRITING, 1.0, 1.0, total, total)
        finally:
            progress.close()
            producer.kill(block=False)
            pipeline.cancel_all()
        for d in session.diagnostics:
            ctx.diagnose(d.severity, d.code, d.message, field_path=d.field_path)
        written = {"textures": session.textures.new_count} if committed else {}
        return ctx.make_report(success=committed and not work.failed and len(cooked) == len(items), written=written,
                               outputs=outputs if committed else {})

    @staticmethod
    def _produce(pipeline: OrderedTextures, items: list[TextureWorkItem]) -> None:
        for item in items:
            pipeline.submit(item)
        pipeline.close_input()

    @staticmethod
    def _consume(ctx: JobContext, pipeline: OrderedTextures, session: ImportSession,
                 pending: dict[str, SourceCheck], progress: TextureProgress) -> dict[str, int]:
        outputs: dict[str, int] = {}
        forced = bool(ctx.request.options.get("force"))
        progress.report()  # 0 of N: the job has started cooking
        while (result := pipeline.collect()) is not None:
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
                session.record_source(check.path, texture_record(check, result.source_id, outcome, index, forced))
            else:
                ctx.counts.add("texture", "failed")
            for d in result.diagnostics:
                ctx.diagnose(d.severity, d.code, d.message, source_path=d.source_path)
        return outputs


class TextureProgress:
    """The ``textures`` progress of one job: finished textures plus the encoded share of
    those in flight. :meth:`on_cook_thread` may be called from any thread (it posts to
    the hub); every other method runs on the import hub. After :meth:`close` nothing
    more is reported, so no event follows the job's end."""

    __slots__ = ("ctx", "total", "done", "partial", "ended", "open")

    def __init__(self, ctx: JobContext, total: int) -> None:
        self.ctx = ctx
        self.total = total
        self.done = 0
        self.partial: dict[str, float] = {}  # source id -> encoded fraction, for textures in flight
        self.ended: set[str] = set()
        self.open = True

    def on_cook_thread(self, name: str, done: int, total: int) -> None:
        if self.open and 0 < done < total:  # the end is reported by finished()
            self.ctx.loop.post(self._update, name, done / total)

    def _update(self, name: str, fraction: float) -> None:
        if self.open and name not in self.ended and fraction > self.partial.get(name, 0.0):
            self.partial[name] = fraction
            self.report()

    def finished(self, name: str) -> None:
        self.ended.add(name)
        self.partial.pop(name, None)
        self.done += 1
        self.report()

    def report(self) -> None:
        if not self.open:
            return
        fraction = min(1.0, (self.done + sum(self.partial.values())) / max(1, self.total))
        self.ctx.report_progress(ImportPhase.TEXTURES, fraction, TEXTURE_PHASE_SHARE * fraction, self.done,
                                 self.total)

    def close(self) -> None:
        self.open = False


def texture_base_settings(options: dict) -> dict:
    """The request's texture settings (the base that ``oxy.toml`` files override)."""
    base = {k: options[k] for k in ("preset", *SETTING_OPTIONS) if k in options and options[k] is not None}
    base.setdefault("preset", "albedo")
    return base


def source_groups(paths: list[str], kind: str) -> list[list[str]]:
    """One group per texture: each image for "2d"; all of them for a cube or an array."""
    return [[p] for p in paths] if kind == "2d" else [paths]


def check_textures(groups: list[list[str]], base: dict, kind: str, records: RecordSet,
                   force: bool) -> list[SourceCheck]:
    """Blocking (stats, small reads): one :class:`SourceCheck` per texture; a cube or an
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


@dataclass
class TextureWork:
    """What a texture job must do after its sources were checked (shared by the async
    importer and the synchronous facade)."""

    items: list[TextureWorkItem] = field(default_factory=list)
    pending: dict[str, SourceCheck] = field(default_factory=dict)   # source id -> its check
    outputs: dict[str, int] = field(default_factory=dict)           # up-to-date sources, from their records
    problems: list[ImportDiagnostic] = field(default_factory=list)
    inputs: set[str] = field(default_factory=set)
    up_to_date: int = 0
    failed: int = 0

    def count_updates(self) -> list[tuple[str, str, int]]:
        return [(k, w, n) for k, w, n in (("texture", "up_to_date", self.up_to_date),
                                          ("texture", "failed", self.failed)) if n]


def plan_textures(groups: list[list[str]], checks: list[SourceCheck], kind: str,
                  session: ImportSession) -> TextureWork:
    """Split checked sources into up to date (outputs from the records; moved stat
    signatures refreshed through ``session``), unusable (a diagnostic) and work items."""
    work = TextureWork()
    for group, check in zip(groups, checks):
        work.inputs.update(os.path.abspath(p) for p in group)
        if check.up_to_date and check.old is not None:
            work.outputs.update(recorded_outputs(check.old, group[0]))
            work.up_to_date += 1
            if check.refreshed is not None:
                session.refresh_source(check.refreshed)
            continue
        item, problems = _work_item(group, check, kind)
        work.problems += problems
        if item is None:
            work.failed += 1
        else:
            work.items.append(item)
            work.pending[item.source_id] = check
    return work


def _work_item(group: list[str], check: SourceCheck, kind: str) -> tuple[TextureWorkItem | None,
                                                                         list[ImportDiagnostic]]:
    """The pipeline item of a stale source, or None and why (its effective settings,
    from the request and the ``oxy.toml`` files, cannot be used)."""
    where = group[0]
    if check.error:
        return None, [ImportDiagnostic(Severity.ERROR, "texture.bad_settings", check.error, where)]
    problems = check_options(check.settings, SETTING_SPECS, importer="texture", source_path=where)
    if problems:
        return None, [ImportDiagnostic(d.severity, d.code, f"{d.message} (set in "
                                       f"{check.origins.get(d.field_path.removeprefix('options.'), 'the request')})",
                                       where, d.field_path) for d in problems]
    settings = check.settings
    try:
        cooked_settings = settings_for(settings.get("preset", "albedo"),
                                       **{k: settings[k] for k in SETTING_OPTIONS if k in settings})
    except TextureCookError as exc:
        return None, [ImportDiagnostic(Severity.ERROR, "texture.bad_options", str(exc), where)]
    return TextureWorkItem(group[0], tuple(TextureSource(p, path=p) for p in group), cooked_settings, kind), []


def texture_record(check: SourceCheck, source_id: str, outcome: UnitOutcome, index: int,
                   forced: bool) -> SourceRecord:
    """What the build records say of a cooked texture source."""
    reason = unit_reason(check.old, source_id, outcome.recipe, forced=forced)
    hashes = {os.path.abspath(name): digest for name, digest in outcome.recipe.inputs}
    return source_record(check, hashes=hashes, outputs=[output_record("texture", source_id, outcome, reason,
                                                                      index=index)])

register_importer(IMAGE_SUFFIXES, TextureImporter, name="texture")
