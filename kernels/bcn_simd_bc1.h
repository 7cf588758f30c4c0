/* BC1 "ultrafast": N blocks at once, one block per vector lane (the layout
 * ISPC uses), included from bcn_simd.h once per code path.
 *
 * The includer defines BCN_FN(name) (per-path suffix), BCN_ATTR, BCN_N (lanes)
 * and the lane-wise ops below over VF (float lanes), VM (lane masks) and VI
 * (int32 lanes).  The scalar path is this same code with N = 1, so every path
 * performs the same IEEE single-precision operations in the same order on
 * each block: the output bytes are identical.  Every value that is an integer
 * stays below 2^24 (exact in float); the only rounded operations are the
 * divisions and the few products of the power iteration and least squares.
 * Branches of the scalar encoder are lane selects; divisions whose lane is
 * not used get a safe divisor, so no lane ever converts a NaN to int.
 *
 * Algorithm per block (that of the "fast" preset, except that the two endpoint
 * pairs are compared by the distance to the endpoint line's exact 1/3 points
 * rather than to the decoder's truncated palette): one-colour blocks are
 * flagged (the caller writes them from the optimal-endpoint tables); else the
 * principal axis of the colours (3 power iterations on the exact covariance,
 * normalised by powers of two), rounded to integers (largest +-80), endpoints
 * at the extreme projections, quantised to 565; indices by projection on the
 * quantised endpoint line; one least-squares refit from those indices; the
 * better of the two pairs by exact squared error against the decoder's
 * palette. */

/* 565 quantisation of three float lanes: q[3] (5, 6, 5 bits) and c = the 565 value. */
BCN_ATTR static inline __attribute__((always_inline)) void BCN_FN(bcn_q565v)(const VF* e, VF* q, VF* c) {
    q[0] = F_MIN(F_MAX(F_TRUNC(F_ADD(F_MUL(e[0], F_SET(31.0f / 255.0f)), F_SET(0.5f))), F_SET(0.0f)), F_SET(31.0f));
    q[1] = F_MIN(F_MAX(F_TRUNC(F_ADD(F_MUL(e[1], F_SET(63.0f / 255.0f)), F_SET(0.5f))), F_SET(0.0f)), F_SET(63.0f));
    q[2] = F_MIN(F_MAX(F_TRUNC(F_ADD(F_MUL(e[2], F_SET(31.0f / 255.0f)), F_SET(0.5f))), F_SET(0.0f)), F_SET(31.0f));
    *c = F_ADD(F_ADD(F_MUL(q[0], F_SET(2048.0f)), F_MUL(q[1], F_SET(32.0f))), q[2]);
}

typedef struct {
    VF c0, c1, e0[3], d[3], pal[3][4], scale;
} BCN_FN(bcn_line);

