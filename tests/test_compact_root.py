"""oxy compact ROOT: a loose root rewritten in place with only its live data, crash-safely.

The root: a glTF model (texture, material, geometry, scene, two buffers) and three
standalone images; one image changed and cooked again (a superseded texture), and
the model's vertices changed and cooked again (a superseded vertex buffer). The
build records keep the standalone images live. Everything is checked on disk: the
tables and descriptors parsed with ``oxy.formats``, the root validated, loaded with
oxy's loader, and packed (the PAK must not change with compaction).
"""
from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys

import pytest

import oxy.build.commit as commit
from oxy.build import JOURNAL_FILE_NAME, RootBusyError, RootLock, recover_root
from oxy.build.records import BuildRecords, live_texture_indices
from oxy.formats import AssetType, StandardMeshInfo, parse_geometry, parse_index, parse_material
from oxy.formats.material import TEXTURE_SLOTS
from oxy.pack.compact import pack_paths
from oxy.pack.compact_root import compact_root
from oxy.pack.content import read_content
from oxy.runtime import AssetLoader, LoaderConfig
from oxy.validate import validate_loose_root

from conftest import PROJECT
from test_pack_live import cook, ensure_records, index_sha256, make_image

sys.path.insert(0, str(PROJECT / "tools"))
import crash_campaign  # noqa: E402


# ------------------------------------------------------------------ the root
def _change_vertices(model: pathlib.Path) -> None:
    gltf = json.loads(model.read_text())
    head, b64 = gltf["buffers"][0]["uri"].split(",", 1)
    data = bytearray(base64.b64decode(b64))
    struct.pack_into("<f", data, 144, -0.75)  # the first vertex's x
    gltf["buffers"][0]["uri"] = f"{head},{base64.b64encode(bytes(data)).decode()}"
    model.write_text(json.dumps(gltf))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> pathlib.Path:
    base = tmp_path_factory.mktemp("compact")
    (base / "models").mkdir()
    (base / "textures").mkdir()
    (base / "images").mkdir()
    shutil.copy(PROJECT / "samples" / "textures" / "brick.png", base / "textures")
    model = base / "models" / "brick_cube.gltf"
    shutil.copy(PROJECT / "samples" / "models" / "brick_cube.gltf", model)
    root = base / "root"
    cook(root, [str(model)])
    images = [make_image(base / "images" / f"s{i}.png", seed=i) for i in range(3)]
    live = cook(root, images)
    make_image(base / "images" / "s1.png", seed=9)
    live.update(cook(root, [images[1]]))
    _change_vertices(model)
    cook(root, [str(model)])
    ensure_records(root, {s: [i] for s, i in live.items()})
    assert validate_loose_root(root, verify_hashes=True).ok
    return root


@pytest.fixture
def root(template, tmp_path) -> pathlib.Path:
    out = tmp_path / "root"
    shutil.copytree(template, out)
    return out


# ------------------------------------------------------------------ what a root means
def _payloads(root: pathlib.Path):
    content = read_content(root)
    return content, [r.payload for r in content.textures], [r.payload for r in content.buffers]


def meaning(root: pathlib.Path) -> dict[str, object]:
    """Every asset by key, with the payload bytes behind each of its resource indices,
    and every live standalone texture's payload by source: what must survive."""
    content, textures, buffers = _payloads(root)
    out: dict[str, object] = {}
    for key, asset in content.assets.items():
        if asset.asset_type == AssetType.MATERIAL:
            desc = parse_material(asset.descriptor).desc
            out[str(key)] = [textures[getattr(desc, f"{s}_texture")] for s in TEXTURE_SLOTS]
        elif asset.asset_type == AssetType.GEOMETRY:
            refs = []
            for mesh in parse_geometry(asset.descriptor).meshes:
                info = StandardMeshInfo.parse(mesh.desc.info)
                refs += [buffers[info.vertex_buffer], buffers[info.index_buffer]]
            out[str(key)] = refs
        else:
            out[str(key)] = asset.descriptor
    assert content.live.known
    out["standalone"] = {path: textures[i] for i, path in content.live.textures.items()}
    return out


