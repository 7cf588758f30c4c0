"""Bounded and exact on hostile numbers: offsets near 2^64, asset types outside the
enum, multi-GiB files under a memory limit, resources over 2 GiB, absurd row
pitches, names that are not UTF-8. Every file is real bytes: the sample PAK or a
cooked root, patched."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
import tracemalloc

import pytest

from oxy.errors import FormatError
from oxy.formats import AssetType
from oxy.formats.pak import PAK_CRC_OFFSET_IN_FOOTER, parse_pak
from oxy.runtime import (AssetLoader, LoaderConfig, MaterialAsset, MountError, ResourceKey, ResourceKind,
                         TextureResource, WrongAssetKind)
from oxy.runtime.sources import open_pak
from oxy.samples import ContentSet
from oxy.validate import Diagnostic, Severity, validate_loose_root, validate_pak

from conftest import PROJECT, SAMPLE_PAK

T = 20
SAMPLE = SAMPLE_PAK.read_bytes()
PAK = parse_pak(SAMPLE)
FOOT = len(SAMPLE) - 256
MATERIAL = ContentSet.key(AssetType.MATERIAL, "Checker")


def _put(data: bytes, at: int, value: int, size: int) -> bytes:
    out = bytearray(data)
    out[at:at + size] = value.to_bytes(size, "little")
    return bytes(out)


def _oxy(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oxy", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


# ---------------------------------------------------------------- offsets near 2^64
def test_pak_data_offset_near_2_64_is_a_mount_error(tmp_path):
    table = PAK.footer.texture_table.offset
    path = tmp_path / "wrap.pak"
    path.write_bytes(_put(SAMPLE, table + 40, 2**64 - 256, 8))  # texture 1: offset + size wraps
    with pytest.raises(MountError) as info:
        open_pak(path)
    assert info.value.offset == table + 40 and info.value.field == "textures[1].data_offset"
    assert any(d.code == "texture.data_range" for d in validate_pak(path).errors)


def test_loose_data_offset_near_2_64_is_a_mount_error(sample_root):
    table = sample_root / "Resources" / "textures.table"
    table.write_bytes(_put(table.read_bytes(), 40, 2**64 - 256, 8))
    loader = AssetLoader(LoaderConfig(cpu_threads=1))
    with pytest.raises(MountError) as info:
        loader.add_loose_cooked_root(str(sample_root))
    assert info.value.path.endswith("textures.table") and info.value.field == "textures[1].data_offset"
    assert any(d.code == "texture.data_range" for d in validate_loose_root(sample_root).errors)


def test_zero_size_descriptor_past_the_end_is_a_range_error(tmp_path):
    entry = PAK.directory[0].entry_offset
    data = _put(_put(SAMPLE, entry + 25, 2**64 - 1, 8), entry + 33, 0, 4)
    path = tmp_path / "desc.pak"
    path.write_bytes(data)
    assert any(d.code == "pak.descriptor.range" for d in validate_pak(path).errors)
    with pytest.raises(MountError):
        open_pak(path)


# ---------------------------------------------------------------- asset type outside the enum
def test_asset_type_255_in_the_directory(tmp_path):
    path = tmp_path / "t255.pak"
    path.write_bytes(_put(SAMPLE, PAK.directory[0].entry_offset + 16, 255, 1))
    assert any(d.code == "asset.type" for d in validate_pak(path).errors)
    with AssetLoader(LoaderConfig(cpu_threads=1)) as loader:
        loader.add_pak(str(path))
        with pytest.raises(WrongAssetKind, match="255"):
            loader.load_asset(MATERIAL, MaterialAsset).result(T)
        with pytest.raises(FormatError, match="asset.type"):
            loader.load_asset(MATERIAL).result(T)


def test_asset_type_255_in_the_loose_index(sample_root):
    from oxy.formats.loose import parse_index

    index_path = sample_root / "container.index.bin"
    data = index_path.read_bytes()
    index = parse_index(data)
    at = index.header.asset_entries_offset + [a.key for a in index.assets].index(MATERIAL) * 76 + 24
    index_path.write_bytes(_put(data, at, 255, 1))
    assert any(d.code == "asset.type" for d in validate_loose_root(sample_root).errors)
    with AssetLoader(LoaderConfig(cpu_threads=1)) as loader:
        loader.add_loose_cooked_root(str(sample_root))
        with pytest.raises(WrongAssetKind):
            loader.load_asset(MATERIAL, MaterialAsset).result(T)
        with pytest.raises(FormatError):
            loader.load_asset(MATERIAL).result(T)


# ---------------------------------------------------------------- huge files, bounded memory
def _sparse_pak(path: pathlib.Path, size: int, footer: bytes | None = None) -> None:
    """The sample's content at its own offsets, then a sparse hole, then the footer in the
    last 256 bytes (offsets are absolute, so everything still points at the right bytes)."""
    foot = bytearray(footer if footer is not None else SAMPLE[FOOT:])
    foot[PAK_CRC_OFFSET_IN_FOOTER:PAK_CRC_OFFSET_IN_FOOTER + 4] = bytes(4)  # no CRC over the hole
    with open(path, "wb") as fh:
        fh.write(SAMPLE[:FOOT])
        fh.seek(size - 256)
        fh.write(bytes(foot))


LIMITED = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from oxy.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


def _limited(limit: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT)}
    return subprocess.run([sys.executable, "-c", LIMITED.format(limit=limit), *args], capture_output=True,
                          text=True, env=env)


@pytest.mark.slow
def test_validate_and_inspect_a_2_5_gib_pak_under_a_1_gib_limit(tmp_path):
    path = tmp_path / "big.pak"
    _sparse_pak(path, 5 << 29)  # 2.5 GiB
    for command in (("validate", str(path)), ("inspect", str(path), "--json")):
        result = _limited(1 << 30, *command)
        assert result.returncode == 0, (command, result.stderr[-2000:])
    assert json.loads(_limited(1 << 30, "inspect", str(path), "--json").stdout)["size"] == 5 << 29


@pytest.mark.slow
def test_a_table_too_big_for_memory_is_one_line_not_a_traceback(tmp_path):
    size = 5 << 29
    count = (size - 4096) // 40
    footer = _put(_put(SAMPLE[FOOT:], 72, 1024, 8), 72 + 8, count, 4)  # texture table: 2.5 GB of entries
    path = tmp_path / "table.pak"
    _sparse_pak(path, size, footer)
    for command in ("validate", "inspect"):
        result = _limited(1 << 30, command, str(path))
        assert result.returncode == 2, (command, result.stdout[-500:], result.stderr[-2000:])
        assert "not enough memory" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_resource_over_2_gib_reads_whole(tmp_path):
    """One pread returns at most ~2 GiB on Linux: the source must loop, not call the
    file short ("the file shrank")."""
    buf_table = PAK.footer.buffer_table.offset
    region = PAK.footer.buffer_region
    big = (2 << 30) + (64 << 20)  # 2.0625 GiB, a multiple of 72? no need: only read here
    at = (len(SAMPLE) + 4095) // 4096 * 4096
    footer = _put(SAMPLE[FOOT:], 40 + 8, at + big - region.offset, 8)  # buffer region grows over it
    head = _put(_put(SAMPLE[:FOOT], buf_table, at, 8), buf_table + 8, big, 4)
    path = tmp_path / "huge.pak"
    with open(path, "wb") as fh:
        fh.write(head)
        fh.seek(at + big - 8)
        fh.write(b"ENDMARK!")
        fh.seek(at + big + 4096 - 256)
        foot = bytearray(footer)
        foot[PAK_CRC_OFFSET_IN_FOOTER:PAK_CRC_OFFSET_IN_FOOTER + 4] = bytes(4)
        fh.write(bytes(foot))
    source = open_pak(path)
    try:
        _entry, _where, payload, where = source.read_resource(ResourceKind.BUFFER, 0)
        assert len(payload) == big and where.offset == at and bytes(payload[-8:]) == b"ENDMARK!"
        del payload
    finally:
        source.close()


# ---------------------------------------------------------------- row pitch
def test_to_rgba8_checks_the_pitch_before_allocating(tmp_path):
    payload = int(PAK.tables["texture"][1]["data_offset"])
    layout6 = payload + 28 + 6 * 12  # mip 6 of the 64x64 checker: 1x1
    path = tmp_path / "pitch.pak"
    path.write_bytes(_put(SAMPLE, layout6 + 4, 0xFFFFFFFF, 4))
    assert validate_pak(path).ok  # the engine does not check pitches; loading works
    with AssetLoader(LoaderConfig(cpu_threads=1)) as loader:
        source = loader.add_pak(str(path))
        texture = loader.load_resource(ResourceKey(source, ResourceKind.TEXTURE, 1), TextureResource).result(T)
        assert texture.to_rgba8(mip=5).shape == (2, 2, 4)  # other mips are intact
        tracemalloc.start()
        try:
            # one row: the pitch is never stepped over, so the pixel decodes, with no 4 GiB buffer
            assert texture.to_rgba8(mip=6).shape == (1, 1, 4)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 << 20
    path.write_bytes(_put(SAMPLE, payload + 28 + 4, 0xFFFFFFFF, 4))  # mip 0: 64 rows at that pitch
    with AssetLoader(LoaderConfig(cpu_threads=1)) as loader:
        source = loader.add_pak(str(path))
        texture = loader.load_resource(ResourceKey(source, ResourceKind.TEXTURE, 1), TextureResource).result(T)
        with pytest.raises(ValueError, match="pitch"):
            texture.to_rgba8()


def test_a_short_pitch_is_refused_too(tmp_path):
    payload = int(PAK.tables["texture"][1]["data_offset"])
    path = tmp_path / "short.pak"
    path.write_bytes(_put(SAMPLE, payload + 28 + 4, 8, 4))  # mip 0: 64 px need 256 bytes a row
    with AssetLoader(LoaderConfig(cpu_threads=1)) as loader:
        source = loader.add_pak(str(path))
        texture = loader.load_resource(ResourceKey(source, ResourceKind.TEXTURE, 1)).result(T)
        with pytest.raises(ValueError, match="smaller than a row"):
            texture.to_rgba8()


# ---------------------------------------------------------------- names that are not UTF-8
@pytest.fixture
def bad_name_pak(tmp_path) -> pathlib.Path:
    at = PAK.directory[0].desc_offset + 1  # the material's header.name
    data = bytearray(SAMPLE)
    data[at:at + 8] = b"\xff\xfeChk\x80\x00\x00"
    path = tmp_path / "name.pak"
    path.write_bytes(bytes(data))
    return path


def test_inspect_escapes_names_on_a_strict_utf8_stdout(bad_name_pak):
    env = {"PYTHONIOENCODING": "utf-8:strict"}
    result = _oxy("inspect", str(bad_name_pak), "--full", env=env)
    assert result.returncode == 0, result.stderr
    assert "name: \\xff\\xfeChk\\x80" in result.stdout and "Traceback" not in result.stderr
    result = _oxy("inspect", str(bad_name_pak), env=env)  # the overview
    assert result.returncode == 0 and "\\xff\\xfeChk\\x80" in result.stdout, result.stderr
    result = _oxy("inspect", str(bad_name_pak), "--json", env=env)
    assert result.returncode == 0, result.stderr
    names = {a["name"] for a in json.loads(result.stdout)["assets"]}
    assert "\\xff\\xfeChk\\x80" in names
    assert _oxy("validate", str(bad_name_pak), "--json", env=env).returncode == 0


def test_diagnostics_print_undecodable_text():
    name = b"\xffname".decode("utf-8", "surrogateescape")
    d = Diagnostic(Severity.WARNING, "geometry.material_key", f"submesh {name}", f"dir/{name}.omat", 3, "f")
    assert "\\xffname" in str(d) and str(d).encode("utf-8")
    assert json.dumps(d.to_dict(), ensure_ascii=False).encode("utf-8")
    assert d.to_dict()["file"] == "dir/\\xffname.omat"
