"""A small seeded run of tools/fuzz_formats.py (format fuzzing; docs/reliability.md).

A few hundred deterministic inputs (seed files made at run time, mutation recipes a
function of the campaign seed and the input number) go through oxy.validate, the
inspect model, the in-process CLI and the runtime loader in one worker process.
The long run (>= 200,000 inputs) is in docs/reliability.md.

Every defect the campaign found (docs/reliability.md, F1 and D1-D2) is fixed; the
targeted recipes below keep them fixed, since the seeded run's inputs change whenever
cooked output changes. A new finding gets a strict xfail naming it until it is fixed.
"""
from __future__ import annotations

import json
import pathlib
import sys

import pytest

PROJECT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tools"))

import fuzz_formats  # noqa: E402
from fuzzlib.check import Checker  # noqa: E402
from fuzzlib.mutate import apply_ops, make_recipe, materialize  # noqa: E402
from fuzzlib.seeds import build_seeds, load_seeds  # noqa: E402

SEED = 11
INPUTS = 300


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def seeds(work: pathlib.Path) -> list:
    return load_seeds(build_seeds(work / "seeds"))


@pytest.fixture(scope="module")
def report(work: pathlib.Path, seeds: list) -> dict:
    out = work / "report.json"
    fuzz_formats.main(["--inputs", str(INPUTS), "--seed", str(SEED), "--workers", "1", "--work-dir", str(work),
                       "--report", str(out), "--quiet", "--timeout", "120"])
    return json.loads(out.read_text())


def _classes(report: dict, *outcomes: str) -> list[str]:
    return [f"{g['key']} ({g['count']}x, e.g. --replay {g['examples'][0]['n']} --seed {SEED})"
            for g in report["groups"] if g["outcome"] in outcomes]


def test_seeds_are_accepted_by_every_reader(seeds: list, tmp_path: pathlib.Path) -> None:
    checker = Checker()
    try:
        for seed in seeds:
            for verify in (False, True):
                path = materialize(seed, {"ops": []}, str(tmp_path / seed.name))
                result = checker.run(path, seed.kind, verify, fs_fault=False, json_cli=verify)
                assert result["outcome"] == "valid", (seed.name, verify, result)
                assert result["inspect"]["ok"], (seed.name, result)
    finally:
        checker.close()


def test_field_maps_come_from_the_declarations(seeds: list) -> None:
    from fuzzlib.layout import struct_fields
    from oxy.formats.geometry import MeshDescStruct
    from oxy.formats.pak import PakFooterStruct
    from oxy.formats.resources import TextureResourceDescStruct

    footer = {f.path: (f.offset, f.size, f.kind) for f in struct_fields(PakFooterStruct, 0, "footer")}
    assert footer["footer.texture_table.entry_size"] == (84, 4, "u")  # FORMATS.md 3: texture_table @72
    assert footer["footer.pak_crc32"] == (244, 4, "u") and footer["footer.footer_magic"] == (248, 8, "magic")
    texture = {f.path: (f.offset, f.size) for f in struct_fields(TextureResourceDescStruct, 0, "t")}
    assert texture["t.alignment"] == (29, 2) and texture["t.content_hash"] == (31, 8)
    mesh = {f.path: (f.offset, f.size, f.kind) for f in struct_fields(MeshDescStruct, 0, "m")}
    assert mesh["m.name"] == (0, 64, "name") and mesh["m.info"] == (73, 72, "bytes")
    pak = next(s for s in seeds if s.name == "boxtextured.pak")
    paths = {f.path for f in pak.layouts["input.pak"].fields}
    for expected in ("directory[2].desc_offset", "textures[1].payload.layouts[3].row_pitch_bytes",
                     "descriptor[1].meshes[0].info.index_buffer", "descriptor[0].shaders[1].entry_point",
                     "browse.header.entry_count"):
        assert any(p.endswith(expected) for p in paths), expected


def test_recipes_are_a_function_of_seed_and_number(seeds: list) -> None:
    a = [make_recipe(seeds, SEED, n) for n in range(50)]
    assert a == [make_recipe(seeds, SEED, n) for n in range(50)]
    assert a != [make_recipe(seeds, SEED + 1, n) for n in range(50)]
    assert all(r["ops"] for r in a)
    # the mutation changes the bytes (or the files) of at least most inputs
    changed = sum(apply_ops(next(s for s in seeds if s.name == r["seed"]), r["ops"]) !=
                  {k: bytearray(v) for k, v in next(s for s in seeds if s.name == r["seed"]).files.items()}
                  for r in a)
    assert changed >= 45


