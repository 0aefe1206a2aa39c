/*
 * scalar — the packed layout (pack/unpack), activation quantisation and the
 * portable reference kernels: the oracle every SIMD variant must match bit
 * for bit.  Written for clarity, not speed.
 */
#include <math.h>
#include <string.h>

#include "kern.h"

size_t wf_tmat_packed_size(int rows, int cols)
{
	size_t groups = ((size_t)rows + WF_TMAT_ROW_GROUP - 1) / WF_TMAT_ROW_GROUP;
	return groups * WF_TMAT_ROW_GROUP * ((size_t)cols / 4);
}

void wf_tmat_pack(uint8_t *dst, const int8_t *t, int rows, int cols)
{
	int nb = cols / WF_TMAT_COL_ALIGN, groups = (rows + WF_TMAT_ROW_GROUP - 1) / WF_TMAT_ROW_GROUP;
	for (int g = 0; g < groups; g++)
		for (int b = 0; b < nb; b++)
			for (int k = 0; k < WF_TMAT_ROW_GROUP; k++) {
				int r = g * WF_TMAT_ROW_GROUP + k;
				uint8_t *d = dst + ((size_t)g * nb + b) * WF_TILE_BYTES + 32 * k;
				if (r >= rows) {   /* padding: code 1 (t = 0) everywhere */
					memset(d, 0x55, 32);
					continue;
				}
				const int8_t *src = t + (size_t)r * cols + 128 * b;
				for (int j = 0; j < 32; j++)
					d[j] = (uint8_t)(((unsigned)(src[j] + 1) & 3) |
					                 ((unsigned)(src[32 + j] + 1) & 3) << 2 |
					                 ((unsigned)(src[64 + j] + 1) & 3) << 4 |
					                 ((unsigned)(src[96 + j] + 1) & 3) << 6);
			}
}

void wf_tmat_pack_codes(uint8_t *dst, const uint8_t *codes, int rows, int cols)
{
	int nb = cols / WF_TMAT_COL_ALIGN, groups = (rows + WF_TMAT_ROW_GROUP - 1) / WF_TMAT_ROW_GROUP;
	for (int g = 0; g < groups; g++)
		for (int b = 0; b < nb; b++)
			for (int k = 0; k < WF_TMAT_ROW_GROUP; k++) {
				int r = g * WF_TMAT_ROW_GROUP + k;
				uint8_t *d = dst + ((size_t)g * nb + b) * WF_TILE_BYTES + 32 * k;
				if (r >= rows)
					memset(d, 0x55, 32);
				else
					memcpy(d, codes + (size_t)r * (cols / 4) + 32 * b, 32);
			}
}

void wf_tmat_unpack_row(const struct wf_tmat *w, int r, int8_t *t)
{
	int nb = w->cols / WF_TMAT_COL_ALIGN;
	for (int b = 0; b < nb; b++) {
		const uint8_t *p = wf_tile(w, r / WF_TMAT_ROW_GROUP, b) + 32 * (r % WF_TMAT_ROW_GROUP);
		for (int j = 0; j < 32; j++)
			for (int k = 0; k < 4; k++)
				t[128 * b + 32 * k + j] = (int8_t)(((p[j] >> (2 * k)) & 3) - 1);
	}
}

/* bitnet.cpp quantize_row_i8_s (see wf_q8 and wf_q8_scale in kern.h). */
float wf_quantize_i8_scalar(const float *x, int n, int8_t *q, int32_t *sum)
{
	float m = 0;
	for (int i = 0; i < n; i++) {
		float a = fabsf(x[i]);
		if (a > m)   /* NaN never compares greater: ignored */
			m = a;
	}
	float s = wf_q8_scale(m);
	int32_t acc = 0;
	for (int i = 0; i < n; i++) {
		q[i] = wf_q8(x[i] * s);
		acc += q[i];
	}
	if (sum)
		*sum = acc;
	return s;
}

