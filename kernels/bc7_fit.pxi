# Included by bc7_encode.pyx (textually, in order); not compiled on its own.
# Endpoint quantisation and fitting: principal axis, projection, least squares,
# index assignment and the quantise/assign refinement loop.

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
                   const int* q0, const int* q1, int search, uint8_t* idx,
                   float bound) noexcept nogil:
    """Pick each texel's palette index; return the weighted squared error, or as
    soon as the error so far reaches ``bound`` that partial sum (>= bound: the caller
    only wants palettes better than ``bound``; ``idx`` is then incomplete).

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
        if err >= bound:
            return err
    return err


cdef float _quant_assign(const float* px, int pbit_full, const Grp* g,
                         const uint8_t* tex, int n, const float* e0, const float* e1,
                         int* q0, int* q1, uint8_t* idx, int search, float bound) noexcept nogil:
    """Quantise endpoints (choosing p-bits as ``pbit_full`` says, see Cfg), then
    index; return the error (an error >= ``bound`` may be a partial sum, with
    ``q0``/``q1``/``idx`` not set: see :func:`_assign`)."""
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
        return _assign(px, g, tex, n, q0, q1, search, idx, bound)
    ncomb = 2 if g.pbmode == PB_SHARED else 4
    if pbit_full == 0 or (pbit_full == 1 and ncomb == 4):
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
        return _assign(px, g, tex, n, q0, q1, search, idx, bound)
    for j in range(ncomb):
        p0 = j & 1
        p1 = p0 if g.pbmode == PB_SHARED else (j >> 1)
        _quant_err(e0, g, p0, t0)
        _quant_err(e1, g, p1, t1)
        err = _assign(px, g, tex, n, t0, t1, search, tidx, best if best < bound else bound)
        if err < best:
            best = err
            for c in range(g.c0, g.c1):
                q0[c] = t0[c]
                q1[c] = t1[c]
            memcpy(idx, tidx, n)
    return best


# The monotone maps of K sorted colours (K = 2, 3, 4) onto the four 2-bit palette
# entries (non-decreasing, not constant), as the entries' weights t = w2 / 64, in
# the order of the 4**K codes (colour k's entry in bits 2k, 2k+1): _NMAPS[K] of them.
cdef int _NMAPS[5]
cdef double _MAPT[5][35][4]


cdef void _init_maps():
    cdef int K, m, k, n, ok
    cdef int a[4]
    for K in range(5):
        n = 0
        if K >= 2:
            for m in range(1 << (2 * K)):
                ok = 1
                for k in range(K):
                    a[k] = (m >> (2 * k)) & 3
                    if k > 0 and a[k] < a[k - 1]:
                        ok = 0
                if not ok or a[0] == a[K - 1]:
                    continue
                for k in range(4):
                    _MAPT[K][n][k] = oxy_bc7_w2[a[k]] / 64.0 if k < K else 0
                n += 1
        _NMAPS[K] = n


_init_maps()


cdef float _cluster_fit(const float* px, const Cfg* cfg, const Grp* g, const uint8_t* tex,
                        int n, const float* e0, const float* e1, float best,
                        int* q0, int* q1, uint8_t* idx) noexcept nogil:
    """Few-colour groups with 2-bit indices: the exact search.

    When the group's texels take at most 4 distinct colours (content that was
    palettised or block-compressed before: BC1 leaves 4 colours evenly spaced on a
    line), the best encoding maps those colours, in their order along the axis
    ``e0`` -> ``e1``, monotonically onto the 4 palette entries.  Every such map
    (at most 31) gets least-squares endpoints solved with the decoder's exact
    weights (0, 21, 43, 64) / 64, then quantisation + index selection; so colours
    that some pair of quantised endpoints reproduces exactly are found even when
    the subset's own extremes are not the endpoints (e.g. 3 of 4 BC1 colours in one
    subset).  Returns the best error, updating ``q0``/``q1``/``idx`` when a map
    beats ``best``.  Groups of more than 4 colours, of one colour, or whose texels are
    all distinct (no repeated colour: photographs' small subsets, where the search
    costs time and rarely wins) return ``best`` at once.
    """
    cdef float col[4][4]
    cdef float cw[4]
    cdef float pr[4]
    cdef float dirv[4]
    cdef float f0[4]
    cdef float f1[4]
    cdef int srt[4]
    cdef int t0[4]
    cdef int t1[4]
    cdef uint8_t tidx[16]
    cdef int i, j, c, k, K = 0, found, m, ok, tmp, search
    cdef double aa, ab, bb, x0, x1, d0, d1, dt, ds, dw, ddet, res
    cdef double y2[4]
    cdef double sy[4]
    cdef double cy[4][4]
    cdef float err, wsum = 0
    cdef float mres[35]
    cdef float rres[35]
    cdef int mid[35]
    cdef float r0[4]
    cdef float r1[4]
    cdef float me[35][2][4]
    cdef int nm = 0
    cdef float tol, lo
    cdef const float* p
    for c in range(4):
        wsum += g.w[c]
    for i in range(n):
        p = px + 4 * tex[i]
        found = -1
        for j in range(K):
            ok = 1
            for c in range(g.c0, g.c1):
                if col[j][c] != p[c]:
                    ok = 0
            if ok:
                found = j
                break
        if found >= 0:
            cw[found] += 1
        else:
            if K == 4:
                return best
            for c in range(4):
                col[K][c] = p[c]
            cw[K] = 1
            K += 1
    if K < 2 or K == n:
        return best
    # order the colours along the fitted axis (insertion sort of <= 4)
    for c in range(4):
        dirv[c] = (e1[c] - e0[c]) * g.w[c]
    for k in range(K):
        pr[k] = 0
        for c in range(4):
            pr[k] += col[k][c] * dirv[c]
        srt[k] = k
    for k in range(1, K):
        j = k
        while j > 0 and pr[srt[j - 1]] > pr[srt[j]]:
            tmp = srt[j]
            srt[j] = srt[j - 1]
            srt[j - 1] = tmp
            j -= 1
    search = cfg.idx_full if cfg.idx_full > 0 else 1
    # per channel: the weighted sums of the colours and of their squares (the
    # residual of a least-squares fit is sum(y^2) - f0 . x0 - f1 . x1)
    for c in range(g.c0, g.c1):
        y2[c] = 0
        sy[c] = 0
        for k in range(K):
            cy[k][c] = cw[srt[k]] * col[srt[k]][c]
            sy[c] += cy[k][c]
            y2[c] += cy[k][c] * col[srt[k]][c]
    for m in range(_NMAPS[K]):
        # the map: sorted colour k -> palette weight _MAPT[K][m][k] (non-decreasing,
        # not constant; the table lists them in the order of the original search)
        aa = 0
        ab = 0
        bb = 0
        for k in range(K):
            dt = _MAPT[K][m][k]
            ds = 1 - dt
            dw = cw[srt[k]]
            aa += dw * ds * ds
            ab += dw * ds * dt
            bb += dw * dt * dt
        ddet = aa * bb - ab * ab
        if ddet < 1e-4:
            continue
        ddet = 1 / ddet
        res = 0
        for c in range(g.c0, g.c1):
            x1 = 0
            for k in range(K):
                x1 += _MAPT[K][m][k] * cy[k][c]
            x0 = sy[c] - x1
            d0 = (bb * x0 - ab * x1) * ddet
            d1 = (aa * x1 - ab * x0) * ddet
            f0[c] = <float>d0
            f1[c] = <float>d1
            # the map's real-valued residual (the minimum over all endpoints): ~0 for
            # the right map of exactly representable colours (with 2 colours, or
            # colours that fit several spacings, more than one map has it)
            res += g.w[c] * (y2[c] - d0 * x0 - d1 * x1)
        mres[nm] = <float>res
        mid[nm] = m
        for c in range(4):
            me[nm][0][c] = f0[c] if g.c0 <= c < g.c1 else 0
            me[nm][1][c] = f1[c] if g.c0 <= c < g.c1 else 0
        nm += 1
    # quantise the maps in order of residual, those within ``tol`` of the least
    # and below the best error (+ what rounding the interpolated values to
    # integers can give back, < 0.5 per channel: ``cluster_margin``), at most
    # ``cluster_tries`` of them
    tol = n * wsum * cfg.cluster_margin
    lo = BIG
    for j in range(nm):
        if mres[j] < lo:
            lo = mres[j]
    # the candidates are ranked by their residual with the endpoints rounded to
    # integers (several maps often fit exactly in real numbers; those whose
    # endpoints are whole colours are the ones quantisation keeps exact)
    for j in range(nm):
        rres[j] = BIG
        if mres[j] <= lo + tol:
            rres[j] = 0
            for c in range(g.c0, g.c1):
                r0[c] = <float>(<int>(_clamp255(me[j][0][c]) + <float>0.5))
                r1[c] = <float>(<int>(_clamp255(me[j][1][c]) + <float>0.5))
            for k in range(K):
                dt = _MAPT[K][mid[j]][k]
                for c in range(g.c0, g.c1):
                    ds = col[srt[k]][c] - ((1 - dt) * r0[c] + dt * r1[c])
                    rres[j] += <float>(cw[srt[k]] * g.w[c] * ds * ds)
    for k in range(cfg.cluster_tries):
        j = -1
        for i in range(nm):
            if rres[i] < BIG and (j < 0 or rres[i] < rres[j]):
                j = i
        if j < 0 or mres[j] >= best + tol:
            break
        rres[j] = BIG  # taken
        for c in range(4):
            f0[c] = _clamp255(me[j][0][c])
            f1[c] = _clamp255(me[j][1][c])
        if g.ach >= 0:
            _alpha_guard(px, g.ach, tex, n, f0, f1)
        # every p-bit choice fully indexed: the map is right, the p-bits decide
        err = _quant_assign(px, 2, g, tex, n, f0, f1, t0, t1, tidx, search, best)
        if err < best:
            best = err
            for c in range(g.c0, g.c1):
                q0[c] = t0[c]
                q1[c] = t1[c]
            memcpy(idx, tidx, n)
            if best <= 0:
                break
    return best


cdef float _fit(const float* px, const Cfg* cfg, const Grp* g, const uint8_t* tex,
                int n, int* q0, int* q1, uint8_t* idx, float bound) noexcept nogil:
    """Fit one group: PCA line, projected indices, least squares, then
    ``cfg.iters`` rounds of quantise + index + least squares, keeping the best.
    ``bound``: the caller's budget for this group (the mode loses if the group's error
    reaches it); the last round and the exact search stop early at it, so a result
    >= ``bound`` may be a partial sum with ``idx`` incomplete."""
    cdef float e0[4]
    cdef float e1[4]
    cdef float a0[4]
    cdef float a1[4]
    cdef int t0[4]
    cdef int t1[4]
    cdef uint8_t tidx[16]
    cdef float err, best = BIG, qb
    cdef int it, c, search
    _pca(px, g, tex, n, e0, e1)
    for c in range(4):
        a0[c] = e0[c]
        a1[c] = e1[c]
    if n > 2:
        _proj_idx(px, g, tex, n, e0, e1, tidx)
        _lsq(px, g, tex, n, tidx, e0, e1)
    for it in range(cfg.iters):
        # neighbour search (idx_full 1) only pays on the final pass
        search = cfg.idx_full if (cfg.idx_full == 2 or it + 1 == cfg.iters) else 0
        # earlier rounds run in full: the next least squares needs their indices
        qb = bound if (it + 1 == cfg.iters and bound < best) else best
        err = _quant_assign(px, cfg.pbit_full, g, tex, n, e0, e1, t0, t1, tidx, search, qb)
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
    if cfg.cluster and g.ib == 2 and best > 0:
        best = _cluster_fit(px, cfg, g, tex, n, a0, a1, best if best < bound else bound, q0, q1, idx)
    return best
