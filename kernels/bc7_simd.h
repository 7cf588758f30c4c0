/* BC7 mode-6 block encoder with run-time SIMD dispatch (included by bc7_encode.pyx).
 *
 * One 4x4 block is held structure-of-arrays (x[channel][texel], 16 int32 lanes per
 * channel) and every per-texel step is a fixed 16-iteration loop that the compiler
 * vectorises.  All reductions are integer sums / minima / maxima, and per-lane float
 * maths is a fixed sequence of IEEE single operations (no reassociation, no FMA:
 * the "avx2" target does not enable FMA contraction), so the SSE2 ("default") and
 * AVX2 builds of the same body return bit-identical results.  The scalar parts
 * (principal axis, least-squares solve, endpoint quantisation) are plain C shared
 * by both paths.
 *
 * The fit: integer covariance -> principal axis (power iteration) -> integer
 * projection -> indices from the projected range -> least-squares endpoints ->
 * quantise (opaque blocks: p-bits pinned to 1, so alpha decodes to exactly 255,
 * unless ``pfree``: then by the colour's error, alpha decoding to 254 or 255;
 * otherwise each endpoint's p-bit by quantisation error) -> indices against the
 * quantised palette (projection, optionally +/-1 neighbours) -> further
 * least-squares rounds while the error drops.
 *
 * Thread rules: pure functions of their arguments (stack memory only); the dispatch
 * table is filled once by oxy_m6_init() at module import, under the GIL.
 */
#ifndef OXY_BC7_SIMD_H
#define OXY_BC7_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define OXY_M6_X86 1
#else
#define OXY_M6_X86 0
#endif

#if defined(__GNUC__)
#define OXY_M6_INLINE static inline __attribute__((always_inline))
#else
#define OXY_M6_INLINE static inline
#endif

typedef struct {
    int w[4];      /* integer error weights of R, G, B, A (linear: all 1) */
    float sw[4];   /* sqrt(w): the fit happens in weighted space */
    int iters;     /* least-squares passes (>= 1) */
    int search;    /* 0: projected index only; 1: also its two neighbours */
    int pfree;     /* 1: opaque blocks choose p-bits for colour (alpha decodes to 254 or 255) */
} oxy_m6_cfg;

/* Encode one block (tx: 16 texels RGBA8, row-major) in mode 6 into out[16];
 * returns the weighted squared error (sum over texels of w[c] * diff^2). */
typedef uint32_t (*oxy_m6_fn)(const uint8_t *tx, const oxy_m6_cfg *cfg, uint8_t *out);

/* weight (out of 64) of 4-bit index k: 0 4 9 13 17 21 26 30 34 38 43 47 51 55 60 64 */
#define OXY_M6_W(k) ((17 * (k) + 2) >> 2)   /* == (64 k + 7) / 15 for k in 0..15 */

OXY_M6_INLINE void oxy_m6_quant(const float *e, int nch, int pinned, const int *w, int *code)
{
    /* 7-bit code + p-bit per channel; the p-bit is shared by the endpoint's
       channels.  The 8-bit value (code << 1 | p) is also the decoded value.
       ``pinned``: p = 1 only; the error counts the first ``nch`` channels. */
    int t[4], p, c, q;
    float err, best = 3.0e38f, d;
    for (p = pinned ? 1 : 0; p < 2; p++) {
        err = 0;
        for (c = 0; c < 4; c++) {
            q = (int)((e[c] - (float)p) * 0.5f + 0.5f);
            q = q < 0 ? 0 : (q > 127 ? 127 : q);
            t[c] = (q << 1) | p;
            d = (float)t[c] - e[c];
            if (c < nch)
                err += (float)w[c] * d * d;
        }
        if (err < best) {
            best = err;
            memcpy(code, t, sizeof(t));
        }
    }
}

/* Indices of the 16 texels against the palette of endpoint values c0, c1;
 * returns the weighted squared error. */
