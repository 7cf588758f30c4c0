"""The build records stay true to the index through a crash at any commit step.

An incremental cook changes one standalone texture; its process is killed
(``os._exit``) after each step of the commit (``oxy.build.commit.STEP_HOOK``). After
recovery the root holds the old index or the new one, and the records read back
must be the ones of that index: the changed texture's record names the old hash and
index (rolled back) or the new ones (rolled forward), the next cook cooks exactly
that texture again or nothing, and the root then packs to the same bytes as an
uncrashed cook.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import PROJECT
from oxy.build.journal import recover_root
from oxy.build.records import BuildRecords
from oxy.cli.main import main
from oxy.formats.loose import INDEX_FILE_NAME
from oxy.validate import validate_loose_root

CHILD = """
import os, sys
import oxy.build.commit as commit
crash_at, steps_file = int(sys.argv[3]), sys.argv[4]
seen = [0]
def hook(step):
    seen[0] += 1
    with open(steps_file, "a") as fh:
        fh.write(step + "\\n")
    if seen[0] == crash_at:
        os._exit(77)
commit.STEP_HOOK = hook
from oxy.cli.main import main
sys.exit(main(["cook", sys.argv[1], "-o", sys.argv[2], "--no-cache", "--quality", "fast"]))
"""


def _child(src: pathlib.Path, root: pathlib.Path, crash_at: int, steps: pathlib.Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run([sys.executable, "-c", CHILD, str(src), str(root), str(crash_at), str(steps)],
                          cwd=PROJECT, env=env, capture_output=True, timeout=300).returncode


def _records(root: pathlib.Path):
    index = (root / INDEX_FILE_NAME).read_bytes()
    return BuildRecords(str(root)).load(hashlib.sha256(index).hexdigest())


def _essence(record) -> tuple:
    """What a record says, without when it was written (the crashed run is another process)."""
    return (record.fingerprint, record.reason, [(o.key, o.index, o.origin) for o in record.outputs],
            sorted((d.path, d.size, d.sha256) for d in record.deps))


def _pack(root: pathlib.Path, out: pathlib.Path, capsys) -> bytes:
    assert main(["pack", str(root), "-o", str(out)]) == 0
    capsys.readouterr()
    return out.read_bytes()


def test_records_match_the_index_after_a_crash_at_every_commit_step(tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(PROJECT / "samples" / "textures", src)
    base = tmp_path / "base"
    assert main(["cook", str(src), "-o", str(base), "--no-cache", "--quality", "fast"]) == 0
    capsys.readouterr()
    checker = str(src / "checker.png")
    old = _records(base).sources[checker]
    pixels = np.asarray(Image.open(checker).convert("RGBA")).copy()
    pixels[0, 0] ^= 0xFF
    Image.fromarray(pixels).save(checker)

    reference = tmp_path / "reference"
    shutil.copytree(base, reference)
    assert _child(src, reference, 0, tmp_path / "steps") == 0
    steps = (tmp_path / "steps").read_text().split()
    new = _records(reference).sources[checker]
    assert new.outputs[0].index != old.outputs[0].index
    expected = _pack(reference, tmp_path / "reference.pak", capsys)

    seen = set()
    for n, step in enumerate(steps, start=1):
        root = tmp_path / f"crash-{n}"
        shutil.copytree(base, root)
        assert _child(src, root, n, tmp_path / f"steps-{n}") == 77, step
        recover_root(str(root))
        assert validate_loose_root(root, verify_hashes=True).ok, step
        records = _records(root)
        assert records.gen, f"after a crash at {step}: no records describe the index"
        record = records.sources[checker]
        state = "new" if record.outputs[0].index == new.outputs[0].index else "old"
        expected_record = new if state == "new" else old
        assert _essence(record) == _essence(expected_record), step
        seen.add(state)
        assert main(["cook", str(src), "-o", str(root), "--no-cache", "--quality", "fast", "--json"]) == 0
        capsys.readouterr()
        assert _pack(root, tmp_path / f"crash-{n}.pak", capsys) == expected, step
        again = _records(root).sources[checker]
        assert again.outputs[0].key == new.outputs[0].key
        shutil.rmtree(root)
    assert seen == {"old", "new"}  # crashes before the index rename roll back, after it roll forward
