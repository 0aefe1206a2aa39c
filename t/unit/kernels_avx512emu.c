/*
 * kernels_avx512emu — runs kernels/tmat_avx512.c on any CPU by compiling
 * it against a plain-C model of the intrinsics it uses (semantics from the
 * Intel intrinsics guide), and checks it against the scalar oracle bit for
 * bit.  The real AVX-512 build is tested by kernels_check where the CPU has
 * AVX-512 VNNI; this catches lane and indexing mistakes everywhere else.
 * Prints "ok", or "unsupported" (exit 77) off x86-64.
 */
#if defined(__x86_64__)
#include "x86emu.h"

#define wf_kern_avx512 emu_kern_avx512
#define PIN(v) ((void)(v))
#define DPA(acc, c, q) ((acc) = _mm512_dpbusd_epi32(acc, c, q))
#include "tmat_avx512.c"

static void fcase(int rows, int cols)
{
	uint16_t *w = malloc((size_t)rows * cols * 2 + 2);
	float *x = malloc((size_t)cols * 4 + 4), *a = malloc((size_t)rows * 4), *b = malloc((size_t)rows * 4);
	for (size_t i = 0; i < (size_t)rows * cols; i++)
		w[i] = (uint16_t)(rnd() & 0xbfff);
	for (int i = 0; i < cols; i++)
		x[i] = (float)(rnd() % 20001) / 1000.0f - 10.0f;
	wf_kern_scalar.f16_matvec(w, cols, x, a, 0, rows);
	emu_kern_avx512.f16_matvec(w, cols, x, b, 0, rows);
	for (int r = 0; r < rows; r++)
		if (f2u(a[r]) != f2u(b[r]) && fails++ < 10)
			printf("FAIL f16 %dx%d row %d: %a vs %a\n", rows, cols, r, a[r], b[r]);
	free(w);
	free(x);
	free(a);
	free(b);
}

/* Attention: scores and mix as the scalar ones (odd head sizes: tails). */
static void acase(int hd, int T)
{
	size_t ld = (size_t)hd + 3;
	float *q = malloc((size_t)hd * 4), *K = malloc((size_t)T * ld * 4), *w = malloc((size_t)T * 4);
	float *a = malloc((size_t)(T + hd) * 4), *b = malloc((size_t)(T + hd) * 4);
	for (int i = 0; i < hd; i++)
		q[i] = (float)(rnd() % 20001) / 1000.0f - 10.0f;
	for (size_t i = 0; i < (size_t)T * ld; i++)
		K[i] = (float)(rnd() % 20001) / 3000.0f - 3.0f;
	for (int t = 0; t < T; t++)
		w[t] = (float)(rnd() % 1000) / 997.0f;
	wf_kern_scalar.attn_scores(q, K, ld, hd, T, 0.125f, a);
	emu_kern_avx512.attn_scores(q, K, ld, hd, T, 0.125f, b);
	for (int t = 0; t < T; t++)
		if (f2u(a[t]) != f2u(b[t]) && fails++ < 10)
			printf("FAIL scores hd=%d T=%d key %d\n", hd, T, t);
	for (int i = 0; i < hd; i++)   /* mix adds into o */
		a[i] = b[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
	wf_kern_scalar.attn_mix(w, K, ld, hd, T, a);
	emu_kern_avx512.attn_mix(w, K, ld, hd, T, b);
	for (int i = 0; i < hd; i++)
		if (f2u(a[i]) != f2u(b[i]) && fails++ < 10)
			printf("FAIL mix hd=%d T=%d column %d\n", hd, T, i);
	/* an F16 cache: the F32 kernels' bits on the widened values */
	uint16_t *K16 = malloc((size_t)T * ld * 2);
	for (size_t i = 0; i < (size_t)T * ld; i++) {
		K16[i] = wf_f32_to_f16(K[i]);
		K[i] = wf_f16_to_f32(K16[i]);
	}
	wf_kern_scalar.attn_scores(q, K, ld, hd, T, 0.125f, a);
	emu_kern_avx512.attn_scores_f16(q, K16, ld, hd, T, 0.125f, b);
	for (int t = 0; t < T; t++)
		if (f2u(a[t]) != f2u(b[t]) && fails++ < 10)
			printf("FAIL scores f16 hd=%d T=%d key %d\n", hd, T, t);
	for (int i = 0; i < hd; i++)
		a[i] = b[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
	wf_kern_scalar.attn_mix(w, K, ld, hd, T, a);
	emu_kern_avx512.attn_mix_f16(w, K16, ld, hd, T, b);
	for (int i = 0; i < hd; i++)
		if (f2u(a[i]) != f2u(b[i]) && fails++ < 10)
			printf("FAIL mix f16 hd=%d T=%d column %d\n", hd, T, i);
	/* 1-4 queries at once against the scalar kernels one by one: the
	 * keys as queries, their scores as weights, F16 cache */
	for (int nq = 1; nq <= 4 && nq <= T && hd <= (int)ld; nq++) {
		float *sa = malloc((size_t)nq * T * 4), *sb = malloc((size_t)nq * T * 4);
		float *oa = calloc((size_t)nq * hd, 4), *ob = calloc((size_t)nq * hd, 4);
		for (int g = 0; g < nq; g++)
			wf_kern_scalar.attn_scores(K + g * ld, K, ld, hd, T, 0.125f, sa + g * T);
		emu_kern_avx512.attn_scores_grp(K, ld, nq, K16, 1, ld, hd, T, 0.125f, sb, (size_t)T);
		for (int i = 0; i < nq * T; i++)
			if (f2u(sa[i]) != f2u(sb[i]) && fails++ < 10)
				printf("FAIL scores grp nq=%d hd=%d T=%d at %d\n", nq, hd, T, i);
		for (int g = 0; g < nq; g++)
			wf_kern_scalar.attn_mix(sa + g * T, K, ld, hd, T, oa + g * hd);
		emu_kern_avx512.attn_mix_grp(sa, (size_t)T, nq, K16, 1, ld, hd, T, ob, (size_t)hd);
		for (int i = 0; i < nq * hd; i++)
			if (f2u(oa[i]) != f2u(ob[i]) && fails++ < 10)
				printf("FAIL mix grp nq=%d hd=%d T=%d at %d\n", nq, hd, T, i);
		free(sa);
		free(sb);
		free(oa);
		free(ob);
	}
	free(K16);
	free(q);
	free(K);
	free(w);
	free(a);
	free(b);
}

int main(void)
{
	int rows[] = { 1, 3, 4, 5, 9, 17 }, cols[] = { 128, 384, 2176 };
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
			tcase(&emu_kern_avx512, rows[i], cols[k], 1 + (int)(rnd() % 11), 0);
	for (int n = 1; n <= 37; n++)   /* every tile tail */
		tcase(&emu_kern_avx512, 6, 256, n, 0);
	tcase(&emu_kern_avx512, 5, 128 * 40, 5, 1);
	int fc[] = { 0, 1, 31, 32, 33, 100, 2560 };
	for (size_t k = 0; k < sizeof fc / sizeof fc[0]; k++)
		fcase(7, fc[k]);
	q8r_cases(&emu_kern_avx512);
	acase(128, 19);
	acase(64, 37);   /* 16, 8 and 4 keys a step, then tails */
	acase(37, 9);
	acase(160, 3);
	return emu_report();
}
#else
#include <stdio.h>

int main(void)
{
	printf("unsupported: the AVX-512 kernels are x86-64 only\n");
	return 77;
}
#endif
