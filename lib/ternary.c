/*
 * ternary — decode and encode ternary weights (see ternary.h for the
 * layouts and the rules).
 */
#include "ternary.h"
#include "errf.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define I2S_BLOCK 128
#define I2S_TRAILER 32
#define TQ_BLOCK 256
#define TQ2_BYTES 66
#define TQ1_BYTES 54

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

int wf_ternary_type_ok(uint32_t type)
{
	return wf_ternary_block(type) != 0;
}

uint32_t wf_ternary_block(uint32_t type)
{
	switch (type) {
	case WF_TYPE_I2_S: return I2S_BLOCK;
	case WF_TYPE_TQ1_0: case WF_TYPE_TQ2_0: return TQ_BLOCK;
	case WF_TYPE_F32: case WF_TYPE_F16: case WF_TYPE_BF16: return 1;
	default: return 0;
	}
}

uint64_t wf_ternary_body_bytes(uint32_t type, uint64_t n)
{
	switch (type) {
	case WF_TYPE_I2_S: return n / 4;
	case WF_TYPE_TQ2_0: return n / TQ_BLOCK * TQ2_BYTES;
	case WF_TYPE_TQ1_0: return n / TQ_BLOCK * TQ1_BYTES;
	case WF_TYPE_F32: return n * 4;
	case WF_TYPE_F16: case WF_TYPE_BF16: return n * 2;
	default: return 0;
	}
}

uint64_t wf_ternary_tensor_bytes(uint32_t type, uint64_t n)
{
	return wf_ternary_body_bytes(type, n) + (type == WF_TYPE_I2_S ? I2S_TRAILER : 0);
}

float wf_ternary_absmean(const float *w, uint64_t n)
{
	double sum = 0, m;
	uint64_t i;

	for (i = 0; i < n; i++)
		sum += fabs((double)w[i]);
	m = n ? sum / (double)n : 0;
	return (float)(m > 1e-5 ? m : 1e-5);
}

int8_t wf_ternary_round(float w, float s)
{
	float r = rintf(w / s);

	if (r > 0.5f)
		return 1;
	if (r < -0.5f)
		return -1;
	return 0; /* also NaN */
}

/* ---- packing ---------------------------------------------------------- */

static void pack_i2s(const int8_t *t, uint64_t n, uint8_t *dst)
{
	uint64_t b;
	int m;

	for (b = 0; b < n / I2S_BLOCK; b++, t += I2S_BLOCK, dst += 32)
		for (m = 0; m < 32; m++)
			dst[m] = (uint8_t)((t[m] + 1) << 6 | (t[m + 32] + 1) << 4 |
			                   (t[m + 64] + 1) << 2 | (t[m + 96] + 1));
}

static void pack_tq2(const int8_t *t, uint64_t n, uint16_t d, uint8_t *dst)
{
	uint64_t b;
	int h, m, j, nz;

	for (b = 0; b < n / TQ_BLOCK; b++, t += TQ_BLOCK, dst += TQ2_BYTES) {
		nz = 0;
		for (h = 0; h < 2; h++)
			for (m = 0; m < 32; m++) {
				unsigned v = 0;
				for (j = 0; j < 4; j++) {
					int8_t x = t[128 * h + 32 * j + m];
					nz |= x;
					v |= (unsigned)(x + 1) << (2 * j);
				}
				dst[32 * h + m] = (uint8_t)v;
			}
		wr16(dst + 64, nz ? d : 0);
	}
}

/* q (a base-3 number in 0..242) as TQ1_0 stores it: ceil(q * 256 / 243). */
static uint8_t tq1_byte(unsigned q)
{
	return (uint8_t)((q * 256 + 242) / 243);
}

