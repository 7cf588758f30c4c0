"""``oxy inspect`` for people: the default overview fits a terminal for a 100-asset PAK,
``--summary`` counts right, ``--asset`` and ``--type`` narrow the text and the JSON."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import PROJECT, SAMPLE_PAK


def oxy(*args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "COLUMNS": str(columns), "LINES": "40"}
    return subprocess.run([sys.executable, "-m", "oxy", "inspect", *args], capture_output=True, text=True,
                          env=env, cwd=PROJECT, timeout=120)


@pytest.fixture(scope="module")
def hundred(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    from oxy.samples import many_materials, write_sample_pak

    path = tmp_path_factory.mktemp("inspect") / "hundred.pak"
    write_sample_pak(path, many_materials(100))
    return path


def test_overview_of_a_100_asset_pak_fits_a_terminal(hundred: pathlib.Path) -> None:
    for columns in (80, 120):
        r = oxy(str(hundred), columns=columns)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert max(len(line) for line in lines) <= columns
        assets = [line for line in lines if line.startswith("  material ")]
        assert len(assets) == 100
        textures = int(lines[0].split(" textures")[0].rsplit(" ", 1)[-1])
        buffers = int(lines[0].split(" buffers")[0].rsplit(" ", 1)[-1])
        assert len(lines) == 1 + 1 + 100 + (1 + textures if textures else 0) + (1 + buffers if buffers else 0)
    full = oxy(str(hundred), "--full")
    assert len(full.stdout.splitlines()) > 20 * len(lines)  # the overview is a small part of everything


def test_summary_counts_agree_with_the_json(hundred: pathlib.Path) -> None:
    doc = json.loads(oxy(str(hundred), "--json").stdout)
    summary = json.loads(oxy(str(hundred), "--json", "--summary").stdout)["summary"]
    assert summary["asset_count"] == len(doc["assets"]) == 100
    assert summary["assets"] == {"material": {"count": 100, "bytes": sum(a["desc_size"] for a in doc["assets"])}}
    assert summary["texture_count"] == len(doc["textures"])
    assert summary["texture_bytes"] == sum(t["size_bytes"] for t in doc["textures"])
    assert summary["buffers"]["count"] == len(doc["buffers"])
    text = oxy(str(hundred), "--summary").stdout
    assert "assets: 100  material 100" in text and f"textures: {summary['texture_count']}" in text


def test_asset_and_type_select(tmp_path: pathlib.Path) -> None:
    doc = json.loads(oxy(str(SAMPLE_PAK), "--json").stdout)
    geometry = next(a for a in doc["assets"] if a["type"] == "geometry")
    for ask in (geometry["key"], geometry["key"].replace("-", "").upper(), geometry["virtual_path"], geometry["name"]):
        r = oxy(str(SAMPLE_PAK), "--asset", ask)
        assert r.returncode == 0 and f"key: {geometry['key']}" in r.stdout and "type: material" not in r.stdout, ask
        assert "material_asset_key:" in r.stdout  # every decoded field
        picked = json.loads(oxy(str(SAMPLE_PAK), "--asset", ask, "--json").stdout)
        assert [a["key"] for a in picked["assets"]] == [geometry["key"]]
    typed = json.loads(oxy(str(SAMPLE_PAK), "--type", "material", "--type", "buffer", "--json").stdout)
    assert {a["type"] for a in typed["assets"]} == {"material"} and typed["textures"] == []
    assert len(typed["buffers"]) == len(doc["buffers"])
    text = oxy(str(SAMPLE_PAK), "--type", "texture").stdout
    assert "assets (" not in text and "textures (2):" in text and "buffers (" not in text


def test_an_asset_that_is_not_there(tmp_path: pathlib.Path) -> None:
    r = oxy(str(SAMPLE_PAK), "--asset", "/.cooked/Nope.omat")
    assert r.returncode == 4 and "no asset '/.cooked/Nope.omat'" in r.stderr
    doc = json.loads(oxy(str(SAMPLE_PAK), "--asset", "nope", "--json").stdout)
    assert doc["ok"] is False and doc["exit_code"] == 4 and doc["error"]["code"] == "no_match"


def test_list_assets_for_scripts_agrees_with_inspect(tmp_path: pathlib.Path, sample_root: pathlib.Path) -> None:
    """``oxy.list_assets(path)``: keys, types and virtual paths of a PAK or a loose root (its
    folder or its index file), as ``oxy inspect --json`` has them, without a loader or a hub."""
    import oxy
    from oxy.errors import FormatError

    for path in (SAMPLE_PAK, sample_root, sample_root / "container.index.bin"):
        doc = json.loads(oxy_inspect_json(path))
        listed = oxy.list_assets(path)
        assert sorted((str(a.key), a.type, a.virtual_path) for a in listed) == \
            sorted((a["key"], a["type"], a["virtual_path"]) for a in doc["assets"])
    bad = tmp_path / "bad.pak"
    bad.write_bytes(SAMPLE_PAK.read_bytes()[:100])
    with pytest.raises(FormatError, match="bad.pak"):
        oxy.list_assets(bad)
    with pytest.raises(FormatError, match="missing.pak"):
        oxy.list_assets(tmp_path / "missing.pak")
    probe = subprocess.run([sys.executable, "-c", "import sys, threading, oxy; oxy.list_assets(sys.argv[1]); "
                            "print(threading.active_count())", str(SAMPLE_PAK)], capture_output=True, text=True,
                           cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)}, timeout=60)
    assert probe.stdout.strip() == "1", probe.stderr  # no hub thread, no pool: plain blocking code


def oxy_inspect_json(path: pathlib.Path) -> str:
    return oxy(str(path), "--json").stdout
