"""Benchmark oxy's mip-chain kernel against Pillow's ``Image.reduce(2)`` chain.

Usage::

    python3 tools/bench_mips.py [--size 2048] [--repeat 9] [--write docs/bench_mips.md]

The test image is a natural photo (``skimage.data.astronaut``) resized to
``size x size`` with an alpha channel added (opaque centre fading to fully transparent
corners, so the alpha-weighted path sees opaque, translucent and empty blocks). Every
case builds the whole chain down to 1x1 on one thread; times are best-of-N (median in
brackets). The baseline is Pillow's 2x2 ``reduce`` chain on the same RGBA image, measured
in the same run: it averages the stored sRGB codes without alpha weighting, so it does
less work than oxy's sRGB-correct, alpha-aware chain.

The two-thread case runs two chains on two threads at once against the same two chains
one after the other on one thread; a speed-up near 2 shows the kernel releases the GIL
(the machine's other load makes it noisy).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oxy.cook.mips import mip_chain  # noqa: E402


def make_image(size: int) -> np.ndarray:
    """A natural RGBA image: the astronaut photo, resized, with a radial alpha falloff."""
    from skimage import data

    rgb = Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.LANCZOS)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(xx - size / 2, yy - size / 2) / (size / 2)
    alpha = np.clip((1.35 - r) * 2.0, 0.0, 1.0) * 255.0
    return np.ascontiguousarray(np.dstack([np.asarray(rgb), alpha.astype(np.uint8)]))


def time_interleaved(fns: list[Callable[[], object]], repeat: int) -> list[tuple[float, float]]:
    """(best, median) per function, running them round-robin so that load from other
    processes on the shared machine hits every case alike."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, bucket in zip(fns, times):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return [(min(t), statistics.median(t)) for t in times]


def pillow_chain(image: Image.Image) -> list[Image.Image]:
    """Pillow's 2x2 box reduce, level after level, down to 1x1."""
    levels = [image]
    while levels[-1].size != (1, 1):
        levels.append(levels[-1].reduce(2))
    return levels


def pillow_premultiplied_chain(image: Image.Image) -> list[Image.Image]:
    """Pillow with alpha weighting (premultiplied 'RGBa' mode), still not sRGB-correct."""
    levels = [image.convert("RGBa")]
    while levels[-1].size != (1, 1):
        levels.append(levels[-1].reduce(2))
    return [level.convert("RGBA") for level in levels]


