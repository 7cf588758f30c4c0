#!/usr/bin/env python3
"""Where does the loader's owning hub lose time during 1,200 cold loads?

Runs the content set of ``tools/bench_loader.py`` (1,200 materials over 16 textures,
PAK) and, while a ticker greenlet on the owning hub measures how late its 1 ms
sleeps wake (as the benchmark does), records:

* **Hub spans.** ``greenlet.settrace`` on the hub thread: every stretch a greenlet
  ran on the hub (wall and thread-CPU time), labelled by the greenlet's function
  (``hub`` = the hub greenlet: loop callbacks, watchers and the poll itself).
  In a non-hub greenlet, wall minus CPU is time the hub thread waited for the GIL
  (or for a core: the machine has 2); the ``hub`` label's wall includes idle polls.
* **Pool tasks.** Every task the loader sends to the CPU and I/O pools (wrapped
  through the ``run_blocking`` / ``run_io`` names of the module that runs the loads,
  ``oxy.runtime.engine``, or ``oxy.runtime.loader`` before the split; nothing is
  edited): function, thread, wall and CPU time. Batched loads show as
  ``_read_descriptors`` / ``_decode_assets`` (one task per batch), resources and
  retries as ``read_resource`` / ``timed``. A task's CPU time is, to a
  first approximation, time it held the GIL (the decoders are pure Python).
* **CPU per thread** over the loaded run (``/proc/self/task/*/stat``): hub, pools,
  the requesting thread.

For each late tick (over ``--late`` ms) the tool attributes the late window to
what ran on the hub during it (CPU), what the hub waited for (GIL/core), and
which pool work overlapped it. Prints a report; nothing is written.

Usage: ``python3 tools/profile_loader_hub.py [--materials 1200] [--repeats 3] [--late 2]``
"""
from __future__ import annotations

import argparse
import collections
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gevent  # noqa: E402
import greenlet  # noqa: E402

import bench_loader  # noqa: E402
try:
    import oxy.runtime.engine as loader_mod  # noqa: E402
except ImportError:  # before the engine/loader split
    import oxy.runtime.loader as loader_mod  # type: ignore[no-redef]  # noqa: E402
from oxy.hub._native import get_ident  # noqa: E402
from oxy.pack.compact import pack_paths  # noqa: E402
from oxy.runtime import AssetLoader, LoaderConfig  # noqa: E402
from oxy.samples import ContentSet, write_loose_root  # noqa: E402

TIMEOUT = 300.0
Span = tuple[str, float, float, float]  # label, start, end, cpu seconds


def _label(g: Any) -> str:
    if isinstance(g, gevent.hub.Hub):
        return "hub"
    run = getattr(g, "_run", None)
    if run is None:
        return type(g).__name__
    run = getattr(run, "__func__", run)
    if getattr(run, "__name__", "") == "_guarded":
        return "loop._guarded"
    return getattr(run, "__qualname__", repr(run))


