"""DDS writer: ``DDS `` + DDS_HEADER (124 bytes) + DDS_HEADER_DXT10 (20 bytes) + data.

Every texture is written with the DX10 extension header, whose ``dxgiFormat`` comes
from :mod:`oxy.interop.texformats` (every format of oxy's enum has one). Layout of
the data, as Direct3D's loaders read it: for each array element (cube: each face of
each cube, in +X -X +Y -Y +Z -Z order, which is oxy's layer order), every mip level
from the largest, rows tightly packed (oxy's row padding removed), 3D slices in order.

Header rules (Microsoft's "DDS_HEADER structure" and "DDS_HEADER_DXT10"):

* flags CAPS | HEIGHT | WIDTH | PIXELFORMAT | MIPMAPCOUNT, plus LINEARSIZE (block
  compressed: ``dwPitchOrLinearSize`` = bytes of the top level) or PITCH (others:
  bytes of one row of the top level), plus DEPTH for volumes;
* pixel format: FOURCC ``DX10``; caps TEXTURE, plus MIPMAP and COMPLEX with more than
  one mip, COMPLEX for cubes, arrays and volumes; caps2 CUBEMAP with all six faces,
  or VOLUME;
* DX10: resourceDimension 2 (1D), 3 (2D and cubes) or 4 (3D); miscFlag
  TEXTURECUBE (0x4) for cubes; arraySize = layers (cubes: number of cubes);
  miscFlags2 (alpha mode) PREMULTIPLIED (2) when the payload header says so
  (FORMATS.md 4.3 flag 1), else UNKNOWN (0).

Pure: safe from any thread. Failure modes: UnsupportedFormat (multisampled or
unknown types), ValueError for a payload whose layouts do not fit it.
"""
from __future__ import annotations

import struct

from oxy.interop.layout import shape_of, tight_subresource
from oxy.interop.texformats import format_info
from oxy.runtime.types import TextureResource

__all__ = ["DDS_MAGIC", "build_dds"]

DDS_MAGIC = b"DDS "
DDSD_CAPS, DDSD_HEIGHT, DDSD_WIDTH, DDSD_PITCH = 0x1, 0x2, 0x4, 0x8
DDSD_PIXELFORMAT, DDSD_MIPMAPCOUNT, DDSD_LINEARSIZE, DDSD_DEPTH = 0x1000, 0x20000, 0x80000, 0x800000
DDPF_FOURCC = 0x4
DDSCAPS_COMPLEX, DDSCAPS_TEXTURE, DDSCAPS_MIPMAP = 0x8, 0x1000, 0x400000
DDSCAPS2_CUBEMAP, DDSCAPS2_ALLFACES, DDSCAPS2_VOLUME = 0x200, 0xFC00, 0x200000
D3D10_RESOURCE_DIMENSION = {1: 2, 2: 3, 3: 4}
D3D11_RESOURCE_MISC_TEXTURECUBE = 0x4
DDS_ALPHA_MODE_UNKNOWN, DDS_ALPHA_MODE_PREMULTIPLIED = 0, 2
PAYLOAD_FLAGS_OFFSET, PAYLOAD_PREMULTIPLIED = 5, 0x1   # TexturePayloadHeader.flags (FORMATS.md 4.3)

_HEADER = struct.Struct("<4s7I44x12I4x")  # magic, size..mipcount, reserved1[11], pixelformat(8), caps(4), reserved2
_DX10 = struct.Struct("<5I")


def build_dds(tex: TextureResource) -> bytes:
    """The complete DDS file of ``tex``: every layer (face) and every mip."""
    info = format_info(tex.format, "DDS")
    shape = shape_of(tex, "DDS")
    w, h, d = tex.width, tex.height, tex.depth
    row_bytes, rows = info.row_bytes_and_rows(w, h)
    flags = DDSD_CAPS | DDSD_HEIGHT | DDSD_WIDTH | DDSD_PIXELFORMAT | DDSD_MIPMAPCOUNT
    if info.compressed:
        flags |= DDSD_LINEARSIZE
        pitch_or_size = row_bytes * rows * (d if shape.dimension == 3 else 1)
    else:
        flags |= DDSD_PITCH
        pitch_or_size = row_bytes
    caps, caps2 = DDSCAPS_TEXTURE, 0
    if tex.mip_levels > 1:
        caps |= DDSCAPS_MIPMAP | DDSCAPS_COMPLEX
    if shape.faces == 6:
        caps |= DDSCAPS_COMPLEX
        caps2 |= DDSCAPS2_CUBEMAP | DDSCAPS2_ALLFACES
    if shape.dimension == 3:
        flags |= DDSD_DEPTH
        caps |= DDSCAPS_COMPLEX
        caps2 |= DDSCAPS2_VOLUME
    if shape.array > 1:
        caps |= DDSCAPS_COMPLEX
    header = _HEADER.pack(DDS_MAGIC, 124, flags, h, w, pitch_or_size, d if shape.dimension == 3 else 0,
                          tex.mip_levels, 32, DDPF_FOURCC, int.from_bytes(b"DX10", "little"), 0, 0, 0, 0, 0,
                          caps, caps2, 0, 0)
    misc = D3D11_RESOURCE_MISC_TEXTURECUBE if shape.faces == 6 else 0
    premultiplied = len(tex.payload) > PAYLOAD_FLAGS_OFFSET and tex.payload[PAYLOAD_FLAGS_OFFSET] & PAYLOAD_PREMULTIPLIED
    alpha_mode = DDS_ALPHA_MODE_PREMULTIPLIED if premultiplied else DDS_ALPHA_MODE_UNKNOWN
    dx10 = _DX10.pack(info.dxgi, D3D10_RESOURCE_DIMENSION[shape.dimension], misc, shape.array, alpha_mode)
    parts = [header, dx10]
    for layer in range(tex.array_layers):
        for mip in range(tex.mip_levels):
            parts.append(tight_subresource(tex, layer, mip, info))
    return b"".join(parts)

