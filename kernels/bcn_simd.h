/* Vectorised "ultrafast" (level 0) block encoders for kernels/bcn.pyx: BC4 / BC5
 * here, BC1 in bcn_simd_bc1.h, BC6H in bcn_simd_bc6h.h.
 *
 * Every encoder exists in three code paths that produce the same bytes for
 * the same input (tests/test_bcn.py compares them):
 *   BCN_PATH_SCALAR  portable C (any CPU; the reference),
 *   BCN_PATH_SSE2    SSE2 (baseline on x86_64: no dispatch needed),
 *   BCN_PATH_AVX2    AVX2 functions (__attribute__((target("avx2"))), chosen at
 *                    run time with __builtin_cpu_supports, so the default
 *                    portable -O3 build still runs on any x86_64).
 * BC4/BC5: one block per SSE2 register, two per AVX2 register; all integer,
 * so exact on every path.  BC1 and BC6H: one block per vector lane (4 SSE2, 8
 * AVX2, 1 scalar), the algorithm written once over lane-wise op macros and
 * included once per path; every path performs the same IEEE single-precision
 * operations in the same order (no FMA: the avx2 target does not enable it).
 * Helpers called from the AVX2 drivers are always_inline: a call into
 * SSE-encoded code per block costs an AVX-SSE transition.
 *
 * Thread rules: pure functions over caller memory; the only globals are the
 * table pointers set once at import (bcn_simd_set_tables,
 * bcn_simd_set_bc6h_layout) before any caller runs.
 * Failure modes: none (the Cython caller validates shapes and channels).
 */
#ifndef OXY_BCN_SIMD_H
#define OXY_BCN_SIMD_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <math.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__) && defined(__SSE2__)
#define BCN_X86 1
#include <emmintrin.h>
#endif

#define BCN_PATH_SCALAR 0
#define BCN_PATH_SSE2 1
#define BCN_PATH_AVX2 2

static const char* const bcn_path_names[3] = {"scalar", "sse2", "avx2"};

/* Best path this CPU runs. */
static int bcn_simd_max_path(void) {
#ifdef BCN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return BCN_PATH_AVX2;
    return BCN_PATH_SSE2;
#else
    return BCN_PATH_SCALAR;
#endif
}

/* ------------------------------------------------------------------ gather */

/* 16 texels of channel ch of a 4x4 block whose top-left texel is at p (row
 * stride `stride` bytes, nch bytes per texel) into v[16], row-major. */
static inline void bcn_gather1(const uint8_t* p, ptrdiff_t stride, int nch, int ch, uint8_t* v) {
    int x, y;
    for (y = 0; y < 4; y++)
        for (x = 0; x < 4; x++)
            v[4 * y + x] = p[y * stride + x * nch + ch];
}

/* Channel ch of the 4x4 block at (bx, by) of an (h, w, nch) image into v[16],
 * coordinates clamped at the image edges (edge replication). */
static inline __attribute__((always_inline)) void bcn_gather_clamped(const uint8_t* img, ptrdiff_t h, ptrdiff_t w, int nch,
                                      ptrdiff_t bx, ptrdiff_t by, int ch, uint8_t* v) {
    ptrdiff_t x, y, xx, yy;
    for (y = 0; y < 4; y++) {
        yy = by * 4 + y < h ? by * 4 + y : h - 1;
        for (x = 0; x < 4; x++) {
            xx = bx * 4 + x < w ? bx * 4 + x : w - 1;
            v[4 * y + x] = img[(yy * w + xx) * nch + ch];
        }
    }
}

/* ------------------------------------------------------------------ BC4 */

/* BC4 "ultrafast": endpoints at the block's max (e0) and min (e1), 8-value
 * mode, each texel the nearest palette entry (exact, against the decoder's
 * truncating integer palette; ties go to the entry nearer e0).
 *
 * Palette in "t-order" k = 0..7 from e0 down to e1: q[k] = ((7-k) e0 + k e1) / 7,
 * non-increasing.  The nearest entry is k = number of thresholds
 * t[j] = ceil((q[j] + q[j+1]) / 2), j = 0..6, that the texel is below; the
 * stored index is 0 for k = 0, 1 for k = 7, k + 1 otherwise. */
static inline void bcn_bc4_thresholds(int hi, int lo, int* t) {
    int q[8], k;
    for (k = 0; k < 8; k++)
        q[k] = ((7 - k) * hi + k * lo) / 7;
    for (k = 0; k < 7; k++)
        t[k] = (q[k] + q[k + 1] + 1) >> 1;
}

static inline void bcn_bc4_write(int hi, int lo, uint64_t bits, uint8_t* out) {
    int i;
    out[0] = (uint8_t)hi;
    out[1] = (uint8_t)lo;
    for (i = 0; i < 6; i++)
        out[2 + i] = (uint8_t)(bits >> (8 * i));
}

static void bcn_bc4_ultra_scalar(const uint8_t* v, uint8_t* out) {
    int i, j, k, t[7], mn = 255, mx = 0;
    uint64_t bits = 0;
    for (i = 0; i < 16; i++) {
        mn = v[i] < mn ? v[i] : mn;
        mx = v[i] > mx ? v[i] : mx;
    }
    if (mn == mx) {
        bcn_bc4_write(mx, mx, 0, out);
        return;
    }
    bcn_bc4_thresholds(mx, mn, t);
    for (i = 0; i < 16; i++) {
        k = 0;
        for (j = 0; j < 7; j++)
            k += v[i] < t[j];
        k = (k + 1) & 7;
        k ^= k < 2;
        bits |= (uint64_t)k << (3 * i);
    }
    bcn_bc4_write(mx, mn, bits, out);
}