class HubTracer:
    """greenlet.settrace on the hub thread: one span per stretch a greenlet ran."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._cur: tuple[str, float, float] | None = None

    def __call__(self, event: str, args: Any) -> None:
        if event not in ("switch", "throw"):
            return
        now, cpu = time.perf_counter(), time.thread_time()
        _origin, target = args
        if self._cur is not None:
            label, t0, c0 = self._cur
            self.spans.append((label, t0, now, cpu - c0))
        self._cur = (_label(target), now, cpu)


class PoolTasks:
    """Wraps the loader's pool crossings to time every task on its pool thread."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, str, int, float, float, float]] = []  # pool, fn, thread, t0, t1, cpu
        self._lock = threading.Lock()
        self._orig = (loader_mod.run_blocking, loader_mod.run_io)

    def _wrap(self, pool: str, crossing: Callable[..., Any]) -> Callable[..., Any]:
        def crossing_wrapper(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            name = getattr(fn, "__qualname__", repr(fn))

            def timed(*a: Any, **k: Any) -> Any:
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    return fn(*a, **k)
                finally:
                    t1, c1 = time.perf_counter(), time.thread_time()
                    with self._lock:
                        self.tasks.append((pool, name, get_ident(), t0, t1, c1 - c0))
            return crossing(timed, *args, **kwargs)
        return crossing_wrapper

    def install(self) -> None:
        loader_mod.run_blocking = self._wrap("cpu", self._orig[0])  # type: ignore[assignment]
        loader_mod.run_io = self._wrap("io", self._orig[1])  # type: ignore[assignment]

    def remove(self) -> None:
        loader_mod.run_blocking, loader_mod.run_io = self._orig  # type: ignore[assignment]


def thread_cpu() -> dict[int, tuple[str, float]]:
    """Native thread id -> (name, user+system CPU seconds) from /proc."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/self/task/{tid}/comm") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / tick)
    return out


class HubSampler:
    """A plain thread that samples the hub thread's Python stack every ``period`` s
    (a statistical profile of what runs on the hub; it needs the GIL to sample, so
    it sees the hub only while the hub runs Python code)."""

    def __init__(self, period: float = 0.0005) -> None:
        self.period = period
        self.leaf: collections.Counter[str] = collections.Counter()
        self.inclusive: collections.Counter[str] = collections.Counter()
        self.long: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self.ident = 0
        self.tracer: HubTracer | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, ident: int, tracer: HubTracer) -> None:
        self.ident, self.tracer = ident, tracer
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            frame = sys._current_frames().get(self.ident)
            if frame is None:
                continue
            names = []
            f: Any = frame
            while f is not None:
                code = f.f_code
                names.append(f"{os.path.basename(code.co_filename)}:{code.co_name}")
                f = f.f_back
            self.samples += 1
            self.leaf[names[0]] += 1
            for n in set(names):
                self.inclusive[n] += 1
            cur = self.tracer._cur if self.tracer is not None else None
            if cur is not None and cur[0] != "hub" and time.perf_counter() - cur[1] > 0.003:
                self.long[" <- ".join(names[:6])] += 1


class GcWatch:
    """gc.callbacks: every collection's generation, thread and duration."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, float, float]] = []  # generation, thread, t0, t1
        self._start: dict[int, float] = {}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        ident = get_ident()
        if phase == "start":
            self._start[ident] = time.perf_counter()
        else:
            t0 = self._start.pop(ident, None)
            if t0 is not None:
                self.events.append((info["generation"], threading.current_thread().name, t0, time.perf_counter()))

    def __enter__(self) -> "GcWatch":
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def one_run(pak: str, keys: list, cpu_threads: int, late_ms: float, idle: bool) -> dict[str, Any]:
    ldr = AssetLoader(LoaderConfig(cpu_threads=cpu_threads)).start()
    ldr.add_pak(pak)
    assert ldr.loop is not None
    tracer = HubTracer()
    pool = PoolTasks()
    ticks: list[tuple[float, float]] = []  # (due, woke)
    stop = threading.Event()
    hub_tid: list[int] = []

    def ticker() -> None:
        hub_tid.append(threading.get_native_id())
        greenlet.settrace(tracer)
        while not stop.is_set():
            t = time.perf_counter()
            gevent.sleep(0.001)
            ticks.append((t + 0.001, time.perf_counter()))
        greenlet.settrace(None)

    pool.install()
    ldr.loop.spawn(ticker)
    time.sleep(0.2)
    sampler = HubSampler()
    sampler.start(ldr.loop._thread.ident, tracer)
    cpu0 = thread_cpu()
    t0 = time.perf_counter()
    with GcWatch() as gcw:
        if idle:
            time.sleep(1.0)
        else:
            for f in [ldr.load_asset(k) for k in keys]:
                f.result(TIMEOUT)
    t1 = time.perf_counter()
    cpu1 = thread_cpu()
    sampler.stop()
    stop.set()
    time.sleep(0.05)
    pool.remove()
    ldr.stop()
    ticks = [(d, w) for d, w in ticks if t0 <= d <= t1]
    late = [(w - d) * 1000 for d, w in ticks]
    res: dict[str, Any] = {"wall": t1 - t0, "ticks": len(ticks), "late": late}
    # CPU per thread
    per_thread = {}
    for tid, (name, c1) in cpu1.items():
        c0 = cpu0.get(tid, (name, 0.0))[1]
        role = "hub" if hub_tid and tid == hub_tid[0] else ("main" if tid == threading.main_thread().native_id
                                                            else name)
        per_thread[role] = per_thread.get(role, 0.0) + (c1 - c0)
    res["thread_cpu"] = per_thread
    # hub spans by label within the run
    spans = [s for s in tracer.spans if s[2] >= t0 and s[1] <= t1]
    by_label: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for label, s0, s1, cpu in spans:
        acc = by_label[label]
        acc[0] += s1 - s0
        acc[1] += cpu
        acc[2] += 1
    res["hub_by_label"] = dict(by_label)
    long_spans = sorted(((s1 - s0, label, cpu) for label, s0, s1, cpu in spans if label != "hub"), reverse=True)
    res["longest_spans"] = long_spans[:8]
    tasks = [t for t in pool.tasks if t[4] >= t0 and t[3] <= t1]
    by_fn: dict[str, list[float]] = collections.defaultdict(list)
    for p, fn, _tid, a, b, cpu in tasks:
        by_fn[f"{p}:{fn}"].append(cpu)
    res["tasks"] = {k: (len(v), statistics.median(v) * 1e6, max(v) * 1e6, sum(v)) for k, v in by_fn.items()}
    # attribute late windows
    attrib = collections.defaultdict(float)
    n_late = 0
    for (due, woke), ms in zip(ticks, late):
        if ms < late_ms:
            continue
        n_late += 1
        for label, s0, s1, cpu in spans:
            ov = overlap(due, woke, s0, s1)
            if ov <= 0:
                continue
            frac = ov / max(s1 - s0, 1e-9)
            if label == "hub":
                attrib["hub greenlet (callbacks, poll, GIL waits)"] += ov
            else:
                attrib["hub CPU in loader greenlets"] += cpu * frac
                attrib["hub waiting for GIL/core inside loader greenlets"] += max(0.0, ov - cpu * frac)
        for p, fn, _tid, a, b, cpu in tasks:
            ov = overlap(due, woke, a, b)
            if ov > 0:
                attrib[f"pool {p} busy ({fn.split('.')[-1]}) CPU"] += cpu * ov / max(b - a, 1e-9)
    res["late_count"] = n_late
    res["late_window_ms"] = sum(ms for ms in late if ms >= late_ms)
    res["attrib"] = dict(attrib)
    res["sampler"] = sampler
    gen_time: dict[int, list[float]] = collections.defaultdict(list)
    for gen, _name, a, b in gcw.events:
        gen_time[gen].append(b - a)
    res["gc"] = {g: (len(v), sum(v) * 1000, max(v) * 1000) for g, v in sorted(gen_time.items())}
    res["gc_in_late"] = sum(overlap(d, w, a, b) for (d, w), ms in zip(ticks, late) if ms >= late_ms
                            for _g, _n, a, b in gcw.events) * 1000
    return res


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--materials", type=int, default=1200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpu-threads", type=int, default=2)
    ap.add_argument("--late", type=float, default=2.0, help="a tick later than this (ms) is analysed")
    ap.add_argument("--switch-interval", type=float, default=None,
                    help="what-if: sys.setswitchinterval(S) for the whole run (default: leave 5 ms)")
    ap.add_argument("--gc-freeze", action="store_true",
                    help="what-if: gc.freeze() after setup (the imported heap leaves the collected generations)")
    ap.add_argument("--brief", action="store_true", help="print only the lateness lines")
    args = ap.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    tmp = tempfile.mkdtemp(prefix="profile_loader_")
    content = bench_loader.make_content(args.materials)
    root, pak = os.path.join(tmp, "root"), os.path.join(tmp, "content.pak")
    write_loose_root(root, content)
    pack_paths([root], pak)
    keys = [ContentSet.key(t, n) for t, n, _b in content.assets]
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    print(f"switch interval {sys.getswitchinterval() * 1000:g} ms, gc.freeze {args.gc_freeze}")
    print(f"load average at start: {os.getloadavg()}")
    for r in range(args.repeats):
        for idle in (True, False):
            res = one_run(pak, keys, args.cpu_threads, args.late, idle)
            late = res["late"]
            state = "idle" if idle else f"{len(keys)} cold loads"
            print(f"\n=== run {r + 1}, {state}: {res['wall']:.3f} s, {res['ticks']} ticks, lateness ms "
                  f"p50 {pct(late, .5):.2f} p99 {pct(late, .99):.2f} max {max(late, default=0):.2f}; "
                  f"{res['late_count']} ticks > {args.late} ms totalling {res['late_window_ms']:.0f} ms")
            if idle or args.brief:
                if not idle:
                    print("  gc collections (generation: count, total ms, max ms):", res["gc"])
                continue
            print("  CPU s per thread:", ", ".join(f"{k} {v:.3f}" for k, v in sorted(res["thread_cpu"].items())
                                                   if v > 0))
            print("  hub time by greenlet (wall ms / cpu ms / runs):")
            for label, (wall, cpu, n) in sorted(res["hub_by_label"].items(), key=lambda kv: -kv[1][0]):
                print(f"    {label:40s} {wall * 1000:8.1f} {cpu * 1000:8.1f} {n:6d}")
            print("  longest non-hub spans (wall ms, label, cpu ms):",
                  "; ".join(f"{w * 1000:.1f} {lb} {c * 1000:.1f}" for w, lb, c in res["longest_spans"]))
            print("  pool tasks (n, median cpu us, max cpu us, total cpu s):")
            for k, (n, med, mx, tot) in sorted(res["tasks"].items()):
                print(f"    {k:40s} {n:6d} {med:8.0f} {mx:8.0f} {tot:7.3f}")
            print("  gc collections (generation: count, total ms, max ms):", res["gc"],
                  f"; gc time inside late windows: {res['gc_in_late']:.1f} ms")
            smp = res["sampler"]
            print(f"  hub stack samples: {smp.samples}; top inclusive (oxy + gevent frames):")
            for name, n in smp.inclusive.most_common(40):
                print(f"    {n:6d} {name}")
            print("  top leaf frames:", "; ".join(f"{n} {name}" for name, n in smp.leaf.most_common(12)))
            print("  stacks seen inside a loader greenlet running > 3 ms:")
            for name, n in smp.long.most_common(8):
                print(f"    {n:5d} {name}")
            print("  late windows attributed (ms):")
            for k, v in sorted(res["attrib"].items(), key=lambda kv: -kv[1]):
                print(f"    {k:55s} {v * 1000:8.1f}")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
