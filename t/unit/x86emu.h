/*
 * x86emu.h — a plain-C model of the x86 intrinsics the SIMD kernels use
 * (semantics from the Intel intrinsics guide), and the checks the
 * emulated-kernel tests share: a test includes this, then a kernel source
 * under another table name, and compares that table with the scalar
 * oracle bit for bit.  x86-64 only (the kernels' own guards).
 */
#ifndef WF_X86EMU_H
#define WF_X86EMU_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"

/* keep the real intrinsics out: the model below stands in for them */
#define _IMMINTRIN_H_INCLUDED
#define __IMMINTRIN_H

typedef union {
	int8_t b[16]; uint8_t u[16]; int16_t w[8]; int32_t d[4]; float f[4];
} v128;
typedef union {
	int8_t b[32]; uint8_t u[32]; int16_t w[16]; uint16_t uw[16]; int32_t d[8]; float f[8];
	v128 h[2];
} v256;
typedef union {
	int8_t b[64]; uint8_t u[64]; int16_t w[32]; uint16_t uw[32]; int32_t d[16]; float f[16];
	v256 h[2];
} v512;
typedef v128 __m128i;
typedef v128 __m128;
typedef v256 __m256i;
typedef v256 __m256;
typedef v512 __m512i;
typedef v512 __m512;

