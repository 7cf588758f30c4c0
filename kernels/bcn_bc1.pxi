# BC1 (opaque RGB, 8 bytes per block) block encoder and decoder for bcn.pyx.
#
# Block: colour0, colour1 as little-endian RGB565, then 16 two-bit indices
# (texel 0 lowest).  565 expands by bit replication.  colour0 > colour1: four
# colours, c2 = (2 c0 + c1) / 3 and c3 = (c0 + 2 c1) / 3; otherwise three
# colours, c2 = (c0 + c1) / 2 and c3 = black (transparent black in D3D).
# Division truncates, as in texture2ddecoder.
#
# Encoder (opaque content, so index 3 of the 3-colour mode is never used):
#   * one-colour blocks: per channel, the endpoint pair whose 1/3 interpolant
#     is nearest the colour (tables built at import, exact decoder arithmetic);
#   * otherwise the principal axis of the 16 colours (power iteration on the
#     covariance), endpoints at the extreme projections, then rounds of least
#     squares on the current indices (cluster weights 0, 1/3, 2/3, 1; sums from a
#     per-index histogram), every candidate quantised to 565 and scored with the
#     decoder's own palette (level 0: each texel's index from its projection on
#     the endpoint line; levels >= 1: the nearest of the palette entries);
#   * levels >= 1 also fit the 3-colour mode (weights 0, 1/2, 1) and keep it
#     where it is better, and level 2 hill-climbs each 565 endpoint channel +/-1.

cdef uint8_t _OM5[256][2]   # one-colour match: 5-bit (c0, c1) whose 1/3 point is nearest v
cdef uint8_t _OM6[256][2]


cdef inline int _x5(int c) noexcept nogil:
    return (c << 3) | (c >> 2)


cdef inline int _x6(int c) noexcept nogil:
    return (c << 2) | (c >> 4)


