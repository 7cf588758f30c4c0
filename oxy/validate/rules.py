"""The rule book: every stable diagnostic code, its severity and what the engine does.

One place decides whether a finding is an **error** (the engine's runtime loader at
the reference commit rejects the file, the asset or the resource) or a **warning**
(the engine loads it and carries on: a dangling reference is skipped, a default is
used, a layout convention is ignored). :meth:`ValidationReport.add` takes the
severity from here, and the runtime loader (``oxy.runtime``) raises exactly for
errors and attaches warnings to the loaded object, so ``oxy validate`` and
:class:`~oxy.runtime.AssetLoader` agree on every input. ``docs/validation.md``
prints this table (a test keeps the two in step).

``strict`` (``oxy validate --strict``, ``validate_path(strict=True)``,
``LoaderConfig(strict=True)``) turns every warning into an error.

Plain data; safe from any thread.
"""
from __future__ import annotations

from dataclasses import dataclass

from oxy.validate.diagnostics import Severity

__all__ = ["RULES", "Rule", "rule", "severity_of", "rules_markdown"]


@dataclass(frozen=True)
class Rule:
    """``engine``: what the engine's runtime does with such content; ``sure``: False
    where FORMATS.md does not say and the choice is oxy's judgement."""

    code: str
    severity: Severity
    engine: str
    sure: bool = True


E, W = Severity.ERROR, Severity.WARNING

