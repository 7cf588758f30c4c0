"""The bundled sample is valid, up to date and byte-for-byte reproducible."""
from __future__ import annotations

from oxy.samples import textured_cube, write_sample_pak
from oxy.validate import validate_pak

from conftest import SAMPLE_PAK


def test_sample_pak_is_reproducible_and_up_to_date(tmp_path):
    a = write_sample_pak(tmp_path / "a.pak", textured_cube())
    b = write_sample_pak(tmp_path / "b.pak", textured_cube())
    assert a == b
    assert SAMPLE_PAK.read_bytes() == a, "run: python tools/make_sample.py"


def test_sample_pak_validates_with_hashes():
    report = validate_pak(SAMPLE_PAK, verify_hashes=True)
    assert report.ok and not report.diagnostics


def test_sample_model_is_up_to_date():
    import json
    import sys

    from conftest import PROJECT

    sys.path.insert(0, str(PROJECT / "tools"))
    try:
        import make_sample
    finally:
        sys.path.pop(0)
    assert json.loads(make_sample.MODEL.read_text()) == make_sample.cube_gltf(), "run: python tools/make_sample.py"


def test_the_readme_main_job_cooks_and_validates(tmp_path):
    """What the README's first command runs after installing: cook the samples, validate."""
    import json
    import subprocess
    import sys

    from conftest import PROJECT

    root = tmp_path / "sample_root"
    cook = subprocess.run([sys.executable, "-m", "oxy", "cook", "samples/textures", "samples/models", "-o", str(root)],
                          capture_output=True, text=True, cwd=PROJECT, timeout=300)
    assert cook.returncode == 0, cook.stderr
    check = subprocess.run([sys.executable, "-m", "oxy", "validate", str(root), "--verify-hashes", "--json"],
                           capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert check.returncode == 0 and json.loads(check.stdout)["valid"]
    model = json.loads(subprocess.run([sys.executable, "-m", "oxy", "inspect", str(root), "--json"],
                                      capture_output=True, text=True, cwd=PROJECT, timeout=120, check=True).stdout)
    assert sorted(a["type"] for a in model["assets"]) == ["geometry", "material", "scene"]
    # fallback and the 3 sample images; the cube's brick texture is brick.png with the same
    # (albedo) settings: the same cook key, cooked once and shared
    assert len(model["textures"]) == 4
