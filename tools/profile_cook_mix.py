#!/usr/bin/env python3
"""Where the real texture mix loses its 2-thread speed-up (issue 15, item 1).

    python tools/profile_cook_mix.py [--rounds 2] [--quality normal] [--strip-kb 64]
    python tools/profile_cook_mix.py --gil          # which cook phases release the GIL
    python tools/profile_cook_mix.py --ceiling      # the machine's own 2-thread kernel scaling

Default: the mix of ``tools/bench_cook.py --real`` (two 2048² albedo PNGs, a 1024²
normal map, six small PNG/TGA files, the 1k HDR; one job, ``cache=None``) cooked with
1 and 2 pool threads in alternating rounds, with probes wrapped around every phase of
a texture cook (source hash, decode, colour conversion, notes, mips, each strip
encode, the level encodes, payload packing) and around the hub's side (the emitter's
``emit``, the commit). Each probe records its thread, wall span and thread CPU time.
Printed per run:

* per phase: calls, wall seconds and CPU seconds summed over threads;
* per pool thread: busy share of the job (union of its spans), CPU seconds, and the
  CPU it spent *outside* GIL-free kernel calls (strip encodes, the mip kernel, the
  RGBE decode): Python holding the GIL (plus Pillow, see ``--gil``);
* the hub thread's CPU seconds (all of it holds the GIL);
* the *solo* time: how long exactly one pool thread had work, and which phase it was
  in (the serial parts: a decode, mips or packing that nothing else covers, the tail);
* per-strip CPU (median, microseconds per 1000 blocks) at 1 vs 2 threads: what two
  threads on the same image cost in cache and memory bandwidth;
* the fan-out's own overhead: time of the calling thread inside ``fanout.spread``
  not spent encoding strips (claims, waits for helpers' last strips).

Wall ratios are noisy on a shared machine; CPU accounting and the solo time are not
(much). ``--gil`` runs each phase beside a pure-Python ticker thread: the ticker's CPU
as a share of the phase's is ~1 when the phase releases the GIL, ~0 when it holds it. ``--ceiling`` encodes the strips of one 2048² image on one plain
thread, then on two (the same image, interleaved strips; and two different images)
and prints the CPU per strip in each case: the machine's own limit, no oxy code
between the kernel calls.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from typing import Any, Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

#: Phases whose time is a GIL-free kernel call (the rest of a pool thread's CPU is
#: Python holding the GIL, or a library call that may or may not release it).
GIL_FREE = frozenset({"strip", "mips", "rgbe"})


class Recorder:
    """Spans ``(thread native id, phase, label, t0, t1, cpu0, cpu1)`` from any thread."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, str, str, float, float, float, float]] = []
        self.on = False

    def wrap(self, phase: str, fn: Callable[..., Any], label: Callable[..., str] | None = None) -> Callable[..., Any]:
        def probe(*args: Any, **kwargs: Any) -> Any:
            if not self.on:
                return fn(*args, **kwargs)
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                c1, t1 = time.thread_time(), time.perf_counter()
                self.spans.append((threading.get_native_id(), phase, label(*args, **kwargs) if label else "",
                                   t0, t1, c0, c1))
        probe.__wrapped__ = fn  # type: ignore[attr-defined]
        return probe


