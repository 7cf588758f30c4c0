#!/usr/bin/env python3
"""Benchmark oxy's BC1 / BC4 / BC5 / BC6H encoders against ISPC texcomp, same run.

Usage::

    python3 tools/bench_bcn.py [--quick] [--repeat N] [--only bc1,bc4,bc5,bc6h]

One thread pinned to one core (``os.sched_setaffinity``); speed is Mpix/s from the
calling thread's CPU time (robust against other jobs on the shared cores), the
median of ``--repeat`` runs per image. Quality, per format:

* BC1: RGB PSNR; BC4: PSNR of the green channel; BC5: PSNR of red+green; all
  decoded with texture2ddecoder (independent of every encoder here).
* BC5 normal map: a normal map made from the luminance of each bench image as a
  height field (X, Y stored, Z reconstructed), mean angular error in degrees after
  renormalisation (8-bit storage alone is listed as the floor).
* BC6H: the corpus' ``royal_esplanade_1k.hdr`` read with oxy's own Radiance decoder,
  as decoded and scaled by 2^-6..2^10 across its width ("wide", real HDR range);
  log-PSNR (PSNR of log2(1 + x), peak = source maximum) and linear RMSE, decoded
  with oxy's BC6H decoder (texture2ddecoder only returns clamped 8-bit BC6H).

  ``--bc6h-held-out`` adds a second BC6H table (and verdict) on HDR images the
  presets were not tuned on (:func:`held_out_hdr`).

Images: those of ``tools/bench_kernels.py`` (scikit-image astronaut, coffee,
rocket, and coffee resized to 2048x2048; ``--quick`` drops the big one).
Needs the ``bench`` extras (ispc-texcomp, scikit-image) and texture2ddecoder.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from bench_kernels import bench_images, cpu_name  # noqa: E402

from oxy.cook import bc7, bcn  # noqa: E402
from oxy.cook.image_decode import decode_image  # noqa: E402

HDR = ROOT.parent / "shared" / "corpus" / "images" / "royal_esplanade_1k.hdr"
ISPC_BC6H = ("veryfast", "fast", "basic", "slow", "veryslow")


@dataclass
class Row:
    name: str
    mpix: list[float] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)   # per image, higher is better
    extra: list[float] = field(default_factory=list)     # secondary metric per image

    @property
    def min_mpix(self) -> float:
        return float(min(self.mpix))

    @property
    def mean_q(self) -> float:
        return float(np.mean(self.quality))


def timed(fn: Callable[[], bytes], repeat: int) -> tuple[float, bytes]:
    """Median thread-CPU seconds of ``repeat`` runs and the last output."""
    times, out = [], b""
    for _ in range(repeat):
        c0 = time.thread_time()
        out = fn()
        times.append(time.thread_time() - c0)
    return statistics.median(times), out


def t2d_decode(fmt: str, data: bytes, w: int, h: int) -> np.ndarray:
    import texture2ddecoder

    fn = {"bc1": texture2ddecoder.decode_bc1, "bc4": texture2ddecoder.decode_bc4,
          "bc5": texture2ddecoder.decode_bc5}[fmt]
    return np.frombuffer(fn(data, w, h), np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]]


def ispc_surface(pixels: np.ndarray) -> object:
    import ispc_texcomp

    h, w = pixels.shape[:2]
    row = w * pixels.shape[2] * pixels.itemsize
    return ispc_texcomp.RGBASurface(np.ascontiguousarray(pixels).tobytes(), w, h, row)


def normals_from_height(height: np.ndarray) -> np.ndarray:
    gy, gx = np.gradient(height.astype(np.float64) / 255.0 * 8.0)
    n = np.dstack([-gx, -gy, np.ones_like(gx)])
    return n / np.linalg.norm(n, axis=2, keepdims=True)


def mean_angle(xy8: np.ndarray, normals: np.ndarray) -> float:
    xy = xy8.astype(np.float64) / 255.0 * 2.0 - 1.0
    z = np.sqrt(np.clip(1.0 - (xy ** 2).sum(axis=2), 0.0, 1.0))
    m = np.dstack([xy, z])
    m /= np.linalg.norm(m, axis=2, keepdims=True)
    return float(np.degrees(np.arccos(np.clip((m * normals).sum(axis=2), -1, 1))).mean())


def log_psnr(decoded: np.ndarray, source: np.ndarray) -> float:
    a = np.log2(1.0 + source)
    b = np.log2(1.0 + np.maximum(decoded.astype(np.float64), 0.0))
    return float(10.0 * np.log10(a.max() ** 2 / np.mean((a - b) ** 2)))


def bench_ldr(fmt: str, images: dict[str, np.ndarray], repeat: int) -> list[Row]:
    import ispc_texcomp

    channels = {"bc1": slice(0, 3), "bc4": slice(1, 2), "bc5": slice(0, 2)}[fmt]
    ispc_fn = {"bc1": ispc_texcomp.compress_blocks_bc1, "bc4": ispc_texcomp.compress_blocks_bc4,
               "bc5": ispc_texcomp.compress_blocks_bc5}[fmt]
    rows = [Row(f"oxy {q}") for q in bcn.QUALITIES] + [Row("ispc")]
    for img in images.values():
        h, w = img.shape[:2]
        src = np.ascontiguousarray(img[..., channels])
        # ISPC reads BC1 from RGBA, BC4 from an R8 surface and BC5 from RG8
        surface = ispc_surface(img if fmt == "bc1" else src)
        runs: list[Callable[[], bytes]] = [
            (lambda q=q: bcn.encode(src, fmt, q)) for q in bcn.QUALITIES]  # type: ignore[misc]
        runs.append(lambda: ispc_fn(surface))
        for row, run in zip(rows, runs):
            sec, data = timed(run, repeat)
            out = t2d_decode(fmt, data, w, h)
            if fmt == "bc4":
                out = out[..., :1]
            elif fmt == "bc5":
                out = out[..., :2]
            else:
                out = out[..., :3]
            row.mpix.append(w * h / sec / 1e6)
            row.quality.append(bc7.psnr(out, src, src.shape[2]))
    return rows


def bench_normals(images: dict[str, np.ndarray], repeat: int) -> tuple[list[Row], list[float]]:
    import ispc_texcomp

    rows = [Row(f"oxy {q}") for q in bcn.QUALITIES] + [Row("ispc")]
    floor = []
    for img in images.values():
        h, w = img.shape[:2]
        normals = normals_from_height(img[..., :3].mean(axis=2))
        xy8 = np.ascontiguousarray(np.clip(np.round((normals[..., :2] * 0.5 + 0.5) * 255), 0, 255)
                                   .astype(np.uint8))
        floor.append(mean_angle(xy8, normals))
        surface = ispc_surface(xy8)
        runs: list[Callable[[], bytes]] = [
            (lambda q=q: bcn.encode_bc5(xy8, q)) for q in bcn.QUALITIES]  # type: ignore[misc]
        runs.append(lambda: ispc_texcomp.compress_blocks_bc5(surface))
        for row, run in zip(rows, runs):
            sec, data = timed(run, repeat)
            row.mpix.append(w * h / sec / 1e6)
            row.quality.append(-mean_angle(t2d_decode("bc5", data, w, h)[..., :2], normals))
    return rows, floor


def bench_hdr() -> dict[str, np.ndarray]:
    """The two BC6H images: the corpus panorama as decoded, and scaled 2^-6..2^10
    across its width."""
    pixels = decode_image(HDR.read_bytes(), str(HDR)).pixels[..., :3]
    wide = pixels * np.exp2(np.linspace(-6, 10, pixels.shape[1], dtype=np.float32))[None, :, None]
    return {"esplanade 2048x1024": pixels, "esplanade wide": wide}


def held_out_hdr() -> dict[str, np.ndarray]:
    """HDR images the BC6H presets were not tuned on (multiples of 4 for ISPC):

    * ``sky``: synthetic 1024x512 sky, a vertical blue gradient (0.3-1.8) under
      smooth random clouds, a sun (peak ~20000) with a 1/r^2 glow, and the
      corpus' Wrinkles.jpg (linearised, x0.3) as ground below row 380;
    * ``wrinkles hdr``: Wrinkles.jpg linearised and expanded by 2^(16 L) / 2
      (L its mean linear value), highlights up to ~7;
    * ``esplanade v``: a 1024x512 crop of the panorama, flipped upside down and
      scaled 2^-3..2^7 down its height (the bench's wide image varies across).
    """
    wr_path = HDR.parent / "Wrinkles.jpg"
    rgb = decode_image(wr_path.read_bytes(), str(wr_path)).pixels[:680, :, :3].astype(np.float32) / 255
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4).astype(np.float32)
    wrinkles = lin * np.exp2(16 * lin.mean(axis=2, keepdims=True)) * 0.5
    hh, ww = 512, 1024
    y, x = np.mgrid[0:hh, 0:ww].astype(np.float32)
    t = y / hh
    sky = np.dstack([0.3 + 1.2 * t, 0.5 + 1.0 * t, 1.5 + 0.3 * t])
    r2 = ((x - 700) ** 2 + (y - 120) ** 2) / 400.0
    sky = sky + (20000.0 * np.exp(-r2 / 2) + 50.0 / (1 + r2))[..., None] * np.array([1.0, 0.9, 0.7], np.float32)
    noise = np.random.default_rng(1).standard_normal((hh, ww))
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(ww), np.fft.fftfreq(hh)))
    clouds = np.abs(np.fft.ifft2(np.fft.fft2(noise) / (1 + freq * 60) ** 2))
    sky = sky * (1 + 3 * clouds / clouds.max())[..., None]
    ground = y > 380
    sky[ground] = lin[:hh, :ww][ground] * 0.3
    pixels = decode_image(HDR.read_bytes(), str(HDR)).pixels[200:712, 600:1624, :3][::-1]
    vert = pixels * np.exp2(np.linspace(-3, 7, 512, dtype=np.float32))[:, None, None]
    return {"sky 1024x512": sky.astype(np.float32), "wrinkles hdr 1024x680": wrinkles,
            "esplanade v 1024x512": vert}


def bench_bc6h(images: dict[str, np.ndarray], repeat: int) -> list[Row]:
    import ispc_texcomp

    rows = [Row(f"oxy {q}") for q in bcn.QUALITIES] + [Row(f"ispc {p}") for p in ISPC_BC6H]
    for img in images.values():
        h, w = img.shape[:2]
        half = np.ascontiguousarray(img.astype(np.float16))
        rgba = np.ascontiguousarray(np.dstack([half, np.ones((h, w), np.float16)]))
        source = half.astype(np.float64)
        surface = ispc_surface(rgba)
        runs: list[Callable[[], bytes]] = [
            (lambda q=q: bcn.encode_bc6h(half, q)) for q in bcn.QUALITIES]  # type: ignore[misc]
        for p in ISPC_BC6H:
            settings = ispc_texcomp.BC6HEncSettings.from_profile(p)
            runs.append(lambda s=settings: ispc_texcomp.compress_blocks_bc6h(surface, s))  # type: ignore[misc]
        for row, run in zip(rows, runs):
            sec, data = timed(run, repeat)
            out = bcn.decode_bc6h(data, w, h)
            row.mpix.append(w * h / sec / 1e6)
            row.quality.append(log_psnr(out, source))
            row.extra.append(float(np.sqrt(np.mean((out.astype(np.float64) - source) ** 2))))
    return rows


def mpix(v: float) -> str:
    """Mpix/s with two decimals below 10 (the slow BC6H encoders), else one."""
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def table(title: str, rows: list[Row], cols: list[str], unit: str, fmt_q: Callable[[float], str]) -> list[str]:
    lines = [f"#### {title}", "", "| encoder | " + " | ".join(cols) + f" | mean {unit} | min Mpix/s |",
             "|" + "---|" * (len(cols) + 3)]
    for r in rows:
        cells = []
        for i in range(len(cols)):
            cell = f"{mpix(r.mpix[i])} Mpix/s, {fmt_q(r.quality[i])}"
            if r.extra:
                cell += f", RMSE {r.extra[i]:.4g}"
            cells.append(cell)
        lines.append(f"| {r.name} | " + " | ".join(cells) + f" | **{fmt_q(r.mean_q)}** | {mpix(r.min_mpix)} |")
    return lines


def ratios(rows: list[Row], unit: str, fmt_d: Callable[[float], str]) -> list[str]:
    lines = ["", f"| oxy preset | ISPC profile | speed ratio (min Mpix/s) | {unit} delta | ahead on both |",
             "|---|---|---|---|---|"]
    for o in (r for r in rows if r.name.startswith("oxy")):
        for p in (r for r in rows if r.name.startswith("ispc")):
            speed = o.min_mpix / p.min_mpix
            delta = o.mean_q - p.mean_q
            both = "yes" if speed >= 1 and delta >= 0 else "no"
            lines.append(f"| {o.name} | {p.name} | {speed:.2f}x | {fmt_d(delta)} | {both} |")
    return lines


def verdict(fmt: str, rows: list[Row]) -> list[str]:
    """Per ISPC profile: PASS if some oxy preset is at least as fast (min Mpix/s)
    with at least its mean quality, naming the best such preset."""
    lines = []
    for p in (r for r in rows if r.name.startswith("ispc")):
        ahead = [o.name for o in rows if o.name.startswith("oxy")
                 and o.min_mpix >= p.min_mpix and o.mean_q >= p.mean_q]
        lines.append(f"| {fmt} | {p.name} | {'PASS (' + ', '.join(ahead) + ')' if ahead else 'FAIL'} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 small images, one run each")
    ap.add_argument("--repeat", type=int, default=None, help="runs per measurement (median kept)")
    ap.add_argument("--only", default="bc1,bc4,bc5,bc6h", help="comma-separated formats")
    ap.add_argument("--bc6h-held-out", action="store_true",
                    help="also BC6H on HDR images the presets were not tuned on")
    args = ap.parse_args(argv)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    repeat = args.repeat or (1 if args.quick else 3)
    wanted = {s.strip() for s in args.only.split(",") if s.strip()}
    images = bench_images(args.quick)
    cols = list(images)
    load = os.getloadavg()
    report = [f"{cpu_name()}, one pinned thread, median of {repeat} run(s); "
              f"load average at start {load[0]:.1f}; oxy SIMD path: {bcn.simd_path()}"]
    verdicts = ["", "| format | ISPC profile | oxy preset ahead on both speed and quality? |", "|---|---|---|"]
    db: Callable[[float], str] = lambda v: f"{v:.2f} dB"  # noqa: E731
    dd: Callable[[float], str] = lambda v: f"{v:+.2f} dB"  # noqa: E731
    for fmt in ("bc1", "bc4", "bc5"):
        if fmt in wanted:
            rows = bench_ldr(fmt, images, repeat)
            section = [""] + table(f"{fmt.upper()}", rows, cols, "dB", db) + ratios(rows, "dB", dd)
            print("\n".join(section), flush=True)
            report += section
            verdicts += verdict(fmt.upper(), rows)
    if "bc5" in wanted:
        rows, floor = bench_normals(images, repeat)
        deg: Callable[[float], str] = lambda v: f"{-v:.3f} deg"  # noqa: E731
        ddeg: Callable[[float], str] = lambda v: f"{-v:+.3f} deg"  # noqa: E731
        report += ["", *table("BC5 normal maps (mean angular error; lower is better)", rows, cols, "deg", deg),
                   "", "8-bit X/Y storage alone: " + ", ".join(f"{f:.3f} deg" for f in floor)]
        report += ratios(rows, "angle", ddeg)
        verdicts += verdict("BC5 normals", rows)
    if "bc6h" in wanted:
        hdr = bench_hdr()
        rows = bench_bc6h(hdr, repeat)
        report += ["", *table("BC6H (log-PSNR; linear RMSE)", rows, list(hdr), "log-dB", db)]
        report += ratios(rows, "log-dB", dd)
        verdicts += verdict("BC6H", rows)
        if args.bc6h_held_out:
            held = held_out_hdr()
            rows = bench_bc6h(held, repeat)
            report += ["", *table("BC6H, held-out HDR images (log-PSNR; linear RMSE)", rows, list(held),
                                  "log-dB", db)]
            verdicts += verdict("BC6H held-out", rows)
    load = os.getloadavg()
    report += verdicts + ["", f"load average at end {load[0]:.1f}"]
    print("\n== summary ==\n" + "\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
