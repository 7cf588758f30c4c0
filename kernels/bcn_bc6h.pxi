# BC6H unsigned (BC6H_UF16, 16 bytes per block) block decoder and encoder for
# bcn.pyx.
#
# Decoder: all 14 modes, following the D3D11 functional specification (bit
# layouts below, transformed endpoints, unquantize, 3/4-bit index interpolation,
# final scale * 31 / 64); reserved modes decode to 0.  Output is half-float bits.
# texture2ddecoder (bx's decoder) differs from the specification in one place:
# it unquantizes endpoint code 2^(n-1) to 0xFFFF and code 2^n - 1 with the
# general formula (the specification: only 2^n - 1 -> 0xFFFF).  ``bx_quirk``
# reproduces that, so that its (8-bit, clamped) output can be compared bit for
# bit; oxy's decode uses the specification.
#
# Encoder (levels 0-2 = presets fast, normal, high; "ultrafast" is the SIMD C
# code of bcn_simd_bc6h.h).  Error: squared difference of log2(1 + x) per
# channel (x the half-float value; _BC6_LOG tabulates it for every half), the
# quantity the benchmarks' log-PSNR measures: errors in very dark texels count
# little, above 1 it tracks relative error.  Every candidate is scored with it
# exactly on the decoded palette.  Fitting happens in the pre-scale domain
# (half * 64 / 31), where interpolation is linear, with per-texel, per-channel
# weights that linearise that error ((ulp / (1 + x))^2, floored at 1e-4 of the
# block's largest so dark texels are not ignored: the linearisation
# underestimates large errors).
#   * One region (5-bit codes 3, 7, 11, 15 = D3D modes 11-14: 10.10.10 raw,
#     11/12/16-bit base with 9/8/4-bit deltas): weighted principal axis,
#     endpoints at the extreme projections with texel 0 (the anchor, 3 stored
#     bits) near endpoint A; a mode quantizes them (nearest unquantized value,
#     deltas clamped), indices are the best of the rounded projection and its
#     neighbours, then rounds of weighted least squares on the indices (per
#     channel) refine the endpoints.  fast and normal try only the most precise
#     mode whose deltas fit unclamped; high tries all four.
#   * Two regions (normal: the best 4 shapes, high: the best 16; codes 2, 6, 10,
#     0, 14, 18, 22, 26, 1, 30 = D3D modes 1-10, most precise first): the 32
#     shapes are ranked by the weighted scatter off each subset's principal
#     axis (per-texel moments summed once per shape); each is fitted per subset
#     the same way with 3-bit indices (anchor of subset 1 from the BPTC table),
#     in the most precise mode whose deltas fit unclamped (modes whose deltas
#     overflow by more than 2x are never tried).
#   * high also climbs on the best one- and two-region candidates: each
#     quantized endpoint value steps by -1 or +1 for as long as the error of
#     its subset drops (deltas kept in range), two sweeps.
#   The effort per level is the table _BC6_P.
# The smallest error wins.

