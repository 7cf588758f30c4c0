"""What every ``oxy`` subcommand shares: the typed exit codes and the argument parser class."""
from __future__ import annotations

import argparse
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
    CANCELLED = 130  # interrupted (Ctrl+C); previous outputs stay valid


class Parser(argparse.ArgumentParser):
    """argparse that exits with ExitCode.USAGE (argparse's own default is 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")
