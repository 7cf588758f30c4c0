"""Writing a PAK v4 in the engine pack tool's layout (FORMATS.md 3), deterministically.

Layout: header; texture, buffer and audio regions (each 256-aligned, every blob in
them 256-aligned with zero padding, an empty region has offset and size 0); the
texture, buffer and audio tables (16-aligned); the descriptor area (256-aligned
start; materials 16-aligned first, then geometries, then scenes with alignment 1);
the directory (16-aligned); the browse index right after it; the footer last, with
the CRC-32 of the whole file.

The same inputs give the same bytes: assets are ordered by type then key, resources
keep the order given (their indices are what descriptors reference). Pure function
over bytes: safe from any thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from oxy.formats.enums import AssetType
from oxy.formats.pak import (DATA_ALIGNMENT, DIRECTORY_ENTRY_SIZE, PAK_FOOTER_SIZE,
                             PAK_VERSION, TABLE_ALIGNMENT, AssetDirectoryEntry, PakFooter, PakHeader,
                             ResourceRegion, ResourceTable, build_browse_index)
from oxy.formats.primitives import AssetKey, align_up, pak_crc32
from oxy.formats.resources import BufferResourceDesc, TextureResourceDesc

DESCRIPTOR_ALIGNMENT: dict[int, int] = {AssetType.MATERIAL: 16, AssetType.GEOMETRY: 16, AssetType.SCENE: 1}
TYPE_ORDER = (AssetType.MATERIAL, AssetType.GEOMETRY, AssetType.SCENE)


@dataclass(frozen=True)
class PakAsset:
    key: AssetKey
    asset_type: int
    descriptor: bytes
    virtual_path: str | None = None


@dataclass(frozen=True)
class PakResource:
    """A resource's table entry (its ``data_offset`` is replaced) and its payload bytes."""

    entry: TextureResourceDesc | BufferResourceDesc
    data: bytes


def write_pak(assets: Sequence[PakAsset], *, textures: Sequence[PakResource] = (),
              buffers: Sequence[PakResource] = (), guid: bytes = bytes(16),
              content_version: int = 0, with_crc: bool = True) -> bytes:
    """Lay out and serialise a PAK. Raises ValueError on duplicate keys or bad sizes."""
    keys = [a.key for a in assets]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate asset keys")
    if len(guid) != 16:
        raise ValueError("guid must be 16 bytes")
    out = bytearray(PakHeader(version=PAK_VERSION, content_version=content_version, guid=bytes(guid)).build())
    regions, tables = {}, {}
    for kind, resources in (("texture", textures), ("buffer", buffers), ("audio", ())):
        regions[kind], placed = _write_region(out, resources)
        tables[kind] = placed
    table_fields = {}
    for kind, placed in tables.items():
        if not placed:
            table_fields[kind] = ResourceTable(offset=0, count=0, entry_size=0)
            continue
        _pad_to(out, TABLE_ALIGNMENT)
        table_fields[kind] = ResourceTable(offset=len(out), count=len(placed), entry_size=placed[0].SIZE)
        out += b"".join(e.build() for e in placed)
    ordered = sorted(assets, key=lambda a: (_type_rank(a.asset_type), a.key.raw))
    if ordered:
        _pad_to(out, DATA_ALIGNMENT)
    desc_offsets = []
    for asset in ordered:
        _pad_to(out, DESCRIPTOR_ALIGNMENT.get(asset.asset_type, 1))
        desc_offsets.append(len(out))
        out += asset.descriptor
    _pad_to(out, TABLE_ALIGNMENT)
    directory_offset = len(out)
    for asset, desc_at in zip(ordered, desc_offsets):
        out += AssetDirectoryEntry(asset_key=asset.key, asset_type=asset.asset_type, entry_offset=len(out),
                                   desc_offset=desc_at, desc_size=len(asset.descriptor)).build()
    browse = [(a.key, a.virtual_path) for a in ordered if a.virtual_path]
    browse_offset = len(out) if browse else 0
    if browse:
        out += build_browse_index(browse)
    footer = PakFooter(
        directory_offset=directory_offset, directory_size=DIRECTORY_ENTRY_SIZE * len(ordered),
        asset_count=len(ordered), texture_region=regions["texture"], buffer_region=regions["buffer"],
        audio_region=regions["audio"], texture_table=table_fields["texture"],
        buffer_table=table_fields["buffer"], audio_table=table_fields["audio"],
        browse_index_offset=browse_offset, browse_index_size=len(out) - browse_offset if browse else 0,
        pak_crc32=0)
    out += footer.build()
    if with_crc:
        crc = pak_crc32(out)
        at = len(out) - PAK_FOOTER_SIZE + 244
        out[at:at + 4] = crc.to_bytes(4, "little")
    return bytes(out)


def _type_rank(asset_type: int) -> int:
    return TYPE_ORDER.index(asset_type) if asset_type in TYPE_ORDER else len(TYPE_ORDER)


def _pad_to(out: bytearray, alignment: int) -> None:
    out += bytes(align_up(len(out), alignment) - len(out))


def _write_region(out: bytearray, resources: Sequence[PakResource]) -> tuple[ResourceRegion, list]:
    if not resources:
        return ResourceRegion(offset=0, size=0), []
    _pad_to(out, DATA_ALIGNMENT)
    start = len(out)
    placed = []
    for res in resources:
        _pad_to(out, DATA_ALIGNMENT)
        placed.append(res.entry.replace(data_offset=len(out)))
        out += res.data
    return ResourceRegion(offset=start, size=len(out) - start), placed


