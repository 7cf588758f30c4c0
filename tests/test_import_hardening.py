"""Import hardening (issue 10, item 5): request options are declared with their types
(typos and wrong types are errors naming the key), and silent repairs of meshes and
textures become counted warnings in the report and in ``oxy cook`` output."""
from __future__ import annotations


import base64
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from oxy.formats import Format, MeshType
from oxy.cook.texture import output_format, settings_for
from oxy.importing import AsyncImportService, ImportRequest
from oxy.importing.sync import AssetImporter
from oxy.importing.types import OptionSpec, Severity, check_options

from conftest import CORPUS, PROJECT
from cooking import read_table
from scene_disk import read_root

IMAGES = CORPUS / "images"
NET = IMAGES / "net.png"
BOX = CORPUS / "models" / "gltf_Box" / "Box.gltf"


def _async(request: ImportRequest):
    with AsyncImportService() as service:
        return service.submit(request).wait(120)


def _sync(request: ImportRequest):
    return AssetImporter().import_to_loose_cooked(request)


RUNNERS = {"async": _async, "sync": _sync}


# ----------------------------------------------------------------------- options
@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_option_typo_is_an_error_with_a_suggestion(tmp_path, runner):
    root = tmp_path / "root"
    report = RUNNERS[runner](ImportRequest(str(NET), str(root), options={"quailty": "fast"}))
    assert not report.success
    [error] = report.errors
    assert error.code == "import.unknown_option" and error.field_path == "options.quailty"
    assert "'quailty'" in error.message and "did you mean 'quality'" in error.message
    assert not (root / "container.index.bin").exists()  # nothing was cooked


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_sources_as_a_string_is_one_clear_error(tmp_path, runner):
    root = tmp_path / "root"
    report = RUNNERS[runner](ImportRequest(str(NET), str(root), options={"sources": str(IMAGES / "basn6a16.png")}))
    assert [d.code for d in report.diagnostics] == ["import.bad_option"]  # not one read error per character
    assert "'sources' must be a list" in report.errors[0].message and "got str" in report.errors[0].message
    assert not (root / "container.index.bin").exists()


@pytest.mark.parametrize("options, fragment", [
    ({"mips": 1}, "'mips' must be bool, got int"),
    ({"quality": True}, "'quality' must be str, got bool"),
    ({"quality": "ultra"}, "'quality' must be one of 'ultrafast', 'fast', 'normal', 'better', 'thorough', 'high'"),
    ({"alpha_coverage": 1.5}, "strictly between 0 and 1"),
    ({"sources": [str(NET), 7]}, "item 1 must be str or PathLike, got int"),
    ({"source_key": b"short"}, "must be 16 bytes"),
    ({"kind": "3d"}, "'kind' must be one of '2d', 'cube', 'array'"),
])
def test_wrongly_typed_texture_options(tmp_path, options, fragment):
    report = _sync(ImportRequest(str(NET), str(tmp_path / "root"), options=options))
    [error] = report.errors
    assert error.code == "import.bad_option" and fragment in error.message, error.message


def test_declared_options_with_none_and_paths_are_accepted(tmp_path):
    report = _sync(ImportRequest(str(NET), str(tmp_path / "root"),
                                 options={"alpha_coverage": 0.5, "sources": [IMAGES / "basn6a16.png"],
                                          "mips": True, "preset": None, "quality": "fast"}))
    assert report.success, report.diagnostics
    assert len(report.outputs) == 2


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_scene_options_are_checked_too(tmp_path, runner):
    report = RUNNERS[runner](ImportRequest(str(BOX), str(tmp_path / "root"),
                                           options={"scene_nmae": "x", "backend": "assimp"}))
    codes = sorted(d.code for d in report.errors)
    assert codes == ["import.bad_option", "import.unknown_option"]
    messages = " ".join(d.message for d in report.errors)
    assert "did you mean 'scene_name'" in messages and "'backend' must be SceneBackend" in messages
    assert not (tmp_path / "root" / "container.index.bin").exists()


def test_check_options_unit():
    specs = (OptionSpec("alpha", (float,), "a number"), OptionSpec("names", (), "names", items=(str,)))
    assert check_options({"alpha": 2, "names": ("a", "b")}, specs, importer="t") == []
    [d] = check_options("not a mapping", specs, importer="t")
    assert d.code == "import.bad_option" and d.severity is Severity.ERROR
    [d] = check_options({"zzz": 1}, specs, importer="t")
    assert "did you mean" not in d.message and "known: alpha, names" in d.message


