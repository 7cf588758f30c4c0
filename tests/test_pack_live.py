"""oxy pack keeps live standalone textures (build records), drops superseded ones, and
keeps every texture of a root whose live set is unknown (no records for its index).

Roots are cooked by the import service from small generated images; the records are
the ones it wrote for the current index (checked), else written here with
:func:`ensure_records` (the same API the importer uses). Results are checked on the
PAK bytes on disk (``oxy.formats.parse_pak``, ``oxy.validate``).
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from oxy.build.records import BuildRecords, OutputRecord, SourceRecord, live_texture_indices
from oxy.cook.descriptors import build_material
from oxy.errors import FormatError
from oxy.formats import AssetType, parse_material, parse_pak
from oxy.importing import AsyncImportService, ImportRequest
from oxy.importing.session import ImportSession
from oxy.importing.session_io import DirectSessionIO
from oxy.pack.compact import pack_paths
from oxy.pack.content import read_content
from oxy.validate import validate_loose_root, validate_pak_bytes

from cooking import payload, read_table

IMAGES = 5


# ------------------------------------------------------------------ records helpers
def index_sha256(root: pathlib.Path) -> str:
    return hashlib.sha256((pathlib.Path(root) / "container.index.bin").read_bytes()).hexdigest()


def texture_record(path: str, indices: list[int], *, live: bool = True) -> SourceRecord:
    outputs = [OutputRecord("texture", f"{pathlib.Path(path).stem}#{n}", "texture", "", {}, {}, "cooked", index=i)
               for n, i in enumerate(indices)]
    return SourceRecord(path, "texture", {}, "", outputs=outputs, live=live)


def write_records(root: pathlib.Path, sources: dict[str, list[int]] | None = None, *,
                  dead: dict[str, list[int]] | None = None) -> int:
    """Stage and finish a records generation for ``root``'s current index: each of
    ``sources`` keeps its texture indices live (``dead``: sources no longer live).
    With no sources at all, the records say that no texture is standalone."""
    records = BuildRecords(str(root))
    sha = index_sha256(root)
    changed = {p: texture_record(p, i) for p, i in (sources or {}).items()}
    changed.update({p: texture_record(p, i, live=False) for p, i in (dead or {}).items()})
    gen = records.stage(sha, records.load(sha), changed)
    records.finish(gen)
    return gen


def ensure_records(root: pathlib.Path, sources: dict[str, list[int]]) -> None:
    """The records of ``root``'s index must keep ``sources``' textures live: the
    importer's when it wrote them (checked), else written here."""
    existing = BuildRecords(str(root)).load(index_sha256(root))
    if existing.gen:
        live = live_texture_indices(existing)
        assert {i: p for p, indices in sources.items() for i in indices}.items() <= live.items()
    else:
        write_records(root, sources)


def mark_no_standalone(root: pathlib.Path) -> None:
    """Records for ``root``'s index that keep no standalone texture live (what oxy
    writes for a root whose unreferenced entries are all re-import leftovers)."""
    if not BuildRecords(str(root)).load(index_sha256(root)).gen:
        write_records(root)


# ------------------------------------------------------------------ cooked roots
def make_image(path: pathlib.Path, seed: int, size: int = 16) -> str:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 4), dtype=np.uint8)).save(path)
    return str(path)


def cook(root: pathlib.Path, sources: list[str]) -> dict[str, int]:
    """Cook ``sources`` as one job through the import service (which writes build records)."""
    options: dict[str, object] = {"quality": "fast"}
    if len(sources) > 1:
        options["sources"] = sources[1:]
    with AsyncImportService() as service:
        report = service.submit(ImportRequest(sources[0], str(root), options=options)).wait(120)
    assert report.success, [str(d) for d in report.diagnostics]
    return dict(report.outputs)


def add_material(root: pathlib.Path, name: str, texture: int) -> None:
    with ImportSession(str(root), DirectSessionIO()) as session:
        session.assets.emit(AssetType.MATERIAL, name, build_material(name, textures={"base_color": texture}))
        assert session.finalize()


def standalone_root(tmp_path: pathlib.Path, order: list[int] | None = None, *, records: bool = True,
                    name: str = "root") -> tuple[pathlib.Path, dict[str, int], int]:
    """IMAGES standalone images cooked (in ``order``) into a root, image 0 also used by
    a material; then image 2 changed and cooked again, so its first entry is
    superseded. Returns the root, source -> live texture index, and the superseded index."""
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    sources = [make_image(images / f"img{i}.png", seed=i) for i in range(IMAGES)]
    root = tmp_path / name
    outputs = cook(root, [sources[i] for i in (order or range(IMAGES))])
    add_material(root, "UsesImage0", outputs[sources[0]])
    superseded = outputs[sources[2]]
    make_image(images / "img2.png", seed=100)
    outputs.update(cook(root, [sources[2]]))
    assert outputs[sources[2]] != superseded
    make_image(images / "img2.png", seed=2)  # the next test's root starts from the same images
    if records:
        ensure_records(root, {s: [i] for s, i in outputs.items()})
    else:  # a root cooked by an oxy without records, or whose records were lost
        shutil.rmtree(root / ".oxy", ignore_errors=True)
    assert validate_loose_root(root, verify_hashes=True).ok
    return root, outputs, superseded


