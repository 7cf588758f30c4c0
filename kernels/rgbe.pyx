# cython: language_level=3
"""Radiance RGBE scanline decoding (new-style RLE, flat, and old-style RLE) to float32 RGB.

GIL-free over the whole image; no Python objects in the loop. Used by
``oxy.cook.image_decode`` for ``.hdr`` files (Pillow has no Radiance reader).
Conversion follows stb_image: ``value * 2**(e - 136)``, zero when e == 0.
"""
from libc.math cimport ldexpf
from libc.string cimport memcpy
from libc.stdlib cimport malloc, free

# Error codes returned by decode_rgbe (0 = success). The Python layer names them.
cdef enum:
    ERR_TRUNCATED = 1
    ERR_BAD_RUN = 2
    ERR_NO_MEMORY = 3


cdef int _read_flat(const unsigned char[::1] src, Py_ssize_t* pos, unsigned char* line,
                    Py_ssize_t width, Py_ssize_t n) noexcept nogil:
    """Flat RGBE pixels, with old-style run repeats (1,1,1,count)."""
    cdef Py_ssize_t x = 0, k, shift = 0, count
    while x < width:
        if pos[0] + 4 > n:
            return ERR_TRUNCATED
        if src[pos[0]] == 1 and src[pos[0] + 1] == 1 and src[pos[0] + 2] == 1:
            if x == 0:
                return ERR_BAD_RUN
            count = (<Py_ssize_t>src[pos[0] + 3]) << shift
            if x + count > width:
                return ERR_BAD_RUN
            for k in range(count):
                memcpy(&line[(x + k) * 4], &line[(x - 1) * 4], 4)
            x += count
            shift += 8
        else:
            memcpy(&line[x * 4], &src[pos[0]], 4)
            x += 1
            shift = 0
        pos[0] += 4
    return 0


cdef int _read_rle(const unsigned char[::1] src, Py_ssize_t* pos, unsigned char* line,
                   Py_ssize_t width, Py_ssize_t n) noexcept nogil:
    """New-style RLE: the four channels one after the other, each in runs."""
    cdef Py_ssize_t channel, x, count, k
    cdef unsigned char value
    pos[0] += 4  # the 2, 2, width_hi, width_lo marker
    for channel in range(4):
        x = 0
        while x < width:
            if pos[0] >= n:
                return ERR_TRUNCATED
            count = src[pos[0]]
            pos[0] += 1
            if count > 128:
                count -= 128
                if x + count > width or pos[0] >= n:
                    return ERR_BAD_RUN if x + count > width else ERR_TRUNCATED
                value = src[pos[0]]
                pos[0] += 1
                for k in range(count):
                    line[(x + k) * 4 + channel] = value
            else:
                if count == 0 or x + count > width:
                    return ERR_BAD_RUN
                if pos[0] + count > n:
                    return ERR_TRUNCATED
                for k in range(count):
                    line[(x + k) * 4 + channel] = src[pos[0] + k]
                pos[0] += count
            x += count
    return 0


def decode_rgbe(const unsigned char[::1] src, Py_ssize_t offset, float[:, :, ::1] out):
    """Decode scanlines starting at ``offset`` into ``out`` (height, width, 3).

    Returns (error_code, byte_position): 0 on success; 1 truncated, 2 a bad run,
    3 out of memory, with the position where decoding stopped.
    """
    cdef Py_ssize_t height = out.shape[0], width = out.shape[1], n = src.shape[0]
    cdef Py_ssize_t pos = offset, y, x
    cdef int err = 0
    cdef unsigned char* line
    cdef float f
    if out.shape[2] != 3:
        raise ValueError("out must have shape (height, width, 3)")
    with nogil:
        line = <unsigned char*>malloc(width * 4 if width > 0 else 4)
        if line == NULL:
            err = ERR_NO_MEMORY
        y = 0
        while err == 0 and y < height:
            if (8 <= width < 32768 and pos + 4 <= n and src[pos] == 2 and src[pos + 1] == 2
                    and (src[pos + 2] & 0x80) == 0
                    and ((<Py_ssize_t>src[pos + 2]) << 8 | src[pos + 3]) == width):
                err = _read_rle(src, &pos, line, width, n)
            else:
                err = _read_flat(src, &pos, line, width, n)
            if err == 0:
                for x in range(width):
                    if line[x * 4 + 3] == 0:
                        out[y, x, 0] = 0
                        out[y, x, 1] = 0
                        out[y, x, 2] = 0
                    else:
                        f = ldexpf(1.0, <int>line[x * 4 + 3] - 136)
                        out[y, x, 0] = line[x * 4] * f
                        out[y, x, 1] = line[x * 4 + 1] * f
                        out[y, x, 2] = line[x * 4 + 2] * f
            y += 1
        if line != NULL:
            free(line)
    return err, pos
