#!/usr/bin/env python3
"""Benchmark the texture cook end to end (issue 5).

    python tools/bench_cook.py [--count 16] [--size 512] [--quality normal] [--memory]

In one run, on the same 16 natural images (scikit-image's bundled photos, resized;
the corpus images when scikit-image is missing):

1. the async pipeline (AsyncImportService -> TexturePipeline -> emitters -> index)
   with 1 CPU thread vs 2: the speed-up (floor 1.7x, goal 1.9x);
2. the async pipeline on 1 thread vs the sum of the pure cook calls
   (decode + mips + BC7 + payload) run back to back: the overhead ratio
   (floor <= 1.10, goal 1.05);
3. with --memory: peak RSS of a fresh process cooking 16 vs 64 textures (must not
   grow with the count).
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


def cook_async(paths: list[pathlib.Path], threads: int, quality: str) -> float:
    from oxy.importing import AsyncImportService, ImportRequest

    root = pathlib.Path(tempfile.mkdtemp()) / "root"
    try:
        with AsyncImportService(cpu_threads=threads) as service:
            start = time.perf_counter()
            report = service.submit(ImportRequest(str(paths[0]), str(root), options={
                "sources": [str(p) for p in paths[1:]], "quality": quality})).wait()
            elapsed = time.perf_counter() - start
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--quality", default="normal", choices=("fast", "normal", "high"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS for 16 vs 64 textures")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

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
