/* Vectorised "ultrafast" block encoders for kernels/bcn.pyx (BC4 / BC5, BC1).
 *
 * Every encoder here exists in up to three code paths that produce the same
 * bytes for the same input:
 *   BCN_PATH_SCALAR  portable C (any CPU; also the reference for the others),
 *   BCN_PATH_SSE2    SSE2 intrinsics (baseline on x86_64: no dispatch needed),
 *   BCN_PATH_AVX2    the SSE2 code compiled for AVX2 (VEX encoding; chosen at
 *                    run time with __builtin_cpu_supports, so the default
 *                    portable -O3 build still runs on any x86_64).
 * Integer parts are exact on every path; the float parts of BC1 are written
 * once over a 4-lane vector type (bcn_simd_bc1.h, included once per path), so
 * every path performs the same IEEE single-precision operations in the same
 * order (no FMA: the AVX2 target does not enable it, and contraction is off).
 *
 * Thread rules: pure functions over caller memory; the only global is the
 * default path, written once at import (bcn_simd_init) before any caller runs.
 * Failure modes: none (the Cython caller validates shapes and channels).
 */
#ifndef OXY_BCN_SIMD_H
#define OXY_BCN_SIMD_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

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
static inline void bcn_gather_clamped(const uint8_t* img, ptrdiff_t h, ptrdiff_t w, int nch,
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

#endif /* OXY_BCN_SIMD_H */
