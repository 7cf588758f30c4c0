# BC4 (one unorm channel, 8 bytes per block) block encoder and decoder, used by
# bcn.pyx for BC4 and for both halves of BC5.
#
# Block: byte 0 = e0, byte 1 = e1, then 16 three-bit indices (texel 0 lowest).
# e0 > e1: 8 values, e0, e1 and six interpolants (k*e0 + (7-k)*e1) / 7;
# e0 <= e1: 6 values, e0, e1, four interpolants / 5, then 0 and 255.
# Interpolants use truncating integer division, as texture2ddecoder does.
#
# Encoder: "t-order" k = 0..7 runs from the high endpoint to the low one
# (index = 0 for k 0, 1 for k 7, k + 1 otherwise).  Endpoints start at the
# block's min/max, then rounds of least squares (weights k/7 from the current
# indices) and, at higher levels, a +/-1 hill climb on both endpoints, each
# candidate scored exactly with the decoder's own integer palette.  The 6-value
# mode is tried when the block touches 0 or 255 (levels >= 1).

cdef float _BC4_W[3][8]     # (1-w)^2, (1-w)w, w^2 for w = k/7
cdef float _BC4_W5[3][8]    # the same for w = k/5 (k <= 5)


cdef void _bc4_tables():
    cdef int k
    cdef float w
    for k in range(8):
        w = k / 7.0
        _BC4_W[0][k] = (1 - w) * (1 - w)
        _BC4_W[1][k] = (1 - w) * w
        _BC4_W[2][k] = w * w
        w = min(k, 5) / 5.0
        _BC4_W5[0][k] = (1 - w) * (1 - w)
        _BC4_W5[1][k] = (1 - w) * w
        _BC4_W5[2][k] = w * w


cdef inline int _bc4_eval8(const int* v, int hi, int lo, uint8_t* kk) noexcept nogil:
    """Squared error of the 8-value palette (hi > lo); best t-order in kk.  The
    rounded position along [hi, lo] is the nearest entry or next to it (the
    palette truncates), so both neighbours are checked, without branches
    (sentinels outside the palette)."""
    cdef int p[10]
    cdef int k, i, x, d, dn, dp, e, en, ep, err = 0
    cdef float scale = 7.0 / (hi - lo)
    p[0] = 10000
    for k in range(8):
        p[k + 1] = ((7 - k) * hi + k * lo) // 7
    p[9] = -10000
    for i in range(16):
        x = v[i]
        k = <int>((hi - x) * scale + 0.5)
        k = 0 if k < 0 else (7 if k > 7 else k)
        d = x - p[k + 1]
        dp = x - p[k]
        dn = x - p[k + 2]
        e = d * d
        ep = dp * dp
        en = dn * dn
        if ep < e:
            e = ep
            k = k - 1
        if en < e:
            e = en
            k = k + 1
        kk[i] = <uint8_t>k
        err += e
    return err


cdef inline void _bc4_lsq(const int* v, const uint8_t* kk, int levels, int* hi, int* lo) noexcept nogil:
    """Least-squares endpoints for weights k/(levels-1) (k = 0 at hi); leaves
    hi/lo unchanged when the system is singular."""
    cdef int cnt[8]
    cdef int sm[8]
    cdef float aa = 0, ab = 0, bb = 0, ax = 0, bx = 0, w, det, h, l, n = levels - 1
    cdef int i, k
    for k in range(8):
        cnt[k] = 0
        sm[k] = 0
    for i in range(16):
        cnt[kk[i]] += 1
        sm[kk[i]] += v[i]
    for k in range(levels):
        w = k / n
        if levels == 8:
            aa += cnt[k] * _BC4_W[0][k]
            ab += cnt[k] * _BC4_W[1][k]
            bb += cnt[k] * _BC4_W[2][k]
        else:
            aa += cnt[k] * _BC4_W5[0][k]
            ab += cnt[k] * _BC4_W5[1][k]
            bb += cnt[k] * _BC4_W5[2][k]
        ax += (1 - w) * sm[k]
        bx += w * sm[k]
    det = aa * bb - ab * ab
    if det < 1e-6:
        return
    det = 1.0 / det
    h = (ax * bb - bx * ab) * det
    l = (bx * aa - ax * ab) * det
    hi[0] = min(255, max(0, <int>(h + 0.5)))
    lo[0] = min(255, max(0, <int>(l + 0.5)))


