"""Texture payload packing (FORMATS.md 4.3): header, subresource layouts, data.

A payload is a ``TexturePayloadHeader``, ``SubresourceLayout[n]``, zero padding up to
``data_offset_bytes``, then the subresources, layer-major (layer 0 mips 0..N-1, then
layer 1, ...). D3D12 packing pads rows to 256 bytes and places subresources at
512-byte offsets; tight packing uses unpadded rows at 4-byte offsets.

Pure functions over bytes: safe from any thread, never imports gevent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from oxy.cook.notes import CookNote
from oxy.formats.enums import Format, PackingPolicy, TextureType, format_block_info
from oxy.formats.primitives import align_up, content_hash
from oxy.formats.resources import (COMPRESSION_BC7, D3D12_ROW_PITCH_ALIGNMENT,
                                   D3D12_SUBRESOURCE_ALIGNMENT, SUBRESOURCE_LAYOUT_SIZE,
                                   TEXTURE_DATA_ALIGNMENT, TEXTURE_PAYLOAD_HEADER_SIZE,
                                   TEXTURE_PAYLOAD_MAGIC, TIGHT_SUBRESOURCE_ALIGNMENT,
                                   SubresourceLayout, TexturePayloadHeader, TextureResourceDesc)

HEADER_HASH_OFFSET = 20


@dataclass(frozen=True)
class TextureShape:
    """What a texture is, independent of where its payload is stored."""

    width: int
    height: int
    format: int
    mip_levels: int = 1
    array_layers: int = 1
    depth: int = 1
    texture_type: int = TextureType.TEXTURE_2D

    def mip_size(self, mip: int) -> tuple[int, int, int]:
        return (max(1, self.width >> mip), max(1, self.height >> mip), max(1, self.depth >> mip))


@dataclass(frozen=True)
class CookedTexture:
    """A finished payload plus the table fields that describe it (no data_offset yet)."""

    shape: TextureShape
    payload: bytes
    content_hash: int
    #: Repairs and losses of the cook (e.g. an HDR source clamped into 8 bits); not
    #: part of the texture's identity.
    notes: tuple[CookNote, ...] = field(default=(), compare=False)

    def table_entry(self, data_offset: int) -> TextureResourceDesc:
        s = self.shape
        compressed = s.format in (Format.BC7_UNORM, Format.BC7_UNORM_SRGB)
        return TextureResourceDesc(
            data_offset=data_offset, size_bytes=len(self.payload), texture_type=s.texture_type,
            compression_type=COMPRESSION_BC7 if compressed else 0, width=s.width, height=s.height,
            depth=s.depth, array_layers=s.array_layers, mip_levels=s.mip_levels, format=s.format,
            alignment=TEXTURE_DATA_ALIGNMENT, content_hash=self.content_hash)


def subresource_rows(shape: TextureShape, mip: int) -> tuple[int, int]:
    """(row bytes, row count) of one subresource at ``mip``: block rows for BC formats."""
    info = format_block_info(shape.format)
    if info is None:
        raise ValueError(f"format {shape.format} has no known block size")
    block_bytes, block = info
    w, h, _d = shape.mip_size(mip)
    if block == 1:
        return w * block_bytes, h
    return -(-w // block) * block_bytes, -(-h // block)


def pack_texture_payload(shape: TextureShape, subresources: Sequence[bytes], *,
                         policy: PackingPolicy = PackingPolicy.D3D12,
                         with_content_hash: bool = True) -> CookedTexture:
    """Pack tightly laid-out subresources (layer-major) into a payload.

    Each ``subresources[i]`` holds its rows back to back (``row_bytes * rows * depth``
    bytes); rows are re-laid at the policy's pitch. The content hash is taken over
    the whole payload with the header field zeroed and written into the header.
    Raises ValueError when the count or a size is wrong.
    """
    count = shape.array_layers * shape.mip_levels
    if len(subresources) != count:
        raise ValueError(f"{len(subresources)} subresources given, array_layers*mip_levels = {count}")
    d3d12 = policy == PackingPolicy.D3D12
    sub_align = D3D12_SUBRESOURCE_ALIGNMENT if d3d12 else TIGHT_SUBRESOURCE_ALIGNMENT
    layouts, pieces, cursor = [], [], 0
    for index, data in enumerate(subresources):
        mip = index % shape.mip_levels
        row_bytes, rows = subresource_rows(shape, mip)
        depth = shape.mip_size(mip)[2]
        if len(data) != row_bytes * rows * depth:
            raise ValueError(f"subresource {index} (mip {mip}) has {len(data)} bytes, expected "
                             f"{row_bytes * rows * depth}")
        pitch = align_up(row_bytes, D3D12_ROW_PITCH_ALIGNMENT) if d3d12 else row_bytes
        cursor = align_up(cursor, sub_align)
        laid = _relayout_rows(bytes(data), row_bytes, pitch, rows * depth)
        layouts.append(SubresourceLayout(offset_bytes=cursor, row_pitch_bytes=pitch, size_bytes=len(laid)))
        pieces.append((cursor, laid))
        cursor += len(laid)
    layouts_end = TEXTURE_PAYLOAD_HEADER_SIZE + SUBRESOURCE_LAYOUT_SIZE * count
    data_offset = align_up(layouts_end, sub_align)
    total = data_offset + cursor
    out = bytearray(total)
    out[TEXTURE_PAYLOAD_HEADER_SIZE:layouts_end] = b"".join(l.build() for l in layouts)
    for at, laid in pieces:
        out[data_offset + at:data_offset + at + len(laid)] = laid
    header = TexturePayloadHeader(magic=TEXTURE_PAYLOAD_MAGIC, packing_policy=int(policy), flags=0,
                                  subresource_count=count, total_payload_size=total,
                                  layouts_offset_bytes=TEXTURE_PAYLOAD_HEADER_SIZE,
                                  data_offset_bytes=data_offset, content_hash=0)
    out[:TEXTURE_PAYLOAD_HEADER_SIZE] = header.build()
    digest = content_hash(out) if with_content_hash else 0
    out[HEADER_HASH_OFFSET:HEADER_HASH_OFFSET + 8] = digest.to_bytes(8, "little")
    return CookedTexture(shape, bytes(out), digest)


def _relayout_rows(data: bytes, row_bytes: int, pitch: int, rows: int) -> bytes:
    if pitch == row_bytes:
        return data
    pad = bytes(pitch - row_bytes)
    return b"".join(data[r * row_bytes:(r + 1) * row_bytes] + pad for r in range(rows))


@lru_cache(maxsize=1)
def fallback_texture() -> CookedTexture:
    """Texture index 0 (FORMATS.md 8.1): a self-consistent 1x1 white RGBA8UNorm, one mip,
    one layer, D3D12 packing; total_payload_size == size_bytes and one hash in both places.
    Built once (immutable, safe to share between threads)."""
    shape = TextureShape(width=1, height=1, format=Format.RGBA8_UNORM)
    return pack_texture_payload(shape, [b"\xff\xff\xff\xff"])


def unpack_subresource(payload: bytes, index: int) -> tuple[SubresourceLayout, bytes]:
    """The layout and the bytes (with row padding) of subresource ``index`` of a payload."""
    header = TexturePayloadHeader.parse(payload)
    if not 0 <= index < header.subresource_count:
        raise ValueError(f"subresource {index} of {header.subresource_count}")
    layout = SubresourceLayout.parse(payload, header.layouts_offset_bytes + index * SUBRESOURCE_LAYOUT_SIZE)
    start = header.data_offset_bytes + layout.offset_bytes
    return layout, payload[start:start + layout.size_bytes]
