#!/usr/bin/env python3
"""Mutation fuzzing of PAK files and loose cooked roots through every oxy reader.

Seeds are made at run time (``oxy cook`` of corpus models and images, ``oxy pack``,
``oxy.samples``, the engine's golden PAK). Each input is one seed with a mutation
recipe (bit flips, byte overwrites, truncation, duplicated records, extreme u8..u64
values, special floats, broken keys/names/magics aimed at header, table and
descriptor fields found from the construct declarations of ``oxy.formats``;
file-system faults for loose roots) made deterministically from ``--seed`` and the
input number. Each input goes through ``oxy.validate``, the ``oxy inspect`` model,
the real ``oxy validate`` / ``oxy inspect`` CLI entry points (in-process) and the
runtime loader (mount, then load every asset and resource), in long-lived worker
processes under ``RLIMIT_AS`` with a per-input timeout enforced by this process, so
crashes and hangs are counted too. See docs/reliability.md ("Format fuzzing").

    tools/fuzz_formats.py --inputs 200000 --workers 2 --seed 1 --report docs/reliability-fuzz.json
    tools/fuzz_formats.py --replay 1234 --seed 1        # re-make input 1234 and show what happened

Exit status: 0 when there were no unexpected exceptions, crashes, hangs or
disagreements; 1 otherwise; 2 on a usage or harness error.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile

TOOLS = pathlib.Path(__file__).resolve().parent
PROJECT = TOOLS.parent


def _oxy_root(argv: list[str]) -> str:
    """``--oxy-root DIR``: fuzz the oxy package found in DIR (e.g. an export of a commit)
    instead of this checkout's; read before anything imports oxy."""
    for i, a in enumerate(argv):
        if a == "--oxy-root" and i + 1 < len(argv):
            return os.path.abspath(argv[i + 1])
        if a.startswith("--oxy-root="):
            return os.path.abspath(a.split("=", 1)[1])
    return str(PROJECT)


OXY_ROOT = _oxy_root(sys.argv[1:]) if __name__ == "__main__" else str(PROJECT)
for p in (str(TOOLS), OXY_ROOT):
    if p in sys.path:
        sys.path.remove(p)
    sys.path.insert(0, p)

BAD = ("disagree:validate-accepts", "disagree:loader-accepts", "unexpected", "crash", "hang", "harness-error")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", type=int, default=2000, help="number of mutated inputs (default 2000)")
    p.add_argument("--start", type=int, default=0, help="first input number (default 0)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--seed", type=int, default=1, help="campaign seed: input N is a function of (seed, N)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds one input may take before it is a hang")
    p.add_argument("--memory-mb", type=int, default=1536, help="RLIMIT_AS of each worker, MiB (default 1536)")
    p.add_argument("--verify-fraction", type=float, default=0.25,
                   help="share of inputs checked with hash verification on in both validate and the loader")
    p.add_argument("--no-cli", action="store_true", help="skip the in-process oxy validate/inspect CLI runs")
    p.add_argument("--report", help="write the JSON report here (with --replay: the report to check seeds against)")
    p.add_argument("--work-dir", help="where seeds and mutated inputs go (default: a new dir in /dev/shm or /tmp)")
    p.add_argument("--keep-work", action="store_true", help="keep the work dir")
    p.add_argument("--oxy-root", default=str(PROJECT),
                   help="fuzz the oxy package in this folder (default: this checkout)")
    p.add_argument("--replay", type=int, metavar="N", help="re-make input N in-process and print its result")
    p.add_argument("--quiet", action="store_true")
    # internal: a worker process
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--status-fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--inject", default="", help=argparse.SUPPRESS)  # "crash@N,hang@M": test the harness
    return p.parse_args(argv)


def _work_dir(args: argparse.Namespace) -> str:
    if args.work_dir:
        os.makedirs(args.work_dir, exist_ok=True)
        return args.work_dir
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="oxy-fuzz-", dir=base)


def worker_main(args: argparse.Namespace) -> int:
    import faulthandler
    import resource
    import signal
    import time

    limit = args.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the parent asks before it kills a hang
    from fuzzlib.check import FS_OPS, Checker
    from fuzzlib.mutate import make_recipe, materialize
    from fuzzlib.seeds import build_seeds, load_seeds

    seeds = load_seeds(build_seeds(os.path.join(args.work_dir, "seeds")))
    by_name = {s.name: s for s in seeds}
    checker = Checker(cli=not args.no_cli)
    status = os.fdopen(args.status_fd, "w", buffering=1)
    status.write("READY\n")
    dest = os.path.join(args.work_dir, f"input-{os.getpid()}")
    inject = {n: what for what, n in (item.split("@") for item in args.inject.split(",") if item)}
    try:
        for line in sys.stdin:
            n = int(line)
            recipe = make_recipe(seeds, args.seed, n, args.verify_fraction)
            status.write(f"S {n} {json.dumps(recipe)}\n")
            if inject.get(str(n)) == "crash":
                os.kill(os.getpid(), signal.SIGSEGV)
            elif inject.get(str(n)) == "hang":
                time.sleep(3600)
            t = time.perf_counter()
            result = run_one(checker, by_name[recipe["seed"]], recipe, dest, fs_ops=FS_OPS,
                             materialize=materialize)
            result["ms"] = round((time.perf_counter() - t) * 1000, 1)
            status.write(f"R {n} {json.dumps(result)}\n")
    finally:
        shutil.rmtree(dest, ignore_errors=True)
        checker.close()
    return 0