OXY_M6_INLINE uint32_t oxy_m6_assign(const int32_t x[4][16], const int *w, const int *c0,
                                     const int *c1, int search, int32_t *idx,
                                     const int lin, const int alpha)
{
    /* lin / alpha are compile-time constants at every call: weights all 1, and
       whether the alpha channel varies (opaque blocks: alpha terms are all 0) */
    int32_t w0 = lin ? 1 : w[0], w1 = lin ? 1 : w[1], w2 = lin ? 1 : w[2];
    int32_t w3 = alpha ? (lin ? 1 : w[3]) : 0;
    int32_t d0 = c1[0] - c0[0], d1 = c1[1] - c0[1], d2 = c1[2] - c0[2];
    int32_t d3 = alpha ? c1[3] - c0[3] : 0;
    int32_t wd0 = w0 * d0, wd1 = w1 * d1, wd2 = w2 * d2, wd3 = w3 * d3;
    int32_t dd = wd0 * d0 + wd1 * d1 + wd2 * d2 + wd3 * d3;
    int32_t e0 = c0[0], e1 = c0[1], e2 = c0[2], e3 = c0[3];
    float sc = dd > 0 ? 15.0f / (float)dd : 0.0f;
    int32_t err[16];
    uint32_t total = 0;
    int i;
    for (i = 0; i < 16; i++) {
        int32_t r = x[0][i] - e0, g = x[1][i] - e1, b = x[2][i] - e2;
        int32_t a = alpha ? x[3][i] - e3 : 0;
        int32_t t = r * wd0 + g * wd1 + b * wd2 + a * wd3;
        int32_t k = (int32_t)((float)t * sc + 0.5f);
        int32_t wk, pr, pg, pb, pa, e, kk, j;
        k = k < 0 ? 0 : (k > 15 ? 15 : k);
        wk = OXY_M6_W(k);
        pr = r - ((d0 * wk + 32) >> 6);
        pg = g - ((d1 * wk + 32) >> 6);
        pb = b - ((d2 * wk + 32) >> 6);
        pa = a - ((d3 * wk + 32) >> 6);
        e = w0 * pr * pr + w1 * pg * pg + w2 * pb * pb + w3 * pa * pa;
        if (search) {
            for (j = -1; j <= 1; j += 2) {
                int32_t ee;
                kk = k + j;
                kk = kk < 0 ? 0 : (kk > 15 ? 15 : kk);
                wk = OXY_M6_W(kk);
                pr = r - ((d0 * wk + 32) >> 6);
                pg = g - ((d1 * wk + 32) >> 6);
                pb = b - ((d2 * wk + 32) >> 6);
                pa = a - ((d3 * wk + 32) >> 6);
                ee = w0 * pr * pr + w1 * pg * pg + w2 * pb * pb + w3 * pa * pa;
                k = ee < e ? kk : k;
                e = ee < e ? ee : e;
            }
        }
        idx[i] = k;
        err[i] = e;
    }
    for (i = 0; i < 16; i++)
        total += (uint32_t)err[i];
    return total;
}

/* Least-squares endpoints for fixed indices; 0 if singular (one index used). */
OXY_M6_INLINE int oxy_m6_lsq(const int32_t x[4][16], const int32_t *idx, int nch,
                             float *lo, float *hi)
{
    int32_t sa = 0, sb = 0, sc = 0, x0[4] = {0, 0, 0, 0}, x1[4] = {0, 0, 0, 0};
    int32_t wk[16], vk[16];
    int64_t det;
    double inv;
    int i, c;
    for (i = 0; i < 16; i++) {
        wk[i] = OXY_M6_W(idx[i]);
        vk[i] = 64 - wk[i];
    }
    for (i = 0; i < 16; i++) {
        sa += vk[i] * vk[i];
        sb += vk[i] * wk[i];
        sc += wk[i] * wk[i];
    }
    for (c = 0; c < nch; c++) {
        int32_t s0 = 0, s1 = 0;
        for (i = 0; i < 16; i++) {
            s0 += vk[i] * x[c][i];
            s1 += wk[i] * x[c][i];
        }
        x0[c] = s0;
        x1[c] = s1;
    }
    det = (int64_t)sa * sc - (int64_t)sb * sb;
    if (det <= 0)
        return 0;
    inv = 64.0 / (double)det;
    for (c = 0; c < nch; c++) {
        double a = (double)((int64_t)sc * x0[c] - (int64_t)sb * x1[c]) * inv;
        double b = (double)((int64_t)sa * x1[c] - (int64_t)sb * x0[c]) * inv;
        lo[c] = (float)(a < 0 ? 0 : (a > 255 ? 255 : a));
        hi[c] = (float)(b < 0 ? 0 : (b > 255 ? 255 : b));
    }
    return 1;
}

