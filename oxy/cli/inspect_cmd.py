"""``oxy inspect PATH [--summary | --full] [--asset KEY|VPATH]... [--type T]... [--json]``:
what a PAK or loose root holds, decoded.

Text: by default an overview that fits a terminal (one line per asset, texture and
buffer); ``--summary`` counts and sizes per type and texture format; ``--full`` every
decoded field (header, footer or file records, tables, every descriptor); ``--asset``
(repeatable: a key, a virtual path or a name) every field of those assets;
``--type`` (repeatable: material, geometry, scene, texture, buffer) narrows either.
See :mod:`oxy.cli.inspect_view`.

Exit codes: 0 printed, 3 invalid content (one line naming file, offset, field), 2
unreadable (or not enough memory), 1 usage, 4 an ``--asset`` that is not there. Names that are not valid UTF-8 are
printed escaped (``\\xNN``), also in ``--json``, which prints one ``oxy.inspect/1``
document (``docs/schemas/oxy.inspect.1.json``; hashes as hex strings without ``0x``),
narrowed by ``--asset`` / ``--type`` and with a ``summary`` object under ``--summary``.
"""
from __future__ import annotations

import argparse
import shutil

from oxy.cli.common import ExitCode
from oxy.cli.inspect_view import TYPES, SelectionError, overview_lines, select, summary, summary_lines, tree_lines
from oxy.cli.jsonout import HASH_FIELDS, emit, fail


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="print everything in a .pak file or loose cooked root, decoded")
    p.add_argument("path", help="a .pak file, a loose cooked root folder, or its container.index.bin")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--summary", action="store_true", help="counts and sizes per asset type and texture format")
    view.add_argument("--full", action="store_true", help="every decoded field of everything (long)")
    p.add_argument("--asset", action="append", default=[], metavar="KEY|VPATH",
                   help="every decoded field of this asset (a key, virtual path or name; repeatable)")
    p.add_argument("--type", action="append", default=[], choices=TYPES, dest="types",
                   help="only these asset types or tables (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON document (schema oxy.inspect/1) instead of text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from oxy.cli.describe import describe_path

    try:
        model = describe_path(args.path)
    except MemoryError:
        return fail(args, ExitCode.IO_ERROR, "out_of_memory", f"cannot inspect {args.path}: not enough memory",
                    args.path)
    try:
        model = select(model, args.asset, args.types)
    except SelectionError as exc:
        return fail(args, ExitCode.FAILED, "no_match", str(exc), args.path)
    if args.json:
        return emit(args, {**model, "summary": summary(model)} if args.summary else model, ExitCode.OK)
    if args.summary:
        lines = summary_lines(summary(model))
    elif args.full:
        lines = tree_lines(model, hash_fields=HASH_FIELDS)
    elif args.asset:
        lines = (line for asset in model["assets"] for line in tree_lines(asset, hash_fields=HASH_FIELDS))
    else:
        lines = overview_lines(model, shutil.get_terminal_size((100, 24)).columns)
    for line in lines:
        print(line)
    return ExitCode.OK
