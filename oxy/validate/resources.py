"""Checks of resource tables, texture payloads and buffers: shared by the PAK and loose
validators **and** by the runtime loader's decoders, so both apply the same rules.

Implements the runtime's texture payload validation (FORMATS.md 4.3), the layout
rules of the cooker (each subresource's row pitch and size for its format and mip,
by the format's block size: 8-byte blocks for BC1/BC4, 16 for BC2/3/5/6H/7; the
packing policy's pitch and offset alignment) and the buffer-kind rules (4.2). Entries are numpy records (``TEXTURE_DESC_DTYPE`` /
``BUFFER_DESC_DTYPE``); payload bytes come through a :class:`RangeReader`, read one
texture's header and layouts at a time, hashes streamed, so memory stays bounded
whatever the size of the data. Reads only the declarations in ``oxy.formats``, never
a writer. Pure functions: safe from any thread.
"""
from __future__ import annotations

import numpy as np

from oxy.formats.enums import TextureType, format_block_info
from oxy.formats.resources import (BUFFER_DESC_SIZE, D3D12_ROW_PITCH_ALIGNMENT, D3D12_SUBRESOURCE_ALIGNMENT,
                                   SUBRESOURCE_LAYOUT_DTYPE, SUBRESOURCE_LAYOUT_SIZE,
                                   TEXTURE_DATA_ALIGNMENT, TIGHT_SUBRESOURCE_ALIGNMENT, TEXTURE_DESC_SIZE, TEXTURE_PAYLOAD_HEADER_SIZE,
                                   TEXTURE_PAYLOAD_MAGIC, TexturePayloadHeader)
from oxy.validate.diagnostics import ValidationReport
from oxy.validate.reader import RangeReader, stream_content_hashes

__all__ = ["check_buffer", "check_buffer_table", "check_texture_entry", "check_texture_payload",
           "check_texture_table", "in_range"]

HASH_FIELD = (20, 28)  # TexturePayloadHeader.content_hash
_TYPES_2D = (TextureType.TEXTURE_2D, TextureType.TEXTURE_2D_ARRAY, TextureType.TEXTURE_CUBE,
             TextureType.TEXTURE_CUBE_ARRAY)


def in_range(offset: int, size: int, start: int, end: int) -> bool:
    """``[offset, offset + size)`` lies inside ``[start, end)`` (Python ints: no wrap)."""
    return start <= offset and offset + size <= end


def check_texture_table(report: ValidationReport, table: np.ndarray, data: RangeReader,
                        *, table_file: str, table_base: int, data_file: str, data_base: int,
                        region: tuple[int, int], verify_hashes: bool) -> None:
    """Check every texture entry and its payload.

    ``table_base`` is the file offset of entry 0 (for diagnostics); ``data`` reads
    ``data_file``, whose byte 0 is ``data_offset`` ``data_base`` (0 for a loose
    ``textures.data`` and for a PAK); ``region`` is the (start, end) range that
    ``data_offset`` values must fall in, in the same coordinates as data_offset.
    """
    start, end = region
    for i, e in enumerate(table):
        at = table_base + i * TEXTURE_DESC_SIZE
        fld = f"textures[{i}]"
        off, size = int(e["data_offset"]), int(e["size_bytes"])
        if not check_texture_entry(report, e, file=table_file, at=at, fld=fld):
            continue
        if not in_range(off, size, start, end):
            report.add("texture.data_range", f"payload {off}+{size} lies outside the data "
                       f"({start}..{end})", table_file, at, fld + ".data_offset")
            continue
        check_texture_payload(report, e, data, off - data_base, file=data_file, file_offset=off, fld=fld,
                              table_file=table_file, at=at, verify_hashes=verify_hashes)


