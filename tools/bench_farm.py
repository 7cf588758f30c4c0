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
  the same work and the farm changes nothing in the output;
* each job's phases (medians over the rounds): before the first unit, the units'
  span, after the last one (the commit), the pool steps (timed by wrapping the
  texture pipeline's step functions: a hook of this benchmark only), and the farm's
  crossing phases from ``oxy.farm.trace`` summed over the units;
* the median of the per-round ratios (each farm round against the local round
  beside it; rounds alternate which way goes first), steadier than the ratio of the
  medians when the machine's load drifts, and how many rounds were within 1.2x.

    python tools/bench_farm.py [--content 24x512 48x64] [--rounds 5] [--workers 2] [--no-batching]
        [--local-threads N] [--linger S] [--max-tasks N] [--max-in-flight N] [--direct yes|no]
        [--no-guided] [--dask-defaults]

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


class PoolClock:
    """Wraps the texture pipeline's pool-thread steps (the local cook; the farm's lookup
    and finish) to time them: a measurement hook for this benchmark only."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.calls: list[tuple[str, float, float]] = []

    def install(self) -> None:
        from oxy.importing import texture_pipeline as tp

        for name in ("_cook_checked", "_farm_lookup", "finish_farmed_texture"):
            original = getattr(tp, name)
            setattr(tp, name, self._wrap(name, original))

    def _wrap(self, name, fn):
        def timed(*args, **kwargs):
            start = time.time()
            try:
                return fn(*args, **kwargs)
            finally:
                end = time.time()
                with self.lock:
                    self.calls.append((name, start, end))
        timed.__wrapped__ = fn
        return timed

    def take(self) -> list[tuple[str, float, float]]:
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


CLOCK = PoolClock()


def cook(images: list[str], root: str, farm=None) -> tuple[float, object, float, dict]:
    """(wall seconds, report, CPU seconds of every process involved, phases) of one job."""
    from oxy.farm.trace import FarmTrace
    from oxy.importing import AsyncImportService, ImportRequest

    shutil.rmtree(root, ignore_errors=True)
    trace = FarmTrace()
    with AsyncImportService(cpu_threads=2 if farm is None else None, farm=farm, max_concurrent_jobs=1) as service:
        if farm is not None:
            farm.trace = trace
        cpu = cpu_seconds(farm)
        CLOCK.take()
        wall0 = time.time()
        start = time.perf_counter()
        report = service.submit(ImportRequest(images[0], root, options={"sources": images[1:]})).wait(3600)
        elapsed = time.perf_counter() - start
        wall1 = time.time()
        cpu = cpu_seconds(farm) - cpu
        if farm is not None:
            farm.trace = None
    if report is None or not report.success:
        raise SystemExit(f"cook into {root} failed: {report and report.diagnostics}")
    return elapsed, report, cpu, phases_of(CLOCK.take(), wall0, wall1, trace.summary() if farm else None)


def phases_of(calls, wall0: float, wall1: float, trace: dict | None) -> dict[str, float]:
    """Milliseconds: the job's wall time, before the first unit's pool step, the units'
    span, after the last one (the commit), the pool steps summed, and with a farm the
    crossing's phases summed over the units (oxy.farm.trace)."""
    out = {"job": (wall1 - wall0) * 1e3}
    if calls:
        first, last = min(c[1] for c in calls), max(c[2] for c in calls)
        out["before first unit"] = (first - wall0) * 1e3
        out["units span"] = (last - first) * 1e3
        out["after last unit"] = (wall1 - last) * 1e3
        for name in sorted({c[0] for c in calls}):
            out[f"pool: {name.strip('_')}"] = sum(c[2] - c[1] for c in calls if c[0] == name) * 1e3
    if trace:
        for name, seconds in trace["phases"].items():
            out[f"farm: {name}"] = seconds * 1e3
        out["units on workers"] = trace["farm_units"]
        out["units cooked here"] = trace["local_units"]
        out["tasks"] = trace["tasks"]
    return out


def print_phases(local: list[dict], farmed: list[dict], count: int) -> None:
    print(f"per-phase breakdown, medians over the rounds (ms; 'farm:' phases summed over the {count} units, "
          "each unit's time in the phase):")
    names = list(dict.fromkeys([*local[0], *farmed[0]]))
    print(f"  {'phase':<28} {'local':>9} {'farm':>9}")
    for name in names:
        cells = []
        for runs in (local, farmed):
            values = [r[name] for r in runs if name in r]
            cells.append(f"{statistics.median(values):9.1f}" if values else f"{'':>9}")
        print(f"  {name:<28} {cells[0]} {cells[1]}")


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
    local_times, farm_times, local_cpu, farm_cpu, local_phases, farm_phases = [], [], [], [], [], []
    c = farm.counters
    sent0, recv0, n0, t0 = c.bytes_sent, c.bytes_received, c.completed, farm.tasks_submitted
    local0 = farm.units_local
    loads = [os.getloadavg()[0]]
    for i in range(rounds):  # alternating, the first way switching every round (a drift hits both)
        for way in (("local", "farm") if i % 2 == 0 else ("farm", "local")):
            if way == "local":
                t, _report, cpu, phases = cook(images, os.path.join(work, "local"))
                local_times.append(t)
                local_cpu.append(cpu)
                local_phases.append(phases)
            else:
                t, _report, cpu, phases = cook(images, os.path.join(work, "farm"), farm)
                farm_times.append(t)
                farm_cpu.append(cpu)
                farm_phases.append(phases)
        loads.append(os.getloadavg()[0])
    same = root_files(os.path.join(work, "local")) == root_files(os.path.join(work, "farm"))
    units = c.completed - n0
    crossed = max(1, units - (farm.units_local - local0))  # units cooked here shipped nothing
    sent, recv = (c.bytes_sent - sent0) / crossed, (c.bytes_received - recv0) / crossed
    local, farmed = statistics.median(local_times), statistics.median(farm_times)
    print(f"local 2-thread cook:   median {local:.2f} s  ({', '.join(f'{t:.2f}' for t in local_times)})")
    print(f"farm local:{workers} cook:    median {farmed:.2f} s  ({', '.join(f'{t:.2f}' for t in farm_times)})")
    print(f"ratio farm / local: {farmed / local:.2f}x  (floor: at most 1.20x)")
    lc, fc = statistics.median(local_cpu), statistics.median(farm_cpu)
    print(f"CPU seconds, all processes: local median {lc:.2f} ({', '.join(f'{t:.2f}' for t in local_cpu)}), "
          f"farm median {fc:.2f} ({', '.join(f'{t:.2f}' for t in farm_cpu)}): {fc / lc:.2f}x, "
          f"{(fc - lc) / count * 1e3:.1f} ms more per texture")
    here = farm.units_local - local0
    print(f"Dask tasks: {farm.tasks_submitted - t0} for {units - here} units on the workers "
          f"({(farm.tasks_submitted - t0) / max(1, units - here):.2f} per unit); {here} of {units} units "
          f"cooked by the client's own threads (local_threads {farm.local_threads})")
    print(f"per texture sent to the workers: {sent / 1e3:.1f} kB shipped out, {recv / 1e3:.1f} kB back "
          f"({(sent + recv) / 1e3:.1f} kB over the client's link)")
    print(f"implied overhead per task on a worker thread, o = W (farm - local) / N: "
          f"{workers * (farmed - local) / count * 1e3:.1f} ms; "
          f"cook time per texture per thread, c = 2 local / N: {local * 2 / count * 1e3:.1f} ms")
    print_phases(local_phases, farm_phases, count)
    ratios = [f / loc for f, loc in zip(farm_times, local_times)]
    wins = sum(r <= 1.2 for r in ratios)
    print(f"per round (farm / the same round's local): median {statistics.median(ratios):.2f}x "
          f"({', '.join(f'{r:.2f}' for r in ratios)}); within the floor in {wins} of {rounds}")
    print(f"byte-identical roots both ways: {same}; load average {min(loads):.2f}-{max(loads):.2f} "
          f"over the rounds")
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", nargs="+", default=["24x512", "48x64"], metavar="COUNTxSIZE")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-batching", action="store_true", help="one Dask task per unit (batch_texels=0)")
    parser.add_argument("--max-in-flight", type=int, help="units waiting on the farm (the CPU pool's size)")
    parser.add_argument("--max-tasks", type=int, help="Dask tasks in flight")
    parser.add_argument("--linger", type=float, help="seconds a small batch waits for company")
    parser.add_argument("--local-threads", type=int, help="client threads cooking queued units (0: none)")
    parser.add_argument("--direct", choices=("yes", "no"), help="fetch results from the workers directly")
    parser.add_argument("--no-guided", action="store_true",
                        help="submit whole queued batches (not sized by guided self-scheduling)")
    parser.add_argument("--dask-defaults", action="store_true",
                        help="the LocalCluster with Dask's default settings (not oxy.farm's LOCAL_CLUSTER_CONFIG)")
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
                                    ("linger", args.linger), ("local_threads", args.local_threads),
                                    ("direct", None if args.direct is None else args.direct == "yes"),
                                    ("cluster_config", {} if args.dask_defaults else None))
                  if v is not None}
        farm = Farm.connect(f"local:{args.workers}", **({"batch_texels": 0} if args.no_batching else {}), **bounds)
        farm._batcher.guided = not args.no_guided
        print(f"cluster start-up (local:{args.workers}, paid once per session): {time.perf_counter() - start:.2f} s; "
              f"max_tasks {farm.max_tasks}, max_in_flight {farm.max_in_flight} units, {bounds or 'defaults'}")
        CLOCK.install()
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