OXY_M6_INLINE void oxy_m6_pack(const int *c0, const int *c1, const int32_t *idx, uint8_t *out)
{
    /* mode 6: 7 mode bits, R0 R1 G0 G1 B0 B1 A0 A1 (7 bits each), P0, P1, then
       16 indices of 4 bits (3 for the anchor texel 0) */
    const int *a = c0, *b = c1;
    int flip = idx[0] >> 3, i;
    uint64_t lo, hi;
    if (flip) {
        a = c1;
        b = c0;
    }
    lo = (uint64_t)1 << 6;
    lo |= (uint64_t)(a[0] >> 1) << 7 | (uint64_t)(b[0] >> 1) << 14;
    lo |= (uint64_t)(a[1] >> 1) << 21 | (uint64_t)(b[1] >> 1) << 28;
    lo |= (uint64_t)(a[2] >> 1) << 35 | (uint64_t)(b[2] >> 1) << 42;
    lo |= (uint64_t)(a[3] >> 1) << 49 | (uint64_t)(b[3] >> 1) << 56;
    lo |= (uint64_t)(a[0] & 1) << 63;
    hi = (uint64_t)(b[0] & 1);
    hi |= (uint64_t)(flip ? 15 - idx[0] : idx[0]) << 1;
    for (i = 1; i < 16; i++)
        hi |= (uint64_t)(flip ? 15 - idx[i] : idx[i]) << (4 * i);
    for (i = 0; i < 8; i++) {
        out[i] = (uint8_t)(lo >> (8 * i));
        out[8 + i] = (uint8_t)(hi >> (8 * i));
    }
}

