#!/usr/bin/env python3
"""The cook farm's overhead on one machine: a local 2-thread cook against the same
cook on a 2-worker Dask LocalCluster (``--farm local:2``), same content, same run.

Content: one or more sets ``COUNTxSIZE`` (``--content``, default ``24x512 48x64``):
COUNT textures made here (a gradient plus strong noise, SIZE pixels square, RGBA
PNG: the noise makes them nearly incompressible, about 0.8 MB for 512x512, a
pessimistic case for the bytes shipped; never cache hits), cooked as one texture
job (BC7 with mips) into a fresh root, with no cook cache, ``--rounds`` times each
way, alternating (local, farm, local, farm...). Per set it prints:

* the median wall time of each way and their ratio (farm / local; the issue's floor
  is 1.2x); the cluster's start-up is measured apart, it is paid once per session;
* bytes shipped per texture: the task's payload out (the source file) and back (the
  encoded cooked texture), as ``Farm.counters`` counts them (Dask's framing aside);
* CPU seconds of every process involved (this one, which also runs a LocalCluster's
  scheduler, and the farm's workers), each way: steadier than wall time while other
  work shares the machine, and the farm's real extra cost per texture;
* the per-task overhead implied on a worker thread, ``o = W (farm - local) / N``,
  and the cook time per texture per thread ``c``: the numbers the throughput model
  in docs/farm.md uses;
* Dask tasks per unit (small units share tasks: ``oxy.farm.batching``);
* that both roots are byte-identical (every cooked file), so the cooks compared did
  the same work and the farm changes nothing in the output.

    python tools/bench_farm.py [--content 24x512 48x64] [--rounds 3] [--workers 2] [--no-batching]

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


def _worker_cpu() -> float:
    return time.process_time()


def cpu_seconds(farm=None) -> float:
    """CPU seconds used so far by this process (client, hub, pools, and a LocalCluster's
    scheduler) plus, with a farm, by its worker processes: less noisy than wall time
    on a shared machine, and what the farm's overhead really costs."""
    total = time.process_time()
    if farm is not None:
        total += sum(farm.client.run(_worker_cpu).values())
    return total


def cook(images: list[str], root: str, farm=None) -> tuple[float, object, float]:
    """(wall seconds, report, CPU seconds of every process involved) of one job."""
    from oxy.importing import AsyncImportService, ImportRequest

    shutil.rmtree(root, ignore_errors=True)
    with AsyncImportService(cpu_threads=2 if farm is None else None, farm=farm, max_concurrent_jobs=1) as service:
        cpu = cpu_seconds(farm)
        start = time.perf_counter()
        report = service.submit(ImportRequest(images[0], root, options={"sources": images[1:]})).wait(3600)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(farm) - cpu
    if report is None or not report.success:
        raise SystemExit(f"cook into {root} failed: {report and report.diagnostics}")
    return elapsed, report, cpu


def root_files(root: str) -> dict[str, str]:
    """SHA-256 of every cooked file (build records aside; the index's per-root GUID zeroed)."""
    from oxy.formats import parse_index

    out = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if rel.startswith(".oxy"):
                continue
            data = open(path, "rb").read()
            if rel == "container.index.bin":
                guid = bytes(parse_index(data).header.guid)
                data = data.replace(guid, b"\0" * len(guid), 1)
            out[rel] = hashlib.sha256(data).hexdigest()
    return out


