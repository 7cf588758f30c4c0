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
# Encoder.  The source half bits are the error space (roughly logarithmic,
# which is what HDR quality needs); fitting happens in the pre-scale domain
# (half * 64 / 31), where interpolation is linear.
#   * One region (5-bit codes 3, 7, 11, 15 = D3D modes 11-14: 10.10.10 raw,
#     11/12/16-bit base with 9/8/4-bit deltas): principal axis of the 16 texels,
#     endpoints ordered so that texel 0 (the anchor, 3 stored bits) sits in the
#     lower half; every mode quantizes them (code and both neighbours, nearest
#     unquantized value; deltas clamped to their signed range), indices come from
#     the projection (+/- 1 checked with the exact integer decode), and rounds of
#     least squares on the indices refine the endpoints.
#   * Two regions (levels >= 1; codes 0, 1, 2, 6, 10, 14, 18, 22, 26, 30 = D3D
#     modes 1-10): the 32 shapes are scored by the scatter off each subset's
#     principal axis (from per-texel moments summed once per shape); the best
#     one (level 1) or four (level 2) are fitted per subset the same way with
#     3-bit indices (anchor of subset 1 from the BPTC table) and every
#     two-region mode is tried, except those whose deltas overflow their range
#     by more than a factor of two.
# The smallest squared half-bit error wins.

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
_BC6_MODES1[0] = 3
_BC6_MODES1[1] = 7
_BC6_MODES1[2] = 11
_BC6_MODES1[3] = 15


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


cdef long long _bc6_eval(const int* h, const int* ua, const int* ub, uint8_t* idx) noexcept nogil:
    """Squared half-bit error of one region between unquantized endpoints ua, ub
    (3 each); indices in idx, texel 0 (anchor) limited to 0..7."""
    cdef int pal[48]
    cdef int k, c, i, k0, kk, kmax, d0, d1, d2, bk
    cdef double dx[3]
    cdef double len2 = 0, t
    cdef long long err = 0, e, be
    for k in range(16):
        for c in range(3):
            pal[3 * k + c] = _fin(ua[c], ub[c], oxy_bc7_w4[k])
    for c in range(3):
        dx[c] = pal[45 + c] - pal[c]
        len2 += dx[c] * dx[c]
    for i in range(16):
        if len2 > 0:
            t = ((h[3 * i] - pal[0]) * dx[0] + (h[3 * i + 1] - pal[1]) * dx[1]
                 + (h[3 * i + 2] - pal[2]) * dx[2]) / len2
            k0 = <int>(t * 15.0 + 0.5)
            k0 = min(15, max(0, k0))
        else:
            k0 = 0
        kmax = 7 if i == 0 else 15
        if k0 > kmax:
            k0 = kmax
        be = -1
        bk = k0
        for kk in range(max(0, k0 - 1), min(kmax, k0 + 1) + 1):
            d0 = h[3 * i] - pal[3 * kk]
            d1 = h[3 * i + 1] - pal[3 * kk + 1]
            d2 = h[3 * i + 2] - pal[3 * kk + 2]
            e = <long long>d0 * d0 + <long long>d1 * d1 + <long long>d2 * d2
            if be < 0 or e < be:
                be = e
                bk = kk
        idx[i] = <uint8_t>bk
        err += be
    return err


cdef long long _bc6_try_mode(const int* h, int mode, const double* ea, const double* eb,
                             int* codes, uint8_t* idx) noexcept nogil:
    """Quantize continuous endpoints ea, eb for a one-region mode; codes[6] =
    (a r g b, b-or-delta r g b) as stored; returns the error."""
    cdef int n = oxy_bc6h_info[mode][2], c, v0, v1, d, dn, lim
    cdef int ua[3]
    cdef int ub[3]
    for c in range(3):
        v0 = _bc6_quant(ea[c], n)
        v1 = _bc6_quant(eb[c], n)
        if oxy_bc6h_info[mode][0]:
            dn = oxy_bc6h_info[mode][3 + c]
            lim = 1 << (dn - 1)
            d = v1 - v0
            if d < -lim:
                d = -lim
            elif d > lim - 1:
                d = lim - 1
            v1 = v0 + d
            codes[3 + c] = d & ((1 << dn) - 1)
        else:
            codes[3 + c] = v1
        codes[c] = v0
        ua[c] = _unq(v0, n, 0)
        ub[c] = _unq(v1, n, 0)
    return _bc6_eval(h, ua, ub, idx)


