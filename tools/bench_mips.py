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


def time_it(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(best, median) wall time of ``fn`` in seconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


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
    """(sequential, parallel) best time of running ``fn`` twice."""

    def sequential() -> None:
        fn()
        fn()

    def parallel() -> None:
        threads = [threading.Thread(target=fn) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return time_it(sequential, repeat)[0], time_it(parallel, repeat)[0]


def run(size: int, repeat: int) -> list[str]:
    image = make_image(size)
    as_float = np.ascontiguousarray(image.astype(np.float32) / np.float32(255.0))
    hdr = as_float.copy()
    hdr[..., :3] *= 1000.0
    pil = Image.fromarray(image, "RGBA")

    base, base_med = time_it(lambda: pillow_chain(pil), repeat)
    rows = [("Pillow `reduce(2)` chain (baseline: sRGB codes, no alpha weighting)", base, base_med)]
    cases: list[tuple[str, Callable[[], object]]] = [
        ("Pillow `reduce(2)` chain, premultiplied `RGBa`", lambda: pillow_premultiplied_chain(pil)),
        ("**oxy box, sRGB-correct, alpha-weighted** (uint8)", lambda: mip_chain(image)),
        ("oxy box, `srgb=False`, alpha-weighted (uint8)", lambda: mip_chain(image, srgb=False)),
        ("oxy box, normal map (uint8)", lambda: mip_chain(image, normal_map=True)),
        ("oxy box + alpha coverage 0.5 (uint8)", lambda: mip_chain(image, alpha_coverage=0.5)),
        ("oxy kaiser, sRGB-correct, alpha-weighted (uint8)", lambda: mip_chain(image, filter="kaiser")),
        ("oxy box, float32 HDR", lambda: mip_chain(hdr)),
        ("oxy kaiser, float32 HDR", lambda: mip_chain(hdr, filter="kaiser")),
    ]
    for name, fn in cases:
        rows.append((name, *time_it(fn, repeat)))

    lines = [
        f"{size}x{size} RGBA, whole chain to 1x1, one thread, best of {repeat} (median):",
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
