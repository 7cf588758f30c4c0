"""oxy pack never follows a path out of an input root, and never writes through a
link planted beside its output (issue 10, item 3)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from oxy.formats import parse_pak
from oxy.pack.compact import pack_paths
from oxy.rootfs import RootEscapeError
from oxy.samples import write_loose_root
from oxy.validate import validate_pak_bytes

from conftest import PROJECT
from test_pack_compact import rich_content

SECRET = b"SECRET-OUTSIDE-THE-ROOT"


def _root(tmp_path):
    root = tmp_path / "root"
    write_loose_root(root, rich_content())
    return root


def _move_out(root, relpath, outside):
    """Move ``root/relpath`` outside the root (same bytes, so validation alone passes)
    and leave a symlink in its place."""
    target = outside / relpath.replace("/", "_")
    outside.mkdir(exist_ok=True)
    shutil.move(root / relpath, target)
    os.symlink(target, root / relpath)
    return target


def _oxy(*args):
    return subprocess.run([sys.executable, "-m", "oxy", *map(str, args)], capture_output=True, text=True,
                          cwd=PROJECT, timeout=120)


@pytest.mark.parametrize("relpath", ["Resources/textures.data", "Resources/buffers.table",
                                     "Materials/Checker.omat", "container.index.bin"])
def test_symlinked_file_of_a_root_is_refused(tmp_path, relpath):
    root = _root(tmp_path)
    _move_out(root, relpath, tmp_path / "outside")
    out = tmp_path / "out.pak"
    with pytest.raises(RootEscapeError) as info:
        pack_paths([root], out)
    assert info.value.path.endswith(relpath) and not out.exists()
    result = _oxy("pack", root, "-o", out)
    assert result.returncode == 3, result.stderr
    assert relpath in result.stderr and "outside the root" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_symlinked_folder_of_a_root_is_refused(tmp_path):
    root = _root(tmp_path)
    outside = tmp_path / "outside"
    shutil.move(root / "Materials", outside)
    os.symlink(outside, root / "Materials")
    with pytest.raises(RootEscapeError, match="Materials"):
        pack_paths([root], tmp_path / "out.pak")


def test_links_that_stay_inside_the_root_are_followed(tmp_path):
    root = _root(tmp_path)
    pack_paths([root], tmp_path / "plain.pak")
    (root / "store").mkdir()
    shutil.move(root / "Resources/textures.data", root / "store/textures.data")
    os.symlink(root / "store/textures.data", root / "Resources/textures.data")
    result = pack_paths([root], tmp_path / "out.pak")
    assert result.textures == 4
    # The same bytes as without the link (the pack is deterministic), and a valid PAK.
    assert (tmp_path / "out.pak").read_bytes() == (tmp_path / "plain.pak").read_bytes()
    assert validate_pak_bytes((tmp_path / "out.pak").read_bytes(), verify_hashes=True).ok


def test_output_never_writes_through_a_planted_link(tmp_path, monkeypatch):
    import secrets

    from oxy.rootfs import ATOMIC_TEMP_MARKER

    root = _root(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(SECRET)
    out = tmp_path / "out.pak"
    # The old temporary name was predictable (out.pak.tmp-<pid>); the writer's first
    # random name is made predictable here too, and a link planted at each.
    real_token_hex, tokens = secrets.token_hex, iter(["0" * 16])
    monkeypatch.setattr(secrets, "token_hex", lambda n=None: next(tokens, None) or real_token_hex(n))
    planted = [tmp_path / f"out.pak.tmp-{os.getpid()}", tmp_path / ".out.pak.tmp",
               tmp_path / f"out.pak{ATOMIC_TEMP_MARKER}{'0' * 16}"]
    for link in planted:
        os.symlink(victim, link)
    pack_paths([root], out)
    assert next(tokens, "used") == "used"  # the writer did try the planted name first
    assert victim.read_bytes() == SECRET
    assert all(os.path.islink(link) for link in planted)
    assert not out.is_symlink()
    data = out.read_bytes()
    assert validate_pak_bytes(data, name="out.pak", verify_hashes=True).ok
    assert len(parse_pak(data).directory) == len(rich_content().assets)
    leftovers = sorted(p.name for p in tmp_path.iterdir() if "tmp" in p.name and p not in planted)
    assert leftovers == []


def test_output_that_is_a_symlink_is_replaced_not_followed(tmp_path):
    root = _root(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(SECRET)
    out = tmp_path / "out.pak"
    os.symlink(victim, out)
    pack_paths([root], out)
    assert victim.read_bytes() == SECRET
    assert not out.is_symlink() and out.read_bytes().startswith(b"OXPAK")
