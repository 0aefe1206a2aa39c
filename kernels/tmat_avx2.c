/*
 * tmat_avx2 — AVX2 kernels (Haswell / Zen and later; built with -mavx2
 * -mfma -mf16c).  Ternary products use maddubs on the unsigned codes
 * c = t + 1 (one 16-bit lane gets c·q + c'·q'), summed in int16 for a
 * bounded number of column blocks (no wrap: see FLUSH), then widened to
 * int32 by madd.  Σ t·q = Σ c·q − Σ q.
 */
#include "kern.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#include "x86.h"

/*
 * Code extraction in 1 shift + 4 ands per 32 weight bytes: w & 0x03 = c0,
 * w & 0x0C = 4·c1, (w >> 4) & 0x03 = c2, (w >> 4) & 0x0C = 4·c3.  The
 * 4-scaled products go to their own int16 accumulator: one maddubs lane is
 * then in [-2048, 2032], and FLUSH blocks put 2·FLUSH = 16 of them in a lane,
 * [-32768, 32512]: no wrap.  At a flush both are widened by madd, the
 * unscaled one with weights 4, so the int32 total is exactly 4·Σ c·q.
 */
#define FLUSH 8

#define MADD(c, q) _mm256_maddubs_epi16(c, q)
#define LDQ(p) _mm256_loadu_si256((const __m256i *)(p))

/* Widen (u, x4) into t: t += 4·u + x4 (int32 lanes). */
#define WIDEN(t, u, x4) \
	t = _mm256_add_epi32(t, _mm256_add_epi32(_mm256_madd_epi16(u, fours), _mm256_madd_epi16(x4, ones16)))

/* Σ c·q for the 4 rows of group g and one token, into dot[4] (the int32
 * total 4·Σ c·q divided exactly by 4). */
static void group_dot1(const struct wf_tmat *w, int g, const int8_t *q, int32_t dot[4])
{
	const __m256i m3 = _mm256_set1_epi8(3), mc = _mm256_set1_epi8(12);
	const __m256i ones16 = _mm256_set1_epi16(1), fours = _mm256_set1_epi16(4);
	const int nb = w->cols / WF_TMAT_COL_ALIGN;
	const uint8_t *tile = wf_tile(w, g, 0);
	__m256i t0 = _mm256_setzero_si256(), t1 = t0, t2 = t0, t3 = t0;
	for (int b0 = 0; b0 < nb; b0 += FLUSH) {
		int b1 = b0 + FLUSH < nb ? b0 + FLUSH : nb;
		__m256i u0 = _mm256_setzero_si256(), u1 = u0, u2 = u0, u3 = u0;
		__m256i x0 = u0, x1 = u0, x2 = u0, x3 = u0;
		for (int b = b0; b < b1; b++, tile += WF_TILE_BYTES) {
			const int8_t *qb = q + 128 * b;
			__m256i q0 = LDQ(qb), q1 = LDQ(qb + 32), q2 = LDQ(qb + 64), q3 = LDQ(qb + 96);
#define ROW(u, x, k) do { \
	__m256i wv = _mm256_loadu_si256((const __m256i *)(tile + 32 * (k))); \
	__m256i wh = _mm256_srli_epi16(wv, 4); \
	u = _mm256_add_epi16(u, _mm256_add_epi16(MADD(_mm256_and_si256(wv, m3), q0), \
	                                         MADD(_mm256_and_si256(wh, m3), q2))); \
	x = _mm256_add_epi16(x, _mm256_add_epi16(MADD(_mm256_and_si256(wv, mc), q1), \
	                                         MADD(_mm256_and_si256(wh, mc), q3))); \
} while (0)
			ROW(u0, x0, 0);
			ROW(u1, x1, 1);
			ROW(u2, x2, 2);
			ROW(u3, x3, 3);
#undef ROW
		}
		WIDEN(t0, u0, x0);
		WIDEN(t1, u1, x1);
		WIDEN(t2, u2, x2);
		WIDEN(t3, u3, x3);
	}
	_mm_storeu_si128((__m128i *)dot, _mm_srai_epi32(hsum4x8(t0, t1, t2, t3), 2));
}

static void avx2_tmat_vec(const struct wf_tmat *w, const int8_t *q, float s, float *out,
                          int r0, int r1)
{
	tmat_vec_groups(w, q, s, out, r0, r1, group_dot1);
}

/*
 * Prefill, many tokens: a GEMM blocked for the caches.  The codes of a
 * few row groups are extracted into int8 buffers (BUFB bytes in all: they
 * stay in L2) -- whole rows when they fit, so the packed groups, stored one
 * after another, are read as one sequential stream -- then for every six
 * tokens (their activations stay in L1) register tiles of 2 rows x 6
 * tokens run over each buffer with nothing but loads, maddubs and int16
 * adds: 12 maddubs per 8 loads, no extraction in the inner loop.  A tile
 * covers at most KSTEPS = 64 steps of 32 columns: a lane takes 64 maddubs
 * results in [-512, 508], [-32768, 32512], no wrap; it is widened to int32
 * at the tile's end.  Plain codes here, not the 4-scaled ones of group_dot1's loop.
 * The buffers and sums live on the caller's stack: about 200 KB a call.
 */
#define BUFB (128 * 1024)
#define GMAX 16      /* row groups per buffer at most */
#define KSTEPS 64
#define NTOK 256     /* tokens per pass at most (the int32 sums: NTOK x 4·GMAX) */
#define ACTB (512 * 1024) /* activations per pass: they stay in L2 beside the buffers */
/* Below VEC_MAX_TOKENS tokens (a batched decoding step) the vector kernel
 * runs over row blocks of VEC_ROWS (2560 columns: 80 KB, in L2): measured
 * at f184d29, one thread, 6912 x 2560, the tiles ran 22-44 GMAC/s at 3-8
 * tokens against 48-53 for the vector kernel, about equal at 12.  Both
 * give the same bits. */
