"""Corrupt images are refused with the real reason (issue 10, item 5): PNG chunk CRCs
and lengths, broken iCCP, truncated JPEG headers and TGA pixels; sound files (16-bit
PngSuite, a JPEG without EOI) still cook."""
from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image, ImageCms

from oxy.cook.image_decode import ImageDecodeError, decode_image
from oxy.cook.image_structure import check_jpeg, check_png, check_tga
from oxy.validate import validate_loose_root

from conftest import CORPUS, PROJECT
from cooking import cook, read_table

IMAGES = CORPUS / "images"
NET = IMAGES / "net.png"


def chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, data length) of every chunk, read naively."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        out.append((kind, pos, length))
        pos += 12 + length
    return out


def chunk_at(data: bytes, kind: bytes) -> tuple[int, int]:
    return next((pos, length) for k, pos, length in chunks(data) if k == kind)


def flip_idat_byte(data: bytes) -> bytes:
    """Flip one bit inside IDAT's zlib stream where Pillow does not notice (before the
    Adler-32 trailer, which Pillow never reaches once it has every row)."""
    pos, length = chunk_at(data, b"IDAT")
    out = bytearray(data)
    out[pos + 8 + length - 5] ^= 0x01
    return bytes(out)


def grow_idat_length(data: bytes) -> bytes:
    pos, length = chunk_at(data, b"IDAT")
    out = bytearray(data)
    out[pos:pos + 4] = struct.pack(">I", length + 1000)
    return bytes(out)


def cut_after_idat_data(data: bytes) -> bytes:
    """The file cut right after the IDAT data: no CRC, no IEND."""
    pos, length = chunk_at(data, b"IDAT")
    return data[:pos + 8 + length]


def with_iccp(data: bytes) -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, "PNG", icc_profile=profile)
    return out.getvalue()