/* The fit of one block; ``opaque`` (every alpha 255) is a compile-time constant. */
OXY_M6_INLINE uint32_t oxy_m6_fit(const int32_t x[4][16], int32_t amin, int32_t amax,
                                  const oxy_m6_cfg *cfg, uint8_t *out, const int lin,
                                  const int opaque)
{
    int32_t t[16], idx[16], tidx[16];
    int32_t s[4], tmin, tmax, ui[4];
    int32_t cv[4][4];
    float cov[4][4], v[4], nv[4], lo[4], hi[4], mx, sc, f;
    int q0[4], q1[4], b0[4], b1[4];
    uint32_t err, best;
    const int nch = opaque ? 3 : 4;
    int i, c, d, it, bi, allsame;
    for (c = 0; c < 4; c++) {
        int32_t sum = 0;
        for (i = 0; i < 16; i++)
            sum += x[c][i];
        s[c] = sum;
    }
    /* 16 * covariance, exact in int32 (|.| <= 16 * 16 * 255^2) */
    for (c = 0; c < nch; c++) {
        for (d = c; d < nch; d++) {
            int32_t sum = 0;
            for (i = 0; i < 16; i++)
                sum += x[c][i] * x[d][i];
            cv[c][d] = 16 * sum - s[c] * s[d];
            cov[c][d] = cov[d][c] = (float)cv[c][d] * cfg->sw[c] * cfg->sw[d];
        }
    }
    bi = 0;
    for (c = 1; c < nch; c++)
        if (cov[c][c] > cov[bi][bi])
            bi = c;
    allsame = cv[bi][bi] == 0;
    if (!allsame) {
        for (c = 0; c < nch; c++)
            v[c] = cov[bi][c];
        for (it = 0; it < 3; it++) {
            for (c = 0; c < nch; c++) {
                f = 0;
                for (d = 0; d < nch; d++)
                    f += cov[c][d] * v[d];
                nv[c] = f;
            }
            mx = 0;
            for (c = 0; c < nch; c++) {
                f = nv[c] < 0 ? -nv[c] : nv[c];
                mx = f > mx ? f : mx;
            }
            if (mx <= 0)
                break;
            mx = 1.0f / mx;
            for (c = 0; c < nch; c++)
                v[c] = nv[c] * mx;
        }
        /* projection axis in texel units, as integers (|ui| <= 256 * sqrt(w)) */
        for (c = 0; c < 4; c++) {
            f = c < nch ? v[c] * cfg->sw[c] * 256.0f : 0.0f;
            ui[c] = (int32_t)(f + (f >= 0 ? 0.5f : -0.5f));
        }
        tmin = 0x7fffffff;
        tmax = -0x7fffffff;
        for (i = 0; i < 16; i++)
            t[i] = x[0][i] * ui[0] + x[1][i] * ui[1] + x[2][i] * ui[2] + x[3][i] * ui[3];
        for (i = 0; i < 16; i++) {
            tmin = t[i] < tmin ? t[i] : tmin;
            tmax = t[i] > tmax ? t[i] : tmax;
        }
        allsame = tmax <= tmin;
    }
    if (allsame) {
        /* (nearly) one colour: bracket the mean so quantisation can hit it */
        for (c = 0; c < 4; c++) {
            f = (float)s[c] * (1.0f / 16.0f);
            lo[c] = f - 1.0f < 0 ? 0 : f - 1.0f;
            hi[c] = f + 1.0f > 255 ? 255 : f + 1.0f;
        }
    } else {
        sc = 15.0f / (float)(tmax - tmin);
        for (i = 0; i < 16; i++)
            idx[i] = (int32_t)((float)(t[i] - tmin) * sc + 0.5f);
        if (opaque)
            oxy_m6_lsq(x, idx, 3, lo, hi);
        else
            oxy_m6_lsq(x, idx, 4, lo, hi);
    }
    best = 0xffffffffu;
    for (it = 0; it < cfg->iters; it++) {
        if (opaque) {
            lo[3] = 255;
            hi[3] = 255;
        } else if (amin < amax) {
            /* cut-out guard: keep alpha 0 / 255 texels exact */
            if (lo[3] <= hi[3]) {
                if (amin == 0) lo[3] = 0;
                if (amax == 255) hi[3] = 255;
            } else {
                if (amin == 0) hi[3] = 0;
                if (amax == 255) lo[3] = 255;
            }
        }
        oxy_m6_quant(lo, nch, opaque && !cfg->pfree, cfg->w, q0);
        oxy_m6_quant(hi, nch, opaque && !cfg->pfree, cfg->w, q1);
        if (opaque)
            err = oxy_m6_assign(x, cfg->w, q0, q1, cfg->search, tidx, lin, 0);
        else
            err = oxy_m6_assign(x, cfg->w, q0, q1, cfg->search, tidx, lin, 1);
        if (err < best) {
            best = err;
            memcpy(b0, q0, sizeof(q0));
            memcpy(b1, q1, sizeof(q1));
            memcpy(idx, tidx, sizeof(tidx));
        } else if (it > 0) {
            break;
        }
        if (best == 0 || it + 1 == cfg->iters)
            break;
        if (!(opaque ? oxy_m6_lsq(x, tidx, 3, lo, hi) : oxy_m6_lsq(x, tidx, 4, lo, hi)))
            break;
    }
    oxy_m6_pack(b0, b1, idx, out);
    return best;
}

OXY_M6_INLINE uint32_t oxy_m6_body(const uint8_t *tx, const oxy_m6_cfg *cfg, uint8_t *out,
                                   const int lin)
{
    int32_t x[4][16], amin = 255, amax = 0;
    int i;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* one 32-bit word per texel, split with shifts: vectorises (no byte gathers) */
    uint32_t w[16];
    memcpy(w, tx, sizeof(w));
    for (i = 0; i < 16; i++) {
        x[0][i] = (int32_t)(w[i] & 255);
        x[1][i] = (int32_t)((w[i] >> 8) & 255);
        x[2][i] = (int32_t)((w[i] >> 16) & 255);
        x[3][i] = (int32_t)(w[i] >> 24);
    }
#else
    int c;
    for (i = 0; i < 16; i++)
        for (c = 0; c < 4; c++)
            x[c][i] = tx[4 * i + c];
#endif
    for (i = 0; i < 16; i++) {
        amin = x[3][i] < amin ? x[3][i] : amin;
        amax = x[3][i] > amax ? x[3][i] : amax;
    }
    if (amin == 255)
        return oxy_m6_fit((const int32_t (*)[16])x, amin, amax, cfg, out, lin, 1);
    return oxy_m6_fit((const int32_t (*)[16])x, amin, amax, cfg, out, lin, 0);
}

