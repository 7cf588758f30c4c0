"""BC7 decoder: bit-exact against two independent decoders.

References: texture2ddecoder (``decode_bc7`` -> BGRA) and Pillow (BC7 inside a DDS
file with a DX10 header, DXGI_FORMAT_BC7_UNORM = 98; the header is built here).
Covered: every mode 0-7, every rotation / index-selection combination of modes 4
and 5, encoder-produced blocks, thousands of random valid blocks, hypothesis blocks,
and the reserved mode 8 (first byte 0), which D3D11 decodes to transparent black.
"""
from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from oxy.cook import bc7

t2d = pytest.importorskip("texture2ddecoder")
Image = pytest.importorskip("PIL.Image")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

DXGI_FORMAT_BC7_UNORM = 98


def dds_bc7(blocks: bytes, width: int, height: int) -> bytes:
    """A minimal DDS file (DX10 header) holding one BC7 surface."""
    flags = 0x1 | 0x2 | 0x4 | 0x1000 | 0x80000  # caps, height, width, pixelformat, linearsize
    header = struct.pack("<4sIIIIIII44x", b"DDS ", 124, flags, height, width, len(blocks), 0, 1)
    pixel_format = struct.pack("<II4s20x", 32, 0x4, b"DX10")  # DDPF_FOURCC
    caps = struct.pack("<IIII4x", 0x1000, 0, 0, 0)  # DDSCAPS_TEXTURE
    dx10 = struct.pack("<IIIII", DXGI_FORMAT_BC7_UNORM, 3, 0, 1, 0)  # TEXTURE2D, 1 element
    return header + pixel_format + caps + dx10 + blocks


def ref_t2d(blocks: bytes, width: int, height: int) -> np.ndarray:
    bgra = np.frombuffer(t2d.decode_bc7(blocks, width, height), np.uint8)
    return bgra.reshape(height, width, 4)[..., [2, 1, 0, 3]]


def ref_pillow(blocks: bytes, width: int, height: int) -> np.ndarray:
    with Image.open(io.BytesIO(dds_bc7(blocks, width, height))) as im:
        return np.asarray(im.convert("RGBA"))


def random_blocks(rng: np.random.Generator, n: int, modes: np.ndarray) -> np.ndarray:
    """``n`` random 16-byte blocks whose first byte selects ``modes[i]``."""
    blk = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    m = modes.astype(np.int64)
    low = (1 << (m + 1)) - 1
    blk[:, 0] = ((blk[:, 0].astype(np.int64) & ~low) | (1 << m)) & 0xFF
    return blk


def check_all_refs(blocks: np.ndarray, width: int, height: int, pillow: bool = True) -> None:
    data = np.ascontiguousarray(blocks).tobytes()
    ours = bc7.decode(data, width, height)
    np.testing.assert_array_equal(ours, ref_t2d(data, width, height))
    if pillow:
        np.testing.assert_array_equal(ours, ref_pillow(data, width, height))


@pytest.mark.parametrize("mode", range(8))
def test_every_mode_random_blocks(mode: int) -> None:
    rng = np.random.default_rng(100 + mode)
    blocks = random_blocks(rng, 32 * 32, np.full(32 * 32, mode))
    check_all_refs(blocks, 128, 128)


@pytest.mark.parametrize(("mode", "rotation", "isel"),
                         [(4, r, i) for r in range(4) for i in range(2)]
                         + [(5, r, 0) for r in range(4)])
def test_rotations_and_index_selection(mode: int, rotation: int, isel: int) -> None:
    rng = np.random.default_rng(7 * mode + rotation + 31 * isel)
    blocks = random_blocks(rng, 256, np.full(256, mode))
    # mode bit, then 2 rotation bits, then (mode 4) the index-selection bit
    first = (1 << mode) | (rotation << (mode + 1))
    if mode == 4:
        first |= isel << 7
        blocks[:, 0] = first
    else:
        blocks[:, 0] = first
    check_all_refs(blocks, 64, 64)


def test_thousands_of_random_valid_blocks() -> None:
    rng = np.random.default_rng(2026)
    n = 64 * 64
    blocks = random_blocks(rng, n, rng.integers(0, 8, n))
    check_all_refs(blocks, 256, 256)


def test_encoder_produced_blocks_every_mode() -> None:
    from oxy._kernels import bc7_encode

    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)
    img[..., 3] = np.where(rng.random((32, 32)) < 0.5, 255, img[..., 3])
    for mode in range(8):
        data = bc7_encode.encode(np.ascontiguousarray(img), 1, False, mode)
        check_all_refs(np.frombuffer(data, np.uint8), 32, 32)


def test_reserved_mode_8_is_transparent_black() -> None:
    rng = np.random.default_rng(8)
    blocks = rng.integers(0, 256, (4, 16), dtype=np.uint8)
    blocks[:, 0] = 0
    data = blocks.tobytes()
    ours = bc7.decode(data, 8, 8)
    assert not ours.any()
    np.testing.assert_array_equal(ours, ref_t2d(data, 8, 8))
    # Pillow fills reserved blocks with opaque black instead; RGB still agrees.
    np.testing.assert_array_equal(ours[..., :3], ref_pillow(data, 8, 8)[..., :3])


def test_partial_blocks_are_cropped() -> None:
    rng = np.random.default_rng(9)
    blocks = random_blocks(rng, 6, rng.integers(0, 8, 6))
    full = bc7.decode(blocks.tobytes(), 12, 8)
    cropped = bc7.decode(blocks.tobytes(), 10, 7)
    np.testing.assert_array_equal(cropped, full[:7, :10])
    check_all_refs(blocks, 10, 7)


def test_accepts_every_buffer_type() -> None:
    rng = np.random.default_rng(10)
    blocks = random_blocks(rng, 4, rng.integers(0, 8, 4))
    data = blocks.tobytes()
    want = bc7.decode(data, 8, 8)
    for buf in (bytearray(data), memoryview(data), blocks, blocks.reshape(-1)):
        np.testing.assert_array_equal(bc7.decode(buf, 8, 8), want)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=16))
def test_hypothesis_blocks(raw: list[bytes]) -> None:
    data = b"".join(raw)
    n = len(raw)
    ours = bc7.decode(data, 4 * n, 4)
    np.testing.assert_array_equal(ours, ref_t2d(data, 4 * n, 4))
    valid = [i for i, b in enumerate(raw) if b[0] != 0]
    if valid:
        pil = ref_pillow(data, 4 * n, 4)
        for i in valid:
            np.testing.assert_array_equal(ours[:, 4 * i:4 * i + 4], pil[:, 4 * i:4 * i + 4])


@pytest.mark.parametrize(("blocks", "width", "height", "match"), [
    (bytes(15), 4, 4, "16 bytes"),
    (bytes(32), 4, 4, "16 bytes"),
    (bytes(16), 0, 4, "width and height"),
    (bytes(16), 4, -1, "width and height"),
    ([0] * 16, 4, 4, "blocks must be"),
    (np.zeros(16, np.int32), 4, 4, "dtype uint8"),
    (bytes(16), 4.0, 4, "integers"),
])
def test_decode_bad_input(blocks: object, width: object, height: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bc7.decode(blocks, width, height)  # type: ignore[arg-type]
