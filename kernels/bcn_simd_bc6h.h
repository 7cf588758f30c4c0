/* BC6H_UF16 "ultrafast": N blocks at once, one block per vector lane, included
 * from bcn_simd.h once per code path (the same op macros as bcn_simd_bc1.h,
 * plus F_SQRT, F_LOADU, F_STOREU and BCN_N).  As for BC1, the scalar path is
 * this code with N = 1, so every path gives the same bytes: every integer
 * quantity (half bits, endpoint codes, unquantised endpoints, the decoder's
 * interpolation) is exact in float; the rounded ones (axis, projections,
 * least squares, the error sums) are the same operations in the same order.
 *
 * Algorithm per block: principal axis in the pre-scale domain (half * 64 / 31),
 * endpoints at the extreme projections with texel 0 (the anchor, 3 index
 * bits) near endpoint A; one mode per block: 5-bit code 11 (12-bit base, 8-bit
 * signed deltas) when the quantised deltas fit, else code 3 (10.10.10 raw);
 * each texel's index is its rounded projection on the decoded palette line;
 * one least-squares refit, kept if its squared half-bit error is smaller.
 * The caller packs the codes and indices (bcn_bc6_pack1). */

typedef struct {
    VF s2n, top, p, q, lim, delta; /* 2^n, 2^n - 1, 2^(16-n), 2^(15-n), delta range, delta mode (0/1) */
} BCN_FN(bcn6_mode);

/* Unquantise n-bit codes v (D3D: 0 -> 0, top -> 0xFFFF, else ((v << 16) + 0x8000) >> n). */
BCN_ATTR static inline __attribute__((always_inline)) VF BCN_FN(bcn6_unq)(VF v, const BCN_FN(bcn6_mode) * M) {
    VF u = F_ADD(F_MUL(v, M->p), M->q);
    u = F_SEL(F_EQ(v, F_SET(0.0f)), F_SET(0.0f), u);
    return F_SEL(F_EQ(v, M->top), F_SET(65535.0f), u);
}

/* The n-bit code whose unquantised value is nearest e (its rounded inverse and
 * both neighbours checked, the lower first; ties keep the earlier). */
BCN_ATTR static inline __attribute__((always_inline)) VF BCN_FN(bcn6_quant)(VF e, const BCN_FN(bcn6_mode) * M) {
    VF v, ei, bd, c, d, best;
    VM b;
    v = F_TRUNC(F_ADD(F_MUL(F_SUB(F_MUL(e, M->s2n), F_SET(32768.0f)), F_SET(1.0f / 65536.0f)), F_SET(0.5f)));
    v = F_MIN(F_MAX(v, F_SET(0.0f)), M->top);
    ei = F_TRUNC(e);
    best = v;
    bd = F_ABS(F_SUB(BCN_FN(bcn6_unq)(v, M), ei));
    c = F_SUB(v, F_SET(1.0f));
    d = F_ABS(F_SUB(BCN_FN(bcn6_unq)(c, M), ei));
    b = M_AND(F_LE(F_SET(0.0f), c), F_LT(d, bd));
    best = F_SEL(b, c, best);
    bd = F_SEL(b, d, bd);
    c = F_ADD(v, F_SET(1.0f));
    d = F_ABS(F_SUB(BCN_FN(bcn6_unq)(c, M), ei));
    b = M_AND(F_LE(c, M->top), F_LT(d, bd));
    return F_SEL(b, c, best);
}

/* The decoder's interpolation, half bits of weight w / 64 between unquantised
 * a and b: ((a (64 - w) + b w + 32) >> 6) * 31 >> 6, given a64 = 64 a + 32 and
 * dab = b - a (every intermediate an integer below 2^24, so exact). */
BCN_ATTR static inline __attribute__((always_inline)) VF BCN_FN(bcn6_fin)(VF a64, VF dab, VF w) {
    VF t = F_TRUNC(F_MUL(F_ADD(a64, F_MUL(dab, w)), F_SET(1.0f / 64.0f)));
    return F_TRUNC(F_MUL(t, F_SET(31.0f / 64.0f)));
}

/* Quantise ea, eb for mode M: codes v0, v1 (v1 = v0 + clamped delta in delta
 * mode), indices k[16] by projection, returns the squared half-bit error. */
