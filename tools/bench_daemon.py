#!/usr/bin/env python3
"""The cook daemon (``oxy serve``): save-to-commit latency, API latency under load, idle CPU.

    python tools/bench_daemon.py [--quick] [--iterations 20] [--json FILE]

A real daemon process (``python -m oxy serve --root R --watch W --port 0 --log-json
--debounce 100``, its own ``OXY_CACHE_DIR`` in a temporary folder) is measured in one run:

1. save-to-commit latency, ``--quality fast``: each iteration writes a new, different
   1024² RGBA PNG (pre-encoded, so only the write is in the loop) into the watched
   folder. The clock starts when the file is closed (``time.time()``), and stops at the
   job's ``finished`` stamp (the daemon's own ``time.time()``, sent in the SSE
   ``committed`` event) and, separately, when this process receives that SSE event.
   p50/p99 over ``--iterations`` (default 20; ``--quick`` 5), and the same minus the
   debounce (100 ms): what the watcher, planning, the cook and the commit cost.
2. API latency: GET /api/status from a client thread (one keep-alive connection, one
   request after another) for as long as 6 2048² images cook at ``--quality normal``
   (a second daemon, so both CPU threads are busy): p50/p99/max. The same over 3 s
   of idleness as the baseline.
3. idle CPU: once everything has settled, the daemon's utime+stime (``/proc/PID/stat``)
   over 10 s, as % of one core (goal < 1 %).

The exit code is 0 unless something errors; the goal prints PASS/FAIL.
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from oxy.daemon.client import EventReader as SseReader  # noqa: E402 - the shared SSE client

PROJECT = pathlib.Path(__file__).resolve().parents[1]
TERMINAL = ("committed", "failed", "cancelled")
DEBOUNCE_MS = 100


# ---------------------------------------------------------------- the daemon
def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"timed out waiting for {what}")


class Daemon:
    """``python -m oxy serve`` as a child process; its JSON log lines go to a file."""

    def __init__(self, tmp: pathlib.Path, root: pathlib.Path, watch: pathlib.Path, *extra: str,
                 module: str = "oxy", env: dict[str, str] | None = None) -> None:
        """``module``: what ``python -m`` runs (``oxy.daemon.memdebug`` for a traced daemon);
        ``env``: more environment variables for the daemon."""
        self.root = root
        self.log_path = tmp / f"daemon-{time.monotonic_ns()}.log"
        env = {**os.environ, "OXY_CACHE_DIR": str(tmp / "cache"), "PYTHONPATH": str(PROJECT), **(env or {})}
        args = [sys.executable, "-m", module, "serve", "--root", str(root), "--watch", str(watch),
                "--port", "0", "--log-json", "--debounce", str(DEBOUNCE_MS), *extra]
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log_file, env=env, cwd=PROJECT)
        self.pid = self.proc.pid
        self.port = 0

    def start(self, timeout: float = 60.0) -> "Daemon":
        def listening() -> Any:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            for text in self.log_path.read_text().splitlines():
                try:
                    line = json.loads(text)
                except ValueError:
                    continue
                if line.get("event") == "listening":
                    return line
            return None
        self.port = int(wait_for(listening, timeout, "the daemon's listening line", 0.05)["port"])
        return self

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        return status, json.loads(payload)

    def get(self, path: str) -> Any:
        status, doc = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {doc}")
        return doc

    def status(self) -> dict[str, Any]:
        return self.get("/api/status")

    def finished_total(self) -> int:
        return sum(self.status()["jobs"].values())

    def wait_settled(self, timeout: float = 120.0) -> dict[str, Any]:
        """Nothing queued or running (watcher changes still in their debounce are not seen)."""
        return wait_for(lambda: (s := self.status())["queue_depth"] == 0 and s["running"] is None and s,
                        timeout, "the daemon to settle", 0.05)

    def cpu_seconds(self) -> float:
        fields = pathlib.Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def proc_status(self) -> dict[str, int]:
        """RSS (bytes), anonymous memory (``anon``, from smaps_rollup), threads and open fds of the daemon process."""
        out = {"fds": len(os.listdir(f"/proc/{self.pid}/fd"))}
        rollup = pathlib.Path(f"/proc/{self.pid}/smaps_rollup")
        if rollup.exists():  # anonymous (heaps, Python objects) apart from file-backed (code, libraries)
            for line in rollup.read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("Anonymous", "Rss") and value.strip().endswith("kB"):
                    out["anon" if key == "Anonymous" else "rss_rollup"] = int(value.split()[0]) * 1024
        for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "VmRSS":
                out["rss"] = int(value.split()[0]) * 1024
            elif key == "Threads":
                out["threads"] = int(value)
        return out

    def stop(self, timeout: float = 60.0) -> int | None:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None
        finally:
            self.log_file.close()


# ---------------------------------------------------------------- images
def png_bytes(size: int, seed: int) -> bytes:
    """A varied RGBA image: smooth gradients and blobs plus some noise (compresses like content)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    chans = []
    for _ in range(3):
        fx, fy, ph = rng.uniform(1, 12), rng.uniform(1, 12), rng.uniform(0, 6.3)
        chans.append(0.5 + 0.35 * np.sin(fx * x * 6.28 + ph) * np.cos(fy * y * 6.28 - ph))
    alpha = np.clip(1.2 - np.hypot(x - rng.uniform(0.2, 0.8), y - rng.uniform(0.2, 0.8)), 0, 1)
    img = np.stack(chans + [alpha], axis=-1) + rng.normal(0, 0.03, (size, size, 4))
    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def write_closed(path: pathlib.Path, data: bytes) -> float:
    """Write DATA to PATH; the wall time right after close."""
    with open(path, "wb") as fh:
        fh.write(data)
    return time.time()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": pct(values, 50), "p99": pct(values, 99), "max": max(values, default=float("nan")),
            "mean": statistics.fmean(values) if values else float("nan")}


