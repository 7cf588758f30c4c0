"""``oxy serve --root ROOT --watch DIR ...``: the cook daemon.

Catches up (an incremental cook of every watched source, the requests ``oxy cook
DIR -o ROOT`` would make), then watches the folders and cooks what changes;
serves an HTTP/JSON API (status, jobs, cook, cancel, compact, assets, live
events, Prometheus metrics) on 127.0.0.1:8717 by default. See docs/daemon.md.
Exit codes: 0 stopped cleanly (SIGTERM/SIGINT), 1 usage (a non-loopback --host
without --token, a --watch inside the root...), 2 cannot start (another daemon
serves the root, the port is in use).
"""
from __future__ import annotations

import argparse

from oxy.cli.common import ExitCode
from oxy.cli.cook_cmd import OUTPUT_CHOICES, QUALITY_CHOICES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the cook daemon: watch folders, cook what changes, serve an HTTP API",
                       description="Watch source folders and keep a cooked root up to date; HTTP/JSON API. "
                                   "Exit codes: 0 stopped, 1 usage, 2 cannot start.")
    p.add_argument("--root", required=True, metavar="ROOT", help="the loose cooked root to keep up to date")
    p.add_argument("--watch", required=True, action="append", metavar="DIR",
                   help="a source folder to watch (repeatable); never the root or inside it")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any "
                                                       "non-loopback address requires --token)")
    p.add_argument("--port", type=int, default=8717, help="port (default 8717; 0: any free port, logged)")
    p.add_argument("--cache", metavar="URL", default=None, help="cook cache URL (as for oxy cook)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cook cache")
    p.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' on every request")
    p.add_argument("--grace", type=float, default=10.0,
                   help="seconds a running job may take to finish at shutdown before it is cancelled (default 10)")
    p.add_argument("--debounce", type=int, default=300, metavar="MS",
                   help="quiet time before a batch of file changes is cooked (default 300 ms)")
    p.add_argument("--quality", default="normal", choices=QUALITY_CHOICES,
                   help="encoder effort: a BC7 preset, fastest first (BC1/BC4/BC5/BC6H: the bcn preset of the same "
                        "name, or the one just below)")
    p.add_argument("--format", dest="output", default=None, choices=OUTPUT_CHOICES,
                   help="output format of image sources, overriding their preset's (default: the preset's: albedo "
                        "bc7, normal bc5, data bc7 or bc4 for one-channel images, hdr bc6h); models keep their "
                        "roles' presets")
    p.add_argument("--threads", type=int, default=None, help="CPU pool size (default: all cores)")
    p.add_argument("--log-json", action="store_true", help="log one JSON object per line on stderr")
    p.add_argument("--parse-timeout", type=float, default=120.0, metavar="S",
                   help="seconds one model's parse may take in its worker process (default 120)")
    p.add_argument("--in-process-parsers", action="store_true",
                   help="parse models in the daemon's own process (default: isolated worker processes)")
    p.add_argument("--farm", metavar="ADDRESS", default=None,
                   help="cook on a Dask cluster: tcp://HOST:PORT or local:N (see docs/farm.md); model parses go "
                        "to the farm's worker processes instead of local isolated parsers")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from oxy.daemon.config import ConfigError, Log, make_config
    from oxy.daemon.server import Daemon, StartError

    log = Log(args.log_json)
    try:
        cfg = make_config(args.root, args.watch, host=args.host, port=args.port, cache=args.cache,
                          no_cache=args.no_cache, token=args.token, grace=args.grace, debounce_ms=args.debounce,
                          log_json=args.log_json, threads=args.threads, quality=args.quality, output=args.output,
                          isolate_parsers=not (args.in_process_parsers or args.farm),
                          parse_timeout=args.parse_timeout, farm=args.farm)
    except ConfigError as exc:
        log("refused", level="error", error=str(exc))
        return ExitCode.USAGE
    try:
        return Daemon(cfg, log).run()
    except StartError as exc:
        log("cannot_start", level="error", error=str(exc))
        return exc.exit_code
