"""oxy diff: PAKs and roots compared by content, and the command's exit codes."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from oxy.cook.descriptors import build_material
from oxy.pack.compact import pack_paths
from oxy.pack.content import read_content
from oxy.pack.diff import diff_content
from oxy.samples import checker_texture, write_loose_root

from conftest import GOLDEN_PAK
from test_pack_compact import ROOT_BUILDERS, rich_content


def _oxy(*args):
    return subprocess.run([sys.executable, "-m", "oxy", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def root_and_pak(tmp_path):
    ROOT_BUILDERS["shuffled+stale"](tmp_path / "root")
    pack_paths([tmp_path / "root"], tmp_path / "o.pak")
    return tmp_path / "root", tmp_path / "o.pak"


def test_a_root_and_its_compacted_pak_have_the_same_content(root_and_pak):
    root, pak = root_and_pak
    result = diff_content(read_content(root), read_content(pak))
    assert result.identical and result.lines() == []
    assert any("loose with 5 assets" in n for n in result.notes)


def test_a_changed_factor_is_named_by_field(tmp_path, root_and_pak):
    _root, pak = root_and_pak
    content = rich_content()
    content.assets = [(t, n, build_material("Two", textures={"base_color": 2, "normal": 3}, roughness=0.25)
                       if n == "Two" else b) for t, n, b in content.assets]
    write_loose_root(tmp_path / "changed", content)
    result = diff_content(read_content(pak), read_content(tmp_path / "changed"))
    assert not result.identical and len(result.changed) == 1
    assert "/.cooked/Materials/Two.omat" in result.changed[0] and "desc.roughness: 1.0 -> 0.25" in result.changed[0]


def test_a_changed_texture_payload_is_found_through_its_material(tmp_path, root_and_pak):
    _root, pak = root_and_pak
    content = rich_content()
    content.textures[3] = checker_texture(4)  # Two's normal map, other size and bytes
    write_loose_root(tmp_path / "t", content)
    result = diff_content(read_content(pak), read_content(tmp_path / "t"))
    fields = " ".join(result.changed)
    assert "normal_texture.width: 8 -> 4" in fields and "normal_texture.payload_sha256" in fields
    assert all("Two.omat" in line for line in result.changed)


def test_assets_present_on_one_side_only(tmp_path, root_and_pak):
    root, _pak = root_and_pak
    result = diff_content(read_content(root), read_content(GOLDEN_PAK))
    assert len(result.only_in_a) == 5 and result.only_in_b == ["aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa (/MatRef)"]


def test_cli_diff_exit_codes(tmp_path, root_and_pak):
    root, pak = root_and_pak
    same = _oxy("diff", root, pak)
    assert same.returncode == 0 and "same content" in same.stdout
    different = _oxy("diff", pak, GOLDEN_PAK, "--json")
    assert different.returncode == 4
    model = json.loads(different.stdout)
    assert model["identical"] is False and len(model["only_in_a"]) == 5
    assert _oxy("diff", root, tmp_path / "missing.pak").returncode == 2
    broken = tmp_path / "broken.pak"
    broken.write_bytes(pak.read_bytes()[:-1])
    bad = _oxy("diff", root, broken)
    assert bad.returncode == 3 and "broken.pak" in bad.stderr and "Traceback" not in bad.stderr
    assert _oxy("diff", root).returncode == 1
