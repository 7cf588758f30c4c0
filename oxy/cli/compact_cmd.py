"""``oxy compact ROOT [--json] [--dry-run]``: rewrite a loose cooked root in place with only its live data.

Keeps every resource an asset references and the live standalone textures of the
root's build records (with no records for its index: every texture, since nothing
is known to be superseded); drops superseded re-import data; renumbers canonically.
Crash-safe: at every instant the root is the old one or the new one. A root that is
already compact is left untouched (not one byte or mtime changes).

Exit codes: 0 compacted (or nothing to do); 1 usage; 2 the root cannot be read or
written, or a cook holds its lock; 3 invalid content (validation error, build
records that disagree with the index, a path escaping the root); 4 the commit
failed and was rolled back.

``--json``: one ``oxy.compact/1`` document (``docs/schemas/oxy.compact.1.json``) in
place of the stdout and stderr lines of a success; a failure writes the error
document (its stderr line stays).
"""
from __future__ import annotations

import argparse
import sys

from oxy.cli.common import ExitCode
from oxy.cli.jsonout import emit, fail


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compact", help="rewrite a loose cooked root in place with only its live data",
                       description="Drop superseded re-import data from a loose cooked root: keep what assets "
                                   "reference plus the live standalone textures of the build records (every "
                                   "texture when the root has no records), renumber canonically, commit "
                                   "crash-safely. Exit codes: 0 done, 1 usage, 2 I/O error or a cook holds the "
                                   "root, 3 invalid content, 4 commit failed (rolled back).")
    p.add_argument("root", metavar="ROOT", help="the loose cooked root folder")
    p.add_argument("--json", action="store_true", help="print one JSON document (schema oxy.compact/1)")
    p.add_argument("--dry-run", action="store_true", help="say what would be dropped; write nothing")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from oxy.build import RootBusyError
    from oxy.build.journal import JournalError
    from oxy.pack.compact import format_bytes as size
    from oxy.pack.compact_root import compact_root

    try:
        result = compact_root(args.root, dry_run=args.dry_run)
    except RootBusyError as exc:
        return fail(args, ExitCode.IO_ERROR, "root_busy", f"not compacted: {exc}", args.root)
    except JournalError as exc:
        return fail(args, ExitCode.INVALID, "invalid_journal", f"not compacted: {exc}", args.root)
    if args.json:
        return emit(args, result.to_dict(), ExitCode.OK)
    for action in result.recovery:
        print(f"oxy compact: recovery: {action}", file=sys.stderr)
    if not result.live_known:
        print(f"oxy compact: {result.root}: {result.live_note}; only unreferenced buffers can be dropped",
              file=sys.stderr)
    if result.records_note:
        print(f"oxy compact: {result.records_note}", file=sys.stderr)
    s = result.stats
    dropped = (f"dropped {s.dropped_textures.count} superseded textures ({size(s.dropped_textures.bytes)}) and "
               f"{s.dropped_buffers.count} buffers ({size(s.dropped_buffers.bytes)})")
    if not result.changed:
        print(f"{result.root}: already compact, nothing written ({size(result.bytes_before)}, "
              f"{result.textures_before} textures, {result.buffers_before} buffers)")
        return ExitCode.OK
    verb = "would be" if result.dry_run else "now"
    print(f"{result.root}: {size(result.bytes_before)} -> {size(result.bytes_after)} {verb}; "
          f"textures {result.textures_before} -> {result.textures_after} (kept {s.referenced_textures.count} "
          f"referenced, {s.live_textures.count} live standalone, {s.unreferenced_textures.count} without records), "
          f"buffers {result.buffers_before} -> {result.buffers_after}; {dropped}"
          + (" (dry run: nothing written)" if result.dry_run else ""))
    return ExitCode.OK
