"""The ``--json`` contract (docs/cli-json.md): every command run for real, on success and on
failure, writes exactly one JSON document on stdout that validates against its schema in
docs/schemas (jsonschema, draft 2020-12), with ``exit_code`` equal to the process's."""
from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from oxy.build.rootlock import RootLock
from oxy.cli import jsonout
from oxy.cli.main import main
from oxy.cook.descriptors import build_material
from oxy.samples import write_loose_root

from conftest import GOLDEN_PAK, PROJECT, SAMPLE_PAK
from test_pack_compact import rich_content

SCHEMAS = PROJECT / "docs" / "schemas"


def _load_schemas() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.json"))}


_ALL = _load_schemas()
_REGISTRY = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in _ALL.values()])


def validator(command: str) -> Draft202012Validator:
    return Draft202012Validator(_ALL[f"oxy.{command}.1.json"], registry=_REGISTRY)


def oxy(*args: Any, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oxy", *map(str, args)], capture_output=True, text=True,
                          cwd=PROJECT, timeout=timeout)


def check(command: str, result: subprocess.CompletedProcess) -> dict[str, Any]:
    """One document on stdout (json.loads refuses trailing data), valid for the command's
    schema, naming the command, with the process's exit code; a failure's stderr line kept."""
    doc = json.loads(result.stdout)
    errors = [f"{e.json_path}: {e.message[:200]}" for e in validator(command).iter_errors(doc)]
    assert not errors, (errors, result.stdout[:3000])
    assert doc["schema"] == f"oxy.{command}/1"
    assert doc["exit_code"] == result.returncode and doc["ok"] is (result.returncode == 0)
    assert "Traceback" not in result.stderr
    if "error" in doc:
        assert result.stderr.strip(), "the human error line stays on stderr"
    return doc


def error_of(command: str, result: subprocess.CompletedProcess, code: str, exit_code: int) -> dict[str, Any]:
    doc = check(command, result)
    assert result.returncode == exit_code, result.stderr
    assert doc["error"]["code"] == code, doc
    assert set(doc) == {"schema", "ok", "exit_code", "error"}
    return doc["error"]