def two_threads(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(sequential, parallel) best time of running ``fn`` twice, interleaved."""

    def sequential() -> None:
        fn()
        fn()

    def parallel() -> None:
        threads = [threading.Thread(target=fn) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    (seq, _), (par, _) = time_interleaved([sequential, parallel], repeat)
    return seq, par


def gil_probe(fn: Callable[[], object]) -> tuple[int, float]:
    """Iterations a pure-Python counter thread makes while ``fn`` runs on this thread,
    and ``fn``'s wall time. With a long switch interval the counter can only run while
    ``fn`` has released the GIL, so a count near 0 would mean the GIL is held."""
    done = threading.Event()
    count = [0]

    def spin() -> None:
        while not done.is_set():
            count[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.05)
    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        time.sleep(0.01)
        before = count[0]
        start = time.perf_counter()
        fn()
        wall = time.perf_counter() - start
        during = count[0] - before
    finally:
        done.set()
        spinner.join()
        sys.setswitchinterval(old)
    return during, wall


def cpu_ratio(fn: Callable[[], object]) -> float:
    """Process CPU time / wall time of two ``fn`` on two threads (2.0 = fully parallel)."""
    threads = [threading.Thread(target=fn) for _ in range(2)]
    cpu, wall = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def run(size: int, repeat: int) -> list[str]:
    image = make_image(size)
    as_float = np.ascontiguousarray(image.astype(np.float32) / np.float32(255.0))
    hdr = as_float.copy()
    hdr[..., :3] *= 1000.0
    pil = Image.fromarray(image, "RGBA")

    cases: list[tuple[str, Callable[[], object]]] = [
        ("Pillow `reduce(2)` chain (baseline: sRGB codes, no alpha weighting)", lambda: pillow_chain(pil)),
        ("Pillow `reduce(2)` chain, premultiplied `RGBa`", lambda: pillow_premultiplied_chain(pil)),
        ("**oxy box, sRGB-correct, alpha-weighted** (uint8)", lambda: mip_chain(image)),
        ("oxy box, `srgb=False`, alpha-weighted (uint8)", lambda: mip_chain(image, srgb=False)),
        ("oxy box, normal map (uint8)", lambda: mip_chain(image, normal_map=True)),
        ("oxy box + alpha coverage 0.5 (uint8)", lambda: mip_chain(image, alpha_coverage=0.5)),
        ("oxy kaiser, sRGB-correct, alpha-weighted (uint8)", lambda: mip_chain(image, filter="kaiser")),
        ("oxy box, float32 HDR", lambda: mip_chain(hdr)),
        ("oxy kaiser, float32 HDR", lambda: mip_chain(hdr, filter="kaiser")),
    ]
    timings = time_interleaved([fn for _, fn in cases], repeat)
    rows = [(name, best, med) for (name, _), (best, med) in zip(cases, timings)]
    base = rows[0][1]

    lines = [
        f"{size}x{size} RGBA, whole chain to 1x1, one thread, best of {repeat} (median), "
        "cases run round-robin:",
        "",
        "| case | time ms | vs Pillow |",
        "|---|---:|---:|",
    ]
    for name, best, med in rows:
        lines.append(f"| {name} | {best * 1e3:.1f} ({med * 1e3:.1f}) | {best / base:.2f}x |")

    seq, par = two_threads(lambda: mip_chain(image), repeat)
    seq_k, par_k = two_threads(lambda: mip_chain(image, filter="kaiser"), max(3, repeat // 3))
    lines += [
        "",
        "Two chains, one thread after the other vs two threads at once (GIL released):",
        "",
        "| case | 1 thread, 2 chains ms | 2 threads, 2 chains ms | speed-up |",
        "|---|---:|---:|---:|",
        f"| box sRGB uint8 | {seq * 1e3:.1f} | {par * 1e3:.1f} | {seq / par:.2f}x |",
        f"| kaiser sRGB uint8 | {seq_k * 1e3:.1f} | {par_k * 1e3:.1f} | {seq_k / par_k:.2f}x |",
    ]
    kaiser = lambda: mip_chain(image, filter="kaiser")  # noqa: E731
    spins, wall = gil_probe(kaiser)
    ratio = max(cpu_ratio(kaiser) for _ in range(3))
    lines += [
        "",
        f"GIL probe: a pure-Python counter thread made {spins:,} iterations during one "
        f"{wall * 1e3:.0f} ms kaiser chain (switch interval 50 ms, so it can only run while "
        "the kernel has released the GIL).",
        f"Two kaiser chains on two threads: process CPU time / wall time = {ratio:.2f} "
        "(2.00 = both cores busy with the kernels; lower when other work holds a core).",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--write", type=Path, help="also write the results as markdown here")
    parser.add_argument("--date", default=_dt.date.today().isoformat())
    args = parser.parse_args(argv)
    lines = run(args.size, args.repeat)
    print("\n".join(lines))
    if args.write:
        header = [
            "# Mip-chain benchmark (`oxy.cook.mips.mip_chain`)",
            "",
            f"- date: {args.date}",
            f"- machine: {os.cpu_count()} cores (shared with other work: timings are noisy), "
            f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}, "
            f"Pillow {Image.__version__}",
            f"- command: `python3 tools/bench_mips.py --size {args.size} --repeat {args.repeat}`",
            "  (kernels built by `python3 setup.py build_ext --inplace`, `-O3`, no `-march=native`)",
            "",
        ]
        args.write.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
