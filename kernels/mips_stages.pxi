# Included by mips.pyx (textually, in order); not compiled on its own.
# The streaming stages: one per mip level, rows pushed down the chain, and the
# level-0 drivers for uint8 and float32 input.

# ---------------------------------------------------------------- stages

cdef int stage_init(Stage* s, int sw, int sh, int filter_kind) noexcept nogil:
    """Allocate the tap tables and row buffers of one level transition (``s`` zeroed)."""
    s.src_w = sw
    s.src_h = sh
    s.dst_w = sw >> 1 if sw > 1 else 1
    s.dst_h = sh >> 1 if sh > 1 else 1
    s.fast2 = filter_kind == FILTER_BOX and sw % 2 == 0 and sh % 2 == 0
    s.out_rows = <float*>PyMem_RawMalloc(<size_t>2 * s.dst_w * 4 * sizeof(float))
    if s.out_rows == NULL:
        return -1
    if s.fast2:
        return 0
    if filter_kind == FILTER_KAISER:
        if kaiser_taps(&s.h, sw) < 0 or kaiser_taps(&s.v, sh) < 0:
            return -1
    else:
        if box_taps(&s.h, sw) < 0 or box_taps(&s.v, sh) < 0:
            return -1
    s.R = s.v.span
    s.ring = <float*>PyMem_RawMalloc(<size_t>s.R * s.dst_w * NCH * sizeof(float))
    s.acc = <float*>PyMem_RawMalloc(<size_t>s.dst_w * NCH * sizeof(float))
    s.expand = <float*>PyMem_RawMalloc(<size_t>sw * NCH * sizeof(float))
    if s.ring == NULL or s.acc == NULL or s.expand == NULL:
        return -1
    return 0


cdef void stage_free(Stage* s) noexcept nogil:
    taps_free(&s.h)
    taps_free(&s.v)
    PyMem_RawFree(s.ring)
    PyMem_RawFree(s.acc)
    PyMem_RawFree(s.expand)
    PyMem_RawFree(s.out_rows)
    s.ring = NULL
    s.acc = NULL
    s.expand = NULL
    s.out_rows = NULL


cdef inline float clampf(float v, float lo, float hi) noexcept nogil:
    return lo if v < lo else (hi if v > hi else v)


cdef inline void unit_normal(const float* v, float* n) noexcept nogil:
    """Normalise a filtered normal; a (near) zero vector becomes +z."""
    cdef float ln = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    if ln > 1e-12:
        n[0] = v[0] / ln
        n[1] = v[1] / ln
        n[2] = v[2] / ln
    else:
        n[0] = 0.0
        n[1] = 0.0
        n[2] = 1.0


cdef void encode_row(const Chain* ch, const float* buf, int w, uint8_t* o8, float* of) noexcept nogil:
    """Write one straight float row into the output level (uint8 codes or float32)."""
    cdef int x, c, q
    cdef float n[3]
    if ch.encode == ENC_FLOAT:
        memcpy(of, buf, <size_t>w * 4 * sizeof(float))
        return
    if ch.encode == ENC_NORMAL_FLOAT:
        for x in range(w):
            unit_normal(buf + 4 * x, of + 4 * x)
            of[4 * x + 3] = buf[4 * x + 3]
        return
    for x in range(w):
        if ch.encode == ENC_SRGB8:
            for c in range(3):
                q = <int>(clampf(buf[4 * x + c], 0.0, 1.0) * ch.enc_scale + 0.5)
                o8[4 * x + c] = ch.enc_lut[q]
        elif ch.encode == ENC_UNORM8:
            for c in range(3):
                o8[4 * x + c] = <uint8_t>(<int>(clampf(buf[4 * x + c], 0.0, 1.0) * 255.0 + 0.5))
        else:
            unit_normal(buf + 4 * x, n)
            for c in range(3):
                o8[4 * x + c] = <uint8_t>(<int>clampf((n[c] + 1.0) * 127.5 + 0.5, 0.0, 255.0))
        o8[4 * x + 3] = <uint8_t>(<int>(clampf(buf[4 * x + 3], 0.0, 1.0) * 255.0 + 0.5))


cdef void stage_emit(Chain* ch, int si, float* buf, int y) noexcept nogil:
    """Row ``y`` of level ``si + 1`` is ready in ``buf``: store it, feed the next stage."""
    cdef Stage* s = &ch.stages[si]
    cdef size_t off = <size_t>y * s.dst_w * 4
    encode_row(ch, buf, s.dst_w, s.out8 + off if s.out8 != NULL else NULL,
               s.outf + off if s.outf != NULL else NULL)
    if si + 1 < ch.nstages:
        stage_push(ch, si + 1, buf, y)