def check_texture_entry(report: ValidationReport, e: np.void, *, file: str, at: int, fld: str) -> bool:
    """The table-entry checks of one texture (``at``: the entry's offset in ``file``).
    Returns False when the payload cannot be checked (smaller than its header)."""
    size = int(e["size_bytes"])
    if int(e["alignment"]) != TEXTURE_DATA_ALIGNMENT:
        report.add("texture.alignment", f"alignment is {int(e['alignment'])}; the runtime "
                   f"accepts only {TEXTURE_DATA_ALIGNMENT}", file, at + 29, fld + ".alignment")
    if int(e["data_offset"]) % TEXTURE_DATA_ALIGNMENT:
        report.add("texture.data_offset.unaligned", f"data_offset {int(e['data_offset'])} is not "
                   f"{TEXTURE_DATA_ALIGNMENT}-aligned", file, at, fld + ".data_offset")
    _check_texture_shape(report, e, file, at, fld)
    if size < TEXTURE_PAYLOAD_HEADER_SIZE:
        report.add("texture.size_bytes", f"size_bytes {size} is smaller than the "
                   f"{TEXTURE_PAYLOAD_HEADER_SIZE}-byte payload header", file, at + 8, fld + ".size_bytes")
        return False
    return True


def _check_texture_shape(report: ValidationReport, e: np.void, file: str, at: int, fld: str) -> None:
    w, h, d = int(e["width"]), int(e["height"]), int(e["depth"])
    layers, mips, ttype = int(e["array_layers"]), int(e["mip_levels"]), int(e["texture_type"])
    if w == 0:
        report.add("texture.width", "width is 0", file, at + 14, fld + ".width")
    if layers < 1:
        report.add("texture.array_layers", "array_layers is 0", file, at + 24, fld + ".array_layers")
    max_mips = max(w, h, d, 1).bit_length()  # floor(log2(n)) + 1
    if not 1 <= mips <= max_mips:
        report.add("texture.mip_levels", f"mip_levels {mips} outside 1..{max_mips} for "
                   f"{w}x{h}x{d}", file, at + 26, fld + ".mip_levels")
    if ttype in (TextureType.TEXTURE_1D, TextureType.TEXTURE_1D_ARRAY) and (h != 1 or d != 1):
        report.add("texture.shape", f"1D texture with height {h}, depth {d}", file, at + 18, fld + ".height")
    elif ttype in _TYPES_2D and (h == 0 or d != 1):
        report.add("texture.shape", f"2D/cube texture with height {h}, depth {d}", file, at + 18,
                   fld + ".height")
    elif ttype == TextureType.TEXTURE_3D and (h == 0 or d == 0):
        report.add("texture.shape", f"3D texture with height {h}, depth {d}", file, at + 18, fld + ".height")
    elif ttype == TextureType.UNKNOWN or ttype > TextureType.TEXTURE_3D:
        report.add("texture.texture_type", f"texture_type {ttype} is not a known TextureType",
                   file, at + 12, fld + ".texture_type")
    if format_block_info(int(e["format"])) is None:
        report.add("texture.format", f"format {int(e['format'])} has no known block size",
                   file, at + 28, fld + ".format")


