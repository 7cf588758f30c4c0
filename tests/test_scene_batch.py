"""Several models in one scene job (``oxy cook a.obj b.gltf ...``): the next models are
checked, parsed and planned, and start cooking, while an earlier one is emitted
(``SceneImporter._run_models``). What a model prepared ahead says is held until its
turn, so the report lists the diagnostics model after model; a model that fails
while prepared ahead fails alone; a cancel stops the models prepared ahead too."""
from __future__ import annotations

import os
import pathlib
import threading

import gevent
import numpy as np
import pytest
from PIL import Image

from oxy.hub import ImportLoop
from oxy.importing import AsyncImportService, ImportRequest
from oxy.importing.scene import importer as scene_importer
from oxy.importing.scene.ahead import Lookahead
from oxy.importing.scene.backend import ParsedScene
from oxy.importing.scene.backend_assimp import AssimpBackend
from oxy.validate import validate_loose_root
from scene_disk import read_root


def quad_obj(folder: pathlib.Path, image: str | None, size: int = 32) -> pathlib.Path:
    """One textured quad; ``image`` is written as a noise PNG, or named but missing when
    it ends in ``missing.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    if image and not image.endswith("missing.png"):
        rng = np.random.default_rng(size)
        Image.fromarray(rng.integers(0, 256, (size, size, 4), dtype=np.uint8), "RGBA").save(folder / image)
    (folder / "quad.mtl").write_text(f"newmtl m\nKd 1 1 1\nmap_Kd {image}\n")
    (folder / "quad.obj").write_text("mtllib quad.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\n"
                                     "vt 1 1\nvt 0 1\nusemtl m\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n")
    return folder / "quad.obj"


class EndSignallingBackend(AssimpBackend):
    """``ended`` is set when the parse of ``path`` has ended (failed or not)."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.ended = threading.Event()

    def parse(self, path: str) -> ParsedScene:
        try:
            return super().parse(path)
        finally:
            if os.path.samefile(path, self.path):
                self.ended.set()


def cook(models: list[pathlib.Path], root: pathlib.Path, threads: int, **options):
    request = ImportRequest(str(models[0]), str(root), options={
        "name_prefix": "m0", "scene_name": "m0", **options,
        "models": [{"path": str(m), "name_prefix": f"m{i}", "scene_name": f"m{i}"} for i, m in enumerate(models[1:], 1)]})
    with AsyncImportService(cpu_threads=threads) as service:
        return service.submit(request).wait(600)


def test_diagnostics_stay_in_model_order_and_a_model_failing_ahead_fails_alone(tmp_path, monkeypatch):
    first = quad_obj(tmp_path / "first", "missing.png")      # a plan warning at its turn
    broken = tmp_path / "broken" / "broken.gltf"             # fails to parse, while prepared ahead
    broken.parent.mkdir()
    broken.write_text("{ this is not glTF")
    last = quad_obj(tmp_path / "last", "tex.png", 48)
    backend = EndSignallingBackend(broken)
    waited = []
    real_plan = scene_importer.make_plan

    def make_plan(parsed, *args):  # type: ignore[no-untyped-def]
        """The first model's plan (so its turn) waits until the broken model's parse has failed."""
        if os.path.samefile(parsed.source_path, first):
            waited.append(backend.ended.wait(60))
        return real_plan(parsed, *args)
    monkeypatch.setattr(scene_importer, "make_plan", make_plan)
    report = cook([first, broken, last], tmp_path / "root", 2, backend=backend)
    assert waited == [True]  # the broken model's parse failed before the first model's turn
    assert report is not None and not report.success  # one model failed ...
    codes = [(d.code, os.path.basename(d.source_path)) for d in report.diagnostics]
    missing = codes.index(("scene.texture_missing", "quad.obj"))
    failed = codes.index(("scene.parse_failed", "broken.gltf"))
    assert missing < failed, codes  # ... and its error is listed after the first model's warning
    assert all(source != "broken.gltf" for _code, source in codes[:missing + 1])
    # ... and the others were committed, each with its own texture
    assert validate_loose_root(tmp_path / "root", verify_hashes=True).ok
    scenes = set(read_root(tmp_path / "root").scenes)
    assert scenes == {"m0", "m2"}, scenes
    assert any(k.startswith(f"{last}:texture:tex.png") for k in report.outputs)
    assert not any(k.startswith(f"{broken}:") for k in report.outputs)


