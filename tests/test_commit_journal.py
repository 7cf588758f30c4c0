"""The journaled commit on disk: staging, recovery, confinement, stale temporaries."""
from __future__ import annotations

import json
import os
import pathlib
import shutil

import pytest

import oxy.build.commit as commit
from conftest import PROJECT
from oxy import AssetImporter
from oxy.build import JOURNAL_FILE_NAME, RootBusyError, RootLock, recover_root
from oxy.build.journal import read_journal
from oxy.formats import FileKind, parse_index
from oxy.importing import ImportRequest
from oxy.importing.session import ImportSession
from oxy.importing.session_io import DirectSessionIO
from oxy.validate import validate_loose_root

TEXTURES = sorted((PROJECT / "samples" / "textures").glob("*.png"))
MODEL = PROJECT / "samples" / "models" / "brick_cube.gltf"


def cook(root: pathlib.Path, source: pathlib.Path, **options: object):
    return AssetImporter().import_to_loose_cooked(ImportRequest(str(source), str(root), options=options))


def index_of(root: pathlib.Path):
    return parse_index((root / "container.index.bin").read_bytes())


def files_of(root: pathlib.Path) -> dict[str, bytes]:
    """The cooked root's files (the build records under .oxy/ are compared by what
    they say, with :func:`records_of`: SQLite's pages are not the point)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".oxy-lock" and ".oxy" not in p.relative_to(root).parts}


def records_of(root: pathlib.Path) -> dict:
    import hashlib

    from oxy.build.records import BuildRecords

    index = (root / "container.index.bin").read_bytes()
    records = BuildRecords(str(root)).load(hashlib.sha256(index).hexdigest())
    return {path: (r.fingerprint, [(o.key, o.index) for o in r.outputs]) for path, r in records.sources.items()}


class _Crash(Exception):
    pass


def crash_at(step_prefix: str):
    """A STEP_HOOK that raises out of the commit at the first step starting with the prefix
    (so the journal and the half-done commit stay on disk, as after a hard crash)."""
    def hook(step: str) -> None:
        if step.startswith(step_prefix):
            commit.STEP_HOOK = None
            raise _Crash(step)
    return hook


@pytest.fixture
def no_rollback(monkeypatch):
    """Make the commit's own rollback a no-op, to leave the state a hard crash leaves."""
    monkeypatch.setattr(commit, "_roll_back_quietly", lambda root, journal: None)
    yield
    commit.STEP_HOOK = None


def test_data_files_do_not_grow_before_the_commit(tmp_path, monkeypatch) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    data = root / "Resources" / "textures.data"
    committed_size = data.stat().st_size
    sizes_seen: dict[str, int] = {}

    def hook(step: str) -> None:
        sizes_seen.setdefault(step, data.stat().st_size)
    monkeypatch.setattr(commit, "STEP_HOOK", hook)
    assert cook(root, TEXTURES[1]).success
    # Until the append step the data file keeps its committed size (a reader can mount).
    assert sizes_seen["staged"] == sizes_seen["journal"] == committed_size
    assert sizes_seen["append:Resources/textures.data"] > committed_size
    assert data.stat().st_size == index_of(root).file(FileKind.TEXTURES_DATA).size
    assert not validate_loose_root(root).errors


def test_crash_before_index_rename_rolls_back_exactly(tmp_path, no_rollback) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    data = root / "Resources" / "textures.data"
    os.utime(data, ns=(1_000_000_000, 1_000_000_000))
    before, records = files_of(root), records_of(root)
    assert records
    commit.STEP_HOOK = crash_at("rename:Resources/textures.table")
    with pytest.raises(_Crash):
        cook(root, TEXTURES[1])
    assert (root / JOURNAL_FILE_NAME).exists()
    assert validate_loose_root(root).errors  # the data file is longer than the index says
    report = recover_root(str(root))
    assert report.rolled_back and not report.rolled_forward
    assert files_of(root) == before and records_of(root) == records
    assert data.stat().st_mtime_ns == 1_000_000_000  # not newer than the index
    assert not validate_loose_root(root, verify_hashes=True).errors


def test_crash_after_index_rename_rolls_forward(tmp_path, no_rollback) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    commit.STEP_HOOK = crash_at("checked")
    with pytest.raises(_Crash):
        cook(root, TEXTURES[1])
    journal = read_journal(str(root))
    assert journal is not None
    recovered = ImportSession(str(root), DirectSessionIO()).open()  # the next session recovers
    codes = [d.code for d in recovered.diagnostics]
    recovered.abort()
    assert "session.recovered" in codes
    assert not (root / JOURNAL_FILE_NAME).exists()
    leftovers = [p for p in root.rglob("*") if ".oxy-" in p.name and p.name != ".oxy-lock"]
    assert not leftovers
    assert len(parse_index((root / "container.index.bin").read_bytes()).assets) == 0
    table = (root / "Resources" / "textures.table").read_bytes()
    assert len(table) == 3 * 40  # fallback + both textures: the second cook is kept
    assert not validate_loose_root(root, verify_hashes=True).errors


