/*
 * tmat_avxvnni — the AVX2 kernels with AVX-VNNI's 256-bit vpdpbusd for the
 * single-token products (CPUs with AVX-VNNI but no AVX-512: Intel's Alder
 * Lake and later client cores, its E-core servers; built with -mavx2
 * -mavxvnni -mfma -mf16c).  vpdpbusd adds four u8·s8 products straight into
 * an int32 lane, where AVX2 needs maddubs, int16 adds and a widening madd:
 * generation's ternary product, the prefill tile (in the AVX2 prefill's
 * blocking) and the 8-bit output product; everything else is the AVX2 code.
 */
#include "kern.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#include "x86.h"

#define DP(acc, u, s) acc = _mm256_dpbusd_avx_epi32(acc, u, s)
#define LDQ(p) _mm256_loadu_si256((const __m256i *)(p))

/*
 * Σ c·q for the 4 rows of group g and one token into dot[4].  Codes by 1
 * shift + 4 ands per 32 bytes (as the AVX2 kernel): w & 3 = c0, w & 12 =
 * 4·c1, (w >> 4) & 3 = c2, (w >> 4) & 12 = 4·c3.  Row k's plain products go
 * to u_k, its 4-scaled ones to x_k; every term of x_k is a multiple of 4,
 * so one arithmetic shift per lane divides them out exactly (per column
 * block a lane of x_k gains at most 2·4·8·128 = 8192 in magnitude, of u_k
 * 2048: no wrap below 2^31 / 10240 blocks, 26 million columns).
 */
static void group_dot1(const struct wf_tmat *w, int g, const int8_t *q, int32_t dot[4])
{
	const __m256i m3 = _mm256_set1_epi8(3), mc = _mm256_set1_epi8(12);
	const int nb = w->cols / WF_TMAT_COL_ALIGN;
	const uint8_t *tile = wf_tile(w, g, 0);
	__m256i u0 = _mm256_setzero_si256(), u1 = u0, u2 = u0, u3 = u0;
	__m256i x0 = u0, x1 = u0, x2 = u0, x3 = u0;
	for (int b = 0; b < nb; b++, tile += WF_TILE_BYTES) {
		const int8_t *qb = q + 128 * b;
		__m256i q0 = LDQ(qb), q1 = LDQ(qb + 32), q2 = LDQ(qb + 64), q3 = LDQ(qb + 96);
#define ROW(u, x, k) do { \
	__m256i wv = LDQ(tile + 32 * (k)), wh = _mm256_srli_epi16(wv, 4); \
	DP(u, _mm256_and_si256(wv, m3), q0); \
	DP(x, _mm256_and_si256(wv, mc), q1); \
	DP(u, _mm256_and_si256(wh, m3), q2); \
	DP(x, _mm256_and_si256(wh, mc), q3); \
} while (0)
		ROW(u0, x0, 0);
		ROW(u1, x1, 1);
		ROW(u2, x2, 2);
		ROW(u3, x3, 3);
#undef ROW
	}
	_mm_storeu_si128((__m128i *)dot, hsum4x8(_mm256_add_epi32(u0, _mm256_srai_epi32(x0, 2)),
	                                        _mm256_add_epi32(u1, _mm256_srai_epi32(x1, 2)),
	                                        _mm256_add_epi32(u2, _mm256_srai_epi32(x2, 2)),
	                                        _mm256_add_epi32(u3, _mm256_srai_epi32(x3, 2))));
}

static void avxvnni_tmat_vec(const struct wf_tmat *w, const int8_t *q, float s, float *out, int r0, int r1)
{
	tmat_vec_groups(w, q, s, out, r0, r1, group_dot1);
}

/* a += vpdpbusd(w, x) in int32 lanes. */
static inline __m256i stepdp(__m256i a, __m256i w, __m256i x)
{
	return _mm256_dpbusd_avx_epi32(a, w, x);
}

/* The AVX2 prefill's 2-row x 6-token tile (wf_tile26_fn) with vpdpbusd:
 * int32 lanes throughout, 12 accumulators of one vpdpbusd a step. */
static void tile26(const uint8_t *buf, int h, const int8_t *const q[6], int ns, int32_t *acc)
{
	tile26_run(buf, h, q, ns, acc, stepdp, hsum4x8);
}

