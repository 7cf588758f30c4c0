"""``oxy cache stats|trim|clear``: look at and tidy the cook cache.

``stats`` counts the local tier (entries, bytes, size limit, folder; the remote URL
when ``--cache`` names one). ``trim`` removes least-recently-used local entries
until the tier fits ``--cache-size`` (default ``$OXY_CACHE_SIZE`` or 10 GiB), and
temporaries older than an hour. ``clear`` removes every local entry; the remote
tier (shared with others) only with ``--remote``. ``--json`` prints exactly one
JSON document on stdout (``"schema": "oxy.cache/1"``, ``docs/schemas/oxy.cache.1.json``;
``command`` names the action), also on failure (the error document).

Exit codes: 0 done; 1 usage (a bad size or URL, a missing package such as s3fs);
2 the cache folder or the remote store cannot be read or written.
"""
from __future__ import annotations

import argparse
from typing import Any

from oxy.cli.common import ExitCode
from oxy.cli.jsonout import emit, fail, schema_id

SCHEMA = schema_id("cache")


def add_parser(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache", metavar="URL",
                        help="the cache: a folder, file:// URL, or fsspec URL of a remote tier such as "
                             "s3://bucket/prefix (default: $OXY_CACHE_DIR or the user cache folder)")
    common.add_argument("--cache-size", metavar="SIZE",
                        help="size limit of the local tier, e.g. 500M, 2G, 1.5GiB (K/M/G/T are powers of "
                             "1024, KB/MB/GB/TB of 1000; default: $OXY_CACHE_SIZE or 10G)")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p = sub.add_parser("cache", help="show, trim or clear the cook cache",
                       description="Show, trim or clear the content-addressed cook cache. "
                                   "Exit codes: 0 done, 1 usage, 2 I/O error.")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("stats", parents=[common], help="entries, bytes, size limit and location")
    actions.add_parser("trim", parents=[common],
                       help="remove least-recently-used local entries until the cache fits --cache-size")
    clear = actions.add_parser("clear", parents=[common], help="remove every local entry")
    clear.add_argument("--remote", action="store_true",
                       help="also remove every entry of the remote tier named by --cache (shared with others)")
    p.set_defaults(run=run)


def format_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _emit(args: argparse.Namespace, doc: dict[str, Any], text: str) -> int:
    if args.json:
        return emit(args, {"command": args.action, **doc}, ExitCode.OK)
    print(text)
    return ExitCode.OK


def run(args: argparse.Namespace) -> int:
    from oxy.build.cache import open_cache, parse_size

    try:
        size = parse_size(args.cache_size) if args.cache_size is not None else None
        cache = open_cache(args.cache, size_limit=size)
    except (ValueError, ImportError) as exc:
        return fail(args, ExitCode.USAGE, "usage", str(exc), args.cache)
    where = cache.location + (f" (remote {cache.remote_url})" if cache.remote_url else "")
    if args.action == "stats":
        stats = cache.stats()
        return _emit(args, stats.to_dict(),
                     f"{where}: {stats.entries} entries, {format_size(stats.bytes)} of {format_size(stats.size_limit)}")
    if args.action == "trim":
        result = cache.trim()
        return _emit(args, {"location": cache.location, "remote": cache.remote_url, "removed": result.removed,
                            "removed_bytes": result.removed_bytes, "entries": result.entries, "bytes": result.bytes,
                            "max_bytes": result.max_bytes, "stale_temps": result.stale_temps},
                     f"{where}: removed {result.removed} entries ({format_size(result.removed_bytes)}); "
                     f"{result.entries} entries, {format_size(result.bytes)} left (limit {format_size(result.max_bytes)})")
    if args.remote and cache.remote is None:
        return fail(args, ExitCode.USAGE, "usage", "--remote: --cache names no remote tier", args.cache)
    removed = cache.clear()
    remote_removed = None
    if args.remote:
        try:
            remote_removed = cache.clear_remote()
        except Exception as exc:  # the store's errors (botocore...) are not all OSError
            return fail(args, ExitCode.IO_ERROR, "io_error",
                        f"cannot clear {cache.remote_url}: {type(exc).__name__}: {exc}", cache.remote_url)
    remote_text = (f"; remote {cache.remote_url}: removed {remote_removed} entries" if remote_removed is not None
                   else f"; remote {cache.remote_url} not touched (use --remote)" if cache.remote_url else "")
    return _emit(args, {"location": cache.location, "removed": removed, "remote": cache.remote_url,
                        "remote_cleared": remote_removed is not None, "remote_removed": remote_removed},
                 f"{cache.location}: removed {removed} entries{remote_text}")
