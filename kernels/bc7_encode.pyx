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
#   * fits with 2-bit indices (modes 2-5) on a group of at most 4 distinct colours
#     (with a repeat) also run the exact search of _cluster_fit (bc7_fit.pxi): every
#     monotone colour -> index map, least squares with the decoder's weights, every
#     p-bit choice; content already quantised by BC7 / BC1 or a palette comes out
#     exact or nearly so;
#   * a preset may stop early once a block's error is below ``good_enough``, or
#     try "extra" modes only on blocks that mode 6 leaves with a large error; a
#     block of at most 4 distinct colours stops only below good_enough * few_stop
#     and tries the exact-capable modes 5 and 3 first (presets normal and up).
# SIMD (bc7_simd.h): mode 6 of the ultrafast..thorough presets and, in every
# preset, the shape scores of opaque blocks run in C kernels built twice, portable
# and AVX2, picked at import (``simd_path``) or forced per call (``path=``);
# integer reductions and a fixed per-lane float sequence make every path give the
# same bytes.
# Opaque blocks never pay for alpha: modes 0-3 have implicit alpha 255, and modes
# 4-7 keep alpha endpoints at codes that expand exactly to 255 (p-bits pinned to 1
# in modes 6/7; with ``ignore_alpha`` mode 6's p-bits are free, alpha 254 or 255).
# A cut-out guard keeps alpha 0 / 255 texels exact under least
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

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libc.math cimport sqrtf
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

include "bc7_tables.pxi"

cdef extern from "bc7_simd.h":
    ctypedef struct oxy_m6_cfg:
        int w[4]
        float sw[4]
        int iters
        int search
        int pfree
    ctypedef unsigned int (*oxy_m6_fn)(const uint8_t* tx, const oxy_m6_cfg* cfg,
                                       uint8_t* out) noexcept nogil
    oxy_m6_fn oxy_m6_paths[2][2]
    int oxy_m6_best
    ctypedef void (*oxy_ps_fn)(const int* ipx, const float* sw, int ns, const unsigned int* masks,
                               int np, float* res, float* lam) noexcept nogil
    oxy_ps_fn oxy_ps_paths[2]
    void oxy_m6_init()

oxy_m6_init()

#: SIMD paths of the mode-6 fit, by the index ``oxy_m6_paths`` uses
_PATHS = ("default", "avx2")

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
    int m6_fast          # 1: mode 6 through the SIMD fit of bc7_simd.h (linear-time, integer)
    oxy_m6_cfg m6        # its settings
    float m6_scale       # its integer error * m6_scale = the weighted float error
    oxy_m6_fn m6fn       # the dispatched path (set per encode call)
    oxy_ps_fn psfn       # shape scores of opaque blocks, same path
    float m5_below       # opaque blocks try mode 5 only if mode 6 left at most this per texel (0: always)
    int cluster          # 1: groups with 2-bit indices and <= 4 distinct colours get the exact search
    int few_exact        # 1: blocks of <= 4 distinct colours try modes 5, 3 first and stop early
    float few_stop       # only below good_enough * few_stop
    float cluster_margin # _cluster_fit skips maps whose real residual >= best + n * sum(w) * this
    int cluster_tries    # _cluster_fit quantises at most this many maps (least real residual first)
    int ignore_alpha     # 1: every alpha is taken as 255 and mode 6's p-bits are chosen for colour


ctypedef struct Enc:
    int mode
    int part
    int rot
    int isel
    int q[3][2][4]       # endpoint codes; LSB is the p-bit in p-bit modes
    uint8_t idx[16]      # joint (or colour, modes 4/5) indices
    uint8_t aidx[16]     # scalar-channel indices (modes 4/5)
    float err


include "bc7_fit.pxi"
include "bc7_partitions.pxi"
include "bc7_modes.pxi"
include "bc7_pack.pxi"

# ---------------------------------------------------------------- driver

cdef int _ORDER[7]
_ORDER[:] = [1, 3, 0, 2, 7, 5, 4]
# blocks of <= 4 colours: first the modes with 2-bit indices and 8 (7) bits per
# endpoint component, which the exact search of _cluster_fit can make lossless
cdef int _ORDER_FEW[7]
_ORDER_FEW[:] = [5, 3, 1, 0, 2, 7, 4]


