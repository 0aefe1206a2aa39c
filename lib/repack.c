/*
 * repack.c — a GGUF rewritten with its ternary projections in the kernels'
 * packed layout (WF_TYPE_WF_TMAT).  Streams: metadata and untouched tensors
 * are copied, each rewritten tensor is decoded and packed a chunk of row
 * groups at a time.
 */
#include "repack.h"
#include "errf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model.h"
#include "ternary.h"
#include "tokenizer.h"

#define ALIGN 64
#define CHUNK_WEIGHTS (1 << 22) /* trits decoded at a time */

struct item {
	const struct wf_gguf_tensor *t;
	int rewrite;        /* 1: written as WF_TMAT */
	int rows, cols;
	float scale;
};

struct wf_repack {
	const struct wf_gguf *g;
	struct item *it;
	int n_rewrite;
	void *tok_index;    /* the tokenizer's precomputed index, or NULL */
	size_t tok_index_len;
	const struct wf_gguf_tensor *q8src; /* the output matrix copied as wf.output_q8r, or NULL */
	uint64_t data_total;
	struct wf_gguf_writer *w;
};

/* 1 when name is blk.N.<projection>.weight. */
static int is_projection(const char *name)
{
	static const char *const P[] = {"attn_q", "attn_k", "attn_v", "attn_output",
	                                "ffn_gate", "ffn_up", "ffn_down"};
	unsigned layer;
	int n = 0;
	if (sscanf(name, "blk.%u.%n", &layer, &n) != 1 || n == 0)
		return 0;
	const char *rest = name + n;
	for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
		size_t k = strlen(P[i]);
		if (!strncmp(rest, P[i], k) && !strcmp(rest + k, ".weight"))
			return 1;
	}
	return 0;
}

/*
 * The float output matrix to add as a WF_Q8R copy: output.weight, else the
 * tied token_embd.weight, when it is F16/F32/BF16 [cols % 32 == 0, rows]
 * and WF_OUTPUT says q8_0, or it is unset and the matrix holds at least
 * WF_Q8_0_OUTPUT_MIN bytes (lib/model uses the copy on the same terms).
 */
static const struct wf_gguf_tensor *output_q8_source(const struct wf_gguf *g, int want)
{
	const struct wf_gguf_tensor *t = wf_gguf_tensor(g, "output.weight");
	if (!t)
		t = wf_gguf_tensor(g, "token_embd.weight");
	if (!t || want < 0 || t->n_dims != 2 || t->ne[0] % WF_Q8R_ALIGN ||
	    t->ne[0] > INT32_MAX || t->ne[1] > INT32_MAX ||
	    (t->type != WF_TYPE_F16 && t->type != WF_TYPE_F32 && t->type != WF_TYPE_BF16))
		return NULL;
	if (want > 0)
		return t;
	return t->nbytes >= WF_Q8_0_OUTPUT_MIN ? t : NULL;
}

/* Append the WF_Q8R copy of t (kernels.h), one row at a time through a
 * float row: the bytes lib/model makes at load.  The rows' int8 go out
 * 1024 rows at a time; their scales and sums, which follow all of them,
 * at the end. */
static int write_q8(struct wf_repack *r, const struct wf_gguf_tensor *t, char *err, size_t errlen)
{
	int cols = (int)t->ne[0], rows = (int)t->ne[1], es = t->type == WF_TYPE_F32 ? 4 : 2, step = 1024;
	float *x = malloc((size_t)cols * sizeof *x), *d = malloc((size_t)rows * sizeof *d);
	int32_t *sum = malloc((size_t)rows * sizeof *sum);
	int8_t *q = malloc((size_t)step * cols);
	int rc = -1;
	if (!x || !d || !sum || !q) {
		wf_errf(err, errlen, "out of memory");
		goto out;
	}
	for (int r0 = 0; r0 < rows; r0 += step) {
		int r1 = rows - r0 < step ? rows : r0 + step;
		for (int i = r0; i < r1; i++) {
			const uint8_t *src = t->data + (size_t)i * cols * es;
			for (int k = 0; k < cols; k++) {
				if (es == 4) {
					memcpy(&x[k], src + 4 * (size_t)k, 4);
				} else {
					uint16_t h;
					memcpy(&h, src + 2 * (size_t)k, 2);
					x[k] = t->type == WF_TYPE_F16 ? wf_f16_to_f32(h) : wf_bf16_to_f32(h);
				}
			}
			wf_q8r_from_f32(x, cols, q + (size_t)(i - r0) * cols, d + i, sum + i, 0, 1);
		}
		if (wf_gguf_writer_data(r->w, q, (size_t)(r1 - r0) * cols) < 0)
			goto werr;
	}
	if (wf_gguf_writer_data(r->w, d, (size_t)rows * sizeof *d) < 0 ||
	    wf_gguf_writer_data(r->w, sum, (size_t)rows * sizeof *sum) < 0)
		goto werr;
	rc = 0;
	goto out;
werr:
	wf_errf(err, errlen, "%s", wf_gguf_writer_error(r->w));
out:
	free(x);
	free(d);
	free(sum);
	free(q);
	return rc;
}