def recorded_payloads(root: pathlib.Path) -> dict[tuple[str, str], object]:
    """Each recorded output's resource payloads (texture index, geometry buffers), by
    source and output name: the incremental cook reuses root entries by these indices."""
    _content, textures, buffers = _payloads(root)
    out: dict[tuple[str, str], object] = {}
    for path, record in BuildRecords(str(root)).load(index_sha256(root)).sources.items():
        for o in record.outputs:
            if o.kind == "texture" and o.index is not None:
                out[(path, o.name)] = textures[o.index]
            if getattr(o, "buffers", ()):
                out[(path, o.name, "buffers")] = [buffers[b] for b in o.buffers]  # type: ignore[index]
    return out


def packed(root: pathlib.Path, out: pathlib.Path) -> bytes:
    pack_paths([root], out)
    return out.read_bytes()


def files_and_times(root: pathlib.Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def generations(root: pathlib.Path) -> int:
    with sqlite3.connect(root / ".oxy" / "build.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM generations").fetchone()[0])


def loaded(root: pathlib.Path) -> list:
    keys = sorted((a.key for a in parse_index((root / "container.index.bin").read_bytes()).assets),
                  key=lambda k: k.raw)
    with AssetLoader(LoaderConfig(cpu_threads=1, verify_content_hashes=True)) as loader:
        loader.add_loose_cooked_root(str(root))
        return [loader.load_asset(k).result(20) for k in keys]


# ------------------------------------------------------------------------- tests
def test_compaction_drops_superseded_data_and_keeps_live_data(root, tmp_path):
    before, pak_before, objects_before = meaning(root), packed(root, tmp_path / "a.pak"), loaded(root)
    outputs_before = recorded_payloads(root)
    table_before = (root / "Resources" / "textures.table").read_bytes()
    old = read_content(root)
    result = compact_root(root)
    assert result.changed and not result.dry_run and result.live_known
    assert (result.textures_before, result.textures_after) == (6, 5)
    assert (result.buffers_before, result.buffers_after) == (3, 2)
    s = result.stats
    assert (s.referenced_textures.count, s.live_textures.count, s.unreferenced_textures.count) == (1, 3, 0)
    superseded_texture = [p for i, p in enumerate(old.textures) if i not in old.live.textures and i > 1]
    assert s.dropped_textures.count == 1 and s.dropped_textures.bytes == len(superseded_texture[0].payload)
    assert s.dropped_buffers.count == 1 and s.referenced_buffers.count == 2
    sizes = {p: (root / p).stat().st_size for p in ("Resources/textures.data", "Resources/buffers.data")}
    assert result.bytes_after < result.bytes_before
    assert result.bytes_before - result.bytes_after >= s.dropped_textures.bytes + s.dropped_buffers.bytes
    report = validate_loose_root(root, verify_hashes=True)
    assert report.ok and not report.diagnostics, [str(d) for d in report.diagnostics]
    assert meaning(root) == before                      # every reference points at the same bytes
    assert recorded_payloads(root) == outputs_before    # and every recorded output index too
    assert packed(root, tmp_path / "b.pak") == pak_before
    assert loaded(root) == objects_before
    index = parse_index((root / "container.index.bin").read_bytes())
    assert {f.relpath: f.size for f in index.files if f.relpath.endswith(".data")} == sizes
    assert (root / "Resources" / "textures.table").read_bytes() != table_before
    assert len((root / "Resources" / "textures.table").read_bytes()) == 5 * 40
    records = BuildRecords(str(root)).load(index_sha256(root))
    live = live_texture_indices(records)  # remapped: after the fallback and the model's texture
    assert {2, 3, 4} <= set(live) and max(live) == 4
    assert generations(root) == 1
    assert crash_campaign.leftovers(str(root)) == []
    assert "Geometry/brick_cube_BrickCube.ogeo" in result.rewritten_files
    assert "Materials/brick_cube_Brick.omat" not in result.rewritten_files  # its index did not move


def test_compacting_a_compact_root_writes_nothing(root):
    dry = compact_root(root, dry_run=True)
    untouched = files_and_times(root)
    assert dry.changed and dry.dry_run and dry.stats.dropped_textures.count == 1
    assert files_and_times(root) == untouched           # a dry run writes nothing
    compact_root(root)
    compacted = files_and_times(root)
    again = compact_root(root)
    assert not again.changed and again.rewritten_files == () and again.bytes_after == again.bytes_before
    assert (again.stats.dropped_textures.count, again.stats.dropped_buffers.count) == (0, 0)
    assert files_and_times(root) == compacted