def test_a_commit_that_fails_the_mount_rules_is_rolled_back(tmp_path, monkeypatch) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    before = files_of(root)
    monkeypatch.setattr(commit, "mount_problems", lambda r: ["container.index.bin: injected mount failure"])
    report = cook(root, TEXTURES[1])
    assert not report.success
    assert any(d.code == "session.finalize_failed" and "injected mount failure" in d.message
               for d in report.diagnostics)
    assert files_of(root) == before


def test_recovery_refuses_while_a_cook_holds_the_lock(tmp_path, no_rollback) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    commit.STEP_HOOK = crash_at("append")
    with pytest.raises(_Crash):
        cook(root, TEXTURES[1])
    with RootLock(str(root)) as lock:
        assert lock.held
        with pytest.raises(RootBusyError):
            recover_root(str(root))  # another holder: it must not roll back under a live cook
    assert (root / JOURNAL_FILE_NAME).exists()
    assert recover_root(str(root)).rolled_back


def test_a_hostile_journal_cannot_touch_files_outside_the_root(tmp_path) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious" * 100)
    journal = {"version": 1, "tag": "x", "new_index_sha256": "0" * 64,
               "appends": [{"file": "../victim.bin", "stage": "s", "base_size": 0, "existed": True,
                            "mtime_ns": None}], "replaces": []}
    (root / JOURNAL_FILE_NAME).write_text(json.dumps(journal))
    with pytest.raises(Exception) as info:
        recover_root(str(root))
    assert "appends[0].file" in str(info.value)
    assert victim.read_bytes() == b"precious" * 100
    # A symlink named by an otherwise valid journal is refused too.
    os.symlink(victim, root / "Resources" / "evil.data")
    journal["appends"][0]["file"] = "Resources/evil.data"
    (root / JOURNAL_FILE_NAME).write_text(json.dumps(journal))
    with pytest.raises(Exception) as info:
        recover_root(str(root))
    assert "outside the root" in str(info.value)
    assert victim.read_bytes() == b"precious" * 100


def test_an_unreadable_journal_rolls_back_from_the_backups(tmp_path, no_rollback) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    before = files_of(root)
    commit.STEP_HOOK = crash_at("rename:container.index.bin")
    with pytest.raises(_Crash):
        cook(root, TEXTURES[1])
    (root / JOURNAL_FILE_NAME).write_bytes(b"{not json")
    # The next session restores the backups by name and truncates the data tail back.
    with ImportSession(str(root), DirectSessionIO()):
        pass
    assert files_of(root) == before


def test_stale_temporaries_of_crashed_sessions_are_removed(tmp_path) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    before = files_of(root)
    for name in ("Materials/a.omat.oxy-tmp-1-1", "Resources/textures.data.oxy-stage-9-2",
                 "container.index.bin.oxy-tmp-77"):
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(b"junk")
    report = recover_root(str(root))
    assert "stale temporary" in " ".join(report.actions)
    assert files_of(root) == before


def test_a_cook_where_every_input_failed_creates_no_index(tmp_path) -> None:
    root = tmp_path / "fresh"
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    report = cook(root, bad)
    assert not report.success
    assert not (root / "container.index.bin").exists()
    assert not [p for p in root.rglob("*") if p.is_file() and p.name != ".oxy-lock"]


def test_a_noop_session_appends_no_byte(tmp_path) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    before = files_of(root)
    with ImportSession(str(root), DirectSessionIO()) as session:
        assert session.finalize()
    assert files_of(root) == before


@pytest.mark.parametrize("target", ["Resources/textures.data", "Resources"])
def test_cook_refuses_a_root_file_that_links_outside(tmp_path, target: str) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    outside = tmp_path / "outside"
    path = root / target
    if path.is_dir():
        shutil.move(str(path), str(outside))
    else:
        outside.write_bytes(path.read_bytes())
        path.unlink()
    os.symlink(outside, path)
    snapshot = {p: p.read_bytes() for p in ([outside] if outside.is_file() else outside.rglob("*")) if p.is_file()}
    report = cook(root, TEXTURES[1])
    assert not report.success
    message = " ".join(d.message for d in report.diagnostics)
    assert "outside the root" in message and "Resources" in message, message
    for p, data in snapshot.items():
        assert p.read_bytes() == data  # not one byte outside the root changed
    assert sorted(p.name for p in (outside if outside.is_dir() else outside.parent).iterdir()
                  if ".oxy-" in p.name) == []


