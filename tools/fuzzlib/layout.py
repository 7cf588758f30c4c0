"""Where every field of a seed lies: field maps derived from the construct declarations.

Field offsets are never copied by hand: :func:`struct_fields` walks a
``construct.Struct`` of ``oxy.formats`` (nested structs, arrays, adapters) and
returns one :class:`Field` per scalar. :func:`pak_layout` and :func:`loose_layout`
place those structs in a *pristine* seed (parsed with oxy's own readers, which is
fine because seeds are valid) so that mutations can aim at headers, tables and
descriptors.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import construct as c

from oxy.formats.enums import AssetType, MeshType
from oxy.formats.geometry import (GEOMETRY_DESC_SIZE, MESH_DESC_SIZE, MESH_VIEW_DESC_SIZE, SUBMESH_DESC_SIZE,
                                  GeometryAssetDescStruct, MeshDescStruct, MeshViewDescStruct,
                                  ProceduralMeshInfoStruct, SkinnedMeshInfoStruct, StandardMeshInfoStruct,
                                  SubMeshDescStruct, parse_geometry)
from oxy.formats.loose import (ASSET_ENTRY_SIZE, FILE_RECORD_SIZE, AssetEntryStruct, FileRecordStruct,
                               IndexHeaderStruct, parse_index)
from oxy.formats.material import (MATERIAL_DESC_SIZE, SHADER_REFERENCE_SIZE, MaterialAssetDescStruct,
                                  ShaderReferenceDescStruct, parse_material)
from oxy.formats.pak import (BROWSE_ENTRY_SIZE, BROWSE_HEADER_SIZE, DIRECTORY_ENTRY_SIZE, PAK_FOOTER_SIZE,
                             AssetDirectoryEntryStruct, PakBrowseIndexEntryStruct, PakBrowseIndexHeaderStruct,
                             PakFooterStruct, PakHeaderStruct, parse_pak)
from oxy.formats.resources import (SUBRESOURCE_LAYOUT_SIZE, BufferResourceDescStruct, SubresourceLayoutStruct,
                                   TexturePayloadHeaderStruct, TextureResourceDescStruct, TexturePayloadHeader,
                                   TextureResourceDesc, BufferResourceDesc)
from oxy.formats.scene import (COMPONENT_DIR_ENTRY_SIZE, COMPONENT_RECORDS, EnvironmentHeaderStruct,
                               NodeRecordStruct, SceneAssetDescStruct, SceneComponentTableDesc,
                               SceneComponentTableDescStruct)

#: construct FormatField codes -> (kind). Unsigned ints are the main target.
_FMT_KIND = {"B": "u", "H": "u", "I": "u", "L": "u", "Q": "u", "b": "i", "h": "i", "i": "i", "l": "i",
             "q": "i", "f": "f", "d": "f", "e": "f"}


@dataclass(frozen=True)
class Field:
    """One scalar (or byte string) of a struct placed in a file."""

    path: str    # e.g. "footer.texture_table.count"
    offset: int  # absolute offset in its file
    size: int
    kind: str    # "u" unsigned int, "i" signed, "f" float, "bytes", "key", "name", "magic", "reserved"


@dataclass(frozen=True)
class Chunk:
    """A whole record (a directory entry, a table entry, a descriptor ...) for duplication."""

    label: str
    offset: int
    size: int


@dataclass
class FileLayout:
    """Fields and chunks of one file of a seed."""

    fields: list[Field] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)

    def add(self, struct: c.Construct, offset: int, label: str) -> None:
        self.fields += struct_fields(struct, offset, label)
        self.chunks.append(Chunk(label, offset, struct.sizeof()))


def struct_fields(con: c.Construct, offset: int, path: str) -> list[Field]:
    """Every scalar field of ``con`` placed at ``offset`` (walks the declaration)."""
    kind_hint = ""
    while True:
        if isinstance(con, c.Renamed):
            con = con.subcon
        elif isinstance(con, c.Const):
            return [Field(path, offset, con.sizeof(), "magic")]
        elif isinstance(con, c.Default):
            return [Field(path, offset, con.sizeof(), "reserved")]
        elif isinstance(con, c.Adapter):
            name = type(con).__name__
            kind_hint = "key" if "AssetKey" in name else "name" if "CName" in name else kind_hint
            con = con.subcon
        else:
            break
    if isinstance(con, c.Struct):
        out: list[Field] = []
        at = offset
        for sub in con.subcons:
            out += struct_fields(sub, at, f"{path}.{sub.name}" if sub.name else path)
            at += sub.sizeof()
        return out
    if isinstance(con, c.Array):
        size = con.subcon.sizeof()
        out = []
        for i in range(con.count):
            out += struct_fields(con.subcon, offset + i * size, f"{path}[{i}]")
        return out
    if isinstance(con, c.FormatField):
        return [Field(path, offset, con.sizeof(), _FMT_KIND.get(con.fmtstr[-1], "u"))]
    return [Field(path, offset, con.sizeof(), kind_hint or "bytes")]


def descriptor_layout(out: FileLayout, asset_type: int, blob: bytes, base: int, label: str) -> None:
    """Place the structs of one descriptor (``blob`` starts at ``base`` in its file)."""
    out.chunks.append(Chunk(label, base, len(blob)))
    if asset_type == AssetType.MATERIAL:
        m = parse_material(blob)
        out.add(MaterialAssetDescStruct, base, f"{label}.material")
        for i in range(len(m.shaders)):
            out.add(ShaderReferenceDescStruct, base + MATERIAL_DESC_SIZE + i * SHADER_REFERENCE_SIZE,
                    f"{label}.shaders[{i}]")
    elif asset_type == AssetType.GEOMETRY:
        g = parse_geometry(blob)
        out.add(GeometryAssetDescStruct, base, f"{label}.geometry")
        pos = base + GEOMETRY_DESC_SIZE
        for m, mesh in enumerate(g.meshes):
            mlabel = f"{label}.meshes[{m}]"
            out.add(MeshDescStruct, pos, mlabel)
            info = {MeshType.STANDARD: StandardMeshInfoStruct, MeshType.SKINNED: SkinnedMeshInfoStruct,
                    MeshType.PROCEDURAL: ProceduralMeshInfoStruct}.get(mesh.desc.mesh_type)
            if info is not None:
                # The union's offset inside MeshDesc comes from the declaration too.
                info_at = pos + _member_offset(MeshDescStruct, "info")
                out.fields += struct_fields(info, info_at, f"{mlabel}.info")
            pos += MESH_DESC_SIZE + len(mesh.procedural_params)
            for s, sub in enumerate(mesh.submeshes):
                out.add(SubMeshDescStruct, pos, f"{mlabel}.submeshes[{s}]")
                pos += SUBMESH_DESC_SIZE
                for v in range(len(sub.views)):
                    out.add(MeshViewDescStruct, pos, f"{mlabel}.submeshes[{s}].views[{v}]")
                    pos += MESH_VIEW_DESC_SIZE
    elif asset_type == AssetType.SCENE:
        _scene_layout(out, blob, base, label)


def _scene_layout(out: FileLayout, blob: bytes, base: int, label: str) -> None:
    from oxy.formats.scene import SceneAssetDesc

    d = SceneAssetDesc.parse(blob)
    out.add(SceneAssetDescStruct, base, f"{label}.scene")
    for i in range(min(d.nodes.count, 64)):
        out.add(NodeRecordStruct, base + d.nodes.offset + i * NodeRecordStruct.sizeof(), f"{label}.nodes[{i}]")
    end = d.nodes.offset + d.nodes.count * NodeRecordStruct.sizeof()
    end = max(end, d.scene_strings.offset + d.scene_strings.size)
    if d.scene_strings.size:
        out.chunks.append(Chunk(f"{label}.strings", base + d.scene_strings.offset, d.scene_strings.size))
    for i in range(d.component_table_count):
        at = d.component_table_directory_offset + i * COMPONENT_DIR_ENTRY_SIZE
        out.add(SceneComponentTableDescStruct, base + at, f"{label}.components[{i}]")
        end = max(end, at + COMPONENT_DIR_ENTRY_SIZE)
        t = SceneComponentTableDesc.parse(blob, at)
        record = COMPONENT_RECORDS.get(t.component_type)
        if record is not None:
            for r in range(min(t.count, 16)):
                out.add(record.STRUCT, base + t.offset + r * t.entry_size, f"{label}.components[{i}].records[{r}]")
        end = max(end, t.offset + t.count * t.entry_size)
    if end + EnvironmentHeaderStruct.sizeof() <= len(blob):
        out.add(EnvironmentHeaderStruct, base + end, f"{label}.environment")


def _member_offset(struct: c.Struct, name: str) -> int:
    at = 0
    for sub in struct.subcons:
        if sub.name == name:
            return at
        at += sub.sizeof()
    raise KeyError(name)


def texture_payload_layout(out: FileLayout, data: bytes, at: int, label: str) -> None:
    out.add(TexturePayloadHeaderStruct, at, f"{label}.payload")
    h = TexturePayloadHeader.parse(data, at)
    for i in range(min(h.subresource_count, 16)):
        out.add(SubresourceLayoutStruct, at + h.layouts_offset_bytes + i * SUBRESOURCE_LAYOUT_SIZE,
                f"{label}.payload.layouts[{i}]")


def pak_layout(data: bytes) -> FileLayout:
    """Fields and chunks of a (valid) PAK."""
    pak = parse_pak(data)
    out = FileLayout()
    out.add(PakHeaderStruct, 0, "header")
    foot_at = len(data) - PAK_FOOTER_SIZE
    out.add(PakFooterStruct, foot_at, "footer")
    f = pak.footer
    for i, entry in enumerate(pak.directory):
        at = f.directory_offset + i * DIRECTORY_ENTRY_SIZE
        out.add(AssetDirectoryEntryStruct, at, f"directory[{i}]")
        descriptor_layout(out, entry.asset_type, pak.descriptors[i], entry.desc_offset, f"descriptor[{i}]")
    for kind, struct, size in (("texture", TextureResourceDescStruct, TextureResourceDescStruct.sizeof()),
                               ("buffer", BufferResourceDescStruct, BufferResourceDescStruct.sizeof())):
        table = getattr(f, f"{kind}_table")
        for i in range(table.count):
            out.add(struct, table.offset + i * size, f"{kind}s[{i}]")
            if kind == "texture":
                texture_payload_layout(out, data, int(pak.tables["texture"][i]["data_offset"]), f"textures[{i}]")
            else:
                row = pak.tables["buffer"][i]
                out.chunks.append(Chunk(f"buffers[{i}].data", int(row["data_offset"]), int(row["size_bytes"])))
    if f.browse_index_offset and f.browse_index_size:
        out.add(PakBrowseIndexHeaderStruct, f.browse_index_offset, "browse.header")
        for i in range(len(pak.browse or ())):
            out.add(PakBrowseIndexEntryStruct, f.browse_index_offset + BROWSE_HEADER_SIZE + i * BROWSE_ENTRY_SIZE,
                    f"browse.entries[{i}]")
    return out


def loose_layout(files: dict[str, bytes]) -> dict[str, FileLayout]:
    """Fields and chunks of every file of a (valid) loose root, by relpath."""
    from oxy.formats.enums import FileKind

    out: dict[str, FileLayout] = {rel: FileLayout() for rel in files}
    index_bytes = files["container.index.bin"]
    index = parse_index(index_bytes)
    h = index.header
    assert h is not None
    lay = out["container.index.bin"]
    lay.add(IndexHeaderStruct, 0, "index.header")
    lay.chunks.append(Chunk("index.strings", h.string_table_offset, h.string_table_size))
    for i in range(h.asset_count):
        lay.add(AssetEntryStruct, h.asset_entries_offset + i * ASSET_ENTRY_SIZE, f"index.assets[{i}]")
    for i in range(h.file_record_count):
        lay.add(FileRecordStruct, h.file_records_offset + i * FILE_RECORD_SIZE, f"index.files[{i}]")
    for a in index.assets:
        if a.descriptor_relpath in files:
            descriptor_layout(out[a.descriptor_relpath], a.asset_type, files[a.descriptor_relpath], 0, "descriptor")
    by_kind = {f.kind: f.relpath for f in index.files}
    for table_kind, data_kind, struct in ((FileKind.TEXTURES_TABLE, FileKind.TEXTURES_DATA, TextureResourceDescStruct),
                                          (FileKind.BUFFERS_TABLE, FileKind.BUFFERS_DATA, BufferResourceDescStruct)):
        t_rel, d_rel = by_kind.get(table_kind), by_kind.get(data_kind)
        if t_rel is None or d_rel is None:
            continue
        size = struct.sizeof()
        name = "textures" if table_kind == FileKind.TEXTURES_TABLE else "buffers"
        table = files[t_rel]
        for i in range(len(table) // size):
            out[t_rel].add(struct, i * size, f"{name}[{i}]")
            view = (TextureResourceDesc if name == "textures" else BufferResourceDesc).parse(table, i * size)
            offset, length = view.data_offset, view.size_bytes
            if name == "textures":
                texture_payload_layout(out[d_rel], files[d_rel], offset, f"textures[{i}]")
            else:
                out[d_rel].chunks.append(Chunk(f"buffers[{i}].data", offset, length))
    return out
