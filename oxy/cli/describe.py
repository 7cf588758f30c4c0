"""Decoding cooked content into plain, JSON-ready dicts (the model behind ``oxy inspect``).

Reads with the strict readers of ``oxy.formats``; a FormatError propagates to the
caller (the CLI turns it into exit code 3). Safe from any thread.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from oxy.formats import (AssetType, ComponentType, FileKind, Format, MeshType, TextureType, enum_name,
                         mesh_info, parse_descriptor, parse_index, parse_pak)
from oxy.formats.geometry import GeometryDescriptor
from oxy.formats.material import MaterialDescriptor
from oxy.formats.resources import BUFFER_DESC_DTYPE, TEXTURE_DESC_DTYPE
from oxy.formats.scene import SceneDescriptor
from oxy.formats.views import StructView

ASSET_TYPE_NAMES: dict[int, str] = {AssetType.MATERIAL: "material", AssetType.GEOMETRY: "geometry", AssetType.SCENE: "scene"}


def describe_path(path: str) -> dict[str, Any]:
    """Decode a ``.pak`` file or a loose cooked root (folder or its index file)."""
    if os.path.isdir(path):
        return describe_loose(path)
    if os.path.basename(path) == "container.index.bin":
        return describe_loose(os.path.dirname(path) or ".")
    return describe_pak(path)


def describe_pak(path: str) -> dict[str, Any]:
    with open(path, "rb") as fh:
        data = fh.read()
    pak = parse_pak(data, path=path)
    vpaths = dict(pak.browse or ())
    assets = []
    for entry, blob in zip(pak.directory, pak.descriptors):
        parsed = parse_descriptor(entry.asset_type, blob, path=path, base_offset=entry.desc_offset)
        assets.append(_asset(entry.asset_key, entry.asset_type, parsed, vpaths.get(entry.asset_key),
                             {"entry_offset": entry.entry_offset, "desc_offset": entry.desc_offset,
                              "desc_size": entry.desc_size}))
    header = pak.header.to_dict()
    header.pop("reserved")
    footer = pak.footer.to_dict()
    footer.pop("reserved")
    footer["pak_crc32"] = f"{pak.footer.pak_crc32:#010x}"
    return {"kind": "pak", "path": path, "size": pak.size, "header": header, "footer": footer,
            "browse_index": None if pak.browse is None else len(pak.browse),
            "browse_index_error": pak.browse_error,
            "textures": [_texture(e) for e in pak.tables["texture"]],
            "buffers": [_buffer(e) for e in pak.tables["buffer"]], "assets": assets}


def describe_loose(root: str) -> dict[str, Any]:
    index_path = os.path.join(root, "container.index.bin")
    with open(index_path, "rb") as fh:
        index = parse_index(fh.read(), path=index_path)
    tables = {}
    for kind, dtype in ((FileKind.TEXTURES_TABLE, TEXTURE_DESC_DTYPE), (FileKind.BUFFERS_TABLE, BUFFER_DESC_DTYPE)):
        record = index.file(kind)
        blob = b""
        if record is not None:
            with open(os.path.join(root, record.relpath), "rb") as fh:
                blob = fh.read()
        tables[kind] = np.frombuffer(blob[:len(blob) - len(blob) % dtype.itemsize], dtype)
    assets = []
    for a in index.assets:
        with open(os.path.join(root, a.descriptor_relpath), "rb") as fh:
            blob = fh.read()
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
    out["content_hash"] = f"{out['content_hash']:#018x}"
    return out


def _buffer(e: np.void) -> dict[str, Any]:
    out = _row(e)
    out["element_format_name"] = enum_name(Format, out["element_format"])
    out["content_hash"] = f"{out['content_hash']:#018x}"
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
        out["header"]["content_hash"] = f"{out['header']['content_hash']:#018x}"
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
