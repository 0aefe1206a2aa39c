/*
 * x86.h -- private to the x86 kernel files (tmat_avx2.c, tmat_avxvnni.c,
 * tmat_avx512.c),
 * each compiled with its own SIMD flags: small AVX2 helpers they share.
 * Include after <immintrin.h>.
 */
#ifndef WF_X86_H
#define WF_X86_H

#include <stdint.h>

#include "kern.h"

/* A prefetch spread over the calls of a blocked loop: the lines of [p, e)
 * at most spread_step bytes a call (whole lines, rounded up, for `calls`
 * calls), spread_share of them for the next call when it starts at p. */
static inline size_t spread_step(const char *p, const char *e, size_t calls)
{
	return ((size_t)(e - p) / 64 + calls - 1) / calls * 64;
}

static inline size_t spread_share(const char *p, const char *e, size_t step)
{
	return (size_t)(e - p) < step ? (size_t)(e - p) : step;
}

/* The sum of the 8 int32 lanes of a (wrapping). */
static inline int32_t hsum8(__m256i a)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
	return _mm_cvtsi128_si32(s);
}

/* The 4 int32 lane sums of a0..a3, in that order. */
static inline __m128i hsum4x8(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
	__m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
	return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* Σ q[i] over n int8 (n a multiple of 32), exact in int32. */
static inline int32_t sum_i8(const int8_t *q, int n)
{
	const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
	__m256i acc = _mm256_setzero_si256();
	for (int i = 0; i < n; i += 32) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(q + i));
		acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16));
	}
	return hsum8(acc);
}

/* xu[i] = x[i] + 128 as unsigned bytes for i < n (a multiple of 32): the
 * activations of Σ q·x = Σ (x + 128)·q − 128·Σ q, where vpdpbusd wants its
 * first operand unsigned. */
static inline void shift_i8(const int8_t *x, int n, uint8_t *xu)
{
	const __m256i bias = _mm256_set1_epi8((char)0x80);
	for (int i = 0; i < n; i += 32)
		_mm256_storeu_si256((__m256i *)(xu + i),
		                    _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + i)), bias));
}

/* A 2-row x 6-token tile's sums (s01 = [t0 row 0, t0 row 1, t1 row 0, t1
 * row 1], s23, s45 likewise) added into acc[t·WF_TILE26_LDA + i]. */
static inline void tile26_add(int32_t *acc, __m128i s01, __m128i s23, __m128i s45)
{
	int32_t v[12];
	_mm_storeu_si128((__m128i *)v, s01);
	_mm_storeu_si128((__m128i *)(v + 4), s23);
	_mm_storeu_si128((__m128i *)(v + 8), s45);
	for (int t = 0; t < 6; t++, acc += WF_TILE26_LDA) {
		acc[0] += v[2 * t];
		acc[1] += v[2 * t + 1];
	}
}

#if defined(__AVX2__) || defined(WF_X86_EMU)   /* WF_X86_EMU: t/unit/x86emu.h's model */
/* An empty asm that puts v in a register at this point.  Without it gcc
 * folds each activation load into both the tile's products (14 loads a step
 * where 8 do; loads, two a cycle, then bound the loop) and hoists a step's
 * products ahead of their adds, spilling accumulators to the stack. */
#ifndef X86_PIN
#define X86_PIN(v) __asm__("" : "+x"(v))
#endif

/*
 * The AVX2 prefill's tile (wf_tile26_fn) over the unpacked codes, for the
 * 256-bit variants: rows 2h and 2h + 1 of the group's buffer (step s of
 * row k at buf + (4s + k)·32) times six tokens q_t, ns steps of 32 columns;
 * step(a, w, x) adds codes w times activations x into accumulator a, and
 * sums(a, b, c, d) gives four accumulators' int32 totals.  Both are inlined
 * (constant arguments of an always-inline function).
 */
static inline __attribute__((always_inline)) void
tile26_run(const uint8_t *buf, int h, const int8_t *const q[6], int ns, int32_t *acc,
           __m256i (*step)(__m256i, __m256i, __m256i), __m128i (*sums)(__m256i, __m256i, __m256i, __m256i))
{
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
	__m256i b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
	const int8_t *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3], *q4 = q[4], *q5 = q[5];
	buf += 64 * h;
	for (int s = 0; s < 32 * ns; s += 32, buf += 128) {
		__m256i w0 = _mm256_loadu_si256((const __m256i *)buf);
		__m256i w1 = _mm256_loadu_si256((const __m256i *)(buf + 32)), x;
#define TOK(qt, a, b) x = _mm256_loadu_si256((const __m256i *)(qt + s)); X86_PIN(x); \
	a = step(a, w0, x); b = step(b, w1, x); X86_PIN(a); X86_PIN(b)
		TOK(q0, a0, b0); TOK(q1, a1, b1); TOK(q2, a2, b2);
		TOK(q3, a3, b3); TOK(q4, a4, b4); TOK(q5, a5, b5);
#undef TOK
	}
	tile26_add(acc + 2 * h, sums(a0, b0, a1, b1), sums(a2, b2, a3, b3), sums(a4, b4, a5, b5));
}
#endif

/* out[r - r0] = wf_tmat_out(d_k, s, s_W) for the rows r = 4g + k of [r0, r1),
 * d = Σ t·q of the group's four rows: one vector division and product (the
 * same IEEE result per lane as the scalar expression) instead of four. */
static inline void group_out(__m128i d, __m128 vs, __m128 vw, float *out, int g, int r0, int r1)
{
	__m128 v = _mm_mul_ps(_mm_div_ps(_mm_cvtepi32_ps(d), vs), vw);
	if (4 * g >= r0 && 4 * g + 4 <= r1) {
		_mm_storeu_ps(out + 4 * g - r0, v);
		return;
	}
	float o[4];
	_mm_storeu_ps(o, v);
	for (int k = 0; k < 4; k++) {
		int r = 4 * g + k;
		if (r >= r0 && r < r1)
			out[r - r0] = o[k];
	}
}

/* The vector kernel (kernels.h wf_tmat_vec) over the groups of rows
 * [r0, r1), dot1(w, g, q, dot) giving Σ c·q of group g's four rows. */
static inline __attribute__((always_inline)) void
tmat_vec_groups(const struct wf_tmat *w, const int8_t *q, float s, float *out, int r0, int r1,
                void (*dot1)(const struct wf_tmat *, int, const int8_t *, int32_t[4]))
{
	if (r0 >= r1)
		return;
	const __m128 vs = _mm_set1_ps(s), vw = _mm_set1_ps(w->scale);
	const __m128i vq = _mm_set1_epi32(sum_i8(q, w->cols));
	for (int g = r0 / 4; g * 4 < r1; g++) {
		int32_t dot[4];
		dot1(w, g, q, dot);
		group_out(_mm_sub_epi32(_mm_loadu_si128((const __m128i *)dot), vq), vs, vw, out, g, r0, r1);
	}
}

#endif