#define VEC_MAX_TOKENS 12
#define VEC_ROWS 128
#define LDA WF_TILE26_LDA
_Static_assert(LDA == 4 * GMAX, "a tile's sums: one int32 per row of GMAX groups");

/* Codes of group g, columns [k0, k0 + kn) (multiples of 128): step s
 * (columns k0 + 32s ..+32) of row k at buf + (4s + k)·32. */
static void unpack_group(const struct wf_tmat *w, int g, int k0, int kn, uint8_t *buf)
{
	const __m256i m3 = _mm256_set1_epi8(3);
	const uint8_t *tile = wf_tile(w, g, k0 / WF_TMAT_COL_ALIGN);
	for (int b = 0; b < kn / WF_TMAT_COL_ALIGN; b++, tile += WF_TILE_BYTES) {
		for (int k = 0; k < 4; k++) {
			__m256i v = _mm256_loadu_si256((const __m256i *)(tile + 32 * k));
			uint8_t *d = buf + (size_t)(16 * b + k) * 32;
			_mm256_store_si256((__m256i *)d, _mm256_and_si256(v, m3));
			_mm256_store_si256((__m256i *)(d + 128), _mm256_and_si256(_mm256_srli_epi16(v, 2), m3));
			_mm256_store_si256((__m256i *)(d + 256), _mm256_and_si256(_mm256_srli_epi16(v, 4), m3));
			_mm256_store_si256((__m256i *)(d + 384), _mm256_and_si256(_mm256_srli_epi16(v, 6), m3));
		}
	}
}

/* The int32 sums of the int16 lanes of a0..a3, one per vector. */
static inline __m128i widen4(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
	const __m256i ones16 = _mm256_set1_epi16(1);
	return hsum4x8(_mm256_madd_epi16(a0, ones16), _mm256_madd_epi16(a1, ones16),
	             _mm256_madd_epi16(a2, ones16), _mm256_madd_epi16(a3, ones16));
}

/* a += maddubs(w, x) in int16 lanes (at most KSTEPS steps: no wrap). */
static inline __m256i step16(__m256i a, __m256i w, __m256i x)
{
	return _mm256_add_epi16(a, MADD(w, x));
}

/* acc[t·LDA + 2h + i] += Σ over ns steps of code(row 2h + i)·q_t[step]
 * for six tokens q_t, rows 2h and 2h + 1 of the group's buffer. */
static void tile26(const uint8_t *buf, int h, const int8_t *const q[6], int ns, int32_t *acc)
{
	tile26_run(buf, h, q, ns, acc, step16, widen4);
}

/* The driver for a tile function (tile26, or AVX-VNNI's). */
void wf_tmat_mat_avx2_tiles(const struct wf_tmat *w, const int8_t *q, const float *s, int n, float *out,
                            int ldo, int r0, int r1, wf_tile26_fn tile)
{
	const size_t cols = (size_t)w->cols;
	if (r0 >= r1)
		return;
	if (n < VEC_MAX_TOKENS) {
		/* too few tokens to pay for the code split: the vector kernel per
		 * token over blocks of VEC_ROWS rows, each block read from memory
		 * once and from the cache for the other tokens */
		for (int b0 = r0; b0 < r1; b0 += VEC_ROWS) {
			int b1 = r1 - b0 < VEC_ROWS ? r1 : b0 + VEC_ROWS;
			for (int j = 0; j < n; j++)
				avx2_tmat_vec(w, q + j * cols, s[j], out + (size_t)j * ldo + b0, b0, b1);
		}
		return;
	}
	/* columns per buffer (whole rows if 4 rows fit) and groups per buffer */
	const int kc = 4 * w->cols <= BUFB ? w->cols : BUFB / 4 / WF_TMAT_COL_ALIGN * WF_TMAT_COL_ALIGN;
	const int gblk = BUFB / (4 * kc) < GMAX ? BUFB / (4 * kc) : GMAX;
	const int g0 = r0 / 4, g1 = (r1 + 3) / 4;
	/* tokens per pass: a multiple of 6 whose activations fit ACTB */
	int tp = ACTB / w->cols / 6 * 6;
	tp = tp < 6 ? 6 : tp > NTOK ? NTOK : tp;
	_Alignas(32) uint8_t buf[BUFB];
	/* + 6 rows: a last group of fewer than six tokens repeats its last
	 * token into rows nobody reads */
	int32_t sq[NTOK], acc[(NTOK + 6) * LDA];
	for (int j0 = 0; j0 < n; j0 += tp) {
		const int nj = n - j0 < tp ? n - j0 : tp;
		const int8_t *qc = q + (size_t)j0 * cols;
		for (int j = 0; j < nj; j++)
			sq[j] = sum_i8(qc + j * cols, w->cols);
		for (int gb = g0; gb < g1; gb += gblk) {
			const int ng = g1 - gb < gblk ? g1 - gb : gblk;
			memset(acc, 0, (size_t)(nj + 6) * LDA * sizeof *acc);
			for (int k0 = 0; k0 < w->cols; k0 += kc) {
				const int kn = w->cols - k0 < kc ? w->cols - k0 : kc;
				for (int gi = 0; gi < ng; gi++)
					unpack_group(w, gb + gi, k0, kn, buf + (size_t)gi * 4 * kc);
				/* the packed codes the next unpack reads (the next
				 * column chunk, or the next block's first, or the next
				 * pass's) towards L2, spread over the tile calls */
				const int nk0 = k0 + kc < w->cols ? k0 + kc : 0;
				const int ngb = nk0 ? gb : gb + gblk < g1 ? gb + gblk : j0 + tp < n ? g0 : g1;
				const int nng = g1 - ngb < gblk ? g1 - ngb : gblk;
				const int nkn = w->cols - nk0 < kc ? w->cols - nk0 : kc;
				const size_t calls = (size_t)((nj + 5) / 6) * (size_t)((kn + 32 * KSTEPS - 1) / (32 * KSTEPS)) *
				                     (size_t)ng * 2;
				const size_t gl = (size_t)(nkn / WF_TMAT_COL_ALIGN) * (WF_TILE_BYTES / 64);   /* lines a group */
				const size_t lines = (size_t)nng * gl, per = (lines + calls - 1) / calls;
				size_t next = 0;   /* lines prefetched, group by group */
				for (int j = 0; j < nj; j += 6) {
					const int8_t *qt[6];
					for (int k1 = 0; k1 < kn; k1 += 32 * KSTEPS) {
						const int ns = (kn - k1) / 32 < KSTEPS ? (kn - k1) / 32 : KSTEPS;
						for (int t = 0; t < 6; t++)
							qt[t] = qc + (j + t < nj ? j + t : nj - 1) * cols + k0 + k1;
						for (int gi = 0; gi < ng; gi++) {
							const uint8_t *bg = buf + (size_t)gi * 4 * kc + (size_t)4 * k1;
							for (size_t e = next + per < lines ? next + per : lines; next < e; next++)
								_mm_prefetch((const char *)wf_tile(w, ngb + (int)(next / gl), nk0 / WF_TMAT_COL_ALIGN) +
								             64 * (next % gl), _MM_HINT_T1);
							tile(bg, 0, qt, ns, acc + j * LDA + 4 * gi);
							tile(bg, 1, qt, ns, acc + j * LDA + 4 * gi);
						}
					}
				}
			}
			/* wf_tmat_out 8 rows at a time: the same IEEE division and
			 * product per lane as the scalar expression */
			const int rs = gb * 4 > r0 ? gb * 4 : r0, re = (gb + ng) * 4 < r1 ? (gb + ng) * 4 : r1;
			const __m256 vw = _mm256_set1_ps(w->scale);
			for (int j = 0; j < nj; j++) {
				float *o = out + (size_t)(j0 + j) * ldo;
				const int32_t *a = acc + j * LDA;   /* row r at a[r - 4·gb] */
				const __m256 vs = _mm256_set1_ps(s[j0 + j]);
				const __m256i vq = _mm256_set1_epi32(sq[j]);
				int r = rs;
				for (; r + 8 <= re; r += 8) {
					__m256i d = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(a + r - gb * 4)), vq);
					_mm256_storeu_ps(o + r, _mm256_mul_ps(_mm256_div_ps(_mm256_cvtepi32_ps(d), vs), vw));
				}
				for (; r < re; r++)
					o[r] = wf_tmat_out(a[r - gb * 4] - sq[j], s[j0 + j], w->scale);
			}
		}
	}
}

