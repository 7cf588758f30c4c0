"""What ``oxy export`` exports: textures of a PAK or loose root, picked by a selector.

Selectors (one per call of :meth:`TextureCatalog.select`):

* ``texture:N`` -- the texture at index N of the texture table (``oxy inspect``
  lists the table; index 0 is the engine's 1x1 fallback);
* an asset key (32 hex digits, dashes optional) or a virtual path (exact, or
  without the ``/.cooked/`` mount root) -- a material exports the textures its
  slots use, a geometry those of its materials, a scene those of its geometries;
* a cooked source file recorded in a loose root's build records (its path as cooked,
  the same path relative to the current folder, or its file name when only one
  recorded source has it) -- the textures the latest cook of it produced.

:meth:`TextureCatalog.every` is ``--all``: every texture but the fallback at index 0.

Names: each picked texture gets a relative output name (no extension) from what
selected it: ``<virtual path without /.cooked/ and extension>.<slot>`` for a
material's texture (the first material, by virtual path, that uses it, when the
texture was picked by index or ``--all``), the cooked source's file stem for a
standalone texture the build records know, else ``texture_N``. Names are sanitised
by :func:`safe_relpath`; the writer still confines them to the output folder.

Reading goes through the runtime's readers (:func:`~oxy.runtime.sources.open_pak`,
:func:`~oxy.runtime.sources.open_loose_root`, :mod:`oxy.runtime.decoders`), so a
texture is checked by the loader's own rules before it is written anywhere else.
Blocking file calls; one catalog is used from one thread at a time. Failure modes:
:class:`~oxy.runtime.errors.MountError` / :class:`~oxy.errors.FormatError` for
invalid content, :class:`SelectionError` for a selector that matches nothing.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from oxy.errors import OxyError
from oxy.formats import AssetKey, AssetType
from oxy.formats.loose import INDEX_FILE_NAME
from oxy.runtime.decoders import decode_asset, decode_resource
from oxy.runtime.keys import ResourceKey, ResourceKind
from oxy.runtime.sources import Source, open_loose_root, open_pak
from oxy.runtime.types import TextureResource

__all__ = ["Pick", "SelectionError", "TextureCatalog", "safe_relpath"]

MOUNT_ROOT = "/.cooked/"
_TEXTURE_INDEX = re.compile(r"^texture:(\d+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


class SelectionError(OxyError):
    """The selector matches nothing in the source (the message says what was tried)."""


@dataclass(frozen=True)
class Pick:
    """One texture to export: its table index, its output name (relative, no
    extension) and what picked it (asset key and slot, or the cooked source)."""

    index: int
    name: str
    asset_key: str | None = None
    slot: str | None = None
    source_file: str | None = None


def safe_relpath(name: str) -> str:
    """A relative path made only of ``[A-Za-z0-9._+-]`` segments separated by ``/``:
    other characters become ``_``, segments made only of dots (``.``, ``..``) become
    underscores, empty segments (leading ``/``, ``//``) are dropped, each segment is cut
    to 120 characters. Never absolute, never climbs out; ``"texture"`` when nothing is left."""
    segments = []
    for part in name.replace("\\", "/").split("/"):
        part = _UNSAFE.sub("_", part)[:120]
        if not part:
            continue
        if not part.strip("."):
            part = "_" * len(part)
        segments.append(part)
    return "/".join(segments) or "texture"


def _strip_mount(virtual_path: str) -> str:
    return virtual_path[len(MOUNT_ROOT):] if virtual_path.startswith(MOUNT_ROOT) else virtual_path


class TextureCatalog:
    """A mounted source and the names of its textures. Use as a context manager."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.source: Source = _open(path)
        self._paths = {key: vp for vp, key in self.source.virtual_paths.items()}
        self._material_slots: dict[AssetKey, list[tuple[str, int]]] = {}
        try:
            self._sources = _recorded_sources(self.source)
        except BaseException:
            self.source.close()
            raise
        self._users: dict[int, Pick] | None = None

    def __enter__(self) -> "TextureCatalog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.source.close()

    @property
    def texture_count(self) -> int:
        return self.source.count(ResourceKind.TEXTURE)

    def texture(self, index: int) -> TextureResource:
        """Read and decode texture ``index`` with the loader's checks (FormatError if invalid)."""
        key = ResourceKey(self.source.id, ResourceKind.TEXTURE, index)
        entry, entry_where, payload, payload_where = self.source.read_resource(ResourceKind.TEXTURE, index)
        tex = decode_resource(key, entry, entry_where, payload, payload_where, verify=False)
        assert isinstance(tex, TextureResource)
        return tex

    # ---------------------------------------------------------------- selection
    def select(self, selector: str) -> list[Pick]:
        """The textures ``selector`` names (see the module docstring). SelectionError if none."""
        match = _TEXTURE_INDEX.match(selector.strip())
        if match:
            index = int(match.group(1))
            if index >= self.texture_count:
                raise SelectionError(f"{selector}: the texture table of {self.path} holds {self.texture_count} "
                                     f"textures (0..{self.texture_count - 1})")
            return [self._default_pick(index)]
        key = self._asset_key(selector)
        if key is not None:
            picks = self._asset_picks(key)
            if not picks:
                raise SelectionError(f"{selector}: asset {key} uses no texture (slots that use the engine's "
                                     "fallback are not exported)")
            return picks
        indices = self._source_textures(selector)
        if indices:
            return [self._default_pick(i) for i in indices]
        raise SelectionError(f"{selector!r} is no asset key, virtual path or cooked source in {self.path}, nor "
                             "texture:N (`oxy inspect` lists the assets and the texture table)")

    def every(self) -> list[Pick]:
        """Every texture of the table except the fallback at index 0."""
        return [self._default_pick(i) for i in range(1, self.texture_count)]

    def _asset_key(self, selector: str) -> AssetKey | None:
        text = selector.strip()
        try:
            key = AssetKey.parse(text)
            if key in self.source.assets:
                return key
        except ValueError:
            pass
        for candidate in (text, MOUNT_ROOT + text.lstrip("/")):
            if candidate in self.source.virtual_paths:
                return self.source.virtual_paths[candidate]
        return None

    def _source_textures(self, selector: str) -> list[int]:
        wanted = {selector, os.path.abspath(selector)}
        hits = sorted(i for i, path in self._sources.items() if path in wanted)
        if hits:
            return hits
        by_name = {path for path in self._sources.values() if os.path.basename(path) == selector}
        if len(by_name) == 1:
            return sorted(i for i, path in self._sources.items() if path in by_name)
        return []

    def _asset_picks(self, key: AssetKey) -> list[Pick]:
        picks: dict[int, Pick] = {}
        seen: set[AssetKey] = set()
        stack = [key]
        while stack:
            current = stack.pop()
            if current in seen or current not in self.source.assets:
                continue
            seen.add(current)
            if self.source.assets[current] == AssetType.MATERIAL:
                base = self._asset_name(current)
                for slot, index in self._slots(current):
                    picks.setdefault(index, Pick(index, safe_relpath(f"{base}.{slot}"), str(current), slot))
            else:
                stack.extend(sorted((k for k in self._decode(current).deps if isinstance(k, AssetKey)),
                                    reverse=True))
        return sorted(picks.values(), key=lambda p: p.index)

    def _asset_name(self, key: AssetKey) -> str:
        vp = self._paths.get(key)
        return os.path.splitext(_strip_mount(vp))[0] if vp else str(key)

    def _decode(self, key: AssetKey) -> Any:
        blob, where = self.source.read_descriptor(key)
        tables = (self.source.tables[ResourceKind.TEXTURE], self.source.tables[ResourceKind.BUFFER])
        return decode_asset(self.source.assets[key], key, blob, source=self.source.id, tables=tables,
                            where=where, verify=False)

    def _slots(self, material: AssetKey) -> list[tuple[str, int]]:
        """(slot, texture index) of a material's used slots, decoded with the loader's rules."""
        if material not in self._material_slots:
            decoded = self._decode(material)
            placeholders = {k: k for k in decoded.deps}  # finish() only pairs slots with their keys
            asset = decoded.finish(placeholders, ())
            self._material_slots[material] = [(slot, k.index) for slot, k in asset.texture_keys.items()]
        return self._material_slots[material]

    def _first_users(self) -> dict[int, Pick]:
        """Texture index -> the pick naming it after the first material (by virtual path)
        whose slots use it. Computed once."""
        if self._users is None:
            self._users = {}
            materials = sorted((k for k, t in self.source.assets.items() if t == AssetType.MATERIAL),
                               key=lambda k: (self._paths.get(k, "\uffff"), k.raw))
            for material in materials:
                for slot, used in self._slots(material):
                    if used not in self._users:
                        name = safe_relpath(f"{self._asset_name(material)}.{slot}")
                        self._users[used] = Pick(used, name, str(material), slot)
        return self._users

    def _default_pick(self, index: int) -> Pick:
        user = self._first_users().get(index)
        if user is not None:
            return user
        source = self._sources.get(index)
        if source is not None:
            stem = os.path.splitext(os.path.basename(source))[0]
            return Pick(index, safe_relpath(stem), source_file=source)
        return Pick(index, f"texture_{index}")

def _open(path: str) -> Source:
    if os.path.isdir(path):
        return open_loose_root(path)
    if os.path.basename(path) == INDEX_FILE_NAME:
        return open_loose_root(os.path.dirname(path) or ".")
    return open_pak(path)


def _recorded_sources(source: Source) -> dict[int, str]:
    """Texture index -> cooked source file, from a loose root's build records (empty for
    a PAK or when the records do not describe this index)."""
    if source.kind != "loose":
        return {}
    from oxy.pack.live import read_live_set
    from oxy.rootfs import RootEscapeError, read_inside

    try:
        blob = read_inside(source.path, INDEX_FILE_NAME)
    except (OSError, RootEscapeError):
        return {}
    return dict(read_live_set(source.path, blob).textures)
