# BC7 (BPTC unorm) decoder kernel: 16-byte blocks -> RGBA8 texels.
#
# Independent of the encoder: it shares only the format tables in
# bc7_tables.pxi, so an encoder bug cannot hide itself behind a matching decoder
# bug.  Bit-exact with the D3D11 reference decoding (verified in tests against
# texture2ddecoder and Pillow).  Reserved mode 8 (first byte 0) decodes to
# transparent black (0, 0, 0, 0), as the D3D11 specification requires.
#
# Thread rules: ``decode_into`` releases the GIL for the whole block loop and
# touches only its arguments, so any number of threads may call it at once.
# Failure modes: none inside the kernel; the Python layer (oxy.cook.bc7)
# validates lengths and shapes before calling.

from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memset

include "bc7_tables.pxi"


cdef inline int _bits(uint64_t lo, uint64_t hi, int pos, int n) noexcept nogil:
    """Read ``n`` (<= 8) bits starting at bit ``pos`` of the 128-bit block."""
    cdef uint64_t v
    if pos >= 64:
        v = hi >> (pos - 64)
    elif pos + n <= 64:
        v = lo >> pos
    else:
        v = (lo >> pos) | (hi << (64 - pos))
    return <int>(v & ((<uint64_t>1 << n) - 1))


cdef void decode_block(const uint8_t* blk, uint8_t* out) noexcept nogil:
    """Decode one block into ``out``: 16 texels x RGBA, row-major."""
    cdef uint64_t lo = 0, hi = 0
    cdef int i, s, e, c, mode, pos, part = 0, rot = 0, isel = 0, nbits, abits
    cdef int ep[3][2][4]
    cdef int idx[16]
    cdef int idx2[16]
    cdef int sub, wc, wa, ci, ai, t
    cdef const int* wtc
    cdef const int* wta
    cdef OxyBC7Mode m

    if blk[0] == 0:
        memset(out, 0, 64)
        return
    memset(ep, 0, sizeof(ep))
    mode = 0
    while not (blk[0] >> mode) & 1:
        mode += 1
    for i in range(8):
        lo |= (<uint64_t>blk[i]) << (8 * i)
        hi |= (<uint64_t>blk[8 + i]) << (8 * i)
    m = oxy_bc7_modes[mode]
    pos = mode + 1
    part = _bits(lo, hi, pos, m.pb)
    pos += m.pb
    rot = _bits(lo, hi, pos, m.rb)
    pos += m.rb
    isel = _bits(lo, hi, pos, m.isb)
    pos += m.isb
    for c in range(3):
        for s in range(m.ns):
            for e in range(2):
                ep[s][e][c] = _bits(lo, hi, pos, m.cb)
                pos += m.cb
    if m.ab:
        for s in range(m.ns):
            for e in range(2):
                ep[s][e][3] = _bits(lo, hi, pos, m.ab)
                pos += m.ab
    nbits = m.cb
    abits = m.ab
    if m.epb:
        for s in range(m.ns):
            for e in range(2):
                t = _bits(lo, hi, pos, 1)
                pos += 1
                for c in range(4):
                    ep[s][e][c] = (ep[s][e][c] << 1) | t
        nbits += 1
        abits += 1
    elif m.spb:
        for s in range(m.ns):
            t = _bits(lo, hi, pos, 1)
            pos += 1
            for e in range(2):
                for c in range(4):
                    ep[s][e][c] = (ep[s][e][c] << 1) | t
        nbits += 1
    for s in range(m.ns):
        for e in range(2):
            for c in range(3):
                ep[s][e][c] = oxy_bc7_expand(ep[s][e][c], nbits)
            ep[s][e][3] = oxy_bc7_expand(ep[s][e][3], abits) if m.ab else 255
    for i in range(16):
        t = m.ib - oxy_bc7_is_anchor(m.ns, part, i)
        idx[i] = _bits(lo, hi, pos, t)
        pos += t
    if m.ib2:
        for i in range(16):
            t = m.ib2 - (i == 0)
            idx2[i] = _bits(lo, hi, pos, t)
            pos += t
    for i in range(16):
        sub = oxy_bc7_subset_of(m.ns, part, i)
        if m.ib2 == 0:
            wtc = oxy_bc7_weights(m.ib)
            wc = wtc[idx[i]]
            wa = wc
        elif isel == 0:
            wtc = oxy_bc7_weights(m.ib)
            wta = oxy_bc7_weights(m.ib2)
            wc = wtc[idx[i]]
            wa = wta[idx2[i]]
        else:
            wtc = oxy_bc7_weights(m.ib2)
            wta = oxy_bc7_weights(m.ib)
            wc = wtc[idx2[i]]
            wa = wta[idx[i]]
        for c in range(3):
            out[4 * i + c] = <uint8_t>(((64 - wc) * ep[sub][0][c] + wc * ep[sub][1][c] + 32) >> 6)
        out[4 * i + 3] = <uint8_t>(((64 - wa) * ep[sub][0][3] + wa * ep[sub][1][3] + 32) >> 6)
        if rot:
            t = out[4 * i + 3]
            out[4 * i + 3] = out[4 * i + rot - 1]
            out[4 * i + rot - 1] = <uint8_t>t


def decode_into(const uint8_t[::1] blocks, uint8_t[:, :, ::1] out):
    """Decode BC7 ``blocks`` (row-major, 16 bytes each) into ``out`` (H, W, 4).

    The caller guarantees ``len(blocks) == ceil(W/4) * ceil(H/4) * 16`` and that
    ``out`` is C-contiguous uint8 with last dimension 4.  Texels of edge blocks
    that fall outside the image are dropped.  Releases the GIL; thread-safe.
    """
    cdef Py_ssize_t height = out.shape[0], width = out.shape[1]
    cdef Py_ssize_t bw = (width + 3) // 4, bh = (height + 3) // 4
    cdef Py_ssize_t bx, by, x, y, yy, xx
    cdef uint8_t texels[64]
    if out.shape[2] != 4:
        raise ValueError("out must have shape (H, W, 4)")
    if blocks.shape[0] != bw * bh * 16:
        raise ValueError("blocks length does not match the image size")
    with nogil:
        for by in range(bh):
            for bx in range(bw):
                decode_block(&blocks[(by * bw + bx) * 16], texels)
                for y in range(4):
                    yy = by * 4 + y
                    if yy >= height:
                        break
                    for x in range(4):
                        xx = bx * 4 + x
                        if xx >= width:
                            break
                        out[yy, xx, 0] = texels[16 * y + 4 * x]
                        out[yy, xx, 1] = texels[16 * y + 4 * x + 1]
                        out[yy, xx, 2] = texels[16 * y + 4 * x + 2]
                        out[yy, xx, 3] = texels[16 * y + 4 * x + 3]


def decode_block_bytes(const uint8_t[::1] block):
    """Decode a single 16-byte block; returns 64 bytes (16 RGBA texels, row-major)."""
    cdef uint8_t texels[64]
    if block.shape[0] != 16:
        raise ValueError("block must be 16 bytes")
    with nogil:
        decode_block(&block[0], texels)
    return bytes(texels[:64])
