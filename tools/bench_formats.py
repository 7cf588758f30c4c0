#!/usr/bin/env python3
"""Benchmark the format layer: big tables and big loose roots.

    python tools/bench_formats.py [--textures 100000] [--assets 10000]

Measures, in one run: parsing a textures.table of N entries (numpy dtype derived from
the construct declaration, vs construct's own compiled parser as the baseline), and
validating a loose cooked root of M material assets (mount checks plus deep
descriptor checks, with and without SHA-256 verification). Prints seconds and ratios;
the floor from the issue is < 1 s for each.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from oxy.formats.resources import TEXTURE_DESC_DTYPE, TextureResourceDescStruct  # noqa: E402
from oxy.samples import many_materials, write_loose_root  # noqa: E402
from oxy.validate import validate_loose_root  # noqa: E402


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_table(count: int) -> bytes:
    rng = np.random.default_rng(1)
    table = np.zeros(count, TEXTURE_DESC_DTYPE)
    table["data_offset"] = np.arange(count, dtype=np.uint64) * 4096
    table["size_bytes"] = rng.integers(28, 4096, count)
    table["texture_type"], table["width"], table["height"] = 3, 256, 256
    table["depth"], table["array_layers"], table["mip_levels"] = 1, 1, 9
    table["format"], table["alignment"] = 63, 256
    table["content_hash"] = rng.integers(0, 2**63, count, dtype=np.uint64)
    return table.tobytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--textures", type=int, default=100_000)
    parser.add_argument("--assets", type=int, default=10_000)
    args = parser.parse_args()

    data = make_table(args.textures)
    numpy_s = best_of(lambda: np.frombuffer(data, TEXTURE_DESC_DTYPE).copy())
    compiled = TextureResourceDescStruct.compile()
    sample = min(args.textures, 10_000)

    def construct_parse() -> None:
        for i in range(sample):
            compiled.parse(data[40 * i:40 * i + 40])

    construct_s = best_of(construct_parse, 1) * args.textures / sample
    print(f"textures.table, {args.textures} entries ({len(data) / 2**20:.1f} MiB)")
    print(f"  numpy dtype from the declaration : {numpy_s * 1e3:8.2f} ms")
    print(f"  construct compiled, per entry    : {construct_s * 1e3:8.2f} ms (extrapolated from {sample})")
    print(f"  ratio construct / numpy          : {construct_s / numpy_s:8.0f}x")

    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "root"
        start = time.perf_counter()
        write_loose_root(root, many_materials(args.assets))
        build_s = time.perf_counter() - start
        mount_s = best_of(lambda: validate_loose_root(root, deep=False), 3)
        deep_s = best_of(lambda: validate_loose_root(root), 3)
        hashed_s = best_of(lambda: validate_loose_root(root, verify_hashes=True), 3)
        report = validate_loose_root(root, verify_hashes=True)
        assert report.ok, [str(d) for d in report.diagnostics[:5]]
    print(f"loose root, {args.assets} material assets (written in {build_s:.1f} s)")
    print(f"  validate, mount checks only      : {mount_s * 1e3:8.1f} ms")
    print(f"  validate, deep (descriptors)     : {deep_s * 1e3:8.1f} ms")
    print(f"  validate, deep + SHA-256/hashes  : {hashed_s * 1e3:8.1f} ms")
    print(f"  floor < 1 s: table {'met' if numpy_s < 1 else 'MISSED'}, "
          f"root {'met' if deep_s < 1 else 'MISSED'} (deep), {'met' if hashed_s < 1 else 'MISSED'} (hashes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