static void pack_tq1(const int8_t *t, uint64_t n, uint16_t d, uint8_t *dst)
{
	uint64_t b;
	int m, j, k, nz;

	for (b = 0; b < n / TQ_BLOCK; b++, t += TQ_BLOCK, dst += TQ1_BYTES) {
		nz = 0;
		for (k = 0; k < TQ_BLOCK; k++)
			nz |= t[k];
		for (m = 0; m < 32; m++) {
			unsigned q = 0;
			for (j = 0; j < 5; j++)
				q = q * 3 + (unsigned)(t[m + 32 * j] + 1);
			dst[m] = tq1_byte(q);
		}
		for (m = 0; m < 16; m++) {
			unsigned q = 0;
			for (j = 0; j < 5; j++)
				q = q * 3 + (unsigned)(t[160 + m + 16 * j] + 1);
			dst[32 + m] = tq1_byte(q);
		}
		for (m = 0; m < 4; m++) {
			unsigned q = 0;
			for (j = 0; j < 4; j++)
				q = q * 3 + (unsigned)(t[240 + m + 4 * j] + 1);
			dst[48 + m] = tq1_byte(q * 3);
		}
		wr16(dst + 52, nz ? d : 0);
	}
}

void wf_ternary_pack(uint32_t type, const int8_t *t, uint64_t n, float scale, uint8_t *dst)
{
	uint64_t i;

	switch (type) {
	case WF_TYPE_I2_S:
		pack_i2s(t, n, dst);
		break;
	case WF_TYPE_TQ2_0:
		pack_tq2(t, n, wf_f32_to_f16(scale), dst);
		break;
	case WF_TYPE_TQ1_0:
		pack_tq1(t, n, wf_f32_to_f16(scale), dst);
		break;
	case WF_TYPE_F32:
		for (i = 0; i < n; i++)
			wr32(dst + 4 * i, f32_bits((float)t[i] * scale));
		break;
	case WF_TYPE_F16:
		for (i = 0; i < n; i++)
			wr16(dst + 2 * i, wf_f32_to_f16((float)t[i] * scale));
		break;
	case WF_TYPE_BF16:
		for (i = 0; i < n; i++)
			wr16(dst + 2 * i, wf_f32_to_bf16((float)t[i] * scale));
		break;
	default:
		break;
	}
}

void wf_ternary_i2s_trailer(float scale, uint8_t dst[32])
{
	memset(dst, 0, I2S_TRAILER);
	wr32(dst, f32_bits(scale));
}

/* ---- unpacking -------------------------------------------------------- */

/* Weights [k0, k0 + n) of an I2_S body (any alignment).  Returns the index
 * (relative to k0) of the first code 3, or -1 if none. */
static int64_t unpack_i2s(const uint8_t *src, uint64_t k0, uint64_t n, int8_t *t)
{
	uint64_t i, k;
	int64_t bad = -1;

	for (i = 0; i < n; i++) {
		k = k0 + i;
		unsigned c = src[k / I2S_BLOCK * 32 + k % 32] >> (6 - 2 * (k % I2S_BLOCK / 32)) & 3;
		if (c == 3 && bad < 0)
			bad = (int64_t)i;
		t[i] = (int8_t)((int)c - 1);
	}
	return bad;
}

/* Block-aligned I2_S: the fast path. */
static int64_t unpack_i2s_blocks(const uint8_t *src, uint64_t n, int8_t *t)
{
	uint64_t b;
	int m, bad = 0;
	int8_t *t0 = t;

	for (b = 0; b < n / I2S_BLOCK; b++, src += 32, t += I2S_BLOCK) {
		for (m = 0; m < 32; m++) {
			unsigned v = src[m];
			bad |= (v & (v >> 1) & 0x55) != 0;
			t[m] = (int8_t)((int)(v >> 6) - 1);
			t[m + 32] = (int8_t)((int)(v >> 4 & 3) - 1);
			t[m + 64] = (int8_t)((int)(v >> 2 & 3) - 1);
			t[m + 96] = (int8_t)((int)(v & 3) - 1);
		}
	}
	if (!bad)
		return -1;
	for (b = 0; b < n; b++)
		if (t0[b] == 2)
			return (int64_t)b;
	return -1;
}

