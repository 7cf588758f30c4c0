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
    SOURCE_KEY_OPTION,
)


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
        try:
            items = work_items(self.request)
        except TextureCookError as exc:
            ctx.diagnose(Severity.ERROR, "texture.bad_options", str(exc))
            return ctx.make_report(success=False)
        io = HubSessionIO(ctx.writer(WriteOptions(truncate=False)))
        session = ImportSession(self.request.cooked_root, io, source_path=self.request.source_path,
                                source_key=self.request.options.get("source_key"))
        try:
            session.open()
        except (RootStateError, SessionIOError) as exc:
            ctx.diagnose(Severity.ERROR, "session.open_failed", str(exc))
            return ctx.make_report(success=False)
        pool = ctx.loop.pools
        pipeline = TexturePipeline(reader=ctx.reader, token=ctx.token, workers=pool.cpu_size if pool else None)
        producer = gevent.spawn(self._produce, pipeline, items)
        try:
            outputs = self._consume(ctx, pipeline, session, len(items))
            producer.get()
            ctx.report_progress(ImportPhase.WRITING, 0.0, TEXTURE_PHASE_SHARE, len(items), len(items))
            committed = session.finalize()
            ctx.report_progress(ImportPhase.WRITING, 1.0, 1.0, len(items), len(items))
        finally:
            producer.kill(block=False)
            pipeline.cancel_all()
            session.abort()  # no-op after a successful finalize
        for d in session.diagnostics:
            ctx.diagnose(d.severity, d.code, d.message, field_path=d.field_path)
        written = {"textures": session.textures.new_count} if committed else {}
        return ctx.make_report(success=committed and len(outputs) == len(items), written=written,
                               outputs=outputs if committed else {})

    @staticmethod
    def _produce(pipeline: TexturePipeline, items: list[TextureWorkItem]) -> None:
        for item in items:
            pipeline.submit(item)
        pipeline.close_input()

    @staticmethod
    def _consume(ctx: JobContext, pipeline: TexturePipeline, session: ImportSession, total: int) -> dict[str, int]:
        outputs: dict[str, int] = {}
        done = 0
        while (result := pipeline.collect()) is not None:
            done += 1
            if result.success and result.texture is not None:
                outputs[result.source_id] = session.textures.emit(result.texture)
            for d in result.diagnostics:
                ctx.diagnose(d.severity, d.code, d.message, source_path=d.source_path)
            ctx.report_progress(ImportPhase.TEXTURES, done / total, TEXTURE_PHASE_SHARE * done / total, done, total)
        return outputs


register_importer(IMAGE_SUFFIXES, TextureImporter, name="texture")
