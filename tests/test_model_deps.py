"""The files a model's import reads besides itself (oxy.build.model_deps)."""
from __future__ import annotations

import json
import os
import pathlib
import struct
from typing import BinaryIO

import pytest

from conftest import CORPUS
from oxy.build.model_deps import MAX_LINE_BYTES, ModelDeps, model_dependencies


def write(path: pathlib.Path, data: str | bytes) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def glb(doc: dict[str, object], bin_chunk: bytes = b"", version: int = 2) -> bytes:
    """A GLB container: 12-byte header, JSON chunk (padded with spaces), optional BIN chunk."""
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<I4s", len(text), b"JSON") + text
    if bin_chunk:
        bin_chunk += bytes(-len(bin_chunk) % 4)
        body += struct.pack("<I4s", len(bin_chunk), b"BIN\0") + bin_chunk
    return struct.pack("<4sII", b"glTF", version, 12 + len(body)) + body


def names(deps: ModelDeps, root: pathlib.Path) -> tuple[list[str], list[str]]:
    return ([os.path.relpath(p, root) for p in deps.files], [os.path.relpath(p, root) for p in deps.missing])


# ---------------------------------------------------------------- glTF / GLB

def test_gltf_external_buffer_and_images(tmp_path: pathlib.Path) -> None:
    for name in ("scene.bin", "tex/albedo.png", "my normal.png"):
        write(tmp_path / name, b"x")
    model = write(tmp_path / "scene.gltf", json.dumps({
        "asset": {"version": "2.0"},
        "buffers": [{"uri": "scene.bin", "byteLength": 1}, {"uri": "data:application/octet-stream;base64,AAAA"}],
        "images": [{"uri": "tex/albedo.png"}, {"uri": "my%20normal.png"}, {"uri": "DATA:image/png;base64,AA=="},
                   {"bufferView": 0, "mimeType": "image/png"}, {"uri": "gone.png"}, {"uri": "tex\\albedo.png"}],
    }))
    deps = model_dependencies(str(model))
    files, missing = names(deps, tmp_path)
    assert files == ["my normal.png", "scene.bin", "tex/albedo.png"]
    # "my%20normal.png" as written is also what assimp 5.2 opens: recorded so its creation is noticed
    assert missing == ["gone.png", "my%20normal.png"]
    assert deps.notes == ()
    assert all(os.path.isabs(p) for p in deps.files + deps.missing)


def test_gltf_remote_and_non_string_uris_are_noted(tmp_path: pathlib.Path) -> None:
    model = write(tmp_path / "m.gltf", json.dumps({"buffers": [{"uri": "https://example.com/a.bin"}, {"uri": 7}],
                                                    "images": [{"uri": "C:/art/a.png"}]}))
    deps = model_dependencies(str(model))
    assert deps.files == ()
    assert deps.missing == (str(tmp_path / "C:" / "art" / "a.png"),)  # a drive letter is not a URI scheme
    assert len(deps.notes) == 2
    assert "https://example.com/a.bin" in deps.notes[0] and "not a local file" in deps.notes[0]
    assert "buffers[1].uri is not a string" in deps.notes[1]


def test_gltf1_dict_of_objects(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "a.bin", b"x")
    model = write(tmp_path / "old.gltf", json.dumps({"buffers": {"b0": {"uri": "a.bin"}},
                                                      "images": {"i0": {"uri": "i.png"}}}))
    assert names(model_dependencies(str(model)), tmp_path) == (["a.bin"], ["i.png"])


def test_glb_without_external_uris(tmp_path: pathlib.Path) -> None:
    model = write(tmp_path / "m.glb", glb({"buffers": [{"byteLength": 4}],
                                           "images": [{"bufferView": 0, "mimeType": "image/png"}]}, b"abcd"))
    assert model_dependencies(str(model)) == ModelDeps((), (), ())


def test_glb_with_external_uris(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "extra.bin", b"x")
    write(tmp_path / "textures" / "t.png", b"x")
    model = write(tmp_path / "m.glb", glb({"buffers": [{"byteLength": 4}, {"uri": "extra.bin"}],
                                           "images": [{"uri": "textures/t.png"}, {"uri": "missing.png"}]}, b"abcd"))
    assert names(model_dependencies(str(model)), tmp_path) == (["extra.bin", "textures/t.png"], ["missing.png"])