/* ------------------------------------------------------------------ shapes
 * Line-fit scores of partition shapes of an opaque (RGB) block, vectorised across
 * shapes: res[q] = weighted scatter left off each subset's principal axis (a lower
 * bound of any encoding's error), lam[q] = scatter along the axes (summed over the
 * subsets).  Subset moments are exact integer sums (texel masks, no order
 * dependence); the per-shape float maths is a fixed sequence of IEEE operations,
 * lane by lane, so every path gives the same scores.  masks[q]: 2-subset shapes:
 * bit i = subset of texel i; 3-subset shapes: bits 2i..2i+1.  np <= 64. */
#define OXY_PS_MAX 64

/* No value changes: lets the compiler evaluate both sides of the float selects
   below (if-conversion), which the loop needs to vectorise. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize ("no-trapping-math")
#endif

OXY_M6_INLINE void oxy_ps_line(const int32_t mo[10][OXY_PS_MAX], int np, const float *sw,
                               float *res, float *lam)
{
    float s00 = sw[0] * sw[0], s01 = sw[0] * sw[1], s02 = sw[0] * sw[2];
    float s11 = sw[1] * sw[1], s12 = sw[1] * sw[2], s22 = sw[2] * sw[2];
    int q;
    for (q = 0; q < np; q++) {
        int32_t n = mo[9][q];
        float inv = 1.0f / (float)(n > 1 ? n : 1);
        float x = (float)mo[0][q], y = (float)mo[1][q], z = (float)mo[2][q];
        float a = ((float)mo[3][q] - x * x * inv) * s00;
        float b = ((float)mo[4][q] - x * y * inv) * s01;
        float c = ((float)mo[5][q] - x * z * inv) * s02;
        float d = ((float)mo[6][q] - y * y * inv) * s11;
        float e = ((float)mo[7][q] - y * z * inv) * s12;
        float f = ((float)mo[8][q] - z * z * inv) * s22;
        float tr = a + d + f;
        /* start from the row of the largest diagonal entry (branch-free) */
        int ka = (a >= d) & (a >= f);
        int kd = (ka ^ 1) & (d >= f);
        float v0 = ka ? a : c, v1 = ka ? b : e, v2 = ka ? c : f;
        float n0, n1, n2, m0, m1, m2, nn, l, den;
        int live;
        v0 = kd ? b : v0;
        v1 = kd ? d : v1;
        v2 = kd ? e : v2;
        n0 = a * v0 + b * v1 + c * v2;
        n1 = b * v0 + d * v1 + e * v2;
        n2 = c * v0 + e * v1 + f * v2;
        m0 = a * n0 + b * n1 + c * n2;
        m1 = b * n0 + d * n1 + e * n2;
        m2 = c * n0 + e * n1 + f * n2;
        nn = n0 * n0 + n1 * n1 + n2 * n2;
        den = nn > 0 ? nn : 1.0f;
        l = (n0 * m0 + n1 * m1 + n2 * m2) / den;
        l = l > tr ? tr : l;
        l = nn > 0 ? l : 0.0f;
        live = (n > 1) & (tr > 1e-3f);
        res[q] += live ? tr - l : 0.0f;
        lam[q] += live ? l : 0.0f;
    }
}

