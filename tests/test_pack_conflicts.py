"""oxy pack with several inputs: a key whose content differs is an error naming the key
and both inputs (exit 3) unless --prefer picks a side; identical content is merged
whatever its numbering (issue 10, item 5). Checked on real roots and PAKs read back."""
from __future__ import annotations

import subprocess
import sys

import pytest

from oxy.cook.descriptors import build_material, build_standard_geometry
from oxy.cook.payload import fallback_texture
from oxy.formats import AssetType, MeshViewDesc, parse_material, parse_pak
from oxy.formats.resources import TextureResourceDesc
from oxy.pack.compact import pack_paths
from oxy.pack.merge import PackConflictError
from oxy.samples import ContentSet, buffer_entry, checker_texture, cube_buffers, write_loose_root

from conftest import PROJECT
from test_pack_compact import rich_content, write_stale_root

MATERIAL_VPATH = ContentSet.virtual_path(AssetType.MATERIAL, "M")
MATERIAL_KEY = ContentSet.key(AssetType.MATERIAL, "M")


def material_root(path, texture_size: int, roughness: float = 0.5) -> None:
    """A root whose material M uses texture 1 (a checker of ``texture_size``)."""
    content = ContentSet()
    content.textures = [fallback_texture(), checker_texture(texture_size)]
    content.assets = [(AssetType.MATERIAL, "M", build_material("M", textures={"base_color": 1}, roughness=roughness))]
    write_loose_root(path, content)


def pak_texture_payloads(path) -> list[bytes]:
    data = path.read_bytes()
    pak = parse_pak(data)
    out = []
    for row in pak.tables["texture"]:
        entry = TextureResourceDesc.parse(row.tobytes())
        out.append(data[entry.data_offset:entry.data_offset + entry.size_bytes])
    return out


def oxy(*args):
    return subprocess.run([sys.executable, "-m", "oxy", *map(str, args)], capture_output=True, text=True,
                          cwd=PROJECT, timeout=120)


def test_same_descriptor_over_different_pixels_is_a_conflict(tmp_path):
    """The descriptor bytes are identical (texture index 1 in both); the pixels are not.
    The old merge compared descriptor bytes only and kept whichever input came first."""
    a, b = tmp_path / "a", tmp_path / "b"
    material_root(a, 64)
    material_root(b, 16)
    assert (a / "Materials/M.omat").read_bytes() == (b / "Materials/M.omat").read_bytes()
    with pytest.raises(PackConflictError) as info:
        pack_paths([a, b], tmp_path / "x.pak")
    [conflict] = info.value.conflicts
    assert conflict.key == MATERIAL_KEY and conflict.first == str(a) and conflict.second == str(b)
    assert "texture" in conflict.reason and "different content" in conflict.reason
    assert not (tmp_path / "x.pak").exists()

    result = oxy("pack", a, b, "-o", tmp_path / "x.pak")
    assert result.returncode == 3, result.stderr
    assert str(MATERIAL_KEY) in result.stderr and MATERIAL_VPATH in result.stderr
    assert str(a) in result.stderr and str(b) in result.stderr and "--prefer" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.pak").exists()


@pytest.mark.parametrize("prefer, size", [("first", 64), ("last", 16)])
def test_prefer_picks_the_side_and_says_so(tmp_path, prefer, size):
    a, b = tmp_path / "a", tmp_path / "b"
    material_root(a, 64)
    material_root(b, 16)
    out = tmp_path / f"{prefer}.pak"
    result = oxy("pack", a, b, "-o", out, "--prefer", prefer)
    assert result.returncode == 0, result.stderr
    assert f"--prefer {prefer}" in result.stderr and str(MATERIAL_KEY) in result.stderr
    payloads = pak_texture_payloads(out)
    assert len(payloads) == 2  # the fallback and the winner's texture only
    assert payloads[1] == checker_texture(size).payload
    # The other order flips the winner: nothing depends on argument order by accident.
    flipped = tmp_path / f"{prefer}-flipped.pak"
    assert oxy("pack", b, a, "-o", flipped, "--prefer", prefer).returncode == 0
    assert pak_texture_payloads(flipped)[1] == checker_texture(16 if size == 64 else 64).payload


def test_different_descriptors_conflict_and_prefer_keeps_the_descriptor(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    material_root(a, 64, roughness=0.25)
    material_root(b, 64, roughness=0.75)
    with pytest.raises(PackConflictError, match="the descriptors differ"):
        pack_paths([a, b], tmp_path / "x.pak")
    for prefer, roughness in (("first", 0.25), ("last", 0.75)):
        out = tmp_path / f"{prefer}.pak"
        result = pack_paths([a, b], out, prefer=prefer)
        assert [c.kept for c in result.conflicts] == [str(a if prefer == "first" else b)]
        data = out.read_bytes()
        pak = parse_pak(data)
        [entry] = pak.directory
        material = parse_material(data[entry.desc_offset:entry.desc_offset + entry.desc_size])
        assert abs(material.desc.roughness - roughness) < 1e-4


def test_geometry_over_different_vertex_bytes_is_a_conflict(tmp_path):
    vb, ib, lo, hi = cube_buffers()
    view = MeshViewDesc(first_index=0, index_count=36, first_vertex=0, vertex_count=24)
    geometry = build_standard_geometry("G", vertex_buffer=0, index_buffer=1, bbox_min=lo, bbox_max=hi,
                                       submeshes=[("S", ContentSet.key(AssetType.MATERIAL, "M"), view)])
    for name, vertices in (("a", vb), ("b", b"\0\0\x80\x3f" + vb[4:])):
        content = ContentSet()
        content.buffers = [(buffer_entry(vertices, 0x101, 72, 0), vertices), (buffer_entry(ib, 0x102, 0, 10), ib)]
        content.assets = [(AssetType.GEOMETRY, "G", geometry)]
        write_loose_root(tmp_path / name, content)
    with pytest.raises(PackConflictError, match="buffer named by the index field"):
        pack_paths([tmp_path / "a", tmp_path / "b"], tmp_path / "x.pak")


def test_identical_content_merges_whatever_its_numbering(tmp_path):
    """Same assets and resources under other table numbers (and stale entries): the old
    byte comparison called this a conflict; by meaning it is one asset set."""
    write_loose_root(tmp_path / "a", rich_content())
    write_stale_root(tmp_path / "b", seed=3)
    differing = [p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.o*")
                 if p.read_bytes() != (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes()]
    assert len(differing) >= 2, differing  # descriptors name their resources by other numbers
    merged = pack_paths([tmp_path / "a", tmp_path / "b"], tmp_path / "ab.pak")
    alone = pack_paths([tmp_path / "a"], tmp_path / "a.pak")
    assert merged.conflicts == ()
    assert (tmp_path / "ab.pak").read_bytes() == (tmp_path / "a.pak").read_bytes()
    assert merged.assets == alone.assets == len(rich_content().assets)


def test_a_pak_and_a_root_with_the_same_content_merge(tmp_path):
    write_loose_root(tmp_path / "a", rich_content())
    pack_paths([tmp_path / "a"], tmp_path / "a.pak")
    result = oxy("pack", tmp_path / "a.pak", tmp_path / "a", "-o", tmp_path / "again.pak")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "again.pak").read_bytes() == (tmp_path / "a.pak").read_bytes()