static int64_t unpack_tq2(const uint8_t *src, uint64_t n, int8_t *t)
{
	uint64_t b, i;
	int h, m, j;
	int8_t *t0 = t;

	for (b = 0; b < n / TQ_BLOCK; b++, src += TQ2_BYTES, t += TQ_BLOCK)
		for (h = 0; h < 2; h++)
			for (m = 0; m < 32; m++) {
				unsigned v = src[32 * h + m];
				for (j = 0; j < 4; j++)
					t[128 * h + 32 * j + m] = (int8_t)((int)(v >> (2 * j) & 3) - 1);
			}
	for (i = 0; i < n; i++)
		if (t0[i] == 2)
			return (int64_t)i;
	return -1;
}

/* Code j (0 = most significant) of a TQ1_0 byte: the byte times 3^j keeps
 * the remaining digits as a fraction of 256; times 3, >> 8 is the next one. */
static int8_t tq1_trit(uint8_t b, unsigned pow3)
{
	uint8_t q = (uint8_t)(b * pow3);
	return (int8_t)((int)(((unsigned)q * 3) >> 8) - 1);
}

static void unpack_tq1(const uint8_t *src, uint64_t n, int8_t *t)
{
	static const unsigned pow3[5] = {1, 3, 9, 27, 81};
	uint64_t b;
	int m, j;

	for (b = 0; b < n / TQ_BLOCK; b++, src += TQ1_BYTES, t += TQ_BLOCK) {
		for (m = 0; m < 32; m++)
			for (j = 0; j < 5; j++)
				t[m + 32 * j] = tq1_trit(src[m], pow3[j]);
		for (m = 0; m < 16; m++)
			for (j = 0; j < 5; j++)
				t[160 + m + 16 * j] = tq1_trit(src[32 + m], pow3[j]);
		for (m = 0; m < 4; m++)
			for (j = 0; j < 4; j++)
				t[240 + m + 4 * j] = tq1_trit(src[48 + m], pow3[j]);
	}
}

static float load_float(uint32_t type, const uint8_t *p, uint64_t i)
{
	switch (type) {
	case WF_TYPE_F32: return bits_f32(rd32(p + 4 * i));
	case WF_TYPE_F16: return wf_f16_to_f32(rd16(p + 2 * i));
	default: return wf_bf16_to_f32(rd16(p + 2 * i));
	}
}

int wf_ternary_unpack(uint32_t type, const uint8_t *src, uint64_t n, float scale, int8_t *t,
                      char *err, size_t errlen)
{
	int64_t bad = -1;
	uint64_t i;

	switch (type) {
	case WF_TYPE_I2_S:
		bad = unpack_i2s_blocks(src, n, t);
		break;
	case WF_TYPE_TQ2_0:
		bad = unpack_tq2(src, n, t);
		break;
	case WF_TYPE_TQ1_0:
		unpack_tq1(src, n, t);
		break;
	case WF_TYPE_F32: case WF_TYPE_F16: case WF_TYPE_BF16:
		for (i = 0; i < n; i++)
			t[i] = wf_ternary_round(load_float(type, src, i), scale);
		break;
	default:
		return wf_errf(err, errlen, "type %s is not a ternary weight format", wf_ggml_type_name(type));
	}
	if (bad >= 0)
		return wf_errf(err, errlen, "weight %" PRId64 ": code 3 is not a ternary value", bad);
	return 0;
}

/* ---- tensors ---------------------------------------------------------- */