def check_texture_payload(report: ValidationReport, e: np.void, data: RangeReader, pos: int, *,
                          file: str, file_offset: int, fld: str, table_file: str, at: int,
                          verify_hashes: bool) -> None:
    """The runtime payload checks of FORMATS.md 4.3 (plus the hashes when asked) of the
    ``size_bytes`` payload at ``pos`` in ``data``, which is ``file_offset`` in ``file``.
    The caller has checked that the range is inside ``data`` and holds a header."""
    size = int(e["size_bytes"])
    hdr = TexturePayloadHeader.parse(data.read(pos, TEXTURE_PAYLOAD_HEADER_SIZE))
    off, pfld = file_offset, fld + ".payload"
    if hdr.magic != TEXTURE_PAYLOAD_MAGIC:
        report.add("texture.payload.magic", f"magic 0x{hdr.magic:08x}, expected 0x{TEXTURE_PAYLOAD_MAGIC:08x} "
                   "('OTX1')", file, off, pfld + ".magic")
        return
    layers, mips = int(e["array_layers"]), int(e["mip_levels"])
    if hdr.subresource_count != layers * mips:
        report.add("texture.payload.subresource_count", f"subresource_count {hdr.subresource_count} "
                   f"!= array_layers*mip_levels = {layers * mips}", file, off + 6, pfld + ".subresource_count")
    if hdr.total_payload_size != size:
        report.add("texture.payload.total_payload_size", f"total_payload_size {hdr.total_payload_size} "
                   f"!= size_bytes {size}", file, off + 8, pfld + ".total_payload_size")
    layouts_end = hdr.layouts_offset_bytes + SUBRESOURCE_LAYOUT_SIZE * hdr.subresource_count
    if hdr.layouts_offset_bytes < TEXTURE_PAYLOAD_HEADER_SIZE:
        report.add("texture.payload.layouts_offset", f"layouts_offset_bytes {hdr.layouts_offset_bytes} "
                   f"< {TEXTURE_PAYLOAD_HEADER_SIZE}", file, off + 12, pfld + ".layouts_offset_bytes")
    elif hdr.data_offset_bytes < layouts_end:
        report.add("texture.payload.data_offset", f"data_offset_bytes {hdr.data_offset_bytes} "
                   f"< end of layouts {layouts_end}", file, off + 16, pfld + ".data_offset_bytes")
    elif layouts_end > size or hdr.data_offset_bytes > size:
        report.add("texture.payload.layouts_range", "layouts or data section start past the "
                   "payload", file, off + 12, pfld + ".layouts_offset_bytes")
    else:
        raw = data.read(pos + hdr.layouts_offset_bytes, SUBRESOURCE_LAYOUT_SIZE * hdr.subresource_count)
        layouts = np.frombuffer(raw, SUBRESOURCE_LAYOUT_DTYPE, hdr.subresource_count)
        data_size = size - hdr.data_offset_bytes
        ends = layouts["offset_bytes"].astype(np.int64) + layouts["size_bytes"]
        for k in np.nonzero(ends > data_size)[0][:5]:
            report.add("texture.payload.layout_range", f"subresource {k} ends at {int(ends[k])}, "
                       f"past the {data_size}-byte data section", file,
                       off + hdr.layouts_offset_bytes + int(k) * SUBRESOURCE_LAYOUT_SIZE, f"{pfld}.layouts[{k}]")
        if hdr.subresource_count == layers * mips:
            _check_layout_shapes(report, e, layouts, hdr.packing_policy, file,
                                 off + hdr.layouts_offset_bytes, pfld)
    if verify_hashes:
        zeroed, plain = stream_content_hashes(data, pos, size, HASH_FIELD)
        if hdr.content_hash and hdr.content_hash != zeroed:
            report.add("texture.payload.content_hash", f"header content_hash {hdr.content_hash:#018x} != "
                       f"{zeroed:#018x} computed over the payload", file, off + 20, pfld + ".content_hash")
        desc_hash = int(e["content_hash"])
        # The engine's own fallback hashes the patched payload for the desc (FORMATS.md 4.3).
        if desc_hash and desc_hash not in (zeroed, plain):
            report.add("texture.content_hash", f"content_hash {desc_hash:#018x} != {zeroed:#018x} "
                       "computed over the payload", table_file, at + 31, fld + ".content_hash")


