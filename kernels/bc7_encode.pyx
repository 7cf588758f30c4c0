# BC7 (BPTC unorm) encoder kernel: RGBA8 image -> 16-byte blocks.
#
# All eight modes are implemented.  Per block the search is:
#   * every fit (one subset, or one channel group of modes 4/5): weighted
#     principal axis -> indices by projection -> least-squares endpoints, then
#     rounds of endpoint quantisation (p-bit choice) + index selection +
#     least squares, keeping the best;
#   * modes 4 and 5 also search the rotations and (mode 4) the index-selection bit;
#   * partitioned modes (0, 1, 2, 3, 7): partition shapes are scored once per block
#     from exact integer moments (scatter off each subset's principal axis plus
#     the scatter along it over (levels - 1)^2); only the best few are fitted, and
#     a shape whose off-axis scatter (a true lower bound) already exceeds the best
#     error is skipped;
#   * a preset may stop early once a block's error is below ``good_enough``, or
#     try "extra" modes only on blocks that mode 6 leaves with a large error.
# Opaque blocks never pay for alpha: modes 0-3 have implicit alpha 255, and modes
# 4-7 keep alpha endpoints at codes that expand exactly to 255 (p-bits pinned to 1
# in modes 6/7).  A cut-out guard keeps alpha 0 / 255 texels exact under least
# squares.  Error is squared error weighted per channel (linear: all 1;
# perceptual: R, G, B = 0.299, 0.587, 0.114 scaled by 3; alpha 1).
#
# Thread rules: ``encode`` releases the GIL over the whole block loop, uses only
# stack memory per block and its own output object, and is deterministic (same
# input and settings -> same bytes, whichever thread runs it).  Extra memory is
# O(1): each 4x4 block is gathered straight from the caller's array with
# clamped coordinates (edge replication), one band of block rows at a time.
# Failure modes: ValueError for a bad shape, quality, force_mode or tune key;
# otherwise the kernel trusts its caller (oxy.cook.bc7) to have validated input.

from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy
from libc.math cimport sqrtf
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

include "bc7_tables.pxi"

cdef enum:
    PB_NONE = 0      # no p-bits
    PB_SHARED = 1    # one p-bit per subset (mode 1)
    PB_UNIQUE = 2    # one p-bit per endpoint (modes 0, 3, 6, 7)
    PB_ONE = 3       # unique p-bits pinned to 1 (opaque blocks in modes 6, 7)

cdef float BIG = 1e30
cdef float _RCP[17]            # 1/n for subset sizes (filled at import)


ctypedef struct Cfg:
    float w[4]           # error weight of R, G, B, A
    float sw[4]          # square roots of w (fitting happens in weighted space)
    int force_mode       # -1, or a mode 0..7 to use for every block (test hook)
    int iters            # least-squares refinement passes per fit
    int pbit_full        # evaluate p-bit choices with full indexing: 0 never, 1 shared only, 2 all
    int idx_full         # index search: 0 projection, 1 +/- neighbours, 2 exhaustive
    int nparts[8]        # partition shapes fully fitted, per partitioned mode
    int modes_opaque     # bit mask of modes tried on opaque blocks
    int modes_alpha      # bit mask of modes tried on blocks with alpha
    int rot_opaque       # 1: try rotations 1-3 of modes 4/5 on opaque blocks
    float extra_above    # per-texel error above which "extra" modes run
    int modes_extra      # modes tried only when mode 6 left error above extra_above
    int max_shapes       # 2-subset shapes scored: the first max_shapes of _ORDER2
    float good_enough    # per-texel error at which the mode search stops early


ctypedef struct Enc:
    int mode
    int part
    int rot
    int isel
    int q[3][2][4]       # endpoint codes; LSB is the p-bit in p-bit modes
    uint8_t idx[16]      # joint (or colour, modes 4/5) indices
    uint8_t aidx[16]     # scalar-channel indices (modes 4/5)
    float err


# ---------------------------------------------------------------- quantisation

cdef inline int _quant(float v, int nb, int p) noexcept nogil:
    """Nearest ``nb``-bit code to 8-bit value ``v``; p >= 0 pins the LSB to p."""
    cdef int nmax = (1 << nb) - 1
    cdef float t = v * <float>nmax * <float>(1.0 / 255.0)
    cdef int c
    # t >= 0 (endpoints are clamped to [0, 255]), so truncation rounds down
    if p < 0:
        c = <int>(t + <float>0.5)
        if c < 0:
            c = 0
        elif c > nmax:
            c = nmax
        return c
    c = <int>((t - p) * <float>0.5 + <float>0.5)
    if c < 0:
        c = 0
    elif c > (nmax >> 1):
        c = nmax >> 1
    return (c << 1) | p


# ---------------------------------------------------------------- fitting

ctypedef struct Grp:
    # One endpoint group being fitted: channels [c0, c1) of one subset.  Loops
    # always run over 4 channels; w/sw/isw are 0 outside the group so those
    # channels contribute nothing (fixed-length loops vectorise well).
    float w[4]           # error weights
    float sw[4]          # sqrt(w)
    float isw[4]         # 1 / sqrt(w)
    int c0
    int c1
    int nb               # bits per endpoint component, p-bit included
    int pbmode
    int ib               # index bits
    int ach              # channel holding source alpha (cut-out guard), -1 if none


cdef inline void _grp(Grp* g, const Cfg* cfg, int c0, int c1, int nb, int pbmode,
                      int ib, int ach) noexcept nogil:
    cdef int c
    for c in range(4):
        if c0 <= c < c1:
            g.w[c] = cfg.w[c]
            g.sw[c] = cfg.sw[c]
            g.isw[c] = 1 / cfg.sw[c]
        else:
            g.w[c] = 0
            g.sw[c] = 0
            g.isw[c] = 0
    g.c0 = c0
    g.c1 = c1
    g.nb = nb
    g.pbmode = pbmode
    g.ib = ib
    g.ach = ach


