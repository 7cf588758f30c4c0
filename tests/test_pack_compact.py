"""oxy pack: PAK layout on disk, compaction, canonical order, determinism, loading equality."""
from __future__ import annotations

import random
import subprocess
import sys
import zlib

import numpy as np
import pytest

from oxy.cook.descriptors import build_material, build_standard_geometry, finalize_descriptor
from oxy.cook.payload import TextureShape, fallback_texture, pack_texture_payload
from oxy.errors import FormatError
from oxy.formats import (AssetType, Format, GeometryDescriptor, MaterialDescriptor, MeshViewDesc, StandardMeshInfo,
                         parse_geometry, parse_index, parse_material, parse_pak)
from oxy.formats.material import TEXTURE_SLOTS
from oxy.formats.geometry import Mesh
from oxy.pack.compact import pack_paths
from oxy.pack.merge import PackConflictError
from oxy.runtime import AssetLoader, LoaderConfig
from oxy.samples import (ContentSet, build_scene, buffer_entry, checker_texture, cube_buffers,
                         write_loose_root)
from oxy.validate import validate_pak_bytes

from conftest import GOLDEN_PAK

T = 20


# ------------------------------------------------------------- content builders
def rich_content() -> ContentSet:
    """Four textures (0 = fallback), two buffers, three materials, a geometry, a scene."""
    c = ContentSet()
    c.textures = [fallback_texture(), checker_texture(64), checker_texture(16), checker_texture(8)]
    vb, ib, lo, hi = cube_buffers()
    c.buffers = [(buffer_entry(vb, 0x101, 72, 0), vb), (buffer_entry(ib, 0x102, 0, 10), ib)]
    checker = ContentSet.key(AssetType.MATERIAL, "Checker")
    two = ContentSet.key(AssetType.MATERIAL, "Two")
    views = [MeshViewDesc(first_index=0, index_count=18, first_vertex=0, vertex_count=24),
             MeshViewDesc(first_index=18, index_count=18, first_vertex=0, vertex_count=24)]
    c.assets = [
        (AssetType.MATERIAL, "Checker", build_material("Checker", textures={"base_color": 1}, roughness=0.6)),
        (AssetType.MATERIAL, "Two", build_material("Two", textures={"base_color": 2, "normal": 3})),
        (AssetType.MATERIAL, "Shared", build_material("Shared", textures={"emissive": 1})),
        (AssetType.GEOMETRY, "Cube", build_standard_geometry(
            "Cube", vertex_buffer=0, index_buffer=1, bbox_min=lo, bbox_max=hi,
            submeshes=[("A", checker, views[0]), ("B", two, views[1])])),
        (AssetType.SCENE, "S", build_scene("S", [("Root", 0, None),
                                                 ("Cube", 0, ContentSet.key(AssetType.GEOMETRY, "Cube"))])),
    ]
    return c


def _stale_texture():
    """An old texture that nothing references any more (distinctive pixels)."""
    shape = TextureShape(width=4, height=4, format=Format.RGBA8_UNORM)
    return pack_texture_payload(shape, [b"STAL" * 16])


def reordered(content: ContentSet, seed: int, stale: bool = False) -> ContentSet:
    """The same content with textures 1.. and buffers in another table order (plus
    unreferenced "stale re-import" entries), descriptors rewritten to match, and the
    asset list (file write order) shuffled. Independent of oxy.pack's remapper."""
    rng = random.Random(seed)
    tex = list(range(1, len(content.textures)))
    buf = list(range(len(content.buffers)))
    rng.shuffle(tex)
    rng.shuffle(buf)
    out = ContentSet(guid=content.guid)
    extra_t = [_stale_texture()] if stale else []
    out.textures = [content.textures[0]] + extra_t + [content.textures[i] for i in tex]
    stale_b = [(buffer_entry(b"STALEBUF" * 8, 0x108, 1, 0), b"STALEBUF" * 8)] if stale else []
    out.buffers = stale_b + [content.buffers[i] for i in buf]
    tmap = {old: 1 + len(extra_t) + pos for pos, old in enumerate(tex)}
    bmap = {old: len(stale_b) + pos for pos, old in enumerate(buf)}
    assets = []
    for t, name, blob in content.assets:
        if t == AssetType.MATERIAL:
            m = parse_material(blob)
            changes = {f"{s}_texture": tmap[getattr(m.desc, f"{s}_texture")] for s in TEXTURE_SLOTS
                       if getattr(m.desc, f"{s}_texture")}
            blob = finalize_descriptor(MaterialDescriptor(m.desc.replace(**changes), m.shaders).build())
        elif t == AssetType.GEOMETRY:
            g = parse_geometry(blob)
            meshes = []
            for mesh in g.meshes:
                info = StandardMeshInfo.parse(mesh.desc.info)
                info = info.replace(vertex_buffer=bmap[info.vertex_buffer], index_buffer=bmap[info.index_buffer])
                meshes.append(Mesh(mesh.desc.replace(info=info.build()), mesh.submeshes))
            blob = finalize_descriptor(GeometryDescriptor(g.desc, tuple(meshes)).build())
        assets.append((t, name, blob))
    rng.shuffle(assets)
    out.assets = assets
    return out