cdef inline int _few_colours(const uint8_t* tx) noexcept nogil:
    """1 if the block's 16 texels take at most 4 distinct RGBA values (content that
    was palettised or block-compressed before), else 0."""
    cdef uint32_t w[16]
    cdef uint32_t col[4]
    cdef int i, j, k = 0, found
    memcpy(w, tx, sizeof(w))
    for i in range(16):
        found = 0
        for j in range(k):
            if col[j] == w[i]:
                found = 1
                break
        if not found:
            if k == 4:
                return 0
            col[k] = w[i]
            k += 1
    return 1


cdef void _encode_block(const uint8_t* tx, const Cfg* cfg, uint8_t* out) noexcept nogil:
    cdef Blk b
    cdef Enc best
    cdef int i, c, m, mask, opaque = 1
    cdef float d, e6
    cdef float good_enough = cfg.good_enough
    cdef int few = 0
    cdef const int* order = _ORDER
    best.err = BIG
    best.mode = -1
    for i in range(16):
        if tx[4 * i + 3] != 255:
            opaque = 0
    mask = cfg.modes_opaque if opaque else cfg.modes_alpha
    if cfg.few_exact and good_enough > 0 and _few_colours(tx):
        # a block of at most 4 colours is often exactly representable (the exact
        # search of _cluster_fit finds it): a lower early stop, and the modes that
        # can be exact first
        good_enough *= cfg.few_stop
        few = 1
        order = _ORDER_FEW
    if cfg.force_mode < 0 and cfg.m6_fast and mask & 64:
        # mode 6 by the SIMD fit, written straight to ``out``; the modes below
        # replace it only if they beat its error (best.mode stays -1 otherwise)
        best.err = cfg.m6fn(tx, &cfg.m6, out) * cfg.m6_scale
        if best.err <= good_enough * 16 or ((mask & ~64) == 0 and (
                cfg.modes_extra == 0 or best.err <= cfg.extra_above * 16)):
            return
    b.opaque = opaque
    b.aerr = 0
    b.sc_nch[0] = 0
    b.sc_nch[1] = 0
    for i in range(16):
        for c in range(4):
            b.px[4 * i + c] = tx[4 * i + c]
            b.ipx[4 * i + c] = tx[4 * i + c]
        d = 255 - tx[4 * i + 3]
        b.aerr += cfg.w[3] * d * d
    if cfg.force_mode >= 0:
        _try_mode(&b, cfg, cfg.force_mode, &best)
        _pack(&best, out)
        return
    if mask & 64 and not cfg.m6_fast:
        _try_mode(&b, cfg, 6, &best)
    e6 = best.err
    for i in range(7):
        m = order[i]
        if best.err <= good_enough * 16:
            break
        if m == 5 and opaque and not few and cfg.m5_below > 0 and e6 > cfg.m5_below * 16:
            # opaque mode 5 wins on near-flat blocks (7-bit colour endpoints without
            # p-bits); mode 6 already does well on every other block
            continue
        if (mask >> m) & 1:
            _try_mode(&b, cfg, m, &best)
    if cfg.modes_extra and best.err > cfg.extra_above * 16:
        for i in range(7):
            m = _ORDER[i]
            if (cfg.modes_extra >> m) & 1 and not (mask >> m) & 1:
                if m <= 3 and not b.opaque:
                    continue
                _try_mode(&b, cfg, m, &best)
    if best.mode >= 0:
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
    elif key == "m6_fast":
        cfg.m6_fast = 1 if val else 0
    elif key == "m6_iters":
        cfg.m6.iters = max(1, val)
    elif key == "m6_search":
        cfg.m6.search = 1 if val else 0
    elif key == "cluster":
        cfg.cluster = 1 if val else 0
    elif key == "cluster_tries":
        cfg.cluster_tries = min(35, max(1, val))
    elif key == "few_exact":
        cfg.few_exact = 1 if val else 0


#: Preset names by level (the ``quality`` int), fastest first; oxy.cook.bc7.QUALITIES
#: must list the same names in the same order.
PRESETS = ("ultrafast", "fast", "normal", "better", "thorough", "high")


