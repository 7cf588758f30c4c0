"""BC7 (BPTC, DXGI_FORMAT_BC7_UNORM) texture compression and decompression.

:func:`encode` turns an RGBA8 image into BC7 blocks; :func:`decode` turns blocks back
into RGBA8. Both run in compiled kernels (``oxy._kernels.bc7_encode`` /
``bc7_decode``) that release the GIL for the whole image.

Layout: blocks are 4x4 texels, 16 bytes each, in row-major block order,
``ceil(W/4) * ceil(H/4)`` of them. Images whose sides are not multiples of 4 are
padded by edge replication (the last row/column repeats), never with black; the
encoder gathers each block with clamped coordinates, so no padded copy of the image
is made and extra memory stays O(1) whatever the image size.

Presets (``quality=``), fastest first, all using every BC7 mode where it pays:

* ``"ultrafast"`` -- mode 6 by the SIMD fit (one least-squares pass, projected
  indices), plus a mode 1 / mode 5 try on the few blocks it leaves with a very
  large error.
* ``"fast"``   -- mode 6 by the SIMD fit (two passes, +/-1 index search) for every
  block, plus a mode 1 / mode 5 try on blocks that mode 6 leaves with a large error.
* ``"normal"`` -- modes 6 (SIMD fit), 1, 3 (opaque) or 6, 5, 7, 4 (with alpha), the
  best partition shapes picked by a cheap estimate, two refinement rounds.
  Opaque blocks try mode 5 only when mode 6 left them nearly exact (<= 4 squared
  error per texel): it wins on near-flat blocks, where its p-bit-free 7-bit colour
  endpoints beat mode 6's.
* ``"better"`` -- ``"normal"`` scoring all 64 shapes, fitting 3 mode-1 shapes,
  full p-bit search and a lower early stop.
* ``"thorough"`` -- adds modes 0 and 2 on opaque blocks (one shape each), 4 mode-1
  and 2 mode-3 shapes, full p-bit search (no rotations on opaque blocks,
  neighbour index search).
* ``"high"``   -- every mode (mode 7 only on blocks with alpha, where it can win),
  all rotations, more partition shapes, full p-bit and index search.

Few-colour content (``"normal"`` and up): a block of at most 4 distinct colours --
texture that was palettised or block-compressed before, e.g. BC1's 4 colours evenly
spaced on a line -- stops early only at a quarter (``"normal"``: half) of the preset's error threshold and
tries modes 5 and 3 first; every fit with 2-bit indices on at most 4 distinct colours maps them onto the
palette by an exact search (each monotone colour -> index map, least squares with
the decoder's weights, every p-bit choice), so colours some quantised endpoints
reproduce come out exact. ``"ultrafast"`` and ``"fast"`` are mode 6 with alpha p-bits
pinned to 1 (odd endpoint values), which cannot reproduce such content exactly
(with ``ignore_alpha`` they can come close).

``perceptual=True`` weights the error R 0.299 / G 0.587 / B 0.114 (scaled so the
sum matches the linear weights) instead of equally. Opaque blocks spend no bits on
alpha: they decode to alpha exactly 255.

``ignore_alpha=True`` is for textures whose alpha nobody reads (opaque materials):
every source alpha is taken as 255 and mode 6 chooses its p-bits for colour, so
alpha decodes to 254 or 255 and colour gains up to a bit per endpoint (ISPC's and
bc7enc's opaque profiles always do this; on few-colour content ``ultrafast`` gains
several dB). Off by default: then opaque means alpha exactly 255.

Progress: ``encode(..., progress=fn)`` encodes in strips of whole block rows (about
:data:`STRIP_BYTES` of source each) and calls ``fn(blocks_done, blocks_total)``
after each, on the calling thread, between two GIL-free kernel calls. A block
depends only on its own 16 texels (edge blocks clamp to the image's last row and
column, which a strip boundary never cuts, as strips are whole block rows), so the
bytes are the same as those of one call.

SIMD: the mode-6 fit (``bc7_simd.h``) has a portable build and an AVX2 build picked
at run time; :func:`simd_path` names the one this CPU uses. Every path gives the
same bytes (integer reductions, no FMA), so cooked output does not depend on the CPU.

Thread rules: both functions are pure; they never start threads, and the kernels
release the GIL, so calls from several threads run in parallel. Output is
deterministic (same input and settings -> same bytes on any thread).
Failure modes: ``ValueError`` naming the argument for bad input (wrong type, dtype,
shape, strides, empty image, unknown preset, wrong block-data length);
``MemoryError`` if the output cannot be allocated.
"""
from __future__ import annotations

