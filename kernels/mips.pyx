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


# ---------------------------------------------------------------- tap tables

cdef inline int mirror_index(int64_t i, int n) noexcept nogil:
    """Symmetric (half-sample) reflection of ``i`` into ``[0, n)``, any distance."""
    cdef int64_t period = 2 * <int64_t>n
    i = i % period
    if i < 0:
        i += period
    if i >= n:
        i = period - 1 - i
    return <int>i


cdef int taps_alloc(Taps* t, int n_out, int T) noexcept nogil:
    t.n_out = n_out
    t.T = T
    t.span = 1
    t.idx = <int32_t*>PyMem_RawMalloc(<size_t>n_out * T * sizeof(int32_t))
    t.w = <float*>PyMem_RawMalloc(<size_t>n_out * T * sizeof(float))
    t.hi = <int32_t*>PyMem_RawMalloc(<size_t>n_out * sizeof(int32_t))
    if t.idx == NULL or t.w == NULL or t.hi == NULL:
        return -1
    return 0


cdef void taps_free(Taps* t) noexcept nogil:
    PyMem_RawFree(t.idx)
    PyMem_RawFree(t.w)
    PyMem_RawFree(t.hi)
    t.idx = NULL
    t.w = NULL
    t.hi = NULL


cdef void taps_finish(Taps* t) noexcept nogil:
    """Fill ``hi`` (running max of the source index) and ``span`` (rows a ring needs)."""
    cdef int y, k, lo, hi = 0, i
    t.span = 1
    for y in range(t.n_out):
        lo = t.idx[y * t.T]
        for k in range(t.T):
            i = t.idx[y * t.T + k]
            if i > hi:
                hi = i
            if i < lo:
                lo = i
        t.hi[y] = hi
        if hi - lo + 1 > t.span:
            t.span = hi - lo + 1


cdef int box_taps(Taps* t, int n) noexcept nogil:
    """Box taps for ``n -> max(1, n >> 1)``: 1 tap (n == 1), 2 (even) or 3 (odd)."""
    cdef int m = n >> 1
    cdef int x
    cdef float inv
    if n == 1:
        if taps_alloc(t, 1, 1) < 0:
            return -1
        t.idx[0] = 0
        t.w[0] = 1.0
    elif n % 2 == 0:
        if taps_alloc(t, m, 2) < 0:
            return -1
        for x in range(m):
            t.idx[2 * x] = 2 * x
            t.idx[2 * x + 1] = 2 * x + 1
            t.w[2 * x] = 0.5
            t.w[2 * x + 1] = 0.5
    else:
        if taps_alloc(t, m, 3) < 0:
            return -1
        inv = <float>(1.0 / n)
        for x in range(m):
            t.idx[3 * x] = 2 * x
            t.idx[3 * x + 1] = 2 * x + 1
            t.idx[3 * x + 2] = 2 * x + 2
            t.w[3 * x] = <float>(m - x) * inv
            t.w[3 * x + 1] = <float>m * inv
            t.w[3 * x + 2] = <float>(x + 1) * inv
    taps_finish(t)
    return 0


cdef double bessel_i0(double x) noexcept nogil:
    """Modified Bessel function of the first kind, order 0 (power series)."""
    cdef double total = 1.0, term = 1.0, q = x * x * 0.25
    cdef int k
    for k in range(1, 64):
        term *= q / (<double>k * k)
        total += term
        if term < total * 1e-17:
            break
    return total


cdef double kaiser(double x) noexcept nogil:
    """Kaiser-windowed sinc of width ``KAISER_WIDTH`` (0 outside)."""
    cdef double r, s
    if x < 0:
        x = -x
    if x >= KAISER_WIDTH:
        return 0.0
    s = 1.0 if x < 1e-9 else sin(PI * x) / (PI * x)
    r = x / KAISER_WIDTH
    return s * bessel_i0(KAISER_ALPHA * sqrt(1.0 - r * r)) / bessel_i0(KAISER_ALPHA)


cdef int kaiser_taps(Taps* t, int n) noexcept nogil:
    """Kaiser taps for ``n -> max(1, n >> 1)``, mirrored edges, normalised weights."""
    cdef int m = n >> 1
    cdef int x, k, cnt, i0, i1
    cdef int64_t i
    cdef double scale, centre, radius, wv, total
    if n == 1:
        return box_taps(t, n)
    scale = <double>n / m
    radius = KAISER_WIDTH * scale
    if taps_alloc(t, m, <int>ceil(2.0 * radius) + 2) < 0:
        return -1
    for x in range(m):
        centre = (x + 0.5) * scale
        i0 = <int>floor(centre - radius)
        i1 = <int>ceil(centre + radius)
        cnt = 0
        total = 0.0
        for i in range(i0, i1 + 1):
            wv = kaiser((i + 0.5 - centre) / scale)
            if wv != 0.0 and cnt < t.T:
                t.idx[x * t.T + cnt] = mirror_index(i, n)
                t.w[x * t.T + cnt] = <float>wv
                total += wv
                cnt += 1
        for k in range(cnt):
            t.w[x * t.T + k] = <float>(t.w[x * t.T + k] / total)
        for k in range(cnt, t.T):
            t.idx[x * t.T + k] = t.idx[x * t.T]
            t.w[x * t.T + k] = 0.0
    taps_finish(t)
    return 0


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


