"""Export textures to files: the job behind ``oxy export``.

:func:`export_textures` turns picks (:mod:`oxy.interop.select`) into files in one
output folder: DDS (:mod:`oxy.interop.dds`) and KTX2 (:mod:`oxy.interop.ktx2`) with
every layer, face and mip; PNG (Pillow) or Radiance HDR (:mod:`oxy.interop.hdr`) of one
chosen mip and layer (cube: layer x 6 + face).

Confinement: every output path is ``out_dir`` joined with a sanitised relative name
(:func:`~oxy.interop.select.safe_relpath`) and must resolve inside ``out_dir``
(:func:`oxy.rootfs.resolve_inside`, so a symlink planted in the output folder cannot
redirect a write); files are replaced atomically (:func:`oxy.rootfs.write_file_atomically`,
which replaces a link rather than writing through it). Two picks that would get the
same name (case-insensitively) get ``-2``, ``-3`` ... suffixes. The output folder is
created when missing; a path that is a file is refused (:class:`OutputError`).

Blocking, single-threaded. Failure modes: OutputError, UnsupportedFormat (a format the
chosen file type cannot hold), RootEscapeError, FormatError/MountError (invalid content),
OSError (writes); files written before a failure stay (each is complete).
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from oxy.errors import FormatError, OxyError
from oxy.formats.enums import Format, TextureType
from oxy.interop.select import Pick, TextureCatalog
from oxy.interop.texformats import UnsupportedFormat
from oxy.rootfs import resolve_inside, write_file_atomically
from oxy.runtime.types import TextureResource

__all__ = ["EXPORT_FORMATS", "ExportOptions", "ExportedFile", "OutputError", "export_textures", "prepare_out_dir"]

EXPORT_FORMATS = ("dds", "ktx2", "png", "hdr")
FACE_NAMES = ("+x", "-x", "+y", "-y", "+z", "-z")


class OutputError(OxyError):
    """The output folder cannot be used (a file, or cannot be created). ``path`` names it."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class ExportOptions:
    """``kind``: one of :data:`EXPORT_FORMATS`. ``mip``/``layer``/``face``: the image
    PNG and HDR write (DDS and KTX2 write all; the CLI refuses them there)."""

    kind: str
    mip: int = 0
    layer: int = 0
    face: int | None = None


@dataclass(frozen=True)
class ExportedFile:
    """One written file and what it holds (``to_dict`` is its ``--json`` form)."""

    path: str
    pick: Pick
    format: str
    width: int
    height: int
    mips: int
    layers: int
    size: int
    sha256: str
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "resource": f"texture:{self.pick.index}"}
        if self.pick.asset_key is not None:
            out["key"] = self.pick.asset_key
            out["slot"] = self.pick.slot
        if self.pick.source_file is not None:
            out["source_file"] = self.pick.source_file
        out.update({"format": self.format, "width": self.width, "height": self.height, "mips": self.mips,
                    "layers": self.layers, "bytes": self.size, "sha256": self.sha256})
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def prepare_out_dir(path: str) -> str:
    """Create ``path`` (and parents) when missing; OutputError when it is a file or
    cannot be created. Returns the absolute path."""
    out = os.path.abspath(path)
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError("not a directory (give a folder to export into)", path)
    try:
        os.makedirs(out, exist_ok=True)
    except FileExistsError:
        raise OutputError("not a directory (a parent is a file)", path) from None
    except NotADirectoryError:
        raise OutputError("not a directory (a parent is a file)", path) from None
    except OSError as exc:
        raise OutputError(f"cannot create the folder: {exc.strerror or exc}", path) from None
    return out


def _image_layer(tex: TextureResource, options: ExportOptions) -> int:
    """The oxy layer index of (layer, face); UnsupportedFormat for out-of-range choices."""
    cube = tex.texture_type in (TextureType.TEXTURE_CUBE, TextureType.TEXTURE_CUBE_ARRAY)
    if options.face is not None and not cube:
        raise UnsupportedFormat("--face applies to cube textures only; this texture is not a cube")
    layers = tex.array_layers // 6 if cube else tex.array_layers
    if not 0 <= options.layer < layers:
        raise UnsupportedFormat(f"--layer {options.layer}: the texture has {layers} layer(s)")
    if not 0 <= options.mip < tex.mip_levels:
        raise UnsupportedFormat(f"--mip {options.mip}: the texture has {tex.mip_levels} mip level(s)")
    return options.layer * 6 + (options.face or 0) if cube else options.layer


def _png(tex: TextureResource, options: ExportOptions) -> tuple[bytes, tuple[str, ...]]:
    from PIL import Image

    from oxy.interop.pixels import to_rgba8

    pixels = to_rgba8(tex, _image_layer(tex, options), options.mip)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue(), ()


def _hdr(tex: TextureResource, options: ExportOptions) -> tuple[bytes, tuple[str, ...]]:
    from oxy.interop.hdr import encode_hdr
    from oxy.interop.pixels import to_float_rgba

    data, changed = encode_hdr(to_float_rgba(tex, _image_layer(tex, options), options.mip))
    notes = (f"{changed} texel(s) with negative, NaN or infinite colour clamped to fit RGBE",) if changed else ()
    return data, notes


def _dds(tex: TextureResource, options: ExportOptions) -> tuple[bytes, tuple[str, ...]]:
    from oxy.interop.dds import build_dds

    return build_dds(tex), ()


def _ktx2(tex: TextureResource, options: ExportOptions) -> tuple[bytes, tuple[str, ...]]:
    from oxy.interop.ktx2 import build_ktx2

    return build_ktx2(tex), ()


_WRITERS: dict[str, Callable[[TextureResource, ExportOptions], tuple[bytes, tuple[str, ...]]]] = {
    "dds": _dds, "ktx2": _ktx2, "png": _png, "hdr": _hdr}


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{name}-{n}"
    used.add(candidate.lower())
    return candidate


def export_textures(catalog: TextureCatalog, picks: Sequence[Pick], out_dir: str, options: ExportOptions,
                    on_file: Callable[[ExportedFile], None] | None = None) -> list[ExportedFile]:
    """Write one file per pick into ``out_dir`` (see the module docstring); ``on_file``
    is called after each file is written."""
    if options.kind not in _WRITERS:
        raise UnsupportedFormat(f"unknown export format {options.kind!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    root = prepare_out_dir(out_dir)
    used: set[str] = set()
    written: list[ExportedFile] = []
    for pick in picks:
        tex = catalog.texture(pick.index)
        try:
            data, notes = _WRITERS[options.kind](tex, options)
        except UnsupportedFormat as exc:
            raise UnsupportedFormat(f"texture:{pick.index} ({pick.name}): {exc}") from None
        except ValueError as exc:  # a layout that does not fit its payload
            raise FormatError(f"texture:{pick.index}: {exc}", catalog.path, None,
                              f"textures[{pick.index}].layouts") from None
        relpath = f"{_unique(pick.name, used)}.{options.kind}"
        target = resolve_inside(root, relpath)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        resolve_inside(root, relpath)  # again, now that its folders exist
        write_file_atomically(target, data)
        done = ExportedFile(os.path.join(out_dir, relpath), pick, Format(tex.format).name, tex.width, tex.height,
                            tex.mip_levels, tex.array_layers, len(data), hashlib.sha256(data).hexdigest(), notes)
        written.append(done)
        if on_file is not None:
            on_file(done)
    return written