cdef inline float _clamp255(float v) noexcept nogil:
    if v < 0:
        return 0
    if v > 255:
        return 255
    return v


cdef void _pca(const float* px, const Grp* g, const uint8_t* tex, int n,
               float* e0, float* e1) noexcept nogil:
    """Endpoints spanning the texels along their (weighted) principal axis."""
    cdef float mean[4]
    cdef float d[4]
    cdef float cov[4][4]
    cdef float v[4]
    cdef float nv[4]
    cdef float u[4]
    cdef float t, tmin, tmax, mx, vv, rn
    cdef int i, j, k, c, it, bi
    cdef const float* p
    for c in range(4):
        mean[c] = 0
        for k in range(4):
            cov[c][k] = 0
    for i in range(n):
        p = px + 4 * tex[i]
        for c in range(4):
            mean[c] += p[c]
    rn = _RCP[n]
    for c in range(4):
        mean[c] *= rn
    for i in range(n):
        p = px + 4 * tex[i]
        for c in range(4):
            d[c] = (p[c] - mean[c]) * g.sw[c]
        for j in range(4):
            for k in range(4):
                cov[j][k] += d[j] * d[k]
    bi = 0
    for c in range(1, 4):
        if cov[c][c] > cov[bi][bi]:
            bi = c
    if cov[bi][bi] <= 1e-2:
        for c in range(4):
            e0[c] = mean[c]
            e1[c] = mean[c]
        return
    for c in range(4):
        v[c] = cov[bi][c]
    for it in range(3):
        for j in range(4):
            nv[j] = cov[j][0] * v[0] + cov[j][1] * v[1] + cov[j][2] * v[2] + cov[j][3] * v[3]
        for j in range(4):
            v[j] = nv[j]
    mx = 0
    for c in range(4):
        t = v[c] if v[c] > 0 else -v[c]
        if t > mx:
            mx = t
    mx = 1 / mx
    vv = 0
    for c in range(4):
        v[c] *= mx
        vv += v[c] * v[c]
        u[c] = v[c] * g.sw[c]
    tmin = BIG
    tmax = -BIG
    for i in range(n):
        p = px + 4 * tex[i]
        t = ((p[0] - mean[0]) * u[0] + (p[1] - mean[1]) * u[1]
             + (p[2] - mean[2]) * u[2] + (p[3] - mean[3]) * u[3])
        if t < tmin:
            tmin = t
        if t > tmax:
            tmax = t
    vv = 1 / vv
    for c in range(4):
        t = v[c] * g.isw[c] * vv
        e0[c] = _clamp255(mean[c] + tmin * t)
        e1[c] = _clamp255(mean[c] + tmax * t)


cdef void _proj_idx(const float* px, const Grp* g, const uint8_t* tex, int n,
                    const float* e0, const float* e1, uint8_t* idx) noexcept nogil:
    """Indices from projecting texels on the continuous segment e0-e1."""
    cdef float d[4]
    cdef float dd = 0, t, sc
    cdef int i, c, k, nk = (1 << g.ib) - 1
    cdef const float* p
    for c in range(4):
        d[c] = (e1[c] - e0[c]) * g.w[c]
        dd += d[c] * (e1[c] - e0[c])
    if dd <= 0:
        for i in range(n):
            idx[i] = 0
        return
    sc = nk / dd
    for i in range(n):
        p = px + 4 * tex[i]
        t = ((p[0] - e0[0]) * d[0] + (p[1] - e0[1]) * d[1]
             + (p[2] - e0[2]) * d[2] + (p[3] - e0[3]) * d[3]) * sc
        k = <int>(t + <float>0.5)
        if k < 0:
            k = 0
        elif k > nk:
            k = nk
        idx[i] = <uint8_t>k


cdef int _lsq(const float* px, const Grp* g, const uint8_t* tex, int n,
              const uint8_t* idx, float* e0, float* e1) noexcept nogil:
    """Least-squares endpoints for fixed indices; 0 if the system is singular."""
    cdef const int* wt = oxy_bc7_weights(g.ib)
    cdef float aa = 0, ab = 0, bb = 0, t, s, det
    cdef float x0[4]
    cdef float x1[4]
    cdef int i, c
    cdef const float* p
    for c in range(4):
        x0[c] = 0
        x1[c] = 0
    for i in range(n):
        t = wt[idx[i]] * (1.0 / 64.0)
        s = 1 - t
        aa += s * s
        ab += s * t
        bb += t * t
        p = px + 4 * tex[i]
        for c in range(4):
            x0[c] += s * p[c]
            x1[c] += t * p[c]
    det = aa * bb - ab * ab
    if det < 1e-4:
        return 0
    det = 1 / det
    for c in range(4):
        e0[c] = _clamp255((bb * x0[c] - ab * x1[c]) * det)
        e1[c] = _clamp255((aa * x1[c] - ab * x0[c]) * det)
    if g.ach >= 0:
        _alpha_guard(px, g.ach, tex, n, e0, e1)
    return 1


cdef inline void _alpha_guard(const float* px, int c, const uint8_t* tex, int n,
                              float* e0, float* e1) noexcept nogil:
    """Cut-out guard: least squares pulls alpha endpoints inwards when a subset
    mixes alpha 0 / 255 with partial alpha; pin them back so fully transparent
    and fully opaque texels stay (nearly) exact."""
    cdef float amin = 255, amax = 0, a
    cdef int i
    for i in range(n):
        a = px[4 * tex[i] + c]
        if a < amin:
            amin = a
        if a > amax:
            amax = a
    if amin == amax:
        return
    if e0[c] <= e1[c]:
        if amin == 0:
            e0[c] = 0
        if amax == 255:
            e1[c] = 255
    else:
        if amin == 0:
            e1[c] = 0
        if amax == 255:
            e0[c] = 255


