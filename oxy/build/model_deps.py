"""The files a model's import reads besides the model itself, found without importing it.

An incremental cook records these files' ``stat`` signatures (and those of the
referenced files that are missing, so that creating one is noticed too).

- ``.gltf``: every ``buffers[].uri`` and ``images[].uri`` that is not a ``data:`` URI,
  relative to the model's folder. URIs are percent-decoded (glTF 2.0 spec, section
  "URIs"); assimp 5.2 opens them *as written* (assimp#3050, assimp#4766), so when the
  decoded path differs both are recorded. Backslashes become ``/`` (assimp's file-system
  filter and oxy's texture resolver do the same). Remote URIs (``http:`` ...) are noted,
  not recorded. glTF 1.0's dict-of-objects form is read too.
- ``.glb``: the JSON chunk only (12-byte header, then the first chunk's length and
  type; version 1's 20-byte header too), same rules; buffers without ``uri`` are the
  container's BIN chunk. Nothing past the JSON chunk is read.
- ``.obj``: ``mtllib`` lines. As in assimp 5.2 (``ObjFileParser::getMaterialLib``) the
  rest of the line is ONE file name, spaces included (``mtllib a b.mtl`` names
  ``a b.mtl``); trailing white space is dropped. When the named file is missing,
  assimp opens ``<model path minus 3 characters>mtl``: that fallback is recorded too.
  Inside each ``.mtl``, the texture statements (``map_Kd``, ``map_Ks``, ``map_Ka``,
  ``map_Ke``, ``map_emissive``, ``map_d``, ``map_bump``/``map_Bump``, ``bump``,
  ``map_Kn``, ``norm``, ``map_disp``, ``disp``, ``map_ns``, ``map_Pr``, ``map_Pm``,
  ``map_Ps``, ``refl``; case-insensitive): options are skipped (``-bm 1.0``,
  ``-clamp on``, ``-o 1 1 1``; ``-o``/``-s``/``-t`` take up to three numbers and
  ``-mm`` up to two, where assimp 5.2 always skips three and two: for a file with fewer
  values assimp gets a wrong name and reads nothing, and the name recorded here only
  causes a needless re-cook), the rest of the line is the file name. Its path is
  relative to the ``.mtl``'s folder (assimp prefixes the texture with the folder part
  of the ``mtllib`` name; oxy's resolver joins the result to the model's folder).
  Windows absolute texture paths (``D:\\...``) are noted, not recorded: only the texture
  resolver's fallback rules can place them.
- ``.dae`` (COLLADA 1.4 and 1.5): the file names of ``<image>`` elements
  (``<image><init_from>NAME</init_from>`` in 1.4, ``<image><init_from><ref>NAME</ref>``
  in 1.5; the ``<init_from>`` of an effect's ``<surface>`` names an image id, not a
  file, and is skipped), streamed with ``xml.etree.ElementTree.iterparse`` (expat: no
  external entities, bounded entity expansion) up to :data:`MAX_XML_BYTES`. As assimp's
  ``ColladaParser::ReadImage`` does, a ``file://`` prefix is dropped (``file:///C:/x``
  becomes ``C:/x``) and the name is percent-decoded; both spellings are recorded when
  they differ. Relative to the model's folder.
- ``.ply``: the header's ``comment TextureFile NAME`` lines (assimp's PLY loader takes
  the texture from them), relative to the model's folder; only the header is read (up
  to ``end_header``, at most :data:`MAX_LINE_BYTES` x 64).
- ``.stl``, ``.fbx``, ``.3ds``, ``.blend`` and the rest: nothing (STL names no file;
  FBX textures are found by the texture resolver).

The texture resolver (``oxy.importing.scene.resolver``) may find a texture through a
fallback (file name beside the model, a ``Textures`` folder): the caller records the
files it resolved as well; this module lists what the files *name*.

Thread rules: plain blocking code, no shared state. Failure modes: never raises for bad
input (missing, truncated, garbage, huge files); problems are :attr:`ModelDeps.notes`.
"""
from __future__ import annotations

import io
import json
import ntpath
import os
import re
import struct
from dataclasses import dataclass
from typing import IO, Any, Iterator
from urllib.parse import unquote

