"""Cook recipes and keys: what a unit of cook work depends on, and its SHA-256.

A unit of cook work (one texture, one scene parse, one geometry's packing, one
material, one scene descriptor) has a :class:`Recipe`: the stage that does it, the
bytes (by SHA-256) of every input it reads, the effective settings, the version
constant of that stage's code (:data:`STAGE_VERSIONS`) and the target format
(:data:`FORMAT_VERSION`). The **key** is the SHA-256 of the recipe's canonical
encoding (:meth:`Recipe.canonical`: JSON with sorted keys, no spaces, ASCII only,
under a ``oxy.recipe/1`` prefix; inputs by hash only, not by name), so equal
recipes give equal keys on every machine and for every folder the sources are in.

A stage's version is bumped whenever its output bytes change for the same input
(``tests/test_stage_versions.py`` holds the output hash of a fixed input per stage
and fails when the bytes change while the version did not).

:func:`explain` compares an old recipe with a new one and says why the unit had to
be cooked again (:class:`Reason`), for the build records and ``oxy why``.

Pure functions over plain data: safe from any thread.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

#: Bump a stage's number when its output bytes change for the same input.
STAGE_VERSIONS: dict[str, int] = {
    "texture": 4,       # decode, mips, BC7 / BCn / RGBA encode, payload packing (oxy.cook.texture); 2: normal -> BC5, hdr -> BC6H, grey data -> BC4; 3: BC7 SIMD mode-6 fit and shape scores, new presets; 4: BC7 exact few-colour fit, BC6H log-error search
    "scene_parse": 1,   # the assimp backend's ParsedScene (oxy.importing.scene.backend_assimp)
    "geometry": 1,      # vertex/index packing (oxy.cook.vertices.pack_geometry)
    "material": 1,      # material mapping and descriptor (oxy.cook.materials)
    "scene": 1,         # scene descriptor (oxy.cook.scene_build)
}

#: The cooked formats the units produce (FORMATS.md): loose cooked v1, PAK v4.
FORMAT_VERSION = "loose-cooked/1+pak/4"

_PREFIX = b"oxy.recipe/1\n"


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """The one canonical encoding of plain JSON data (sorted keys, no spaces, ASCII)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=True).encode("ascii")


