"""Standalone texture import: image files into a loose cooked root's texture table.

Request options (all optional): ``preset`` (albedo, normal, data, hdr, ui),
``quality`` / ``output`` / ``mips`` / ``perceptual`` / ``alpha_coverage`` overrides
(see :class:`~oxy.cook.texture.TextureSettings`), ``kind`` ("2d": every source is its
own texture; "cube": six faces +X -X +Y -Y +Z -Z, or one cross/strip image;
"array": the sources are the layers), ``sources`` (more files after
``source_path``) and ``source_key`` (16 bytes: the root's GUID when it is new).

A source that cannot be read or decoded fails alone with a diagnostic naming the
file and the reason; the other textures of the batch are still cooked and
committed, and the job reports ``success=False``. ``report.outputs`` maps each
source to its texture index.

Runs as an importer on the import hub (see ``oxy.importing.registry``).
"""
from __future__ import annotations


import gevent

from oxy.cook.texture import TextureCookError, settings_for
from oxy.hub import WriteOptions
from oxy.importing.registry import JobContext, register_importer
from oxy.importing.session import ImportSession
from oxy.importing.session_io import HubSessionIO, SessionIOError
from oxy.importing.root_state import RootStateError
from oxy.importing.texture_pipeline import TexturePipeline, TextureSource, TextureWorkItem
from oxy.importing.types import ImportPhase, ImportReport, ImportRequest, Severity

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tga", ".bmp", ".hdr"})
SETTING_OPTIONS = ("quality", "output", "mips", "perceptual", "alpha_coverage", "mip_filter")
TEXTURE_PHASE_SHARE = 0.9  # of the overall progress; writing takes the rest


def work_items(request: ImportRequest) -> list[TextureWorkItem]:
    """The pipeline items of a request (raises TextureCookError for bad options)."""
    options = dict(request.options)
    settings = settings_for(options.get("preset", "albedo"),
                            **{k: options[k] for k in SETTING_OPTIONS if k in options})
    paths = [request.source_path, *options.get("sources", ())]
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