class _KernelProxy:
    """Stands in for ``bc7._enc``: ``encode`` is a probe, the rest passes through."""

    def __init__(self, real: Any, recorder: Recorder) -> None:
        self._real = real
        self.encode = recorder.wrap("strip", real.encode, lambda image, *a: f"bc7 {image.shape[1]}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def install(recorder: Recorder) -> None:
    """Wrap the cook's phases (module globals the cook looks up at call time)."""
    from oxy.cook import bc7, bcn, image_decode, texture
    from oxy.hub import fanout
    from oxy.importing import emitters, session, texture_pipeline, units

    bc7._enc = _KernelProxy(bc7._enc, recorder)
    for name in ("encode_bc1", "encode_bc4", "encode_bc5", "encode_bc6h"):
        setattr(bcn, name, recorder.wrap("strip", getattr(bcn, name),
                                         lambda image, *a, _n=name: f"{_n[7:]} {image.shape[1]}"))
    texture.decode_image = recorder.wrap("decode", texture.decode_image, lambda data, name, **k: name)
    texture._working_pixels = recorder.wrap("colour", texture._working_pixels)
    texture.hdr_to_ldr_note = recorder.wrap("notes", texture.hdr_to_ldr_note)
    texture._format_notes = recorder.wrap("notes", texture._format_notes)
    texture.resolve_output = recorder.wrap("notes", texture.resolve_output)
    texture._mip_chain = recorder.wrap("mips", texture._mip_chain)
    texture._encode = recorder.wrap("encode", texture._encode, lambda level, *a: str(level.shape[1]))
    texture.pack_texture_payload = recorder.wrap("pack", texture.pack_texture_payload)
    units.texture_recipe = recorder.wrap("hash", units.texture_recipe)
    units.UnitStore.store = recorder.wrap("store", units.UnitStore.store)  # type: ignore[method-assign]
    texture_pipeline._cook_checked = recorder.wrap("task", texture_pipeline._cook_checked,
                                                   lambda sources, *a: sources[0][0])
    image_decode._decode_radiance = recorder.wrap("rgbe", image_decode._decode_radiance)
    fanout.spread = recorder.wrap("spread", fanout.spread)
    fanout._Spread.help = recorder.wrap("helper", fanout._Spread.help)  # type: ignore[method-assign]
    emitters.TextureEmitter.emit = recorder.wrap("hub emit", emitters.TextureEmitter.emit)  # type: ignore
    session.ImportSession.finalize = recorder.wrap("hub commit", session.ImportSession.finalize)  # type: ignore


class StateSampler:
    """Every ``period`` s: the state (R or not) of each thread of the process."""

    def __init__(self, period: float = 0.002) -> None:
        self.period = period
        self.samples: list[tuple[float, dict[int, bool]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from bench_cook import thread_states

        me = threading.get_native_id()
        while not self._stop.wait(self.period):
            states = thread_states(me)
            if states is None:
                return
            self.samples.append((time.perf_counter(), states))

    def __enter__(self) -> StateSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def thread_cpu() -> dict[int, float]:
    out: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = pathlib.Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _length(intervals: list[tuple[float, float]]) -> float:
    return sum(b - a for a, b in intervals)


def run_job(paths: list[pathlib.Path], threads: int, quality: str, recorder: Recorder) -> dict[str, Any]:
    """One job of the mix; returns the spans and accounting of its run."""
    from oxy.importing import AsyncImportService, ImportRequest

    root = pathlib.Path(tempfile.mkdtemp()) / "root"
    try:
        with AsyncImportService(cpu_threads=threads, cache=None) as service:
            recorder.spans.clear()
            hub_ident: list[int] = []
            before = thread_cpu()
            recorder.on = True
            start = time.perf_counter()
            with StateSampler() as sampler:
                report = service.submit(ImportRequest(str(paths[0]), str(root), options={
                    "sources": [str(p) for p in paths[1:]], "quality": quality})).wait()
            end = time.perf_counter()
            recorder.on = False
            after = thread_cpu()
            hub_ident = [tid for tid, _p, *_r in recorder.spans if _p.startswith("hub")][:1]
        assert report.success, [str(d) for d in report.diagnostics]
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)
    cpu = {tid: t - before.get(tid, 0.0) for tid, t in after.items()}
    return {"threads": threads, "wall": end - start, "start": start, "end": end, "spans": list(recorder.spans),
            "cpu": cpu, "hub": hub_ident[0] if hub_ident else None, "samples": sampler.samples}


def analyse(run: dict[str, Any]) -> list[str]:
    spans = run["spans"]
    wall, start = run["wall"], run["start"]
    out = [f"  {run['threads']} thread(s): wall {wall:.3f} s, process CPU {sum(run['cpu'].values()):.2f} s"]
    # per phase
    phases: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for _tid, phase, _label, t0, t1, c0, c1 in spans:
        row = phases[phase]
        row[0] += 1
        row[1] += t1 - t0
        row[2] += c1 - c0
    out.append("    phase          calls   wall s    CPU s   (nested: task > encode > spread > strip)")
    for phase in ("hash", "decode", "rgbe", "colour", "notes", "mips", "encode", "spread", "helper", "strip", "pack",
                  "store", "task", "hub emit", "hub commit"):
        if phase in phases:
            n, w, c = phases[phase]
            out.append(f"    {phase:12s} {int(n):7d} {w:8.3f} {c:8.3f}")
    # per pool thread
    pool = sorted({tid for tid, phase, *_ in spans if phase in ("task", "helper", "strip")})
    busy_by: dict[int, list[tuple[float, float]]] = {}
    for tid in pool:
        busy_by[tid] = _union([(t0, t1) for t, phase, _l, t0, t1, _c0, _c1 in spans
                               if t == tid and phase in ("task", "helper")])
        kernel_cpu = sum(c1 - c0 for t, phase, _l, _t0, _t1, c0, c1 in spans if t == tid and phase in GIL_FREE)
        task_cpu = sum(c1 - c0 for t, phase, _l, _t0, _t1, c0, c1 in spans if t == tid and phase in ("task", "helper"))
        decode_cpu = sum(c1 - c0 for t, phase, _l, _t0, _t1, c0, c1 in spans if t == tid and phase == "decode")
        rgbe_cpu = sum(c1 - c0 for t, phase, _l, _t0, _t1, c0, c1 in spans if t == tid and phase == "rgbe")
        out.append(f"    pool thread {tid}: busy {_length(busy_by[tid]) / wall * 100:5.1f} % of the job, "
                   f"CPU {run['cpu'].get(tid, 0.0):.2f} s (in tasks {task_cpu:.2f}); outside GIL-free kernels "
                   f"{task_cpu - kernel_cpu:.3f} s, of which Pillow decode {decode_cpu - rgbe_cpu:.3f} s")
    hub = run["hub"]
    if hub is not None:
        out.append(f"    hub thread {hub}: CPU {run['cpu'].get(hub, 0.0):.3f} s "
                   f"({run['cpu'].get(hub, 0.0) / wall * 100:.1f} % of the job; all of it holds the GIL)")
    others = sum(c for tid, c in run["cpu"].items() if tid not in pool and tid != hub)
    out.append(f"    other threads (I/O pool, sampler, main): CPU {others:.3f} s")
    if len(pool) >= 2:
        # solo time: exactly one pool thread inside a task or helper span
        edges: list[tuple[float, int]] = []
        for tid in pool:
            for a, b in busy_by[tid]:
                edges += [(a, 1), (b, -1)]
        edges.sort()
        level, last, solo, idle = 0, start, [], 0.0
        for t, step in edges:
            if level == 1:
                solo.append((last, t))
            elif level == 0:
                idle += t - last
            level += step
            last = t
        idle += max(0.0, run["end"] - last)
        by_phase: dict[str, float] = defaultdict(float)
        for a, b in solo:
            for tid, phase, label, t0, t1, _c0, _c1 in spans:
                if phase in ("decode", "colour", "notes", "mips", "pack", "hash", "strip") and t0 < b and t1 > a:
                    by_phase[phase if phase != "strip" else "strip (alone)"] += min(b, t1) - max(a, t0)
        tail = max(0.0, run["end"] - max((b for iv in busy_by.values() for _a, b in iv), default=run["end"]))
        out.append(f"    solo (one pool thread busy): {_length(solo):.3f} s = {_length(solo) / wall * 100:.1f} % "
                   f"of the job; no pool thread busy: {idle:.3f} s (after the last task: {tail:.3f} s)")
        out.append("      solo time by phase: " + ", ".join(f"{k} {v:.3f} s" for k, v in
                                                          sorted(by_phase.items(), key=lambda kv: -kv[1])))
        late = sorted(((t1, label) for _tid, phase, label, _t0, t1, *_ in spans if phase == "task"))[-3:]
        out.append("      last tasks to end: " + ", ".join(f"{label} at {t - start:.2f} s" for t, label in late))
    strips = [(c1 - c0, label) for _t, phase, label, _t0, _t1, c0, c1 in spans if phase == "strip"]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for cost, label in strips:
        by_kind[label].append(cost)
    out.append("    strip CPU (median ms per strip, by encoder and width): " + ", ".join(
        f"{k} {statistics.median(v) * 1000:.2f} (n={len(v)})" for k, v in sorted(by_kind.items()) if len(v) >= 8))
    spread_wall = sum(t1 - t0 for _t, phase, *_r, t0, t1, _c0, _c1 in [(s[0], s[1], s[2], s[3], s[4], s[5], s[6])
                                                                        for s in spans] if phase == "spread")
    spread_strips = join_wait = 0.0
    for tid, phase, _l, t0, t1, _c0, _c1 in spans:
        if phase == "spread":
            own = [(a, b) for t, p, _x, a, b, _y, _z in spans if t == tid and p == "strip" and a >= t0 and b <= t1]
            spread_strips += sum(b - a for a, b in own)
            join_wait += t1 - max((b for _a, b in own), default=t0)
    if spread_wall:
        out.append(f"    fan-out caller: {spread_wall:.3f} s in spread, {spread_strips:.3f} s of it encoding strips; "
                   f"{join_wait:.3f} s after its last strip (waiting for helpers' last strips), "
                   f"{spread_wall - spread_strips - join_wait:.3f} s between strips (claims, progress, Python)")
    samples = run["samples"]
    if samples and pool:
        both = sum(1 for _t, st in samples if sum(st.get(tid, False) for tid in pool) >= 2)
        out.append(f"    /proc samples every 2 ms: both pool threads running {both / len(samples) * 100:.1f} %, "
                   f"mean runnable threads {statistics.mean(sum(st.values()) for _t, st in samples):.2f}")
    return out


def profile(rounds: int, quality: str, strip_kb: int, order: str) -> int:
    import bench_cook

    from oxy.cook import strips

    strips.STRIP_BYTES = strip_kb * 1024
    recorder = Recorder()
    install(recorder)
    folder = pathlib.Path(tempfile.mkdtemp())
    try:
        paths = bench_cook.make_real_mix(folder / "mix")
        run_job(paths[3:], 2, quality, recorder)  # warm-up
        if order == "largest":  # submitted largest file first (what a largest-first scheduler would do)
            paths = sorted(paths, key=lambda p: -p.stat().st_size)
        print(f"real mix, {len(paths)} textures ({order} order), BC7 {quality}, strips of {strip_kb} KB, "
              f"{os.cpu_count()} cores, load {bench_cook.load()}")
        walls: dict[int, list[float]] = {1: [], 2: []}
        cpus: dict[int, list[float]] = {1: [], 2: []}
        for r in range(rounds):
            for threads in ((1, 2) if r % 2 == 0 else (2, 1)):
                run = run_job(paths, threads, quality, recorder)
                walls[threads].append(run["wall"])
                cpus[threads].append(sum(run["cpu"].values()))
                print(f"round {r + 1}, load {bench_cook.load()}")
                print("\n".join(analyse(run)))
        m1, m2 = statistics.median(walls[1]), statistics.median(walls[2])
        c1, c2 = statistics.median(cpus[1]), statistics.median(cpus[2])
        print(f"median wall 1 thread {m1:.3f} s, 2 threads {m2:.3f} s -> {m1 / m2:.2f}x; process CPU {c1:.2f} s vs "
              f"{c2:.2f} s (2 threads use {(c2 / c1 - 1) * 100:+.1f} %); CPU-bound ceiling 2 x {c1:.2f} / {c2:.2f} = "
              f"{2 * c1 / c2:.2f}x; load {bench_cook.load()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def _gil_free_share(fn: Callable[[], object], repeat: int = 3) -> tuple[float, float]:
    """(CPU seconds of ``fn``, the share of them during which a pure-Python ticker on
    another thread got CPU as well): ~1 when ``fn`` releases the GIL (given a free
    core), ~0 when it holds it. Best of ``repeat``."""
    best = (0.0, 0.0)
    for _ in range(repeat):
        stop = threading.Event()
        ticker_cpu = [0.0]

        def tick() -> None:
            c0 = time.thread_time()
            n = 0
            while not stop.is_set():
                n += 1
            ticker_cpu[0] = time.thread_time() - c0

        ticker = threading.Thread(target=tick)
        ticker.start()
        time.sleep(0.01)
        c0 = time.thread_time()
        fn()
        cost = time.thread_time() - c0
        stop.set()
        ticker.join()
        share = min(1.0, ticker_cpu[0] / max(cost, 1e-9))
        best = max(best, (share, cost))
    return best[1], best[0]


def gil(quality: str) -> int:
    """Which phases run in parallel on two plain threads."""
    import bench_cook
    import numpy as np

    from oxy.cook import texture
    from oxy.cook.image_decode import decode_image
    from oxy.importing.units import texture_recipe

    folder = pathlib.Path(tempfile.mkdtemp())
    try:
        paths = bench_cook.make_real_mix(folder / "mix")
        blobs = {p.name: p.read_bytes() for p in paths}
        big = blobs["wrinkles_2048.png"]
        image = decode_image(big, "w")
        albedo = texture.settings_for("albedo", quality=quality)
        hdr = decode_image(blobs["royal_esplanade_1k.hdr"], "h")
        level0 = texture._working_pixels(image, albedo)
        chain = texture._mip_chain(level0, albedo)
        subs = [texture._encode(level, texture.output_format(albedo), albedo) for level in chain]
        shape = texture.TextureShape(width=2048, height=2048, format=texture.output_format(albedo),
                                     mip_levels=len(chain))
        from PIL import Image
        import io
        jpg = io.BytesIO()
        Image.fromarray(level0[..., :3]).save(jpg, "JPEG", quality=90)
        cases: list[tuple[str, Callable[[], object]]] = [
            ("sha256 of the 2048² PNG (hash)", lambda: texture_recipe([("w", big)], albedo, "2d")),
            ("Pillow PNG decode 2048²", lambda: decode_image(big, "w")),
            ("Pillow JPEG decode 2048²", lambda: decode_image(jpg.getvalue(), "w.jpg")),
            ("Pillow TGA decode (Concrete.tga)", lambda: decode_image(blobs["Concrete.tga"], "c")),
            ("RGBE decode 1k HDR", lambda: decode_image(blobs["royal_esplanade_1k.hdr"], "h")),
            ("hdr_to_ldr / format notes (HDR)", lambda: texture._format_notes([hdr], texture.settings_for("hdr"))),
            ("mip chain 2048² sRGB", lambda: texture._mip_chain(level0, albedo)),
            ("pack payload 2048² BC7", lambda: texture.pack_texture_payload(shape, subs)),
            ("numpy table lookup 2048² (uint8 -> float)",
             lambda: np.arange(256, dtype=np.float32)[level0]),
        ]
        print(f"each phase with a pure-Python ticker thread beside it: the ticker's CPU as a share of the "
              f"phase's (~1: the phase releases the GIL; ~0: it holds it); load {bench_cook.load()}")
        for name, fn in cases:
            fn()
            cost, share = _gil_free_share(fn)
            print(f"  {name:44s} {cost * 1000:8.1f} ms CPU, GIL-free share {share:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def ceiling(quality: str, repeat: int = 3) -> int:
    """The kernel's own 2-thread scaling: CPU per strip on 1 vs 2 plain threads."""
    import bench_cook
    import numpy as np

    from oxy.cook import bc7
    from oxy.cook.image_decode import decode_image

    folder = pathlib.Path(tempfile.mkdtemp())
    try:
        paths = bench_cook.make_real_mix(folder / "mix")
        a = decode_image(paths[0].read_bytes(), "a").pixels
        b = decode_image(paths[1].read_bytes(), "b").pixels
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    level = bc7.QUALITIES.index(quality)
    enc = bc7._enc

    def work(jobs: list[tuple[np.ndarray, int, int]], costs: list[float]) -> None:
        for image, top, rows in jobs:
            c0 = time.thread_time()
            enc.encode(image[top:top + rows], level, False)
            costs.append(time.thread_time() - c0)

    print(f"BC7 {quality} strips of two 2048² images (rows 0-1023 of each) on plain threads (no oxy code "
          f"between kernel calls), {repeat} alternating repeats, medians; load {bench_cook.load()}")
    for rows in (8, 32):
        strips_a = [(a, top, rows) for top in range(0, 1024, rows)]
        strips_b = [(b, top, rows) for top in range(0, 1024, rows)]
        cases = {
            "1 thread": [strips_a + strips_b],
            "2 threads, same images, interleaved strips": [strips_a[0::2] + strips_b[0::2],
                                                           strips_a[1::2] + strips_b[1::2]],
            "2 threads, one image each": [strips_a, strips_b],
        }
        walls: dict[str, list[float]] = defaultdict(list)
        cpus: dict[str, list[float]] = defaultdict(list)
        for r in range(repeat):
            for name in (list(cases) if r % 2 == 0 else list(cases)[::-1]):
                costs: list[float] = []
                workers = [threading.Thread(target=work, args=(jobs, costs)) for jobs in cases[name]]
                t0 = time.perf_counter()
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                walls[name].append(time.perf_counter() - t0)
                cpus[name].append(sum(costs))
        base = statistics.median(cpus["1 thread"])
        for name in cases:
            cpu = statistics.median(cpus[name])
            print(f"  {rows:2d}-row strips, {name:42s}: wall {statistics.median(walls[name]):.3f} s, "
                  f"CPU {cpu:.3f} s ({(cpu / base - 1) * 100:+.1f} % vs 1 thread)")
    print(f"  load after: {bench_cook.load()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quality", default="normal")
    parser.add_argument("--strip-kb", type=int, default=64)
    parser.add_argument("--gil", action="store_true")
    parser.add_argument("--ceiling", action="store_true")
    parser.add_argument("--order", choices=("bench", "largest"), default="bench",
                        help="the sources in bench_cook's order, or largest file first")
    parser.add_argument("--repeat", type=int, default=3, help="--ceiling: alternating repeats (medians)")
    args = parser.parse_args()
    if args.gil:
        return gil(args.quality)
    if args.ceiling:
        return ceiling(args.quality, args.repeat)
    return profile(args.rounds, args.quality, args.strip_kb, args.order)


if __name__ == "__main__":
    sys.exit(main())
