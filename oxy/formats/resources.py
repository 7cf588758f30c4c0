"""Resource descriptors (FORMATS.md 4): the elements of ``textures.table`` and
``buffers.table``, the audio descriptor, and the texture payload header.

All packed little-endian. ``data_offset`` is absolute in a PAK and relative to the
sibling ``.data`` file in a loose cooked root.
"""
from __future__ import annotations

import construct as c

from oxy.formats.primitives import Reserved
from oxy.formats.views import StructView, numpy_dtype

TEXTURE_DESC_SIZE = 40
BUFFER_DESC_SIZE = 32
AUDIO_DESC_SIZE = 32
TEXTURE_PAYLOAD_MAGIC = 0x3158544F  # "OTX1"
TEXTURE_PAYLOAD_HEADER_SIZE = 28
SUBRESOURCE_LAYOUT_SIZE = 12
TEXTURE_DATA_ALIGNMENT = 256  # the only alignment value the runtime accepts
D3D12_ROW_PITCH_ALIGNMENT = 256
D3D12_SUBRESOURCE_ALIGNMENT = 512
TIGHT_SUBRESOURCE_ALIGNMENT = 4
DEFAULT_BUFFER_ALIGNMENT = 16
COMPRESSION_BC7 = 7

TextureResourceDescStruct = c.Struct(
    "data_offset" / c.Int64ul,
    "size_bytes" / c.Int32ul,          # whole payload including the TexturePayloadHeader
    "texture_type" / c.Int8ul,         # TextureType
    "compression_type" / c.Int8ul,     # 7 for BC7 unorm/srgb, else 0
    "width" / c.Int32ul,
    "height" / c.Int32ul,
    "depth" / c.Int16ul,
    "array_layers" / c.Int16ul,
    "mip_levels" / c.Int16ul,
    "format" / c.Int8ul,               # Format
    "alignment" / c.Int16ul,           # must be 256
    "content_hash" / c.Int64ul,
    "reserved" / Reserved(1),
)

BufferResourceDescStruct = c.Struct(
    "data_offset" / c.Int64ul,
    "size_bytes" / c.Int32ul,
    "usage_flags" / c.Int32ul,         # BufferUsage
    "element_stride" / c.Int32ul,
    "element_format" / c.Int8ul,       # Format; 0 = raw or structured
    "content_hash" / c.Int64ul,
    "reserved" / Reserved(3),
)

AudioResourceDescStruct = c.Struct(
    "data_offset" / c.Int64ul,
    "size_bytes" / c.Int32ul,
    "sample_rate" / c.Int32ul,
    "channels" / c.Int32ul,
    "audio_format" / c.Int32ul,
    "bits_per_sample" / c.Int16ul,
    "alignment" / c.Int16ul,
    "reserved" / Reserved(4),
)

TexturePayloadHeaderStruct = c.Struct(
    "magic" / c.Int32ul,               # TEXTURE_PAYLOAD_MAGIC, checked by validators
    "packing_policy" / c.Int8ul,       # PackingPolicy: 1 D3D12, 2 Tight
    "flags" / c.Int8ul,                # PayloadFlags
    "subresource_count" / c.Int16ul,   # array_layers * mip_levels
    "total_payload_size" / c.Int32ul,  # == desc.size_bytes
    "layouts_offset_bytes" / c.Int32ul,
    "data_offset_bytes" / c.Int32ul,
    "content_hash" / c.Int64ul,
)

SubresourceLayoutStruct = c.Struct(
    "offset_bytes" / c.Int32ul,        # relative to the data section
    "row_pitch_bytes" / c.Int32ul,
    "size_bytes" / c.Int32ul,
)

class TextureResourceDesc(StructView, struct=TextureResourceDescStruct):
    "One 40-byte entry of textures.table."
class BufferResourceDesc(StructView, struct=BufferResourceDescStruct):
    "One 32-byte entry of buffers.table."
class AudioResourceDesc(StructView, struct=AudioResourceDescStruct):
    "One 32-byte audio table entry (nothing emits it yet)."
class TexturePayloadHeader(StructView, struct=TexturePayloadHeaderStruct):
    "The 28-byte header at the start of a texture payload."
class SubresourceLayout(StructView, struct=SubresourceLayoutStruct):
    "Where one subresource lies in a texture payload's data section."

TEXTURE_DESC_DTYPE = numpy_dtype(TextureResourceDescStruct)
BUFFER_DESC_DTYPE = numpy_dtype(BufferResourceDescStruct)
AUDIO_DESC_DTYPE = numpy_dtype(AudioResourceDescStruct)
SUBRESOURCE_LAYOUT_DTYPE = numpy_dtype(SubresourceLayoutStruct)


def buffer_alignment(usage: int, stride: int) -> int:
    """Where a buffer's payload is placed in ``buffers.data``: vertex buffers at a
    multiple of their stride, index buffers of 4, anything else of
    :data:`DEFAULT_BUFFER_ALIGNMENT` (the one rule, for the emitters and compaction)."""
    from oxy.formats.enums import BufferUsage

    if usage & BufferUsage.VERTEX and stride > 0:
        return stride
    if usage & BufferUsage.INDEX:
        return 4
    return DEFAULT_BUFFER_ALIGNMENT