# ---------------------------------------------------------------- 1 and 3: latency, idle CPU
def bench_latency_and_idle(tmp: pathlib.Path, iterations: int, idle_seconds: float) -> dict[str, Any]:
    src, root = tmp / "src", tmp / "root"
    src.mkdir()
    (src / "seed.png").write_bytes(png_bytes(64, 999))
    print(f"encoding {iterations} 1024² PNGs ...", flush=True)
    images = [png_bytes(1024, seed) for seed in range(iterations)]
    daemon = Daemon(tmp, root, src, "--quality", "fast").start()
    try:
        wait_for(lambda: daemon.finished_total() >= 1, 60, "the catch-up cook")
        daemon.wait_settled()
        sse = SseReader(daemon.port)
        sse.start()
        if not sse.connected.wait(10):
            raise RuntimeError("no SSE stream")
        by_finished, by_receipt, job_seconds, failures = [], [], [], []
        for i, data in enumerate(images):
            path = src / f"tex_{i:03d}.png"
            closed = write_closed(path, data)
            event = wait_for(lambda p=str(path): sse.find(("committed", "failed", "cancelled"), p), 60,
                             f"the job of {path.name}", 0.005)
            name, job, received = event
            if name != "committed":
                failures.append({"file": path.name, "state": name, "diagnostics": job.get("diagnostics")})
                continue
            by_finished.append(job["finished"] - closed)
            by_receipt.append(received - closed)
            job_seconds.append(job["seconds"])
            daemon.wait_settled()
            print(f"  {path.name}: {1000 * (job['finished'] - closed):7.1f} ms to commit "
                  f"(job {job['id']} ran {1000 * job['seconds']:.1f} ms)", flush=True)
        debounce = DEBOUNCE_MS / 1000
        latency = {
            "save_to_commit_s": summary(by_finished),
            "save_to_sse_s": summary(by_receipt),
            "minus_debounce_s": summary([v - debounce for v in by_finished]),
            "job_run_s": summary(job_seconds),
            "failures": failures,
        }
        # idle CPU: let the last commit, GC and the keep-alive settle first
        daemon.wait_settled()
        time.sleep(2.0)
        before_cpu, before_wall = daemon.cpu_seconds(), time.monotonic()
        time.sleep(idle_seconds)
        cpu, wall = daemon.cpu_seconds() - before_cpu, time.monotonic() - before_wall
        idle = {"seconds": wall, "cpu_seconds": cpu, "percent_of_core": 100 * cpu / wall,
                "tick_s": 1 / os.sysconf("SC_CLK_TCK"), "sse_client_connected": True}
        return {"latency": latency, "idle": idle, "exit": daemon.stop()}
    finally:
        if daemon.proc.poll() is None:
            daemon.stop()


