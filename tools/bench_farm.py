#!/usr/bin/env python3
"""The cook farm's overhead on one machine: a local 2-thread cook against the same
cook on a 2-worker Dask LocalCluster (``--farm local:2``), same content, same run.

Content: ``--count`` textures made here (a gradient plus strong noise, ``--size``
pixels square, RGBA PNG: the noise makes them nearly incompressible, about 0.8 MB
for 512x512, a pessimistic case for the bytes shipped; never cache hits), cooked as one
texture job (BC7 with mips) into a fresh root, with no cook cache, ``--rounds``
times each way, alternating. It prints:

* the median wall time of each way and their ratio (farm / local; the issue's floor
  is 1.2x); the cluster's start-up is measured apart, it is paid once per session;
* bytes shipped per texture: the task's payload out (the source file) and back (the
  encoded cooked texture), as ``Farm.counters`` counts them (Dask's framing aside);
* the per-task overhead implied on a worker thread, ``o = W (farm - local) / N``,
  and the cook time per texture per thread ``c``: the numbers the throughput model
  in docs/farm.md uses;
* that both roots hold the same textures (per-texture bytes), so the cooks compared
  did the same work.

    python tools/bench_farm.py [--count 24] [--size 512] [--rounds 3] [--workers 2]

The machine's load average is printed: the comparison is only fair on a machine
whose other work is steady during the run.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_images(folder: str, count: int, size: int) -> list[str]:
    import numpy as np
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    paths = []
    for i in range(count):
        rng = np.random.default_rng(i)
        base = np.stack([x * 255, y * 255, (x + y) * 127, np.full_like(x, 255)], -1)
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        path = os.path.join(folder, f"tex{i:03d}.png")
        Image.fromarray(img, "RGBA").save(path)
        paths.append(path)
    return paths


def cook(images: list[str], root: str, farm=None) -> tuple[float, object]:
    from oxy.importing import AsyncImportService, ImportRequest

    shutil.rmtree(root, ignore_errors=True)
    with AsyncImportService(cpu_threads=2 if farm is None else None, farm=farm, max_concurrent_jobs=1) as service:
        start = time.perf_counter()
        report = service.submit(ImportRequest(images[0], root, options={"sources": images[1:]})).wait(3600)
        elapsed = time.perf_counter() - start
    if report is None or not report.success:
        raise SystemExit(f"cook into {root} failed: {report and report.diagnostics}")
    return elapsed, report


def textures_of(root: str, report) -> dict[str, str]:
    import numpy as np

    from oxy.formats.resources import TEXTURE_DESC_DTYPE

    table = np.frombuffer(open(os.path.join(root, "Resources", "textures.table"), "rb").read(), TEXTURE_DESC_DTYPE)
    data = open(os.path.join(root, "Resources", "textures.data"), "rb").read()
    out = {}
    for name, index in report.outputs.items():
        entry = table[index].copy()
        start, size = int(entry["data_offset"]), int(entry["size_bytes"])
        entry["data_offset"] = 0
        out[name] = hashlib.sha256(entry.tobytes() + data[start:start + size]).hexdigest()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, PROJECT)
    from oxy.farm import Farm

    work = tempfile.mkdtemp(prefix="oxy-bench-farm-")
    try:
        images = make_images(os.path.join(work, "src"), args.count, args.size)
        source_bytes = sum(os.path.getsize(p) for p in images)
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
        print(f"content: {args.count} textures {args.size}x{args.size} PNG, {source_bytes / 1e6:.2f} MB of sources")
        start = time.perf_counter()
        farm = Farm.connect(f"local:{args.workers}")
        print(f"cluster start-up (local:{args.workers}, paid once per session): {time.perf_counter() - start:.2f} s")
        try:
            cook(images[:2], os.path.join(work, "warm"), farm)  # workers import oxy once
            local_times, farm_times = [], []
            sent0, recv0, n0 = farm.counters.bytes_sent, farm.counters.bytes_received, farm.counters.completed
            for _ in range(args.rounds):
                t, local_report = cook(images, os.path.join(work, "local"))
                local_times.append(t)
                t, farm_report = cook(images, os.path.join(work, "farm"), farm)
                farm_times.append(t)
            same = textures_of(os.path.join(work, "local"), local_report) == \
                textures_of(os.path.join(work, "farm"), farm_report)
            tasks = farm.counters.completed - n0
            sent = (farm.counters.bytes_sent - sent0) / max(1, tasks)
            recv = (farm.counters.bytes_received - recv0) / max(1, tasks)
        finally:
            farm.close()
        local, farmed = statistics.median(local_times), statistics.median(farm_times)
        print(f"local 2-thread cook:   median {local:.2f} s  ({', '.join(f'{t:.2f}' for t in local_times)})")
        print(f"farm local:{args.workers} cook:    median {farmed:.2f} s  ({', '.join(f'{t:.2f}' for t in farm_times)})")
        print(f"ratio farm / local: {farmed / local:.2f}x  (floor: at most 1.20x)")
        print(f"per texture: {sent / 1e3:.1f} kB shipped out, {recv / 1e3:.1f} kB back "
              f"({(sent + recv) / 1e3:.1f} kB over the client's link)")
        print(f"implied overhead per task on a worker thread, o = W (farm - local) / N: "
              f"{args.workers * (farmed - local) / args.count * 1e3:.1f} ms; "
              f"cook time per texture per thread, c = 2 local / N: {local * 2 / args.count * 1e3:.1f} ms")
        print(f"same textures both ways: {same}")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