# ----------------------------------------------------------------------- repairs
def write_gltf(path, positions, indices, normals=None, *, skin=False, animation=False):
    """A one-mesh glTF 2.0 file with an embedded buffer (and optionally a skin over
    two joints and an animation of the second joint)."""
    blobs, views, accessors = [], [], []

    def add(array, component, kind, target=None, minmax=False):
        data = np.ascontiguousarray(array).tobytes()
        offset = sum(len(b) for b in blobs)
        blobs.append(data + bytes(-len(data) % 4))
        view = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target:
            view["target"] = target
        views.append(view)
        accessor = {"bufferView": len(views) - 1, "componentType": component,
                    "count": int(len(array)), "type": kind}
        if minmax:
            accessor["min"] = np.nanmin(array, axis=0).tolist()
            accessor["max"] = np.nanmax(array, axis=0).tolist()
        accessors.append(accessor)
        return len(accessors) - 1

    positions = np.asarray(positions, np.float32)
    attributes = {"POSITION": add(positions, 5126, "VEC3", 34962, minmax=True)}
    if normals is not None:
        attributes["NORMAL"] = add(np.asarray(normals, np.float32), 5126, "VEC3", 34962)
    primitive = {"attributes": attributes, "indices": add(np.asarray(indices, np.uint16).reshape(-1), 5123,
                                                           "SCALAR", 34963)}
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}],
           "nodes": [{"mesh": 0, "name": "Body"}], "meshes": [{"name": "Body", "primitives": [primitive]}]}
    if skin:
        n = len(positions)
        attributes["JOINTS_0"] = add(np.tile(np.array([0, 1, 0, 0], np.uint16), (n, 1)), 5123, "VEC4", 34962)
        attributes["WEIGHTS_0"] = add(np.tile(np.array([0.5, 0.5, 0, 0], np.float32), (n, 1)), 5126, "VEC4", 34962)
        ibm = add(np.tile(np.eye(4, dtype=np.float32).reshape(1, 16), (2, 1)), 5126, "MAT4")
        doc["nodes"] = [{"mesh": 0, "name": "Body", "skin": 0}, {"name": "Root", "children": [2]},
                        {"name": "Arm", "translation": [0, 1, 0]}]
        doc["scenes"] = [{"nodes": [0, 1]}]
        doc["skins"] = [{"joints": [1, 2], "inverseBindMatrices": ibm}]
    if animation:
        times = add(np.array([[0.0], [1.0]], np.float32), 5126, "SCALAR", minmax=True)
        values = add(np.array([[0, 0, 0, 1], [0, 0, 0.7071, 0.7071]], np.float32), 5126, "VEC4")
        doc["animations"] = [{"name": "Wave", "samplers": [{"input": times, "output": values}],
                              "channels": [{"sampler": 0, "target": {"node": 2 if skin else 0,
                                                                      "path": "rotation"}}]}]
    blob = b"".join(blobs)
    doc["buffers"] = [{"byteLength": len(blob),
                       "uri": "data:application/octet-stream;base64," + base64.b64encode(blob).decode()}]
    doc["bufferViews"], doc["accessors"] = views, accessors
    path.write_text(json.dumps(doc))
    return path


QUAD = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]
QUAD_FACES = [(0, 1, 2), (0, 2, 3)]


def _warnings(report, code):
    return [d for d in report.diagnostics if d.code == code and d.severity is Severity.WARNING]


def _counts(message):
    return [int(n) for n in re.findall(r"\d+", message)]


