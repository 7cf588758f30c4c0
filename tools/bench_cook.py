#!/usr/bin/env python3
"""Benchmark the texture cook end to end (issue 5).

    python tools/bench_cook.py [--count 16] [--size 512] [--quality normal] [--memory]
    python tools/bench_cook.py --real [--rounds 5] [--quality normal]
    python tools/bench_cook.py --cancel [--rounds 10]
    python tools/bench_cook.py --scenes [--together] [--isolate-parsers] [--phases] [--rounds 5]

In one run, on the same 16 natural images (scikit-image's bundled photos, resized;
the corpus images when scikit-image is missing):

1. the async pipeline (AsyncImportService -> TexturePipeline -> emitters -> index)
   with 1 CPU thread vs 2: the speed-up (floor 1.7x, goal 1.9x);
2. the async pipeline on 1 thread vs the sum of the pure cook calls
   (decode + mips + BC7 + payload) run back to back: the overhead ratio
   (floor <= 1.10, goal 1.05);
3. with --memory: peak RSS of a fresh process cooking 16 vs 64 textures (must not
   grow with the count).

``--real`` (issue 15): the realistic mix where one texture dominates -- two 2048²
albedo textures (the corpus photos Wrinkles.jpg resized and drkwood2.jpg tiled), a
1024² normal map (derived from Wrinkles.jpg as a height field; preset ``normal``
through a sidecar), the corpus' small PNG/TGA files and its 1k HDR (preset ``hdr``)
-- cooked as one job with 1 pool thread, 2 threads, and 2 threads with the
intra-texture fan-out off (``oxy.hub.fanout.ENABLED``), in alternating rounds;
prints per-round and median ratios (floor 1.8x, goal 1.9x) and the load average.

``--cancel``: how long after a job cancel the CPU pool is free (no strip encoding)
while a 2048² BC7 texture is encoding over 2 pool threads (floor 50 ms).

``--scenes``: the corpus glTF/FBX models imported with 1 vs 2 threads, alternating:
each as its own job, one after the other, or with ``--together`` all in one cook
(the requests ``oxy cook MODEL...`` makes); ``--isolate-parsers`` parses in worker
processes, ``--phases`` prints where the pool time went (per function: wall, CPU,
queued). Wall ratios, process CPU seconds and mean runnable threads, medians.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus"


def make_images(folder: pathlib.Path, count: int, size: int) -> list[pathlib.Path]:
    """``count`` distinct RGBA PNGs of ``size``x``size`` from natural photographs."""
    import numpy as np
    from PIL import Image

    try:
        from skimage import data as skdata
        photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket(), skdata.immunohistochemistry()]
    except ImportError:
        photos = [np.asarray(Image.open(CORPUS / "images" / n).convert("RGB"))
                  for n in ("Wrinkles.jpg", "Concrete.tga")]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        photo = Image.fromarray(photos[i % len(photos)]).convert("RGBA")
        w, h = photo.size
        crop = (i * 13 % max(1, w // 4), i * 7 % max(1, h // 4))  # every image distinct
        photo = photo.crop((crop[0], crop[1], w - (i * 5 % 17), h)).resize((size, size), Image.LANCZOS)
        path = folder / f"tex{i:03d}.png"
        photo.save(path)
        paths.append(path)
    return paths


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of every thread of this process, by native id
    (Linux /proc; empty elsewhere)."""
    out: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            stat = pathlib.Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def thread_states(skip: int) -> dict[int, bool] | None:
    """Each thread of this process but ``skip`` (a native thread id): whether it is
    running or runnable (state R in /proc/self/task/*/stat). None where /proc has no
    task list (not Linux); a thread that ends while being read is left out."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    states: dict[int, bool] = {}
    for tid in tasks:
        if int(tid) == skip:
            continue
        try:
            stat = pathlib.Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        states[int(tid)] = stat[stat.rindex(")") + 2] == "R"
    return states


class Runnable:
    """Samples, every ``period`` s on its own thread, how many threads of this process
    (other than itself) are running or runnable (state R in /proc): the parallelism a
    job keeps up, whatever share of the cores other processes take (Linux only)."""

    def __init__(self, period: float = 0.005) -> None:
        import threading

        self.period = period
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import threading

        me = threading.get_native_id()
        while not self._stop.wait(self.period):
            states = thread_states(me)
            if states is None:
                return
            self.samples.append(sum(states.values()))

    def __enter__(self) -> Runnable:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return sum(self.samples) / max(1, len(self.samples))


def cook_async(paths: list[pathlib.Path], threads: int, quality: str, cpu: list[float] | None = None,
               runnable: list[float] | None = None, **service_options: object) -> float:
    """Wall seconds of one job cooking ``paths``. ``cpu``: filled with the CPU seconds
    each thread of the process spent during the job (largest first); ``runnable``:
    with the mean number of runnable threads during the job (:class:`Runnable`)."""
    from oxy.importing import AsyncImportService, ImportRequest

    root = pathlib.Path(tempfile.mkdtemp()) / "root"
    try:
        with AsyncImportService(cpu_threads=threads, **service_options) as service:
            before = thread_cpu()
            start = time.perf_counter()
            with Runnable() as sampler:
                report = service.submit(ImportRequest(str(paths[0]), str(root), options={
                    "sources": [str(p) for p in paths[1:]], "quality": quality})).wait()
            elapsed = time.perf_counter() - start
            if runnable is not None:
                runnable[:] = [sampler.mean]
            if cpu is not None:
                after = thread_cpu()
                cpu[:] = sorted((t - before.get(tid, ("", 0.0))[1] for tid, (_n, t) in after.items()), reverse=True)
        assert report.success, [str(d) for d in report.diagnostics]
        return elapsed
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


def cook_kernels(paths: list[pathlib.Path], quality: str) -> float:
    from oxy.cook.texture import cook_texture_files, settings_for

    settings = settings_for("albedo", quality=quality)
    blobs = [(p.name, p.read_bytes()) for p in paths]
    start = time.perf_counter()
    for blob in blobs:
        cook_texture_files([blob], settings)
    return time.perf_counter() - start


def best(fn, repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def peak_rss_mb(count: int, size: int, quality: str) -> float:
    code = (f"import sys, pathlib, tempfile, resource; sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r}); "
            f"import bench_cook as b; d = pathlib.Path(tempfile.mkdtemp()); "
            f"paths = b.make_images(d / 'img', {count}, {size}); "
            f"base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
            f"b.cook_async(paths, 2, {quality!r}); "
            f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, base)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]) / 1024


# -- issue 15: the real mix, cancel latency, corpus scenes ---------------------------------------------

SMALL = ("images/Concrete.tga", "images/net.png", "images/This Way Up.png", "images/basn6a16.png",
         "models/gltf_Duck/DuckCM.png", "models/gltf_BoxTextured/CesiumLogoFlat.png")


def make_real_mix(folder: pathlib.Path) -> list[pathlib.Path]:
    """The issue's mix, from the corpus' real images (see the module docstring)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    wrinkles = Image.open(CORPUS / "images" / "Wrinkles.jpg").convert("RGB")
    wrinkles.resize((2048, 2048), Image.LANCZOS).save(folder / "wrinkles_2048.png")
    wood = np.asarray(Image.open(CORPUS / "models" / "obj_spider" / "drkwood2.jpg").convert("RGB"))
    Image.fromarray(np.tile(wood, (3, 3, 1))[:2048, :2048]).save(folder / "wood_2048.png")
    height = np.asarray(wrinkles.convert("L").resize((1024, 1024), Image.LANCZOS), np.float32) / 255.0
    gy, gx = np.gradient(height * 8.0)
    normal = np.stack([-gx, -gy, np.ones_like(gx)], axis=2)
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    Image.fromarray(np.rint((normal * 0.5 + 0.5) * 255).astype(np.uint8)).save(folder / "wrinkles_normal_1024.png")
    (folder / "wrinkles_normal_1024.png.oxy.toml").write_text('preset = "normal"\n')
    paths = [folder / "wrinkles_2048.png", folder / "wood_2048.png", folder / "wrinkles_normal_1024.png"]
    for rel in SMALL:
        target = folder / pathlib.Path(rel).name
        shutil.copyfile(CORPUS / rel, target)
        paths.append(target)
    hdr = folder / "royal_esplanade_1k.hdr"
    shutil.copyfile(CORPUS / "images" / "royal_esplanade_1k.hdr", hdr)
    (folder / "royal_esplanade_1k.hdr.oxy.toml").write_text('preset = "hdr"\n')
    paths.append(hdr)
    return paths


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def cook_mix(paths: list[pathlib.Path], threads: int, quality: str, fan_out: bool = True,
             cpu: list[float] | None = None, runnable: list[float] | None = None) -> float:
    from oxy.hub import fanout

    before = fanout.ENABLED
    fanout.ENABLED = fan_out
    try:
        return cook_async(paths, threads, quality, cpu, runnable, cache=None)
    finally:
        fanout.ENABLED = before