#ifdef BCN_X86
/* The vector block encoder, written once over op macros (BCN_* below) and
 * instantiated for SSE2 (one block per register) and AVX2 (two blocks per
 * register, one per 128-bit lane: every op here is lane-local).  Branch-free:
 * a flat block (hi == lo) gets thresholds hi, so every index is 0, the same
 * bytes as the scalar encoder's early out.  Min / max are broadcast to every
 * byte by shuffles; the palette and its thresholds are computed in 16-bit
 * lanes (q = n * 9363 >> 16 is n / 7 exactly for n <= 1785; avg_epu16 is the
 * rounded-up half sum); the texel counts come from 7 byte compares.  Result:
 * the 8 block bytes in the low 64 bits of each 128-bit lane. */
#define BCN_BC4_BODY(x, res)                                                                         \
    do {                                                                                             \
        BCN_V mn_, mx_, t_, q_, acc_, one_, bias_, xs_;                                              \
        mn_ = BCN_MINU8(x, BCN_SHUF32(x, 0x4E));                                                     \
        mx_ = BCN_MAXU8(x, BCN_SHUF32(x, 0x4E));                                                     \
        mn_ = BCN_MINU8(mn_, BCN_SHUF32(mn_, 0xB1));                                                 \
        mx_ = BCN_MAXU8(mx_, BCN_SHUF32(mx_, 0xB1));                                                 \
        mn_ = BCN_MINU8(mn_, BCN_SHUFLO(mn_, 0xB1));                                                 \
        mx_ = BCN_MAXU8(mx_, BCN_SHUFLO(mx_, 0xB1));                                                 \
        mn_ = BCN_MINU8(mn_, BCN_SRLI16(mn_, 8));                                                    \
        mx_ = BCN_MAXU8(mx_, BCN_SRLI16(mx_, 8));                                                    \
        /* byte 0 holds the min / max: into every 16-bit lane */                                     \
        mn_ = BCN_SHUF32(BCN_SHUFLO(BCN_AND(mn_, BCN_SET16(0xff)), 0), 0);                           \
        mx_ = BCN_SHUF32(BCN_SHUFLO(BCN_AND(mx_, BCN_SET16(0xff)), 0), 0);                           \
        q_ = BCN_ADD16(BCN_MULLO16(mx_, BCN_SETR16(7, 6, 5, 4, 3, 2, 1, 0)),                         \
                       BCN_MULLO16(mn_, BCN_SETR16(0, 1, 2, 3, 4, 5, 6, 7)));                        \
        q_ = BCN_MULHIU16(q_, BCN_SET16(9363));                                                      \
        t_ = BCN_AVGU16(q_, BCN_BSRLI(q_, 2)); /* t[0..6] in 16-bit lanes */                         \
        bias_ = BCN_SET8((char)0x80);                                                                \
        t_ = BCN_XOR(BCN_PACKUS16(t_, t_), bias_);                                                   \
        t_ = BCN_UNPACKLO8(t_, t_);                                                                  \
        xs_ = BCN_XOR(x, bias_);                                                                     \
        acc_ = BCN_CMPGT8(BCN_SHUF32(BCN_SHUFLO(t_, 0x00), 0), xs_);                                 \
        acc_ = BCN_ADD8(acc_, BCN_CMPGT8(BCN_SHUF32(BCN_SHUFLO(t_, 0x55), 0), xs_));                 \
        acc_ = BCN_ADD8(acc_, BCN_CMPGT8(BCN_SHUF32(BCN_SHUFLO(t_, 0xAA), 0), xs_));                 \
        acc_ = BCN_ADD8(acc_, BCN_CMPGT8(BCN_SHUF32(BCN_SHUFLO(t_, 0xFF), 0), xs_));                 \
        acc_ = BCN_ADD8(acc_, BCN_CMPGT8(BCN_SHUF32(BCN_SHUFHI(t_, 0x00), 0xAA), xs_));              \
        acc_ = BCN_ADD8(acc_, BCN_CMPGT8(BCN_SHUF32(BCN_SHUFHI(t_, 0x55), 0xAA), xs_));              \
        acc_ = BCN_ADD8(acc_, BCN_CMPGT8(BCN_SHUF32(BCN_SHUFHI(t_, 0xAA), 0xAA), xs_));              \
        /* acc = -k; stored index: (k + 1) & 7 with 0 and 1 swapped */                               \
        one_ = BCN_SET8(1);                                                                          \
        acc_ = BCN_AND(BCN_SUB8(one_, acc_), BCN_SET8(7));                                           \
        acc_ = BCN_XOR(acc_, BCN_AND(BCN_CMPGT8(BCN_SET8(2), acc_), one_));                          \
        /* pack 16 x 3 bits: pairs into 6 bits per u16, 12 per u32, 24 per u64, 48 */               \
        acc_ = BCN_OR(BCN_AND(acc_, BCN_SET16(0x00ff)), BCN_SRLI16(acc_, 5));                        \
        acc_ = BCN_OR(BCN_AND(acc_, BCN_SET32(0xffff)), BCN_SRLI32(acc_, 10));                       \
        acc_ = BCN_OR(BCN_AND(acc_, BCN_SET64(0xffffff)), BCN_SRLI64(acc_, 20));                     \
        acc_ = BCN_OR(acc_, BCN_SLLI64(BCN_BSRLI(acc_, 8), 24));                                     \
        res = BCN_OR(BCN_AND(BCN_OR(mx_, BCN_SLLI16(mn_, 8)), BCN_SET64(0xffff)), BCN_SLLI64(acc_, 16)); \
    } while (0)