cdef void _setup(Cfg* cfg, int quality, bint perceptual, int force_mode, bint ignore_alpha) noexcept:
    cdef int c
    cdef str name = PRESETS[quality]
    if perceptual:
        cfg.w[0] = 0.299 * 3
        cfg.w[1] = 0.587 * 3
        cfg.w[2] = 0.114 * 3
        # integer weights of the SIMD mode-6 fit: the float ones * 8, rounded
        cfg.m6.w[0] = 7
        cfg.m6.w[1] = 14
        cfg.m6.w[2] = 3
        cfg.m6.w[3] = 8
        cfg.m6_scale = 1.0 / 8
    else:
        cfg.w[0] = 1
        cfg.w[1] = 1
        cfg.w[2] = 1
        for c in range(4):
            cfg.m6.w[c] = 1
        cfg.m6_scale = 1
    cfg.w[3] = 1
    for c in range(4):
        cfg.sw[c] = sqrtf(cfg.w[c])
        cfg.m6.sw[c] = sqrtf(cfg.m6.w[c])
    cfg.force_mode = force_mode
    cfg.ignore_alpha = 1 if ignore_alpha else 0
    cfg.m6.pfree = cfg.ignore_alpha
    cfg.max_shapes = 64
    cfg.good_enough = 0
    cfg.m6_fast = 0
    cfg.m6.iters = 2
    cfg.m6.search = 1
    cfg.m6fn = NULL
    cfg.m5_below = 0
    cfg.cluster = 1
    cfg.few_exact = 1
    cfg.few_stop = 0.25
    cfg.cluster_margin = 0.1
    cfg.cluster_tries = 4
    cfg.psfn = NULL
    for c in range(8):
        cfg.nparts[c] = 1
    if name == "ultrafast" or name == "fast":
        # SIMD mode-6 fit for every block, plus mode 1 (opaque) / 5 (alpha) on blocks it
        # leaves above 40 (fast) or 200 (ultrafast) squared error per texel
        cfg.iters = 1
        cfg.pbit_full = 0
        cfg.idx_full = 0
        cfg.modes_opaque = 1 << 6
        cfg.modes_alpha = 1 << 6
        cfg.rot_opaque = 0
        cfg.modes_extra = (1 << 1) | (1 << 5)
        cfg.extra_above = 40.0
        cfg.max_shapes = 16
        cfg.m6_fast = 1
        if name == "ultrafast":  # one refinement round, no endpoint search
            cfg.extra_above = 200.0
            cfg.m6.iters = 1
            cfg.m6.search = 0
    elif name == "normal" or name == "better":
        # modes 6 (SIMD fit), 1, 3, 5 (opaque) / 6, 5, 7, 4 (alpha)
        cfg.iters = 2
        cfg.pbit_full = 1
        cfg.idx_full = 1
        cfg.modes_opaque = (1 << 6) | (1 << 1) | (1 << 3) | (1 << 5)
        cfg.modes_alpha = (1 << 6) | (1 << 5) | (1 << 7) | (1 << 4)
        cfg.rot_opaque = 0
        cfg.modes_extra = 0
        cfg.extra_above = 0
        cfg.max_shapes = 48
        cfg.good_enough = 1.0
        cfg.nparts[1] = 2
        cfg.nparts[3] = 1
        cfg.nparts[7] = 2
        cfg.m6_fast = 1
        cfg.m5_below = 4
        cfg.few_stop = 0.5  # the default preset: few-colour blocks stop early at half
        # the threshold (a quarter cost 12 % of the speed on photos with flat skies for
        # 0.01 dB there; blocks of <= 4 colours still search to near-exact)
        if name == "better":  # every shape scored, 3 mode-1 shapes fitted, full
            cfg.max_shapes = 64  # p-bit search, lower early stop
            cfg.nparts[1] = 3
            cfg.pbit_full = 2
            cfg.good_enough = 0.5
            cfg.few_stop = 0.25
    elif name == "thorough":  # modes 6 (SIMD), 1, 3, 0, 2, 5; no rotations on opaque
        # blocks, one shape each for the 3-subset modes
        cfg.iters = 2
        cfg.pbit_full = 2
        cfg.idx_full = 1
        cfg.modes_opaque = 0x6f
        cfg.modes_alpha = 0xff
        cfg.rot_opaque = 0
        cfg.modes_extra = 0
        cfg.extra_above = 0
        cfg.max_shapes = 64
        cfg.good_enough = 0.3
        cfg.nparts[0] = 1
        cfg.nparts[1] = 4
        cfg.nparts[2] = 1
        cfg.nparts[3] = 2
        cfg.nparts[7] = 2
        cfg.m6_fast = 1
        cfg.m5_below = 4
    else:                     # high: every mode (mode 7 never wins on opaque blocks)
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