# ---------------------------------------------------------------- alpha coverage

cdef void alpha_histogram(const uint8_t* px, size_t n, int64_t* hist) noexcept nogil:
    cdef size_t i
    memset(hist, 0, 256 * sizeof(int64_t))
    for i in range(n):
        hist[px[4 * i + 3]] += 1


cdef double coverage_u8(const int64_t* hist, const bint* passes, double scale, int64_t n) noexcept nogil:
    cdef int a, q
    cdef int64_t count = 0
    for a in range(256):
        if hist[a] == 0:
            continue
        q = <int>(a * scale + 0.5)
        if q > 255:
            q = 255
        if passes[q]:
            count += hist[a]
    return <double>count / n


cdef double search_scale(double (*cov)(const void*, double) noexcept nogil, const void* ctx,
                         double target, double hi) noexcept nogil:
    """Binary search the alpha scale whose coverage is closest to ``target``."""
    cdef double lo = 0.0, mid
    cdef int it
    for it in range(40):
        mid = 0.5 * (lo + hi)
        if cov(ctx, mid) < target:
            lo = mid
        else:
            hi = mid
    if target - cov(ctx, lo) < cov(ctx, hi) - target:
        return lo
    return hi


ctypedef struct U8Cov:
    const int64_t* hist
    const bint* passes
    int64_t n


ctypedef struct F32Cov:
    const float* px
    size_t n
    float cutoff  # float32 alpha tests compare in float32, as GPUs and numpy do


cdef double u8_cov_cb(const void* ctx, double scale) noexcept nogil:
    cdef const U8Cov* c = <const U8Cov*>ctx
    return coverage_u8(c.hist, c.passes, scale, c.n)


cdef double f32_cov_cb(const void* ctx, double scale) noexcept nogil:
    cdef const F32Cov* c = <const F32Cov*>ctx
    cdef size_t i
    cdef int64_t count = 0
    cdef float a
    for i in range(c.n):
        a = <float>(c.px[4 * i + 3] * scale)
        if a > 1.0:
            a = 1.0
        if a >= c.cutoff:
            count += 1
    return <double>count / c.n


def alpha_coverage_u8(const uint8_t[:, :, ::1] img, double cutoff):
    """Fraction of texels with ``alpha / 255 >= cutoff`` (GIL released)."""
    cdef int64_t hist[256]
    cdef bint passes[256]
    cdef size_t n = img.shape[0] * img.shape[1]
    cdef int a
    for a in range(256):
        passes[a] = a / 255.0 >= cutoff
    cdef double cov
    with nogil:
        alpha_histogram(&img[0, 0, 0], n, hist)
        cov = coverage_u8(hist, passes, 1.0, n)
    return cov


def alpha_coverage_f32(const float[:, :, ::1] img, double cutoff):
    """Fraction of texels with ``min(alpha, 1) >= float32(cutoff)`` (GIL released)."""
    cdef F32Cov c
    c.px = &img[0, 0, 0]
    c.n = img.shape[0] * img.shape[1]
    c.cutoff = cutoff
    cdef double cov
    with nogil:
        cov = f32_cov_cb(&c, 1.0)
    return cov


cdef int settle_boundary(int64_t* counts, uint8_t* remap, int thr, int64_t want, int* group) noexcept nogil:
    """Move whole remapped groups across the cutoff code ``thr`` until at most one
    group (returned in ``group``) must be split to reach ``want`` passing texels.

    Returns how many texels of ``group`` must change side (0: nothing to split).
    """
    cdef int64_t passing = 0, need
    cdef int v, a
    for v in range(thr, 256):
        passing += counts[v]
    group[0] = -1
    if passing < want:  # raise the highest failing groups to thr
        need = want - passing
        for v in range(thr - 1, -1, -1):
            if counts[v] == 0:
                continue
            if counts[v] > need:
                group[0] = v
                return <int>need
            for a in range(256):
                if remap[a] == v:
                    remap[a] = thr
            counts[thr] += counts[v]
            need -= counts[v]
            counts[v] = 0
            if need == 0:
                return 0
    elif passing > want:  # lower the lowest passing groups to thr - 1
        need = passing - want
        for v in range(thr, 256):
            if counts[v] == 0:
                continue
            if counts[v] > need:
                group[0] = v
                return <int>need
            for a in range(256):
                if remap[a] == v:
                    remap[a] = thr - 1
            counts[thr - 1] += counts[v]
            need -= counts[v]
            counts[v] = 0
            if need == 0:
                return 0
    return 0