def write_stale_root(path, seed: int) -> None:
    """A shuffled root with stale entries, and build records saying that no texture
    is standalone (as oxy records a root whose unreferenced entries are re-import
    leftovers; without records, oxy pack would keep the stale texture)."""
    from test_pack_live import mark_no_standalone

    write_loose_root(path, reordered(rich_content(), seed=seed, stale=True))
    mark_no_standalone(path)


#: Ways to produce a root holding the same content (a builder writes the root at
#: the given path). Roots cooked by the real import pipeline with 1 and 2 threads,
#: and re-imported roots, are compared in tests/test_pack_cooked.py.
ROOT_BUILDERS = {
    "canonical": lambda path: write_loose_root(path, rich_content()),
    "shuffled": lambda path: write_loose_root(path, reordered(rich_content(), seed=1)),
    "shuffled+stale": lambda path: write_stale_root(path, seed=7),
}


@pytest.fixture
def packed(tmp_path):
    root = tmp_path / "root"
    ROOT_BUILDERS["shuffled+stale"](root)
    out = tmp_path / "out.pak"
    result = pack_paths([root], out)
    return root, out, out.read_bytes(), result


# ------------------------------------------------------------------- layout
def test_packed_pak_is_valid_and_laid_out_as_the_engine_tool(packed):
    root, _out, data, _result = packed
    report = validate_pak_bytes(data, name="out.pak", verify_hashes=True)
    assert report.ok and not report.diagnostics, [str(d) for d in report.diagnostics]
    pak = parse_pak(data)
    f = pak.footer
    assert pak.header.version == 4 and data[-8:] == b"OXPAKEND"
    crc_at = len(data) - 256 + 244
    assert f.pak_crc32 == zlib.crc32(data[:crc_at] + data[crc_at + 4:]) != 0
    covered = [(0, 256), (len(data) - 256, len(data))]
    for kind in ("texture", "buffer"):
        region, table = getattr(f, f"{kind}_region"), getattr(f, f"{kind}_table")
        assert region.offset % 256 == 0 and table.offset % 16 == 0 and table.count == len(pak.tables[kind])
        for row in pak.tables[kind]:
            off, size = int(row["data_offset"]), int(row["size_bytes"])
            assert off % 256 == 0 and region.offset <= off and off + size <= region.offset + region.size
            covered.append((off, off + size))
        covered.append((table.offset, table.offset + table.count * table.entry_size))
    assert f.audio_region.offset == f.audio_region.size == f.audio_table.count == 0
    assert f.texture_region.offset < f.buffer_region.offset < f.texture_table.offset < f.buffer_table.offset
    desc_offsets = [e.desc_offset for e in pak.directory]
    assert desc_offsets == sorted(desc_offsets) and desc_offsets[0] % 256 == 0
    types = [e.asset_type for e in pak.directory]
    assert types == sorted(types)  # materials, then geometries, then scenes
    for e in pak.directory:
        assert e.desc_offset % (16 if e.asset_type in (1, 2) else 1) == 0
        covered.append((e.desc_offset, e.desc_offset + e.desc_size))
    assert f.directory_offset % 16 == 0 and f.browse_index_offset == f.directory_offset + f.directory_size
    for i, e in enumerate(pak.directory):
        assert e.entry_offset == f.directory_offset + 64 * i
    covered.append((f.directory_offset, f.browse_index_offset + f.browse_index_size))
    assert f.browse_index_offset + f.browse_index_size == len(data) - 256
    # every byte not covered by a structure is zero padding
    mask = np.ones(len(data), bool)
    for lo, hi in covered:
        mask[lo:hi] = False
    assert not np.frombuffer(data, np.uint8)[mask].any()
    index = parse_index((root / "container.index.bin").read_bytes())
    assert dict(pak.browse) == {a.key: a.virtual_path for a in index.assets}