def simd_path():
    """Name of the SIMD path the mode-6 fit uses by default on this CPU:
    ``"avx2"`` or ``"default"`` (the portable build)."""
    return _PATHS[oxy_m6_best]


def simd_paths():
    """Every SIMD path this CPU can run, portable first."""
    return tuple(name for i, name in enumerate(_PATHS) if oxy_m6_paths[i][0] != NULL)


def encode(const uint8_t[:, :, ::1] rgba, int quality=2, bint perceptual=False,
           int force_mode=-1, dict tune=None, str path=None, bint ignore_alpha=False):
    """Encode an (H, W, 4) uint8 image to BC7 blocks (row-major); returns bytes.

    ``quality``: the index of a preset in :data:`PRESETS`.  ``force_mode`` (test hook): -1 for
    the normal search, or 0..7 to encode every block with that mode.  ``tune``
    (benchmark hook) overrides preset knobs by Cfg field name, e.g.
    ``{"max_shapes": 32, "nparts": [1] * 8, "modes_opaque": 0x42}``.  ``path``
    forces a SIMD path of the mode-6 fit (one of :func:`simd_paths`; None = the
    best, :func:`simd_path`); every path gives the same bytes.  ``ignore_alpha``:
    the texture's alpha is unused (opaque materials): every source alpha is taken
    as 255 and mode 6 spends its p-bits on colour, so alpha decodes to 254 or 255
    (ISPC's and bc7enc's opaque profiles do the same).  Releases the GIL
    over the whole block loop; deterministic; thread-safe.
    """
    cdef Py_ssize_t height = rgba.shape[0], width = rgba.shape[1]
    cdef Py_ssize_t bw, bh, bx, by, x, y, xx
    cdef bint lin
    cdef Cfg cfg
    cdef uint8_t tx[64]
    cdef const uint8_t* rows[4]
    cdef uint8_t* outp
    if rgba.shape[2] != 4 or height < 1 or width < 1:
        raise ValueError("rgba must have shape (H, W, 4) with H, W >= 1")
    if quality < 0 or quality >= len(PRESETS):
        raise ValueError(f"quality must be 0..{len(PRESETS) - 1} (an index of {PRESETS})")
    if force_mode < -1 or force_mode > 7:
        raise ValueError("force_mode must be -1 or 0..7")
    bw = (width + 3) // 4
    bh = (height + 3) // 4
    _setup(&cfg, quality, perceptual, force_mode, ignore_alpha)
    lin = not perceptual
    if path is None:
        cfg.m6fn = oxy_m6_paths[oxy_m6_best][lin]
        cfg.psfn = oxy_ps_paths[oxy_m6_best]
    elif path in _PATHS and oxy_m6_paths[_PATHS.index(path)][0] != NULL:
        cfg.m6fn = oxy_m6_paths[_PATHS.index(path)][lin]
        cfg.psfn = oxy_ps_paths[_PATHS.index(path)]
    else:
        raise ValueError(f"path must be None or one of {simd_paths()}, got {path!r}")
    if tune:
        for key, val in tune.items():
            if key == "nparts":
                for c in range(8):
                    cfg.nparts[c] = min(16, max(1, int(val[c])))
            elif key in ("iters", "pbit_full", "idx_full", "modes_opaque", "modes_alpha",
                         "rot_opaque", "modes_extra", "max_shapes", "m6_fast",
                         "m6_iters", "m6_search", "cluster", "few_exact", "cluster_tries"):
                _set_int(&cfg, key, int(val))
            elif key == "extra_above":
                cfg.extra_above = float(val)
            elif key == "good_enough":
                cfg.good_enough = float(val)
            elif key == "cluster_margin":
                cfg.cluster_margin = float(val)
            elif key == "few_stop":
                cfg.few_stop = float(val)
            elif key == "m5_below":
                cfg.m5_below = float(val)
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
                if bx * 4 + 3 < width:
                    for y in range(4):
                        memcpy(&tx[16 * y], rows[y] + bx * 16, 16)
                else:
                    for y in range(4):
                        for x in range(4):
                            xx = min(bx * 4 + x, width - 1) * 4
                            memcpy(&tx[16 * y + 4 * x], rows[y] + xx, 4)
                if cfg.ignore_alpha:
                    for x in range(16):
                        tx[4 * x + 3] = 255
                _encode_block(tx, &cfg, outp + 16 * (by * bw + bx))
    return res
