# Included by bc7_encode.pyx (textually, in order); not compiled on its own.
# Partition shapes: per-block cheap scores of every 2- and 3-subset shape and
# the top-k selection that decides which shapes get a full fit.

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
