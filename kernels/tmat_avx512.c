/*
 * tmat_avx512 — AVX-512 kernels for CPUs with F, BW, VL, DQ and VNNI
 * (Ice Lake, Sapphire Rapids, Zen 4 and later).  A 64-byte load holds the
 * 32-byte blocks of two rows of a group; each 32-byte activation sub-block
 * is broadcast to both halves, and vpdpbusd (unsigned codes c = t + 1 times
 * signed q, 4 products into an int32 lane) accumulates exactly in int32.
 * Σ t·q = Σ c·q − Σ q.
 */
#include "kern.h"

#if defined(__x86_64__)
#include <immintrin.h>

static int32_t sum_i8(const int8_t *q, int n)
{
	const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
	__m256i acc = _mm256_setzero_si256();
	for (int i = 0; i < n; i += 32) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(q + i));
		acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16));
	}
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
	return _mm_cvtsi128_si32(s);
}

/* Codes of sub-block s for two rows (lanes 0-255: row 2p, 256-511: 2p+1). */
#define CODES(w, s) _mm512_and_si512(_mm512_srli_epi16(w, 2 * (s)), m3)
/* 32 activations at p in both 256-bit halves. */
#define BQ(p) _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(p)))
#define DP(acc, c, q) acc = _mm512_dpbusd_epi32(acc, c, q)

/* [Σ rows 0..3] from the row-pair accumulators a01, a23. */
static inline __m128i hsum4(__m512i a01, __m512i a23)
{
	__m256i h = _mm256_hadd_epi32(
	    _mm256_hadd_epi32(_mm512_castsi512_si256(a01), _mm512_extracti64x4_epi64(a01, 1)),
	    _mm256_hadd_epi32(_mm512_castsi512_si256(a23), _mm512_extracti64x4_epi64(a23, 1)));
	return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* Σ c·q for the 4 rows of group g and one token into dot[4]; two chains
 * per row pair (even / odd sub-blocks) hide the vpdpbusd latency. */
static void group_dot1(const struct wf_tmat *w, int g, const int8_t *q, int32_t dot[4])
{
	const __m512i m3 = _mm512_set1_epi8(3);
	const int nb = w->cols / WF_TMAT_COL_ALIGN;
	const uint8_t *tile = wf_tile(w, g, 0);
	__m512i a0 = _mm512_setzero_si512(), a1 = a0, b0 = a0, b1 = a0;
	for (int b = 0; b < nb; b++, tile += WF_TILE_BYTES) {
		const int8_t *qb = q + 128 * b;
		__m512i w01 = _mm512_loadu_si512((const void *)tile);
		__m512i w23 = _mm512_loadu_si512((const void *)(tile + 64));
		__m512i q0 = BQ(qb), q1 = BQ(qb + 32), q2 = BQ(qb + 64), q3 = BQ(qb + 96);
		DP(a0, CODES(w01, 0), q0);
		DP(b0, CODES(w23, 0), q0);
		DP(a1, CODES(w01, 1), q1);
		DP(b1, CODES(w23, 1), q1);
		DP(a0, CODES(w01, 2), q2);
		DP(b0, CODES(w23, 2), q2);
		DP(a1, CODES(w01, 3), q3);
		DP(b1, CODES(w23, 3), q3);
	}
	_mm_storeu_si128((__m128i *)dot, hsum4(_mm512_add_epi32(a0, a1), _mm512_add_epi32(b0, b1)));
}

/* The same for 4 tokens (q + j*ldq): each code extraction feeds 4 tokens. */
static void group_dot4(const struct wf_tmat *w, int g, const int8_t *q, size_t ldq,
                       int32_t dot[4][4])
{
	const __m512i m3 = _mm512_set1_epi8(3);
	const int nb = w->cols / WF_TMAT_COL_ALIGN;
	const uint8_t *tile = wf_tile(w, g, 0);
	__m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
	__m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0;
	for (int b = 0; b < nb; b++, tile += WF_TILE_BYTES) {
		const int8_t *qb = q + 128 * b;
		__m512i w01 = _mm512_loadu_si512((const void *)tile);
		__m512i w23 = _mm512_loadu_si512((const void *)(tile + 64));
#define SUB(s) do { \
	__m512i c01 = CODES(w01, s), c23 = CODES(w23, s), qv; \
	qv = BQ(qb + 32 * (s)); DP(a0, c01, qv); DP(b0, c23, qv); \
	qv = BQ(qb + ldq + 32 * (s)); DP(a1, c01, qv); DP(b1, c23, qv); \
	qv = BQ(qb + 2 * ldq + 32 * (s)); DP(a2, c01, qv); DP(b2, c23, qv); \
	qv = BQ(qb + 3 * ldq + 32 * (s)); DP(a3, c01, qv); DP(b3, c23, qv); \
} while (0)
		SUB(0);
		SUB(1);
		SUB(2);
		SUB(3);
#undef SUB
	}
	_mm_storeu_si128((__m128i *)dot[0], hsum4(a0, b0));
	_mm_storeu_si128((__m128i *)dot[1], hsum4(a1, b1));
	_mm_storeu_si128((__m128i *)dot[2], hsum4(a2, b2));
	_mm_storeu_si128((__m128i *)dot[3], hsum4(a3, b3));
}