void wf_tmat_mat_avx2(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
                      float *out, int ldo, int r0, int r1)
{
	wf_tmat_mat_avx2_tiles(w, q, s, n, out, ldo, r0, r1, tile26);
}

/* Finish one row: fold the 32 lanes a0..a3 (lanes 0-7, 8-15, 16-23, 24-31)
 * in the order kernels.h fixes, after the scalar tail columns [cv, cols). */
static float f16_fold(__m256 a0, __m256 a1, __m256 a2, __m256 a3, const uint16_t *row,
                      const float *x, int cv, int cols)
{
	if (cv < cols) {
		float p[32];
		_mm256_storeu_ps(p, a0);
		_mm256_storeu_ps(p + 8, a1);
		_mm256_storeu_ps(p + 16, a2);
		_mm256_storeu_ps(p + 24, a3);
		for (int i = cv; i < cols; i++)
			p[i % 32] = __builtin_fmaf(wf_f16_to_f32(row[i]), x[i], p[i % 32]);
		for (int h = 16; h >= 1; h /= 2)
			for (int l = 0; l < h; l++)
				p[l] += p[l + h];
		return p[0];
	}
	__m256 b = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
	__m128 c = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
	c = _mm_add_ps(c, _mm_movehl_ps(c, c));
	c = _mm_add_ss(c, _mm_movehdup_ps(c));
	return _mm_cvtss_f32(c);
}

#define LDH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

/* One row at a time, 4 FMA chains: a single sequential stream reads
 * faster from memory here than two interleaved rows (21 vs 11 GB/s
 * measured on Zen 3), and memory is the limit for the 656 MB head. */
void wf_f16_matvec_avx2(const uint16_t *w, int cols, const float *x, float *out, int r0, int r1)
{
	const int cv = cols & ~31;
	for (int r = r0; r < r1; r++) {
		const uint16_t *ra = w + (size_t)r * cols;
		__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		for (int i = 0; i < cv; i += 32) {
			a0 = _mm256_fmadd_ps(LDH(ra + i), _mm256_loadu_ps(x + i), a0);
			a1 = _mm256_fmadd_ps(LDH(ra + i + 8), _mm256_loadu_ps(x + i + 8), a1);
			a2 = _mm256_fmadd_ps(LDH(ra + i + 16), _mm256_loadu_ps(x + i + 16), a2);
			a3 = _mm256_fmadd_ps(LDH(ra + i + 24), _mm256_loadu_ps(x + i + 24), a3);
		}
		out[r - r0] = f16_fold(a0, a1, a2, a3, ra, x, cv, cols);
	}
}

/*
 * Quantisation, 32 activations a step: the max in float (max_ps keeps its
 * second operand when the first is NaN, so NaN is ignored as in the scalar
 * code), then v = x·s, NaN -> 0, clamp, cvtps2dq (round half to even in
 * the default rounding mode, as wf_q8), and packs to int8.
 */
static inline __m256i q8x8(const float *x, __m256 vs)
{
	__m256 v = _mm256_mul_ps(_mm256_loadu_ps(x), vs);
	v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
	v = _mm256_max_ps(_mm256_min_ps(v, _mm256_set1_ps(127.0f)), _mm256_set1_ps(-128.0f));
	return _mm256_cvtps_epi32(v);
}

