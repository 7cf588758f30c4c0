#!/usr/bin/env python3
"""Benchmark the import hub: callback latency under CPU load, and job submission rate.

1. **Hub callback latency.** A plain thread posts a timestamped callback to the
   import hub about every millisecond (``ImportLoop.post``); the callback records
   how long it waited. Measured twice in the same run: with the CPU pool idle
   (the baseline) and with every CPU-pool thread running a GIL-free workload in a
   loop through ``run_blocking``. Targets: p99 under load < 20 ms (floor), < 5 ms
   (goal).
2. **Job submission rate.** N jobs with a trivial importer (the real service path:
   file-info check on the I/O pool, registry lookup, importer greenlet, ordered
   callbacks), submitted from 1 thread and from 8 threads; reports the rate of the
   ``submit_import`` calls and the end-to-end rate until the last ``on_complete``.

The workload is pluggable: ``--workload sha256|zlib|none`` or
``--workload package.module:function`` (a callable taking no arguments, run
repeatedly on each CPU thread; e.g. the BC7 kernel over a fixed block later).

Usage: ``python3 tools/bench_hub.py [--seconds 3] [--jobs 4000] [--write docs/bench_hub.md]``
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import statistics
import sys
import tempfile
import threading
import time
import zlib
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oxy.hub import ImportLoop, run_blocking  # noqa: E402
from oxy.hub._native import Latch, allocate_lock  # noqa: E402
from oxy.importing import AsyncImportService, ImporterRegistry, ImportRequest  # noqa: E402

DATE = "2026-11-22"


def make_workload(spec: str, megabytes: int) -> Callable[[], object] | None:
    """A no-argument callable that burns CPU with the GIL released, or None for idle."""
    if spec == "none":
        return None
    buffer = os.urandom(1 << 20) * megabytes
    if spec == "sha256":
        return lambda: hashlib.sha256(buffer).digest()
    if spec == "zlib":
        return lambda: zlib.compress(buffer, 6)
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"--workload must be sha256, zlib, none or module:function, got {spec!r}")
    return getattr(importlib.import_module(module_name), attr)


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def measure_latency(loop: ImportLoop, seconds: float, workload: Callable[[], object] | None,
                    threads: int) -> dict[str, float]:
    """Post a timestamped callback every ~1 ms for ``seconds`` while ``workload`` runs."""
    samples: list[float] = []
    stop = Latch()
    loads_done = [0]

    def load_loop() -> None:
        while not stop.is_set():
            run_blocking(workload)
            loads_done[0] += 1

    if workload is not None:
        for _ in range(threads):
            loop.spawn(load_loop)
        time.sleep(0.2)  # let the pool threads start

    def record(posted: float) -> None:
        samples.append(time.perf_counter() - posted)

    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        loop.post(record, time.perf_counter())
        time.sleep(0.001)
    stop.set()
    loop.call(lambda: None, timeout=60)  # the last callbacks have run
    ordered = sorted(samples)
    return {
        "samples": len(ordered),
        "p50_ms": percentile(ordered, 0.50) * 1e3,
        "p99_ms": percentile(ordered, 0.99) * 1e3,
        "max_ms": ordered[-1] * 1e3,
        "mean_ms": statistics.fmean(ordered) * 1e3,
        "workload_runs": loads_done[0],
    }


class _Trivial:
    def __init__(self, request: ImportRequest) -> None:
        pass

    def run(self, ctx):  # noqa: ANN001
        return ctx.make_report(success=True)


def measure_submission(jobs: int, threads: int, cpu_threads: int) -> dict[str, float]:
    """Submit ``jobs`` trivial jobs from ``threads`` threads; time calls and completion."""
    tmp = tempfile.mkdtemp(prefix="oxy-bench-")
    source = os.path.join(tmp, "bench.trivial")
    with open(source, "wb") as f:
        f.write(b"x")
    registry = ImporterRegistry()
    registry.register(".trivial", _Trivial)
    request = ImportRequest(source, os.path.join(tmp, "cooked"))
    lock = allocate_lock()
    done = Latch()
    completed = [0]
    failures = [0]

    def on_complete(report) -> None:  # noqa: ANN001
        with lock:
            completed[0] += 1
            failures[0] += not report.success
            if completed[0] == jobs:
                done.set()

    per_thread = [jobs // threads + (1 if i < jobs % threads else 0) for i in range(threads)]
    with AsyncImportService(registry=registry, cpu_threads=cpu_threads, max_concurrent_jobs=64) as svc:
        barrier = threading.Barrier(threads + 1)
        submit_end = [0.0] * threads

        def submitter(index: int) -> None:
            barrier.wait()
            for _ in range(per_thread[index]):
                svc.submit_import(request, on_complete)
            submit_end[index] = time.perf_counter()

        workers = [threading.Thread(target=submitter, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        barrier.wait()
        start = time.perf_counter()
        for w in workers:
            w.join()
        if not done.wait(300):
            raise SystemExit(f"only {completed[0]} of {jobs} jobs completed")
        end = time.perf_counter()
    if failures[0]:
        raise SystemExit(f"{failures[0]} benchmark jobs failed")
    return {
        "jobs": jobs,
        "threads": threads,
        "submit_calls_per_s": jobs / (max(submit_end) - start),
        "end_to_end_jobs_per_s": jobs / (end - start),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="latency sampling time per phase")
    parser.add_argument("--workload", default="sha256", help="sha256 | zlib | none | module:function")
    parser.add_argument("--megabytes", type=int, default=8, help="buffer size of the built-in workloads")
    parser.add_argument("--cpu-threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--jobs", type=int, default=4000)
    parser.add_argument("--cpu-nice", type=int, default=0, help="nice increment of the CPU-pool threads")
    parser.add_argument("--write", metavar="PATH", help="also write the results as markdown")
    args = parser.parse_args(argv)

    workload = make_workload(args.workload, args.megabytes)
    with ImportLoop(cpu_threads=args.cpu_threads, cpu_nice=args.cpu_nice) as loop:
        idle = measure_latency(loop, args.seconds, None, args.cpu_threads)
        loaded = measure_latency(loop, args.seconds, workload, args.cpu_threads)
    one = measure_submission(args.jobs, 1, args.cpu_threads)
    eight = measure_submission(args.jobs, 8, args.cpu_threads)

    verdict = "goal met" if loaded["p99_ms"] < 5 else "floor met" if loaded["p99_ms"] < 20 else "FLOOR MISSED"
    lines = [
        "# Import hub benchmark",
        "",
        f"Date {DATE}; machine: {os.cpu_count()} cores (shared, noisy); Python {sys.version.split()[0]}.",
        f"Command: `python3 tools/bench_hub.py {' '.join(argv if argv is not None else sys.argv[1:])}`".rstrip()
        + "",
        "",
        f"## Hub callback latency (post every ~1 ms for {args.seconds:g} s)",
        "",
        f"CPU pool: {args.cpu_threads} threads; load: `{args.workload}` on {args.megabytes} MB buffers "
        "(GIL released), one loop per pool thread through `run_blocking`.",
        "",
        "| phase | samples | p50 ms | p99 ms | max ms | workload runs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in (("idle pool (baseline)", idle), ("pool fully loaded", loaded)):
        lines.append(f"| {name} | {r['samples']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
                     f"{r['max_ms']:.3f} | {r['workload_runs']} |")
    ratio = loaded["p99_ms"] / idle["p99_ms"] if idle["p99_ms"] else float("nan")
    lines += [
        "",
        f"Loaded p99 / idle p99 = {ratio:.2f}x. Target p99 < 20 ms (floor), < 5 ms (goal): **{verdict}**.",
        "",
        f"## Job submission rate ({args.jobs} trivial jobs, `max_concurrent_jobs=64`)",
        "",
        "| submitting threads | submit calls / s | end-to-end jobs / s |",
        "|---:|---:|---:|",
    ]
    for r in (one, eight):
        lines.append(f"| {r['threads']} | {r['submit_calls_per_s']:,.0f} | {r['end_to_end_jobs_per_s']:,.0f} |")
    lines += [
        "",
        "End-to-end covers the whole service path per job: file-info check on the I/O pool,",
        "registry lookup, importer greenlet, report, ordered callbacks on the import thread.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(text)
    return 0 if loaded["p99_ms"] < 20 else 1


if __name__ == "__main__":
    raise SystemExit(main())