cdef void _bc6_pack1(int mode, const int* codes, const uint8_t* idx, uint8_t* out) noexcept nogil:
    cdef uint64_t lo = 0, hi = 0
    cdef int vals[12]
    cdef int c, t, pos = 5, i
    for i in range(12):
        vals[i] = 0
    for c in range(3):
        vals[c * 4] = codes[c]
        vals[c * 4 + 1] = codes[3 + c]
    _w128(&lo, &hi, 0, 5, mode)
    t = 0
    while t < 84 and oxy_bc6h_layout[mode][t] >= 0:
        _w128(&lo, &hi, pos, oxy_bc6h_layout[mode][t + 2],
              <uint64_t>(vals[oxy_bc6h_layout[mode][t]] >> oxy_bc6h_layout[mode][t + 1]))
        pos += oxy_bc6h_layout[mode][t + 2]
        t += 3
    for i in range(16):
        _w128(&lo, &hi, pos, 3 if i == 0 else 4, idx[i])
        pos += 3 if i == 0 else 4
    for i in range(8):
        out[i] = <uint8_t>(lo >> (8 * i))
        out[8 + i] = <uint8_t>(hi >> (8 * i))


cdef inline void _bc6_lsq(const int* h, const uint8_t* idx, double* ea, double* eb) noexcept nogil:
    """Least-squares endpoints (pre-scale domain) for the current indices."""
    cdef double aa = 0, ab = 0, bb = 0, w, det, x
    cdef double ax[3]
    cdef double bx[3]
    cdef int i, c
    ax[0] = ax[1] = ax[2] = bx[0] = bx[1] = bx[2] = 0
    for i in range(16):
        w = oxy_bc7_w4[idx[i]] / 64.0
        aa += (1 - w) * (1 - w)
        ab += (1 - w) * w
        bb += w * w
        for c in range(3):
            x = h[3 * i + c] * (64.0 / 31.0)
            ax[c] += (1 - w) * x
            bx[c] += w * x
    det = aa * bb - ab * ab
    if det < 1e-9:
        return
    for c in range(3):
        ea[c] = min(65535.0, max(0.0, (ax[c] * bb - bx[c] * ab) / det))
        eb[c] = min(65535.0, max(0.0, (bx[c] * aa - ax[c] * ab) / det))


cdef void _bc6_encode_block(const int* h, int level, uint8_t* out) noexcept nogil:
    """h: 16 x 3 clamped half bits (0..0x7BFF)."""
    cdef double mean[3]
    cdef double cov[6]
    cdef double axis[3]
    cdef double d[3]
    cdef double ea[3]
    cdef double eb[3]
    cdef double t, tmin, tmax, t0, x, y, z, nrm, s = 64.0 / 31.0
    cdef int i, c, it, m, mode, best_mode = 3, iters
    cdef int codes[6]
    cdef int best_codes[6]
    cdef uint8_t idx[16]
    cdef uint8_t best_idx[16]
    cdef long long err, best = -1
    mean[0] = mean[1] = mean[2] = 0
    for i in range(16):
        for c in range(3):
            mean[c] += h[3 * i + c] * s
    for c in range(3):
        mean[c] /= 16.0
    for c in range(6):
        cov[c] = 0
    for i in range(16):
        for c in range(3):
            d[c] = h[3 * i + c] * s - mean[c]
        cov[0] += d[0] * d[0]
        cov[1] += d[0] * d[1]
        cov[2] += d[0] * d[2]
        cov[3] += d[1] * d[1]
        cov[4] += d[1] * d[2]
        cov[5] += d[2] * d[2]
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
    tmin = 1e30
    tmax = -1e30
    t0 = 0
    for i in range(16):
        t = 0
        for c in range(3):
            t += (h[3 * i + c] * s - mean[c]) * axis[c]
        if i == 0:
            t0 = t
        if t < tmin:
            tmin = t
        if t > tmax:
            tmax = t
    if t0 - tmin > tmax - t0:    # texel 0 (the anchor) must sit near endpoint A
        t = tmin
        tmin = tmax
        tmax = t
    iters = 1 + level
    for m in range(4):
        mode = _BC6_MODES1[m]
        if level == 0 and mode == 15:
            continue
        for c in range(3):
            ea[c] = min(65535.0, max(0.0, mean[c] + axis[c] * tmin))
            eb[c] = min(65535.0, max(0.0, mean[c] + axis[c] * tmax))
        err = _bc6_try_mode(h, mode, ea, eb, codes, idx)
        for it in range(iters + 1):
            if best < 0 or err < best:
                best = err
                best_mode = mode
                memcpy(best_codes, codes, 6 * sizeof(int))
                memcpy(best_idx, idx, 16)
            if it == iters or err == 0:
                break
            _bc6_lsq(h, idx, ea, eb)
            err = _bc6_try_mode(h, mode, ea, eb, codes, idx)
    _bc6_pack1(best_mode, best_codes, best_idx, out)
    if best > 0 and level >= 1:
        _bc6_encode_two(h, level, best, out)