def test_only_referenced_data_is_copied_and_indices_are_remapped(packed):
    _root, _out, data, result = packed
    assert b"STAL" not in data and b"STALEBUF" not in data
    assert (result.textures, result.buffers) == (4, 2)
    assert (result.dropped_textures, result.dropped_buffers) == (1, 1)
    pak = parse_pak(data)
    expected = rich_content()
    # canonical order: fallback, then first reference walking (type, key) order
    by_name = {parse_material(b).desc.header.name: parse_material(b).desc
               for e, b in zip(pak.directory, pak.descriptors) if e.asset_type == 1}
    order = sorted(by_name, key=lambda n: ContentSet.key(AssetType.MATERIAL, n).raw)
    seen = [0]
    for name in order:
        for slot in TEXTURE_SLOTS:
            idx = getattr(by_name[name], f"{slot}_texture")
            if idx and idx not in seen:
                assert idx == len(seen)  # first reference gets the next index
                seen.append(idx)
    payloads = [pak.regions["texture"][int(r["data_offset"]) - pak.footer.texture_region.offset:][:int(r["size_bytes"])]
                for r in pak.tables["texture"]]
    assert payloads[0] == fallback_texture().payload
    assert payloads[by_name["Checker"].base_color_texture] == expected.textures[1].payload
    assert payloads[by_name["Two"].normal_texture] == expected.textures[3].payload
    assert by_name["Shared"].emissive_texture == by_name["Checker"].base_color_texture
    for blob in pak.descriptors:
        assert finalize_descriptor(blob) == blob  # header hashes recomputed after remapping


def test_identical_payloads_share_one_entry(tmp_path):
    c = ContentSet()
    tex = checker_texture(16)
    c.textures = [fallback_texture(), tex, tex]
    c.assets = [(AssetType.MATERIAL, "A", build_material("A", textures={"base_color": 1})),
                (AssetType.MATERIAL, "B", build_material("B", textures={"base_color": 2}))]
    write_loose_root(tmp_path / "r", c)
    result = pack_paths([tmp_path / "r"], tmp_path / "o.pak")
    pak = parse_pak((tmp_path / "o.pak").read_bytes())
    assert result.textures == len(pak.tables["texture"]) == 2
    assert {parse_material(b).desc.base_color_texture for b in pak.descriptors} == {1}


def test_no_texture_references_means_no_texture_table(tmp_path):
    pak_path = tmp_path / "g.pak"
    pack_paths([GOLDEN_PAK], pak_path)
    pak = parse_pak(pak_path.read_bytes())
    golden = parse_pak(GOLDEN_PAK.read_bytes())
    assert pak.footer.texture_table.count == 0 and pak.descriptors == golden.descriptors
    assert pak.browse == golden.browse


# ------------------------------------------------------------- determinism
def test_packing_twice_gives_identical_bytes(tmp_path):
    ROOT_BUILDERS["canonical"](tmp_path / "r")
    a = pack_paths([tmp_path / "r"], tmp_path / "a.pak")
    b = pack_paths([tmp_path / "r"], tmp_path / "b.pak")
    assert (tmp_path / "a.pak").read_bytes() == (tmp_path / "b.pak").read_bytes() and a.size == b.size


@pytest.mark.parametrize("variant", sorted(set(ROOT_BUILDERS) - {"canonical"}))
def test_roots_written_in_other_orders_pack_to_identical_bytes(tmp_path, variant):
    ROOT_BUILDERS["canonical"](tmp_path / "canonical")
    ROOT_BUILDERS[variant](tmp_path / variant)
    assert (tmp_path / "canonical" / "Resources" / "textures.table").read_bytes() != \
        (tmp_path / variant / "Resources" / "textures.table").read_bytes()  # really another order
    pack_paths([tmp_path / "canonical"], tmp_path / "a.pak")
    pack_paths([tmp_path / variant], tmp_path / "b.pak")
    assert (tmp_path / "a.pak").read_bytes() == (tmp_path / "b.pak").read_bytes()


