"""Checks of resource tables and texture payloads, shared by the PAK and loose validators.

Implements the runtime's texture payload validation (FORMATS.md 4.3) and the
buffer-kind rules (4.2) on the numpy-parsed tables. Reads only the declarations in
``oxy.formats``, never a writer. Pure functions: safe from any thread.
"""
from __future__ import annotations

import numpy as np

from oxy.formats.enums import TextureType, format_block_info
from oxy.formats.primitives import content_hash
from oxy.formats.resources import (SUBRESOURCE_LAYOUT_DTYPE, SUBRESOURCE_LAYOUT_SIZE,
                                   TEXTURE_DATA_ALIGNMENT, TEXTURE_DESC_SIZE,
                                   TEXTURE_PAYLOAD_HEADER_SIZE, TEXTURE_PAYLOAD_MAGIC,
                                   BUFFER_DESC_SIZE, TexturePayloadHeader)
from oxy.validate.diagnostics import ValidationReport

HASH_FIELD = slice(20, 28)  # TexturePayloadHeader.content_hash


def check_texture_table(report: ValidationReport, table: np.ndarray, data: bytes | memoryview,
                        *, table_file: str, table_base: int, data_file: str, data_base: int,
                        region: tuple[int, int], verify_hashes: bool) -> None:
    """Check every texture entry and its payload.

    ``table_base`` is the file offset of entry 0 (for diagnostics); ``data`` holds the
    payload bytes of ``data_file`` starting at ``data_base`` (0 for a loose
    ``textures.data``, the region offset in a PAK); ``region`` is the (start, end) range
    that ``data_offset`` values must fall in, in the same coordinates as data_offset.
    """
    start, end = region
    for i, e in enumerate(table):
        at = table_base + i * TEXTURE_DESC_SIZE
        fld = f"textures[{i}]"
        off, size = int(e["data_offset"]), int(e["size_bytes"])
        if int(e["alignment"]) != TEXTURE_DATA_ALIGNMENT:
            report.error("texture.alignment", f"alignment is {int(e['alignment'])}; the runtime "
                         f"accepts only {TEXTURE_DATA_ALIGNMENT}", table_file, at + 29, fld + ".alignment")
        if off % TEXTURE_DATA_ALIGNMENT:
            report.error("texture.data_offset.unaligned", f"data_offset {off} is not "
                         f"{TEXTURE_DATA_ALIGNMENT}-aligned", table_file, at, fld + ".data_offset")
        if size < TEXTURE_PAYLOAD_HEADER_SIZE:
            report.error("texture.size_bytes", f"size_bytes {size} is smaller than the "
                         f"{TEXTURE_PAYLOAD_HEADER_SIZE}-byte payload header", table_file, at + 8,
                         fld + ".size_bytes")
            continue
        if off < start or off + size > end:
            report.error("texture.data_range", f"payload {off}+{size} lies outside the data "
                         f"({start}..{end})", table_file, at, fld + ".data_offset")
            continue
        _check_texture_shape(report, e, table_file, at, fld)
        payload = bytes(data[off - data_base:off - data_base + size])
        _check_payload(report, e, payload, data_file, off, fld, table_file, at, verify_hashes)


def _check_texture_shape(report: ValidationReport, e: np.void, file: str, at: int, fld: str) -> None:
    w, h, d = int(e["width"]), int(e["height"]), int(e["depth"])
    layers, mips, ttype = int(e["array_layers"]), int(e["mip_levels"]), int(e["texture_type"])
    if w == 0:
        report.error("texture.width", "width is 0", file, at + 14, fld + ".width")
    if layers < 1:
        report.error("texture.array_layers", "array_layers is 0", file, at + 24, fld + ".array_layers")
    largest = max(w, h, d, 1)
    max_mips = largest.bit_length()  # floor(log2(n)) + 1
    if not 1 <= mips <= max_mips:
        report.error("texture.mip_levels", f"mip_levels {mips} outside 1..{max_mips} for "
                     f"{w}x{h}x{d}", file, at + 26, fld + ".mip_levels")
    if ttype in (TextureType.TEXTURE_1D, TextureType.TEXTURE_1D_ARRAY) and (h != 1 or d != 1):
        report.error("texture.shape", f"1D texture with height {h}, depth {d}", file, at + 18, fld + ".height")
    elif ttype in (TextureType.TEXTURE_2D, TextureType.TEXTURE_2D_ARRAY, TextureType.TEXTURE_CUBE,
                   TextureType.TEXTURE_CUBE_ARRAY) and (h == 0 or d != 1):
        report.error("texture.shape", f"2D/cube texture with height {h}, depth {d}", file, at + 18,
                     fld + ".height")
    elif ttype == TextureType.TEXTURE_3D and (h == 0 or d == 0):
        report.error("texture.shape", f"3D texture with height {h}, depth {d}", file, at + 18, fld + ".height")
    elif ttype == TextureType.UNKNOWN or ttype > TextureType.TEXTURE_3D:
        report.error("texture.texture_type", f"texture_type {ttype} is not a known TextureType",
                     file, at + 12, fld + ".texture_type")
    if format_block_info(int(e["format"])) is None:
        report.warning("texture.format", f"format {int(e['format'])} has no known block size",
                       file, at + 28, fld + ".format")