cdef inline void resolve(const Chain* ch, const float* a, float* o) noexcept nogil:
    """Filtered (P, AW, C, A) -> straight (c, alpha), with the unweighted fallback."""
    cdef float inv
    cdef int c
    if ch.alpha_weighted and a[3] > ch.min_weight:
        inv = 1.0 / a[3]
        o[0] = a[0] * inv
        o[1] = a[1] * inv
        o[2] = a[2] * inv
    else:
        o[0] = a[4]
        o[1] = a[5]
        o[2] = a[6]
    o[3] = a[7]
    if ch.clamp_colour:
        for c in range(3):
            o[c] = clampf(o[c], ch.colour_lo, ch.colour_hi)
    if ch.clamp_alpha:
        o[3] = clampf(o[3], 0.0, 1.0)


cdef void fast2_row(Chain* ch, Stage* s, const float* r0, const float* r1, float* o) noexcept nogil:
    """2x2 box of two straight float rows into one output row (alpha weighted)."""
    cdef int x
    cdef const float* p
    cdef const float* q
    cdef float a0, a1, a2, a3, aw, inv
    for x in range(s.dst_w):
        p = r0 + 8 * x
        q = r1 + 8 * x
        a0 = p[3] if p[3] > 0 else 0
        a1 = p[7] if p[7] > 0 else 0
        a2 = q[3] if q[3] > 0 else 0
        a3 = q[7] if q[7] > 0 else 0
        aw = a0 + a1 + a2 + a3
        if ch.alpha_weighted and aw > 0:
            inv = 1.0 / aw
            o[4 * x] = (a0 * p[0] + a1 * p[4] + a2 * q[0] + a3 * q[4]) * inv
            o[4 * x + 1] = (a0 * p[1] + a1 * p[5] + a2 * q[1] + a3 * q[5]) * inv
            o[4 * x + 2] = (a0 * p[2] + a1 * p[6] + a2 * q[2] + a3 * q[6]) * inv
        else:
            o[4 * x] = (p[0] + p[4] + q[0] + q[4]) * 0.25
            o[4 * x + 1] = (p[1] + p[5] + q[1] + q[5]) * 0.25
            o[4 * x + 2] = (p[2] + p[6] + q[2] + q[6]) * 0.25
        o[4 * x + 3] = (p[3] + p[7] + q[3] + q[7]) * 0.25


cdef void hfilter(const Stage* s, const float* row, float* dst) noexcept nogil:
    """Horizontal pass of one straight row into (P, AW, C, A) accumulators.

    The row is first expanded to the 8 channels once per texel, so the tap loop is
    a plain multiply-add over 8 contiguous floats (vectorised by the compiler).
    """
    cdef int x, k, c, T = s.h.T
    cdef const int32_t* idx
    cdef const float* w
    cdef const float* px
    cdef float* e = s.expand
    cdef float* o
    cdef float wk, a, aw, s0, s1, s2, s3, s4, s5, s6, s7
    for x in range(s.src_w):
        px = row + 4 * x
        a = px[3]
        aw = a if a > 0 else 0.0
        e[NCH * x] = aw * px[0]
        e[NCH * x + 1] = aw * px[1]
        e[NCH * x + 2] = aw * px[2]
        e[NCH * x + 3] = aw
        e[NCH * x + 4] = px[0]
        e[NCH * x + 5] = px[1]
        e[NCH * x + 6] = px[2]
        e[NCH * x + 7] = a
    for x in range(s.dst_w):
        idx = s.h.idx + x * T
        w = s.h.w + x * T
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
        for k in range(T):
            wk = w[k]
            px = e + NCH * idx[k]
            s0 += wk * px[0]
            s1 += wk * px[1]
            s2 += wk * px[2]
            s3 += wk * px[3]
            s4 += wk * px[4]
            s5 += wk * px[5]
            s6 += wk * px[6]
            s7 += wk * px[7]
        o = dst + NCH * x
        o[0] = s0
        o[1] = s1
        o[2] = s2
        o[3] = s3
        o[4] = s4
        o[5] = s5
        o[6] = s6
        o[7] = s7


cdef void generic_produce(Chain* ch, int si, int y) noexcept nogil:
    """Vertical pass over the ring for output row ``y``, then resolve and emit."""
    cdef Stage* s = &ch.stages[si]
    cdef int k, j, x, n = s.dst_w * NCH, T = s.v.T
    cdef float wk
    cdef const float* src
    cdef float* acc = s.acc
    cdef float* o = s.out_rows + (y & 1) * s.dst_w * 4
    memset(acc, 0, <size_t>n * sizeof(float))
    for k in range(T):
        wk = s.v.w[y * T + k]
        if wk == 0.0:
            continue
        src = s.ring + <size_t>(s.v.idx[y * T + k] % s.R) * n
        for j in range(n):
            acc[j] += wk * src[j]
    for x in range(s.dst_w):
        resolve(ch, acc + NCH * x, o + 4 * x)
    stage_emit(ch, si, o, y)


