"""``oxy cook INPUT... -o ROOT``: cook source files into a loose cooked root.

Image inputs (files, or folders searched for images) are cooked as one job into the
root's texture table; models are cooked first, up to :data:`MODELS_PER_JOB` per job.
Progress and diagnostics go to stderr as the jobs report them (:mod:`oxy.cli.progress`):
a live display on a terminal, one plain line per job event on a pipe or a file or
with ``--no-progress``; every warning and error as ``warning <code>: <source>:
<message>`` (assimp's own warnings: the first three per source file, all with
``-v``; ``-q`` shows errors only), then a summary that counts them. ``--json``
prints the job reports (with every diagnostic) on stdout. Warnings do not change
the exit code. Ctrl+C cancels cleanly: the
root keeps its previous, valid index. Exit codes: 0 all cooked, 1 usage, 2 an
input or the root could not be read or written, 4 some input failed, 130 cancelled.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict

from oxy.cli.common import ExitCode, check_output_root
from oxy.cli.jsonout import emit, fail

#: Models cooked in one job share one session and one commit (a failed model is rolled
#: back alone); an interrupted cook keeps every batch committed before it.
MODELS_PER_JOB = 32
#: Seconds the main thread sleeps at most between two looks for Ctrl+C while jobs run.
WAIT_SLICE = 0.2
#: ``--format`` choices: ``oxy.cook.texture.OUTPUT_FORMATS``, spelled out here so that
#: ``oxy --help`` does not import numpy (a test checks they are the same).
OUTPUT_CHOICES = ("bc7", "bc1", "bc4", "bc5", "bc6h", "rgba8", "rgba16f", "rgba32f")
#: ``--quality`` choices: ``oxy.cook.bc7.QUALITIES`` (fastest first), spelled out for the same reason.
QUALITY_CHOICES = ("ultrafast", "fast", "normal", "better", "thorough", "high")
IO_CODES = ("session.open_failed", "session.write_failed", "session.finalize_failed",
            "import.source_not_found", "import.source_unreadable", "texture.read_failed")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cook", help="cook images (and later scenes) into a loose cooked root")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="source files, or folders of images")
    p.add_argument("-o", "--output", required=True, metavar="ROOT", help="the loose cooked root to write")
    p.add_argument("--preset", default=None, choices=("albedo", "normal", "data", "hdr", "ui"),
                   help="texture preset of image inputs (default albedo); for models, the preset of their colour "
                        "textures (base colour, emissive: albedo, ui or data), normal and data maps keep theirs")
    p.add_argument("--quality", default="normal", choices=QUALITY_CHOICES,
                   help="encoder effort (images and models' textures), BC7's presets, fastest first; BC1/BC4/BC5/"
                        "BC6H use the bcn preset of the same name, or the one just below (better, thorough: normal)")
    p.add_argument("--format", dest="texture_format", default=None, choices=OUTPUT_CHOICES,
                   help="output format of image inputs, overriding the preset's (albedo bc7, normal bc5, data bc7 "
                        "or bc4 for a one-channel image, hdr bc6h, ui bc7); models' textures keep their roles' presets")
    p.add_argument("--ignore-alpha", action="store_true",
                   help="image inputs' alpha is never read (opaque materials): it is dropped, and BC7 spends the bits "
                        "on colour (alpha then decodes to 254 or 255); better colour on few-colour content")
    p.add_argument("--kind", default="2d", choices=("2d", "cube", "array"),
                   help="2d: one texture per image; cube: six faces or one cross; array: layers")
    p.add_argument("--threads", type=int, default=None, help="CPU pool size (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the job reports as JSON on stdout")
    talk = p.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", action="store_true", help="print errors and the summary only")
    talk.add_argument("-v", "--verbose", action="store_true",
                      help="print every diagnostic, including every warning of third-party parsers (assimp)")
    p.add_argument("--no-progress", action="store_true",
                   help="no live display on a terminal: one plain line per job event, as on a pipe")
    p.add_argument("--force", action="store_true",
                   help="cook every input and unit again, even when the build records say it is up to date; "
                        "also lets -o name a non-empty folder that is not a cooked root")
    p.add_argument("--lock-timeout", type=float, default=None, metavar="S",
                   help="when another process holds the root, wait at most S seconds (default: wait for it; "
                        "who holds it is printed once)")
    p.add_argument("--cache", metavar="URL", default=None,
                   help="cook cache: a folder or any fsspec URL (s3://bucket/prefix) used behind the local cache "
                        "(default: $OXY_CACHE_DIR or the user cache folder)")
    p.add_argument("--cache-size", metavar="SIZE", default=None, help="bound of the local cook cache (e.g. 5G)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cook cache")
    p.add_argument("--isolate-parsers", action="store_true",
                   help="parse models with libassimp in worker processes: a crash or hang fails that model alone")
    p.add_argument("--parse-timeout", type=float, default=120.0, metavar="S",
                   help="with --isolate-parsers: seconds one model's parse may take (default 120)")
    p.add_argument("--farm", metavar="ADDRESS", default=None,
                   help="cook on a Dask cluster: tcp://HOST:PORT (an existing scheduler) or local:N (N worker "
                        "processes started here); needs oxy[farm]; see docs/farm.md")
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


def _wait_for_root(args: argparse.Namespace) -> bool:
    """Wait while another process holds the root's lock (saying who, once); False when it is
    still held after ``--lock-timeout``. The session takes the lock itself afterwards."""
    from oxy.build.rootlock import wait_until_free

    if not os.path.isdir(args.output):
        return True

    def busy(holder: str) -> None:
        bound = "" if args.lock_timeout is None else f" (at most {args.lock_timeout:g} s)"
        print(f"oxy cook: waiting for {args.output}: locked by {holder}{bound}", file=sys.stderr)
    return wait_until_free(args.output, args.lock_timeout, busy)


def run(args: argparse.Namespace) -> int:
    from oxy.cli.console import Verbosity
    from oxy.cli.progress import make_reporter  # the importing layer: loaded only when cooking
    from oxy.importing import AsyncImportService, ImportRequest

    if args.threads is not None and args.threads < 1:
        return fail(args, ExitCode.USAGE, "usage", "--threads must be at least 1")
    if args.parse_timeout <= 0:
        return fail(args, ExitCode.USAGE, "usage", "--parse-timeout must be positive")
    if args.lock_timeout is not None and args.lock_timeout < 0:
        return fail(args, ExitCode.USAGE, "usage", "--lock-timeout must be >= 0")
    images, others, missing = expand_inputs(args.inputs)
    others, images = _unique(others), _unique(images)  # a file named twice (and via its folder): once
    if missing:
        code = fail(args, ExitCode.IO_ERROR, "not_found", f"cannot read {missing[0]}: no such file or folder",
                    missing[0])
        for path in missing[1:]:
            print(f"oxy cook: cannot read {path}: no such file or folder", file=sys.stderr)
        return code
    explicit = {os.path.abspath(p) for p in args.inputs if os.path.isfile(p)}
    names = unique_names(others)  # models: --quality and --preset reach their textures (role-aware)
    model_options = {"quality": args.quality, "preset": args.preset if args.preset in ("albedo", "ui", "data") else None,
                     "force": args.force or None}
    requests = [ImportRequest(batch[0], args.output, options={
        **model_options, "name_prefix": names[batch[0]], "scene_name": names[batch[0]],
        "models": [{"path": p, "name_prefix": names[p], "scene_name": names[p]} for p in batch[1:]] or None})
        for batch in _batches(others, MODELS_PER_JOB)]
    if not requests and not images:
        return fail(args, ExitCode.USAGE, "usage", "no inputs to cook")
    refusal = check_output_root(args.output, args.force)
    if refusal:
        return fail(args, ExitCode.IO_ERROR, "io_error", f"-o {args.output}: {refusal}", args.output)
    if not _wait_for_root(args):
        from oxy.build.rootlock import holder_of

        return fail(args, ExitCode.IO_ERROR, "root_busy",
                    f"{args.output} is still locked by {holder_of(args.output) or 'another process'} "
                    f"after --lock-timeout {args.lock_timeout:g} s", args.output)
    try:
        cache = _open_cache(args)
    except (ValueError, ImportError) as exc:
        what = f"--cache {args.cache}" if args.cache else "--cache-size" if args.cache_size else "the cook cache"
        return fail(args, ExitCode.USAGE, "usage", f"{what}: {exc}", args.cache)
    farm = None
    if args.farm:
        from oxy.farm import FarmError
        from oxy.farm.executor import Farm

        try:
            farm = Farm.connect(args.farm)
        except ValueError as exc:
            return fail(args, ExitCode.USAGE, "usage", str(exc))
        except FarmError as exc:
            return fail(args, ExitCode.IO_ERROR, "io_error", f"--farm {args.farm}: {exc}")
    verbosity = Verbosity.QUIET if args.quiet else Verbosity.VERBOSE if args.verbose else Verbosity.NORMAL
    reporter = make_reporter(verbosity, progress=not args.no_progress)
    reporter.plan(len(requests) + (1 if images else 0))
    started = time.perf_counter()
    try:
        with AsyncImportService(cpu_threads=args.threads, max_concurrent_jobs=1, cache=cache,
                                isolate_parsers=args.isolate_parsers, parse_timeout=args.parse_timeout,
                                farm=farm) as service:
            batches = [[r.source_path, *(m["path"] for m in r.options.get("models") or ())] for r in requests]
            reports, interrupted = _run_jobs(service, requests, batches, reporter, 1)
            # Models first: an image found in a folder that a model of this command already
            # cooked (as its texture, with its role's preset) is not cooked a second time.
            used = {p for r in reports for p in r.inputs}
            images = [p for p in images if os.path.abspath(p) in explicit or os.path.abspath(p) not in used]
            reporter.plan(len(requests) + (1 if images else 0))
            if images and not interrupted:
                image_options = {"preset": args.preset or "albedo", "quality": args.quality, "kind": args.kind,
                                 "output": args.texture_format, "ignore_alpha": args.ignore_alpha or None,
                                 "sources": images[1:], "force": args.force or None}
                more, interrupted = _run_jobs(service, [ImportRequest(images[0], args.output, options=image_options)],
                                              [images], reporter, len(requests) + 1)
                reports = more + reports
    finally:
        reporter.close()
        if farm is not None:
            if farm.lost is not None:
                print(f"oxy cook: {farm.lost}", file=sys.stderr)
            farm.close()
    return _summarise(args, reports, time.perf_counter() - started, interrupted, cache, len(others) + len(images),
                      reporter)


def _unique(paths: list[str]) -> list[str]:
    """``paths`` without repeats of the same file (compared by absolute path), in order."""
    seen: set[str] = set()
    out = []
    for path in paths:
        if os.path.abspath(path) not in seen:
            seen.add(os.path.abspath(path))
            out.append(path)
    return out


def _batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _run_jobs(service, requests: list, sources: list[list[str]], reporter, first: int) -> tuple[list, bool]:
    """(reports, interrupted): Ctrl+C cancels the jobs and still collects their reports.
    Job ``first + i`` of the reporter cooks ``sources[i]``."""
    handles = []
    for n, (request, files) in enumerate(zip(requests, sources)):
        on_progress, on_complete = reporter.watch(first + n, files)
        handles.append(service.submit(request, on_complete=on_complete, on_progress=on_progress))
    try:
        return [_wait(h) for h in handles], False
    except KeyboardInterrupt:
        service.cancel_all()
        return [h.wait() for h in handles], True


def _wait(handle):
    """The job's report, waited for in slices of :data:`WAIT_SLICE` seconds: Ctrl+C's
    SIGINT may be delivered to another of the process's threads, which leaves this one
    asleep in a lock until the job ends; waking up regularly runs Python's handler
    (KeyboardInterrupt) within a slice."""
    while (report := handle.wait(WAIT_SLICE)) is None:
        pass
    return report


def _open_cache(args: argparse.Namespace):
    """The cook cache the command uses (None with --no-cache). ValueError: bad size or URL."""
    if args.no_cache:
        return None
    from oxy.build.cache import open_cache, parse_size

    size = parse_size(args.cache_size) if args.cache_size else None
    return open_cache(args.cache, size_limit=size)


def total_counts(reports: list) -> dict[str, dict[str, int]]:
    """Per unit kind, the counts of every job added up."""
    out: dict[str, dict[str, int]] = {}
    for report in reports:
        for kind, counts in report.counts.items():
            into = out.setdefault(kind, {})
            for what, n in counts.items():
                into[what] = into.get(what, 0) + n
    return dict(sorted(out.items()))


def counts_line(counts: dict[str, dict[str, int]]) -> str:
    """``texture: 2 cooked, 5 up to date, 1 cache hit (local); ...``"""
    parts = []
    for kind, c in counts.items():
        bits = [f"{c['cooked']} cooked"] if c.get("cooked") else []
        if c.get("up_to_date"):
            bits.append(f"{c['up_to_date']} up to date")
        hits = c.get("cache_hits_local", 0) + c.get("cache_hits_remote", 0)
        if hits:
            bits.append(f"{hits} from the cache ({c.get('cache_hits_local', 0)} local, "
                        f"{c.get('cache_hits_remote', 0)} remote)")
        if c.get("failed"):
            bits.append(f"{c['failed']} failed")
        if bits:
            parts.append(f"{kind}: {', '.join(bits)}")
    return "; ".join(parts)


def _summarise(args: argparse.Namespace, reports: list, seconds: float, interrupted: bool, cache, sources: int,
               reporter) -> int:
    """Print the JSON document (``--json``) and the summary; the exit code. The
    diagnostics were shown by ``reporter`` as the jobs reported them."""
    counts = total_counts(reports)
    if args.json:
        doc = {"root": args.output, "seconds": round(seconds, 3), "interrupted": interrupted, "counts": counts,
               "cache": (cache.counters.snapshot() if cache is not None else None),
               "jobs": _jobs_json(args.output, reports)}
        emit(args, doc, _exit_code(reports))
    written: dict[str, int] = {}
    for report in reports:
        for kind, count in report.written.items():
            written[kind] = written.get(kind, 0) + count
    failed = sum(1 for r in reports for d in r.errors)
    warned = sum(1 for r in reports for d in r.diagnostics if d.severity.value == "warning")
    third_party = reporter.filter.third_party_total()
    if any(r.cancelled for r in reports):
        reporter.summary(f"cancelled; {args.output} keeps its previous index")
        return ExitCode.CANCELLED
    if interrupted:
        reporter.summary(f"interrupted after the cook had committed; {args.output} holds the new index")
    summary = ", ".join(f"{count} {kind}" for kind, count in written.items() if count) or "nothing"
    reporter.summary(f"{sources} source(s) in {len(reports)} job(s), wrote {summary} to {args.output} in "
                     f"{seconds:.2f} s" + (f", {failed} error(s)" if failed else "")
                     + (f", {warned} warning(s)" if warned else "")
                     + (f" ({third_party} from assimp)" if third_party else ""))
    if counts:
        reporter.summary(counts_line(counts))
    return _exit_code(reports)


def _exit_code(reports: list) -> int:
    """0 all cooked, 130 cancelled, 2 an I/O error, else 4."""
    if any(r.cancelled for r in reports):
        return ExitCode.CANCELLED
    if all(r.success for r in reports):
        return ExitCode.OK
    if any(d.code in IO_CODES for r in reports for d in r.errors):
        return ExitCode.IO_ERROR
    return ExitCode.FAILED


def _jobs_json(root: str, reports: list) -> list[dict]:
    """The job reports, each naming the assets it wrote (``assets``: key, type, virtual
    path, from the build records of the index now on disk; empty when they cannot be read)."""
    from oxy.build.records import RecordsError
    from oxy.cli.why_cmd import produced_assets
    from oxy.errors import OxyError

    try:
        produced = produced_assets(root)
    except (OSError, RecordsError, OxyError):  # a root escape, a broken index: the job's own diagnostics say it
        produced = {}
    jobs = []
    for report in reports:
        job = _report_dict(report)
        sources = [report.source_path, *report.inputs]
        job["assets"] = [a for s in dict.fromkeys(os.path.abspath(p) for p in sources) for a in produced.get(s, [])]
        jobs.append(job)
    return jobs


def _report_dict(report) -> dict:
    out = asdict(report)
    out["diagnostics"] = [{**asdict(d), "severity": d.severity.value} for d in report.diagnostics]
    return out
