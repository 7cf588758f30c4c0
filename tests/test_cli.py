"""``oxy validate`` and ``oxy inspect``: exit codes, messages and the JSON model, run as a user would."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import GOLDEN_PAK, SAMPLE_PAK


def oxy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oxy", *args], capture_output=True, text=True)


def test_validate_exit_codes(tmp_path):
    assert oxy("validate", str(SAMPLE_PAK), "--verify-hashes").returncode == 0
    missing = oxy("validate", str(tmp_path / "nope.pak"))
    assert missing.returncode == 2 and "nope.pak" in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "bad.pak"
    bad.write_bytes(GOLDEN_PAK.read_bytes()[:300])
    result = oxy("validate", str(bad))
    assert result.returncode == 3 and "bad.pak" in result.stdout and "INVALID" in result.stdout
    assert oxy("validate").returncode == 1
    assert oxy("frobnicate", "x").returncode == 1


def test_validate_json_names_offset_and_field(tmp_path):
    data = bytearray(GOLDEN_PAK.read_bytes())
    data[8] = 9  # version
    bad = tmp_path / "v9.pak"
    bad.write_bytes(bytes(data))
    result = oxy("validate", str(bad), "--json")
    assert result.returncode == 3
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["kind"] == "pak"
    first = report["diagnostics"][0]
    assert first == {"severity": "error", "code": "pak.header.version", "file": str(bad), "offset": 8,
                     "field": "header.version", "message": first["message"]}


def test_validate_loose_root(sample_root):
    result = oxy("validate", str(sample_root), "--verify-hashes", "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["stats"]["assets"] == 3
    assert oxy("validate", str(sample_root / "container.index.bin")).returncode == 0


@pytest.mark.parametrize("which", ["pak", "loose"])
def test_inspect_json_model(which, sample_root):
    path = str(SAMPLE_PAK) if which == "pak" else str(sample_root)
    result = oxy("inspect", path, "--json")
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    types = {a["type"]: a for a in model["assets"]}
    assert set(types) == {"material", "geometry", "scene"}
    for asset in model["assets"]:
        assert len(asset["key"]) == 36 and asset["virtual_path"].startswith("/.cooked/")
        assert asset["name"] and asset["descriptor"]["header"]["name"] == asset["name"]
    assert types["material"]["descriptor"]["base_color_texture"] == 1
    assert types["geometry"]["descriptor"]["meshes"][0]["info"]["index_buffer"] == 1
    assert types["scene"]["descriptor"]["node_count"] == 2
    assert types["scene"]["descriptor"]["components"][0]["type"] == "RENDERABLE"
    assert [t["format_name"] for t in model["textures"]] == ["RGBA8_UNORM", "RGBA8_UNORM_SRGB"]
    assert model["buffers"][0]["element_stride"] == 72 and model["buffers"][1]["element_format_name"] == "R32_UINT"


def test_inspect_full_text_prints_everything():
    result = oxy("inspect", str(SAMPLE_PAK), "--full")
    assert result.returncode == 0
    for needle in ("footer:", "texture_table:", "RGBA8_UNORM_SRGB", "name: Checker", "type: scene",
                   "node_count: 2", "ForwardMesh_PS.hlsl", "pak_crc32: 0x"):
        assert needle in result.stdout, needle


def test_inspect_invalid_is_exit_3(tmp_path):
    bad = tmp_path / "bad.pak"
    bad.write_bytes(b"OXPAK\0\0\0" + bytes(600))
    result = oxy("inspect", str(bad))
    assert result.returncode == 3 and "bad.pak" in result.stderr and "Traceback" not in result.stderr