from typing import Callable, Final, Literal

import numpy as np
import numpy.typing as npt

from oxy._kernels import bc7_decode as _dec
from oxy._kernels import bc7_encode as _enc
from oxy.cook import strips

__all__ = ["BLOCK_BYTES", "QUALITIES", "STRIP_BYTES", "block_count", "decode", "encode", "psnr",
           "simd_path", "strip_rows"]

#: Preset names accepted by :func:`encode`, fastest first.
QUALITIES: Final[tuple[str, ...]] = ("ultrafast", "fast", "normal", "better", "thorough", "high")
#: Size of one BC7 block in bytes.
BLOCK_BYTES: Final[int] = 16

#: Bytes of RGBA8 source (about) per strip when :func:`encode` reports progress.
STRIP_BYTES: Final[int] = strips.STRIP_BYTES

Quality = Literal["ultrafast", "fast", "normal", "better", "thorough", "high"]
#: ``progress(blocks_done, blocks_total)``
Progress = Callable[[int, int], None]


def simd_path() -> str:
    """The SIMD path the encoder's mode-6 fit runs on this CPU: ``"avx2"`` or
    ``"default"`` (portable). Informational: every path gives the same bytes."""
    return str(_enc.simd_path())


def block_count(width: int, height: int) -> int:
    """Number of 4x4 blocks covering a ``width`` x ``height`` image."""
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    return ((width + 3) // 4) * ((height + 3) // 4)


def check_rgba(rgba: object) -> np.ndarray:
    """``rgba`` as :func:`encode` accepts it (C-contiguous ``(H, W, 4)`` uint8, H, W >=
    1), or ValueError naming what is wrong."""
    if not isinstance(rgba, np.ndarray):
        raise ValueError(f"rgba must be a numpy.ndarray, got {type(rgba).__name__}")
    if rgba.dtype != np.uint8:
        raise ValueError(f"rgba must have dtype uint8, got {rgba.dtype}")
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"rgba must have shape (H, W, 4), got {rgba.shape}")
    if rgba.shape[0] < 1 or rgba.shape[1] < 1:
        raise ValueError(f"rgba must have height and width >= 1, got {rgba.shape}")
    if not rgba.flags.c_contiguous:
        raise ValueError(
            f"rgba must be C-contiguous (strides {(rgba.shape[1] * 4, 4, 1)}), "
            f"got strides {rgba.strides}; pass numpy.ascontiguousarray(rgba)"
        )
    return rgba


def encode(rgba: npt.NDArray[np.uint8], quality: Quality = "normal",
           perceptual: bool = False, progress: Progress | None = None, ignore_alpha: bool = False) -> bytes:
    """Compress an RGBA8 image to BC7; returns ``block_count(W, H) * 16`` bytes.

    ``rgba`` must be a C-contiguous ``uint8`` array of shape ``(H, W, 4)`` with
    ``H, W >= 1``. ``quality`` is one of :data:`QUALITIES`. Encodes through
    :func:`oxy.cook.strips.encode_in_strips`: on a CPU-pool thread of an import hub
    the strips of :func:`strip_rows` rows spread over idle pool threads; with
    ``progress``, ``progress(blocks_done, blocks_total)`` is called after each strip
    (what it raises ends the encode); else one GIL-free kernel call.
    ``ignore_alpha``: see the module docstring (alpha decodes to 254 or 255). Raises
    ``ValueError`` for bad arguments.
    """
    image = check_rgba(rgba)
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
    if not isinstance(perceptual, (bool, np.bool_)):
        raise ValueError(f"perceptual must be a bool, got {type(perceptual).__name__}")
    if not isinstance(ignore_alpha, (bool, np.bool_)):
        raise ValueError(f"ignore_alpha must be a bool, got {type(ignore_alpha).__name__}")
    return _encode_strips(image, quality, bool(perceptual), progress, bool(ignore_alpha))


