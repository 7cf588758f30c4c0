"""``oxy pack ROOT... -o OUT.pak``: pack loose cooked roots (or PAKs) into one compacted PAK v4.

Kept: every resource an asset references, plus the live standalone textures (images
cooked on their own) that a root's build records name; for an input without records
for its index (an older root, another tool's, a PAK) every texture, since nothing is
known to be superseded. Superseded re-import data is dropped. One summary line on
stderr says how many textures and buffers were kept and dropped, with bytes.

Exit codes: 0 written; 1 usage; 2 an input or the output cannot be read or
written; 3 invalid input: a validation error, a file of an input root that
resolves outside that root (a symlink), or an asset key whose content differs
between inputs while ``--prefer`` is not given (the message names the key and
both inputs). With ``--prefer first|last`` such a key takes the first or last
input's copy, and each overridden key is listed on stderr. Identical content
under one key (even with different resource numbers) is merged silently.

``--json``: the result line is replaced by one ``oxy.pack/1`` document on stdout
(``docs/schemas/oxy.pack.1.json``: counts, kept/dropped tallies, resolved conflicts,
the written header's ``guid``, ``content_version`` and ``pak_crc32`` in hex); a
failure writes the error document (``conflict`` lists every key in ``details``).
The stderr lines stay.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from oxy.cli.common import ExitCode, prepare_output_file
from oxy.cli.jsonout import emit, fail, hex_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pack", help="pack loose cooked roots into one compacted, deterministic .pak",
                       description="Validate the inputs, copy referenced data and live standalone textures "
                                   "(build records; every texture of an input without records), renumber "
                                   "resources canonically and write a PAK v4 (engine pack-tool layout, CRC-32). "
                                   "Exit codes: 0 written, 1 usage, 2 I/O error, 3 invalid input "
                                   "(validation error, a path escaping its root, or an asset key with "
                                   "different content in two inputs without --prefer).")
    p.add_argument("roots", nargs="+", metavar="ROOT", help="loose cooked root folders (or .pak files)")
    p.add_argument("-o", "--output", required=True, help="the .pak to write (replaced atomically)")
    p.add_argument("--guid", help="PAK source key as 32 hex digits (default: derived from the content)")
    p.add_argument("--content-version", type=int, help="header content_version (default: the inputs' maximum)")
    p.add_argument("--no-verify", action="store_true", help="skip content-hash checks of the inputs")
    p.add_argument("--prefer", choices=("first", "last"),
                   help="when an asset key has different content in two inputs, keep the first or the last "
                        "input's copy (default: refuse with exit 3)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (schema oxy.pack/1) on stdout instead of the result line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from oxy.pack.compact import pack_paths
    from oxy.pack.merge import PackConflictError

    guid = None
    if args.guid is not None:
        try:
            guid = bytes.fromhex(args.guid.replace("-", ""))
        except ValueError:
            guid = b""
        if len(guid) != 16 or not any(guid):
            return fail(args, ExitCode.USAGE, "usage", f"--guid must be 32 hex digits, not all zero: {args.guid!r}")
    if args.content_version is not None and not 0 <= args.content_version < 1 << 16:
        return fail(args, ExitCode.USAGE, "usage", "--content-version must be 0..65535")
    problem = prepare_output_file(args.output)
    if problem:
        return fail(args, ExitCode.IO_ERROR, "io_error", f"-o {args.output}: {problem}", args.output)
    try:
        result = pack_paths(args.roots, args.output, guid=guid, content_version=args.content_version,
                            verify_hashes=not args.no_verify, prefer=args.prefer)
    except PackConflictError as exc:
        code = fail(args, ExitCode.INVALID, "conflict", f"conflict: {exc}", exc.conflicts[0].second,
                    details=[c.to_dict() for c in exc.conflicts])
        for conflict in exc.conflicts[1:]:
            print(f"oxy pack: conflict: {conflict}", file=sys.stderr)
        return code
    for conflict in result.conflicts:
        print(f"oxy pack: --prefer {args.prefer}: {conflict}", file=sys.stderr)
    print(f"oxy pack: {result.stats.summary()}", file=sys.stderr)
    for path, why in result.stats.unknown:
        print(f"oxy pack: note: {path}: {why}", file=sys.stderr)
    if args.json:
        return emit(args, {**result.to_dict(), **_written_header(result.path), "inputs": list(args.roots),
                           "prefer": args.prefer}, ExitCode.OK)
    print(f"{result.path}: {result.size} bytes, {result.assets} assets, {result.textures} textures, "
          f"{result.buffers} buffers (dropped {result.dropped_textures} superseded textures, "
          f"{result.dropped_buffers} unreferenced buffers)")
    return ExitCode.OK


def _written_header(path: str) -> dict[str, Any]:
    """``guid``, ``content_version`` and ``pak_crc32`` as written in ``path`` (read back
    from its header and footer, so the document states what is on disk)."""
    from oxy.formats.pak import PAK_FOOTER_SIZE, PAK_HEADER_SIZE, PakFooter, PakHeader

    with open(path, "rb") as f:
        header = PakHeader.parse(f.read(PAK_HEADER_SIZE), 0, path=path, field="header")
        f.seek(-PAK_FOOTER_SIZE, 2)
        footer = PakFooter.parse(f.read(PAK_FOOTER_SIZE), 0, path=path, field="footer")
    return {"guid": bytes(header.guid).hex(), "content_version": header.content_version,
            "pak_crc32": hex_int(footer.pak_crc32, 32)}