MAX_JSON_BYTES = 256 << 20   # a .gltf or GLB JSON chunk larger than this is not parsed (noted)
MAX_LINE_BYTES = 64 << 10    # OBJ/MTL lines longer than this are skipped (noted)
MAX_XML_BYTES = 512 << 20    # a COLLADA document is scanned up to this many bytes (noted beyond)
_SCAN_BLOCK = 1 << 20

_GLB_MAGIC = b"glTF"
_CHUNK_JSON = b"JSON"
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # two letters or more: "C:/x" is a drive, not a scheme
_MTLLIB = re.compile(rb"^[ \t]*mtllib[ \t]+([^\r\n]*)", re.MULTILINE)
_MAP_KEYWORDS = ("map_kd", "map_ks", "map_ka", "map_ke", "map_emissive", "map_d", "map_bump", "bump", "map_kn",
                 "norm", "map_disp", "disp", "map_ns", "map_pr", "map_pm", "map_ps", "refl")
_MTL_MAP = re.compile(rb"^[ \t]*(" + b"|".join(k.encode() for k in _MAP_KEYWORDS) + rb")[ \t]+([^\r\n]*)",
                      re.MULTILINE | re.IGNORECASE)
_TOKEN = re.compile(r"\S+")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
# Option -> (fixed argument count, up to this many numbers).
_MTL_OPTIONS = {"-blendu": (1, 0), "-blendv": (1, 0), "-boost": (1, 0), "-cc": (1, 0), "-clamp": (1, 0),
                "-bm": (1, 0), "-texres": (1, 0), "-imfchan": (1, 0), "-type": (1, 0),
                "-mm": (0, 2), "-o": (0, 3), "-s": (0, 3), "-t": (0, 3)}


@dataclass(frozen=True)
class ModelDeps:
    """``files``: existing files read besides the model (absolute, sorted, unique);
    ``missing``: referenced files that do not exist; ``notes``: problems, for humans."""

    files: tuple[str, ...]
    missing: tuple[str, ...]
    notes: tuple[str, ...]


class _Found:
    """Collects candidate paths and notes for one model."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.paths: set[str] = set()
        self.notes: list[str] = []

    def add(self, path: str) -> str:
        path = os.path.normpath(path)
        if path != self.model:
            self.paths.add(path)
        return path

    def result(self) -> ModelDeps:
        files = sorted(p for p in self.paths if os.path.isfile(p))
        missing = sorted(p for p in self.paths if not os.path.isfile(p))
        return ModelDeps(tuple(files), tuple(missing), tuple(self.notes))


def model_dependencies(path: str) -> ModelDeps:
    """The files ``path``'s import reads besides itself (see the module docstring)."""
    model = os.path.abspath(path)
    found = _Found(model)
    scanners = {".gltf": _scan_gltf, ".glb": _scan_glb, ".obj": _scan_obj, ".dae": _scan_dae, ".ply": _scan_ply}
    scan = scanners.get(os.path.splitext(model)[1].lower())
    if scan is None:
        return found.result()
    try:
        with open(model, "rb") as f:
            scan(f, found)
    except OSError as exc:
        found.notes.append(f"{model}: cannot read: {exc.strerror or exc}")
    return found.result()


# ---------------------------------------------------------------- glTF

def _scan_gltf(f: IO[bytes], found: _Found) -> None:
    data = f.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        found.notes.append(f"{found.model}: JSON larger than {MAX_JSON_BYTES} bytes; references not scanned")
        return
    _scan_gltf_json(data, found)


def _scan_glb(f: IO[bytes], found: _Found) -> None:
    header = f.read(20)
    if len(header) < 20 or header[:4] != _GLB_MAGIC:
        found.notes.append(f"{found.model}: not a GLB container (bad magic or shorter than 20 bytes)")
        return
    version, total, chunk_length, chunk_type = struct.unpack_from("<III4s", header, 4)
    if version == 1:  # glTF 1.0 binary: contentLength, contentFormat 0 = JSON
        chunk_type = _CHUNK_JSON if chunk_type == bytes(4) else chunk_type
    elif version != 2:
        found.notes.append(f"{found.model}: GLB version {version} is not 1 or 2")
        return
    if chunk_type != _CHUNK_JSON:
        found.notes.append(f"{found.model} @0x10: first chunk is {chunk_type!r}, not JSON")
        return
    if chunk_length > MAX_JSON_BYTES:
        found.notes.append(f"{found.model} @0xc: JSON chunk of {chunk_length} bytes is larger than "
                           f"{MAX_JSON_BYTES}; references not scanned")
        return
    data = f.read(chunk_length)
    if len(data) < chunk_length:
        found.notes.append(f"{found.model}: truncated: JSON chunk needs {chunk_length} bytes, "
                           f"{len(data)} present")
        return
    if total < 20 + chunk_length:
        found.notes.append(f"{found.model} @0x8: header length {total} is shorter than its JSON chunk")
    _scan_gltf_json(data, found)


