"""Helpers for tests that cook into roots and read the results back from disk.

They parse the files with the declarations of ``oxy.formats`` only (never the
emitters' in-memory state), so a test of a writer checks what it wrote.
"""
from __future__ import annotations

import pathlib

import numpy as np

from oxy.cook import bc7
from oxy.formats import Format, parse_index
from oxy.formats.resources import SUBRESOURCE_LAYOUT_DTYPE, TEXTURE_DESC_DTYPE, TexturePayloadHeader
from oxy.importing import AsyncImportService, ImportReport, ImportRequest


def cook(root: pathlib.Path, sources: list, *, timeout: float = 120, service: AsyncImportService | None = None,
         **options) -> ImportReport:
    """Cook ``sources`` (paths) as one texture job into ``root`` through the async service."""
    request = ImportRequest(str(sources[0]), str(root), options={**options, "sources": [str(s) for s in sources[1:]]})
    if service is not None:
        return service.submit(request).wait(timeout)
    with AsyncImportService() as own:
        return own.submit(request).wait(timeout)


def read_table(root: pathlib.Path) -> np.ndarray:
    return np.frombuffer((root / "Resources" / "textures.table").read_bytes(), TEXTURE_DESC_DTYPE)


def payload(root: pathlib.Path, entry: np.void) -> bytes:
    data = (root / "Resources" / "textures.data").read_bytes()
    return data[int(entry["data_offset"]):int(entry["data_offset"]) + int(entry["size_bytes"])]


def subresource(payload_bytes: bytes, index: int) -> tuple[np.void, bytes]:
    header = TexturePayloadHeader.parse(payload_bytes)
    layouts = np.frombuffer(payload_bytes, SUBRESOURCE_LAYOUT_DTYPE, header.subresource_count,
                            header.layouts_offset_bytes)
    layout = layouts[index]
    start = header.data_offset_bytes + int(layout["offset_bytes"])
    return layout, payload_bytes[start:start + int(layout["size_bytes"])]


def decode_mip(payload_bytes: bytes, entry: np.void, mip: int = 0, layer: int = 0) -> np.ndarray:
    """The RGBA8 pixels of one subresource (BC7 decoded with oxy's decoder, rows unpadded)."""
    w, h = max(1, int(entry["width"]) >> mip), max(1, int(entry["height"]) >> mip)
    layout, data = subresource(payload_bytes, layer * int(entry["mip_levels"]) + mip)
    pitch = int(layout["row_pitch_bytes"])
    fmt = int(entry["format"])
    if fmt in (Format.BC7_UNORM, Format.BC7_UNORM_SRGB):
        row_bytes, rows = -(-w // 4) * 16, -(-h // 4)
        blocks = b"".join(data[r * pitch:r * pitch + row_bytes] for r in range(rows))
        return bc7.decode(blocks, w, h)
    bpp = {Format.RGBA8_UNORM: 4, Format.RGBA8_UNORM_SRGB: 4, Format.RGBA16_FLOAT: 8, Format.RGBA32_FLOAT: 16}[fmt]
    rows = b"".join(data[r * pitch:r * pitch + w * bpp] for r in range(h))
    dtype = {4: np.uint8, 8: "<f2", 16: "<f4"}[bpp]
    return np.frombuffer(rows, dtype).reshape(h, w, 4)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def index_files(root: pathlib.Path) -> dict[int, tuple[str, int]]:
    index = parse_index((root / "container.index.bin").read_bytes())
    return {f.kind: (f.relpath, f.size) for f in index.files}
