#!/usr/bin/env python3
"""Micro-benchmark of the runtime's descriptor decoders (``oxy.runtime.decoders``).

What a CPU-pool thread holds the GIL for per asset: ``decode_asset`` on the
descriptors of the loader benchmark's content (1,200 materials, plus the cube's
geometry and scene) and ``decode_resource`` on its textures and buffers, timed in
thread CPU time (``time.thread_time``: what this thread ran, so other processes
on a busy machine inflate it less than wall time; the decoders are pure Python,
so that is time holding the GIL). The loader's ``finish`` step (run on the owning
hub with the loaded dependencies) is timed apart: it is hub time.

Baselines measured in the same run, interleaved round by round:

* ``rule book``: :func:`oxy.validate.descriptors.check_descriptor` alone (parse and
  checks, which every decode runs); decode / rule book shows what decoding adds;
* ``--against REV``: the ``decoders.py`` of git revision ``REV`` (loaded from
  ``git show``), decoding the same bytes: the before/after ratio of a change.

Medians over ``--rounds`` (odd rounds run the cases in reverse order). Usage:
``python3 tools/bench_decoders.py [--materials 1200] [--rounds 7] [--against HEAD~1]``
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_loader  # noqa: E402
from oxy.formats import AssetType  # noqa: E402
from oxy.pack.compact import pack_paths  # noqa: E402
from oxy.runtime import decoders  # noqa: E402
from oxy.runtime.keys import ResourceKey, ResourceKind  # noqa: E402
from oxy.runtime.sources import open_pak  # noqa: E402
from oxy.samples import write_loose_root  # noqa: E402
from oxy.validate.descriptors import ResourceCounts, check_descriptor  # noqa: E402
from oxy.validate.diagnostics import ValidationReport  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def module_at(rev: str) -> Any:
    """``oxy/runtime/decoders.py`` as it was at git revision ``rev``, as a module."""
    text = subprocess.run(["git", "-C", REPO, "show", f"{rev}:oxy/runtime/decoders.py"], check=True,
                          capture_output=True, text=True).stdout
    path = os.path.join(tempfile.mkdtemp(prefix="decoders_"), "decoders_at_rev.py")
    with open(path, "w") as fh:
        fh.write(text)
    spec = importlib.util.spec_from_file_location("decoders_at_rev", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def cpu_us(fn: Callable[[], Any], n: int) -> float:
    """Thread CPU microseconds per item of ``fn()`` (which handles ``n`` items)."""
    t0 = time.thread_time()
    fn()
    return (time.thread_time() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--materials", type=int, default=1200)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--against", help="also time decoders.py of this git revision")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_decoders_")
    content = bench_loader.make_content(args.materials)
    root, pak = os.path.join(tmp, "root"), os.path.join(tmp, "content.pak")
    write_loose_root(root, content)
    pack_paths([root], pak)
    src = open_pak(pak)
    tables = (src.tables[ResourceKind.TEXTURE], src.tables[ResourceKind.BUFFER])
    counts = ResourceCounts(*tables)
    by_type: dict[int, list[tuple[Any, int, bytes, Any]]] = {}
    for key, atype in src.assets.items():
        blob, where = src.read_descriptor(key)
        by_type.setdefault(atype, []).append((key, atype, blob, where))
    resources = []
    for kind in (ResourceKind.TEXTURE, ResourceKind.BUFFER):
        for i in range(src.count(kind)):
            entry, ew, payload, pw = src.read_resource(kind, i)
            resources.append((ResourceKey(src.id, kind, i), entry, ew, payload, pw))
    impls: dict[str, Any] = {"current": decoders}
    if args.against:
        impls[args.against] = module_at(args.against)

    def rule_book(items: list) -> Callable[[], Any]:
        def run() -> None:
            for _key, atype, blob, where in items:
                report = ValidationReport(where.path, "asset")
                check_descriptor(report, atype, blob, file=where.path, base=where.offset, field="descriptor",
                                 resources=counts, verify_hashes=False)
        return run

    def decode(mod: Any, items: list) -> Callable[[], Any]:
        def run() -> None:
            for key, atype, blob, where in items:
                mod.decode_asset(atype, key, blob, source=src.id, tables=tables,
                                 where=mod.Where(where.path, where.offset), verify=False)
        return run

    def finish(mod: Any, items: list) -> Callable[[], Any]:
        decoded = [mod.decode_asset(atype, key, blob, source=src.id, tables=tables,
                                    where=mod.Where(where.path, where.offset), verify=False)
                   for key, atype, blob, where in items]
        deps = {d: object() for dec in decoded for d in dec.deps}

        def run() -> None:
            for dec in decoded:
                dec.finish(deps, ())
        return run

    def resource(mod: Any) -> Callable[[], Any]:
        def run() -> None:
            for key, entry, ew, payload, pw in resources:
                mod.decode_resource(key, entry, mod.Where(ew.path, ew.offset), payload,
                                    mod.Where(pw.path, pw.offset), False)
        return run

    cases: list[tuple[str, str, Callable[[], Any], int]] = []
    materials = by_type[AssetType.MATERIAL]
    cases.append(("material", "rule book", rule_book(materials), len(materials)))
    for name, mod in impls.items():
        cases.append(("material", f"decode_asset ({name})", decode(mod, materials), len(materials)))
        cases.append(("material", f"finish on the hub ({name})", finish(mod, materials), len(materials)))
        for atype in (AssetType.GEOMETRY, AssetType.SCENE):
            items = by_type[atype] * 200
            cases.append((AssetType(atype).name.lower(), f"decode_asset ({name})", decode(mod, items), len(items)))
        cases.append(("texture+buffer", f"decode_resource ({name})", resource(mod), len(resources)))
    samples: dict[tuple[str, str], list[float]] = {(k, lb): [] for k, lb, _f, _n in cases}
    for r in range(args.rounds):
        for kind, label, fn, n in (cases if r % 2 == 0 else cases[::-1]):  # no side always runs first
            samples[(kind, label)].append(cpu_us(fn, n))
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"# Descriptor decoders: thread CPU us per item, median of {args.rounds} interleaved rounds "
          f"(load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores)\n")
    print("| asset | what | us/item | vs rule book | vs current |")
    print("|---|---|---|---|---|")
    base = med[("material", "rule book")]
    for kind, label, _fn, _n in cases:
        value = med[(kind, label)]
        current = med.get((kind, label.split(" (")[0] + " (current)")) if "(" in label else None
        vs_rb = f"{value / base:.2f}x" if kind == "material" and "finish" not in label else ""
        vs_cur = f"{value / current:.2f}x" if current else ""
        print(f"| {kind} | {label} | {value:.1f} | {vs_rb} | {vs_cur} |")


if __name__ == "__main__":
    main()