# ---------------------------------------------------------------- 2: API latency under load
def hammer(port: int, stop: threading.Event, out: list[float], errors: list[str], keepalive: bool) -> None:
    """GET /api/status in a loop: on one keep-alive connection, or a new connection per request
    (paced by 2 ms so the client does not take a core from the cook)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        start, reconnect = time.perf_counter(), not keepalive
        try:
            conn.request("GET", "/api/status", headers={} if keepalive else {"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                errors.append(f"{resp.status} {body[:200]!r}")
            out.append(time.perf_counter() - start)
        except (OSError, http.client.HTTPException) as exc:
            errors.append(repr(exc))
            reconnect = True
        if reconnect:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        if not keepalive:
            time.sleep(0.002)
    conn.close()


def bench_api(tmp: pathlib.Path, count: int, size: int) -> dict[str, Any]:
    src, root = tmp / "src", tmp / "root"
    src.mkdir()
    (src / "seed.png").write_bytes(png_bytes(64, 1999))
    print(f"encoding {count} {size}² PNGs ...", flush=True)
    images = [png_bytes(size, 5000 + seed) for seed in range(count)]
    daemon = Daemon(tmp, root, src, "--quality", "normal").start()
    try:
        wait_for(lambda: daemon.finished_total() >= 1, 60, "the catch-up cook")
        daemon.wait_settled()
        time.sleep(0.5)

        def run(busy: Callable[[], bool] | None, seconds: float) -> tuple[dict[str, list[float]], list[str], float, float]:
            stop, errors = threading.Event(), []
            out: dict[str, list[float]] = {"keepalive": [], "fresh": []}
            threads = [threading.Thread(target=hammer, args=(daemon.port, stop, out[k], errors, k == "keepalive"),
                                        daemon=True) for k in out]
            cpu0, t0 = daemon.cpu_seconds(), time.monotonic()
            for thread in threads:
                thread.start()
            if busy is None:
                time.sleep(seconds)
            else:
                busy()
            stop.set()
            for thread in threads:
                thread.join(30)
            wall = time.monotonic() - t0
            return out, errors, wall, daemon.cpu_seconds() - cpu0

        idle_lat, idle_err, _w, _c = run(None, 3.0)
        before = daemon.finished_total()

        def cook() -> bool:
            for i, data in enumerate(images):
                write_closed(src / f"big_{i}.png", data)
            wait_for(lambda: daemon.finished_total() > before, 300, "the big cook", 0.2)
            daemon.wait_settled(300)
            return True

        busy_lat, busy_err, wall, cpu = run(cook, 0)
        jobs = [j for j in daemon.get("/api/jobs")["jobs"] if j["trigger"] == "watch"]
        return {
            "images": count, "size": size, "quality": "normal",
            "idle_s": {k: summary(v) for k, v in idle_lat.items()}, "idle_errors": idle_err,
            "busy_s": {k: summary(v) for k, v in busy_lat.items()}, "busy_errors": busy_err,
            "busy_wall_s": wall, "daemon_cpu_percent_of_core_while_busy": 100 * cpu / wall,
            "jobs": [{"id": j["id"], "state": j["state"], "seconds": j["seconds"],
                      "cooked": j["counts"].get("texture", {}).get("cooked")} for j in jobs],
            "exit": daemon.stop(),
        }
    finally:
        if daemon.proc.poll() is None:
            daemon.stop()


# ---------------------------------------------------------------- main
def ms(v: float) -> str:
    return f"{1000 * v:8.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 latency iterations, 4 images under load")
    parser.add_argument("--iterations", type=int, default=None, help="save-to-commit iterations (default 20)")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--big", type=int, default=2048, help="edge of the images cooked under load")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    iterations = args.iterations or (5 if args.quick else 20)
    big_count = 4 if args.quick else 6

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="oxy-bench-daemon-")).resolve()
    try:
        (tmp / "a").mkdir()
        (tmp / "b").mkdir()
        print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
        part1 = bench_latency_and_idle(tmp / "a", iterations, args.idle_seconds)
        part2 = bench_api(tmp / "b", big_count, args.big)
        load = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lat, idle = part1["latency"], part1["idle"]
    print()
    print(f"save-to-commit, 1024² PNG, --quality fast, debounce {DEBOUNCE_MS} ms, {lat['save_to_commit_s']['n']} runs")
    print("                            p50          p99          max")
    for label, key in (("close -> job finished", "save_to_commit_s"), ("  minus the debounce", "minus_debounce_s"),
                       ("close -> SSE received", "save_to_sse_s"), ("job run (started->end)", "job_run_s")):
        s = lat[key]
        print(f"  {label:24}{ms(s['p50'])}  {ms(s['p99'])}  {ms(s['max'])}")
    if lat["failures"]:
        print(f"  FAILED iterations: {lat['failures']}")
    print(f"GET /api/status, 2 clients at once ({part2['images']} x {part2['size']}² at --quality normal)")
    for label, key in (("idle", "idle_s"), ("while cooking", "busy_s")):
        for conn in ("keepalive", "fresh"):
            s = part2[key][conn]
            print(f"  {label:14}{conn:10} n={s['n']:6d}  p50 {ms(s['p50'])}  p99 {ms(s['p99'])}  max {ms(s['max'])}")
    print(f"  cook under load: {part2['busy_wall_s']:.1f} s wall, daemon CPU "
          f"{part2['daemon_cpu_percent_of_core_while_busy']:.0f} % of a core; jobs {part2['jobs']}")
    if part2["busy_errors"] or part2["idle_errors"]:
        print(f"  errors: {(part2['idle_errors'] + part2['busy_errors'])[:5]}")
    verdict = "PASS" if idle["percent_of_core"] < 1.0 else "FAIL"
    print(f"idle CPU over {idle['seconds']:.1f} s: {idle['cpu_seconds']:.2f} s CPU = "
          f"{idle['percent_of_core']:.2f} % of one core (goal < 1 %, tick {idle['tick_s'] * 1000:.0f} ms)  {verdict}")
    print(f"load average at end: {load:.2f}; daemon exit codes {part1['exit']}, {part2['exit']}")
    if args.json:
        doc = {"iterations": iterations, "debounce_ms": DEBOUNCE_MS, "latency": lat, "idle_cpu": idle,
               "api": part2, "idle_cpu_pass": verdict == "PASS", "load_average_end": load}
        pathlib.Path(args.json).write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
