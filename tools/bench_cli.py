#!/usr/bin/env python3
"""Start-up time of the ``oxy`` command line, against ``python -c pass`` in the same run.

Each command runs ``--runs`` times as a whole process, interleaved with the others
(so machine noise hits them alike); medians and minimums are printed, with the
time oxy adds to a bare interpreter start. Commands: ``python -c pass`` (the
baseline), ``oxy --help``, ``oxy cook --help``, ``oxy validate samples/sample.pak``
and ``oxy inspect samples/sample.pak --summary``. The floor of issue 14: ``oxy
--help`` under 0.1 s.

Usage: ``python3 tools/bench_cli.py [--runs 30] [--json FILE]``. Runs with the
interpreter running this script (use the project's ``.venv/bin/python``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(PROJECT, "samples", "sample.pak")
COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "oxy --help": ["-m", "oxy", "--help"],
    "oxy cook --help": ["-m", "oxy", "cook", "--help"],
    "oxy validate sample.pak": ["-m", "oxy", "validate", SAMPLE],
    "oxy inspect sample.pak --summary": ["-m", "oxy", "inspect", SAMPLE, "--summary"],
}
FLOOR = 0.1


def run_once(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   cwd=PROJECT)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    for a in COMMANDS.values():  # warm the page cache and any bytecode caches once
        run_once(a)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, a in COMMANDS.items():
            times[name].append(run_once(a))
    base = statistics.median(times["python -c pass"])
    print(f"{args.runs} runs each, interleaved; load average {os.getloadavg()[0]:.1f}; "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    print(f"{'command':<34} {'median s':>9} {'min s':>7} {'x python':>9} {'added s':>8}")
    result = {}
    for name, values in times.items():
        med = statistics.median(values)
        result[name] = {"median": med, "min": min(values), "ratio": med / base, "added": med - base}
        print(f"{name:<34} {med:>9.3f} {min(values):>7.3f} {med / base:>9.2f} {med - base:>8.3f}")
    verdict = "PASS" if result["oxy --help"]["median"] < FLOOR else "FAIL"
    print(f"oxy --help median {result['oxy --help']['median']:.3f} s vs floor {FLOOR} s: {verdict}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"runs": args.runs, "results": result, "verdict": verdict}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