_RULES: tuple[Rule, ...] = (
    # ---- root confinement (oxy's own rule; the engine follows links)
    Rule("root.escape", E, "follows the link; oxy refuses any file of a root that resolves outside it"),
    Rule("root.unreadable", E, "fails to open the file"),
    Rule("root.unfinished_commit", W, "does not know oxy's commit journal; mounts the root if its sizes match"),
    # ---- PAK container
    Rule("pak.size", E, "rejects a file without a 256-byte header and footer"),
    Rule("pak.header", E, "rejects a bad header magic"),
    Rule("pak.header.version", E, "rejects any version but 4"),
    Rule("pak.footer", E, "rejects a bad footer magic"),
    Rule("pak.region.range", E, "fails reading past the end of the file"),
    Rule("pak.region.alignment", W, "follows offsets; 256-aligned regions are the pack tool's layout"),
    Rule("pak.table.entry_size", E, "throws invalid_argument unless 40 (textures) / 32 (buffers)"),
    Rule("pak.table.range", E, "fails reading past the end of the file"),
    Rule("pak.table.alignment", W, "follows offsets; 16-aligned tables are the pack tool's layout"),
    Rule("pak.audio.region.range", W, "creates texture and buffer tables only (FORMATS.md 3): never reads audio",
         sure=False),
    Rule("pak.audio.table.entry_size", W, "creates texture and buffer tables only: never checks the audio table",
         sure=False),
    Rule("pak.audio.table.range", W, "creates texture and buffer tables only: never reads the audio table",
         sure=False),
    Rule("pak.directory.size", W, "reads asset_count entries; directory_size is not used", sure=False),
    Rule("pak.directory.range", E, "fails reading past the end of the file"),
    Rule("pak.directory.entry_offset", W, "does not read entry_offset"),
    Rule("pak.directory.duplicate_key", E, "keys a map by AssetKey; oxy refuses the ambiguity", sure=False),
    Rule("pak.descriptor.range", E, "fails reading the descriptor past the end of the file"),
    Rule("pak.browse_index", W, "ignores a malformed browse index"),
    Rule("pak.crc32", E, "rejects a CRC mismatch (only with verify_content_hashes)"),
    # ---- loose index
    Rule("index.size", E, "rejects an index shorter than its 256-byte header"),
    Rule("index.header.magic", E, "rejects a bad magic"),
    Rule("index.header.version", E, "rejects any version but 1"),
    Rule("index.header.flags", E, "rejects unknown flags and missing HasVirtualPaths"),
    Rule("index.header.file_record_count", E, "rejects records without HasFileRecords"),
    Rule("index.header.file_record_size", E, "rejects a record size other than 64"),
    Rule("index.header.guid", E, "rejects an all-zero GUID"),
    Rule("index.header.asset_entry_size", E, "rejects an entry size other than 76"),
    Rule("index.strings.empty", E, "rejects an empty string table"),
    Rule("index.strings.offset", E, "rejects a string table inside the header"),
    Rule("index.strings.range", E, "rejects a string table past the end of the file"),
    Rule("index.strings.first_byte", E, "rejects a string table not starting with NUL"),
    Rule("index.assets.offset", E, "rejects asset entries overlapping the strings"),
    Rule("index.assets.range", E, "rejects asset entries past the end of the file"),
    Rule("index.records.offset", E, "rejects file records overlapping the assets"),
    Rule("index.records.range", E, "rejects file records past the end of the file"),
    Rule("index.string_offset", E, "rejects a string offset outside the table or without NUL"),
    Rule("index.asset.relpath", E, "rejects a descriptor path breaking the path rules"),
    Rule("index.asset.virtual_path", E, "rejects a virtual path breaking the path rules"),
    Rule("index.asset.duplicate", E, "rejects duplicate keys, virtual paths and path offsets"),
    Rule("index.record.kind", E, "rejects a file kind outside 1..4"),
    Rule("index.record.duplicate_kind", E, "rejects a second record of one kind"),
    Rule("index.record.relpath", E, "rejects a file path breaking the path rules"),
    Rule("index.record.pair", E, "rejects a table without its data file (or the reverse)"),
    Rule("mount.descriptor.missing", E, "rejects the mount when a descriptor file is missing"),
    Rule("mount.descriptor.size", E, "rejects the mount when a descriptor's size differs"),
    Rule("mount.descriptor.sha256", E, "rejects a digest mismatch (only with verify_content_hashes)"),
    Rule("mount.file.missing", E, "rejects the mount when a table or data file is missing"),
    Rule("mount.file.size", E, "rejects the mount when a file's size differs from its record"),
    Rule("mount.table.size", E, "rejects a table whose size is not a multiple of its entry size"),
    Rule("mount.table.count", E, "rejects a table of 2^32 entries or more"),
    # ---- textures (data::TextureResource)
    Rule("texture.size_bytes", E, "cannot read the payload header"),
    Rule("texture.data_range", E, "fails reading the payload outside its data"),
    Rule("texture.alignment", E, "rejects alignment != 256"),
    Rule("texture.data_offset.unaligned", W, "checks the alignment field, not the offset"),
    Rule("texture.width", E, "rejects width 0"),
    Rule("texture.array_layers", E, "rejects array_layers 0"),
    Rule("texture.mip_levels", E, "rejects mips outside 1..floor(log2(max dim))+1"),
    Rule("texture.shape", E, "rejects 1D with h/d != 1, 2D/cube with h 0 or d != 1, 3D with h or d 0"),
    Rule("texture.texture_type", W, "no check listed in FORMATS.md 4.3; the texture loads", sure=False),
    Rule("texture.format", W, "no check listed in FORMATS.md 4.3; the texture loads, sizes unknown to oxy",
         sure=False),
    Rule("texture.payload.magic", E, "rejects a payload without OTX1"),
    Rule("texture.payload.subresource_count", E, "rejects count != layers x mips"),
    Rule("texture.payload.total_payload_size", E, "rejects total_payload_size != size_bytes"),
    Rule("texture.payload.layouts_offset", E, "rejects layouts before byte 28"),
    Rule("texture.payload.data_offset", E, "rejects data before the end of the layouts"),
    Rule("texture.payload.layouts_range", E, "rejects layouts or data starting past the payload"),
    Rule("texture.payload.layout_range", E, "rejects a subresource outside the data section"),
    Rule("texture.payload.row_pitch", W, "follows the layout's pitch (a pitch below the row, or not 256-aligned "
         "under D3D12 packing, uploads garbage rows)", sure=False),
    Rule("texture.payload.layout_size", W, "follows the layout's size (one too small for its format's rows "
         "uploads past the subresource)", sure=False),
    Rule("texture.payload.layout_alignment", W, "follows the offset (D3D12 packing puts subresources at 512, "
         "tight at 4)", sure=False),
    Rule("texture.payload.content_hash", E, "rejects a hash mismatch (only with verify_content_hashes)"),
    Rule("texture.content_hash", E, "rejects a hash mismatch (only with verify_content_hashes)"),
    # ---- buffers (data::BufferResource)
    Rule("buffer.data_range", E, "fails reading the buffer outside its data"),
    Rule("buffer.kind", W, "no runtime check of the typed/structured/raw rule", sure=False),
    Rule("buffer.size_bytes", E, "rejects a structured buffer whose size is not a multiple of its stride",
         sure=False),
    Rule("buffer.content_hash", E, "rejects a hash mismatch (only with verify_content_hashes)"),
    # ---- asset descriptors
    Rule("asset.type", E, "has no loader for the type; the load fails"),
    Rule("asset.descriptor", E, "fails parsing the descriptor"),
    Rule("asset.header.asset_type", E, "rejects a header type that differs from the directory's"),
    Rule("asset.header.version", W, "does not check the per-asset version", sure=False),
    Rule("asset.descriptor_size", W, "reads from desc_offset; trailing bytes are not read"),
    Rule("asset.header.content_hash", E, "rejects a hash mismatch (only with verify_content_hashes)"),
    Rule("material.texture_index", W, "skips a texture that cannot be loaded (the slot keeps the fallback)"),
    Rule("geometry.lod_count", W, "publishes a geometry without meshes", sure=False),
    Rule("geometry.mesh_view_count", W, "logs an error and drops that mesh; oxy keeps it", sure=False),
    Rule("geometry.buffer_index", W, "skips a buffer that cannot be loaded; the mesh's buffer is null"),
    Rule("geometry.mesh_view_range", W, "does not check views against the buffers at load", sure=False),
    Rule("geometry.material_key", W, "uses MaterialAsset::CreateDefault() and logs a warning"),
    Rule("geometry.skinned", W, "loads skinned meshes; oxy has not verified their layout (FORMATS.md 8.2)"),
    Rule("scene.geometry_key", W, "skips a renderable geometry that is not found"),
)

RULES: dict[str, Rule] = {r.code: r for r in _RULES}


def rule(code: str) -> Rule:
    """The rule of ``code``; KeyError names an unregistered code (a programming error)."""
    try:
        return RULES[code]
    except KeyError:
        raise KeyError(f"diagnostic code {code!r} is not in oxy.validate.rules.RULES") from None


def severity_of(code: str) -> Severity:
    return rule(code).severity


def rules_markdown() -> str:
    """The rule table of docs/validation.md (code, severity, engine behaviour)."""
    lines = ["| code | severity | the engine | sure |", "|---|---|---|---|"]
    for r in _RULES:
        lines.append(f"| `{r.code}` | {r.severity.value} | {r.engine} | {'yes' if r.sure else 'judgement'} |")
    return "\n".join(lines)