BCN_ATTR static inline __attribute__((always_inline)) VF BCN_FN(bcn6_try)(const VF* h, const BCN_FN(bcn6_mode) * M,
                                                                          const VF* ea, const VF* eb, VF* v0, VF* v1,
                                                                          VF* k) {
    VF a64[3], dab[3], p0[3], dx[3], d, len2, sc, dot, kk, w, pal, diff, err = F_SET(0.0f);
    VM dm = F_LT(F_SET(0.5f), M->delta), pos;
    int c, i;
    for (c = 0; c < 3; c++) {
        v0[c] = BCN_FN(bcn6_quant)(ea[c], M);
        v1[c] = BCN_FN(bcn6_quant)(eb[c], M);
        d = F_SUB(v1[c], v0[c]);
        d = F_MIN(F_MAX(d, F_SUB(F_SET(0.0f), M->lim)), F_SUB(M->lim, F_SET(1.0f)));
        v1[c] = F_SEL(dm, F_ADD(v0[c], d), v1[c]);
        a64[c] = BCN_FN(bcn6_unq)(v0[c], M);
        dab[c] = F_SUB(BCN_FN(bcn6_unq)(v1[c], M), a64[c]);
        a64[c] = F_ADD(F_MUL(a64[c], F_SET(64.0f)), F_SET(32.0f));
        p0[c] = BCN_FN(bcn6_fin)(a64[c], dab[c], F_SET(0.0f));
        dx[c] = F_SUB(BCN_FN(bcn6_fin)(a64[c], dab[c], F_SET(64.0f)), p0[c]);
    }
    len2 = F_ADD(F_ADD(F_MUL(dx[0], dx[0]), F_MUL(dx[1], dx[1])), F_MUL(dx[2], dx[2]));
    pos = F_LT(F_SET(0.0f), len2);
    sc = F_SEL(pos, F_DIV(F_SET(15.0f), F_SEL(pos, len2, F_SET(1.0f))), F_SET(0.0f));
    for (i = 0; i < 16; i++) {
        dot = F_ADD(F_ADD(F_MUL(F_SUB(h[3 * i], p0[0]), dx[0]), F_MUL(F_SUB(h[3 * i + 1], p0[1]), dx[1])),
                    F_MUL(F_SUB(h[3 * i + 2], p0[2]), dx[2]));
        kk = F_TRUNC(F_ADD(F_MUL(dot, sc), F_SET(0.5f)));
        kk = F_MIN(F_MAX(kk, F_SET(0.0f)), F_SET(i == 0 ? 7.0f : 15.0f));
        k[i] = kk;
        /* BC6H 4-bit weights: floor((64 k + 7) / 15) = 0, 4, 9, 13, ..., 60, 64 */
        w = F_TRUNC(F_MUL(F_ADD(F_MUL(kk, F_SET(64.0f)), F_SET(7.0f)), F_SET(1.0f / 15.0f)));
        for (c = 0; c < 3; c++) {
            pal = BCN_FN(bcn6_fin)(a64[c], dab[c], w);
            diff = F_SUB(h[3 * i + c], pal);
            err = F_ADD(err, F_MUL(diff, diff));
        }
    }
    return err;
}

/* N blocks (h[3 * i + c]: half bits of texel i, channel c, one block per lane)
 * -> per lane: mode code (3 or 11), codes v0[3], v1[3], indices k[16]. */
