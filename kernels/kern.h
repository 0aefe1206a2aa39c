/*
 * kern.h — private to kernels/: the table each implementation fills in, and
 * the small pieces of the packed layout all of them share.
 */
#ifndef WF_KERN_H
#define WF_KERN_H

#include "kernels.h"

/* The widest rows a variant's q8r_matmat (and the single-token kernels
 * holding shifted activations on the stack) take. */
#define WF_Q8R_TILE_COLS 4096

/* The 8-bit output tiles' token chunks wider than this (about half of a
 * 48 KB L1) go a token tile at a time over blocks of rows in L2, so that
 * a tile's activations stay in L1 beside its rows. */
#define WF_Q8R_L1_BYTES 24576

struct wf_kern_ops {
	const char *name;
	void (*tmat_vec)(const struct wf_tmat *w, const int8_t *q, float s, float *out,
	                 int r0, int r1);
	void (*tmat_mat)(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
	                 float *out, int ldo, int r0, int r1);
	void (*f16_matvec)(const uint16_t *w, int cols, const float *x, float *out,
	                   int r0, int r1);
	float (*quantize)(const float *x, int n, int8_t *q, int32_t *sum);
	void (*q8_0_matvec)(const uint8_t *w, int cols, const uint8_t *xq, float *out,
	                    int r0, int r1);
	void (*q8_0_from_f16)(const uint16_t *w, int cols, uint8_t *dst, int r0, int r1);
	/* one token of wf_q8r_matmat */
	void (*q8r_matvec)(const struct wf_q8r *w, const int8_t *x, float dx, float *out, int r0, int r1);
	void (*q8r_from_f16)(const uint16_t *w, int cols, int8_t *q, float *d, int32_t *sum, int r0, int r1);
	void (*attn_scores)(const float *q, const float *K, size_t ldk, int hd, int T, float scale,
	                    float *s);
	void (*attn_mix)(const float *w, const float *V, size_t ldv, int hd, int T, float *o);
	/* rows of at most WF_Q8R_TILE_COLS (its activations go on the stack);
	 * NULL, or wider rows: q8r_matvec per token over row blocks */
	void (*q8r_matmat)(const struct wf_q8r *w, const int8_t *x, size_t ldx, const float *dx, int n,
	                   float *out, size_t ldo, int r0, int r1);
	void (*softmax)(float *s, int T);
	void (*f16_round)(float *x, int n);
	void (*attn_scores_f16)(const float *q, const uint16_t *K, size_t ldk, int hd, int T, float scale,
	                        float *s);
	void (*attn_mix_f16)(const float *w, const uint16_t *V, size_t ldv, int hd, int T, float *o);
	void (*f16_from_f32)(const float *x, int n, uint16_t *h);
	/* NULL: the single-query kernels, query by query */
	void (*attn_scores_grp)(const float *q, size_t ldq, int nq, const void *K, int f16, size_t ldk, int hd,
	                        int T, float scale, float *s, size_t lds);
	void (*attn_mix_grp)(const float *w, size_t ldw, int nq, const void *V, int f16, size_t ldv, int hd, int T,
	                     float *o, size_t ldo);
};

/* The scalar Q8_0 product, also used by variants without their own. */
void wf_q8_0_matvec_scalar(const uint8_t *w, int cols, const uint8_t *xq, float *out,
                           int r0, int r1);
void wf_q8_0_from_f16_scalar(const uint16_t *w, int cols, uint8_t *dst, int r0, int r1);
void wf_q8r_matvec_scalar(const struct wf_q8r *w, const int8_t *x, float dx, float *out, int r0, int r1);
void wf_q8r_from_f16_scalar(const uint16_t *w, int cols, int8_t *q, float *d, int32_t *sum, int r0, int r1);

/* The scalar attention, also used by variants without their own. */
void wf_attn_scores_scalar(const float *q, const float *K, size_t ldk, int hd, int T, float scale,
                           float *s);
void wf_attn_mix_scalar(const float *w, const float *V, size_t ldv, int hd, int T, float *o);
void wf_softmax_scalar(float *s, int T);
void wf_f16_round_scalar(float *x, int n);
void wf_attn_scores_f16_scalar(const float *q, const uint16_t *K, size_t ldk, int hd, int T, float scale,
                               float *s);