cdef inline int _bc4_eval6(const int* v, int e0, int e1, uint8_t* idx) noexcept nogil:
    """Squared error of the 6-value palette (e0 <= e1) with 0 and 255; indices in idx."""
    cdef int pal[8]
    cdef int i, j, d, bd, bj, err = 0
    pal[0] = e0
    pal[1] = e1
    for j in range(1, 5):
        pal[1 + j] = ((5 - j) * e0 + j * e1) // 5
    pal[6] = 0
    pal[7] = 255
    for i in range(16):
        bd = 1 << 30
        bj = 0
        for j in range(8):
            d = v[i] - pal[j]
            if d * d < bd:
                bd = d * d
                bj = j
        idx[i] = <uint8_t>bj
        err += bd
    return err


cdef inline void _bc4_pack(int e0, int e1, const uint8_t* idx, uint8_t* out) noexcept nogil:
    cdef uint64_t bits = 0
    cdef int i
    for i in range(16):
        bits |= (<uint64_t>idx[i]) << (3 * i)
    out[0] = <uint8_t>e0
    out[1] = <uint8_t>e1
    for i in range(6):
        out[2 + i] = <uint8_t>(bits >> (8 * i))


cdef void _bc4_encode_block(const int* v, int level, uint8_t* out) noexcept nogil:
    cdef int i, it, mn = 255, mx = 0, hi, lo, bhi, blo, err, best, step, improved
    cdef int nh, nl, dh, dl, e0, e1, err6, iters
    cdef uint8_t kk[16]
    cdef uint8_t bk[16]
    cdef uint8_t idx[16]
    cdef uint8_t idx6[16]
    for i in range(16):
        if v[i] < mn:
            mn = v[i]
        if v[i] > mx:
            mx = v[i]
    if mn == mx:
        for i in range(16):
            idx[i] = 0
        _bc4_pack(mx, mx, idx, out)
        return
    bhi = mx
    blo = mn
    best = _bc4_eval8(v, bhi, blo, bk)
    iters = 1 + level
    for it in range(iters):
        if best == 0:
            break
        hi = bhi
        lo = blo
        _bc4_lsq(v, bk, 8, &hi, &lo)
        if hi <= lo or (hi == bhi and lo == blo):
            break
        err = _bc4_eval8(v, hi, lo, kk)
        if err >= best:
            break
        best = err
        bhi = hi
        blo = lo
        memcpy(bk, kk, 16)
    if level >= 1:
        # hill climb: +/-1 on either or both endpoints, up to 4 (level 1) or
        # 12 (level 2) improving steps
        for step in range(12 if level >= 2 else 4):
            improved = 0
            for dh in range(-1, 2):
                for dl in range(-1, 2):
                    if (dh == 0 and dl == 0) or best == 0:
                        continue
                    nh = bhi + dh
                    nl = blo + dl
                    if nh > 255 or nl < 0 or nh <= nl:
                        continue
                    err = _bc4_eval8(v, nh, nl, kk)
                    if err < best:
                        best = err
                        bhi = nh
                        blo = nl
                        memcpy(bk, kk, 16)
                        improved = 1
            if not improved:
                break
    for i in range(16):
        idx[i] = 0 if bk[i] == 0 else (1 if bk[i] == 7 else bk[i] + 1)
    if level >= 1 and best > 0 and (mn <= 24 or mx >= 231):
        # 6-value mode: endpoints span the texels not left to the 0 / 255 entries
        e0 = 255
        e1 = 0
        for i in range(16):
            if v[i] >= 8 and v[i] <= 247:
                if v[i] < e0:
                    e0 = v[i]
                if v[i] > e1:
                    e1 = v[i]
        if e0 <= e1:
            err6 = _bc4_eval6(v, e0, e1, idx6)
            if err6 < best:
                best = err6
                memcpy(idx, idx6, 16)
                _bc4_pack(e0, e1, idx, out)
                return
    _bc4_pack(bhi, blo, idx, out)


cdef inline void _bc4_decode_block(const uint8_t* blk, uint8_t* out, int stride) noexcept nogil:
    """Decode one BC4 block into out[i * stride] for texel i (row-major 4x4)."""
    cdef int a0 = blk[0], a1 = blk[1], i
    cdef int pal[8]
    cdef uint64_t bits = 0
    pal[0] = a0
    pal[1] = a1
    if a0 > a1:
        for i in range(1, 7):
            pal[1 + i] = ((7 - i) * a0 + i * a1) // 7
    else:
        for i in range(1, 5):
            pal[1 + i] = ((5 - i) * a0 + i * a1) // 5
        pal[6] = 0
        pal[7] = 255
    for i in range(6):
        bits |= (<uint64_t>blk[2 + i]) << (8 * i)
    for i in range(16):
        out[i * stride] = <uint8_t>pal[(bits >> (3 * i)) & 7]