cdef void _bc1_tables():
    cdef int v, a, b, e, be, ea, eb
    for v in range(256):
        be = 1 << 30
        for a in range(32):
            for b in range(32):
                ea = _x5(a)
                eb = _x5(b)
                e = abs((2 * ea + eb) // 3 - v)
                if e < be:
                    be = e
                    _OM5[v][0] = <uint8_t>a
                    _OM5[v][1] = <uint8_t>b
        be = 1 << 30
        for a in range(64):
            for b in range(64):
                ea = _x6(a)
                eb = _x6(b)
                e = abs((2 * ea + eb) // 3 - v)
                if e < be:
                    be = e
                    _OM6[v][0] = <uint8_t>a
                    _OM6[v][1] = <uint8_t>b


cdef inline void _bc1_palette(int c0, int c1, int four, int* pal) noexcept nogil:
    """pal[12]: RGB of the four palette entries of 565 colours c0, c1."""
    cdef int ch
    pal[0] = _x5(c0 >> 11)
    pal[1] = _x6((c0 >> 5) & 63)
    pal[2] = _x5(c0 & 31)
    pal[3] = _x5(c1 >> 11)
    pal[4] = _x6((c1 >> 5) & 63)
    pal[5] = _x5(c1 & 31)
    for ch in range(3):
        if four:
            pal[6 + ch] = (2 * pal[ch] + pal[3 + ch]) // 3
            pal[9 + ch] = (pal[ch] + 2 * pal[3 + ch]) // 3
        else:
            pal[6 + ch] = (pal[ch] + pal[3 + ch]) // 2
            pal[9 + ch] = 0


cdef inline int _bc1_eval_proj(const int* px, const int* pal, uint8_t* idx) noexcept nogil:
    """4-colour error with each texel's index from its projection on the c0-c1
    line (level 0: no per-entry search)."""
    cdef int i, k, j, d0, d1, d2, err = 0
    cdef int dr = pal[3] - pal[0], dg = pal[4] - pal[1], db = pal[5] - pal[2]
    cdef int len2 = dr * dr + dg * dg + db * db
    cdef float scale = 3.0 / len2 if len2 > 0 else 0.0
    cdef int remap[4]
    remap[0] = 0
    remap[1] = 2
    remap[2] = 3
    remap[3] = 1
    for i in range(16):
        k = <int>(((px[3 * i] - pal[0]) * dr + (px[3 * i + 1] - pal[1]) * dg
                   + (px[3 * i + 2] - pal[2]) * db) * scale + 0.5)
        k = 0 if k < 0 else (3 if k > 3 else k)
        j = remap[k]
        d0 = px[3 * i] - pal[3 * j]
        d1 = px[3 * i + 1] - pal[3 * j + 1]
        d2 = px[3 * i + 2] - pal[3 * j + 2]
        idx[i] = <uint8_t>j
        err += d0 * d0 + d1 * d1 + d2 * d2
    return err


cdef inline int _bc1_eval(const int* px, int c0, int c1, int four, uint8_t* idx, int fast=0) noexcept nogil:
    """Squared RGB error of endpoints c0, c1 (4 colours if four, else 3 without
    black); best palette index per texel in idx."""
    cdef int pal[12]
    cdef int i, j, d0, d1, d2, e, be, bj, err = 0
    _bc1_palette(c0, c1, four, pal)
    if not four:
        pal[9] = pal[10] = pal[11] = 10000    # never chosen
    if four and fast:
        return _bc1_eval_proj(px, pal, idx)
    for i in range(16):
        be = 1 << 30
        bj = 0
        for j in range(4):
            d0 = px[3 * i] - pal[3 * j]
            d1 = px[3 * i + 1] - pal[3 * j + 1]
            d2 = px[3 * i + 2] - pal[3 * j + 2]
            e = d0 * d0 + d1 * d1 + d2 * d2
            bj = j if e < be else bj
            be = e if e < be else be
        idx[i] = <uint8_t>bj
        err += be
    return err


cdef inline int _q565(double r, double g, double b) noexcept nogil:
    cdef int r5 = <int>(r * 31.0 / 255.0 + 0.5)
    cdef int g6 = <int>(g * 63.0 / 255.0 + 0.5)
    cdef int b5 = <int>(b * 31.0 / 255.0 + 0.5)
    r5 = min(31, max(0, r5))
    g6 = min(63, max(0, g6))
    b5 = min(31, max(0, b5))
    return (r5 << 11) | (g6 << 5) | b5


cdef inline int _bc1_lsq(const int* px, const uint8_t* idx, int four, int* c0, int* c1) noexcept nogil:
    """Least-squares endpoints for the current indices; 0 if singular."""
    cdef double aa = 0, ab = 0, bb = 0, w, det
    cdef double ax[3]
    cdef double bx[3]
    cdef double e0[3]
    cdef double e1[3]
    cdef int i, ch
    ax[0] = ax[1] = ax[2] = bx[0] = bx[1] = bx[2] = 0
    cdef int cnt[4]
    cdef int sm[12]
    cdef double wt[4]
    cdef int k
    for k in range(4):
        cnt[k] = 0
        sm[3 * k] = sm[3 * k + 1] = sm[3 * k + 2] = 0
    for i in range(16):          # per-index histogram, then the 4 weights
        k = idx[i]
        cnt[k] += 1
        sm[3 * k] += px[3 * i]
        sm[3 * k + 1] += px[3 * i + 1]
        sm[3 * k + 2] += px[3 * i + 2]
    wt[0] = 0.0
    wt[1] = 1.0
    wt[2] = 1.0 / 3 if four else 0.5
    wt[3] = 2.0 / 3
    for k in range(4 if four else 3):
        w = wt[k]
        aa += cnt[k] * (1 - w) * (1 - w)
        ab += cnt[k] * (1 - w) * w
        bb += cnt[k] * w * w
        for ch in range(3):
            ax[ch] += (1 - w) * sm[3 * k + ch]
            bx[ch] += w * sm[3 * k + ch]
    det = aa * bb - ab * ab
    if det < 1e-9:
        return 0
    for ch in range(3):
        e0[ch] = (ax[ch] * bb - bx[ch] * ab) / det
        e1[ch] = (bx[ch] * aa - ax[ch] * ab) / det
    c0[0] = _q565(e0[0], e0[1], e0[2])
    c1[0] = _q565(e1[0], e1[1], e1[2])
    return 1


cdef inline void _bc1_pack(int c0, int c1, const uint8_t* idx, uint8_t* out) noexcept nogil:
    cdef uint32_t bits = 0
    cdef int i
    for i in range(16):
        bits |= (<uint32_t>idx[i]) << (2 * i)
    out[0] = <uint8_t>(c0 & 255)
    out[1] = <uint8_t>(c0 >> 8)
    out[2] = <uint8_t>(c1 & 255)
    out[3] = <uint8_t>(c1 >> 8)
    out[4] = <uint8_t>(bits & 255)
    out[5] = <uint8_t>((bits >> 8) & 255)
    out[6] = <uint8_t>((bits >> 16) & 255)
    out[7] = <uint8_t>(bits >> 24)


cdef inline void _bc1_finish(int c0, int c1, int four, uint8_t* idx, uint8_t* out) noexcept nogil:
    """Order the endpoints for the mode (4 colours: c0 > c1; 3: c0 <= c1),
    remapping indices, and write the block."""
    cdef int i, t
    if c0 == c1:
        for i in range(16):
            idx[i] = 0
    elif (four and c0 < c1) or (not four and c0 > c1):
        t = c0
        c0 = c1
        c1 = t
        for i in range(16):
            if idx[i] < 2:
                idx[i] ^= 1
            elif four:
                idx[i] ^= 1   # 2 <-> 3
    _bc1_pack(c0, c1, idx, out)


cdef int _bc1_fit(const int* px, int four, int level, int c0_in, int c1_in,
                  int* c0_out, int* c1_out, uint8_t* best_idx) noexcept nogil:
    """Refine endpoints from (c0_in, c1_in) for one mode; returns the error."""
    cdef uint8_t idx[16]
    cdef int best, err, it, c0 = c0_in, c1 = c1_in, n0, n1, step, improved, e, d, sh, mx
    cdef int shifts[3]
    cdef int maxes[3]
    best = _bc1_eval(px, c0, c1, four, best_idx, level == 0)
    c0_out[0] = c0
    c1_out[0] = c1
    for it in range(1 + level):
        if best == 0:
            break
        if not _bc1_lsq(px, best_idx, four, &n0, &n1):
            break
        if n0 == c0 and n1 == c1:
            break
        err = _bc1_eval(px, n0, n1, four, idx, level == 0)
        if err >= best:
            break
        best = err
        c0 = n0
        c1 = n1
        memcpy(best_idx, idx, 16)
    if level >= 2:
        shifts[0] = 11
        shifts[1] = 5
        shifts[2] = 0
        maxes[0] = 31
        maxes[1] = 63
        maxes[2] = 31
        for step in range(4):
            improved = 0
            for e in range(6):
                sh = shifts[e % 3]
                mx = maxes[e % 3]
                for d in range(-1, 2, 2):
                    n0 = c0
                    n1 = c1
                    if e < 3:
                        if ((c0 >> sh) & mx) + d < 0 or ((c0 >> sh) & mx) + d > mx:
                            continue
                        n0 = c0 + (d << sh)
                    else:
                        if ((c1 >> sh) & mx) + d < 0 or ((c1 >> sh) & mx) + d > mx:
                            continue
                        n1 = c1 + (d << sh)
                    err = _bc1_eval(px, n0, n1, four, idx)
                    if err < best:
                        best = err
                        c0 = n0
                        c1 = n1
                        memcpy(best_idx, idx, 16)
                        improved = 1
            if not improved or best == 0:
                break
    c0_out[0] = c0
    c1_out[0] = c1
    return best


cdef void _bc1_encode_block(const int* px, int level, uint8_t* out) noexcept nogil:
    cdef double mean[3]
    cdef double cov[6]
    cdef double axis[3]
    cdef double d[3]
    cdef double t, tmin, tmax, x, y, z, n
    cdef int i, ch, it, solid = 1, c0, c1, e4, e3, a0, a1, b0, b1
    cdef uint8_t idx[16]
    cdef uint8_t idx3[16]
    for i in range(1, 16):
        if px[3 * i] != px[0] or px[3 * i + 1] != px[1] or px[3 * i + 2] != px[2]:
            solid = 0
            break
    if solid:
        c0 = (_OM5[px[0]][0] << 11) | (_OM6[px[1]][0] << 5) | _OM5[px[2]][0]
        c1 = (_OM5[px[0]][1] << 11) | (_OM6[px[1]][1] << 5) | _OM5[px[2]][1]
        for i in range(16):
            idx[i] = 2
        _bc1_finish(c0, c1, 1, idx, out)
        return
    mean[0] = mean[1] = mean[2] = 0
    for i in range(16):
        for ch in range(3):
            mean[ch] += px[3 * i + ch]
    for ch in range(3):
        mean[ch] /= 16.0
    for ch in range(6):
        cov[ch] = 0
    for i in range(16):
        d[0] = px[3 * i] - mean[0]
        d[1] = px[3 * i + 1] - mean[1]
        d[2] = px[3 * i + 2] - mean[2]
        cov[0] += d[0] * d[0]
        cov[1] += d[0] * d[1]
        cov[2] += d[0] * d[2]
        cov[3] += d[1] * d[1]
        cov[4] += d[1] * d[2]
        cov[5] += d[2] * d[2]
    axis[0] = cov[0] + cov[1] + cov[2]
    axis[1] = cov[1] + cov[3] + cov[4]
    axis[2] = cov[2] + cov[4] + cov[5]
    for it in range(3):
        x = cov[0] * axis[0] + cov[1] * axis[1] + cov[2] * axis[2]
        y = cov[1] * axis[0] + cov[3] * axis[1] + cov[4] * axis[2]
        z = cov[2] * axis[0] + cov[4] * axis[1] + cov[5] * axis[2]
        n = max(fabs(x), max(fabs(y), fabs(z)))
        if n < 1e-12:
            break
        axis[0] = x / n
        axis[1] = y / n
        axis[2] = z / n
    n = sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2])
    if n < 1e-12:
        axis[0] = axis[1] = axis[2] = 0.57735
    else:
        axis[0] /= n
        axis[1] /= n
        axis[2] /= n
    tmin = 1e30
    tmax = -1e30
    for i in range(16):
        t = (px[3 * i] - mean[0]) * axis[0] + (px[3 * i + 1] - mean[1]) * axis[1] \
            + (px[3 * i + 2] - mean[2]) * axis[2]
        if t < tmin:
            tmin = t
        if t > tmax:
            tmax = t
    c0 = _q565(mean[0] + axis[0] * tmax, mean[1] + axis[1] * tmax, mean[2] + axis[2] * tmax)
    c1 = _q565(mean[0] + axis[0] * tmin, mean[1] + axis[1] * tmin, mean[2] + axis[2] * tmin)
    e4 = _bc1_fit(px, 1, level, c0, c1, &a0, &a1, idx)
    if level >= 1 and e4 > 0:
        e3 = _bc1_fit(px, 0, level, c0, c1, &b0, &b1, idx3)
        if e3 < e4:
            _bc1_finish(b0, b1, 0, idx3, out)
            return
    _bc1_finish(a0, a1, 1, idx, out)


cdef inline void _bc1_decode_block(const uint8_t* blk, uint8_t* out, Py_ssize_t row_stride) noexcept nogil:
    """Decode one BC1 block to RGBA8 (alpha 255; texture2ddecoder's opaque black
    for index 3 of the 3-colour mode); texel (x, y) at out + y*row_stride + 4x."""
    cdef int c0 = blk[0] | (blk[1] << 8), c1 = blk[2] | (blk[3] << 8), i, k
    cdef int pal[12]
    cdef uint32_t bits = blk[4] | (blk[5] << 8) | (blk[6] << 16) | (<uint32_t>blk[7] << 24)
    cdef uint8_t* p
    _bc1_palette(c0, c1, c0 > c1, pal)
    for i in range(16):
        k = (bits >> (2 * i)) & 3
        p = out + (i >> 2) * row_stride + 4 * (i & 3)
        p[0] = <uint8_t>pal[3 * k]
        p[1] = <uint8_t>pal[3 * k + 1]
        p[2] = <uint8_t>pal[3 * k + 2]
        p[3] = 255
