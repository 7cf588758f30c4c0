"""``oxy validate PATH [--json] [--verify-hashes] [--strict] [--repair]``: check a PAK or
loose root against every rule.

``--repair`` (loose roots) first recovers the root as the next cook would: an
unfinished commit of a crashed cook is rolled back (or completed when its index was
already in place), data files longer than the index are truncated and stale
temporaries removed; then the root is validated. It refuses (exit 2) while a live
cook holds the root's lock, and (exit 3) a journal naming paths outside the root.

Exit codes: 0 valid (warnings allowed), 3 invalid (any error; with ``--strict`` any
warning too), 2 unreadable (or not enough memory), 1 usage. Errors are what the
engine rejects, warnings what it tolerates (``docs/validation.md``).
"""
from __future__ import annotations

import argparse
import json
import sys

from oxy.cli.common import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a .pak file or a loose cooked root against the format rules")
    p.add_argument("path", help="a .pak file, a loose cooked root folder, or its container.index.bin")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--verify-hashes", action="store_true",
                   help="also check SHA-256 digests, content hashes and the PAK CRC-32")
    p.add_argument("--strict", action="store_true",
                   help="treat warnings (what the engine tolerates, e.g. dangling references) as errors")
    p.add_argument("--repair", action="store_true",
                   help="loose roots: first roll back (or complete) a crashed cook's unfinished commit and "
                        "remove stale temporaries")
    p.set_defaults(run=run)


def _repair(path: str) -> int | None:
    """Recover the loose root at ``path``; an exit code when that fails, else None."""
    import os

    from oxy.build import RootBusyError, recover_root
    from oxy.build.journal import JournalError
    from oxy.rootfs import RootEscapeError

    root = os.path.dirname(path) if os.path.basename(path) == "container.index.bin" else path
    if not os.path.isdir(root):
        print(f"oxy validate: --repair applies to loose roots; {path} is not one (nothing repaired)",
              file=sys.stderr)
        return None
    try:
        report = recover_root(root)
    except RootBusyError as exc:
        print(f"oxy validate: not repaired: {exc}", file=sys.stderr)
        return ExitCode.IO_ERROR
    except (JournalError, RootEscapeError) as exc:
        print(f"oxy validate: not repaired: {exc}", file=sys.stderr)
        return ExitCode.INVALID
    except OSError as exc:
        print(f"oxy validate: repair failed: {exc.filename or root}: {exc.strerror or exc}", file=sys.stderr)
        return ExitCode.IO_ERROR
    for action in report.actions:
        print(f"oxy validate: repaired: {action}", file=sys.stderr)
    if not report.actions:
        print(f"oxy validate: {root}: nothing to repair", file=sys.stderr)
    return None


def run(args: argparse.Namespace) -> int:
    from oxy.validate import validate_path

    if args.repair:
        failed = _repair(args.path)
        if failed is not None:
            return failed
    try:
        report = validate_path(args.path, verify_hashes=args.verify_hashes, strict=args.strict)
    except MemoryError:
        print(f"oxy validate: cannot validate {args.path}: not enough memory", file=sys.stderr)
        return ExitCode.IO_ERROR
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for diagnostic in report.diagnostics:
            print(diagnostic)
        verdict = "valid" if report.ok else "INVALID"
        stats = ", ".join(f"{k} {v}" for k, v in report.stats.items())
        strict = " [strict]" if report.strict else ""
        print(f"{report.to_dict()['target']}: {verdict} {report.kind}{strict} ({len(report.errors)} errors, "
              f"{len(report.warnings)} warnings{'; ' + stats if stats else ''})")
    return ExitCode.OK if report.ok else ExitCode.INVALID