/* Σ t·q of row r, straight from the layout definition. */
static int32_t row_dot(const struct wf_tmat *w, int r, const int8_t *q)
{
	int nb = w->cols / WF_TMAT_COL_ALIGN;
	int32_t dot = 0;
	for (int b = 0; b < nb; b++) {
		const uint8_t *p = wf_tile(w, r / WF_TMAT_ROW_GROUP, b) + 32 * (r % WF_TMAT_ROW_GROUP);
		const int8_t *qb = q + 128 * b;
		for (int j = 0; j < 32; j++)
			for (int k = 0; k < 4; k++)
				dot += (((p[j] >> (2 * k)) & 3) - 1) * qb[32 * k + j];
	}
	return dot;
}

static void scalar_tmat_vec(const struct wf_tmat *w, const int8_t *q, float s, float *out,
                            int r0, int r1)
{
	for (int r = r0; r < r1; r++)
		out[r - r0] = wf_tmat_out(row_dot(w, r, q), s, w->scale);
}

static void scalar_tmat_mat(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
                            float *out, int ldo, int r0, int r1)
{
	for (int j = 0; j < n; j++)
		for (int r = r0; r < r1; r++)
			out[(size_t)j * ldo + r] =
			    wf_tmat_out(row_dot(w, r, q + (size_t)j * w->cols), s[j], w->scale);
}

/* The order kernels.h fixes: 32 lanes of fmaf, then fold halves. */
static void scalar_f16_matvec(const uint16_t *w, int cols, const float *x, float *out,
                              int r0, int r1)
{
	for (int r = r0; r < r1; r++) {
		const uint16_t *row = w + (size_t)r * cols;
		float p[32] = {0};
		for (int i = 0; i < cols; i++)
			p[i % 32] = fmaf(wf_f16_to_f32(row[i]), x[i], p[i % 32]);
		for (int h = 16; h >= 1; h /= 2)
			for (int l = 0; l < h; l++)
				p[l] += p[l + h];
		out[r - r0] = p[0];
	}
}

static void attn_scores_any(const float *q, const void *K, size_t ldk, int hd, int T, float scale,
                            float *s, int f16)
{
	for (int t = 0; t < T; t++) {
		float p[16] = {0};
		for (int i = 0; i < hd; i++)
			p[i % 16] = fmaf(q[i], wf_kv_elt(K, (size_t)t * ldk + (size_t)i, f16), p[i % 16]);
		s[t] = wf_fold16(p) * scale;
	}
}

void wf_attn_scores_scalar(const float *q, const float *K, size_t ldk, int hd, int T, float scale,
                           float *s)
{
	attn_scores_any(q, K, ldk, hd, T, scale, s, 0);
}

void wf_attn_scores_f16_scalar(const float *q, const uint16_t *K, size_t ldk, int hd, int T, float scale,
                               float *s)
{
	attn_scores_any(q, K, ldk, hd, T, scale, s, 1);
}

void wf_attn_mix_scalar(const float *w, const float *V, size_t ldv, int hd, int T, float *o)
{
	wf_attn_mix_cols(w, V, ldv, 0, hd, T, o, 0);
}

void wf_attn_mix_f16_scalar(const float *w, const uint16_t *V, size_t ldv, int hd, int T, float *o)
{
	wf_attn_mix_cols(w, V, ldv, 0, hd, T, o, 1);
}

void wf_f16_from_f32_scalar(const float *x, int n, uint16_t *h)
{
	for (int i = 0; i < n; i++)
		h[i] = wf_f32_to_f16(x[i]);
}

void wf_softmax_scalar(float *s, int T)
{
	float m = s[0], p[16] = {0};
	int bad = 0;
	for (int t = 0; t < T; t++) {
		bad |= !(s[t] - s[t] == 0);   /* NaN or infinite */
		if (s[t] > m)
			m = s[t];
	}
	if (bad) {
		wf_softmax_nan(s, T);
		return;
	}
	for (int t = 0; t < T; t++) {
		s[t] = wf_exp_le0(s[t] - m);
		p[t % 16] += s[t];
	}
	float inv = 1.0f / wf_fold16(p);
	for (int t = 0; t < T; t++)
		s[t] *= inv;
}