void wf_attn_mix_f16_scalar(const float *w, const uint16_t *V, size_t ldv, int hd, int T, float *o);
void wf_f16_from_f32_scalar(const float *x, int n, uint16_t *h);

/* The scalar quantiser, also used by variants without their own. */
float wf_quantize_i8_scalar(const float *x, int n, int8_t *q, int32_t *sum);

/*
 * One activation: q = clamp(round_half_even(v), -128, 127) with NaN -> 0.
 * For |v| <= 128, v + 1.5·2^23 lands in [2^23, 2^24) where the float
 * spacing is 1, so the add rounds v to an integer, ties to even (the
 * default rounding mode), and the subtract is exact — nearbyintf on every
 * target, and what cvtps2dq does in SIMD.
 */
static inline int8_t wf_q8(float v)
{
	if (v != v)
		v = 0;
	else if (v > 127.0f)
		v = 127.0f;
	else if (v < -128.0f)
		v = -128.0f;
	return (int8_t)((v + 12582912.0f) - 12582912.0f);
}

/* s = (float)(127 / max(1e-5, m)) with m = max |x_i| taken in float: the
 * float->double conversion is exact and monotonic, so this equals the
 * reference's max over doubles. */
static inline float wf_q8_scale(float m)
{
	double d = m > 1e-5 ? (double)m : 1e-5;
	return (float)(127 / d);
}

/* WF_Q8R's stored scale d of a row (or token) whose max |x| is m
 * (kernels.h). */
static inline float wf_q8r_d(float m)
{
	return wf_f16_to_f32(wf_f32_to_f16(m / 127.0f));
}

extern const struct wf_kern_ops wf_kern_scalar;
#if defined(__x86_64__)
extern const struct wf_kern_ops wf_kern_avx2, wf_kern_avx512, wf_kern_avxvnni;
void wf_tmat_mat_avx2(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
                      float *out, int ldo, int r0, int r1);
/* The AVX2 prefill with another 2-row x 6-token tile over the unpacked
 * codes (tmat_avx2.c: acc[t·WF_TILE26_LDA + 2h + i] += Σ code(row 2h + i)·q_t
 * over ns steps of 32 columns, at most 64 steps). */
#define WF_TILE26_LDA 64
typedef void (*wf_tile26_fn)(const uint8_t *buf, int h, const int8_t *const q[6], int ns, int32_t *acc);
void wf_tmat_mat_avx2_tiles(const struct wf_tmat *w, const int8_t *q, const float *s, int n, float *out,
                            int ldo, int r0, int r1, wf_tile26_fn tile);
void wf_f16_matvec_avx2(const uint16_t *w, int cols, const float *x, float *out, int r0, int r1);
float wf_quantize_avx2(const float *x, int n, int8_t *q, int32_t *sum);
void wf_q8_0_matvec_avx2(const uint8_t *w, int cols, const uint8_t *xq, float *out,
                         int r0, int r1);
void wf_q8_0_from_f16_avx2(const uint16_t *w, int cols, uint8_t *dst, int r0, int r1);
void wf_q8r_matvec_avx2(const struct wf_q8r *w, const int8_t *x, float dx, float *out, int r0, int r1);
void wf_q8r_from_f16_avx2(const uint16_t *w, int cols, int8_t *q, float *d, int32_t *sum, int r0, int r1);
void wf_attn_scores_avx2(const float *q, const float *K, size_t ldk, int hd, int T, float scale,
                         float *s);
void wf_attn_mix_avx2(const float *w, const float *V, size_t ldv, int hd, int T, float *o);
void wf_softmax_avx2(float *s, int T);
void wf_f16_round_avx2(float *x, int n);
void wf_attn_scores_f16_avx2(const float *q, const uint16_t *K, size_t ldk, int hd, int T, float scale,
                             float *s);
void wf_attn_mix_f16_avx2(const float *w, const uint16_t *V, size_t ldv, int hd, int T, float *o);
void wf_f16_from_f32_avx2(const float *x, int n, uint16_t *h);
void wf_attn_scores_grp_avx2(const float *q, size_t ldq, int nq, const void *K, int f16, size_t ldk, int hd,
                             int T, float scale, float *s, size_t lds);
