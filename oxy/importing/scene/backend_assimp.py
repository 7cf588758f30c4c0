"""The pyassimp backend: FBX, glTF, GLB and OBJ files -> :class:`ParsedScene`.

The file is loaded with pyassimp's ctypes bindings (``pyassimp.core._assimp_lib.load``
= ``aiImportFile``) and everything is copied out of the raw structs (numpy copies of
the vertex arrays, one ``string_at`` per face) before ``aiReleaseImport``. This skips
``pyassimp.load``'s conversion of every vertex and face into Python objects, which
took 30x longer than assimp's own import on a 150k-triangle scene. Known pyassimp
5.2.5 / libassimp 5.2 pitfalls handled here (see docs/scene_import.md):

* ``pyassimp.load`` (a context manager) raises ``AssimpError``, a ``BaseException``
  that always says "Could not import file!": the real reason is ``aiGetErrorString()``
  (restype set to ``c_char_p``), read right after the failing ``aiImportFile``, under
  the same lock, so concurrent loads cannot overwrite it. assimp's warnings are
  captured with a log stream during the load (e.g. silently dropped faces).
* Material properties are read from the raw ``aiMaterialProperty`` array: pyassimp's
  dict drops the texture index and folds ``$mat.gltf.alphaMode`` and ``alphaCutoff``
  into one key.
* Compressed embedded textures (``mHeight == 0``) are read with
  ``ctypes.string_at(pcData, mWidth)``; uncompressed ARGB texels are re-encoded as PNG.
* The camera's ``mOrthographicWidth`` is missing from pyassimp's struct; it is read
  right after ``mAspect``.
* Skinned files: pyassimp's ``aiBone`` layout is wrong for 5.2; bones are never read
  (skinning is out of scope), and the load adds ``aiProcess_PopulateArmatureData``.
  What is dropped is said, with counts: ``scene.skinning_dropped`` (per mesh, its
  bone count: cooked as a static mesh in its bind pose), ``scene.morph_targets_dropped``
  and ``scene.animation_dropped`` (the scene's animations, by name).

Thread rules: :meth:`AssimpBackend.parse` may run on several pool threads at once
(different files); the native load itself is serialised by a module lock because
assimp's last-error string is process-global. Failure modes: SceneParseError
(naming the file and assimp's reason); cancellation/exit exceptions propagate.
"""
from __future__ import annotations

import ctypes
import io
import os
import threading
from typing import Any

import numpy as np

from oxy.cook.materials import MaterialSource
from oxy.cook.scene_build import CameraData, LightData, NodeData
from oxy.cook.vertices import MeshData
from oxy.errors import OperationCancelled
from oxy.importing.scene.backend import (ASSIMP_LOG_WARNING, EmbeddedTexture, ParsedScene, SceneBackend,
                                         SceneParseError)

# aiProcess_*: Triangulate | GenSmoothNormals | ValidateDataStructure | SortByPType | FlipUVs
#              | PopulateArmatureData (no constant in pyassimp.postprocess)
PROCESSING = 0x8 | 0x40 | 0x400 | 0x8000 | 0x800000 | 0x4000
TRIANGLE_PRIMITIVE = 0x4
LIGHT_KINDS = {1: "directional", 2: "point", 3: "spot"}
_LOAD_LOCK = threading.Lock()
_LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p)
DROPPED_FACES = "out-of-range indices"  # assimp's warning when it silently drops faces


class _LogStream(ctypes.Structure):
    _fields_ = [("callback", _LOG_CALLBACK), ("user", ctypes.c_char_p)]


class _LogCapture:
    """assimp's warnings and errors during one load (attach/detach under _LOAD_LOCK)."""

    def __init__(self, dll: Any) -> None:
        self.messages: list[str] = []
        self._dll = dll
        self._callback = _LOG_CALLBACK(self._on_message)  # kept alive while attached
        self._stream = _LogStream(self._callback, None)

    def _on_message(self, message: bytes | None, _user: bytes | None) -> None:
        text = (message or b"").decode("utf-8", "replace").strip()
        if text.startswith(("Warn", "Error")):
            self.messages.append(text.split(":", 1)[-1].strip())

    def __enter__(self) -> "_LogCapture":
        self._dll.aiAttachLogStream(ctypes.byref(self._stream))
        return self

    def __exit__(self, *exc: object) -> None:
        self._dll.aiDetachLogStream(ctypes.byref(self._stream))
_NEVER_SWALLOW = (KeyboardInterrupt, SystemExit, GeneratorExit, OperationCancelled)


def _pyassimp() -> Any:
    """Import pyassimp late, so a missing backend fails only when a scene is imported."""
    try:
        import pyassimp  # noqa: PLC0415
        import pyassimp.core  # noqa: PLC0415
    except _NEVER_SWALLOW:
        raise
    except BaseException as exc:  # noqa: BLE001 - pyassimp raises AssimpError (BaseException) without libassimp
        raise SceneParseError("<pyassimp>", f"pyassimp/libassimp is not available: {exc}") from None
    return pyassimp