@dataclass(frozen=True)
class Recipe:
    """Everything a unit's output depends on. ``inputs`` are ``(name, sha256 hex)``
    pairs in a fixed order; the first is the unit's own source where it has one."""

    stage: str
    inputs: tuple[tuple[str, str], ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    stage_version: int = -1
    format_version: str = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.stage not in STAGE_VERSIONS:
            raise ValueError(f"unknown cook stage {self.stage!r} (known: {', '.join(STAGE_VERSIONS)})")
        if self.stage_version < 0:
            object.__setattr__(self, "stage_version", STAGE_VERSIONS[self.stage])
        object.__setattr__(self, "inputs", tuple((str(n), str(h)) for n, h in self.inputs))

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "stage_version": self.stage_version, "format_version": self.format_version,
                "inputs": [list(pair) for pair in self.inputs], "settings": dict(self.settings)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Recipe":
        return cls(str(data["stage"]), tuple((str(n), str(h)) for n, h in data.get("inputs", ())),
                   dict(data.get("settings", {})), int(data.get("stage_version", 0)),
                   str(data.get("format_version", "")))

    def canonical(self) -> bytes:
        """What the key hashes: the recipe with its inputs reduced to their hashes
        (names are where a file happens to live; the same bytes cooked from another
        folder, root or machine have the same key)."""
        keyed = self.to_json()
        keyed["inputs"] = [digest for _name, digest in self.inputs]
        return _PREFIX + canonical_json(keyed)

    @property
    def key(self) -> str:
        """The cook key: 64 lower-case hex digits."""
        return sha256_hex(self.canonical())


# -- why a unit was cooked --------------------------------------------------------------------

FIRST_COOK = "first_cook"
SOURCE_CHANGED = "source_changed"
DEPENDENCY_CHANGED = "dependency_changed"
SETTINGS_CHANGED = "settings_changed"
CODE_VERSION_CHANGED = "code_version_changed"
FORMAT_CHANGED = "format_changed"
FORCED = "forced"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Reason:
    """Why a unit (or a source) was cooked. ``code`` is one of the constants above;
    ``details`` holds the specifics (which file, old/new hashes, which setting)."""

    code: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, **dict(self.details)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> "Reason":
        data = dict(data or {"code": FIRST_COOK})
        code = str(data.pop("code", FIRST_COOK))
        return cls(code, data)

    def describe(self) -> str:
        """One line for people (``oxy why``)."""
        d = self.details
        if self.code == FIRST_COOK:
            return "first cook"
        if self.code == SOURCE_CHANGED:
            return f"source content changed: {d.get('file')} ({_short(d.get('old'))} -> {_short(d.get('new'))})"
        if self.code == DEPENDENCY_CHANGED:
            return f"a dependency changed: {d.get('file')} ({_short(d.get('old'))} -> {_short(d.get('new'))})"
        if self.code == SETTINGS_CHANGED:
            changes = ", ".join(f"{c['field']}: {c['old']!r} -> {c['new']!r}" for c in d.get("changes", ()))
            return f"settings changed ({changes})"
        if self.code == CODE_VERSION_CHANGED:
            return f"cook code version changed: stage {d.get('stage')} {d.get('old')} -> {d.get('new')}"
        if self.code == FORMAT_CHANGED:
            return f"target format changed: {d.get('old')} -> {d.get('new')}"
        if self.code == FORCED:
            return "forced (--force)"
        if self.code == UNCHANGED:
            return "unchanged"
        return self.code


def _short(digest: Any) -> str:
    return "none" if not digest else str(digest)[:12]


def explain(old: Mapping[str, Any] | None, new: Recipe, *, forced: bool = False) -> Reason:
    """Why ``new`` must be cooked when the previous cook used ``old`` (a recipe's
    JSON, or None). The first difference found, in this order: forced, no previous
    cook, stage code version, format, the first input (the source itself), other
    inputs (dependencies: added, removed or changed), settings. ``UNCHANGED`` when
    the recipes are equal."""
    if forced:
        return Reason(FORCED)
    if old is None:
        return Reason(FIRST_COOK)
    previous = Recipe.from_json(old)
    if previous.stage_version != new.stage_version:
        return Reason(CODE_VERSION_CHANGED, {"stage": new.stage, "old": previous.stage_version,
                                             "new": new.stage_version})
    if previous.format_version != new.format_version:
        return Reason(FORMAT_CHANGED, {"old": previous.format_version, "new": new.format_version})
    old_inputs, new_inputs = list(previous.inputs), list(new.inputs)
    if old_inputs[:1] != new_inputs[:1] and old_inputs[:1] and new_inputs[:1] \
            and old_inputs[0][0] == new_inputs[0][0]:
        return Reason(SOURCE_CHANGED, {"file": new_inputs[0][0], "old": old_inputs[0][1], "new": new_inputs[0][1]})
    olds, news = dict(old_inputs), dict(new_inputs)
    for name, digest in new_inputs:
        if olds.get(name) != digest:
            kind = SOURCE_CHANGED if new_inputs and name == new_inputs[0][0] else DEPENDENCY_CHANGED
            return Reason(kind, {"file": name, "old": olds.get(name), "new": digest})
    for name, digest in old_inputs:
        if name not in news:
            return Reason(DEPENDENCY_CHANGED, {"file": name, "old": digest, "new": None})
    changes = settings_changes(previous.settings, new.settings)
    if changes:
        return Reason(SETTINGS_CHANGED, {"changes": changes})
    return Reason(UNCHANGED)


def settings_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``[{"field", "old", "new"}]`` for every setting that differs (nested tables
    flattened with dots), sorted by field."""
    flat_old, flat_new = _flatten(old), _flatten(new)
    return [{"field": k, "old": flat_old.get(k), "new": flat_new.get(k)}
            for k in sorted(set(flat_old) | set(flat_new)) if flat_old.get(k) != flat_new.get(k)]


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out
