"""oxy agrees with the engine on what is valid: errors for what it rejects, warnings (and
a tolerant loader) for what it loads; ``oxy validate`` and the AssetLoader agree."""
from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import pytest

from oxy.cook.descriptors import build_standard_geometry
from oxy.cook.payload import fallback_texture
from oxy.errors import FormatError, OxyError
from oxy.formats import AssetType
from oxy.formats.geometry import MeshViewDesc
from oxy.formats.pak import parse_pak
from oxy.runtime import (AssetLoader, GeometryAsset, LoaderConfig, MaterialAsset, ResourceKey, ResourceKind,
                         SceneAsset, TextureResource)
from oxy.runtime.types import all_warnings
from oxy.samples import ContentSet, build_scene, write_sample_pak
from oxy.validate import RULES, Severity, validate_pak, validate_pak_bytes
from oxy.validate.rules import rules_markdown

from conftest import PROJECT, SAMPLE_PAK

T = 20
MISSING_MATERIAL = ContentSet.key(AssetType.MATERIAL, "NotInThisPak")
GEOMETRY = ContentSet.key(AssetType.GEOMETRY, "PakGenCube")
SCENE = ContentSet.key(AssetType.SCENE, "PakGenScene")
MISSING_GEOMETRY = ContentSet.key(AssetType.GEOMETRY, "Elsewhere")


def oxy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oxy", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def pakgen_pak(tmp_path_factory) -> pathlib.Path:
    """Like the engine's PakGen output: the geometry names vertex/index buffer 0 while the
    buffer table is empty; its submesh material is not in the PAK; the scene renders it
    and a geometry that is not in the PAK either."""
    content = ContentSet()
    content.textures = [fallback_texture()]
    view = MeshViewDesc(first_index=0, index_count=36, first_vertex=0, vertex_count=24)
    geometry = build_standard_geometry("PakGenCube", vertex_buffer=0, index_buffer=0,
                                       submeshes=[("Cube", MISSING_MATERIAL, view)],
                                       bbox_min=(-1.0,) * 3, bbox_max=(1.0,) * 3)
    scene = build_scene("PakGenScene", [("Root", 0, None), ("Cube", 0, GEOMETRY), ("Gone", 0, MISSING_GEOMETRY)])
    content.assets = [(AssetType.GEOMETRY, "PakGenCube", geometry), (AssetType.SCENE, "PakGenScene", scene)]
    path = tmp_path_factory.mktemp("pakgen") / "pakgen.pak"
    data = write_sample_pak(path, content)
    assert parse_pak(data).footer.buffer_table.count == 0
    return path


def test_dangling_references_are_warnings(pakgen_pak):
    report = validate_pak(pakgen_pak, verify_hashes=True)
    assert report.ok, [str(d) for d in report.errors]
    codes = sorted(d.code for d in report.warnings)
    assert codes == ["geometry.buffer_index", "geometry.buffer_index", "geometry.material_key",
                     "scene.geometry_key"]
    pak = parse_pak(pakgen_pak.read_bytes())
    geometry_at = next(e.desc_offset for e in pak.directory if e.asset_key == GEOMETRY)
    vb = next(d for d in report.warnings if d.field.endswith("info.vertex_buffer"))
    assert vb.offset == geometry_at + 256 + 73 and vb.file == str(pakgen_pak)
    material = next(d for d in report.warnings if d.code == "geometry.material_key")
    assert material.offset == geometry_at + 256 + 145 + 64 and str(MISSING_MATERIAL) in material.message


def test_cli_exit_codes_and_strict(pakgen_pak):
    result = oxy("validate", str(pakgen_pak), "--json")
    assert result.returncode == 0, result.stdout
    model = json.loads(result.stdout)
    assert model["valid"] and model["warnings"] == 4 and not model["strict"]
    assert {d["code"] for d in model["diagnostics"]} == {"geometry.buffer_index", "geometry.material_key",
                                                        "scene.geometry_key"}
    text = oxy("validate", str(pakgen_pak))
    assert text.returncode == 0 and "warning:" in text.stdout and "[geometry.buffer_index]" in text.stdout
    strict = oxy("validate", str(pakgen_pak), "--strict")
    assert strict.returncode == 3 and "INVALID" in strict.stdout and "[strict]" in strict.stdout
    assert "error:" in strict.stdout and "[geometry.material_key]" in strict.stdout


