/*
 * dispatch — pick the kernel implementation once, from CPU features or a
 * forced name (argument, else $WF_KERNELS), and route the public calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "kern.h"

static const struct wf_kern_ops *ops = &wf_kern_scalar;

#if defined(__x86_64__)
static int has_f16c(void)
{
	unsigned a, b, c, d;
	return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

static int cpu_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	       __builtin_cpu_supports("bmi2") && has_f16c();
}

/* AVX-VNNI (VEX vpdpbusd on ymm): CPUID.(EAX=7, ECX=1):EAX bit 4. */
static int cpu_avxvnni(void)
{
	unsigned a, b, c, d;
	return cpu_avx2() && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
}

static int cpu_avx512(void)
{
	return cpu_avx2() && __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
	       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
}
#endif

/* The best variant this CPU runs. */
static const struct wf_kern_ops *best(void)
{
#if defined(__x86_64__)
	if (cpu_avx512())
		return &wf_kern_avx512;
	if (cpu_avxvnni())
		return &wf_kern_avxvnni;
	if (cpu_avx2())
		return &wf_kern_avx2;
#elif defined(__aarch64__)
	return &wf_kern_neon;
#endif
	return &wf_kern_scalar;
}

int wf_output_env(char *err, size_t errlen)
{
	const char *env = getenv("WF_OUTPUT");
	if (!env || !*env)
		return 0;
	if (!strcmp(env, "q8_0"))
		return 1;
	if (!strcmp(env, "f16"))
		return -1;
	snprintf(err, errlen, "WF_OUTPUT: '%.32s%s' is not q8_0 or f16", env, strlen(env) > 32 ? "..." : "");
	return -2;
}

int wf_kernels_init(const char *name, char *err, size_t errlen)
{
	if (!name || !strcmp(name, "auto")) {
		name = getenv("WF_KERNELS");
		if (name && (!*name || !strcmp(name, "auto")))
			name = NULL;
	}
	if (!name) {
		ops = best();
		return 0;
	}
	const struct wf_kern_ops *o = NULL;
	int ok = 0;
	if (!strcmp(name, "scalar")) {
		o = &wf_kern_scalar;
		ok = 1;
	}
#if defined(__x86_64__)
	else if (!strcmp(name, "avx2")) {
		o = &wf_kern_avx2;
		ok = cpu_avx2();
	} else if (!strcmp(name, "avxvnni")) {
		o = &wf_kern_avxvnni;
		ok = cpu_avxvnni();
	} else if (!strcmp(name, "avx512")) {
		o = &wf_kern_avx512;
		ok = cpu_avx512();
	}
#elif defined(__aarch64__)
	else if (!strcmp(name, "neon")) {
		o = &wf_kern_neon;
		ok = 1;
	}
#endif
	if (!o) {
		snprintf(err, errlen, "kernels '%s': unknown or not built for this architecture "
		         "(expected auto, scalar, avx2, avxvnni, avx512 or neon)", name);
		return -1;
	}
	if (!ok) {
		snprintf(err, errlen, "kernels '%s': this CPU lacks the instructions", name);
		return -1;
	}
	ops = o;
	return 0;
}

const char *wf_kernels_name(void)
{
	return ops->name;
}

void wf_tmat_vec(const struct wf_tmat *w, const int8_t *q, float s, float *out, int r0, int r1)
{
	ops->tmat_vec(w, q, s, out, r0, r1);
}

void wf_tmat_mat(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
                 float *out, int ldo, int r0, int r1)
{
	ops->tmat_mat(w, q, s, n, out, ldo, r0, r1);
}

float wf_quantize_i8(const float *x, int n, int8_t *q, int32_t *sum)
{
	return ops->quantize(x, n, q, sum);
}

void wf_f16_matvec(const uint16_t *w, int cols, const float *x, float *out, int r0, int r1)
{
	ops->f16_matvec(w, cols, x, out, r0, r1);
}

