"""``POST /api/cook`` with per-request texture settings (``oxy cook``'s --preset,
--quality, --format (``output``), --kind): checked (400 naming the key), carried by the job, and cooked
with: the texture on disk has the format of the preset asked for."""
from __future__ import annotations

import pathlib

import pytest

from daemon_proc import Daemon, png


def _texture(root: pathlib.Path, source: pathlib.Path) -> tuple[int, dict]:
    """(the texture's format in the root's table, the source's recorded settings), read from disk."""
    from oxy.daemon.plan import load_records
    from oxy.runtime.keys import ResourceKind
    from oxy.runtime.sources import open_loose_root

    record = load_records(str(root)).sources[str(source)]
    index = next(o.index for o in record.outputs if o.kind == "texture")
    src = open_loose_root(root)
    try:
        return int(src.tables[ResourceKind.TEXTURE][index]["format"]), record.settings
    finally:
        src.close()


def test_cook_settings_are_checked_and_cooked_with(tmp_path: pathlib.Path) -> None:
    from oxy.formats.enums import Format

    src, root = tmp_path / "src", tmp_path / "root"
    src.mkdir()
    image = png(src / "map.png", size=32, seed=3)
    daemon = Daemon(tmp_path, root, [src]).started()
    try:
        daemon.wait_idle(0)
        albedo_format, settings = _texture(root, image)
        assert albedo_format == Format.BC7_UNORM_SRGB and settings["preset"] == "albedo"
        for bad, words in (({"qualty": "fast"}, ("'qualty'", "quality")),
                           ({"quality": "ultra"}, ("settings.quality", "'ultra'", "'fast'")),
                           ({"preset": 3}, ("settings.preset", "must be str")),
                           ({"kind": None}, ("settings.kind", "null")),
                           ({"output": "bc9"}, ("settings.output", "'bc9'", "'bc5'")),
                           ("fast", ("'settings' must be an object",))):
            status, doc = daemon.request("POST", "/api/cook", {"paths": [str(image)], "settings": bad})
            assert status == 400 and doc["error"]["code"] == "bad_request", (bad, doc)
            assert all(w in doc["error"]["message"] for w in words), (bad, doc["error"]["message"])
        status, job = daemon.request("POST", "/api/cook", {"paths": [str(image)],
                                                          "settings": {"preset": "normal", "quality": "fast"}})
        assert status == 202 and job["settings"] == {"preset": "normal", "quality": "fast"}, job
        done = daemon.wait_job(job["id"])
        assert done["state"] == "committed" and done["counts"]["texture"]["cooked"] == 1, done
        normal_format, settings = _texture(root, image)
        assert normal_format == Format.BC5_UNORM and settings["preset"] == "normal"  # normal maps: BC5
        assert settings["quality"] == "fast"
        status, job = daemon.request("POST", "/api/cook", {"paths": [str(image)],
                                                          "settings": {"preset": "normal", "output": "bc1"}})
        assert status == 202 and daemon.wait_job(job["id"])["state"] == "committed", job
        assert _texture(root, image)[0] == Format.BC1_UNORM  # the format override
        assert daemon.stop() == 0
    finally:
        daemon.kill()


@pytest.mark.parametrize("preset, model_preset", [("normal", None), ("ui", "ui")])
def test_settings_reach_requests_as_oxy_cook_passes_them(tmp_path: pathlib.Path, preset: str,
                                                         model_preset: str | None) -> None:
    from oxy.daemon.config import make_config
    from oxy.daemon.plan import image_request, model_requests

    cfg = make_config(str(tmp_path / "root"), [str(tmp_path)])
    settings = {"preset": preset, "quality": "high", "kind": "2d", "output": "bc1"}
    image = image_request(cfg, ["/a.png", "/b.png"], False, settings)
    assert (image.options["preset"], image.options["quality"], image.options["kind"]) == (preset, "high", "2d")
    assert image.options["output"] == "bc1"
    model, = model_requests(cfg, ["/m.gltf"], False, settings)
    assert model.options["preset"] == model_preset and model.options["quality"] == "high"  # as oxy cook --preset
    default = image_request(cfg, ["/a.png"], False)
    assert (default.options["preset"], default.options["quality"]) == ("albedo", cfg.quality)
    assert default.options["output"] is None  # the preset's
    served = make_config(str(tmp_path / "root"), [str(tmp_path)], output="bc6h")  # oxy serve --format bc6h
    assert image_request(served, ["/a.png"], False).options["output"] == "bc6h"
