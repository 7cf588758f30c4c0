# Included by mips.pyx (textually, in order); not compiled on its own.
# Filter tap tables: odd-size box weights and the Kaiser-windowed sinc.

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
