#!/usr/bin/env python3
"""Benchmark the runtime AssetLoader on a content set of >= 1,000 assets.

1. **Assets/s, PAK vs loose root.** The same content (``--materials`` materials over
   16 small textures, plus a cube geometry and a scene) written as a loose root and
   packed with ``oxy pack``. A fresh loader mounts one of them and loads every asset
   (all requests issued at once, then waited for); assets/s is assets / wall time
   from the first request to the last result. Interleaved repeats; medians; the
   loose root is the baseline of the ratio.
2. **Hub latency while loads decode.** A greenlet on the owning hub sleeps 1 ms in
   a loop and records how late it wakes, first with the loader idle (baseline), then
   during a full load of the PAK. p50/p99/max.
3. **De-dup ratio under concurrent requests.** 8 plain threads each request all of
   ``--hot`` keys in shuffled order at once; ratio = decodes actually run / requests.

Usage: ``python3 tools/bench_loader.py [--materials 1200] [--repeats 5] [--write docs/bench_loader.md]``
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gevent  # noqa: E402

from oxy.cook.descriptors import build_material  # noqa: E402
from oxy.cook.payload import fallback_texture, pack_texture_payload, unpack_subresource  # noqa: E402
from oxy.formats import AssetType  # noqa: E402
from oxy.pack.compact import pack_paths  # noqa: E402
from oxy.runtime import AssetLoader, LoaderConfig  # noqa: E402
from oxy.samples import ContentSet, checker_texture, textured_cube, write_loose_root  # noqa: E402

TIMEOUT = 300.0


def tinted_texture(seed: int, size: int):
    """A distinct RGBA8 texture with a full mip chain (the checker, tinted per seed)."""
    base = checker_texture(size)
    chain = [bytearray(unpack_subresource(base.payload, m)[1]) for m in range(base.shape.mip_levels)]
    for level in chain:
        level[0::4] = bytes((b + 13 * seed) % 256 for b in level[0::4])
    rows = [bytes(level) for level in chain]
    pitch_free = []
    for m, level in enumerate(rows):
        w, h, _d = base.shape.mip_size(m)
        pitch = max(256, -(-w * 4 // 256) * 256)
        pitch_free.append(b"".join(level[r * pitch:r * pitch + w * 4] for r in range(h)))
    return pack_texture_payload(base.shape, pitch_free)


def make_content(materials: int) -> ContentSet:
    content = textured_cube()
    content.textures = [fallback_texture()] + [tinted_texture(i, 32 if i % 2 else 64) for i in range(16)]
    for i in range(materials):
        name = f"M{i:06d}"
        content.assets.append((AssetType.MATERIAL, name, build_material(
            name, textures={"base_color": 1 + i % 16, "normal": 1 + (i * 7) % 16}, metalness=(i % 100) / 100)))
    return content


def load_all(mount: str, path: str, keys: list, cpu_threads: int) -> tuple[float, AssetLoader]:
    ldr = AssetLoader(LoaderConfig(cpu_threads=cpu_threads)).start()
    getattr(ldr, mount)(path)
    start = time.perf_counter()
    futures = [ldr.load_asset(k) for k in keys]
    for f in futures:
        f.result(TIMEOUT)
    return time.perf_counter() - start, ldr


def hub_latency(ldr: AssetLoader, seconds: float | None, work: callable | None) -> list[float]:
    """Lateness (ms) of 1 ms sleeps on the owning hub, for ``seconds`` or while ``work`` runs."""
    lateness: list[float] = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            t = time.perf_counter()
            gevent.sleep(0.001)
            lateness.append((time.perf_counter() - t - 0.001) * 1000)

    assert ldr.loop is not None
    ldr.loop.spawn(ticker)
    if work is None:
        time.sleep(seconds or 1.0)
    else:
        work()
    stop.set()
    time.sleep(0.01)
    return lateness


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--materials", type=int, default=1200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu-threads", type=int, default=2)
    ap.add_argument("--hot", type=int, default=100)
    ap.add_argument("--write", help="write the results as markdown to this file")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_loader_")
    content = make_content(args.materials)
    root, pak = os.path.join(tmp, "root"), os.path.join(tmp, "content.pak")
    write_loose_root(root, content)
    packed = pack_paths([root], pak)
    keys = [ContentSet.key(t, n) for t, n, _b in content.assets]
    lines = [f"# AssetLoader benchmark ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, cpu_threads={args.cpu_threads})", "",
             f"Content: {len(keys)} assets ({args.materials} materials over 16 textures, 1 geometry, 1 scene), "
             f"{packed.textures} textures, {packed.buffers} buffers; PAK {packed.size} bytes.", ""]

    times: dict[str, list[float]] = {"loose root": [], "pak": []}
    for _ in range(args.repeats):
        for label, mount, path in (("loose root", "add_loose_cooked_root", root), ("pak", "add_pak", pak)):
            elapsed, ldr = load_all(mount, path, keys, args.cpu_threads)
            ldr.stop()
            times[label].append(elapsed)
    med = {k: statistics.median(v) for k, v in times.items()}
    lines += ["## 1. Loading every asset (all requests at once)", "",
              "| source | median s | assets/s | vs loose root |", "|---|---|---|---|"]
    for label in ("loose root", "pak"):
        lines.append(f"| {label} | {med[label]:.3f} | {len(keys) / med[label]:,.0f} | "
                     f"{med['loose root'] / med[label]:.2f}x |")

    ldr = AssetLoader(LoaderConfig(cpu_threads=args.cpu_threads)).start()
    ldr.add_pak(pak)
    idle = hub_latency(ldr, 1.0, None)
    busy = hub_latency(ldr, None, lambda: [f.result(TIMEOUT) for f in [ldr.load_asset(k) for k in keys]])
    ldr.stop()
    lines += ["", "## 2. Owning-hub latency (lateness of a 1 ms sleep), ms", "",
              "| state | samples | p50 | p99 | max |", "|---|---|---|---|---|"]
    for label, vals in (("idle (baseline)", idle), ("loading the PAK", busy)):
        lines.append(f"| {label} | {len(vals)} | {pct(vals, .5):.2f} | {pct(vals, .99):.2f} | {max(vals):.2f} |")

    hot = [ContentSet.key(AssetType.MATERIAL, f"M{i:06d}") for i in range(min(args.hot, args.materials))]
    ldr = AssetLoader(LoaderConfig(cpu_threads=args.cpu_threads)).start()
    ldr.add_pak(pak)
    barrier = threading.Barrier(8)

    def client(seed: int) -> None:
        order = hot[:]
        random.Random(seed).shuffle(order)
        barrier.wait()
        for f in [ldr.load_asset(k) for k in order]:
            f.result(TIMEOUT)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    s = ldr.stats
    ldr.stop()
    lines += ["", "## 3. De-dup under concurrent requests", "",
              f"8 threads x {len(hot)} materials (each with 2 texture dependencies), shuffled, at once: "
              f"{s.requests} requests (dependencies included), {s.decodes} decodes, {s.joined} joined an "
              f"in-flight load, {s.cache_hits} cache hits; decodes/requests = {s.decodes / s.requests:.3f} "
              f"(the floor is {len(hot) + 16}/{s.requests} = {(len(hot) + 16) / s.requests:.3f}).", ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(args.write, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
