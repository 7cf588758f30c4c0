"""``oxy export SRC (KEY | VIRTUAL_PATH | texture:N | SOURCE_FILE | --all) -o DIR --format dds|ktx2|png|hdr``.

Writes the textures of a PAK or loose cooked root as DDS (DX10 header, every
format, mip, layer and face), KTX2 (the same, KTX 2.0 container), PNG (8 bits, one
``--mip`` / ``--layer`` / ``--face``) or Radiance HDR (float formats, one image).
``docs/export.md`` describes selectors, names and formats.

``--json`` prints exactly one JSON document (:mod:`oxy.cli.jsonout`, ``"schema":
"oxy.export/1"``, schema ``docs/schemas/oxy.export.1.json``), also on failure
(``"error": {"code", "message", "path"}``); OSErrors (a write failing) reach
:mod:`oxy.cli.main`, which reports them the same way. Exit codes: 0 written,
1 usage, 2 I/O error (including an ``-o`` that is a file: "not a directory"),
3 invalid content (or a name that would leave the output folder), 4 nothing matches
the selector or the format cannot be written as asked.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from oxy.cli.common import ExitCode
from oxy.cli.jsonout import emit, fail

_FACES = {"+x": 0, "-x": 1, "+y": 2, "-y": 3, "+z": 4, "-z": 5, "px": 0, "nx": 1, "py": 2, "ny": 3, "pz": 4, "nz": 5}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write textures of a .pak or loose root as DDS, KTX2, PNG or Radiance HDR files",
        description="Export textures. KEY is an asset key or virtual path (a material exports its textures, a "
                    "geometry or scene those of its materials), texture:N (index in the texture table), or a "
                    "cooked source file known to the root's build records. Exit codes: 0 written, 1 usage, "
                    "2 I/O error, 3 invalid content, 4 no match or format not writable.")
    p.add_argument("path", help="a .pak file or a loose cooked root")
    p.add_argument("key", nargs="?", help="asset key, virtual path, texture:N or cooked source file")
    p.add_argument("--all", action="store_true", help="export every texture (except the fallback at index 0)")
    p.add_argument("-o", "--out", required=True, help="output folder (created when missing)")
    p.add_argument("--format", choices=("dds", "ktx2", "png", "hdr"), default="dds", help="file type (default dds)")
    p.add_argument("--mip", type=int, help="PNG/HDR: the mip level (default 0)")
    p.add_argument("--layer", type=int, help="PNG/HDR: the array layer, or the cube of a cube array (default 0)")
    p.add_argument("--face", help="PNG/HDR of a cube: the face, 0-5, px nx py ny pz nz, or --face=+x ... "
                                  "--face=-z (default +x)")
    p.add_argument("--json", action="store_true", help="print one JSON document (schema oxy.export/1)")
    p.set_defaults(run=run)


class _Usage(Exception):
    """A combination of arguments argparse cannot check (exit 1, error code "usage")."""


def _options(args: argparse.Namespace) -> Any:
    from oxy.interop.export import ExportOptions

    if bool(args.key) == bool(args.all):
        raise _Usage("give either KEY or --all")
    single = args.format in ("png", "hdr")
    for name in ("mip", "layer", "face"):
        if getattr(args, name) is not None and not single:
            raise _Usage(f"--{name} applies to --format png and hdr; {args.format} files hold every "
                         "mip, layer and face")
    if (args.mip or 0) < 0 or (args.layer or 0) < 0:
        raise _Usage("--mip and --layer must be >= 0")
    face = None
    if args.face is not None:
        text = args.face.strip().lower()
        face = _FACES.get(text, int(text) if text.isdigit() else -1)
        if not 0 <= face < 6:
            raise _Usage(f"--face {args.face}: give 0-5 or one of {' '.join(_FACES)} (write --face=-x for a "
                         "name that starts with -)")
    return ExportOptions(args.format, args.mip or 0, args.layer or 0, face)


def run(args: argparse.Namespace) -> int:
    from oxy.errors import FormatError
    from oxy.interop.export import OutputError, export_textures
    from oxy.interop.select import SelectionError, TextureCatalog
    from oxy.interop.texformats import UnsupportedFormat
    from oxy.rootfs import RootEscapeError

    try:
        options = _options(args)
        if not os.path.exists(args.path):
            return fail(args, ExitCode.IO_ERROR, "not_found", f"{args.path}: no such file or folder", args.path)
        with TextureCatalog(args.path) as catalog:
            picks = catalog.every() if args.all else catalog.select(args.key)
            on_file = None if args.json else _print_file
            files = export_textures(catalog, picks, args.out, options, on_file=on_file)
    except _Usage as exc:
        return fail(args, ExitCode.USAGE, "usage", str(exc))
    except SelectionError as exc:
        return fail(args, ExitCode.FAILED, "no_match", str(exc), args.path)
    except UnsupportedFormat as exc:
        return fail(args, ExitCode.FAILED, "unsupported_format", str(exc), args.path)
    except OutputError as exc:
        return fail(args, ExitCode.IO_ERROR, "io_error", f"{exc.path}: {exc}", exc.path)
    except RootEscapeError as exc:
        return fail(args, ExitCode.INVALID, "root_escape", f"refused: {exc}", exc.path)
    except FormatError as exc:
        return fail(args, ExitCode.INVALID, "invalid_content", f"invalid: {exc}", exc.path, offset=exc.offset,
                    field=exc.field)
    if not args.json:
        print(f"oxy export: {len(files)} {args.format} file(s) written to {args.out}", file=sys.stderr)
    return emit(args, {"source": args.path, "format": args.format, "out": args.out,
                       "selector": None if args.all else args.key, "all": bool(args.all),
                       "files": [f.to_dict() for f in files]}, ExitCode.OK)


def _print_file(done: Any) -> None:
    print(f"{done.path}\t{done.format} {done.width}x{done.height} mips={done.mips} layers={done.layers} "
          f"{done.size} bytes")
    for note in done.notes:
        print(f"oxy export: note: {done.path}: {note}", file=sys.stderr)
