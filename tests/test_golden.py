"""The engine's own PAK (../shared/reference/minimal_ref.pak) as a golden file."""
from __future__ import annotations

import json
import subprocess
import sys

from oxy.formats import AssetKey, build_pak, parse_material, parse_pak
from oxy.formats.primitives import pak_crc32
from oxy.pack.writer import PakAsset, write_pak
from oxy.validate import validate_pak

from conftest import GOLDEN_PAK


def test_golden_parses(golden_bytes):
    pak = parse_pak(golden_bytes, path=str(GOLDEN_PAK))
    assert pak.header.version == 4 and pak.header.content_version == 1
    assert pak.footer.asset_count == 1 and pak.footer.directory_offset == 512
    assert pak.directory[0].asset_key == AssetKey.parse("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")
    assert pak.browse == ((pak.directory[0].asset_key, "/MatRef"),)
    material = parse_material(pak.descriptors[0])
    assert material.desc.header.name == "MatRef" and material.desc.header.version == 1
    assert material.desc.base_color == (1.0, 1.0, 1.0, 1.0) and material.desc.ior == 1.5


def test_golden_validates_with_its_crc(golden_bytes):
    report = validate_pak(GOLDEN_PAK, verify_hashes=True)
    assert report.ok and not report.diagnostics, [str(d) for d in report.diagnostics]
    assert pak_crc32(golden_bytes) == parse_pak(golden_bytes).footer.pak_crc32 == 0xCD8B819D


def test_golden_round_trips_byte_for_byte(golden_bytes):
    assert build_pak(parse_pak(golden_bytes)) == golden_bytes


def test_writer_reproduces_the_engine_golden(golden_bytes):
    pak = parse_pak(golden_bytes)
    entry = pak.directory[0]
    out = write_pak([PakAsset(entry.asset_key, entry.asset_type, pak.descriptors[0], "/MatRef")],
                    guid=pak.header.guid, content_version=1)
    assert out == golden_bytes


def test_golden_inspects_as_one_material_named_matref():
    result = subprocess.run([sys.executable, "-m", "oxy", "inspect", str(GOLDEN_PAK), "--json"],
                            capture_output=True, text=True, check=True)
    model = json.loads(result.stdout)
    assert [(a["type"], a["name"], a["key"]) for a in model["assets"]] == [
        ("material", "MatRef", "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")]
    assert model["assets"][0]["virtual_path"] == "/MatRef"
    assert model["assets"][0]["descriptor"]["header"]["name"] == "MatRef"
