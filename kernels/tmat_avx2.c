/*
 * tmat_avx2 — AVX2 kernels (Haswell / Zen and later; built with -mavx2
 * -mfma -mf16c).  Ternary products use maddubs on the unsigned codes
 * c = t + 1: one 16-bit lane gets c1·q1 + c2·q2 in [-512, 508], lanes are
 * summed in int16 for WF_FLUSH_BLOCKS column blocks (no wrap, see kern.h),
 * then widened to int32 by madd(·, 1).  Σ t·q = Σ c·q − Σ q.
 */
#include "kern.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

/* Σ of 32 int8 in int32. */
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

/* The 4 int32 lane sums of a[0..3] (one per row of a group). */
INLINE __m128i hsum4(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
	__m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
	return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/*
 * Σ c·q for the 4 rows of group g and NJ tokens (q + j*ldq), into dot[j][4].
 * Rows outer, sub-blocks inner: one weight load feeds NJ tokens, the codes
 * are extracted once per row and sub-block.
 */
INLINE void group_dot(const struct wf_tmat *w, int g, const int8_t *q, size_t ldq, int NJ,
                      int32_t dot[][4])
{
	const __m256i m3 = _mm256_set1_epi8(3), ones16 = _mm256_set1_epi16(1);
	const int nb = w->cols / WF_TMAT_COL_ALIGN;
	const uint8_t *tile = wf_tile(w, g, 0);
	__m256i acc32[4][4];   /* [j][row] */
	for (int j = 0; j < NJ; j++)
		for (int k = 0; k < 4; k++)
			acc32[j][k] = _mm256_setzero_si256();
	for (int b0 = 0; b0 < nb; b0 += WF_FLUSH_BLOCKS) {
		int b1 = b0 + WF_FLUSH_BLOCKS < nb ? b0 + WF_FLUSH_BLOCKS : nb;
		__m256i acc[4][4];
		for (int j = 0; j < NJ; j++)
			for (int k = 0; k < 4; k++)
				acc[j][k] = _mm256_setzero_si256();
		for (int b = b0; b < b1; b++, tile += WF_TILE_BYTES) {
			const int8_t *qb = q + 128 * b;
			for (int k = 0; k < 4; k++) {
				__m256i wv = _mm256_load_si256((const __m256i *)(tile + 32 * k));
				for (int s = 0; s < 4; s++) {
					__m256i c = _mm256_and_si256(_mm256_srli_epi16(wv, 2 * s), m3);
					for (int j = 0; j < NJ; j++) {
						__m256i qv = _mm256_loadu_si256(
						    (const __m256i *)(qb + j * ldq + 32 * s));
						acc[j][k] = _mm256_add_epi16(acc[j][k],
						                             _mm256_maddubs_epi16(c, qv));
					}
				}
			}
		}
		for (int j = 0; j < NJ; j++)
			for (int k = 0; k < 4; k++)
				acc32[j][k] = _mm256_add_epi32(acc32[j][k],
				                               _mm256_madd_epi16(acc[j][k], ones16));
	}
	for (int j = 0; j < NJ; j++)
		_mm_storeu_si128((__m128i *)dot[j],
		                 hsum4(acc32[j][0], acc32[j][1], acc32[j][2], acc32[j][3]));
}

static void avx2_tmat_vec(const struct wf_tmat *w, const int8_t *q, float s, float *out,
                          int r0, int r1)
{
	if (r0 >= r1)
		return;
	int32_t sq = sum_i8(q, w->cols);
	for (int g = r0 / 4; g * 4 < r1; g++) {
		int32_t dot[1][4];
		group_dot(w, g, q, 0, 1, dot);
		for (int k = 0; k < 4; k++) {
			int r = 4 * g + k;
			if (r >= r0 && r < r1)
				out[r - r0] = wf_tmat_out(dot[0][k] - sq, s, w->scale);
		}
	}
}

/* Tokens per chunk: the chunk's activations stay in L2 while every row
 * group of [r0, r1) streams past them. */
#define TOK_CHUNK 32

static void avx2_tmat_mat(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
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
			for (int j = 0; j < nj; j += 2) {
				int32_t dot[2][4];
				int m = nj - j >= 2 ? 2 : 1;
				if (m == 2)
					group_dot(w, g, q + (j0 + j) * cols, cols, 2, dot);
				else
					group_dot(w, g, q + (j0 + j) * cols, cols, 1, dot);
				for (int t = 0; t < m; t++) {
					float *o = out + (size_t)(j0 + j + t) * ldo;
					for (int k = 0; k < 4; k++) {
						int r = 4 * g + k;
						if (r >= r0 && r < r1)
							o[r] = wf_tmat_out(dot[t][k] - sq[j + t], s[j0 + j + t],
							                   w->scale);
					}
				}
			}
		}
	}
}

/* 32 lanes as 4 vectors of 8 (lanes 0-7, 8-15, 16-23, 24-31); fold order
 * as kernels.h fixes it. */
static void avx2_f16_matvec(const uint16_t *w, int cols, const float *x, float *out,
                            int r0, int r1)
{
	int cv = cols & ~31;
	for (int r = r0; r < r1; r++) {
		const uint16_t *row = w + (size_t)r * cols;
		__m256 a[4];
		for (int l = 0; l < 4; l++)
			a[l] = _mm256_setzero_ps();
		for (int i = 0; i < cv; i += 32)
			for (int l = 0; l < 4; l++) {
				__m256 wf = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i + 8 * l)));
				a[l] = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x + i + 8 * l), a[l]);
			}
		float v;
		if (cv < cols) {
			float p[32];
			for (int l = 0; l < 4; l++)
				_mm256_storeu_ps(p + 8 * l, a[l]);
			for (int i = cv; i < cols; i++)
				p[i % 32] = __builtin_fmaf(wf_f16_to_f32(row[i]), x[i], p[i % 32]);
			for (int h = 16; h >= 1; h /= 2)
				for (int l = 0; l < h; l++)
					p[l] += p[l + h];
			v = p[0];
		} else {
			__m256 b = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
			__m128 c = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
			c = _mm_add_ps(c, _mm_movehl_ps(c, c));
			c = _mm_add_ss(c, _mm_movehdup_ps(c));
			v = _mm_cvtss_f32(c);
		}
		out[r - r0] = v;
	}
}

const struct wf_kern_ops wf_kern_avx2 = {
	"avx2", avx2_tmat_vec, avx2_tmat_mat, avx2_f16_matvec,
};
#endif