def pak_payloads(data: bytes) -> list[bytes]:
    pak = parse_pak(data)
    return [data[int(r["data_offset"]):int(r["data_offset"]) + int(r["size_bytes"])] for r in pak.tables["texture"]]


def root_payloads(root: pathlib.Path) -> list[bytes]:
    return [payload(root, row) for row in read_table(root)]


# ------------------------------------------------------------------------- tests
def test_pack_keeps_live_standalone_textures_and_drops_the_superseded_one(tmp_path):
    root, outputs, superseded = standalone_root(tmp_path)
    table = read_table(root)
    assert len(table) == IMAGES + 2  # fallback, five images, the changed image again
    result = pack_paths([root], tmp_path / "out.pak")
    data = (tmp_path / "out.pak").read_bytes()
    report = validate_pak_bytes(data, name="out.pak", verify_hashes=True)
    assert report.ok and not report.diagnostics, [str(d) for d in report.diagnostics]
    pak = parse_pak(data)
    source_payloads = root_payloads(root)
    packed = pak_payloads(data)
    assert len(packed) == result.textures == IMAGES + 1
    # canonical order: the fallback, the referenced texture, then live standalone ones by source path
    material = parse_material(pak.descriptors[0]).desc
    assert material.base_color_texture == 1
    by_path = sorted(outputs)
    assert packed[1] == source_payloads[outputs[by_path[0]]]
    assert packed[2:] == [source_payloads[outputs[p]] for p in by_path[1:]]
    assert source_payloads[superseded] not in packed
    s = result.stats
    assert (s.referenced_textures.count, s.live_textures.count, s.unreferenced_textures.count) == (1, IMAGES - 1, 0)
    assert s.dropped_textures.count == result.dropped_textures == 1
    assert s.dropped_textures.bytes == int(table[superseded]["size_bytes"])
    assert s.live_textures.bytes == sum(len(source_payloads[outputs[p]]) for p in by_path[1:])
    assert s.referenced_textures.bytes == len(source_payloads[outputs[by_path[0]]])
    assert (s.referenced_buffers.count, s.dropped_buffers.count, s.unknown) == (0, 0, ())


def test_a_root_without_records_keeps_every_unreferenced_texture(tmp_path):
    root, outputs, superseded = standalone_root(tmp_path, records=False)
    assert not BuildRecords(str(root)).load(index_sha256(root)).gen
    assert not read_content(root).live.known
    result = pack_paths([root], tmp_path / "out.pak")
    data = (tmp_path / "out.pak").read_bytes()
    assert validate_pak_bytes(data, name="out.pak", verify_hashes=True).ok
    source_payloads = root_payloads(root)
    packed = pak_payloads(data)
    # the referenced texture first, then every other texture of the root in index order
    referenced = outputs[sorted(outputs)[0]]
    rest = [i for i in range(1, len(source_payloads)) if i != referenced]
    assert packed == [source_payloads[0], source_payloads[referenced]] + [source_payloads[i] for i in rest]
    assert source_payloads[superseded] in packed
    s = result.stats
    assert (s.referenced_textures.count, s.live_textures.count, s.unreferenced_textures.count) == (1, 0, IMAGES)
    assert s.dropped_textures.count == 0 and [p for p, _why in s.unknown] == [str(root)]


def test_records_of_another_index_are_not_trusted(tmp_path):
    root, outputs, _superseded = standalone_root(tmp_path, records=False)
    records = BuildRecords(str(root))
    records.finish(records.stage("0" * 64, records.load("0" * 64), {p: texture_record(p, [i])
                                                                     for p, i in outputs.items()}))
    assert not read_content(root).live.known  # kept for an index that is not the one on disk
    assert pack_paths([root], tmp_path / "out.pak").stats.unreferenced_textures.count == IMAGES


def test_same_live_content_packs_to_identical_bytes_whatever_the_cook_order(tmp_path):
    a, _outputs, _superseded = standalone_root(tmp_path, name="a")
    b, _outputs, _superseded = standalone_root(tmp_path, order=[4, 2, 0, 3, 1], name="b")
    assert read_table(a).tobytes() != read_table(b).tobytes()
    pack_paths([a], tmp_path / "a.pak")
    pack_paths([b], tmp_path / "b.pak")
    assert (tmp_path / "a.pak").read_bytes() == (tmp_path / "b.pak").read_bytes()


