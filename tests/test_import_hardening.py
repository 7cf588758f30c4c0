"""Import hardening (issue 10, item 5): request options are declared with their types
(typos and wrong types are errors naming the key), and silent repairs of meshes and
textures become counted warnings in the report and in ``oxy cook`` output."""
from __future__ import annotations


import pytest

from oxy.importing import AsyncImportService, ImportRequest
from oxy.importing.sync import AssetImporter
from oxy.importing.types import OptionSpec, Severity, check_options

from conftest import CORPUS

IMAGES = CORPUS / "images"
NET = IMAGES / "net.png"
BOX = CORPUS / "models" / "gltf_Box" / "Box.gltf"


def _async(request: ImportRequest):
    with AsyncImportService() as service:
        return service.submit(request).wait(120)


def _sync(request: ImportRequest):
    return AssetImporter().import_to_loose_cooked(request)


RUNNERS = {"async": _async, "sync": _sync}


# ----------------------------------------------------------------------- options
@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_option_typo_is_an_error_with_a_suggestion(tmp_path, runner):
    root = tmp_path / "root"
    report = RUNNERS[runner](ImportRequest(str(NET), str(root), options={"quailty": "fast"}))
    assert not report.success
    [error] = report.errors
    assert error.code == "import.unknown_option" and error.field_path == "options.quailty"
    assert "'quailty'" in error.message and "did you mean 'quality'" in error.message
    assert not (root / "container.index.bin").exists()  # nothing was cooked


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_sources_as_a_string_is_one_clear_error(tmp_path, runner):
    root = tmp_path / "root"
    report = RUNNERS[runner](ImportRequest(str(NET), str(root), options={"sources": str(IMAGES / "basn6a16.png")}))
    assert [d.code for d in report.diagnostics] == ["import.bad_option"]  # not one read error per character
    assert "'sources' must be a list" in report.errors[0].message and "got str" in report.errors[0].message
    assert not (root / "container.index.bin").exists()


@pytest.mark.parametrize("options, fragment", [
    ({"mips": 1}, "'mips' must be bool, got int"),
    ({"quality": True}, "'quality' must be str, got bool"),
    ({"quality": "ultra"}, "'quality' must be one of 'fast', 'normal', 'high'"),
    ({"alpha_coverage": 1.5}, "strictly between 0 and 1"),
    ({"sources": [str(NET), 7]}, "item 1 must be str or PathLike, got int"),
    ({"source_key": b"short"}, "must be 16 bytes"),
    ({"kind": "3d"}, "'kind' must be one of '2d', 'cube', 'array'"),
])
def test_wrongly_typed_texture_options(tmp_path, options, fragment):
    report = _sync(ImportRequest(str(NET), str(tmp_path / "root"), options=options))
    [error] = report.errors
    assert error.code == "import.bad_option" and fragment in error.message, error.message


def test_declared_options_with_none_and_paths_are_accepted(tmp_path):
    report = _sync(ImportRequest(str(NET), str(tmp_path / "root"),
                                 options={"alpha_coverage": 0.5, "sources": [IMAGES / "basn6a16.png"],
                                          "mips": True, "preset": None, "quality": "fast"}))
    assert report.success, report.diagnostics
    assert len(report.outputs) == 2


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_scene_options_are_checked_too(tmp_path, runner):
    report = RUNNERS[runner](ImportRequest(str(BOX), str(tmp_path / "root"),
                                           options={"scene_nmae": "x", "backend": "assimp"}))
    codes = sorted(d.code for d in report.errors)
    assert codes == ["import.bad_option", "import.unknown_option"]
    messages = " ".join(d.message for d in report.errors)
    assert "did you mean 'scene_name'" in messages and "'backend' must be SceneBackend" in messages
    assert not (tmp_path / "root" / "container.index.bin").exists()


def test_check_options_unit():
    specs = (OptionSpec("alpha", (float,), "a number"), OptionSpec("names", (), "names", items=(str,)))
    assert check_options({"alpha": 2, "names": ("a", "b")}, specs, importer="t") == []
    [d] = check_options("not a mapping", specs, importer="t")
    assert d.code == "import.bad_option" and d.severity is Severity.ERROR
    [d] = check_options({"zzz": 1}, specs, importer="t")
    assert "did you mean" not in d.message and "known: alpha, names" in d.message
