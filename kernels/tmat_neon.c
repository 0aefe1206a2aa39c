/*
 * tmat_neon — aarch64 NEON kernels.  A row's 32-byte block is two 16-byte
 * halves; (w >> 2k) & 3 are the codes c = t + 1 of 16 consecutive columns.
 * With the dot-product extension, sdot accumulates c·q in int32; without
 * it, smull/smlal pairs (each 16-bit lane ≤ 2·2·128 in magnitude) are
 * widened into int32 by sadalp.  Σ t·q = Σ c·q − Σ q.
 * Only stddef/stdint/arm_neon are included, so a freestanding syntax
 * check works without an aarch64 libc.
 */
#include "kern.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

static int32_t sum_i8(const int8_t *q, int n)
{
	int32x4_t acc = vdupq_n_s32(0);
	for (int i = 0; i < n; i += 16)
		acc = vpadalq_s16(acc, vpaddlq_s8(vld1q_s8(q + i)));
	return vaddvq_s32(acc);
}

static inline int32x4_t dot16(int32x4_t acc, int8x16_t c, int8x16_t qv)
{
#if defined(__ARM_FEATURE_DOTPROD)
	return vdotq_s32(acc, c, qv);
#else
	int16x8_t p = vmull_s8(vget_low_s8(c), vget_low_s8(qv));
	p = vmlal_high_s8(p, c, qv);
	return vpadalq_s16(acc, p);
#endif
}

/* Σ c·q for the 4 rows of group g and one token into dot[4]. */
static void group_dot(const struct wf_tmat *w, int g, const int8_t *q, int32_t dot[4])
{
	const uint8x16_t m3 = vdupq_n_u8(3);
	const int nb = w->cols / WF_TMAT_COL_ALIGN;
	const uint8_t *tile = wf_tile(w, g, 0);
	int32x4_t acc[4];
	for (int k = 0; k < 4; k++)
		acc[k] = vdupq_n_s32(0);
	for (int b = 0; b < nb; b++, tile += WF_TILE_BYTES) {
		const int8_t *qb = q + 128 * b;
		for (int k = 0; k < 4; k++)
			for (int h = 0; h < 2; h++) {
				uint8x16_t wv = vld1q_u8(tile + 32 * k + 16 * h);
				int8x16_t c0 = vreinterpretq_s8_u8(vandq_u8(wv, m3));
				int8x16_t c1 = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(wv, 2), m3));
				int8x16_t c2 = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(wv, 4), m3));
				int8x16_t c3 = vreinterpretq_s8_u8(vshrq_n_u8(wv, 6));
				acc[k] = dot16(acc[k], c0, vld1q_s8(qb + 16 * h));
				acc[k] = dot16(acc[k], c1, vld1q_s8(qb + 32 + 16 * h));
				acc[k] = dot16(acc[k], c2, vld1q_s8(qb + 64 + 16 * h));
				acc[k] = dot16(acc[k], c3, vld1q_s8(qb + 96 + 16 * h));
			}
	}
	for (int k = 0; k < 4; k++)
		dot[k] = vaddvq_s32(acc[k]);
}

static void neon_tmat_vec(const struct wf_tmat *w, const int8_t *q, float s, float *out,
                          int r0, int r1)
{
	if (r0 >= r1)
		return;
	int32_t sq = sum_i8(q, w->cols);
	for (int g = r0 / 4; g * 4 < r1; g++) {
		int32_t dot[4];
		group_dot(w, g, q, dot);
		for (int k = 0; k < 4; k++) {
			int r = 4 * g + k;
			if (r >= r0 && r < r1)
				out[r - r0] = wf_tmat_out(dot[k] - sq, s, w->scale);
		}
	}
}

/* Row group outer, tokens inner: the group's weights stay in L1. */
static void neon_tmat_mat(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
                          float *out, int ldo, int r0, int r1)
{
	if (r0 >= r1)
		return;
	const size_t cols = (size_t)w->cols;
	for (int g = r0 / 4; g * 4 < r1; g++)
		for (int j = 0; j < n; j++) {
			const int8_t *qj = q + j * cols;
			int32_t dot[4], sq = sum_i8(qj, w->cols);
			group_dot(w, g, qj, dot);
			for (int k = 0; k < 4; k++) {
				int r = 4 * g + k;
				if (r >= r0 && r < r1)
					out[(size_t)j * ldo + r] = wf_tmat_out(dot[k] - sq, s[j], w->scale);
			}
		}
}

/* 32 lanes as 8 vectors of 4 (v[i] = lanes 4i..4i+3); fold order as
 * kernels.h fixes it. */
static void neon_f16_matvec(const uint16_t *w, int cols, const float *x, float *out,
                            int r0, int r1)
{
	int cv = cols & ~31;
	for (int r = r0; r < r1; r++) {
		const uint16_t *row = w + (size_t)r * cols;
		float32x4_t v[8];
		for (int l = 0; l < 8; l++)
			v[l] = vdupq_n_f32(0);
		for (int i = 0; i < cv; i += 32)
			for (int l = 0; l < 8; l++) {
				float32x4_t wf = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(row + i + 4 * l)));
				v[l] = vfmaq_f32(v[l], wf, vld1q_f32(x + i + 4 * l));
			}
		float p[32];
		for (int l = 0; l < 8; l++)
			vst1q_f32(p + 4 * l, v[l]);
		for (int i = cv; i < cols; i++)
			p[i % 32] = __builtin_fmaf(wf_f16_to_f32(row[i]), x[i], p[i % 32]);
		for (int l = 0; l < 4; l++)
			v[l] = vaddq_f32(vld1q_f32(p + 4 * l), vld1q_f32(p + 16 + 4 * l));
		v[0] = vaddq_f32(v[0], v[2]);
		v[1] = vaddq_f32(v[1], v[3]);
		v[0] = vaddq_f32(v[0], v[1]);
		float32x2_t h = vadd_f32(vget_low_f32(v[0]), vget_high_f32(v[0]));
		out[r - r0] = vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
	}
}

const struct wf_kern_ops wf_kern_neon = {
	"neon", neon_tmat_vec, neon_tmat_mat, neon_f16_matvec, wf_quantize_i8_scalar,
	wf_q8_0_matvec_scalar, wf_q8_0_from_f16_scalar, wf_q8r_matvec_scalar,
	wf_q8r_from_f16_scalar, wf_attn_scores_scalar, wf_attn_mix_scalar, NULL,
	wf_softmax_scalar, wf_f16_round_scalar, wf_attn_scores_f16_scalar, wf_attn_mix_f16_scalar,
	wf_f16_from_f32_scalar, NULL, NULL,
};
#endif
