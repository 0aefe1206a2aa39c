/*
 * gguf.c — GGUF v2/v3 reader over a bounded cursor, and a streaming writer.
 *
 * Every read goes through struct cur, which never moves past size; every
 * size computation is done in uint64_t with explicit overflow checks before
 * it is used (../shared/notes/gguf-malformed.md lists the classes).
 */
#include "gguf.h"
#include "errf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- types */

struct type_info {
	const char *name;
	uint32_t blck, size; /* weights per block, bytes per block; 0: unsupported */
};

/* ggml type ids and names; only the entries with blck != 0 are read by wf. */
static const struct type_info TYPES[] = {
	[0] = {"F32", 1, 4},      [1] = {"F16", 1, 2},     [2] = {"Q4_0", 0, 0},
	[3] = {"Q4_1", 0, 0},     [6] = {"Q5_0", 0, 0},    [7] = {"Q5_1", 0, 0},
	[8] = {"Q8_0", 32, 34},   [9] = {"Q8_1", 0, 0},    [10] = {"Q2_K", 0, 0},
	[11] = {"Q3_K", 0, 0},    [12] = {"Q4_K", 0, 0},   [13] = {"Q5_K", 0, 0},
	[14] = {"Q6_K", 0, 0},    [15] = {"Q8_K", 0, 0},   [16] = {"IQ2_XXS", 0, 0},
	[17] = {"IQ2_XS", 0, 0},  [18] = {"IQ3_XXS", 0, 0}, [19] = {"IQ1_S", 0, 0},
	[20] = {"IQ4_NL", 0, 0},  [21] = {"IQ3_S", 0, 0},  [22] = {"IQ2_S", 0, 0},
	[23] = {"IQ4_XS", 0, 0},  [24] = {"I8", 0, 0},     [25] = {"I16", 0, 0},
	[26] = {"I32", 0, 0},     [27] = {"I64", 0, 0},    [28] = {"F64", 0, 0},
	[29] = {"IQ1_M", 0, 0},   [30] = {"BF16", 1, 2},   [34] = {"TQ1_0", 256, 54},
	[35] = {"TQ2_0", 256, 66}, [36] = {"I2_S", 1, 1},  [39] = {"MXFP4", 0, 0},
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

const char *wf_ggml_type_name(uint32_t t)
{
	static char buf[32];
	if (t == WF_TYPE_WF_TMAT)
		return "WF_TMAT";
	if (t == WF_TYPE_WF_Q8R)
		return "WF_Q8R";
	if (t < N_TYPES && TYPES[t].name)
		return TYPES[t].name;
	snprintf(buf, sizeof buf, "type %u", t);
	return buf;
}

int wf_ggml_type_known(uint32_t t)
{
	return (t < N_TYPES && TYPES[t].blck != 0) || t == WF_TYPE_WF_TMAT || t == WF_TYPE_WF_Q8R;
}

/* WF_TMAT and WF_Q8R have no fixed block: their sizes depend on the row count. */
uint32_t wf_ggml_blck_size(uint32_t t)
{
	return t < N_TYPES && TYPES[t].blck ? TYPES[t].blck : 0;
}

uint32_t wf_ggml_type_size(uint32_t t)
{
	return t < N_TYPES && TYPES[t].blck ? TYPES[t].size : 0;
}

static const char *const VTYPES[] = {
	"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
	"BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};
static const uint8_t VSIZE[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *wf_gguf_vtype_name(uint32_t t)
{
	static char buf[32];
	if (t < sizeof VTYPES / sizeof VTYPES[0])
		return VTYPES[t];
	snprintf(buf, sizeof buf, "type %u", t);
	return buf;
}

int wf_ggml_nbytes(uint32_t t, const int64_t *ne, uint32_t n_dims, uint64_t *out, char *err, size_t errlen)
{
	if (!wf_ggml_type_known(t))
		return wf_errf(err, errlen, "tensor type %s is not supported", wf_ggml_type_name(t));
	uint64_t n = 1;
	for (uint32_t i = 0; i < n_dims; i++) {
		if (ne[i] <= 0)
			return wf_errf(err, errlen, "dimension %u is %lld", i, (long long)ne[i]);
		if (n > (uint64_t)INT64_MAX / (uint64_t)ne[i])
			return wf_errf(err, errlen, "element count overflows");
		n *= (uint64_t)ne[i];
	}
	if (t == WF_TYPE_WF_TMAT) {
		/* rows padded to 4, 2 bits a weight, then the 32-byte scale trailer */
		if (n_dims != 2 || ne[0] % 128)
			return wf_errf(err, errlen, "WF_TMAT needs 2 dimensions and rows of a multiple of 128 weights");
		if ((uint64_t)ne[1] > (uint64_t)INT32_MAX || (uint64_t)ne[0] > (uint64_t)INT32_MAX)
			return wf_errf(err, errlen, "WF_TMAT matrix too large");
		*out = ((uint64_t)ne[1] + 3) / 4 * 4 * ((uint64_t)ne[0] / 4) + 32;
		return 0;
	}
	if (t == WF_TYPE_WF_Q8R) {
		if (n_dims != 2 || ne[0] % 32)
			return wf_errf(err, errlen, "WF_Q8R needs 2 dimensions and rows of a multiple of 32 values");
		if ((uint64_t)ne[1] > (uint64_t)INT32_MAX || (uint64_t)ne[0] > (uint64_t)INT32_MAX)
			return wf_errf(err, errlen, "WF_Q8R matrix too large");
		*out = (uint64_t)ne[1] * ((uint64_t)ne[0] + 8);
		return 0;
	}
	const struct type_info *ti = &TYPES[t];
	if (t == WF_TYPE_I2_S) {
		/* bitnet.cpp: 128-weight blocks of 32 bytes, then an f32 scale and
		 * 28 bytes of padding (ggml_nbytes = n/4 + 32). */
		if (n % 128)
			return wf_errf(err, errlen, "I2_S needs a multiple of 128 weights, found %llu",
			            (unsigned long long)n);
		*out = n / 4 + 32;
		return 0;
	}
	if ((uint64_t)ne[0] % ti->blck)
		return wf_errf(err, errlen, "row length %lld is not a multiple of the %s block size %u",
		            (long long)ne[0], ti->name, ti->blck);
	uint64_t blocks = n / ti->blck;
	if (blocks > UINT64_MAX / ti->size || blocks * ti->size > (uint64_t)SIZE_MAX)
		return wf_errf(err, errlen, "byte size overflows");
	*out = blocks * ti->size;
	return 0;
}

/* --------------------------------------------------------------- cursor */

struct cur {
	const uint8_t *base;
	uint64_t pos, size;
};

static uint64_t left(const struct cur *c)
{
	return c->size - c->pos;
}

static int take(struct cur *c, uint64_t n, const uint8_t **p)
{
	if (n > left(c))
		return -1;
	*p = c->base + c->pos;
	c->pos += n;
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int rd32(struct cur *c, uint32_t *v)
{
	const uint8_t *p;
	if (take(c, 4, &p))
		return -1;
	*v = le32(p);
	return 0;
}

static int rd64(struct cur *c, uint64_t *v)
{
	const uint8_t *p;
	if (take(c, 8, &p))
		return -1;
	*v = le64(p);
	return 0;
}

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int utf8_valid(const uint8_t *s, uint64_t n)
{
	uint64_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		int k;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) k = 1, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0) k = 2, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0) k = 3, cp = c & 0x07, min = 0x10000;
		else return 0;
		if ((uint64_t)k > n - i - 1)
			return 0;
		for (int j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += (uint64_t)k + 1;
	}
	return 1;
}

/* ------------------------------------------------------------- name set */

/* Open-addressing set of (ptr, len) names, to find duplicates in O(n). */
struct nameset {
	const char **p;
	uint64_t *len;
	uint64_t cap;
};

static uint64_t hash(const char *s, uint64_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (uint64_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static int nameset_init(struct nameset *s, uint64_t n)
{
	s->cap = 16;
	while (s->cap < 2 * n)
		s->cap *= 2;
	s->p = calloc(s->cap, sizeof *s->p);
	s->len = calloc(s->cap, sizeof *s->len);
	return s->p && s->len ? 0 : -1;
}

static void nameset_free(struct nameset *s)
{
	free(s->p);
	free(s->len);
}

/* Insert; returns 1 if the name was already present. */
static int nameset_add(struct nameset *s, const char *p, uint64_t n)
{
	uint64_t i = hash(p, n) & (s->cap - 1);
	while (s->p[i]) {
		if (s->len[i] == n && memcmp(s->p[i], p, n) == 0)
			return 1;
		i = (i + 1) & (s->cap - 1);
	}
	s->p[i] = p;
	s->len[i] = n;
	return 0;
}

/* --------------------------------------------------------------- reader */

#define KV_MIN_BYTES (8 + 1 + 4 + 1)          /* key len, 1-byte key, type, 1-byte value */
#define TI_MIN_BYTES (8 + 1 + 4 + 8 + 4 + 8)  /* name len, name, n_dims, ne[0], type, offset */

/* A printable form of a key for messages (keys are checked to be printable). */
#define KEYF "'%.*s'"
#define KEYA(kv) (int)(kv)->key.len, (kv)->key.ptr

static int read_str(struct cur *c, struct wf_gguf_str *s, uint64_t cap)
{
	uint64_t n;
	const uint8_t *p;
	if (rd64(c, &n))
		return -1; /* caller words the message */
	if (n > cap || n > left(c))
		return -2;
	take(c, n, &p);
	s->ptr = (const char *)p;
	s->len = n;
	return 0;
}

static int read_value(struct cur *c, struct wf_gguf_kv *kv, char *err, size_t errlen)
{
	if (kv->type == WF_GGUF_STRING) {
		struct wf_gguf_str s;
		kv->n = 1;
		kv->data = c->base + c->pos;
		int r = read_str(c, &s, WF_GGUF_MAX_STRING);
		if (r == -1)
			return wf_errf(err, errlen, "key " KEYF ": value past end of file", KEYA(kv));
		if (r == -2 && le64(kv->data) > WF_GGUF_MAX_STRING)
			return wf_errf(err, errlen, "key " KEYF ": string length %llu exceeds the limit of %u bytes",
			            KEYA(kv), (unsigned long long)le64(kv->data), WF_GGUF_MAX_STRING);
		if (r == -2)
			return wf_errf(err, errlen, "key " KEYF ": string length %llu exceeds the remaining %llu bytes",
			            KEYA(kv), (unsigned long long)le64(kv->data), (unsigned long long)left(c));
		if (!utf8_valid((const uint8_t *)s.ptr, s.len))
			return wf_errf(err, errlen, "key " KEYF ": string is not valid UTF-8", KEYA(kv));
		kv->strs = malloc(sizeof *kv->strs);
		if (!kv->strs)
			return wf_errf(err, errlen, "out of memory");
		kv->strs[0] = s;
		return 0;
	}
	if (kv->type == WF_GGUF_ARRAY) {
		uint32_t at;
		uint64_t n;
		if (rd32(c, &at) || rd64(c, &n))
			return wf_errf(err, errlen, "key " KEYF ": array header past end of file", KEYA(kv));
		if (at == WF_GGUF_ARRAY)
			return wf_errf(err, errlen, "key " KEYF ": arrays of arrays are not supported", KEYA(kv));
		if (at > WF_GGUF_FLOAT64)
			return wf_errf(err, errlen, "key " KEYF ": array element type %u is not a GGUF type", KEYA(kv), at);
		if (n > WF_GGUF_MAX_ARRAY)
			return wf_errf(err, errlen, "key " KEYF ": array of %llu elements exceeds the limit of %u",
			            KEYA(kv), (unsigned long long)n, WF_GGUF_MAX_ARRAY);
		kv->atype = at;
		kv->n = n;
		kv->data = c->base + c->pos;
		if (at == WF_GGUF_STRING) {
			/* each string is at least its 8-byte length */
			if (n > left(c) / 8)
				return wf_errf(err, errlen, "key " KEYF ": array of %llu strings exceeds the remaining %llu bytes",
				            KEYA(kv), (unsigned long long)n, (unsigned long long)left(c));
			kv->strs = malloc((n ? n : 1) * sizeof *kv->strs);
			if (!kv->strs)
				return wf_errf(err, errlen, "out of memory");
			for (uint64_t i = 0; i < n; i++) {
				int r = read_str(c, &kv->strs[i], WF_GGUF_MAX_STRING);
				if (r)
					return wf_errf(err, errlen, "key " KEYF ": string %llu of the array %s",
					            KEYA(kv), (unsigned long long)i,
					            r == -1 ? "is past end of file" : "is longer than the remaining bytes or the limit");
			}
			return 0;
		}
		uint64_t bytes = n * VSIZE[at]; /* n ≤ 2^24, size ≤ 8: no overflow */
		const uint8_t *p;
		if (take(c, bytes, &p))
			return wf_errf(err, errlen, "key " KEYF ": array of %llu %s needs %llu bytes, %llu remain",
			            KEYA(kv), (unsigned long long)n, wf_gguf_vtype_name(at),
			            (unsigned long long)bytes, (unsigned long long)left(c));
		if (at == WF_GGUF_BOOL)
			for (uint64_t i = 0; i < n; i++)
				if (p[i] > 1)
					return wf_errf(err, errlen, "key " KEYF ": element %llu is a BOOL with value %u (must be 0 or 1)",
					            KEYA(kv), (unsigned long long)i, p[i]);
		return 0;
	}
	if (kv->type > WF_GGUF_FLOAT64)
		return wf_errf(err, errlen, "key " KEYF ": value type %u is not a GGUF type", KEYA(kv), kv->type);
	const uint8_t *p;
	kv->n = 1;
	if (take(c, VSIZE[kv->type], &p))
		return wf_errf(err, errlen, "key " KEYF ": value past end of file", KEYA(kv));
	kv->data = p;
	if (kv->type == WF_GGUF_BOOL && p[0] > 1)
		return wf_errf(err, errlen, "key " KEYF ": BOOL value %u (must be 0 or 1)", KEYA(kv), p[0]);
	return 0;
}

static int read_kvs(struct wf_gguf *g, struct cur *c, char *err, size_t errlen)
{
	struct nameset seen;
	int rc = -1;
	if (nameset_init(&seen, g->n_kv))
		return wf_errf(err, errlen, "out of memory");
	for (uint64_t i = 0; i < g->n_kv; i++) {
		struct wf_gguf_kv *kv = &g->kv[i];
		uint64_t n;
		const uint8_t *p;
		if (rd64(c, &n)) {
			wf_errf(err, errlen, "key #%llu: past end of file", (unsigned long long)i);
			goto out;
		}
		if (n == 0) {
			wf_errf(err, errlen, "key #%llu: empty key", (unsigned long long)i);
			goto out;
		}
		if (n > 65535 || n > left(c)) {
			wf_errf(err, errlen, "key #%llu: key length %llu exceeds %s", (unsigned long long)i,
			     (unsigned long long)n, n > 65535 ? "the limit of 65535" : "the remaining bytes");
			goto out;
		}
		take(c, n, &p);
		for (uint64_t j = 0; j < n; j++)
			if (p[j] < 0x21 || p[j] > 0x7e) {
				wf_errf(err, errlen, "key #%llu: byte 0x%02x at position %llu is not printable ASCII",
				     (unsigned long long)i, p[j], (unsigned long long)j);
				goto out;
			}
		kv->key.ptr = (const char *)p;
		kv->key.len = n;
		if (nameset_add(&seen, kv->key.ptr, n)) {
			wf_errf(err, errlen, "key " KEYF ": duplicate key", KEYA(kv));
			goto out;
		}
		if (rd32(c, &kv->type)) {
			wf_errf(err, errlen, "key " KEYF ": type past end of file", KEYA(kv));
			goto out;
		}
		if (read_value(c, kv, err, errlen))
			goto out;
	}
	rc = 0;
out:
	nameset_free(&seen);
	return rc;
}

static int check_alignment(struct wf_gguf *g, char *err, size_t errlen)
{
	const struct wf_gguf_kv *kv = wf_gguf_find(g, "general.alignment");
	g->alignment = WF_GGUF_DEFAULT_ALIGNMENT;
	if (!kv)
		return 0;
	if (kv->type != WF_GGUF_UINT32)
		return wf_errf(err, errlen, "key 'general.alignment': expected UINT32, found %s",
		            wf_gguf_vtype_name(kv->type));
	uint32_t a = le32(kv->data);
	/* Any power of two up to 64 KiB, as ggml accepts (its own tests write 1);
	 * the spec's "multiple of 8" is not enforced. */
	if (a == 0 || (a & (a - 1)) || a > WF_GGUF_MAX_ALIGNMENT)
		return wf_errf(err, errlen, "key 'general.alignment': %u is not a power of two in [1, %u]",
		            a, WF_GGUF_MAX_ALIGNMENT);
	g->alignment = a;
	return 0;
}

#define TNF "tensor '%s'"

static int read_tensors(struct wf_gguf *g, struct cur *c, char *err, size_t errlen)
{
	struct nameset seen;
	int rc = -1;
	if (nameset_init(&seen, g->n_tensors))
		return wf_errf(err, errlen, "out of memory");
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		struct wf_gguf_tensor *t = &g->tensors[i];
		uint64_t n;
		const uint8_t *p;
		if (rd64(c, &n)) {
			wf_errf(err, errlen, "tensor #%llu: past end of file", (unsigned long long)i);
			goto out;
		}
		if (n == 0) {
			wf_errf(err, errlen, "tensor #%llu: empty name", (unsigned long long)i);
			goto out;
		}
		if (n > WF_GGUF_MAX_NAME || n > left(c)) {
			wf_errf(err, errlen, "tensor #%llu: name length %llu exceeds %s", (unsigned long long)i,
			     (unsigned long long)n, n > WF_GGUF_MAX_NAME ? "the limit of 63 bytes" : "the remaining bytes");
			goto out;
		}
		take(c, n, &p);
		if (!utf8_valid(p, n) || memchr(p, 0, n)) {
			wf_errf(err, errlen, "tensor #%llu: name is not valid UTF-8 text", (unsigned long long)i);
			goto out;
		}
		memcpy(t->name, p, n);
		t->name[n] = '\0';
		if (nameset_add(&seen, (const char *)p, n)) {
			wf_errf(err, errlen, TNF ": duplicate tensor name", t->name);
			goto out;
		}
		if (rd32(c, &t->n_dims)) {
			wf_errf(err, errlen, TNF ": past end of file", t->name);
			goto out;
		}
		if (t->n_dims == 0 || t->n_dims > WF_GGUF_MAX_DIMS) {
			wf_errf(err, errlen, TNF ": %u dimensions (must be 1 to 4)", t->name, t->n_dims);
			goto out;
		}
		for (uint32_t d = 0; d < WF_GGUF_MAX_DIMS; d++)
			t->ne[d] = 1;
		for (uint32_t d = 0; d < t->n_dims; d++) {
			uint64_t v;
			if (rd64(c, &v)) {
				wf_errf(err, errlen, TNF ": past end of file", t->name);
				goto out;
			}
			if (v == 0 || v > (uint64_t)INT64_MAX) {
				wf_errf(err, errlen, TNF ": dimension %u is %lld (must be positive)", t->name, d, (long long)v);
				goto out;
			}
			t->ne[d] = (int64_t)v;
		}
		if (rd32(c, &t->type) || rd64(c, &t->offset)) {
			wf_errf(err, errlen, TNF ": past end of file", t->name);
			goto out;
		}
		if (!wf_ggml_type_known(t->type)) {
			if (t->type < N_TYPES && TYPES[t->type].name)
				wf_errf(err, errlen, TNF ": type %s (%u) is not supported by wf", t->name,
				     TYPES[t->type].name, t->type);
			else
				wf_errf(err, errlen, TNF ": unknown type %u", t->name, t->type);
			goto out;
		}
		char sub[160];
		if (wf_ggml_nbytes(t->type, t->ne, t->n_dims, &t->nbytes, sub, sizeof sub)) {
			wf_errf(err, errlen, TNF ": %s", t->name, sub);
			goto out;
		}
	}
	rc = 0;
out:
	nameset_free(&seen);
	return rc;
}

/* Place the tensors: each offset must be aligned and equal to the end of
 * the previous tensor, padded (ggml's rule, which also rules out overlap). */
static int place_tensors(struct wf_gguf *g, char *err, size_t errlen)
{
	uint64_t a = g->alignment, expect = 0;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		struct wf_gguf_tensor *t = &g->tensors[i];
		if (t->offset % a)
			return wf_errf(err, errlen, TNF ": offset %llu is not a multiple of the alignment %llu",
			            t->name, (unsigned long long)t->offset, (unsigned long long)a);
		if (t->offset != expect)
			return wf_errf(err, errlen, TNF ": offset %llu is not where the previous tensor ends (%llu)",
			            t->name, (unsigned long long)t->offset, (unsigned long long)expect);
		uint64_t room = g->size - g->data_offset;
		if (t->offset > room || t->nbytes > room - t->offset)
			return wf_errf(err, errlen, TNF ": data past end of file (offset %llu + %llu bytes > %llu)",
			            t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
			            (unsigned long long)room);
		t->data = g->base + g->data_offset + t->offset;
		uint64_t end = t->offset + t->nbytes;
		if (end > UINT64_MAX - (a - 1))
			return wf_errf(err, errlen, TNF ": padded size overflows", t->name);
		expect = (end + a - 1) / a * a;
	}
	/* The last tensor's padding may or may not be in the file. */
	g->data_end = expect > g->size - g->data_offset ? g->size : g->data_offset + expect;
	g->trailing = g->data_end < g->size;
	return 0;
}

int wf_gguf_parse(struct wf_gguf *g, const void *buf, size_t len, char *err, size_t errlen)
{
	struct cur c = {buf, 0, len};
	uint32_t magic, version;
	uint64_t nt, nkv;

	memset(g, 0, sizeof *g);
	g->base = buf;
	g->size = len;
	if (len < 24)
		return wf_errf(err, errlen, "file too short for a GGUF header (%zu bytes)", len);
	rd32(&c, &magic);
	rd32(&c, &version);
	rd64(&c, &nt);
	rd64(&c, &nkv);
	if (magic != WF_GGUF_MAGIC)
		return wf_errf(err, errlen, "not a GGUF file (bad magic %02x %02x %02x %02x)",
		            g->base[0], g->base[1], g->base[2], g->base[3]);
	if ((version & 0xffff) == 0 && version)
		return wf_errf(err, errlen, "GGUF version 0x%08x looks byte-swapped (big-endian files are not supported)", version);
	if (version < 2 || version > 3)
		return wf_errf(err, errlen, "GGUF version %u is not supported (only 2 and 3)", version);
	g->version = version;
	if ((int64_t)nt < 0 || nt > left(&c) / TI_MIN_BYTES)
		return wf_errf(err, errlen, "tensor count %lld does not fit in the file", (long long)nt);
	if ((int64_t)nkv < 0 || nkv > left(&c) / KV_MIN_BYTES)
		return wf_errf(err, errlen, "key count %lld does not fit in the file", (long long)nkv);
	g->n_tensors = nt;
	g->n_kv = nkv;
	g->kv = calloc(nkv ? nkv : 1, sizeof *g->kv);
	g->tensors = calloc(nt ? nt : 1, sizeof *g->tensors);
	if (!g->kv || !g->tensors) {
		wf_gguf_free(g);
		return wf_errf(err, errlen, "out of memory");
	}
	if (read_kvs(g, &c, err, errlen) || check_alignment(g, err, errlen) ||
	    read_tensors(g, &c, err, errlen))
		goto bad;
	uint64_t a = g->alignment;
	g->data_offset = (c.pos + a - 1) / a * a; /* c.pos ≤ len: no overflow */
	if (g->data_offset > len && g->n_tensors) {
		wf_errf(err, errlen, "tensor data section starts past end of file (%llu > %zu)",
		     (unsigned long long)g->data_offset, len);
		goto bad;
	}
	if (g->data_offset > len)
		g->data_offset = len;
	if (place_tensors(g, err, errlen))
		goto bad;
	return 0;
bad:
	wf_gguf_free(g);
	return -1;
}

void wf_gguf_free(struct wf_gguf *g)
{
	if (!g)
		return;
	if (g->kv)
		for (uint64_t i = 0; i < g->n_kv; i++)
			free(g->kv[i].strs);
	free(g->kv);
	free(g->tensors);
	g->kv = NULL;
	g->tensors = NULL;
	g->n_kv = g->n_tensors = 0;
}

/* -------------------------------------------------------------- lookups */

const struct wf_gguf_kv *wf_gguf_find(const struct wf_gguf *g, const char *key)
{
	size_t n = strlen(key);
	for (uint64_t i = 0; i < g->n_kv; i++)
		if (g->kv[i].key.len == n && memcmp(g->kv[i].key.ptr, key, n) == 0)
			return &g->kv[i];
	return NULL;
}

const struct wf_gguf_tensor *wf_gguf_tensor(const struct wf_gguf *g, const char *name)
{
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if (strcmp(g->tensors[i].name, name) == 0)
			return &g->tensors[i];
	return NULL;
}

static int is_int(uint32_t t)
{
	return t <= WF_GGUF_INT32 || t == WF_GGUF_UINT64 || t == WF_GGUF_INT64;
}

static int is_signed(uint32_t t)
{
	return t == WF_GGUF_INT8 || t == WF_GGUF_INT16 || t == WF_GGUF_INT32 || t == WF_GGUF_INT64;
}

/* Integer element i of a numeric kv, as a sign flag and magnitude pair. */
static void int_at(const struct wf_gguf_kv *kv, uint32_t t, uint64_t i, int *neg, uint64_t *mag)
{
	const uint8_t *p = kv->data + i * VSIZE[t];
	int64_t s = 0;
	uint64_t u = 0;
	switch (t) {
	case WF_GGUF_UINT8: u = p[0]; break;
	case WF_GGUF_INT8: s = (int8_t)p[0]; break;
	case WF_GGUF_UINT16: u = (uint16_t)(p[0] | p[1] << 8); break;
	case WF_GGUF_INT16: s = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
	case WF_GGUF_UINT32: u = le32(p); break;
	case WF_GGUF_INT32: s = (int32_t)le32(p); break;
	case WF_GGUF_UINT64: u = le64(p); break;
	case WF_GGUF_INT64: s = (int64_t)le64(p); break;
	}
	if (is_signed(t)) {
		*neg = s < 0;
		*mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
	} else {
		*neg = 0;
		*mag = u;
	}
}

static int scalar(const struct wf_gguf *g, const char *key, const struct wf_gguf_kv **kv)
{
	*kv = wf_gguf_find(g, key);
	return *kv ? 0 : 1;
}

static int wrong(const struct wf_gguf_kv *kv, const char *want, char *err, size_t errlen)
{
	if (kv->type == WF_GGUF_ARRAY)
		return wf_errf(err, errlen, "key " KEYF ": expected %s, found ARRAY[%s]", KEYA(kv), want,
		            wf_gguf_vtype_name(kv->atype));
	return wf_errf(err, errlen, "key " KEYF ": expected %s, found %s", KEYA(kv), want,
	            wf_gguf_vtype_name(kv->type));
}

static int get_int(const struct wf_gguf *g, const char *key, int *neg, uint64_t *mag,
                   const char *want, const struct wf_gguf_kv **kvp, char *err, size_t errlen)
{
	if (scalar(g, key, kvp))
		return 1;
	if (!is_int((*kvp)->type))
		return wrong(*kvp, want, err, errlen);
	int_at(*kvp, (*kvp)->type, 0, neg, mag);
	return 0;
}

int wf_gguf_get_u32(const struct wf_gguf *g, const char *key, uint32_t *out, char *err, size_t errlen)
{
	const struct wf_gguf_kv *kv;
	int neg;
	uint64_t m;
	int r = get_int(g, key, &neg, &m, "UINT32", &kv, err, errlen);
	if (r)
		return r;
	if (neg || m > UINT32_MAX)
		return wf_errf(err, errlen, "key " KEYF ": value %s%llu out of range for UINT32", KEYA(kv),
		            neg ? "-" : "", (unsigned long long)m);
	*out = (uint32_t)m;
	return 0;
}

int wf_gguf_get_u64(const struct wf_gguf *g, const char *key, uint64_t *out, char *err, size_t errlen)
{
	const struct wf_gguf_kv *kv;
	int neg;
	uint64_t m;
	int r = get_int(g, key, &neg, &m, "UINT64", &kv, err, errlen);
	if (r)
		return r;
	if (neg)
		return wf_errf(err, errlen, "key " KEYF ": value -%llu is negative", KEYA(kv), (unsigned long long)m);
	*out = m;
	return 0;
}

int wf_gguf_get_i64(const struct wf_gguf *g, const char *key, int64_t *out, char *err, size_t errlen)
{
	const struct wf_gguf_kv *kv;
	int neg;
	uint64_t m;
	int r = get_int(g, key, &neg, &m, "INT64", &kv, err, errlen);
	if (r)
		return r;
	if (m > (uint64_t)INT64_MAX + neg)
		return wf_errf(err, errlen, "key " KEYF ": value out of range for INT64", KEYA(kv));
	*out = neg ? (int64_t)(0 - m) : (int64_t)m;
	return 0;
}

int wf_gguf_get_f32(const struct wf_gguf *g, const char *key, float *out, char *err, size_t errlen)
{
	const struct wf_gguf_kv *kv;
	if (scalar(g, key, &kv))
		return 1;
	if (kv->type != WF_GGUF_FLOAT32 && kv->type != WF_GGUF_FLOAT64)
		return wrong(kv, "FLOAT32", err, errlen);
	*out = (float)wf_gguf_kv_num(kv, 0);
	return 0;
}

int wf_gguf_get_bool(const struct wf_gguf *g, const char *key, int *out, char *err, size_t errlen)
{
	const struct wf_gguf_kv *kv;
	if (scalar(g, key, &kv))
		return 1;
	if (kv->type != WF_GGUF_BOOL)
		return wrong(kv, "BOOL", err, errlen);
	*out = kv->data[0];
	return 0;
}

int wf_gguf_get_str(const struct wf_gguf *g, const char *key, struct wf_gguf_str *out, char *err, size_t errlen)
{
	const struct wf_gguf_kv *kv;
	if (scalar(g, key, &kv))
		return 1;
	if (kv->type != WF_GGUF_STRING)
		return wrong(kv, "STRING", err, errlen);
	*out = kv->strs[0];
	return 0;
}

const struct wf_gguf_kv *wf_gguf_get_arr(const struct wf_gguf *g, const char *key, uint32_t atype,
                                         uint64_t n, char *err, size_t errlen)
{
	const struct wf_gguf_kv *kv = wf_gguf_find(g, key);
	if (!kv) {
		wf_errf(err, errlen, "key '%s' is missing", key);
		return NULL;
	}
	char want[64];
	if (n)
		snprintf(want, sizeof want, "ARRAY[%s] of %llu", wf_gguf_vtype_name(atype), (unsigned long long)n);
	else
		snprintf(want, sizeof want, "ARRAY[%s]", wf_gguf_vtype_name(atype));
	if (kv->type != WF_GGUF_ARRAY) {
		wf_errf(err, errlen, "key '%s': expected %s, found %s", key, want, wf_gguf_vtype_name(kv->type));
		return NULL;
	}
	if (kv->atype != atype || (n && kv->n != n)) {
		wf_errf(err, errlen, "key '%s': expected %s, found ARRAY[%s] of %llu", key, want,
		     wf_gguf_vtype_name(kv->atype), (unsigned long long)kv->n);
		return NULL;
	}
	return kv;
}

uint32_t wf_gguf_arr_u32(const struct wf_gguf_kv *kv, uint64_t i)
{
	return le32(kv->data + 4 * i);
}

int32_t wf_gguf_arr_i32(const struct wf_gguf_kv *kv, uint64_t i)
{
	return (int32_t)le32(kv->data + 4 * i);
}

float wf_gguf_arr_f32(const struct wf_gguf_kv *kv, uint64_t i)
{
	uint32_t u = le32(kv->data + 4 * i);
	float f;
	memcpy(&f, &u, 4);
	return f;
}

double wf_gguf_kv_num(const struct wf_gguf_kv *kv, uint64_t i)
{
	uint32_t t = kv->type == WF_GGUF_ARRAY ? kv->atype : kv->type;
	if (t == WF_GGUF_FLOAT32) {
		uint32_t u = le32(kv->data + 4 * i);
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	if (t == WF_GGUF_FLOAT64) {
		uint64_t u = le64(kv->data + 8 * i);
		double d;
		memcpy(&d, &u, 8);
		return d;
	}
	if (t == WF_GGUF_BOOL)
		return kv->data[i];
	if (is_int(t)) {
		int neg;
		uint64_t m;
		int_at(kv, t, i, &neg, &m);
		return neg ? -(double)m : (double)m;
	}
	return 0;
}

/* --------------------------------------------------------------- writer */

struct wtensor {
	char name[WF_GGUF_MAX_NAME + 1];
	uint32_t type, n_dims;
	int64_t ne[WF_GGUF_MAX_DIMS];
	uint64_t nbytes, offset;
};

struct wf_gguf_writer {
	uint8_t *meta;          /* serialised kv pairs */
	size_t meta_len, meta_cap;
	char **keys;            /* for duplicate detection */
	uint64_t n_kv;
	struct wtensor *t;
	uint64_t n_t, cap_t;
	uint32_t align;
	uint64_t data_size;     /* padded sum of tensor sizes */
	/* streaming state */
	wf_gguf_sink sink;
	void *ctx;
	int begun;
	uint64_t cur, cur_done; /* tensor being written, bytes of it written */
	char err[256];
};

struct wf_gguf_writer *wf_gguf_writer_new(void)
{
	struct wf_gguf_writer *w = calloc(1, sizeof *w);
	if (w)
		w->align = WF_GGUF_DEFAULT_ALIGNMENT;
	return w;
}

void wf_gguf_writer_free(struct wf_gguf_writer *w)
{
	if (!w)
		return;
	for (uint64_t i = 0; i < w->n_kv; i++)
		free(w->keys[i]);
	free(w->keys);
	free(w->meta);
	free(w->t);
	free(w);
}

const char *wf_gguf_writer_error(const struct wf_gguf_writer *w)
{
	return w->err;
}

static int werr(struct wf_gguf_writer *w, const char *fmt, ...)
{
	va_list ap;
	if (!w->err[0]) {
		va_start(ap, fmt);
		vsnprintf(w->err, sizeof w->err, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int put(struct wf_gguf_writer *w, const void *p, size_t n)
{
	if (w->meta_len + n > w->meta_cap) {
		size_t cap = w->meta_cap ? w->meta_cap : 4096;
		while (cap < w->meta_len + n)
			cap *= 2;
		uint8_t *m = realloc(w->meta, cap);
		if (!m)
			return werr(w, "out of memory");
		w->meta = m;
		w->meta_cap = cap;
	}
	memcpy(w->meta + w->meta_len, p, n);
	w->meta_len += n;
	return 0;
}

static int put32(struct wf_gguf_writer *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	return put(w, b, 4);
}

static int put64(struct wf_gguf_writer *w, uint64_t v)
{
	if (put32(w, (uint32_t)v))
		return -1;
	return put32(w, (uint32_t)(v >> 32));
}

static int putstr(struct wf_gguf_writer *w, const char *s, size_t n)
{
	if (put64(w, n))
		return -1;
	return put(w, s, n);
}

/* Start a kv: check the key, record it, write it and the type. */
static int key(struct wf_gguf_writer *w, const char *k, uint32_t type)
{
	if (w->err[0])
		return -1;
	if (w->begun)
		return werr(w, "key '%s': metadata added after writing began", k);
	size_t n = strlen(k);
	if (n == 0 || n > 65535)
		return werr(w, "key '%s': length %zu out of range", k, n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
			return werr(w, "key '%s': not printable ASCII", k);
	for (uint64_t i = 0; i < w->n_kv; i++)
		if (strcmp(w->keys[i], k) == 0)
			return werr(w, "key '%s': duplicate key", k);
	char **keys = realloc(w->keys, (w->n_kv + 1) * sizeof *keys);
	if (!keys)
		return werr(w, "out of memory");
	w->keys = keys;
	if (!(keys[w->n_kv] = strdup(k)))
		return werr(w, "out of memory");
	w->n_kv++;
	if (putstr(w, k, n) || put32(w, type))
		return -1;
	return 0;
}

int wf_gguf_writer_u32(struct wf_gguf_writer *w, const char *k, uint32_t v)
{
	return key(w, k, WF_GGUF_UINT32) ? -1 : put32(w, v);
}

int wf_gguf_writer_i32(struct wf_gguf_writer *w, const char *k, int32_t v)
{
	return key(w, k, WF_GGUF_INT32) ? -1 : put32(w, (uint32_t)v);
}

int wf_gguf_writer_u64(struct wf_gguf_writer *w, const char *k, uint64_t v)
{
	return key(w, k, WF_GGUF_UINT64) ? -1 : put64(w, v);
}

int wf_gguf_writer_f32(struct wf_gguf_writer *w, const char *k, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	return key(w, k, WF_GGUF_FLOAT32) ? -1 : put32(w, u);
}

int wf_gguf_writer_bool(struct wf_gguf_writer *w, const char *k, int v)
{
	uint8_t b = v ? 1 : 0;
	return key(w, k, WF_GGUF_BOOL) ? -1 : put(w, &b, 1);
}

int wf_gguf_writer_strn(struct wf_gguf_writer *w, const char *k, const char *v, size_t len)
{
	return key(w, k, WF_GGUF_STRING) ? -1 : putstr(w, v, len);
}

int wf_gguf_writer_str(struct wf_gguf_writer *w, const char *k, const char *v)
{
	return wf_gguf_writer_strn(w, k, v, strlen(v));
}

int wf_gguf_writer_arr(struct wf_gguf_writer *w, const char *k, uint32_t atype, const void *data, uint64_t n)
{
	if (atype > WF_GGUF_FLOAT64 || atype == WF_GGUF_STRING || atype == WF_GGUF_ARRAY)
		return werr(w, "key '%s': bad array element type %u", k, atype);
	if (key(w, k, WF_GGUF_ARRAY) || put32(w, atype) || put64(w, n))
		return -1;
	/* Elements are written little-endian; the host is assumed little-endian. */
	return put(w, data, (size_t)n * VSIZE[atype]);
}

int wf_gguf_writer_arr_str(struct wf_gguf_writer *w, const char *k, const char *const *v,
                           const size_t *lens, uint64_t n)
{
	if (key(w, k, WF_GGUF_ARRAY) || put32(w, WF_GGUF_STRING) || put64(w, n))
		return -1;
	for (uint64_t i = 0; i < n; i++)
		if (putstr(w, v[i], lens ? lens[i] : strlen(v[i])))
			return -1;
	return 0;
}

int wf_gguf_writer_copy_kv(struct wf_gguf_writer *w, const struct wf_gguf_kv *kv)
{
	char k[65536];
	memcpy(k, kv->key.ptr, kv->key.len);
	k[kv->key.len] = '\0';
	if (kv->type == WF_GGUF_STRING)
		return wf_gguf_writer_strn(w, k, kv->strs[0].ptr, kv->strs[0].len);
	if (kv->type != WF_GGUF_ARRAY) {
		if (key(w, k, kv->type))
			return -1;
		return put(w, kv->data, VSIZE[kv->type]);
	}
	if (kv->atype != WF_GGUF_STRING)
		return wf_gguf_writer_arr(w, k, kv->atype, kv->data, kv->n);
	if (key(w, k, WF_GGUF_ARRAY) || put32(w, WF_GGUF_STRING) || put64(w, kv->n))
		return -1;
	for (uint64_t i = 0; i < kv->n; i++)
		if (putstr(w, kv->strs[i].ptr, kv->strs[i].len))
			return -1;
	return 0;
}

int wf_gguf_writer_set_alignment(struct wf_gguf_writer *w, uint32_t align)
{
	if (align == 0 || (align & (align - 1)) || align > WF_GGUF_MAX_ALIGNMENT)
		return werr(w, "alignment %u is not a power of two in [1, %u]", align, WF_GGUF_MAX_ALIGNMENT);
	if (w->n_t)
		return werr(w, "alignment set after tensors were declared");
	if (wf_gguf_writer_u32(w, "general.alignment", align))
		return -1;
	w->align = align;
	return 0;
}

static uint64_t pad(uint64_t n, uint64_t a)
{
	return (n + a - 1) / a * a;
}

int wf_gguf_writer_tensor(struct wf_gguf_writer *w, const char *name, uint32_t type,
                          const int64_t *ne, uint32_t n_dims)
{
	if (w->err[0])
		return -1;
	if (w->begun)
		return werr(w, "tensor '%s': declared after writing began", name);
	size_t n = strlen(name);
	if (n == 0 || n > WF_GGUF_MAX_NAME)
		return werr(w, "tensor '%s': name length %zu out of range [1, %d]", name, n, WF_GGUF_MAX_NAME);
	if (n_dims == 0 || n_dims > WF_GGUF_MAX_DIMS)
		return werr(w, "tensor '%s': %u dimensions (must be 1 to 4)", name, n_dims);
	for (uint64_t i = 0; i < w->n_t; i++)
		if (strcmp(w->t[i].name, name) == 0)
			return werr(w, "tensor '%s': duplicate tensor name", name);
	uint64_t nbytes;
	char sub[160];
	if (wf_ggml_nbytes(type, ne, n_dims, &nbytes, sub, sizeof sub))
		return werr(w, "tensor '%s': %s", name, sub);
	if (w->n_t == w->cap_t) {
		uint64_t cap = w->cap_t ? w->cap_t * 2 : 64;
		struct wtensor *t = realloc(w->t, cap * sizeof *t);
		if (!t)
			return werr(w, "out of memory");
		w->t = t;
		w->cap_t = cap;
	}
	struct wtensor *t = &w->t[w->n_t++];
	memset(t, 0, sizeof *t);
	memcpy(t->name, name, n + 1);
	t->type = type;
	t->n_dims = n_dims;
	for (uint32_t d = 0; d < WF_GGUF_MAX_DIMS; d++)
		t->ne[d] = d < n_dims ? ne[d] : 1;
	t->nbytes = nbytes;
	t->offset = w->data_size;
	w->data_size += pad(nbytes, w->align);
	return 0;
}

/* Bytes of the header, metadata and tensor infos, before padding. */
static uint64_t head_size(const struct wf_gguf_writer *w)
{
	uint64_t n = 24 + w->meta_len;
	for (uint64_t i = 0; i < w->n_t; i++)
		n += 8 + strlen(w->t[i].name) + 4 + 8 * (uint64_t)w->t[i].n_dims + 4 + 8;
	return n;
}

uint64_t wf_gguf_writer_size(const struct wf_gguf_writer *w)
{
	return pad(head_size(w), w->align) + w->data_size;
}

static int emit(struct wf_gguf_writer *w, const void *p, size_t n)
{
	char sub[200];
	if (n && w->sink(w->ctx, p, n, sub, sizeof sub))
		return werr(w, "%s", sub);
	return 0;
}

static int emit_zeros(struct wf_gguf_writer *w, uint64_t n)
{
	static const uint8_t z[4096];
	while (n) {
		size_t k = n < sizeof z ? (size_t)n : sizeof z;
		if (emit(w, z, k))
			return -1;
		n -= k;
	}
	return 0;
}

int wf_gguf_writer_begin(struct wf_gguf_writer *w, wf_gguf_sink sink, void *ctx)
{
	if (w->err[0])
		return -1;
	if (w->begun)
		return werr(w, "writing already began");
	/* The tensor infos go after the kvs in the same buffer: remember where. */
	size_t kv_end = w->meta_len;
	for (uint64_t i = 0; i < w->n_t; i++) {
		struct wtensor *t = &w->t[i];
		if (putstr(w, t->name, strlen(t->name)) || put32(w, t->n_dims))
			return -1;
		for (uint32_t d = 0; d < t->n_dims; d++)
			if (put64(w, (uint64_t)t->ne[d]))
				return -1;
		if (put32(w, t->type) || put64(w, t->offset))
			return -1;
	}
	w->sink = sink;
	w->ctx = ctx;
	w->begun = 1;
	uint8_t h[24];
	uint32_t v[2] = {WF_GGUF_MAGIC, 3};
	uint64_t c[2] = {w->n_t, w->n_kv};
	for (int i = 0; i < 4; i++) {
		h[i] = (uint8_t)(v[0] >> 8 * i);
		h[4 + i] = (uint8_t)(v[1] >> 8 * i);
	}
	for (int i = 0; i < 8; i++) {
		h[8 + i] = (uint8_t)(c[0] >> 8 * i);
		h[16 + i] = (uint8_t)(c[1] >> 8 * i);
	}
	uint64_t hs = 24 + w->meta_len;
	if (emit(w, h, 24) || emit(w, w->meta, w->meta_len) || emit_zeros(w, pad(hs, w->align) - hs))
		return -1;
	w->meta_len = kv_end; /* the buffer again holds only the kvs */
	w->cur = 0;
	w->cur_done = 0;
	return 0;
}

int wf_gguf_writer_data(struct wf_gguf_writer *w, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	if (w->err[0])
		return -1;
	if (!w->begun)
		return werr(w, "tensor data written before wf_gguf_writer_begin");
	while (n) {
		if (w->cur >= w->n_t)
			return werr(w, "%zu bytes of tensor data past the last tensor", n);
		struct wtensor *t = &w->t[w->cur];
		uint64_t room = t->nbytes - w->cur_done;
		size_t k = n < room ? n : (size_t)room;
		if (emit(w, p, k))
			return -1;
		p += k;
		n -= k;
		w->cur_done += k;
		if (w->cur_done == t->nbytes) {
			if (emit_zeros(w, pad(t->nbytes, w->align) - t->nbytes))
				return -1;
			w->cur++;
			w->cur_done = 0;
		}
	}
	return 0;
}

int wf_gguf_writer_finish(struct wf_gguf_writer *w)
{
	if (w->err[0])
		return -1;
	if (!w->begun)
		return werr(w, "nothing written");
	if (w->cur < w->n_t)
		return werr(w, "tensor '%s': %llu of %llu bytes written", w->t[w->cur].name,
		            (unsigned long long)w->cur_done, (unsigned long long)w->t[w->cur].nbytes);
	return 0;
}

int wf_gguf_sink_fd(void *ctx, const void *buf, size_t n, char *err, size_t errlen)
{
	int fd = *(int *)ctx;
	const char *p = buf;
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return wf_errf(err, errlen, "write error: %s", strerror(errno));
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int wf_gguf_sink_mem(void *ctx, const void *buf, size_t n, char *err, size_t errlen)
{
	struct wf_gguf_mem *m = ctx;
	if (n > m->cap - m->n) {
		size_t c = m->cap ? m->cap : 4096;
		while (c - m->n < n) {
			if (c > SIZE_MAX / 2)
				return wf_errf(err, errlen, "out of memory");
			c *= 2;
		}
		unsigned char *p = realloc(m->p, c);
		if (!p)
			return wf_errf(err, errlen, "out of memory");
		m->p = p;
		m->cap = c;
	}
	if (n)
		memcpy(m->p + m->n, buf, n);
	m->n += n;
	return 0;
}