int wf_ternary_check(const struct wf_gguf_tensor *t, int64_t *rows, int64_t *cols,
                     char *err, size_t errlen)
{
	int64_t r, c;
	uint64_t n, want;
	uint32_t blk = wf_ternary_block(t->type);

	if (!blk)
		return wf_errf(err, errlen, "tensor '%s': type %s is not a ternary weight format",
		            t->name, wf_ggml_type_name(t->type));
	c = t->ne[0];
	r = t->n_dims >= 2 ? t->ne[1] : 1;
	if (t->n_dims < 1 || t->n_dims > WF_GGUF_MAX_DIMS ||
	    (t->n_dims > 2 && t->ne[2] * (t->n_dims > 3 ? t->ne[3] : 1) != 1))
		return wf_errf(err, errlen, "tensor '%s': expected 1 or 2 dimensions, found %u",
		            t->name, (unsigned)t->n_dims);
	if (c <= 0 || r <= 0 || c > INT64_MAX / r)
		return wf_errf(err, errlen, "tensor '%s': bad shape [%" PRId64 ", %" PRId64 "]", t->name, c, r);
	n = (uint64_t)c * (uint64_t)r;
	if (t->type == WF_TYPE_I2_S && n % I2S_BLOCK)
		return wf_errf(err, errlen, "tensor '%s': I2_S needs a multiple of 128 weights, found %" PRIu64,
		            t->name, n);
	if (blk == TQ_BLOCK && c % TQ_BLOCK)
		return wf_errf(err, errlen, "tensor '%s': %s rows must be a multiple of 256 weights, found %" PRId64,
		            t->name, wf_ggml_type_name(t->type), c);
	if (n > UINT64_MAX / 8)
		return wf_errf(err, errlen, "tensor '%s': too large", t->name);
	want = wf_ternary_tensor_bytes(t->type, n);
	if (t->nbytes != want)
		return wf_errf(err, errlen, "tensor '%s': %s [%" PRId64 ", %" PRId64 "] needs %" PRIu64
		            " bytes, found %" PRIu64, t->name, wf_ggml_type_name(t->type), c, r, want, t->nbytes);
	if (rows)
		*rows = r;
	if (cols)
		*cols = c;
	return 0;
}

static int tq_scale(const struct wf_gguf_tensor *t, uint64_t n, float *scale, char *err, size_t errlen)
{
	int8_t tr[TQ_BLOCK];
	uint32_t bsz = t->type == WF_TYPE_TQ2_0 ? TQ2_BYTES : TQ1_BYTES;
	uint64_t b, nb = n / TQ_BLOCK, first = UINT64_MAX;
	float s = 0, d;
	int k, nz;

	for (b = 0; b < nb; b++) {
		const uint8_t *p = t->data + b * bsz;
		d = wf_f16_to_f32(rd16(p + bsz - 2));
		if (t->type == WF_TYPE_TQ2_0)
			unpack_tq2(p, TQ_BLOCK, tr);
		else
			unpack_tq1(p, TQ_BLOCK, tr);
		for (nz = 0, k = 0; k < TQ_BLOCK; k++)
			nz |= tr[k];
		if (!nz)
			continue;
		if (first == UINT64_MAX) {
			first = b;
			s = d;
		} else if (d != s) {
			return wf_errf(err, errlen, "tensor '%s': %s blocks %" PRIu64 " and %" PRIu64
			            " have different scales (%.9g and %.9g); wf needs one scale per tensor",
			            t->name, wf_ggml_type_name(t->type), first, b, (double)s, (double)d);
		}
	}
	if (first == UINT64_MAX)
		s = wf_f16_to_f32(rd16(t->data + bsz - 2));
	*scale = s;
	return 0;
}

int wf_ternary_scale(const struct wf_gguf_tensor *t, float *scale, char *err, size_t errlen)
{
	int64_t rows, cols;
	uint64_t n, i;
	float s;

	if (wf_ternary_check(t, &rows, &cols, err, errlen))
		return -1;
	n = (uint64_t)rows * (uint64_t)cols;
	switch (t->type) {
	case WF_TYPE_I2_S:
		s = bits_f32(rd32(t->data + n / 4));
		break;
	case WF_TYPE_TQ1_0: case WF_TYPE_TQ2_0:
		if (tq_scale(t, n, &s, err, errlen))
			return -1;
		break;
	default: {
		double sum = 0, m;
		for (i = 0; i < n; i++)
			sum += fabs((double)load_float(t->type, t->data, i));
		m = sum / (double)n;
		s = (float)(m > 1e-5 ? m : 1e-5);
		break;
	}
	}
	if (!isfinite(s))
		return wf_errf(err, errlen, "tensor '%s': scale %g is not finite", t->name, (double)s);
	*scale = s;
	return 0;
}

