"""The loose cooked root validator on corrupted variants: each names file, offset and field."""
from __future__ import annotations

import os
import pathlib

import pytest

from oxy.formats import FileKind, parse_index
from oxy.formats.loose import (ASSET_ENTRY_SIZE, INDEX_FILE_NAME, IndexAsset, LooseIndex,
                               build_index)
from oxy.cli.describe import describe_path
from oxy.errors import FormatError
from oxy.validate import validate_loose_root


def _index(root: pathlib.Path) -> bytes:
    return (root / INDEX_FILE_NAME).read_bytes()


def _write(root: pathlib.Path, data: bytes) -> None:
    (root / INDEX_FILE_NAME).write_bytes(data)


def _put(root: pathlib.Path, at: int, value: int, size: int) -> None:
    data = bytearray(_index(root))
    data[at:at + size] = value.to_bytes(size, "little")
    _write(root, bytes(data))


def _codes(root: pathlib.Path, **kw) -> list:
    return validate_loose_root(root, **kw).errors


def test_sample_root_is_valid(sample_root):
    report = validate_loose_root(sample_root, verify_hashes=True)
    assert report.ok and not report.diagnostics, [str(d) for d in report.diagnostics]
    assert report.stats == {"assets": 3, "file_records": 4, "textures": 2, "buffers": 2}


@pytest.mark.parametrize("at,value,size,code,field", [
    (0, 0x58, 1, "index.header.magic", "header.magic"),
    (8, 2, 2, "index.header.version", "header.version"),
    (12, 0x10, 4, "index.header.flags", "header.flags"),
    (12, 2, 4, "index.header.flags", "header.flags"),              # records without HasVirtualPaths
    (44, 77, 4, "index.header.asset_entry_size", "header.asset_entry_size"),
    (60, 65, 4, "index.header.file_record_size", "header.file_record_size"),
    (40, 2**32 - 1, 4, "index.assets.range", "header.asset_count"),
    (16, 0, 8, "index.strings.offset", "header.string_table_offset"),
    (24, 10**9, 8, "index.strings.range", "header.string_table_offset"),
    (24, 0, 8, "index.strings.empty", "header.string_table_size"),
])
def test_header_corruptions(sample_root, at, value, size, code, field):
    _put(sample_root, at, value, size)
    errors = _codes(sample_root)
    match = [e for e in errors if e.code == code]
    assert match and match[0].field == field and match[0].file == INDEX_FILE_NAME, [str(e) for e in errors]


def test_zero_guid(sample_root):
    data = bytearray(_index(sample_root))
    data[64:80] = bytes(16)
    _write(sample_root, bytes(data))
    assert [e.offset for e in _codes(sample_root) if e.code == "index.header.guid"] == [64]


def _entries_at(root: pathlib.Path) -> int:
    return parse_index(_index(root)).header.asset_entries_offset


def test_string_offset_out_of_range(sample_root):
    at = _entries_at(sample_root) + ASSET_ENTRY_SIZE  # asset 1
    _put(sample_root, at + 20, 10**6, 4)
    errors = _codes(sample_root)
    assert any(e.code == "index.string_offset" and e.offset == at + 20 and e.field == "assets[1].virtual_path_offset"
               for e in errors)


@pytest.mark.parametrize("bad", ["../x.omat", "/etc/passwd", "C:\\x.omat", "Materials//a.omat", "a/./b.omat",
                                 "Materials/a.omat/"])
def test_hostile_descriptor_paths_are_rejected(sample_root, bad):
    _write(sample_root, _forge_index(parse_index(_index(sample_root)), 0, relpath=bad))
    errors = _codes(sample_root)
    assert any(e.code == "index.asset.relpath" and e.field == "assets[0].descriptor_relpath_offset"
               for e in errors), [str(e) for e in errors]
    # The hostile path is never followed: no diagnostic is about a file outside the root,
    # and the strict reader behind `oxy inspect` refuses it before opening anything.
    assert all(not e.file.startswith(("/", "..", "C:")) for e in errors)
    with pytest.raises(FormatError, match="descriptor_relpath_offset"):
        describe_path(str(sample_root))


@pytest.mark.parametrize("bad", ["no/leading/slash", "/trailing/", "/a//b", "/a/../b", "/a\\b"])
def test_bad_virtual_paths(sample_root, bad):
    _write(sample_root, _forge_index(parse_index(_index(sample_root)), 1, vpath=bad))
    assert any(e.code == "index.asset.virtual_path" and e.field == "assets[1].virtual_path_offset"
               for e in _codes(sample_root))