def test_loader_loads_pakgen_scene_with_none_buffers_and_default_material(pakgen_pak):
    with AssetLoader(LoaderConfig(cpu_threads=1)) as loader:
        loader.add_pak(str(pakgen_pak))
        scene = loader.load_asset(SCENE, SceneAsset).result(T)
        assert [k for k, _g in scene.geometries] == [GEOMETRY]  # the missing one is skipped
        assert [w.code for w in scene.warnings] == ["scene.geometry_key"]
        assert str(MISSING_GEOMETRY) in scene.warnings[0].message
        geometry = scene.geometry(GEOMETRY)
        assert isinstance(geometry, GeometryAsset)
        mesh = geometry.meshes[0]
        assert mesh.vertex_buffer is None and mesh.index_buffer is None
        material = geometry.material(MISSING_MATERIAL)
        assert isinstance(material, MaterialAsset) and material.is_default
        assert material.roughness == 1.0 and material.texture("base_color") is None
        assert sorted(w.code for w in geometry.warnings) == ["geometry.buffer_index", "geometry.buffer_index",
                                                            "geometry.material_key"]
        assert all(w.severity is Severity.WARNING for w in geometry.warnings)
        assert len(all_warnings(scene)) == 4
        assert loader.dependencies(GEOMETRY) == ()  # nothing loaded, no edges
        assert loader.dependencies(SCENE) == (GEOMETRY,)


def test_strict_loader_refuses_what_strict_validate_refuses(pakgen_pak):
    with AssetLoader(LoaderConfig(cpu_threads=1, strict=True)) as loader:
        loader.add_pak(str(pakgen_pak))
        with pytest.raises(FormatError) as info:
            loader.load_asset(GEOMETRY).result(T)
        assert "geometry.buffer_index" in str(info.value)


def _put(data: bytes, at: int, value: int, size: int) -> bytes:
    out = bytearray(data)
    out[at:at + size] = value.to_bytes(size, "little")
    return bytes(out)


@pytest.fixture(scope="module")
def sample() -> bytes:
    return SAMPLE_PAK.read_bytes()


def test_unknown_texture_format_is_tolerated_by_both(sample, tmp_path):
    table = parse_pak(sample).footer.texture_table.offset
    path = tmp_path / "fmt.pak"
    path.write_bytes(_put(sample, table + 40 + 28, 200, 1))  # texture 1: format 200
    report = validate_pak(path)
    assert report.ok and [d.code for d in report.warnings] == ["texture.format"]
    with AssetLoader(LoaderConfig(cpu_threads=1)) as loader:
        source = loader.add_pak(str(path))
        texture = loader.load_resource(ResourceKey(source, ResourceKind.TEXTURE, 1), TextureResource).result(T)
        assert texture.format == 200 and [w.code for w in texture.warnings] == ["texture.format"]
        assert texture.warnings[0].offset == table + 40 + 28
        material = loader.load_asset(ContentSet.key(AssetType.MATERIAL, "Checker"), MaterialAsset).result(T)
        assert material.texture("base_color") is texture


def _loader_verdict(path: pathlib.Path) -> str | None:
    """None when the loader mounts and loads every asset and resource (warnings allowed),
    else the first error."""
    with AssetLoader(LoaderConfig(cpu_threads=1)) as loader:
        try:
            source = loader.add_pak(str(path))
        except OxyError as exc:
            return f"mount: {exc}"
        pak = parse_pak(path.read_bytes())
        futures = [loader.load_asset(e.asset_key) for e in pak.directory]
        futures += [loader.load_resource(ResourceKey(source, kind, i))
                    for kind, name in ((ResourceKind.TEXTURE, "texture"), (ResourceKind.BUFFER, "buffer"))
                    for i in range(len(pak.tables[name]))]
        for future in futures:
            try:
                future.result(T)
            except OxyError as exc:
                return str(exc)
    return None


