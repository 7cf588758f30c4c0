"""``oxy``: the command line. One module per subcommand, registered in :data:`COMMANDS`.

Each command module has ``add_parser(subparsers)`` (which sets ``run`` as a default)
and ``run(args) -> int``. Exit codes are :class:`oxy.cli.common.ExitCode`: 0 done /
valid, 1 usage, 2 I/O error, 3 invalid content, 4 the work failed, 130 interrupted.
Errors go to stderr as one line naming the file, the byte offset and the field;
never a traceback for bad input.

With ``--json`` (:mod:`oxy.cli.jsonout`, ``docs/cli-json.md``) stdout carries exactly
one JSON document also on failure: every error path here (argparse's usage errors,
detected by ``--json`` in argv, included) writes the error document on stdout while
stderr keeps its human line. An unexpected exception (a bug) becomes the
``internal_error`` document, exit code 70, with the traceback on stderr; without
``--json`` it propagates as before.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback
from typing import Any, Sequence

from oxy import __version__
from oxy.cli import jsonout
from oxy.cli.common import ExitCode, Parser, UsageExit
from oxy.errors import FormatError, OxyError

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
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(words)
    except UsageExit as exc:
        if jsonout.argv_wants_json(words):
            command = jsonout.argv_command(words, [_name(m) for m in COMMANDS])
            jsonout.write(jsonout.error_document(command, ExitCode.USAGE, "usage", f"{exc.prog}: {exc.message}"))
        raise
    try:
        return int(args.run(args))
    except BrokenPipeError:
        raise
    except FormatError as exc:
        return _failed(args, ExitCode.INVALID, "invalid_content", f"invalid: {exc}", str(exc), exc.path,
                       offset=exc.offset, field=exc.field)
    except OxyError as exc:
        from oxy.build.journal import RootBusyError
        from oxy.rootfs import RootEscapeError, ShortReadError  # here: oxy --help never imports them

        if isinstance(exc, RootEscapeError):
            return _failed(args, ExitCode.INVALID, "root_escape", f"refused: {exc}", str(exc), exc.path)
        if isinstance(exc, ShortReadError):
            return _failed(args, ExitCode.IO_ERROR, "io_error", f"cannot read: {exc}", str(exc), exc.path)
        if isinstance(exc, RootBusyError):  # as compact and validate --repair report it
            return _failed(args, ExitCode.IO_ERROR, "root_busy", f"failed: {exc}", str(exc), _arg_path(args))
        return _failed(args, ExitCode.FAILED, "failed", f"failed: {exc}", str(exc), _arg_path(args))
    except MemoryError:
        text = "out of memory (the input is larger than this process may allocate)"
        return _failed(args, ExitCode.IO_ERROR, "out_of_memory", text, text, _arg_path(args))
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise BrokenPipeError(*exc.args) from None
        target = exc.filename or _arg_path(args) or ""
        text = f"{target}: {exc.strerror or exc}"
        code = "not_found" if isinstance(exc, FileNotFoundError) else "io_error"
        return _failed(args, ExitCode.IO_ERROR, code, f"cannot read {text}", text, str(target))
    except KeyboardInterrupt:
        return _failed(args, ExitCode.CANCELLED, "interrupted", "interrupted", "interrupted", None)
    except Exception as exc:
        if not jsonout.wants_json(args):
            raise  # a bug: the traceback, as Python prints it
        traceback.print_exc()
        return _failed(args, jsonout.INTERNAL_ERROR_EXIT, "internal_error", f"internal error: {exc!r}",
                       f"{type(exc).__name__}: {exc}", _arg_path(args))


def _name(module: str) -> str:
    """``oxy.cli.cook_cmd`` -> ``cook``."""
    return module.rsplit(".", 1)[1].removesuffix("_cmd")


def _arg_path(args: argparse.Namespace) -> str | None:
    """The path the command was about (its first path-like argument), for error documents."""
    for name in ("path", "root", "a", "output"):
        value = getattr(args, name, None)
        if isinstance(value, str):
            return value
    for name in ("roots", "inputs"):
        value = getattr(args, name, None)
        if isinstance(value, list) and value:
            return str(value[0])
    return None


def _failed(args: argparse.Namespace, exit_code: int, code: str, human: str, message: str, path: str | None,
            **extra: object) -> int:
    """The one stderr line ``oxy <command>: <human>``; with ``--json`` also the error
    document (unless the command already wrote its document)."""
    print(f"oxy {args.command}: {human}", file=sys.stderr)
    if jsonout.wants_json(args) and not jsonout.already_written(args):
        jsonout.write(jsonout.error_document(args.command, exit_code, code, message, path, **extra), args)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
