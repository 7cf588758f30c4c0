# BC1, BC4, BC5 and BC6H (unsigned) block compression kernels: encoders and
# decoders for oxy.cook.bcn.
#
# Per-format block code lives in bcn_bc4.pxi (BC4, and BC5 = two BC4 blocks),
# bcn_bc1.pxi (BC1, opaque) and bcn_bc6h.pxi (BC6H_UF16); the vectorised
# level-0 ("ultrafast") encoders are C in bcn_simd.h (scalar, SSE2 and AVX2
# paths giving identical bytes); this file holds the image drivers.
#
# Levels: 0 ultrafast (bcn_simd.h), 1 fast, 2 normal, 3 high (the .pxi block
# encoders take level - 1).  SIMD path: the best this CPU runs, or the one
# named by the environment variable OXY_BCN_SIMD (scalar / sse2 / avx2, read at
# import, capped at what the CPU runs); each encoder's ``simd`` argument forces
# one (tests compare the bytes of every path).  Blocks are 4x4 texels in row-major block order; encoders
# gather each block straight from the caller's array with clamped coordinates
# (edge replication; no padded copy), decoders write only the texels inside
# the image.
#
# Thread rules: every function releases the GIL over its whole block loop,
# uses only stack memory per block plus its own output object, and is
# deterministic (same input and level -> same bytes on any thread).  The BC1
# one-colour tables and the BC6H log2(1 + x) table are built once at import,
# before any caller can run.
# Failure modes: ValueError for a bad shape, channel, level or buffer length;
# beyond that the kernels trust their caller (oxy.cook.bcn) to have validated
# input.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libc.math cimport sqrt, fabs, ldexp, log2
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

import os

cdef extern from "bcn_simd.h" nogil:
    const char* bcn_path_names[3]
    int bcn_simd_max_path()
    void bcn_encode_bc45_ultra(const uint8_t* img, Py_ssize_t h, Py_ssize_t w, int nch, int ch0, int ch1,
                               uint8_t* out, int path)
    void bcn_simd_set_tables(const uint8_t* om5, const uint8_t* om6)
    void bcn_encode_bc1_ultra(const uint8_t* img, Py_ssize_t h, Py_ssize_t w, int nch, uint8_t* out, int path)
    void bcn_simd_set_bc6h_layout(const signed char* layout)
    void bcn_encode_bc6h_ultra(const uint16_t* img, Py_ssize_t h, Py_ssize_t w, int nch, uint8_t* out, int path)

include "bc7_tables.pxi"
include "bcn_bc4.pxi"
include "bcn_bc1.pxi"
include "bcn_bc6h.pxi"

_bc1_tables()
_bc4_tables()
bcn_simd_set_tables(&_OM5[0][0], &_OM6[0][0])
bcn_simd_set_bc6h_layout(&oxy_bc6h_layout[0][0])


#: SIMD path names, by path number (the higher, the wider).
SIMD_PATHS = ("scalar", "sse2", "avx2")
cdef int _MAX_PATH = bcn_simd_max_path()


cdef int _env_path():
    name = os.environ.get("OXY_BCN_SIMD", "")
    if name in SIMD_PATHS:
        return min(SIMD_PATHS.index(name), _MAX_PATH)
    return _MAX_PATH


cdef int _PATH = _env_path()


def simd_path():
    """Name of the SIMD path the level-0 encoders use by default."""
    return SIMD_PATHS[_PATH]


def simd_paths():
    """Names of every path this CPU runs (force one with an encoder's ``simd``)."""
    return SIMD_PATHS[:_MAX_PATH + 1]


cdef int _check_simd(int simd) except -2:
    if simd < 0:
        return _PATH
    if simd > _MAX_PATH:
        raise ValueError(f"simd path {simd} is not supported on this CPU (max {_MAX_PATH})")
    return simd


def _check_level(int level):
    if level < 0 or level > 3:
        raise ValueError("level must be 0, 1, 2 or 3")


def encode_bc4(const uint8_t[:, :, ::1] img, int channel=0, int level=2, int simd=-1):
    """Encode channel ``channel`` of an (H, W, C) uint8 image to BC4 blocks."""
    return _encode_bc45(img, channel, -1, level, simd)


def encode_bc5(const uint8_t[:, :, ::1] img, int channel0=0, int channel1=1, int level=2, int simd=-1):
    """Encode channels ``channel0`` (red) and ``channel1`` (green) of an
    (H, W, C) uint8 image to BC5 blocks."""
    if channel1 < 0:
        raise ValueError("channel1 must be >= 0")
    return _encode_bc45(img, channel0, channel1, level, simd)