cdef void stage_push(Chain* ch, int si, const float* row, int r) noexcept nogil:
    """Row ``r`` of level ``si`` (straight float RGBA) arrives at stage ``si``."""
    cdef Stage* s = &ch.stages[si]
    cdef float* o
    if s.fast2:
        if r & 1 == 0:
            s.held = row
            return
        o = s.out_rows + ((r >> 1) & 1) * s.dst_w * 4
        fast2_row(ch, s, s.held, row, o)
        stage_emit(ch, si, o, r >> 1)
        return
    hfilter(s, row, s.ring + <size_t>(r % s.R) * s.dst_w * NCH)
    while s.next_out < s.dst_h and s.v.hi[s.next_out] <= r:
        generic_produce(ch, si, s.next_out)
        s.next_out += 1


# ---------------------------------------------------------------- level 0 drivers

cdef void decode_row_u8(const Chain* ch, const uint8_t* src, int w, float* dst) noexcept nogil:
    cdef int x
    for x in range(w):
        dst[4 * x] = ch.dec_lut[src[4 * x]]
        dst[4 * x + 1] = ch.dec_lut[src[4 * x + 1]]
        dst[4 * x + 2] = ch.dec_lut[src[4 * x + 2]]
        dst[4 * x + 3] = src[4 * x + 3] * <float>(1.0 / 255.0)


cdef void fast2_u8_row(Chain* ch, const uint8_t* p, const uint8_t* q, int w2, float* o) noexcept nogil:
    """2x2 box straight from two uint8 rows through the decode table."""
    cdef int x, ia
    cdef const float* lut = ch.dec_lut
    cdef float a0, a1, a2, a3, inv
    for x in range(w2):
        ia = <int>p[3] + p[7] + q[3] + q[7]
        if ch.alpha_weighted and ia == 1020:
            o[0] = (lut[p[0]] + lut[p[4]] + lut[q[0]] + lut[q[4]]) * 0.25
            o[1] = (lut[p[1]] + lut[p[5]] + lut[q[1]] + lut[q[5]]) * 0.25
            o[2] = (lut[p[2]] + lut[p[6]] + lut[q[2]] + lut[q[6]]) * 0.25
        elif ch.alpha_weighted and ia > 0:
            a0 = p[3]
            a1 = p[7]
            a2 = q[3]
            a3 = q[7]
            inv = 1.0 / <float>ia
            o[0] = (a0 * lut[p[0]] + a1 * lut[p[4]] + a2 * lut[q[0]] + a3 * lut[q[4]]) * inv
            o[1] = (a0 * lut[p[1]] + a1 * lut[p[5]] + a2 * lut[q[1]] + a3 * lut[q[5]]) * inv
            o[2] = (a0 * lut[p[2]] + a1 * lut[p[6]] + a2 * lut[q[2]] + a3 * lut[q[6]]) * inv
        else:
            o[0] = (lut[p[0]] + lut[p[4]] + lut[q[0]] + lut[q[4]]) * 0.25
            o[1] = (lut[p[1]] + lut[p[5]] + lut[q[1]] + lut[q[5]]) * 0.25
            o[2] = (lut[p[2]] + lut[p[6]] + lut[q[2]] + lut[q[6]]) * 0.25
        o[3] = ia * <float>(0.25 / 255.0)
        p += 8
        q += 8
        o += 4


cdef int run_u8(Chain* ch, const uint8_t* src, int w, int h) noexcept nogil:
    """Drive the chain from a uint8 RGBA level 0."""
    cdef Stage* s = &ch.stages[0]
    cdef int y, r
    cdef float* o
    cdef float* tmp
    cdef size_t pitch = <size_t>w * 4
    if s.fast2:
        for y in range(s.dst_h):
            o = s.out_rows + (y & 1) * s.dst_w * 4
            fast2_u8_row(ch, src + 2 * y * pitch, src + (2 * y + 1) * pitch, s.dst_w, o)
            stage_emit(ch, 0, o, y)
        return 0
    tmp = <float*>PyMem_RawMalloc(pitch * sizeof(float))
    if tmp == NULL:
        return -1
    for r in range(h):
        decode_row_u8(ch, src + r * pitch, w, tmp)
        stage_push(ch, 0, tmp, r)
    PyMem_RawFree(tmp)
    return 0


cdef int run_f32(Chain* ch, const float* src, int w, int h) noexcept nogil:
    """Drive the chain from a float32 RGBA level 0 (rows are read in place)."""
    cdef int r
    for r in range(h):
        stage_push(ch, 0, src + <size_t>r * w * 4, r)
    return 0


cdef int chain_init(Chain* ch, int w, int h, int filter_kind) noexcept nogil:
    cdef int i
    for i in range(ch.nstages):
        if stage_init(&ch.stages[i], w, h, filter_kind) < 0:
            return -1
        w = ch.stages[i].dst_w
        h = ch.stages[i].dst_h
    return 0
