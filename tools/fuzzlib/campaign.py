"""Campaign: long-lived worker processes, crash/hang accounting, aggregation, report.

The parent hands input numbers to workers over their stdin (at most ``DEPTH``
outstanding each). A worker (``fuzz_formats.py --worker``) runs under
``RLIMIT_AS``; for each number it makes the recipe, writes ``S <n> <recipe>`` to its
status pipe *before* it starts, then ``R <n> <result>`` when done. If a worker's
pipe reaches EOF while an input is started, that input is a **crash**; if an input
runs longer than the timeout the parent kills the worker and counts a **hang**.
Either way the recipe is recorded, the inputs it had not started are handed out
again and a new worker takes its place.
"""
from __future__ import annotations

import collections
import datetime
import json
import os
import platform
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

DEPTH = 2
MAX_EXAMPLES = 3


@dataclass
class Stats:
    """Everything the report says, aggregated over inputs."""

    outcomes: collections.Counter = field(default_factory=collections.Counter)
    by_seed: dict[str, collections.Counter] = field(default_factory=dict)
    by_mode: dict[str, collections.Counter] = field(default_factory=dict)
    by_op: dict[str, collections.Counter] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)  # crashes and hangs
    done: int = 0
    interrupted: bool = False

    def add(self, recipe: dict[str, Any], result: dict[str, Any]) -> None:
        from fuzzlib.check import group_key

        outcome = result["outcome"]
        self.done += 1
        self.outcomes[outcome] += 1
        self.by_seed.setdefault(recipe["seed"], collections.Counter())[outcome] += 1
        self.by_mode.setdefault("verify" if recipe["verify"] else "default", collections.Counter())[outcome] += 1
        first_op = recipe["ops"][0]["op"] if recipe["ops"] else "none"
        self.by_op.setdefault(first_op, collections.Counter())[outcome] += 1
        if outcome in ("crash", "hang"):
            self.failures.append({"n": recipe["n"], "outcome": outcome, "recipe": recipe,
                                  "detail": result.get("detail", "")})
            key = f"{outcome}: {recipe['kind']}"
        elif outcome in ("valid", "invalid-agreed"):
            key = ""
        else:
            key = group_key(recipe, result)
        if key:
            g = self.groups.setdefault(key, {"outcome": outcome, "count": 0, "examples": []})
            g["count"] += 1
            ex = {"n": recipe["n"], "recipe": recipe, "validate": result.get("validate"),
                  "loader": result.get("loader"), "unexpected": result.get("unexpected", [])[:1],
                  "detail": result.get("detail", "")}
            g["examples"].append(ex)
            g["examples"].sort(key=lambda e: (len(e["recipe"]["ops"]), e["n"]))  # simplest first
            del g["examples"][MAX_EXAMPLES:]
        for note in result.get("notes", []):
            entry = self.notes.setdefault(note, {"count": 0, "example": None})
            entry["count"] += 1
            if entry["example"] is None or (len(recipe["ops"]), recipe["n"]) < (
                    len(entry["example"]["recipe"]["ops"]), entry["example"]["n"]):
                entry["example"] = {"n": recipe["n"], "recipe": recipe, "validate": result.get("validate"),
                                    "inspect": result.get("inspect")}


class _Worker:
    def __init__(self, slot: int, argv: list[str], log_path: str) -> None:
        self.slot = slot
        rfd, wfd = os.pipe()
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv + ["--status-fd", str(wfd)], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=self.log, pass_fds=(wfd,),
                                     start_new_session=True)
        os.close(wfd)
        self.fd = rfd
        self.buf = b""
        self.ready = False
        self.started = False  # said READY once
        self.sent: collections.deque[int] = collections.deque()
        self.current: tuple[int, dict[str, Any]] | None = None
        self.started_at = 0.0

    def send(self, n: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{n}\n".encode())
        self.proc.stdin.flush()
        self.sent.append(n)

    def lines(self) -> tuple[list[str], bool]:
        """Complete status lines read now; and whether the pipe reached EOF."""
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            return [], True
        self.buf += chunk
        *done, self.buf = self.buf.split(b"\n")
        return [d.decode() for d in done], False

    def kill(self) -> int | None:
        try:  # the worker's faulthandler prints every thread's stack on SIGUSR1: where it hung
            os.kill(self.proc.pid, signal.SIGUSR1)
            self.proc.wait(timeout=2)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.wait()

    def wait(self) -> int | None:
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = None
        for closer in (lambda: os.close(self.fd), self.log.close,
                       lambda: self.proc.stdin.close() if self.proc.stdin else None):
            try:
                closer()
            except OSError:
                pass
        return rc

    def log_tail(self, limit: int = 3000) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - limit))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""