#define BCN_V __m128i
#define BCN_MINU8 _mm_min_epu8
#define BCN_MAXU8 _mm_max_epu8
#define BCN_SHUF32 _mm_shuffle_epi32
#define BCN_SHUFLO _mm_shufflelo_epi16
#define BCN_SHUFHI _mm_shufflehi_epi16
#define BCN_SRLI16 _mm_srli_epi16
#define BCN_SLLI16 _mm_slli_epi16
#define BCN_SRLI32 _mm_srli_epi32
#define BCN_SRLI64 _mm_srli_epi64
#define BCN_SLLI64 _mm_slli_epi64
#define BCN_ADD16 _mm_add_epi16
#define BCN_MULLO16 _mm_mullo_epi16
#define BCN_MULHIU16 _mm_mulhi_epu16
#define BCN_SETR16 _mm_setr_epi16
#define BCN_SET16 _mm_set1_epi16
#define BCN_SET8 _mm_set1_epi8
#define BCN_SET32 _mm_set1_epi32
#define BCN_SET64(v) _mm_set1_epi64x(v)
#define BCN_AVGU16 _mm_avg_epu16
#define BCN_BSRLI _mm_srli_si128
#define BCN_XOR _mm_xor_si128
#define BCN_AND _mm_and_si128
#define BCN_OR _mm_or_si128
#define BCN_PACKUS16 _mm_packus_epi16
#define BCN_UNPACKLO8 _mm_unpacklo_epi8
#define BCN_CMPGT8 _mm_cmpgt_epi8
#define BCN_ADD8 _mm_add_epi8
#define BCN_SUB8 _mm_sub_epi8

/* One block (16 bytes in x) -> its 8 BC4 bytes at out. */
static inline __attribute__((always_inline)) void bcn_bc4_ultra_sse2(__m128i x, uint8_t* out) {
    __m128i r;
    BCN_BC4_BODY(x, r);
    _mm_storel_epi64((__m128i*)out, r);
}

/* The 16 bytes of one BC5 block from its two channels. */
static inline __attribute__((always_inline)) void bcn_bc5_ultra_sse2(__m128i x0, __m128i x1, uint8_t* out) {
    __m128i r0, r1;
    BCN_BC4_BODY(x0, r0);
    BCN_BC4_BODY(x1, r1);
    _mm_storeu_si128((__m128i*)out, _mm_unpacklo_epi64(r0, r1));
}

#undef BCN_V
#undef BCN_MINU8
#undef BCN_MAXU8
#undef BCN_SHUF32
#undef BCN_SHUFLO
#undef BCN_SHUFHI
#undef BCN_SRLI16
#undef BCN_SLLI16
#undef BCN_SRLI32
#undef BCN_SRLI64
#undef BCN_SLLI64
#undef BCN_ADD16
#undef BCN_MULLO16
#undef BCN_MULHIU16
#undef BCN_SETR16
#undef BCN_SET16
#undef BCN_SET8
#undef BCN_SET32
#undef BCN_SET64
#undef BCN_AVGU16
#undef BCN_BSRLI
#undef BCN_XOR
#undef BCN_AND
#undef BCN_OR
#undef BCN_PACKUS16
#undef BCN_UNPACKLO8
#undef BCN_CMPGT8
#undef BCN_ADD8
#undef BCN_SUB8

#include <immintrin.h>
#define BCN_V __m256i
#define BCN_MINU8 _mm256_min_epu8
#define BCN_MAXU8 _mm256_max_epu8
#define BCN_SHUF32 _mm256_shuffle_epi32
#define BCN_SHUFLO _mm256_shufflelo_epi16
#define BCN_SHUFHI _mm256_shufflehi_epi16
#define BCN_SRLI16 _mm256_srli_epi16
#define BCN_SLLI16 _mm256_slli_epi16
#define BCN_SRLI32 _mm256_srli_epi32
#define BCN_SRLI64 _mm256_srli_epi64
#define BCN_SLLI64 _mm256_slli_epi64
#define BCN_ADD16 _mm256_add_epi16
#define BCN_MULLO16 _mm256_mullo_epi16
#define BCN_MULHIU16 _mm256_mulhi_epu16
#define BCN_SETR16(a, b, c, d, e, f, g, h) _mm256_setr_epi16(a, b, c, d, e, f, g, h, a, b, c, d, e, f, g, h)
#define BCN_SET16 _mm256_set1_epi16
#define BCN_SET8 _mm256_set1_epi8
#define BCN_SET32 _mm256_set1_epi32
#define BCN_SET64(v) _mm256_set1_epi64x(v)
#define BCN_AVGU16 _mm256_avg_epu16
#define BCN_BSRLI _mm256_srli_si256
#define BCN_XOR _mm256_xor_si256
#define BCN_AND _mm256_and_si256
#define BCN_OR _mm256_or_si256
#define BCN_PACKUS16 _mm256_packus_epi16
#define BCN_UNPACKLO8 _mm256_unpacklo_epi8
#define BCN_CMPGT8 _mm256_cmpgt_epi8
#define BCN_ADD8 _mm256_add_epi8
#define BCN_SUB8 _mm256_sub_epi8

/* Two blocks (lane 0, lane 1) -> the 8 bytes of each at out0, out1. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
bcn_bc4x2_ultra_avx2(__m256i x, uint8_t* out0, uint8_t* out1) {
    __m256i r;
    BCN_BC4_BODY(x, r);
    _mm_storel_epi64((__m128i*)out0, _mm256_castsi256_si128(r));
    _mm_storel_epi64((__m128i*)out1, _mm256_extracti128_si256(r, 1));
}

#undef BCN_V
#undef BCN_MINU8
#undef BCN_MAXU8
#undef BCN_SHUF32
#undef BCN_SHUFLO
#undef BCN_SHUFHI
#undef BCN_SRLI16
#undef BCN_SLLI16
#undef BCN_SRLI32
#undef BCN_SRLI64
#undef BCN_SLLI64
#undef BCN_ADD16
#undef BCN_MULLO16
#undef BCN_MULHIU16
#undef BCN_SETR16
#undef BCN_SET16
#undef BCN_SET8
#undef BCN_SET32
#undef BCN_SET64
#undef BCN_AVGU16
#undef BCN_BSRLI
#undef BCN_XOR
#undef BCN_AND
#undef BCN_OR
#undef BCN_PACKUS16
#undef BCN_UNPACKLO8
#undef BCN_CMPGT8
#undef BCN_ADD8
#undef BCN_SUB8
#endif

#ifdef BCN_X86
/* Channel ch of the 4x4 block at p (row stride `stride`, nch bytes per texel)
 * as 16 bytes, row-major: shuffles for 1, 2 and 4 channels, else bytewise. */
