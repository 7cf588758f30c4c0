#!/usr/bin/env python3
"""Incremental cooking: what an unchanged, or almost unchanged, source tree costs.

    python tools/bench_incremental.py [--quick] [--repeat 3] [--json FILE] [--profile]

On real content (the shared corpus's models and images and ``samples/``, copied into a
temporary source tree) and generated PNGs (crops of the corpus photos), in one run:

1. cold cook (fresh root, fresh cook cache) vs no-op re-cook of the models and
   textures: floor no-op >= 50x faster (in this process, imports warm; whole
   processes reported too);
2. no-op re-cook of 1,000 small image sources as a whole process
   (``python -m oxy cook DIR -o ROOT``): goal < 1 s; process startup
   (``python -m oxy --version``) and the same no-op in this process reported apart
   (the rest is the cook's imports and first-use costs);
3. one texture changed by one pixel among 100 (a few 512²-1024²): the re-cook vs that
   texture's own cook into a fresh root with ``--no-cache``: floor <= 1.5x; the JSON
   counts must say exactly one texture cooked;
4. warm cache, second root: the models and textures into root A with a fresh cache,
   then into a fresh root B with the same cache: floor B >= 10x faster than A;
   4b. the same on four real corpus models (Duck, BoxTextured, spider, king) whose
   images are resampled to 1024², the low end of production texture sizes (the
   corpus ships them small, which leaves scenario 4 dominated by per-file costs);
5. root size after 40 no-op re-cooks of three assets equals the size after one.

Every scenario gets a fresh temporary folder and its own cook cache (``OXY_CACHE_DIR``
set explicitly, for child processes too). Sources settle (older than the build
records' 2 s racy window) before the cooks whose re-cooks are timed; scenario 2 also
reports a no-op of a root cooked right after its sources were written, and every
no-op counts the files the records hashed (a settled, unchanged file costs a stat).
Times are medians of ``--repeat`` runs (no-op timings: at least 5). The
floors print PASS/FAIL; the exit code is 0 unless something errors. When scenario 1,
2 or 4 misses its mark (all three with ``--profile``), its cook is profiled in this
process by a sampler over every thread (the job runs on the import hub's thread and
pools, which cProfile does not see); for scenario 2 also cProfile of the whole
process (main thread: imports, the CLI, the wait) and its slowest imports
(``-X importtime``).
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import io
import json
import os
import pathlib
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PROJECT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = PROJECT.parent / "shared" / "corpus"
sys.path.insert(0, str(PROJECT))

PHOTOS = ("images/Wrinkles.jpg", "images/Concrete.tga", "images/net.png", "images/This Way Up.png",
          "models/gltf_Duck/DuckCM.png", "models/obj_spider/drkwood2.jpg")
THREE_ASSETS = ("models/gltf_Duck", "images/Wrinkles.jpg", "images/net.png")


# ---------------------------------------------------------------- running oxy cook
def _env(cache: str) -> dict[str, str]:
    return {**os.environ, "OXY_CACHE_DIR": cache, "PYTHONPATH": str(PROJECT)}


def cook_here(args: list[str], cache: str, *, want_json: bool = False) -> tuple[float, dict | None]:
    """``oxy cook ARGS`` in this process (imports already warm): (seconds, JSON document)."""
    from oxy.cli.main import main as oxy_main

    os.environ["OXY_CACHE_DIR"] = cache
    out, err = io.StringIO(), io.StringIO()
    argv = ["cook", *args] + (["--json"] if want_json else [])
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = oxy_main(argv)
    seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"oxy {' '.join(argv)} exited {code}:\n{err.getvalue()[-3000:]}")
    return seconds, (json.loads(out.getvalue()) if want_json else None)


def cook_process(args: list[str], cache: str, *, want_json: bool = False) -> tuple[float, dict | None]:
    """``python -m oxy cook ARGS`` as a child process: (wall seconds, JSON document)."""
    cmd = [sys.executable, "-m", "oxy", "cook", *args] + (["--json"] if want_json else [])
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=PROJECT, env=_env(cache), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds, (json.loads(done.stdout) if want_json else None)


def startup_seconds(cache: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "oxy", "--version"], cwd=PROJECT, env=_env(cache),
                   check=True, capture_output=True)
    return time.perf_counter() - start


def median_of(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    return statistics.median(fn() for _ in range(n))


def kind_total(counts: dict, what: str) -> int:
    return sum(c.get(what, 0) for c in counts.values())


def counts_text(counts: dict) -> str:
    short = {"cooked": "cooked", "up_to_date": "up to date", "cache_hits_local": "local hits",
             "cache_hits_remote": "remote hits", "failed": "failed"}
    parts = []
    for kind, c in sorted(counts.items()):
        bits = [f"{n} {short[w]}" for w, n in c.items() if n]
        parts.append(f"{kind}: {', '.join(bits) or 'nothing'}")
    return "; ".join(parts)


# ---------------------------------------------------------------- source trees and roots
def writable_copy(src: pathlib.Path, dst: pathlib.Path) -> None:
    """Copy a file or folder (the corpus is read-only) and make the copy writable."""
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    for folder, _dirs, files in os.walk(dst):
        os.chmod(folder, 0o755)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o644)
    if dst.is_file():
        os.chmod(dst, 0o644)


def model_tree(dst: pathlib.Path) -> pathlib.Path:
    """Every corpus model folder, the corpus images and the samples' models and textures."""
    for sub in ("models", "images"):
        writable_copy(CORPUS / sub, dst / sub)
    for sub in ("models", "textures"):
        writable_copy(PROJECT / "samples" / sub, dst / "samples" / sub)
    return dst


