"""``oxy diff A B``: compare two PAKs or loose roots by content.

Exit codes: 0 same content, 4 differences found, 1 usage, 2 I/O error, 3 invalid input.
``--json``: one ``oxy.diff/1`` document (``docs/schemas/oxy.diff.1.json``): assets
only in A or B (``key``, ``virtual_path``, ``type``) and changed fields (``key``,
``virtual_path``, ``field``, ``a``, ``b`` as JSON values; a side without the field
has no ``a`` or ``b``); ``ok`` is false when they differ (exit 4).
"""
from __future__ import annotations

import argparse

from oxy.cli.common import ExitCode
from oxy.cli.jsonout import emit

#: Exit code when the two sides differ (diff(1) uses 1, which is USAGE here).
DIFFERENT = ExitCode.FAILED


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare two .pak files or loose roots by content",
                       description="Compare assets (decoded fields, virtual paths) and the resources "
                                   "they reference (by content, not index or offset). Exit codes: "
                                   "0 same content, 4 differences, 1 usage, 2 I/O error, 3 invalid input.")
    p.add_argument("a", help="a .pak file or loose cooked root")
    p.add_argument("b", help="a .pak file or loose cooked root")
    p.add_argument("--json", action="store_true", help="print one JSON document (schema oxy.diff/1)")
    p.add_argument("--max-fields", type=int, default=20, help="changed fields listed per asset (default 20)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from oxy.pack.content import read_content
    from oxy.pack.diff import diff_content

    result = diff_content(read_content(args.a, verify_hashes=False), read_content(args.b, verify_hashes=False),
                          max_fields=max(1, args.max_fields))
    code = ExitCode.OK if result.identical else DIFFERENT
    if args.json:
        return emit(args, result.to_dict(), code)
    else:
        for line in result.lines():
            print(line)
        for note in result.notes:  # counts per side: resources no asset uses do not count as content
            print(f"note: {note}")
        print("same content (assets and the resources they use)" if result.identical
              else f"{len(result.lines())} differences")
    return code