#: The slowest presets get half-height strips (sized by work, not bytes): a cancel
#: then frees a pool thread within one strip (< 50 ms) even on a loaded machine.
_SLOW_PRESETS: Final[frozenset[str]] = frozenset(("thorough", "high"))


def strip_rows(width: int, quality: str = "normal") -> int:
    """Texel rows per strip for an image ``width`` texels wide at preset ``quality``: a
    multiple of 4, about :data:`STRIP_BYTES` of RGBA8, half that for the slow presets
    (so a cancel frees a pool thread within one strip)."""
    rows = strips.strip_rows(width, 4)
    return max(4, rows // 2 // 4 * 4) if quality in _SLOW_PRESETS else rows


def strip_encoder(quality: Quality = "normal", perceptual: bool = False,
                  ignore_alpha: bool = False) -> strips.StripEncoder:
    """The kernel call that encodes one strip (whole block rows of an image that
    :func:`encode` would accept), as :func:`encode` with these settings makes it, for
    callers that split an already checked image themselves
    (:func:`oxy.cook.strips.encode_levels`): no per-strip argument checks (Python
    that holds the GIL between GIL-free kernel calls). Raises ValueError for a bad
    ``quality``; a strip that is not ``(H, W, 4)`` uint8 C-contiguous raises from the
    kernel."""
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
    kernel, level, perceptual, ignore_alpha = _enc.encode, QUALITIES.index(quality), bool(perceptual), \
        bool(ignore_alpha)
    return lambda strip: kernel(strip, level, perceptual, -1, None, None, ignore_alpha)


def _encode_strips(image: np.ndarray, quality: Quality, perceptual: bool, progress: Progress | None,
                   ignore_alpha: bool) -> bytes:
    return strips.encode_in_strips(image, strip_encoder(quality, perceptual, ignore_alpha), progress,
                                   strip_rows(image.shape[1], quality))


def _block_buffer(blocks: object) -> np.ndarray:
    if isinstance(blocks, np.ndarray):
        if blocks.dtype != np.uint8:
            raise ValueError(f"blocks array must have dtype uint8, got {blocks.dtype}")
        return np.ascontiguousarray(blocks).reshape(-1)
    if isinstance(blocks, (bytes, bytearray, memoryview)):
        view = memoryview(blocks)
        if view.itemsize != 1:
            raise ValueError(f"blocks must be a byte buffer, got item size {view.itemsize}")
        return np.frombuffer(view.cast("B") if view.format != "B" else view, dtype=np.uint8)
    raise ValueError(
        "blocks must be bytes, bytearray, memoryview or a uint8 numpy array, "
        f"got {type(blocks).__name__}"
    )


def decode(blocks: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
           width: int, height: int) -> npt.NDArray[np.uint8]:
    """Decompress BC7 ``blocks`` to a new ``(height, width, 4)`` uint8 array.

    ``blocks`` holds ``block_count(width, height)`` blocks in row-major order.
    Reserved mode-8 blocks decode to transparent black, as in D3D11. Releases the
    GIL; raises ``ValueError`` for a bad size or a wrong buffer length.
    """
    if not isinstance(width, (int, np.integer)) or not isinstance(height, (int, np.integer)):
        raise ValueError(f"width and height must be integers, got {width!r}, {height!r}")
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    data = _block_buffer(blocks)
    expected = block_count(int(width), int(height)) * BLOCK_BYTES
    if data.shape[0] != expected:
        raise ValueError(
            f"blocks must be {expected} bytes for a {width}x{height} image "
            f"({block_count(int(width), int(height))} blocks of 16), got {data.shape[0]}"
        )
    out = np.empty((int(height), int(width), 4), dtype=np.uint8)
    _dec.decode_into(data, out)
    return out


def psnr(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8], channels: int = 3) -> float:
    """Peak signal-to-noise ratio in dB over the first ``channels`` channels
    (3 = RGB); ``inf`` for identical images."""
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    diff = a[..., :channels].astype(np.float64) - b[..., :channels].astype(np.float64)
    mse = float(np.mean(diff * diff))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0 * 255.0 / mse))
