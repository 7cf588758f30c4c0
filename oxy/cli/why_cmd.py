"""``oxy why ROOT [ASSET|SOURCE ...]``: why each output of a cooked root was last cooked.

Reads the root's build records (``ROOT/.oxy/build.sqlite``, the generation that
describes the index on disk) and prints, per source and per output, the recorded
reason: first cook; source content changed (old -> new hash); a dependency changed
(which file); settings changed (which field, old -> new); cook code version changed
(which stage); forced; and how the bytes were obtained (cooked, reused from the
local or remote cook cache with the key, already in the root, or rebuilt
byte-identical). Arguments select sources (a path, or a file name) or outputs (a
virtual path, an asset key in hex, or an output name such as
``texture:brick.png[albedo]``); none selects everything.

``--json``: one ``oxy.why/1`` document (``docs/schemas/oxy.why.1.json``; asset keys
in their 8-4-4-4-12 text form, either form accepted as an argument) or the error
document.

Exit codes: 0 printed; 1 usage; 2 the root cannot be read; 3 the records are
unreadable; 4 the root has no build records for its index, or nothing matched.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from oxy.cli.common import ExitCode
from oxy.cli.jsonout import emit, fail

ORIGIN_TEXT = {
    "cooked": "cooked",
    "cache:local": "reused from the local cook cache",
    "cache:remote": "reused from the remote cook cache",
    "root": "already in the root under the same key (nothing cooked or written)",
    "unchanged": "rebuilt byte-identical (not rewritten)",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("why", help="say why each output of a cooked root was last cooked",
                       description="Print the recorded reason for the last cook of each output (from the root's "
                                   "build records). Exit codes: 0 printed, 1 usage, 2 unreadable root, 3 unreadable "
                                   "records, 4 no records for this index or nothing matched.")
    p.add_argument("root", metavar="ROOT", help="a loose cooked root")
    p.add_argument("items", nargs="*", metavar="ASSET|SOURCE",
                   help="sources (path or file name) or outputs (virtual path, asset key hex, output name)")
    p.add_argument("--json", action="store_true", help="one JSON document (schema oxy.why/1) on stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from oxy.build.records import BuildRecords, RecordsError
    from oxy.formats.loose import INDEX_FILE_NAME
    from oxy.rootfs import read_inside

    try:
        index = read_inside(args.root, INDEX_FILE_NAME)
    except FileNotFoundError:
        return fail(args, ExitCode.IO_ERROR, "no_index", f"{args.root}: no {INDEX_FILE_NAME} (not a cooked root)",
                    args.root)
    try:
        import hashlib

        records = BuildRecords(args.root).load(hashlib.sha256(index).hexdigest())
    except RecordsError as exc:
        return fail(args, ExitCode.INVALID, "records_unreadable", str(exc), args.root)
    if not records.gen:
        return fail(args, ExitCode.FAILED, "no_records",
                    f"{args.root}: no build records describe this index (cooked by another tool or an older "
                    "oxy, or the records were lost); cook again to record reasons", args.root)
    sources = [_source_json(r) for _path, r in sorted(records.sources.items())]
    selected = _select(sources, args.items)
    if args.items and not selected:
        return fail(args, ExitCode.FAILED, "no_match", f"nothing in {args.root} matches {' '.join(args.items)}",
                    args.root)
    if args.json:
        return emit(args, {"root": args.root, "sources": selected}, ExitCode.OK)
    for source in selected:
        _print_source(source)
    return ExitCode.OK


def produced_assets(root: str) -> dict[str, list[dict[str, Any]]]:
    """Per source (its absolute path, as recorded), the assets its last cook wrote into
    ``root``: ``{"key", "type", "virtual_path", "name"}`` (key in its text form, type the
    cook stage: material, geometry, scene), from the build records that describe the
    index on disk; empty when there are none. For ``oxy cook --json`` ("model outputs name
    the asset keys produced"). Raises OSError when the index cannot be read and
    RecordsError when the records cannot. Call from one thread (reads files only)."""
    from oxy.build.records import BuildRecords
    from oxy.formats.loose import INDEX_FILE_NAME
    from oxy.rootfs import read_inside

    import hashlib

    records = BuildRecords(root).load(hashlib.sha256(read_inside(root, INDEX_FILE_NAME)).hexdigest())
    return {path: [{"key": _key_text(o.asset), "type": o.stage, "virtual_path": o.vpath, "name": o.name}
                   for o in record.outputs if o.kind == "asset" and o.asset]
            for path, record in sorted(records.sources.items())}


def _key_text(value: str | None) -> str | None:
    """An asset key as recorded (hex, with or without dashes) in its text form
    (8-4-4-4-12), as every oxy JSON document writes keys; other text unchanged."""
    from oxy.formats import AssetKey

    if not value:
        return value
    try:
        return str(AssetKey.parse(value))
    except ValueError:
        return value


def _source_json(record: Any) -> dict[str, Any]:
    from oxy.build.recipe import Reason

    outputs = []
    for o in record.outputs:
        reason = Reason.from_json(o.reason)
        outputs.append({"name": o.name, "kind": o.kind, "stage": o.stage, "key": o.key, "origin": o.origin,
                        "origin_text": ORIGIN_TEXT.get(o.origin, o.origin), "reason": reason.to_json(),
                        "reason_text": reason.describe(), "index": o.index, "asset": _key_text(o.asset),
                        "vpath": o.vpath})
    reason = Reason.from_json(record.reason)
    return {"path": record.path, "kind": record.kind, "live": record.live, "settings": record.settings,
            "settings_from": record.origins, "cooked_at": record.cooked_at,
            "reason": reason.to_json(), "reason_text": reason.describe(), "outputs": outputs}


def _select(sources: list[dict[str, Any]], items: list[str]) -> list[dict[str, Any]]:
    if not items:
        return sources
    out = []
    for source in sources:
        if any(_matches_source(source["path"], item) for item in items):
            out.append(source)
            continue
        outputs = [o for o in source["outputs"]
                   if any(item in (o["name"], o["vpath"]) or (o["asset"] and _key_text(item) == o["asset"])
                          for item in items)]
        if outputs:
            out.append({**source, "outputs": outputs})
    return out


def _matches_source(path: str, item: str) -> bool:
    return os.path.abspath(item) == path or os.path.basename(path) == item


def _print_source(source: dict[str, Any]) -> None:
    import time

    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(source["cooked_at"]))
    print(f"{source['path']} ({source['kind']}), cooked {when}: {source['reason_text']}")
    for o in source["outputs"]:
        where = o["vpath"] or (f"texture #{o['index']}" if o["index"] is not None else "")
        label = f"{o['name']}" + (f" -> {where}" if where and where != o["name"] else "")
        print(f"  {label} [{o['stage']}]: {o['reason_text']}; {o['origin_text']} (key {o['key'][:16]})")
