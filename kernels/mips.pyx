# cython: language_level=3
"""Mip-chain kernel: streams a whole chain from level 0 in one pass, GIL released.

Design
------
Every level transition ``l -> l+1`` is a *stage*. Rows of level ``l`` are pushed into
stage ``l`` one at a time, top to bottom; as soon as the rows an output row needs are
in, the stage emits that row of level ``l+1`` (encoded into the caller's output array)
and pushes it, still in float32, into stage ``l+1``. So the whole chain is produced in
a single top-to-bottom sweep over level 0 and the extra memory is a few rows per level
(``O(width * taps)``), never a float copy of a level. Intermediate levels are carried
in float32 (straight, i.e. not premultiplied, colour + alpha), never re-quantised.

Filters are separable tap tables per dimension:

* box, even ``n -> n/2``: 2 taps (1/2, 1/2); a stage whose both dimensions are even
  uses a fused 2x2 loop (and reads uint8 level 0 directly through lookup tables);
* box, odd ``n = 2m+1 -> m``: the 3-tap polyphase box, weights ``(m-x, m, x+1) / n``,
  so every parent texel contributes the same total weight ``m/n`` (mean preserved);
* ``n == 1``: identity (a dimension that reached 1 stays 1);
* kaiser: Kaiser-windowed sinc (width 3, alpha 4, as NVTT's mipmap filter), point
  sampled at the parent texel centres, scaled by ``n/m``, normalised per output, edges
  mirrored.

Colour is alpha weighted: ``c = sum(w a c) / sum(w a)``; when ``sum(w a)`` is not
above a threshold (0 for box, whose weights are positive) the unweighted ``sum(w c)``
is used instead. Alpha is filtered linearly. Normal maps disable alpha weighting and
are renormalised only when encoded (the float chain keeps the plain averages).

Thread rules: every entry point takes typed memoryviews, allocates its scratch with
``PyMem_RawMalloc`` (visible to tracemalloc), and runs its whole loop inside
``with nogil``; no shared state, so concurrent calls on different outputs are safe and
results are deterministic. Failure modes: ``MemoryError`` if scratch cannot be
allocated; argument checking is the caller's job (``oxy.cook.mips``).
"""
from cpython.mem cimport PyMem_RawMalloc, PyMem_RawFree
from libc.math cimport INFINITY, ceil, floor, nextafterf, sin, sqrt
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.string cimport memcpy, memset

cdef enum:
    FILTER_BOX = 0
    FILTER_KAISER = 1

cdef enum:
    ENC_SRGB8 = 0
    ENC_UNORM8 = 1
    ENC_NORMAL8 = 2
    ENC_FLOAT = 3
    ENC_NORMAL_FLOAT = 4

# Public mirrors of the enums for the Python layer.
BOX = FILTER_BOX
KAISER = FILTER_KAISER
ENCODE_SRGB8 = ENC_SRGB8
ENCODE_UNORM8 = ENC_UNORM8
ENCODE_NORMAL8 = ENC_NORMAL8
ENCODE_FLOAT = ENC_FLOAT
ENCODE_NORMAL_FLOAT = ENC_NORMAL_FLOAT

cdef double KAISER_WIDTH = 3.0
cdef double KAISER_ALPHA = 4.0
cdef double PI = 3.14159265358979323846
# Channels of a horizontally filtered texel: P0 P1 P2 (sum w*a*c), AW (sum w*a for
# weighting), C0 C1 C2 (sum w*c), A (sum w*alpha).
cdef enum:
    NCH = 8


ctypedef struct Taps:
    int n_out
    int T
    int span
    int32_t* idx
    float* w
    int32_t* hi


ctypedef struct Stage:
    int src_w
    int src_h
    int dst_w
    int dst_h
    bint fast2
    Taps h
    Taps v
    int R
    int next_out
    const float* held
    float* ring
    float* acc
    float* expand
    float* out_rows
    uint8_t* out8
    float* outf


ctypedef struct Chain:
    Stage* stages
    int nstages
    bint alpha_weighted
    bint clamp_colour
    float colour_lo
    float colour_hi
    bint clamp_alpha
    float min_weight
    int encode
    const float* dec_lut
    const uint8_t* enc_lut
    float enc_scale