static void avx512_tmat_vec(const struct wf_tmat *w, const int8_t *q, float s, float *out,
                            int r0, int r1)
{
	if (r0 >= r1)
		return;
	int32_t sq = sum_i8(q, w->cols);
	for (int g = r0 / 4; g * 4 < r1; g++) {
		int32_t dot[4];
		group_dot1(w, g, q, dot);
		for (int k = 0; k < 4; k++) {
			int r = 4 * g + k;
			if (r >= r0 && r < r1)
				out[r - r0] = wf_tmat_out(dot[k] - sq, s, w->scale);
		}
	}
}

#define TOK_CHUNK 32
#define NJ_MAX 4

static void avx512_tmat_mat(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
                            float *out, int ldo, int r0, int r1)
{
	if (r0 >= r1)
		return;
	const size_t cols = (size_t)w->cols;
	int32_t sq[TOK_CHUNK];
	for (int j0 = 0; j0 < n; j0 += TOK_CHUNK) {
		int nj = n - j0 < TOK_CHUNK ? n - j0 : TOK_CHUNK;
		for (int j = 0; j < nj; j++)
			sq[j] = sum_i8(q + (j0 + j) * cols, w->cols);
		for (int g = r0 / 4; g * 4 < r1; g++) {
			for (int j = 0; j < nj;) {
				int32_t dot[NJ_MAX][4];
				int m = nj - j >= NJ_MAX ? NJ_MAX : 1;
				const int8_t *qj = q + (j0 + j) * cols;
				if (m == NJ_MAX)
					group_dot4(w, g, qj, cols, dot);
				else
					group_dot1(w, g, qj, dot[0]);
				for (int t = 0; t < m; t++) {
					float *o = out + (size_t)(j0 + j + t) * ldo;
					for (int k = 0; k < 4; k++) {
						int r = 4 * g + k;
						if (r >= r0 && r < r1)
							o[r] = wf_tmat_out(dot[t][k] - sq[j + t], s[j0 + j + t],
							                   w->scale);
					}
				}
				j += m;
			}
		}
	}
}

/* 32 lanes as 2 vectors of 16; fold order as kernels.h fixes it. */
static void avx512_f16_matvec(const uint16_t *w, int cols, const float *x, float *out,
                              int r0, int r1)
{
	int cv = cols & ~31;
	for (int r = r0; r < r1; r++) {
		const uint16_t *row = w + (size_t)r * cols;
		__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
		for (int i = 0; i < cv; i += 32) {
			__m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + i)));
			__m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + i + 16)));
			a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), a0);
			a1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), a1);
		}
		float v;
		if (cv < cols) {
			float p[32];
			_mm512_storeu_ps(p, a0);
			_mm512_storeu_ps(p + 16, a1);
			for (int i = cv; i < cols; i++)
				p[i % 32] = __builtin_fmaf(wf_f16_to_f32(row[i]), x[i], p[i % 32]);
			for (int h = 16; h >= 1; h /= 2)
				for (int l = 0; l < h; l++)
					p[l] += p[l + h];
			v = p[0];
		} else {
			__m512 z = _mm512_add_ps(a0, a1);
			__m256 b = _mm256_add_ps(_mm512_castps512_ps256(z), _mm512_extractf32x8_ps(z, 1));
			__m128 c = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
			c = _mm_add_ps(c, _mm_movehl_ps(c, c));
			c = _mm_add_ss(c, _mm_movehdup_ps(c));
			v = _mm_cvtss_f32(c);
		}
		out[r - r0] = v;
	}
}

const struct wf_kern_ops wf_kern_avx512 = {
	"avx512", avx512_tmat_vec, avx512_tmat_mat, avx512_f16_matvec, wf_quantize_avx2,
	wf_q8_0_matvec_avx2, wf_q8_0_from_f16_avx2, wf_q8_0_matvec_row_avx2,
	wf_q8_0_from_f16_row_avx2,
};
#endif
