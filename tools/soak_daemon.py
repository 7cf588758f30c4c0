#!/usr/bin/env python3
"""Soak the cook daemon: many change batches through its watcher; leaks, failed batches, root size.

    python tools/soak_daemon.py [--batches 1000 | --quick] [--seed 1] [--max-live N] [--json FILE]
                                [--memdebug DIR [--no-tracemalloc]] [--compact-every N] [--trim-after-jobs]

A real daemon (``python -m oxy serve --root R --watch W --port 0 --log-json --debounce 100
--quality fast``, its own ``OXY_CACHE_DIR``) gets ``--batches`` change batches (default
1000; ``--quick`` 120). Each batch is a mix on small (32²-128²) PNGs in the watched
folder: 1-2 new images, 0-2 existing ones rewritten with other pixels, and, once there
are more than 20, 0-2 deleted (so the live set grows by about 0.5 a batch; with
``--max-live N`` it is held at about N). After each batch the tool waits until the daemon has
finished a job more than before the batch and nothing is queued or running
(``/api/status``). The daemon's RSS (``VmRSS``), open fds (``/proc/PID/fd``) and threads
and anonymous memory (``smaps_rollup``) are sampled after batch 100 and at the end (and every 50
batches, for the curve).

RSS is judged twice: from batch 100 (the issue's floor) and from batch KEEP_FINISHED + 100,
once the daemon's job table holds its bound of finished jobs (``oxy.daemon.jobs.KEEP_FINISHED``):
growth before that point is the table filling up, by design.

Diagnosis options: ``--memdebug DIR`` starts the daemon as ``python -m oxy.daemon.memdebug``
and has it write a report (smaps_rollup, glibc's mallinfo2, pymalloc's arenas, gc object counts,
tracemalloc top lines and their difference to the last report; ``--no-tracemalloc`` leaves
tracing off) at every sample; ``--compact-every N`` compacts the root every N batches (memory
that follows the root's dead entries levels off); ``--trim-after-jobs`` has the daemon call
``malloc_trim(0)`` after every job; ``--daemon-env NAME=VALUE`` (e.g. ``PYTHONMALLOC=malloc``).

At the end: jobs committed / failed / cancelled; ``POST /api/compact``; ``oxy validate
ROOT --json`` (exit 0); the root's size against a cold ``oxy cook W -o R2`` of the same
final sources into a fresh root with a fresh cache. Checks (PASS/FAIL): RSS growth from
batch 100 to the end < 5 %; fds and threads the same at both points; no failed batch;
validation passes; the compacted root within 1.5x of the fresh root.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_daemon import PROJECT, Daemon, wait_for  # noqa: E402

from oxy.daemon.jobs import KEEP_FINISHED  # noqa: E402

MARK = 100
#: from this batch on the daemon's job table is full (it keeps KEEP_FINISHED finished jobs, and
#: each batch is one job): growth after it is not the table's
FULL_MARK = KEEP_FINISHED + MARK


def small_png(rng: random.Random) -> bytes:
    size = rng.choice((32, 64, 128))
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    base = nrng.integers(0, 256, (1, 1, 4))
    img = np.clip(base + nrng.normal(0, 40, (size, size, 4)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def sample(daemon: Daemon, memdir: pathlib.Path | None = None) -> dict[str, int]:
    """RSS, anonymous memory, fds and threads; fds and threads as the minimum of 5 reads 50 ms
    apart (this tool's own just-closed HTTP connection can still hold a daemon fd for a moment).
    With ``memdir`` (a daemon under oxy.daemon.memdebug): first one report from the daemon there."""
    if memdir is not None:
        before = len(list(memdir.glob("memdebug-*.json")))
        os.kill(daemon.pid, signal.SIGUSR2)
        wait_for(lambda: len(list(memdir.glob("memdebug-*.json"))) > before, 120, "the memdebug report", 0.1)
    reads = []
    for _ in range(5):
        reads.append(daemon.proc_status())
        time.sleep(0.05)
    return {"rss": reads[-1]["rss"], "anon": reads[-1].get("anon", 0), "fds": min(r["fds"] for r in reads),
            "threads": min(r["threads"] for r in reads)}


def compact(daemon: Daemon) -> dict[str, Any]:
    """POST /api/compact and wait for the job's end; the job."""
    code, job = daemon.request("POST", "/api/compact", {})
    if code != 202:
        raise RuntimeError(f"POST /api/compact: {code} {job}")
    return wait_for(lambda: (j := daemon.get(f"/api/jobs/{job['id']}"))["state"] in
                    ("committed", "failed", "cancelled") and j, 300, "the compaction", 0.1)


def tree_bytes(root: pathlib.Path) -> tuple[int, int, int]:
    """(total bytes, files, bytes under .oxy/ — the records and the daemon lock)."""
    total = files = meta = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            size = os.lstat(os.path.join(dirpath, name)).st_size
            total, files = total + size, files + 1
            if ".oxy" in pathlib.Path(dirpath).relative_to(root).parts:
                meta += size
    return total, files, meta


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="120 batches")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-live", type=int, default=0,
                        help="above N live sources, each batch deletes at least as many as it creates "
                             "(a steady live set; default 0: unbounded, it grows ~0.5 a batch)")
    parser.add_argument("--memdebug", metavar="DIR",
                        help="run the daemon under oxy.daemon.memdebug (tracemalloc; slower) and have it write a "
                             "report into DIR at every sample (SIGUSR2)")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="with --memdebug: reports without tracemalloc (smaps, glibc and pymalloc only)")
    parser.add_argument("--trim-after-jobs", action="store_true",
                        help="an experiment: the daemon calls malloc_trim(0) after every job (OXY_MEMDEBUG_TRIM=1)")
    parser.add_argument("--daemon-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the daemon (repeatable), e.g. MALLOC_ARENA_MAX=2")
    parser.add_argument("--compact-every", type=int, default=0, metavar="N",
                        help="POST /api/compact after every N batches (default 0: only at the end)")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    batches = 120 if args.quick else args.batches
    rng = random.Random(args.seed)

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="oxy-soak-daemon-")).resolve()
    src, root, root2 = tmp / "src", tmp / "root", tmp / "fresh-root"
    src.mkdir()
    live: list[pathlib.Path] = []
    serial = 0
    for _ in range(10):
        serial += 1
        path = src / f"img_{serial:05d}.png"
        path.write_bytes(small_png(rng))
        live.append(path)

    memdir: pathlib.Path | None = None
    debug_env: dict[str, str] = {}
    if args.memdebug:
        memdir = pathlib.Path(args.memdebug).resolve()
        memdir.mkdir(parents=True, exist_ok=True)
        debug_env.update(OXY_MEMDEBUG=str(memdir), OXY_MEMDEBUG_FRAMES="0" if args.no_tracemalloc else "1")
    if args.trim_after_jobs:
        debug_env["OXY_MEMDEBUG_TRIM"] = "1"
    extra_env = dict(item.split("=", 1) for item in args.daemon_env)
    daemon = Daemon(tmp, root, src, "--quality", "fast", module="oxy.daemon.memdebug" if debug_env else "oxy",
                    env={**debug_env, **extra_env}).start()
    samples: dict[int, dict[str, int]] = {}
    ops = {"created": 0, "modified": 0, "deleted": 0}
    batch_seconds: list[float] = []
    slow: list[tuple[int, float]] = []
    report: dict[str, Any] = {}
    compactions: list[str] = []
    failures: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        wait_for(lambda: daemon.finished_total() >= 1, 60, "the catch-up cook")
        daemon.wait_settled()
        samples[0] = sample(daemon, memdir)
        for batch in range(1, batches + 1):
            before = daemon.finished_total()
            t0 = time.monotonic()
            for _ in range(rng.randint(1, 2)):
                serial += 1
                path = src / f"img_{serial:05d}.png"
                path.write_bytes(small_png(rng))
                live.append(path)
                ops["created"] += 1
            for path in rng.sample(live, min(len(live), rng.randint(0, 2))):
                path.write_bytes(small_png(rng))
                ops["modified"] += 1
            if len(live) > 20:
                deletions = rng.randint(0, 2)
                if args.max_live and len(live) > args.max_live:
                    deletions = len(live) - args.max_live + rng.randint(0, 1)
                for path in rng.sample(live, deletions):
                    path.unlink()
                    live.remove(path)
                    ops["deleted"] += 1
            wait_for(lambda b=before: daemon.finished_total() > b, 120, f"batch {batch}'s job", 0.02)
            settled = daemon.wait_settled()
            seconds = time.monotonic() - t0
            if settled["jobs"].get("failed", 0) > len(failures):  # caught now: the table forgets old jobs
                seen = {f["id"] for f in failures}
                for j in daemon.get("/api/jobs")["jobs"]:
                    if j["state"] == "failed" and j["id"] not in seen:
                        failures.append({"batch": batch, "id": j["id"], "diagnostics": j["diagnostics"][:5]})
                        print(f"batch {batch}: job {j['id']} failed: {j['diagnostics'][:3]}", flush=True)
            batch_seconds.append(seconds)
            if seconds > 5:
                slow.append((batch, round(seconds, 2)))
            if args.compact_every and batch % args.compact_every == 0:
                compactions.append(compact(daemon)["state"])
            if batch in (MARK, FULL_MARK) or batch % 50 == 0 or batch == batches:
                samples[batch] = sample(daemon, memdir)
                s = samples[batch]
                print(f"batch {batch:5d}: rss {s['rss'] / 2**20:6.1f} MiB  anon {s['anon'] / 2**20:6.1f} MiB  fds "
                      f"{s['fds']:3d}  threads {s['threads']:3d}  live sources {len(live):4d}  "
                      f"{time.monotonic() - started:6.0f} s", flush=True)
        time.sleep(1.0)
        end_sample = sample(daemon, memdir)
        status = daemon.status()
        jobs_doc = daemon.get("/api/jobs")["jobs"]
        not_committed = [{"id": j["id"], "state": j["state"], "diagnostics": j["diagnostics"][:3]}
                         for j in jobs_doc if j["state"] != "committed"]
        assets = daemon.get("/api/assets")["sources"]
        live_records = {a["path"] for a in assets if a.get("live", True)}
        on_disk = {str(p) for p in live}
        extra_live, missing_live = sorted(live_records - on_disk), sorted(on_disk - live_records)
        size_before = tree_bytes(root)
        compacted = compact(daemon)
        size_after = tree_bytes(root)
        time.sleep(1.0)
        after_compact = sample(daemon, memdir)
        report["daemon_exit"] = daemon.stop()
    finally:
        if daemon.proc.poll() is None:
            daemon.stop()
    soak_seconds = time.monotonic() - started

    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    validate = subprocess.run([sys.executable, "-m", "oxy", "validate", str(root), "--json"], cwd=PROJECT,
                              env=env, capture_output=True, text=True)
    cold = subprocess.run([sys.executable, "-m", "oxy", "cook", str(src), "-o", str(root2), "--quality", "fast"],
                          cwd=PROJECT, env={**env, "OXY_CACHE_DIR": str(tmp / "cache2")}, capture_output=True,
                          text=True)
    if cold.returncode != 0:
        raise RuntimeError(f"cold cook exited {cold.returncode}: {cold.stderr[-2000:]}")
    fresh_size = tree_bytes(root2)
    if args.json:  # the daemon's JSON log, for a failure found afterwards
        shutil.copyfile(daemon.log_path, args.json + ".daemon.log")
    shutil.rmtree(tmp, ignore_errors=True)

    mark = samples.get(MARK) or samples[min(samples)]
    rss_growth = end_sample["rss"] / mark["rss"] - 1
    full = samples.get(FULL_MARK)
    rss_growth_full = None if full is None else end_sample["rss"] / full["rss"] - 1
    jobs = status["jobs"]
    ratio = size_after[0] / fresh_size[0]
    ratio_data = (size_after[0] - size_after[2]) / (fresh_size[0] - fresh_size[2])
    checks = {
        "rss_growth_lt_5pct": rss_growth < 0.05,
        "fds_flat": end_sample["fds"] == mark["fds"],
        "threads_flat": end_sample["threads"] == mark["threads"],
        "no_failed_jobs": jobs.get("failed", 0) == 0 and jobs.get("cancelled", 0) == 0,
        "compaction_committed": compacted["state"] == "committed",
        "validates": validate.returncode == 0,
        "live_set_matches_disk": not extra_live and not missing_live,
        "root_within_1.5x_of_fresh": ratio <= 1.5,
    }
    if rss_growth_full is not None:  # only a run past the table's bound has this window
        checks[f"rss_growth_from_batch_{FULL_MARK}_lt_5pct"] = rss_growth_full < 0.05
    sorted_batches = sorted(batch_seconds)
    print()
    print(f"{batches} batches in {soak_seconds:.0f} s ({ops['created']} created, {ops['modified']} rewritten, "
          f"{ops['deleted']} deleted; {len(live)} live sources at the end)")
    print(f"batch wall time: p50 {1000 * sorted_batches[len(sorted_batches) // 2]:.0f} ms, "
          f"p99 {1000 * sorted_batches[min(len(sorted_batches) - 1, int(0.99 * len(sorted_batches)))]:.0f} ms, "
          f"max {1000 * sorted_batches[-1]:.0f} ms; over 5 s: {slow[:10]}")
    print(f"jobs: {jobs} (catch-up included); not committed in the table's last {len(jobs_doc)}: {not_committed[:5]}")
    print(f"RSS  batch {MARK if MARK in samples else min(samples)}: {mark['rss'] / 2**20:.1f} MiB -> end "
          f"{end_sample['rss'] / 2**20:.1f} MiB ({100 * rss_growth:+.2f} %; start {samples[0]['rss'] / 2**20:.1f} MiB); "
          f"anonymous {mark['anon'] / 2**20:.1f} -> {end_sample['anon'] / 2**20:.1f} MiB")
    if full is not None and rss_growth_full is not None:
        print(f"RSS  batch {FULL_MARK} (the job table full: {KEEP_FINISHED} finished jobs): {full['rss'] / 2**20:.1f} MiB"
              f" -> end {end_sample['rss'] / 2**20:.1f} MiB ({100 * rss_growth_full:+.2f} %)")
    print(f"records' live sources {len(live_records)} vs files on disk {len(on_disk)}: not on disk "
          f"{extra_live[:5]}, not live {missing_live[:5]}")
    print(f"RSS after the compaction: {after_compact['rss'] / 2**20:.1f} MiB")
    print(f"fds  {mark['fds']} -> {end_sample['fds']};  threads {mark['threads']} -> {end_sample['threads']}")
    print(f"root before compact {size_before[0]:,} B ({size_before[1]} files, .oxy {size_before[2]:,} B); after "
          f"{size_after[0]:,} B ({size_after[1]} files, .oxy {size_after[2]:,} B); compaction: "
          f"{compacted['state']} {compacted.get('result')}")
    print(f"fresh cold cook of the final sources: {fresh_size[0]:,} B ({fresh_size[1]} files, .oxy "
          f"{fresh_size[2]:,} B); compacted / fresh = {ratio:.2f}x ({ratio_data:.2f}x without .oxy)")
    print(f"oxy validate ROOT --json: exit {validate.returncode}"
          + ("" if validate.returncode == 0 else f"\n{validate.stdout[-2000:]}{validate.stderr[-1000:]}"))
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    if args.json:
        doc = {"batches": batches, "seconds": soak_seconds, "ops": ops, "live": len(live), "samples": samples,
               "end": end_sample, "after_compact": after_compact, "rss_growth": rss_growth, "rss_growth_after_table_full": rss_growth_full, "jobs": jobs, "not_committed": not_committed,
               "size_before_compact": size_before, "size_after_compact": size_after, "fresh_size": fresh_size,
               "ratio": ratio, "extra_live": extra_live, "missing_live": missing_live, "ratio_without_meta": ratio_data, "compact": compacted,
               "validate_exit": validate.returncode, "checks": checks, "slow_batches": slow, "failures": failures, "compactions": compactions,
               "batch_seconds": batch_seconds, **report}
        pathlib.Path(args.json).write_text(json.dumps(doc, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