def test_a_pak_input_keeps_every_texture_and_repacks_to_the_same_bytes(tmp_path):
    root, _outputs, _superseded = standalone_root(tmp_path)
    pack_paths([root], tmp_path / "one.pak")
    again = pack_paths([tmp_path / "one.pak"], tmp_path / "two.pak")
    assert (tmp_path / "one.pak").read_bytes() == (tmp_path / "two.pak").read_bytes()
    assert again.stats.unreferenced_textures.count == IMAGES - 1 and again.stats.dropped_textures.count == 0


def test_records_naming_a_texture_past_the_table_refuse_the_pack(tmp_path):
    root, outputs, _superseded = standalone_root(tmp_path)
    write_records(root, {"/elsewhere/lost.png": [99]})
    with pytest.raises(FormatError, match="keep texture 99 live"):
        pack_paths([root], tmp_path / "out.pak")
    result = _oxy("pack", root, "-o", tmp_path / "out.pak")
    assert result.returncode == 3 and "texture 99" in result.stderr and not (tmp_path / "out.pak").exists()


def test_dead_sources_do_not_keep_their_textures(tmp_path):
    root, outputs, _superseded = standalone_root(tmp_path)
    gone = sorted(outputs)[-1]
    write_records(root, dead={gone: [outputs[gone]]})
    result = pack_paths([root], tmp_path / "out.pak")
    assert result.stats.live_textures.count == IMAGES - 2 and result.stats.dropped_textures.count == 2


def _oxy(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oxy", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[1])})


def test_cli_pack_prints_one_summary_line_of_what_it_kept_and_dropped(tmp_path):
    root, _outputs, _superseded = standalone_root(tmp_path)
    ok = _oxy("pack", root, "-o", tmp_path / "out.pak")
    assert ok.returncode == 0, ok.stderr
    [summary] = [line for line in ok.stderr.splitlines() if "textures kept:" in line]
    assert f"{IMAGES - 1} live standalone (" in summary and "1 referenced (" in summary
    assert "dropped as superseded: 1 textures (3." in summary
    assert f"{IMAGES + 1} textures" in ok.stdout and "dropped 1 superseded textures" in ok.stdout
    bare, _outputs, _superseded = standalone_root(tmp_path, records=False, name="bare")
    unknown = _oxy("pack", bare, "-o", tmp_path / "bare.pak")
    assert unknown.returncode == 0, unknown.stderr
    assert f"no build records for {bare}: every texture kept" in unknown.stderr
    assert f"{IMAGES} unreferenced of inputs without build records" in unknown.stderr


def test_records_written_by_oxy_cook_keep_standalone_textures_through_pack_and_compact(tmp_path):
    """End to end with the records ``oxy cook`` itself writes: many standalone images,
    some changed and cooked again; the PAK holds every live one, none superseded, and
    ``oxy compact`` changes nothing that ``oxy pack`` produces."""
    from oxy.cli.main import main
    from oxy.pack.compact_root import compact_root

    images = [make_image(tmp_path / f"img{i:02d}.png", seed=i, size=8) for i in range(12)]
    root = tmp_path / "root"
    assert main(["cook", *images, "-o", str(root), "--quality", "fast"]) == 0
    changed = images[::4]
    for n, path in enumerate(changed):
        make_image(pathlib.Path(path), seed=50 + n, size=8)
    assert main(["cook", *changed, "-o", str(root), "--quality", "fast"]) == 0
    records = BuildRecords(str(root)).load(index_sha256(root))
    assert records.gen, "oxy cook wrote no build records"
    live = live_texture_indices(records)
    assert sorted(live.values()) == sorted(images) and len(read_table(root)) == 1 + len(images) + len(changed)
    result = pack_paths([root], tmp_path / "a.pak")
    data = (tmp_path / "a.pak").read_bytes()
    assert validate_pak_bytes(data, name="a.pak", verify_hashes=True).ok
    source_payloads = root_payloads(root)
    assert pak_payloads(data)[1:] == [source_payloads[i] for _p, i in sorted((p, i) for i, p in live.items())]
    assert (result.stats.live_textures.count, result.stats.dropped_textures.count) == (len(images), len(changed))
    compacted = compact_root(root)
    assert compacted.changed and compacted.stats.dropped_textures.count == len(changed)
    assert len(read_table(root)) == 1 + len(images)
    pack_paths([root], tmp_path / "b.pak")
    assert (tmp_path / "b.pak").read_bytes() == data