cdef extern from *:
    """
    /* field layout per mode (key = 2-bit code for modes 0/1, 5-bit code
       otherwise): triplets (component, shift, bits) in stream order after the
       mode bits; component = channel * 4 + endpoint (rw gw bw = 0 4 8, rx = 1 ...);
       -1 ends the list */
    static const signed char oxy_bc6h_layout[32][84] = {
        {6, 4, 1, 10, 4, 1, 11, 4, 1, 0, 0, 10, 4, 0, 10, 8, 0, 10, 1, 0, 5, 7, 4, 1, 6, 0, 4, 5, 0, 5, 11, 0, 1, 7, 0, 4, 9, 0, 5, 11, 1, 1, 10, 0, 4, 2, 0, 5, 11, 2, 1, 3, 0, 5, 11, 3, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {6, 5, 1, 7, 4, 1, 7, 5, 1, 0, 0, 7, 11, 0, 1, 11, 1, 1, 10, 4, 1, 4, 0, 7, 10, 5, 1, 11, 2, 1, 6, 4, 1, 8, 0, 7, 11, 3, 1, 11, 5, 1, 11, 4, 1, 1, 0, 6, 6, 0, 4, 5, 0, 6, 7, 0, 4, 9, 0, 6, 10, 0, 4, 2, 0, 6, 3, 0, 6, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 10, 4, 0, 10, 8, 0, 10, 1, 0, 5, 0, 10, 1, 6, 0, 4, 5, 0, 4, 4, 10, 1, 11, 0, 1, 7, 0, 4, 9, 0, 4, 8, 10, 1, 11, 1, 1, 10, 0, 4, 2, 0, 5, 11, 2, 1, 3, 0, 5, 11, 3, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 10, 4, 0, 10, 8, 0, 10, 1, 0, 10, 5, 0, 10, 9, 0, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 10, 4, 0, 10, 8, 0, 10, 1, 0, 4, 0, 10, 1, 7, 4, 1, 6, 0, 4, 5, 0, 5, 4, 10, 1, 7, 0, 4, 9, 0, 4, 8, 10, 1, 11, 1, 1, 10, 0, 4, 2, 0, 4, 11, 0, 1, 11, 2, 1, 3, 0, 4, 6, 4, 1, 11, 3, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 10, 4, 0, 10, 8, 0, 10, 1, 0, 9, 0, 10, 1, 5, 0, 9, 4, 10, 1, 9, 0, 9, 8, 10, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 10, 4, 0, 10, 8, 0, 10, 1, 0, 4, 0, 10, 1, 10, 4, 1, 6, 0, 4, 5, 0, 4, 4, 10, 1, 11, 0, 1, 7, 0, 4, 9, 0, 5, 8, 10, 1, 10, 0, 4, 2, 0, 4, 11, 1, 1, 11, 2, 1, 3, 0, 4, 11, 4, 1, 11, 3, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 10, 4, 0, 10, 8, 0, 10, 1, 0, 8, 0, 11, 1, 0, 10, 1, 5, 0, 8, 4, 11, 1, 4, 10, 1, 9, 0, 8, 8, 11, 1, 8, 10, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 9, 10, 4, 1, 4, 0, 9, 6, 4, 1, 8, 0, 9, 11, 4, 1, 1, 0, 5, 7, 4, 1, 6, 0, 4, 5, 0, 5, 11, 0, 1, 7, 0, 4, 9, 0, 5, 11, 1, 1, 10, 0, 4, 2, 0, 5, 11, 2, 1, 3, 0, 5, 11, 3, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 10, 4, 0, 10, 8, 0, 10, 1, 0, 4, 0, 15, 1, 0, 14, 1, 0, 13, 1, 0, 12, 1, 0, 11, 1, 0, 10, 1, 5, 0, 4, 4, 15, 1, 4, 14, 1, 4, 13, 1, 4, 12, 1, 4, 11, 1, 4, 10, 1, 9, 0, 4, 8, 15, 1, 8, 14, 1, 8, 13, 1, 8, 12, 1, 8, 11, 1, 8, 10, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 8, 7, 4, 1, 10, 4, 1, 4, 0, 8, 11, 2, 1, 6, 4, 1, 8, 0, 8, 11, 3, 1, 11, 4, 1, 1, 0, 6, 6, 0, 4, 5, 0, 5, 11, 0, 1, 7, 0, 4, 9, 0, 5, 11, 1, 1, 10, 0, 4, 2, 0, 6, 3, 0, 6, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 8, 11, 0, 1, 10, 4, 1, 4, 0, 8, 6, 5, 1, 6, 4, 1, 8, 0, 8, 7, 5, 1, 11, 4, 1, 1, 0, 5, 7, 4, 1, 6, 0, 4, 5, 0, 6, 7, 0, 4, 9, 0, 5, 11, 1, 1, 10, 0, 4, 2, 0, 5, 11, 2, 1, 3, 0, 5, 11, 3, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 8, 11, 1, 1, 10, 4, 1, 4, 0, 8, 10, 5, 1, 6, 4, 1, 8, 0, 8, 11, 5, 1, 11, 4, 1, 1, 0, 5, 7, 4, 1, 6, 0, 4, 5, 0, 5, 11, 0, 1, 7, 0, 4, 9, 0, 6, 10, 0, 4, 2, 0, 5, 11, 2, 1, 3, 0, 5, 11, 3, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 0, 6, 7, 4, 1, 11, 0, 1, 11, 1, 1, 10, 4, 1, 4, 0, 6, 6, 5, 1, 10, 5, 1, 11, 2, 1, 6, 4, 1, 8, 0, 6, 7, 5, 1, 11, 3, 1, 11, 5, 1, 11, 4, 1, 1, 0, 6, 6, 0, 4, 5, 0, 6, 7, 0, 4, 9, 0, 6, 10, 0, 4, 2, 0, 6, 3, 0, 6, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},

    };
    /* transformed, partitioned, endpoint bits, delta bits r g b (0 bits = reserved) */
    static const signed char oxy_bc6h_info[32][6] = {
        {1,1,10,5,5,5}, {1,1,7,6,6,6}, {1,1,11,5,4,4}, {0,0,10,10,10,10},
        {0,0,0,0,0,0}, {0,0,0,0,0,0}, {1,1,11,4,5,4}, {1,0,11,9,9,9},
        {0,0,0,0,0,0}, {0,0,0,0,0,0}, {1,1,11,4,4,5}, {1,0,12,8,8,8},
        {0,0,0,0,0,0}, {0,0,0,0,0,0}, {1,1,9,5,5,5}, {1,0,16,4,4,4},
        {0,0,0,0,0,0}, {0,0,0,0,0,0}, {1,1,8,6,5,5}, {0,0,0,0,0,0},
        {0,0,0,0,0,0}, {0,0,0,0,0,0}, {1,1,8,5,6,5}, {0,0,0,0,0,0},
        {0,0,0,0,0,0}, {0,0,0,0,0,0}, {1,1,8,5,5,6}, {0,0,0,0,0,0},
        {0,0,0,0,0,0}, {0,0,0,0,0,0}, {0,1,6,6,6,6}, {0,0,0,0,0,0},
    };
    """
    const signed char oxy_bc6h_layout[32][84]
    const signed char oxy_bc6h_info[32][6]


