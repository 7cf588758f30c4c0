#!/usr/bin/env python3
"""Regenerate the bundled sample content in samples/ (deterministic: same bytes every run).

    python tools/make_sample.py            # writes samples/sample.pak and samples/textures/*.png
    python tools/make_sample.py --check    # exit 1 if samples/sample.pak is out of date

samples/textures holds small procedural images (made here, no third-party content)
that the README's main-job command cooks (an sRGB checker, a tiled brick pattern,
and a UI badge with cut-out alpha), and samples/models/brick_cube.gltf, a cube that
uses the brick texture.

tests/test_samples.py runs the same check, so a change to the writers that alters
the sample's bytes shows up in the tests.
"""
from __future__ import annotations

import argparse
from typing import Any
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from oxy.samples import textured_cube, write_sample_pak  # noqa: E402

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "samples" / "sample.pak"
TEXTURES = SAMPLE.parent / "textures"


def sample_images() -> dict[str, Any]:
    """Procedural RGBA images by file name."""
    import numpy as np

    y, x = np.mgrid[0:256, 0:256]
    checker = np.zeros((256, 256, 4), np.uint8)
    checker[..., 0] = np.where((x // 32 + y // 32) % 2, 220, 40)
    checker[..., 1] = 40 + x * 180 // 255
    checker[..., 2] = 40 + y * 180 // 255
    checker[..., 3] = 255
    by, bx = np.mgrid[0:192, 0:320]
    row = by // 24
    mortar = (by % 24 < 3) | ((bx + 32 * (row % 2)) % 64 < 3)
    brick = np.zeros((192, 320, 4), np.uint8)
    noise = ((bx * 7919 + by * 104729) % 23).astype(np.int32)
    brick[..., 0] = np.where(mortar, 200, 150 + noise)
    brick[..., 1] = np.where(mortar, 195, 60 + noise // 2)
    brick[..., 2] = np.where(mortar, 185, 45)
    brick[..., 3] = 255
    cy, cx = np.mgrid[0:64, 0:64] - 31.5
    radius = np.hypot(cx, cy)
    badge = np.zeros((64, 64, 4), np.uint8)
    badge[..., 0], badge[..., 1], badge[..., 2] = 250, (radius * 6).clip(0, 255).astype(np.uint8), 60
    badge[..., 3] = np.where(radius < 28, 255, 0)
    return {"checker.png": checker, "brick.png": brick, "badge.png": badge}


MODEL = SAMPLE.parent / "models" / "brick_cube.gltf"


def cube_gltf() -> dict:
    """A glTF 2.0 cube (24 vertices, 12 triangles) with the brick texture, one file
    (the buffer is an embedded base64 data URI), the image beside it in ../textures."""
    import base64
    import struct

    from oxy.samples import cube_buffers

    vb, ib, lo, hi = cube_buffers()
    vertices = [struct.unpack_from("<18f", vb, 72 * i) for i in range(len(vb) // 72)]
    positions = b"".join(struct.pack("<3f", *v[0:3]) for v in vertices)
    normals = b"".join(struct.pack("<3f", *v[3:6]) for v in vertices)
    uvs = b"".join(struct.pack("<2f", *v[6:8]) for v in vertices)
    blob = ib + positions + normals + uvs
    views, at = [], 0
    for size, target in ((len(ib), 34963), (len(positions), 34962), (len(normals), 34962), (len(uvs), 34962)):
        views.append({"buffer": 0, "byteOffset": at, "byteLength": size, "target": target})
        at += size
    n = len(vertices)
    return {
        "asset": {"version": "2.0", "generator": "oxy tools/make_sample.py"},
        "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "BrickCube", "mesh": 0, "translation": [0.0, 0.5, 0.0]}],
        "meshes": [{"name": "BrickCube", "primitives": [{
            "attributes": {"POSITION": 1, "NORMAL": 2, "TEXCOORD_0": 3}, "indices": 0, "material": 0}]}],
        "materials": [{"name": "Brick", "pbrMetallicRoughness": {
            "baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 0.8}}],
        "textures": [{"source": 0}], "images": [{"uri": "../textures/brick.png"}],
        "accessors": [
            {"bufferView": 0, "componentType": 5125, "count": len(ib) // 4, "type": "SCALAR"},
            {"bufferView": 1, "componentType": 5126, "count": n, "type": "VEC3", "min": list(lo), "max": list(hi)},
            {"bufferView": 2, "componentType": 5126, "count": n, "type": "VEC3"},
            {"bufferView": 3, "componentType": 5126, "count": n, "type": "VEC2"}],
        "bufferViews": views,
        "buffers": [{"byteLength": len(blob),
                     "uri": "data:application/octet-stream;base64," + base64.b64encode(blob).decode()}],
    }


def write_model() -> None:
    import json

    MODEL.parent.mkdir(parents=True, exist_ok=True)
    MODEL.write_text(json.dumps(cube_gltf(), indent=1) + "\n")


def write_images() -> None:
    from PIL import Image

    TEXTURES.mkdir(parents=True, exist_ok=True)
    for name, pixels in sample_images().items():
        Image.fromarray(pixels, "RGBA").save(TEXTURES / name, optimize=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = write_sample_pak(pathlib.Path(tmp) / "sample.pak", textured_cube())
        same = SAMPLE.exists() and SAMPLE.read_bytes() == fresh
        print(f"{SAMPLE}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    data = write_sample_pak(SAMPLE, textured_cube())
    write_images()
    write_model()
    print(f"wrote {SAMPLE} ({len(data)} bytes), {len(sample_images())} images in {TEXTURES}, and {MODEL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
