"""Seed content, made at run time from the shared corpus and oxy's own tools.

* ``boxtextured.root`` / ``.pak``: ``oxy cook`` of the corpus glTF BoxTextured model
  (geometry, material, scene, a 256x256 BC7 texture) plus a 16-bit PNG, then ``oxy pack``;
* ``box.root`` / ``.pak``: ``oxy cook`` of the corpus glTF Box (untextured) plus a tiny PNG;
* ``sample.root`` / ``.pak``: ``oxy.samples.textured_cube`` (RGBA8 checker texture with
  mips, a scene with renderables);
* ``minimal_ref.pak``: the engine-written golden PAK.

The cooked roots get a fixed GUID so that seeds (and thus replays) are the same
bytes from run to run; :func:`seed_manifest` records their SHA-256.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
from dataclasses import dataclass, field

from fuzzlib.layout import FileLayout, loose_layout, pak_layout

PROJECT = pathlib.Path(__file__).resolve().parents[2]
SHARED = PROJECT.parent / "shared"
CORPUS = SHARED / "corpus"
GOLDEN_PAK = SHARED / "reference" / "minimal_ref.pak"
SEED_GUID = hashlib.sha256(b"oxy fuzz_formats seed").digest()[:16]
PAK_FILE = "input.pak"

#: name -> corpus inputs of ``oxy cook``.
COOKED = {
    "boxtextured": ["models/gltf_BoxTextured/BoxTextured.gltf", "images/basn6a16.png"],
    "box": ["models/gltf_Box/Box.gltf", "images/basn2c16.png"],
}


@dataclass
class Seed:
    """A pristine seed: its files (relpath -> bytes) and where their fields lie."""

    name: str
    kind: str  # "pak" or "loose"
    path: str
    files: dict[str, bytes]
    layouts: dict[str, FileLayout] = field(default_factory=dict)


def _oxy(*args: str) -> None:
    """Run an ``oxy`` command in-process (its real entry point), output captured."""
    import contextlib
    import io

    from oxy.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            rc = main(list(args))
        except SystemExit as exc:
            rc = exc.code
    if rc:
        raise RuntimeError(f"oxy {' '.join(args)} failed ({rc}):\n{out.getvalue()}")


def _fix_guid(root: pathlib.Path) -> None:
    from oxy.formats.loose import INDEX_FILE_NAME, IndexHeader

    index = root / INDEX_FILE_NAME
    data = bytearray(index.read_bytes())
    header = IndexHeader.parse(data, 0).replace(guid=SEED_GUID)
    data[:IndexHeader.SIZE] = header.build()
    index.write_bytes(bytes(data))


def build_seeds(dest: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    """Make every seed under ``dest``; returns (name, kind, path) in a fixed order."""
    from oxy.samples import textured_cube, write_loose_root, write_sample_pak

    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out: list[tuple[str, str, str]] = []
    for name, inputs in COOKED.items():
        root, pak = dest / f"{name}.root", dest / f"{name}.pak"
        if not (root / "container.index.bin").exists():
            shutil.rmtree(root, ignore_errors=True)
            _oxy("cook", *[str(CORPUS / i) for i in inputs], "--quality", "fast", "--threads", "1", "-o", str(root))
            _fix_guid(root)
        if not pak.exists():
            _oxy("pack", str(root), "-o", str(pak))
        out += [(f"{name}.root", "loose", str(root)), (f"{name}.pak", "pak", str(pak))]
    root, pak = dest / "sample.root", dest / "sample.pak"
    if not (root / "container.index.bin").exists():
        write_loose_root(root, textured_cube())
    if not pak.exists():
        write_sample_pak(pak, textured_cube())
    out += [("sample.root", "loose", str(root)), ("sample.pak", "pak", str(pak))]
    golden = dest / "minimal_ref.pak"
    if not golden.exists():
        shutil.copyfile(GOLDEN_PAK, golden)
    out.append(("minimal_ref.pak", "pak", str(golden)))
    return out


def read_root(root: str) -> dict[str, bytes]:
    """Every file of a loose root by relpath ('/'-separated), without oxy's lock files."""
    files = {}
    for folder, _dirs, names in os.walk(root):
        for n in sorted(names):
            if n.startswith(".oxy"):
                continue
            full = os.path.join(folder, n)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            with open(full, "rb") as fh:
                files[rel] = fh.read()
    return dict(sorted(files.items()))


def load_seeds(specs: list[tuple[str, str, str]]) -> list[Seed]:
    seeds = []
    for name, kind, path in specs:
        if kind == "pak":
            data = pathlib.Path(path).read_bytes()
            seeds.append(Seed(name, kind, path, {PAK_FILE: data}, {PAK_FILE: pak_layout(data)}))
        else:
            files = read_root(path)
            seeds.append(Seed(name, kind, path, files, loose_layout(files)))
    return seeds


def seed_manifest(seeds: list[Seed]) -> dict[str, dict[str, object]]:
    """Per seed: kind, total bytes, SHA-256 over its files, field and chunk counts."""
    out: dict[str, dict[str, object]] = {}
    for s in seeds:
        h = hashlib.sha256()
        for rel, data in s.files.items():
            h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
        out[s.name] = {"kind": s.kind, "bytes": sum(len(d) for d in s.files.values()),
                       "files": len(s.files), "sha256": h.hexdigest(),
                       "fields": sum(len(lay.fields) for lay in s.layouts.values()),
                       "chunks": sum(len(lay.chunks) for lay in s.layouts.values())}
    return out