def test_the_same_models_one_per_job_and_in_one_job_give_the_same_outputs(tmp_path):
    models = [quad_obj(tmp_path / f"q{i}", f"t{i}.png", 16 + 24 * i) for i in range(4)]
    together = cook(models, tmp_path / "together", 2)
    assert together is not None and together.success, together and together.diagnostics
    assert together.written["scenes"] == 4 and together.written["textures"] == 5  # + the placeholder
    for i, model in enumerate(models):
        keys = [k for k in together.outputs if k.startswith(f"{model}:")]
        assert len(keys) == 3, keys  # its texture and its geometry's two buffers
    counts = together.counts
    assert counts["texture"]["cooked"] == 4 and counts["scene_parse"]["cooked"] == 4, counts


class SignallingBackend(AssimpBackend):
    """Sets ``started`` when the parse of ``path`` begins, then waits (at most 60 s) for
    ``go``: the job cannot reach that model's turn, let alone commit, before ``go``."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.started, self.go = threading.Event(), threading.Event()

    def parse(self, path: str) -> ParsedScene:
        if os.path.samefile(path, self.path):
            self.started.set()
            self.go.wait(60)
        return super().parse(path)


def test_a_cancel_while_models_are_prepared_ahead_commits_nothing(tmp_path):
    models = [quad_obj(tmp_path / f"q{i}", f"t{i}.png", 64 if i == 0 else 16) for i in range(4)]
    backend = SignallingBackend(models[2])  # prepared while model 0 is cooked and emitted
    request = ImportRequest(str(models[0]), str(tmp_path / "root"), options={
        "backend": backend,
        "models": [{"path": str(m), "name_prefix": f"m{i}"} for i, m in enumerate(models[1:], 1)]})
    with AsyncImportService(cpu_threads=2) as service:
        handle = service.submit(request)
        assert backend.started.wait(120)
        handle.cancel()
        backend.go.set()
        report = handle.wait(120)
    assert report is not None and report.cancelled and not report.success
    assert not (tmp_path / "root" / "container.index.bin").exists()
    leftovers = [p.name for p in (tmp_path / "root").rglob("*") if ".oxy-" in p.name and p.name != ".oxy-lock"]
    assert leftovers == []


def run_lookahead(weights: list[int], take: int, **bounds) -> tuple[list[int], list[int], int, list[int]]:
    """Take the first ``take`` of ``len(weights)`` items (each prepared by a greenlet that
    yields once), then close: (values taken, items started, peak ahead, left prepared)."""
    started: list[int] = []

    def prepare(i: int) -> int:
        started.append(i)
        gevent.sleep(0)
        return i

    def job() -> tuple[list[int], list[int], int, list[int]]:
        ahead = Lookahead(len(weights), prepare, lambda i: weights[i], **bounds)
        taken = []
        for i in range(take):
            taken.append(ahead.take(i))
            for _ in range(5):
                gevent.sleep(0)  # let the preparations started meanwhile finish
        left = ahead.close()
        return taken, started, ahead.peak_ahead, sorted(left)

    loop = ImportLoop(cpu_threads=1, name="lookahead-test")
    try:
        return loop.call(job, timeout=60)
    finally:
        loop.close(60)


def test_the_lookahead_goes_deep_for_light_models_and_stays_shallow_for_heavy_ones():
    taken, started, peak, left = run_lookahead([0] * 20, 20, least=2, most=5, budget=3)
    assert taken == list(range(20)) and started == list(range(20)) and peak == 5 and left == []
    taken, started, peak, left = run_lookahead([10] * 20, 20, least=2, most=5, budget=3)
    assert taken == list(range(20)) and started == list(range(20)) and peak == 2
    # light models, then a heavy one: deeper than `least`, but nothing behind the heavy one
    weights = [0, 0, 0, 9, 0, 0, 0, 0, 0, 0]
    taken, started, peak, left = run_lookahead(weights, 1, least=2, most=8, budget=3)
    assert taken == [0] and started == [0, 1, 2, 3] and left == [1, 2, 3]
    # none ahead: each item starts when it is taken (the cook of one model after the other)
    taken, started, peak, left = run_lookahead([0] * 5, 5, least=0, most=0, budget=3)
    assert taken == started == list(range(5)) and peak == 1 and left == []


def test_items_are_taken_in_order():
    def job() -> None:
        ahead = Lookahead(3, lambda i: i, lambda _i: 0, least=1, most=2, budget=1)
        with pytest.raises(ValueError, match="in order"):
            ahead.take(1)
        ahead.close()

    loop = ImportLoop(cpu_threads=1, name="lookahead-test")
    try:
        loop.call(job, timeout=60)
    finally:
        loop.close(60)