/* Below 12 tokens (a batched decoding step) the vector kernel per token over
 * blocks of 128 rows (read from memory once, from the cache for the other
 * tokens), as the AVX2 kernel does; the AVX2 prefill with the tile above
 * from 12. */
static void avxvnni_tmat_mat(const struct wf_tmat *w, const int8_t *q, const float *s, int n, float *out,
                             int ldo, int r0, int r1)
{
	if (n >= 12) {
		wf_tmat_mat_avx2_tiles(w, q, s, n, out, ldo, r0, r1, tile26);
		return;
	}
	for (int b0 = r0; b0 < r1; b0 += 128) {
		int b1 = r1 - b0 < 128 ? r1 : b0 + 128;
		for (int j = 0; j < n; j++)
			avxvnni_tmat_vec(w, q + (size_t)j * (size_t)w->cols, s[j], out + (size_t)j * ldo + b0, b0, b1);
	}
}

/*
 * WF_Q8R, one token (kernels.h): Σ q·x = Σ (x + 128)·q − 128·Σ q, one
 * vpdpbusd per 32 products (the shifted activations unsigned, the weights
 * signed), Σ q stored with the row; int32 lanes wrap beyond 66,000 columns
 * but the difference is exact modulo 2^32 and |dot| < 2^31 by contract.
 * Wider rows than the stack buffer take the AVX2 kernel.
 */
static void avxvnni_q8r_matvec(const struct wf_q8r *w, const int8_t *x, float dx, float *out, int r0, int r1)
{
	const int cols = w->cols;
	if (cols > WF_Q8R_TILE_COLS) {
		wf_q8r_matvec_avx2(w, x, dx, out, r0, r1);
		return;
	}
	_Alignas(32) uint8_t xu[WF_Q8R_TILE_COLS];
	shift_i8(x, cols, xu);
	for (int r = r0; r < r1; r++) {
		const int8_t *wr = w->q + (size_t)r * cols;
		__m256i a0 = _mm256_setzero_si256(), a1 = a0;
		int i = 0;
		for (; i + 64 <= cols; i += 64) {
			DP(a0, _mm256_load_si256((const __m256i *)(xu + i)), LDQ(wr + i));
			DP(a1, _mm256_load_si256((const __m256i *)(xu + i + 32)), LDQ(wr + i + 32));
		}
		if (i < cols)
			DP(a0, _mm256_load_si256((const __m256i *)(xu + i)), LDQ(wr + i));
		int32_t d = (int32_t)((uint32_t)hsum8(_mm256_add_epi32(a0, a1)) - ((uint32_t)w->sum[r] << 7));
		out[r - r0] = (float)d * (w->d[r] * dx);
	}
}

/*
 * WF_Q8R, several tokens: register tiles of 2 rows x 4 tokens (8
 * accumulators, one vpdpbusd each per 32 columns) over blocks of 64 rows
 * (164 KB of 2560 columns, in L2: read from memory once for all the
 * tokens).  The tokens' shifted activations, QCH at a time, on the stack
 * (rows of at most WF_Q8R_TILE_COLS: dispatch sends wider ones elsewhere).
 * Each row's dot is the single-token kernel's exactly (both exact mod 2^32).
 */
#define QCH 16

