"""``oxy cook INPUT... -o ROOT``: cook source files into a loose cooked root.

Image inputs (files, or folders searched for images) are cooked as one job into the
root's texture table; each other file is its own job. Every warning and error is
printed on stderr (``warning <code>: <source>: <message>``, repairs with their
counts) and the summary counts them; ``--json`` reports carry them too. Warnings
do not change the exit code. Ctrl+C cancels cleanly: the
root keeps its previous, valid index. Exit codes: 0 all cooked, 1 usage, 2 an
input or the root could not be read or written, 4 some input failed, 130 cancelled.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict

from oxy.cli.common import ExitCode
from oxy.cli.progress import ProgressPrinter

IO_CODES = ("session.open_failed", "session.write_failed", "session.finalize_failed",
            "import.source_not_found", "import.source_unreadable", "texture.read_failed")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cook", help="cook images (and later scenes) into a loose cooked root")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="source files, or folders of images")
    p.add_argument("-o", "--output", required=True, metavar="ROOT", help="the loose cooked root to write")
    p.add_argument("--preset", default="albedo", choices=("albedo", "normal", "data", "hdr", "ui"),
                   help="texture preset of image inputs (a model's textures take theirs from the material slot)")
    p.add_argument("--quality", default="normal", choices=("fast", "normal", "high"),
                   help="BC7 effort (images and models' textures)")
    p.add_argument("--kind", default="2d", choices=("2d", "cube", "array"),
                   help="2d: one texture per image; cube: six faces or one cross; array: layers")
    p.add_argument("--threads", type=int, default=None, help="CPU pool size (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the job reports as JSON on stdout")
    p.set_defaults(run=run)


def expand_inputs(inputs: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(image files, other files, missing paths). Folders contribute their images and
    their model files (every suffix an importer is registered for), sorted."""
    from oxy.importing import default_registry
    from oxy.importing.texture_importer import IMAGE_SUFFIXES

    known = set(default_registry.known_suffixes())
    images, others, missing = [], [], []
    for item in inputs:
        if os.path.isdir(item):
            for folder, _dirs, files in sorted(os.walk(item)):
                for f in sorted(files):
                    suffix = os.path.splitext(f)[1].lower()
                    if suffix in IMAGE_SUFFIXES:
                        images.append(os.path.join(folder, f))
                    elif suffix in known:
                        others.append(os.path.join(folder, f))
        elif not os.path.exists(item):
            missing.append(item)
        elif os.path.splitext(item)[1].lower() in IMAGE_SUFFIXES:
            images.append(item)
        else:
            others.append(item)
    return images, others, missing


def unique_names(paths: list[str]) -> dict[str, str]:
    """A name per model, unique (case-insensitively) within one command: its stem;
    where stems collide, ``stem_ext``; where those collide too, parent folders are
    prepended until the names differ. ``x/spider.obj``, ``y/spider.fbx`` become
    ``spider_obj``, ``spider_fbx``; ``a/box.fbx``, ``b/box.FBX`` become ``a_box_fbx``, ``b_box_fbx``."""
    def candidate(path: str, level: int) -> str:
        parts = [p for p in os.path.normpath(os.path.abspath(path)).split(os.sep) if p]
        stem, ext = os.path.splitext(parts[-1])
        if level == 0:
            return stem
        folders = parts[:-1][-(level - 1):] if level > 1 else []
        return "_".join(folders + [stem, ext.lstrip(".").lower()])

    names = {p: candidate(p, 0) for p in paths}
    for level in range(1, 64):
        counts: dict[str, int] = {}
        for name in names.values():
            counts[name.lower()] = counts.get(name.lower(), 0) + 1
        clashing = [p for p, n in names.items() if counts[n.lower()] > 1]
        if not clashing:
            break
        for p in clashing:
            names[p] = candidate(p, level)
    return names


def run(args: argparse.Namespace) -> int:
    from oxy.importing import AsyncImportService, ImportRequest

    if args.threads is not None and args.threads < 1:
        print("oxy cook: --threads must be at least 1", file=sys.stderr)
        return ExitCode.USAGE
    images, others, missing = expand_inputs(args.inputs)
    for path in missing:
        print(f"oxy cook: cannot read {path}: no such file or folder", file=sys.stderr)
    if missing:
        return ExitCode.IO_ERROR
    image_options = {"preset": args.preset, "quality": args.quality, "kind": args.kind, "sources": images[1:]}
    requests = [ImportRequest(images[0], args.output, options=image_options)] if images else []
    names = unique_names(others)  # models: --quality applies to their textures; presets come from material slots
    requests += [ImportRequest(path, args.output, options={"quality": args.quality, "name_prefix": names[path],
                                                           "scene_name": names[path]}) for path in others]
    if not requests:
        print("oxy cook: no inputs to cook", file=sys.stderr)
        return ExitCode.USAGE
    printer = ProgressPrinter()
    started = time.perf_counter()
    reports, interrupted = [], False
    with AsyncImportService(cpu_threads=args.threads, max_concurrent_jobs=1) as service:
        handles = [service.submit(r, on_progress=printer) for r in requests]
        try:
            reports = [h.wait() for h in handles]
        except KeyboardInterrupt:
            interrupted = True
            service.cancel_all()
            reports = [h.wait() for h in handles]
    printer.close()
    return _summarise(args, reports, time.perf_counter() - started, interrupted)


def _summarise(args: argparse.Namespace, reports: list, seconds: float, interrupted: bool) -> int:
    if args.json:
        print(json.dumps({"root": args.output, "seconds": round(seconds, 3), "interrupted": interrupted,
                          "jobs": [_report_dict(r) for r in reports]}, indent=2))
    for report in reports:
        for d in report.diagnostics:
            if d.severity.value != "info":
                print(f"oxy cook: {d}", file=sys.stderr)
    written: dict[str, int] = {}
    for report in reports:
        for kind, count in report.written.items():
            written[kind] = written.get(kind, 0) + count
    failed = sum(1 for r in reports for d in r.errors)
    warned = sum(1 for r in reports for d in r.diagnostics if d.severity.value == "warning")
    if any(r.cancelled for r in reports):
        print(f"oxy cook: cancelled; {args.output} keeps its previous index", file=sys.stderr)
        return ExitCode.CANCELLED
    if interrupted:
        print(f"oxy cook: interrupted after the cook had committed; {args.output} holds the new index",
              file=sys.stderr)
    summary = ", ".join(f"{count} {kind}" for kind, count in written.items() if count) or "nothing"
    print(f"oxy cook: {len(reports)} job(s), wrote {summary} to {args.output} in {seconds:.2f} s"
          + (f", {failed} error(s)" if failed else "") + (f", {warned} warning(s)" if warned else ""),
          file=sys.stderr)
    if all(r.success for r in reports):
        return ExitCode.OK
    if any(d.code in IO_CODES for r in reports for d in r.errors):
        return ExitCode.IO_ERROR
    return ExitCode.FAILED


def _report_dict(report) -> dict:
    out = asdict(report)
    out["diagnostics"] = [{**asdict(d), "severity": d.severity.value} for d in report.diagnostics]
    return out