def run_campaign(*, worker_argv: list[str], inputs: int, start: int, workers: int, timeout: float,
                 work_dir: str, progress: bool = True) -> tuple[Stats, float]:
    """Fuzz inputs ``start .. start+inputs-1`` with ``workers`` processes. Returns (stats, seconds).
    KeyboardInterrupt (Ctrl+C, or SIGTERM from ``main``) stops early: ``stats.interrupted``."""
    stats = Stats()
    todo: collections.deque[int] = collections.deque(range(start, start + inputs))
    recipes: dict[int, dict[str, Any]] = {}
    pool: dict[int, _Worker] = {}
    spawned = collections.Counter()
    startup_failures = 0
    t0 = last_print = time.monotonic()

    def spawn(slot: int) -> None:
        spawned[slot] += 1
        pool[slot] = _Worker(slot, worker_argv, os.path.join(work_dir, f"worker{slot}.log"))

    def feed(w: _Worker) -> None:
        while w.ready and len(w.sent) < DEPTH and todo:
            n = todo.popleft()
            try:
                w.send(n)
            except OSError:  # the worker just died; its status pipe's EOF retires it
                todo.appendleft(n)
                w.ready = False
                break

    def retire(w: _Worker, outcome: str) -> None:
        nonlocal startup_failures
        rc = w.kill() if outcome == "hang" else w.wait()
        if w.current is not None:
            n, recipe = w.current
            detail = (f"worker exit status {rc}" if outcome == "crash" else
                      f"no result after {timeout:g} s; worker killed") + "\n" + w.log_tail()
            stats.add(recipe, {"outcome": outcome, "detail": detail})
            w.sent.remove(n) if n in w.sent else None
        elif not w.started:
            startup_failures += 1
            if startup_failures > 3:
                raise RuntimeError(f"workers fail to start:\n{w.log_tail()}")
        for n in reversed(w.sent):
            todo.appendleft(n)
        spawn(w.slot)

    for slot in range(workers):
        spawn(slot)
    try:
        while stats.done < inputs:
            now = time.monotonic()
            for w in list(pool.values()):
                if w.current is not None and now - w.started_at > timeout:
                    retire(w, "hang")
            fds = {w.fd: w for w in pool.values()}
            readable, _, _ = select.select(list(fds), [], [], 0.5)
            for fd in readable:
                w = fds[fd]
                lines, eof = w.lines()
                for line in lines:
                    tag, _, rest = line.partition(" ")
                    if tag == "READY":
                        w.ready = w.started = True
                    elif tag == "S":
                        n_text, _, recipe_text = rest.partition(" ")
                        recipe = json.loads(recipe_text)
                        w.current, w.started_at = (int(n_text), recipe), time.monotonic()
                        recipes[int(n_text)] = recipe
                    elif tag == "R":
                        n_text, _, result_text = rest.partition(" ")
                        n = int(n_text)
                        stats.add(recipes.pop(n), json.loads(result_text))
                        w.current = None
                        if n in w.sent:
                            w.sent.remove(n)
                if eof:
                    retire(w, "crash")
                    continue
                feed(w)
            for w in pool.values():
                feed(w)
            if progress and time.monotonic() - last_print > 30:
                last_print = time.monotonic()
                rate = stats.done / max(last_print - t0, 1e-9)
                print(f"  {stats.done}/{inputs} inputs, {rate:.0f}/s, " +
                      ", ".join(f"{k} {v}" for k, v in stats.outcomes.most_common()), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        stats.interrupted = True
        print(f"  interrupted after {stats.done} inputs", file=sys.stderr, flush=True)
    finally:
        for w in pool.values():
            try:
                if w.proc.stdin:
                    w.proc.stdin.close()
            except OSError:
                pass
        for w in pool.values():
            w.wait() if w.proc.poll() is not None else w.kill()
    return stats, time.monotonic() - t0


ORDER = ("valid", "invalid-agreed", "disagree:validate-accepts", "disagree:loader-accepts", "unexpected",
         "crash", "hang", "harness-error")


def build_report(stats: Stats, *, seconds: float, args: dict[str, Any], seeds: dict[str, Any]) -> dict[str, Any]:
    groups = sorted(stats.groups.items(), key=lambda kv: (-kv[1]["count"], kv[0]))
    return {
        "tool": "tools/fuzz_formats.py",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "args": args,
        "inputs": stats.done,
        "interrupted": stats.interrupted,
        "seconds": round(seconds, 1),
        "inputs_per_second": round(stats.done / max(seconds, 1e-9), 1),
        "outcomes": {k: stats.outcomes.get(k, 0) for k in ORDER if k in stats.outcomes or k in ORDER[:7]},
        "by_seed": {k: dict(v) for k, v in sorted(stats.by_seed.items())},
        "by_mode": {k: dict(v) for k, v in sorted(stats.by_mode.items())},
        "by_first_op": {k: dict(v) for k, v in sorted(stats.by_op.items())},
        "groups": [{"key": k, **g} for k, g in groups],
        "notes": stats.notes,
        "failures": stats.failures[:100],
        "seeds": seeds,
    }


def summary_table(report: dict[str, Any]) -> str:
    total = max(report["inputs"], 1)
    lines = [("INTERRUPTED: " if report.get("interrupted") else "") + f"{report['inputs']} inputs in {report['seconds']:.0f} s ({report['inputs_per_second']:.0f}/s), "
             f"seed {report['args'].get('seed')}, {report['args'].get('workers')} worker(s)",
             "", "| outcome | inputs | share |", "|---|---:|---:|"]
    for k, v in report["outcomes"].items():
        lines.append(f"| {k} | {v} | {100 * v / total:.2f}% |")
    if report["groups"]:
        lines += ["", "| finding class | outcome | inputs | simplest example |", "|---|---|---:|---:|"]
        for g in report["groups"]:
            lines.append(f"| {g['key']} | {g['outcome']} | {g['count']} | #{g['examples'][0]['n']} |")
    if report["notes"]:
        lines += ["", "notes:"] + [f"  {k}: {v['count']} (e.g. #{v['example']['n']})" for k, v in report["notes"].items()]
    return "\n".join(lines)
