"""Cook order: results are emitted in submission order, so two cooks of the same
inputs give byte-identical roots whatever finished first (oxy.importing.reorder).

The in-order buffer against a fake completion-order pipeline (a huge first item
with many small ones behind it: no deadlock, the pool keeps working on the small
ones, and held results stay under the bound), then real cooks: texture jobs and a
scene whose textures have very different sizes, on 1 and 2 CPU threads (the farm
variant is in test_farm.py), every file of the roots and the packed PAKs compared,
and the completion order recorded to prove it really differed."""
from __future__ import annotations

import logging
import os
import pathlib
import threading

import gevent
import gevent.event
import pytest

from farming import assert_identical_roots, fresh, mixed_images, out_of_order_counts
from oxy.hub import Channel, ChannelClosed, ImportLoop
from oxy.importing import AsyncImportService, ImportRequest, texture_pipeline
from oxy.importing.reorder import InOrder
from oxy.importing.scene.backend import ParsedScene
from oxy.importing.scene.backend_assimp import AssimpBackend


class FakePipeline:
    """Completion order: ``workers`` greenlets take items (bounded input and output
    channels, like the texture pipeline); an item finishes when its gate opens."""

    def __init__(self, gates: dict[int, gevent.event.Event], workers: int = 2) -> None:
        self.gates = gates
        self.input: Channel[int] = Channel(2 * workers)
        self.output: Channel[int] = Channel(workers)
        self.done: list[int] = []
        self.busy = 0
        self.workers = [gevent.spawn(self._work) for _ in range(workers)]

    def _work(self) -> None:
        try:
            for item in self.input:
                self.busy += 1
                gate = self.gates.get(item)
                if gate is not None:
                    gate.wait()
                gevent.sleep(0)
                self.busy -= 1
                self.done.append(item)
                self.output.send(item)
        except ChannelClosed:
            return
        finally:
            if all(g.dead or g is gevent.getcurrent() for g in self.workers):
                self.output.close()

    def submit(self, item: int) -> None:
        self.input.send(item)

    def close_input(self) -> None:
        self.input.close()

    def collect(self) -> int | None:
        try:
            return self.output.receive()
        except ChannelClosed:
            return None

    def cancel_all(self) -> None:
        self.input.close()
        gevent.killall(self.workers, block=False)
        self.output.close()


def run_ordered(count: int, weight: int, **bounds) -> tuple[list[int], InOrder, FakePipeline]:
    """Submit ``count`` items; item 0 is 'huge': it finishes only once the fake pool has
    nothing else it can do (every greenlet ran and nothing moved)."""
    out: list[int] = []

    def job() -> tuple[InOrder, FakePipeline]:
        first = gevent.event.Event()
        pipeline = FakePipeline({0: first})
        ordered = InOrder(pipeline, item_id=lambda i: i, result_id=lambda r: r, weight=lambda _r: weight,
                          **bounds)

        def produce() -> None:
            for i in range(count):
                ordered.submit(i)
            ordered.close_input()

        def release_first_when_stuck() -> None:
            last = -1
            while True:
                for _ in range(20):
                    gevent.sleep(0)
                if len(pipeline.done) == last:  # nothing moved: only item 0 can free anything now
                    first.set()
                    return
                last = len(pipeline.done)

        producer = gevent.spawn(produce)
        watcher = gevent.spawn(release_first_when_stuck)
        while (r := ordered.collect()) is not None:
            out.append(r)
        producer.get()
        watcher.kill()
        return ordered, pipeline

    loop = ImportLoop(cpu_threads=1, name="reorder-test")
    try:
        ordered, pipeline = loop.call(job, timeout=60)
    finally:
        loop.close(60)
    return out, ordered, pipeline


def test_a_huge_first_item_keeps_the_pool_busy_and_order_holds():
    out, ordered, pipeline = run_ordered(300, weight=100)
    assert out == list(range(300))
    # every small item finished while the huge first one ran: the pool never stopped,
    # nothing deadlocked, and each was held until the first was handed out
    assert pipeline.done[-1] == 0 and sorted(pipeline.done) == list(range(300))
    assert ordered.out_of_order == 299 and ordered.arrivals[-1] == 0


def test_held_results_count_against_the_bound():
    budget = 1000
    out, ordered, pipeline = run_ordered(300, weight=100, max_held_bytes=budget)
    assert out == list(range(300))
    # the producer stopped once the held results reached the budget: what is held is
    # at most the budget plus what was already inside the pipeline (its channels and workers)
    capacity = pipeline.input.capacity + pipeline.output.capacity + len(pipeline.workers)
    assert budget <= ordered.peak_held_bytes <= budget + 100 * capacity
    assert ordered.peak_held < 300 - 1


def test_the_count_bound_also_holds():
    out, ordered, _pipeline = run_ordered(100, weight=0, max_ahead=5)
    assert out == list(range(100))
    assert ordered.peak_held <= 4  # 5 ahead: the first one and 4 held behind it


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="max_ahead"):
        InOrder(FakePipeline.__new__(FakePipeline), item_id=id, result_id=id, weight=len, max_ahead=0)


# -- real cooks ---------------------------------------------------------------------------------

def cook_textures(service: AsyncImportService, images: list[pathlib.Path], root: pathlib.Path):
    report = service.submit(ImportRequest(str(images[0]), str(fresh(root)),
                                          options={"sources": [str(i) for i in images[1:]]})).wait(600)
    assert report is not None and report.success, report and report.diagnostics
    return report