size_t wf_q8_0_size(int n)
{
	return (size_t)(n / WF_Q8_0_BLOCK) * WF_Q8_0_BYTES;
}

/* n values (a multiple of 32) as Q8_0 blocks, all with the absmax m. */
static void q8_0_blocks(const float *x, int n, float m, uint8_t *dst)
{
	float id = m > 0 ? 127.0f / m : 0.0f;
	uint16_t d = wf_f32_to_f16(m / 127.0f);
	for (int b = 0; b < n / WF_Q8_0_BLOCK; b++, x += WF_Q8_0_BLOCK, dst += WF_Q8_0_BYTES) {
		memcpy(dst, &d, 2);
		for (int i = 0; i < WF_Q8_0_BLOCK; i++)
			dst[2 + i] = (uint8_t)wf_q8(x[i] * id);
	}
}

static float absmax(const float *x, int n)
{
	float m = 0;
	for (int i = 0; i < n; i++) {
		float a = fabsf(x[i]);
		if (a > m)   /* NaN never compares greater: ignored */
			m = a;
	}
	return m;
}

void wf_q8_0_quantize(const float *x, int n, uint8_t *dst)
{
	for (int b = 0; b < n / WF_Q8_0_BLOCK; b++, x += WF_Q8_0_BLOCK, dst += WF_Q8_0_BYTES)
		q8_0_blocks(x, WF_Q8_0_BLOCK, absmax(x, WF_Q8_0_BLOCK), dst);
}

size_t wf_q8r_bytes(int rows, int cols)
{
	return (size_t)rows * ((size_t)cols + sizeof(float) + sizeof(int32_t));
}

void wf_q8r_bind(struct wf_q8r *m, const void *data, int rows, int cols)
{
	const char *p = data;
	m->q = (const int8_t *)p;
	m->d = (const float *)(const void *)(p + (size_t)rows * cols);
	m->sum = (const int32_t *)(const void *)(p + (size_t)rows * ((size_t)cols + sizeof(float)));
	m->cols = cols;
}

/* x[n] (max |x| = m, the row's) to q[n]; returns Σ q. */
static int32_t q8r_row(const float *x, int n, float m, int8_t *q)
{
	float id = m > 0 ? 127.0f / m : 0.0f;
	int32_t s = 0;
	for (int i = 0; i < n; i++)
		s += q[i] = wf_q8(x[i] * id);
	return s;
}

float wf_q8r_quantize(const float *x, int n, int8_t *q)
{
	float m = absmax(x, n);
	q8r_row(x, n, m, q);
	return wf_q8r_d(m);
}

void wf_q8r_from_f32(const float *w, int cols, int8_t *q, float *d, int32_t *sum, int r0, int r1)
{
	for (int r = r0; r < r1; r++) {
		const float *row = w + (size_t)r * cols;
		float m = absmax(row, cols);
		sum[r - r0] = q8r_row(row, cols, m, q + (size_t)(r - r0) * cols);
		d[r - r0] = wf_q8r_d(m);
	}
}

void wf_q8r_from_f16_scalar(const uint16_t *w, int cols, int8_t *q, float *d, int32_t *sum, int r0, int r1)
{
	float x[WF_Q8R_ALIGN];
	for (int r = r0; r < r1; r++) {
		const uint16_t *row = w + (size_t)r * cols;
		float m = 0;
		for (int i = 0; i < cols; i++) {
			float a = fabsf(wf_f16_to_f32(row[i]));
			if (a > m)
				m = a;
		}
		int32_t s = 0;
		for (int b = 0; b < cols; b += WF_Q8R_ALIGN) {
			for (int i = 0; i < WF_Q8R_ALIGN; i++)
				x[i] = wf_f16_to_f32(row[b + i]);
			s += q8r_row(x, WF_Q8R_ALIGN, m, q + (size_t)(r - r0) * cols + b);
		}
		sum[r - r0] = s;
		d[r - r0] = wf_q8r_d(m);
	}
}