def _scan_gltf_json(data: bytes, found: _Found) -> None:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        found.notes.append(f"{found.model}: JSON does not parse: {str(exc)[:200]}")
        return
    if not isinstance(doc, dict):
        found.notes.append(f"{found.model}: JSON top level is not an object")
        return
    folder = os.path.dirname(found.model)
    for kind in ("buffers", "images"):
        for where, item in _gltf_items(doc.get(kind), kind):
            if not isinstance(item, dict) or "uri" not in item:
                continue
            uri = item["uri"]
            if not isinstance(uri, str):
                found.notes.append(f"{found.model}: {where}.uri is not a string")
            elif uri[:5].lower() == "data:":
                continue
            elif _URI_SCHEME.match(uri):
                found.notes.append(f"{found.model}: {where}.uri {uri[:100]!r} is not a local file; not recorded")
            else:
                for variant in dict.fromkeys((unquote(uri), uri)):
                    found.add(os.path.join(folder, variant.replace("\\", "/")))


def _gltf_items(value: Any, kind: str) -> Iterator[tuple[str, Any]]:
    """``(where, item)`` of a glTF 2.0 array or a glTF 1.0 dict of objects."""
    if isinstance(value, list):
        yield from ((f"{kind}[{i}]", item) for i, item in enumerate(value))
    elif isinstance(value, dict):
        yield from ((f"{kind}.{key}", item) for key, item in value.items())


# ---------------------------------------------------------------- OBJ and MTL

def _scan_lines(f: IO[bytes], pattern: re.Pattern[bytes], found: _Found, name: str) -> Iterator[re.Match[bytes]]:
    """Matches of a ``^``-anchored MULTILINE ``pattern``, streamed block by block; lines
    longer than MAX_LINE_BYTES are skipped (one note)."""
    carry = b""
    skipping = noted = False
    while True:
        block = f.read(_SCAN_BLOCK)
        if not block:
            break
        if skipping:
            newline = block.find(b"\n")
            if newline < 0:
                continue
            block, skipping = block[newline + 1:], False
        data = carry + block
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        yield from pattern.finditer(data, 0, cut)
        if len(carry) > MAX_LINE_BYTES:
            carry, skipping = b"", True
            if not noted:
                found.notes.append(f"{name}: lines longer than {MAX_LINE_BYTES} bytes skipped")
                noted = True
    if carry and not skipping:
        yield from pattern.finditer(carry)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _scan_obj(f: IO[bytes], found: _Found) -> None:
    folder = os.path.dirname(found.model)
    scanned: set[str] = set()
    for match in _scan_lines(f, _MTLLIB, found, found.model):
        name = _text(match.group(1)).rstrip(" \t\f\v").replace("\\", "/")
        if not name:
            found.notes.append(f"{found.model}: mtllib without a file name")
            continue
        mtl = found.add(os.path.join(folder, name))
        if not os.path.isfile(mtl):
            mtl = found.add(found.model[:-3] + "mtl")  # assimp 5.2's fallback material file
        if os.path.isfile(mtl) and mtl not in scanned:
            scanned.add(mtl)
            _scan_mtl(mtl, os.path.dirname(os.path.join(folder, name)), found)


def _scan_mtl(mtl: str, base: str, found: _Found) -> None:
    try:
        with open(mtl, "rb") as f:
            for match in _scan_lines(f, _MTL_MAP, found, mtl):
                name, problem = _texture_name(_text(match.group(2)))
                statement = _text(match.group(1))
                if problem:
                    found.notes.append(f"{mtl}: {statement}: {problem}")
                elif ntpath.isabs(name) and (ntpath.splitdrive(name)[0] or name.startswith("\\\\")):
                    found.notes.append(f"{mtl}: {statement} {name!r} is a Windows absolute path; "
                                       f"left to the texture resolver")
                else:
                    found.add(os.path.join(base, name.replace("\\", "/")))
    except OSError as exc:
        found.notes.append(f"{mtl}: cannot read: {exc.strerror or exc}")