/* The tokenizer's merge index, when g has a vocabulary that encodes: a
 * tensor of raw 32-bit words at the end (tokenizer.h). */
static int add_tok_index(struct wf_repack *r, char *err, size_t errlen)
{
	if (!wf_gguf_find(r->g, "tokenizer.ggml.tokens"))
		return 0;
	char sub[256];
	struct wf_tokenizer *t = wf_tokenizer_load(r->g, NULL, sub, sizeof sub);
	if (!t)
		return wf_errf(err, errlen, "tokenizer: %s", sub);
	size_t len = 0;
	const void *ix = wf_tok_index(t, &len);
	if (ix && len % 4 == 0 && (r->tok_index = malloc(len))) {
		memcpy(r->tok_index, ix, len);
		r->tok_index_len = len;
	}
	wf_tokenizer_free(t);
	if (!r->tok_index)
		return 0;
	int64_t ne[1] = {(int64_t)(len / 4)};
	return wf_gguf_writer_tensor(r->w, WF_TOK_INDEX_TENSOR, WF_TYPE_F32, ne, 1);
}

struct wf_repack *wf_repack_plan(const struct wf_gguf *g, uint64_t *size, char *err, size_t errlen)
{
	struct wf_repack *r = calloc(1, sizeof *r);
	if (!r || !(r->it = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *r->it))) {
		free(r);
		wf_errf(err, errlen, "out of memory");
		return NULL;
	}
	r->g = g;
	if (!(r->w = wf_gguf_writer_new())) {
		wf_repack_free(r);
		wf_errf(err, errlen, "out of memory");
		return NULL;
	}
	wf_gguf_writer_set_alignment(r->w, ALIGN);
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const struct wf_gguf_kv *kv = &g->kv[i];
		if ((kv->key.len == 17 && !memcmp(kv->key.ptr, "general.alignment", 17)) ||
		    (kv->key.len == 11 && !memcmp(kv->key.ptr, "wf.repacked", 11)) ||
		    (kv->key.len == 16 && !memcmp(kv->key.ptr, "wf.repacked_from", 16)))
			continue;
		wf_gguf_writer_copy_kv(r->w, kv);
	}
	wf_gguf_writer_u32(r->w, "wf.repacked", 1);
	/* the type the weights came in, for display (lib/model: hp->wtype) */
	uint32_t from = wf_model_wtype(g);
	if (from != WF_TYPE_WF_TMAT)
		wf_gguf_writer_u32(r->w, "wf.repacked_from", from);
	int want = wf_output_env(err, errlen);
	if (want == -2) {
		wf_repack_free(r);
		return NULL;
	}
	if (!wf_gguf_tensor(g, "wf.output_q8r"))
		r->q8src = output_q8_source(g, want);
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		struct item *it = &r->it[i];
		const struct wf_gguf_tensor *t = &g->tensors[i];
		it->t = t;
		if (!strcmp(t->name, WF_TOK_INDEX_TENSOR)) {
			it->t = NULL; /* replaced by the index built below */
			continue;
		}
		it->rewrite = t->n_dims == 2 && is_projection(t->name) && wf_ternary_type_ok(t->type) &&
		              t->ne[0] % WF_TMAT_COL_ALIGN == 0 && t->ne[1] <= INT32_MAX;
		uint32_t type = t->type;
		if (it->rewrite) {
			char sub[256];
			it->rows = (int)t->ne[1];
			it->cols = (int)t->ne[0];
			if (wf_ternary_check(t, NULL, NULL, sub, sizeof sub) < 0 ||
			    wf_ternary_scale(t, &it->scale, sub, sizeof sub) < 0) {
				wf_errf(err, errlen, "%s", sub);
				wf_repack_free(r);
				return NULL;
			}
			type = WF_TYPE_WF_TMAT;
			r->n_rewrite++;
		}
		wf_gguf_writer_tensor(r->w, t->name, type, t->ne, t->n_dims);
	}
	if (r->q8src)
		wf_gguf_writer_tensor(r->w, "wf.output_q8r", WF_TYPE_WF_Q8R, r->q8src->ne, 2);
	if (add_tok_index(r, err, errlen) < 0) {
		wf_repack_free(r);
		return NULL;
	}
	if (wf_gguf_writer_error(r->w)[0]) {
		wf_errf(err, errlen, "%s", wf_gguf_writer_error(r->w));
		wf_repack_free(r);
		return NULL;
	}
	*size = wf_gguf_writer_size(r->w);
	return r;
}