cdef inline int _b128(uint64_t lo, uint64_t hi, int pos, int n) noexcept nogil:
    """Read n (<= 16) bits at bit pos of a 128-bit block."""
    cdef uint64_t v
    if pos >= 64:
        v = hi >> (pos - 64)
    elif pos + n <= 64:
        v = lo >> pos
    else:
        v = (lo >> pos) | (hi << (64 - pos))
    return <int>(v & ((<uint64_t>1 << n) - 1))


cdef inline void _w128(uint64_t* lo, uint64_t* hi, int pos, int n, uint64_t v) noexcept nogil:
    v &= (<uint64_t>1 << n) - 1
    if pos >= 64:
        hi[0] |= v << (pos - 64)
    elif pos + n <= 64:
        lo[0] |= v << pos
    else:
        lo[0] |= v << pos
        hi[0] |= v >> (64 - pos)


cdef inline int _sext(int v, int n) noexcept nogil:
    cdef int m = 1 << (n - 1)
    v &= (1 << n) - 1
    return (v ^ m) - m


cdef inline int _unq(int v, int n, int bx) noexcept nogil:
    """Unsigned unquantize of an n-bit endpoint code to 16 bits."""
    if n >= 15:
        return v
    if v == 0:
        return 0
    if bx:
        if v == (1 << (n - 1)):
            return 0xFFFF
    elif v == (1 << n) - 1:
        return 0xFFFF
    return ((v << 16) + 0x8000) >> n


cdef inline int _fin(int a, int b, int w) noexcept nogil:
    """Half bits of the texel interpolated with weight w/64 between unquantized a, b."""
    return ((((a * (64 - w) + b * w + 32) >> 6)) * 31) >> 6


cdef void _bc6_decode_block(const uint8_t* blk, uint16_t* out, Py_ssize_t row_stride, int bx) noexcept nogil:
    """Decode one BC6H_UF16 block to half bits, 3 per texel; texel (x, y) at
    out + y*row_stride + 3x (row_stride in uint16 elements)."""
    cdef uint64_t lo = 0, hi = 0
    cdef int mode, pos, t, comp, ii, c, n, part = 0, nsub, ib, i, sub, anchor, k, w
    cdef int vals[12]
    cdef uint16_t* p
    for i in range(8):
        lo |= (<uint64_t>blk[i]) << (8 * i)
        hi |= (<uint64_t>blk[8 + i]) << (8 * i)
    mode = _b128(lo, hi, 0, 2)
    pos = 2
    if mode & 2:
        mode = _b128(lo, hi, 0, 5)
        pos = 5
    n = oxy_bc6h_info[mode][2]
    if n == 0:
        for i in range(16):
            p = out + (i >> 2) * row_stride + 3 * (i & 3)
            p[0] = p[1] = p[2] = 0
        return
    for i in range(12):
        vals[i] = 0
    t = 0
    while t < 84 and oxy_bc6h_layout[mode][t] >= 0:
        comp = oxy_bc6h_layout[mode][t]
        vals[comp] |= _b128(lo, hi, pos, oxy_bc6h_layout[mode][t + 2]) << oxy_bc6h_layout[mode][t + 1]
        pos += oxy_bc6h_layout[mode][t + 2]
        t += 3
    nsub = 2 if oxy_bc6h_info[mode][1] else 1
    if oxy_bc6h_info[mode][0]:
        for ii in range(1, 2 * nsub):
            for c in range(3):
                vals[c * 4 + ii] = (_sext(vals[c * 4 + ii], oxy_bc6h_info[mode][3 + c])
                                    + vals[c * 4]) & ((1 << n) - 1)
    for ii in range(2 * nsub):
        for c in range(3):
            vals[c * 4 + ii] = _unq(vals[c * 4 + ii], n, bx)
    if nsub == 2:
        part = _b128(lo, hi, pos, 5)
        pos += 5
        ib = 3
    else:
        ib = 4
    for i in range(16):
        sub = (oxy_bc7_p2[part] >> i) & 1 if nsub == 2 else 0
        anchor = i == 0 or (sub == 1 and i == oxy_bc7_anchor2[part])
        k = _b128(lo, hi, pos, ib - anchor)
        pos += ib - anchor
        w = oxy_bc7_w3[k] if ib == 3 else oxy_bc7_w4[k]
        p = out + (i >> 2) * row_stride + 3 * (i & 3)
        for c in range(3):
            p[c] = <uint16_t>_fin(vals[c * 4 + 2 * sub], vals[c * 4 + 2 * sub + 1], w)


# ------------------------------------------------------------------ encoder

cdef int _BC6_MODES1[4]
_BC6_MODES1[:] = [3, 7, 11, 15]
cdef int _BC6_MODES2[10]
_BC6_MODES2[:] = [2, 6, 10, 0, 14, 18, 22, 26, 1, 30]    # most endpoint precision first