include "mips_taps.pxi"
include "mips_stages.pxi"

# ---------------------------------------------------------------- Python entry points

def check_levels(image, list levels):
    """Raise ValueError unless ``levels[1:]`` are C-contiguous RGBA arrays of the
    image's dtype with the D3D mip sizes (guards the raw pointers build_chain writes)."""
    cdef int w = image.shape[1], h = image.shape[0], i
    for i in range(1, len(levels)):
        w = w >> 1 if w > 1 else 1
        h = h >> 1 if h > 1 else 1
        level = levels[i]
        if (level.shape != (h, w, 4) or level.dtype != image.dtype
                or not level.flags.c_contiguous or not level.flags.writeable):
            raise ValueError(f"levels[{i}] must be a writeable C-contiguous ({h}, {w}, 4) "
                             f"{image.dtype} array")
    if w != 1 or h != 1:
        raise ValueError("levels must run down to 1x1")


def build_chain(image, list levels, int filter_kind, int encode, bint alpha_weighted,
                const float[::1] dec_lut, const uint8_t[::1] enc_lut):
    """Fill ``levels[1:]`` (pre-allocated C-contiguous outputs) from ``levels[0]``-sized
    ``image`` (uint8 or float32 RGBA, C-contiguous), releasing the GIL for the whole run.

    ``encode`` selects the output coding (ENCODE_*); uint8 inputs are decoded with
    ``dec_lut`` (256 colour entries; alpha is always v/255); ``enc_lut`` is the
    linear -> sRGB table used by ENCODE_SRGB8. Raises MemoryError on allocation failure.
    """
    cdef const uint8_t[:, :, ::1] src8
    cdef const float[:, :, ::1] srcf
    cdef uint8_t[:, :, ::1] o8
    cdef float[:, :, ::1] of
    cdef Chain ch
    cdef int i, rc = 0, nst = len(levels) - 1
    cdef int w = image.shape[1], h = image.shape[0]
    cdef bint is_u8 = image.dtype.itemsize == 1
    if nst <= 0:
        return
    check_levels(image, levels)
    if dec_lut.shape[0] != 256 or enc_lut.shape[0] < 2:
        raise ValueError("dec_lut must have 256 entries and enc_lut at least 2")
    memset(&ch, 0, sizeof(Chain))
    ch.nstages = nst
    ch.alpha_weighted = alpha_weighted
    ch.encode = encode
    ch.min_weight = 0.0 if filter_kind == FILTER_BOX else <float>(1.0 / 1024.0)
    ch.clamp_colour = is_u8
    ch.colour_lo = -1.0 if encode == ENC_NORMAL8 else 0.0  # float data is never clamped
    ch.colour_hi = 1.0
    ch.clamp_alpha = is_u8
    ch.dec_lut = &dec_lut[0]
    ch.enc_lut = &enc_lut[0]
    ch.enc_scale = <float>(enc_lut.shape[0] - 1)
    ch.stages = <Stage*>PyMem_RawMalloc(nst * sizeof(Stage))
    if ch.stages == NULL:
        raise MemoryError("mip chain: cannot allocate stages")
    memset(ch.stages, 0, nst * sizeof(Stage))
    for i in range(nst):
        if is_u8:
            o8 = levels[i + 1]
            ch.stages[i].out8 = &o8[0, 0, 0]
        else:
            of = levels[i + 1]
            ch.stages[i].outf = &of[0, 0, 0]
    try:
        if is_u8:
            src8 = image
            with nogil:
                rc = chain_init(&ch, w, h, filter_kind)
                if rc == 0:
                    rc = run_u8(&ch, &src8[0, 0, 0], w, h)
        else:
            srcf = image
            with nogil:
                rc = chain_init(&ch, w, h, filter_kind)
                if rc == 0:
                    rc = run_f32(&ch, &srcf[0, 0, 0], w, h)
    finally:
        for i in range(nst):
            stage_free(&ch.stages[i])
        PyMem_RawFree(ch.stages)
    if rc < 0:
        raise MemoryError("mip chain: cannot allocate row buffers")


include "mips_coverage.pxi"