void wf_attn_mix_grp_avx2(const float *w, size_t ldw, int nq, const void *V, int f16, size_t ldv, int hd, int T,
                          float *o, size_t ldo);
#endif
#if defined(__aarch64__)
extern const struct wf_kern_ops wf_kern_neon;
#endif

/* The fold of kernels.h's 16 attention partials: p[l] += p[l + h] for
 * h = 8, 4, 2, 1; the result is p[0]. */
static inline float wf_fold16(float p[16])
{
	for (int h = 8; h >= 1; h /= 2)
		for (int l = 0; l < h; l++)
			p[l] += p[l + h];
	return p[0];
}

/* Element i of a KV cache row: F32, or F16 bits widened (f16 set). */
static inline float wf_kv_elt(const void *K, size_t i, int f16)
{
	return f16 ? wf_f16_to_f32(((const uint16_t *)K)[i]) : ((const float *)K)[i];
}

/* wf_attn_mix (f16: wf_attn_mix_f16) for columns [i0, hd) one at a time
 * (the variants' tails). */
static inline void wf_attn_mix_cols(const float *w, const void *V, size_t ldv, int i0, int hd, int T,
                                    float *o, int f16)
{
	for (int i = i0; i < hd; i++) {
		float a = o[i];
		for (int t = 0; t < T; t++)
			a = __builtin_fmaf(w[t], wf_kv_elt(V, (size_t)t * ldv + i, f16), a);
		o[i] = a;
	}
}

/*
 * exp(x) for a number x <= 0, not NaN (kernels.h wf_softmax), each step one IEEE operation
 * that the SIMD variants repeat lane for lane:
 *   x < −87: 0 (below 2^−125.5, nothing next to the maximum's e = 1);
 *   n = round_half_even(x·log2 e) by the 1.5·2^23 add, so −126 <= n <= 0;
 *   r = x − n·ln 2 by two FMAs with ln 2 split in a float and its error
 *   (|r| <= 0.35); p = Σ_{k<=7} r^k / k! by Horner with FMAs (truncation
 *   below 6e-9 relative); e = p · 2^n (2^n normal; the one rounding of the
 *   product matters only where it is subnormal).
 */
#define WF_EXP_LOG2E 1.44269504f
#define WF_EXP_LN2HI 0.693147182f      /* float(ln 2) */
#define WF_EXP_LN2LO -1.90465430e-9f   /* ln 2 − float(ln 2) */
#define WF_EXP_MIN -87.0f
static const float wf_exp_c[8] = { 1.0f, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120,
                                  1.0f / 720, 1.0f / 5040 };

static inline float wf_exp_le0(float x)
{
	if (x < WF_EXP_MIN)
		return 0;
	float t = x * WF_EXP_LOG2E;
	t = t + 12582912.0f;
	float n = t - 12582912.0f;
	float r = __builtin_fmaf(-n, WF_EXP_LN2HI, x);
	r = __builtin_fmaf(-n, WF_EXP_LN2LO, r);
	float p = wf_exp_c[7];
	for (int k = 6; k >= 0; k--)
		p = __builtin_fmaf(p, r, wf_exp_c[k]);
	union { uint32_t u; float f; } e = { (uint32_t)((int)n + 127) << 23 };
	return p * e.f;
}

/* wf_softmax's output for inputs with a NaN or an infinity. */
static inline void wf_softmax_nan(float *s, int T)
{
	union { uint32_t u; float f; } q = { 0x7fc00000u };
	for (int t = 0; t < T; t++)
		s[t] = q.f;
}

/* Bytes of one 4-row x 128-column tile. */
#define WF_TILE_BYTES 128

/* The tile of row group g, column block b (nb = cols / 128 blocks). */
static inline const uint8_t *wf_tile(const struct wf_tmat *w, int g, int b)
{
	int nb = w->cols / WF_TMAT_COL_ALIGN;
	return w->data + ((size_t)g * nb + b) * WF_TILE_BYTES;
}

/* The one place the float epilogue is written: (float)dot / s * s_W. */
static inline float wf_tmat_out(int32_t dot, float s, float sw)
{
	float v = (float)dot / s;
	return v * sw;
}

#endif
