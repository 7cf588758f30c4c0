"""Helpers for tests that cook into roots and read the results back from disk.

They parse the files with the declarations of ``oxy.formats`` only (never the
emitters' in-memory state), so a test of a writer checks what it wrote.
"""
from __future__ import annotations

import pathlib

import numpy as np

from oxy.cook import bc7, bcn
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


#: (bytes per block, texels per block side) of the formats these tests read, written out
#: here rather than taken from oxy.formats, so the tests check the layout independently.
BLOCK = {Format.BC7_UNORM: (16, 4), Format.BC7_UNORM_SRGB: (16, 4), Format.RGBA8_UNORM: (4, 1),
         Format.RGBA8_UNORM_SRGB: (4, 1), Format.RGBA16_FLOAT: (8, 1), Format.RGBA32_FLOAT: (16, 1),
         Format.BC1_UNORM: (8, 4), Format.BC4_UNORM: (8, 4), Format.BC5_UNORM: (16, 4),
         Format.R11G11B10_FLOAT: (4, 1), Format.R8_UNORM: (1, 1), Format.BGRA8_UNORM: (4, 1),
         Format.R9G9B9E5_FLOAT: (4, 1), Format.BC6H_FLOAT_U: (16, 4), Format.BC1_UNORM_SRGB: (8, 4)}


def tight(payload_bytes: bytes, entry: np.void, layer: int, mip: int) -> bytes:
    """Subresource (layer, mip) of a cooked payload with its row padding removed."""
    block_bytes, block = BLOCK[int(entry["format"])]
    w, h = max(1, int(entry["width"]) >> mip), max(1, int(entry["height"]) >> mip)
    layout, data = subresource(payload_bytes, layer * int(entry["mip_levels"]) + mip)
    pitch, row, rows = int(layout["row_pitch_bytes"]), -(-w // block) * block_bytes, -(-h // block)
    return b"".join(data[r * pitch:r * pitch + row] for r in range(rows))


BCN_FORMATS = {Format.BC1_UNORM: "bc1", Format.BC1_UNORM_SRGB: "bc1", Format.BC4_UNORM: "bc4",
               Format.BC5_UNORM: "bc5", Format.BC6H_FLOAT_U: "bc6h"}


def decode_mip(payload_bytes: bytes, entry: np.void, mip: int = 0, layer: int = 0) -> np.ndarray:
    """The RGBA pixels of one subresource (rows unpadded; BC7/BCn decoded with oxy's
    decoders: BC4 as grey, BC5 with blue 0; float formats and BC6H as float RGBA)."""
    w, h = max(1, int(entry["width"]) >> mip), max(1, int(entry["height"]) >> mip)
    layout, data = subresource(payload_bytes, layer * int(entry["mip_levels"]) + mip)
    pitch = int(layout["row_pitch_bytes"])
    fmt = int(entry["format"])
    if fmt in (Format.BC7_UNORM, Format.BC7_UNORM_SRGB):
        row_bytes, rows = -(-w // 4) * 16, -(-h // 4)
        blocks = b"".join(data[r * pitch:r * pitch + row_bytes] for r in range(rows))
        return bc7.decode(blocks, w, h)
    if fmt in BCN_FORMATS:
        name = BCN_FORMATS[Format(fmt)]
        row_bytes, rows = -(-w // 4) * bcn.BLOCK_BYTES[name], -(-h // 4)
        blocks = b"".join(data[r * pitch:r * pitch + row_bytes] for r in range(rows))
        decoded = bcn.decode(blocks, name, w, h)  # type: ignore[arg-type]
        if name == "bc6h":  # float16 RGB -> float RGBA, alpha 1
            return np.concatenate([decoded, np.ones((h, w, 1), np.float16)], axis=2)
        out = np.zeros((h, w, 4), np.uint8)
        out[..., 3] = 255
        if name == "bc4":  # one channel: grey
            out[..., :3] = decoded
        else:  # bc1: RGBA; bc5: red, green (blue 0)
            out[..., :decoded.shape[2]] = decoded
        return out
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