# ------------------------------------------------------------- two regions

cdef long long _BC6_SKIP = 1LL << 62
cdef int _BC6_MODES2[10]
_BC6_MODES2[:] = [0, 1, 2, 6, 10, 14, 18, 22, 26, 30]


cdef long long _bc6_eval_sub(const int* h, int shape, int sub, int anchor,
                             const int* ua, const int* ub, uint8_t* idx) noexcept nogil:
    """Squared half-bit error of subset ``sub`` of 2-region shape ``shape`` with
    3-bit indices between unquantized ua, ub; the anchor texel stays in 0..3."""
    cdef int pal[24]
    cdef int k, c, i, k0, kk, kmax, d0, d1, d2, bk
    cdef double dx[3]
    cdef double len2 = 0, t
    cdef long long err = 0, e, be
    for k in range(8):
        for c in range(3):
            pal[3 * k + c] = _fin(ua[c], ub[c], oxy_bc7_w3[k])
    for c in range(3):
        dx[c] = pal[21 + c] - pal[c]
        len2 += dx[c] * dx[c]
    for i in range(16):
        if ((oxy_bc7_p2[shape] >> i) & 1) != sub:
            continue
        if len2 > 0:
            t = ((h[3 * i] - pal[0]) * dx[0] + (h[3 * i + 1] - pal[1]) * dx[1]
                 + (h[3 * i + 2] - pal[2]) * dx[2]) / len2
            k0 = min(7, max(0, <int>(t * 7.0 + 0.5)))
        else:
            k0 = 0
        kmax = 3 if i == anchor else 7
        if k0 > kmax:
            k0 = kmax
        be = -1
        bk = k0
        for kk in range(max(0, k0 - 1), min(kmax, k0 + 1) + 1):
            d0 = h[3 * i] - pal[3 * kk]
            d1 = h[3 * i + 1] - pal[3 * kk + 1]
            d2 = h[3 * i + 2] - pal[3 * kk + 2]
            e = <long long>d0 * d0 + <long long>d1 * d1 + <long long>d2 * d2
            if be < 0 or e < be:
                be = e
                bk = kk
        idx[i] = <uint8_t>bk
        err += be
    return err


cdef void _bc6_moments(const int* h, double* mom) noexcept nogil:
    """Per texel (pre-scale domain): x, y, z, xx, xy, xz, yy, yz, zz."""
    cdef int i
    cdef double x, y, z, s = 64.0 / 31.0
    for i in range(16):
        x = h[3 * i] * s
        y = h[3 * i + 1] * s
        z = h[3 * i + 2] * s
        mom[9 * i] = x
        mom[9 * i + 1] = y
        mom[9 * i + 2] = z
        mom[9 * i + 3] = x * x
        mom[9 * i + 4] = x * y
        mom[9 * i + 5] = x * z
        mom[9 * i + 6] = y * y
        mom[9 * i + 7] = y * z
        mom[9 * i + 8] = z * z


cdef inline double _bc6_offaxis(const double* m, int n) noexcept nogil:
    """Scatter off the principal axis of a subset from its summed moments."""
    cdef double cov[6]
    cdef double a0, a1, a2, x, y, z, nrm, along
    cdef int it
    if n < 2:
        return 0.0
    cov[0] = m[3] - m[0] * m[0] / n
    cov[1] = m[4] - m[0] * m[1] / n
    cov[2] = m[5] - m[0] * m[2] / n
    cov[3] = m[6] - m[1] * m[1] / n
    cov[4] = m[7] - m[1] * m[2] / n
    cov[5] = m[8] - m[2] * m[2] / n
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


cdef double _bc6_shape_score(const double* mom, int shape) noexcept nogil:
    cdef double m0[9]
    cdef double m1[9]
    cdef int i, k, n0 = 0
    cdef unsigned int bits = oxy_bc7_p2[shape]
    for k in range(9):
        m0[k] = 0
        m1[k] = 0
    for i in range(16):
        if (bits >> i) & 1:
            for k in range(9):
                m1[k] += mom[9 * i + k]
        else:
            n0 += 1
            for k in range(9):
                m0[k] += mom[9 * i + k]
    return _bc6_offaxis(m0, n0) + _bc6_offaxis(m1, 16 - n0)


