#!/usr/bin/env python3
"""Can another process mount a root while oxy cooks into it? And what does the
journaled commit cost?

A prober process mounts the root over and over (``oxy.runtime.sources.open_loose_root``:
the engine's mount checks, data file sizes equal to the index included) while this
process cooks real content into it with ``oxy cook`` (the async service). It prints:

* mount attempts during the cook and how many failed (the engine's size check);
* the mismatch window of each commit: from the first data append to the index rename
  (``oxy.build.commit`` steps), the only time a reader can see sizes that disagree;
* the commit's share of the cook: the time from the journal to the cleaned-up end,
  against the whole cook's wall time.

    python tools/bench_commit.py [--rounds 3]

To measure an older oxy as the baseline (mount failures only), run the same tool with
``PYTHONPATH`` pointing at that checkout (kernels built or copied in).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(os.path.dirname(PROJECT), "shared", "corpus")


def _inputs() -> list[str]:
    images = os.path.join(CORPUS, "images")
    chosen = [os.path.join(images, n) for n in ("Concrete.tga", "Wrinkles.jpg", "net.png", "This Way Up.png")]
    models = os.path.join(CORPUS, "models")
    chosen += [os.path.join(models, "gltf_Duck", "Duck.gltf"), os.path.join(models, "obj_spider", "spider.obj")]
    chosen += [os.path.join(PROJECT, "samples", "textures"), os.path.join(PROJECT, "samples", "models")]
    return [p for p in chosen if os.path.exists(p)]


def _probe(root: str, stop, counts) -> None:  # type: ignore[no-untyped-def]
    from oxy.runtime.sources import open_loose_root  # the same oxy as the cook: spawn passes sys.path on

    ok = failed = 0
    while not stop.is_set():
        try:
            open_loose_root(root).close()
            ok += 1
        except Exception:  # noqa: BLE001 - any refusal counts
            failed += 1
        time.sleep(0.002)
    counts.put((ok, failed))


def one_round(workdir: str) -> dict[str, float]:
    from oxy.cli.main import main as oxy_main

    try:
        import oxy.build.commit as commit
    except ImportError:  # an oxy before the journaled commit (the baseline): mounts only
        commit = None  # type: ignore[assignment]

    root = os.path.join(workdir, f"root-{time.monotonic_ns()}")
    inputs = _inputs()
    sink = open(os.devnull, "w")
    saved = sys.stderr, sys.stdout
    sys.stderr = sys.stdout = sink
    try:
        oxy_main(["cook", inputs[0], "-o", root])  # the root exists and mounts before the cook
    finally:
        sys.stderr, sys.stdout = saved
    marks: list[tuple[str, float]] = []
    if commit is not None:
        commit.STEP_HOOK = lambda step: marks.append((step, time.perf_counter()))
    ctx = multiprocessing.get_context("spawn")
    stop, counts = ctx.Event(), ctx.Queue()
    prober = ctx.Process(target=_probe, args=(root, stop, counts))
    prober.start()
    time.sleep(1.0)  # the prober imports oxy and starts mounting
    started = time.perf_counter()
    sys.stderr = sys.stdout = sink
    try:
        code = oxy_main(["cook", *inputs[1:], "-o", root, "--threads", "2"])
    finally:
        sys.stderr, sys.stdout = saved
    cook_seconds = time.perf_counter() - started
    stop.set()
    ok, failed = counts.get(timeout=30)
    prober.join()
    if commit is not None:
        commit.STEP_HOOK = None
    windows, commits = [], []
    first_append = journal_at = None
    for step, at in marks:
        if step == "staged":
            journal_at = at
        if step.startswith("append:") and first_append is None:
            first_append = at
        if step == "rename:container.index.bin" and first_append is not None:
            windows.append(at - first_append)
            first_append = None
        if step == "cleaned" and journal_at is not None:
            commits.append(at - journal_at)
            journal_at = None
    return {"exit": code, "cook_s": cook_seconds, "mounts_ok": ok, "mounts_failed": failed,
            "commits": len(commits), "commit_s_total": sum(commits),
            "window_ms_max": 1000 * max(windows, default=0.0), "window_ms_median": 1000 * statistics.median(windows or [0])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oxy-bench-commit-") as workdir:
        for n in range(args.rounds):
            r = one_round(workdir)
            print(f"round {n + 1}: exit {r['exit']}, cook {r['cook_s']:.2f} s, {r['commits']} commits taking "
                  f"{r['commit_s_total'] * 1000:.1f} ms in all ({100 * r['commit_s_total'] / r['cook_s']:.1f}% of the cook); "
                  f"mounts during the cook: {r['mounts_ok'] + r['mounts_failed']}, failed {r['mounts_failed']}; "
                  f"mismatch window per commit: median {r['window_ms_median']:.2f} ms, max {r['window_ms_max']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
