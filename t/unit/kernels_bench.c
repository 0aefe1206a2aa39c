/*
 * kernels_bench — throughput of the kernels (not run by the suite).
 *
 *   kernels_bench [VARIANT]     (default: the auto choice)
 *
 * Generation: GB/s of packed weights streamed by wf_tmat_vec for the
 * 2B-4T shapes 6912x2560 (gate/up) and 2560x6912 (down), at 1 and 2
 * threads, cycling through enough matrices (~140 MB) that they come from
 * memory, not cache; a plain AVX2/memory read of the same buffers is the
 * roofline.  Prefill: GOPS (2 ops per weight per token) of wf_tmat_mat for
 * n = 128 (one matrix, cached), and for n = 16 (a batched-decoding step)
 * cycling through the matrices from memory.  F16 head: GB/s of
 * wf_f16_matvec on a 32768x2560 matrix.
 * WF_BENCH_CHUNKS=k hands the rows out as k chunks per thread (wf_pool_for).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"
#include "pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
/*
 * For comparison, a kernel shaped like bitnet.cpp's AVX2 I2_S 1x1 GEMV as
 * its description goes (written here from that description): one row at a
 * time, per 32 weight bytes four shift/and extractions and four maddubs
 * added into one int16 accumulator, widened every 32 blocks.  Same bytes,
 * same arithmetic volume; only the blocking differs.
 */
__attribute__((target("avx2")))
static void bitnet_style_rows(const uint8_t *wd, int cols, const int8_t *q, float *out, int r0, int r1)
{
	const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
	int nb = cols / 128;
	for (int r = r0; r < r1; r++) {
		const uint8_t *row = wd + (size_t)r * cols / 4;
		__m256i acc = _mm256_setzero_si256();
		for (int b0 = 0; b0 < nb; b0 += 32) {
			int b1 = b0 + 32 < nb ? b0 + 32 : nb;
			__m256i a16 = _mm256_setzero_si256();
			for (int b = b0; b < b1; b++) {
				__m256i w = _mm256_loadu_si256((const __m256i *)(row + 32 * b));
				const int8_t *qb = q + 128 * b;
				__m256i c0 = _mm256_and_si256(_mm256_srli_epi16(w, 6), m3);
				__m256i c1 = _mm256_and_si256(_mm256_srli_epi16(w, 4), m3);
				__m256i c2 = _mm256_and_si256(_mm256_srli_epi16(w, 2), m3);
				__m256i c3 = _mm256_and_si256(w, m3);
				c0 = _mm256_maddubs_epi16(c0, _mm256_loadu_si256((const __m256i *)qb));
				c1 = _mm256_maddubs_epi16(c1, _mm256_loadu_si256((const __m256i *)(qb + 32)));
				c2 = _mm256_maddubs_epi16(c2, _mm256_loadu_si256((const __m256i *)(qb + 64)));
				c3 = _mm256_maddubs_epi16(c3, _mm256_loadu_si256((const __m256i *)(qb + 96)));
				a16 = _mm256_add_epi16(a16, _mm256_add_epi16(_mm256_add_epi16(c0, c1),
				                                             _mm256_add_epi16(c2, c3)));
			}
			acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a16, ones));
		}
		__m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
		s = _mm_hadd_epi32(s, s);
		s = _mm_hadd_epi32(s, s);
		out[r - r0] = (float)_mm_cvtsi128_si32(s);
	}
}
/*
 * The compute roofline of the AVX2 ternary kernels: maddubs + int16 add
 * pairs (32 multiply-adds each) on registers only, six independent
 * chains, one thread; GMAC/s.  The empty asm keeps the operands opaque
 * so nothing is folded away.
 */