def _STRUCTS() -> Any:  # noqa: N802 - pyassimp.structs, imported late like pyassimp itself
    from pyassimp import structs  # noqa: PLC0415

    return structs


def last_error(pyassimp: Any) -> str:
    """assimp's own reason for the last failed import."""
    try:
        fn = pyassimp.core._assimp_lib.dll.aiGetErrorString
        fn.restype = ctypes.c_char_p
        raw = fn()
    except Exception:  # noqa: BLE001 - an unreadable reason must not hide the failure
        return ""
    return raw.decode("utf-8", "replace") if raw else ""


def _aistring(s: Any) -> str:
    return bytes(s.data[:s.length]).decode("utf-8", "replace")


def _property_value(prop: Any, structs: Any) -> Any:
    size = int(prop.mDataLength)
    if prop.mType == 3:  # aiPTI_String
        return _aistring(ctypes.cast(prop.mData, ctypes.POINTER(structs.MaterialPropertyString)).contents)
    raw = ctypes.string_at(prop.mData, size) if size else b""
    if prop.mType == 1:
        return tuple(np.frombuffer(raw, "<f4", size // 4).tolist())
    if prop.mType == 2:
        return tuple(np.frombuffer(raw, "<f8", size // 8).tolist())
    if prop.mType == 4:
        return tuple(np.frombuffer(raw, "<i4", size // 4).tolist())
    return raw


def _materials(scene: Any, structs: Any) -> list[MaterialSource]:
    out = []
    for i in range(scene.mNumMaterials):
        m = scene.mMaterials[i].contents
        props: dict[tuple[str, int, int], Any] = {}
        for i in range(m.mNumProperties):
            prop = m.mProperties[i].contents
            key = (_aistring(prop.mKey), int(prop.mSemantic), int(prop.mIndex))
            props.setdefault(key, _property_value(prop, structs))
        name = props.get(("?mat.name", 0, 0), "")
        out.append(MaterialSource(name if isinstance(name, str) else "", props))
    return out


def _floats(pointer: Any, count: int, width: int) -> np.ndarray | None:
    """A copy of ``count`` x ``width`` floats at a raw aiVector3D/aiColor4D pointer (None if NULL)."""
    if not pointer or count == 0:
        return None
    return np.frombuffer(ctypes.string_at(pointer, 4 * width * count), "<f4").reshape(count, width).copy()


def _faces(raw: Any) -> np.ndarray | None:
    """The (F, 3) triangle indices, or None when a face is not a triangle. aiFace is
    {u32 count, u32* indices} and every index array is its own allocation: the
    ``gather_triangles`` kernel dereferences them all, GIL-free."""
    from oxy._kernels.gather import gather_triangles

    size, at = ctypes.sizeof(_STRUCTS().Face), _STRUCTS().Face.mIndices.offset
    table = ctypes.string_at(raw.mFaces, size * raw.mNumFaces)
    counts = np.frombuffer(table, "<u4")[::size // 4]
    if not (counts == 3).all():
        return None
    pointers = np.ascontiguousarray(np.frombuffer(table, "<u8")[at // 8::size // 8])
    out = np.empty((len(pointers), 3), np.uint32)
    gather_triangles(pointers, out)
    return out.astype(np.int64)


def _mesh(raw: Any, index: int, warnings: list) -> MeshData:
    name = _aistring(raw.mName) or f"mesh{index}"
    where = f"meshes[{index}]"
    n = int(raw.mNumVertices)
    faces = None
    if raw.mPrimitiveTypes & TRIANGLE_PRIMITIVE and raw.mNumFaces and raw.mFaces:
        faces = _faces(raw)
    if faces is None:
        warnings.append(("scene.mesh_not_triangles", f"mesh {name!r} has only points or lines; skipped", where))
        faces = np.zeros((0, 3), np.int64)
    uv = _floats(raw.mTextureCoords[0], n, 3)
    if uv is not None:
        uv = uv[:, :2].copy() if raw.mNumUVComponents[0] >= 2 else None
    if raw.mNumBones:
        warnings.append(("scene.skinning_dropped", f"mesh {name!r} is skinned ({int(raw.mNumBones)} bones): "
                         "skinning is not supported yet; cooked as a static mesh in its bind pose", where))
    if raw.mNumAnimMeshes:
        warnings.append(("scene.morph_targets_dropped", f"mesh {name!r} has {int(raw.mNumAnimMeshes)} morph "
                         "target(s): morph targets are not supported yet; dropped", where))
    positions = _floats(raw.mVertices, n, 3)
    return MeshData(name=name, material_index=int(raw.mMaterialIndex),
                    positions=positions if positions is not None else np.zeros((0, 3), np.float32),
                    indices=faces, normals=_floats(raw.mNormals, n, 3), texcoords=uv,
                    tangents=_floats(raw.mTangents, n, 3), bitangents=_floats(raw.mBitangents, n, 3),
                    colors=_floats(raw.mColors[0], n, 4), field_path=where)


def _nodes(root: Any) -> list[NodeData]:
    out: list[NodeData] = []
    stack = [(root, -1)]
    while stack:
        raw, parent = stack.pop()
        index = len(out)
        matrix = np.frombuffer(ctypes.string_at(ctypes.addressof(raw.mTransformation), 64), "<f4")
        out.append(NodeData(name=_aistring(raw.mName), parent=parent,
                            matrix=matrix.astype(np.float64).reshape(4, 4),
                            meshes=tuple(int(raw.mMeshes[k]) for k in range(raw.mNumMeshes))))
        stack.extend((raw.mChildren[k].contents, index) for k in reversed(range(raw.mNumChildren)))
    return out


def _cameras(scene: Any, structs: Any) -> list[CameraData]:
    out = []
    for i in range(scene.mNumCameras):
        c = scene.mCameras[i].contents
        ortho = ctypes.c_float.from_address(ctypes.addressof(c) + ctypes.sizeof(structs.Camera)).value
        out.append(CameraData(_aistring(c.mName), float(c.mHorizontalFOV), float(c.mAspect),
                              float(c.mClipPlaneNear), float(c.mClipPlaneFar), float(ortho)))
    return out


def _lights(scene: Any, warnings: list) -> list[LightData]:
    out = []
    for i in range(scene.mNumLights):
        light = scene.mLights[i].contents
        name = _aistring(light.mName)
        kind = LIGHT_KINDS.get(int(light.mType))
        if kind is None:
            warnings.append(("scene.light_unsupported", f"light {name!r} of assimp type {light.mType} "
                             "(ambient/area) has no Oxygen record; skipped", f"lights[{i}]"))
            continue
        d = light.mColorDiffuse
        out.append(LightData(name, kind, (float(d.r), float(d.g), float(d.b)),
                             (float(light.mAttenuationConstant), float(light.mAttenuationLinear),
                              float(light.mAttenuationQuadratic)),
                             float(light.mAngleInnerCone), float(light.mAngleOuterCone)))
    return out


def _embedded(scene: Any) -> list[EmbeddedTexture]:
    out = []
    for i in range(scene.mNumTextures):
        t = scene.mTextures[i].contents
        hint = bytes(t.achFormatHint).split(b"\0")[0].decode("ascii", "replace")
        if t.mHeight == 0:
            data = ctypes.string_at(t.pcData, t.mWidth)
        else:
            data = _texels_to_png(ctypes.string_at(t.pcData, t.mWidth * t.mHeight * 4), t.mWidth, t.mHeight)
            hint = "png"
        out.append(EmbeddedTexture(i, data, hint, _aistring(t.mFilename)))
    return out


def _texels_to_png(raw: bytes, width: int, height: int) -> bytes:
    from PIL import Image  # noqa: PLC0415

    bgra = np.frombuffer(raw, np.uint8).reshape(height, width, 4)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(bgra[..., [2, 1, 0, 3]]), "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def _copy_scene(scene: Any, path: str, structs: Any) -> ParsedScene:
    parsed = ParsedScene(source_path=path)
    parsed.meshes = [_mesh(scene.mMeshes[i].contents, i, parsed.warnings) for i in range(scene.mNumMeshes)]
    parsed.materials = _materials(scene, structs)
    parsed.nodes = _nodes(scene.mRootNode.contents) if scene.mRootNode else []
    parsed.cameras = _cameras(scene, structs)
    parsed.lights = _lights(scene, parsed.warnings)
    parsed.embedded = _embedded(scene)
    if scene.mNumAnimations:
        names = [_aistring(scene.mAnimations[i].contents.mName) or f"#{i}" for i in range(scene.mNumAnimations)]
        shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        parsed.warnings.append(("scene.animation_dropped", f"{len(names)} animation(s) dropped ({shown}): "
                                "animation is not supported yet", "animations"))
    return parsed


class AssimpBackend(SceneBackend):
    """Scene parsing through pyassimp (see the module docstring)."""

    name = "assimp"
    suffixes = frozenset({".fbx", ".gltf", ".glb", ".obj", ".dae", ".ply", ".stl"})

    def parse(self, path: str) -> ParsedScene:
        if not os.path.isfile(path):
            raise SceneParseError(path, "file not found")
        pyassimp = _pyassimp()
        from pyassimp import structs  # noqa: PLC0415

        lib = pyassimp.core._assimp_lib
        try:
            with _LOAD_LOCK, _LogCapture(lib.dll) as log:
                model = lib.load(os.fsencode(path), PROCESSING)
                if not model:
                    raise SceneParseError(path, last_error(pyassimp) or "assimp could not import the file")
            try:
                parsed = _copy_scene(model.contents, path, structs)
                parsed.warnings.extend((ASSIMP_LOG_WARNING, m, "") for m in log.messages)
                return parsed
            finally:
                lib.release(model)
        except (SceneParseError, *_NEVER_SWALLOW):
            raise
        except BaseException as exc:  # noqa: BLE001 - a pyassimp quirk must become a diagnostic
            raise SceneParseError(path, f"cannot read the parsed scene: {type(exc).__name__}: {exc}") from None