def bench_real(rounds: int, quality: str) -> int:
    folder = pathlib.Path(tempfile.mkdtemp())
    try:
        paths = make_real_mix(folder / "mix")
        cook_mix(paths[3:], 2, quality)  # warm-up: imports, kernels, page cache
        print(f"real mix ({len(paths)} textures: 2x 2048², 1024² normal, {len(SMALL)} small PNG/TGA, 1k HDR), "
              f"BC7 {quality}, {os.cpu_count()} cores, load average before: {load()}")
        single: dict[tuple[int, bool], list[float]] = {(1, True): [], (2, True): [], (2, False): []}
        single_par: dict[tuple[int, bool], list[float]] = {key: [] for key in single}
        for r in range(rounds):  # one 2048² texture alone: what the fan-out changes most
            for key in ([(1, True), (2, True), (2, False)] if r % 2 == 0 else [(2, False), (2, True), (1, True)]):
                runs: list[float] = []
                single[key].append(cook_mix(paths[:1], key[0], quality, key[1], None, runs))
                single_par[key].append(runs[0])
        s1, s2, sf = (_median(single[k]) for k in ((1, True), (2, True), (2, False)))
        print(f"  one 2048² texture alone, medians of {rounds}: 1 thread {s1:.3f} s, 2 threads {s2:.3f} s "
              f"({s1 / s2:.2f}x; runnable {_median(single_par[(2, True)]):.2f}), fan-out off {sf:.3f} s "
              f"({s1 / sf:.2f}x; runnable {_median(single_par[(2, False)]):.2f})   load {load()}")
        one, two, flat = [], [], []
        par: dict[tuple[int, bool], list[float]] = {(1, True): [], (2, True): [], (2, False): []}
        cpu_total: dict[tuple[int, bool], list[float]] = {key: [] for key in par}
        for r in range(rounds):
            order = [(1, True), (2, True), (2, False)] if r % 2 == 0 else [(2, False), (2, True), (1, True)]
            cpus: dict[tuple[int, bool], list[float]] = {key: [] for key in order}
            runs: dict[tuple[int, bool], list[float]] = {key: [] for key in order}
            got = {key: cook_mix(paths, key[0], quality, key[1], cpus[key], runs[key]) for key in order}
            one.append(got[(1, True)])
            two.append(got[(2, True)])
            flat.append(got[(2, False)])
            for key in order:
                par[key].append(runs[key][0])
                cpu_total[key].append(sum(cpus[key]))
            print(f"  round {r + 1}: 1 thread {one[-1]:6.3f} s | 2 threads {two[-1]:6.3f} s "
                  f"({one[-1] / two[-1]:.2f}x; runnable {par[(2, True)][-1]:.2f}) | 2 threads, fan-out off "
                  f"{flat[-1]:6.3f} s ({one[-1] / flat[-1]:.2f}x; runnable {par[(2, False)][-1]:.2f})   "
                  f"load {load()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    m1, m2, mf = _median(one), _median(two), _median(flat)
    print(f"  median: 1 thread {m1:.3f} s, 2 threads {m2:.3f} s -> {m1 / m2:.2f}x (floor 1.8, goal 1.9); "
          f"fan-out off {mf:.3f} s -> {m1 / mf:.2f}x")
    print(f"  best:   1 thread {min(one):.3f} s, 2 threads {min(two):.3f} s -> {min(one) / min(two):.2f}x; "
          f"fan-out off {min(flat):.3f} s -> {min(one) / min(flat):.2f}x")
    print(f"  mean runnable threads during the job (sampled every 5 ms; load-independent parallelism): "
          f"1 thread {_median(par[(1, True)]):.2f}, 2 threads {_median(par[(2, True)]):.2f}, "
          f"2 threads fan-out off {_median(par[(2, False)]):.2f}")
    print(f"  process CPU seconds (median): 1 thread {_median(cpu_total[(1, True)]):.2f}, 2 threads "
          f"{_median(cpu_total[(2, True)]):.2f}, fan-out off {_median(cpu_total[(2, False)]):.2f}")
    print(f"  load average after: {load()}")
    return 0


def bench_cancel(rounds: int, quality: str) -> int:
    """Cancel a 2048² BC7 cook at several points and time until no strip is encoding."""
    import threading

    import numpy as np

    from oxy.cook import bc7
    from oxy.cook.texture import watch_progress
    from oxy.importing import AsyncImportService, ImportRequest

    real = bc7._enc

    class Spy:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.running = 0
            self.last_end = 0.0
            self.threads: set[int] = set()
            self.times: list[float] = []

        def encode(self, image: np.ndarray, *args: object) -> bytes:
            with self.lock:
                self.running += 1
                self.threads.add(threading.get_ident())
            start = time.perf_counter()
            try:
                return real.encode(image, *args)
            finally:
                end = time.perf_counter()
                with self.lock:
                    self.running -= 1
                    self.last_end = end
                    if image.shape[1] == 2048:
                        self.times.append(end - start)

    folder = pathlib.Path(tempfile.mkdtemp())
    latencies: list[float] = []
    spy = Spy()
    bc7._enc = spy
    try:
        paths = make_real_mix(folder / "mix")
        source = paths[0]
        with AsyncImportService(cpu_threads=2, cache=None) as service:
            for r in range(rounds):
                reports = threading.Event()
                count = {"n": 0}
                wanted = 3 + 5 * r  # cancel after this many strips reported

                def sink(_name: str, _done: int, _total: int) -> None:
                    count["n"] += 1
                    if count["n"] >= wanted:
                        reports.set()

                with watch_progress([source.name, str(source)], sink):
                    handle = service.submit(ImportRequest(str(source), str(folder / f"root{r}"),
                                                          options={"quality": quality}))
                    if not reports.wait(300):
                        raise SystemExit("no progress reported")
                    cancelled_at = time.perf_counter()
                    handle.cancel()
                    report = handle.wait(300)
                    reported = time.perf_counter() - cancelled_at
                    while True:  # poll (a tool, not a test) until no strip is encoding
                        with spy.lock:
                            if spy.running == 0:
                                break
                        time.sleep(0.0005)
                    free = max(0.0, spy.last_end - cancelled_at)
                latencies.append(free)
                print(f"  cancel after {wanted:3d} strips: pool free {free * 1000:6.1f} ms after the cancel "
                      f"(report {reported * 1000:6.1f} ms, cancelled={report.cancelled if report else None})")
    finally:
        bc7._enc = real
        shutil.rmtree(folder, ignore_errors=True)
    strip = _median(spy.times) if spy.times else 0.0
    print(f"cancel latency, 2048² BC7 {quality} on 2 pool threads ({len(spy.threads)} threads encoded strips): "
          f"median {_median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms (floor 50 ms); "
          f"one strip ({bc7.strip_rows(2048)} rows x 2048) takes {strip * 1000:.1f} ms median; load {load()}")
    return 0


def corpus_models() -> list[pathlib.Path]:
    """The corpus glTF / GLB / FBX models, sorted by path."""
    return sorted(p for p in (CORPUS / "models").glob("*/*") if p.suffix.lower() in (".gltf", ".glb", ".fbx"))


def model_requests(models: list[pathlib.Path], root: pathlib.Path) -> list:
    """The requests ``oxy cook MODEL... -o ROOT`` makes (oxy.cli.cook_cmd): up to
    MODELS_PER_JOB models per job, each named by its unique stem, quality normal."""
    from oxy.cli.cook_cmd import MODELS_PER_JOB, unique_names
    from oxy.importing import ImportRequest

    paths = [str(m) for m in models]
    names = unique_names(paths)
    batches = [paths[i:i + MODELS_PER_JOB] for i in range(0, len(paths), MODELS_PER_JOB)]
    return [ImportRequest(batch[0], str(root), options={
        "quality": "normal", "name_prefix": names[batch[0]], "scene_name": names[batch[0]],
        "models": [{"path": p, "name_prefix": names[p], "scene_name": names[p]} for p in batch[1:]] or None})
        for batch in batches]


class PoolTimes:
    """Per-phase accounting of pool tasks (``--phases``): wraps ``Pools._run`` so every
    ``run_blocking`` / ``run_io`` task records its function, wall seconds on the pool
    thread, that thread's CPU seconds, and how long it queued. Fan-out helper tasks
    (strips of a texture that another task started) are not ``_run`` calls: their CPU
    shows in the process total, not here."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[float]] = {}
        self.spans: list[tuple[float, float]] = []  # CPU-pool tasks (helpers too): (start, end)
        self._original = None
        self._original_helper = None

    @staticmethod
    def _name(fn: object, args: tuple) -> str:
        def plain(f: object) -> str:
            f = getattr(f, "func", f)
            return getattr(f, "__qualname__", None) or type(f).__name__
        name = plain(fn)
        if name == "_call_naming_the_file" and args:
            name += ":" + plain(args[0])
        return name

    def __enter__(self) -> PoolTimes:
        import threading

        from oxy.hub import pools

        self._original = original = pools.Pools._run
        self._original_helper = original_helper = pools.Pools._submit_helper
        rows, spans, lock = self.rows, self.spans, threading.Lock()

        def timed_helper(pool_self, fn):  # type: ignore[no-untyped-def]
            def run() -> object:
                start = time.perf_counter()
                try:
                    return fn()
                finally:
                    with lock:
                        spans.append((start, time.perf_counter()))
            return original_helper(pool_self, run)
        pools.Pools._submit_helper = timed_helper

        def timed_run(pool_self, pool, fn, args, kwargs, nice=0):  # type: ignore[no-untyped-def]
            kind = "cpu" if pool is pool_self.cpu else "io"
            key, queued = (kind, self._name(fn, args)), time.perf_counter()

            def run(*a, **k):  # type: ignore[no-untyped-def]
                start, cpu = time.perf_counter(), time.thread_time()
                try:
                    return fn(*a, **k)
                finally:
                    with lock:
                        if kind == "cpu":
                            spans.append((start, time.perf_counter()))
                        row = rows.setdefault(key, [0, 0.0, 0.0, 0.0])
                        row[0] += 1
                        row[1] += time.perf_counter() - start
                        row[2] += time.thread_time() - cpu
                        row[3] += start - queued
            return original(pool_self, pool, run, args, kwargs, nice)
        pools.Pools._run = timed_run
        return self

    def __exit__(self, *exc: object) -> None:
        from oxy.hub import pools

        pools.Pools._run = self._original
        pools.Pools._submit_helper = self._original_helper

    def clear(self) -> None:
        self.rows.clear()
        self.spans.clear()
        self.started = time.perf_counter()

    def occupancy(self, end: float) -> list[float]:
        """Share of the wall time since :meth:`clear` with 0, 1, 2, ... CPU-pool tasks running."""
        edges = sorted([(s, 1) for s, _e in self.spans] + [(e, -1) for _s, e in self.spans])
        shares: dict[int, float] = {}
        busy, last = 0, self.started
        for at, step in edges:
            shares[busy] = shares.get(busy, 0.0) + max(0.0, at - last)
            busy, last = busy + step, max(last, at)
        shares[busy] = shares.get(busy, 0.0) + max(0.0, end - last)
        total = max(1e-9, end - self.started)
        return [shares.get(k, 0.0) / total for k in range(max(shares) + 1)]

    def print(self, title: str, wall: float, cpu: float, end: float) -> None:
        shares = ", ".join(f"{k} busy {share:.0%}" for k, share in enumerate(self.occupancy(end)))
        print(f"    {title}: wall {wall:.3f} s, process CPU {cpu:.3f} s; CPU pool: {shares}; pool tasks (calls, "
              f"wall on the pool thread, its CPU, queued):")
        for (kind, name), (n, w, c, q) in sorted(self.rows.items(), key=lambda kv: -kv[1][1])[:12]:
            print(f"      {kind:3s} {name[:52]:52s} {int(n):4d}  wall {w:6.3f}  cpu {c:6.3f}  queued {q:6.3f}")


def bench_scenes(rounds: int, together: bool = False, isolate: bool = False, phases: bool = False) -> int:
    """The corpus models with 1 vs 2 pool threads, alternating: each imported as its own
    job (one after the other), or with ``together`` all in one cook the way ``oxy cook
    MODEL...`` runs them (its requests, ``max_concurrent_jobs=1``), then also with 2
    threads and the look-ahead across models off (one model after the other, as before
    it); wall, process CPU seconds and mean runnable threads per configuration, medians,
    the load average."""
    from oxy.importing import AsyncImportService, ImportRequest
    from oxy.importing.scene import importer

    models = corpus_models()
    mode = "all in one cook (oxy cook's requests)" if together else "one job per model, one after the other"
    print(f"corpus scenes ({len(models)} models, {mode}; parsers {'isolated' if isolate else 'in-process'}), "
          f"{os.cpu_count()} cores, load average before: {load()}")
    folder = pathlib.Path(tempfile.mkdtemp())
    timer = PoolTimes() if phases else None
    ahead = (importer.MODELS_AHEAD, importer.MODELS_AHEAD_MAX)

    def one_run(threads: int, lookahead: bool = True) -> tuple[list[float], float, float]:
        """(wall per job, process CPU seconds, mean runnable threads) of one configuration."""
        walls = []
        importer.MODELS_AHEAD, importer.MODELS_AHEAD_MAX = ahead if lookahead else (0, 0)
        try:
            with AsyncImportService(cpu_threads=threads, cache=None, isolate_parsers=isolate,
                                    max_concurrent_jobs=1 if together else None) as service:
                if isolate:  # start the parser workers outside the measurement
                    service.submit(ImportRequest(str(models[0]), str(folder / f"w{time.time_ns()}"))).wait(600)
                if timer is not None:
                    timer.clear()
                cpu0, start_all = time.process_time(), time.perf_counter()
                with Runnable() as sampler:
                    if together:
                        root = folder / f"t{threads}-{time.time_ns()}"
                        handles = [service.submit(r) for r in model_requests(models, root)]
                        reports = [h.wait(600) for h in handles]
                        walls.append(time.perf_counter() - start_all)
                        if not all(r and r.success for r in reports):
                            print(f"  note: the cook failed: {[str(d) for r in reports if r for d in r.diagnostics][:3]}")
                    else:
                        for i, model in enumerate(models):
                            start = time.perf_counter()
                            report = service.submit(ImportRequest(
                                str(model), str(folder / f"r{threads}-{time.time_ns()}-{i}"))).wait(600)
                            walls.append(time.perf_counter() - start)
                            if not (report and report.success):
                                print(f"  note: {model.name} did not import cleanly")
                cpu, end = time.process_time() - cpu0, time.perf_counter()
        finally:
            importer.MODELS_AHEAD, importer.MODELS_AHEAD_MAX = ahead
        if timer is not None:
            timer.print(f"{threads} thread{'s' if threads > 1 else ''}{'' if lookahead else ', look-ahead off'}",
                        end - start_all, cpu, end)
        return walls, cpu, sampler.mean

    configs = [(1, True), (2, True), (2, False)] if together else [(1, True), (2, True)]
    walls: dict[tuple[int, bool], list[list[float]]] = {c: [] for c in configs}
    cpus: dict[tuple[int, bool], list[float]] = {c: [] for c in configs}
    par: dict[tuple[int, bool], list[float]] = {c: [] for c in configs}
    try:
        with timer if timer is not None else _nothing():
            one_run(2)  # warm-up: pyassimp, libassimp, the parser worker
            for r in range(rounds):
                for config in (configs if r % 2 == 0 else configs[::-1]):
                    w, cpu, runnable = one_run(*config)
                    walls[config].append(w)
                    cpus[config].append(cpu)
                    par[config].append(runnable)
                one, two = sum(walls[(1, True)][-1]), sum(walls[(2, True)][-1])
                line = (f"  round {r + 1}: 1 thread {one:.3f} s, 2 threads {two:.3f} s ({one / two:.2f}x; CPU "
                        f"{cpus[(1, True)][-1]:.3f} / {cpus[(2, True)][-1]:.3f} s; runnable {par[(1, True)][-1]:.2f} / "
                        f"{par[(2, True)][-1]:.2f})")
                if together:
                    off = sum(walls[(2, False)][-1])
                    line += f" | look-ahead off, 2 threads {off:.3f} s ({one / off:.2f}x)"
                print(f"{line}   load {load()}")
        if not together:
            for i, model in enumerate(models):
                a, b = (_median([w[i] for w in walls[c]]) for c in configs)
                print(f"    {model.parent.name + '/' + model.name:55s} 1 thread {a:6.3f} s, 2 threads {b:6.3f} s "
                      f"({a / b:.2f}x)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    totals = {c: [sum(w) for w in walls[c]] for c in configs}
    m1, m2 = _median(totals[(1, True)]), _median(totals[(2, True)])
    print(f"  median: 1 thread {m1:.3f} s, 2 threads {m2:.3f} s -> {m1 / m2:.2f}x (floor 1.8, goal 1.9); best vs best "
          f"{min(totals[(1, True)]) / min(totals[(2, True)]):.2f}x; process CPU (median) "
          f"{_median(cpus[(1, True)]):.3f} / {_median(cpus[(2, True)]):.3f} s; runnable threads "
          f"{_median(par[(1, True)]):.2f} / {_median(par[(2, True)]):.2f}")
    if together:
        mo = _median(totals[(2, False)])
        print(f"  look-ahead off, 2 threads: median {mo:.3f} s -> {m1 / mo:.2f}x; process CPU "
              f"{_median(cpus[(2, False)]):.3f} s; runnable {_median(par[(2, False)]):.2f}")
    print(f"  load average after: {load()}")
    return 0


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--quality", default="normal", choices=("fast", "normal", "high"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS for 16 vs 64 textures")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--real", action="store_true", help="the issue-15 mix: 1 vs 2 threads, alternating rounds")
    parser.add_argument("--cancel", action="store_true", help="cancel latency of a 2048² encode on 2 threads")
    parser.add_argument("--scenes", action="store_true", help="corpus models: 1 vs 2 threads, alternating")
    parser.add_argument("--together", action="store_true",
                        help="with --scenes: every model in one cook, as `oxy cook MODEL...` runs them")
    parser.add_argument("--isolate-parsers", action="store_true",
                        help="with --scenes: parse in isolated worker processes (oxy cook --isolate-parsers)")
    parser.add_argument("--phases", action="store_true",
                        help="with --scenes: per-function pool time (wall, CPU, queued) of each run")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.real:
        return bench_real(args.rounds, args.quality)
    if args.cancel:
        return bench_cancel(args.rounds, args.quality)
    if args.scenes:
        return bench_scenes(args.rounds, args.together, args.isolate_parsers, args.phases)

    folder = pathlib.Path(tempfile.mkdtemp())
    try:
        paths = make_images(folder / "img", args.count, args.size)
        cook_async(paths[:2], 1, args.quality)  # warm-up: imports, kernels, page cache
        kernels = best(lambda: cook_kernels(paths, args.quality), args.repeat)
        one = best(lambda: cook_async(paths, 1, args.quality), args.repeat)
        two = best(lambda: cook_async(paths, 2, args.quality), args.repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    mpix = args.count * args.size * args.size * 4 / 3 / 1e6  # with mips
    result = {"count": args.count, "size": args.size, "quality": args.quality, "cpus": os.cpu_count(),
              "kernels_1_thread_s": round(kernels, 3), "async_1_thread_s": round(one, 3),
              "async_2_threads_s": round(two, 3), "speedup_2_vs_1": round(one / two, 3),
              "overhead_async_vs_kernels": round(one / kernels, 3), "mpix_per_s_2_threads": round(mpix / two, 2)}
    if args.memory:
        result["peak_rss_mb_16"] = round(peak_rss_mb(16, args.size, args.quality), 1)
        result["peak_rss_mb_64"] = round(peak_rss_mb(64, args.size, args.quality), 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.count} textures {args.size}x{args.size}, BC7 {args.quality}, with mips "
              f"({os.cpu_count()} cores)")
        print(f"  pure cook calls, 1 thread    : {kernels:7.3f} s")
        print(f"  async pipeline, 1 thread     : {one:7.3f} s  (overhead {one / kernels:.3f}x; floor 1.10, goal 1.05)")
        print(f"  async pipeline, 2 threads    : {two:7.3f} s  (speed-up {one / two:.2f}x; floor 1.7, goal 1.9)")
        if args.memory:
            print(f"  peak RSS, 16 vs 64 textures  : {result['peak_rss_mb_16']} MB vs {result['peak_rss_mb_64']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