def bench_set(work: str, farm, count: int, size: int, rounds: int, workers: int) -> bool:
    images = make_images(os.path.join(work, f"src{count}x{size}"), count, size)
    source_bytes = sum(os.path.getsize(p) for p in images)
    print(f"\ncontent: {count} textures {size}x{size} PNG, {source_bytes / 1e6:.2f} MB of sources; "
          f"load average {os.getloadavg()[0]:.2f}")
    local_times, farm_times, local_cpu, farm_cpu = [], [], [], []
    c = farm.counters
    sent0, recv0, n0, t0 = c.bytes_sent, c.bytes_received, c.completed, farm.tasks_submitted
    for _ in range(rounds):
        t, _local_report, cpu = cook(images, os.path.join(work, "local"))
        local_times.append(t)
        local_cpu.append(cpu)
        t, _farm_report, cpu = cook(images, os.path.join(work, "farm"), farm)
        farm_times.append(t)
        farm_cpu.append(cpu)
    same = root_files(os.path.join(work, "local")) == root_files(os.path.join(work, "farm"))
    units = c.completed - n0
    sent, recv = (c.bytes_sent - sent0) / max(1, units), (c.bytes_received - recv0) / max(1, units)
    local, farmed = statistics.median(local_times), statistics.median(farm_times)
    print(f"local 2-thread cook:   median {local:.2f} s  ({', '.join(f'{t:.2f}' for t in local_times)})")
    print(f"farm local:{workers} cook:    median {farmed:.2f} s  ({', '.join(f'{t:.2f}' for t in farm_times)})")
    print(f"ratio farm / local: {farmed / local:.2f}x  (floor: at most 1.20x)")
    lc, fc = statistics.median(local_cpu), statistics.median(farm_cpu)
    print(f"CPU seconds, all processes: local median {lc:.2f} ({', '.join(f'{t:.2f}' for t in local_cpu)}), "
          f"farm median {fc:.2f} ({', '.join(f'{t:.2f}' for t in farm_cpu)}): {fc / lc:.2f}x, "
          f"{(fc - lc) / count * 1e3:.1f} ms more per texture")
    print(f"Dask tasks: {farm.tasks_submitted - t0} for {units} units "
          f"({(farm.tasks_submitted - t0) / max(1, units):.2f} per unit)")
    print(f"per texture: {sent / 1e3:.1f} kB shipped out, {recv / 1e3:.1f} kB back "
          f"({(sent + recv) / 1e3:.1f} kB over the client's link)")
    print(f"implied overhead per task on a worker thread, o = W (farm - local) / N: "
          f"{workers * (farmed - local) / count * 1e3:.1f} ms; "
          f"cook time per texture per thread, c = 2 local / N: {local * 2 / count * 1e3:.1f} ms")
    print(f"byte-identical roots both ways: {same}; load average {os.getloadavg()[0]:.2f}")
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", nargs="+", default=["24x512", "48x64"], metavar="COUNTxSIZE")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-batching", action="store_true", help="one Dask task per unit (batch_texels=0)")
    parser.add_argument("--max-in-flight", type=int, help="units waiting on the farm (the CPU pool's size)")
    parser.add_argument("--max-tasks", type=int, help="Dask tasks in flight")
    parser.add_argument("--linger", type=float, help="seconds a small batch waits for company")
    args = parser.parse_args()
    sets = [tuple(int(v) for v in item.lower().split("x")) for item in args.content]
    sys.path.insert(0, PROJECT)
    from oxy.farm import Farm

    work = tempfile.mkdtemp(prefix="oxy-bench-farm-")
    try:
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
              f"batching {'off' if args.no_batching else 'on'}")
        start = time.perf_counter()
        bounds = {k: v for k, v in (("max_in_flight", args.max_in_flight), ("max_tasks", args.max_tasks),
                                    ("linger", args.linger)) if v is not None}
        farm = Farm.connect(f"local:{args.workers}", **({"batch_texels": 0} if args.no_batching else {}), **bounds)
        print(f"cluster start-up (local:{args.workers}, paid once per session): {time.perf_counter() - start:.2f} s; "
              f"max_tasks {farm.max_tasks}, max_in_flight {farm.max_in_flight} units, {bounds or 'defaults'}")
        try:
            warm = make_images(os.path.join(work, "warm-src"), 2, 32)
            cook(warm, os.path.join(work, "warm"), farm)  # workers import oxy once
            same = all([bench_set(work, farm, count, size, args.rounds, args.workers) for count, size in sets])
        finally:
            farm.close()
        print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
