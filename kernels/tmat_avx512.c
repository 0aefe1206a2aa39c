/*
 * tmat_avx512 — AVX-512 kernels for CPUs with F, BW, VL, DQ and VNNI
 * (Ice Lake, Sapphire Rapids, Zen 4 and later).  A 64-byte load holds the
 * 32-byte blocks of two rows of a group; each 32-byte activation sub-block
 * is broadcast to both halves, and vpdpbusd (unsigned codes c = t + 1 times
 * signed q, 4 products into an int32 lane) accumulates exactly in int32.
 * Σ t·q = Σ c·q − Σ q.
 */
#include "kern.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#include "x86.h"

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

/* vpdpbusd in place: around the intrinsic gcc 12 copies accumulators in
 * group_dot1's loop (measured in L1: about 0.7 cycles a tile). */
#ifndef DPA
#define DPA(acc, c, q) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(c), "v"(q))
#endif

/*
 * Σ c·q for the 4 rows of group g and one token into dot[4].  Codes by
 * 1 shift + 4 ands per 64 bytes: w & 3 = c0, w & 12 = 4·c1, (w >> 4) & 3
 * = c2, (w >> 4) & 12 = 4·c3; vpdpbusd does not saturate, so the 4-scaled
 * products sum exactly and one arithmetic shift divides them out (every
 * term is a multiple of 4; a lane holds at most 4·192·128 per column block,
 * so no wrap below 2^31 / 98304 blocks).  Eight chains, one vpdpbusd each
 * per block, hide its latency.
 */
static void group_dot1(const struct wf_tmat *w, int g, const int8_t *q, int32_t dot[4])
{
	const __m512i m3 = _mm512_set1_epi8(3), mc = _mm512_set1_epi8(12);
	const int nb = w->cols / WF_TMAT_COL_ALIGN;
	const uint8_t *tile = wf_tile(w, g, 0);
	__m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
	__m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0;
	for (int b = 0; b < nb; b++, tile += WF_TILE_BYTES) {
		const int8_t *qb = q + 128 * b;
		__m512i w01 = _mm512_loadu_si512((const void *)tile);
		__m512i w23 = _mm512_loadu_si512((const void *)(tile + 64));
		__m512i h01 = _mm512_srli_epi16(w01, 4), h23 = _mm512_srli_epi16(w23, 4);
		__m512i q0 = BQ(qb), q1 = BQ(qb + 32), q2 = BQ(qb + 64), q3 = BQ(qb + 96);
		DPA(a0, _mm512_and_si512(w01, m3), q0);
		DPA(b0, _mm512_and_si512(w23, m3), q0);
		DPA(a1, _mm512_and_si512(w01, mc), q1);
		DPA(b1, _mm512_and_si512(w23, mc), q1);
		DPA(a2, _mm512_and_si512(h01, m3), q2);
		DPA(b2, _mm512_and_si512(h23, m3), q2);
		DPA(a3, _mm512_and_si512(h01, mc), q3);
		DPA(b3, _mm512_and_si512(h23, mc), q3);
	}
	__m512i a = _mm512_add_epi32(_mm512_add_epi32(a0, a2), _mm512_srai_epi32(_mm512_add_epi32(a1, a3), 2));
	__m512i bb = _mm512_add_epi32(_mm512_add_epi32(b0, b2), _mm512_srai_epi32(_mm512_add_epi32(b1, b3), 2));
	_mm_storeu_si128((__m128i *)dot, hsum4(a, bb));
}

static void avx512_tmat_vec(const struct wf_tmat *w, const int8_t *q, float s, float *out,
                            int r0, int r1)
{
	tmat_vec_groups(w, q, s, out, r0, r1, group_dot1);
}

/* Fewer than MAT_MIN_TOKENS tokens take the vector kernel per token over
 * row blocks of VEC_ROWS (read from memory once, from the cache for the
 * other tokens): on 6912 x 2560, one thread, cached (Zen 5, 2026-12-04),
 * 0.083 ms a token against 0.19 ms for a 4-token tile and 0.28 for 6.  A short tail after
 * whole tiles stays in a (padded) tile: the vector kernel would read the
 * matrix from memory a second time, and in the model that cost more (perf:
 * 15 % of a prefill's products for the 2 tail tokens of 128). */
#define MAT_MIN_TOKENS 3
#define VEC_ROWS 128

/*
 * Prefill, many tokens: register tiles of 8 rows (two packed groups) x 6
 * tokens read the packed codes directly.  Per 32 columns, 4 shifts and 4
 * ands extract the codes of 8 rows (row pairs in the two halves of a
 * register), which feed 24 vpdpbusd with 6 broadcast activation loads:
 * 24 accumulators + 4 codes + 1 activation registers of the 32.  Measured
 * with everything in L1 (Zen 5, 2026-12-04): 94 % of the vpdpbusd peak,
 * against 86 % for 4 rows x 12 tokens (twice the broadcasts).
 * Blocked for the caches: a chunk of at most KCMAX columns of 6 tokens
 * (24 KB) stays in L1 while a block of GBLK row groups (GBLK·KCMAX/4·4
 * bytes, 128 KB, in L2) passes over it; tokens go in passes of NTOK.  Each
 * tile folds its lanes into int32 sums on the stack (about 55 KB a call).
 */
#define TT 6
#define KCMAX 4096
#define GBLK 32
#define NTOK 96
#define LDA (4 * GBLK + 4)

/* An empty asm that puts v in a register at this point: without it gcc
 * extracts the codes of all four steps ahead and spills accumulators. */