cdef inline float _quant_err(const float* e, const Grp* g, int p, int* q) noexcept nogil:
    """Quantise endpoint ``e`` into ``q`` (group channels); return weighted error."""
    cdef int c, v
    cdef float d, err = 0
    for c in range(g.c0, g.c1):
        q[c] = _quant(e[c], g.nb, p)
        v = oxy_bc7_expand(q[c], g.nb)
        d = v - e[c]
        err += g.w[c] * d * d
    return err


cdef uint8_t _NEAREST[3][65]    # [index bits - 2][w]: index whose weight is nearest w/64


cdef void _init_nearest() noexcept:
    cdef int b, v, k, bk, d, bd
    cdef const int* wt
    for b in range(3):
        wt = oxy_bc7_weights(b + 2)
        for v in range(65):
            bk = 0
            bd = 1000
            for k in range(1 << (b + 2)):
                d = wt[k] - v if wt[k] > v else v - wt[k]
                if d < bd:
                    bd = d
                    bk = k
            _NEAREST[b][v] = <uint8_t>bk


_init_nearest()


cdef inline float _err4(const float* p, const float* q, const float* w) noexcept nogil:
    cdef float d0 = p[0] - q[0], d1 = p[1] - q[1], d2 = p[2] - q[2], d3 = p[3] - q[3]
    return w[0] * d0 * d0 + w[1] * d1 * d1 + w[2] * d2 * d2 + w[3] * d3 * d3


cdef float _assign(const float* px, const Grp* g, const uint8_t* tex, int n,
                   const int* q0, const int* q1, int search, uint8_t* idx) noexcept nogil:
    """Pick each texel's palette index; return the weighted squared error.

    ``search`` 0: project on the palette line and take the index whose weight is
    nearest (one error evaluation); 1: also try the two neighbours; 2: try all.
    """
    cdef const int* wt = oxy_bc7_weights(g.ib)
    cdef const uint8_t* near = _NEAREST[g.ib - 2]
    cdef int nk = 1 << g.ib
    cdef float pal[16][4]
    cdef float dirw[4]
    cdef int i, k, c, kb, klo, khi, a, b
    cdef float err = 0, e, d0, d1, d2, d3, be, denom = 0, t
    cdef const float* p
    for c in range(4):
        if g.c0 <= c < g.c1:
            a = oxy_bc7_expand(q0[c], g.nb)
            b = oxy_bc7_expand(q1[c], g.nb)
            for k in range(nk):
                pal[k][c] = ((64 - wt[k]) * a + wt[k] * b + 32) >> 6
        else:
            for k in range(nk):
                pal[k][c] = 0
    for c in range(4):
        dirw[c] = g.w[c] * (pal[nk - 1][c] - pal[0][c])
        denom += dirw[c] * (pal[nk - 1][c] - pal[0][c])
    if denom > 0:
        denom = 64 / denom
    elif search < 2:
        # degenerate palette: every entry is (nearly) the same colour
        for i in range(n):
            idx[i] = 0
            p = px + 4 * tex[i]
            d0 = p[0] - pal[0][0]
            d1 = p[1] - pal[0][1]
            d2 = p[2] - pal[0][2]
            d3 = p[3] - pal[0][3]
            err += g.w[0] * d0 * d0 + g.w[1] * d1 * d1 + g.w[2] * d2 * d2 + g.w[3] * d3 * d3
        return err
    for i in range(n):
        p = px + 4 * tex[i]
        if search == 2:
            be = BIG
            kb = 0
            for k in range(nk):
                e = _err4(p, pal[k], g.w)
                if e < be:
                    be = e
                    kb = k
        else:
            t = ((p[0] - pal[0][0]) * dirw[0] + (p[1] - pal[0][1]) * dirw[1]
                 + (p[2] - pal[0][2]) * dirw[2] + (p[3] - pal[0][3]) * dirw[3]) * denom
            kb = <int>(t + <float>0.5)
            if kb < 0:
                kb = 0
            elif kb > 64:
                kb = 64
            kb = near[kb]
            be = _err4(p, pal[kb], g.w)
            if search == 1:
                # neighbours, selected branch-free (the winner is unpredictable)
                klo = kb - 1 if kb > 0 else 0
                khi = kb + 1 if kb < nk - 1 else nk - 1
                e = _err4(p, pal[klo], g.w)
                kb = klo if e < be else kb
                be = e if e < be else be
                e = _err4(p, pal[khi], g.w)
                kb = khi if e < be else kb
                be = e if e < be else be
        idx[i] = <uint8_t>kb
        err += be
    return err


cdef float _quant_assign(const float* px, const Cfg* cfg, const Grp* g,
                         const uint8_t* tex, int n, const float* e0, const float* e1,
                         int* q0, int* q1, uint8_t* idx, int search) noexcept nogil:
    """Quantise endpoints (choosing p-bits), then index; return the error."""
    cdef int t0[4]
    cdef int t1[4]
    cdef uint8_t tidx[16]
    cdef int p0, p1, c, ncomb, j
    cdef float err, best = BIG, qe, bqe = BIG
    cdef int bp0 = 0, bp1 = 0
    if g.pbmode == PB_NONE or g.pbmode == PB_ONE:
        p0 = -1 if g.pbmode == PB_NONE else 1
        _quant_err(e0, g, p0, q0)
        _quant_err(e1, g, p0, q1)
        return _assign(px, g, tex, n, q0, q1, search, idx)
    ncomb = 2 if g.pbmode == PB_SHARED else 4
    if cfg.pbit_full == 0 or (cfg.pbit_full == 1 and ncomb == 4):
        # choose p-bits by endpoint quantisation error only
        for j in range(ncomb):
            p0 = j & 1
            p1 = p0 if g.pbmode == PB_SHARED else (j >> 1)
            qe = _quant_err(e0, g, p0, t0) + _quant_err(e1, g, p1, t1)
            if qe < bqe:
                bqe = qe
                bp0 = p0
                bp1 = p1
        _quant_err(e0, g, bp0, q0)
        _quant_err(e1, g, bp1, q1)
        return _assign(px, g, tex, n, q0, q1, search, idx)
    for j in range(ncomb):
        p0 = j & 1
        p1 = p0 if g.pbmode == PB_SHARED else (j >> 1)
        _quant_err(e0, g, p0, t0)
        _quant_err(e1, g, p1, t1)
        err = _assign(px, g, tex, n, t0, t1, search, tidx)
        if err < best:
            best = err
            for c in range(g.c0, g.c1):
                q0[c] = t0[c]
                q1[c] = t1[c]
            memcpy(idx, tidx, n)
    return best