float wf_quantize_avx2(const float *x, int n, int8_t *q, int32_t *sum)
{
	const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	int nv = n & ~31, i;
	__m256 m0 = _mm256_setzero_ps(), m1 = m0;
	for (i = 0; i < nv; i += 16) {
		m0 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), absm), m0);
		m1 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i + 8), absm), m1);
	}
	float mv[8], m = 0;
	_mm256_storeu_ps(mv, _mm256_max_ps(m0, m1));
	for (int l = 0; l < 8; l++)
		m = mv[l] > m ? mv[l] : m;
	for (i = nv; i < n; i++) {
		float a = __builtin_fabsf(x[i]);
		if (a > m)
			m = a;
	}
	const float s = wf_q8_scale(m);
	const __m256 vs = _mm256_set1_ps(s);
	const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	__m256i acc = _mm256_setzero_si256();
	for (i = 0; i < nv; i += 32) {
		__m256i a = q8x8(x + i, vs), b = q8x8(x + i + 8, vs);
		__m256i c = q8x8(x + i + 16, vs), d = q8x8(x + i + 24, vs);
		acc = _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, d)));
		__m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
		_mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(p, perm));
	}
	__m128i t = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
	t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
	t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
	int32_t total = _mm_cvtsi128_si32(t);
	for (i = nv; i < n; i++) {
		q[i] = wf_q8(x[i] * s);
		total += q[i];
	}
	if (sum)
		*sum = total;
	return s;
}

/*
 * Q8_0 x Q8_0, one row at a time (one sequential stream), 4 blocks a step
 * into 4 float chains.  Signed x signed via maddubs(|w|, sign(x, w)):
 * |w| <= 128 as unsigned, |x| <= 127 (so negating x cannot wrap), a pair
 * sum <= 32512 (no saturation); madd by ones gives lane l = Σ of elements
 * 4l..4l+3, as kernels.h orders them.
 */
static inline __m256 q8_block(const uint8_t *wb, const uint8_t *xb, __m256 acc)
{
	const __m256i ones16 = _mm256_set1_epi16(1);
	__m256i w = _mm256_loadu_si256((const __m256i *)(wb + 2));
	__m256i x = _mm256_loadu_si256((const __m256i *)(xb + 2));
	__m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)), ones16);
	uint16_t dw, dx;
	__builtin_memcpy(&dw, wb, 2);
	__builtin_memcpy(&dx, xb, 2);
	float d = _cvtsh_ss(dw) * _cvtsh_ss(dx);
	return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
}

void wf_q8_0_matvec_avx2(const uint8_t *w, int cols, const uint8_t *xq, float *out, int r0, int r1)
{
	const int nb = cols / WF_Q8_0_BLOCK, B = WF_Q8_0_BYTES;
	for (int r = r0; r < r1; r++) {
		const uint8_t *row = w + (size_t)r * nb * B;
		__m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		int b = 0;
		for (; b + 4 <= nb; b += 4) {
			a[0] = q8_block(row + (size_t)b * B, xq + (size_t)b * B, a[0]);
			a[1] = q8_block(row + (size_t)(b + 1) * B, xq + (size_t)(b + 1) * B, a[1]);
			a[2] = q8_block(row + (size_t)(b + 2) * B, xq + (size_t)(b + 2) * B, a[2]);
			a[3] = q8_block(row + (size_t)(b + 3) * B, xq + (size_t)(b + 3) * B, a[3]);
		}
		for (; b < nb; b++)
			a[b % 4] = q8_block(row + (size_t)b * B, xq + (size_t)b * B, a[b % 4]);
		__m256 t = _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]));
		__m128 c = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
		c = _mm_add_ps(c, _mm_movehl_ps(c, c));
		c = _mm_add_ss(c, _mm_movehdup_ps(c));
		out[r - r0] = _mm_cvtss_f32(c);
	}
}

/* WF_Q8R, one token: 64 columns a step (32 at the end), |q|, sign(x, q),
 * maddubs, madd into int32 (exact; the scale once at the row's end). */
void wf_q8r_matvec_avx2(const struct wf_q8r *w, const int8_t *x, float dx, float *out, int r0, int r1)
{
	const __m256i ones16 = _mm256_set1_epi16(1);
	const int cols = w->cols;
	for (int r = r0; r < r1; r++) {
		const int8_t *row = w->q + (size_t)r * cols;
		__m256i a0 = _mm256_setzero_si256(), a1 = a0;
		int i = 0;
#define STEP(acc, k) do { \
	__m256i wv = _mm256_loadu_si256((const __m256i *)(row + (k))); \
	__m256i xv = _mm256_loadu_si256((const __m256i *)(x + (k))); \
	acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(wv), \
	                                                                   _mm256_sign_epi8(xv, wv)), ones16)); \
} while (0)
		for (; i + 64 <= cols; i += 64) {
			STEP(a0, i);
			STEP(a1, i + 32);
		}
		if (i < cols)
			STEP(a0, i);
#undef STEP
		out[r - r0] = (float)hsum8(_mm256_add_epi32(a0, a1)) * (w->d[r] * dx);
	}
}

/* An F16 row (absmax m) to WF_Q8R q with the scalar code's float ops;
 * returns Σ q. */
static int32_t q8r_row_f16(const uint16_t *row, int cols, float m, int8_t *q)
{
	const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
	float id = m > 0 ? 127.0f / m : 0.0f;
	__m256 vs = _mm256_set1_ps(id);
	__m256i s = _mm256_setzero_si256();
	for (int b = 0; b < cols; b += 32, row += 32) {
		float x[32];
		_mm256_storeu_ps(x, LDH(row));
		_mm256_storeu_ps(x + 8, LDH(row + 8));
		_mm256_storeu_ps(x + 16, LDH(row + 16));
		_mm256_storeu_ps(x + 24, LDH(row + 24));
		__m256i a = q8x8(x, vs), bq = q8x8(x + 8, vs), c = q8x8(x + 16, vs), e = q8x8(x + 24, vs);
		__m256i p = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(_mm256_packs_epi32(a, bq),
		                                                           _mm256_packs_epi32(c, e)), perm);
		_mm256_storeu_si256((__m256i *)(q + b), p);
		s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, p), ones16));
	}
	return hsum8(s);
}