static inline __attribute__((always_inline)) __m128i bcn_gather_sse2(const uint8_t* p, ptrdiff_t stride,
                                                                     int nch, int ch) {
    __m128i r0, r1, r2, r3, a, b, mask, sh;
    uint32_t w0, w1, w2, w3;
    uint8_t v[16];
    if (nch == 1) {
        memcpy(&w0, p, 4);
        memcpy(&w1, p + stride, 4);
        memcpy(&w2, p + 2 * stride, 4);
        memcpy(&w3, p + 3 * stride, 4);
        return _mm_set_epi32((int)w3, (int)w2, (int)w1, (int)w0);
    }
    if (nch == 2) {
        a = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i*)p), _mm_loadl_epi64((const __m128i*)(p + stride)));
        b = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i*)(p + 2 * stride)),
                               _mm_loadl_epi64((const __m128i*)(p + 3 * stride)));
        if (ch) {
            a = _mm_srli_epi16(a, 8);
            b = _mm_srli_epi16(b, 8);
        } else {
            mask = _mm_set1_epi16(0x00ff);
            a = _mm_and_si128(a, mask);
            b = _mm_and_si128(b, mask);
        }
        return _mm_packus_epi16(a, b);
    }
    if (nch == 4) {
        mask = _mm_set1_epi32(0xff);
        sh = _mm_cvtsi32_si128(8 * ch);
        r0 = _mm_and_si128(_mm_srl_epi32(_mm_loadu_si128((const __m128i*)p), sh), mask);
        r1 = _mm_and_si128(_mm_srl_epi32(_mm_loadu_si128((const __m128i*)(p + stride)), sh), mask);
        r2 = _mm_and_si128(_mm_srl_epi32(_mm_loadu_si128((const __m128i*)(p + 2 * stride)), sh), mask);
        r3 = _mm_and_si128(_mm_srl_epi32(_mm_loadu_si128((const __m128i*)(p + 3 * stride)), sh), mask);
        return _mm_packus_epi16(_mm_packs_epi32(r0, r1), _mm_packs_epi32(r2, r3));
    }
    bcn_gather1(p, stride, nch, ch, v);
    return _mm_loadu_si128((const __m128i*)v);
}
#endif

/* Channel ch of the block at (bx, by): in place for interior blocks, clamped
 * copy at the edges. */
#define BCN_BLOCK(GATHER, LOADV, bx, ch, x)                                      \
    do {                                                                         \
        if ((bx) * 4 + 4 <= w && inner_row) {                                    \
            x = GATHER(img + (by * 4 * w + (bx) * 4) * nch, stride, nch, ch);    \
        } else {                                                                 \
            bcn_gather_clamped(img, h, w, nch, bx, by, ch, v);                   \
            x = LOADV(v);                                                        \
        }                                                                        \
    } while (0)

/* BC4 (ch1 < 0: 8-byte blocks) or BC5 (16-byte blocks: ch0 then ch1) of an
 * (h, w, nch) uint8 image, "ultrafast", one function per path. */
static void bcn_bc45_ultra_scalar(const uint8_t* img, ptrdiff_t h, ptrdiff_t w, int nch, int ch0, int ch1,
                                  uint8_t* out) {
    ptrdiff_t bw = (w + 3) / 4, bh = (h + 3) / 4, bx, by;
    uint8_t v[16];
    for (by = 0; by < bh; by++) {
        for (bx = 0; bx < bw; bx++) {
            bcn_gather_clamped(img, h, w, nch, bx, by, ch0, v);
            bcn_bc4_ultra_scalar(v, out);
            out += 8;
            if (ch1 >= 0) {
                bcn_gather_clamped(img, h, w, nch, bx, by, ch1, v);
                bcn_bc4_ultra_scalar(v, out);
                out += 8;
            }
        }
    }
}

#ifdef BCN_X86
#define BCN_LOADU(v) _mm_loadu_si128((const __m128i*)(v))
static void bcn_bc45_ultra_sse2(const uint8_t* img, ptrdiff_t h, ptrdiff_t w, int nch, int ch0, int ch1,
                                uint8_t* out) {
    ptrdiff_t bw = (w + 3) / 4, bh = (h + 3) / 4, bx, by, stride = w * nch;
    int inner_row;
    uint8_t v[16];
    __m128i x0, x1;
    for (by = 0; by < bh; by++) {
        inner_row = by * 4 + 4 <= h;
        for (bx = 0; bx < bw; bx++) {
            BCN_BLOCK(bcn_gather_sse2, BCN_LOADU, bx, ch0, x0);
            if (ch1 < 0) {
                bcn_bc4_ultra_sse2(x0, out);
                out += 8;
            } else {
                BCN_BLOCK(bcn_gather_sse2, BCN_LOADU, bx, ch1, x1);
                bcn_bc5_ultra_sse2(x0, x1, out);
                out += 16;
            }
        }
    }
}

/* AVX2: BC4 encodes two neighbouring blocks per register, BC5 both channels
 * of one block. */