#ifndef PIN
#define PIN(v) __asm__("" : "+v"(v))
#endif

/* acc[t·LDA + k] += Σ c(row k)·q_t over nblk column blocks (= where
 * first is set: a matrix's first column chunk), rows 0-3 the group at ta,
 * 4-7 the group at tb, for the nt (4-6) tokens qt[t] (pointing at the
 * same column as the tiles).  Each column block prefetches towards L2
 * the lines at pf and pf + 64, pf advancing by ps: every line of
 * [pf, pf + ps·nblk) where ps <= 128, and up to two lines beyond (pf is
 * an address, not a pointer into an object: prefetches do not fault).
 * (pf + ps/2 instead of pf + 64 takes a register, and gcc 12 then
 * spills an accumulator of the 6-token tile.) */
static inline __attribute__((always_inline)) void tile8(const uint8_t *ta, const uint8_t *tb, int nblk,
                                                       const int8_t *const qt[TT], int32_t *acc,
                                                       const int nt, int first, uintptr_t pf,
                                                       size_t ps)
{
	const __m512i m3 = _mm512_set1_epi8(3);
	__m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
	__m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
	__m512i c0 = a0, c1 = a0, c2 = a0, c3 = a0, c4 = a0, c5 = a0;
	__m512i d0 = a0, d1 = a0, d2 = a0, d3 = a0, d4 = a0, d5 = a0;
	const int8_t *q0 = qt[0], *q1 = qt[1], *q2 = qt[2], *q3 = qt[3], *q4 = qt[4], *q5 = qt[5];
	for (int o = 0; o < 128 * nblk; o += 128, ta += WF_TILE_BYTES, tb += WF_TILE_BYTES) {
#define TOK(qp, a, b, c, d) x = BQ(qp + off); PIN(x); \
	DP(a, k0, x); DP(b, k1, x); DP(c, k2, x); DP(d, k3, x); PIN(a); PIN(b); PIN(c); PIN(d)
#define SUB(s) do { \
	__m512i k0 = CODES(_mm512_loadu_si512((const void *)ta), s); \
	__m512i k1 = CODES(_mm512_loadu_si512((const void *)(ta + 64)), s); \
	__m512i k2 = CODES(_mm512_loadu_si512((const void *)tb), s); \
	__m512i k3 = CODES(_mm512_loadu_si512((const void *)(tb + 64)), s), x; \
	const int off = o + 32 * (s); \
	PIN(k0); PIN(k1); PIN(k2); PIN(k3); \
	TOK(q0, a0, b0, c0, d0); TOK(q1, a1, b1, c1, d1); TOK(q2, a2, b2, c2, d2); \
	TOK(q3, a3, b3, c3, d3); \
	if (nt > 4) TOK(q4, a4, b4, c4, d4); \
	if (nt > 5) TOK(q5, a5, b5, c5, d5); \
} while (0)
		SUB(0);
		SUB(1);
		SUB(2);
		SUB(3);
		_mm_prefetch((const char *)pf, _MM_HINT_T1);
		_mm_prefetch((const char *)(pf + 64), _MM_HINT_T1);
		pf += ps;
#undef SUB
#undef TOK
	}
#define OUT(t, a, b) _mm_storeu_si128((__m128i *)(acc + (t) * LDA), first ? hsum4(a, b) : \
	_mm_add_epi32(_mm_loadu_si128((const __m128i *)(acc + (t) * LDA)), hsum4(a, b)))
	OUT(0, a0, b0); OUT(1, a1, b1); OUT(2, a2, b2); OUT(3, a3, b3);
	if (nt > 4)
		OUT(4, a4, b4);
	if (nt > 5)
		OUT(5, a5, b5);
	acc += 4;
	OUT(0, c0, d0); OUT(1, c1, d1); OUT(2, c2, d2); OUT(3, c3, d3);
	if (nt > 4)
		OUT(4, c4, d4);
	if (nt > 5)
		OUT(5, c5, d5);
#undef OUT
}

/* The tiles for 6, 5 and 4 tokens. */
static void tile8x6(const uint8_t *ta, const uint8_t *tb, int nblk, const int8_t *const qt[TT],
                    int32_t *acc, int first, uintptr_t pf, size_t ps)
{
	tile8(ta, tb, nblk, qt, acc, 6, first, pf, ps);
}

static void tile8x5(const uint8_t *ta, const uint8_t *tb, int nblk, const int8_t *const qt[TT],
                    int32_t *acc, int first, uintptr_t pf, size_t ps)
{
	tile8(ta, tb, nblk, qt, acc, 5, first, pf, ps);
}

static void tile8x4(const uint8_t *ta, const uint8_t *tb, int nblk, const int8_t *const qt[TT],
                    int32_t *acc, int first, uintptr_t pf, size_t ps)
{
	tile8(ta, tb, nblk, qt, acc, 4, first, pf, ps);
}

/* The width of the next token tile with r tokens left: tiles as even as
 * widths of 4-6 allow, k = ceil(r / 6) tiles of ceil(r / k), the last at
 * most 3 as a padded 4 (16 = 6 + 5 + 5 and 10 = 5 + 5 ran 3-5 % faster than
 * 6 + 6 + 4 and 6 + 4 on 6912 x 2560; 8 = 4 + 4). */
static int tile_width(int r)
{
	const int k = (r + TT - 1) / TT;
	return (r + k - 1) / k < 4 ? 4 : (r + k - 1) / k;
}

