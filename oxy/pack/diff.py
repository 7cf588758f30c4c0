"""Comparing two cooked contents (PAKs or loose roots) by what they mean.

Each asset becomes a plain model: its decoded descriptor fields (header content
hash left out, since it follows from the fields), its virtual path, and in
place of every texture or buffer index the *resource* it names (table fields
except ``data_offset``, and the payload's SHA-256). So a loose root and the
compacted PAK packed from it compare equal, although offsets, indices, table
order and stale data differ. Pure functions: safe from any thread.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from oxy.formats import AssetKey, AssetType, mesh_info, parse_geometry, parse_material, parse_scene
from oxy.jsonhex import hexify_hashes
from oxy.formats.material import TEXTURE_SLOTS
from oxy.pack.compact import MESH_INFO_BUFFER_FIELDS
from oxy.pack.content import Content, ContentAsset, Resource

__all__ = ["ABSENT", "AssetRef", "ContentDiff", "FieldChange", "asset_model", "diff_content"]

_BUFFER_FIELD_NAMES = {0: "vertex_buffer", 4: "index_buffer", 8: "joint_index_buffer",
                       12: "joint_weight_buffer", 16: "inverse_bind_buffer", 20: "joint_remap_buffer"}


class _Absent:
    """A field one side does not have (printed ``'<absent>'``; left out of JSON)."""

    def __repr__(self) -> str:
        return "'<absent>'"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class AssetRef:
    """An asset present on one side only."""

    key: AssetKey
    virtual_path: str | None
    type: str

    def label(self) -> str:
        return f"{self.key} ({self.virtual_path})" if self.virtual_path else str(self.key)

    def to_dict(self) -> dict[str, Any]:
        return {"key": str(self.key), "virtual_path": self.virtual_path, "type": self.type}


@dataclass(frozen=True)
class FieldChange:
    """One field of an asset's model that differs: ``field`` is its path in the model
    (``desc.roughness``, ``meshes[0].info.vertex_buffer.payload_sha256``); ``a`` / ``b``
    the values (:data:`ABSENT` when that side has no such field)."""

    key: AssetKey
    virtual_path: str | None
    field: str
    a: Any
    b: Any

    def line(self) -> str:
        label = f"{self.key} ({self.virtual_path})" if self.virtual_path else str(self.key)
        return f"{label}: {self.field}: {_short(self.a)} -> {_short(self.b)}"

    def to_dict(self) -> dict[str, Any]:
        """``key``, ``virtual_path`` (A's), ``field``, and ``a`` / ``b`` as JSON values
        (hash integers as hex strings); a side without the field has no ``a`` / ``b``."""
        name = self.field.rsplit(".", 1)[-1].split("[", 1)[0]
        out: dict[str, Any] = {"key": str(self.key), "virtual_path": self.virtual_path, "field": self.field}
        for side, value in (("a", self.a), ("b", self.b)):
            if value is not ABSENT:
                out[side] = hexify_hashes(value, name)
        return out


@dataclass
class ContentDiff:
    """Differences between A and B: assets on one side only, and changed fields.
    ``only_in_a``, ``only_in_b`` and ``changed`` are the text lines (``key (virtual
    path): what``); :meth:`to_dict` the structured form."""

    a: str
    b: str
    a_only: list[AssetRef] = field(default_factory=list)
    b_only: list[AssetRef] = field(default_factory=list)
    changes: list[FieldChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # informational, not differences
    sides: dict[str, dict[str, Any]] = field(default_factory=dict)  # "a"/"b": kind and counts

    @property
    def only_in_a(self) -> list[str]:
        return [r.label() for r in self.a_only]

    @property
    def only_in_b(self) -> list[str]:
        return [r.label() for r in self.b_only]

    @property
    def changed(self) -> list[str]:
        return [c.line() for c in self.changes]

    @property
    def identical(self) -> bool:
        return not (self.a_only or self.b_only or self.changes)

    def lines(self) -> list[str]:
        return ([f"only in A: {x}" for x in self.only_in_a] + [f"only in B: {x}" for x in self.only_in_b]
                + [f"changed: {x}" for x in self.changed])

    def to_dict(self) -> dict[str, Any]:
        """The payload of ``oxy diff --json`` (``docs/schemas/oxy.diff.1.json``)."""
        return {"a": self.a, "b": self.b, "identical": self.identical,
                "only_in_a": [r.to_dict() for r in self.a_only], "only_in_b": [r.to_dict() for r in self.b_only],
                "changed": [c.to_dict() for c in self.changes], "sides": self.sides, "notes": self.notes}


def _resource_model(table: list[Resource], index: int) -> Any:
    if index >= len(table):
        return f"<missing #{index}>"
    r = table[index]
    fields = r.entry.to_dict()
    fields.pop("data_offset", None)
    fields["payload_sha256"] = hashlib.sha256(r.payload).hexdigest()
    return fields


def _header(desc: Any) -> dict[str, Any]:
    h = desc.header.to_dict()
    h.pop("content_hash", None)
    return h


def asset_model(asset: ContentAsset, content: Content) -> dict[str, Any]:
    """The comparable model of one asset (see the module docstring)."""
    model: dict[str, Any] = {"type": AssetType(asset.asset_type).name.lower(), "virtual_path": asset.virtual_path}
    if asset.asset_type == AssetType.MATERIAL:
        m = parse_material(asset.descriptor, path=content.path)
        d = m.desc.to_dict()
        d["header"] = _header(m.desc)
        for slot in TEXTURE_SLOTS:
            index = d[f"{slot}_texture"]
            d[f"{slot}_texture"] = "fallback" if index == 0 else _resource_model(content.textures, index)
        model.update(desc=d, shaders=[s.to_dict() for s in m.shaders])
    elif asset.asset_type == AssetType.GEOMETRY:
        g = parse_geometry(asset.descriptor, path=content.path)
        d = g.desc.to_dict()
        d["header"] = _header(g.desc)
        meshes = []
        for mesh in g.meshes:
            info = mesh_info(mesh.desc)
            info_d = info.to_dict() if info is not None else mesh.desc.info.hex()
            for off in MESH_INFO_BUFFER_FIELDS.get(mesh.desc.mesh_type, ()):
                name = _BUFFER_FIELD_NAMES[off]
                info_d[name] = _resource_model(content.buffers, info_d[name])
            mesh_d = mesh.desc.to_dict()
            mesh_d["info"] = info_d
            meshes.append({"desc": mesh_d, "params": mesh.procedural_params.hex(),
                           "submeshes": [{"desc": s.desc.to_dict(), "views": [v.to_dict() for v in s.views]}
                                         for s in mesh.submeshes]})
        model.update(desc=d, meshes=meshes)
    elif asset.asset_type == AssetType.SCENE:
        s = parse_scene(asset.descriptor, path=content.path)
        d = s.desc.to_dict()
        d["header"] = _header(s.desc)
        model.update(desc=d, nodes=[n.to_dict() for n in s.nodes],
                     names=[s.string_at(n.scene_name_offset) for n in s.nodes],
                     components=[{"type": t.component_type, "records": [r.to_dict() for r in t.records],
                                  "raw": t.raw.hex()} for t in s.components],
                     environment=[{"type": e.system_type, "body": e.body.hex()} for e in s.environment])
    else:
        model["descriptor_sha256"] = hashlib.sha256(asset.descriptor).hexdigest()
    return model


def _walk(a: Any, b: Any, path: str, out: list[tuple[str, Any, Any]], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            _walk(a.get(k, ABSENT), b.get(k, ABSENT), f"{path}.{k}" if path else str(k), out, limit)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _walk(x, y, f"{path}[{i}]", out, limit)
    elif a is ABSENT or b is ABSENT or a != b:
        out.append((path, a, b))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _ref(key: AssetKey, asset: ContentAsset) -> AssetRef:
    try:
        kind = AssetType(asset.asset_type).name.lower()
    except ValueError:
        kind = f"unknown({asset.asset_type})"
    return AssetRef(key, asset.virtual_path, kind)


def diff_content(a: Content, b: Content, *, max_fields: int = 20) -> ContentDiff:
    """Compare every asset of ``a`` and ``b`` by model; resources through their users."""
    out = ContentDiff(a.path, b.path)
    for key in sorted(set(a.assets) | set(b.assets), key=lambda k: k.raw):
        x, y = a.assets.get(key), b.assets.get(key)
        if y is None:
            assert x is not None  # the key came from one of the two sides
            out.a_only.append(_ref(key, x))
        elif x is None:
            out.b_only.append(_ref(key, y))
        else:
            fields: list[tuple[str, Any, Any]] = []
            _walk(asset_model(x, a), asset_model(y, b), "", fields, max_fields)
            out.changes += [FieldChange(key, x.virtual_path, f, va, vb) for f, va, vb in fields]
    for side, content in (("A", a), ("B", b)):
        out.notes.append(f"{side}: {content.kind} with {len(content.assets)} assets, {len(content.textures)} "
                         f"textures, {len(content.buffers)} buffers")
        out.sides[side.lower()] = {"kind": content.kind, "assets": len(content.assets),
                                   "textures": len(content.textures), "buffers": len(content.buffers)}
    return out
