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