def test_scene_reimport_replaces_descriptors_and_keeps_old_resources(tmp_path) -> None:
    root = tmp_path / "root"
    assert cook(root, MODEL).success
    first = index_of(root)
    table_before = (root / "Resources" / "buffers.table").read_bytes()
    assert cook(root, MODEL).success
    second = index_of(root)
    assert {a.virtual_path for a in first.assets} == {a.virtual_path for a in second.assets}
    assert (root / "Resources" / "buffers.table").read_bytes().startswith(table_before)
    assert not validate_loose_root(root, verify_hashes=True).errors
    assert not [p for p in root.rglob("*") if ".oxy-" in p.name and p.name != ".oxy-lock"]


def test_a_descriptor_that_cannot_be_written_is_an_io_error(tmp_path) -> None:
    import subprocess
    import sys

    root = tmp_path / "root"
    root.mkdir()
    (root / "Materials").write_bytes(b"")  # a file where the folder must go: the write fails
    result = subprocess.run([sys.executable, "-m", "oxy", "cook", str(MODEL), "-o", str(root), "--json", "--force"],
                            capture_output=True, text=True, cwd=PROJECT, timeout=300)
    assert result.returncode == 2, result.stderr  # an I/O error (2), not an input that failed (4)
    codes = [d["code"] for job in json.loads(result.stdout)["jobs"] for d in job["diagnostics"]]
    assert "session.write_failed" in codes and "import.internal_error" not in codes
    assert not (root / "container.index.bin").exists()
    assert not [p for p in root.rglob("*") if ".oxy-" in p.name and p.name != ".oxy-lock"]


def test_a_cancelled_cook_leaves_every_committed_file_untouched(tmp_path) -> None:
    """Mid-cook (payloads already staged), the data files keep their committed size and
    mtime; after the cancel not one file of the root differs, mtimes included."""
    import time

    from conftest import CORPUS
    from oxy.importing import AsyncImportService

    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    stamps = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
    before = files_of(root)
    images = [str(p) for p in sorted((CORPUS / "images").iterdir()) if p.suffix in (".png", ".jpg", ".tga")]
    with AsyncImportService() as service:
        handle = service.submit(ImportRequest(images[0], str(root), options={"sources": images[1:] * 3}))
        deadline = time.monotonic() + 60
        while not list(root.rglob("*.oxy-stage-*")) and time.monotonic() < deadline and not handle.done():
            time.sleep(0.005)
        staged = list(root.rglob("*.oxy-stage-*"))
        data = root / "Resources" / "textures.data"
        assert staged and data.stat().st_size == stamps[data][0]  # staged, not appended
        assert handle.cancel()
        report = handle.wait(60)
    assert report.cancelled
    assert files_of(root) == before
    assert {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()} == stamps


def _crashed_root(tmp_path: pathlib.Path, step: str) -> tuple[pathlib.Path, dict[str, bytes]]:
    """A root with one committed texture and a second cook crashed at ``step`` (its
    journal and half-done commit left on disk, as after a hard crash)."""
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    before = files_of(root)
    saved = commit._roll_back_quietly
    commit._roll_back_quietly = lambda r, j: None
    commit.STEP_HOOK = crash_at(step)
    try:
        with pytest.raises(_Crash):
            cook(root, TEXTURES[1])
    finally:
        commit._roll_back_quietly = saved
        commit.STEP_HOOK = None
    return root, before


