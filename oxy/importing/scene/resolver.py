"""The one texture resolver: a material's texture path -> a file or embedded image.

Rules, in order (the paths seen in the corpus: MANIFEST.md fact 6):

1. ``*N`` (glb, and any format assimp embeds by index) -> embedded texture N.
2. An embedded texture whose ``mFilename`` has the same file name (FBX: the
   original, often unresolvable, authoring path) -> that embedded texture.
3. Backslashes become ``/``; the path relative to the model's folder, or as written
   when absolute and present -> that file.
4. Absolute (POSIX, ``C:\\...``, UNC) or missing relative paths -> the file name beside
   the model, then in a ``Textures``/``textures`` folder beside it (case-insensitive).
5. An empty path (Asset Forge FBX: assimp 5.2 reads only ``RelativeFilename``) -> an
   image beside the model or in ``Textures/`` named like the material, with a warning.

Anything else is unresolved: the caller warns and uses texture index 0.

Thread rules: pure lookups on the file system; use from one thread at a time.
Failure modes: never raises; returns None with a reason.
"""
from __future__ import annotations

import ntpath
import os
import posixpath
from dataclasses import dataclass

from oxy.importing.scene.backend import EmbeddedTexture

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tga", ".bmp", ".hdr")
TEXTURE_FOLDERS = ("", "Textures", "textures", "Texture", "texture", "images", "Images")


@dataclass(frozen=True)
class ResolvedTexture:
    """Where an image comes from: ``path`` on disk or ``embedded`` bytes. ``key`` is the
    stable identity used for de-duplication and source ids."""

    key: str
    path: str | None = None
    embedded: EmbeddedTexture | None = None
    note: str = ""  # set when a fallback rule found it (worth a warning/info)


class TextureResolver:
    """Resolves texture paths for one model (see the module docstring)."""

    def __init__(self, model_path: str, embedded: list[EmbeddedTexture]) -> None:
        self.model_dir = os.path.dirname(os.path.abspath(model_path))
        self.embedded = embedded
        self._listings: dict[str, dict[str, str]] = {}

    def resolve(self, raw: str, material_name: str = "") -> tuple[ResolvedTexture | None, str]:
        """(resolved, reason-if-not)."""
        if raw.startswith("*") and raw[1:].isdigit():
            index = int(raw[1:])
            if index < len(self.embedded):
                return ResolvedTexture(f"embedded:{index}", embedded=self.embedded[index]), ""
            return None, f"embedded texture {raw} does not exist ({len(self.embedded)} embedded)"
        if not raw.strip():
            found = self._by_stem(material_name) if material_name else None
            if found:
                return ResolvedTexture(f"file:{found}", path=found,
                                       note=f"empty texture path; used {os.path.basename(found)} "
                                            f"(named like the material)"), ""
            return None, "empty texture path"
        name = ntpath.basename(raw.replace("/", "\\"))
        for emb in self.embedded:
            if emb.filename and ntpath.basename(emb.filename.replace("/", "\\")).lower() == name.lower():
                return ResolvedTexture(f"embedded:{emb.index}", embedded=emb), ""
        return self._on_disk(raw, name)

    def _on_disk(self, raw: str, name: str) -> tuple[ResolvedTexture | None, str]:
        posix = raw.replace("\\", "/")
        windows_abs = ntpath.isabs(raw) and (ntpath.splitdrive(raw)[0] or raw.startswith("\\\\"))
        if posixpath.isabs(posix) and not windows_abs and os.path.isfile(posix):
            return ResolvedTexture(f"file:{os.path.normpath(posix)}", path=os.path.normpath(posix)), ""
        if not windows_abs and not posixpath.isabs(posix):
            candidate = os.path.normpath(os.path.join(self.model_dir, posix))
            if os.path.isfile(candidate):
                return ResolvedTexture(f"file:{candidate}", path=candidate), ""
        for folder in TEXTURE_FOLDERS:
            found = self._find(folder, name)
            if found:
                return ResolvedTexture(f"file:{found}", path=found,
                                       note=f"texture path {raw!r} not found as written; "
                                            f"used {os.path.relpath(found, self.model_dir)}"), ""
        return None, f"texture {raw!r} not found (looked beside the model for {name!r})"

    def _find(self, folder: str, name: str) -> str | None:
        listing = self._listing(os.path.join(self.model_dir, folder) if folder else self.model_dir)
        return listing.get(name.lower())

    def _by_stem(self, stem: str) -> str | None:
        for folder in TEXTURE_FOLDERS:
            for ext in IMAGE_EXTENSIONS:
                found = self._find(folder, stem + ext)
                if found:
                    return found
        return None

    def _listing(self, folder: str) -> dict[str, str]:
        if folder not in self._listings:
            try:
                names = os.listdir(folder)
            except OSError:
                names = []
            self._listings[folder] = {n.lower(): os.path.join(folder, n) for n in sorted(names, reverse=True)
                                      if os.path.isfile(os.path.join(folder, n))}
        return self._listings[folder]
