"""``oxy``: validate and inspect cooked content.

Exit codes (:class:`ExitCode`): 0 valid / done, 1 usage error, 2 I/O error (missing
or unreadable path), 3 invalid content. Errors go to stderr as one line naming the
file, the byte offset and the field; never a traceback for bad input.
"""
from __future__ import annotations

import argparse
import json
import sys
from enum import IntEnum
from typing import Any, Sequence

from oxy import __version__
from oxy.errors import FormatError


class ExitCode(IntEnum):
    OK = 0
    USAGE = 1
    IO_ERROR = 2
    INVALID = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit with 2
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="oxy", description="Content pipeline for the Oxygen engine.",
                     epilog="exit codes: 0 valid, 1 usage, 2 I/O error, 3 invalid content")
    parser.add_argument("--version", action="version", version=f"oxy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    v = sub.add_parser("validate", help="check a .pak file or a loose cooked root against the format rules")
    v.add_argument("path", help="a .pak file, a loose cooked root folder, or its container.index.bin")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.add_argument("--verify-hashes", action="store_true",
                   help="also check SHA-256 digests, content hashes and the PAK CRC-32")
    i = sub.add_parser("inspect", help="print everything in a .pak file or loose cooked root, decoded")
    i.add_argument("path", help="a .pak file, a loose cooked root folder, or its container.index.bin")
    i.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        return _inspect(args)
    except FormatError as exc:
        print(f"oxy {args.command}: invalid: {exc}", file=sys.stderr)
        return ExitCode.INVALID
    except OSError as exc:
        print(f"oxy {args.command}: cannot read {exc.filename or args.path}: {exc.strerror or exc}",
              file=sys.stderr)
        return ExitCode.IO_ERROR


def _validate(args: argparse.Namespace) -> int:
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


def _inspect(args: argparse.Namespace) -> int:
    from oxy.cli.describe import describe_path

    model = describe_path(args.path)
    if args.json:
        print(json.dumps(model, indent=2))
    else:
        print(f"{model['kind']}: {model['path']}: {len(model['assets'])} assets, "
              f"{len(model['textures'])} textures, {len(model['buffers'])} buffers")
        _render(model, 0)
    return ExitCode.OK


def _render(value: Any, depth: int, name: str = "") -> None:
    pad = "  " * depth
    if isinstance(value, dict):
        if name:
            print(f"{pad}{name}:")
            depth += 1
        for key, item in value.items():
            _render(item, depth, str(key))
    elif isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        print(f"{pad}{name}: ({len(value)})")
        for n, item in enumerate(value):
            _render(item, depth + 1, f"[{n}]")
    else:
        text = "[" + ", ".join(_scalar(v) for v in value) + "]" if isinstance(value, list) else _scalar(value)
        print(f"{pad}{name}: {text}")


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


if __name__ == "__main__":
    sys.exit(main())
