"""One cook per texture key at a time (oxy.importing.in_flight): a unit whose key is
being cooked on another thread waits for that cook and takes its result, as a cache hit
when there is a cook cache; a failed cook lets the waiter cook for itself. In a job, an
image two models share is cooked once even though the second model is prepared (and
its textures started) while the first one's cook still runs."""
from __future__ import annotations

import pathlib
import threading

import numpy as np
import pytest
from PIL import Image

from oxy.build.cache import CookCache
from oxy.importing import AsyncImportService, ImportRequest, in_flight, units
from oxy.validate import validate_loose_root
from waiting import until


def test_a_second_caller_of_a_key_waits_for_the_first_cook() -> None:
    release = threading.Event()
    calls: list[str] = []
    results: dict[str, tuple[object, bool]] = {}

    def cook() -> object:
        calls.append(threading.current_thread().name)
        release.wait(30)
        return ["the", "texture"]

    def run(name: str) -> None:
        results[name] = in_flight.cook_once("k1", cook)

    first = threading.Thread(target=run, args=("first",), name="first")
    first.start()
    until(lambda: calls, "the first cook to start")
    second = threading.Thread(target=run, args=("second",), name="second")
    second.start()
    until(lambda: in_flight.waiting() == 1, "the second caller to wait")
    release.set()
    first.join(30)
    second.join(30)
    assert calls == ["first"]
    assert results["first"] == (["the", "texture"], True)
    assert results["second"][0] is results["first"][0] and results["second"][1] is False
    assert in_flight.waiting() == 0 and not in_flight._slots


def test_after_a_failed_cook_the_waiter_cooks_itself() -> None:
    release = threading.Event()
    calls: list[str] = []
    errors: list[BaseException] = []
    results: list[tuple[object, bool]] = []

    def cook() -> str:
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            release.wait(30)
            raise ValueError("bad input")
        return "cooked by the waiter"

    def run() -> None:
        try:
            results.append(in_flight.cook_once("k2", cook))
        except ValueError as exc:
            errors.append(exc)

    first = threading.Thread(target=run, name="first")
    first.start()
    until(lambda: calls, "the first cook to start")
    second = threading.Thread(target=run, name="second")
    second.start()
    until(lambda: in_flight.waiting() == 1, "the second caller to wait")
    release.set()
    first.join(30)
    second.join(30)
    assert [str(e) for e in errors] == ["bad input"]
    assert calls == ["first", "second"] and results == [("cooked by the waiter", True)]


def _model(folder: pathlib.Path, name: str, image: str) -> pathlib.Path:
    (folder / f"{name}.mtl").write_text(f"newmtl m\nKd 1 1 1\nmap_Kd {image}\n")
    (folder / f"{name}.obj").write_text(f"mtllib {name}.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\n"
                                        "vt 1 1\nvt 0 1\nusemtl m\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n")
    return folder / f"{name}.obj"


@pytest.mark.parametrize("cached", [True, False])
def test_two_models_of_a_job_sharing_an_image_cook_it_once(cached: bool, tmp_path: pathlib.Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "kit"
    folder.mkdir()
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), "RGBA").save(folder / "atlas.png")
    a, b = _model(folder, "a", "atlas.png"), _model(folder, "b", "atlas.png")
    real = units.cook_texture_files
    calls: list[int] = []

    def held_cook(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            # hold the first cook until the second model's unit of the same image is
            # waiting for it (without the de-dup: until it cooks the image too)
            until(lambda: in_flight.waiting() > 0 or len(calls) > 1, "the second model's unit of the image", 60)
        return real(*args, **kwargs)

    monkeypatch.setattr(units, "cook_texture_files", held_cook)
    request = ImportRequest(str(a), str(tmp_path / "root"), options={
        "name_prefix": "a", "scene_name": "a", "models": [{"path": str(b), "name_prefix": "b", "scene_name": "b"}]})
    cache = CookCache(str(tmp_path / "cache")) if cached else None
    with AsyncImportService(cpu_threads=2, cache=cache) as service:
        report = service.submit(request).wait(120)
    assert report is not None and report.success, report and report.diagnostics
    assert len(calls) == 1, "the shared image was cooked more than once"
    # with a cache the second unit is a cache hit, as when the first had finished first;
    # without one both count as cooked (as before: each model cooked its own)
    assert report.counts["texture"]["cooked"] == (1 if cached else 2), report.counts
    assert report.counts["texture"]["cache_hits_local"] == (1 if cached else 0), report.counts
    assert validate_loose_root(str(tmp_path / "root")).ok