# Search effort per level (0 fast, 1 normal, 2 high), _BC6_NP entries each:
#   0 one-region modes tried (bit m: _BC6_MODES1[m]), 1 one-region least-squares
#   rounds, 2 one-region +/-1 endpoint passes, 3 two-region shapes tried (0:
#   none), 4 two-region least-squares rounds, 5 two-region +/-1 endpoint passes,
#   6 two-region modes tried (bit m: _BC6_MODES2[m]), 7 one-region modes fully
#   tried (0: all of 0; n: the n most precise from the first whose deltas fit),
#   8 the same for the two-region modes of 6, per shape.
cdef enum:
    _BC6_NP = 9
cdef int _BC6_P[3 * _BC6_NP]
_BC6_P[:] = [15, 2, 0, 0, 0, 0, 0, 1, 0,
             15, 2, 0, 4, 1, 0, 1023, 1, 1,
             15, 3, 2, 16, 2, 2, 1023, 0, 1]

# Least weight of a texel channel in the fits (relative to the block's largest).
cdef double _BC6_FLOOR = 1e-4


cdef inline int _bc6_quant(double e, int n) noexcept nogil:
    """The n-bit code whose unquantized value is nearest e (0..65535)."""
    cdef int v, best, bd, d, cand, top = (1 << n) - 1
    if n >= 15:
        return min(top, max(0, <int>(e + 0.5)))
    v = <int>((e * (1 << n) - 32768.0) / 65536.0 + 0.5)
    v = min(top, max(0, v))
    best = v
    bd = abs(_unq(v, n, 0) - <int>e)
    for cand in range(v - 1, v + 2, 2):
        if cand < 0 or cand > top:
            continue
        d = abs(_unq(cand, n, 0) - <int>e)
        if d < bd:
            bd = d
            best = cand
    return best


cdef float _BC6_LOG[0x7C00]
cdef float _BC6_WT[0x7C00]


cdef void _bc6_tables() noexcept:
    """Per half-float bits h (0..0x7BFF) of value x: _BC6_LOG[h] = log2(1 + x),
    _BC6_WT[h] = (ulp(x) / (1 + x))^2, the weight of a squared half-bit error
    that linearises the log2(1 + x) error (up to a constant factor)."""
    cdef int v, e
    cdef double x, u
    for v in range(0x7C00):
        e = v >> 10
        u = 5.9604644775390625e-08 if e == 0 else ldexp(1.0, e - 25)     # ulp: 2^-24 for subnormals
        x = v * u if e == 0 else (1024 + (v & 1023)) * u
        _BC6_LOG[v] = <float>log2(1.0 + x)
        u = u * 1024.0 / (1.0 + x)
        _BC6_WT[v] = <float>(u * u)


_bc6_tables()


cdef void _bc6_weights(const int* h, double* wt, double* tw, double* lh) noexcept nogil:
    """Fit weights of each texel's squared half-bit error per channel
    (_BC6_WT, relative to the block's largest, floored at _BC6_FLOOR), their
    per-texel sums tw, and the source's log2(1 + x) per channel lh."""
    cdef int i
    cdef double mx = 0
    for i in range(48):
        wt[i] = _BC6_WT[h[i]]
        if wt[i] > mx:
            mx = wt[i]
    mx = 1.0 / mx
    for i in range(48):
        wt[i] = max(wt[i] * mx, _BC6_FLOOR)
        lh[i] = _BC6_LOG[h[i]]
    for i in range(16):
        tw[i] = wt[3 * i] + wt[3 * i + 1] + wt[3 * i + 2]


cdef double _bc6_eval_sub(const int* h, const double* lh, unsigned int bits, int sub, int anchor,
                          int ib, const int* ua, const int* ub, uint8_t* idx) noexcept nogil:
    """Squared log2(1 + x) error (lh: the source's) of the texels of subset
    ``sub`` (texel i belongs to subset (bits >> i) & 1) with ib-bit indices
    between unquantized ua, ub: each index is the best of the rounded projection
    (in half bits) and its neighbours; the anchor's index keeps its top bit 0;
    indices into idx."""
    cdef int pal[48]
    cdef double lp[48]
    cdef int nk = 1 << ib, k, c, i, k0, kk, kmax, bk, kamax = (1 << (ib - 1)) - 1
    cdef const int* wtab
    cdef double dx0, dx1, dx2, len2, inv = 0, t, err = 0, e, be, f0, f1, f2
    if ib == 4:
        wtab = &oxy_bc7_w4[0]
    else:
        wtab = &oxy_bc7_w3[0]
    for k in range(nk):
        for c in range(3):
            pal[3 * k + c] = _fin(ua[c], ub[c], wtab[k])
            lp[3 * k + c] = _BC6_LOG[pal[3 * k + c]]
    dx0 = pal[3 * (nk - 1)] - pal[0]
    dx1 = pal[3 * (nk - 1) + 1] - pal[1]
    dx2 = pal[3 * (nk - 1) + 2] - pal[2]
    len2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
    if len2 > 0:
        inv = (nk - 1) / len2
    for i in range(16):
        if ((bits >> i) & 1) != <unsigned int>sub:
            continue
        t = ((h[3 * i] - pal[0]) * dx0 + (h[3 * i + 1] - pal[1]) * dx1 + (h[3 * i + 2] - pal[2]) * dx2) * inv
        k0 = <int>(t + 0.5) if t > 0 else 0
        kmax = kamax if i == anchor else nk - 1
        if k0 > kmax:
            k0 = kmax
        be = -1
        bk = k0
        for kk in range(max(0, k0 - 1), min(kmax, k0 + 1) + 1):
            f0 = lh[3 * i] - lp[3 * kk]
            f1 = lh[3 * i + 1] - lp[3 * kk + 1]
            f2 = lh[3 * i + 2] - lp[3 * kk + 2]
            e = f0 * f0 + f1 * f1 + f2 * f2
            if be < 0 or e < be:
                be = e
                bk = kk
        idx[i] = <uint8_t>bk
        err += be
    return err