def _forge_index(index: LooseIndex, i: int, relpath: str | None = None, vpath: str | None = None) -> bytes:
    """Rebuild the index with asset i's strings replaced, bypassing the writer's checks."""
    good = build_index(index)
    assets = list(index.assets)
    target = assets[i]
    marker_rel, marker_v = "Z" * len(target.descriptor_relpath), "/" + "Z" * (len(target.virtual_path) - 1)
    assets[i] = IndexAsset(target.key, target.asset_type, marker_rel, marker_v, target.descriptor_size,
                           target.descriptor_sha256)
    forged = build_index(LooseIndex(index.guid, index.content_version, tuple(assets), index.files))
    assert len(forged) == len(good)
    table_at, table_size = 256, index.header.string_table_size
    strings = bytes(forged[table_at:table_at + table_size])
    for new, marker in ((relpath, marker_rel), (vpath, marker_v)):
        if new is not None:
            assert len(new) <= len(marker)
            strings = strings.replace(marker.encode() + b"\0", new.encode().ljust(len(marker), b"\0") + b"\0")
    return forged[:table_at] + bytes(strings) + forged[table_at + table_size:]


def test_duplicate_keys_and_vpaths(sample_root):
    index = parse_index(_index(sample_root))
    at = index.header.asset_entries_offset
    data = bytearray(_index(sample_root))
    data[at + ASSET_ENTRY_SIZE:at + ASSET_ENTRY_SIZE + 16] = data[at:at + 16]  # asset 1 gets asset 0's key
    data[at + ASSET_ENTRY_SIZE + 20:at + ASSET_ENTRY_SIZE + 24] = data[at + 20:at + 24]  # and its vpath
    _write(sample_root, bytes(data))
    messages = [e.message for e in _codes(sample_root) if e.code == "index.asset.duplicate"]
    assert any("asset key" in m for m in messages) and any("virtual path" in m for m in messages)


def test_file_record_rules(sample_root):
    index = parse_index(_index(sample_root))
    at = index.header.file_records_offset
    _put(sample_root, at, 9, 2)
    assert any(e.code == "index.record.kind" and e.offset == at for e in _codes(sample_root))
    _put(sample_root, at, FileKind.BUFFERS_DATA, 2)  # two BUFFERS_DATA records, BUFFERS_TABLE missing
    codes = {e.code for e in _codes(sample_root)}
    assert "index.record.duplicate_kind" in codes and "index.record.pair" in codes


def test_mount_checks(sample_root):
    (sample_root / "Materials" / "Checker.omat").write_bytes(b"short")
    (sample_root / "Resources" / "textures.table").write_bytes(bytes(41))
    os.remove(sample_root / "Scenes" / "CubeScene.oscene")
    errors = _codes(sample_root)
    by_code = {e.code: e for e in errors}
    assert by_code["mount.descriptor.size"].file == "Materials/Checker.omat"
    assert by_code["mount.descriptor.missing"].file == "Scenes/CubeScene.oscene"
    assert by_code["mount.file.size"].file == "Resources/textures.table"
    assert by_code["mount.table.size"].message.endswith("not a multiple of 40")


def test_descriptor_sha256_only_when_asked(sample_root):
    path = sample_root / "Materials" / "Checker.omat"
    blob = bytearray(path.read_bytes())
    blob[200] ^= 1
    path.write_bytes(bytes(blob))
    assert not [e for e in _codes(sample_root) if "sha256" in e.code or "hash" in e.code]
    codes = {e.code for e in _codes(sample_root, verify_hashes=True)}
    assert {"mount.descriptor.sha256", "asset.header.content_hash"} <= codes


def test_texture_payload_checked_in_loose_data(sample_root):
    from oxy.formats import TextureResourceDesc

    entry = TextureResourceDesc.parse((sample_root / "Resources" / "textures.table").read_bytes(), 40)
    data_path = sample_root / "Resources" / "textures.data"
    data = bytearray(data_path.read_bytes())
    at = entry.data_offset + 8  # texture 1 total_payload_size
    data[at:at + 4] = (5).to_bytes(4, "little")
    data_path.write_bytes(bytes(data))
    errors = _codes(sample_root)
    match = [e for e in errors if e.code == "texture.payload.total_payload_size"]
    assert match and match[0].file == "Resources/textures.data" and match[0].offset == at
    assert match[0].field == "textures[1].payload.total_payload_size"


def test_index_file_missing_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        validate_loose_root(tmp_path)
