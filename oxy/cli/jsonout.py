"""The JSON contract of every ``oxy`` command run with ``--json`` (``docs/cli-json.md``).

With ``--json`` a command writes exactly one JSON document on stdout, on success
and on failure, and stderr keeps the human lines (progress, notes, the one-line
error). Every document is an object with

* ``"schema": "oxy.<command>/1"`` (:func:`schema_id`; ``"oxy/1"`` when argparse
  rejected the command line before a subcommand was known),
* ``"ok"``: true exactly when ``"exit_code"`` is 0,
* ``"exit_code"``: the process exit code (:class:`~oxy.cli.common.ExitCode`),

and either the command's payload fields beside them (:func:`emit`; a command that
ran but found a problem, such as ``validate`` of an invalid PAK or ``diff`` of two
different roots, still writes its payload with ``ok`` false) or, when the command
could not do its job, ``"error": {"code", "message", "path"}`` (:func:`fail`,
:func:`error_document`; ``code`` is one of :data:`ERROR_CODES`).

Hashes, digests, checksums and GUIDs are lowercase hex strings of fixed width
without ``0x`` (:func:`hex_int`, :func:`hexify_hashes`); asset keys use their text
form (``AssetKey``: 8-4-4-4-12 lowercase hex). The JSON Schemas are
``docs/schemas/oxy.<command>.1.json``.

A command adopts the contract in two calls: ``return emit(args, payload, code)`` at
the end, ``return fail(args, code, "not_found", message, path)`` on each early
exit. :func:`emit` marks ``args`` so that :mod:`oxy.cli.main` does not add an error
document after one was written. Functions here write to ``sys.stdout`` and
``sys.stderr``: call them from the command's thread only.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Mapping, Sequence

from oxy.cli.common import ExitCode
from oxy.jsonhex import HASH_FIELDS, hex_int, hexify_hashes  # noqa: F401 - re-exported

#: Every ``error.code`` a command may write, with its usual exit code and meaning.
#: Stable: scripts match on these; add codes, never rename them.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "usage": (1, "the command line is wrong (unknown option, bad value, missing argument)"),
    "not_found": (2, "a file or folder named on the command line does not exist"),
    "io_error": (2, "a file or folder cannot be read or written (permissions, disk full, a file "
                    "shorter than its index says, a folder in the way of an output)"),
    "out_of_memory": (2, "the input is larger than this process may allocate"),
    "root_busy": (2, "a cook (or another oxy process) holds the cooked root's lock"),
    "no_index": (2, "oxy why: the folder has no container.index.bin (not a cooked root)"),
    "invalid_content": (3, "a file breaks the format rules (the error names file, offset and field)"),
    "root_escape": (3, "a file of a cooked root resolves outside the root (a symlink); not followed"),
    "invalid_journal": (3, "a crashed cook's journal names paths outside the root or cannot be trusted"),
    "conflict": (3, "oxy pack: an asset key has different content in two inputs and --prefer was not given"),
    "records_unreadable": (3, "oxy why: the build records cannot be read"),
    "failed": (4, "the work ran and failed (for example a commit that was rolled back)"),
    "no_records": (4, "oxy why: no build records describe the root's index"),
    "no_match": (4, "nothing in the root matches the arguments (oxy why, oxy export)"),
    "unsupported_format": (4, "oxy export: the texture's format cannot be written in the requested file format"),
    "internal_error": (70, "a bug in oxy (only with --json; the traceback is on stderr)"),
    "interrupted": (130, "interrupted (Ctrl+C); previous outputs stay valid"),
}

#: Exit code of an unexpected exception under ``--json`` (EX_SOFTWARE of sysexits.h).
INTERNAL_ERROR_EXIT = ExitCode.INTERNAL

_WRITTEN = "_oxy_json_written"


def schema_id(command: str | None) -> str:
    """``"oxy.<command>/1"``; ``"oxy/1"`` when the command is not known."""
    return f"oxy.{command}/1" if command else "oxy/1"


def wants_json(args: argparse.Namespace | None) -> bool:
    """Whether the command was run with ``--json``."""
    return bool(getattr(args, "json", False))


def argv_wants_json(argv: Sequence[str]) -> bool:
    """Whether ``argv`` asks for ``--json`` (also abbreviated, as argparse accepts it),
    for errors raised before the arguments are parsed. Words after ``--`` do not count."""
    words = list(argv)
    if "--" in words:
        words = words[:words.index("--")]
    return any(len(w) >= 3 and "--json".startswith(w) for w in words)


def argv_command(argv: Sequence[str], commands: Sequence[str]) -> str | None:
    """The first word of ``argv`` that names a subcommand in ``commands``, or None."""
    return next((w for w in argv if w in commands), None)


def document(command: str | None, exit_code: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope with ``payload``'s fields beside ``schema``, ``ok`` and ``exit_code``."""
    clash = {"schema", "ok", "exit_code", "error"} & set(payload)
    if clash:
        raise ValueError(f"payload must not set {sorted(clash)}")
    return {"schema": schema_id(command), "ok": int(exit_code) == 0, "exit_code": int(exit_code), **payload}


def error_document(command: str | None, exit_code: int, code: str, message: str, path: str | None = None,
                   **extra: Any) -> dict[str, Any]:
    """The failure document. ``extra``: further fields of the error object (``offset``
    and ``field`` of a format error, ``details``). Raises ValueError for a code not in
    :data:`ERROR_CODES`."""
    if code not in ERROR_CODES:
        raise ValueError(f"unknown error code {code!r} (add it to ERROR_CODES and docs/cli-json.md)")
    error = {"code": code, "message": message, "path": None if path is None else str(path), **extra}
    return {"schema": schema_id(command), "ok": False, "exit_code": int(exit_code), "error": error}


def write(doc: Mapping[str, Any], args: argparse.Namespace | None = None) -> None:
    """Write ``doc`` as the one JSON document on stdout (ASCII, so any stream encoding
    takes it) and mark ``args`` as answered."""
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    sys.stdout.flush()
    if args is not None:
        setattr(args, _WRITTEN, True)


def already_written(args: argparse.Namespace | None) -> bool:
    """Whether a document was written for ``args`` (so no error document may follow)."""
    return bool(getattr(args, _WRITTEN, False))


def emit(args: argparse.Namespace, payload: Mapping[str, Any], exit_code: int) -> int:
    """With ``--json``: write the document of ``args.command`` with ``payload``.
    Returns ``exit_code``, so that a command ends with ``return emit(...)``."""
    if wants_json(args):
        write(document(args.command, exit_code, payload), args)
    return int(exit_code)


def fail(args: argparse.Namespace, exit_code: int, code: str, message: str, path: str | None = None, *,
         human: str | None = None, **extra: Any) -> int:
    """A command cannot do its job: one line on stderr (``human``, default ``oxy
    <command>: <message>``) and, with ``--json``, the error document on stdout.
    Returns ``exit_code``."""
    print(human if human is not None else f"oxy {args.command}: {message}", file=sys.stderr)
    if wants_json(args) and not already_written(args):
        write(error_document(args.command, exit_code, code, message, path, **extra), args)
    return int(exit_code)