BCN_ATTR static inline __attribute__((always_inline)) void BCN_FN(bcn6_block)(const VF* h, VF* mode, VF* v0, VF* v1,
                                                                              VF* k) {
    VF x[48], mean[3], cov[6], ax[3], nx[3], n, m, d[3], t, t0, tmin, tmax, ea[3], eb[3], q0, q1, ea2[3], eb2[3];
    VF w, aa, ab, bb, det, axs[3], bxs[3], xv, err, err2, u0[3], u1[3], k2[16], val;
    VM live, fits, swap, ok, better;
    BCN_FN(bcn6_mode) M12, M10, M;
    int i, c, it;
    VF s = F_SET(64.0f / 31.0f);
    for (c = 0; c < 3; c++)
        mean[c] = F_SET(0.0f);
    for (i = 0; i < 16; i++)
        for (c = 0; c < 3; c++) {
            x[3 * i + c] = F_MUL(h[3 * i + c], s);
            mean[c] = F_ADD(mean[c], x[3 * i + c]);
        }
    for (c = 0; c < 3; c++)
        mean[c] = F_MUL(mean[c], F_SET(1.0f / 16.0f));
    for (c = 0; c < 6; c++)
        cov[c] = F_SET(0.0f);
    for (i = 0; i < 16; i++) {
        for (c = 0; c < 3; c++)
            d[c] = F_SUB(x[3 * i + c], mean[c]);
        cov[0] = F_ADD(cov[0], F_MUL(d[0], d[0]));
        cov[1] = F_ADD(cov[1], F_MUL(d[0], d[1]));
        cov[2] = F_ADD(cov[2], F_MUL(d[0], d[2]));
        cov[3] = F_ADD(cov[3], F_MUL(d[1], d[1]));
        cov[4] = F_ADD(cov[4], F_MUL(d[1], d[2]));
        cov[5] = F_ADD(cov[5], F_MUL(d[2], d[2]));
    }
    ax[0] = F_ADD(F_ADD(cov[0], cov[1]), cov[2]);
    ax[1] = F_ADD(F_ADD(cov[1], cov[3]), cov[4]);
    ax[2] = F_ADD(F_ADD(cov[2], cov[4]), cov[5]);
    live = F_EQ(ax[0], ax[0]);
    for (it = 0; it < 3; it++) {
        nx[0] = F_ADD(F_ADD(F_MUL(cov[0], ax[0]), F_MUL(cov[1], ax[1])), F_MUL(cov[2], ax[2]));
        nx[1] = F_ADD(F_ADD(F_MUL(cov[1], ax[0]), F_MUL(cov[3], ax[1])), F_MUL(cov[4], ax[2]));
        nx[2] = F_ADD(F_ADD(F_MUL(cov[2], ax[0]), F_MUL(cov[4], ax[1])), F_MUL(cov[5], ax[2]));
        n = F_MAX(F_MAX(F_ABS(nx[0]), F_ABS(nx[1])), F_ABS(nx[2]));
        live = M_AND(live, F_LE(F_SET(1e-12f), n));
        m = F_POW2INV(F_SEL(live, n, F_SET(1.0f)));
        for (c = 0; c < 3; c++)
            ax[c] = F_SEL(live, F_MUL(nx[c], m), ax[c]);
    }
    n = F_ADD(F_ADD(F_MUL(ax[0], ax[0]), F_MUL(ax[1], ax[1])), F_MUL(ax[2], ax[2]));
    ok = F_LE(F_SET(1e-12f), n);
    n = F_DIV(F_SET(1.0f), F_SQRT(F_SEL(ok, n, F_SET(1.0f))));
    for (c = 0; c < 3; c++)
        ax[c] = F_SEL(ok, F_MUL(ax[c], n), F_SET(0.57735f));
    tmin = tmax = t0 = F_SET(0.0f);
    for (i = 0; i < 16; i++) {
        t = F_ADD(F_ADD(F_MUL(F_SUB(x[3 * i], mean[0]), ax[0]), F_MUL(F_SUB(x[3 * i + 1], mean[1]), ax[1])),
                  F_MUL(F_SUB(x[3 * i + 2], mean[2]), ax[2]));
        if (i == 0) {
            t0 = tmin = tmax = t;
        } else {
            tmin = F_MIN(tmin, t);
            tmax = F_MAX(tmax, t);
        }
    }
    /* texel 0 (the anchor) must sit near endpoint A */
    swap = F_LT(F_SUB(tmax, t0), F_SUB(t0, tmin));
    t = F_SEL(swap, tmax, tmin);
    tmax = F_SEL(swap, tmin, tmax);
    tmin = t;
    M12.s2n = F_SET(4096.0f);
    M12.top = F_SET(4095.0f);
    M12.p = F_SET(16.0f);
    M12.q = F_SET(8.0f);
    M12.lim = F_SET(128.0f);
    M12.delta = F_SET(1.0f);
    M10.s2n = F_SET(1024.0f);
    M10.top = F_SET(1023.0f);
    M10.p = F_SET(64.0f);
    M10.q = F_SET(32.0f);
    M10.lim = F_SET(4096.0f);
    M10.delta = F_SET(0.0f);
    fits = F_EQ(ax[0], ax[0]);
    for (c = 0; c < 3; c++) {
        ea[c] = F_MIN(F_MAX(F_ADD(mean[c], F_MUL(ax[c], tmin)), F_SET(0.0f)), F_SET(65535.0f));
        eb[c] = F_MIN(F_MAX(F_ADD(mean[c], F_MUL(ax[c], tmax)), F_SET(0.0f)), F_SET(65535.0f));
        q0 = BCN_FN(bcn6_quant)(ea[c], &M12);
        q1 = F_SUB(BCN_FN(bcn6_quant)(eb[c], &M12), q0);
        fits = M_AND(fits, M_AND(F_LE(F_SET(-128.0f), q1), F_LE(q1, F_SET(127.0f))));
    }
    M.s2n = F_SEL(fits, M12.s2n, M10.s2n);
    M.top = F_SEL(fits, M12.top, M10.top);
    M.p = F_SEL(fits, M12.p, M10.p);
    M.q = F_SEL(fits, M12.q, M10.q);
    M.lim = F_SEL(fits, M12.lim, M10.lim);
    M.delta = F_SEL(fits, M12.delta, M10.delta);
    *mode = F_SEL(fits, F_SET(11.0f), F_SET(3.0f));
    err = BCN_FN(bcn6_try)(h, &M, ea, eb, v0, v1, k);
    /* one least-squares refit on the indices (weights w / 64) */
    aa = ab = bb = F_SET(0.0f);
    for (c = 0; c < 3; c++)
        axs[c] = bxs[c] = F_SET(0.0f);
    for (i = 0; i < 16; i++) {
        w = F_MUL(F_TRUNC(F_MUL(F_ADD(F_MUL(k[i], F_SET(64.0f)), F_SET(7.0f)), F_SET(1.0f / 15.0f))),
                  F_SET(1.0f / 64.0f));
        aa = F_ADD(aa, F_MUL(F_SUB(F_SET(1.0f), w), F_SUB(F_SET(1.0f), w)));
        ab = F_ADD(ab, F_MUL(F_SUB(F_SET(1.0f), w), w));
        bb = F_ADD(bb, F_MUL(w, w));
        for (c = 0; c < 3; c++) {
            xv = x[3 * i + c];
            axs[c] = F_ADD(axs[c], F_MUL(F_SUB(F_SET(1.0f), w), xv));
            bxs[c] = F_ADD(bxs[c], F_MUL(w, xv));
        }
    }
    det = F_SUB(F_MUL(aa, bb), F_MUL(ab, ab));
    ok = M_AND(F_LE(F_SET(1e-6f), det), F_LT(F_SET(0.0f), err));
    det = F_DIV(F_SET(1.0f), F_SEL(ok, det, F_SET(1.0f)));
    for (c = 0; c < 3; c++) {
        val = F_MUL(F_SUB(F_MUL(axs[c], bb), F_MUL(bxs[c], ab)), det);
        ea2[c] = F_MIN(F_MAX(val, F_SET(0.0f)), F_SET(65535.0f));
        val = F_MUL(F_SUB(F_MUL(bxs[c], aa), F_MUL(axs[c], ab)), det);
        eb2[c] = F_MIN(F_MAX(val, F_SET(0.0f)), F_SET(65535.0f));
    }
    err2 = BCN_FN(bcn6_try)(h, &M, ea2, eb2, u0, u1, k2);
    better = M_AND(ok, F_LT(err2, err));
    for (c = 0; c < 3; c++) {
        v0[c] = F_SEL(better, u0[c], v0[c]);
        v1[c] = F_SEL(better, u1[c], v1[c]);
    }
    for (i = 0; i < 16; i++)
        k[i] = F_SEL(better, k2[i], k[i]);
}

