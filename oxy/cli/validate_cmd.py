"""``oxy validate PATH [--json] [--verify-hashes]``: check a PAK or loose root against every rule."""
from __future__ import annotations

import argparse
import json

from oxy.cli.common import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a .pak file or a loose cooked root against the format rules")
    p.add_argument("path", help="a .pak file, a loose cooked root folder, or its container.index.bin")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--verify-hashes", action="store_true",
                   help="also check SHA-256 digests, content hashes and the PAK CRC-32")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from oxy.validate import validate_path

    report = validate_path(args.path, verify_hashes=args.verify_hashes)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for diagnostic in report.diagnostics:
            print(diagnostic)
        verdict = "valid" if report.ok else "INVALID"
        stats = ", ".join(f"{k} {v}" for k, v in report.stats.items())
        print(f"{report.target}: {verdict} {report.kind} ({len(report.errors)} errors, "
              f"{len(report.warnings)} warnings{'; ' + stats if stats else ''})")
    return ExitCode.OK if report.ok else ExitCode.INVALID