def _check_payload(report: ValidationReport, e: np.void, payload: bytes, file: str, off: int,
                   fld: str, table_file: str, at: int, verify_hashes: bool) -> None:
    """The runtime payload checks of FORMATS.md 4.3, plus the hashes when asked."""
    hdr = TexturePayloadHeader.parse(payload)
    pfld = fld + ".payload"
    if hdr.magic != TEXTURE_PAYLOAD_MAGIC:
        report.error("texture.payload.magic", f"magic 0x{hdr.magic:08x}, expected 0x{TEXTURE_PAYLOAD_MAGIC:08x} "
                     "('OTX1')", file, off, pfld + ".magic")
        return
    layers, mips = int(e["array_layers"]), int(e["mip_levels"])
    if hdr.subresource_count != layers * mips:
        report.error("texture.payload.subresource_count", f"subresource_count {hdr.subresource_count} "
                     f"!= array_layers*mip_levels = {layers * mips}", file, off + 6,
                     pfld + ".subresource_count")
    if hdr.total_payload_size != len(payload):
        report.error("texture.payload.total_payload_size", f"total_payload_size {hdr.total_payload_size} "
                     f"!= size_bytes {len(payload)}", file, off + 8, pfld + ".total_payload_size")
    layouts_end = hdr.layouts_offset_bytes + SUBRESOURCE_LAYOUT_SIZE * hdr.subresource_count
    if hdr.layouts_offset_bytes < TEXTURE_PAYLOAD_HEADER_SIZE:
        report.error("texture.payload.layouts_offset", f"layouts_offset_bytes {hdr.layouts_offset_bytes} "
                     f"< {TEXTURE_PAYLOAD_HEADER_SIZE}", file, off + 12, pfld + ".layouts_offset_bytes")
    elif hdr.data_offset_bytes < layouts_end:
        report.error("texture.payload.data_offset", f"data_offset_bytes {hdr.data_offset_bytes} "
                     f"< end of layouts {layouts_end}", file, off + 16, pfld + ".data_offset_bytes")
    elif layouts_end > len(payload) or hdr.data_offset_bytes > len(payload):
        report.error("texture.payload.layouts_range", "layouts or data section start past the "
                     "payload", file, off + 12, pfld + ".layouts_offset_bytes")
    else:
        layouts = np.frombuffer(payload, SUBRESOURCE_LAYOUT_DTYPE, hdr.subresource_count,
                                hdr.layouts_offset_bytes)
        data_size = len(payload) - hdr.data_offset_bytes
        ends = layouts["offset_bytes"].astype(np.int64) + layouts["size_bytes"]
        bad = np.nonzero(ends > data_size)[0]
        for k in bad[:5]:
            report.error("texture.payload.layout_range", f"subresource {k} ends at {int(ends[k])}, "
                         f"past the {data_size}-byte data section", file,
                         off + hdr.layouts_offset_bytes + int(k) * SUBRESOURCE_LAYOUT_SIZE,
                         f"{pfld}.layouts[{k}]")
    if verify_hashes:
        _verify_texture_hash(report, e, hdr.content_hash, payload, file, off, pfld, table_file, at, fld)


def _verify_texture_hash(report: ValidationReport, e: np.void, header_hash: int, payload: bytes,
                         file: str, off: int, pfld: str, table_file: str, at: int, fld: str) -> None:
    zeroed = payload[:HASH_FIELD.start] + bytes(8) + payload[HASH_FIELD.stop:]
    expected = content_hash(zeroed)
    if header_hash and header_hash != expected:
        report.error("texture.payload.content_hash", f"header content_hash {header_hash:#018x} != "
                     f"{expected:#018x} computed over the payload", file, off + 20, pfld + ".content_hash")
    desc_hash = int(e["content_hash"])
    # The engine's own fallback hashes the patched payload for the desc (FORMATS.md 4.3).
    if desc_hash and desc_hash not in (expected, content_hash(payload)):
        report.error("texture.content_hash", f"content_hash {desc_hash:#018x} != {expected:#018x} "
                     "computed over the payload", table_file, at + 31, fld + ".content_hash")


def check_buffer_table(report: ValidationReport, table: np.ndarray, data: bytes | memoryview, *,
                       table_file: str, table_base: int, data_file: str, data_base: int,
                       region: tuple[int, int], verify_hashes: bool) -> None:
    """Check every buffer entry: its range, its kind (typed/structured/raw) and, when
    asked, its content hash. Arguments as for :func:`check_texture_table`."""
    start, end = region
    for i, e in enumerate(table):
        at = table_base + i * BUFFER_DESC_SIZE
        fld = f"buffers[{i}]"
        off, size = int(e["data_offset"]), int(e["size_bytes"])
        stride, fmt = int(e["element_stride"]), int(e["element_format"])
        if off < start or off + size > end:
            report.error("buffer.data_range", f"buffer {off}+{size} lies outside the data "
                         f"({start}..{end})", table_file, at, fld + ".data_offset")
            continue
        if fmt != 0 and stride != 0:
            report.error("buffer.kind", f"typed buffer (format {fmt}) with element_stride {stride}; "
                         "typed buffers have stride 0", table_file, at + 16, fld + ".element_stride")
        elif fmt == 0 and stride == 0:
            report.error("buffer.kind", "element_format 0 and element_stride 0: neither typed, "
                         "structured nor raw", table_file, at + 16, fld + ".element_stride")
        elif fmt == 0 and stride > 1 and size % stride:
            report.error("buffer.size_bytes", f"size_bytes {size} is not a multiple of "
                         f"element_stride {stride}", table_file, at + 8, fld + ".size_bytes")
        if verify_hashes and int(e["content_hash"]):
            actual = content_hash(bytes(data[off - data_base:off - data_base + size]))
            if actual != int(e["content_hash"]):
                report.error("buffer.content_hash", f"content_hash {int(e['content_hash']):#018x} != "
                             f"{actual:#018x} computed over {data_file}[{off}:{off + size}]",
                             table_file, at + 21, fld + ".content_hash")
