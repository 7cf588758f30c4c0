"""The scene backend seam: what a parser returns, and how the importer calls it.

A backend turns a model file into a :class:`ParsedScene` of plain data (dataclasses
and numpy arrays that it owns: nothing points back into the parser). Two entry
points:

* ``parse(path) -> ParsedScene``: synchronous, any thread, one call per file.
  Raises :class:`SceneParseError` with the parser's own reason for bad input.
* ``parse_async(run_blocking, path)``: what the async importer calls on the import
  hub. :class:`SceneBackend` provides a default that runs ``parse`` in ONE
  ``run_blocking`` call on the CPU pool; a backend with its own async path overrides it.

Thread rules: ``parse`` must be safe to call from several pool threads at once on
different files. Failure modes: only SceneParseError for input problems;
cancellation and interpreter exits propagate unchanged.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from oxy.cook.materials import MaterialSource
from oxy.cook.scene_build import CameraData, LightData, NodeData
from oxy.cook.vertices import MeshData
from oxy.errors import OxyError


#: The code of a warning that assimp wrote into its own log during a parse (one
#: diagnostic per message; the message is assimp's text).
ASSIMP_LOG_WARNING = "scene.assimp_warning"
#: Diagnostic codes whose message comes from a third-party library, not from oxy's own
#: checks: front ends summarise them (``oxy cook`` counts them per source file and shows
#: the first few unless ``-v``); oxy's own warnings are always shown.
THIRD_PARTY_CODES: frozenset[str] = frozenset({ASSIMP_LOG_WARNING})


class SceneParseError(OxyError):
    """The model cannot be parsed; ``reason`` is the parser's own message."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class EmbeddedTexture:
    """A texture stored inside the model (glb buffer view, FBX Content)."""

    index: int
    data: bytes         # the compressed image file (PNG, JPEG...)
    format_hint: str    # "png", "jpg", ... ("" when unknown)
    filename: str = ""  # the name the file gave it (FBX: the original path)


@dataclass
class ParsedScene:
    """A whole model as plain data. ``nodes`` are in depth-first pre-order."""

    source_path: str
    meshes: list[MeshData] = field(default_factory=list)
    materials: list[MaterialSource] = field(default_factory=list)
    nodes: list[NodeData] = field(default_factory=list)
    cameras: list[CameraData] = field(default_factory=list)
    lights: list[LightData] = field(default_factory=list)
    embedded: list[EmbeddedTexture] = field(default_factory=list)
    warnings: list[tuple[str, str, str]] = field(default_factory=list)  # (code, message, field_path)

    @property
    def stem(self) -> str:
        return os.path.splitext(os.path.basename(self.source_path))[0]


class SceneBackend:
    """Base class: subclasses implement :meth:`parse`."""

    name = "backend"
    suffixes: frozenset[str] = frozenset()

    def parse(self, path: str) -> ParsedScene:
        raise NotImplementedError

    def parse_async(self, run_blocking: Callable[..., Any], path: str) -> ParsedScene:
        """Default async import: the sync parse, in one call on the CPU pool."""
        return run_blocking(self.parse, path)