def real_images(dst: pathlib.Path) -> None:
    writable_copy(CORPUS / "images", dst / "corpus")
    writable_copy(PROJECT / "samples" / "textures", dst / "samples")


def make_images(folder: pathlib.Path, sizes: list[int], seed: int) -> list[pathlib.Path]:
    """One PNG per size: a random crop of a corpus photo, resized, some with alpha, some
    with a drawn gradient on top, so no two are alike."""
    import numpy as np
    from PIL import Image

    rng = random.Random(seed)
    photos = [Image.open(CORPUS / p).convert("RGBA") for p in PHOTOS]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, size in enumerate(sizes):
        photo = photos[i % len(photos)]
        w, h = photo.size
        cw, ch = rng.randint(max(8, w // 8), w), rng.randint(max(8, h // 8), h)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        img = photo.crop((x, y, x + cw, y + ch)).resize((size, size), Image.BILINEAR)
        pixels = np.asarray(img).copy()
        if i % 3 == 1:  # a gradient in alpha
            pixels[..., 3] = np.linspace(64, 255, size, dtype=np.uint8)[None, :]
        if i % 4 == 2:  # a tinted band
            band = slice(size // 4, size // 2)
            pixels[band, :, i % 3] = (pixels[band, :, i % 3] // 2 + 100).astype(np.uint8)
        mode = "RGBA" if i % 2 else "RGB"
        path = folder / f"tex{i:04d}_{size}.png"
        Image.fromarray(pixels).convert(mode).save(path)
        paths.append(path)
    return paths


def change_one_pixel(path: pathlib.Path, serial: int) -> None:
    """Set one pixel to a value not used before in this run (so the cook cache cannot hit)."""
    from PIL import Image

    img = Image.open(path)
    img.load()
    x, y = (serial * 7) % img.width, (serial * 3) % img.height
    old = img.getpixel((x, y))
    new = tuple((v + 97 + 31 * serial) % 256 for v in old)
    img.putpixel((x, y), new)
    img.save(path)


def settle(folder: pathlib.Path) -> float:
    """Wait until every file under ``folder`` is older than the build records' racy
    window (a signature taken sooner after a file's mtime is confirmed by hash on every
    later check); returns the seconds waited."""
    from oxy.build.records import RACY_SECONDS

    newest = max(os.stat(os.path.join(d, f)).st_mtime for d, _dirs, files in os.walk(folder) for f in files)
    wait = newest + RACY_SECONDS + 0.2 - time.time()
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)


@contextlib.contextmanager
def counting_hashes():  # type: ignore[no-untyped-def]
    """Count the source and dependency files the build records hash in this process
    (``oxy.build.records.file_sha256``; an unchanged, settled file should cost a stat)."""
    import oxy.build.records as records

    seen = [0]
    original = records.file_sha256

    def counted(path: str) -> str:
        seen[0] += 1
        return original(path)

    records.file_sha256 = counted
    try:
        yield seen
    finally:
        records.file_sha256 = original


def snapshot(root: str) -> dict[str, tuple[int, int, str]]:
    """Every file under the root: (size, mtime_ns, SHA-256)."""
    out = {}
    for folder, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(folder, f)
            st = os.stat(p)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns, hashlib.sha256(fh.read()).hexdigest())
    return out


def snapshot_changes(before: dict, after: dict) -> list[str]:
    changed = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a is None or b is None:
            changed.append(f"{name} ({'added' if a is None else 'removed'})")
        elif a != b:
            what = "content" if a[2] != b[2] else "mtime only"
            changed.append(f"{name} ({what}, {a[0]} -> {b[0]} bytes)")
    return changed


def root_bytes(root: str) -> tuple[int, int]:
    """(sum of file sizes, file count) under the root, excluding nothing."""
    total = count = 0
    for folder, _dirs, files in os.walk(root):
        for f in files:
            total += os.path.getsize(os.path.join(folder, f))
            count += 1
    return total, count


# ---------------------------------------------------------------- profiling a no-op
def profile_process(args: list[str], cache: str, work: pathlib.Path, top: int) -> str:
    """cProfile of ``python -m oxy cook ARGS`` (the main thread only), top entries by cumulative time."""
    out = work / "noop.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "oxy", "cook", *args], cwd=PROJECT,
                   env=_env(cache), check=True, capture_output=True)
    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text)
    parts = {("cli/main.py", "main"): "oxy main", ("cli/main.py", "build_parser"): "build_parser (imports every command)",
             ("cli/cook_cmd.py", "run"): "cook_cmd.run (the cook)"}
    found = {label: ct for (file, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
             for (suffix, fn), label in parts.items() if file.endswith(suffix) and name == fn}
    text.write("main thread: " + ", ".join(f"{label} {ct:.3f} s" for label, ct in found.items()) + "\n")
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return "\n".join(line for line in text.getvalue().splitlines() if line.strip() and "function calls" not in line)


def sample_threads(runs: list[list[str]], cache: str, top: int, interval: float = 0.001) -> str:
    """Sample every thread's stack during in-process ``oxy cook`` runs (one per argument
    list); count, per function, the samples where it is on a busy stack (one whose
    innermost frame is not a wait)."""
    idle = {"wait", "acquire", "acquire_with_timeout", "_wait_for_tstate_lock", "join", "sleep", "get", "run",
            "switch", "_worker", "select", "poll", "wait_for"}
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    stop = threading.Event()
    busy = [0, 0]

    def sampler() -> None:
        me = threading.get_ident()
        while not stop.is_set():
            for ident, frame in sys._current_frames().items():
                if ident == me or frame.f_code.co_name in idle:
                    continue
                names, f = [], frame
                while f is not None:
                    code = f.f_code
                    names.append(f"{os.path.basename(code.co_filename)}:{code.co_name}")
                    f = f.f_back
                leaves[names[0]] += 1
                inclusive.update(set(names))
                busy[0] += 1
            busy[1] += 1
            time.sleep(interval)

    thread = threading.Thread(target=sampler, daemon=True)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(interval / 10)  # else samples land mostly where the GIL is released (system calls)
    thread.start()
    try:
        seconds = sum(cook_here(args, cache)[0] for args in runs)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch)
    lines = [f"{len(runs)} run(s), {seconds * 1000:.0f} ms in all: {busy[0]} busy thread-samples in {busy[1]} ticks; "
             "by inclusive samples:"]
    lines += [f"  {n:6d}  {name}" for name, n in inclusive.most_common(top)]
    lines += ["innermost frames:"] + [f"  {n:6d}  {name}" for name, n in leaves.most_common(top // 2)]
    return "\n".join(lines)


def slowest_imports(args: list[str], cache: str, top: int) -> str:
    """The modules ``python -m oxy cook ARGS`` imports (``-X importtime``), largest self times first."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "oxy", "cook", *args], cwd=PROJECT,
                          env=_env(cache), check=True, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[0].split(":")[1]), int(parts[1]), parts[2].rstrip()))
    total = sum(r[0] for r in rows)
    lines = [f"imports: {len(rows)} modules, {total / 1e6:.3f} s self time in all; largest self times:"]
    lines += [f"  {s / 1000:7.1f} ms self {c / 1000:7.1f} ms cumulative  {n.strip()}"
              for s, c, n in sorted(rows, reverse=True)[:top]]
    return "\n".join(lines)


def oxy_revision() -> str:
    """HEAD's short hash, with ``+changes`` when files under ``oxy/`` differ from it."""
    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=PROJECT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "oxy")
    if dirty:
        digest = hashlib.sha256(git("diff", "HEAD", "--", "oxy").encode()).hexdigest()[:8]
        return f"{head}+changes({len(dirty.splitlines())} files, {digest})"
    return head


# ---------------------------------------------------------------- the scenarios
def cold_vs_noop(work: pathlib.Path, repeat: int) -> dict:
    src = model_tree(work / "src")
    settle(src)
    cold, noop, cold_proc, noop_proc, changed = [], [], [], [], []
    doc = noop_doc = None
    for i in range(repeat):
        root, cache = str(work / f"root{i}"), str(work / f"cache{i}")
        seconds, doc = cook_here([str(src), "-o", root], cache, want_json=True)
        cold.append(seconds)
        before = snapshot(root)
        noop += [cook_here([str(src), "-o", root], cache)[0] for _ in range(repeat)]
        changed += snapshot_changes(before, snapshot(root))
        with counting_hashes() as hashed:
            _, noop_doc = cook_here([str(src), "-o", root], cache, want_json=True)
    for i in range(repeat):
        root, cache = str(work / f"proot{i}"), str(work / f"pcache{i}")
        cold_proc.append(cook_process([str(src), "-o", root], cache)[0])
        noop_proc += [cook_process([str(src), "-o", root], cache)[0] for _ in range(repeat)]
    r = {"jobs": len(doc["jobs"]), "cold_s": statistics.median(cold), "noop_s": statistics.median(noop),
         "cold_process_s": statistics.median(cold_proc), "noop_process_s": statistics.median(noop_proc),
         "cold_counts": doc["counts"], "noop_counts": noop_doc["counts"], "noop_changed_files": changed,
         "noop_files_hashed": hashed[0], "cold_runs_s": cold, "noop_runs_s": noop}
    r["ratio"] = r["cold_s"] / r["noop_s"]
    r["ratio_process"] = r["cold_process_s"] / r["noop_process_s"]
    r["pass"] = r["ratio"] >= 50
    r["profile_runs"] = [[str(src), "-o", str(work / "root0")]] * 5, str(work / "cache0")
    return r


def many_sources(work: pathlib.Path, count: int, repeat: int) -> dict:
    """``repeat`` runs of each no-op timing, process start-ups interleaved with the no-ops.
    The cold cook runs right after the sources are written (root ``fresh``: their
    signatures are racy); the timed no-ops use a root cooked once they settled."""
    src = work / "src"
    rng = random.Random(1000)
    make_images(src / "generated", [rng.choice((16, 24, 32, 40, 48, 56, 64)) for _ in range(count)], seed=1)
    real_images(src / "real")
    root, cache, fresh = str(work / "root"), str(work / "cache"), str(work / "fresh")
    cold, doc = cook_here([str(src), "-o", fresh], cache, want_json=True)
    settle(src)
    cook_here([str(src), "-o", root], cache)
    with counting_hashes() as fresh_hashed:
        fresh_noop = cook_here([str(src), "-o", fresh], cache)[0]
    before = snapshot(root)
    startups, noops = [], []
    for _ in range(repeat):
        startups.append(startup_seconds(cache))
        noops.append(cook_process([str(src), "-o", root], cache)[0])
    startup, noop_proc = statistics.median(startups), statistics.median(noops)
    noop_here = median_of(repeat, lambda: cook_here([str(src), "-o", root], cache)[0])
    with counting_hashes() as hashed:
        _, noop_doc = cook_here([str(src), "-o", root], cache, want_json=True)
    sources = len(doc["jobs"][0]["inputs"]) if doc["jobs"] else 0
    r = {"sources": sources, "cold_s": cold, "startup_s": startup, "noop_process_s": noop_proc,
         "noop_in_process_s": noop_here, "noop_process_minus_startup_s": noop_proc - startup,
         "imports_and_first_use_s": noop_proc - startup - noop_here,
         "startup_runs_s": startups, "noop_process_runs_s": noops,
         "cold_counts": doc["counts"], "noop_counts": noop_doc["counts"], "noop_files_hashed": hashed[0],
         "fresh_root_noop_s": fresh_noop, "fresh_root_noop_files_hashed": fresh_hashed[0],
         "noop_changed_files": snapshot_changes(before, snapshot(root))}
    r["pass"] = noop_proc < 1.0
    r["profile_runs"] = [[str(src), "-o", root]] * 3, cache
    return r


def one_changed(work: pathlib.Path, count: int, large: list[int], repeat: int) -> dict:
    rng = random.Random(100)
    sizes = large + [rng.choice((16, 32, 48, 64, 96, 128, 192, 256)) for _ in range(count - len(large) - 1)]
    target_at = len(sizes) // 2
    sizes.insert(target_at, 256)  # the mid-sized texture that changes
    paths = make_images(work / "src", sizes, seed=2)
    target, src = paths[target_at], str(work / "src")
    root, cache, spare = str(work / "root"), str(work / "cache"), str(work / "spare-cache")
    settle(work / "src")
    cold, _ = cook_here([src, "-o", root], cache, want_json=True)
    recook, own, recook_proc, own_proc, bad = [], [], [], [], []
    serial = 0
    for i in range(repeat):
        for here, into_recook, into_own in ((True, recook, own), (False, recook_proc, own_proc)):
            serial += 1
            change_one_pixel(target, serial)
            cook = cook_here if here else cook_process
            seconds, doc = cook([src, "-o", root], cache, want_json=True)
            into_recook.append(seconds)
            tex = doc["counts"].get("texture", {})
            if tex.get("cooked") != 1 or kind_total(doc["counts"], "cooked") != 1 or tex.get("up_to_date") != count - 1:
                bad.append(counts_text(doc["counts"]))
            seconds, own_doc = cook([str(target), "-o", str(work / f"own{i}-{here}"), "--no-cache"], spare,
                                    want_json=True)
            into_own.append(seconds)
            if own_doc["counts"].get("texture", {}).get("cooked") != 1:
                bad.append("own cook: " + counts_text(own_doc["counts"]))
    r = {"sources": count, "large_sizes": large, "changed": f"{target.name} (256x256)", "cold_all_s": cold,
         "recook_s": statistics.median(recook), "own_cook_s": statistics.median(own),
         "recook_process_s": statistics.median(recook_proc), "own_cook_process_s": statistics.median(own_proc),
         "last_counts": doc["counts"], "wrong_counts": bad}
    r["ratio"] = r["recook_s"] / r["own_cook_s"]
    r["ratio_process"] = r["recook_process_s"] / r["own_cook_process_s"]
    r["pass"] = r["ratio"] <= 1.5 and not bad
    return r


def second_root(work: pathlib.Path, repeat: int) -> dict:
    src = str(model_tree(work / "src"))
    settle(work / "src")
    a_times, b_times, a_proc, b_proc = [], [], [], []
    for i in range(repeat):
        cache = str(work / f"cache{i}")
        a_times.append(cook_here([src, "-o", str(work / f"A{i}")], cache, want_json=True)[0])
        seconds, doc = cook_here([src, "-o", str(work / f"B{i}")], cache, want_json=True)
        b_times.append(seconds)
    for i in range(repeat):
        cache = str(work / f"pcache{i}")
        a_proc.append(cook_process([src, "-o", str(work / f"pA{i}")], cache)[0])
        b_proc.append(cook_process([src, "-o", str(work / f"pB{i}")], cache)[0])
    r = {"a_s": statistics.median(a_times), "b_s": statistics.median(b_times), "a_process_s": statistics.median(a_proc),
         "b_process_s": statistics.median(b_proc), "b_counts": doc["counts"], "b_cache": doc["cache"]}
    r["ratio"] = r["a_s"] / r["b_s"]
    r["ratio_process"] = r["a_process_s"] / r["b_process_s"]
    r["pass"] = r["ratio"] >= 10
    r["profile_runs"] = [[src, "-o", str(work / f"C{i}")] for i in range(3)], str(work / "cache0")  # new roots
    return r


#: Real models whose textures scenario 4b scales to production size (the corpus ships them small).
PRODUCTION_MODELS = ("models/gltf_Duck", "models/gltf_BoxTextured", "models/obj_spider", "models/fbx_ascii_kenney_king")
PRODUCTION_SIZE = 1024  # the low end of what shipped games use (1K-4K)


def production_tree(dst: pathlib.Path, size: int) -> pathlib.Path:
    """The same real models, every image beside them resampled to ``size``² (same name
    and format): what a real project's cook costs, with the corpus's geometry."""
    from PIL import Image

    for rel in PRODUCTION_MODELS:
        writable_copy(CORPUS / rel, dst / rel)
    for image in sorted(p for p in dst.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tga")):
        with Image.open(image) as im:
            im.load()
            big = im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB").resize((size, size),
                                                                                       Image.LANCZOS)
        big.save(image, quality=92) if image.suffix.lower() in (".jpg", ".jpeg") else big.save(image)
    return dst


def second_root_production(work: pathlib.Path, repeat: int) -> dict:
    """Scenario 4 on production-size textures (4b)."""
    src = str(production_tree(work / "src", PRODUCTION_SIZE))
    settle(work / "src")
    a_times, b_times = [], []
    doc: dict | None = None
    for i in range(repeat):
        cache = str(work / f"cache{i}")
        a_times.append(cook_here([src, "-o", str(work / f"A{i}")], cache)[0])
        seconds, doc = cook_here([src, "-o", str(work / f"B{i}")], cache, want_json=True)
        b_times.append(seconds)
    assert doc is not None
    r = {"size": PRODUCTION_SIZE, "a_s": statistics.median(a_times), "b_s": statistics.median(b_times),
         "b_counts": doc["counts"]}
    r["ratio"] = r["a_s"] / r["b_s"]
    r["pass"] = r["ratio"] >= 10
    r["profile_runs"] = [[src, "-o", str(work / f"C{i}")] for i in range(3)], str(work / "cache0")
    return r


def root_growth(work: pathlib.Path, recooks: int) -> dict:
    inputs = []
    for rel in THREE_ASSETS:
        writable_copy(CORPUS / rel, work / "src" / rel)
        inputs.append(work / "src" / rel)
    args = [str(next(inputs[0].glob("*.gltf"))), *map(str, inputs[1:]), "-o", str(work / "root")]
    cache = str(work / "cache")
    settle(work / "src")
    _, first = cook_here(args, cache, want_json=True)
    size1, files1 = root_bytes(str(work / "root"))
    before = snapshot(str(work / "root"))
    with counting_hashes() as hashed:
        for _ in range(recooks - 1):
            cook_here(args, cache)
        _, last = cook_here(args, cache, want_json=True)
    size_n, files_n = root_bytes(str(work / "root"))
    return {"assets": [os.path.basename(a) for a in args[:3]], "recooks": recooks, "size_after_1": size1,
            "files_after_1": files1, "size_after_n": size_n, "files_after_n": files_n,
            "first_counts": first["counts"], "last_counts": last["counts"], "files_hashed": hashed[0],
            "changed_files": snapshot_changes(before, snapshot(str(work / "root"))), "pass": size_n == size1}


# ---------------------------------------------------------------- report
def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(res: dict) -> None:
    s1, s2, s3, s4, s5 = (res[k] for k in ("cold_noop", "many", "one_changed", "second_root", "root_size"))
    s4b = res["second_root_production"]
    rows = [
        ("1 cold cook, models + textures", f"{s1['cold_s']:.3f} s", f"process {s1['cold_process_s']:.2f} s", ""),
        ("1 no-op re-cook", f"{s1['noop_s']:.3f} s", f"process {s1['noop_process_s']:.2f} s",
         f"{s1['ratio']:.1f}x (process {s1['ratio_process']:.1f}x); floor >= 50x: {verdict(s1['pass'])}"),
        (f"2 cold cook, {s2['sources']} images", f"{s2['cold_s']:.2f} s", "", ""),
        (f"2 no-op, {s2['sources']} images, whole process", f"{s2['noop_process_s']:.3f} s",
         f"= startup {s2['startup_s']:.3f} + cook's imports, first use {s2['imports_and_first_use_s']:.3f} + "
         f"no-op {s2['noop_in_process_s']:.3f} s (in process, {s2['noop_in_process_s'] / s2['sources'] * 1e6:.0f} us "
         "a source)",
         f"goal < 1 s: {verdict(s2['pass'])}"),
        (f"3 re-cook, 1 of {s3['sources']} changed", f"{s3['recook_s']:.3f} s",
         f"process {s3['recook_process_s']:.2f} s", ""),
        ("3 that texture alone, --no-cache", f"{s3['own_cook_s']:.3f} s", f"process {s3['own_cook_process_s']:.2f} s",
         f"{s3['ratio']:.2f}x (process {s3['ratio_process']:.2f}x); floor <= 1.5x: {verdict(s3['pass'])}"),
        ("4 root A, fresh cache", f"{s4['a_s']:.3f} s", f"process {s4['a_process_s']:.2f} s", ""),
        ("4 root B, same cache", f"{s4['b_s']:.3f} s", f"process {s4['b_process_s']:.2f} s",
         f"{s4['ratio']:.1f}x (process {s4['ratio_process']:.1f}x); floor >= 10x: {verdict(s4['pass'])}"),
        (f"4b root A, textures at {s4b['size']}²", f"{s4b['a_s']:.3f} s", "", ""),
        ("4b root B, same cache", f"{s4b['b_s']:.3f} s", "",
         f"{s4b['ratio']:.1f}x; floor >= 10x: {verdict(s4b['pass'])}"),
        (f"5 root size after 1 / {s5['recooks']} cooks", f"{s5['size_after_1']:,} B",
         f"{s5['size_after_n']:,} B ({s5['files_after_1']} / {s5['files_after_n']} files)",
         f"equal: {verdict(s5['pass'])}"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print()
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + ("  " + r[3] if r[3] else ""))
    print()
    print(f"  counts, 1 cold: {counts_text(s1['cold_counts'])}")
    print(f"  counts, 1 no-op: {counts_text(s1['noop_counts'])}; files hashed: {s1['noop_files_hashed']}")
    print(f"  counts, 2 no-op: {counts_text(s2['noop_counts'])}; files hashed: {s2['noop_files_hashed']}")
    print(f"  2, no-op of a root cooked right after its sources were written: {s2['fresh_root_noop_s']:.3f} s "
          f"in process, files hashed: {s2['fresh_root_noop_files_hashed']} (racy signatures)")
    print(f"  counts, 3 last re-cook: {counts_text(s3['last_counts'])}")
    print(f"  counts, 4 root B: {counts_text(s4['b_counts'])}; cache {s4['b_cache']}")
    print(f"  counts, 4b root B: {counts_text(s4b['b_counts'])}")
    print(f"  counts, 5 last re-cook: {counts_text(s5['last_counts'])}; files hashed in {s5['recooks'] - 1} "
          f"no-ops: {s5['files_hashed']}")
    for label, items in (("1: files changed by a no-op", s1["noop_changed_files"]),
                         ("2: files changed by a no-op", s2["noop_changed_files"]),
                         ("3: re-cooks whose counts were not exactly one texture", s3["wrong_counts"]),
                         (f"5: files changed by {s5['recooks'] - 1} no-ops", s5["changed_files"])):
        if items:
            print(f"  ODD {label}: {len(items)}: " + "; ".join(items[:8]))


def profile_slow(res: dict, work: pathlib.Path, force: bool) -> dict:
    """Profile the runs behind a failed floor or goal (all of them with ``force``)."""
    out = {}
    for key, what in (("cold_noop", "1, the no-op"), ("many", "2, the no-op"),
                      ("second_root", "4, a third root from the warm cache")):
        if res[key]["pass"] and not force:
            continue
        runs, cache = res[key]["profile_runs"]
        print(f"\n--- profile of scenario {what} ---")
        sampled = sample_threads(runs, cache, top=25)
        print(sampled)
        out[key] = {"sampled_threads": sampled}
        if key == "many":
            whole = profile_process(runs[0], cache, work, top=20)
            imports = slowest_imports(runs[0], cache, top=12)
            print("cProfile, whole process (main thread):\n" + whole + "\n" + imports)
            out[key].update({"cprofile_process": whole, "imports": imports})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sets, one repetition (a smoke run)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per timing (default 3, quick 1)")
    parser.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    parser.add_argument("--profile", action="store_true", help="profile the no-ops even when they pass")
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    many, hundred, large = (200, 30, [512]) if args.quick else (1000, 100, [1024, 768, 512, 512])
    noop_repeat = 2 if args.quick else max(5, repeat)
    recooks = 10 if args.quick else 40
    res: dict = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "repeat": repeat, "quick": args.quick,
                 "load_before": os.getloadavg(), "oxy_before": oxy_revision()}
    with tempfile.TemporaryDirectory(prefix="oxy-bench-incr-") as tmp:
        base = pathlib.Path(tmp)
        warm = base / "warm"
        model_tree(warm / "src")  # warm-up: imports (pyassimp, kernels) and the page cache, untimed
        cook_here([str(warm / "src"), "-o", str(warm / "root")], str(warm / "cache"))
        steps = (("cold_noop", lambda w: cold_vs_noop(w, repeat)), ("many", lambda w: many_sources(w, many, noop_repeat)),
                 ("one_changed", lambda w: one_changed(w, hundred, large, repeat)),
                 ("second_root", lambda w: second_root(w, repeat)),
                 ("second_root_production", lambda w: second_root_production(w, max(1, repeat - 1))),
                 ("root_size", lambda w: root_growth(w, recooks)))
        for key, step in steps:
            started = time.perf_counter()
            work = base / key
            work.mkdir()
            res[key] = step(work)
            print(f"[{key}] {verdict(res[key]['pass'])} in {time.perf_counter() - started:.1f} s", flush=True)
        print_table(res)
        res["profiles"] = profile_slow(res, base, args.profile)
    res["load_after"], res["oxy_after"] = os.getloadavg(), oxy_revision()
    print(f"\n  {os.cpu_count()} cores; load average before {res['load_before'][0]:.2f}, "
          f"after {res['load_after'][0]:.2f}; medians of {repeat}; oxy {res['oxy_before']}")
    if res["oxy_after"] != res["oxy_before"]:
        print(f"  ODD: oxy's code changed during the run (now {res['oxy_after']}): the numbers mix two versions")
    for key in ("cold_noop", "many", "second_root"):
        res[key].pop("profile_runs", None)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
