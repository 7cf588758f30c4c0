"""Cooking decoded images into texture payloads: presets, mips, BCn or raw formats.

A texture is cooked from one image (2D), six faces (cube) or N same-sized images
(2D array). Each layer gets a mip chain (``oxy.cook.mips``), each subresource is
encoded (BC7 through ``oxy.cook.bc7``; BC1, BC4, BC5, BC6H through ``oxy.cook.bcn``;
or raw RGBA8 / RGBA16F / RGBA32F) and the whole is packed with D3D12 rules
(``oxy.cook.payload``).

Outputs (``TextureSettings.output``; Format values of FORMATS.md 7):

* ``bc7`` -- BC7_UNORM(_SRGB) 62/63, RGBA, 1 byte per texel.
* ``bc1`` -- BC1_UNORM(_SRGB) 50/51, opaque RGB, half a byte per texel: alpha is
  dropped (a ``texture.alpha_dropped`` warning when the source had any); sRGB colour
  is filtered in linear light and stored as BC1_UNORM_SRGB, as for BC7.
* ``bc4`` -- BC4_UNORM 56, one channel (red) of the source, half a byte per texel.
* ``bc5`` -- BC5_UNORM 58, two channels (red, green). For normal maps (the ``normal``
  preset's default) that is tangent-space X and Y, renormalised per mip before the
  encode; **the engine reconstructs Z = sqrt(1 - X^2 - Y^2)** (X, Y mapped from
  [0, 1] to [-1, 1]); blue and alpha are not stored.
* ``bc6h`` -- BC6H_UF16 (Format 60, ``BC6H_FLOAT_U``), unsigned half-float RGB, the
  ``hdr`` preset's default: 1 byte per texel against RGBA16F's 8. Negative values
  become 0, values above 65504 become 65504; alpha is not stored. An 8-bit source
  is converted to linear float first (through the sRGB curve when ``srgb``).
* ``rgba8``, ``rgba16f``, ``rgba32f`` -- raw texels.

BC4 and BC5 have no sRGB format: with them the mips are filtered on the stored
values (not in linear light) and an sRGB setting only draws a ``texture.srgb_ignored``
warning. The ``data`` preset cooks a one-channel source (every layer grey, R = G = B,
and opaque) to BC4 instead of BC7 (:attr:`TextureSettings.grey_output`, decided by
:func:`resolve_output`, a pure function of the decoded pixels and the settings, so the
cook key of the source bytes and settings names one output); an explicit ``output``
override turns that off. BC1/BC4/BC5/BC6H effort follows ``quality`` (the BC7 preset
names) mapped by :func:`bcn_quality`.
DDS and KTX2 sources whose blocks are what the settings produce are passed through
without re-encoding (rows re-laid at oxy's pitch); others are decoded and cooked like
images (:func:`source_path`, ``docs/texture_inputs.md``).

Pure functions: safe from any thread, deterministic, no gevent. The heavy kernels
release the GIL, so one call per pool thread scales with the cores. Failures are
:class:`TextureCookError` (bad settings or inconsistent layers) or
:class:`~oxy.cook.image_decode.ImageDecodeError` (bad source bytes). Losses are
reported, not hidden: an HDR (float) source cooked into an 8-bit format puts a
``texture.hdr_to_ldr`` warning (with the number of texels clamped or replaced) in
``CookedTexture.notes``.

Progress: ``cook_texture(..., progress=fn)`` calls ``fn(done, total)`` on the cooking
thread as the subresources are encoded (block formats: after each strip of block
rows, through ``oxy.cook.strips``; raw formats: after each level); the units are 4x4
blocks of every level and layer, so the fraction follows the work. A caller that
cannot pass ``progress`` down to the cook (the texture pipeline, through the cook
cache) registers a sink by source name with :func:`watch_progress`; those sinks are
throttled (:class:`oxy.cook.strips.ProgressThrottle`: at most one report per 1/64 of
the texture, and the final one), while ``progress`` itself (the job's cancel check)
is called after every strip. Reporting never changes the cooked bytes.

Block outputs encode a layer's whole mip chain in one call of
:func:`oxy.cook.strips.encode_levels` (on a pool thread: one fan-out over the strips
of every level, level 0 first).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, Sequence, cast

import numpy as np

from oxy.cook import bc7, bcn, mips, strips
from oxy.cook.colorspace import srgb_to_linear_table
from oxy.cook.image_decode import (MAX_TEXTURE_PIXELS, DecodedImage, ImageDecodeError, check_image_size,
                                   decode_container_layer, decode_image)
from oxy.cook.notes import CookNote
from oxy.cook.payload import CookedTexture, TextureShape, pack_texture_payload
from oxy.errors import OxyError
from oxy.formats.enums import Format, PackingPolicy, TextureType
from oxy.interop.containers import ContainerTexture, is_container, read_container

OUTPUT_FORMATS = ("bc7", "bc1", "bc4", "bc5", "bc6h", "rgba8", "rgba16f", "rgba32f")
#: Outputs that keep float (HDR) values; the others store 8 bits per channel or less.
FLOAT_OUTPUTS = ("bc6h", "rgba16f", "rgba32f")
#: Outputs encoded by :mod:`oxy.cook.bcn`.
BCN_OUTPUTS = ("bc1", "bc4", "bc5", "bc6h")
#: Block-compressed outputs (encoded strip by strip, with progress per strip).
BLOCK_OUTPUTS = ("bc7", *BCN_OUTPUTS)
CUBE_FACES = ("+x", "-x", "+y", "-y", "+z", "-z")
#: ``progress(done, total)``: work units (4x4 blocks of every subresource) encoded so far.
Progress = Callable[[int, int], None]
#: ``sink(source_name, done, total)``: see :func:`watch_progress`.
ProgressSink = Callable[[str, int, int], None]
_sinks: dict[str, list[ProgressSink]] = {}
_sinks_lock = threading.Lock()


class TextureCookError(OxyError):
    """Settings or inputs that cannot make a texture (names the source and the reason)."""


@dataclass(frozen=True)
class TextureSettings:
    """How to cook one texture.

    ``output``: one of :data:`OUTPUT_FORMATS` (see the module docstring).
    ``grey_output``: the output of a one-channel source instead (the ``data``
    preset: "bc4"); None: always ``output``. ``srgb``: the colour data is sRGB
    (filtered in linear light; BC7 format 63 / BC1 51 / RGBA8 31). ``normal_map``:
    renormalise mips. ``mips``: a full chain down to 1x1, or level 0 only.
    ``quality``: the effort, one of ``bc7.QUALITIES`` (BCn: :func:`bcn_quality`).
    ``alpha_coverage``: preserve alpha-test coverage at this cut-off.
    ``ignore_alpha``: nobody reads the texture's alpha (opaque materials): the
    source alpha is replaced by opaque before the mips, and BC7 spends mode 6's
    p-bits on colour, so its alpha decodes to 254 or 255 (every other output: 255).
    """

    preset: str = "albedo"
    output: str = "bc7"
    srgb: bool = True
    normal_map: bool = False
    mips: bool = True
    mip_filter: str = "box"
    quality: str = "normal"
    perceptual: bool = False
    alpha_coverage: float | None = None
    policy: PackingPolicy = PackingPolicy.D3D12
    grey_output: str | None = None
    ignore_alpha: bool = False


PRESETS: dict[str, TextureSettings] = {
    "albedo": TextureSettings("albedo", "bc7", srgb=True),
    "normal": TextureSettings("normal", "bc5", srgb=False, normal_map=True),
    "data": TextureSettings("data", "bc7", srgb=False, grey_output="bc4"),
    "hdr": TextureSettings("hdr", "bc6h", srgb=False),
    "ui": TextureSettings("ui", "bc7", srgb=True, mips=False),
}


def settings_for(preset: str, **overrides: Any) -> TextureSettings:
    """The settings of a named preset with ``overrides`` applied (an ``output``
    override also turns off the preset's ``grey_output``). Raises TextureCookError."""
    if preset not in PRESETS:
        raise TextureCookError(f"unknown texture preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if overrides.get("output") is not None and "grey_output" not in overrides:
        overrides = {**overrides, "grey_output": None}
    settings = replace(PRESETS[preset], **overrides)
    for value in (settings.output, *([settings.grey_output] if settings.grey_output is not None else [])):
        if value not in OUTPUT_FORMATS:
            raise TextureCookError(f"unknown output format {value!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
    if settings.ignore_alpha and settings.alpha_coverage is not None:
        raise TextureCookError("ignore_alpha and alpha_coverage contradict each other: an alpha-tested texture "
                               "needs its alpha")
    if settings.quality not in bc7.QUALITIES:
        raise TextureCookError(f"unknown BC7 quality {settings.quality!r}; choose one of {', '.join(bc7.QUALITIES)}")
    return settings


#: Each output's (linear, sRGB) Format; the same Format twice where there is no sRGB
#: variant (BC4, BC5, BC6H, the float formats: they store sRGB data as is).
_FORMATS: dict[str, tuple[Format, Format]] = {
    "bc7": (Format.BC7_UNORM, Format.BC7_UNORM_SRGB),
    "bc1": (Format.BC1_UNORM, Format.BC1_UNORM_SRGB),
    "bc4": (Format.BC4_UNORM, Format.BC4_UNORM),
    "bc5": (Format.BC5_UNORM, Format.BC5_UNORM),
    "bc6h": (Format.BC6H_FLOAT_U, Format.BC6H_FLOAT_U),
    "rgba8": (Format.RGBA8_UNORM, Format.RGBA8_UNORM_SRGB),
    "rgba16f": (Format.RGBA16_FLOAT, Format.RGBA16_FLOAT),
    "rgba32f": (Format.RGBA32_FLOAT, Format.RGBA32_FLOAT),
}
#: Outputs whose Format has an sRGB variant (the others store sRGB data as UNORM).
SRGB_OUTPUTS = tuple(name for name, (linear, srgb) in _FORMATS.items() if linear != srgb)


def output_format(settings: TextureSettings) -> Format:
    """The Format of ``settings.output`` (an sRGB variant for sRGB colour where the
    output has one)."""
    if settings.output not in _FORMATS:
        raise TextureCookError(f"unknown output format {settings.output!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
    linear, srgb = _FORMATS[settings.output]
    return srgb if settings.srgb and not settings.normal_map else linear


def bcn_quality(quality: str) -> bcn.Quality:
    """The :mod:`oxy.cook.bcn` preset for a BC7 ``quality`` name: the same name where
    bcn has it (e.g. "ultrafast", "fast", "normal", "high"); a BC7 preset bcn lacks
    takes the bcn preset just below it in BC7's order ("better", "thorough" ->
    "normal"), or bcn's fastest when none is below; so the mapping is monotone.
    Raises TextureCookError for a name that is not a BC7 quality."""
    if quality in bcn.QUALITIES:
        return cast(bcn.Quality, quality)
    if quality not in bc7.QUALITIES:
        raise TextureCookError(f"unknown quality {quality!r}; choose one of {', '.join(bc7.QUALITIES)}")
    rank = bc7.QUALITIES.index(quality)
    below = [q for q in bcn.QUALITIES if q in bc7.QUALITIES and bc7.QUALITIES.index(q) <= rank]
    return cast(bcn.Quality, below[-1] if below else bcn.QUALITIES[0])


def is_grey(image: DecodedImage) -> bool:
    """A one-channel source: every texel has R = G = B and is opaque. Pure."""
    px = image.pixels
    opaque = 255 if px.dtype == np.uint8 else 1.0
    return bool(np.array_equal(px[..., 0], px[..., 1]) and np.array_equal(px[..., 1], px[..., 2])
                and (not image.has_alpha or bool((px[..., 3] == opaque).all())))


def resolve_output(settings: TextureSettings, images: Sequence[DecodedImage]) -> TextureSettings:
    """``settings`` with the output this texture is cooked to: ``grey_output`` when it
    is set and every layer is one-channel (:func:`is_grey`), else ``output`` (and
    ``grey_output`` cleared either way). The one place the choice is made; a pure
    function of the decoded pixels and the settings (so of the source bytes and
    settings that the cook key is made from)."""
    if settings.grey_output is None:
        return settings
    grey = bool(images) and all(is_grey(image) for image in images)
    return replace(settings, output=settings.grey_output if grey else settings.output, grey_output=None)


@contextmanager
def watch_progress(names: Iterable[str], sink: ProgressSink) -> Iterator[None]:
    """While inside, every :func:`cook_texture_files` call (on any thread) whose first
    source is named in ``names`` reports to ``sink(name, done, total)``, on its
    cooking thread (the sink must be quick and thread-safe). Several sinks may watch
    one name (two jobs cooking the same file each see both cooks). Any thread."""
    watched = list(dict.fromkeys(names))
    with _sinks_lock:
        for name in watched:
            _sinks.setdefault(name, []).append(sink)
    try:
        yield
    finally:
        with _sinks_lock:
            for name in watched:
                sinks = _sinks.get(name, [])
                if sink in sinks:
                    sinks.remove(sink)
                if not sinks:
                    _sinks.pop(name, None)


def _both(first: Progress, second: Progress) -> Progress:
    def report(done: int, total: int) -> None:
        first(done, total)
        second(done, total)
    return report


def _watched(name: str) -> Progress | None:
    with _sinks_lock:
        sinks = tuple(_sinks.get(name, ()))
    if not sinks:
        return None

    def report(done: int, total: int) -> None:
        for sink in sinks:
            sink(name, done, total)
    return report


def cook_texture_files(sources: Sequence[tuple[str, bytes]], settings: TextureSettings, *,
                       kind: str = "2d", progress: Progress | None = None) -> CookedTexture:
    """Decode and cook: one source for "2d", six for "cube" (or one cross/strip image),
    several for "array". ``sources`` are (name, bytes) pairs. ``progress``: as
    :func:`cook_texture` (default: the sinks :func:`watch_progress` registered for
    the first source's name, if any)."""
    watched = _watched(sources[0][0]) if sources else None
    if watched is not None:
        throttled = strips.ProgressThrottle(watched)
        progress = throttled if progress is None else _both(progress, throttled)
    if any(is_container(data) for _name, data in sources):
        return _cook_containers(sources, settings, kind, progress)
    images = [decode_image(data, name) for name, data in sources]
    if kind == "cube" and len(images) == 1:
        images = split_cube_image(images[0])
    return cook_texture(images, settings, kind=kind, progress=progress)


# -- DDS / KTX2 sources ----------------------------------------------------------------------------

PASSTHROUGH, DECODED = "passthrough", "decoded"


def _read_sources(sources: Sequence[tuple[str, bytes]]) -> list[ContainerTexture | DecodedImage]:
    out: list[ContainerTexture | DecodedImage] = []
    for name, data in sources:
        if is_container(data):
            texture = read_container(data, name)
            check_image_size(name, texture.width, texture.height, MAX_TEXTURE_PIXELS)
            out.append(texture)
        else:
            out.append(decode_image(data, name))
    return out


def _check_layers(read: Sequence[ContainerTexture | DecodedImage], kind: str) -> None:
    """A cube or array container needs the matching kind (it cannot be a 2D texture)."""
    for item in read:
        if isinstance(item, ContainerTexture) and item.layers > 1 and kind == "2d":
            what = "a cube map" if item.cube else f"an array of {item.layers} layers"
            raise TextureCookError(f"{item.source}: the {item.container} file is {what}; cook it with "
                                   f"kind {'cube' if item.cube else 'array'} (--kind {'cube' if item.cube else 'array'})")


def source_path(read: Sequence[ContainerTexture | DecodedImage], settings: TextureSettings, kind: str) -> str:
    """:data:`PASSTHROUGH` when every source is a container whose blocks are what the
    settings would produce (same format, e.g. BC7 sRGB for an albedo preset cooked to
    BC7, and a full mip chain unless mips are off) and whose layers make the texture
    ``kind`` asks for; else :data:`DECODED`. Pure."""
    if not read or not all(isinstance(item, ContainerTexture) for item in read):
        return DECODED
    textures = [item for item in read if isinstance(item, ContainerTexture)]
    first = textures[0]
    layers = sum(t.layers for t in textures)
    wanted = _passthrough_format(settings, first.format)
    for t in textures:
        if (t.format != wanted or t.opaque or (t.width, t.height) != (first.width, first.height)
                or t.mip_levels != first.mip_levels):
            return DECODED
    if settings.mips and first.mip_levels != mips.mip_count(first.width, first.height):
        return DECODED
    if (kind == "2d" and layers != 1) or (kind == "cube" and (layers != 6 or first.width != first.height)):
        return DECODED
    return PASSTHROUGH


def _passthrough_format(settings: TextureSettings, found: int) -> Format:
    """The format a container must hold to pass through: the settings' output, or
    their ``grey_output`` (BC4 blocks are one channel whatever their content)."""
    if settings.grey_output is not None:
        grey = output_format(replace(settings, output=settings.grey_output))
        if found == grey and grey == Format.BC4_UNORM:
            return grey
    return output_format(settings)


def container_source_path(sources: Sequence[tuple[str, bytes]], settings: TextureSettings,
                          kind: str) -> str | None:
    """For the cook recipe: :data:`PASSTHROUGH` or :data:`DECODED` when a source is a DDS
    or KTX2 file, None for image files (their recipes stay as they were). Reads the
    headers only; a source that cannot be read counts as decoded (its cook then fails
    with the reason). Any thread."""
    if not any(is_container(data) for _name, data in sources):
        return None
    try:
        read = [read_container(data, name) if is_container(data) else None for name, data in sources]
    except ImageDecodeError:
        return DECODED
    if any(item is None for item in read):
        return DECODED
    return source_path([item for item in read if item is not None], settings, kind)


def _cook_containers(sources: Sequence[tuple[str, bytes]], settings: TextureSettings, kind: str,
                     progress: Progress | None) -> CookedTexture:
    """DDS/KTX2 sources: blocks passed through into the payload (repacked with oxy's row
    pitch and alignment), or decoded and cooked like any image. The path taken is
    reported as an info note (``texture.passthrough`` / ``texture.decoded``)."""
    read = _read_sources(sources)
    _check_layers(read, kind)
    first = read[0]
    if source_path(read, settings, kind) == PASSTHROUGH:
        textures = [item for item in read if isinstance(item, ContainerTexture)]
        levels = first.mip_levels if settings.mips and isinstance(first, ContainerTexture) else 1
        subresources = [bytes(t.subresource(layer, mip)) for t in textures for layer in range(t.layers)
                        for mip in range(levels)]
        texture_type = {"2d": TextureType.TEXTURE_2D, "cube": TextureType.TEXTURE_CUBE,
                        "array": TextureType.TEXTURE_2D_ARRAY}[kind]
        shape = TextureShape(width=first.width, height=first.height,
                             format=_passthrough_format(settings, textures[0].format),
                             mip_levels=levels, array_layers=len(subresources) // levels, texture_type=texture_type)
        cooked = pack_texture_payload(shape, subresources, policy=settings.policy)
        if progress is not None:
            progress(1, 1)
        note = CookNote("info", "texture.passthrough",
                        f"{textures[0].container} {textures[0].format.name} blocks passed through "
                        f"({levels} mip level(s), {shape.array_layers} layer(s)); not re-encoded")
        return replace(cooked, notes=(note,))
    images: list[DecodedImage] = []
    for item in read:
        if isinstance(item, ContainerTexture):
            images += [decode_container_layer(item, layer) for layer in range(item.layers)]
        else:
            images.append(item)
    if kind == "cube" and len(images) == 1:
        images = split_cube_image(images[0])
    cooked = cook_texture(images, settings, kind=kind, progress=progress)
    formats = sorted({item.format.name for item in read if isinstance(item, ContainerTexture)})
    note = CookNote("info", "texture.decoded",
                    f"{'/'.join(formats)} source decoded and cooked into {Format(cooked.shape.format).name} "
                    "(its format, mip chain or layers are not what the settings produce)")
    return replace(cooked, notes=(*cooked.notes, note))


def cook_texture(images: Sequence[DecodedImage], settings: TextureSettings, *, kind: str = "2d",
                 progress: Progress | None = None) -> CookedTexture:
    """Cook decoded layers into one payload (layer-major subresources). ``progress``,
    if given, is called on this thread as the work is encoded (see the module
    docstring); what it raises ends the cook."""
    if kind not in ("2d", "cube", "array"):
        raise TextureCookError(f"unknown texture kind {kind!r}")
    expected = {"2d": 1, "cube": 6}.get(kind)
    if (expected and len(images) != expected) or not images:
        raise TextureCookError(f"a {kind} texture needs {expected or 'at least one'} image(s), got {len(images)}")
    first = images[0]
    for image in images[1:]:
        if image.pixels.shape != first.pixels.shape:
            raise TextureCookError(f"{image.source}: {image.width}x{image.height} differs from "
                                   f"{first.source}: {first.width}x{first.height}; layers must match")
    if kind == "cube" and first.width != first.height:
        raise TextureCookError(f"{first.source}: cube faces must be square, got {first.width}x{first.height}")
    settings = resolve_output(settings, images)
    fmt = output_format(settings)
    subresources: list[bytes] = []
    notes = [note for image in images if (note := hdr_to_ldr_note(image, settings)) is not None]
    notes += _format_notes(images, settings)
    levels = 1
    done = total = 0
    for image in images:
        chain = _mip_chain(_working_pixels(image, settings), settings)
        levels = len(chain)
        total = total or len(images) * sum(_work(level) for level in chain)  # layers share one shape
        if settings.output in BLOCK_OUTPUTS:  # the whole chain at once, reporting per strip
            step = None if progress is None else _offset(progress, done, total)
            subresources += _encode_chain(chain, settings, step)
            done += sum(_work(level) for level in chain)
            continue
        for level in chain:
            subresources.append(_encode(level, fmt))
            done += _work(level)
            if progress is not None:
                progress(done, total)
    texture_type = {"2d": TextureType.TEXTURE_2D, "cube": TextureType.TEXTURE_CUBE,
                    "array": TextureType.TEXTURE_2D_ARRAY}[kind]
    shape = TextureShape(width=first.width, height=first.height, format=fmt, mip_levels=levels,
                         array_layers=len(images), texture_type=texture_type)
    cooked = pack_texture_payload(shape, subresources, policy=settings.policy)
    return replace(cooked, notes=tuple(notes)) if notes else cooked


def _work(level: np.ndarray) -> int:
    """The work units of one subresource: its 4x4 blocks."""
    return bc7.block_count(level.shape[1], level.shape[0])


def _offset(progress: Progress, before: int, total: int) -> bc7.Progress:
    return lambda done, _level_total: progress(before + done, total)


def _format_notes(images: Sequence[DecodedImage], settings: TextureSettings) -> list[CookNote]:
    """What the output format drops: alpha (BC1, BC6H), the sRGB flag (BC4, BC5)."""
    notes = []
    if settings.output in ("bc1", "bc6h") and not settings.ignore_alpha:  # asked for: no warning
        for image in images:
            px = image.pixels
            if image.has_alpha and bool((px[..., 3] < (255 if px.dtype == np.uint8 else 1.0)).any()):
                notes.append(CookNote("warning", "texture.alpha_dropped",
                                      f"{image.source}: {settings.output} stores no alpha; the source's "
                                      "alpha channel is dropped (use bc7 to keep it)"))
    if settings.srgb and not settings.normal_map and settings.output not in SRGB_OUTPUTS + FLOAT_OUTPUTS:
        notes.append(CookNote("warning", "texture.srgb_ignored",
                              f"{settings.output} has no sRGB format: the values are stored as they are in "
                              f"{output_format(settings).name} and the mips are filtered on them, not in linear "
                              "light"))
    return notes


def hdr_to_ldr_note(image: DecodedImage, settings: TextureSettings) -> CookNote | None:
    """The warning for a float (HDR) source cooked into an 8-bit output, with counts of
    the texels whose colour was clamped into [0, 1] or was not finite; None otherwise."""
    if not image.is_hdr or settings.output in FLOAT_OUTPUTS:
        return None
    pixels = image.pixels
    finite = np.isfinite(pixels).all(axis=2)
    with np.errstate(invalid="ignore"):
        clamped = ((pixels > 1.0) | (pixels < 0.0)).any(axis=2) & finite
    peak = float(np.max(pixels, initial=0.0, where=np.isfinite(pixels)))
    total = image.width * image.height
    return CookNote("warning", "texture.hdr_to_ldr",
                    f"{image.source_format} source cooked into {settings.output} (8 bits per channel): "
                    f"{int(clamped.sum())} of {total} texels clamped into [0, 1] (peak value {peak:.3g}), "
                    f"{int((~finite).sum())} non-finite texels replaced; use the hdr preset (bc6h) or rgba16f to keep "
                    "the range")


def _working_pixels(image: DecodedImage, settings: TextureSettings) -> np.ndarray:
    """uint8 RGBA for 8-bit outputs, float32 RGBA (linear) for float outputs (BC6H,
    RGBA16F, RGBA32F): an 8-bit source is made linear (through the sRGB curve when
    ``srgb``). With ``ignore_alpha`` the alpha is opaque (a copy: the image is not
    changed)."""
    pixels = _converted_pixels(image, settings)
    if settings.ignore_alpha:
        opaque = 255 if pixels.dtype == np.uint8 else 1.0
        if pixels is image.pixels:
            pixels = pixels.copy()
        pixels[..., 3] = opaque
    return pixels


def _converted_pixels(image: DecodedImage, settings: TextureSettings) -> np.ndarray:
    pixels = image.pixels
    wants_float = settings.output in FLOAT_OUTPUTS
    if wants_float and pixels.dtype == np.uint8:
        table = srgb_to_linear_table() if settings.srgb else np.arange(256, dtype=np.float32) / 255.0
        out = table[pixels]
        out[..., 3] = pixels[..., 3] / np.float32(255.0)
        return np.ascontiguousarray(out, dtype=np.float32)
    if not wants_float and pixels.dtype == np.float32:
        # An HDR source into an 8-bit format: clamp to [0, 1], then sRGB-encode when asked.
        from oxy.cook.colorspace import encode_srgb8

        clamped = np.clip(np.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        out = np.empty(pixels.shape, np.uint8)
        out[..., :3] = encode_srgb8(clamped[..., :3]) if settings.srgb else np.rint(clamped[..., :3] * 255)
        out[..., 3] = np.rint(clamped[..., 3] * 255)
        return out
    return pixels


def _mip_chain(pixels: np.ndarray, settings: TextureSettings) -> list[np.ndarray]:
    if not settings.mips:
        return [pixels]
    srgb = settings.srgb and pixels.dtype == np.uint8 and settings.output in SRGB_OUTPUTS
    return mips.mip_chain(pixels, srgb=srgb, filter=settings.mip_filter,
                          normal_map=settings.normal_map, alpha_coverage=settings.alpha_coverage)


def _encode_chain(chain: Sequence[np.ndarray], settings: TextureSettings,
                  progress: strips.Progress | None) -> list[bytes]:
    """The blocks of every level of a block output (BC7, BC1, BC4, BC5, BC6H), through
    :func:`oxy.cook.strips.encode_levels`: the same bytes as one encode per level."""
    levels = [np.ascontiguousarray(level) for level in chain]
    if settings.output == "bc7":
        quality = cast(bc7.Quality, settings.quality)
        for level in levels:  # checked once here, not per strip
            bc7.check_rgba(level)
        return strips.encode_levels(levels, bc7.strip_encoder(quality, settings.perceptual, settings.ignore_alpha),
                                    progress, lambda level: bc7.strip_rows(level.shape[1], quality))
    return strips.encode_levels(levels, _bcn_encoder(settings), progress)


def _encode(level: np.ndarray, fmt: Format) -> bytes:
    """A raw (uncompressed) level's bytes."""
    if fmt == Format.RGBA16_FLOAT:
        with np.errstate(over="ignore"):
            return np.clip(level, -65504.0, 65504.0).astype("<f2").tobytes()
    if fmt == Format.RGBA32_FLOAT:
        return level.astype("<f4").tobytes()
    return np.ascontiguousarray(level, dtype=np.uint8).tobytes()


def _bcn_encoder(settings: TextureSettings) -> strips.StripEncoder:
    """The GIL-free encode of one strip for a BCn output (BC4: red; BC5: red, green)."""
    quality = bcn_quality(settings.quality)
    if settings.output == "bc1":
        return lambda strip: bcn.encode_bc1(strip, quality)
    if settings.output == "bc4":
        return lambda strip: bcn.encode_bc4(strip, quality, 0)
    if settings.output == "bc5":
        return lambda strip: bcn.encode_bc5(strip, quality, (0, 1))
    return lambda strip: bcn.encode_bc6h(strip, quality)


def split_cube_image(image: DecodedImage) -> list[DecodedImage]:
    """Six faces (+X, -X, +Y, -Y, +Z, -Z) from a horizontal cross (4x3), a vertical
    cross (3x4), or a horizontal (6x1) / vertical (1x6) strip."""
    h, w = image.height, image.width
    px = image.pixels
    layouts = {
        (4, 3): [(1, 2), (1, 0), (0, 1), (2, 1), (1, 1), (1, 3)],   # horizontal cross: (row, col)
        (3, 4): [(1, 2), (1, 0), (0, 1), (2, 1), (1, 1), (3, 1)],   # vertical cross
        (6, 1): [(0, i) for i in range(6)],
        (1, 6): [(i, 0) for i in range(6)],
    }
    for (cols, rows), cells in layouts.items():
        if w * rows == h * cols and w % cols == 0:
            size = w // cols
            faces = []
            for face, (row, col) in zip(CUBE_FACES, cells):
                tile = px[row * size:(row + 1) * size, col * size:(col + 1) * size]
                if (cols, rows) == (3, 4) and face == "-z":
                    tile = tile[::-1, ::-1]  # -Z in a vertical cross is stored upside down
                faces.append(DecodedImage(np.ascontiguousarray(tile), f"{image.source}[{face}]",
                                          image.source_format, image.has_alpha))
            return faces
    raise TextureCookError(f"{image.source}: {w}x{h} is not a cube cross (4x3, 3x4) or strip (6x1, 1x6)")