def _mutations(sample: bytes) -> list[tuple[str, bytes]]:
    pak = parse_pak(sample)
    tex, buf = pak.footer.texture_table.offset, pak.footer.buffer_table.offset
    mat, geo, scn = (e.desc_offset for e in pak.directory)
    payload = int(pak.tables["texture"][1]["data_offset"])
    return [
        ("texture format", _put(sample, tex + 40 + 28, 255, 1)),
        ("texture type 0", _put(sample, tex + 40 + 12, 0, 1)),
        ("texture type 1D", _put(sample, tex + 40 + 12, 1, 1)),
        ("texture alignment", _put(sample, tex + 40 + 29, 512, 2)),
        ("texture offset unaligned", _put(sample, tex + 40, payload + 16, 8)),
        ("texture width 0", _put(sample, tex + 40 + 14, 0, 4)),
        ("texture mips", _put(sample, tex + 40 + 26, 8, 2)),
        ("payload magic", _put(sample, payload, 0, 4)),
        ("payload total size", _put(sample, payload + 8, 1, 4)),
        ("payload layout size", _put(sample, payload + 28 + 8, 1 << 30, 4)),
        ("buffer typed with stride", _put(sample, buf + 32 + 16, 4, 4)),
        ("buffer stride not dividing", _put(sample, buf + 16, 7, 4)),
        ("buffer offset past data", _put(sample, buf, 2**64 - 8, 8)),
        ("material texture index", _put(sample, mat + 130, 77, 4)),
        ("material version", _put(sample, mat + 65, 9, 1)),
        ("material header type", _put(sample, mat, 2, 1)),
        ("geometry vertex buffer", _put(sample, geo + 256 + 73, 9, 4)),
        ("geometry lod count", _put(sample, geo + 95, 0, 4)),
        ("geometry view range", _put(sample, geo + 256 + 145 + 108 + 4, 10**6, 4)),
        ("geometry material key", _put(sample, geo + 256 + 145 + 64, 0x55, 1)),
        ("scene node parent", _put(sample, scn + 256 + 68 + 20, 99, 4)),
        ("directory asset type", _put(sample, pak.directory[0].entry_offset + 16, 255, 1)),
        ("region alignment", _put(sample, len(sample) - 256 + 24, pak.footer.texture_region.offset + 16, 8)),
        ("directory size", _put(sample, len(sample) - 256 + 8, 1, 8)),
    ]


#: Each mutation's verdict by the rule book (accepted: the engine tolerates it) and the
#: rule that must report it, so agreement cannot come from both sides accepting
#: (or refusing) everything.
EXPECTED = {
    "texture format": (True, "texture.format"), "texture type 0": (True, "texture.texture_type"),
    "texture type 1D": (False, "texture.shape"), "texture alignment": (False, "texture.alignment"),
    "texture offset unaligned": (False, "texture.data_offset.unaligned"), "texture width 0": (False, "texture.width"),
    "texture mips": (False, "texture.mip_levels"), "payload magic": (False, "texture.payload.magic"),
    "payload total size": (False, "texture.payload.total_payload_size"),
    "payload layout size": (False, "texture.payload.layout_range"), "buffer typed with stride": (True, "buffer.kind"),
    "buffer stride not dividing": (False, "buffer.size_bytes"), "buffer offset past data": (False, "buffer.data_range"),
    "material texture index": (True, "material.texture_index"), "material version": (True, "asset.header.version"),
    "material header type": (False, "asset.header.asset_type"), "geometry vertex buffer": (True, "geometry.buffer_index"),
    "geometry lod count": (True, "geometry.lod_count"), "geometry view range": (True, "geometry.mesh_view_range"),
    "geometry material key": (True, "geometry.material_key"), "scene node parent": (False, "asset.descriptor"),
    "directory asset type": (False, "asset.type"), "region alignment": (False, "texture.data_range"),
    "directory size": (True, "pak.directory.size"),
}


def test_validate_and_loader_agree_on_every_mutation(sample, tmp_path):
    mutations = _mutations(sample)
    assert {name for name, _data in mutations} == set(EXPECTED)
    for name, data in mutations:
        path = tmp_path / "m.pak"
        path.write_bytes(data)
        report = validate_pak_bytes(data, name=str(path))
        accepted, code = EXPECTED[name]
        assert report.ok == accepted and code in {d.code for d in report.diagnostics}, \
            (name, [str(d) for d in report.diagnostics])
        loader_error = _loader_verdict(path)
        assert report.ok == (loader_error is None), (name, [str(d) for d in report.errors], loader_error)


def test_docs_table_is_the_rule_book():
    text = (PROJECT / "docs" / "validation.md").read_text(encoding="utf-8")
    assert rules_markdown() in text


def test_every_code_used_is_in_the_rule_book():
    """Every literal code passed to report.add / Tolerated in oxy.validate and oxy.runtime
    is registered (so its severity comes from the one table)."""
    used = set()
    for folder in ("validate", "runtime"):
        for path in (PROJECT / "oxy" / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    if name in ("add", "Tolerated") and isinstance(node.args[0].value, str):
                        used.add(node.args[0].value)
    used |= {"pak.region.range", "pak.table.range", "pak.directory.range", "pak.descriptor.range",
             "pak.header", "pak.footer"}  # passed through helpers
    assert used and used <= set(RULES), sorted(used - set(RULES))
    assert {r.severity for r in RULES.values()} == {Severity.ERROR, Severity.WARNING}


def test_content_oxy_writes_raises_no_warning():
    assert not validate_pak_bytes(SAMPLE_PAK.read_bytes(), verify_hashes=True).diagnostics
