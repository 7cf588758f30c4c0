# Included by bc7_encode.pyx (textually, in order); not compiled on its own.
# Bit packing of an encoded block into its 16 bytes (anchor-index rules, p-bits).

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