cdef float _fit(const float* px, const Cfg* cfg, const Grp* g, const uint8_t* tex,
                int n, int* q0, int* q1, uint8_t* idx) noexcept nogil:
    """Fit one group: PCA line, projected indices, least squares, then
    ``cfg.iters`` rounds of quantise + index + least squares, keeping the best."""
    cdef float e0[4]
    cdef float e1[4]
    cdef int t0[4]
    cdef int t1[4]
    cdef uint8_t tidx[16]
    cdef float err, best = BIG
    cdef int it, c, search
    _pca(px, g, tex, n, e0, e1)
    if n > 2:
        _proj_idx(px, g, tex, n, e0, e1, tidx)
        _lsq(px, g, tex, n, tidx, e0, e1)
    for it in range(cfg.iters):
        # neighbour search (idx_full 1) only pays on the final pass
        search = cfg.idx_full if (cfg.idx_full == 2 or it + 1 == cfg.iters) else 0
        err = _quant_assign(px, cfg, g, tex, n, e0, e1, t0, t1, tidx, search)
        if err < best:
            best = err
            for c in range(g.c0, g.c1):
                q0[c] = t0[c]
                q1[c] = t1[c]
            memcpy(idx, tidx, n)
        elif it > 0:
            break
        if best <= 0 or it + 1 == cfg.iters:
            break
        if not _lsq(px, g, tex, n, tidx, e0, e1):
            break
    return best


# ---------------------------------------------------------------- partitions

cdef extern from *:
    """
    #if defined(__GNUC__)
    #define oxy_popcount16(x) __builtin_popcount((unsigned)(x))
    #else
    static inline int oxy_popcount16(unsigned x) {
        int n = 0; while (x) { x &= x - 1; n++; } return n;
    }
    #endif
    """
    int oxy_popcount16(unsigned int x) nogil


# 2-subset shapes, most used first (mode 1/3 picks on training photos that are
# not bench images: chelsea, immunohistochemistry, hubble, retina, Wrinkles.jpg).
# The first 32 cover ~93% of the picks; presets may score only a prefix.
cdef int _ORDER2[64]
_ORDER2[:] = [0, 13, 23, 3, 16, 10, 2, 21, 1, 19, 15, 6, 7, 14, 29, 25, 26, 24, 35, 5,
              4, 11, 18, 17, 12, 8, 22, 20, 9, 60, 61, 63, 62, 46, 45, 30, 31, 28, 33,
              27, 43, 42, 59, 57, 56, 32, 41, 40, 58, 48, 49, 51, 47, 54, 50, 52, 44,
              53, 55, 37, 36, 38, 39, 34]

cdef uint8_t _L2[64][16]       # texels of the smaller side of 2-subset shape p
cdef int _N2[64]
cdef uint8_t _L3[64][2][16]    # texels of subsets 1 and 2 of 3-subset shape p
cdef int _N3[64][2]


cdef void _init_tables() noexcept:
    cdef int p, i, s
    _RCP[0] = 0
    for i in range(1, 17):
        _RCP[i] = 1.0 / i
    for p in range(64):
        # subset sums are symmetric in the two sides: list the smaller one
        _N2[p] = 0
        _N3[p][0] = 0
        _N3[p][1] = 0
        for i in range(16):
            s = (oxy_bc7_p2[p] >> i) & 1
            if s == (1 if oxy_popcount16(oxy_bc7_p2[p]) <= 8 else 0):
                _L2[p][_N2[p]] = i
                _N2[p] += 1
            s = (oxy_bc7_p3[p] >> (2 * i)) & 3
            if s:
                _L3[p][s - 1][_N3[p][s - 1]] = i
                _N3[p][s - 1] += 1


_init_tables()


cdef inline float _line_est3(const int* mo, int n, const float* sw, float* lam_out) noexcept nogil:
    """Line-fit scores of one RGB subset from its integer moments.

    ``mo`` = sums of x, y, z, xx, xy, xz, yy, yz, zz over the subset's ``n``
    texels.  Returns the weighted scatter left off the principal axis (trace -
    lambda_max) and adds lambda_max (scatter along it) to ``lam_out``;
    lambda_max comes from a Rayleigh quotient after two power-iteration steps.
    """
    cdef float inv, a, b, c, d, e, f, tr, v0, v1, v2, n0, n1, n2, m0, m1, m2, nn, lam
    if n <= 1:
        return 0
    inv = _RCP[n]
    a = (mo[3] - <float>mo[0] * mo[0] * inv) * sw[0] * sw[0]
    b = (mo[4] - <float>mo[0] * mo[1] * inv) * sw[0] * sw[1]
    c = (mo[5] - <float>mo[0] * mo[2] * inv) * sw[0] * sw[2]
    d = (mo[6] - <float>mo[1] * mo[1] * inv) * sw[1] * sw[1]
    e = (mo[7] - <float>mo[1] * mo[2] * inv) * sw[1] * sw[2]
    f = (mo[8] - <float>mo[2] * mo[2] * inv) * sw[2] * sw[2]
    tr = a + d + f
    if tr <= 1e-3:
        return 0
    if a >= d and a >= f:
        v0 = a
        v1 = b
        v2 = c
    elif d >= f:
        v0 = b
        v1 = d
        v2 = e
    else:
        v0 = c
        v1 = e
        v2 = f
    # n = C v, m = C n; Rayleigh estimate lambda = n.m / n.n (no normalisation:
    # magnitudes stay far below float range for 8-bit texels)
    n0 = a * v0 + b * v1 + c * v2
    n1 = b * v0 + d * v1 + e * v2
    n2 = c * v0 + e * v1 + f * v2
    m0 = a * n0 + b * n1 + c * n2
    m1 = b * n0 + d * n1 + e * n2
    m2 = c * n0 + e * n1 + f * n2
    nn = n0 * n0 + n1 * n1 + n2 * n2
    if nn <= 0:
        return tr
    lam = (n0 * m0 + n1 * m1 + n2 * m2) / nn
    if lam > tr:
        lam = tr
    lam_out[0] += lam
    return tr - lam


