"""Enumerations of the Oxygen cooked formats with their wire values (FORMATS.md 3-7).

Structs store the raw integers (so unknown values survive a round trip); these
enums name them for display and for writers.
"""
from __future__ import annotations

from enum import IntEnum, IntFlag


class AssetType(IntEnum):
    UNKNOWN = 0
    MATERIAL = 1
    GEOMETRY = 2
    SCENE = 3


class TextureType(IntEnum):
    UNKNOWN = 0
    TEXTURE_1D = 1
    TEXTURE_1D_ARRAY = 2
    TEXTURE_2D = 3
    TEXTURE_2D_ARRAY = 4
    TEXTURE_CUBE = 5
    TEXTURE_CUBE_ARRAY = 6
    TEXTURE_2D_MULTISAMPLE = 7
    TEXTURE_2D_MULTISAMPLE_ARRAY = 8
    TEXTURE_3D = 9


class Format(IntEnum):
    UNKNOWN = 0
    R8_UINT = 1; R8_SINT = 2; R8_UNORM = 3; R8_SNORM = 4  # noqa: E702
    R16_UINT = 5; R16_SINT = 6; R16_UNORM = 7; R16_SNORM = 8; R16_FLOAT = 9  # noqa: E702
    R32_UINT = 10; R32_SINT = 11; R32_FLOAT = 12  # noqa: E702
    RG8_UINT = 13; RG8_SINT = 14; RG8_UNORM = 15; RG8_SNORM = 16  # noqa: E702
    RG16_UINT = 17; RG16_SINT = 18; RG16_UNORM = 19; RG16_SNORM = 20; RG16_FLOAT = 21  # noqa: E702
    RG32_UINT = 22; RG32_SINT = 23; RG32_FLOAT = 24  # noqa: E702
    RGB32_UINT = 25; RGB32_SINT = 26; RGB32_FLOAT = 27  # noqa: E702
    RGBA8_UINT = 28; RGBA8_SINT = 29; RGBA8_UNORM = 30; RGBA8_UNORM_SRGB = 31  # noqa: E702
    RGBA8_SNORM = 32; BGRA8_UNORM = 33; BGRA8_UNORM_SRGB = 34  # noqa: E702
    RGBA16_UINT = 35; RGBA16_SINT = 36; RGBA16_UNORM = 37; RGBA16_SNORM = 38  # noqa: E702
    RGBA16_FLOAT = 39  # noqa: E702
    RGBA32_UINT = 40; RGBA32_SINT = 41; RGBA32_FLOAT = 42  # noqa: E702
    B5G6R5_UNORM = 43; B5G5R5A1_UNORM = 44; B4G4R4A4_UNORM = 45  # noqa: E702
    R11G11B10_FLOAT = 46; R10G10B10A2_UNORM = 47; R10G10B10A2_UINT = 48  # noqa: E702
    R9G9B9E5_FLOAT = 49  # noqa: E702
    BC1_UNORM = 50; BC1_UNORM_SRGB = 51; BC2_UNORM = 52; BC2_UNORM_SRGB = 53  # noqa: E702
    BC3_UNORM = 54; BC3_UNORM_SRGB = 55; BC4_UNORM = 56; BC4_SNORM = 57  # noqa: E702
    BC5_UNORM = 58; BC5_SNORM = 59; BC6H_FLOAT_U = 60; BC6H_FLOAT_S = 61  # noqa: E702
    BC7_UNORM = 62; BC7_UNORM_SRGB = 63  # noqa: E702
    DEPTH16 = 64; DEPTH24_STENCIL8 = 65; DEPTH32 = 66; DEPTH32_STENCIL8 = 67  # noqa: E702


def format_block_info(fmt: int) -> tuple[int, int] | None:
    """(bytes per block, block size in texels) of a texture format, or None if unknown."""
    return _FORMAT_BLOCKS.get(fmt)


_FORMAT_BLOCKS: dict[int, tuple[int, int]] = {
    Format.R8_UNORM: (1, 1), Format.R8_UINT: (1, 1), Format.R8_SINT: (1, 1), Format.R8_SNORM: (1, 1),
    Format.RG8_UNORM: (2, 1), Format.RG8_UINT: (2, 1), Format.RG8_SINT: (2, 1), Format.RG8_SNORM: (2, 1),
    Format.R16_FLOAT: (2, 1), Format.R16_UNORM: (2, 1), Format.R16_UINT: (2, 1),
    Format.R16_SINT: (2, 1), Format.R16_SNORM: (2, 1),
    Format.R32_UINT: (4, 1), Format.R32_SINT: (4, 1), Format.R32_FLOAT: (4, 1),
    Format.RGBA8_UINT: (4, 1), Format.RGBA8_SINT: (4, 1), Format.RGBA8_UNORM: (4, 1),
    Format.RGBA8_UNORM_SRGB: (4, 1), Format.RGBA8_SNORM: (4, 1), Format.BGRA8_UNORM: (4, 1),
    Format.BGRA8_UNORM_SRGB: (4, 1),
    Format.RGBA16_FLOAT: (8, 1), Format.RGBA16_UNORM: (8, 1), Format.RGBA16_UINT: (8, 1),
    Format.RGBA16_SINT: (8, 1), Format.RGBA16_SNORM: (8, 1),
    Format.RGBA32_FLOAT: (16, 1), Format.RGBA32_UINT: (16, 1), Format.RGBA32_SINT: (16, 1),
    Format.R11G11B10_FLOAT: (4, 1), Format.R10G10B10A2_UNORM: (4, 1),
    Format.R10G10B10A2_UINT: (4, 1), Format.R9G9B9E5_FLOAT: (4, 1),
    Format.BC1_UNORM: (8, 4), Format.BC1_UNORM_SRGB: (8, 4), Format.BC4_UNORM: (8, 4),
    Format.BC4_SNORM: (8, 4),
    Format.BC2_UNORM: (16, 4), Format.BC2_UNORM_SRGB: (16, 4), Format.BC3_UNORM: (16, 4),
    Format.BC3_UNORM_SRGB: (16, 4), Format.BC5_UNORM: (16, 4), Format.BC5_SNORM: (16, 4),
    Format.BC6H_FLOAT_U: (16, 4), Format.BC6H_FLOAT_S: (16, 4), Format.BC7_UNORM: (16, 4),
    Format.BC7_UNORM_SRGB: (16, 4),
}