static void avx512_tmat_mat(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
                            float *out, int ldo, int r0, int r1)
{
	const size_t cols = (size_t)w->cols;
	if (r0 >= r1)
		return;
	/* tokens [nt, n) go to the vector kernel */
	const int nt = n < MAT_MIN_TOKENS ? 0 : n;
	for (int b0 = r0; b0 < r1 && nt < n; b0 += VEC_ROWS) {
		int b1 = r1 - b0 < VEC_ROWS ? r1 : b0 + VEC_ROWS;
		for (int j = nt; j < n; j++)
			avx512_tmat_vec(w, q + j * cols, s[j], out + (size_t)j * ldo + b0, b0, b1);
	}
	n = nt;
	/* column chunks of equal size, at most KCMAX */
	const int nb = w->cols / WF_TMAT_COL_ALIGN;
	const int nch = (w->cols + KCMAX - 1) / KCMAX, bpc = (nb + nch - 1) / nch;
	const int g0 = r0 / 4, g1 = (r1 + 3) / 4;
	int32_t sq[NTOK], acc[(NTOK + TT) * LDA];
	for (int j0 = 0; j0 < n; j0 += NTOK) {
		const int nj = n - j0 < NTOK ? n - j0 : NTOK;
		const int8_t *qc = q + (size_t)j0 * cols;
		for (int j = 0; j < nj; j++)
			sq[j] = sum_i8(qc + j * cols, w->cols);
		int ntl = 0;   /* token tiles of the pass */
		for (int j = 0; j < nj; j += tile_width(nj - j))
			ntl++;
		for (int gb = g0; gb < g1; gb += GBLK) {
			const int ng = g1 - gb < GBLK ? g1 - gb : GBLK;
			/* the next block of groups (of this pass, else the first of
			 * the next) towards L2, spread over this block's tile calls,
			 * for few token tiles a pass to wait less on memory
			 * (--parallel 16's ternary stages 4 % shorter).  Within a
			 * call, spread over its column blocks: prefetches issued
			 * together stall the tile when memory is slow to answer
			 * (perf: 4 % of a --parallel 16 run on them; one core from
			 * memory, 3-12 tokens 5-12 % faster, 16-24 2-3 %) */
			const int gn = gb + GBLK < g1 ? gb + GBLK : j0 + NTOK < n ? g0 : g1;
			const int ngn = g1 - gn < GBLK ? g1 - gn : GBLK, calls = nch * ntl * ((ng + 1) / 2);
			const char *pf = (const char *)wf_tile(w, gn, 0);
			const char *const pfe = pf + (size_t)ngn * (size_t)nb * WF_TILE_BYTES;
			const size_t pstep = spread_step(pf, pfe, (size_t)calls);
			for (int b0 = 0; b0 < nb; b0 += bpc) {
				const int nbk = nb - b0 < bpc ? nb - b0 : bpc;
				for (int j = 0, tw; j < nj; j += tw) {
					tw = tile_width(nj - j);
					const int8_t *qt[TT];
					/* a last tile of fewer tokens repeats its last token
					 * into rows nobody reads */
					for (int t = 0; t < TT; t++)
						qt[t] = qc + (j + t < nj ? j + t : nj - 1) * cols + 128 * b0;
					void (*tile)(const uint8_t *, const uint8_t *, int, const int8_t *const *,
					             int32_t *, int, uintptr_t, size_t) =
					    tw == 4 ? tile8x4 : tw == 5 ? tile8x5 : tile8x6;
					/* an odd last group goes twice, into columns nobody reads */
					for (int gi = 0; gi < ng; gi += 2) {
						const size_t len = spread_share(pf, pfe, pstep);
						/* the tile prefetches up to two lines a column
						 * block; the rest (passes of one token tile) goes
						 * after it, which ran faster than before it */
						const size_t in = len < 128 * (size_t)nbk ? len : 128 * (size_t)nbk;
						tile(wf_tile(w, gb + gi, b0), wf_tile(w, gb + gi + (gi + 1 < ng), b0), nbk,
						     qt, acc + j * LDA + 4 * gi, b0 == 0, (uintptr_t)pf, in / (size_t)nbk);
						for (size_t b = in; b < len; b += 64)
							_mm_prefetch(pf + b, _MM_HINT_T1);
						pf += len;
					}
				}
			}
			/* wf_tmat_out 16 rows at a time: the same IEEE division and
			 * product per lane as the scalar expression */
			const int rs = gb * 4 > r0 ? gb * 4 : r0, re = (gb + ng) * 4 < r1 ? (gb + ng) * 4 : r1;
			const __m512 vw = _mm512_set1_ps(w->scale);
			for (int j = 0; j < nj; j++) {
				float *o = out + (size_t)(j0 + j) * ldo;
				const int32_t *a = acc + j * LDA;   /* row r at a[r - 4·gb] */
				const __m512 vs = _mm512_set1_ps(s[j0 + j]);
				const __m512i vq = _mm512_set1_epi32(sq[j]);
				int r = rs;
				for (; r + 16 <= re; r += 16) {
					__m512i d = _mm512_sub_epi32(_mm512_loadu_si512((const void *)(a + r - gb * 4)), vq);
					_mm512_storeu_ps(o + r, _mm512_mul_ps(_mm512_div_ps(_mm512_cvtepi32_ps(d), vs), vw));
				}
				for (; r < re; r++)
					o[r] = wf_tmat_out(a[r - gb * 4] - sq[j], s[j0 + j], w->scale);
			}
		}
	}
}