def run_one(checker, seed, recipe, dest, *, fs_ops, materialize):  # type: ignore[no-untyped-def]
    import traceback

    try:
        path = materialize(seed, recipe, dest)
        fs_fault = any(op["op"] in fs_ops for op in recipe["ops"])
        return checker.run(path, seed.kind, recipe["verify"], fs_fault=fs_fault, json_cli=recipe["n"] % 2 == 1)
    except Exception as exc:  # noqa: BLE001 - a bug of this tool, not of oxy
        return {"outcome": "harness-error", "unexpected": [], "detail": "".join(traceback.format_exception(exc))}


def replay_main(args: argparse.Namespace) -> int:
    from fuzzlib.check import FS_OPS, Checker
    from fuzzlib.mutate import make_recipe, materialize
    from fuzzlib.seeds import build_seeds, load_seeds

    work = _work_dir(args)
    seeds = load_seeds(build_seeds(os.path.join(work, "seeds")))
    if args.report and os.path.exists(args.report):  # the campaign's report: were the seeds the same bytes?
        from fuzzlib.seeds import seed_manifest

        with open(args.report) as fh:
            then = {k: v["sha256"] for k, v in json.load(fh)["seeds"].items()}
        now = {k: v["sha256"] for k, v in seed_manifest(seeds).items()}
        if then != now:
            print(f"warning: the seeds differ from the report's ({sorted(k for k in now if now[k] != then.get(k))}); "
                  "fuzz the same oxy (--oxy-root) to replay exactly", file=sys.stderr)
    recipe = make_recipe(seeds, args.seed, args.replay, args.verify_fraction)
    seed = next(s for s in seeds if s.name == recipe["seed"])
    checker = Checker(cli=not args.no_cli)
    dest = os.path.join(work, f"replay-{args.replay}")
    try:
        result = run_one(checker, seed, recipe, dest, fs_ops=FS_OPS, materialize=materialize)
    finally:
        checker.close()
    print(json.dumps({"recipe": recipe, "result": result}, indent=2))
    for u in result.get("unexpected", []):
        print(u.get("traceback", ""), file=sys.stderr)
    print(f"input kept in {dest}" if args.keep_work or args.work_dir else "", file=sys.stderr)
    if not (args.keep_work or args.work_dir):
        shutil.rmtree(work, ignore_errors=True)
    return 0 if result["outcome"] not in BAD else 1


def _commit(root: str) -> str:
    """The commit of the fuzzed oxy (with ``+dirty`` when its oxy/ has uncommitted changes)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "oxy"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        marker = os.path.join(root, "COMMIT")
        return open(marker).read().strip() if os.path.exists(marker) else "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.replay is not None:
        return replay_main(args)
    from fuzzlib.campaign import build_report, run_campaign, summary_table
    from fuzzlib.seeds import build_seeds, load_seeds, seed_manifest

    import signal

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)  # a partial report, workers stopped, work dir removed
    work = _work_dir(args)
    try:
        seeds = load_seeds(build_seeds(os.path.join(work, "seeds")))
        worker_argv = [sys.executable, os.path.abspath(__file__), "--worker", "--work-dir", work,
                       "--oxy-root", os.path.abspath(args.oxy_root),
                       "--seed", str(args.seed), "--memory-mb", str(args.memory_mb),
                       "--verify-fraction", str(args.verify_fraction), "--inject", args.inject]
        worker_argv += ["--no-cli"] if args.no_cli else []
        stats, seconds = run_campaign(worker_argv=worker_argv, inputs=args.inputs, start=args.start,
                                      workers=args.workers, timeout=args.timeout, work_dir=work,
                                      progress=not args.quiet)
        report = build_report(stats, seconds=seconds, seeds=seed_manifest(seeds), args={
            "inputs": args.inputs, "start": args.start, "workers": args.workers, "seed": args.seed,
            "timeout": args.timeout, "memory_mb": args.memory_mb, "verify_fraction": args.verify_fraction,
            "cli": not args.no_cli, "oxy_root": os.path.abspath(args.oxy_root), "oxy_commit": _commit(args.oxy_root)})
    finally:
        if not args.keep_work and not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    if args.report:
        with open(args.report, "w") as fh:
            json.dump(report, fh, indent=1)
            fh.write("\n")
    print(summary_table(report))
    return 1 if any(report["outcomes"].get(k) for k in BAD) or stats.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
