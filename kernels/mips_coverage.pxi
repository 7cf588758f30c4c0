# Included by mips.pyx (textually, in order); not compiled on its own.
# Alpha-coverage measurement and preservation (scale search, tie splitting).

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
