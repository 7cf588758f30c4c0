"""A texture's subresources as other containers store them: rows tightly packed.

oxy's payloads pad rows (D3D12 packing: 256-byte row pitch) and place subresources
at aligned offsets; DDS and KTX2 store rows back to back. :func:`tight_subresource`
removes the padding of one subresource using its layout's row pitch, checked
against the bytes the payload holds (``oxy.runtime.types.unpitch``: the runtime's
one row-pitch reader, which never allocates more than the payload holds).

Also the texture's shape as these containers see it (:class:`Shape`): 1D, 2D or 3D,
array layers, cube faces. Pure functions over immutable objects: safe from any thread.
Failure modes: :class:`~oxy.interop.texformats.UnsupportedFormat` for a format with
no layout or a multisampled texture; ValueError (naming layer, mip and the sizes)
for a layout that does not fit its payload.
"""
from __future__ import annotations

from dataclasses import dataclass

from oxy.formats.enums import TextureType
from oxy.interop.texformats import FormatInfo, UnsupportedFormat, format_info
from oxy.runtime.types import TextureResource, unpitch

__all__ = ["Shape", "shape_of", "mip_extent", "tight_subresource"]


@dataclass(frozen=True)
class Shape:
    """``dimension`` 1, 2 or 3; ``faces`` 6 for cubes (``array`` then counts cubes),
    else 1; ``array``: layers (cubes); ``is_array``: an array type, even of one."""

    dimension: int
    faces: int
    array: int
    is_array: bool


def shape_of(tex: TextureResource, what: str) -> Shape:
    """The container view of ``tex``. Raises UnsupportedFormat (naming ``what``) for
    multisampled or unknown texture types and for a cube whose layers are not a multiple of 6."""
    t = tex.texture_type
    if t in (TextureType.TEXTURE_1D, TextureType.TEXTURE_1D_ARRAY):
        return Shape(1, 1, tex.array_layers, t == TextureType.TEXTURE_1D_ARRAY)
    if t in (TextureType.TEXTURE_2D, TextureType.TEXTURE_2D_ARRAY):
        return Shape(2, 1, tex.array_layers, t == TextureType.TEXTURE_2D_ARRAY)
    if t in (TextureType.TEXTURE_CUBE, TextureType.TEXTURE_CUBE_ARRAY):
        if tex.array_layers % 6:
            raise UnsupportedFormat(f"a cube texture with {tex.array_layers} layers (not a multiple of 6) "
                                    f"cannot be written as {what}")
        return Shape(2, 6, tex.array_layers // 6, t == TextureType.TEXTURE_CUBE_ARRAY)
    if t == TextureType.TEXTURE_3D:
        return Shape(3, 1, 1, False)
    name = TextureType(t).name if t in TextureType._value2member_map_ else str(t)
    raise UnsupportedFormat(f"texture type {name} cannot be written as {what}")


def mip_extent(tex: TextureResource, mip: int) -> tuple[int, int, int]:
    """(width, height, depth) of mip level ``mip``."""
    return max(1, tex.width >> mip), max(1, tex.height >> mip), max(1, tex.depth >> mip)


def tight_subresource(tex: TextureResource, layer: int, mip: int, info: FormatInfo | None = None) -> bytes:
    """The bytes of subresource (``layer``, ``mip``) without row padding: rows of
    ``ceil(w / block) * block_bytes`` bytes, block rows top to bottom, depth slices in order."""
    info = info or format_info(tex.format, "a tightly packed image")
    if not (0 <= layer < tex.array_layers and 0 <= mip < tex.mip_levels):
        raise ValueError(f"layer {layer} mip {mip} outside {tex.array_layers} layers x {tex.mip_levels} mips")
    w, h, d = mip_extent(tex, mip)
    row_bytes, rows = info.row_bytes_and_rows(w, h)
    index = layer * tex.mip_levels + mip
    _offset, pitch, _size = tex.layouts[index]
    try:
        return unpitch(tex.subresource(index), pitch, row_bytes, rows * d).tobytes()
    except ValueError as exc:
        raise ValueError(f"subresource {index} (layer {layer}, mip {mip}): {exc}") from None
