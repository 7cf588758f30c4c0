"""Helpers for the cook-farm tests: cook a fixed texture + scene set through the
service (with or without a farm) and compare roots the way the engine reads them."""
from __future__ import annotations

import hashlib
import logging
import pathlib
import re
import shutil

import numpy as np
from PIL import Image

from conftest import CORPUS
from cooking import payload, read_table
from oxy.cli.main import main
from oxy.formats import parse_index
from oxy.importing import AsyncImportService, ImportReport, ImportRequest
from oxy.validate import validate_loose_root

MODEL = CORPUS / "models" / "gltf_BoxTextured" / "BoxTextured.gltf"
IMAGES = [CORPUS / "images" / n for n in ("net.png", "basn6a16.png", "Wrinkles.jpg", "This Way Up.png")]


def cook_set(service: AsyncImportService, root: pathlib.Path, images: list[pathlib.Path] | None = None,
             model: pathlib.Path | None = MODEL, timeout: float = 600) -> list[ImportReport]:
    """The model (one job), then the images (one texture job), into ``root``."""
    reports = []
    if model is not None:
        reports.append(service.submit(ImportRequest(str(model), str(root))).wait(timeout))
    images = IMAGES if images is None else images
    if images:
        reports.append(service.submit(ImportRequest(str(images[0]), str(root),
                                                    options={"sources": [str(i) for i in images[1:]]})).wait(timeout))
    assert all(r is not None for r in reports), "a job did not finish in time"
    return reports


def noise_images(folder: pathlib.Path, count: int, size: int = 512) -> list[pathlib.Path]:
    """``count`` distinct noise PNGs (slow enough to BC7-encode that a task is caught running)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        rng = np.random.default_rng(1000 + i)
        path = folder / f"noise{i}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 4), dtype=np.uint8), "RGBA").save(path)
        out.append(path)
    return out


def cooked_files(root: pathlib.Path) -> dict[str, str]:
    """SHA-256 of every cooked file (build records under .oxy/ excluded; the index
    with its per-root GUID zeroed: two roots never share a GUID)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.startswith(".oxy"):
            continue
        data = path.read_bytes()
        if rel == "container.index.bin":
            guid = bytes(parse_index(data).header.guid)
            data = data.replace(guid, b"\0" * len(guid), 1)
        out[rel] = hashlib.sha256(data).hexdigest()
    return out


def pack_bytes(root: pathlib.Path, out: pathlib.Path) -> bytes:
    assert main(["pack", str(root), "-o", str(out)]) == 0
    return out.read_bytes()



def texture_contents(root: pathlib.Path, reports: list[ImportReport]) -> dict[str, str]:
    """Each texture output of the jobs (by output name) -> SHA-256 of its table entry
    (data offset zeroed) and payload bytes."""
    table = read_table(root)
    out = {}
    for report in reports:
        for name, index in report.outputs.items():
            if name.startswith(("geometry:", "material:", "scene:")) or not 0 <= index < len(table):
                continue
            entry = table[index].copy()
            entry["data_offset"] = 0
            out[name] = hashlib.sha256(entry.tobytes() + payload(root, table[index])).hexdigest()
    return out


def assert_same_roots(a: pathlib.Path, b: pathlib.Path, tmp: pathlib.Path, reports_a: list[ImportReport],
                      reports_b: list[ImportReport]) -> None:
    """Both valid; every cooked file byte for byte the same (textures are appended in
    submission order, whatever finished first: oxy.importing.reorder), each texture
    output the same, and the same PAK bytes."""
    for root in (a, b):
        report = validate_loose_root(root, verify_hashes=True)
        assert report.ok, report
    files_a, files_b = cooked_files(a), cooked_files(b)
    assert files_a.keys() == files_b.keys()
    for name in files_a:
        assert files_a[name] == files_b[name], name
    contents_a, contents_b = texture_contents(a, reports_a), texture_contents(b, reports_b)
    assert contents_a and contents_a == contents_b
    assert pack_bytes(a, tmp / "a.pak") == pack_bytes(b, tmp / "b.pak")


def assert_identical_roots(roots: list[pathlib.Path], tmp: pathlib.Path) -> None:
    """Every cooked file of every root byte for byte (the per-root GUID aside) and
    the packed PAKs (``oxy pack``)."""
    for root in roots:
        assert validate_loose_root(root, verify_hashes=True).ok
    first = cooked_files(roots[0])
    assert "Resources/textures.data" in first
    for root in roots[1:]:
        assert cooked_files(root) == first, root
    paks = {pack_bytes(root, tmp / f"{root.name}.pak") for root in roots}
    assert len(paks) == 1


#: Very different sizes, the biggest first: with 2 threads the small ones finish first.
MIXED_SIZES = (384, 16, 48, 8, 96, 24, 64, 32)


def mixed_images(folder: pathlib.Path, sizes: tuple[int, ...] = MIXED_SIZES) -> list[pathlib.Path]:
    """Noise PNGs of ``sizes`` (square), in that order."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, size in enumerate(sizes):
        rng = np.random.default_rng(7 + i)
        path = folder / f"mixed{i}_{size}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 4), dtype=np.uint8), "RGBA").save(path)
        out.append(path)
    return out


def out_of_order_counts(records: list[logging.LogRecord]) -> list[int]:
    """How many results finished before an earlier one, per pipeline run (the in-order
    buffer, oxy.importing.reorder, logs it at DEBUG at the end of each run)."""
    return [int(m.group(1)) for r in records if r.name == "oxy.importing.reorder"
            and (m := re.search(r"(\d+) finished before an earlier one", r.getMessage()))]


def fresh(path: pathlib.Path) -> pathlib.Path:
    shutil.rmtree(path, ignore_errors=True)
    return path