void wf_q8_0_matvec(const uint8_t *w, int cols, const uint8_t *xq, float *out, int r0, int r1)
{
	ops->q8_0_matvec(w, cols, xq, out, r0, r1);
}

void wf_q8_0_from_f16(const uint16_t *w, int cols, uint8_t *dst, int r0, int r1)
{
	ops->q8_0_from_f16(w, cols, dst, r0, r1);
}

void wf_attn_scores(const float *q, const float *K, size_t ldk, int hd, int T, float scale, float *s)
{
	ops->attn_scores(q, K, ldk, hd, T, scale, s);
}

void wf_attn_mix(const float *w, const float *V, size_t ldv, int hd, int T, float *o)
{
	ops->attn_mix(w, V, ldv, hd, T, o);
}

void wf_softmax(float *s, int T)
{
	ops->softmax(s, T);
}

void wf_f16_round(float *x, int n)
{
	ops->f16_round(x, n);
}

void wf_attn_scores_f16(const float *q, const uint16_t *K, size_t ldk, int hd, int T, float scale, float *s)
{
	ops->attn_scores_f16(q, K, ldk, hd, T, scale, s);
}

void wf_attn_mix_f16(const float *w, const uint16_t *V, size_t ldv, int hd, int T, float *o)
{
	ops->attn_mix_f16(w, V, ldv, hd, T, o);
}

void wf_f16_from_f32(const float *x, int n, uint16_t *h)
{
	ops->f16_from_f32(x, n, h);
}

void wf_attn_scores_grp(const float *q, size_t ldq, int nq, const void *K, int f16, size_t ldk, int hd, int T,
                        float scale, float *s, size_t lds)
{
	if (ops->attn_scores_grp) {
		ops->attn_scores_grp(q, ldq, nq, K, f16, ldk, hd, T, scale, s, lds);
		return;
	}
	for (int g = 0; g < nq; g++) {
		if (f16)
			ops->attn_scores_f16(q + g * ldq, K, ldk, hd, T, scale, s + g * lds);
		else
			ops->attn_scores(q + g * ldq, K, ldk, hd, T, scale, s + g * lds);
	}
}

void wf_attn_mix_grp(const float *w, size_t ldw, int nq, const void *V, int f16, size_t ldv, int hd, int T,
                     float *o, size_t ldo)
{
	if (ops->attn_mix_grp) {
		ops->attn_mix_grp(w, ldw, nq, V, f16, ldv, hd, T, o, ldo);
		return;
	}
	for (int g = 0; g < nq; g++) {
		if (f16)
			ops->attn_mix_f16(w + g * ldw, V, ldv, hd, T, o + g * ldo);
		else
			ops->attn_mix(w + g * ldw, V, ldv, hd, T, o + g * ldo);
	}
}

/* Rows per block when a variant has no tiles: 64 x 2560 bytes, in L2. */
#define Q8_ROWS 64

void wf_q8r_matmat(const struct wf_q8r *w, const int8_t *x, size_t ldx, const float *dx, int n,
                   float *out, size_t ldo, int r0, int r1)
{
	if (n == 1) {
		ops->q8r_matvec(w, x, dx[0], out, r0, r1);
		return;
	}
	if (ops->q8r_matmat && w->cols <= WF_Q8R_TILE_COLS) {
		ops->q8r_matmat(w, x, ldx, dx, n, out, ldo, r0, r1);
		return;
	}
	for (int b0 = r0; b0 < r1; b0 += Q8_ROWS) {
		int b1 = r1 - b0 < Q8_ROWS ? r1 : b0 + Q8_ROWS;
		for (int j = 0; j < n; j++)
			ops->q8r_matvec(w, x + (size_t)j * ldx, dx[j], out + (size_t)j * ldo + (b0 - r0), b0, b1);
	}
}

void wf_q8r_from_f16(const uint16_t *w, int cols, int8_t *q, float *d, int32_t *sum, int r0, int r1)
{
	ops->q8r_from_f16(w, cols, q, d, sum, r0, r1);
}
