"""No reader follows a path out of its root: validate, inspect and the loader refuse a
symlinked data file, descriptor folder or index that resolves outside, naming it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from oxy.errors import FormatError
from oxy.formats import AssetType
from oxy.runtime import AssetLoader, LoaderConfig, MaterialAsset, MountError, SourceReadError
from oxy.runtime.sources import open_loose_root
from oxy.samples import ContentSet
from oxy.cli.describe import describe_path
from oxy.validate import validate_loose_root

MATERIAL = ContentSet.key(AssetType.MATERIAL, "Checker")


def _outside_link(root, rel: str, outside) -> None:
    """Move ``root/rel`` outside the root and leave a symlink to it (same bytes, same size)."""
    target = outside / rel.replace("/", "_")
    shutil.move(str(root / rel), target)
    os.symlink(target, root / rel)


def _oxy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oxy", *args], capture_output=True, text=True)


@pytest.mark.parametrize("rel", ["Resources/textures.data", "Resources/buffers.table", "Materials",
                                 "Materials/Checker.omat", "container.index.bin"])
def test_a_link_out_of_the_root_is_refused_everywhere(sample_root, tmp_path, rel):
    outside = tmp_path / "outside"
    outside.mkdir()
    _outside_link(sample_root, rel, outside)
    report = validate_loose_root(sample_root)
    escapes = [d for d in report.errors if d.code == "root.escape"]
    assert escapes and all(d.file.startswith(rel) for d in escapes), [str(d) for d in report.diagnostics]
    assert str(outside) in escapes[0].message
    with pytest.raises(MountError) as info:
        open_loose_root(sample_root)
    assert rel in str(info.value) and "root.escape" in str(info.value)
    result = _oxy("validate", str(sample_root))
    assert result.returncode == 3 and "[root.escape]" in result.stdout


@pytest.mark.parametrize("rel", ["Resources/textures.table", "Geometry", "container.index.bin"])
def test_inspect_refuses_a_link_out_of_the_root(sample_root, tmp_path, rel):
    outside = tmp_path / "outside"
    outside.mkdir()
    _outside_link(sample_root, rel, outside)
    with pytest.raises(FormatError, match="root.escape"):
        describe_path(str(sample_root))
    result = _oxy("inspect", str(sample_root))
    assert result.returncode == 3 and "root.escape" in result.stderr and "Traceback" not in result.stderr


def test_links_inside_the_root_are_followed(sample_root):
    os.rename(sample_root / "Materials", sample_root / "RealMaterials")
    os.symlink("RealMaterials", sample_root / "Materials")
    assert validate_loose_root(sample_root, verify_hashes=True).ok
    assert describe_path(str(sample_root))["assets"]
    with AssetLoader(LoaderConfig(cpu_threads=1)) as loader:
        loader.add_loose_cooked_root(str(sample_root))
        assert loader.load_asset(MATERIAL, MaterialAsset).result(20).name == "Checker"


def test_a_descriptor_swapped_for_a_link_after_mounting(sample_root, tmp_path):
    with AssetLoader(LoaderConfig(cpu_threads=1)) as loader:
        loader.add_loose_cooked_root(str(sample_root))
        outside = tmp_path / "outside"
        outside.mkdir()
        _outside_link(sample_root, "Materials/Checker.omat", outside)
        with pytest.raises(SourceReadError, match="root.escape"):
            loader.load_asset(MATERIAL, MaterialAsset).result(20)


def test_a_folder_is_no_file_for_the_size_checks(tmp_path):
    """A file record naming a folder is a missing file for validate as for the loader
    (a folder's st_size is no file size; on tmpfs it can even equal the record's)."""
    from oxy.rootfs import size_inside

    (tmp_path / "Resources").mkdir()
    (tmp_path / "Resources" / "t.table").write_bytes(b"x" * 40)
    assert size_inside(str(tmp_path), "Resources/t.table") == 40
    assert size_inside(str(tmp_path), "Resources") is None
    assert size_inside(str(tmp_path), "Resources/missing") is None
    assert size_inside(str(tmp_path), "Resources/t.table/below") is None