__attribute__((target("avx2"))) static void bcn_bc45_ultra_avx2(const uint8_t* img, ptrdiff_t h, ptrdiff_t w,
                                                                int nch, int ch0, int ch1, uint8_t* out) {
    ptrdiff_t bw = (w + 3) / 4, bh = (h + 3) / 4, bx, by, stride = w * nch;
    int inner_row;
    uint8_t v[16];
    __m128i x0, x1;
    for (by = 0; by < bh; by++) {
        inner_row = by * 4 + 4 <= h;
        if (ch1 < 0) {
            for (bx = 0; bx + 1 < bw; bx += 2) {
                BCN_BLOCK(bcn_gather_sse2, BCN_LOADU, bx, ch0, x0);
                BCN_BLOCK(bcn_gather_sse2, BCN_LOADU, bx + 1, ch0, x1);
                bcn_bc4x2_ultra_avx2(_mm256_set_m128i(x1, x0), out, out + 8);
                out += 16;
            }
            if (bx < bw) {
                BCN_BLOCK(bcn_gather_sse2, BCN_LOADU, bx, ch0, x0);
                bcn_bc4_ultra_sse2(x0, out);
                out += 8;
            }
        } else {
            for (bx = 0; bx < bw; bx++) {
                BCN_BLOCK(bcn_gather_sse2, BCN_LOADU, bx, ch0, x0);
                BCN_BLOCK(bcn_gather_sse2, BCN_LOADU, bx, ch1, x1);
                bcn_bc4x2_ultra_avx2(_mm256_set_m128i(x1, x0), out, out + 8);
                out += 16;
            }
        }
    }
}
#endif

static void bcn_encode_bc45_ultra(const uint8_t* img, ptrdiff_t h, ptrdiff_t w, int nch, int ch0, int ch1,
                                  uint8_t* out, int path) {
#ifdef BCN_X86
    if (path == BCN_PATH_AVX2) {
        bcn_bc45_ultra_avx2(img, h, w, nch, ch0, ch1, out);
        return;
    }
    if (path == BCN_PATH_SSE2) {
        bcn_bc45_ultra_sse2(img, h, w, nch, ch0, ch1, out);
        return;
    }
#endif
    (void)path;
    bcn_bc45_ultra_scalar(img, h, w, nch, ch0, ch1, out);
}

/* ------------------------------------------------------------------ BC1 */

/* One-colour tables (bcn.pyx's _OM5 / _OM6: the 5- and 6-bit endpoint pair
 * whose 1/3 interpolant is nearest each 8-bit value), set once at import. */
static const uint8_t* bcn_om5;
static const uint8_t* bcn_om6;

static void bcn_simd_set_tables(const uint8_t* om5, const uint8_t* om6) {
    bcn_om5 = om5;
    bcn_om6 = om6;
}

static inline void bcn_bc1_write(int c0, int c1, uint32_t bits, uint8_t* out) {
    out[0] = (uint8_t)(c0 & 255);
    out[1] = (uint8_t)(c0 >> 8);
    out[2] = (uint8_t)(c1 & 255);
    out[3] = (uint8_t)(c1 >> 8);
    memcpy(out + 4, &bits, 4); /* little-endian (x86, ARM) */
}

/* The one-colour block (exact tables, as the other presets). */
static inline __attribute__((always_inline)) void bcn_bc1_solid(const int* rgb, uint8_t* out) {
    int c0 = (bcn_om5[2 * rgb[0]] << 11) | (bcn_om6[2 * rgb[1]] << 5) | bcn_om5[2 * rgb[2]];
    int c1 = (bcn_om5[2 * rgb[0] + 1] << 11) | (bcn_om6[2 * rgb[1] + 1] << 5) | bcn_om5[2 * rgb[2] + 1];
    if (c0 == c1)
        bcn_bc1_write(c0, c1, 0, out);
    else if (c0 > c1)
        bcn_bc1_write(c0, c1, 0xAAAAAAAAu, out); /* all index 2: (2 c0 + c1) / 3 */
    else
        bcn_bc1_write(c1, c0, 0xFFFFFFFFu, out); /* swapped: index 3 */
}

/* ------------------------------------------------------------------ BC6H helpers */

/* BC6H_UF16 "ultrafast" (bcn_simd_bc6h.h) packs its blocks with the bit
 * layouts of bcn_bc6h.pxi's table (set at import). */
static const signed char* bcn_bc6h_layout; /* [32][84]: (component, shift, bits) ... -1 */

static void bcn_simd_set_bc6h_layout(const signed char* layout) { bcn_bc6h_layout = layout; }

static inline void bcn_w128(uint64_t* lo, uint64_t* hi, int pos, int n, uint64_t v) {
    v &= (n >= 64 ? ~0ull : ((1ull << n) - 1));
    if (pos < 64) {
        *lo |= v << pos;
        if (pos + n > 64)
            *hi |= v >> (64 - pos);
    } else {
        *hi |= v << (pos - 64);
    }
}

static inline __attribute__((always_inline)) void bcn_bc6_pack1(int mode, const int* codes, const uint8_t* idx,
                                                              uint8_t* out) {
    int vals[12] = {0}, c, t, pos = 5, i;
    const signed char* L = bcn_bc6h_layout + 84 * mode;
    uint64_t ib;
#ifdef __SIZEOF_INT128__
    unsigned __int128 bits = (unsigned)mode;
#endif
    for (c = 0; c < 3; c++) {
        vals[c * 4] = codes[c];
        vals[c * 4 + 1] = codes[3 + c];
    }
    /* indices: texel 0 (anchor) 3 bits, then 4 bits each: 63 bits after the endpoints */
    ib = idx[0];
    for (i = 1; i < 16; i++)
        ib |= (uint64_t)idx[i] << (4 * i - 1);
#ifdef __SIZEOF_INT128__
    for (t = 0; t < 84 && L[t] >= 0; t += 3) {
        bits |= (unsigned __int128)((uint64_t)(vals[L[t]] >> L[t + 1]) & ((1ull << L[t + 2]) - 1)) << pos;
        pos += L[t + 2];
    }
    bits |= (unsigned __int128)ib << pos;
    for (i = 0; i < 16; i++)
        out[i] = (uint8_t)(bits >> (8 * i));
#else
    {
        uint64_t lo = 0, hi = 0;
        bcn_w128(&lo, &hi, 0, 5, (uint64_t)mode);
        for (t = 0; t < 84 && L[t] >= 0; t += 3) {
            bcn_w128(&lo, &hi, pos, L[t + 2], (uint64_t)(vals[L[t]] >> L[t + 1]));
            pos += L[t + 2];
        }
        bcn_w128(&lo, &hi, pos, 63, ib);
        for (i = 0; i < 8; i++) {
            out[i] = (uint8_t)(lo >> (8 * i));
            out[8 + i] = (uint8_t)(hi >> (8 * i));
        }
    }
#endif
}

