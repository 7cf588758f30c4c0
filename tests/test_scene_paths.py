"""Issue 6: sync == async (decoded), progress phases, cancellation, invalid mesh data,
re-cook stability, and several roots at once."""
from __future__ import annotations

import hashlib
import pathlib
import time

import numpy as np
import pytest

from cooking import payload, read_table
from oxy.formats import AssetType
from oxy.importing import AsyncImportService, ImportRequest
from oxy.importing.scene.backend import ParsedScene, SceneBackend
from oxy.importing.sync import AssetImporter
from oxy.validate import validate_loose_root
from scene_disk import read_root

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus"
SPIDER = CORPUS / "models" / "obj_spider" / "spider.obj"
DUCK = CORPUS / "models" / "glb_Duck" / "Duck.glb"
KING = CORPUS / "models" / "fbx_ascii_kenney_king" / "king.fbx"


def _async(root: pathlib.Path, source: pathlib.Path, **options):
    with AsyncImportService() as service:
        return service.submit(ImportRequest(str(source), str(root), options=options)).wait(120)


def _texture_hashes(root: pathlib.Path) -> dict[int, str]:
    table = read_table(root)
    return {i: hashlib.sha256(payload(root, table[i])).hexdigest() for i in range(len(table))}


def _material_view(root: pathlib.Path, name: str, hashes: dict[int, str]) -> dict:
    """A material with each texture index replaced by the hash of its payload."""
    desc = read_root(root).materials[name].desc.to_dict()
    for key in list(desc):
        if key.endswith("_texture"):
            desc[key] = hashes[desc[key]] if desc[key] else 0
    desc["header"] = {k: v for k, v in desc["header"].items() if k != "content_hash"}
    return desc


@pytest.mark.parametrize("model", [SPIDER, KING])
def test_sync_and_async_write_the_same_content(tmp_path, model):
    a, s = tmp_path / "async", tmp_path / "sync"
    assert _async(a, model).success
    report = AssetImporter().import_to_loose_cooked(ImportRequest(str(model), str(s)))
    assert report.success and validate_loose_root(s, verify_hashes=True).ok
    da, ds = read_root(a), read_root(s)
    assert set(da.raw) == set(ds.raw)
    assert (a / "Resources" / "buffers.table").read_bytes() == (s / "Resources" / "buffers.table").read_bytes()
    assert (a / "Resources" / "buffers.data").read_bytes() == (s / "Resources" / "buffers.data").read_bytes()
    for name in list(da.geometries) + list(da.scenes):  # deterministic order: identical bytes
        assert da.raw[name] == ds.raw[name], name
    ha, hs = _texture_hashes(a), _texture_hashes(s)
    assert sorted(ha.values()) == sorted(hs.values())
    for name in da.materials:  # texture order may differ: compare decoded, indices -> payloads
        assert _material_view(a, name, ha) == _material_view(s, name, hs), name


def test_recook_is_stable_and_replaces_assets(tmp_path):
    root = tmp_path / "root"
    assert _async(root, DUCK).success
    first = read_root(root)
    assert _async(root, DUCK).success
    second = read_root(root)
    assert set(first.keys) == set(second.keys)
    assert first.raw["Duck"] == second.raw["Duck"]  # node ids, renderable keys: same bytes
    assert validate_loose_root(root, verify_hashes=True).ok


