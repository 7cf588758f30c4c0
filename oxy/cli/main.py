"""``oxy``: the command line. One module per subcommand, registered in :data:`COMMANDS`.

Each command module has ``add_parser(subparsers)`` (which sets ``run`` as a default)
and ``run(args) -> int``. Exit codes are :class:`oxy.cli.common.ExitCode`: 0 done /
valid, 1 usage, 2 I/O error, 3 invalid content, 4 the work failed, 130 interrupted.
Errors go to stderr as one line naming the file, the byte offset and the field;
never a traceback for bad input.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from typing import Any, Sequence

from oxy import __version__
from oxy.cli.common import ExitCode, Parser
from oxy.errors import FormatError, OxyError
from oxy.rootfs import RootEscapeError, ShortReadError

#: Subcommand modules, in the order ``oxy --help`` lists them.
COMMANDS = ("oxy.cli.cook_cmd", "oxy.cli.validate_cmd", "oxy.cli.inspect_cmd", "oxy.cli.pack_cmd",
            "oxy.cli.diff_cmd", "oxy.cli.cache_cmd", "oxy.cli.compact_cmd", "oxy.cli.why_cmd",
            "oxy.cli.serve_cmd", "oxy.cli.export_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="oxy", description="Content pipeline for the Oxygen engine.",
                    epilog="exit codes: 0 ok, 1 usage, 2 I/O error, 3 invalid content, 4 failed, "
                           "130 interrupted")
    parser.add_argument("-V", "--version", action="version", version=f"oxy {__version__}")
    parser.add_argument("--print-completion", choices=("bash", "zsh", "tcsh"), action=_Completion,
                        help="print a shell completion script (e.g. oxy --print-completion bash > "
                             "/etc/bash_completion.d/oxy) and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


class _Completion(argparse.Action):
    """``--print-completion SHELL``: the completion script generated from this parser by shtab."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        import shtab

        sys.stdout.write(shtab.complete(parser, shell=str(values)))
        parser.exit(ExitCode.OK)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A closed stdout (``oxy inspect x | head -1``) ends the command
    quietly with :attr:`ExitCode.BROKEN_PIPE`, like a C tool killed by SIGPIPE."""
    try:
        return _main(argv)
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        raise
    except FormatError as exc:
        print(f"oxy {args.command}: invalid: {exc}", file=sys.stderr)
        return ExitCode.INVALID
    except RootEscapeError as exc:
        print(f"oxy {args.command}: refused: {exc}", file=sys.stderr)
        return ExitCode.INVALID
    except ShortReadError as exc:
        print(f"oxy {args.command}: cannot read: {exc}", file=sys.stderr)
        return ExitCode.IO_ERROR
    except OxyError as exc:
        print(f"oxy {args.command}: failed: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    except MemoryError:
        print(f"oxy {args.command}: out of memory (the input is larger than this process may allocate)",
              file=sys.stderr)
        return ExitCode.IO_ERROR
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise BrokenPipeError(*exc.args) from None
        target = exc.filename or getattr(args, "path", "")
        print(f"oxy {args.command}: cannot read {target}: {exc.strerror or exc}", file=sys.stderr)
        return ExitCode.IO_ERROR
    except KeyboardInterrupt:
        print(f"oxy {args.command}: interrupted", file=sys.stderr)
        return ExitCode.CANCELLED


if __name__ == "__main__":
    sys.exit(main())