cdef inline bint _bc6_valid(int mode, int nsub, const int* vals) noexcept nogil:
    """Every endpoint value in range and every delta within its signed bits."""
    cdef int n = oxy_bc6h_info[mode][2], top = (1 << n) - 1, c, j, d, lim
    for c in range(3):
        for j in range(2 * nsub):
            if vals[c * 4 + j] < 0 or vals[c * 4 + j] > top:
                return False
        if oxy_bc6h_info[mode][0]:
            lim = 1 << (oxy_bc6h_info[mode][3 + c] - 1)
            for j in range(1, 2 * nsub):
                d = vals[c * 4 + j] - vals[c * 4]
                if d < -lim or d > lim - 1:
                    return False
    return True


cdef inline double _bc6_eval_part(const int* h, const double* lh, int mode, int shape, int nsub,
                                  const int* vals, int sub, uint8_t* idx) noexcept nogil:
    """Error of subset ``sub`` for the (absolute, n-bit) endpoint values
    vals[channel * 4 + 2 * sub + endpoint] of ``mode``."""
    cdef int n = oxy_bc6h_info[mode][2], c
    cdef int ua[3]
    cdef int ub[3]
    for c in range(3):
        ua[c] = _unq(vals[c * 4 + 2 * sub], n, 0)
        ub[c] = _unq(vals[c * 4 + 2 * sub + 1], n, 0)
    if nsub == 1:
        return _bc6_eval_sub(h, lh, 0, 0, 0, 4, ua, ub, idx)
    return _bc6_eval_sub(h, lh, oxy_bc7_p2[shape], sub, 0 if sub == 0 else oxy_bc7_anchor2[shape],
                         3, ua, ub, idx)


cdef int _bc6_quantize(int mode, int nsub, const double* ep, int* vals) noexcept nogil:
    """Continuous endpoints ep[3 * (2 * sub + endpoint) + channel] (pre-scale
    domain) -> nearest n-bit values, deltas clamped to their range; returns 0
    (two regions only) when a delta overflows its range by more than 2x, else
    1 if a delta was clamped, 2 if none was."""
    cdef int n = oxy_bc6h_info[mode][2], c, j, v0, v, d, lim, res = 2
    for c in range(3):
        v0 = _bc6_quant(ep[c], n)
        vals[c * 4] = v0
        for j in range(1, 2 * nsub):
            v = _bc6_quant(ep[3 * j + c], n)
            if oxy_bc6h_info[mode][0]:
                lim = 1 << (oxy_bc6h_info[mode][3 + c] - 1)
                d = v - v0
                if nsub == 2 and (d < -2 * lim or d > 2 * lim - 1):
                    return 0
                if d < -lim:
                    d = -lim
                    res = 1
                elif d > lim - 1:
                    d = lim - 1
                    res = 1
                v = v0 + d
            vals[c * 4 + j] = v
    return res


cdef void _bc6_pack(int mode, int shape, int nsub, const int* vals, const uint8_t* idx,
                    uint8_t* out) noexcept nogil:
    cdef uint64_t lo = 0, hi = 0
    cdef int stored[12]
    cdef int c, j, t, pos, i, nb, ib, n = oxy_bc6h_info[mode][2]
    for i in range(12):
        stored[i] = 0
    for c in range(3):
        stored[c * 4] = vals[c * 4]
        for j in range(1, 2 * nsub):
            if oxy_bc6h_info[mode][0]:
                stored[c * 4 + j] = (vals[c * 4 + j] - vals[c * 4]) & ((1 << oxy_bc6h_info[mode][3 + c]) - 1)
            else:
                stored[c * 4 + j] = vals[c * 4 + j]
    if mode < 2:
        _w128(&lo, &hi, 0, 2, mode)
        pos = 2
    else:
        _w128(&lo, &hi, 0, 5, mode)
        pos = 5
    t = 0
    while t < 84 and oxy_bc6h_layout[mode][t] >= 0:
        _w128(&lo, &hi, pos, oxy_bc6h_layout[mode][t + 2],
              <uint64_t>(stored[oxy_bc6h_layout[mode][t]] >> oxy_bc6h_layout[mode][t + 1]))
        pos += oxy_bc6h_layout[mode][t + 2]
        t += 3
    if nsub == 2:
        _w128(&lo, &hi, pos, 5, shape)
        pos += 5
        ib = 3
    else:
        ib = 4
    for i in range(16):
        nb = ib - 1 if (i == 0 or (nsub == 2 and i == oxy_bc7_anchor2[shape])) else ib
        _w128(&lo, &hi, pos, nb, idx[i])
        pos += nb
    for i in range(8):
        out[i] = <uint8_t>(lo >> (8 * i))
        out[8 + i] = <uint8_t>(hi >> (8 * i))