void wf_q8r_from_f16_avx2(const uint16_t *w, int cols, int8_t *q, float *d, int32_t *sum, int r0, int r1)
{
	const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	for (int r = r0; r < r1; r++) {
		const uint16_t *row = w + (size_t)r * cols;
		__m256 m8 = _mm256_setzero_ps();
		int i = 0;
		for (; i + 8 <= cols; i += 8)
			m8 = _mm256_max_ps(_mm256_and_ps(LDH(row + i), absm), m8);
		float mv[8], m = 0;
		_mm256_storeu_ps(mv, m8);
		for (int l = 0; l < 8; l++)
			m = mv[l] > m ? mv[l] : m;
		for (; i < cols; i++) {
			float a = __builtin_fabsf(wf_f16_to_f32(row[i]));
			if (a > m)
				m = a;
		}
		sum[r - r0] = q8r_row_f16(row, cols, m, q + (size_t)(r - r0) * cols);
		d[r - r0] = wf_q8r_d(m);
	}
}

/* F16 rows to Q8_0 with the scalar code's float ops (kernels.h): the
 * block max in float (NaN ignored by max_ps's operand order), then
 * q8x8 = wf_q8(x · id) lane by lane. */
void wf_q8_0_from_f16_avx2(const uint16_t *w, int cols, uint8_t *dst, int r0, int r1)
{
	const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	const size_t rb = wf_q8_0_size(cols);
	for (int r = r0; r < r1; r++) {
		const uint16_t *row = w + (size_t)r * cols;
		uint8_t *d = dst + (size_t)(r - r0) * rb;
		for (int b = 0; b < cols / WF_Q8_0_BLOCK; b++, row += 32, d += WF_Q8_0_BYTES) {
			float x[32];
			_mm256_storeu_ps(x, LDH(row));
			_mm256_storeu_ps(x + 8, LDH(row + 8));
			_mm256_storeu_ps(x + 16, LDH(row + 16));
			_mm256_storeu_ps(x + 24, LDH(row + 24));
			__m256 m = _mm256_setzero_ps();
			for (int i = 0; i < 32; i += 8)
				m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), absm), m);
			__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
			h = _mm_max_ps(h, _mm_movehl_ps(h, h));
			h = _mm_max_ss(h, _mm_movehdup_ps(h));
			float mx = _mm_cvtss_f32(h);
			float id = mx > 0 ? 127.0f / mx : 0.0f;
			uint16_t sc = wf_f32_to_f16(mx / 127.0f);
			__builtin_memcpy(d, &sc, 2);
			__m256 vs = _mm256_set1_ps(id);
			__m256i a = q8x8(x, vs), bq = q8x8(x + 8, vs), c = q8x8(x + 16, vs), e = q8x8(x + 24, vs);
			__m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, bq), _mm256_packs_epi32(c, e));
			_mm256_storeu_si256((__m256i *)(d + 2), _mm256_permutevar8x32_epi32(p, perm));
		}
	}
}

/*
 * Attention (kernels.h's order): lanes 0-7 of the partials in one register,
 * 8-15 in another; four keys at a time (eight chains) hide the FMA latency.
 */
static inline float fold8(__m256 v8)
{
	__m128 v4 = _mm_add_ps(_mm256_castps256_ps128(v8), _mm256_extractf128_ps(v8, 1));
	__m128 v2 = _mm_add_ps(v4, _mm_movehl_ps(v4, v4));
	return _mm_cvtss_f32(_mm_add_ss(v2, _mm_movehdup_ps(v2)));
}

/* Eight floats of a cache row at element i: F32, or F16 widened (f16). */
#define LDK8(p, i, f16) ((f16) ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)(p) + (i)))) \
                               : _mm256_loadu_ps((const float *)(p) + (i)))

/* The dot from partials a (lanes 0-7) and b (8-15) over [0, nv), and the
 * scalar tail [nv, hd). */
static float dot_finish(__m256 a, __m256 b, const float *q, const void *k, int nv, int hd, int f16)
{
	if (nv == hd)
		return fold8(_mm256_add_ps(a, b));
	float p[16];
	_mm256_storeu_ps(p, a);
	_mm256_storeu_ps(p + 8, b);
	for (int i = nv; i < hd; i++)
		p[i % 16] = __builtin_fmaf(q[i], wf_kv_elt(k, (size_t)i, f16), p[i % 16]);
	return wf_fold16(p);
}

/* wf_attn_scores, or wf_attn_scores_f16 where f16 is set (K's element
 * size is 2 bytes, or 4). */