/*
 * WF_Q8R (kernels.h).  Σ q·x = Σ (x + 128)·q − 128·Σ q: one vpdpbusd
 * (unsigned shifted activations, signed weights) per 64 products, Σ q
 * stored with the row.  The int32 lanes wrap beyond 66,000 columns, but
 * the difference is exact modulo 2^32 and |dot| < 2^31 by contract, so it
 * is the scalar kernel's dot.  Register tiles of 4 rows x QT tokens, 64
 * columns a step (32, zero-extended, at the end of a row of 64k + 32).
 * Tokens go in chunks of QCH, their shifted activations (QCH·cols bytes)
 * on the stack; a single token goes a row at a time (below), and rows
 * wider than QCOLS take the AVX2 kernel (several tokens through dispatch).
 */
#define QT 6
#define QCH 18
#define QCOLS WF_Q8R_TILE_COLS
#define QRB 64

/* x[cols] plus 128 as unsigned bytes at xu, zeros up to the next 64. */
static void q8_shifted(const int8_t *x, int cols, uint8_t *xu)
{
	shift_i8(x, cols, xu);
	if (cols % 64)
		memset(xu + cols, 0, 32);
}

/* Columns [i, i + 64) of a row, zeros past cols (a multiple of 32). */
static inline __m512i q8_w64(const int8_t *row, int i, int cols)
{
	if (i + 64 <= cols)
		return _mm512_loadu_si512((const void *)(row + i));
	return _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(row + i)));
}

/* [Σ a, Σ b, Σ c, Σ d] over the lanes of four accumulators. */
static inline __m128i hsum_rows(__m512i a, __m512i b, __m512i c, __m512i d)
{
#define H8(v) _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1))
	__m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(H8(a), H8(b)), _mm256_hadd_epi32(H8(c), H8(d)));
#undef H8
	return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* dot[t] = [Σ (x_t + 128)·q over row w[k], k < 4], tokens xu[t]; each
 * step of 64 columns also prefetches the four lines at pf, pf advancing
 * by ps: every line of [pf, pf + ps·steps) where ps <= 256, and up to
 * four lines beyond (pf an address, as for tile8).  Into L1: towards L2
 * only, 16 tokens ran 3-5 % slower. */
static inline __attribute__((always_inline)) void q8_tile(const int8_t *const w[4], int cols,
                                                          const uint8_t *const xu[QT],
                                                          __m128i dot[QT], uintptr_t pf, size_t ps,
                                                          const int nt)
{
	__m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
	__m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
	__m512i c0 = a0, c1 = a0, c2 = a0, c3 = a0, c4 = a0, c5 = a0;
	__m512i d0 = a0, d1 = a0, d2 = a0, d3 = a0, d4 = a0, d5 = a0;
	for (int i = 0; i < cols; i += 64) {
		__m512i k0 = q8_w64(w[0], i, cols), k1 = q8_w64(w[1], i, cols);
		__m512i k2 = q8_w64(w[2], i, cols), k3 = q8_w64(w[3], i, cols), x;
		PIN(k0); PIN(k1); PIN(k2); PIN(k3);
		_mm_prefetch((const char *)pf, _MM_HINT_T0);
		_mm_prefetch((const char *)(pf + 64), _MM_HINT_T0);
		_mm_prefetch((const char *)(pf + 128), _MM_HINT_T0);
		_mm_prefetch((const char *)(pf + 192), _MM_HINT_T0);
		pf += ps;
#define TOK(t, a, bb, c, d) x = _mm512_loadu_si512((const void *)(xu[t] + i)); PIN(x); \
	DP(a, x, k0); DP(bb, x, k1); DP(c, x, k2); DP(d, x, k3); PIN(a); PIN(bb); PIN(c); PIN(d)
		TOK(0, a0, b0, c0, d0); TOK(1, a1, b1, c1, d1); TOK(2, a2, b2, c2, d2);
		TOK(3, a3, b3, c3, d3);
		if (nt > 4) {
			TOK(4, a4, b4, c4, d4);
			TOK(5, a5, b5, c5, d5);
		}
#undef TOK
	}
#define RED(t) dot[t] = hsum_rows(a##t, b##t, c##t, d##t)
	RED(0); RED(1); RED(2); RED(3);
	if (nt > 4) {
		RED(4);
		RED(5);
	}
#undef RED
}

/* 6 tokens, or 4. */
static void q8_tile6(const int8_t *const w[4], int cols, const uint8_t *const xu[QT], __m128i dot[QT],
                     uintptr_t pf, size_t ps)
{
	q8_tile(w, cols, xu, dot, pf, ps, 6);
}

static void q8_tile4(const int8_t *const w[4], int cols, const uint8_t *const xu[QT], __m128i dot[QT],
                     uintptr_t pf, size_t ps)
{
	q8_tile(w, cols, xu, dot, pf, ps, 4);
}

/*
 * One token (generation): a row at a time (sequential reads: four rows
 * interleaved ran at 22 against 37 GB/s from memory), 64 columns a step in
 * two chains.
 */