def test_validate_warns_of_a_journal_and_repair_rolls_it_back(tmp_path) -> None:
    import subprocess
    import sys

    root, before = _crashed_root(tmp_path, "rename:Resources/textures.table")
    plain = subprocess.run([sys.executable, "-m", "oxy", "validate", str(root), "--json"], capture_output=True,
                           text=True, cwd=PROJECT, timeout=120)
    assert plain.returncode == 3  # the data file is longer than its index: the engine refuses it
    codes = {d["code"]: d["severity"] for d in json.loads(plain.stdout)["diagnostics"]}
    assert codes["root.unfinished_commit"] == "warning"
    repaired = subprocess.run([sys.executable, "-m", "oxy", "validate", str(root), "--repair", "--verify-hashes"],
                              capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired: rolled back unfinished commit" in repaired.stderr
    assert files_of(root) == before
    again = subprocess.run([sys.executable, "-m", "oxy", "validate", str(root), "--repair"], capture_output=True,
                           text=True, cwd=PROJECT, timeout=120)
    assert again.returncode == 0 and "nothing to repair" in again.stderr


def test_validate_repair_refuses_while_a_cook_holds_the_lock(tmp_path) -> None:
    import subprocess
    import sys

    root, _before = _crashed_root(tmp_path, "append")
    with RootLock(str(root)) as lock:
        assert lock.held
        result = subprocess.run([sys.executable, "-m", "oxy", "validate", str(root), "--repair"],
                                capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert result.returncode == 2 and "not repaired" in result.stderr and ".oxy-lock" in result.stderr
    assert (root / JOURNAL_FILE_NAME).exists()


def test_the_loader_repair_helper_mounts_a_crashed_root(tmp_path) -> None:
    from oxy.runtime import AssetLoader
    from oxy.runtime.errors import MountError

    root, before = _crashed_root(tmp_path, "rename:Resources/textures.table")
    with AssetLoader() as loader:
        with pytest.raises(MountError):
            loader.add_loose_cooked_root(str(root))  # sizes disagree with the index
        loader.add_loose_cooked_root(str(root), repair=True)
    assert files_of(root) == before
    root2, before2 = _crashed_root(tmp_path / "two", "checked")  # after the index: rolled forward
    with AssetLoader() as loader:
        report = loader.repair_root(str(root2))
    assert report.rolled_forward and not (root2 / JOURNAL_FILE_NAME).exists()
    assert len((root2 / "Resources" / "textures.table").read_bytes()) == 3 * 40


def test_recovery_truncates_a_data_tail_past_the_index(tmp_path) -> None:
    root = tmp_path / "root"
    assert cook(root, TEXTURES[0]).success
    before = files_of(root)
    with open(root / "Resources" / "textures.data", "ab") as fh:
        fh.write(b"\xee" * 1000)  # as an oxy older than the journal left it after a crash
    report = recover_root(str(root))
    assert any("1000 bytes past the index removed" in a for a in report.actions)
    assert files_of(root) == before


def test_cook_refuses_a_descriptor_that_links_outside(tmp_path) -> None:
    root = tmp_path / "root"
    assert cook(root, MODEL).success
    [material] = sorted((root / "Materials").iterdir())
    outside = tmp_path / "outside.omat"
    original = material.read_bytes()
    outside.write_bytes(original)
    material.unlink()
    os.symlink(outside, material)
    report = cook(root, MODEL)  # re-import: the commit would replace that descriptor
    assert not report.success
    message = " ".join(d.message for d in report.diagnostics)
    assert "outside the root" in message and material.name in message, message
    assert outside.read_bytes() == original  # not one byte outside the root changed
    assert material.is_symlink() and os.readlink(material) == str(outside)
    assert not [p for p in root.rglob("*") if ".oxy-" in p.name and p.name != ".oxy-lock"]


def test_a_rollback_restores_the_index_before_anything_else(tmp_path, no_rollback, monkeypatch) -> None:
    """Once a rollback has begun, the root must no longer hold the new index: otherwise a
    crash mid-rollback could be taken by the next recovery for a finished commit."""
    import oxy.build.journal as journal

    root = tmp_path / "root"
    assert cook(root, MODEL).success
    commit.STEP_HOOK = crash_at("rename:Materials/")  # the table and the material renamed, not the index
    variant = tmp_path / "src"
    shutil.copytree(PROJECT / "samples", variant)
    (variant / "textures" / "brick.png").write_bytes((variant / "textures" / "checker.png").read_bytes())
    with pytest.raises(_Crash):
        cook(root, str(variant / "models" / "brick_cube.gltf"))
    steps: list[str] = []
    monkeypatch.setattr(journal, "RECOVERY_HOOK", steps.append)
    report = recover_root(str(root))
    assert report.rolled_back
    restores = [s for s in steps if s.startswith(("restore:", "remove:"))]
    assert len(restores) > 1 and restores[0] == "restore:container.index.bin", restores
    assert not validate_loose_root(root, verify_hashes=True).errors


def test_a_commit_that_leaves_the_index_as_it_is_is_refused(tmp_path) -> None:
    """Recovery tells a finished commit from an unfinished one by the index: a plan that
    replaces files under the same index bytes could not be recovered, so it is refused."""
    from oxy.build.commit import CommitError, CommitPlan, FileReplace, execute_commit

    root = tmp_path / "root"
    assert cook(root, MODEL).success
    before = files_of(root)
    table = root / "Resources" / "textures.table"
    temp = table.with_name(table.name + ".oxy-tmp-test")
    temp.write_bytes(bytes(len(table.read_bytes())))
    plan = CommitPlan(str(root), "test", (), (FileReplace(str(temp.relative_to(root)),
                                                          str(table.relative_to(root))),),
                      (root / "container.index.bin").read_bytes())
    with pytest.raises(CommitError, match="leaves container.index.bin"):
        execute_commit(plan)
    temp.unlink()
    assert files_of(root) == before and not (root / JOURNAL_FILE_NAME).exists()