#define E static inline
#define _MM_HINT_T0 1
#define _MM_HINT_T1 2
E void _mm_prefetch(const char *p, int h) { (void)p; (void)h; }
E v256 _mm256_setzero_si256(void) { v256 r; memset(&r, 0, sizeof r); return r; }
E v512 _mm512_setzero_si512(void) { v512 r; memset(&r, 0, sizeof r); return r; }
E v512 _mm512_setzero_ps(void) { return _mm512_setzero_si512(); }
E v512 _mm512_set1_ps(float f) { v512 r; for (int i = 0; i < 16; i++) r.f[i] = f; return r; }
E v512 _mm512_set1_epi32(int x) { v512 r; for (int i = 0; i < 16; i++) r.d[i] = x; return r; }
E v512 _mm512_sub_epi32(v512 a, v512 b)
{ for (int i = 0; i < 16; i++) a.d[i] = (int32_t)((uint32_t)a.d[i] - (uint32_t)b.d[i]); return a; }
E v512 _mm512_cvtepi32_ps(v512 a) { for (int i = 0; i < 16; i++) a.f[i] = (float)a.d[i]; return a; }
E v512 _mm512_mul_ps(v512 a, v512 b) { for (int i = 0; i < 16; i++) a.f[i] *= b.f[i]; return a; }
E v512 _mm512_div_ps(v512 a, v512 b) { for (int i = 0; i < 16; i++) a.f[i] /= b.f[i]; return a; }
E v256 _mm256_set1_epi8(char c) { v256 r; memset(r.b, c, 32); return r; }
E v512 _mm512_set1_epi8(char c) { v512 r; memset(r.b, c, 64); return r; }
E v256 _mm256_set1_epi16(short c) { v256 r; for (int i = 0; i < 16; i++) r.w[i] = c; return r; }
E v256 _mm256_loadu_si256(const v256 *p) { v256 r; memcpy(&r, p, 32); return r; }
E void _mm256_storeu_si256(v256 *p, v256 a) { memcpy(p, &a, 32); }
E v256 _mm256_xor_si256(v256 a, v256 b) { for (int i = 0; i < 32; i++) a.u[i] ^= b.u[i]; return a; }
E v512 _mm512_zextsi256_si512(v256 a) { v512 r; memset(&r, 0, sizeof r); r.h[0] = a; return r; }
E int _mm512_reduce_add_epi32(v512 a)
{ uint32_t s = 0; for (int i = 0; i < 16; i++) s += (uint32_t)a.d[i]; return (int32_t)s; }
E v512 _mm512_loadu_si512(const void *p) { v512 r; memcpy(&r, p, 64); return r; }
E v512 _mm512_loadu_ps(const float *p) { v512 r; memcpy(r.f, p, 64); return r; }
E void _mm512_storeu_ps(float *p, v512 a) { memcpy(p, a.f, 64); }
E void _mm_storeu_si128(v128 *p, v128 a) { memcpy(p, &a, 16); }
E v128 _mm_loadu_si128(const v128 *p) { v128 r; memcpy(&r, p, 16); return r; }
E v128 _mm_set1_ps(float f) { v128 r; for (int i = 0; i < 4; i++) r.f[i] = f; return r; }
E v128 _mm_set1_epi32(int x) { v128 r; for (int i = 0; i < 4; i++) r.d[i] = x; return r; }
E v128 _mm_sub_epi32(v128 a, v128 b)
{ for (int i = 0; i < 4; i++) a.d[i] = (int32_t)((uint32_t)a.d[i] - (uint32_t)b.d[i]); return a; }
E v128 _mm_cvtepi32_ps(v128 a) { for (int i = 0; i < 4; i++) a.f[i] = (float)a.d[i]; return a; }
E v128 _mm_mul_ps(v128 a, v128 b) { for (int i = 0; i < 4; i++) a.f[i] *= b.f[i]; return a; }
E v128 _mm_div_ps(v128 a, v128 b) { for (int i = 0; i < 4; i++) a.f[i] /= b.f[i]; return a; }
E void _mm_storeu_ps(float *p, v128 a) { memcpy(p, a.f, 16); }
E v128 _mm_loadu_ps(const float *p) { v128 r; memcpy(r.f, p, 16); return r; }
E v128 _mm_slli_epi32(v128 a, int n) { for (int i = 0; i < 4; i++) a.d[i] = (int32_t)((uint32_t)a.d[i] << n); return a; }
E v256 _mm256_add_epi32(v256 a, v256 b)
{ for (int i = 0; i < 8; i++) a.d[i] = (int32_t)((uint32_t)a.d[i] + (uint32_t)b.d[i]); return a; }
E v512 _mm512_add_epi32(v512 a, v512 b)
{ for (int i = 0; i < 16; i++) a.d[i] = (int32_t)((uint32_t)a.d[i] + (uint32_t)b.d[i]); return a; }
E v128 _mm_add_epi32(v128 a, v128 b)
{ for (int i = 0; i < 4; i++) a.d[i] = (int32_t)((uint32_t)a.d[i] + (uint32_t)b.d[i]); return a; }
E v256 _mm256_maddubs_epi16(v256 a, v256 b)
{
	v256 r;
	for (int i = 0; i < 16; i++) {
		int s = a.u[2 * i] * b.b[2 * i] + a.u[2 * i + 1] * b.b[2 * i + 1];
		r.w[i] = (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
	}
	return r;
}
E v256 _mm256_madd_epi16(v256 a, v256 b)
{
	v256 r;
	for (int i = 0; i < 8; i++)
		r.d[i] = (int32_t)((uint32_t)(a.w[2 * i] * b.w[2 * i]) + (uint32_t)(a.w[2 * i + 1] * b.w[2 * i + 1]));
	return r;
}
/* vpdpbusd on n int32 lanes: d[i] += Σ_k u[4i + k]·s[4i + k], wrapping */
static void dpbusd_lanes(int32_t *d, const uint8_t *u, const int8_t *s, int n)
{
	for (int i = 0; i < n; i++) {
		int32_t t = 0;
		for (int k = 0; k < 4; k++)
			t += u[4 * i + k] * s[4 * i + k];
		d[i] = (int32_t)((uint32_t)d[i] + (uint32_t)t);
	}
}
E v512 _mm512_dpbusd_epi32(v512 src, v512 a, v512 b) { dpbusd_lanes(src.d, a.u, b.b, 16); return src; }
E v512 _mm512_and_si512(v512 a, v512 b) { for (int i = 0; i < 64; i++) a.u[i] &= b.u[i]; return a; }
/* arithmetic shift: floor division by 2^n, as the instruction's sign fill */
static void srai_lanes(int32_t *d, unsigned n, int lanes)
{ for (int i = 0; i < lanes; i++) d[i] = (int32_t)floor(d[i] / (double)(1u << n)); }
static void srli16_lanes(uint16_t *w, unsigned n, int lanes)
{ for (int i = 0; i < lanes; i++) w[i] = n > 15 ? 0 : (uint16_t)(w[i] >> n); }
E v512 _mm512_srai_epi32(v512 a, unsigned n) { srai_lanes(a.d, n, 16); return a; }
E v512 _mm512_srli_epi16(v512 a, unsigned n) { srli16_lanes(a.uw, n, 32); return a; }
E v512 _mm512_broadcast_i64x4(v256 a) { v512 r; r.h[0] = a; r.h[1] = a; return r; }
E v256 _mm512_castsi512_si256(v512 a) { return a.h[0]; }
E v256 _mm512_extracti64x4_epi64(v512 a, int i) { return a.h[i & 1]; }
E v128 _mm256_castsi256_si128(v256 a) { return a.h[0]; }
E v128 _mm256_extracti128_si256(v256 a, int i) { return a.h[i & 1]; }
E v256 _mm256_hadd_epi32(v256 a, v256 b)
{
	v256 r;
	for (int h = 0; h < 2; h++) {
		int32_t *x = a.d + 4 * h, *y = b.d + 4 * h, *o = r.d + 4 * h;
		o[0] = (int32_t)((uint32_t)x[0] + (uint32_t)x[1]);
		o[1] = (int32_t)((uint32_t)x[2] + (uint32_t)x[3]);
		o[2] = (int32_t)((uint32_t)y[0] + (uint32_t)y[1]);
		o[3] = (int32_t)((uint32_t)y[2] + (uint32_t)y[3]);
	}
	return r;
}
E v128 _mm_shuffle_epi32(v128 a, int imm)
{ v128 r; for (int i = 0; i < 4; i++) r.d[i] = a.d[(imm >> (2 * i)) & 3]; return r; }
E int _mm_cvtsi128_si32(v128 a) { return a.d[0]; }
E v512 _mm512_cvtph_ps(v256 a)
{ v512 r; for (int i = 0; i < 16; i++) r.f[i] = wf_f16_to_f32(a.uw[i]); return r; }
E v512 _mm512_fmadd_ps(v512 a, v512 b, v512 c)
{ for (int i = 0; i < 16; i++) c.f[i] = fmaf(a.f[i], b.f[i], c.f[i]); return c; }
E v512 _mm512_add_ps(v512 a, v512 b) { for (int i = 0; i < 16; i++) a.f[i] += b.f[i]; return a; }
E v256 _mm256_add_ps(v256 a, v256 b) { for (int i = 0; i < 8; i++) a.f[i] += b.f[i]; return a; }
E v128 _mm_add_ps(v128 a, v128 b) { for (int i = 0; i < 4; i++) a.f[i] += b.f[i]; return a; }
E v128 _mm_add_ss(v128 a, v128 b) { a.f[0] += b.f[0]; return a; }
E v256 _mm512_castps512_ps256(v512 a) { return a.h[0]; }
E v256 _mm512_extractf32x8_ps(v512 a, int i) { return a.h[i & 1]; }
E v128 _mm256_castps256_ps128(v256 a) { return a.h[0]; }
E v128 _mm256_extractf128_ps(v256 a, int i) { return a.h[i & 1]; }
E v128 _mm_movehl_ps(v128 a, v128 b) { v128 r = a; r.f[0] = b.f[2]; r.f[1] = b.f[3]; return r; }
E v128 _mm_movehdup_ps(v128 a) { v128 r = a; r.f[0] = a.f[1]; r.f[2] = a.f[3]; return r; }
E float _mm_cvtss_f32(v128 a) { return a.f[0]; }
/* 128-bit lanes: two picked from a, two from b */
E v512 _mm512_shuffle_f32x4(v512 a, v512 b, int imm)
{
	v512 r;
	for (int l = 0; l < 4; l++)
		memcpy(r.f + 4 * l, (l < 2 ? a : b).f + 4 * ((imm >> (2 * l)) & 3), 16);
	return r;
}
/* within each 128-bit lane: two floats picked from a, two from b */
E v512 _mm512_shuffle_ps(v512 a, v512 b, int imm)
{
	v512 r;
	for (int l = 0; l < 4; l++)
		for (int i = 0; i < 4; i++)
			r.f[4 * l + i] = (i < 2 ? a : b).f[4 * l + ((imm >> (2 * i)) & 3)];
	return r;
}
E v256 _mm256_load_si256(const v256 *p) { return _mm256_loadu_si256(p); }
E v256 _mm256_and_si256(v256 a, v256 b) { for (int i = 0; i < 32; i++) a.u[i] &= b.u[i]; return a; }
E v256 _mm256_srai_epi32(v256 a, unsigned n) { srai_lanes(a.d, n, 8); return a; }
E v256 _mm256_srli_epi16(v256 a, unsigned n) { srli16_lanes(a.uw, n, 16); return a; }
E v256 _mm256_dpbusd_avx_epi32(v256 src, v256 a, v256 b) { dpbusd_lanes(src.d, a.u, b.b, 8); return src; }

/* the kernels' register pins are asm on real vectors */
#define X86_PIN(v) ((void)(v))
#define WF_X86_EMU 1

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static int fails;

/* main's end: the failures, or "ok" */
static int emu_report(void)
{
	if (fails) {
		printf("%d failures\n", fails);
		return 1;
	}
	printf("ok\n");
	return 0;
}

/* A random (or extreme: every weight 1, every activation -128) ternary
 * matrix: wf_tmat_mat and wf_tmat_vec of emu against the scalar kernels
 * over a random row range. */
static void tcase(const struct wf_kern_ops *emu, int rows, int cols, int n, int extreme)
{
	int8_t *t = malloc((size_t)rows * cols), *q = malloc((size_t)n * cols);
	uint8_t *d = aligned_alloc(64, wf_tmat_packed_size(rows, cols) + 64);
	float *a = malloc(sizeof(float) * n * rows), *b = malloc(sizeof(float) * n * rows), s[40];
	for (size_t i = 0; i < (size_t)rows * cols; i++)
		t[i] = extreme ? 1 : (int8_t)(rnd() % 3) - 1;
	for (size_t i = 0; i < (size_t)n * cols; i++)
		q[i] = extreme ? -128 : (int8_t)(rnd() % 256 - 128);
	for (int j = 0; j < n; j++)
		s[j] = 1.0f + (float)(rnd() % 1000) / 7.0f;
	wf_tmat_pack(d, t, rows, cols);
	struct wf_tmat w = { rows, cols, 0.75f, d };
	int r0 = (int)(rnd() % (unsigned)rows), r1 = r0 + (int)(rnd() % (unsigned)(rows - r0 + 1));
	wf_kern_scalar.tmat_mat(&w, q, s, n, a, rows, r0, r1);
	emu->tmat_mat(&w, q, s, n, b, rows, r0, r1);
	for (int j = 0; j < n; j++)
		for (int r = r0; r < r1; r++)
			if (f2u(a[j * rows + r]) != f2u(b[j * rows + r]) && fails++ < 10)
				printf("FAIL mat %dx%d n=%d [%d,%d) token %d row %d\n", rows, cols, n, r0, r1, j, r);
	wf_kern_scalar.tmat_vec(&w, q, s[0], a, r0, r1);
	emu->tmat_vec(&w, q, s[0], b, r0, r1);
	for (int r = 0; r < r1 - r0; r++)
		if (f2u(a[r]) != f2u(b[r]) && fails++ < 10)
			printf("FAIL vec %dx%d [%d,%d) row %d\n", rows, cols, r0, r1, r0 + r);
	free(t);
	free(q);
	free(d);
	free(a);
	free(b);
}

/* WF_Q8R, n tokens (the tiles for n >= 2): each token as the scalar
 * single-token product. */
static void qcase(const struct wf_kern_ops *emu, int rows, int cols, int n)
{
	char *m = malloc(wf_q8r_bytes(rows, cols));
	int8_t *xq = malloc((size_t)n * cols);
	float *x = malloc((size_t)cols * 4), *dx = malloc((size_t)n * 4);
	float *a = malloc((size_t)n * rows * 4), *b = malloc((size_t)n * rows * 4);
	int8_t *q = (int8_t *)m;
	float *d = (float *)(void *)(m + (size_t)rows * cols);
	int32_t *sum = (int32_t *)(void *)(m + (size_t)rows * (cols + 4));
	for (int r = 0; r < rows; r++) {
		sum[r] = 0;
		for (int i = 0; i < cols; i++)
			sum[r] += q[(size_t)r * cols + i] = (int8_t)((int)(rnd() % 255) - 127);
		d[r] = wf_f16_to_f32((uint16_t)(0x2000 + r));
	}
	struct wf_q8r w;
	wf_q8r_bind(&w, m, rows, cols);
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < cols; i++)
			x[i] = (float)(rnd() % 20001) / 1000.0f - 10.0f;
		dx[j] = wf_q8r_quantize(x, cols, xq + (size_t)j * cols);
		wf_kern_scalar.q8r_matvec(&w, xq + (size_t)j * cols, dx[j], a + (size_t)j * rows, 0, rows);
	}
	if (n == 1)
		emu->q8r_matvec(&w, xq, dx[0], b, 0, rows);
	else
		emu->q8r_matmat(&w, xq, (size_t)cols, dx, n, b, (size_t)rows, 0, rows);
	for (int i = 0; i < n * rows; i++)
		if (f2u(a[i]) != f2u(b[i]) && fails++ < 10)
			printf("FAIL q8r %dx%d n=%d token %d row %d\n", rows, cols, n, i / rows, i % rows);
	free(m);
	free(xq);
	free(x);
	free(dx);
	free(a);
	free(b);
}

/* The WF_Q8R cases both emulated tests run: one token (an odd block count,
 * rows wider than a stack buffer), tiles and their tails, and the 64-row
 * blocks taken a token tile at a time. */
static void q8r_cases(const struct wf_kern_ops *emu)
{
	qcase(emu, 5, 96, 1);
	qcase(emu, 7, 2592, 1);
	qcase(emu, 5, 96, 2);
	qcase(emu, 9, 2560, 7);
	qcase(emu, 4, 64, 19);
	qcase(emu, 7, 160, 1);
	qcase(emu, 3, 2560, 1);
	qcase(emu, 133, 2560, 16);
}
#endif
