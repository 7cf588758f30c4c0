"""Decoding cooked content into plain, JSON-ready dicts (the model behind ``oxy inspect``).

Reads with the declarations of ``oxy.formats`` and stops at the first problem; a
FormatError propagates to the caller (the CLI turns it into exit code 3).

* A PAK is read by range (header, footer, tables, directory, descriptors, browse
  index), never whole: memory is bounded by its largest table or descriptor.
* A loose root's files are opened through :mod:`oxy.rootfs`: one that resolves
  outside the root (a symlink) is a FormatError naming it (``[root.escape]``).
* Hashes are lowercase hex strings without ``0x`` (``content_hash``, ``shader_hash``:
  16 digits; ``pak_crc32``: 8; GUIDs and SHA-256 digests: their bytes), asset keys
  their 8-4-4-4-12 text form (``docs/cli-json.md``).
* Every string in the model is :func:`~oxy.validate.printable` (undecodable bytes
  of a name written as ``\\xNN``), so printing it to a strict UTF-8 stream or as
  JSON never fails.

Safe from any thread.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from oxy.cli.jsonout import hex_int, hexify_hashes
from oxy.errors import FormatError
from oxy.formats import (AssetType, ComponentType, FileKind, Format, MeshType, TextureType, enum_name,
                         mesh_info, parse_descriptor, parse_index)
from oxy.formats.geometry import GeometryDescriptor
from oxy.formats.material import MaterialDescriptor
from oxy.formats.pak import (DIRECTORY_ENTRY_SIZE, FOOTER_FIELD_OFFSETS, PAK_FOOTER_SIZE, PAK_HEADER_SIZE,
                             PAK_VERSION, RESOURCE_KINDS, AssetDirectoryEntry, PakFooter, PakHeader,
                             parse_browse_index)
from oxy.formats.resources import BUFFER_DESC_DTYPE, TEXTURE_DESC_DTYPE
from oxy.formats.scene import SceneDescriptor
from oxy.formats.views import StructView
from oxy.rootfs import RootEscapeError, read_inside
from oxy.validate.diagnostics import printable
from oxy.validate.reader import FileReader, RangeReader

ASSET_TYPE_NAMES: dict[int, str] = {AssetType.MATERIAL: "material", AssetType.GEOMETRY: "geometry", AssetType.SCENE: "scene"}


def describe_path(path: str) -> dict[str, Any]:
    """Decode a ``.pak`` file or a loose cooked root (folder or its index file)."""
    if os.path.isdir(path):
        model = describe_loose(path)
    elif os.path.basename(path) == "container.index.bin":
        model = describe_loose(os.path.dirname(path) or ".")
    else:
        model = describe_pak(path)
    return hexify_hashes(_printable(model))


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)) if isinstance(k, str) else k: _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def describe_pak(path: str) -> dict[str, Any]:
    """The model of a PAK, read by range."""
    with FileReader.open(path) as reader:
        return _describe_pak(reader)


def _range(offset: int, length: int, size: int, path: str, at: int, field: str, empty_ok: bool = True) -> None:
    if (length or not empty_ok) and (offset > size or offset + length > size):
        raise FormatError(f"range {offset}+{length} ends past the end of the file ({size} bytes)", path, at, field)


def _resource_table(reader: RangeReader, footer: PakFooter, foot_at: int, table_field: str, region_field: str,
                    view: Any, dtype: np.dtype) -> np.ndarray:
    """One resource table's entries, after its entry size and its and its region's ranges."""
    path, size = reader.name, reader.size
    table, region = getattr(footer, table_field), getattr(footer, region_field)
    at = foot_at + FOOTER_FIELD_OFFSETS[table_field]
    rows = np.zeros(0, dtype)
    if table.count:
        if table.entry_size != view.SIZE:
            raise FormatError(f"entry_size {table.entry_size}, expected {view.SIZE}", path, at + 12,
                              f"footer.{table_field}.entry_size")
        _range(table.offset, table.count * view.SIZE, size, path, at, f"footer.{table_field}")
        rows = np.frombuffer(reader.read(table.offset, table.count * view.SIZE), dtype)
    _range(region.offset, region.size, size, path, foot_at + FOOTER_FIELD_OFFSETS[region_field],
           f"footer.{region_field}")
    return rows


def _describe_pak(reader: RangeReader) -> dict[str, Any]:
    path, size = reader.name, reader.size
    if size < PAK_HEADER_SIZE + PAK_FOOTER_SIZE:
        raise FormatError(f"file is {size} bytes; a PAK has a 256-byte header and footer", path, 0, "header")
    pak_header = PakHeader.parse(reader.read(0, PAK_HEADER_SIZE), 0, path=path, field="header")
    if pak_header.version != PAK_VERSION:
        raise FormatError(f"version {pak_header.version}, the runtime reads only {PAK_VERSION}", path, 8,
                          "header.version")
    foot_at = size - PAK_FOOTER_SIZE
    pak_footer = PakFooter.parse(reader.read(foot_at, PAK_FOOTER_SIZE), 0, path=path, field="footer")
    tables: dict[str, np.ndarray] = {}
    audio_error = None
    for kind, (table_field, region_field, view, dtype) in RESOURCE_KINDS.items():
        tables[kind] = np.zeros(0, dtype)
        try:
            tables[kind] = _resource_table(reader, pak_footer, foot_at, table_field, region_field, view, dtype)
        except FormatError as exc:
            if kind != "audio":
                raise
            audio_error = str(exc)  # the v4 runtime never reads audio: a warning in validate, a note here
    count = pak_footer.asset_count
    _range(pak_footer.directory_offset, count * DIRECTORY_ENTRY_SIZE, size, path, foot_at, "footer.directory_offset")
    directory = reader.read(pak_footer.directory_offset, count * DIRECTORY_ENTRY_SIZE) if count else b""
    browse, browse_error = None, None
    if pak_footer.browse_index_offset and pak_footer.browse_index_size:
        try:
            _range(pak_footer.browse_index_offset, pak_footer.browse_index_size, size, path, foot_at + 120,
                   "footer.browse_index_offset")
            blob = reader.read(pak_footer.browse_index_offset, pak_footer.browse_index_size)
            browse = parse_browse_index(blob, 0, len(blob), path)
        except FormatError as exc:
            browse_error = str(exc)
    vpaths = dict(browse or ())
    assets = []
    for i in range(count):
        at = pak_footer.directory_offset + i * DIRECTORY_ENTRY_SIZE
        entry = AssetDirectoryEntry.parse(directory, i * DIRECTORY_ENTRY_SIZE, path=path, field=f"directory[{i}]")
        _range(entry.desc_offset, entry.desc_size, size, path, at + 25, f"directory[{i}].desc_offset",
               empty_ok=False)
        blob = reader.read(entry.desc_offset, entry.desc_size)
        parsed = parse_descriptor(entry.asset_type, blob, path=path, base_offset=entry.desc_offset)
        assets.append(_asset(entry.asset_key, entry.asset_type, parsed, vpaths.get(entry.asset_key),
                             {"entry_offset": entry.entry_offset, "desc_offset": entry.desc_offset,
                              "desc_size": entry.desc_size}))
    header = pak_header.to_dict()
    header.pop("reserved")
    footer = pak_footer.to_dict()
    footer.pop("reserved")
    footer["pak_crc32"] = hex_int(pak_footer.pak_crc32, 32)
    return {"kind": "pak", "path": path, "size": size, "header": header, "footer": footer,
            "browse_index": None if browse is None else len(browse),
            "browse_index_error": browse_error, "audio_error": audio_error,
            "textures": [_texture(e) for e in tables["texture"]],
            "buffers": [_buffer(e) for e in tables["buffer"]], "assets": assets}


def _read_confined(root: str, relpath: str, *, named_by_index: bool = True) -> bytes:
    """A file of the root. One that the index names but that is missing (or a folder)
    is invalid content (FormatError, exit 3, as ``oxy validate`` says); other OSErrors
    are I/O errors (exit 2)."""
    try:
        return read_inside(root, relpath)
    except RootEscapeError as exc:
        raise FormatError(f"resolves to {exc.target}, outside the root; refusing to read it [root.escape]",
                          exc.path, None, "") from None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        if not named_by_index:
            raise
        raise FormatError(f"named by the index, but {exc.strerror or exc} [mount.file.missing]",
                          os.path.join(root, relpath), None, "") from None


def describe_loose(root: str) -> dict[str, Any]:
    """The model of a loose cooked root (every file read confined to the root)."""
    index_path = os.path.join(root, "container.index.bin")
    index = parse_index(_read_confined(root, "container.index.bin", named_by_index=False), path=index_path)
    tables = {}
    for kind, dtype in ((FileKind.TEXTURES_TABLE, TEXTURE_DESC_DTYPE), (FileKind.BUFFERS_TABLE, BUFFER_DESC_DTYPE)):
        record = index.file(kind)
        blob = _read_confined(root, record.relpath) if record is not None else b""
        tables[kind] = np.frombuffer(blob[:len(blob) - len(blob) % dtype.itemsize], dtype)
    assets = []
    for a in index.assets:
        blob = _read_confined(root, a.descriptor_relpath)
        parsed = parse_descriptor(a.asset_type, blob, path=a.descriptor_relpath)
        assets.append(_asset(a.key, a.asset_type, parsed, a.virtual_path,
                             {"descriptor_relpath": a.descriptor_relpath, "descriptor_size": a.descriptor_size,
                              "descriptor_sha256": a.descriptor_sha256.hex()}))
    header = index.header.to_dict() if index.header is not None else {}
    header.pop("reserved", None)
    return {"kind": "loose", "path": root, "header": header,
            "files": [{"kind": FileKind(f.kind).name.lower(), "relpath": f.relpath, "size": f.size}
                      for f in index.files],
            "textures": [_texture(e) for e in tables[FileKind.TEXTURES_TABLE]],
            "buffers": [_buffer(e) for e in tables[FileKind.BUFFERS_TABLE]], "assets": assets}


def _row(e: np.void) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in e.dtype.names or ():
        value = e[name]
        out[name] = value.tobytes().hex() if isinstance(value, np.ndarray) else int(value)
    out.pop("reserved", None)
    return out


def _texture(e: np.void) -> dict[str, Any]:
    out = _row(e)
    out["format_name"] = enum_name(Format, out["format"])
    out["texture_type_name"] = enum_name(TextureType, out["texture_type"])
    out["content_hash"] = hex_int(out["content_hash"], 64)
    return out


def _buffer(e: np.void) -> dict[str, Any]:
    out = _row(e)
    out["element_format_name"] = enum_name(Format, out["element_format"])
    out["content_hash"] = hex_int(out["content_hash"], 64)
    return out


def _asset(key: Any, asset_type: int, parsed: Any, vpath: str | None, location: dict) -> dict[str, Any]:
    return {"key": str(key), "type": ASSET_TYPE_NAMES.get(asset_type, f"unknown({asset_type})"),
            "name": parsed.desc.header.name, "virtual_path": vpath, **location,
            "descriptor": _descriptor(parsed)}


def _descriptor(parsed: Any) -> dict[str, Any]:
    if isinstance(parsed, MaterialDescriptor):
        return {**_clean(parsed.desc), "shaders": [_clean(s) for s in parsed.shaders]}
    if isinstance(parsed, GeometryDescriptor):
        return {**_clean(parsed.desc), "meshes": [_mesh(m) for m in parsed.meshes]}
    if isinstance(parsed, SceneDescriptor):
        return _scene(parsed)
    raise TypeError(type(parsed))


def _clean(view: StructView) -> dict[str, Any]:
    """to_dict() without reserved bytes, with the header hash in hex."""
    out = view.to_dict()
    for key in [k for k in out if k.startswith("reserved")]:
        del out[key]
    if isinstance(out.get("header"), dict):
        out["header"].pop("reserved", None)
        out["header"]["content_hash"] = hex_int(out["header"]["content_hash"], 64)
    return out


def _mesh(mesh: Any) -> dict[str, Any]:
    out = _clean(mesh.desc)
    info = mesh_info(mesh.desc)
    out["mesh_type_name"] = enum_name(MeshType, mesh.desc.mesh_type)
    out["info"] = _clean(info) if info is not None else mesh.desc.info.hex()
    out["submeshes"] = [{**_clean(s.desc), "views": [v.to_dict() for v in s.views]} for s in mesh.submeshes]
    if mesh.procedural_params:
        out["procedural_params"] = mesh.procedural_params.hex()
    return out


def _scene(scene: SceneDescriptor) -> dict[str, Any]:
    out = _clean(scene.desc)
    out["nodes"] = [{**_clean(n), "name": scene.string_at(n.scene_name_offset)} for n in scene.nodes]
    out["components"] = [{"type": enum_name(ComponentType, t.component_type), "count": len(t.records),
                          "records": [_clean(r) for r in t.records]} for t in scene.components]
    out["node_count"] = len(scene.nodes)
    out["environment"] = [{"system_type": r.system_type, "size": 8 + len(r.body)} for r in scene.environment]
    return out