def test_one_and_two_threads_give_identical_texture_roots(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="oxy.importing.reorder")
    images = mixed_images(tmp_path / "src")
    roots, differed = [], []
    for threads in (1, 2, 2, 2):
        root = tmp_path / f"t{threads}-{len(roots)}"
        with AsyncImportService(cpu_threads=threads) as service:
            caplog.clear()
            report = cook_textures(service, images, root)
        counts = out_of_order_counts(caplog.records)
        assert len(counts) == 1
        assert threads > 1 or counts == [0]  # one thread: completion order is submission order
        differed.append(counts[0])
        roots.append(root)
        indices = [report.outputs[str(p)] for p in images]  # appended in submission order
        assert indices == list(range(indices[0], indices[0] + len(images)))
    # the test can fail: at least one 2-thread run really finished out of order
    assert max(differed) > 0, differed
    assert_identical_roots(roots, tmp_path)


def textured_obj(folder: pathlib.Path, sizes: tuple[int, ...] | None = None) -> pathlib.Path:
    """An OBJ of four quads, each with its own material and diffuse map (the first big,
    unless ``sizes`` says otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    images = (mixed_images(folder, sizes) if sizes else mixed_images(folder))[:4]
    mtl, obj = [], ["mtllib scene.mtl"]
    for i, image in enumerate(images):
        mtl += [f"newmtl m{i}", "Kd 1 1 1", f"map_Kd {image.name}", ""]
        base = 4 * i
        obj += [f"v {i} 0 0", f"v {i + 1} 0 0", f"v {i + 1} 1 0", f"v {i} 1 0"]
        obj += ["vt 0 0", "vt 1 0", "vt 1 1", "vt 0 1"]
        obj += [f"usemtl m{i}", f"f {base + 1}/{base + 1} {base + 2}/{base + 2} {base + 3}/{base + 3}",
                f"f {base + 1}/{base + 1} {base + 3}/{base + 3} {base + 4}/{base + 4}"]
    (folder / "scene.mtl").write_text("\n".join(mtl) + "\n")
    path = folder / "scene.obj"
    path.write_text("\n".join(obj) + "\n")
    return path


def test_a_scene_with_textures_of_different_sizes_gives_identical_roots(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="oxy.importing.reorder")
    model = textured_obj(tmp_path / "src")
    roots, differed = [], []
    for threads in (1, 2, 2, 2):
        root = fresh(tmp_path / f"s{threads}-{len(roots)}")
        with AsyncImportService(cpu_threads=threads) as service:
            caplog.clear()
            report = service.submit(ImportRequest(str(model), str(root))).wait(600)
        assert report is not None and report.success, report and report.diagnostics
        assert report.written["textures"] >= 4  # (and the placeholder texture 0 of a new root)
        counts = out_of_order_counts(caplog.records)
        assert len(counts) == 1 and (threads > 1 or counts == [0])
        differed.append(counts[0])
        roots.append(root)
    assert max(differed) > 0, differed
    assert_identical_roots(roots, tmp_path)


# -- several models in one cook (issue 15: the next models are prepared and cook while one is emitted) ---

CORPUS_MODELS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus" / "models"


class SignallingBackend(AssimpBackend):
    """The assimp backend; ``started[name]`` is set when the parse of a file of that name begins."""

    def __init__(self, names: list[str]) -> None:
        self.started = {name: threading.Event() for name in names}

    def parse(self, path: str) -> ParsedScene:
        event = self.started.get(os.path.basename(os.path.dirname(path)))
        if event is not None:
            event.set()
        return super().parse(path)


def several_models(folder: pathlib.Path) -> list[pathlib.Path]:
    """Two OBJs whose textures have very different sizes (different images each) and
    the corpus' Duck (a real glTF with a 512² PNG), in that order."""
    first = textured_obj(folder / "a")
    second = textured_obj(folder / "b", sizes=(16, 320, 8, 72))
    return [first, CORPUS_MODELS / "gltf_Duck" / "Duck.gltf", second]


def test_several_models_in_one_cook_give_identical_roots(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="oxy.importing.reorder")
    models = several_models(tmp_path / "src")
    roots, overlapped = [], []
    real_cook = texture_pipeline._cook_checked
    gate: dict[str, threading.Event] = {}

    def cook(sources, *args):  # type: ignore[no-untyped-def]
        """The first model's biggest texture waits until the second model's parse has begun:
        it returns only if the second model is prepared while the first one cooks."""
        if sources[0][0] == "mixed0_384.png" and "gltf_Duck" in gate:
            overlapped.append(gate["gltf_Duck"].wait(60))
        return real_cook(sources, *args)
    monkeypatch.setattr(texture_pipeline, "_cook_checked", cook)
    for threads in (1, 2, 2):
        root = fresh(tmp_path / f"m{threads}-{len(roots)}")
        options: dict = {"models": [{"path": str(m), "name_prefix": f"m{i}", "scene_name": f"m{i}"}
                                    for i, m in enumerate(models[1:], 1)], "name_prefix": "m0", "scene_name": "m0"}
        gate.clear()
        if threads > 1:  # (one pool thread would wait alone)
            backend = SignallingBackend(["gltf_Duck"])
            options["backend"] = backend
            gate.update(backend.started)
        with AsyncImportService(cpu_threads=threads) as service:
            caplog.clear()
            report = service.submit(ImportRequest(str(models[0]), str(root), options=options)).wait(600)
        assert report is not None and report.success, report and report.diagnostics
        assert report.written["scenes"] == 3 and report.written["textures"] >= 9
        assert len(out_of_order_counts(caplog.records)) == 3  # one ordered texture stream per model
        roots.append(root)
    assert overlapped == [True, True]
    assert_identical_roots(roots, tmp_path)