cdef void _bc6_lsq(const int* h, const double* wt, unsigned int bits, int sub, int ib,
                   const uint8_t* idx, double* ep) noexcept nogil:
    """Weighted least-squares endpoints (pre-scale domain) of one subset for its
    indices, per channel, into ep[0..5]; a channel whose system is singular
    keeps its endpoints."""
    cdef double aa[3]
    cdef double ab[3]
    cdef double bb[3]
    cdef double ax[3]
    cdef double bx[3]
    cdef double a, b, wc, x, det
    cdef const int* wtab
    cdef int i, c
    if ib == 4:
        wtab = &oxy_bc7_w4[0]
    else:
        wtab = &oxy_bc7_w3[0]
    for c in range(3):
        aa[c] = ab[c] = bb[c] = ax[c] = bx[c] = 0
    for i in range(16):
        if ((bits >> i) & 1) != <unsigned int>sub:
            continue
        b = wtab[idx[i]] / 64.0
        a = 1.0 - b
        for c in range(3):
            wc = wt[3 * i + c]
            x = h[3 * i + c] * (64.0 / 31.0)
            aa[c] += wc * a * a
            ab[c] += wc * a * b
            bb[c] += wc * b * b
            ax[c] += wc * a * x
            bx[c] += wc * b * x
    for c in range(3):
        det = aa[c] * bb[c] - ab[c] * ab[c]
        if det <= 1e-9 * (aa[c] + bb[c]) * (aa[c] + bb[c]):
            continue
        ep[c] = min(65535.0, max(0.0, (ax[c] * bb[c] - bx[c] * ab[c]) / det))
        ep[3 + c] = min(65535.0, max(0.0, (bx[c] * aa[c] - ax[c] * ab[c]) / det))


cdef void _bc6_axis_fit(const int* h, const double* tw, unsigned int bits, int sub, int anchor,
                        double* ep) noexcept nogil:
    """Endpoints ep[0..5] (A then B, pre-scale domain) of one subset at the
    extreme projections on its weighted principal axis, A on the anchor's side."""
    cdef double mean[3]
    cdef double cov[6]
    cdef double axis[3]
    cdef double d[3]
    cdef double s = 64.0 / 31.0, x, y, z, nrm, t, tmin = 1e30, tmax = -1e30, ta = 0, wsum = 0, wi
    cdef int i, c, it
    mean[0] = mean[1] = mean[2] = 0
    for i in range(16):
        if ((bits >> i) & 1) == <unsigned int>sub:
            wsum += tw[i]
            for c in range(3):
                mean[c] += tw[i] * h[3 * i + c] * s
    for c in range(3):
        mean[c] /= wsum
    for c in range(6):
        cov[c] = 0
    for i in range(16):
        if ((bits >> i) & 1) == <unsigned int>sub:
            wi = tw[i]
            for c in range(3):
                d[c] = h[3 * i + c] * s - mean[c]
            cov[0] += wi * d[0] * d[0]
            cov[1] += wi * d[0] * d[1]
            cov[2] += wi * d[0] * d[2]
            cov[3] += wi * d[1] * d[1]
            cov[4] += wi * d[1] * d[2]
            cov[5] += wi * d[2] * d[2]
    axis[0] = cov[0] + cov[1] + cov[2]
    axis[1] = cov[1] + cov[3] + cov[4]
    axis[2] = cov[2] + cov[4] + cov[5]
    for it in range(4):
        x = cov[0] * axis[0] + cov[1] * axis[1] + cov[2] * axis[2]
        y = cov[1] * axis[0] + cov[3] * axis[1] + cov[4] * axis[2]
        z = cov[2] * axis[0] + cov[4] * axis[1] + cov[5] * axis[2]
        nrm = max(fabs(x), max(fabs(y), fabs(z)))
        if nrm < 1e-12:
            break
        axis[0] = x / nrm
        axis[1] = y / nrm
        axis[2] = z / nrm
    nrm = sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2])
    if nrm < 1e-12:
        axis[0] = axis[1] = axis[2] = 0.57735
    else:
        for c in range(3):
            axis[c] /= nrm
    for i in range(16):
        if ((bits >> i) & 1) == <unsigned int>sub:
            t = 0
            for c in range(3):
                t += (h[3 * i + c] * s - mean[c]) * axis[c]
            if i == anchor:
                ta = t
            tmin = min(tmin, t)
            tmax = max(tmax, t)
    if ta - tmin > tmax - ta:
        t = tmin
        tmin = tmax
        tmax = t
    for c in range(3):
        ep[c] = min(65535.0, max(0.0, mean[c] + axis[c] * tmin))
        ep[3 + c] = min(65535.0, max(0.0, mean[c] + axis[c] * tmax))