def test_progress_reports_every_phase(tmp_path):
    phases = []
    with AsyncImportService() as service:
        report = service.submit(ImportRequest(str(SPIDER), str(tmp_path)),
                                on_progress=lambda p: phases.append((p.phase.value, p.overall_fraction))).wait(120)
    assert report.success
    names = [p for p, _f in phases]
    for phase in ("parsing", "textures", "materials", "geometry", "scene", "writing"):
        assert phase in names, names
    fractions = [f for _p, f in phases]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_cancel_mid_import_keeps_the_previous_index(tmp_path):
    root = tmp_path / "root"
    assert _async(root, DUCK).success
    before = {p.name: p.read_bytes() for p in [root / "container.index.bin", root / "Resources" / "textures.table"]}
    seen = []
    with AsyncImportService(cpu_threads=1) as service:
        handle = service.submit(ImportRequest(str(SPIDER), str(root)), on_progress=lambda p: seen.append(p.phase.value))
        deadline = time.monotonic() + 60
        while "textures" not in seen and not handle.done() and time.monotonic() < deadline:
            time.sleep(0.002)
        assert handle.cancel()
        report = handle.wait(60)
    assert report.cancelled and not report.success
    assert {p.name: p.read_bytes() for p in [root / "container.index.bin",
                                             root / "Resources" / "textures.table"]} == before
    assert validate_loose_root(root, verify_hashes=True).ok
    assert set(read_root(root).materials) == {"Duck_blinn3-fx"}


def test_nonfinite_positions_fail_without_output(tmp_path):
    obj = tmp_path / "bad.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1e999 0\nv 0 1 0\nf 1 2 3\nf 1 2 4\n")
    for report in (_async(tmp_path / "a", obj),
                   AssetImporter().import_to_loose_cooked(ImportRequest(str(obj), str(tmp_path / "s")))):
        assert not report.success
        errors = [d for d in report.diagnostics if d.severity.value == "error"]
        assert errors[0].code == "scene.mesh_nonfinite" and "not finite" in errors[0].message
        assert errors[0].source_path == str(obj)
    assert not (tmp_path / "a" / "container.index.bin").exists()
    assert not (tmp_path / "s" / "container.index.bin").exists()


class _OutOfRangeBackend(SceneBackend):
    """A backend returning a triangle that indexes past its vertices."""

    def parse(self, path: str) -> ParsedScene:
        from oxy.cook.scene_build import NodeData
        from oxy.cook.vertices import MeshData
        mesh = MeshData("tri", 0, np.zeros((3, 3), np.float32), np.array([[0, 1, 7]], np.uint32),
                        field_path="meshes[0]")
        return ParsedScene(path, meshes=[mesh], nodes=[NodeData("root", -1, np.eye(4), (0,))])


def test_out_of_range_indices_fail_with_a_field_path(tmp_path):
    report = _async(tmp_path / "r", DUCK, backend=_OutOfRangeBackend())
    assert not report.success
    (error,) = [d for d in report.diagnostics if d.severity.value == "error"]
    assert error.code == "scene.mesh_index_range" and error.field_path == "meshes[0].faces[0]"


def test_missing_texture_is_a_warning_and_index_zero(tmp_path):
    model = tmp_path / "m" / "tri.obj"
    model.parent.mkdir()
    (model.parent / "tri.mtl").write_text("newmtl skin\nKd 1 1 1\nmap_Kd C:\\\\nowhere\\\\missing.png\n")
    model.write_text("mtllib tri.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nusemtl skin\nf 1/1 2/2 3/3\n")
    report = _async(tmp_path / "r", model)
    assert report.success, [str(d) for d in report.diagnostics]
    assert "scene.texture_missing" in report.diagnostic_codes()
    desc = read_root(tmp_path / "r").materials["tri_skin"].desc
    assert desc.base_color_texture == 0


def test_several_imports_at_once_into_different_roots(tmp_path):
    models = [SPIDER, DUCK, KING, CORPUS / "malformed" / "empty.obj"]
    with AsyncImportService() as service:
        handles = [service.submit(ImportRequest(str(m), str(tmp_path / f"r{i}"))) for i, m in enumerate(models)]
        reports = [h.wait(120) for h in handles]
    assert [r.success for r in reports] == [True, True, True, False]
    for i in range(3):
        assert validate_loose_root(tmp_path / f"r{i}", verify_hashes=True).ok
    assert read_root(tmp_path / "r1").keys.keys().isdisjoint(read_root(tmp_path / "r2").keys.keys())
    assert all(t in (AssetType.MATERIAL, AssetType.GEOMETRY, AssetType.SCENE)
               for t, _n in read_root(tmp_path / "r0").keys.values())
