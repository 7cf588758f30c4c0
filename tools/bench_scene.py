#!/usr/bin/env python3
"""Benchmark the scene import end to end (issue 6).

    python tools/bench_scene.py [--textures 12] [--size 512] [--grid 96] [--repeat 3]

Builds a glTF scene in a temporary folder: ``--textures`` materials-worth of PNGs
(natural photos, via tools/bench_cook.make_images) on quads of ``--grid``^2 cells,
half of the materials with a normal map as well. Then, each run in a fresh process
(so peak RSS is per run), it imports the scene through AsyncImportService with a
1-thread and a 2-thread CPU pool and prints:

* wall time and the 2-vs-1 speed-up (floor 1.7x);
* per-phase timings from the progress events (first/last event of each phase,
  seconds since submit; texture, material and geometry phases overlap by design);
* peak RSS of the run (ru_maxrss) and the RSS after imports, before the import.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

TOOLS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS.parent))
sys.path.insert(0, str(TOOLS))


def _grid(n: int):  # type: ignore[no-untyped-def]
    import numpy as np

    u, v = np.meshgrid(np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1))
    pos = np.stack([u.ravel(), v.ravel(), 0.05 * np.sin(6 * u.ravel()) * np.cos(5 * v.ravel())], 1).astype("<f4")
    uv = np.stack([u.ravel(), 1 - v.ravel()], 1).astype("<f4")
    q = (np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]).ravel()
    idx = np.stack([q, q + 1, q + n + 2, q, q + n + 2, q + n + 1], 1).astype("<u4").ravel()
    return pos, uv, idx


def make_scene(folder: pathlib.Path, textures: int, size: int, grid: int) -> pathlib.Path:
    """A .gltf + .bin + PNGs: one quad mesh per material, every other material with a normal map."""
    from bench_cook import make_images

    images = make_images(folder, textures, size)
    pos, uv, idx = _grid(grid)
    blob = pos.tobytes() + uv.tobytes() + idx.tobytes()
    (folder / "scene.bin").write_bytes(blob)
    views = [{"buffer": 0, "byteOffset": 0, "byteLength": pos.nbytes},
             {"buffer": 0, "byteOffset": pos.nbytes, "byteLength": uv.nbytes},
             {"buffer": 0, "byteOffset": pos.nbytes + uv.nbytes, "byteLength": idx.nbytes}]
    accessors = [{"bufferView": 0, "componentType": 5126, "count": len(pos), "type": "VEC3",
                  "min": pos.min(0).tolist(), "max": pos.max(0).tolist()},
                 {"bufferView": 1, "componentType": 5126, "count": len(uv), "type": "VEC2"},
                 {"bufferView": 2, "componentType": 5125, "count": len(idx), "type": "SCALAR"}]
    materials, meshes, nodes, tex = [], [], [], []
    n_materials = (textures + 1) * 2 // 3  # base colour each; the rest as normal maps
    for m in range(n_materials):
        entry = {"name": f"mat{m}", "pbrMetallicRoughness": {"baseColorTexture": {"index": len(tex)}}}
        tex.append({"source": m})
        normal = n_materials + m // 2
        if m % 2 == 0 and normal < textures:
            entry["normalTexture"] = {"index": len(tex)}
            tex.append({"source": normal})
        materials.append(entry)
        meshes.append({"name": f"quad{m}", "primitives": [{"attributes": {"POSITION": 0, "TEXCOORD_0": 1},
                                                           "indices": 2, "material": m}]})
        nodes.append({"name": f"node{m}", "mesh": m, "translation": [1.1 * m, 0, 0]})
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": list(range(len(nodes)))}],
           "nodes": nodes, "meshes": meshes, "materials": materials, "textures": tex,
           "images": [{"uri": p.name} for p in images], "accessors": accessors, "bufferViews": views,
           "buffers": [{"uri": "scene.bin", "byteLength": len(blob)}]}
    path = folder / "scene.gltf"
    path.write_text(json.dumps(doc))
    return path


WARM_UP_MODEL = pathlib.Path(__file__).resolve().parents[1] / "samples" / "models" / "brick_cube.gltf"


def child(scene: str, threads: int) -> None:
    """One import in this process; prints a JSON result."""
    from oxy.importing import AsyncImportService, ImportRequest

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    root = tempfile.mkdtemp(prefix="bench_scene_")
    events: list[tuple[str, float]] = []
    try:
        with AsyncImportService(cpu_threads=threads) as service:
            # Warm-up, untimed: the process's first scene import pays once for loading
            # pyassimp and libassimp (~0.25 s, serial), as a long-running service would.
            warm = service.submit(ImportRequest(str(WARM_UP_MODEL), os.path.join(root, "warm"))).wait(600)
            if not (warm and warm.success):
                raise SystemExit(f"warm-up import failed: {warm}")
            start = time.perf_counter()
            report = service.submit(ImportRequest(scene, os.path.join(root, "scene")),
                                    on_progress=lambda p: events.append((p.phase.value, time.perf_counter()))
                                    ).wait(600)
            wall = time.perf_counter() - start
    finally:
        shutil.rmtree(root, ignore_errors=True)
    phases: dict[str, list[float]] = {}
    for phase, at in events:
        span = phases.setdefault(phase, [at - start, at - start])
        span[1] = at - start
    print(json.dumps({"ok": bool(report and report.success), "wall": wall, "phases": phases,
                      "written": report.written if report else {},
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "base_rss_mb": base_rss / 1024}))


def run(scene: pathlib.Path, threads: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(scene), "--threads", str(threads)],
                         capture_output=True, text=True, check=True, timeout=900).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if not result["ok"]:
        raise SystemExit(f"import failed: {result}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--textures", type=int, default=12)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--grid", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_scene_src_") as tmp:
        scene = make_scene(pathlib.Path(tmp), args.textures, args.size, args.grid)
        results = {t: min((run(scene, t) for _ in range(args.repeat)), key=lambda r: r["wall"]) for t in (1, 2)}
    one, two = results[1], results[2]
    print(f"scene: {args.textures} textures {args.size}x{args.size}, written {one['written']}")
    print(f"1 thread: {one['wall']:.2f} s   2 threads: {two['wall']:.2f} s   "
          f"speed-up {one['wall'] / two['wall']:.2f}x (floor 1.7x)")
    for t, r in results.items():
        print(f"phases, {t} thread(s) (first..last event, s since submit):")
        for phase, (first, last) in r["phases"].items():
            print(f"  {phase:10s} {first:7.3f} .. {last:7.3f}")
        print(f"  peak RSS {r['rss_mb']:.0f} MB (after imports, before the import: {r['base_rss_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