cdef void apply_alpha(uint8_t* px, size_t n, const uint8_t* remap, int group, int64_t size,
                      int64_t need, uint8_t other) noexcept nogil:
    """Remap every alpha; of the ``size`` texels landing on ``group``, move ``need``
    (spread evenly in raster order, Bresenham style) to the code ``other``."""
    cdef size_t i
    cdef int64_t acc = size // 2
    cdef uint8_t v
    for i in range(n):
        v = remap[px[4 * i + 3]]
        if v == group and need > 0:
            acc += need
            if acc >= size:
                acc -= size
                v = other
        px[4 * i + 3] = v


def preserve_coverage_u8(uint8_t[:, :, ::1] img, double cutoff, double target):
    """Rescale the alpha of ``img`` in place so its alpha-test coverage matches ``target``.

    ``a' = min(255, round(a * s))`` with ``s`` from a binary search on the coverage
    (NVTT / Castano). Where ties make the closest scale still miss ``round(target * n)``
    passing texels (e.g. a periodic pattern whose texels all have the same alpha),
    the tied group at the cutoff is split: an evenly spread subset is moved by the
    least amount across the cutoff (to the cutoff code or just below it), so the
    coverage matches to within one texel. Returns ``s``.
    """
    cdef int64_t hist[256]
    cdef int64_t counts[256]
    cdef bint passes[256]
    cdef uint8_t remap[256]
    cdef U8Cov c
    cdef size_t n = img.shape[0] * img.shape[1]
    cdef uint8_t* px = &img[0, 0, 0]
    cdef int a, q, thr = 255, group = -1
    cdef int64_t need
    cdef double s
    for a in range(255, -1, -1):
        passes[a] = a / 255.0 >= cutoff
        if passes[a]:
            thr = a
    c.hist = hist
    c.passes = passes
    c.n = n
    with nogil:
        alpha_histogram(px, n, hist)
        s = search_scale(u8_cov_cb, &c, target, 256.0)
        memset(counts, 0, sizeof(counts))
        for a in range(256):
            q = <int>(a * s + 0.5)
            remap[a] = 255 if q > 255 else q
            counts[remap[a]] += hist[a]
        need = settle_boundary(counts, remap, thr, <int64_t>(target * n + 0.5), &group)
        apply_alpha(px, n, remap, group, counts[group] if group >= 0 else 0, need,
                    thr if group >= 0 and group < thr else thr - 1)
    return s


cdef void split_group_f32(float* px, size_t n, float group, int64_t size, int64_t need,
                          float other) noexcept nogil:
    """Of the ``size`` alphas equal to ``group``, move ``need`` evenly spread to ``other``."""
    cdef size_t i
    cdef int64_t acc = size // 2
    for i in range(n):
        if px[4 * i + 3] == group:
            acc += need
            if acc >= size:
                acc -= size
                px[4 * i + 3] = other


cdef void settle_f32(float* px, size_t n, float cutoff, int64_t want) noexcept nogil:
    """Float twin of the uint8 boundary settling: move tied groups across the float32
    cutoff (to the cutoff itself or the float just below it) until ``want`` pass."""
    cdef float at = cutoff, below = nextafterf(cutoff, -1.0)
    cdef size_t i
    cdef int64_t passing, size
    cdef float g, v
    cdef int it
    for it in range(256):
        passing = 0
        for i in range(n):
            passing += px[4 * i + 3] >= cutoff
        if passing == want:
            return
        g = -INFINITY if passing < want else INFINITY
        for i in range(n):
            v = px[4 * i + 3]
            if passing < want and v < cutoff and v > g:
                g = v
            elif passing > want and v >= cutoff and v < g:
                g = v
        size = 0
        for i in range(n):
            size += px[4 * i + 3] == g
        if size == 0:
            return
        if passing < want:
            split_group_f32(px, n, g, size, min(size, want - passing), at)
        else:
            split_group_f32(px, n, g, size, min(size, passing - want), below)


def preserve_coverage_f32(float[:, :, ::1] img, double cutoff, double target):
    """Float twin of :func:`preserve_coverage_u8`: ``a' = clip(a * s, 0, 1)`` with ``s``
    from the binary search, then tied groups at the cutoff split the same way."""
    cdef F32Cov c
    cdef size_t i
    cdef float* px = &img[0, 0, 0]
    cdef double s
    cdef float a
    c.px = px
    c.n = img.shape[0] * img.shape[1]
    c.cutoff = cutoff
    with nogil:
        s = search_scale(f32_cov_cb, &c, target, 1.0 / cutoff * 4096.0)
        for i in range(c.n):
            a = <float>(px[4 * i + 3] * s)
            px[4 * i + 3] = clampf(a, 0.0, 1.0)
        settle_f32(px, c.n, c.cutoff, <int64_t>(target * c.n + 0.5))
    return s