static inline __attribute__((always_inline)) void
scores(const float *q, const void *K, size_t ldk, int hd, int T, float scale, float *s, const int f16)
{
	const int nv = hd & ~15;
	const size_t es = f16 ? 2 : 4;
	int t = 0;
	for (; t + 4 <= T; t += 4) {
		const char *k0 = (const char *)K + (size_t)t * ldk * es, *k1 = k0 + ldk * es, *k2 = k1 + ldk * es,
		           *k3 = k2 + ldk * es;
		__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
		for (int i = 0; i < nv; i += 16) {
			__m256 x = _mm256_loadu_ps(q + i), y = _mm256_loadu_ps(q + i + 8);
			a0 = _mm256_fmadd_ps(x, LDK8(k0, i, f16), a0);
			b0 = _mm256_fmadd_ps(y, LDK8(k0, i + 8, f16), b0);
			a1 = _mm256_fmadd_ps(x, LDK8(k1, i, f16), a1);
			b1 = _mm256_fmadd_ps(y, LDK8(k1, i + 8, f16), b1);
			a2 = _mm256_fmadd_ps(x, LDK8(k2, i, f16), a2);
			b2 = _mm256_fmadd_ps(y, LDK8(k2, i + 8, f16), b2);
			a3 = _mm256_fmadd_ps(x, LDK8(k3, i, f16), a3);
			b3 = _mm256_fmadd_ps(y, LDK8(k3, i + 8, f16), b3);
		}
		s[t] = dot_finish(a0, b0, q, k0, nv, hd, f16) * scale;
		s[t + 1] = dot_finish(a1, b1, q, k1, nv, hd, f16) * scale;
		s[t + 2] = dot_finish(a2, b2, q, k2, nv, hd, f16) * scale;
		s[t + 3] = dot_finish(a3, b3, q, k3, nv, hd, f16) * scale;
	}
	for (; t < T; t++) {
		const char *k = (const char *)K + (size_t)t * ldk * es;
		__m256 a = _mm256_setzero_ps(), b = a;
		for (int i = 0; i < nv; i += 16) {
			a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), LDK8(k, i, f16), a);
			b = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), LDK8(k, i + 8, f16), b);
		}
		s[t] = dot_finish(a, b, q, k, nv, hd, f16) * scale;
	}
}

/*
 * Eight dots at once from their first fold step (s[i] = a + b, lanes l
 * and l + 8): r lane L = the rest of wf_fold16's order on s[2·(L % 4) +
 * L / 4], by adding registers' halves pairwise (29 instructions for 8 dots
 * against about 8 a dot).
 */
static inline __attribute__((always_inline)) __m256 fold8x8(const __m256 s[8])
{
	__m256 c[4], d[2];
#pragma GCC unroll 4
	for (int p = 0; p < 4; p++)   /* lanes l and l + 4 */
		c[p] = _mm256_add_ps(_mm256_permute2f128_ps(s[2 * p], s[2 * p + 1], 0x20),
		                     _mm256_permute2f128_ps(s[2 * p], s[2 * p + 1], 0x31));
#pragma GCC unroll 2
	for (int r = 0; r < 2; r++)   /* l and l + 2 */
		d[r] = _mm256_add_ps(_mm256_shuffle_ps(c[2 * r], c[2 * r + 1], 0x44),
		                     _mm256_shuffle_ps(c[2 * r], c[2 * r + 1], 0xee));
	return _mm256_add_ps(_mm256_shuffle_ps(d[0], d[1], 0x88), _mm256_shuffle_ps(d[0], d[1], 0xdd));
}

/*
 * kernels.h wf_attn_scores_grp where hd is a multiple of 16: KK keys x NQ
 * queries (8 dots; 6 for three queries) a step, each key's two loads shared
 * by the queries, KS keys at a time (eight accumulators); one fold8x8 for
 * the step.  Keys past the last whole step, and other head sizes, take the
 * single-query kernel.
 */
static inline __attribute__((always_inline)) void
scores_grp(const float *q, size_t ldq, const void *K, size_t ldk, int hd, int T, float scale, float *s,
           size_t lds, const int NQ, const int f16)
{
	const int KK = NQ == 3 ? 2 : 8 / NQ, KS = NQ == 1 ? 4 : NQ == 2 ? 2 : 1;
	const size_t ld = ldk * (f16 ? 2 : 4);   /* bytes */
	const __m256 vs = _mm256_set1_ps(scale);
	int t = 0;
	for (; hd % 16 == 0 && t + KK <= T; t += KK) {
		const char *k = (const char *)K + (size_t)t * ld;
		__m256 S[8];
		S[6] = S[7] = _mm256_setzero_ps();   /* three queries: unused */
		for (int k0 = 0; k0 < KK; k0 += KS) {
			__m256 a[4][4], b[4][4];
#pragma GCC unroll 4
			for (int g = 0; g < NQ; g++)
#pragma GCC unroll 4
				for (int ks = 0; ks < KS; ks++)
					a[g][ks] = b[g][ks] = _mm256_setzero_ps();
			for (int i = 0; i < hd; i += 16) {
#pragma GCC unroll 4
				for (int ks = 0; ks < KS; ks++) {
					const char *kp = k + (size_t)(k0 + ks) * ld;
					__m256 lo = LDK8(kp, i, f16), hi = LDK8(kp, i + 8, f16);
#pragma GCC unroll 4
					for (int g = 0; g < NQ; g++) {
						a[g][ks] = _mm256_fmadd_ps(_mm256_loadu_ps(q + g * ldq + i), lo, a[g][ks]);
						b[g][ks] = _mm256_fmadd_ps(_mm256_loadu_ps(q + g * ldq + i + 8), hi, b[g][ks]);
					}
				}
			}
#pragma GCC unroll 4
			for (int g = 0; g < NQ; g++)
#pragma GCC unroll 4
				for (int ks = 0; ks < KS; ks++) {   /* score (g, key) in lane g·KK + key */
					const int L = g * KK + k0 + ks;
					S[2 * (L % 4) + L / 4] = _mm256_add_ps(a[g][ks], b[g][ks]);
				}
		}
		float r[8];
		_mm256_storeu_ps(r, _mm256_mul_ps(fold8x8(S), vs));
		for (int g = 0; g < NQ; g++)
			memcpy(s + g * lds + t, r + g * KK, (size_t)KK * sizeof *r);
	}
	for (int g = 0; g < NQ && t < T; g++)
		scores(q + g * ldq, (const char *)K + (size_t)t * ld, ldk, hd, T - t, scale, s + g * lds + t, f16);
}

