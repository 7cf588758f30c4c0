"""What every ``oxy`` subcommand shares: the typed exit codes and the argument parser class."""
from __future__ import annotations

import argparse
import os
import re
import sys
from enum import IntEnum
from typing import NoReturn


class ExitCode(IntEnum):
    """Process exit codes of every ``oxy`` command (documented in the README)."""

    OK = 0
    USAGE = 1
    IO_ERROR = 2
    INVALID = 3
    FAILED = 4      # the work ran and failed (a cook job reported errors)
    INTERNAL = 70   # a bug, reported as the internal_error document under --json (EX_SOFTWARE)
    CANCELLED = 130  # interrupted (Ctrl+C); previous outputs stay valid
    BROKEN_PIPE = 141  # stdout closed early (``oxy inspect big | head``): 128 + SIGPIPE, as a C tool dies


_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)$")
_UNKNOWN = re.compile(r"^unrecognized arguments: (.*)$")


class UsageExit(SystemExit):
    """argparse rejected the command line: exits with ExitCode.USAGE like any SystemExit;
    ``message`` (with the "did you mean" hint) and ``prog`` let ``oxy --json`` write the
    error document."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(ExitCode.USAGE)
        self.prog = prog
        self.message = message


class Parser(argparse.ArgumentParser):
    """argparse that exits with ExitCode.USAGE (argparse's own default is 2) and says
    "did you mean ...?" for a misspelt subcommand, choice or option. The usage and the
    message go to stderr; then :class:`UsageExit` (a SystemExit) is raised."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        text = f"{message}{self._suggestion(message)}"
        sys.stderr.write(f"{self.prog}: error: {text}\n")
        raise UsageExit(self.prog, text)

    def _suggestion(self, message: str) -> str:
        choice = _CHOICE.search(message)
        if choice:
            options = [c.strip().strip("'") for c in choice.group(2).split(",")]
            return did_you_mean(choice.group(1), options)
        unknown = _UNKNOWN.search(message)
        if unknown:
            flags = sorted(_all_flags(self))
            for word in unknown.group(1).split():
                if word.startswith("-"):
                    hint = did_you_mean(word.split("=", 1)[0], flags)
                    if hint:
                        return hint
        return ""


def _all_flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of ``parser`` and its subcommands (unknown options of a subcommand
    are reported by the top-level parser)."""
    flags: set[str] = set()
    for action in parser._actions:
        flags.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _all_flags(sub)
    return flags


def did_you_mean(word: str, options: list[str]) -> str:
    """``" (did you mean 'cook'?)"`` for the closest option, or "" when none is close."""
    import difflib  # only on the error path: oxy --help stays quick

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _file_in_the_way(folder: str) -> str | None:
    """The nearest existing ancestor of ``folder`` (itself included) when it is not a folder."""
    probe = folder
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return probe if probe and not os.path.isdir(probe) else None


def prepare_output_file(path: str) -> str | None:
    """Make ``path`` ready to be written as a file: create its missing parent folders.
    Returns a message for the user when that cannot work (the path is a folder, a
    parent is a file, a folder cannot be created), else None."""
    target = os.path.abspath(path)
    if os.path.isdir(target):
        return "is a folder (give the file to write, e.g. out/game.pak)"
    parent = os.path.dirname(target)
    blocker = _file_in_the_way(parent)
    if blocker:
        return f"{blocker} is a file, not a folder"
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        return f"cannot create the folder {parent}: {exc.strerror or exc}"
    return None


def check_output_root(path: str, force: bool) -> str | None:
    """Refusals for ``-o ROOT`` of a command that writes a loose cooked root: a file that is
    not a folder, or a non-empty folder that is not a cooked root (cooked files would mix
    into it) unless ``force``. Returns the message, or None when the root may be written."""
    from oxy.formats.loose import INDEX_FILE_NAME, LOCK_FILE_NAME

    target = os.path.abspath(path)
    if os.path.exists(target) and not os.path.isdir(target):
        return "not a directory (give a folder for the cooked root)"
    blocker = _file_in_the_way(os.path.dirname(target))
    if blocker:
        return f"{blocker} is a file, not a folder"
    if force or not os.path.isdir(target):
        return None
    if any(os.path.exists(os.path.join(target, name)) for name in (INDEX_FILE_NAME, LOCK_FILE_NAME, ".oxy")):
        return None
    if any(True for _ in os.scandir(target)):
        return ("a non-empty folder that is not a cooked root: cooked files would mix with its files "
                "(use an empty or new folder, or --force to write there anyway)")
    return None