def test_root_and_its_pak_load_to_equal_objects(packed):
    root, out, _data, _result = packed
    loaded = []
    for mount, path in (("add_loose_cooked_root", root), ("add_pak", out)):
        with AssetLoader(LoaderConfig(cpu_threads=2, verify_content_hashes=True)) as ldr:
            getattr(ldr, mount)(str(path))
            keys = sorted((ContentSet.key(t, n) for t, n, _b in rich_content().assets), key=lambda k: k.raw)
            loaded.append([ldr.load_asset(k).result(T) for k in keys])
    assert loaded[0] == loaded[1]
    scene = next(a for a in loaded[1] if a.name == "S")
    cube = scene.geometries[0][1]
    assert [s.material_key for s in cube.meshes[0].submeshes] == [
        ContentSet.key(AssetType.MATERIAL, "Checker"), ContentSet.key(AssetType.MATERIAL, "Two")]
    assert cube.material(ContentSet.key(AssetType.MATERIAL, "Two")).texture("normal").width == 8


# ------------------------------------------------------------- several roots
def test_several_roots_merge_and_conflicts_are_errors(tmp_path):
    full = rich_content()
    first, second = ContentSet(guid=full.guid), ContentSet(guid=full.guid)
    first.textures, second.textures = full.textures, full.textures
    first.buffers, second.buffers = full.buffers, full.buffers
    first.assets, second.assets = full.assets[:2], full.assets[2:]
    write_loose_root(tmp_path / "one", first)
    write_loose_root(tmp_path / "two", second)
    write_loose_root(tmp_path / "all", full)
    pack_paths([tmp_path / "one", tmp_path / "two"], tmp_path / "merged.pak")
    pack_paths([tmp_path / "all"], tmp_path / "all.pak")
    assert (tmp_path / "merged.pak").read_bytes() == (tmp_path / "all.pak").read_bytes()
    clash = ContentSet(guid=full.guid)
    clash.textures = [fallback_texture()]
    clash.assets = [(AssetType.MATERIAL, "Checker", build_material("Checker", roughness=0.1))]
    write_loose_root(tmp_path / "clash", clash)
    with pytest.raises(PackConflictError, match="differs between"):
        pack_paths([tmp_path / "all", tmp_path / "clash"], tmp_path / "x.pak")
    assert not (tmp_path / "x.pak").exists()


def test_invalid_input_is_refused_with_a_located_error(tmp_path):
    ROOT_BUILDERS["canonical"](tmp_path / "r")
    table = tmp_path / "r" / "Resources" / "textures.table"
    data = bytearray(table.read_bytes())
    data[40 + 29:40 + 31] = (1).to_bytes(2, "little")  # texture 1 alignment = 1
    table.write_bytes(data)
    with pytest.raises(FormatError) as info:
        pack_paths([tmp_path / "r"], tmp_path / "o.pak")
    assert info.value.field == "textures[1].alignment" and info.value.offset == 40 + 29


# ------------------------------------------------------------------- the CLI
def _oxy(*args):
    return subprocess.run([sys.executable, "-m", "oxy", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_cli_pack_exit_codes(tmp_path):
    ROOT_BUILDERS["shuffled"](tmp_path / "r")
    ok = _oxy("pack", tmp_path / "r", "-o", tmp_path / "o.pak")
    assert ok.returncode == 0, ok.stderr
    assert "4 textures" in ok.stdout and (tmp_path / "o.pak").exists()
    assert _oxy("pack", tmp_path / "missing", "-o", tmp_path / "m.pak").returncode == 2
    assert _oxy("pack", tmp_path / "r").returncode == 1  # -o is required
    assert _oxy("pack", tmp_path / "r", "-o", tmp_path / "g.pak", "--guid", "zz").returncode == 1
    (tmp_path / "r" / "container.index.bin").write_bytes(b"OXLCIDX\0" + bytes(10))
    bad = _oxy("pack", tmp_path / "r", "-o", tmp_path / "b.pak")
    assert bad.returncode == 3 and "container.index.bin" in bad.stderr and "Traceback" not in bad.stderr