void wf_attn_scores_grp_avx2(const float *q, size_t ldq, int nq, const void *K, int f16, size_t ldk, int hd,
                             int T, float scale, float *s, size_t lds)
{
	for (int g = 0; g < nq; g += 4) {
		const float *qg = q + g * ldq;
		float *sg = s + g * lds;
		switch ((nq - g < 4 ? nq - g : 4) + 4 * !!f16) {
		case 1: scores_grp(qg, ldq, K, ldk, hd, T, scale, sg, lds, 1, 0); break;
		case 2: scores_grp(qg, ldq, K, ldk, hd, T, scale, sg, lds, 2, 0); break;
		case 3: scores_grp(qg, ldq, K, ldk, hd, T, scale, sg, lds, 3, 0); break;
		case 4: scores_grp(qg, ldq, K, ldk, hd, T, scale, sg, lds, 4, 0); break;
		case 5: scores_grp(qg, ldq, K, ldk, hd, T, scale, sg, lds, 1, 1); break;
		case 6: scores_grp(qg, ldq, K, ldk, hd, T, scale, sg, lds, 2, 1); break;
		case 7: scores_grp(qg, ldq, K, ldk, hd, T, scale, sg, lds, 3, 1); break;
		default: scores_grp(qg, ldq, K, ldk, hd, T, scale, sg, lds, 4, 1); break;
		}
	}
}

void wf_attn_scores_avx2(const float *q, const float *K, size_t ldk, int hd, int T, float scale,
                         float *s)
{
	scores(q, K, ldk, hd, T, scale, s, 0);
}

void wf_attn_scores_f16_avx2(const float *q, const uint16_t *K, size_t ldk, int hd, int T, float scale,
                             float *s)
{
	scores(q, K, ldk, hd, T, scale, s, 1);
}

/* o[i] over t for 64 columns at a time (eight chains), then 8, then one;
 * V as in scores(). */
static inline __attribute__((always_inline)) void
mix(const float *w, const void *V, size_t ldv, int hd, int T, float *o, const int f16)
{
	const size_t es = f16 ? 2 : 4;
	int i = 0;
	for (; i + 64 <= hd; i += 64) {
		__m256 a0 = _mm256_loadu_ps(o + i), a1 = _mm256_loadu_ps(o + i + 8);
		__m256 a2 = _mm256_loadu_ps(o + i + 16), a3 = _mm256_loadu_ps(o + i + 24);
		__m256 a4 = _mm256_loadu_ps(o + i + 32), a5 = _mm256_loadu_ps(o + i + 40);
		__m256 a6 = _mm256_loadu_ps(o + i + 48), a7 = _mm256_loadu_ps(o + i + 56);
		for (int t = 0; t < T; t++) {
			const char *v = (const char *)V + (size_t)t * ldv * es;
			__m256 c = _mm256_set1_ps(w[t]);
			a0 = _mm256_fmadd_ps(c, LDK8(v, i, f16), a0);
			a1 = _mm256_fmadd_ps(c, LDK8(v, i + 8, f16), a1);
			a2 = _mm256_fmadd_ps(c, LDK8(v, i + 16, f16), a2);
			a3 = _mm256_fmadd_ps(c, LDK8(v, i + 24, f16), a3);
			a4 = _mm256_fmadd_ps(c, LDK8(v, i + 32, f16), a4);
			a5 = _mm256_fmadd_ps(c, LDK8(v, i + 40, f16), a5);
			a6 = _mm256_fmadd_ps(c, LDK8(v, i + 48, f16), a6);
			a7 = _mm256_fmadd_ps(c, LDK8(v, i + 56, f16), a7);
		}
		_mm256_storeu_ps(o + i, a0);
		_mm256_storeu_ps(o + i + 8, a1);
		_mm256_storeu_ps(o + i + 16, a2);
		_mm256_storeu_ps(o + i + 24, a3);
		_mm256_storeu_ps(o + i + 32, a4);
		_mm256_storeu_ps(o + i + 40, a5);
		_mm256_storeu_ps(o + i + 48, a6);
		_mm256_storeu_ps(o + i + 56, a7);
	}
	for (; i + 8 <= hd; i += 8) {
		__m256 a = _mm256_loadu_ps(o + i);
		for (int t = 0; t < T; t++)
			a = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), LDK8((const char *)V + (size_t)t * ldv * es, i, f16), a);
		_mm256_storeu_ps(o + i, a);
	}
	wf_attn_mix_cols(w, V, ldv, i, hd, T, o, f16);
}

/*
 * kernels.h wf_attn_mix_grp: CW columns x NQ queries of accumulators (8
 * registers) share each load of the values; every o[i] takes the
 * single-query kernel's operations in its order.  Columns past the last
 * whole CW take the single-query kernel.
 */
static inline __attribute__((always_inline)) void
mix_grp(const float *w, size_t ldw, const void *V, size_t ldv, int hd, int T, float *o, size_t ldo, const int NQ,
        const int f16)
{
	const int NC = NQ <= 2 ? 4 : 2;   /* registers of 8 columns */
	const size_t es = f16 ? 2 : 4, ld = ldv * es;   /* bytes */
	int i = 0;
	for (; i + 8 * NC <= hd; i += 8 * NC) {
		__m256 a[4][4];
#pragma GCC unroll 4
		for (int g = 0; g < NQ; g++)
#pragma GCC unroll 4
			for (int c = 0; c < NC; c++)
				a[g][c] = _mm256_loadu_ps(o + g * ldo + i + 8 * c);
		for (int t = 0; t < T; t++) {
			const char *v = (const char *)V + (size_t)t * ld;
			__m256 vv[4];
#pragma GCC unroll 4
			for (int c = 0; c < NC; c++)
				vv[c] = LDK8(v, i + 8 * c, f16);
#pragma GCC unroll 4
			for (int g = 0; g < NQ; g++) {
				__m256 c8 = _mm256_set1_ps(w[g * ldw + t]);
#pragma GCC unroll 4
				for (int c = 0; c < NC; c++)
					a[g][c] = _mm256_fmadd_ps(c8, vv[c], a[g][c]);
			}
		}
#pragma GCC unroll 4
		for (int g = 0; g < NQ; g++)
#pragma GCC unroll 4
			for (int c = 0; c < NC; c++)
				_mm256_storeu_ps(o + g * ldo + i + 8 * c, a[g][c]);
	}
	for (int g = 0; g < NQ && i < hd; g++)
		mix(w + g * ldw, (const char *)V + (size_t)i * es, ldv, hd - i, T, o + g * ldo + i, f16);
}