cdef inline float _line_est4(const int* mo, int n, const float* sw, float* lam_out) noexcept nogil:
    """RGBA version of _line_est3: ``mo`` = x, y, z, w, then the 10 products."""
    cdef float cv[4][4]
    cdef float v[4]
    cdef float nv[4]
    cdef float mv[4]
    cdef float inv, tr, nn, lam, t
    cdef int i, j, k, bi
    if n <= 1:
        return 0
    inv = _RCP[n]
    k = 4
    for i in range(4):
        for j in range(i, 4):
            t = (mo[k] - <float>mo[i] * mo[j] * inv) * sw[i] * sw[j]
            cv[i][j] = t
            cv[j][i] = t
            k += 1
    tr = cv[0][0] + cv[1][1] + cv[2][2] + cv[3][3]
    if tr <= 1e-3:
        return 0
    bi = 0
    for i in range(1, 4):
        if cv[i][i] > cv[bi][bi]:
            bi = i
    for i in range(4):
        v[i] = cv[bi][i]
    for i in range(4):
        nv[i] = cv[i][0] * v[0] + cv[i][1] * v[1] + cv[i][2] * v[2] + cv[i][3] * v[3]
    nn = 0
    lam = 0
    for i in range(4):
        mv[i] = cv[i][0] * nv[0] + cv[i][1] * nv[1] + cv[i][2] * nv[2] + cv[i][3] * nv[3]
        nn += nv[i] * nv[i]
        lam += nv[i] * mv[i]
    if nn <= 0:
        return tr
    lam /= nn
    if lam > tr:
        lam = tr
    lam_out[0] += lam
    return tr - lam




cdef void _part_scores(const int* ipx, const float* sw, int nch, int ns,
                       const int* plist, int np, float* res, float* lam) noexcept nogil:
    """Line-fit scores of the partition shapes in ``plist`` (see _line_est3).

    ``res[i]`` is the scatter left off each subset's principal axis, ``lam[i]``
    the scatter along it, summed over subsets; a mode with L index levels is
    then estimated as res + lam / (L - 1)^2 (uniform quantisation on the line).
    Moments are exact integer sums: each texel's 16-int moment row is added over
    the texel list of the smaller side of a 2-subset shape (subsets 1 and 2 of a
    3-subset shape), the rest follows from the block total.  Channel weights are
    applied to the covariance afterwards.
    """
    cdef int mom[16][16]
    cdef int tot[16]
    cdef int sub[3][16]
    cdef int pj[10]
    cdef int pk[10]
    cdef int nm = nch + nch * (nch + 1) // 2
    cdef int i, j, kk, s, p, q, n, t
    cdef float r, l
    cdef const uint8_t* lst
    kk = 0
    for j in range(nch):
        for i in range(j, nch):
            pj[kk] = j
            pk[kk] = i
            kk += 1
    for j in range(16):
        tot[j] = 0
    for i in range(16):
        for j in range(16):
            mom[i][j] = 0
        for j in range(nch):
            mom[i][j] = ipx[4 * i + j]
        for j in range(nm - nch):
            mom[i][nch + j] = ipx[4 * i + pj[j]] * ipx[4 * i + pk[j]]
        mom[i][15] = 1
        for j in range(16):
            tot[j] += mom[i][j]
    for q in range(np):
        p = plist[q]
        if ns == 2:
            for j in range(16):
                sub[1][j] = 0
            n = _N2[p]
            lst = _L2[p]
            for i in range(n):
                t = lst[i]
                for j in range(16):
                    sub[1][j] += mom[t][j]
            for j in range(16):
                sub[0][j] = tot[j] - sub[1][j]
        else:
            for s in range(1, 3):
                for j in range(16):
                    sub[s][j] = 0
                n = _N3[p][s - 1]
                lst = _L3[p][s - 1]
                for i in range(n):
                    t = lst[i]
                    for j in range(16):
                        sub[s][j] += mom[t][j]
            for j in range(16):
                sub[0][j] = tot[j] - sub[1][j] - sub[2][j]
        r = 0
        l = 0
        for s in range(ns):
            if nch == 3:
                r += _line_est3(sub[s], sub[s][15], sw, &l)
            else:
                r += _line_est4(sub[s], sub[s][15], sw, &l)
        res[q] = r
        lam[q] = l


cdef int _top_k(const float* res, const float* lam, const int* plist, int np,
                int limit, float fq, int k, int* out, float* lower) noexcept nogil:
    """The ``k`` shapes (ids < ``limit``) with the lowest estimate res + fq * lam,
    best first.  ``lower[i]`` gets shape i's ``res``: the weighted scatter off the
    subsets' principal axes, a true lower bound of any encoding's error."""
    cdef float best[16]
    cdef float est
    cdef int q, i, nstored = 0
    for q in range(np):
        if plist[q] >= limit:
            continue
        est = res[q] + fq * lam[q]
        if nstored < k:
            i = nstored
            nstored += 1
        elif est < best[k - 1]:
            i = k - 1
        else:
            continue
        while i > 0 and best[i - 1] > est:
            best[i] = best[i - 1]
            out[i] = out[i - 1]
            lower[i] = lower[i - 1]
            i -= 1
        best[i] = est
        out[i] = plist[q]
        lower[i] = res[q]
    return nstored


# ---------------------------------------------------------------- modes

