"""``oxy cook`` as a user runs it: several models in one command never overwrite each
other, and the summary counts everything written."""
from __future__ import annotations

import json
import subprocess
import sys

from oxy.cli.cook_cmd import unique_names
from oxy.validate import validate_loose_root

from conftest import CORPUS, PROJECT

MODELS = CORPUS / "models"


def test_unique_names_prefer_stem_then_extension_then_folders():
    names = unique_names(["/m/a/box.fbx", "/m/b/box.FBX", "/m/c/Box.gltf", "/m/x/spider.obj", "/m/y/spider.fbx",
                          "/m/z/king.fbx"])
    assert names == {"/m/a/box.fbx": "a_box_fbx", "/m/b/box.FBX": "b_box_fbx", "/m/c/Box.gltf": "Box_gltf",
                     "/m/x/spider.obj": "spider_obj", "/m/y/spider.fbx": "spider_fbx", "/m/z/king.fbx": "king"}
    assert unique_names(["/m/Duck.gltf"]) == {"/m/Duck.gltf": "Duck"}
    assert len({n.lower() for n in unique_names([f"/m/{i}/Duck.gltf" for i in range(5)]).values()}) == 5


def test_models_with_the_same_stem_keep_their_own_assets(tmp_path):
    inputs = [MODELS / "fbx_bin_box" / "box.fbx", MODELS / "fbx_ascii_box_embedded_texture" / "box.FBX",
              MODELS / "obj_spider" / "spider.obj", MODELS / "fbx_bin_spider_abs_paths" / "spider.fbx"]
    root = tmp_path / "root"
    result = subprocess.run([sys.executable, "-m", "oxy", "cook", *map(str, inputs), "-o", str(root), "--json"],
                            capture_output=True, text=True, cwd=PROJECT, timeout=300)
    assert result.returncode == 0, result.stderr
    # the four models are one job (one commit): oxy cook batches models
    assert "4 source(s) in 1 job(s), wrote" in result.stderr and "4 scenes" in result.stderr
    jobs = json.loads(result.stdout)["jobs"]
    assert [j["success"] for j in jobs] == [True]
    assert len({k.split(":", 1)[0] for k in jobs[0]["outputs"]}) == 4  # outputs named per model
    described = subprocess.run([sys.executable, "-m", "oxy", "inspect", str(root), "--json"], capture_output=True,
                               text=True, cwd=PROJECT, timeout=120, check=True)
    scenes = sorted(a["name"] for a in json.loads(described.stdout)["assets"] if a["type"] == "scene")
    assert scenes == ["fbx_ascii_box_embedded_texture_box_fbx", "fbx_bin_box_box_fbx", "spider_fbx", "spider_obj"]
    assert validate_loose_root(root, verify_hashes=True).ok
