"""Asset header and material descriptors (FORMATS.md 5, 5.1).

A material descriptor is a 256-byte ``MaterialAssetDesc`` followed by
``popcount(shader_stages)`` 424-byte ``ShaderReferenceDesc`` records in ascending
bit order, each with ``shader_type`` equal to its bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import construct as c

from oxy.errors import FormatError
from oxy.formats.primitives import CName, Half, Reserved, Unorm16
from oxy.formats.views import StructView

ASSET_HEADER_SIZE = 95
MATERIAL_DESC_SIZE = 256
SHADER_REFERENCE_SIZE = 424
MATERIAL_VERSION = 1
TEXTURE_SLOTS = ("base_color", "normal", "metallic", "roughness", "ambient_occlusion",
                 "emissive", "specular", "sheen_color", "clearcoat", "clearcoat_normal",
                 "transmission", "thickness")
HEADER_CONTENT_HASH_OFFSET = 67
V = TypeVar("V", bound=StructView)

AssetHeaderStruct = c.Struct(
    "asset_type" / c.Int8ul,           # AssetType
    "name" / CName(64),
    "version" / c.Int8ul,              # per-asset descriptor version
    "streaming_priority" / c.Int8ul,   # 0 = highest
    "content_hash" / c.Int64ul,        # truncated SHA-256 of the whole descriptor, field zeroed
    "variant_flags" / c.Int32ul,
    "reserved" / Reserved(16),
)
class AssetHeader(StructView, struct=AssetHeaderStruct):
    "The 95-byte header that opens every asset descriptor."

MaterialAssetDescStruct = c.Struct(
    "header" / AssetHeaderStruct,
    "material_domain" / c.Int8ul,      # MaterialDomain
    "flags" / c.Int32ul,               # MaterialFlags
    "shader_stages" / c.Int32ul,       # bit i = ShaderType i
    "base_color" / c.Array(4, c.Float32l),
    "normal_scale" / c.Float32l,
    "metalness" / Unorm16,
    "roughness" / Unorm16,
    "ambient_occlusion" / Unorm16,
    *[f"{slot}_texture" / c.Int32ul for slot in TEXTURE_SLOTS],
    "emissive_factor" / c.Array(3, Half),
    "alpha_cutoff" / Unorm16,
    "ior" / c.Float32l,
    "specular_factor" / Unorm16,
    "sheen_color_factor" / c.Array(3, Half),
    "clearcoat_factor" / Unorm16,
    "clearcoat_roughness" / Unorm16,
    "transmission_factor" / Unorm16,
    "thickness_factor" / Unorm16,
    "attenuation_color" / c.Array(3, Half),
    "attenuation_distance" / c.Float32l,
    "uv_scale" / c.Array(2, c.Float32l),
    "uv_offset" / c.Array(2, c.Float32l),
    "uv_rotation_radians" / c.Float32l,
    "uv_set" / c.Int8ul,
    "reserved" / Reserved(19),
)
class MaterialAssetDesc(StructView, struct=MaterialAssetDescStruct):
    "The fixed 256-byte part of a material descriptor."

ShaderReferenceDescStruct = c.Struct(
    "shader_type" / c.Int8ul,          # ShaderType; must equal its bit in shader_stages
    "reserved0" / Reserved(7),
    "source_path" / CName(120),
    "entry_point" / CName(32),
    "defines" / CName(256),
    "shader_hash" / c.Int64ul,
)
class ShaderReferenceDesc(StructView, struct=ShaderReferenceDescStruct):
    "A 424-byte shader reference following a material."



def shader_stage_bits(shader_stages: int) -> list[int]:
    """The ShaderType values whose bits are set, ascending (a step per set bit only)."""
    bits: list[int] = []
    while shader_stages:
        low = shader_stages & -shader_stages
        bits.append(low.bit_length() - 1)
        shader_stages ^= low
    return bits


@dataclass(frozen=True)
class MaterialDescriptor:
    """A whole material descriptor: the fixed part and its shader references."""

    desc: MaterialAssetDesc
    shaders: tuple[ShaderReferenceDesc, ...] = ()

    def build(self) -> bytes:
        return self.desc.build() + b"".join(s.build() for s in self.shaders)


def parse_material(data: bytes | memoryview, *, path: str = "<bytes>",
                   base_offset: int = 0) -> MaterialDescriptor:
    """Parse a material descriptor. ``base_offset`` is where ``data`` starts in ``path``.

    Raises FormatError when bytes are missing or a shader reference's type does not
    equal its bit.
    """
    desc = _parse_at(MaterialAssetDesc, data, 0, path, base_offset, "material")
    shaders = []
    for i, bit in enumerate(shader_stage_bits(desc.shader_stages)):
        at = MATERIAL_DESC_SIZE + i * SHADER_REFERENCE_SIZE
        ref = _parse_at(ShaderReferenceDesc, data, at, path, base_offset, f"material.shaders[{i}]")
        if ref.shader_type != bit:
            raise FormatError(f"shader_type {ref.shader_type} does not match stage bit {bit}",
                              path, base_offset + at, f"material.shaders[{i}].shader_type")
        shaders.append(ref)
    return MaterialDescriptor(desc, tuple(shaders))


def material_descriptor_size(shader_stages: int) -> int:
    return MATERIAL_DESC_SIZE + len(shader_stage_bits(shader_stages)) * SHADER_REFERENCE_SIZE


def _parse_at(view: type[V], data: bytes | memoryview, at: int, path: str, base: int,
              field: str) -> V:
    """Parse ``view`` at ``at`` and rebase a FormatError's offset to the file."""
    try:
        return view.parse(data, at, path=path, field=field)
    except FormatError as exc:
        raise FormatError(exc.message, path, base + (exc.offset or 0), exc.field) from None