cdef inline double _bc6_offaxis(const double* m) noexcept nogil:
    """Weighted scatter off the principal axis of a subset from its summed
    moments m = (w, wx, wy, wz, wxx, wxy, wxz, wyy, wyz, wzz)."""
    cdef double cov[6]
    cdef double a0, a1, a2, x, y, z, nrm, along, n = m[0]
    cdef int it
    if n <= 0:
        return 0.0
    cov[0] = m[4] - m[1] * m[1] / n
    cov[1] = m[5] - m[1] * m[2] / n
    cov[2] = m[6] - m[1] * m[3] / n
    cov[3] = m[7] - m[2] * m[2] / n
    cov[4] = m[8] - m[2] * m[3] / n
    cov[5] = m[9] - m[3] * m[3] / n
    a0 = cov[0] + cov[1] + cov[2]
    a1 = cov[1] + cov[3] + cov[4]
    a2 = cov[2] + cov[4] + cov[5]
    for it in range(2):
        x = cov[0] * a0 + cov[1] * a1 + cov[2] * a2
        y = cov[1] * a0 + cov[3] * a1 + cov[4] * a2
        z = cov[2] * a0 + cov[4] * a1 + cov[5] * a2
        nrm = max(fabs(x), max(fabs(y), fabs(z)))
        if nrm < 1e-12:
            return 0.0
        a0 = x / nrm
        a1 = y / nrm
        a2 = z / nrm
    nrm = a0 * a0 + a1 * a1 + a2 * a2
    along = (cov[0] * a0 * a0 + cov[3] * a1 * a1 + cov[5] * a2 * a2
             + 2 * (cov[1] * a0 * a1 + cov[2] * a0 * a2 + cov[4] * a1 * a2)) / nrm
    return max(0.0, cov[0] + cov[3] + cov[5] - along)


cdef void _bc6_shape_order(const int* h, const double* tw, int* order, int nshapes) noexcept nogil:
    """The nshapes two-region shapes with the least weighted off-axis scatter,
    best first, into order[0..nshapes-1]."""
    cdef double mom[16 * 10]
    cdef double m0[10]
    cdef double m1[10]
    cdef double score[32]
    cdef double s = 64.0 / 31.0, x, y, z, w
    cdef int i, k, p, j, t
    cdef unsigned int bits
    for i in range(16):
        w = tw[i]
        x = h[3 * i] * s
        y = h[3 * i + 1] * s
        z = h[3 * i + 2] * s
        mom[10 * i] = w
        mom[10 * i + 1] = w * x
        mom[10 * i + 2] = w * y
        mom[10 * i + 3] = w * z
        mom[10 * i + 4] = w * x * x
        mom[10 * i + 5] = w * x * y
        mom[10 * i + 6] = w * x * z
        mom[10 * i + 7] = w * y * y
        mom[10 * i + 8] = w * y * z
        mom[10 * i + 9] = w * z * z
    for p in range(32):
        bits = oxy_bc7_p2[p]
        for k in range(10):
            m0[k] = 0
            m1[k] = 0
        for i in range(16):
            if (bits >> i) & 1:
                for k in range(10):
                    m1[k] += mom[10 * i + k]
            else:
                for k in range(10):
                    m0[k] += mom[10 * i + k]
        score[p] = _bc6_offaxis(m0) + _bc6_offaxis(m1)
        order[p] = p
    for i in range(nshapes):          # partial selection sort
        for j in range(i + 1, 32):
            if score[order[j]] < score[order[i]]:
                t = order[i]
                order[i] = order[j]
                order[j] = t


cdef double _bc6_climb(const int* h, const double* lh, int mode, int shape, int nsub, int* vals,
                       uint8_t* idx, double* suberr, int passes) noexcept nogil:
    """Hill climb on the quantized endpoints: each value steps by -1 (or else
    +1) for as long as the error of its subset drops (deltas stay in range);
    up to ``passes`` sweeps; vals, idx and suberr stay current; returns the
    total error."""
    cdef uint8_t tidx[16]
    cdef int p, s, j, c, k, dv, old, improved, moved
    cdef double e
    for p in range(passes):
        improved = 0
        for s in range(nsub):
            for j in range(2):
                for c in range(3):
                    k = c * 4 + 2 * s + j
                    for dv in range(-1, 2, 2):
                        moved = 0
                        while True:         # keep stepping while it helps
                            old = vals[k]
                            vals[k] = old + dv
                            if _bc6_valid(mode, nsub, vals):
                                memcpy(tidx, idx, 16)
                                e = _bc6_eval_part(h, lh, mode, shape, nsub, vals, s, tidx)
                                if e < suberr[s]:
                                    suberr[s] = e
                                    memcpy(idx, tidx, 16)
                                    improved = moved = 1
                                    continue
                            vals[k] = old
                            break
                        if moved:
                            break
        if not improved:
            break
    return suberr[0] + (suberr[1] if nsub == 2 else 0.0)