def test_glb_reads_only_the_json_chunk(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = write(tmp_path / "big.glb", glb({"buffers": [{"byteLength": 1 << 20}]}, bytes(1 << 20)))
    read_sizes: list[int] = []
    real_open = open

    class Spy:
        def __init__(self, f: BinaryIO) -> None:
            self.f = f

        def read(self, n: int = -1) -> bytes:
            data = self.f.read(n)
            read_sizes.append(len(data))
            return data

        def __enter__(self) -> Spy:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    import oxy.build.model_deps as module
    monkeypatch.setattr(module, "open", lambda p, m="rb": Spy(real_open(p, m)), raising=False)
    assert model_dependencies(str(model)).notes == ()
    assert 0 < sum(read_sizes) < 200


def test_glb_version_1(tmp_path: pathlib.Path) -> None:
    text = json.dumps({"buffers": {"binary_glTF": {"uri": "data:,"}, "ext": {"uri": "ext.bin"}}}).encode()
    data = struct.pack("<4sIIII", b"glTF", 1, 20 + len(text), len(text), 0) + text
    model = write(tmp_path / "v1.glb", data)
    assert names(model_dependencies(str(model)), tmp_path) == ([], ["ext.bin"])


def test_glb_truncated_at_every_length_gives_notes_not_exceptions(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "extra.bin", b"x")
    data = glb({"buffers": [{"byteLength": 4}, {"uri": "extra.bin"}]}, b"abcd")
    json_end = 20 + struct.unpack_from("<I", data, 12)[0]
    model = tmp_path / "cut.glb"
    for length in range(len(data) + 1):
        model.write_bytes(data[:length])
        deps = model_dependencies(str(model))
        if length >= json_end:
            assert deps.files == (str(tmp_path / "extra.bin"),) and deps.notes == ()
        else:
            assert deps.files == () and len(deps.notes) == 1, length


@pytest.mark.parametrize("name, data, fragment", [
    ("a.gltf", b"{not json", "JSON does not parse"),
    ("a.gltf", b"[1, 2]", "top level is not an object"),
    ("a.gltf", b"\xff\xfe\x00garbage", "JSON does not parse"),
    ("a.gltf", b"[" * 100_000, "JSON does not parse"),
    ("a.glb", b"GLTF" + bytes(16), "not a GLB container"),
    ("a.glb", struct.pack("<4sII", b"glTF", 3, 20) + struct.pack("<I4s", 0, b"JSON"), "version 3"),
    ("a.glb", struct.pack("<4sII", b"glTF", 2, 20) + struct.pack("<I4s", 4, b"BIN\0") + b"abcd", "not JSON"),
    ("a.glb", struct.pack("<4sII", b"glTF", 2, 28) + struct.pack("<I4s", 0xFFFFFFF0, b"JSON"), "larger than"),
])
def test_garbage_gives_notes(tmp_path: pathlib.Path, name: str, data: bytes, fragment: str) -> None:
    deps = model_dependencies(str(write(tmp_path / name, data)))
    assert deps.files == () and deps.missing == ()
    assert len(deps.notes) == 1 and fragment in deps.notes[0] and str(tmp_path / name) in deps.notes[0]


def test_missing_or_unreadable_model_gives_a_note(tmp_path: pathlib.Path) -> None:
    deps = model_dependencies(str(tmp_path / "nope.gltf"))
    assert deps.files == () and "cannot read" in deps.notes[0]
    (tmp_path / "dir.obj").mkdir()
    assert "cannot read" in model_dependencies(str(tmp_path / "dir.obj")).notes[0]


# ---------------------------------------------------------------- OBJ / MTL

def test_obj_with_mtllib_and_map_options(tmp_path: pathlib.Path) -> None:
    for name in ("diffuse.png", "bump map.png", "mats/metal.png", "mats/rough.png", "disp.png", "n.png",
                 "spec.png", "o.png"):
        write(tmp_path / name, b"x")
    write(tmp_path / "shared.mtl", "\n".join([
        "newmtl a",
        "Kd 1 1 1",
        "map_Kd diffuse.png",
        "  map_Bump -bm 1.0 bump map.png   ",     # option skipped, spaces kept in the name, trailing trimmed
        "bump -clamp on -bm 0.5 nothere.png",
        "MAP_KS -blendu off -blendv on -s 2 2 spec.png",  # -s with two numbers, keyword case-insensitive
        "map_d -o 1 1 1 -mm 0 1 -texres 512 -imfchan r o.png",
        "disp .\\disp.png",                          # backslashes as in the corpus spider.mtl
        "norm -cc on n.png",
        "refl -type sphere refl.png",
        "map_Kd -bm",                               # options and no file name: a note
        "# map_Kd commented.png",
        "map_aat on",                               # not a texture statement
    ]) + "\r\n")
    write(tmp_path / "mats" / "lib.mtl", "newmtl b\nmap_Pm metal.png\nmap_Pr rough.png\n")
    model = write(tmp_path / "scene.obj", "# x\nmtllib shared.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nmtllib mats/lib.mtl\n"
                                          "usemtl a\nf 1 2 3\nmtllib shared.mtl\n")
    deps = model_dependencies(str(model))
    files, missing = names(deps, tmp_path)
    assert files == ["bump map.png", "diffuse.png", "disp.png", "mats/lib.mtl", "mats/metal.png", "mats/rough.png",
                     "n.png", "o.png", "shared.mtl", "spec.png"]
    assert missing == ["nothere.png", "refl.png"]
    assert len(deps.notes) == 1 and "map_Kd: no file name after the options" in deps.notes[0]


def test_obj_mtllib_name_with_spaces_is_one_file(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "my mats.mtl", "map_Kd t.png\n")
    write(tmp_path / "t.png", b"x")
    model = write(tmp_path / "m.obj", "mtllib my mats.mtl\t \n")
    assert names(model_dependencies(str(model)), tmp_path) == (["my mats.mtl", "t.png"], [])


def test_obj_missing_mtllib_records_assimps_fallback(tmp_path: pathlib.Path) -> None:
    model = write(tmp_path / "ship.obj", "mtllib gone.mtl\n")
    assert names(model_dependencies(str(model)), tmp_path) == ([], ["gone.mtl", "ship.mtl"])
    write(tmp_path / "ship.mtl", "map_Kd hull.png\n")
    assert names(model_dependencies(str(model)), tmp_path) == (["ship.mtl"], ["gone.mtl", "hull.png"])


def test_mtl_windows_absolute_texture_is_noted(tmp_path: pathlib.Path) -> None:
    write(tmp_path / "m.mtl", "map_Kd D:\\art\\wood.jpg\n")
    deps = model_dependencies(str(write(tmp_path / "m.obj", "mtllib m.mtl\n")))
    assert names(deps, tmp_path) == (["m.mtl"], [])
    assert "Windows absolute path" in deps.notes[0]


def test_obj_binary_garbage_and_overlong_lines(tmp_path: pathlib.Path) -> None:
    rng = bytes((i * 7919 + 13) % 256 for i in range(3 << 20)).replace(b"\n", b"")
    write(tmp_path / "real.mtl", "")
    model = write(tmp_path / "g.obj", rng[: MAX_LINE_BYTES * 3] + b"\nmtllib real.mtl\n" + rng)
    deps = model_dependencies(str(model))
    assert deps.files == (str(tmp_path / "real.mtl"),)
    assert deps.missing == () and len(deps.notes) == 1 and "lines longer than" in deps.notes[0]


def test_mtllib_found_across_read_blocks(tmp_path: pathlib.Path) -> None:
    filler = b"v 0.000000 0.000000 0.000000\n" * 80_000  # > 2 MiB: several read blocks
    write(tmp_path / "late.mtl", "")
    model = write(tmp_path / "m.obj", filler + b"mtllib late.mtl")  # last line, no newline
    assert names(model_dependencies(str(model)), tmp_path) == (["late.mtl"], [])


@pytest.mark.parametrize("name", ["box.fbx", "scene.stl", "a.3ds", "b.blend", "noext"])
def test_other_formats_have_no_dependencies(tmp_path: pathlib.Path, name: str) -> None:
    assert model_dependencies(str(write(tmp_path / name, b"mtllib x.mtl\n"))) == ModelDeps((), (), ())


# ---------------------------------------------------------------- the real corpus

def corpus(path: str) -> str:
    full = CORPUS / path
    if not full.exists():
        pytest.skip(f"corpus file {path} not present")
    return str(full)


@pytest.mark.parametrize("model, files", [
    ("models/gltf_Box/Box.gltf", ["Box0.bin"]),
    ("models/gltf_BoxTextured/BoxTextured.gltf", ["BoxTextured0.bin", "CesiumLogoFlat.png"]),
    ("models/gltf_Duck/Duck.gltf", ["Duck0.bin", "DuckCM.png"]),
    ("models/glb_Duck/Duck.glb", []),
    ("models/glb_BoxTextured/BoxTextured.glb", []),
    ("models/obj_spider/spider.obj", ["SpiderTex.jpg", "drkwood2.jpg", "engineflare1.jpg", "spider.mtl",
                                      "wal67ar_small.jpg", "wal69ar_small.jpg"]),
    ("models/fbx_bin_spider_abs_paths/spider.fbx", []),
])
def test_corpus_models(model: str, files: list[str]) -> None:
    path = corpus(model)
    deps = model_dependencies(path)
    folder = os.path.dirname(os.path.abspath(path))
    assert deps == ModelDeps(tuple(os.path.join(folder, f) for f in files), (), ())


def test_corpus_gltf_with_missing_bin() -> None:
    path = corpus("malformed/gltf_MissingBin/BoxTextured.gltf")
    folder = os.path.dirname(os.path.abspath(path))
    assert model_dependencies(path) == ModelDeps(
        (), (os.path.join(folder, "BoxTextured0.bin"), os.path.join(folder, "CesiumLogoFlat.png")), ())