void wf_attn_mix_grp_avx2(const float *w, size_t ldw, int nq, const void *V, int f16, size_t ldv, int hd, int T,
                          float *o, size_t ldo)
{
	for (int g = 0; g < nq; g += 4) {
		const float *wg = w + g * ldw;
		float *og = o + g * ldo;
		switch ((nq - g < 4 ? nq - g : 4) + 4 * !!f16) {
		case 1: mix(wg, V, ldv, hd, T, og, 0); break;
		case 2: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 2, 0); break;
		case 3: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 3, 0); break;
		case 4: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 4, 0); break;
		case 5: mix(wg, V, ldv, hd, T, og, 1); break;
		case 6: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 2, 1); break;
		case 7: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 3, 1); break;
		default: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 4, 1); break;
		}
	}
}

void wf_attn_mix_avx2(const float *w, const float *V, size_t ldv, int hd, int T, float *o)
{
	mix(w, V, ldv, hd, T, o, 0);
}

void wf_attn_mix_f16_avx2(const float *w, const uint16_t *V, size_t ldv, int hd, int T, float *o)
{
	mix(w, V, ldv, hd, T, o, 1);
}

/* kernels.h wf_softmax: 16 values a step, their exponentials' partial
 * sums p[t % 16] in the lanes of two accumulators (t from a multiple of
 * 16), the scalar steps for the last T % 16. */
static __m256 exp8_le0(__m256 x)
{
	const __m256 magic = _mm256_set1_ps(12582912.0f);
	__m256 t = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(WF_EXP_LOG2E)), magic);
	__m256 n = _mm256_sub_ps(t, magic);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(WF_EXP_LN2HI), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(WF_EXP_LN2LO), r);
	__m256 p = _mm256_set1_ps(wf_exp_c[7]);
	for (int k = 6; k >= 0; k--)
		p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(wf_exp_c[k]));
	__m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	__m256 lo = _mm256_cmp_ps(x, _mm256_set1_ps(WF_EXP_MIN), _CMP_LT_OQ);
	return _mm256_andnot_ps(lo, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

void wf_softmax_avx2(float *s, int T)
{
	__m256 vm = _mm256_set1_ps(s[0]), bad = _mm256_setzero_ps();
	int t = 0;
	for (; t + 8 <= T; t += 8) {
		__m256 v = _mm256_loadu_ps(s + t);
		vm = _mm256_max_ps(vm, v);
		bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_sub_ps(v, v), _mm256_setzero_ps(), _CMP_NEQ_UQ));
	}
	float mv[8], m = s[0];
	_mm256_storeu_ps(mv, vm);
	int nbad = _mm256_movemask_ps(bad);
	for (int l = 0; l < 8; l++)
		if (mv[l] > m)
			m = mv[l];
	for (; t < T; t++) {
		nbad |= !(s[t] - s[t] == 0);
		if (s[t] > m)
			m = s[t];
	}
	if (nbad) {
		wf_softmax_nan(s, T);
		return;
	}
	const __m256 vmax = _mm256_set1_ps(m);
	__m256 a0 = _mm256_setzero_ps(), a1 = a0;
	for (t = 0; t + 16 <= T; t += 16) {
		__m256 e0 = exp8_le0(_mm256_sub_ps(_mm256_loadu_ps(s + t), vmax));
		__m256 e1 = exp8_le0(_mm256_sub_ps(_mm256_loadu_ps(s + t + 8), vmax));
		_mm256_storeu_ps(s + t, e0);
		_mm256_storeu_ps(s + t + 8, e1);
		a0 = _mm256_add_ps(a0, e0);
		a1 = _mm256_add_ps(a1, e1);
	}
	float p[16];
	_mm256_storeu_ps(p, a0);
	_mm256_storeu_ps(p + 8, a1);
	for (; t < T; t++) {
		s[t] = wf_exp_le0(s[t] - m);
		p[t % 16] += s[t];
	}
	const float inv = 1.0f / wf_fold16(p);
	const __m256 vi = _mm256_set1_ps(inv);
	for (t = 0; t + 8 <= T; t += 8)
		_mm256_storeu_ps(s + t, _mm256_mul_ps(_mm256_loadu_ps(s + t), vi));
	for (; t < T; t++)
		s[t] *= inv;
}

/* kernels.h wf_f16_round by F16C: vcvtps2ph rounds to nearest even (the
 * immediate, not MXCSR), keeps F16 subnormals, and quiets a NaN keeping
 * its top payload bits, as wf_f32_to_f16 does; vcvtph2ps is exact. */
void wf_f16_round_avx2(float *x, int n)
{
	int i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
		_mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
	}
	wf_f16_round_scalar(x + i, n - i);
}

/* kernels.h wf_f16_from_f32 by F16C (see wf_f16_round_avx2). */
void wf_f16_from_f32_avx2(const float *x, int n, uint16_t *h)
{
	int i = 0;
	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(h + i),
		                 _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	wf_f16_from_f32_scalar(x + i, n - i, h + i);
}

const struct wf_kern_ops wf_kern_avx2 = {
	"avx2", avx2_tmat_vec, wf_tmat_mat_avx2, wf_f16_matvec_avx2, wf_quantize_avx2,
	wf_q8_0_matvec_avx2, wf_q8_0_from_f16_avx2, wf_q8r_matvec_avx2,
	wf_q8r_from_f16_avx2, wf_attn_scores_avx2, wf_attn_mix_avx2, NULL,
	wf_softmax_avx2, wf_f16_round_avx2, wf_attn_scores_f16_avx2, wf_attn_mix_f16_avx2,
	wf_f16_from_f32_avx2, wf_attn_scores_grp_avx2, wf_attn_mix_grp_avx2,
};
#endif