cdef void _bc6_encode_block(const int* h, int level, uint8_t* out) noexcept nogil:
    """h: 16 x 3 clamped half bits (0..0x7BFF); level 0 fast, 1 normal, 2 high."""
    cdef const int* P = &_BC6_P[level * _BC6_NP]
    cdef double wt[48]
    cdef double tw[16]
    cdef double lh[48]
    cdef double ep0[12]
    cdef double ep[12]
    cdef double sub[2]
    cdef double bsub[2]
    cdef int vals[12]
    cdef int bvals[12]
    cdef int order[32]
    cdef uint8_t idx[16]
    cdef uint8_t bidx[16]
    cdef int m, mode, it, i, p, shape, bmode = 3, bshape = 0, bnsub = 1, tried = 0, fit
    cdef double err, best = -1
    _bc6_weights(h, wt, tw, lh)
    for i in range(12):
        vals[i] = 0
    # one region
    _bc6_axis_fit(h, tw, 0, 0, 0, ep0)
    for m in range(3, -1, -1):       # most endpoint precision first: 16, 12, 11, 10 bits
        if not (P[0] >> m) & 1:
            continue
        mode = _BC6_MODES1[m]
        memcpy(ep, ep0, 6 * sizeof(double))
        if _bc6_quantize(mode, 1, ep, vals) == 1 and P[7] > 0 and tried == 0:
            continue                    # greedy: the first mode tried must fit unclamped
        if P[7] > 0 and tried >= P[7]:
            break
        tried += 1
        err = _bc6_eval_part(h, lh, mode, 0, 1, vals, 0, idx)
        for it in range(P[1] + 1):
            if best < 0 or err < best:
                best = err
                bmode = mode
                memcpy(bvals, vals, 12 * sizeof(int))
                memcpy(bidx, idx, 16)
            if it == P[1] or err == 0:
                break
            _bc6_lsq(h, wt, 0, 0, 4, idx, ep)
            _bc6_quantize(mode, 1, ep, vals)
            err = _bc6_eval_part(h, lh, mode, 0, 1, vals, 0, idx)
    if P[2] > 0 and best > 0:
        bsub[0] = best
        best = _bc6_climb(h, lh, bmode, 0, 1, bvals, bidx, bsub, P[2])
    # two regions
    cdef double best2 = -1
    cdef int b2mode = -1, b2shape = 0
    cdef int b2vals[12]
    cdef uint8_t b2idx[16]
    cdef double b2sub[2]
    if P[3] > 0 and best > 0:
        _bc6_shape_order(h, tw, order, P[3])
        for p in range(P[3]):
            shape = order[p]
            _bc6_axis_fit(h, tw, oxy_bc7_p2[shape], 0, 0, ep0)
            _bc6_axis_fit(h, tw, oxy_bc7_p2[shape], 1, oxy_bc7_anchor2[shape], ep0 + 6)
            tried = 0
            for m in range(10):
                if not (P[6] >> m) & 1:
                    continue
                mode = _BC6_MODES2[m]
                memcpy(ep, ep0, 12 * sizeof(double))
                fit = _bc6_quantize(mode, 2, ep, vals)
                if fit == 0 or (fit == 1 and P[8] > 0 and tried == 0):
                    continue
                if P[8] > 0 and tried >= P[8]:
                    break
                tried += 1
                sub[0] = _bc6_eval_part(h, lh, mode, shape, 2, vals, 0, idx)
                sub[1] = _bc6_eval_part(h, lh, mode, shape, 2, vals, 1, idx)
                for it in range(P[4] + 1):
                    err = sub[0] + sub[1]
                    if best2 < 0 or err < best2:
                        best2 = err
                        b2mode = mode
                        b2shape = shape
                        b2sub[0] = sub[0]
                        b2sub[1] = sub[1]
                        memcpy(b2vals, vals, 12 * sizeof(int))
                        memcpy(b2idx, idx, 16)
                    if it == P[4] or err == 0:
                        break
                    _bc6_lsq(h, wt, oxy_bc7_p2[shape], 0, 3, idx, ep)
                    _bc6_lsq(h, wt, oxy_bc7_p2[shape], 1, 3, idx, ep + 6)
                    if not _bc6_quantize(mode, 2, ep, vals):
                        break
                    sub[0] = _bc6_eval_part(h, lh, mode, shape, 2, vals, 0, idx)
                    sub[1] = _bc6_eval_part(h, lh, mode, shape, 2, vals, 1, idx)
        if b2mode >= 0 and P[5] > 0 and best2 > 0:
            best2 = _bc6_climb(h, lh, b2mode, b2shape, 2, b2vals, b2idx, b2sub, P[5])
        if b2mode >= 0 and best2 < best:
            bmode = b2mode
            bshape = b2shape
            bnsub = 2
            memcpy(bvals, b2vals, 12 * sizeof(int))
            memcpy(bidx, b2idx, 16)
    _bc6_pack(bmode, bshape, bnsub, bvals, bidx, out)
