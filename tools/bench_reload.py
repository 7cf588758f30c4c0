#!/usr/bin/env python3
"""Benchmark AssetLoader hot reload: the time from a commit to the ``on_reload`` notification.

1. **Replaced PAK.** A watched loader holds the sample cube scene of a PAK; the
   tool writes a variant PAK (another material roughness) beside it and renames it
   over the mounted one. Commit instant = just after ``os.replace``; notification
   = the ``on_reload`` callback of the scene (the last object swapped). Measured with
   the default debounce (0.3 s) and with 0.05 s.
2. **Re-cook into a loose root.** ``samples/textures`` and ``samples/models`` are
   cooked into a root (``oxy cook``, a subprocess), the scene is loaded, then
   ``brick.png`` is inverted and the root re-cooked. Commit instant = the mtime of
   the renamed ``container.index.bin`` (written just before its rename); the cook's
   own time is not counted.

3. **Reload cost with a large cache.** ``--materials`` (1,000) material assets in a
   PAK, all loaded and held; the PAK is replaced with one material changed, and a
   manual ``loader.reload()`` is timed (every cached key is compared; the changed
   one is rebuilt). Printed against the manual reload of case 1 (3 cached assets
   and their 3 resources).

Baseline, measured in the same run: a manual ``loader.reload()`` of the same change
(re-read + compare + rebuild + swap, no watcher, no debounce). The ratio printed is
latency / (debounce + manual reload): 1.0 would mean the watcher adds nothing beyond
the debounce it is asked to wait.

Usage: ``python3 tools/bench_reload.py [--repeats 7]``
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from oxy.cook.descriptors import build_material  # noqa: E402
from oxy.formats import AssetType  # noqa: E402
from oxy.runtime import AssetLoader, LoaderConfig, SceneAsset  # noqa: E402
from oxy.samples import ContentSet, many_materials, textured_cube, write_sample_pak  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENE = ContentSet.key(AssetType.SCENE, "CubeScene")


def variant(roughness: float) -> ContentSet:
    content = textured_cube()
    content.assets = [(AssetType.MATERIAL, "Checker", build_material("Checker", textures={"base_color": 1},
                                                                     roughness=roughness)), *content.assets[1:]]
    return content


class Waiter:
    """on_reload subscriber: wall-clock time (time.time) of each notification of ``key``."""

    def __init__(self, key: object) -> None:
        self.key, self.times, self.event = key, [], threading.Event()

    def __call__(self, key: object, _old: object, _new: object) -> None:
        if key == self.key:
            self.times.append(time.time())
            self.event.set()

    def wait(self) -> float:
        if not self.event.wait(60):
            raise RuntimeError("no reload notification within 60 s")
        self.event.clear()
        return self.times[-1]


def bench_pak(workdir: str, debounce: float, repeats: int) -> tuple[list[float], list[float]]:
    pak = os.path.join(workdir, f"content_{debounce}.pak")
    write_sample_pak(pak, variant(0.5))
    latencies, manual = [], []
    with AssetLoader(LoaderConfig(cpu_threads=2, reload_debounce=debounce)) as ldr:
        source = ldr.add_pak(pak)
        ldr.load_asset(SCENE, SceneAsset).result(30)
        waiter = Waiter(SCENE)
        ldr.on_reload(waiter)
        for i in range(repeats):  # baseline: the same change, reloaded by hand
            write_sample_pak(pak + ".next", variant(0.1 + 0.01 * i))
            os.replace(pak + ".next", pak)
            t0 = time.perf_counter()
            ldr.reload(source)
            manual.append(time.perf_counter() - t0)
            waiter.wait()
        ldr.watch()
        time.sleep(0.5)  # the watcher thread is up
        for i in range(repeats):
            write_sample_pak(pak + ".next", variant(0.3 + 0.01 * i))
            os.replace(pak + ".next", pak)
            committed = time.time()
            latencies.append(waiter.wait() - committed)
            time.sleep(debounce + 0.2)
    return latencies, manual


def cook(workdir: str) -> None:
    subprocess.run([sys.executable, "-m", "oxy", "cook", "textures", "models", "-o", "root", "--no-cache"],
                   cwd=workdir, check=True, capture_output=True, timeout=600)


def invert(path: str) -> None:
    image = np.asarray(Image.open(path).convert("RGBA"))
    Image.fromarray(np.ascontiguousarray(255 - image)).save(path)


def bench_loose(workdir: str, debounce: float, repeats: int) -> tuple[list[float], list[float]]:
    work = os.path.join(workdir, f"loose_{debounce}")
    for folder in ("textures", "models"):
        shutil.copytree(os.path.join(REPO, "samples", folder), os.path.join(work, folder))
    cook(work)
    root, brick = os.path.join(work, "root"), os.path.join(work, "textures", "brick.png")
    latencies, manual = [], []
    with AssetLoader(LoaderConfig(cpu_threads=2, reload_debounce=debounce)) as ldr:
        source = ldr.add_loose_cooked_root(root)
        key = ldr.find_virtual_path("/.cooked/Scenes/brick_cube.oscene")
        ldr.load_asset(key, SceneAsset).result(30)
        waiter = Waiter(key)
        ldr.on_reload(waiter)
        for _ in range(repeats):
            invert(brick)
            cook(work)
            t0 = time.perf_counter()
            ldr.reload(source)
            manual.append(time.perf_counter() - t0)
            waiter.wait()
        ldr.watch()
        time.sleep(0.5)
        for _ in range(repeats):
            invert(brick)
            cook(work)
            committed = os.stat(os.path.join(root, "container.index.bin")).st_mtime
            latencies.append(waiter.wait() - committed)
            time.sleep(debounce + 0.2)
    return latencies, manual


def bench_large(workdir: str, count: int, repeats: int) -> list[float]:
    pak = os.path.join(workdir, "many.pak")
    content = many_materials(count)
    write_sample_pak(pak, content)
    keys = [ContentSet.key(AssetType.MATERIAL, name) for _t, name, _b in content.assets]
    times = []
    with AssetLoader(LoaderConfig(cpu_threads=2)) as ldr:
        source = ldr.add_pak(pak)
        for handle in [ldr.load_asset(key) for key in keys]:
            handle.result(60)
        changed = many_materials(count)
        for i in range(repeats):  # each round changes one more material (earlier changes stay)
            name = changed.assets[i][1]
            changed.assets[i] = (AssetType.MATERIAL, name, build_material(name, metalness=0.999 - 0.001 * i))
            write_sample_pak(pak + ".next", changed)
            os.replace(pak + ".next", pak)
            t0 = time.perf_counter()
            [report] = ldr.reload(source)
            times.append(time.perf_counter() - t0)
            if report.reloaded != [keys[i]]:
                raise RuntimeError(f"expected one reloaded key, got {report.reloaded[:5]}...")
    return times


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:7.1f} (max {max(values) * 1e3:6.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--materials", type=int, default=1000)
    args = parser.parse_args(argv)
    load1, _l5, _l15 = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load1:.2f} at start; repeats {args.repeats}")
    print(f"{'case':<22} {'debounce':>8}  {'commit->notify ms (median, max)':>32}  "
          f"{'manual reload ms':>22}  {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="oxy-bench-reload-") as workdir:
        small_manual: list[float] = []
        for name, bench in (("replaced PAK", bench_pak), ("re-cooked loose root", bench_loose)):
            for debounce in (0.3, 0.05):
                latencies, manual = bench(workdir, debounce, args.repeats)
                small_manual += manual if bench is bench_pak else []
                ratio = statistics.median(latencies) / (debounce + statistics.median(manual))
                print(f"{name:<22} {debounce:>8.2f}  {ms(latencies):>32}  {ms(manual):>22}  {ratio:>6.2f}")
        large = bench_large(workdir, args.materials, args.repeats)
        print(f"manual reload, {args.materials} cached materials, one changed: {ms(large)} ms; "
              f"x{statistics.median(large) / statistics.median(small_manual):.1f} the 3-asset PAK's")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