/* Endpoints (q565 components and values) -> ordered line (c0 >= c1), decoder palette. */
BCN_ATTR static inline __attribute__((always_inline)) void BCN_FN(bcn_linev)(const VF* qa, VF ca, const VF* qb, VF cb,
                                                                             BCN_FN(bcn_line) * L) {
    VM sw = F_LT(ca, cb);
    VF q0[3], q1[3], e1[3], len2, third = F_SET(1.0f / 3.0f);
    int ch;
    L->c0 = F_SEL(sw, cb, ca);
    L->c1 = F_SEL(sw, ca, cb);
    for (ch = 0; ch < 3; ch++) {
        q0[ch] = F_SEL(sw, qb[ch], qa[ch]);
        q1[ch] = F_SEL(sw, qa[ch], qb[ch]);
    }
    /* bit replication: 5 bits q*8 + q/4, 6 bits q*4 + q/16 (floor) */
    L->e0[0] = F_ADD(F_MUL(q0[0], F_SET(8.0f)), F_TRUNC(F_MUL(q0[0], F_SET(0.25f))));
    L->e0[1] = F_ADD(F_MUL(q0[1], F_SET(4.0f)), F_TRUNC(F_MUL(q0[1], F_SET(0.0625f))));
    L->e0[2] = F_ADD(F_MUL(q0[2], F_SET(8.0f)), F_TRUNC(F_MUL(q0[2], F_SET(0.25f))));
    e1[0] = F_ADD(F_MUL(q1[0], F_SET(8.0f)), F_TRUNC(F_MUL(q1[0], F_SET(0.25f))));
    e1[1] = F_ADD(F_MUL(q1[1], F_SET(4.0f)), F_TRUNC(F_MUL(q1[1], F_SET(0.0625f))));
    e1[2] = F_ADD(F_MUL(q1[2], F_SET(8.0f)), F_TRUNC(F_MUL(q1[2], F_SET(0.25f))));
    for (ch = 0; ch < 3; ch++) {
        L->d[ch] = F_SUB(e1[ch], L->e0[ch]);
        L->pal[ch][0] = L->e0[ch];
        /* (2 e0 + e1) / 3 truncated: n * (1/3f) never rounds across an integer for n <= 765 */
        L->pal[ch][1] = F_TRUNC(F_MUL(F_ADD(F_ADD(L->e0[ch], L->e0[ch]), e1[ch]), third));
        L->pal[ch][2] = F_TRUNC(F_MUL(F_ADD(F_ADD(e1[ch], e1[ch]), L->e0[ch]), third));
        L->pal[ch][3] = e1[ch];
    }
    len2 = F_ADD(F_ADD(F_MUL(L->d[0], L->d[0]), F_MUL(L->d[1], L->d[1])), F_MUL(L->d[2], L->d[2]));
    sw = F_LT(F_SET(0.0f), len2);
    L->scale = F_SEL(sw, F_DIV(F_SET(3.0f), F_SEL(sw, len2, F_SET(1.0f))), F_SET(0.0f));
}

/* Along-line indices u (0 at e0) by projection; returns the squared distance
 * of the texels to their points e0 + u d / 3 of the endpoint line (the
 * decoder's palette truncates those points to integers; the comparison of two
 * endpoint pairs does not need that last digit). */
BCN_ATTR static inline __attribute__((always_inline)) VF BCN_FN(bcn_evalv)(const VF* px, const BCN_FN(bcn_line) * L,
                                                                           VF* u) {
    VF err = F_SET(0.0f), dot, k, xe[3], d3[3], diff;
    int i, ch;
    for (ch = 0; ch < 3; ch++)
        d3[ch] = F_MUL(L->d[ch], F_SET(1.0f / 3.0f));
    for (i = 0; i < 16; i++) {
        for (ch = 0; ch < 3; ch++)
            xe[ch] = F_SUB(px[16 * ch + i], L->e0[ch]);
        dot = F_ADD(F_ADD(F_MUL(xe[0], L->d[0]), F_MUL(xe[1], L->d[1])), F_MUL(xe[2], L->d[2]));
        k = F_MIN(F_MAX(F_TRUNC(F_ADD(F_MUL(dot, L->scale), F_SET(0.5f))), F_SET(0.0f)), F_SET(3.0f));
        u[i] = k;
        for (ch = 0; ch < 3; ch++) {
            diff = F_SUB(xe[ch], F_MUL(k, d3[ch]));
            err = F_ADD(err, F_MUL(diff, diff));
        }
    }
    return err;
}

/* N blocks: px[16 * ch + i] = channel ch of texel i, one block per lane.
 * Outputs per lane: c0, c1 (565), the 32 index bits, and the one-colour flag. */
