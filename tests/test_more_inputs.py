"""More model inputs through assimp: STL (ASCII and binary), PLY (with a texture named in its
header) and COLLADA (1.4 with a texture). Each is made by the test, cooked by ``oxy cook``,
validated, and its build records checked: the files it reads are recorded, so changing
its texture re-cooks it."""
from __future__ import annotations

import os
import pathlib
import struct
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import PROJECT
from oxy.build.model_deps import model_dependencies
from oxy.daemon.plan import load_records

ASCII_STL = """solid tri
facet normal 0 0 1
 outer loop
  vertex 0 0 0
  vertex 1 0 0
  vertex 0 1 0
 endloop
endfacet
endsolid tri
"""

PLY = """ply
format ascii 1.0
comment made by oxy's tests
comment TextureFile {texture}
element vertex 4
property float x
property float y
property float z
property float s
property float t
property uchar red
property uchar green
property uchar blue
element face 2
property list uchar int vertex_indices
end_header
0 0 0 0 0 255 0 0
1 0 0 1 0 0 255 0
1 1 0 1 1 0 0 255
0 1 0 0 1 255 255 255
3 0 1 2
3 0 2 3
"""

DAE = """<?xml version="1.0" encoding="utf-8"?>
<COLLADA xmlns="http://www.collada.org/2005/11/COLLADASchema" version="1.4.1">
  <asset><unit name="meter" meter="1"/><up_axis>Y_UP</up_axis></asset>
  <library_images>
    <image id="albedo-img" name="albedo"><init_from>{texture}</init_from></image>
  </library_images>
  <library_effects>
    <effect id="mat-fx">
      <profile_COMMON>
        <newparam sid="surf"><surface type="2D"><init_from>albedo-img</init_from></surface></newparam>
        <newparam sid="samp"><sampler2D><source>surf</source></sampler2D></newparam>
        <technique sid="common"><phong><diffuse><texture texture="samp" texcoord="UV0"/></diffuse></phong></technique>
      </profile_COMMON>
    </effect>
  </library_effects>
  <library_materials><material id="mat" name="mat"><instance_effect url="#mat-fx"/></material></library_materials>
  <library_geometries>
    <geometry id="quad" name="quad">
      <mesh>
        <source id="pos"><float_array id="pos-a" count="12">0 0 0 1 0 0 1 1 0 0 1 0</float_array>
          <technique_common><accessor source="#pos-a" count="4" stride="3"><param name="X" type="float"/>
          <param name="Y" type="float"/><param name="Z" type="float"/></accessor></technique_common></source>
        <source id="uv"><float_array id="uv-a" count="8">0 0 1 0 1 1 0 1</float_array>
          <technique_common><accessor source="#uv-a" count="4" stride="2"><param name="S" type="float"/>
          <param name="T" type="float"/></accessor></technique_common></source>
        <vertices id="verts"><input semantic="POSITION" source="#pos"/></vertices>
        <triangles material="mat" count="2">
          <input semantic="VERTEX" source="#verts" offset="0"/>
          <input semantic="TEXCOORD" source="#uv" offset="0" set="0"/>
          <p>0 1 2 0 2 3</p>
        </triangles>
      </mesh>
    </geometry>
  </library_geometries>
  <library_visual_scenes>
    <visual_scene id="scene"><node id="n" name="quad"><instance_geometry url="#quad"><bind_material>
      <technique_common><instance_material symbol="mat" target="#mat">
      <bind_vertex_input semantic="UV0" input_semantic="TEXCOORD" input_set="0"/></instance_material>
      </technique_common></bind_material></instance_geometry></node></visual_scene>
  </library_visual_scenes>
  <scene><instance_visual_scene url="#scene"/></scene>
</COLLADA>
"""


def binary_stl(path: pathlib.Path) -> None:
    tris = [((0, 0, 1), (0, 0, 0), (1, 0, 0), (0, 1, 0)), ((0, 0, 1), (1, 0, 0), (1, 1, 0), (0, 1, 0))]
    body = b"".join(struct.pack("<12fH", *[c for v in t for c in v], 0) for t in tris)
    path.write_bytes(b"binary stl by oxy tests".ljust(80, b"\0") + struct.pack("<I", len(tris)) + body)


def image(path: pathlib.Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.random.RandomState(seed).rand(16, 16, 3) * 255).astype("uint8")).save(path)