@pytest.fixture(scope="module")
def cooked(tmp_path_factory) -> pathlib.Path:
    """A loose root cooked by ``oxy cook`` (build records included) from two sample images."""
    root = tmp_path_factory.mktemp("json") / "cooked"
    r = oxy("cook", PROJECT / "samples" / "textures" / "checker.png", PROJECT / "samples" / "textures" / "badge.png",
            "-o", root, "--no-cache", "--quality", "fast", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    return root


@pytest.fixture
def corrupt_pak(tmp_path) -> pathlib.Path:
    """A copy of the sample PAK with the header version and a directory byte flipped."""
    data = bytearray(SAMPLE_PAK.read_bytes())
    data[8] ^= 0xFF  # header.version
    path = tmp_path / "corrupt.pak"
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------------------- schemas themselves
def test_the_schemas_are_valid_draft_2020_12_and_every_command_has_one():
    for name, schema in _ALL.items():
        Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith("/" + name)
    for command in ("validate", "inspect", "pack", "diff", "why", "cache", "compact", "cook", "export", "error"):
        assert f"oxy.{command}.1.json" in _ALL


def test_error_codes_are_one_list_in_code_schema_and_docs():
    enum = _ALL["oxy.error.1.json"]["properties"]["error"]["properties"]["code"]["enum"]
    assert sorted(enum) == sorted(jsonout.ERROR_CODES)
    doc = (PROJECT / "docs" / "cli-json.md").read_text()
    for code in jsonout.ERROR_CODES:
        assert f"`{code}`" in doc, code


def test_the_schemas_reject_a_hash_as_a_number_and_a_wrong_exit_code():
    doc = json.loads(oxy("inspect", SAMPLE_PAK, "--json").stdout)
    assert validator("inspect").is_valid(doc)
    as_number = json.loads(json.dumps(doc))
    as_number["textures"][0]["content_hash"] = int(doc["textures"][0]["content_hash"], 16)
    assert not validator("inspect").is_valid(as_number)
    nested = json.loads(json.dumps(doc))
    nested["assets"][0]["descriptor"]["header"]["content_hash"] = "0x" + doc["textures"][0]["content_hash"]
    assert not validator("inspect").is_valid(nested)
    assert not validator("inspect").is_valid({**doc, "exit_code": 3})  # ok true with exit code 3
    assert not validator("inspect").is_valid({**doc, "schema": "oxy.validate/1"})


# ---------------------------------------------------------------------------- successes
@pytest.mark.parametrize("target", ["pak", "loose", "golden"])
def test_inspect_documents_hashes_in_hex(target, cooked):
    path = {"pak": SAMPLE_PAK, "loose": cooked, "golden": GOLDEN_PAK}[target]
    doc = check("inspect", oxy("inspect", path, "--json"))
    assert doc["ok"] and doc["kind"] == ("loose" if target == "loose" else "pak")
    if target != "loose":
        assert re.fullmatch(r"[0-9a-f]{8}", doc["footer"]["pak_crc32"])
    assert doc["textures"] or target == "golden"  # the engine's reference PAK has no texture table
    for texture in doc["textures"]:
        assert re.fullmatch(r"[0-9a-f]{16}", texture["content_hash"])


def test_inspect_pak_crc32_is_the_footer_value():
    from oxy.formats.pak import PAK_FOOTER_SIZE, PAK_HEADER_SIZE, PakFooter, PakHeader

    doc = check("inspect", oxy("inspect", SAMPLE_PAK, "--json"))
    data = SAMPLE_PAK.read_bytes()
    footer = PakFooter.parse(data[-PAK_FOOTER_SIZE:], 0)
    assert doc["footer"]["pak_crc32"] == f"{footer.pak_crc32:08x}"
    assert doc["header"]["guid"] == bytes(PakHeader.parse(data[:PAK_HEADER_SIZE], 0).guid).hex()


def test_validate_valid_and_invalid_are_reports_not_errors(cooked, corrupt_pak):
    good = check("validate", oxy("validate", cooked, "--verify-hashes", "--json"))
    assert good["ok"] and good["valid"] and good["repaired"] is None
    bad = check("validate", oxy("validate", corrupt_pak, "--json"))
    assert bad["exit_code"] == 3 and not bad["valid"] and "error" not in bad
    assert bad["diagnostics"][0]["code"] == "pak.header.version" and bad["diagnostics"][0]["offset"] == 8


def test_pack_json_states_what_is_on_disk(cooked, tmp_path):
    from oxy.formats import parse_pak

    out = tmp_path / "sub" / "game.pak"
    doc = check("pack", oxy("pack", cooked, "-o", out, "--json"))
    data = out.read_bytes()
    pak = parse_pak(data)
    assert doc["output"] == str(out) and doc["size"] == len(data)
    assert doc["guid"] == bytes(pak.header.guid).hex()
    assert doc["pak_crc32"] == f"{pak.footer.pak_crc32:08x}"
    assert doc["assets"] == pak.footer.asset_count and doc["inputs"] == [str(cooked)]


@pytest.fixture
def two_roots(tmp_path) -> tuple[pathlib.Path, pathlib.Path]:
    """Two loose roots with the same keys; material "Two" differs in roughness and its normal map."""
    write_loose_root(tmp_path / "a", rich_content())
    content = rich_content()
    content.assets = [(t, n, build_material("Two", textures={"base_color": 2, "normal": 3}, roughness=0.25)
                       if n == "Two" else b) for t, n, b in content.assets]
    write_loose_root(tmp_path / "b", content)
    return tmp_path / "a", tmp_path / "b"


def test_pack_conflicts_resolved_and_refused(two_roots, tmp_path):
    a, b = two_roots
    refused = oxy("pack", a, b, "-o", tmp_path / "x.pak", "--json")
    error = error_of("pack", refused, "conflict", 3)
    assert error["details"] and error["details"][0]["virtual_path"] == "/.cooked/Materials/Two.omat"
    assert not (tmp_path / "x.pak").exists()
    kept = check("pack", oxy("pack", a, b, "-o", tmp_path / "y.pak", "--prefer", "last", "--json"))
    assert kept["prefer"] == "last" and [c["kept"] for c in kept["conflicts"]] == [str(b)]


def test_diff_entries_are_structured_values(two_roots):
    a, b = two_roots
    doc = check("diff", oxy("diff", a, b, "--json"))
    assert doc["exit_code"] == 4 and not doc["identical"] and not doc["only_in_a"]
    by_field = {c["field"]: c for c in doc["changed"]}
    assert by_field["desc.roughness"]["a"] == 1.0 and by_field["desc.roughness"]["b"] == pytest.approx(0.25, abs=1e-4)
    assert all(c["virtual_path"] == "/.cooked/Materials/Two.omat" for c in doc["changed"])
    same = check("diff", oxy("diff", a, a, "--json"))
    assert same["ok"] and same["identical"] and same["changed"] == []
    one_side = check("diff", oxy("diff", a, GOLDEN_PAK, "--json"))
    assert one_side["only_in_b"] == [{"key": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", "virtual_path": "/MatRef",
                                      "type": "material"}]


def test_diff_of_a_changed_texture_gives_hashes_in_hex(tmp_path):
    from oxy.samples import checker_texture

    write_loose_root(tmp_path / "a", rich_content())
    content = rich_content()
    content.textures[3] = checker_texture(4)
    write_loose_root(tmp_path / "b", content)
    doc = check("diff", oxy("diff", tmp_path / "a", tmp_path / "b", "--json", "--max-fields", "100"))
    hashes = [c for c in doc["changed"] if c["field"].endswith(".content_hash")]
    assert hashes and all(re.fullmatch(r"[0-9a-f]{16}", c[side]) for c in hashes for side in "ab")
    width = [c for c in doc["changed"] if c["field"].endswith("normal_texture.width")]
    assert width and width[0]["a"] == 8 and width[0]["b"] == 4


def test_why_cache_and_compact(cooked, tmp_path):
    import shutil

    why = check("why", oxy("why", cooked, "--json"))
    assert {pathlib.Path(s["path"]).name for s in why["sources"]} == {"checker.png", "badge.png"}
    cache = tmp_path / "cache"
    for action in ("stats", "trim", "clear"):
        assert check("cache", oxy("cache", action, "--cache", cache, "--json"))["command"] == action
    root = tmp_path / "root"
    shutil.copytree(cooked, root)
    compact = check("compact", oxy("compact", root, "--json", "--dry-run"))
    assert compact["dry_run"] and compact["root"] == str(root)


def test_why_names_asset_keys_in_text_form(tmp_path):
    root = tmp_path / "model"
    r = oxy("cook", PROJECT / "samples" / "models" / "brick_cube.gltf", "-o", root, "--no-cache", "--quality", "fast",
            "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = check("why", oxy("why", root, "--json"))
    keys = [o["asset"] for s in doc["sources"] for o in s["outputs"] if o["asset"]]
    assert keys
    inspected = check("inspect", oxy("inspect", root, "--json"))
    assert set(keys) == {a["key"] for a in inspected["assets"]}
    undashed = check("why", oxy("why", root, keys[0].replace("-", ""), "--json"))
    assert [o["asset"] for s in undashed["sources"] for o in s["outputs"]] == [keys[0]]
    from oxy.cli.why_cmd import produced_assets  # what oxy cook --json is to list per job

    produced = produced_assets(str(root))
    assert list(produced) == [str(PROJECT / "samples" / "models" / "brick_cube.gltf")]
    assert {(a["key"], a["virtual_path"]) for a in produced[list(produced)[0]]} == {
        (a["key"], a["virtual_path"]) for a in inspected["assets"]}
    assert {a["type"] for a in produced[list(produced)[0]]} == {"material", "geometry", "scene"}


def test_export_files_are_on_disk_with_their_digest(cooked, tmp_path):
    import hashlib

    doc = check("export", oxy("export", cooked, "--all", "-o", tmp_path / "out", "--json"))
    assert doc["files"]
    for f in doc["files"]:
        assert hashlib.sha256(pathlib.Path(f["path"]).read_bytes()).hexdigest() == f["sha256"]
    error_of("export", oxy("export", tmp_path / "missing", "--all", "-o", tmp_path / "o", "--json"), "not_found", 2)
    error_of("export", oxy("export", cooked, "-o", tmp_path / "o", "--json"), "usage", 1)  # neither KEY nor --all


# ---------------------------------------------------------------------------- failures
@pytest.mark.parametrize("command", ["validate", "inspect", "compact", "why"])
def test_a_missing_path_is_one_error_document(command, tmp_path):
    missing = tmp_path / "missing.pak"
    code = "no_index" if command == "why" else "not_found"
    error = error_of(command, oxy(command, missing, "--json"), code, 2)
    assert error["path"] == str(missing) and str(missing) in error["message"]


def test_pack_and_diff_of_a_missing_input(tmp_path):
    missing = tmp_path / "missing"
    assert error_of("pack", oxy("pack", missing, "-o", tmp_path / "o.pak", "--json"), "not_found", 2)["path"]
    assert error_of("diff", oxy("diff", SAMPLE_PAK, missing, "--json"), "not_found", 2)["path"] == str(missing)


def test_a_corrupt_pak_is_invalid_content_with_offset_and_field(corrupt_pak, tmp_path):
    for command, args in (("inspect", [corrupt_pak]), ("diff", [SAMPLE_PAK, corrupt_pak]),
                          ("pack", [corrupt_pak, "-o", tmp_path / "o.pak"])):
        error = error_of(command, oxy(command, *args, "--json"), "invalid_content", 3)
        assert error["path"] == str(corrupt_pak), error
        if command == "inspect":
            assert error["offset"] == 8 and error["field"] == "header.version"


def test_a_truncated_golden_pak(tmp_path):
    cut = tmp_path / "cut.pak"
    cut.write_bytes(GOLDEN_PAK.read_bytes()[:300])
    error = error_of("inspect", oxy("inspect", cut, "--json"), "invalid_content", 3)
    assert error["path"] == str(cut)


def test_a_busy_root_is_root_busy(cooked, tmp_path):
    import shutil

    root = tmp_path / "busy"
    shutil.copytree(cooked, root)
    lock = RootLock(str(root))
    assert lock.try_acquire()
    try:
        error = error_of("compact", oxy("compact", root, "--json"), "root_busy", 2)
        assert error["path"] == str(root) and "not compacted" in error["message"]
        error_of("validate", oxy("validate", root, "--repair", "--json"), "root_busy", 2)
    finally:
        lock.release()


@pytest.mark.parametrize("argv, command", [
    (["validate", "--json"], "validate"),                          # missing PATH
    (["valdate", "x", "--json"], None),                            # misspelt subcommand
    (["inspect", "x", "--jso"], "inspect"),                        # an abbreviation argparse accepts
    (["pack", "x", "--json"], "pack"),                             # missing -o
    (["pack", "x", "-o", "y.pak", "--guid", "zz", "--json"], "pack"),  # the command's own usage check
    (["cache", "stats", "--cache-size", "lots", "--json"], "cache"),
    (["diff", "a", "--json"], "diff"),
])
def test_usage_errors_are_one_error_document(argv, command, tmp_path):
    result = subprocess.run([sys.executable, "-m", "oxy", *argv], capture_output=True, text=True, cwd=tmp_path,
                            timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(PROJECT)})
    doc = json.loads(result.stdout)
    if argv[-1] == "--jso":  # argparse accepts the abbreviation: the command ran (x is missing)
        assert doc["error"]["code"] == "not_found" and result.returncode == 2
        return
    assert result.returncode == 1 and doc["exit_code"] == 1 and doc["error"]["code"] == "usage"
    assert doc["schema"] == jsonout.schema_id(command)
    assert "usage" in result.stderr or "oxy" in result.stderr
    errors = list(Draft202012Validator(_ALL["oxy.error.1.json"], registry=_REGISTRY).iter_errors(doc))
    assert not errors, errors
    if command:
        assert not list(validator(command).iter_errors(doc))


def test_without_json_stdout_stays_empty_on_failure(tmp_path):
    result = oxy("inspect", tmp_path / "missing.pak")
    assert result.returncode == 2 and result.stdout == "" and "missing.pak" in result.stderr


# ---------------------------------------------------------------------------- in-process failure paths
def _run_in_process(capsys, argv: list[str]) -> tuple[int, dict[str, Any], str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_a_bug_is_an_internal_error_document_with_the_traceback_on_stderr(monkeypatch, capsys):
    import oxy.cli.describe as describe

    def broken(path: str) -> dict:
        raise RuntimeError("boom")

    monkeypatch.setattr(describe, "describe_path", broken)
    code, doc, err = _run_in_process(capsys, ["inspect", str(SAMPLE_PAK), "--json"])
    assert code == 70 and doc["exit_code"] == 70 and doc["error"]["code"] == "internal_error"
    assert "boom" in doc["error"]["message"] and "Traceback" in err
    assert validator("inspect").is_valid(doc)
    with pytest.raises(RuntimeError):  # without --json: as before, the exception propagates
        main(["inspect", str(SAMPLE_PAK)])


def test_ctrl_c_is_an_interrupted_document(monkeypatch, capsys):
    import oxy.validate as validate

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(validate, "validate_path", interrupted)
    code, doc, err = _run_in_process(capsys, ["validate", str(SAMPLE_PAK), "--json"])
    assert code == 130 and doc["error"]["code"] == "interrupted" and "interrupted" in err
    assert validator("validate").is_valid(doc)


def test_out_of_memory_while_validating(monkeypatch, capsys):
    import oxy.validate as validate

    def too_big(*args: Any, **kwargs: Any) -> None:
        raise MemoryError

    monkeypatch.setattr(validate, "validate_path", too_big)
    code, doc, _err = _run_in_process(capsys, ["validate", str(SAMPLE_PAK), "--json"])
    assert code == 2 and doc["error"]["code"] == "out_of_memory" and doc["error"]["path"] == str(SAMPLE_PAK)
    assert validator("validate").is_valid(doc)


def test_emit_refuses_envelope_keys_and_fail_writes_once(capsys):
    import argparse

    with pytest.raises(ValueError):
        jsonout.document("inspect", 0, {"ok": True})
    with pytest.raises(ValueError):
        jsonout.error_document("inspect", 2, "no_such_code", "x")
    args = argparse.Namespace(command="inspect", json=True)
    assert jsonout.emit(args, {"kind": "pak"}, 0) == 0
    assert jsonout.fail(args, 2, "io_error", "late failure") == 2  # stderr line only: one document
    out, err = capsys.readouterr()
    assert json.loads(out)["kind"] == "pak" and "late failure" in err


# ---------------------------------------------------------------------------- cook
def test_cook_json_names_the_asset_keys_it_produced(tmp_path):
    root = tmp_path / "root"
    model = PROJECT / "samples" / "models"
    doc = check("cook", oxy("cook", model, PROJECT / "samples" / "textures" / "badge.png", "-o", root, "--json",
                            "--quality", "fast", "--no-progress"))
    assert doc["ok"] is True
    inspected = check("inspect", oxy("inspect", root, "--json"))
    produced = {a["key"] for job in doc["jobs"] for a in job.get("assets", ())}
    assert produced and produced <= {a["key"] for a in inspected["assets"]}


def test_cook_failures_are_one_error_document(tmp_path):
    error_of("cook", oxy("cook", tmp_path / "missing.png", "-o", tmp_path / "r", "--json"), "not_found", 2)
    error_of("cook", oxy("cook", PROJECT / "samples" / "textures", "-o", tmp_path / "r", "--threads", "0", "--json"),
             "usage", 1)
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "letter.txt").write_text("hello")
    error = error_of("cook", oxy("cook", PROJECT / "samples" / "textures", "-o", papers, "--json"), "io_error", 2)
    assert "not a cooked root" in error["message"] and error["path"] == str(papers)
    assert sorted(p.name for p in papers.iterdir()) == ["letter.txt"]  # nothing mixed in
    afile = tmp_path / "afile"
    afile.write_text("x")
    error = error_of("cook", oxy("cook", PROJECT / "samples" / "textures", "-o", afile, "--json"), "io_error", 2)
    assert "not a directory" in error["message"]


def test_cook_into_a_busy_root_names_the_holder_and_honours_the_lock_timeout(cooked, tmp_path):
    import shutil

    root = tmp_path / "busy"
    shutil.copytree(cooked, root)
    lock = RootLock(str(root))
    assert lock.try_acquire()
    try:
        r = oxy("cook", PROJECT / "samples" / "textures" / "badge.png", "-o", root, "--lock-timeout", "0.5",
                "--json", "--no-progress")
        error = error_of("cook", r, "root_busy", 2)
        assert f"pid {os.getpid()}" in error["message"]
        assert f"waiting for {root}: locked by pid {os.getpid()}" in r.stderr
    finally:
        lock.release()