class PackingPolicy(IntEnum):
    D3D12 = 1
    TIGHT = 2


class PayloadFlags(IntFlag):
    NONE = 0
    PREMULTIPLIED_ALPHA = 1
    TAIL_MIPS_UNCOMPRESSED = 2


class BufferUsage(IntFlag):
    VERTEX = 0x01
    INDEX = 0x02
    CONSTANT = 0x04
    STORAGE = 0x08
    INDIRECT = 0x10
    CPU_WRITABLE = 0x20
    CPU_READABLE = 0x40
    DYNAMIC = 0x80
    STATIC = 0x100
    IMMUTABLE = 0x200


class MaterialDomain(IntEnum):
    UNKNOWN = 0
    OPAQUE = 1
    ALPHA_BLENDED = 2
    MASKED = 3
    DECAL = 4
    USER_INTERFACE = 5
    POST_PROCESS = 6


class MaterialFlags(IntFlag):
    NONE = 0
    NO_TEXTURE_SAMPLING = 1
    DOUBLE_SIDED = 2
    ALPHA_TEST = 4
    UNLIT = 8
    GLTF_ORM_PACKED = 16


class ShaderType(IntEnum):
    UNKNOWN = 0
    AMPLIFICATION = 1
    MESH = 2
    VERTEX = 3
    HULL = 4
    DOMAIN = 5
    GEOMETRY = 6
    PIXEL = 7
    COMPUTE = 8
    RAY_GEN = 9
    INTERSECTION = 10
    ANY_HIT = 11
    CLOSEST_HIT = 12
    MISS = 13
    CALLABLE = 14


class MeshType(IntEnum):
    UNKNOWN = 0
    STANDARD = 1
    PROCEDURAL = 2
    SKINNED = 3
    MORPH_TARGET = 4
    INSTANCED = 5
    COLLISION = 6
    NAVIGATION = 7
    BILLBOARD = 8
    VOXEL = 9


class VertexAttributes(IntFlag):
    NORMAL = 1
    TANGENT = 2
    BITANGENT = 4
    TEXCOORD0 = 8
    COLOR0 = 16
    JOINT_WEIGHTS = 32
    JOINT_INDICES = 64


class NodeFlags(IntFlag):
    VISIBLE = 1
    STATIC = 2
    CASTS_SHADOWS = 4
    RECEIVES_SHADOWS = 8
    RAY_CASTING_SELECTABLE = 16
    IGNORE_PARENT_TRANSFORM = 32


class ComponentType(IntEnum):
    """Scene component tables, FourCC little-endian."""
    RENDERABLE = 0x4853454D  # "MESH"
    PERSPECTIVE_CAMERA = 0x4D414350  # "PCAM"
    ORTHOGRAPHIC_CAMERA = 0x4D41434F  # "OCAM"
    DIRECTIONAL_LIGHT = 0x54494C44  # "DLIT"
    POINT_LIGHT = 0x54494C50  # "PLIT"
    SPOT_LIGHT = 0x54494C53  # "SLIT"


class EnvironmentSystem(IntEnum):
    SKY_ATMOSPHERE = 0
    VOLUMETRIC_CLOUDS = 1
    FOG = 2
    SKY_LIGHT = 3
    SKY_SPHERE = 4
    POST_PROCESS_VOLUME = 5


ENVIRONMENT_RECORD_SIZES: dict[int, int] = {
    EnvironmentSystem.SKY_ATMOSPHERE: 116,
    EnvironmentSystem.VOLUMETRIC_CLOUDS: 84,
    EnvironmentSystem.FOG: 72,
    EnvironmentSystem.SKY_LIGHT: 72,
    EnvironmentSystem.SKY_SPHERE: 80,
    EnvironmentSystem.POST_PROCESS_VOLUME: 76,
}


class FileKind(IntEnum):
    UNKNOWN = 0
    BUFFERS_TABLE = 1
    BUFFERS_DATA = 2
    TEXTURES_TABLE = 3
    TEXTURES_DATA = 4


def enum_name(enum: type[IntEnum], value: int) -> str:
    """The member name for ``value``, or ``"<value>?"`` when it is not a known member."""
    try:
        return enum(value).name
    except ValueError:
        return f"{value}?"