int wf_repack_count(const struct wf_repack *r)
{
	return r->n_rewrite + (r->tok_index != NULL);
}

/* Pack one tensor, CHUNK_WEIGHTS at a time in whole row groups. */
static int write_packed(struct wf_repack *r, const struct item *it, int8_t *trits, uint8_t *packed,
                        char *err, size_t errlen)
{
	int group = WF_TMAT_ROW_GROUP;
	int step = CHUNK_WEIGHTS / it->cols / group * group;
	if (step < group)
		step = group;
	for (int r0 = 0; r0 < it->rows; r0 += step) {
		int r1 = r0 + step < it->rows ? r0 + step : it->rows;
		if (wf_ternary_tmat_rows(it->t, it->scale, r0, r1, trits, packed, err, errlen) < 0)
			return -1;
		if (wf_gguf_writer_data(r->w, packed, wf_tmat_packed_size(r1 - r0, it->cols)) < 0)
			return wf_errf(err, errlen, "%s", wf_gguf_writer_error(r->w));
	}
	uint8_t trailer[32] = {0};
	memcpy(trailer, &it->scale, sizeof it->scale);
	if (wf_gguf_writer_data(r->w, trailer, sizeof trailer) < 0)
		return wf_errf(err, errlen, "%s", wf_gguf_writer_error(r->w));
	return 0;
}

int wf_repack_write(struct wf_repack *r, wf_gguf_sink sink, void *ctx,
                    void (*progress)(void *pctx, uint64_t done, uint64_t total), void *pctx,
                    char *err, size_t errlen)
{
	uint64_t total = 0, done = 0;
	for (uint64_t i = 0; i < r->g->n_tensors; i++)
		if (r->it[i].t)
			total += r->it[i].t->nbytes;
	if (wf_gguf_writer_begin(r->w, sink, ctx) < 0)
		return wf_errf(err, errlen, "%s", wf_gguf_writer_error(r->w));
	/* a chunk holds CHUNK_WEIGHTS trits, or one row group of the widest matrix */
	size_t chunk = CHUNK_WEIGHTS;
	for (uint64_t i = 0; i < r->g->n_tensors; i++)
		if (r->it[i].rewrite && (size_t)WF_TMAT_ROW_GROUP * (size_t)r->it[i].cols > chunk)
			chunk = (size_t)WF_TMAT_ROW_GROUP * (size_t)r->it[i].cols;
	int8_t *trits = malloc(chunk);
	uint8_t *packed = malloc(chunk / 4);
	int rc = -1;
	if (!trits || !packed) {
		wf_errf(err, errlen, "out of memory");
		goto out;
	}
	for (uint64_t i = 0; i < r->g->n_tensors; i++) {
		const struct item *it = &r->it[i];
		if (!it->t)
			continue;
		if (it->rewrite) {
			char sub[256];
			if (write_packed(r, it, trits, packed, sub, sizeof sub) < 0) {
				wf_errf(err, errlen, "%s", sub);
				goto out;
			}
		} else if (wf_gguf_writer_data(r->w, it->t->data, (size_t)it->t->nbytes) < 0) {
			wf_errf(err, errlen, "%s", wf_gguf_writer_error(r->w));
			goto out;
		}
		done += it->t->nbytes;
		if (progress)
			progress(pctx, done, total);
	}
	if (r->q8src && write_q8(r, r->q8src, err, errlen) < 0)
		goto out;
	if (r->tok_index && wf_gguf_writer_data(r->w, r->tok_index, r->tok_index_len) < 0) {
		wf_errf(err, errlen, "%s", wf_gguf_writer_error(r->w));
		goto out;
	}
	if (wf_gguf_writer_finish(r->w) < 0) {
		wf_errf(err, errlen, "%s", wf_gguf_writer_error(r->w));
		goto out;
	}
	rc = 0;
out:
	free(trits);
	free(packed);
	return rc;
}

void wf_repack_free(struct wf_repack *r)
{
	if (!r)
		return;
	wf_gguf_writer_free(r->w);
	free(r->tok_index);
	free(r->it);
	free(r);
}
