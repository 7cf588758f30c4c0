"""Decoding source images into oxy's working formats.

Pillow decodes PNG (8- and 16-bit, palette, grey), JPEG, TGA and BMP; Radiance
``.hdr`` goes through oxy's own RGBE kernel (Pillow has no Radiance reader). The
result is RGBA: ``uint8`` for LDR sources, ``float32`` (linear) for HDR.
DDS and KTX2 files are read by ``oxy.interop.containers`` and level 0 is decoded by
:func:`decode_container_layer` (a single-layer file through :func:`decode_image`; the
texture cook handles cubes, arrays and block pass-through, ``docs/texture_inputs.md``).

Before decoding, the container is checked (``oxy.cook.image_structure``): PNG chunk
lengths and CRCs, JPEG segments, uncompressed TGA sizes. A corrupt file is refused
with the real reason (the chunk, the byte) rather than decoded or called "not an
image". When Pillow cannot identify a file that has a known signature, the
format's own reader is asked again for its reason.

Safety limit: :data:`MAX_TEXTURE_PIXELS`. A larger image is refused from its
header, before any pixel is decoded (a decompression bomb). Every failure is an
:class:`ImageDecodeError` naming the source and the reason.

Pure functions: safe from any thread; Pillow and the RGBE kernel release the GIL
while decoding. Note: Pillow reduces 16-bit RGB/RGBA PNGs to 8 bits per channel,
which is exact for every 8-bit target (BC7, RGBA8) but not for float outputs.
"""
from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import BmpImagePlugin, Image, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

from oxy.cook.image_structure import check_structure, check_tga, jpeg_truncation_note
from oxy.errors import OxyError

if TYPE_CHECKING:
    from oxy.interop.containers import ContainerTexture

#: The largest source image oxy decodes (8192 x 8192). Kept below Pillow's own
#: ``Image.MAX_IMAGE_PIXELS`` so that oxy's limit, not Pillow's, is the one that applies.
MAX_TEXTURE_PIXELS = 8192 * 8192
RADIANCE_SIGNATURES = (b"#?RADIANCE", b"#?RGBE")