static void avx512_q8r_matvec(const struct wf_q8r *w, const int8_t *x, float dx, float *out, int r0, int r1)
{
	const int cols = w->cols;
	if (cols > QCOLS) {
		wf_q8r_matvec_avx2(w, x, dx, out, r0, r1);
		return;
	}
	_Alignas(64) uint8_t xu[QCOLS];
	q8_shifted(x, cols, xu);
	for (int r = r0; r < r1; r++) {
		const int8_t *wr = w->q + (size_t)r * cols;
		__m512i a0 = _mm512_setzero_si512(), a1 = a0;
		int i = 0;
		for (; i + 128 <= cols; i += 128) {
			DP(a0, _mm512_loadu_si512((const void *)(xu + i)), _mm512_loadu_si512((const void *)(wr + i)));
			DP(a1, _mm512_loadu_si512((const void *)(xu + i + 64)),
			   _mm512_loadu_si512((const void *)(wr + i + 64)));
		}
		for (; i < cols; i += 64)
			DP(a0, _mm512_loadu_si512((const void *)(xu + i)), q8_w64(wr, i, cols));
		int32_t d = (int32_t)((uint32_t)_mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1)) -
		                      ((uint32_t)w->sum[r] << 7));
		out[r - r0] = (float)d * (w->d[r] * dx);
	}
}

/* Rows r..r+3 (those below r1) of tw tokens (nj of them real) at xt: out
 * row t·ldo + (r − r0) for t < min(tw, nj); prefetch the bytes
 * [pf, pf + len). */
static void q8_rows4(const struct wf_q8r *w, int r, int r0, int r1, const uint8_t *const xt[QT], int tw, int nj,
                     const float *dx, float *out, size_t ldo, const char *pf, size_t len)
{
	const int cols = w->cols;
	const int8_t *wr[4];
	int32_t sw[4];
	float fdw[4];
	__m128i dot[QT];
	for (int k = 0; k < 4; k++) {
		/* rows past r1 repeat the last row; their sums are dropped */
		int rk = r + k < r1 ? r + k : r1 - 1;
		wr[k] = w->q + (size_t)rk * cols;
		sw[k] = w->sum[rk];
		fdw[k] = w->d[rk];
	}
	/* four lines a step in the tile, the rest after it */
	const size_t steps = (size_t)(cols + 63) / 64, in = len < 256 * steps ? len : 256 * steps;
	(tw == 4 ? q8_tile4 : q8_tile6)(wr, cols, xt, dot, (uintptr_t)pf, in / steps);
	for (size_t b = in; b < len; b += 64)
		_mm_prefetch(pf + b, _MM_HINT_T1);
	/* (float)(dot − 128·Σ q) · (d_r · dx), four rows a vector: the scalar
	 * expression's operations lane by lane */
	const __m128i off = _mm_slli_epi32(_mm_loadu_si128((const __m128i *)sw), 7);
	const __m128 vdw = _mm_loadu_ps(fdw);
	for (int t = 0; t < tw && t < nj; t++) {
		__m128 v = _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(dot[t], off)), _mm_mul_ps(vdw, _mm_set1_ps(dx[t])));
		float *o = out + (size_t)t * ldo + (r - r0);
		if (r + 4 <= r1) {
			_mm_storeu_ps(o, v);
		} else {
			float ov[4];
			_mm_storeu_ps(ov, v);
			for (int k = 0; r + k < r1; k++)
				o[k] = ov[k];
		}
	}
}