def cook(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run([sys.executable, "-m", "oxy", "cook", *args, "--quality", "fast"], capture_output=True,
                          text=True, env=env, cwd=PROJECT, timeout=300)


def validate(root: pathlib.Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    r = subprocess.run([sys.executable, "-m", "oxy", "validate", str(root), "--verify-hashes"], capture_output=True,
                       text=True, env=env, cwd=PROJECT, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def outputs(root: pathlib.Path, source: pathlib.Path) -> list[tuple[str, str]]:
    record = load_records(str(root)).sources[str(source)]
    return [(o.kind, o.name) for o in record.outputs]


def test_stl_ply_and_collada_cook_validate_and_record_their_files(tmp_path: pathlib.Path) -> None:
    src, root = tmp_path / "src", tmp_path / "root"
    src.mkdir()
    (src / "tri.stl").write_text(ASCII_STL)
    binary_stl(src / "quad_bin.stl")
    image(src / "maps" / "ply colour.png", 1)
    (src / "quad.ply").write_text(PLY.format(texture="maps/ply colour.png"))
    image(src / "tex" / "my albedo.png", 2)
    (src / "quad.dae").write_text(DAE.format(texture="tex/my%20albedo.png"))
    r = cook(str(src), "-o", str(root))
    assert r.returncode == 0, r.stderr
    validate(root)

    for stl in ("tri.stl", "quad_bin.stl"):
        kinds = [k for k, _n in outputs(root, src / stl)]
        assert kinds.count("asset") == 3, (stl, kinds)  # material, geometry, scene; no texture
    ply = outputs(root, src / "quad.ply")
    assert ("texture", "texture:maps/ply colour.png[albedo]") in ply, ply
    dae = outputs(root, src / "quad.dae")
    assert any(k == "texture" and "my albedo.png" in n for k, n in dae), dae

    deps = load_records(str(root)).sources[str(src / "quad.dae")].deps
    assert str(src / "tex" / "my albedo.png") in [d.path for d in deps]

    # The PLY's texture changes: the PLY is cooked again, the rest is up to date.
    image(src / "maps" / "ply colour.png", 3)
    r = cook(str(src), "-o", str(root), "--json")
    assert r.returncode == 0, r.stderr
    validate(root)
    assert load_records(str(root)).sources[str(src / "quad.ply")].reason["code"] != "first_cook"
    assert load_records(str(root)).sources[str(src / "quad.dae")].reason["code"] == "first_cook"


def test_collada_and_ply_dependencies(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a b.png").write_bytes(b"x")
    dae14 = tmp_path / "one.dae"
    dae14.write_text(DAE.format(texture="file:///" + str(tmp_path / "a%20b.png").lstrip("/")))
    deps = model_dependencies(str(dae14))
    assert deps.files == (str(tmp_path / "a b.png"),) and str(tmp_path / "a%20b.png") in deps.missing
    assert not any("albedo-img" in p for p in deps.files + deps.missing)  # a surface's image id, not a file

    dae15 = tmp_path / "two.dae"
    dae15.write_text('<COLLADA xmlns="http://www.collada.org/2008/03/COLLADASchema" version="1.5.0">'
                     '<library_images><image id="i"><init_from><ref>sub/t.png</ref></init_from></image>'
                     '</library_images></COLLADA>')
    assert model_dependencies(str(dae15)).missing == (str(tmp_path / "sub" / "t.png"),)

    broken = tmp_path / "broken.dae"
    broken.write_text("<COLLADA><library_images><image><init_from>x.png</init_from>")
    deps = model_dependencies(str(broken))
    assert deps.missing == (str(tmp_path / "x.png"),) and any("does not parse" in n for n in deps.notes)

    remote = tmp_path / "remote.dae"
    remote.write_text(DAE.format(texture="http://example.com/t.png"))
    deps = model_dependencies(str(remote))
    assert deps.files == deps.missing == () and any("not a local file" in n for n in deps.notes)

    ply = tmp_path / "m.ply"
    ply.write_bytes(b"ply\nformat binary_little_endian 1.0\ncomment TextureFile t.png\nelement vertex 0\n"
                    b"end_header\n" + b"\xff" * 64 + b"\ncomment TextureFile not_header.png\n")
    assert model_dependencies(str(ply)).missing == (str(tmp_path / "t.png"),)
    not_ply = tmp_path / "n.ply"
    not_ply.write_bytes(b"solid\n")
    assert model_dependencies(str(not_ply)).notes and model_dependencies(str(not_ply)).missing == ()
    stl = tmp_path / "x.stl"
    stl.write_text(ASCII_STL)
    assert model_dependencies(str(stl)) == model_dependencies(str(stl)).__class__((), (), ())