int wf_ternary_decode_rows(const struct wf_gguf_tensor *t, float scale, int64_t r0, int64_t r1,
                           int8_t *out, char *err, size_t errlen)
{
	int64_t rows, cols, bad = -1;
	uint64_t k0, n;
	char msg[128];

	if (wf_ternary_check(t, &rows, &cols, err, errlen))
		return -1;
	if (r0 < 0 || r1 < r0 || r1 > rows)
		return wf_errf(err, errlen, "tensor '%s': rows [%" PRId64 ", %" PRId64 ") outside [0, %" PRId64 ")",
		            t->name, r0, r1, rows);
	k0 = (uint64_t)r0 * (uint64_t)cols;
	n = (uint64_t)(r1 - r0) * (uint64_t)cols;
	if (t->type == WF_TYPE_I2_S && (k0 % I2S_BLOCK || n % I2S_BLOCK)) {
		bad = unpack_i2s(t->data, k0, n, out);
		if (bad >= 0)
			return wf_errf(err, errlen, "tensor '%s': weight %" PRIu64 ": code 3 is not a ternary value",
			            t->name, k0 + (uint64_t)bad);
		return 0;
	}
	if (wf_ternary_unpack(t->type, t->data + wf_ternary_body_bytes(t->type, k0), n, scale, out,
	                      msg, sizeof msg)) {
		if (t->type == WF_TYPE_I2_S)
			bad = unpack_i2s(t->data, k0, n, out);
		else
			for (bad = 0; out[bad] != 2; bad++)
				;
		return wf_errf(err, errlen, "tensor '%s': weight %" PRIu64 ": code 3 is not a ternary value",
		            t->name, k0 + (uint64_t)bad);
	}
	return 0;
}

/* 8 code bytes with the 2-bit fields of each byte in reverse order
 * (I2_S keeps column m of a block in bits 7-6, WF_TMAT in bits 1-0). */
static uint64_t reverse_fields(uint64_t v)
{
	v = (v >> 2 & 0x3333333333333333u) | (v & 0x3333333333333333u) << 2;
	return (v >> 4 & 0x0f0f0f0f0f0f0f0fu) | (v & 0x0f0f0f0f0f0f0f0fu) << 4;
}

/* Whether any 2-bit field of v is 3. */
static int has_code3(uint64_t v)
{
	return (v & v >> 1 & 0x5555555555555555u) != 0;
}

int wf_ternary_codes_rows(const struct wf_gguf_tensor *t, int64_t r0, int64_t r1, uint8_t *out,
                          char *err, size_t errlen)
{
	int64_t rows, cols;
	int bad = 0;

	if (t->type != WF_TYPE_I2_S && t->type != WF_TYPE_TQ2_0)
		return 1;
	if (wf_ternary_check(t, &rows, &cols, err, errlen))
		return -1;
	if (cols % (t->type == WF_TYPE_I2_S ? I2S_BLOCK : TQ_BLOCK))
		return 1;
	if (r0 < 0 || r1 < r0 || r1 > rows)
		return wf_errf(err, errlen, "tensor '%s': rows [%" PRId64 ", %" PRId64 ") outside [0, %" PRId64 ")",
		            t->name, r0, r1, rows);
	size_t nbytes = (size_t)(r1 - r0) * (size_t)cols / 4;
	if (t->type == WF_TYPE_I2_S) {
		const uint8_t *src = t->data + (size_t)r0 * (size_t)cols / 4;
		for (size_t i = 0; i < nbytes; i += 8) {
			uint64_t v;
			memcpy(&v, src + i, 8);
			bad |= has_code3(v);
			v = reverse_fields(v);
			memcpy(out + i, &v, 8);
		}
	} else {
		/* rows of whole TQ2_0 blocks (cols % 256 == 0, checked above):
		 * the 64 code bytes of a block are two WF 128-blocks as they are */
		size_t nblk = nbytes / 64;
		const uint8_t *src = t->data + (size_t)r0 * (size_t)(cols / TQ_BLOCK) * TQ2_BYTES;
		for (size_t b = 0; b < nblk; b++, src += TQ2_BYTES, out += 64) {
			for (int i = 0; i < 64; i += 8) {
				uint64_t v;
				memcpy(&v, src + i, 8);
				bad |= has_code3(v);
			}
			memcpy(out, src, 64);
		}
	}
	if (!bad)
		return 0;
	/* the slow path names the first bad weight, row by row */
	int8_t *tr = malloc((size_t)cols);
	if (!tr)
		return wf_errf(err, errlen, "out of memory");
	for (int64_t r = r0; r < r1; r++)
		if (wf_ternary_decode_rows(t, 0, r, r + 1, tr, err, errlen)) {
			free(tr);
			return -1;
		}
	free(tr);
	return wf_errf(err, errlen, "tensor '%s': a code 3 that the decoder does not find", t->name);
}