static void avx512_q8r_matmat(const struct wf_q8r *w, const int8_t *x, size_t ldx, const float *dx, int n,
                              float *out, size_t ldo, int r0, int r1)
{
	const int cols = w->cols;
	const int ldu = (cols + 63) / 64 * 64;
	_Alignas(64) uint8_t xu[QCH * QCOLS];
	for (int j0 = 0; j0 < n; j0 += QCH) {
		const int nj = n - j0 < QCH ? n - j0 : QCH;
		for (int j = 0; j < nj; j++)
			q8_shifted(x + (size_t)(j0 + j) * ldx, cols, xu + (size_t)j * ldu);
		/* a chunk's activations wider than about half of L1 go a token
		 * tile at a time over blocks of QRB rows (in L2), so that a
		 * tile's activations stay in L1 beside its rows (16 tokens of
		 * 2560 from memory: 236-268 against 188-193 G multiply-adds/s);
		 * fewer go a row group at a time through every tile */
		const int rb = (size_t)nj * (size_t)ldu > WF_Q8R_L1_BYTES ? QRB : 4;
		int ntl = 0;   /* token tiles */
		for (int j = 0; j < nj; j += nj - j <= 4 ? 4 : QT)
			ntl++;
		for (int b0 = r0; b0 < r1; b0 += rb) {
			const int b1 = r1 - b0 < rb ? r1 : b0 + rb;
			/* the next block's rows (of this chunk, else the first of the
			 * next), spread over this block's tile calls and each call's
			 * steps (it used to be the next four rows, in the first
			 * token tile alone; one core, 128256 x 2560 from memory:
			 * 7-32 tokens 13-36 % faster, 2-6 unchanged) */
			const int n0 = b1 < r1 ? b1 : j0 + QCH < n ? r0 : r1, n1 = r1 - n0 < rb ? r1 : n0 + rb;
			const char *pf = (const char *)(w->q + (size_t)n0 * (size_t)cols);
			const char *const pfe = pf + (size_t)(n1 - n0) * (size_t)cols;
			const size_t calls = (size_t)ntl * (size_t)((b1 - b0 + 3) / 4);
			const size_t pstep = spread_step(pf, pfe, calls);
			for (int j = 0, tw; j < nj; j += tw) {
				tw = nj - j <= 4 ? 4 : QT;
				const uint8_t *xt[QT];
				for (int t = 0; t < QT; t++)
					xt[t] = xu + (size_t)(j + t < nj ? j + t : nj - 1) * ldu;
				for (int r = b0; r < b1; r += 4) {
					const size_t len = spread_share(pf, pfe, pstep);
					q8_rows4(w, r, r0, r1, xt, tw, nj - j, dx + j0 + j, out + (size_t)(j0 + j) * ldo, ldo,
					         pf, len);
					pf += len;
				}
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

/* Sixteen floats of a cache row at element i: F32, or F16 widened (f16). */
#define LDK16(p, i, f16) ((f16) ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)(p) + (i)))) \
                                : _mm512_loadu_ps((const float *)(p) + (i)))

/*
 * Attention (kernels.h's order): the 16 partials are one register's lanes;
 * eight keys at a time (eight chains) hide the FMA latency.  The dot from
 * partials a over [0, nv), and the scalar tail [nv, hd).
 */
static float dot_finish512(__m512 a, const float *q, const void *k, int nv, int hd, int f16)
{
	if (nv == hd) {
		__m256 v8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
		__m128 v4 = _mm_add_ps(_mm256_castps256_ps128(v8), _mm256_extractf128_ps(v8, 1));
		__m128 v2 = _mm_add_ps(v4, _mm_movehl_ps(v4, v4));
		return _mm_cvtss_f32(_mm_add_ss(v2, _mm_movehdup_ps(v2)));
	}
	float p[16];
	_mm512_storeu_ps(p, a);
	for (int i = nv; i < hd; i++)
		p[i % 16] = __builtin_fmaf(q[i], wf_kv_elt(k, (size_t)i, f16), p[i % 16]);
	return wf_fold16(p);
}

/* wf_attn_scores, or wf_attn_scores_f16 where f16 is set: eight keys at a
 * time, one accumulator each. */
static inline __attribute__((always_inline)) void
scores512(const float *q, const void *K, size_t ldk, int hd, int T, float scale, float *s, const int f16)
{
	const int nv = hd & ~15;
	const size_t ld = ldk * (f16 ? 2 : 4);   /* bytes */
	int t = 0;
	for (; t + 8 <= T; t += 8) {
		const char *k = (const char *)K + (size_t)t * ld;
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
		for (int i = 0; i < nv; i += 16) {
			__m512 x = _mm512_loadu_ps(q + i);
			a0 = _mm512_fmadd_ps(x, LDK16(k, i, f16), a0);
			a1 = _mm512_fmadd_ps(x, LDK16(k + ld, i, f16), a1);
			a2 = _mm512_fmadd_ps(x, LDK16(k + 2 * ld, i, f16), a2);
			a3 = _mm512_fmadd_ps(x, LDK16(k + 3 * ld, i, f16), a3);
			a4 = _mm512_fmadd_ps(x, LDK16(k + 4 * ld, i, f16), a4);
			a5 = _mm512_fmadd_ps(x, LDK16(k + 5 * ld, i, f16), a5);
			a6 = _mm512_fmadd_ps(x, LDK16(k + 6 * ld, i, f16), a6);
			a7 = _mm512_fmadd_ps(x, LDK16(k + 7 * ld, i, f16), a7);
		}
		s[t] = dot_finish512(a0, q, k, nv, hd, f16) * scale;
		s[t + 1] = dot_finish512(a1, q, k + ld, nv, hd, f16) * scale;
		s[t + 2] = dot_finish512(a2, q, k + 2 * ld, nv, hd, f16) * scale;
		s[t + 3] = dot_finish512(a3, q, k + 3 * ld, nv, hd, f16) * scale;
		s[t + 4] = dot_finish512(a4, q, k + 4 * ld, nv, hd, f16) * scale;
		s[t + 5] = dot_finish512(a5, q, k + 5 * ld, nv, hd, f16) * scale;
		s[t + 6] = dot_finish512(a6, q, k + 6 * ld, nv, hd, f16) * scale;
		s[t + 7] = dot_finish512(a7, q, k + 7 * ld, nv, hd, f16) * scale;
	}
	for (; t < T; t++) {
		const char *k = (const char *)K + (size_t)t * ld;
		__m512 a = _mm512_setzero_ps();
		for (int i = 0; i < nv; i += 16)
			a = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), LDK16(k, i, f16), a);
		s[t] = dot_finish512(a, q, k, nv, hd, f16) * scale;
	}
}

static void avx512_attn_scores(const float *q, const float *K, size_t ldk, int hd, int T, float scale,
                               float *s)
{
	scores512(q, K, ldk, hd, T, scale, s, 0);
}

static void avx512_attn_scores_f16(const float *q, const uint16_t *K, size_t ldk, int hd, int T, float scale,
                                   float *s)
{
	scores512(q, K, ldk, hd, T, scale, s, 1);
}

/* o[i] over t for 128 columns at a time (eight chains), then 16, then one;
 * V as in scores512(). */
static inline __attribute__((always_inline)) void
mix512(const float *w, const void *V, size_t ldv, int hd, int T, float *o, const int f16)
{
	const size_t ld = ldv * (f16 ? 2 : 4);   /* bytes */
	int i = 0;
	for (; i + 128 <= hd; i += 128) {
		__m512 a0 = _mm512_loadu_ps(o + i), a1 = _mm512_loadu_ps(o + i + 16);
		__m512 a2 = _mm512_loadu_ps(o + i + 32), a3 = _mm512_loadu_ps(o + i + 48);
		__m512 a4 = _mm512_loadu_ps(o + i + 64), a5 = _mm512_loadu_ps(o + i + 80);
		__m512 a6 = _mm512_loadu_ps(o + i + 96), a7 = _mm512_loadu_ps(o + i + 112);
		for (int t = 0; t < T; t++) {
			const char *v = (const char *)V + (size_t)t * ld;
			__m512 c = _mm512_set1_ps(w[t]);
			a0 = _mm512_fmadd_ps(c, LDK16(v, i, f16), a0);
			a1 = _mm512_fmadd_ps(c, LDK16(v, i + 16, f16), a1);
			a2 = _mm512_fmadd_ps(c, LDK16(v, i + 32, f16), a2);
			a3 = _mm512_fmadd_ps(c, LDK16(v, i + 48, f16), a3);
			a4 = _mm512_fmadd_ps(c, LDK16(v, i + 64, f16), a4);
			a5 = _mm512_fmadd_ps(c, LDK16(v, i + 80, f16), a5);
			a6 = _mm512_fmadd_ps(c, LDK16(v, i + 96, f16), a6);
			a7 = _mm512_fmadd_ps(c, LDK16(v, i + 112, f16), a7);
		}
		_mm512_storeu_ps(o + i, a0);
		_mm512_storeu_ps(o + i + 16, a1);
		_mm512_storeu_ps(o + i + 32, a2);
		_mm512_storeu_ps(o + i + 48, a3);
		_mm512_storeu_ps(o + i + 64, a4);
		_mm512_storeu_ps(o + i + 80, a5);
		_mm512_storeu_ps(o + i + 96, a6);
		_mm512_storeu_ps(o + i + 112, a7);
	}
	for (; i + 16 <= hd; i += 16) {
		__m512 a = _mm512_loadu_ps(o + i);
		for (int t = 0; t < T; t++)
			a = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), LDK16((const char *)V + (size_t)t * ld, i, f16), a);
		_mm512_storeu_ps(o + i, a);
	}
	wf_attn_mix_cols(w, V, ldv, i, hd, T, o, f16);
}