def _texture_name(rest: str) -> tuple[str, str]:
    """(file name, problem) of a texture statement's arguments: options skipped."""
    tokens = list(_TOKEN.finditer(rest))
    i = 0
    while i < len(tokens) and tokens[i].group().startswith("-"):
        fixed, numbers = _MTL_OPTIONS.get(tokens[i].group().lower(), (0, 0))
        i += 1 + fixed
        while numbers and i < len(tokens) - 1 and _NUMBER.match(tokens[i].group()):
            i, numbers = i + 1, numbers - 1
    if i >= len(tokens):
        return "", "no file name after the options"
    return rest[tokens[i].start():].rstrip(), ""


# ---------------------------------------------------------------- COLLADA

class _Bounded(io.RawIOBase):
    """A read-only view of ``f`` that ends after ``limit`` bytes (``hit`` tells if it did)."""

    def __init__(self, f: IO[bytes], limit: int) -> None:
        self.f, self.left, self.hit = f, limit, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            self.hit = bool(self.f.read(1))
            return 0
        data = self.f.read(min(len(buffer), self.left))
        buffer[:len(data)] = data
        self.left -= len(data)
        return len(data)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _scan_dae(f: IO[bytes], found: _Found) -> None:
    from xml.etree.ElementTree import ParseError, iterparse

    folder = os.path.dirname(found.model)
    bounded = _Bounded(f, MAX_XML_BYTES)
    stack: list[str] = []
    try:
        for event, element in iterparse(bounded, events=("start", "end")):
            name = _local(element.tag)
            if event == "start":
                stack.append(name)
                continue
            stack.pop()
            is_file = (name == "init_from" and stack[-1:] == ["image"]) or \
                      (name == "ref" and stack[-2:] == ["image", "init_from"])
            if is_file and element.text and element.text.strip():
                _add_dae_image(element.text.strip(), folder, found)
            if name in ("image", "library_images", "effect", "geometry", "node"):
                element.clear()
    except ParseError as exc:
        found.notes.append(f"{found.model}: XML does not parse: {exc}")
    except RecursionError:
        found.notes.append(f"{found.model}: XML nested too deeply")
    if bounded.hit:
        found.notes.append(f"{found.model}: larger than {MAX_XML_BYTES} bytes; images past that not scanned")


def _add_dae_image(name: str, folder: str, found: _Found) -> None:
    raw = name[7:] if name.lower().startswith("file://") else name
    if re.match(r"^/[A-Za-z]:[/\\]", raw):  # file:///C:/x -> C:/x
        raw = raw[1:]
    if _URI_SCHEME.match(raw):
        found.notes.append(f"{found.model}: image {name[:100]!r} is not a local file; not recorded")
        return
    for variant in dict.fromkeys((unquote(raw), raw)):
        if ntpath.splitdrive(variant)[0] or variant.startswith("\\\\"):
            found.notes.append(f"{found.model}: image {variant!r} is a Windows absolute path; "
                               f"left to the texture resolver")
            return
        found.add(os.path.join(folder, variant.replace("\\", "/")))


# ---------------------------------------------------------------- PLY

_PLY_TEXTURE = re.compile(rb"^comment[ \t]+TextureFile[ \t]+(.*?)[ \t\r]*$")


def _scan_ply(f: IO[bytes], found: _Found) -> None:
    folder = os.path.dirname(found.model)
    if f.read(4).rstrip(b"\r\n") != b"ply":
        found.notes.append(f"{found.model}: not a PLY file (no 'ply' magic)")
        return
    f.seek(0)
    for _ in range(64 * 1024):
        line = f.readline(MAX_LINE_BYTES)
        if not line:
            found.notes.append(f"{found.model}: header without end_header")
            return
        line = line.rstrip(b"\n")
        if line.strip() == b"end_header":
            return
        match = _PLY_TEXTURE.match(line)
        if match and match.group(1):
            found.add(os.path.join(folder, _text(match.group(1)).replace("\\", "/")))
    found.notes.append(f"{found.model}: header longer than 65536 lines; not scanned further")