def break_iccp_crc(data: bytes) -> bytes:
    pos, length = chunk_at(data, b"iCCP")
    out = bytearray(data)
    out[pos + 8 + length // 2] ^= 0xFF
    return bytes(out)


def break_iccp_method(data: bytes) -> bytes:
    """A valid CRC around an iCCP whose compression method is unknown (5)."""
    pos, length = chunk_at(data, b"iCCP")
    body = bytearray(data[pos + 8:pos + 8 + length])
    body[body.index(0) + 1] = 5
    kind_and_body = b"iCCP" + bytes(body)
    return data[:pos + 4] + kind_and_body + struct.pack(">I", zlib.crc32(kind_and_body)) + data[pos + 12 + length:]


def test_pillow_alone_decodes_these_corruptions():
    """The premise: without the chunk walk each of these would be cooked."""
    good = NET.read_bytes()
    for bad in (flip_idat_byte(good), grow_idat_length(good), cut_after_idat_data(good)):
        image = Image.open(io.BytesIO(bad))
        image.load()
        assert image.size == (128, 128)


CORRUPTIONS = {
    "idat_crc": (flip_idat_byte, "chunk IDAT at byte 33", "CRC-32"),
    "idat_length": (grow_idat_length, "chunk IDAT at byte 33", "runs past the end of the file"),
    "idat_cut": (cut_after_idat_data, "chunk IDAT at byte 33", "runs past the end of the file"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_png_fails_alone_naming_the_chunk(tmp_path, name):
    corrupt, where, what = CORRUPTIONS[name]
    bad = tmp_path / f"{name}.png"
    bad.write_bytes(corrupt(NET.read_bytes()))
    root = tmp_path / "root"
    report = cook(root, [NET, bad, IMAGES / "basn6a16.png"])
    assert not report.success and not report.cancelled
    [error] = report.errors
    assert error.code == "texture.decode_failed" and error.source_path == str(bad)
    assert where in error.message and what in error.message
    assert set(report.outputs) == {str(NET), str(IMAGES / "basn6a16.png")}
    assert len(read_table(root)) == 3  # fallback + the two good textures, read back from disk
    assert validate_loose_root(root, verify_hashes=True).ok


@pytest.mark.parametrize("breaker, expected", [
    (break_iccp_crc, ("chunk iCCP at byte 33", "fails its CRC-32 check")),
    (break_iccp_method, ("Unknown compression method 5 in iCCP chunk",)),
])
def test_broken_iccp_gives_the_real_reason(tmp_path, breaker, expected):
    good = with_iccp(NET.read_bytes())
    assert decode_image(good, "good.png").width == 128
    bad = tmp_path / "iccp.png"
    bad.write_bytes(breaker(good))
    report = cook(tmp_path / "root", [bad])
    [error] = report.errors
    assert error.code == "texture.decode_failed"
    assert all(part in error.message for part in expected), error.message
    assert "not an image format" not in error.message


def test_oxy_cook_exits_non_zero_and_names_the_chunk(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(flip_idat_byte(NET.read_bytes()))
    result = subprocess.run([sys.executable, "-m", "oxy", "cook", str(bad), "-o", str(tmp_path / "root"), "--json"],
                            capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert result.returncode == 4, result.stderr
    assert "texture.decode_failed" in result.stderr and "chunk IDAT" in result.stderr
    [job] = json.loads(result.stdout)["jobs"]
    assert job["diagnostics"][0]["code"] == "texture.decode_failed"


def test_sound_pngs_pass_the_walk_and_cook(tmp_path):
    pngs = [IMAGES / "basn6a16.png", IMAGES / "basn2c16.png", IMAGES / "This Way Up.png", NET]
    for png in pngs:
        assert check_png(png.read_bytes()) is None, png
    assert check_png(with_iccp(NET.read_bytes())) is None
    report = cook(tmp_path / "root", pngs)
    assert report.success, report.diagnostics
    assert len(read_table(tmp_path / "root")) == 5


def test_badadler_still_fails_in_the_decoder():
    data = (CORPUS / "malformed" / "badadler.png").read_bytes()
    assert check_png(data) is None  # its chunks are sound; the zlib stream is not
    with pytest.raises(ImageDecodeError, match="PNG decode failed"):
        decode_image(data, "badadler.png")


def test_png_walk_edge_cases():
    good = NET.read_bytes()
    assert "signature" in (check_png(b"\x89PNG\r\n\x00\n" + good[8:]) or "")
    assert "without an IEND" in (check_png(good[:-12]) or "")
    pos, length = chunk_at(good, b"IEND")
    trailing = good + b"garbage after IEND"
    assert check_png(trailing) is None
    no_idat = good[:33] + good[pos:]
    assert "before any IDAT" in (check_png(no_idat) or "")
    bad_type = bytearray(good)
    bad_type[37:41] = b"ID\x00T"
    assert "invalid type" in (check_png(bytes(bad_type)) or "")


def test_truncated_jpeg_header_and_missing_eoi():
    jpeg = (IMAGES / "Wrinkles.jpg").read_bytes()
    assert check_jpeg(jpeg) is None
    assert not jpeg.endswith(b"\xff\xd9")  # a real file without EOI: must still decode
    assert decode_image(jpeg, "Wrinkles.jpg").width == 1024
    with pytest.raises(ImageDecodeError, match=r"segment 0xFF.. at byte \d+ declares \d+ bytes"):
        decode_image(jpeg[:300], "cut.jpg")
    truncated = (CORPUS / "malformed" / "truncated_jpeg.jpg").read_bytes()
    with pytest.raises(ImageDecodeError, match="without its EOI marker"):
        decode_image(truncated, "truncated_jpeg.jpg")


def test_truncated_uncompressed_tga_names_the_sizes():
    tga = (IMAGES / "Concrete.tga").read_bytes()
    assert check_tga(tga) is None
    cut = tga[:18 + 256 * 512 * 4 - 1]
    assert "needs 524306 bytes" in (check_tga(cut) or "")
    with pytest.raises(ImageDecodeError, match="TGA is corrupt: .*needs 524306 bytes"):
        decode_image(cut, "Concrete.tga")