BCN_ATTR static inline __attribute__((always_inline)) void BCN_FN(bcn_bc1v)(const VF* px, VI* oc0, VI* oc1, VI* obits,
                                                                            VM* osolid) {
    VF s[3], sq[6], cov[6], ax[3], nx[3], n, m, f, ai[3], p, pmin, pmax, a2, sdot, asum, t, ep[3];
    VF qa[3], ca, qb[3], cb, u[16], u2[16], err, err2, su, suu, sux[3], aa, ab, bb, det, e0[3], e1[3], axv, bxv;
    VM live, ok, better;
    VI bits, idx;
    BCN_FN(bcn_line) L, L2;
    int i, ch, it;
    VF c128 = F_SET(128.0f);
    for (ch = 0; ch < 3; ch++) {
        s[ch] = px[16 * ch];
        for (i = 1; i < 16; i++)
            s[ch] = F_ADD(s[ch], px[16 * ch + i]);
    }
    for (i = 0; i < 6; i++)
        sq[i] = F_SET(0.0f);
    for (i = 0; i < 16; i++) {
        sq[0] = F_ADD(sq[0], F_MUL(px[i], px[i]));
        sq[1] = F_ADD(sq[1], F_MUL(px[i], px[16 + i]));
        sq[2] = F_ADD(sq[2], F_MUL(px[i], px[32 + i]));
        sq[3] = F_ADD(sq[3], F_MUL(px[16 + i], px[16 + i]));
        sq[4] = F_ADD(sq[4], F_MUL(px[16 + i], px[32 + i]));
        sq[5] = F_ADD(sq[5], F_MUL(px[32 + i], px[32 + i]));
    }
    /* 256 x covariance, exact */
    cov[0] = F_SUB(F_MUL(sq[0], F_SET(16.0f)), F_MUL(s[0], s[0]));
    cov[1] = F_SUB(F_MUL(sq[1], F_SET(16.0f)), F_MUL(s[0], s[1]));
    cov[2] = F_SUB(F_MUL(sq[2], F_SET(16.0f)), F_MUL(s[0], s[2]));
    cov[3] = F_SUB(F_MUL(sq[3], F_SET(16.0f)), F_MUL(s[1], s[1]));
    cov[4] = F_SUB(F_MUL(sq[4], F_SET(16.0f)), F_MUL(s[1], s[2]));
    cov[5] = F_SUB(F_MUL(sq[5], F_SET(16.0f)), F_MUL(s[2], s[2]));
    /* one colour: no variance in any channel (exact integers) */
    *osolid = M_AND(M_AND(F_EQ(cov[0], F_SET(0.0f)), F_EQ(cov[3], F_SET(0.0f))), F_EQ(cov[5], F_SET(0.0f)));
    ax[0] = F_ADD(F_ADD(cov[0], cov[1]), cov[2]);
    ax[1] = F_ADD(F_ADD(cov[1], cov[3]), cov[4]);
    ax[2] = F_ADD(F_ADD(cov[2], cov[4]), cov[5]);
    live = F_EQ(ax[0], ax[0]); /* all lanes */
    for (it = 0; it < 3; it++) {
        nx[0] = F_ADD(F_ADD(F_MUL(cov[0], ax[0]), F_MUL(cov[1], ax[1])), F_MUL(cov[2], ax[2]));
        nx[1] = F_ADD(F_ADD(F_MUL(cov[1], ax[0]), F_MUL(cov[3], ax[1])), F_MUL(cov[4], ax[2]));
        nx[2] = F_ADD(F_ADD(F_MUL(cov[2], ax[0]), F_MUL(cov[4], ax[1])), F_MUL(cov[5], ax[2]));
        n = F_MAX(F_MAX(F_ABS(nx[0]), F_ABS(nx[1])), F_ABS(nx[2]));
        live = M_AND(live, F_LE(F_SET(1e-6f), n));
        m = F_POW2INV(F_SEL(live, n, F_SET(1.0f))); /* exact power of two: largest in [1, 2) */
        for (ch = 0; ch < 3; ch++)
            ax[ch] = F_SEL(live, F_MUL(nx[ch], m), ax[ch]);
    }
    n = F_MAX(F_MAX(F_ABS(ax[0]), F_ABS(ax[1])), F_ABS(ax[2]));
    ok = F_LE(F_SET(1e-6f), n);
    f = F_DIV(F_SET(80.0f), F_SEL(ok, n, F_SET(1.0f)));
    for (ch = 0; ch < 3; ch++) {
        t = F_MUL(ax[ch], f);
        t = F_TRUNC(F_ADD(t, F_SEL(F_LT(t, F_SET(0.0f)), F_SET(-0.5f), F_SET(0.5f))));
        ai[ch] = F_SEL(ok, t, F_SET(80.0f));
    }
    pmin = pmax = F_SET(0.0f);
    for (i = 0; i < 16; i++) {
        p = F_ADD(F_ADD(F_MUL(F_SUB(px[i], c128), ai[0]), F_MUL(F_SUB(px[16 + i], c128), ai[1])),
                  F_MUL(F_SUB(px[32 + i], c128), ai[2]));
        pmin = i ? F_MIN(pmin, p) : p;
        pmax = i ? F_MAX(pmax, p) : p;
    }
    /* the points of the axis line through the mean at the extreme projections */
    a2 = F_ADD(F_ADD(F_MUL(ai[0], ai[0]), F_MUL(ai[1], ai[1])), F_MUL(ai[2], ai[2]));
    sdot = F_ADD(F_ADD(F_MUL(ai[0], s[0]), F_MUL(ai[1], s[1])), F_MUL(ai[2], s[2]));
    asum = F_MUL(F_ADD(F_ADD(ai[0], ai[1]), ai[2]), F_SET(2048.0f));
    a2 = F_MUL(a2, F_SET(16.0f));
    t = F_DIV(F_SUB(F_ADD(F_MUL(pmax, F_SET(16.0f)), asum), sdot), a2);
    for (ch = 0; ch < 3; ch++)
        ep[ch] = F_ADD(F_MUL(s[ch], F_SET(1.0f / 16.0f)), F_MUL(ai[ch], t));
    BCN_FN(bcn_q565v)(ep, qa, &ca);
    t = F_DIV(F_SUB(F_ADD(F_MUL(pmin, F_SET(16.0f)), asum), sdot), a2);
    for (ch = 0; ch < 3; ch++)
        ep[ch] = F_ADD(F_MUL(s[ch], F_SET(1.0f / 16.0f)), F_MUL(ai[ch], t));
    BCN_FN(bcn_q565v)(ep, qb, &cb);
    BCN_FN(bcn_linev)(qa, ca, qb, cb, &L);
    err = BCN_FN(bcn_evalv)(px, &L, u);
    /* one least-squares refit from the indices (weights u / 3) */
    su = suu = sux[0] = sux[1] = sux[2] = F_SET(0.0f);
    for (i = 0; i < 16; i++) {
        su = F_ADD(su, u[i]);
        suu = F_ADD(suu, F_MUL(u[i], u[i]));
        for (ch = 0; ch < 3; ch++)
            sux[ch] = F_ADD(sux[ch], F_MUL(u[i], px[16 * ch + i]));
    }
    aa = F_ADD(F_SUB(F_SET(144.0f), F_MUL(su, F_SET(6.0f))), suu);
    ab = F_SUB(F_MUL(su, F_SET(3.0f)), suu);
    bb = suu;
    det = F_SUB(F_MUL(aa, bb), F_MUL(ab, ab));
    ok = M_AND(F_LT(F_SET(0.0f), err), F_LE(F_SET(0.5f), det));
    det = F_SEL(ok, det, F_SET(1.0f));
    for (ch = 0; ch < 3; ch++) {
        axv = F_SUB(F_MUL(s[ch], F_SET(3.0f)), sux[ch]);
        bxv = sux[ch];
        e0[ch] = F_DIV(F_MUL(F_SET(3.0f), F_SUB(F_MUL(axv, bb), F_MUL(bxv, ab))), det);
        e1[ch] = F_DIV(F_MUL(F_SET(3.0f), F_SUB(F_MUL(bxv, aa), F_MUL(axv, ab))), det);
    }
    BCN_FN(bcn_q565v)(e0, qa, &ca);
    BCN_FN(bcn_q565v)(e1, qb, &cb);
    BCN_FN(bcn_linev)(qa, ca, qb, cb, &L2);
    err2 = BCN_FN(bcn_evalv)(px, &L2, u2);
    better = M_AND(ok, F_LT(err2, err));
    L.c0 = F_SEL(better, L2.c0, L.c0);
    L.c1 = F_SEL(better, L2.c1, L.c1);
    /* along-line u 0, 1, 2, 3 -> stored index 0, 2, 3, 1 */
    bits = I_SET(0);
    for (i = 15; i >= 0; i--) {
        idx = I_AND(I_ADD(F_TOI(F_SEL(better, u2[i], u[i])), I_SET(1)), I_SET(3));
        idx = I_XOR(idx, I_AND(I_CMPLT(idx, I_SET(2)), I_SET(1)));
        bits = I_OR(I_SLLI(bits, 2), idx);
    }
    *oc0 = F_TOI(L.c0);
    *oc1 = F_TOI(L.c1);
    *obits = bits;
}
