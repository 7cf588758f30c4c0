"""The PAK validator on corrupted variants: each names the right file, offset and field."""
from __future__ import annotations

import pytest

from oxy.formats.pak import PAK_FOOTER_SIZE, parse_pak
from oxy.validate import validate_pak_bytes

from conftest import SAMPLE_PAK


@pytest.fixture(scope="module")
def sample() -> bytes:
    return SAMPLE_PAK.read_bytes()


def _put(data: bytes, at: int, value: int, size: int) -> bytes:
    out = bytearray(data)
    out[at:at + size] = value.to_bytes(size, "little")
    return bytes(out)


def _errors(data: bytes, **kw) -> list:
    return validate_pak_bytes(data, name="t.pak", **kw).errors


def test_sample_is_valid_with_hashes(sample):
    report = validate_pak_bytes(sample, name="sample.pak", verify_hashes=True)
    assert report.ok and not report.diagnostics
    assert report.stats["assets"] == 3 and report.stats["textures"] == 2 and report.stats["buffers"] == 2


def _foot(sample: bytes) -> int:
    return len(sample) - PAK_FOOTER_SIZE


CASES = [
    # (name, mutate(sample) -> bytes, expected code, expected field substring, expected offset or None)
    ("header magic", lambda d: b"X" + d[1:], "pak.header", "header.magic", 0),
    ("version", lambda d: _put(d, 8, 5, 2), "pak.header.version", "header.version", 8),
    ("footer magic", lambda d: d[:-1] + b"X", "pak.footer", "footer.footer_magic", None),
    ("asset_count huge", lambda d: _put(d, _foot(d) + 16, 2**32 - 1, 8), "pak.directory.range",
     "footer.directory_offset", None),
    ("texture entry size", lambda d: _put(d, _foot(d) + 72 + 12, 39, 4), "pak.table.entry_size",
     "footer.texture_table.entry_size", None),
    ("buffer table past end", lambda d: _put(d, _foot(d) + 88, len(d), 8), "pak.table.range",
     "footer.buffer_table", None),
]


@pytest.mark.parametrize("name,mutate,code,field,offset", CASES, ids=[c[0] for c in CASES])
def test_corruptions_name_the_field(sample, name, mutate, code, field, offset):
    errors = _errors(mutate(sample))
    match = [e for e in errors if e.code == code and field in e.field]
    assert match, [str(e) for e in errors]
    assert match[0].file == "t.pak"
    if offset is not None:
        assert match[0].offset == offset


def test_texture_alignment_and_payload_checks(sample):
    pak = parse_pak(sample)
    table = pak.footer.texture_table.offset
    errors = _errors(_put(sample, table + 40 + 29, 1, 2))
    assert any(e.code == "texture.alignment" and e.field == "textures[1].alignment" and e.offset == table + 69
               for e in errors)
    payload_at = int(pak.tables["texture"][1]["data_offset"])
    errors = _errors(_put(sample, payload_at, 0x12345678, 4))
    assert any(e.code == "texture.payload.magic" and e.offset == payload_at for e in errors)
    errors = _errors(_put(sample, payload_at + 6, 3, 2))
    assert any(e.code == "texture.payload.subresource_count" for e in errors)
    errors = _errors(_put(sample, table + 40 + 26, 9, 2))  # 64x64 allows at most 7 mips
    assert any(e.code == "texture.mip_levels" and e.field == "textures[1].mip_levels" for e in errors)
    report = validate_pak_bytes(_put(sample, table + 40, payload_at + 16, 8), name="t.pak")
    # the engine checks the alignment field, not the offset: a warning
    assert any(e.code == "texture.data_offset.unaligned" for e in report.warnings)
    assert not any(e.code == "texture.data_offset.unaligned" for e in report.errors)


def test_hashes_checked_only_when_asked(sample):
    pak = parse_pak(sample)
    payload_at = int(pak.tables["texture"][1]["data_offset"])
    flipped = bytearray(sample)
    flipped[payload_at + 600] ^= 0xFF  # inside the texture data
    assert not [e for e in _errors(bytes(flipped)) if "hash" in e.code]
    codes = {e.code for e in _errors(bytes(flipped), verify_hashes=True)}
    assert {"texture.payload.content_hash", "texture.content_hash", "pak.crc32"} <= codes


def test_descriptor_problems(sample):
    pak = parse_pak(sample)
    material = pak.directory[0]
    report = validate_pak_bytes(_put(sample, material.desc_offset + 130, 99, 4), name="t.pak")
    assert report.ok  # the engine skips a texture it cannot load: a warning
    assert any(e.code == "material.texture_index" and e.offset == material.desc_offset + 130
               and e.field.endswith("base_color_texture") for e in report.warnings)
    errors = _errors(_put(sample, material.entry_offset + 16, 9, 1))
    assert any(e.code == "asset.type" for e in errors)
    geometry = pak.directory[1]
    report = validate_pak_bytes(_put(sample, geometry.desc_offset + 256 + 73, 7, 4), name="t.pak")
    assert report.ok
    assert any(e.code == "geometry.buffer_index" and e.field.endswith("info.vertex_buffer")
               for e in report.warnings)
    strict = validate_pak_bytes(_put(sample, geometry.desc_offset + 256 + 73, 7, 4), name="t.pak", strict=True)
    assert [e.code for e in strict.errors] == ["geometry.buffer_index"]
    errors = _errors(_put(sample, material.entry_offset + 33, material.desc_size - 1, 4))
    assert errors, "a short desc_size must be reported"


def test_duplicate_keys(sample):
    pak = parse_pak(sample)
    first, second = pak.directory[0], pak.directory[1]
    dup = bytearray(sample)
    dup[second.entry_offset:second.entry_offset + 16] = first.asset_key.raw
    errors = _errors(bytes(dup))
    assert any(e.code == "pak.directory.duplicate_key" for e in errors)


def test_tiny_file():
    errors = _errors(b"OXPAK\0\0\0")
    assert errors[0].code == "pak.size" and errors[0].offset == 0
