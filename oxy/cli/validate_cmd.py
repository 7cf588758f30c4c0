"""``oxy validate PATH [--json] [--verify-hashes] [--strict]``: check a PAK or loose root
against every rule.

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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from oxy.validate import validate_path

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