OXY_M6_INLINE void oxy_ps_body(const int32_t *ipx, const float *sw, int ns,
                               const uint32_t *masks, int np, float *res, float *lam)
{
    int32_t mom[10][16], tot[10];
    int32_t sub[2][10][OXY_PS_MAX];
    int32_t mo[10][OXY_PS_MAX];
    int32_t m1[OXY_PS_MAX], m2[OXY_PS_MAX];
    int i, j, q, s;
    for (i = 0; i < 16; i++) {
        int32_t r = ipx[4 * i], g = ipx[4 * i + 1], b = ipx[4 * i + 2];
        mom[0][i] = r;
        mom[1][i] = g;
        mom[2][i] = b;
        mom[3][i] = r * r;
        mom[4][i] = r * g;
        mom[5][i] = r * b;
        mom[6][i] = g * g;
        mom[7][i] = g * b;
        mom[8][i] = b * b;
        mom[9][i] = 1;
    }
    for (j = 0; j < 10; j++) {
        int32_t t = 0;
        for (i = 0; i < 16; i++)
            t += mom[j][i];
        tot[j] = t;
    }
    for (j = 0; j < 10; j++)
        for (q = 0; q < np; q++) {
            sub[0][j][q] = 0;
            sub[1][j][q] = 0;
        }
    for (i = 0; i < 16; i++) {
        if (ns == 2) {
            for (q = 0; q < np; q++)
                m1[q] = -(int32_t)((masks[q] >> i) & 1);
        } else {
            for (q = 0; q < np; q++) {
                uint32_t sb = (masks[q] >> (2 * i)) & 3;
                m1[q] = -(int32_t)(sb == 1);
                m2[q] = -(int32_t)(sb == 2);
            }
        }
        for (j = 0; j < 10; j++) {
            int32_t v = mom[j][i];
            for (q = 0; q < np; q++)
                sub[0][j][q] += m1[q] & v;
            if (ns == 3)
                for (q = 0; q < np; q++)
                    sub[1][j][q] += m2[q] & v;
        }
    }
    for (q = 0; q < np; q++) {
        res[q] = 0;
        lam[q] = 0;
    }
    /* subset 0 = the block total minus the others */
    for (j = 0; j < 10; j++)
        for (q = 0; q < np; q++)
            mo[j][q] = tot[j] - sub[0][j][q] - (ns == 3 ? sub[1][j][q] : 0);
    oxy_ps_line((const int32_t (*)[OXY_PS_MAX])mo, np, sw, res, lam);
    for (s = 0; s < ns - 1; s++)
        oxy_ps_line((const int32_t (*)[OXY_PS_MAX])sub[s], np, sw, res, lam);
}

typedef void (*oxy_ps_fn)(const int32_t *ipx, const float *sw, int ns, const uint32_t *masks,
                          int np, float *res, float *lam);

static void oxy_ps_default(const int32_t *ipx, const float *sw, int ns, const uint32_t *masks,
                           int np, float *res, float *lam)
{
    oxy_ps_body(ipx, sw, ns, masks, np, res, lam);
}

#if OXY_M6_X86
__attribute__((target("avx2")))
static void oxy_ps_avx2(const int32_t *ipx, const float *sw, int ns, const uint32_t *masks,
                        int np, float *res, float *lam)
{
    oxy_ps_body(ipx, sw, ns, masks, np, res, lam);
}
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

static oxy_ps_fn oxy_ps_paths[2];

/* [path][0: weighted, 1: linear weights (all 1)] */
static uint32_t oxy_m6_default_w(const uint8_t *tx, const oxy_m6_cfg *cfg, uint8_t *out)
{
    return oxy_m6_body(tx, cfg, out, 0);
}

static uint32_t oxy_m6_default_lin(const uint8_t *tx, const oxy_m6_cfg *cfg, uint8_t *out)
{
    return oxy_m6_body(tx, cfg, out, 1);
}

#if OXY_M6_X86
__attribute__((target("avx2")))
static uint32_t oxy_m6_avx2_w(const uint8_t *tx, const oxy_m6_cfg *cfg, uint8_t *out)
{
    return oxy_m6_body(tx, cfg, out, 0);
}

__attribute__((target("avx2")))
static uint32_t oxy_m6_avx2_lin(const uint8_t *tx, const oxy_m6_cfg *cfg, uint8_t *out)
{
    return oxy_m6_body(tx, cfg, out, 1);
}
#endif

/* Paths: 0 "default" (the portable build), 1 "avx2"; NULL where the CPU lacks it. */
static oxy_m6_fn oxy_m6_paths[2][2];
static int oxy_m6_best;

static void oxy_m6_init(void)
{
    oxy_m6_paths[0][0] = oxy_m6_default_w;
    oxy_m6_paths[0][1] = oxy_m6_default_lin;
    oxy_m6_paths[1][0] = 0;
    oxy_m6_paths[1][1] = 0;
    oxy_ps_paths[0] = oxy_ps_default;
    oxy_ps_paths[1] = 0;
    oxy_m6_best = 0;
#if OXY_M6_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        oxy_m6_paths[1][0] = oxy_m6_avx2_w;
        oxy_m6_paths[1][1] = oxy_m6_avx2_lin;
        oxy_ps_paths[1] = oxy_ps_avx2;
        oxy_m6_best = 1;
    }
#endif
}

#endif
