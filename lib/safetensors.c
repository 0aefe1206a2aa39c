/*
 * safetensors — bounds-checked reader (see safetensors.h).
 */
#include "safetensors.h"
#include "errf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	size_t size;
} dtypes[WF_ST_NTYPES] = {
	[WF_ST_BOOL] = {"BOOL", 1}, [WF_ST_U8] = {"U8", 1}, [WF_ST_I8] = {"I8", 1},
	[WF_ST_F8_E4M3] = {"F8_E4M3", 1}, [WF_ST_F8_E5M2] = {"F8_E5M2", 1},
	[WF_ST_U16] = {"U16", 2}, [WF_ST_I16] = {"I16", 2}, [WF_ST_F16] = {"F16", 2},
	[WF_ST_BF16] = {"BF16", 2}, [WF_ST_U32] = {"U32", 4}, [WF_ST_I32] = {"I32", 4},
	[WF_ST_F32] = {"F32", 4}, [WF_ST_U64] = {"U64", 8}, [WF_ST_I64] = {"I64", 8},
	[WF_ST_F64] = {"F64", 8},
};

const char *wf_st_dtype_name(int d)
{
	return d >= 0 && d < WF_ST_NTYPES ? dtypes[d].name : "?";
}

size_t wf_st_dtype_size(int d)
{
	return d >= 0 && d < WF_ST_NTYPES ? dtypes[d].size : 0;
}

void wf_st_free(struct wf_safetensors *st)
{
	if (!st)
		return;
	free(st->t);
	free(st->by_name);
	wf_json_free(st->doc);
	memset(st, 0, sizeof *st);
}