/* The image loop: RGB of an (h, w, nch >= 3) array of half bits -> blocks. */
BCN_ATTR static void BCN_FN(bcn_bc6h_ultra)(const uint16_t* img, ptrdiff_t hgt, ptrdiff_t wid, int nch,
                                            uint8_t* out) {
    ptrdiff_t bw = (wid + 3) / 4, bh = (hgt + 3) / 4, bx, by, x, y, xx, yy, b;
    float buf[48 * BCN_N], res[(1 + 6 + 16) * BCN_N];
    VF hv[48], mode, v0[3], v1[3], k[16];
    int l, j, c, codes[6], md;
    uint8_t idx[16];
    const uint16_t* p;
    for (by = 0; by < bh; by++) {
        for (bx = 0; bx < bw; bx += BCN_N) {
            for (l = 0; l < BCN_N; l++) {
                b = bx + l < bw ? bx + l : bw - 1;
                for (y = 0; y < 4; y++) {
                    yy = by * 4 + y < hgt ? by * 4 + y : hgt - 1;
                    for (x = 0; x < 4; x++) {
                        xx = b * 4 + x < wid ? b * 4 + x : wid - 1;
                        p = img + (yy * wid + xx) * nch;
                        for (c = 0; c < 3; c++)
                            buf[(12 * y + 3 * x + c) * BCN_N + l] = (float)bcn_clamp_half(p[c]);
                    }
                }
            }
            for (j = 0; j < 48; j++)
                hv[j] = F_LOADU(buf + j * BCN_N);
            BCN_FN(bcn6_block)(hv, &mode, v0, v1, k);
            F_STOREU(res, mode);
            for (c = 0; c < 3; c++) {
                F_STOREU(res + (1 + c) * BCN_N, v0[c]);
                F_STOREU(res + (4 + c) * BCN_N, v1[c]);
            }
            for (j = 0; j < 16; j++)
                F_STOREU(res + (7 + j) * BCN_N, k[j]);
            for (l = 0; l < BCN_N && bx + l < bw; l++) {
                md = (int)res[l];
                for (c = 0; c < 3; c++) {
                    codes[c] = (int)res[(1 + c) * BCN_N + l];
                    codes[3 + c] = (int)res[(4 + c) * BCN_N + l];
                    if (md == 11)
                        codes[3 + c] = (codes[3 + c] - codes[c]) & 0xff;
                }
                for (j = 0; j < 16; j++)
                    idx[j] = (uint8_t)res[(7 + j) * BCN_N + l];
                bcn_bc6_pack1(md, codes, idx, out + 16 * (bx + l));
            }
        }
        out += 16 * bw;
    }
}