cdef long long _bc6_try_mode2(const int* h, int mode, int shape, const double* ep,
                              int* codes, uint8_t* idx) noexcept nogil:
    """Quantize continuous endpoints ep[4][3] (subset 0 A, B, subset 1 A, B) for a
    two-region mode; codes[12] as stored (component = channel * 4 + endpoint);
    returns the error of both subsets."""
    cdef int n = oxy_bc6h_info[mode][2], c, j, v0, v, d, dn, lim
    cdef int u[12]
    for c in range(3):
        v0 = _bc6_quant(ep[c], n)
        codes[c * 4] = v0
        u[c * 4] = _unq(v0, n, 0)
        for j in range(1, 4):
            v = _bc6_quant(ep[3 * j + c], n)
            if oxy_bc6h_info[mode][0]:
                dn = oxy_bc6h_info[mode][3 + c]
                lim = 1 << (dn - 1)
                d = v - v0
                if d < -2 * lim or d > 2 * lim - 1:
                    return _BC6_SKIP       # far out of range: this mode cannot win
                if d < -lim:
                    d = -lim
                elif d > lim - 1:
                    d = lim - 1
                v = v0 + d
                codes[c * 4 + j] = d & ((1 << dn) - 1)
            else:
                codes[c * 4 + j] = v
            u[c * 4 + j] = _unq(v, n, 0)
    cdef int ua[3]
    cdef int ub[3]
    cdef long long err
    for c in range(3):
        ua[c] = u[c * 4]
        ub[c] = u[c * 4 + 1]
    err = _bc6_eval_sub(h, shape, 0, 0, ua, ub, idx)
    for c in range(3):
        ua[c] = u[c * 4 + 2]
        ub[c] = u[c * 4 + 3]
    return err + _bc6_eval_sub(h, shape, 1, oxy_bc7_anchor2[shape], ua, ub, idx)


cdef void _bc6_pack2(int mode, int shape, const int* codes, const uint8_t* idx, uint8_t* out) noexcept nogil:
    cdef uint64_t lo = 0, hi = 0
    cdef int t, pos, i, nb
    if mode < 2:
        _w128(&lo, &hi, 0, 2, mode)
        pos = 2
    else:
        _w128(&lo, &hi, 0, 5, mode)
        pos = 5
    t = 0
    while t < 84 and oxy_bc6h_layout[mode][t] >= 0:
        _w128(&lo, &hi, pos, oxy_bc6h_layout[mode][t + 2],
              <uint64_t>(codes[oxy_bc6h_layout[mode][t]] >> oxy_bc6h_layout[mode][t + 1]))
        pos += oxy_bc6h_layout[mode][t + 2]
        t += 3
    _w128(&lo, &hi, pos, 5, shape)
    pos += 5
    for i in range(16):
        nb = 2 if (i == 0 or i == oxy_bc7_anchor2[shape]) else 3
        _w128(&lo, &hi, pos, nb, idx[i])
        pos += nb
    for i in range(8):
        out[i] = <uint8_t>(lo >> (8 * i))
        out[8 + i] = <uint8_t>(hi >> (8 * i))


