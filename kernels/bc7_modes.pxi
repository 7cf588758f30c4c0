# Included by bc7_encode.pyx (textually, in order); not compiled on its own.
# Per-mode trials: joint-endpoint modes 0-3, 6, 7 and the rotation/index-selection
# search of modes 4 and 5.

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
    if m.ab and b.opaque and not (cfg.ignore_alpha and m.ab == 7):
        # opaque: alpha exactly 255 (p-bits 1); with ignore_alpha mode 6's p-bits
        # go to colour (alpha 254 or 255; mode 7's would give 251, so they stay)
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
        err += _fit(b.px, cfg, &g, tex[s], cnt[s], cur.q[s][0], cur.q[s][1], sidx, best.err - err)
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
    err = _fit(rpx, &rc, &g, tex, 16, cur.q[0][0], cur.q[0][1], cur.idx, best.err)
    if err >= best.err:
        return
    _grp(&g, &rc, 3, 4, m.ab, PB_NONE, aib, 3 if rot == 0 else -1)
    err += _fit(rpx, &rc, &g, tex, 16, cur.q[0][0], cur.q[0][1], cur.aidx, best.err - err)
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
    cdef unsigned int masks[64]
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
        if nch == 3:
            # opaque: the SIMD scorer of bc7_simd.h (vectorised across shapes)
            for i in range(b.sc_np[t]):
                masks[i] = oxy_bc7_p2[b.sc_list[t][i]] if m.ns == 2 else oxy_bc7_p3[b.sc_list[t][i]]
            cfg.psfn(b.ipx, cfg.sw, m.ns, masks, b.sc_np[t], b.sc_res[t], b.sc_lam[t])
        else:
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
