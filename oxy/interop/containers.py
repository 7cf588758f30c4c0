"""Block data read from a DDS or KTX2 file: what both readers return, and the dispatch.

:class:`ContainerTexture` is a 2D texture (1D files read as height 1) with its
array layers (cubes: six faces per cube, +X -X +Y -Y +Z -Z, which is oxy's layer
order) and mip levels; ``subresources`` holds, layer-major (layer 0 mips 0..N-1,
then layer 1, ...), each subresource's bytes with rows tightly packed, as slices
(memoryviews) of the file's bytes: nothing is copied. The readers
(:mod:`oxy.interop.dds_read`, :mod:`oxy.interop.ktx2_read`) check every size
against the file's length before slicing, so a hostile header (huge width, height,
mip or layer counts) is refused without allocating.

Pure: safe from any thread. Failure modes: :class:`~oxy.cook.image_decode.ImageDecodeError`
naming the file, the field and its offset (the error type of every corrupt source
image, so a bad container fails its own cook job alone).
"""
from __future__ import annotations

from dataclasses import dataclass

from oxy.cook.image_decode import ImageDecodeError
from oxy.formats.enums import Format
from oxy.interop.texformats import FormatInfo

__all__ = ["ContainerTexture", "is_container", "read_container", "check_extent", "MAX_SIDE"]

#: The largest side a container source may declare (oxy's textures are at most 16384 wide).
MAX_SIDE = 16384
DDS_MAGIC = b"DDS "
KTX2_IDENTIFIER = b"\xabKTX 20\xbb\r\n\x1a\n"


@dataclass(frozen=True)
class ContainerTexture:
    """A texture read from a container. ``opaque``: the file stores no alpha (DDS
    ``X8`` pixel formats): the alpha bytes are undefined and decode as 255."""

    source: str
    container: str                        # "DDS" or "KTX2"
    info: FormatInfo
    width: int
    height: int
    mip_levels: int
    layers: int                           # every array layer; cubes count six per cube
    cube: bool
    subresources: tuple[memoryview, ...]  # layer-major, rows tightly packed
    opaque: bool = False

    @property
    def format(self) -> Format:
        return self.info.format

    def subresource(self, layer: int, mip: int) -> memoryview:
        return self.subresources[layer * self.mip_levels + mip]

    def mip_size(self, mip: int) -> tuple[int, int]:
        return max(1, self.width >> mip), max(1, self.height >> mip)

    def subresource_bytes(self, mip: int) -> int:
        """Bytes of one tightly packed subresource at ``mip``."""
        row_bytes, rows = self.info.row_bytes_and_rows(*self.mip_size(mip))
        return row_bytes * rows


def is_container(data: bytes | memoryview) -> bool:
    """True for bytes that start like a DDS or a KTX2 file."""
    head = bytes(data[:12])
    return head.startswith(DDS_MAGIC) or head == KTX2_IDENTIFIER


def read_container(data: bytes, source: str) -> ContainerTexture:
    """Parse a DDS or KTX2 file (by its signature). Raises ImageDecodeError."""
    if bytes(data[:4]) == DDS_MAGIC:
        from oxy.interop.dds_read import read_dds
        return read_dds(data, source)
    if bytes(data[:12]) == KTX2_IDENTIFIER:
        from oxy.interop.ktx2_read import read_ktx2
        return read_ktx2(data, source)
    raise ImageDecodeError(source, "@0x0: not a DDS ('DDS ') or KTX2 («KTX 20») signature")


def check_extent(source: str, what: str, width: int, height: int, levels: int, at: tuple[int, int, int]) -> None:
    """Refuse empty or oversized sides and more mip levels than the sides allow.
    ``at``: the offsets of the width, height and level-count fields (for messages)."""
    for name, value, offset in (("width", width, at[0]), ("height", height, at[1])):
        if not 1 <= value <= MAX_SIDE:
            raise ImageDecodeError(source, f"{what} @{offset:#x}: {name} {value} is outside 1..{MAX_SIDE}")
    most = max(width, height).bit_length()
    if not 1 <= levels <= most:
        raise ImageDecodeError(source, f"{what} @{at[2]:#x}: {levels} mip levels for {width}x{height} "
                               f"(1..{most} possible)")