static void avx512_attn_mix(const float *w, const float *V, size_t ldv, int hd, int T, float *o)
{
	mix512(w, V, ldv, hd, T, o, 0);
}

static void avx512_attn_mix_f16(const float *w, const uint16_t *V, size_t ldv, int hd, int T, float *o)
{
	mix512(w, V, ldv, hd, T, o, 1);
}

/*
 * Sixteen dots at once: r lane L = fold16(a[4·(L % 4) + L / 4]), each in
 * wf_fold16's order (halves of 8, 4, 2, 1 added lane by lane), by adding
 * registers' halves pairwise instead of folding each register alone: 45
 * instructions for 16 dots against about 8 a dot.
 */
static inline __attribute__((always_inline)) __m512 fold16x16(const __m512 a[16])
{
	__m512 b[8], c[4], d[2];
#pragma GCC unroll 8
	for (int m = 0; m < 8; m++)   /* lanes i and i + 8 */
		b[m] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], 0x44),
		                     _mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], 0xee));
#pragma GCC unroll 8
	for (int p = 0; p < 4; p++)   /* i and i + 4 */
		c[p] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * p], b[2 * p + 1], 0x88),
		                     _mm512_shuffle_f32x4(b[2 * p], b[2 * p + 1], 0xdd));
#pragma GCC unroll 8
	for (int r = 0; r < 2; r++)   /* i and i + 2 */
		d[r] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * r], c[2 * r + 1], 0x44),
		                     _mm512_shuffle_ps(c[2 * r], c[2 * r + 1], 0xee));
	return _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88), _mm512_shuffle_ps(d[0], d[1], 0xdd));
}

/*
 * Grouped queries (kernels.h wf_attn_scores_grp / wf_attn_mix_grp): up to
 * four queries at a time share each load of the keys (KK keys x NQ
 * queries of accumulators, 16 at most) and of the values (64 columns x NQ
 * queries), every accumulator taking the single-query kernels' operations
 * in their order.  The scores' dots end in one fold16x16 for all 16 where
 * hd is a multiple of 16.  Four heads of 128 over 128 keys (bench/kernels-l1.sh,
 * Zen 5, 2026-12-04): 1.6-2.0 us (4.0 with a fold a dot) against 4 x 1.3-1.6
 * for the single-query kernels.
 */
