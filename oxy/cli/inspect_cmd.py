"""``oxy inspect PATH [--json]``: print everything in a PAK or loose root, decoded.

Exit codes: 0 printed, 3 invalid content (one line naming file, offset, field), 2
unreadable (or not enough memory), 1 usage. Names that are not valid UTF-8 are
printed escaped (``\\xNN``), also in ``--json``, which prints one ``oxy.inspect/1``
document (``docs/schemas/oxy.inspect.1.json``; hashes as hex strings without ``0x``).
"""
from __future__ import annotations

import argparse
from typing import Any

from oxy.cli.common import ExitCode
from oxy.cli.jsonout import HASH_FIELDS, emit, fail


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="print everything in a .pak file or loose cooked root, decoded")
    p.add_argument("path", help="a .pak file, a loose cooked root folder, or its container.index.bin")
    p.add_argument("--json", action="store_true", help="print one JSON document (schema oxy.inspect/1) instead of text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from oxy.cli.describe import describe_path

    try:
        model = describe_path(args.path)
    except MemoryError:
        return fail(args, ExitCode.IO_ERROR, "out_of_memory", f"cannot inspect {args.path}: not enough memory",
                    args.path)
    if args.json:
        return emit(args, model, ExitCode.OK)
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
        text = "[" + ", ".join(_scalar(v) for v in value) + "]" if isinstance(value, list) else _scalar(value, name)
        print(f"{pad}{name}: {text}")


def _scalar(value: Any, name: str = "") -> str:
    if name in HASH_FIELDS and isinstance(value, str):
        return "0x" + value  # hashes read as hex numbers in the text output
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)