ctypedef struct Blk:
    float px[64]         # texels, RGBA as float
    int ipx[64]          # texels as integers (partition estimate)
    int opaque           # every alpha is 255
    float aerr           # error of decoding alpha as 255 (modes 0-3)
    # partition-shape scores, computed once per block and channel count and
    # shared by the modes with that subset count (index: 0 = 2 subsets, 1 = 3)
    int sc_nch[2]        # channel count the scores were made for, 0 = none yet
    int sc_np[2]
    int sc_list[2][64]
    float sc_res[2][64]
    float sc_lam[2][64]


cdef void _try_joint(const Blk* b, const Cfg* cfg, int mode, int part,
                     Enc* best) noexcept nogil:
    """Encode with a mode whose subsets share one index set (0-3, 6, 7)."""
    cdef OxyBC7Mode m = oxy_bc7_modes[mode]
    cdef Enc cur
    cdef uint8_t tex[3][16]
    cdef uint8_t sidx[16]
    cdef int cnt[3]
    cdef int i, s, e, nch, nb, pbmode, qa
    cdef float err
    cdef Grp g
    nch = 3 if (m.ab == 0 or b.opaque) else 4
    nb = m.cb + (1 if (m.epb or m.spb) else 0)
    pbmode = PB_UNIQUE if m.epb else (PB_SHARED if m.spb else PB_NONE)
    if m.ab and b.opaque:
        pbmode = PB_ONE
    _grp(&g, cfg, 0, nch, nb, pbmode, m.ib, 3 if nch == 4 else -1)
    cnt[0] = 0
    cnt[1] = 0
    cnt[2] = 0
    for i in range(16):
        s = oxy_bc7_subset_of(m.ns, part, i)
        tex[s][cnt[s]] = <uint8_t>i
        cnt[s] += 1
    err = b.aerr if m.ab == 0 else 0
    for s in range(m.ns):
        if err >= best.err:
            return
        err += _fit(b.px, cfg, &g, tex[s], cnt[s], cur.q[s][0], cur.q[s][1], sidx)
        for i in range(cnt[s]):
            cur.idx[tex[s][i]] = sidx[i]
        if nch == 3:
            qa = (1 << (m.ab + 1)) - 1 if m.ab else 0
            for e in range(2):
                cur.q[s][e][3] = qa
    if err < best.err:
        cur.err = err
        cur.mode = mode
        cur.part = part
        cur.rot = 0
        cur.isel = 0
        memcpy(best, &cur, sizeof(Enc))


cdef void _try_45(const Blk* b, const Cfg* cfg, int mode, int rot, int isel,
                  Enc* best) noexcept nogil:
    """Modes 4/5: colour and one scalar channel with separate index sets."""
    cdef OxyBC7Mode m = oxy_bc7_modes[mode]
    cdef Enc cur
    cdef Cfg rc
    cdef float rpx[64]
    cdef uint8_t tex[16]
    cdef int i, c, cib, aib
    cdef float err, t
    cdef Grp g
    memcpy(&rc, cfg, sizeof(Cfg))
    memcpy(rpx, b.px, sizeof(rpx))
    if rot:
        c = rot - 1
        for i in range(16):
            rpx[4 * i + c] = b.px[4 * i + 3]
            rpx[4 * i + 3] = b.px[4 * i + c]
        t = rc.w[c]
        rc.w[c] = rc.w[3]
        rc.w[3] = t
        t = rc.sw[c]
        rc.sw[c] = rc.sw[3]
        rc.sw[3] = t
    for i in range(16):
        tex[i] = <uint8_t>i
    cib = m.ib2 if isel else m.ib
    aib = m.ib if isel else m.ib2
    _grp(&g, &rc, 0, 3, m.cb, PB_NONE, cib, rot - 1)
    err = _fit(rpx, &rc, &g, tex, 16, cur.q[0][0], cur.q[0][1], cur.idx)
    if err >= best.err:
        return
    _grp(&g, &rc, 3, 4, m.ab, PB_NONE, aib, 3 if rot == 0 else -1)
    err += _fit(rpx, &rc, &g, tex, 16, cur.q[0][0], cur.q[0][1], cur.aidx)
    if err < best.err:
        cur.err = err
        cur.mode = mode
        cur.part = 0
        cur.rot = rot
        cur.isel = isel
        memcpy(best, &cur, sizeof(Enc))


cdef int _shapes(Blk* b, const Cfg* cfg, int mode, int* out, float* est) noexcept nogil:
    """Partition shapes worth fitting for a partitioned mode, best first."""
    cdef OxyBC7Mode m = oxy_bc7_modes[mode]
    cdef int nch = 3 if (m.ab == 0 or b.opaque) else 4
    cdef int t = m.ns - 2, i
    cdef float fq = 1.0 / (((1 << m.ib) - 1) * ((1 << m.ib) - 1))
    if b.sc_nch[t] != nch:
        if m.ns == 2:
            b.sc_np[t] = cfg.max_shapes
            for i in range(cfg.max_shapes):
                b.sc_list[t][i] = _ORDER2[i]
        else:
            b.sc_np[t] = 64
            for i in range(64):
                b.sc_list[t][i] = i
        _part_scores(b.ipx, cfg.sw, nch, m.ns, b.sc_list[t], b.sc_np[t],
                     b.sc_res[t], b.sc_lam[t])
        b.sc_nch[t] = nch
    return _top_k(b.sc_res[t], b.sc_lam[t], b.sc_list[t], b.sc_np[t], 1 << m.pb,
                  fq, cfg.nparts[mode], out, est)


cdef void _try_mode(Blk* b, const Cfg* cfg, int mode, Enc* best) noexcept nogil:
    cdef OxyBC7Mode m = oxy_bc7_modes[mode]
    cdef int parts[16]
    cdef float est[16]
    cdef int np, i, r, nrot
    if mode == 6:
        _try_joint(b, cfg, 6, 0, best)
    elif mode == 4 or mode == 5:
        nrot = 4 if (not b.opaque or cfg.rot_opaque) else 1
        for r in range(nrot):
            _try_45(b, cfg, mode, r, 0, best)
            if mode == 4:
                _try_45(b, cfg, mode, r, 1, best)
    else:
        if m.ab == 0 and b.aerr >= best.err:
            return
        np = _shapes(b, cfg, mode, parts, est)
        for i in range(np):
            # no encoding with this shape can beat the best error so far
            if est[i] >= best.err:
                continue
            _try_joint(b, cfg, mode, parts[i], best)