/* Half bits -> UF16 range: negatives and NaN to 0, +inf to 0x7BFF (branch-free). */
static inline int bcn_clamp_half(uint16_t v) {
    int x = v;
    x = (x & 0x8000) || x > 0x7C00 ? 0 : x;
    return x > 0x7BFF ? 0x7BFF : x;
}

/* ---- the lane-parallel encoder of bcn_simd_bc1.h, once per path */

/* scalar: one block per "vector" */
#define VF float
#define VM int
#define VI uint32_t
#define F_SET(x) ((float)(x))
#define F_ADD(a, b) ((a) + (b))
#define F_SUB(a, b) ((a) - (b))
#define F_MUL(a, b) ((a) * (b))
#define F_DIV(a, b) ((a) / (b))
#define F_MIN(a, b) ((a) < (b) ? (a) : (b))
#define F_MAX(a, b) ((a) > (b) ? (a) : (b))
#define F_ABS(a) fabsf(a)
#define F_TRUNC(a) ((float)(int32_t)(a))
#define F_LT(a, b) ((a) < (b))
#define F_LE(a, b) ((a) <= (b))
#define F_EQ(a, b) ((a) == (b))
#define M_AND(a, b) ((a) & (b))
#define F_SEL(m, a, b) ((m) ? (a) : (b))
#define F_POW2INV(n) bcn_pow2inv(n)
#define F_TOI(a) ((uint32_t)(int32_t)(a))
#define I_SET(x) ((uint32_t)(x))
#define I_ADD(a, b) ((a) + (b))
#define I_AND(a, b) ((a) & (b))
#define I_XOR(a, b) ((a) ^ (b))
#define I_OR(a, b) ((a) | (b))
#define I_CMPLT(a, b) ((a) < (b) ? 0xffffffffu : 0u)
#define I_SLLI(a, n) ((a) << (n))
#define F_SQRT sqrtf
#define F_LOADU(p) (*(p))
#define F_STOREU(p, v) (*(p) = (v))
#define BCN_N 1
/* 2^-(exponent of n): n * result lies in [1, 2) (n > 0, finite) */
static inline float bcn_pow2inv(float n) {
    uint32_t bits;
    float m;
    memcpy(&bits, &n, 4);
    bits = (254u << 23) - (bits & 0x7f800000u);
    memcpy(&m, &bits, 4);
    return m;
}
#define BCN_FN(name) name##_scalar
#if defined(__GNUC__) && !defined(__clang__)
#define BCN_ATTR __attribute__((optimize("no-tree-vectorize")))
#else
#define BCN_ATTR
#endif
#include "bcn_simd_bc1.h"
#include "bcn_simd_bc6h.h"
#include "bcn_simd_lanes_end.h"

static void bcn_bc1_ultra_scalar(const uint8_t* img, ptrdiff_t h, ptrdiff_t w, int nch, uint8_t* out) {
    ptrdiff_t bw = (w + 3) / 4, bh = (h + 3) / 4, bx, by, x, y, xx, yy;
    float px[48];
    const uint8_t* p;
    int ch, rgb[3];
    uint32_t c0, c1, bits;
    int solid;
    for (by = 0; by < bh; by++) {
        for (bx = 0; bx < bw; bx++) {
            for (y = 0; y < 4; y++) {
                yy = by * 4 + y < h ? by * 4 + y : h - 1;
                for (x = 0; x < 4; x++) {
                    xx = bx * 4 + x < w ? bx * 4 + x : w - 1;
                    p = img + (yy * w + xx) * nch;
                    for (ch = 0; ch < 3; ch++)
                        px[16 * ch + 4 * y + x] = (float)p[ch];
                }
            }
            bcn_bc1v_scalar(px, &c0, &c1, &bits, &solid);
            if (solid) {
                for (ch = 0; ch < 3; ch++)
                    rgb[ch] = (int)px[16 * ch];
                bcn_bc1_solid(rgb, out);
            } else {
                bcn_bc1_write((int)c0, (int)c1, bits, out);
            }
            out += 8;
        }
    }
}

#ifdef BCN_X86
#define BCN_AI static inline __attribute__((always_inline))

/* Four RGBx rows of the block at p: 4-byte texels read directly, 3-byte ones
 * spread by byte shifts (16-byte loads only where they stay inside the image,
 * else through a copy), others copied. */
BCN_AI void bcn_bc1_rows_sse2(const uint8_t* p, ptrdiff_t stride, int nch, const uint8_t* end, __m128i* rows) {
    uint8_t tmp[16];
    int y, x, ch;
    __m128i v;
    for (y = 0; y < 4; y++) {
        const uint8_t* r = p + y * stride;
        if (nch == 4) {
            rows[y] = _mm_loadu_si128((const __m128i*)r);
        } else if (nch == 3) {
            if (r + 16 <= end) {
                v = _mm_loadu_si128((const __m128i*)r);
            } else {
                memcpy(tmp, r, 12);
                memset(tmp + 12, 0, 4);
                v = _mm_loadu_si128((const __m128i*)tmp);
            }
            rows[y] = _mm_unpacklo_epi64(_mm_unpacklo_epi32(v, _mm_srli_si128(v, 3)),
                                         _mm_unpacklo_epi32(_mm_srli_si128(v, 6), _mm_srli_si128(v, 9)));
        } else {
            for (x = 0; x < 4; x++)
                for (ch = 0; ch < 4; ch++)
                    tmp[4 * x + ch] = ch < 3 ? r[x * nch + ch] : 0;
            rows[y] = _mm_loadu_si128((const __m128i*)tmp);
        }
    }
}

