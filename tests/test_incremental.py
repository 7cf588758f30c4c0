"""Incremental cooking end to end: `oxy cook` twice, with changes in between.

Every test cooks real content (the samples' textured cube and images, and a glTF with
an external .bin and texture from the corpus) through the CLI, then compares the
files on disk (bytes and mtimes), the per-kind counts of `--json`, the build records
(`oxy why --json`) and packed PAK bytes.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import CORPUS, PROJECT
from oxy.cli.main import main
from oxy.formats.resources import TEXTURE_DESC_DTYPE
from oxy.validate import validate_loose_root

OLD = 1_600_000_000  # a past mtime: signatures of these sources are not "racy"


@pytest.fixture
def src(tmp_path: pathlib.Path) -> pathlib.Path:
    """A source tree: samples/models + samples/textures, and the corpus BoxTextured glTF."""
    out = tmp_path / "src"
    shutil.copytree(PROJECT / "samples" / "models", out / "models")
    shutil.copytree(PROJECT / "samples" / "textures", out / "textures")
    shutil.copytree(CORPUS / "models" / "gltf_BoxTextured", out / "box")
    (out / "box" / "README.md").unlink()
    for path in out.rglob("*"):
        os.utime(path, (OLD, OLD))
    return out


def cook(capsys, *args: str) -> dict:
    code = main(["cook", *map(str, args), "--json"])
    doc = json.loads(capsys.readouterr().out)
    doc["exit"] = code
    return doc


def why(capsys, root: pathlib.Path, *items: str) -> dict:
    assert main(["why", str(root), *items, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def snapshot(root: pathlib.Path, *, cooked_only: bool = False) -> dict[str, tuple[int, str]]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not (cooked_only and rel.startswith(".oxy")):
            out[rel] = (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def counts(doc: dict, kind: str) -> dict[str, int]:
    return doc["counts"].get(kind, {"cooked": 0, "up_to_date": 0, "cache_hits_local": 0, "cache_hits_remote": 0,
                                    "failed": 0})


def change_one_pixel(path: pathlib.Path) -> None:
    image = Image.open(path)
    image.load()
    pixel = image.getpixel((0, 0))
    image.putpixel((0, 0), tuple((c + 97) % 256 for c in pixel) if isinstance(pixel, tuple) else (pixel + 97) % 256)
    image.save(path)


def table(root: pathlib.Path) -> np.ndarray:
    return np.frombuffer((root / "Resources" / "textures.table").read_bytes(), TEXTURE_DESC_DTYPE)


def sources_of(doc: dict) -> dict[str, dict]:
    return {os.path.basename(s["path"]): s for s in doc["sources"]}


# -- no-op --------------------------------------------------------------------------------------------

def test_a_noop_recook_writes_nothing(src, tmp_path, capsys):
    root = tmp_path / "root"
    first = cook(capsys, src, "-o", root)
    assert first["exit"] == 0, first
    assert validate_loose_root(root, verify_hashes=True).ok  # .oxy/ does not disturb the engine's rules
    before = snapshot(root)
    for _ in range(3):
        again = cook(capsys, src, "-o", root)
        assert again["exit"] == 0
        assert snapshot(root) == before  # every file: same bytes, same mtime (the records too)
        assert all(c["cooked"] == 0 and c["cache_hits_local"] == 0 for c in again["counts"].values()), again["counts"]
        assert counts(again, "texture")["up_to_date"] == 2   # badge, checker (brick is the cube's texture)
        assert counts(again, "scene")["up_to_date"] == 2     # brick_cube, BoxTextured
        assert all(not any(job["written"].values()) for job in again["jobs"])


def test_just_created_sources_are_confirmed_by_hash_and_still_write_nothing(tmp_path, capsys):
    """Sources written a moment ago have racy signatures (the same mtime tick could hide
    a change): they are hashed on every check, and still nothing is written."""
    images = tmp_path / "images"
    shutil.copytree(PROJECT / "samples" / "textures", images)
    root = tmp_path / "root"
    assert cook(capsys, images, "-o", root)["exit"] == 0
    before = snapshot(root)
    again = cook(capsys, images, "-o", root)
    assert snapshot(root) == before and counts(again, "texture")["up_to_date"] == 3
    change_one_pixel(images / "badge.png")  # same second as the cook: only the hash can tell
    third = cook(capsys, images, "-o", root)
    assert counts(third, "texture")["cooked"] == 1 and counts(third, "texture")["up_to_date"] == 2


# -- what changed is what is cooked -----------------------------------------------------------------

def test_one_changed_pixel_recooks_that_texture_only(src, tmp_path, capsys):
    root = tmp_path / "root"
    cook(capsys, src, "-o", root)
    entries, data = table(root).copy(), (root / "Resources" / "textures.data").read_bytes()
    descriptors = {k: v for k, v in snapshot(root).items() if k.endswith((".omat", ".ogeo", ".oscene"))}
    change_one_pixel(src / "textures" / "checker.png")
    doc = cook(capsys, src, "-o", root)
    assert counts(doc, "texture") == {**counts(doc, "texture"), "cooked": 1, "up_to_date": 1}
    assert counts(doc, "scene")["up_to_date"] == 2 and "scene_parse" not in doc["counts"]
    after = table(root)
    assert len(after) == len(entries) + 1 and (after[:len(entries)] == entries).all()
    assert (root / "Resources" / "textures.data").read_bytes()[:len(data)] == data  # other payloads untouched
    assert {k: v for k, v in snapshot(root).items() if k in descriptors} == descriptors
    record = sources_of(why(capsys, root, "checker.png"))["checker.png"]
    assert record["reason"]["code"] == "source_changed" and record["reason"]["old"] != record["reason"]["new"]
    assert record["outputs"][0]["index"] == len(entries)


def test_a_changed_model_texture_recooks_it_and_its_material_only(src, tmp_path, capsys):
    root = tmp_path / "root"
    cook(capsys, src, "-o", root)
    before = snapshot(root)
    change_one_pixel(src / "textures" / "brick.png")  # the cube's base colour
    doc = cook(capsys, src, "-o", root)
    assert counts(doc, "texture")["cooked"] == 1 and counts(doc, "material")["cooked"] == 1
    assert counts(doc, "scene")["up_to_date"] == 2   # BoxTextured untouched; the cube's scene: same bytes
    assert counts(doc, "geometry")["cache_hits_local"] + counts(doc, "geometry")["cooked"] == 1
    after = snapshot(root)
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed == {"Materials/brick_cube_Brick.omat", "Resources/textures.table", "Resources/textures.data",
                       "container.index.bin", ".oxy/build.sqlite"}
    cube = sources_of(why(capsys, root, "brick_cube.gltf"))["brick_cube.gltf"]
    assert cube["reason"] == {"code": "dependency_changed", "file": str(src / "textures" / "brick.png"),
                              "old": cube["reason"]["old"], "new": cube["reason"]["new"]}
    material = next(o for o in cube["outputs"] if o["stage"] == "material")
    assert material["reason"]["code"] == "dependency_changed" and material["origin"] == "cooked"
    scene = next(o for o in cube["outputs"] if o["stage"] == "scene")
    assert scene["origin"] == "unchanged"
    assert validate_loose_root(root, verify_hashes=True).ok


def test_a_sidecar_settings_change_recooks_exactly_what_it_affects(src, tmp_path, capsys, monkeypatch):
    # a cache of its own: another test may have cooked badge.png at "fast" into the shared
    # test cache, and this test counts cooks, not cache hits
    monkeypatch.setenv("OXY_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "root"
    cook(capsys, src, "-o", root)
    (src / "textures" / "badge.png.oxy.toml").write_text('quality = "fast"\n')
    doc = cook(capsys, src, "-o", root)
    assert counts(doc, "texture")["cooked"] == 1 and counts(doc, "texture")["up_to_date"] == 1
    assert counts(doc, "scene")["up_to_date"] == 2
    badge = sources_of(why(capsys, root, "badge.png"))["badge.png"]
    assert badge["reason"] == {"code": "settings_changed",
                               "changes": [{"field": "quality", "old": "normal", "new": "fast"}]}
    assert badge["settings_from"]["quality"].endswith("badge.png.oxy.toml")
    # a folder rule for the models' folder: the cube's textures become "ui" (no mips)
    (src / "models" / "oxy.toml").write_text('[[rules]]\nglob = "*.gltf"\npreset = "ui"\n')
    doc = cook(capsys, src, "-o", root)
    assert counts(doc, "texture")["cooked"] == 1 and counts(doc, "material")["cooked"] == 1
    assert counts(doc, "scene_parse")["cache_hits_local"] == 1  # the cube only: BoxTextured is in another folder
    cube = sources_of(why(capsys, root, "brick_cube.gltf"))["brick_cube.gltf"]
    assert cube["reason"] == {"code": "settings_changed", "changes": [{"field": "preset", "old": None, "new": "ui"}]}
    # a typo in a settings file fails that source alone, naming the file and the key
    (src / "textures" / "badge.png.oxy.toml").write_text('quailty = "fast"\n')
    doc = cook(capsys, src, "-o", root)
    assert doc["exit"] == 4
    messages = [d["message"] for job in doc["jobs"] for d in job["diagnostics"] if d["code"] == "texture.bad_settings"]
    assert len(messages) == 1 and "badge.png.oxy.toml" in messages[0] and "quality" in messages[0]


def test_a_stage_version_bump_recooks_that_stage_only(src, tmp_path, capsys, monkeypatch):
    from oxy.build import recipe

    root, cache = tmp_path / "root", tmp_path / "cache"
    cook(capsys, src, "-o", root, "--cache", cache)
    before = snapshot(root, cooked_only=True)
    monkeypatch.setitem(recipe.STAGE_VERSIONS, "geometry", recipe.STAGE_VERSIONS["geometry"] + 1)
    doc = cook(capsys, src, "-o", root, "--cache", cache)
    assert counts(doc, "geometry")["cooked"] == 2                  # one geometry per model, packed again
    assert counts(doc, "texture")["cooked"] == 0 and counts(doc, "texture")["up_to_date"] == 4
    assert counts(doc, "scene_parse")["cache_hits_local"] == 2       # the parse stage did not change
    assert snapshot(root, cooked_only=True) == before              # same bytes: nothing rewritten
    cube = sources_of(why(capsys, root, "brick_cube.gltf"))["brick_cube.gltf"]
    assert cube["reason"] == {"code": "code_version_changed", "stage": "geometry",
                              "old": recipe.STAGE_VERSIONS["geometry"] - 1, "new": recipe.STAGE_VERSIONS["geometry"]}
    geometry = next(o for o in cube["outputs"] if o["stage"] == "geometry")
    assert geometry["reason"]["code"] == "code_version_changed" and geometry["origin"] == "cooked"


def test_an_identical_result_does_not_propagate(src, tmp_path, capsys):
    """Early cut-off: a source whose bytes change but whose cooked result does not
    (the same pixels saved with another PNG compression) re-cooks that unit only and
    writes no cooked file: not the texture, not the material that names it."""
    root = tmp_path / "root"
    cook(capsys, src, "-o", root, "--no-cache")
    before = snapshot(root, cooked_only=True)
    brick = src / "textures" / "brick.png"
    pixels = Image.open(brick)
    pixels.load()
    old = brick.read_bytes()
    pixels.save(brick, compress_level=1)
    assert brick.read_bytes() != old
    doc = cook(capsys, src, "-o", root, "--no-cache")
    assert counts(doc, "texture")["cooked"] == 1 and counts(doc, "material")["up_to_date"] == 1
    assert snapshot(root, cooked_only=True) == before
    cube = sources_of(why(capsys, root, "brick_cube.gltf"))["brick_cube.gltf"]
    assert cube["reason"]["code"] == "dependency_changed"           # recorded: the next cook is a no-op
    assert cook(capsys, src, "-o", root, "--no-cache")["counts"]["scene"]["up_to_date"] == 2


def test_force_recooks_every_unit_and_says_so(src, tmp_path, capsys):
    root = tmp_path / "root"
    cook(capsys, src, "-o", root)
    before = snapshot(root, cooked_only=True)
    doc = cook(capsys, src, "-o", root, "--force")
    assert counts(doc, "texture")["cooked"] == 4 and counts(doc, "geometry")["cooked"] == 2
    assert snapshot(root, cooked_only=True) == before  # the same bytes again: nothing appended
    record = sources_of(why(capsys, root))["badge.png"]
    assert record["reason"]["code"] == "forced" and record["outputs"][0]["reason"]["code"] == "forced"


def test_first_cook_and_cache_reuse_are_recorded(src, tmp_path, capsys):
    cache = tmp_path / "cache"
    cook(capsys, src, "-o", tmp_path / "a", "--cache", cache)
    first = sources_of(why(capsys, tmp_path / "a"))
    assert {s["reason"]["code"] for s in first.values()} == {"first_cook"}
    assert {o["origin"] for s in first.values() for o in s["outputs"]} >= {"cooked"}
    cook(capsys, src, "-o", tmp_path / "b", "--cache", cache)
    second = sources_of(why(capsys, tmp_path / "b"))
    texture = second["badge.png"]["outputs"][0]
    assert texture["origin"] == "cache:local" and texture["key"] == first["badge.png"]["outputs"][0]["key"]
    assert main(["why", str(tmp_path / "b")]) == 0
    text = capsys.readouterr().out
    assert "reused from the local cook cache" in text and "first cook" in text


# -- the cache across roots and processes -------------------------------------------------------------

def pack(capsys, root: pathlib.Path, out: pathlib.Path) -> bytes:
    assert main(["pack", str(root), "-o", str(out)]) == 0, capsys.readouterr()
    capsys.readouterr()
    return out.read_bytes()


def test_two_roots_share_a_cache_and_pack_to_the_same_bytes(src, tmp_path, capsys):
    cache = tmp_path / "cache"
    a = cook(capsys, src, "-o", tmp_path / "a", "--cache", cache)
    b = cook(capsys, src, "-o", tmp_path / "b", "--cache", cache)
    assert counts(a, "texture")["cooked"] == 4 and counts(b, "texture")["cooked"] == 0
    assert counts(b, "texture")["cache_hits_local"] == 4
    assert counts(b, "scene_parse")["cache_hits_local"] == 2 and counts(b, "geometry")["cache_hits_local"] == 2
    assert pack(capsys, tmp_path / "a", tmp_path / "a.pak") == pack(capsys, tmp_path / "b", tmp_path / "b.pak")


def test_a_corrupted_cache_entry_is_detected_and_cooked_again(src, tmp_path, capsys):
    cache = tmp_path / "cache"
    cook(capsys, src, "-o", tmp_path / "a", "--cache", cache)
    entries = [p for p in cache.rglob("*") if p.is_file() and len(p.name) == 64]
    assert entries
    for entry in entries:  # flip the last byte of every entry's data
        blob = bytearray(entry.read_bytes())
        blob[-1] ^= 0xFF
        entry.write_bytes(bytes(blob))
    doc = cook(capsys, src, "-o", tmp_path / "b", "--cache", cache)
    assert doc["exit"] == 0
    assert counts(doc, "texture")["cooked"] == 4 and counts(doc, "texture")["cache_hits_local"] == 0
    assert doc["cache"]["corrupt"] >= len(entries) - 1
    assert pack(capsys, tmp_path / "a", tmp_path / "a.pak") == pack(capsys, tmp_path / "b", tmp_path / "b.pak")


def test_two_processes_cook_at_once_through_one_cache(src, tmp_path, capsys):
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    runs = [subprocess.Popen([sys.executable, "-m", "oxy", "cook", str(src), "-o", str(tmp_path / name),
                              "--cache", str(cache), "--json"], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outs = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [o[1][-2000:] for o in outs]
    assert pack(capsys, tmp_path / "a", tmp_path / "a.pak") == pack(capsys, tmp_path / "b", tmp_path / "b.pak")
    third = cook(capsys, src, "-o", tmp_path / "c", "--cache", cache)
    assert counts(third, "texture")["cooked"] == 0  # whatever both wrote is whole and verified


# -- pack and the live set ----------------------------------------------------------------------------

def test_standalone_textures_survive_pack_and_an_incremental_root_packs_like_a_cold_one(src, tmp_path, capsys):
    from oxy.formats import parse_pak

    root = tmp_path / "root"
    cook(capsys, src, "-o", root)
    change_one_pixel(src / "textures" / "checker.png")
    change_one_pixel(src / "textures" / "brick.png")
    cook(capsys, src, "-o", root)
    (src / "textures" / "badge.png.oxy.toml").write_text('quality = "fast"\n')
    cook(capsys, src, "-o", root)
    cold = tmp_path / "cold"
    cook(capsys, src, "-o", cold, "--no-cache")
    incremental = pack(capsys, root, tmp_path / "inc.pak")
    assert incremental == pack(capsys, cold, tmp_path / "cold.pak")
    pak = parse_pak(incremental)
    # fallback, badge and checker (standalone, nothing references them), brick and the box's logo
    assert len(pak.tables["texture"]) == 5


# -- S3 ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    moto_server = pytest.importorskip("moto.server")
    import boto3

    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            mp.setenv("AWS_ENDPOINT_URL_S3", endpoint)
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="studio-cache")
            yield endpoint
        finally:
            server.stop()


def test_a_team_cache_on_s3_is_read_through_by_another_machine(s3, src, tmp_path, capsys, monkeypatch):
    url = "s3://studio-cache/oxy"
    monkeypatch.setenv("OXY_CACHE_DIR", str(tmp_path / "machine1"))
    first = cook(capsys, src, "-o", tmp_path / "a", "--cache", url)
    assert counts(first, "texture")["cooked"] == 4 and first["cache"]["remote_writes"] > 0
    monkeypatch.setenv("OXY_CACHE_DIR", str(tmp_path / "machine2"))  # an empty local cache
    second = cook(capsys, src, "-o", tmp_path / "b", "--cache", url)
    assert counts(second, "texture")["cache_hits_remote"] == 4 and counts(second, "texture")["cooked"] == 0
    assert counts(second, "scene_parse")["cache_hits_remote"] == 2
    badge = sources_of(why(capsys, tmp_path / "b", "badge.png"))["badge.png"]["outputs"][0]
    assert badge["origin"] == "cache:remote"
    assert pack(capsys, tmp_path / "a", tmp_path / "a.pak") == pack(capsys, tmp_path / "b", tmp_path / "b.pak")
    third = cook(capsys, src, "-o", tmp_path / "c", "--cache", url)  # now local on machine 2
    assert counts(third, "texture")["cache_hits_local"] == 4


def test_unit_codec_refuses_what_it_does_not_know():
    from oxy.build import unit_codec

    class Stranger:
        pass

    with pytest.raises(unit_codec.UnitCodecError):
        unit_codec.encode(Stranger())
    good = unit_codec.encode({"a": (1, 2.5, None), "b": np.arange(6, dtype=np.float32).reshape(2, 3), "c": b"x"})
    back = unit_codec.decode(good)
    assert back["a"] == (1, 2.5, None) and back["b"].dtype == np.float32 and back["b"].shape == (2, 3)
    for tree in ({"$c": "os.system", "f": {}}, {"$e": "subprocess.Popen", "v": 1}, {"$a": 0, "dtype": "O",
                                                                                     "shape": [1]}):
        blob = json.dumps({"v": tree, "blobs": [[0, 8]]}).encode()
        with pytest.raises(unit_codec.UnitCodecError):
            unit_codec.decode(b"OXYUNIT1" + len(blob).to_bytes(4, "little") + blob + bytes(8))
    with pytest.raises(unit_codec.UnitCodecError):
        unit_codec.decode(good[:20])


def test_damaged_records_are_set_aside_and_the_next_cook_starts_afresh(src, tmp_path, capsys):
    root = tmp_path / "root"
    cook(capsys, src / "textures" / "badge.png", "-o", root)
    (root / ".oxy" / "build.sqlite").write_bytes(b"not a database" * 100)
    doc = cook(capsys, src / "textures" / "badge.png", src / "textures" / "checker.png", "-o", root)
    assert doc["exit"] == 0
    codes = {d["code"] for job in doc["jobs"] for d in job["diagnostics"]}
    assert {"records.unreadable", "records.set_aside"} <= codes
    assert (root / ".oxy" / "build.sqlite.damaged-1").read_bytes() == b"not a database" * 100  # kept for a look
    again = cook(capsys, src / "textures" / "badge.png", src / "textures" / "checker.png", "-o", root)
    assert counts(again, "texture")["up_to_date"] == 2
    assert not [d for job in again["jobs"] for d in job["diagnostics"]]


def test_a_records_folder_linked_out_of_the_root_is_refused(src, tmp_path, capsys):
    root, outside = tmp_path / "root", tmp_path / "outside"
    cook(capsys, src / "textures" / "badge.png", "-o", root)
    shutil.rmtree(root / ".oxy")
    outside.mkdir()
    (root / ".oxy").symlink_to(outside)
    doc = cook(capsys, src / "textures" / "checker.png", "-o", root)
    assert doc["exit"] == 2 and not list(outside.iterdir())


def test_a_model_failing_mid_batch_fails_alone(tmp_path):
    """Models of one job share one commit; one whose geometry turns out invalid after its
    textures and materials were emitted is rolled back alone: the others commit."""
    from oxy.build.records import BuildRecords
    from oxy.formats import parse_index
    from oxy.importing import AsyncImportService, ImportRequest
    from oxy.importing.scene.backend_assimp import AssimpBackend

    class NaNInBad(AssimpBackend):
        def parse(self, path):
            parsed = super().parse(path)
            if "bad" in path:
                parsed.meshes[0].positions[0, 0] = float("nan")
            return parsed

    box = CORPUS / "models" / "gltf_BoxTextured"
    models = []
    for name in ("good1", "bad", "good2"):
        folder = tmp_path / name
        shutil.copytree(box, folder)
        models.append(folder / "BoxTextured.gltf")
    root = tmp_path / "root"
    request = ImportRequest(str(models[0]), str(root), options={
        "backend": NaNInBad(), "name_prefix": "good1", "scene_name": "good1",
        "models": [{"path": str(models[1]), "name_prefix": "bad", "scene_name": "bad"},
                   {"path": str(models[2]), "name_prefix": "good2", "scene_name": "good2"}]})
    with AsyncImportService() as service:
        report = service.submit(request).wait(300)
    assert not report.success and [d.code for d in report.errors] == ["scene.mesh_nonfinite"]
    index = parse_index((root / "container.index.bin").read_bytes())
    names = sorted(a.virtual_path.rsplit("/", 1)[1] for a in index.assets)
    assert names and all(n.startswith(("good1", "good2")) for n in names), names
    assert len([n for n in names if n.startswith("good1")]) == len([n for n in names if n.startswith("good2")]) == 3
    assert not [p for p in root.rglob("*") if p.name.startswith("bad") or ".oxy-tmp-" in p.name]
    assert validate_loose_root(root, verify_hashes=True).ok
    sha = hashlib.sha256((root / "container.index.bin").read_bytes()).hexdigest()
    recorded = BuildRecords(str(root)).load(sha).sources
    assert sorted(os.path.basename(os.path.dirname(p)) for p in recorded) == ["good1", "good2"]
    assert any(k.startswith(str(models[2])) for k in report.outputs)
