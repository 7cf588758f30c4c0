"""Packing roots written by the real import pipeline: deterministic whatever the
cook's thread count and completion order, and compaction drops re-import leftovers."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

from oxy.cook.descriptors import build_material
from oxy.formats import AssetType, parse_pak
from oxy.importing import AsyncImportService
from oxy.importing.session import ImportSession
from oxy.importing.session_io import DirectSessionIO
from oxy.pack.compact import pack_paths
from oxy.validate import validate_loose_root, validate_pak_bytes

from conftest import CORPUS
from cooking import cook, read_table

IMAGES = [CORPUS / "images" / n for n in ("Wrinkles.jpg", "Concrete.tga", "net.png", "This Way Up.png",
                                          "basn6a16.png")]


def cooked_root(root: pathlib.Path, threads: int, *, reimport: bool = False) -> dict[str, int]:
    """Cook IMAGES with ``threads`` CPU threads, then give every texture a material
    (as a scene importer would). With ``reimport`` the images are cooked twice, so
    the root carries stale entries and orphaned bytes."""
    with AsyncImportService(cpu_threads=threads) as service:
        if reimport:  # an earlier cook with other settings: superseded by the one below
            assert cook(root, list(reversed(IMAGES)), service=service, quality="normal").success
        report = cook(root, IMAGES, service=service, quality="fast")
    assert report.success, [str(d) for d in report.diagnostics]
    with ImportSession(str(root), DirectSessionIO()) as session:
        for source, index in report.outputs.items():
            name = pathlib.Path(source).stem.replace(" ", "_")
            session.assets.emit(AssetType.MATERIAL, name, build_material(name, textures={"base_color": index}))
        assert session.finalize()
    assert validate_loose_root(root, verify_hashes=True).ok
    return report.outputs


@pytest.fixture(scope="module")
def reference_pak(tmp_path_factory) -> bytes:
    base = tmp_path_factory.mktemp("ref")
    cooked_root(base / "root", threads=1)
    pack_paths([base / "root"], base / "ref.pak")
    return (base / "ref.pak").read_bytes()


def test_one_and_two_thread_cooks_pack_to_identical_bytes(tmp_path, reference_pak):
    outputs = cooked_root(tmp_path / "root", threads=2)
    pack_paths([tmp_path / "root"], tmp_path / "two.pak")
    assert (tmp_path / "two.pak").read_bytes() == reference_pak
    assert validate_pak_bytes(reference_pak, name="ref.pak", verify_hashes=True).ok
    assert len(outputs) == len(IMAGES)


def test_reimport_leftovers_are_compacted_away(tmp_path, reference_pak):
    cooked_root(tmp_path / "root", threads=2, reimport=True)
    table = read_table(tmp_path / "root")
    assert len(table) == 2 * len(IMAGES) + 1  # fallback + both cooks: half of it is stale
    pack_paths([tmp_path / "root"], tmp_path / "re.pak")
    data = (tmp_path / "re.pak").read_bytes()
    assert data == reference_pak
    pak = parse_pak(data)
    assert len(pak.tables["texture"]) == len(IMAGES) + 1
    assert len(data) < (tmp_path / "root" / "Resources" / "textures.data").stat().st_size
    offsets = np.sort(pak.tables["texture"]["data_offset"].astype(np.int64))
    assert (offsets % 256 == 0).all()
