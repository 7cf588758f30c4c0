"""Every cook stage's output bytes are pinned to its version constant.

The cook cache and the build records trust a key to name one output: if a kernel or
a builder changes its output bytes without a bump of its stage's version
(``oxy.build.recipe.STAGE_VERSIONS``), caches everywhere would keep serving the old
bytes under the same key. Each stage here cooks a fixed input; the SHA-256 of the
output is pinned next to the version it belongs to. Change the output and this
fails until both the version and the pinned hash are updated together.

The texture output is BC7, BC5 (normal), BC4 (grey data), BC6H (hdr), BC1 and float
mip filtering: pinned for the default build
(no ``OXY_NATIVE=1``: ``-march=native`` may let the compiler contract float
operations differently). The parse output is pinned for Debian's libassimp5.
"""
from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from conftest import PROJECT
from oxy.build.recipe import STAGE_VERSIONS

#: stage -> (the version these hashes belong to, SHA-256 of the fixed input's output)
PINNED = {
    "texture": (4, "9cbe56a0f2bfac76a00e07d41c4197ec42c9a0fc2cb2e57e2713d7c7c8aa901e"),
    "scene_parse": (1, "32ae74624a0184963e05e83f17abf27ef7b2bfc8ebe3b3727464c27b56939e75"),
    "geometry": (1, "9aae510a1dda10161a2c0d4659c67bc1e9b7637dc7e04e542d298021e79be42e"),
    "material": (1, "0ee4256cf8cf8353a535c3f28a7eab2c34f1c227eca6bcc1910d347b3bd6cec7"),
    "scene": (1, "3940c001d70d56144d2e77e7542e6a06a98117a8c1a752f6a053093c8cef27c6"),
}


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def _hdr(width: int, height: int) -> bytes:
    """A flat (not run-length encoded) Radiance RGBE file: width < 8, so no RLE."""
    y, x = np.mgrid[0:height, 0:width]
    rgbe = np.stack([(x * 40) % 256, (y * 60) % 256, ((x + y) * 30) % 256, 128 + (x + y) % 4], -1).astype(np.uint8)
    return b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {height} +X {width}\n".encode() + rgbe.tobytes()


def texture_output() -> bytes:
    from oxy.cook.texture import cook_texture_files, settings_for

    y, x = np.mgrid[0:48, 0:64]
    rgba = np.stack([x * 4, y * 5, (x * y) % 256, 255 - x * 2], -1).astype(np.uint8)
    normal = np.stack([128 + (x - 32) * 2, 128 + (y - 24) * 2, np.full_like(x, 230), np.full_like(x, 255)],
                      -1).astype(np.uint8)
    h = hashlib.sha256()
    for preset, image, name in (("albedo", _png(rgba), "a.png"), ("normal", _png(normal), "n.png"),
                                ("data", _png(rgba), "d.png"), ("ui", _png(rgba), "u.png"),
                                ("hdr", _hdr(6, 5), "h.hdr"), ("data", _png(rgba[..., 0]), "g.png")):
        for quality in ("fast", "normal"):
            texture = cook_texture_files([(name, image)], settings_for(preset, quality=quality))
            h.update(texture.payload)
    h.update(cook_texture_files([("b.png", _png(rgba))], settings_for("albedo", output="bc1")).payload)
    return h.digest()


def _parsed():
    from oxy.importing.scene.backend_assimp import AssimpBackend

    parsed = AssimpBackend().parse(str(PROJECT / "samples" / "models" / "brick_cube.gltf"))
    parsed.source_path = "brick_cube.gltf"  # the output must not depend on where the checkout lives
    return parsed


def scene_parse_output() -> bytes:
    from oxy.build import unit_codec
    import oxy.importing.units  # noqa: F401 - registers the parse result's classes

    return unit_codec.encode(_parsed())


def geometry_output() -> bytes:
    from oxy.cook.vertices import pack_geometry

    packed = pack_geometry(_parsed().meshes)
    return packed.vertices + packed.indices + repr((packed.bbox_min, packed.bbox_max, packed.submeshes)).encode()


def _plan():
    from oxy.formats.primitives import AssetKey
    from oxy.importing.scene.plan import make_plan

    return make_plan(_parsed(), lambda t, n: AssetKey.from_virtual_path(f"/.cooked/{t}/{n}"))


def material_output() -> bytes:
    plan = _plan()
    return b"".join(plan.material_bytes(m, lambda _source: 1) for m in plan.materials)


def scene_output() -> bytes:
    plan = _plan()
    return plan.scene_bytes({g.key for g in plan.geometries})


OUTPUTS = {"texture": texture_output, "scene_parse": scene_parse_output, "geometry": geometry_output,
           "material": material_output, "scene": scene_output}


@pytest.mark.parametrize("stage", sorted(STAGE_VERSIONS))
def test_stage_output_is_pinned_to_its_version(stage):
    assert stage in PINNED and stage in OUTPUTS, f"stage {stage!r} has no pinned output: add one here"
    version, pinned = PINNED[stage]
    digest = hashlib.sha256(OUTPUTS[stage]()).hexdigest()
    if STAGE_VERSIONS[stage] != version:
        pytest.fail(f"STAGE_VERSIONS[{stage!r}] is {STAGE_VERSIONS[stage]}, the pinned output belongs to version "
                    f"{version}: set PINNED[{stage!r}] = ({STAGE_VERSIONS[stage]}, {digest!r})")
    assert digest == pinned, (
        f"stage {stage!r} now produces other bytes for the same input (sha256 {digest}) at version {version}: "
        f"bump STAGE_VERSIONS[{stage!r}] in oxy/build/recipe.py (so every cache and root re-cooks it) and set "
        f"PINNED[{stage!r}] = ({version + 1}, {digest!r})")