static int by_begin(const void *a, const void *b)
{
	const struct wf_st_tensor *x = *(const struct wf_st_tensor *const *)a;
	const struct wf_st_tensor *y = *(const struct wf_st_tensor *const *)b;
	return x->data < y->data ? -1 : x->data > y->data ? 1 : (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

static int by_name(const void *a, const void *b)
{
	const struct wf_st_tensor *x = *(const struct wf_st_tensor *const *)a;
	const struct wf_st_tensor *y = *(const struct wf_st_tensor *const *)b;
	return strcmp(x->name, y->name);
}

static int parse_tensor(struct wf_safetensors *st, struct wf_st_tensor *t, const struct wf_json *e,
                        uint64_t data_size, char *err, size_t errlen)
{
	char buf[160];
	t->name = e->key;
	if (e->type != WF_JSON_OBJECT)
		return wf_errf(err, errlen, "tensor '%s': expected an object, found %s", e->key, wf_json_type_name(e->type));
	const struct wf_json *dt = wf_json_get(e, "dtype");
	const struct wf_json *sh = wf_json_get(e, "shape");
	const struct wf_json *off = wf_json_get(e, "data_offsets");
	if (!dt || dt->type != WF_JSON_STRING)
		return wf_errf(err, errlen, "tensor '%s': no 'dtype' string", e->key);
	t->dtype = -1;
	for (int d = 0; d < WF_ST_NTYPES; d++)
		if (strcmp(dt->s, dtypes[d].name) == 0)
			t->dtype = d;
	if (t->dtype < 0)
		return wf_errf(err, errlen, "tensor '%s': unknown dtype '%.20s'", e->key, dt->s);
	if (!sh || sh->type != WF_JSON_ARRAY)
		return wf_errf(err, errlen, "tensor '%s': no 'shape' array", e->key);
	if (sh->n > WF_ST_MAX_DIMS)
		return wf_errf(err, errlen, "tensor '%s': %u dimensions (at most %d)", e->key, sh->n, WF_ST_MAX_DIMS);
	t->n_dims = (int)sh->n;
	uint64_t n = 1;
	int over = 0;
	size_t bl = 0;
	buf[0] = '\0';
	for (int d = 0; d < t->n_dims; d++) {
		int64_t v;
		if (wf_json_int(&sh->u.kids[d], 0, INT64_MAX, &v) < 0)
			return wf_errf(err, errlen, "tensor '%s': shape[%d] is not a non-negative integer", e->key, d);
		t->shape[d] = v;
		if (v && n > UINT64_MAX / (uint64_t)v)
			over = 1;
		n *= (uint64_t)v;
		if (bl < sizeof buf)
			bl += (size_t)snprintf(buf + bl, sizeof buf - bl, "%s%lld", d ? ", " : "", (long long)v);
	}
	size_t es = dtypes[t->dtype].size;
	if (over || n > UINT64_MAX / es)
		return wf_errf(err, errlen, "tensor '%s': shape [%s] is too large", e->key, buf);
	t->nelem = n;
	t->nbytes = n * es;
	int64_t b, en;
	if (!off || off->type != WF_JSON_ARRAY || off->n != 2 ||
	    wf_json_int(&off->u.kids[0], 0, INT64_MAX, &b) < 0 || wf_json_int(&off->u.kids[1], 0, INT64_MAX, &en) < 0)
		return wf_errf(err, errlen, "tensor '%s': 'data_offsets' must be [begin, end] with non-negative integers", e->key);
	if (b > en)
		return wf_errf(err, errlen, "tensor '%s': data_offsets [%lld, %lld] end before they begin", e->key,
			     (long long)b, (long long)en);
	if ((uint64_t)en > data_size)
		return wf_errf(err, errlen, "tensor '%s': data_offsets [%lld, %lld] past the end of the data (%llu bytes)",
			     e->key, (long long)b, (long long)en, (unsigned long long)data_size);
	if ((uint64_t)(en - b) != t->nbytes)
		return wf_errf(err, errlen, "tensor '%s': data_offsets [%lld, %lld] hold %lld bytes, shape [%s] of %s needs %llu",
			     e->key, (long long)b, (long long)en, (long long)(en - b), buf, dtypes[t->dtype].name,
			     (unsigned long long)t->nbytes);
	t->data = st->base + st->data_offset + b;
	return 0;
}

int wf_st_parse(struct wf_safetensors *st, const void *buf, size_t len, char *err, size_t errlen)
{
	memset(st, 0, sizeof *st);
	st->base = buf;
	st->size = len;
	if (len < 8)
		return wf_errf(err, errlen, "file of %zu bytes is too short for a safetensors header", len);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | st->base[i];
	if (n > WF_ST_MAX_HEADER)
		return wf_errf(err, errlen, "header length %llu is over the limit of %u bytes", (unsigned long long)n, WF_ST_MAX_HEADER);
	if (n > len - 8)
		return wf_errf(err, errlen, "header length %llu is past the end of the file (%zu bytes)", (unsigned long long)n, len);
	if (n < 2)
		return wf_errf(err, errlen, "header length %llu is too short for a JSON object", (unsigned long long)n);
	st->data_offset = 8 + n;
	char jerr[200];
	/* Writers pad the header with trailing spaces; the JSON parser allows them. */
	st->doc = wf_json_parse((const char *)st->base + 8, (size_t)n, 16, jerr, sizeof jerr);
	if (!st->doc)
		return wf_errf(err, errlen, "header: %s", jerr);
	const struct wf_json *root = wf_json_root(st->doc);
	if (root->type != WF_JSON_OBJECT) {
		wf_errf(err, errlen, "header: expected a JSON object, found %s", wf_json_type_name(root->type));
		wf_st_free(st);
		return -1;
	}
	uint64_t data_size = len - st->data_offset;
	st->t = calloc(root->n ? root->n : 1, sizeof(*st->t));
	st->by_name = calloc(root->n ? root->n : 1, sizeof(*st->by_name));
	struct wf_st_tensor **order = calloc(root->n ? root->n : 1, sizeof(*order));
	if (!st->t || !st->by_name || !order) {
		free(order);
		wf_st_free(st);
		return wf_errf(err, errlen, "out of memory");
	}
	for (uint32_t i = 0; i < root->n; i++) {
		const struct wf_json *e = &root->u.kids[i];
		if (strcmp(e->key, "__metadata__") == 0) {
			if (st->metadata) {
				wf_errf(err, errlen, "__metadata__: listed twice");
				goto fail;
			}
			if (e->type != WF_JSON_OBJECT) {
				wf_errf(err, errlen, "__metadata__: expected an object, found %s", wf_json_type_name(e->type));
				goto fail;
			}
			for (uint32_t k = 0; k < e->n; k++) {
				if (e->u.kids[k].type != WF_JSON_STRING) {
					wf_errf(err, errlen, "__metadata__: '%s': expected a string value", e->u.kids[k].key);
					goto fail;
				}
			}
			st->metadata = e;
			continue;
		}
		if (parse_tensor(st, &st->t[st->n], e, data_size, err, errlen) < 0)
			goto fail;
		order[st->n] = st->by_name[st->n] = &st->t[st->n];
		st->n++;
	}
	/* No name twice: looked for in sorted order, as a 100 MB header holds
	 * millions of (empty) tensors, too many to compare pairwise; the order
	 * stays for wf_st_find. */
	qsort(st->by_name, st->n, sizeof(*st->by_name), by_name);
	for (size_t i = 1; i < st->n; i++) {
		if (strcmp(st->by_name[i - 1]->name, st->by_name[i]->name) == 0) {
			wf_errf(err, errlen, "tensor '%s': listed twice", st->by_name[i]->name);
			goto fail;
		}
	}
	/* No two byte ranges may overlap (empty tensors overlap nothing). */
	qsort(order, st->n, sizeof(*order), by_begin);
	const struct wf_st_tensor *prev = NULL;
	for (size_t i = 0; i < st->n; i++) {
		const struct wf_st_tensor *t = order[i];
		if (!t->nbytes)
			continue;
		if (prev && prev->data + prev->nbytes > t->data) {
			wf_errf(err, errlen, "tensors '%s' and '%s': data ranges [%llu, %llu) and [%llu, %llu) overlap",
			      prev->name, t->name,
			      (unsigned long long)(prev->data - st->base - st->data_offset),
			      (unsigned long long)(prev->data - st->base - st->data_offset + prev->nbytes),
			      (unsigned long long)(t->data - st->base - st->data_offset),
			      (unsigned long long)(t->data - st->base - st->data_offset + t->nbytes));
			goto fail;
		}
		prev = t;
	}
	free(order);
	return 0;
fail:
	free(order);
	wf_st_free(st);
	return -1;
}

const struct wf_st_tensor *wf_st_find(const struct wf_safetensors *st, const char *name)
{
	size_t lo = 0, hi = st->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(st->by_name[mid]->name, name);
		if (c == 0)
			return st->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
