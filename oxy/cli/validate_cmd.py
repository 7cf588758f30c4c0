"""``oxy validate PATH [--json] [--verify-hashes] [--strict] [--repair]``: check a PAK or
loose root against every rule.

``--repair`` (loose roots) first recovers the root as the next cook would: an
unfinished commit of a crashed cook is rolled back (or completed when its index was
already in place), data files longer than the index are truncated and stale
temporaries removed; then the root is validated. It refuses (exit 2) while a live
cook holds the root's lock, and (exit 3) a journal naming paths outside the root.

``--json``: one ``oxy.validate/1`` document (``docs/schemas/oxy.validate.1.json``):
the report (``valid``, counts, ``stats``, ``diagnostics``) and ``repaired`` (what
``--repair`` did, null without it), or the error document.

Exit codes: 0 valid (warnings allowed), 3 invalid (any error; with ``--strict`` any
warning too), 2 unreadable (or not enough memory), 1 usage. Errors are what the
engine rejects, warnings what it tolerates (``docs/validation.md``).
"""
from __future__ import annotations

import argparse
import sys

from oxy.cli.common import ExitCode
from oxy.cli.jsonout import emit, fail


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a .pak file or a loose cooked root against the format rules")
    p.add_argument("path", help="a .pak file, a loose cooked root folder, or its container.index.bin")
    p.add_argument("--json", action="store_true", help="print one JSON document (schema oxy.validate/1)")
    p.add_argument("--verify-hashes", action="store_true",
                   help="also check SHA-256 digests, content hashes and the PAK CRC-32")
    p.add_argument("--strict", action="store_true",
                   help="treat warnings (what the engine tolerates, e.g. dangling references) as errors")
    p.add_argument("--repair", action="store_true",
                   help="loose roots: first roll back (or complete) a crashed cook's unfinished commit and "
                        "remove stale temporaries")
    p.set_defaults(run=run)


def _repair(args: argparse.Namespace, path: str) -> int | None:
    """Recover the loose root at ``path``; an exit code when that fails (the error
    reported), else None."""
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
        return fail(args, ExitCode.IO_ERROR, "root_busy", f"not repaired: {exc}", root)
    except JournalError as exc:
        return fail(args, ExitCode.INVALID, "invalid_journal", f"not repaired: {exc}", root)
    except RootEscapeError as exc:
        return fail(args, ExitCode.INVALID, "root_escape", f"not repaired: {exc}", exc.path)
    except OSError as exc:
        code = "not_found" if isinstance(exc, FileNotFoundError) else "io_error"
        return fail(args, ExitCode.IO_ERROR, code, f"repair failed: {exc.filename or root}: {exc.strerror or exc}",
                    str(exc.filename or root))
    for action in report.actions:
        print(f"oxy validate: repaired: {action}", file=sys.stderr)
    if not report.actions:
        print(f"oxy validate: {root}: nothing to repair", file=sys.stderr)
    args.repaired = list(report.actions)
    return None


def run(args: argparse.Namespace) -> int:
    from oxy.validate import validate_path

    if args.repair:
        failed = _repair(args, args.path)
        if failed is not None:
            return failed
    try:
        report = validate_path(args.path, verify_hashes=args.verify_hashes, strict=args.strict)
    except MemoryError:
        return fail(args, ExitCode.IO_ERROR, "out_of_memory", f"cannot validate {args.path}: not enough memory",
                    args.path)
    code = ExitCode.OK if report.ok else ExitCode.INVALID
    if args.json:
        return emit(args, {**report.to_dict(), "repaired": getattr(args, "repaired", None)}, code)
    else:
        for diagnostic in report.diagnostics:
            print(diagnostic)
        verdict = "valid" if report.ok else "INVALID"
        stats = ", ".join(f"{k} {v}" for k, v in report.stats.items())
        strict = " [strict]" if report.strict else ""
        print(f"{report.to_dict()['target']}: {verdict} {report.kind}{strict} ({len(report.errors)} errors, "
              f"{len(report.warnings)} warnings{'; ' + stats if stats else ''})")
    return code