def test_a_root_without_records_keeps_every_texture(root, tmp_path):
    shutil.rmtree(root / ".oxy")
    pak_before = packed(root, tmp_path / "a.pak")
    result = compact_root(root)
    assert result.changed and not result.live_known and "no build records" in result.live_note
    assert (result.textures_before, result.textures_after) == (6, 6)
    assert (result.buffers_before, result.buffers_after) == (3, 2)
    assert result.stats.unreferenced_textures.count == 4 and result.stats.dropped_textures.count == 0
    assert validate_loose_root(root, verify_hashes=True).ok
    assert packed(root, tmp_path / "b.pak") == pak_before
    assert not BuildRecords(str(root)).exists()  # no records invented: the live set stays unknown


def test_a_cook_holding_the_lock_refuses_compaction(root):
    untouched = files_and_times(root)
    with RootLock(str(root)) as lock:
        assert lock.held
        with pytest.raises(RootBusyError, match="a cook is running"):
            compact_root(root)
        busy = _oxy("compact", root)
    assert busy.returncode == 2 and "not compacted" in busy.stderr
    assert files_and_times(root) == untouched


def _oxy(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oxy", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_cli_compact(root, tmp_path):
    dry = _oxy("compact", root, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would be" in dry.stdout and "dropped 1 superseded textures" in dry.stdout and "dry run" in dry.stdout
    done = _oxy("compact", root, "--json")
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)
    assert model["changed"] and model["stats"]["dropped_buffers"]["count"] == 1
    assert model["bytes_after"] < model["bytes_before"]
    again = _oxy("compact", root)
    assert again.returncode == 0 and "already compact, nothing written" in again.stdout
    assert _oxy("compact", tmp_path / "missing").returncode == 2
    (root / "Resources" / "textures.table").write_bytes(b"\0" * 41)
    bad = _oxy("compact", root)
    assert bad.returncode == 3 and "textures.table" in bad.stderr and "Traceback" not in bad.stderr


# ----------------------------------------------------------------- crashes
class _Crash(Exception):
    pass


def _compact_crashing_at(root, step: str) -> None:
    """Compact ``root`` with a crash (an exception out of the commit) at ``step``."""
    def hook(name: str) -> None:
        if name == step:
            commit.STEP_HOOK = None
            raise _Crash(name)
    commit.STEP_HOOK = hook
    try:
        with pytest.raises(_Crash):
            compact_root(root)
    finally:
        commit.STEP_HOOK = None


@pytest.fixture(scope="module")
def reference(template, tmp_path_factory) -> dict[str, object]:
    """An uncrashed compaction of the template: its commit steps, the root before and
    after (snapshots: every descriptor and payload by index) and the PAK of both."""
    probe = tmp_path_factory.mktemp("reference") / "root"
    shutil.copytree(template, probe)
    steps: list[str] = []
    commit.STEP_HOOK = steps.append
    try:
        compact_root(probe)
    finally:
        commit.STEP_HOOK = None
    pak = packed(template, probe.parent / "ref.pak")
    assert packed(probe, probe.parent / "new.pak") == pak
    return {"steps": steps, "old": crash_campaign.snapshot(str(template)), "new": crash_campaign.snapshot(str(probe)),
            "pak": pak}


def _check_recovered(root: pathlib.Path, old: dict, new: dict, pak: bytes, out: pathlib.Path) -> str:
    """After recovery: valid, nothing left behind, exactly the old or the new root,
    packing to the same bytes (so the records match the index in place)."""
    recover_root(str(root))
    report = validate_loose_root(root, verify_hashes=True)
    assert report.ok, [str(d) for d in report.diagnostics]
    assert crash_campaign.leftovers(str(root)) == []
    now = crash_campaign.snapshot(str(root))
    state = "old" if now == old else "new" if now == new else "other"
    assert state != "other"
    assert packed(root, out) == pak
    compact_root(root)  # compacting again completes what the crash interrupted
    assert crash_campaign.snapshot(str(root)) == new
    return state


def test_a_crash_after_every_commit_step_leaves_the_old_or_the_new_root(template, reference, tmp_path, monkeypatch):
    """The commit raises out after each step in turn, its own rollback disabled (the
    state a hard crash leaves); recovery then leaves the old root or the new one."""
    steps = reference["steps"]
    assert {"staged", "journal", "rename:Resources/textures.data", "rename:container.index.bin", "cleaned"} <= set(steps)
    monkeypatch.setattr(commit, "_roll_back_quietly", lambda root, journal: None)
    states = {}
    for n, step in enumerate(steps):
        root = tmp_path / f"crash-{n}"
        shutil.copytree(template, root)
        _compact_crashing_at(root, step)
        states[step] = _check_recovered(root, reference["old"], reference["new"], reference["pak"],
                                        tmp_path / f"crash-{n}.pak")
    assert states["rename:Resources/textures.data"] == "old"  # the data file already shorter: rolled back
    assert states["rename:container.index.bin"] == "new"      # past the commit point: rolled forward
    assert states["staged"] == "old" and states["cleaned"] == "new"


_CHILD = """
import os, signal, sys
import oxy.build.commit as commit
from oxy.pack.compact_root import compact_root
def hook(step):
    if step == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)
commit.STEP_HOOK = hook
compact_root(sys.argv[1])
"""


@pytest.mark.parametrize("step", ["journal", "backup:Resources/textures.data", "rename:Resources/textures.data",
                                  "rename:Resources/buffers.table", "rename:container.index.bin", "checked"])
def test_a_killed_compaction_is_recovered_by_the_next(template, reference, tmp_path, step):
    """A real compaction process killed with SIGKILL inside its commit; the next
    ``oxy compact`` recovers the root (old or new, as the step decides) and finishes the job."""
    root = tmp_path / "root"
    shutil.copytree(template, root)
    killed = subprocess.run([sys.executable, "-c", _CHILD, str(root), step], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (root / JOURNAL_FILE_NAME).exists()
    if step == "journal":
        assert crash_campaign.snapshot(str(root)) == reference["old"]  # nothing the index names changed yet
        untouched = files_and_times(root)
        dry = _oxy("compact", root, "--dry-run")
        assert dry.returncode == 0 and "a real run first finishes or undoes that commit" in dry.stderr
        assert files_and_times(root) == untouched
    again = _oxy("compact", root)
    assert again.returncode == 0, again.stderr
    assert "oxy compact: recovery: " in again.stderr
    assert validate_loose_root(root, verify_hashes=True).ok and crash_campaign.leftovers(str(root)) == []
    assert crash_campaign.snapshot(str(root)) == reference["new"]
    assert packed(root, tmp_path / "after.pak") == reference["pak"]
    assert generations(root) == 1


def test_an_unreadable_journal_after_the_data_rename_rolls_back_by_name(template, tmp_path, monkeypatch):
    """The data file is already the new, shorter one and the journal is garbage:
    recovery restores every backup by name, and the old index's sizes hold again."""
    old = crash_campaign.snapshot(str(template))
    root = tmp_path / "root"
    shutil.copytree(template, root)
    monkeypatch.setattr(commit, "_roll_back_quietly", lambda root, journal: None)
    _compact_crashing_at(root, "rename:Resources/textures.data")
    (root / JOURNAL_FILE_NAME).write_bytes(b"{not json")
    recover_root(str(root))
    assert validate_loose_root(root, verify_hashes=True).ok
    assert crash_campaign.snapshot(str(root)) == old and crash_campaign.leftovers(str(root)) == []
    assert os.path.getsize(root / "Resources" / "textures.data") == \
        {f.relpath: f.size for f in parse_index((root / "container.index.bin").read_bytes()).files}[
            "Resources/textures.data"]


def test_the_next_cook_after_compaction_finds_its_sources_up_to_date(tmp_path, capsys):
    """The remapped records are what the incremental cook reads: unchanged sources
    stay up to date after compaction, and a changed one is cooked and appended."""
    from oxy.cli.main import main

    images = [make_image(tmp_path / f"i{i}.png", seed=i, size=8) for i in range(4)]
    root = tmp_path / "root"
    cook_args = ["cook", *images, "-o", str(root), "--quality", "fast"]
    assert main(cook_args) == 0
    make_image(pathlib.Path(images[1]), seed=77, size=8)
    assert main(["cook", images[1], "-o", str(root), "--quality", "fast"]) == 0
    assert compact_root(root).stats.dropped_textures.count == 1
    capsys.readouterr()
    assert main(cook_args) == 0
    assert "4 up to date" in capsys.readouterr().err
    assert not compact_root(root).changed
    make_image(pathlib.Path(images[2]), seed=78, size=8)
    assert main(cook_args) == 0
    assert "1 cooked, 3 up to date" in capsys.readouterr().err
    assert validate_loose_root(root, verify_hashes=True).ok
    result = compact_root(root)
    assert result.changed and result.stats.dropped_textures.count == 1 and result.stats.live_textures.count == 4