def _one_geometry_vertices(root):
    """The vertex buffer the root's one geometry names, read from buffers.data."""
    data = read_root(root)
    [geometry] = data.geometries.values()
    return data.vertices(geometry)


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_normal_repairs_are_counted(tmp_path, runner):
    normals = [(0, 0, 2.0), (0, 0, 0), (0, 0, 1), (np.nan, 0, 1)]  # long, zero, fine, NaN
    model = write_gltf(tmp_path / "normals.gltf", QUAD, QUAD_FACES, normals)
    root = tmp_path / "root"
    report = RUNNERS[runner](ImportRequest(str(model), str(root)))
    assert report.success, report.diagnostics
    [repaired] = _warnings(report, "scene.normals_repaired")
    assert "1 normals renormalised" in repaired.message and "2 replaced" in repaired.message
    [nonfinite] = _warnings(report, "scene.nonfinite_replaced")
    assert "1 normals" in nonfinite.message
    vertices = _one_geometry_vertices(root)  # the real bytes: every normal is unit +Z
    assert len(vertices) == 4
    assert np.allclose(vertices[:, 3:6], [0, 0, 1], atol=1e-6)


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_degenerate_triangles_are_dropped_and_counted(tmp_path, runner):
    positions = QUAD + [(1, 0, 0)]  # vertex 4 coincides with vertex 1
    faces = QUAD_FACES + [(0, 1, 4), (1, 2, 4)]
    model = write_gltf(tmp_path / "degenerate.gltf", positions, faces)
    root = tmp_path / "root"
    report = RUNNERS[runner](ImportRequest(str(model), str(root)))
    assert report.success, report.diagnostics
    [dropped] = _warnings(report, "scene.degenerate_faces_dropped")
    assert "2 of 4 triangles dropped" in dropped.message
    [geometry] = read_root(root).geometries.values()
    [submesh] = geometry.meshes[0].submeshes
    assert submesh.views[0].index_count == 6  # two triangles left, read from the descriptor on disk


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_skin_and_animation_dropped_are_reported(tmp_path, runner):
    model = write_gltf(tmp_path / "skinned.gltf", QUAD, QUAD_FACES, [(0, 0, 1)] * 4, skin=True, animation=True)
    root = tmp_path / "root"
    report = RUNNERS[runner](ImportRequest(str(model), str(root)))
    assert report.success, report.diagnostics
    [skin] = _warnings(report, "scene.skinning_dropped")
    assert "2 bones" in skin.message and "static mesh" in skin.message
    [animation] = _warnings(report, "scene.animation_dropped")
    assert "1 animation(s)" in animation.message and "'Wave'" in animation.message
    [geometry] = read_root(root).geometries.values()
    assert geometry.meshes[0].desc.mesh_type == MeshType.STANDARD


def write_radiance(path, rgb):
    """A flat (not run-length) Radiance file of float RGB pixels (width < 8)."""
    rgb = np.asarray(rgb, np.float64)
    h, w, _ = rgb.shape
    peak = rgb.max(axis=2)
    mantissa, exponent = np.frexp(peak)
    scale = np.where(peak > 1e-32, mantissa * 256.0 / np.where(peak > 0, peak, 1), 0)
    rgbe = np.zeros((h, w, 4), np.uint8)
    rgbe[..., :3] = np.clip(rgb * scale[..., None], 0, 255).astype(np.uint8)
    rgbe[..., 3] = np.where(peak > 1e-32, exponent + 128, 0)
    path.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {h} +X {w}\n".encode() + rgbe.tobytes())
    return path


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_hdr_into_an_8_bit_format_is_a_counted_warning(tmp_path, runner):
    rgb = np.full((4, 4, 3), 0.5)
    rgb[0, :3] = 4.0  # three texels above 1.0
    hdr = write_radiance(tmp_path / "sky.hdr", rgb)
    root = tmp_path / "root"
    report = RUNNERS[runner](ImportRequest(str(hdr), str(root), options={"mips": False}))
    assert report.success, report.diagnostics
    [warning] = _warnings(report, "texture.hdr_to_ldr")
    assert "3 of 16 texels clamped" in warning.message and "peak value 4" in warning.message
    assert warning.source_path == str(hdr)
    assert int(read_table(root)[1]["format"]) == Format.BC7_UNORM_SRGB  # what was written: 8-bit
    kept = RUNNERS[runner](ImportRequest(str(hdr), str(tmp_path / "hdr"), options={"preset": "hdr"}))
    assert kept.success and not _warnings(kept, "texture.hdr_to_ldr")
    assert int(read_table(tmp_path / "hdr")[1]["format"]) == output_format(settings_for("hdr"))  # the float format


def test_oxy_cook_prints_and_reports_the_warnings(tmp_path):
    model = write_gltf(tmp_path / "skinned.gltf", QUAD, QUAD_FACES, [(0, 0, 3)] * 4, skin=True)
    result = subprocess.run([sys.executable, "-m", "oxy", "cook", str(model), "-o", str(tmp_path / "root"), "--json"],
                            capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "warning scene.skinning_dropped" in result.stderr and "warning scene.normals_repaired" in result.stderr
    assert "2 warning(s)" in result.stderr
    [job] = json.loads(result.stdout)["jobs"]
    codes = {d["code"]: d for d in job["diagnostics"]}
    assert codes["scene.skinning_dropped"]["severity"] == "warning"
    assert "4 normals renormalised" in codes["scene.normals_repaired"]["message"]