class ImageDecodeError(OxyError):
    """A source image could not be decoded; ``source`` names it, ``reason`` says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class DecodedImage:
    """RGBA pixels, shape (H, W, 4), C-contiguous: uint8 (LDR) or float32 (HDR, linear)."""

    pixels: np.ndarray
    source: str
    source_format: str
    has_alpha: bool

    @property
    def is_hdr(self) -> bool:
        return self.pixels.dtype == np.float32

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def decode_image(data: bytes, source: str, *, max_pixels: int = MAX_TEXTURE_PIXELS) -> DecodedImage:
    """Decode ``data`` (the bytes of ``source``). Raises ImageDecodeError."""
    if not data:
        raise ImageDecodeError(source, "the file is empty")
    if data.startswith(RADIANCE_SIGNATURES):
        return _decode_radiance(data, source, max_pixels)
    from oxy.interop.containers import is_container, read_container

    if is_container(data):
        texture = read_container(data, source)
        if texture.layers != 1:
            raise ImageDecodeError(source, f"{texture.container} holds {texture.layers} layers"
                                   f"{' (a cube map)' if texture.cube else ''}; cook it as a cube or an array")
        check_image_size(source, texture.width, texture.height, max_pixels)
        return decode_container_layer(texture, 0)
    problem = check_structure(data)
    if problem is not None:
        raise ImageDecodeError(source, f"{image_format_of(data)} is corrupt: {problem}")
    return _decode_with_pillow(data, source, max_pixels)


def check_image_size(source: str, width: int, height: int, max_pixels: int = MAX_TEXTURE_PIXELS) -> None:
    """Raise ImageDecodeError for an empty image or one over ``max_pixels``."""
    if width <= 0 or height <= 0:
        raise ImageDecodeError(source, f"image size {width}x{height} is empty")
    if width * height > max_pixels:
        raise ImageDecodeError(source, f"image is {width}x{height} = {width * height} pixels, over the "
                               f"MAX_TEXTURE_PIXELS limit of {max_pixels} (decompression bomb guard)")


def _decode_with_pillow(data: bytes, source: str, max_pixels: int) -> DecodedImage:
    image: Image.Image | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            check_image_size(source, image.width, image.height, max_pixels)
            if image.format == "TGA" and (problem := check_tga(data)) is not None:
                raise ImageDecodeError(source, f"TGA is corrupt: {problem}")
            image.load()
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(source, _unidentified_reason(data)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(source, f"refused as a decompression bomb: over the MAX_TEXTURE_PIXELS "
                               f"limit of {max_pixels} pixels ({exc})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        fmt = image.format if image is not None and image.format else image_format_of(data)
        note = jpeg_truncation_note(data) if fmt == "JPEG" else ""
        raise ImageDecodeError(source, f"{fmt} decode failed: {exc}" + (f" ({note})" if note else "")) from None
    fmt = image.format or "image"
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = np.asarray(image, dtype=np.float32) / (65535.0 if image.mode != "I" else max(np.asarray(image).max(), 1))
        grey8 = np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8)
        rgba = np.dstack([grey8, grey8, grey8, np.full_like(grey8, 255)])
    elif image.mode == "F":
        grey = np.asarray(image, dtype=np.float32)
        return DecodedImage(np.ascontiguousarray(np.dstack([grey, grey, grey, np.ones_like(grey)])), source, fmt, False)
    else:
        rgba = np.asarray(image.convert("RGBA"))
    return DecodedImage(np.ascontiguousarray(rgba, dtype=np.uint8), source, fmt, has_alpha)


def _unidentified_reason(data: bytes) -> str:
    """Why Pillow could not identify ``data``: for a known signature, the format
    reader's own error (Pillow's ``open`` hides it behind "cannot identify")."""
    fmt = image_format_of(data)
    openers: dict[str, Callable[[io.BytesIO], object]] = {
        "PNG": PngImagePlugin.PngImageFile, "JPEG": JpegImagePlugin.JpegImageFile, "BMP": BmpImagePlugin.BmpImageFile}
    opener = openers.get(fmt)
    if opener is not None:
        try:
            opener(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - any reader error is the reason we report
            return f"{fmt} header cannot be read: {type(exc).__name__}: {exc}"
    return "not an image format oxy reads (PNG, JPEG, TGA, BMP, Radiance HDR, DDS, KTX2)"


def image_format_of(data: bytes) -> str:
    """A short name of the format the bytes claim to be (for messages)."""
    for magic, name in ((b"\x89PNG", "PNG"), (b"\xff\xd8", "JPEG"), (b"BM", "BMP"), (b"#?", "Radiance HDR"),
                        (b"DDS ", "DDS"), (b"\xabKTX 20", "KTX2")):
        if data.startswith(magic):
            return name
    return "image"


_RESOLUTION = re.compile(rb"^([-+])Y (\d+) ([-+])X (\d+)$")


def _decode_radiance(data: bytes, source: str, max_pixels: int) -> DecodedImage:
    from oxy._kernels.rgbe import decode_rgbe

    end = data.find(b"\n\n")
    if end < 0:
        raise ImageDecodeError(source, "Radiance header has no blank line before the resolution")
    header = data[:end].split(b"\n")
    for line in header:
        if line.startswith(b"FORMAT=") and line.strip() not in (b"FORMAT=32-bit_rle_rgbe",):
            raise ImageDecodeError(source, f"Radiance {line.decode(errors='replace')} is not supported "
                                   "(only 32-bit_rle_rgbe)")
    res_end = data.find(b"\n", end + 2)
    resolution = _RESOLUTION.match(data[end + 2:res_end if res_end >= 0 else None].strip())
    if res_end < 0 or resolution is None:
        raise ImageDecodeError(source, "Radiance resolution line is missing or not '-Y H +X W'")
    y_sign, height, x_sign, width = resolution.group(1), int(resolution.group(2)), resolution.group(3), int(resolution.group(4))
    if x_sign != b"+":
        raise ImageDecodeError(source, "Radiance images mirrored in X (-X) are not supported")
    check_image_size(source, width, height, max_pixels)
    rgb = np.empty((height, width, 3), np.float32)
    error, position = decode_rgbe(np.frombuffer(data, np.uint8), res_end + 1, rgb)
    if error:
        reason = {1: "the file is truncated", 2: "a run-length run is malformed", 3: "out of memory"}[error]
        raise ImageDecodeError(source, f"Radiance pixel data: {reason} at byte {position}")
    if y_sign == b"+":
        rgb = rgb[::-1]
    rgba = np.empty((height, width, 4), np.float32)
    rgba[..., :3] = rgb
    rgba[..., 3] = 1.0
    return DecodedImage(rgba, source, "Radiance HDR", False)


# -- DDS / KTX2 block data ---------------------------------------------------------------------

#: Formats whose blocks need texture2ddecoder (no decoder of oxy's own).
_T2D = {"BC3": "decode_bc3"}


def decode_container_layer(texture: ContainerTexture, layer: int) -> DecodedImage:
    """Level 0 of ``layer`` of a DDS/KTX2 texture as RGBA: uint8 for 8-bit and block
    formats (BC7 through ``oxy.cook.bc7``; BC1, BC4, BC5 through ``oxy.cook.bcn``; BC3
    through ``texture2ddecoder`` when it is importable), float32 for
    float formats (BC6H unsigned through ``oxy.cook.bcn``). One-channel data (R8, BC4)
    becomes grey; two-channel data (RG8, BC5) red and green with blue 0. Raises
    ImageDecodeError for a format with no decoder here (naming it). Any thread."""
    from oxy.cook import bc7, bcn
    from oxy.formats.enums import Format

    fmt = texture.format
    w, h = texture.width, texture.height
    raw = texture.subresource(layer, 0)
    what = f"{texture.container} {fmt.name}"
    name = f"{texture.source}[{layer}]" if texture.layers > 1 else texture.source
    try:
        if fmt in (Format.RGBA8_UNORM, Format.RGBA8_UNORM_SRGB, Format.BGRA8_UNORM, Format.BGRA8_UNORM_SRGB):
            rgba = np.frombuffer(raw, np.uint8).reshape(h, w, 4).copy()
            if fmt in (Format.BGRA8_UNORM, Format.BGRA8_UNORM_SRGB):
                rgba = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])
            if texture.opaque:
                rgba[..., 3] = 255
            return DecodedImage(rgba, name, what, not texture.opaque)
        if fmt in (Format.RGBA16_FLOAT, Format.RGBA32_FLOAT):
            dtype = "<f2" if fmt == Format.RGBA16_FLOAT else "<f4"
            pixels = np.frombuffer(raw, dtype).reshape(h, w, 4).astype(np.float32)
            return DecodedImage(np.ascontiguousarray(pixels), name, what, True)
        if fmt == Format.RGBA16_UNORM:
            wide = np.frombuffer(raw, "<u2").reshape(h, w, 4)
            return DecodedImage(((wide.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8), name, what, True)
        if fmt in (Format.R8_UNORM, Format.BC4_UNORM):
            grey = (np.frombuffer(raw, np.uint8).reshape(h, w) if fmt == Format.R8_UNORM
                    else bcn.decode_bc4(raw, w, h)[..., 0])
            return DecodedImage(np.dstack([grey, grey, grey, np.full_like(grey, 255)]), name, what, False)
        if fmt in (Format.RG8_UNORM, Format.BC5_UNORM):
            rg = (np.frombuffer(raw, np.uint8).reshape(h, w, 2) if fmt == Format.RG8_UNORM
                  else bcn.decode_bc5(raw, w, h))
            rgba = np.zeros((h, w, 4), np.uint8)
            rgba[..., :2] = rg
            rgba[..., 3] = 255
            return DecodedImage(rgba, name, what, False)
        if fmt in (Format.BC7_UNORM, Format.BC7_UNORM_SRGB):
            return DecodedImage(bc7.decode(raw, w, h), name, what, True)
        if fmt in (Format.BC1_UNORM, Format.BC1_UNORM_SRGB):
            return DecodedImage(bcn.decode_bc1(raw, w, h), name, what, False)
        if fmt == Format.BC6H_FLOAT_U:
            rgb = bcn.decode_bc6h(raw, w, h).astype(np.float32)
            return DecodedImage(np.ascontiguousarray(np.dstack([rgb, np.ones((h, w), np.float32)])), name, what, False)
        family = fmt.name.removesuffix("_UNORM_SRGB").removesuffix("_UNORM")
        if family in _T2D:
            return _decode_t2d(raw, w, h, family, name, what)
    except ValueError as exc:
        raise ImageDecodeError(texture.source, f"{what} layer {layer}: {exc}") from None
    raise ImageDecodeError(texture.source, f"{what} cannot be decoded as a cook source (decodable: RGBA8, BGRA8, "
                           "RGBA16, RGBA16F, RGBA32F, R8, RG8, BC1, BC3, BC4, BC5, unsigned BC6H, BC7)")


def _decode_t2d(raw: memoryview, w: int, h: int, family: str, name: str, what: str) -> DecodedImage:
    """BC3 through texture2ddecoder (BGRA8 out)."""
    try:
        import texture2ddecoder  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ImageDecodeError(name, f"{what} needs texture2ddecoder to decode (pip install texture2ddecoder), "
                               "which is not installed; re-export the source as BC1, BC4, BC5, BC7 or RGBA8") from None
    bw, bh = -(-w // 4) * 4, -(-h // 4) * 4
    # texture2ddecoder writes whole blocks: decode at the padded size and crop.
    bgra = np.frombuffer(getattr(texture2ddecoder, _T2D[family])(bytes(raw), bw, bh), np.uint8).reshape(bh, bw, 4)
    rgba = np.ascontiguousarray(bgra[:h, :w][..., [2, 1, 0, 3]])
    return DecodedImage(rgba, name, what, True)