cdef _encode_bc45(const uint8_t[:, :, ::1] img, int ch0, int ch1, int level, int simd):
    cdef Py_ssize_t height = img.shape[0], width = img.shape[1], nch = img.shape[2]
    cdef Py_ssize_t bw, bh, bx, by, x, y, bsize
    cdef int v0[16]
    cdef int v1[16]
    cdef const uint8_t* rows[4]
    cdef Py_ssize_t xo[4]
    cdef uint8_t* outp
    cdef uint8_t* blk
    _check_level(level)
    if height < 1 or width < 1:
        raise ValueError("image must have H, W >= 1")
    if ch0 < 0 or ch0 >= nch or ch1 >= nch:
        raise ValueError(f"channels {ch0}, {ch1} out of range for {nch} channels")
    bw = (width + 3) // 4
    bh = (height + 3) // 4
    bsize = 8 if ch1 < 0 else 16
    cdef int path = _check_simd(simd)
    res = PyBytes_FromStringAndSize(NULL, bw * bh * bsize)
    outp = <uint8_t*>PyBytes_AS_STRING(res)
    if level == 0:
        with nogil:
            bcn_encode_bc45_ultra(&img[0, 0, 0], height, width, <int>nch, ch0, ch1, outp, path)
        return res
    level -= 1
    with nogil:
        for by in range(bh):
            for y in range(4):
                rows[y] = &img[min(by * 4 + y, height - 1), 0, 0]
            for bx in range(bw):
                for x in range(4):
                    xo[x] = min(bx * 4 + x, width - 1) * nch
                for y in range(4):
                    for x in range(4):
                        v0[4 * y + x] = rows[y][xo[x] + ch0]
                if ch1 >= 0:
                    for y in range(4):
                        for x in range(4):
                            v1[4 * y + x] = rows[y][xo[x] + ch1]
                blk = outp + bsize * (by * bw + bx)
                _bc4_encode_block(v0, level, blk)
                if ch1 >= 0:
                    _bc4_encode_block(v1, level, blk + 8)
    return res


def encode_bc1(const uint8_t[:, :, ::1] img, int level=2, int simd=-1):
    """Encode the first three channels of an (H, W, C >= 3) uint8 image to
    opaque BC1 blocks."""
    cdef Py_ssize_t height = img.shape[0], width = img.shape[1], nch = img.shape[2]
    cdef Py_ssize_t bw, bh, bx, by, x, y, yy, xx
    cdef int px[48]
    cdef const uint8_t* rows[4]
    cdef Py_ssize_t xo[4]
    cdef uint8_t* outp
    _check_level(level)
    if height < 1 or width < 1 or nch < 3:
        raise ValueError("image must have shape (H, W, C) with H, W >= 1 and C >= 3")
    bw = (width + 3) // 4
    bh = (height + 3) // 4
    cdef int path = _check_simd(simd)
    res = PyBytes_FromStringAndSize(NULL, bw * bh * 8)
    outp = <uint8_t*>PyBytes_AS_STRING(res)
    if level == 0:
        with nogil:
            bcn_encode_bc1_ultra(&img[0, 0, 0], height, width, <int>nch, outp, path)
        return res
    level -= 1
    with nogil:
        for by in range(bh):
            for y in range(4):
                rows[y] = &img[min(by * 4 + y, height - 1), 0, 0]
            for bx in range(bw):
                for x in range(4):
                    xo[x] = min(bx * 4 + x, width - 1) * nch
                for y in range(4):
                    for x in range(4):
                        px[12 * y + 3 * x] = rows[y][xo[x]]
                        px[12 * y + 3 * x + 1] = rows[y][xo[x] + 1]
                        px[12 * y + 3 * x + 2] = rows[y][xo[x] + 2]
                _bc1_encode_block(px, level, outp + 8 * (by * bw + bx))
    return res


cdef inline int _clamp_half(uint16_t v) noexcept nogil:
    """Half bits -> UF16 range: negatives and NaN to 0, +inf and above to 0x7BFF."""
    if v & 0x8000:
        return 0
    if v > 0x7C00:
        return 0
    if v > 0x7BFF:
        return 0x7BFF
    return v