# ---------------------------------------------------------------- packing

cdef inline void _put(uint64_t* w, int* pos, uint64_t v, int n) noexcept nogil:
    cdef int p = pos[0]
    if p < 64:
        w[0] |= v << p
        if p + n > 64:
            w[1] |= v >> (64 - p)
    else:
        w[1] |= v << (p - 64)
    pos[0] = p + n


cdef inline void _swap_ep(Enc* e, int s, int c0, int c1) noexcept nogil:
    cdef int c, t
    for c in range(c0, c1):
        t = e.q[s][0][c]
        e.q[s][0][c] = e.q[s][1][c]
        e.q[s][1][c] = t


cdef void _pack(Enc* e, uint8_t* out) noexcept nogil:
    """Fix anchor indices (swap endpoints where needed) and write the 128 bits."""
    cdef OxyBC7Mode m = oxy_bc7_modes[e.mode]
    cdef uint64_t w[2]
    cdef int pos = 0, s, i, c, a, nk, pshift, cib, aib
    cdef int anchor[3]
    pshift = 1 if (m.epb or m.spb) else 0
    if m.ib2 == 0:
        nk = (1 << m.ib) - 1
        anchor[0] = 0
        if m.ns == 2:
            anchor[1] = oxy_bc7_anchor2[e.part]
        elif m.ns == 3:
            anchor[1] = oxy_bc7_anchor3a[e.part]
            anchor[2] = oxy_bc7_anchor3b[e.part]
        for s in range(m.ns):
            if e.idx[anchor[s]] >> (m.ib - 1):
                _swap_ep(e, s, 0, 4)
                for i in range(16):
                    if oxy_bc7_subset_of(m.ns, e.part, i) == s:
                        e.idx[i] = <uint8_t>(nk - e.idx[i])
    else:
        cib = m.ib2 if e.isel else m.ib
        aib = m.ib if e.isel else m.ib2
        if e.idx[0] >> (cib - 1):
            _swap_ep(e, 0, 0, 3)
            for i in range(16):
                e.idx[i] = <uint8_t>((1 << cib) - 1 - e.idx[i])
        if e.aidx[0] >> (aib - 1):
            _swap_ep(e, 0, 3, 4)
            for i in range(16):
                e.aidx[i] = <uint8_t>((1 << aib) - 1 - e.aidx[i])
    w[0] = 0
    w[1] = 0
    _put(w, &pos, 1 << e.mode, e.mode + 1)
    _put(w, &pos, e.part, m.pb)
    _put(w, &pos, e.rot, m.rb)
    _put(w, &pos, e.isel, m.isb)
    for c in range(3):
        for s in range(m.ns):
            _put(w, &pos, e.q[s][0][c] >> pshift, m.cb)
            _put(w, &pos, e.q[s][1][c] >> pshift, m.cb)
    if m.ab:
        for s in range(m.ns):
            _put(w, &pos, e.q[s][0][3] >> pshift, m.ab)
            _put(w, &pos, e.q[s][1][3] >> pshift, m.ab)
    if m.epb:
        for s in range(m.ns):
            _put(w, &pos, e.q[s][0][0] & 1, 1)
            _put(w, &pos, e.q[s][1][0] & 1, 1)
    elif m.spb:
        for s in range(m.ns):
            _put(w, &pos, e.q[s][0][0] & 1, 1)
    if m.ib2 == 0:
        for i in range(16):
            _put(w, &pos, e.idx[i], m.ib - oxy_bc7_is_anchor(m.ns, e.part, i))
    else:
        for i in range(16):
            _put(w, &pos, e.aidx[i] if e.isel else e.idx[i], m.ib - (i == 0))
        for i in range(16):
            _put(w, &pos, e.idx[i] if e.isel else e.aidx[i], m.ib2 - (i == 0))
    for i in range(8):
        out[i] = <uint8_t>(w[0] >> (8 * i))
        out[8 + i] = <uint8_t>(w[1] >> (8 * i))


# ---------------------------------------------------------------- driver

cdef int _ORDER[7]
_ORDER[:] = [1, 3, 0, 2, 7, 5, 4]


cdef void _encode_block(const uint8_t* tx, const Cfg* cfg, uint8_t* out) noexcept nogil:
    cdef Blk b
    cdef Enc best
    cdef int i, c, m, mask
    cdef float d
    b.opaque = 1
    b.aerr = 0
    b.sc_nch[0] = 0
    b.sc_nch[1] = 0
    for i in range(16):
        for c in range(4):
            b.px[4 * i + c] = tx[4 * i + c]
            b.ipx[4 * i + c] = tx[4 * i + c]
        if tx[4 * i + 3] != 255:
            b.opaque = 0
            d = 255 - tx[4 * i + 3]
            b.aerr += cfg.w[3] * d * d
    best.err = BIG
    if cfg.force_mode >= 0:
        _try_mode(&b, cfg, cfg.force_mode, &best)
        _pack(&best, out)
        return
    mask = cfg.modes_opaque if b.opaque else cfg.modes_alpha
    if mask & 64:
        _try_mode(&b, cfg, 6, &best)
    for i in range(7):
        m = _ORDER[i]
        if best.err <= cfg.good_enough * 16:
            break
        if (mask >> m) & 1:
            _try_mode(&b, cfg, m, &best)
    if cfg.modes_extra and best.err > cfg.extra_above * 16:
        for i in range(7):
            m = _ORDER[i]
            if (cfg.modes_extra >> m) & 1 and not (mask >> m) & 1:
                if m <= 3 and not b.opaque:
                    continue
                _try_mode(&b, cfg, m, &best)
    _pack(&best, out)