/* SSE2 ops (4 blocks per vector) */
#define VF __m128
#define VM __m128
#define VI __m128i
#define F_SET(x) _mm_set1_ps((float)(x))
#define F_ADD _mm_add_ps
#define F_SUB _mm_sub_ps
#define F_MUL _mm_mul_ps
#define F_DIV _mm_div_ps
#define F_MIN _mm_min_ps
#define F_MAX _mm_max_ps
#define F_ABS(a) _mm_and_ps(a, _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)))
#define F_TRUNC(a) _mm_cvtepi32_ps(_mm_cvttps_epi32(a))
#define F_LT _mm_cmplt_ps
#define F_LE _mm_cmple_ps
#define F_EQ _mm_cmpeq_ps
#define M_AND _mm_and_ps
#define F_SEL(m, a, b) _mm_or_ps(_mm_and_ps(m, a), _mm_andnot_ps(m, b))
#define F_POW2INV(n) \
    _mm_castsi128_ps(_mm_sub_epi32(_mm_set1_epi32(254 << 23), _mm_and_si128(_mm_castps_si128(n), _mm_set1_epi32(0x7f800000))))
#define F_TOI _mm_cvttps_epi32
#define I_SET _mm_set1_epi32
#define I_ADD _mm_add_epi32
#define I_AND _mm_and_si128
#define I_XOR _mm_xor_si128
#define I_OR _mm_or_si128
#define I_CMPLT _mm_cmplt_epi32
#define I_SLLI _mm_slli_epi32
#define F_SQRT _mm_sqrt_ps
#define F_LOADU _mm_loadu_ps
#define F_STOREU _mm_storeu_ps
#define BCN_N 4
#define BCN_FN(name) name##_sse2
#define BCN_ATTR
#include "bcn_simd_bc1.h"
#include "bcn_simd_bc6h.h"
#include "bcn_simd_lanes_end.h"

/* AVX2 ops (8 blocks per vector) */
#define VF __m256
#define VM __m256
#define VI __m256i
#define F_SET(x) _mm256_set1_ps((float)(x))
#define F_ADD _mm256_add_ps
#define F_SUB _mm256_sub_ps
#define F_MUL _mm256_mul_ps
#define F_DIV _mm256_div_ps
#define F_MIN _mm256_min_ps
#define F_MAX _mm256_max_ps
#define F_ABS(a) _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)))
#define F_TRUNC(a) _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC)
#define F_LT(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define F_LE(a, b) _mm256_cmp_ps(a, b, _CMP_LE_OQ)
#define F_EQ(a, b) _mm256_cmp_ps(a, b, _CMP_EQ_OQ)
#define M_AND _mm256_and_ps
#define F_SEL(m, a, b) _mm256_blendv_ps(b, a, m)
#define F_POW2INV(n)                                                                     \
    _mm256_castsi256_ps(_mm256_sub_epi32(_mm256_set1_epi32(254 << 23),                 \
                                         _mm256_and_si256(_mm256_castps_si256(n), _mm256_set1_epi32(0x7f800000))))
#define F_TOI _mm256_cvttps_epi32
#define I_SET _mm256_set1_epi32
#define I_ADD _mm256_add_epi32
#define I_AND _mm256_and_si256
#define I_XOR _mm256_xor_si256
#define I_OR _mm256_or_si256
#define I_CMPLT(a, b) _mm256_cmpgt_epi32(b, a)
#define I_SLLI _mm256_slli_epi32
#define F_SQRT _mm256_sqrt_ps
#define F_LOADU _mm256_loadu_ps
#define F_STOREU _mm256_storeu_ps
#define BCN_N 8
#define BCN_FN(name) name##_avx2
#define BCN_ATTR __attribute__((target("avx2")))
#include "bcn_simd_bc1.h"
#include "bcn_simd_bc6h.h"
#include "bcn_simd_lanes_end.h"

/* The RGBx rows of block (bx, by) (clamped at the edges). */
BCN_AI void bcn_bc1_block_rows(const uint8_t* img, ptrdiff_t h, ptrdiff_t w, int nch, ptrdiff_t bx, ptrdiff_t by,
                               __m128i* rows) {
    uint8_t tmp[64];
    ptrdiff_t x, y, xx, yy;
    int ch;
    if (bx * 4 + 4 <= w && by * 4 + 4 <= h) {
        bcn_bc1_rows_sse2(img + (by * 4 * w + bx * 4) * nch, w * nch, nch, img + h * w * nch, rows);
        return;
    }
    for (y = 0; y < 4; y++) {
        yy = by * 4 + y < h ? by * 4 + y : h - 1;
        for (x = 0; x < 4; x++) {
            xx = bx * 4 + x < w ? bx * 4 + x : w - 1;
            for (ch = 0; ch < 4; ch++)
                tmp[16 * y + 4 * x + ch] = ch < 3 ? img[(yy * w + xx) * nch + ch] : 0;
        }
    }
    bcn_bc1_rows_sse2(tmp, 16, 4, tmp + 64, rows);
}

/* Texels of 4 blocks' rows (rows[4 * b + y]) -> px[16 * ch + i] with block b in lane b. */
BCN_AI void bcn_bc1_transpose4(const __m128i* rows, __m128i* tex) {
    int y;
    __m128i t0, t1, t2, t3;
    for (y = 0; y < 4; y++) {
        t0 = _mm_unpacklo_epi32(rows[y], rows[4 + y]);
        t1 = _mm_unpacklo_epi32(rows[8 + y], rows[12 + y]);
        t2 = _mm_unpackhi_epi32(rows[y], rows[4 + y]);
        t3 = _mm_unpackhi_epi32(rows[8 + y], rows[12 + y]);
        tex[4 * y] = _mm_unpacklo_epi64(t0, t1);
        tex[4 * y + 1] = _mm_unpackhi_epi64(t0, t1);
        tex[4 * y + 2] = _mm_unpacklo_epi64(t2, t3);
        tex[4 * y + 3] = _mm_unpackhi_epi64(t2, t3);
    }
}

