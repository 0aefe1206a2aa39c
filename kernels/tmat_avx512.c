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

#define INLINE static inline __attribute__((always_inline))

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

/* Σ c·q for the 4 rows of group g and NJ tokens (q + j*ldq) into dot[j][4].
 * acc[j][p][e]: row pair p (rows 2p in lanes 0-7, 2p+1 in lanes 8-15),
 * e = sub-block parity (two chains hide the vpdpbusd latency). */
INLINE void group_dot(const struct wf_tmat *w, int g, const int8_t *q, size_t ldq, int NJ,
                      int32_t dot[][4])
{
	const __m512i m3 = _mm512_set1_epi8(3);
	const int nb = w->cols / WF_TMAT_COL_ALIGN;
	const uint8_t *tile = wf_tile(w, g, 0);
	__m512i acc[4][2][2];
	for (int j = 0; j < NJ; j++)
		for (int p = 0; p < 2; p++)
			acc[j][p][0] = acc[j][p][1] = _mm512_setzero_si512();
	for (int b = 0; b < nb; b++, tile += WF_TILE_BYTES) {
		const int8_t *qb = q + 128 * b;
		__m512i w01 = _mm512_load_si512((const void *)tile);
		__m512i w23 = _mm512_load_si512((const void *)(tile + 64));
		for (int s = 0; s < 4; s++) {
			__m512i c01 = _mm512_and_si512(_mm512_srli_epi16(w01, 2 * s), m3);
			__m512i c23 = _mm512_and_si512(_mm512_srli_epi16(w23, 2 * s), m3);
			for (int j = 0; j < NJ; j++) {
				__m512i qv = _mm512_broadcast_i64x4(
				    _mm256_loadu_si256((const __m256i *)(qb + j * ldq + 32 * s)));
				acc[j][0][s & 1] = _mm512_dpbusd_epi32(acc[j][0][s & 1], c01, qv);
				acc[j][1][s & 1] = _mm512_dpbusd_epi32(acc[j][1][s & 1], c23, qv);
			}
		}
	}
	for (int j = 0; j < NJ; j++) {
		__m512i a01 = _mm512_add_epi32(acc[j][0][0], acc[j][0][1]);
		__m512i a23 = _mm512_add_epi32(acc[j][1][0], acc[j][1][1]);
		__m256i h = _mm256_hadd_epi32(
		    _mm256_hadd_epi32(_mm512_castsi512_si256(a01), _mm512_extracti64x4_epi64(a01, 1)),
		    _mm256_hadd_epi32(_mm512_castsi512_si256(a23), _mm512_extracti64x4_epi64(a23, 1)));
		_mm_storeu_si128((__m128i *)dot[j],
		                 _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
	}
}

static void avx512_tmat_vec(const struct wf_tmat *w, const int8_t *q, float s, float *out,
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
				if (m == NJ_MAX)
					group_dot(w, g, q + (j0 + j) * cols, cols, NJ_MAX, dot);
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
	"avx512", avx512_tmat_vec, avx512_tmat_mat, avx512_f16_matvec,
};
#endif