static void avxvnni_q8r_matmat(const struct wf_q8r *w, const int8_t *x, size_t ldx, const float *dx, int n,
                               float *out, size_t ldo, int r0, int r1)
{
	const int cols = w->cols;
	_Alignas(32) uint8_t xu[QCH * WF_Q8R_TILE_COLS];
	for (int j0 = 0; j0 < n; j0 += QCH) {
		const int nj = n - j0 < QCH ? n - j0 : QCH;
		for (int j = 0; j < nj; j++)
			shift_i8(x + (size_t)(j0 + j) * ldx, cols, xu + (size_t)j * cols);
		/* chunks wider than about half of L1 go a token tile at a time
		 * over blocks of 64 rows (in L2), so that a tile's activations
		 * stay in L1 beside its rows; fewer go a row pair at a time
		 * through every tile */
		const int rbk = (size_t)nj * (size_t)cols > WF_Q8R_L1_BYTES ? 64 : 2;
		for (int b0 = r0; b0 < r1; b0 += rbk) {
			const int b1 = r1 - b0 < rbk ? r1 : b0 + rbk;
			/* towards the caches: the next block (64 rows), or the row
			 * pair after next, spread over the block's tiles and each
			 * tile's steps (one line a step, the rest after the tile).
			 * Without a prefetch the tiles wait on memory (16 tokens x
			 * 128256 x 2560, one thread: 46-48 against 55-70 ms), and
			 * this ran 15-80 % faster at 2-32 tokens than the row pair
			 * after next fetched at once by the first token tile */
			const int n0 = b1 + (rbk == 2 ? 2 : 0), n1 = r1 - n0 < rbk ? r1 : n0 + rbk;
			const char *pf = (const char *)(w->q + (size_t)(n0 < r1 ? n0 : r1) * (size_t)cols);
			const char *const pfe = n0 < r1 ? (const char *)(w->q + (size_t)n1 * (size_t)cols) : pf;
			const size_t calls = (size_t)((nj + 3) / 4) * (size_t)((b1 - b0 + 1) / 2);
			const size_t pstep = spread_step(pf, pfe, calls);
			const size_t steps = (size_t)(cols + 31) / 32;
			for (int j = 0; j < nj; j += 4) {
				/* a last tile of fewer tokens repeats its last token */
				const uint8_t *x0 = xu + (size_t)j * cols;
				const uint8_t *x1 = xu + (size_t)(j + 1 < nj ? j + 1 : nj - 1) * cols;
				const uint8_t *x2 = xu + (size_t)(j + 2 < nj ? j + 2 : nj - 1) * cols;
				const uint8_t *x3 = xu + (size_t)(j + 3 < nj ? j + 3 : nj - 1) * cols;
				for (int r = b0; r < b1; r += 2) {
					/* an odd last row goes twice; the copy is dropped */
					const int rb = r + 1 < r1 ? r + 1 : r;
					const int8_t *wa = w->q + (size_t)r * cols, *wb = w->q + (size_t)rb * cols;
					const size_t len = spread_share(pf, pfe, pstep);
					const size_t in = len < 64 * steps ? len : 64 * steps, ps = in / steps;
					uintptr_t pa = (uintptr_t)pf;   /* an address: prefetches do not fault */
					__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
					__m256i c0 = a0, c1 = a0, c2 = a0, c3 = a0;
					for (int i = 0; i < cols; i += 32, pa += ps) {
						_mm_prefetch((const char *)pa, _MM_HINT_T0);
						__m256i ka = LDQ(wa + i), kb = LDQ(wb + i), v;
						X86_PIN(ka);
						X86_PIN(kb);
#define TOK(xt, a, c) v = _mm256_load_si256((const __m256i *)(xt + i)); X86_PIN(v); DP(a, v, ka); DP(c, v, kb); \
	X86_PIN(a); X86_PIN(c)
						TOK(x0, a0, c0); TOK(x1, a1, c1); TOK(x2, a2, c2); TOK(x3, a3, c3);
#undef TOK
					}
					const __m256i acc[8] = { a0, a1, a2, a3, c0, c1, c2, c3 };
					for (int t = 0; t < 4 && j + t < nj; t++) {
						float *o = out + (size_t)(j0 + j + t) * ldo;
						for (int k = 0; k < 2 && r + k < r1; k++) {
							int rr = r + k;
							int32_t d = (int32_t)((uint32_t)hsum8(acc[4 * k + t]) - ((uint32_t)w->sum[rr] << 7));
							o[rr - r0] = (float)d * (w->d[rr] * dx[j0 + j + t]);
						}
					}
					for (size_t b = in; b < len; b += 64)
						_mm_prefetch(pf + b, _MM_HINT_T0);
					pf += len;
				}
			}
		}
	}
}

const struct wf_kern_ops wf_kern_avxvnni = {
	"avxvnni", avxvnni_tmat_vec, avxvnni_tmat_mat, wf_f16_matvec_avx2, wf_quantize_avx2,
	wf_q8_0_matvec_avx2, wf_q8_0_from_f16_avx2, avxvnni_q8r_matvec,
	wf_q8r_from_f16_avx2, wf_attn_scores_avx2, wf_attn_mix_avx2, avxvnni_q8r_matmat,
	wf_softmax_avx2, wf_f16_round_avx2, wf_attn_scores_f16_avx2, wf_attn_mix_f16_avx2,
	wf_f16_from_f32_avx2, wf_attn_scores_grp_avx2, wf_attn_mix_grp_avx2,
};
#endif