static inline __attribute__((always_inline)) void
scores_grp(const float *q, size_t ldq, const void *K, size_t ldk, int hd, int T, float scale, float *s,
           size_t lds, const int NQ, const int f16)
{
	const int KK = NQ == 3 ? 4 : 16 / NQ;   /* keys a step */
	const int nv = hd & ~15;
	const size_t ld = ldk * (f16 ? 2 : 4);   /* bytes */
	const __m512 vs = _mm512_set1_ps(scale);
	int t = 0;
	for (; nv == hd && t + KK <= T; t += KK) {
		const char *k = (const char *)K + (size_t)t * ld;
		__m512 a[16];
#pragma GCC unroll 16
		for (int j = 0; j < 16; j++)
			a[j] = _mm512_setzero_ps();
		for (int i = 0; i < nv; i += 16) {
#pragma GCC unroll 16
			for (int kk = 0; kk < KK; kk++) {
				__m512 kv = LDK16(k + kk * ld, i, f16);
#pragma GCC unroll 4
				for (int g = 0; g < NQ; g++) {   /* score (g, kk) in lane g·KK + kk */
					const int L = g * KK + kk, j = 4 * (L % 4) + L / 4;
					a[j] = _mm512_fmadd_ps(_mm512_loadu_ps(q + g * ldq + i), kv, a[j]);
				}
			}
		}
		float r[16];
		_mm512_storeu_ps(r, _mm512_mul_ps(fold16x16(a), vs));
		for (int g = 0; g < NQ; g++)
			memcpy(s + g * lds + t, r + g * KK, KK * sizeof *r);
	}
	for (; t + 4 <= T; t += 4) {
		const char *k = (const char *)K + (size_t)t * ld;
		__m512 a[4][4];
#pragma GCC unroll 4
		for (int g = 0; g < NQ; g++)
#pragma GCC unroll 4
			for (int kk = 0; kk < 4; kk++)
				a[g][kk] = _mm512_setzero_ps();
		for (int i = 0; i < nv; i += 16) {
			__m512 k0 = LDK16(k, i, f16), k1 = LDK16(k + ld, i, f16);
			__m512 k2 = LDK16(k + 2 * ld, i, f16), k3 = LDK16(k + 3 * ld, i, f16);
#pragma GCC unroll 4
			for (int g = 0; g < NQ; g++) {
				__m512 x = _mm512_loadu_ps(q + g * ldq + i);
				a[g][0] = _mm512_fmadd_ps(x, k0, a[g][0]);
				a[g][1] = _mm512_fmadd_ps(x, k1, a[g][1]);
				a[g][2] = _mm512_fmadd_ps(x, k2, a[g][2]);
				a[g][3] = _mm512_fmadd_ps(x, k3, a[g][3]);
			}
		}
#pragma GCC unroll 4
		for (int g = 0; g < NQ; g++)
#pragma GCC unroll 4
			for (int kk = 0; kk < 4; kk++)
				s[g * lds + t + kk] = dot_finish512(a[g][kk], q + g * ldq, k + kk * ld, nv, hd, f16) * scale;
	}
	for (int g = 0; g < NQ && t < T; g++)
		scores512(q + g * ldq, (const char *)K + (size_t)t * ld, ldk, hd, T - t, scale, s + g * lds + t, f16);
}

static inline __attribute__((always_inline)) void
mix_grp(const float *w, size_t ldw, const void *V, size_t ldv, int hd, int T, float *o, size_t ldo,
        const int NQ, const int f16)
{
	const size_t es = f16 ? 2 : 4, ld = ldv * es;   /* bytes */
	int i = 0;
	for (; i + 64 <= hd; i += 64) {
		__m512 a[4][4];
#pragma GCC unroll 4
		for (int g = 0; g < NQ; g++)
#pragma GCC unroll 4
			for (int c = 0; c < 4; c++)
				a[g][c] = _mm512_loadu_ps(o + g * ldo + i + 16 * c);
		for (int t = 0; t < T; t++) {
			const char *v = (const char *)V + (size_t)t * ld;
			__m512 v0 = LDK16(v, i, f16), v1 = LDK16(v, i + 16, f16);
			__m512 v2 = LDK16(v, i + 32, f16), v3 = LDK16(v, i + 48, f16);
#pragma GCC unroll 4
			for (int g = 0; g < NQ; g++) {
				__m512 c = _mm512_set1_ps(w[g * ldw + t]);
				a[g][0] = _mm512_fmadd_ps(c, v0, a[g][0]);
				a[g][1] = _mm512_fmadd_ps(c, v1, a[g][1]);
				a[g][2] = _mm512_fmadd_ps(c, v2, a[g][2]);
				a[g][3] = _mm512_fmadd_ps(c, v3, a[g][3]);
			}
		}
#pragma GCC unroll 4
		for (int g = 0; g < NQ; g++)
#pragma GCC unroll 4
			for (int c = 0; c < 4; c++)
				_mm512_storeu_ps(o + g * ldo + i + 16 * c, a[g][c]);
	}
	/* the columns left: the single-query kernel on them */
	for (int g = 0; g < NQ && i < hd; g++)
		mix512(w + g * ldw, (const char *)V + (size_t)i * es, ldv, hd - i, T, o + g * ldo + i, f16);
}

static void avx512_attn_scores_grp(const float *q, size_t ldq, int nq, const void *K, int f16, size_t ldk,
                                   int hd, int T, float scale, float *s, size_t lds)
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

static void avx512_attn_mix_grp(const float *w, size_t ldw, int nq, const void *V, int f16, size_t ldv, int hd,
                                int T, float *o, size_t ldo)
{
	for (int g = 0; g < nq; g += 4) {
		const float *wg = w + g * ldw;
		float *og = o + g * ldo;
		switch ((nq - g < 4 ? nq - g : 4) + 4 * !!f16) {
		case 1: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 1, 0); break;
		case 2: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 2, 0); break;
		case 3: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 3, 0); break;
		case 4: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 4, 0); break;
		case 5: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 1, 1); break;
		case 6: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 2, 1); break;
		case 7: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 3, 1); break;
		default: mix_grp(wg, ldw, V, ldv, hd, T, og, ldo, 4, 1); break;
		}
	}
}

const struct wf_kern_ops wf_kern_avx512 = {
	"avx512", avx512_tmat_vec, avx512_tmat_mat, avx512_f16_matvec, wf_quantize_avx2,
	wf_q8_0_matvec_avx2, wf_q8_0_from_f16_avx2, avx512_q8r_matvec,
	wf_q8r_from_f16_avx2, avx512_attn_scores, avx512_attn_mix, avx512_q8r_matmat,
	wf_softmax_avx2, wf_f16_round_avx2, avx512_attn_scores_f16, avx512_attn_mix_f16,
	wf_f16_from_f32_avx2, avx512_attn_scores_grp, avx512_attn_mix_grp,
};
#endif