def encode_bc6h(const uint16_t[:, :, ::1] half, int level=2, int simd=-1):
    """Encode the first three channels of an (H, W, C >= 3) array of float16
    bits to BC6H_UF16 blocks (negatives and NaN clamp to 0, +inf to 65504)."""
    cdef Py_ssize_t height = half.shape[0], width = half.shape[1], nch = half.shape[2]
    cdef Py_ssize_t bw, bh, bx, by, x, y, yy, xx
    cdef int h[48]
    cdef uint8_t* outp
    _check_level(level)
    if height < 1 or width < 1 or nch < 3:
        raise ValueError("image must have shape (H, W, C) with H, W >= 1 and C >= 3")
    bw = (width + 3) // 4
    bh = (height + 3) // 4
    cdef int path = _check_simd(simd)
    res = PyBytes_FromStringAndSize(NULL, bw * bh * 16)
    outp = <uint8_t*>PyBytes_AS_STRING(res)
    if level == 0:
        with nogil:
            bcn_encode_bc6h_ultra(&half[0, 0, 0], height, width, <int>nch, outp, path)
        return res
    level -= 1
    with nogil:
        for by in range(bh):
            for bx in range(bw):
                for y in range(4):
                    yy = min(by * 4 + y, height - 1)
                    for x in range(4):
                        xx = min(bx * 4 + x, width - 1)
                        h[12 * y + 3 * x] = _clamp_half(half[yy, xx, 0])
                        h[12 * y + 3 * x + 1] = _clamp_half(half[yy, xx, 1])
                        h[12 * y + 3 * x + 2] = _clamp_half(half[yy, xx, 2])
                _bc6_encode_block(h, level, outp + 16 * (by * bw + bx))
    return res


cdef int _check_blocks(Py_ssize_t nbytes, Py_ssize_t height, Py_ssize_t width, int bsize) except -1:
    cdef Py_ssize_t want = ((width + 3) // 4) * ((height + 3) // 4) * bsize
    if height < 1 or width < 1:
        raise ValueError("output must have H, W >= 1")
    if nbytes != want:
        raise ValueError(f"blocks must be {want} bytes for {width}x{height}, got {nbytes}")
    return 0


def decode_bc1_into(const uint8_t[::1] blocks, uint8_t[:, :, ::1] out):
    """Decode BC1 blocks into ``out`` (H, W, 4) RGBA8."""
    cdef Py_ssize_t height = out.shape[0], width = out.shape[1], bw, bh, bx, by, x, y
    cdef uint8_t tmp[64]
    if out.shape[2] != 4:
        raise ValueError("out must have shape (H, W, 4)")
    _check_blocks(blocks.shape[0], height, width, 8)
    bw = (width + 3) // 4
    bh = (height + 3) // 4
    with nogil:
        for by in range(bh):
            for bx in range(bw):
                _bc1_decode_block(&blocks[8 * (by * bw + bx)], tmp, 16)
                for y in range(min(4, height - by * 4)):
                    for x in range(min(4, width - bx * 4)):
                        memcpy(&out[by * 4 + y, bx * 4 + x, 0], &tmp[16 * y + 4 * x], 4)


def decode_bc45_into(const uint8_t[::1] blocks, uint8_t[:, :, ::1] out):
    """Decode BC4 (``out`` (H, W, 1)) or BC5 (``out`` (H, W, 2)) blocks."""
    cdef Py_ssize_t height = out.shape[0], width = out.shape[1], nch = out.shape[2]
    cdef Py_ssize_t bw, bh, bx, by, x, y, c
    cdef uint8_t tmp[32]
    if nch != 1 and nch != 2:
        raise ValueError("out must have shape (H, W, 1) or (H, W, 2)")
    _check_blocks(blocks.shape[0], height, width, 8 * nch)
    bw = (width + 3) // 4
    bh = (height + 3) // 4
    with nogil:
        for by in range(bh):
            for bx in range(bw):
                for c in range(nch):
                    _bc4_decode_block(&blocks[8 * nch * (by * bw + bx) + 8 * c], tmp + c, <int>nch)
                for y in range(min(4, height - by * 4)):
                    for x in range(min(4, width - bx * 4)):
                        for c in range(nch):
                            out[by * 4 + y, bx * 4 + x, c] = tmp[nch * (4 * y + x) + c]


def decode_bc6h_into(const uint8_t[::1] blocks, uint16_t[:, :, ::1] out, bint bx_quirk=False):
    """Decode BC6H_UF16 blocks into ``out`` (H, W, 3) float16 bits.  ``bx_quirk``
    reproduces texture2ddecoder's endpoint unquantize (cross-checks only)."""
    cdef Py_ssize_t height = out.shape[0], width = out.shape[1], bw, bh, bx, by, x, y
    cdef uint16_t tmp[48]
    cdef int quirk = bx_quirk
    if out.shape[2] != 3:
        raise ValueError("out must have shape (H, W, 3)")
    _check_blocks(blocks.shape[0], height, width, 16)
    bw = (width + 3) // 4
    bh = (height + 3) // 4
    with nogil:
        for by in range(bh):
            for bx in range(bw):
                _bc6_decode_block(&blocks[16 * (by * bw + bx)], tmp, 12, quirk)
                for y in range(min(4, height - by * 4)):
                    for x in range(min(4, width - bx * 4)):
                        memcpy(&out[by * 4 + y, bx * 4 + x, 0], &tmp[12 * y + 3 * x], 6)