def test_every_input_is_counted(report: dict) -> None:
    assert report["inputs"] == INPUTS
    assert sum(report["outcomes"].values()) == INPUTS
    assert report["outcomes"]["valid"] > 0 and report["outcomes"]["invalid-agreed"] > 0
    assert report["outcomes"].get("harness-error", 0) == 0, report["groups"]


def test_no_crashes_or_hangs(report: dict) -> None:
    assert report["outcomes"]["crash"] == 0 and report["outcomes"]["hang"] == 0, report["failures"]


def test_no_unexpected_exceptions(report: dict) -> None:
    assert report["outcomes"]["unexpected"] == 0, _classes(report, "unexpected")


def test_validate_and_loader_agree(report: dict) -> None:
    assert report["outcomes"]["disagree:validate-accepts"] == 0, _classes(report, "disagree:validate-accepts")
    assert report["outcomes"]["disagree:loader-accepts"] == 0, _classes(report, "disagree:loader-accepts")


def test_crashes_and_hangs_are_counted_with_their_recipe(work: pathlib.Path, seeds: list) -> None:
    out = work / "inject.json"
    fuzz_formats.main(["--inputs", "8", "--seed", str(SEED), "--work-dir", str(work), "--report", str(out),
                       "--quiet", "--timeout", "3", "--inject", "crash@2,hang@5"])
    report = json.loads(out.read_text())
    assert report["inputs"] == 8
    assert report["outcomes"]["crash"] == 1 and report["outcomes"]["hang"] == 1
    failures = {f["n"]: f for f in report["failures"]}
    assert failures[2]["outcome"] == "crash" and failures[5]["outcome"] == "hang"
    assert failures[2]["recipe"] == make_recipe(seeds, SEED, 2)
    assert "Segmentation fault" in failures[2]["detail"]
    assert "sleep" in failures[5]["detail"] or "worker killed" in failures[5]["detail"]


def _string_op(seed, old: bytes, new: bytes) -> dict:  # type: ignore[no-untyped-def]
    """Overwrite the index string ``old`` (same length, NUL-padded) with ``new``."""
    index = seed.files["container.index.bin"]
    table = next(ch for ch in seed.layouts["container.index.bin"].chunks if ch.label == "index.strings")
    at = index.index(old + b"\0", table.offset)
    return {"op": "write", "file": "container.index.bin", "at": at, "data": new[:len(old)].ljust(len(old), b"\0").hex()}


def _field_op(seed, rel: str, path: str, value: int) -> dict:  # type: ignore[no-untyped-def]
    f = next(f for f in seed.layouts[rel].fields if f.path == path)
    return {"op": "write", "file": rel, "at": f.offset, "data": value.to_bytes(f.size, "little").hex()}


def _run_recipe(seeds: list, tmp_path: pathlib.Path, seed_name: str, make_ops) -> dict:  # type: ignore[no-untyped-def]
    seed = next(s for s in seeds if s.name == seed_name)
    path = materialize(seed, {"ops": make_ops(seed)}, str(tmp_path / "input"))
    checker = Checker()
    try:
        return checker.run(path, seed.kind, False, fs_fault=False, json_cli=False)
    finally:
        checker.close()


def test_inspect_of_an_index_naming_a_missing_descriptor(seeds: list, tmp_path: pathlib.Path) -> None:
    result = _run_recipe(seeds, tmp_path, "sample.root",
                         lambda s: [_string_op(s, b"Geometry/Cube.ogeo", b"Geometry/Gone.ogeo")])
    assert result["validate"]["verdict"] == "refuse" and result["loader"]["verdict"] == "refuse"
    assert result["unexpected"] == [], result["unexpected"][0]["traceback"]


def test_audio_table_entry_size_verdicts_agree(seeds: list, tmp_path: pathlib.Path) -> None:
    result = _run_recipe(seeds, tmp_path, "minimal_ref.pak",
                         lambda s: [_field_op(s, "input.pak", "footer.audio_table.count", 1)])
    assert result["validate"]["verdict"] == result["loader"]["verdict"], (result["validate"], result["loader"])
    # oxy inspect agrees too: the audio problem is a note in its output, not a refusal
    assert result["inspect"]["ok"] and result["cli"]["inspect"] == 0 and not result["notes"], result


def test_audio_region_range_verdicts_agree(seeds: list, tmp_path: pathlib.Path) -> None:
    result = _run_recipe(seeds, tmp_path, "minimal_ref.pak",
                         lambda s: [_field_op(s, "input.pak", "footer.audio_region.size", 1 << 32)])
    assert result["validate"]["verdict"] == result["loader"]["verdict"], (result["validate"], result["loader"])
    assert result["inspect"]["ok"] and result["cli"]["inspect"] == 0 and not result["notes"], result