def _check_layout_shapes(report: ValidationReport, e: np.void, layouts: np.ndarray, policy: int, file: str,
                         at: int, pfld: str) -> None:
    """Each subresource's row pitch and size against its format and mip (FORMATS.md
    4.3 "Sizes": rows of ``ceil(w/4) * block_bytes`` for block formats, ``w * bpp``
    otherwise) and the packing policy's alignment (D3D12: pitch a multiple of 256,
    offsets of 512; tight: offsets of 4). The runtime does not check these (it
    follows the layouts), so they are warnings; the first five of each are reported."""
    info = format_block_info(int(e["format"]))
    mips = int(e["mip_levels"])
    if info is None or mips < 1 or len(layouts) == 0:
        return  # texture.format / texture.mip_levels already say why
    block_bytes, block = info
    w, h, d = max(1, int(e["width"])), max(1, int(e["height"])), max(1, int(e["depth"]))
    per_mip = [(-(-max(1, w >> m) // block) * block_bytes, -(-max(1, h >> m) // block) * max(1, d >> m))
               for m in range(min(mips, 64))] + [(block_bytes, 1)] * max(0, mips - 64)
    shape = np.array(per_mip, np.int64)[np.arange(len(layouts)) % mips]
    row_bytes, rows = shape[:, 0], shape[:, 1]
    pitch = layouts["row_pitch_bytes"].astype(np.int64)
    size = layouts["size_bytes"].astype(np.int64)
    offset = layouts["offset_bytes"].astype(np.int64)
    d3d12 = policy == 1
    bad_pitch = (pitch < row_bytes) | ((pitch % D3D12_ROW_PITCH_ALIGNMENT != 0) if d3d12 else False)
    for k in np.nonzero(bad_pitch)[0][:5]:
        report.add("texture.payload.row_pitch", f"subresource {k} (mip {int(k) % mips}): row_pitch "
                   f"{int(pitch[k])} for rows of {int(row_bytes[k])} bytes"
                   f"{' (D3D12 packing: a multiple of 256 at least the row)' if d3d12 else ''}", file,
                   at + int(k) * SUBRESOURCE_LAYOUT_SIZE + 4, f"{pfld}.layouts[{k}].row_pitch_bytes")
    short = ~bad_pitch & (size < pitch * (rows - 1) + row_bytes)
    for k in np.nonzero(short)[0][:5]:
        report.add("texture.payload.layout_size", f"subresource {k} (mip {int(k) % mips}): size_bytes "
                   f"{int(size[k])} cannot hold {int(rows[k])} row(s) of {int(row_bytes[k])} bytes at pitch "
                   f"{int(pitch[k])}", file, at + int(k) * SUBRESOURCE_LAYOUT_SIZE + 8,
                   f"{pfld}.layouts[{k}].size_bytes")
    if policy in (1, 2):
        align = D3D12_SUBRESOURCE_ALIGNMENT if d3d12 else TIGHT_SUBRESOURCE_ALIGNMENT
        for k in np.nonzero(offset % align)[0][:5]:
            report.add("texture.payload.layout_alignment", f"subresource {k}: offset_bytes {int(offset[k])} is "
                       f"not {align}-aligned ({'D3D12' if d3d12 else 'tight'} packing)", file,
                       at + int(k) * SUBRESOURCE_LAYOUT_SIZE, f"{pfld}.layouts[{k}].offset_bytes")


def check_buffer_table(report: ValidationReport, table: np.ndarray, data: RangeReader, *,
                       table_file: str, table_base: int, data_file: str, data_base: int,
                       region: tuple[int, int], verify_hashes: bool) -> None:
    """Check every buffer entry: its range, its kind (typed/structured/raw) and, when
    asked, its content hash. Arguments as for :func:`check_texture_table`."""
    start, end = region
    for i, e in enumerate(table):
        at = table_base + i * BUFFER_DESC_SIZE
        fld = f"buffers[{i}]"
        off, size = int(e["data_offset"]), int(e["size_bytes"])
        if not in_range(off, size, start, end):
            report.add("buffer.data_range", f"buffer {off}+{size} lies outside the data "
                       f"({start}..{end})", table_file, at, fld + ".data_offset")
            continue
        check_buffer(report, e, data, off - data_base, file=data_file, file_offset=off, table_file=table_file,
                     at=at, fld=fld, verify_hashes=verify_hashes)


def check_buffer(report: ValidationReport, e: np.void, data: RangeReader, pos: int, *, file: str,
                 file_offset: int, table_file: str, at: int, fld: str, verify_hashes: bool) -> None:
    """One buffer: kind rules and (when asked) the hash of its ``size_bytes`` bytes at
    ``pos`` in ``data`` (``file_offset`` in ``file``)."""
    size, stride, fmt = int(e["size_bytes"]), int(e["element_stride"]), int(e["element_format"])
    if fmt != 0 and stride != 0:
        report.add("buffer.kind", f"typed buffer (format {fmt}) with element_stride {stride}; "
                   "typed buffers have stride 0", table_file, at + 16, fld + ".element_stride")
    elif fmt == 0 and stride == 0:
        report.add("buffer.kind", "element_format 0 and element_stride 0: neither typed, "
                   "structured nor raw", table_file, at + 16, fld + ".element_stride")
    elif fmt == 0 and stride > 1 and size % stride:
        report.add("buffer.size_bytes", f"size_bytes {size} is not a multiple of "
                   f"element_stride {stride}", table_file, at + 8, fld + ".size_bytes")
    if verify_hashes and int(e["content_hash"]):
        _zeroed, actual = stream_content_hashes(data, pos, size)
        if actual != int(e["content_hash"]):
            report.add("buffer.content_hash", f"content_hash {int(e['content_hash']):#018x} != "
                       f"{actual:#018x} computed over {file}[{file_offset}:{file_offset + size}]",
                       table_file, at + 21, fld + ".content_hash")