cdef double _bc6_axis_fit(const int* h, int shape, int sub, int anchor, double* ep,
                          int score_only) noexcept nogil:
    """Principal-axis endpoints of one subset (pre-scale domain) into ep[0..5]
    (A then B), A on the anchor's side, unless ``score_only``; returns the
    off-axis residual (scatter not explained by the axis)."""
    cdef double mean[3]
    cdef double cov[6]
    cdef double axis[3]
    cdef double d[3]
    cdef double s = 64.0 / 31.0, x, y, z, nrm, t, tmin = 1e30, tmax = -1e30, ta = 0, total
    cdef int i, c, it, n = 0
    mean[0] = mean[1] = mean[2] = 0
    for i in range(16):
        if ((oxy_bc7_p2[shape] >> i) & 1) == sub:
            n += 1
            for c in range(3):
                mean[c] += h[3 * i + c] * s
    for c in range(3):
        mean[c] /= n
    for c in range(6):
        cov[c] = 0
    for i in range(16):
        if ((oxy_bc7_p2[shape] >> i) & 1) == sub:
            for c in range(3):
                d[c] = h[3 * i + c] * s - mean[c]
            cov[0] += d[0] * d[0]
            cov[1] += d[0] * d[1]
            cov[2] += d[0] * d[2]
            cov[3] += d[1] * d[1]
            cov[4] += d[1] * d[2]
            cov[5] += d[2] * d[2]
    axis[0] = cov[0] + cov[1] + cov[2]
    axis[1] = cov[1] + cov[3] + cov[4]
    axis[2] = cov[2] + cov[4] + cov[5]
    for it in range(2):
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
    total = cov[0] + cov[3] + cov[5]
    # off-axis scatter: total minus the along-axis part (Rayleigh quotient)
    x = (cov[0] * axis[0] * axis[0] + cov[3] * axis[1] * axis[1] + cov[5] * axis[2] * axis[2]
         + 2 * (cov[1] * axis[0] * axis[1] + cov[2] * axis[0] * axis[2] + cov[4] * axis[1] * axis[2]))
    if score_only:
        return total - x
    for i in range(16):
        if ((oxy_bc7_p2[shape] >> i) & 1) == sub:
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
    return total - x


cdef void _bc6_lsq_sub(const int* h, int shape, int sub, const uint8_t* idx, double* ep) noexcept nogil:
    """Least-squares endpoints of one subset for its 3-bit indices."""
    cdef double aa = 0, ab = 0, bb = 0, w, det, x
    cdef double ax[3]
    cdef double bx[3]
    cdef int i, c
    ax[0] = ax[1] = ax[2] = bx[0] = bx[1] = bx[2] = 0
    for i in range(16):
        if ((oxy_bc7_p2[shape] >> i) & 1) != sub:
            continue
        w = oxy_bc7_w3[idx[i]] / 64.0
        aa += (1 - w) * (1 - w)
        ab += (1 - w) * w
        bb += w * w
        for c in range(3):
            x = h[3 * i + c] * (64.0 / 31.0)
            ax[c] += (1 - w) * x
            bx[c] += w * x
    det = aa * bb - ab * ab
    if det < 1e-9:
        return
    for c in range(3):
        ep[c] = min(65535.0, max(0.0, (ax[c] * bb - bx[c] * ab) / det))
        ep[3 + c] = min(65535.0, max(0.0, (bx[c] * aa - ax[c] * ab) / det))


cdef long long _bc6_encode_two(const int* h, int level, long long best, uint8_t* out) noexcept nogil:
    """Try the two-region modes on the best few shapes; writes ``out`` and returns
    the new error when one beats ``best``, else returns ``best``."""
    cdef double score[32]
    cdef double ep[12]
    cdef double bep[12]
    cdef int order[32]
    cdef int codes[12]
    cdef int bcodes[12]
    cdef uint8_t idx[16]
    cdef uint8_t bidx[16]
    cdef double mom[16 * 9]
    cdef int p, i, j, t, m, mode, nshapes, it, bmode = -1, bshape = 0
    cdef long long err
    _bc6_moments(h, mom)
    for p in range(32):
        score[p] = _bc6_shape_score(mom, p)
        order[p] = p
    nshapes = 1 if level <= 1 else 4
    for i in range(nshapes):          # partial selection sort: the nshapes lowest scores
        for j in range(i + 1, 32):
            if score[order[j]] < score[order[i]]:
                t = order[i]
                order[i] = order[j]
                order[j] = t
    for i in range(nshapes):
        p = order[i]
        _bc6_axis_fit(h, p, 0, 0, bep, 0)
        _bc6_axis_fit(h, p, 1, oxy_bc7_anchor2[p], bep + 6, 0)
        for m in range(10):
            mode = _BC6_MODES2[m]
            memcpy(ep, bep, 12 * sizeof(double))
            err = _bc6_try_mode2(h, mode, p, ep, codes, idx)
            for it in range(level + 1):
                if err < best:
                    best = err
                    bmode = mode
                    bshape = p
                    memcpy(bcodes, codes, 12 * sizeof(int))
                    memcpy(bidx, idx, 16)
                if it == level or err == 0:
                    break
                _bc6_lsq_sub(h, p, 0, idx, ep)
                _bc6_lsq_sub(h, p, 1, idx, ep + 6)
                err = _bc6_try_mode2(h, mode, p, ep, codes, idx)
    if bmode >= 0:
        _bc6_pack2(bmode, bshape, bcodes, bidx, out)
    return best