BCN_AI __m128 bcn_chan_ps(__m128i t, int ch) {
    return _mm_cvtepi32_ps(_mm_and_si128(_mm_srl_epi32(t, _mm_cvtsi32_si128(8 * ch)), _mm_set1_epi32(0xff)));
}

/* Writes lane l's block, or the one-colour block from its first texel. */
BCN_AI void bcn_bc1_emit(const __m128i* rows, uint32_t c0, uint32_t c1, uint32_t bits, int solid, uint8_t* out) {
    int rgb[3];
    uint32_t t0;
    if (solid) {
        t0 = (uint32_t)_mm_cvtsi128_si32(rows[0]);
        rgb[0] = (int)(t0 & 255);
        rgb[1] = (int)((t0 >> 8) & 255);
        rgb[2] = (int)((t0 >> 16) & 255);
        bcn_bc1_solid(rgb, out);
    } else {
        bcn_bc1_write((int)c0, (int)c1, bits, out);
    }
}

static void bcn_bc1_ultra_sse2(const uint8_t* img, ptrdiff_t h, ptrdiff_t w, int nch, uint8_t* out) {
    ptrdiff_t bw = (w + 3) / 4, bh = (h + 3) / 4, bx, by;
    __m128i rows[16], tex[16], c0, c1, bits;
    __m128 px[48], solid;
    uint32_t a0[4], a1[4], ab[4];
    int l, i, ch, sm;
    for (by = 0; by < bh; by++) {
        for (bx = 0; bx < bw; bx += 4) {
            for (l = 0; l < 4; l++)
                bcn_bc1_block_rows(img, h, w, nch, bx + l < bw ? bx + l : bw - 1, by, rows + 4 * l);
            bcn_bc1_transpose4(rows, tex);
            for (i = 0; i < 16; i++)
                for (ch = 0; ch < 3; ch++)
                    px[16 * ch + i] = bcn_chan_ps(tex[i], ch);
            bcn_bc1v_sse2(px, &c0, &c1, &bits, &solid);
            _mm_storeu_si128((__m128i*)a0, c0);
            _mm_storeu_si128((__m128i*)a1, c1);
            _mm_storeu_si128((__m128i*)ab, bits);
            sm = _mm_movemask_ps(solid);
            for (l = 0; l < 4 && bx + l < bw; l++)
                bcn_bc1_emit(rows + 4 * l, a0[l], a1[l], ab[l], (sm >> l) & 1, out + 8 * (bx + l));
        }
        out += 8 * bw;
    }
}

__attribute__((target("avx2"))) static void bcn_bc1_ultra_avx2(const uint8_t* img, ptrdiff_t h, ptrdiff_t w,
                                                              int nch, uint8_t* out) {
    ptrdiff_t bw = (w + 3) / 4, bh = (h + 3) / 4, bx, by;
    __m128i rows[32], tex[32];
    __m256i c0, c1, bits;
    __m256 px[48], solid;
    uint32_t a0[8], a1[8], ab[8];
    int l, i, ch, sm;
    for (by = 0; by < bh; by++) {
        for (bx = 0; bx < bw; bx += 8) {
            for (l = 0; l < 8; l++)
                bcn_bc1_block_rows(img, h, w, nch, bx + l < bw ? bx + l : bw - 1, by, rows + 4 * l);
            bcn_bc1_transpose4(rows, tex);
            bcn_bc1_transpose4(rows + 16, tex + 16);
            for (i = 0; i < 16; i++)
                for (ch = 0; ch < 3; ch++)
                    px[16 * ch + i] = _mm256_set_m128(bcn_chan_ps(tex[16 + i], ch), bcn_chan_ps(tex[i], ch));
            bcn_bc1v_avx2(px, &c0, &c1, &bits, &solid);
            _mm256_storeu_si256((__m256i*)a0, c0);
            _mm256_storeu_si256((__m256i*)a1, c1);
            _mm256_storeu_si256((__m256i*)ab, bits);
            sm = _mm256_movemask_ps(solid);
            for (l = 0; l < 8 && bx + l < bw; l++)
                bcn_bc1_emit(rows + 4 * l, a0[l], a1[l], ab[l], (sm >> l) & 1, out + 8 * (bx + l));
        }
        out += 8 * bw;
    }
}
#endif

static void bcn_encode_bc1_ultra(const uint8_t* img, ptrdiff_t h, ptrdiff_t w, int nch, uint8_t* out, int path) {
#ifdef BCN_X86
    if (path == BCN_PATH_AVX2) {
        bcn_bc1_ultra_avx2(img, h, w, nch, out);
        return;
    }
    if (path == BCN_PATH_SSE2) {
        bcn_bc1_ultra_sse2(img, h, w, nch, out);
        return;
    }
#endif
    (void)path;
    bcn_bc1_ultra_scalar(img, h, w, nch, out);
}

static void bcn_encode_bc6h_ultra(const uint16_t* img, ptrdiff_t h, ptrdiff_t w, int nch, uint8_t* out, int path) {
#ifdef BCN_X86
    if (path == BCN_PATH_AVX2) {
        bcn_bc6h_ultra_avx2(img, h, w, nch, out);
        return;
    }
    if (path == BCN_PATH_SSE2) {
        bcn_bc6h_ultra_sse2(img, h, w, nch, out);
        return;
    }
#endif
    (void)path;
    bcn_bc6h_ultra_scalar(img, h, w, nch, out);
}

#endif /* OXY_BCN_SIMD_H */