cdef void _set_int(Cfg* cfg, str key, int val):
    if key == "iters":
        cfg.iters = max(1, val)
    elif key == "pbit_full":
        cfg.pbit_full = val
    elif key == "idx_full":
        cfg.idx_full = val
    elif key == "modes_opaque":
        cfg.modes_opaque = val
    elif key == "modes_alpha":
        cfg.modes_alpha = val
    elif key == "rot_opaque":
        cfg.rot_opaque = val
    elif key == "modes_extra":
        cfg.modes_extra = val
    elif key == "max_shapes":
        cfg.max_shapes = min(64, max(1, val))


cdef void _setup(Cfg* cfg, int quality, bint perceptual, int force_mode) noexcept:
    cdef int c
    if perceptual:
        cfg.w[0] = 0.299 * 3
        cfg.w[1] = 0.587 * 3
        cfg.w[2] = 0.114 * 3
    else:
        cfg.w[0] = 1
        cfg.w[1] = 1
        cfg.w[2] = 1
    cfg.w[3] = 1
    for c in range(4):
        cfg.sw[c] = sqrtf(cfg.w[c])
    cfg.force_mode = force_mode
    cfg.max_shapes = 64
    cfg.good_enough = 0
    for c in range(8):
        cfg.nparts[c] = 1
    if quality == 0:      # fast: mode 6, plus mode 1 (opaque) / 5 (alpha) on hard blocks
        cfg.iters = 1
        cfg.pbit_full = 0
        cfg.idx_full = 0
        cfg.modes_opaque = 1 << 6
        cfg.modes_alpha = 1 << 6
        cfg.rot_opaque = 0
        cfg.modes_extra = (1 << 1) | (1 << 5)
        cfg.extra_above = 40.0
        cfg.max_shapes = 16
    elif quality == 1:    # normal: modes 6, 1, 3, 5 (opaque) / 6, 5, 7, 4 (alpha)
        cfg.iters = 2
        cfg.pbit_full = 1
        cfg.idx_full = 1
        cfg.modes_opaque = (1 << 6) | (1 << 1) | (1 << 3) | (1 << 5)
        cfg.modes_alpha = (1 << 6) | (1 << 5) | (1 << 7) | (1 << 4)
        cfg.rot_opaque = 0
        cfg.modes_extra = 0
        cfg.extra_above = 0
        cfg.max_shapes = 40
        cfg.good_enough = 1.0
        cfg.nparts[1] = 2
        cfg.nparts[3] = 1
        cfg.nparts[7] = 2
    else:                 # high: every mode (mode 7 never wins on opaque blocks)
        cfg.iters = 3
        cfg.pbit_full = 2
        cfg.idx_full = 2
        cfg.modes_opaque = 0x7f
        cfg.modes_alpha = 0xff
        cfg.rot_opaque = 1
        cfg.modes_extra = 0
        cfg.extra_above = 0
        cfg.max_shapes = 64
        cfg.good_enough = 0.5
        cfg.nparts[0] = 3
        cfg.nparts[1] = 4
        cfg.nparts[2] = 2
        cfg.nparts[3] = 4
        cfg.nparts[7] = 4
    if force_mode >= 0:
        for c in range(8):
            if cfg.nparts[c] < 2:
                cfg.nparts[c] = 2


def encode(const uint8_t[:, :, ::1] rgba, int quality=1, bint perceptual=False,
           int force_mode=-1, dict tune=None):
    """Encode an (H, W, 4) uint8 image to BC7 blocks (row-major); returns bytes.

    ``quality``: 0 fast, 1 normal, 2 high.  ``force_mode`` (test hook): -1 for
    the normal search, or 0..7 to encode every block with that mode.  ``tune``
    (benchmark hook) overrides preset knobs by Cfg field name, e.g.
    ``{"max_shapes": 32, "nparts": [1] * 8, "modes_opaque": 0x42}``.  Releases
    the GIL over the whole block loop; deterministic; thread-safe.
    """
    cdef Py_ssize_t height = rgba.shape[0], width = rgba.shape[1]
    cdef Py_ssize_t bw, bh, bx, by, x, y, xx
    cdef Cfg cfg
    cdef uint8_t tx[64]
    cdef const uint8_t* rows[4]
    cdef uint8_t* outp
    if rgba.shape[2] != 4 or height < 1 or width < 1:
        raise ValueError("rgba must have shape (H, W, 4) with H, W >= 1")
    if quality < 0 or quality > 2:
        raise ValueError("quality must be 0, 1 or 2")
    if force_mode < -1 or force_mode > 7:
        raise ValueError("force_mode must be -1 or 0..7")
    bw = (width + 3) // 4
    bh = (height + 3) // 4
    _setup(&cfg, quality, perceptual, force_mode)
    if tune:
        for key, val in tune.items():
            if key == "nparts":
                for c in range(8):
                    cfg.nparts[c] = min(16, max(1, int(val[c])))
            elif key in ("iters", "pbit_full", "idx_full", "modes_opaque", "modes_alpha",
                         "rot_opaque", "modes_extra", "max_shapes"):
                _set_int(&cfg, key, int(val))
            elif key == "extra_above":
                cfg.extra_above = float(val)
            elif key == "good_enough":
                cfg.good_enough = float(val)
            else:
                raise ValueError(f"unknown tune key {key!r}")
    res = PyBytes_FromStringAndSize(NULL, bw * bh * 16)
    outp = <uint8_t*>PyBytes_AS_STRING(res)
    with nogil:
        for by in range(bh):
            # one band of four texel rows, clamped at the bottom edge
            for y in range(4):
                rows[y] = &rgba[min(by * 4 + y, height - 1), 0, 0]
            for bx in range(bw):
                for y in range(4):
                    for x in range(4):
                        xx = min(bx * 4 + x, width - 1) * 4
                        memcpy(&tx[16 * y + 4 * x], rows[y] + xx, 4)
                _encode_block(tx, &cfg, outp + 16 * (by * bw + bx))
    return res