void wf_q8r_matvec_scalar(const struct wf_q8r *w, const int8_t *x, float dx, float *out, int r0, int r1)
{
	for (int r = r0; r < r1; r++) {
		const int8_t *row = w->q + (size_t)r * w->cols;
		int32_t dot = 0;
		for (int i = 0; i < w->cols; i++)
			dot += row[i] * x[i];
		out[r - r0] = (float)dot * (w->d[r] * dx);
	}
}

void wf_q8_0_from_f16_scalar(const uint16_t *w, int cols, uint8_t *dst, int r0, int r1)
{
	float x[WF_Q8_0_BLOCK];
	size_t rb = wf_q8_0_size(cols);
	for (int r = r0; r < r1; r++) {
		const uint16_t *row = w + (size_t)r * cols;
		uint8_t *d = dst + (size_t)(r - r0) * rb;
		for (int b = 0; b < cols / WF_Q8_0_BLOCK; b++) {
			for (int i = 0; i < WF_Q8_0_BLOCK; i++)
				x[i] = wf_f16_to_f32(row[WF_Q8_0_BLOCK * b + i]);
			wf_q8_0_quantize(x, WF_Q8_0_BLOCK, d + (size_t)b * WF_Q8_0_BYTES);
		}
	}
}

/* The order kernels.h fixes: 4 chains of 8 lanes, then fold. */
void wf_q8_0_matvec_scalar(const uint8_t *w, int cols, const uint8_t *xq, float *out,
                           int r0, int r1)
{
	int nb = cols / WF_Q8_0_BLOCK;
	for (int r = r0; r < r1; r++) {
		const uint8_t *row = w + (size_t)r * nb * WF_Q8_0_BYTES;
		float p[32] = {0};
		for (int b = 0; b < nb; b++) {
			const uint8_t *wb = row + (size_t)b * WF_Q8_0_BYTES, *xb = xq + (size_t)b * WF_Q8_0_BYTES;
			uint16_t dw, dx;
			memcpy(&dw, wb, 2);
			memcpy(&dx, xb, 2);
			float d = wf_f16_to_f32(dw) * wf_f16_to_f32(dx);
			for (int l = 0; l < 8; l++) {
				int32_t s = 0;
				for (int k = 0; k < 4; k++)
					s += (int8_t)wb[2 + 4 * l + k] * (int8_t)xb[2 + 4 * l + k];
				p[8 * (b % 4) + l] = fmaf(d, (float)s, p[8 * (b % 4) + l]);
			}
		}
		for (int l = 0; l < 8; l++)
			p[l] = (p[l] + p[8 + l]) + (p[16 + l] + p[24 + l]);
		for (int h = 4; h >= 1; h /= 2)
			for (int l = 0; l < h; l++)
				p[l] += p[l + h];
		out[r - r0] = p[0];
	}
}

void wf_f16_round_scalar(float *x, int n)
{
	for (int i = 0; i < n; i++)
		x[i] = wf_f16_to_f32(wf_f32_to_f16(x[i]));
}

const struct wf_kern_ops wf_kern_scalar = {
	"scalar", scalar_tmat_vec, scalar_tmat_mat, scalar_f16_matvec, wf_quantize_i8_scalar,
	wf_q8_0_matvec_scalar, wf_q8_0_from_f16_scalar, wf_q8r_matvec_scalar,
	wf_q8r_from_f16_scalar, wf_attn_scores_scalar, wf_attn_mix_scalar, NULL,
	wf_softmax_scalar, wf_f16_round_scalar, wf_attn_scores_f16_scalar, wf_attn_mix_f16_scalar,
	wf_f16_from_f32_scalar, NULL, NULL,
};