int wf_ternary_tmat_rows(const struct wf_gguf_tensor *t, float scale, int64_t r0, int64_t r1,
                         int8_t *scratch, uint8_t *dst, char *err, size_t errlen)
{
	int64_t rows, cols;
	if (wf_ternary_check(t, &rows, &cols, err, errlen))
		return -1;
	int k = wf_ternary_codes_rows(t, r0, r1, (uint8_t *)scratch, err, errlen);
	if (k < 0)
		return -1;
	if (k == 0) {
		wf_tmat_pack_codes(dst, (const uint8_t *)scratch, (int)(r1 - r0), (int)cols);
		return 0;
	}
	if (wf_ternary_decode_rows(t, scale, r0, r1, scratch, err, errlen))
		return -1;
	wf_tmat_pack(dst, scratch, (int)(r1 - r0), (int)cols);
	return 0;
}

int wf_ternary_decode(const struct wf_gguf_tensor *t, int8_t *trits, float *scale,
                      char *err, size_t errlen)
{
	int64_t rows, cols;
	float s;

	if (wf_ternary_check(t, &rows, &cols, err, errlen) || wf_ternary_scale(t, &s, err, errlen))
		return -1;
	if (wf_ternary_decode_rows(t, s, 0, rows, trits, err, errlen))
		return -1;
	*scale = s;
	return 0;
}

int wf_ternary_encode(uint32_t type, const int8_t *trits, int64_t rows, int64_t cols, float scale,
                      uint8_t *dst, uint64_t dstlen, char *err, size_t errlen)
{
	uint32_t blk = wf_ternary_block(type);
	uint64_t n, want;

	if (!blk)
		return wf_errf(err, errlen, "type %s is not a ternary weight format", wf_ggml_type_name(type));
	if (rows <= 0 || cols <= 0 || cols > INT64_MAX / rows)
		return wf_errf(err, errlen, "bad shape [%" PRId64 ", %" PRId64 "]", cols, rows);
	n = (uint64_t)rows * (uint64_t)cols;
	if ((blk == TQ_BLOCK && cols % TQ_BLOCK) || n % blk)
		return wf_errf(err, errlen, "%s: shape [%" PRId64 ", %" PRId64 "] is not a multiple of the %u-weight block",
		            wf_ggml_type_name(type), cols, rows, (unsigned)blk);
	want = wf_ternary_tensor_bytes(type, n);
	if (dstlen != want)
		return wf_errf(err, errlen, "%s [%" PRId64 ", %" PRId64 "] takes %" PRIu64 " bytes, not %" PRIu64,
		            wf_ggml_type_name(type), cols, rows, want, dstlen);
	wf_ternary_pack(type, trits, n, scale, dst);
	if (type == WF_TYPE_I2_S)
		wf_ternary_i2s_trailer(scale, dst + n / 4);
	return 0;
}