__attribute__((target("avx2")))
static double maddubs_ceiling(double (*clock)(void))
{
	__m256i w = _mm256_set1_epi8(2), x0 = _mm256_set1_epi8(-3), x1 = x0, x2 = x0, x3 = x0, x4 = x0,
	        x5 = x0;
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
	const long N = 20000000;
	double best = 1e9;
	for (int r = 0; r < 5; r++) {
		double t0 = clock();
		for (long i = 0; i < N; i++) {
			__asm__("" : "+x"(w), "+x"(x0), "+x"(x1), "+x"(x2), "+x"(x3), "+x"(x4), "+x"(x5));
			a0 = _mm256_add_epi16(a0, _mm256_maddubs_epi16(w, x0));
			a1 = _mm256_add_epi16(a1, _mm256_maddubs_epi16(w, x1));
			a2 = _mm256_add_epi16(a2, _mm256_maddubs_epi16(w, x2));
			a3 = _mm256_add_epi16(a3, _mm256_maddubs_epi16(w, x3));
			a4 = _mm256_add_epi16(a4, _mm256_maddubs_epi16(w, x4));
			a5 = _mm256_add_epi16(a5, _mm256_maddubs_epi16(w, x5));
			__asm__("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
		}
		double t = clock() - t0;
		if (t < best)
			best = t;
	}
	__m256i t = _mm256_add_epi16(_mm256_add_epi16(a0, a1), _mm256_add_epi16(_mm256_add_epi16(a2, a3),
	                                                                   _mm256_add_epi16(a4, a5)));
	volatile int sink = _mm256_extract_epi16(t, 0);
	(void)sink;
	return 6.0 * 32 * N / best / 1e9;
}
#endif

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

#define NMAT 32

struct job {
	const struct wf_tmat *w;
	const int8_t *q;
	const float *s;
	int n;
	float *out;
	const uint16_t *h;
	const float *x;
	int hrows, hcols;
	const uint8_t *buf;
	size_t len;
	volatile uint64_t sink;
};

/* chunks per thread: 1 (wf_pool_run), or more via wf_pool_for */
static int per_thread = 1;

static void dispatch(struct wf_pool *p, wf_pool_fn fn, void *arg)
{
	if (per_thread > 1)
		wf_pool_for(p, per_thread * wf_pool_size(p), fn, arg);
	else
		wf_pool_run(p, fn, arg);
}

/* Seconds for fn over NMAT matrices, j->w = &w[m·step] (step 0: w[0]
 * every time, so from cache after the first). */
static double pass(struct wf_pool *p, wf_pool_fn fn, struct job *j, struct wf_tmat *w, int step)
{
	double t0 = now();
	for (int m = 0; m < NMAT; m++) {
		j->w = &w[m * step];
		dispatch(p, fn, j);
	}
	return now() - t0;
}

static void run_vec(void *arg, int ith, int nth)
{
	struct job *j = arg;
	int lo, hi;
	wf_pool_split(j->w->rows, WF_TMAT_ROW_GROUP, ith, nth, &lo, &hi);
	wf_tmat_vec(j->w, j->q, j->s[0], j->out + lo, lo, hi);
}

#if defined(__x86_64__)
static void run_bitnet(void *arg, int ith, int nth)
{
	struct job *j = arg;
	int lo, hi;
	wf_pool_split(j->w->rows, 1, ith, nth, &lo, &hi);
	bitnet_style_rows(j->w->data, j->w->cols, j->q, j->out + lo, lo, hi);
}
#endif

static void run_mat(void *arg, int ith, int nth)
{
	struct job *j = arg;
	int lo, hi;
	wf_pool_split(j->w->rows, WF_TMAT_ROW_GROUP, ith, nth, &lo, &hi);
	wf_tmat_mat(j->w, j->q, j->s, j->n, j->out, j->w->rows, lo, hi);
}

static void run_f16(void *arg, int ith, int nth)
{
	struct job *j = arg;
	int lo, hi;
	wf_pool_split(j->hrows, 8, ith, nth, &lo, &hi);
	wf_f16_matvec(j->h, j->hcols, j->x, j->out + lo, lo, hi);
}

/* Read every byte of the buffer once (64-bit loads): the roofline. */
static void run_read(void *arg, int ith, int nth)
{
	struct job *j = arg;
	int lo, hi;
	wf_pool_split((int)(j->len / 4096), 1, ith, nth, &lo, &hi);
	const uint64_t *p = (const uint64_t *)(j->buf + (size_t)lo * 4096);
	size_t n = (size_t)(hi - lo) * 512;
	uint64_t a = 0, b = 0, c = 0, d = 0;
	for (size_t i = 0; i < n; i += 4) {
		a += p[i];
		b ^= p[i + 1];
		c += p[i + 2];
		d ^= p[i + 3];
	}
	j->sink += a + b + c + d;
}

int main(int argc, char **argv)
{
	char err[200];
	if (wf_kernels_init(argc > 1 ? argv[1] : NULL, err, sizeof err)) {
		fprintf(stderr, "kernels_bench: %s\n", err);
		return 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	if (getenv("WF_BENCH_CHUNKS"))
		per_thread = atoi(getenv("WF_BENCH_CHUNKS")) > 1 ? atoi(getenv("WF_BENCH_CHUNKS")) : 1;
	printf("kernels: %s\n", wf_kernels_name());
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2")) {
		double c = maddubs_ceiling(now);
		printf("maddubs+add ceiling, 1 thread: %.1f GMAC/s (%.1f GOPS)\n", c, 2 * c);
	}
#endif
	int shapes[2][2] = { { 6912, 2560 }, { 2560, 6912 } };
	static int8_t q[128 * 6912];
	static float s[128], x[2560];
	for (size_t i = 0; i < sizeof q; i++)
		q[i] = (int8_t)(rnd() % 256 - 128);
	for (int i = 0; i < 128; i++)
		s[i] = 10.0f + (float)i;
	for (int i = 0; i < 2560; i++)
		x[i] = (float)(rnd() % 1000) / 1000.0f;
	float *out = aligned_alloc(64, (size_t)128 * 6912 * 4);

	for (int sh = 0; sh < 2; sh++) {
		int R = shapes[sh][0], C = shapes[sh][1];
		size_t bytes = wf_tmat_packed_size(R, C);
		uint8_t *all = aligned_alloc(64, bytes * NMAT);
		for (size_t i = 0; i < bytes * NMAT; i++)
			all[i] = (uint8_t)(rnd() % 3 | (rnd() % 3) << 2 | (rnd() % 3) << 4 | (rnd() % 3) << 6);
		struct wf_tmat w[NMAT];
		for (int m = 0; m < NMAT; m++)
			w[m] = (struct wf_tmat){ R, C, 0.5f, all + bytes * m };
		for (int nt = 1; nt <= 2; nt++) {
			struct wf_pool *p = wf_pool_new(nt, err, sizeof err);
			struct job j = { .q = q, .s = s, .n = 128, .out = out, .buf = all, .len = bytes * NMAT };
			int reps = 4;
			double best = 1e9, bestr = 1e9, besth = 1e9;
			for (int r = 0; r < reps; r++) {
				double t = pass(p, run_vec, &j, w, 1);
				best = t < best ? t : best;
				double t0 = now();
				wf_pool_run(p, run_read, &j);
				t = now() - t0;
				bestr = t < bestr ? t : bestr;
				/* one matrix again and again: from cache */
				t = pass(p, run_vec, &j, w, 0);
				besth = t < besth ? t : besth;
			}
			double gb = (double)bytes * NMAT / 1e9;
#if defined(__x86_64__)
			if (__builtin_cpu_supports("avx2")) {
				double bb = 1e9;
				for (int r = 0; r < reps; r++) {
					double t0 = now();
					for (int m = 0; m < NMAT; m++) {
						j.w = &w[m];
						wf_pool_run(p, run_bitnet, &j);
					}
					double t = now() - t0;
					bb = t < bb ? t : bb;
				}
				printf("bitnet-style 1x1 %dx%d threads %d: %.1f GB/s from memory\n", R, C, nt, gb / bb);
			}
#endif
			printf("vec %dx%d threads %d: %.1f GB/s from memory (%.0f us/matrix), %.1f GB/s cached; "
			       "plain read %.1f GB/s\n", R, C, nt, gb / best, best / NMAT * 1e6, gb / besth,
			       gb / bestr);
			double bt = 1e9;
			for (int r = 0; r < 2; r++) {
				double t0 = now();
				j.w = &w[r];
				dispatch(p, run_mat, &j);
				double t = now() - t0;
				bt = t < bt ? t : bt;
			}
			printf("mat %dx%d n=128 threads %d: %.1f GOPS (%.1f ms)\n", R, C, nt,
			       2.0 * R * C * 128 / bt / 1e9, bt * 1e3);
			/* a batched-decoding step: 16 tokens, each matrix from memory */
			j.n = 16;
			double b16 = 1e9;
			for (int r = 0; r < reps; r++) {
				double t = pass(p, run_mat, &j, w, 1);
				b16 = t < b16 ? t : b16;
			}
			j.n = 128;
			printf("mat %dx%d n=16 threads %d: %.1f GOPS from memory (%.0f us/matrix)\n", R, C, nt,
			       2.0 * R * C * 16 * NMAT / b16 / 1e9, b16 / NMAT * 1e6);
			wf_pool_free(p);
		}
		free(all);
	}
	/* the F16 output head */
	int HR = 32768, HC = 2560;
	uint16_t *h = aligned_alloc(64, (size_t)HR * HC * 2);
	for (size_t i = 0; i < (size_t)HR * HC; i++)
		h[i] = wf_f32_to_f16((float)(rnd() % 2000) / 1000.0f - 1.0f);
	float *hout = aligned_alloc(64, (size_t)HR * 4);
	for (int nt = 1; nt <= 2; nt++) {
		struct wf_pool *p = wf_pool_new(nt, err, sizeof err);
		struct job j = { .h = h, .x = x, .hrows = HR, .hcols = HC, .out = hout };
		double best = 1e9;
		for (int r = 0; r < 4; r++) {
			double t0 = now();
			dispatch(p, run_f16, &j);
			double t = now() - t0;
			best = t < best ? t : best;
		}
		printf("f16 matvec %dx%d threads %d: %.1f GB/s (%.1f ms)\n", HR, HC, nt,
		       (double)HR * HC * 2 / best / 1e9, best * 1e3);
		wf_pool_free(p);
	}
	free(h);
	free(hout);
	free(out);
	return 0;
}
