"""Hostile bytes: truncation at every length, byte flips, absurd counts. The contract:
readers raise only FormatError, validators return a report, never a traceback or a
huge allocation."""
from __future__ import annotations

import pathlib
import shutil
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oxy.cli.describe import describe_path
from oxy.errors import FormatError
from oxy.formats import parse_descriptor, parse_index, parse_pak
from oxy.formats.loose import INDEX_FILE_NAME
from oxy.validate import validate_loose_root, validate_pak_bytes

from conftest import GOLDEN_PAK, SAMPLE_PAK

GOLDEN = GOLDEN_PAK.read_bytes()
SAMPLE = SAMPLE_PAK.read_bytes()


def _read_pak_safely(data: bytes) -> None:
    report = validate_pak_bytes(data, name="m.pak", verify_hashes=True)
    for d in report.diagnostics:
        assert d.file == "m.pak" or d.file.endswith(".pak")
        assert d.code and d.message
    try:
        pak = parse_pak(data, path="m.pak")
    except FormatError as exc:
        assert exc.path == "m.pak"
        return
    for entry, blob in zip(pak.directory, pak.descriptors):
        try:
            parse_descriptor(entry.asset_type, blob, path="m.pak", base_offset=entry.desc_offset)
        except FormatError:
            pass


def test_golden_truncated_at_every_length():
    for n in range(len(GOLDEN)):
        data = GOLDEN[:n]
        report = validate_pak_bytes(data, name="m.pak")
        assert not report.ok, n
        with pytest.raises(FormatError):
            parse_pak(data, path="m.pak")


def test_sample_truncated_at_many_lengths():
    lengths = sorted(set(range(0, len(SAMPLE), 97)) | set(range(len(SAMPLE) - 600, len(SAMPLE))))
    for n in lengths:
        report = validate_pak_bytes(SAMPLE[:n], name="m.pak")
        assert not report.ok, n


@pytest.mark.slow
def test_sample_truncated_at_every_length():
    for n in range(len(SAMPLE)):
        assert not validate_pak_bytes(SAMPLE[:n], name="m.pak").ok, n


def test_every_single_byte_flip_of_the_golden_is_handled():
    for i in range(len(GOLDEN)):
        data = bytearray(GOLDEN)
        data[i] ^= 0xFF
        _read_pak_safely(bytes(data))
        if i < 244 + len(GOLDEN) - 256 or i >= len(GOLDEN) - 8:
            # every flip outside the CRC field itself is caught when hashes are verified
            assert not validate_pak_bytes(bytes(data), name="m.pak", verify_hashes=True).ok, i


def test_absurd_counts_do_not_allocate():
    foot = len(SAMPLE) - 256
    tracemalloc.start()
    try:
        for at, size in ((16, 8), (72 + 8, 4), (88 + 8, 4), (104 + 8, 4)):
            data = bytearray(SAMPLE)
            data[foot + at:foot + at + size] = b"\xff" * size
            _read_pak_safely(bytes(data))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_paks(data):
    base = data.draw(st.sampled_from([GOLDEN, SAMPLE]))
    blob = bytearray(base)
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["flip", "u32", "u64", "cut"]))
        at = data.draw(st.integers(0, len(blob) - 1))
        if kind == "flip":
            blob[at] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del blob[at:]
            if not blob:
                break
        else:
            size = 4 if kind == "u32" else 8
            value = data.draw(st.sampled_from([0, 1, 255, 2**31, 2**32 - 1, 2**(8 * size) - 1, len(base)]))
            blob[at:at + size] = value.to_bytes(size, "little")[:len(blob) - at]
    _read_pak_safely(bytes(blob))


@pytest.fixture(scope="module")
def index_template(tmp_path_factory) -> pathlib.Path:
    from oxy.samples import textured_cube, write_loose_root

    root = tmp_path_factory.mktemp("loose") / "root"
    write_loose_root(root, textured_cube())
    return root


def test_index_truncated_at_every_length(index_template, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(index_template, root)
    index = (root / INDEX_FILE_NAME).read_bytes()
    for n in range(len(index)):
        (root / INDEX_FILE_NAME).write_bytes(index[:n])
        assert not validate_loose_root(root).ok, n
        with pytest.raises(FormatError):
            parse_index(index[:n])
        with pytest.raises(FormatError):
            describe_path(str(root))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_loose_roots(index_template, tmp_path_factory, data):
    root = tmp_path_factory.mktemp("mut") / "root"
    shutil.copytree(index_template, root)
    target = data.draw(st.sampled_from([INDEX_FILE_NAME, "Materials/Checker.omat", "Geometry/Cube.ogeo",
                                        "Scenes/CubeScene.oscene", "Resources/textures.table",
                                        "Resources/textures.data", "Resources/buffers.table"]))
    blob = bytearray((root / target).read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(blob) - 1))
        value = data.draw(st.sampled_from([0, 1, 0x2F, 0x2E, 0x5C, 0xFF]))
        width = data.draw(st.sampled_from([1, 4, 8]))
        blob[at:at + width] = bytes([value]) * min(width, len(blob) - at)
    (root / target).write_bytes(bytes(blob))
    report = validate_loose_root(root, verify_hashes=True)
    # No diagnostic may point outside the root (an absolute path or a '..' segment);
    # names such as '..terials/x.omat' are legal relative paths and stay inside.
    for d in report.diagnostics:
        assert not pathlib.PurePosixPath(d.file).is_absolute(), d
        assert ".." not in pathlib.PurePosixPath(d.file).parts, d
    try:
        describe_path(str(root))
    except (FormatError, OSError):
        pass
