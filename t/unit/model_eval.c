/*
 * model_eval MODEL — checks of the wf_ctx_eval contract that block
 * diffusion will rely on, on any small model:
 *   1. a non-committing evaluation leaves the cache as it was;
 *   2. causal: a block position's logits do not depend on later positions;
 *      bidirectional (WF_ATTN_BLOCK): they do;
 *   3. a bidirectional block of one position equals a causal one;
 *   4. committing a block in pieces equals committing it at once;
 *   5. bad requests fail with a message, without touching the cache;
 *   6. a model bound to pre-packed matrices (wf_model_opts.packed, fed
 *      from another load's wf_model_tmat) computes the same logits;
 *   7. asking for the logits of the last rows only (the last layer then
 *      skips the other rows) gives those rows of the full answer.
 * Prints "ok N" per check, exits 1 at the first failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "kernels.h"
#include "model.h"
#include "unit.h"

static char err[512];

#define CHECK(n, cond)                                               \
	do {                                                             \
		if (!(cond)) {                                               \
			fprintf(stderr, "check %d failed: %s (%s)\n", n, #cond, err); \
			return 1;                                                \
		}                                                            \
	} while (0)

static const struct wf_model *src_model;
static int n_packed;

static int packed_cb(void *ctx, const char *name, int rows, int cols, const uint8_t **data, float *scale,
                     char *e, size_t elen)
{
	(void)ctx;
	for (size_t i = 0; i < wf_model_n_tmats(src_model); i++) {
		const char *nm;
		const struct wf_tmat *w = wf_model_tmat(src_model, i, &nm);
		if (!strcmp(nm, name)) {
			if (w->rows != rows || w->cols != cols) {
				snprintf(e, elen, "%s: shape", name);
				return -1;
			}
			*data = w->data;
			*scale = w->scale;
			n_packed++;
			return 1;
		}
	}
	return 0;
}

static int eval(struct wf_ctx *c, const int32_t *t, int n, int attn, int commit, int from, float *lg)
{
	struct wf_eval e = {t, n, attn, commit, from, lg};
	return wf_ctx_eval(c, &e, err, sizeof err);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: model_eval MODEL.gguf\n");
		return 2;
	}
	struct wf_gguf g;
	struct wf_model *m = unit_model(argv[1], &g, 2);
	int V = wf_model_hparams(m)->n_vocab;
	struct wf_ctx *c = wf_ctx_new(m, 64, 4, 2, err, sizeof err);
	if (!c) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	int32_t p[6] = {11, 22, 33, 44, 55, 66}, blk[4] = {7, 8, 9, 10}, blk2[4] = {7, 8, 9, 500};
	size_t row = (size_t)V * sizeof(float);
	float *a = malloc(8 * row), *b = malloc(8 * row), *x = malloc(8 * row), *y = malloc(row);

	/* 1 */
	CHECK(1, eval(c, p, 5, WF_ATTN_CAUSAL, 1, 4, x) == 0);
	CHECK(1, eval(c, blk, 4, WF_ATTN_BLOCK, 0, 0, a) == 0);
	CHECK(1, wf_ctx_n_past(c) == 5);
	CHECK(1, eval(c, p + 5, 1, WF_ATTN_CAUSAL, 1, 0, x) == 0);
	wf_ctx_truncate(c, 0);
	CHECK(1, eval(c, p, 6, WF_ATTN_CAUSAL, 1, 5, y) == 0);
	CHECK(1, memcmp(x, y, row) == 0);
	printf("ok 1 non-committing evaluation leaves the cache alone\n");

	/* 2 */
	wf_ctx_truncate(c, 3);
	CHECK(2, eval(c, blk, 4, WF_ATTN_CAUSAL, 0, 0, a) == 0);
	CHECK(2, eval(c, blk2, 4, WF_ATTN_CAUSAL, 0, 0, b) == 0);
	CHECK(2, memcmp(a, b, 3 * row) == 0 && memcmp(a + 3 * V, b + 3 * V, row) != 0);
	CHECK(2, eval(c, blk, 4, WF_ATTN_BLOCK, 0, 0, a) == 0);
	CHECK(2, eval(c, blk2, 4, WF_ATTN_BLOCK, 0, 0, b) == 0);
	CHECK(2, memcmp(a, b, row) != 0);
	printf("ok 2 causal blocks ignore later positions, bidirectional blocks see them\n");

	/* 3 */
	CHECK(3, eval(c, blk, 1, WF_ATTN_BLOCK, 0, 0, a) == 0);
	CHECK(3, eval(c, blk, 1, WF_ATTN_CAUSAL, 0, 0, b) == 0);
	CHECK(3, memcmp(a, b, row) == 0);
	printf("ok 3 a one-position bidirectional block is causal\n");

	/* 4 */
	wf_ctx_truncate(c, 0);
	CHECK(4, eval(c, p, 2, WF_ATTN_CAUSAL, 1, 0, a) == 0);
	CHECK(4, eval(c, p + 2, 3, WF_ATTN_CAUSAL, 1, 0, a + 2 * V) == 0);
	CHECK(4, eval(c, p + 5, 1, WF_ATTN_CAUSAL, 1, 0, a + 5 * V) == 0);
	wf_ctx_truncate(c, 0);
	CHECK(4, eval(c, p, 6, WF_ATTN_CAUSAL, 1, 0, b) == 0); /* in pieces of n_batch 4 */
	CHECK(4, memcmp(a, b, 6 * row) == 0);
	printf("ok 4 committing in pieces equals committing at once\n");

	/* 5 */
	int np = wf_ctx_n_past(c);
	CHECK(5, eval(c, blk, 60, WF_ATTN_CAUSAL, 1, 0, NULL) < 0 && wf_ctx_n_past(c) == np);
	CHECK(5, eval(c, blk, 9, WF_ATTN_BLOCK, 0, 0, NULL) < 0);
	int32_t bad[1] = {V};
	CHECK(5, eval(c, bad, 1, WF_ATTN_CAUSAL, 1, 0, NULL) < 0 && wf_ctx_n_past(c) == np);
	printf("ok 5 bad requests fail: %s\n", err);

	/* 6 */
	src_model = m;
	struct wf_model_opts mo = {.packed = packed_cb};
	struct wf_model *m2 = wf_model_load(&g, &mo, err, sizeof err);
	CHECK(6, m2 != NULL);
	CHECK(6, n_packed == (int)wf_model_n_tmats(m) && n_packed > 0);
	struct wf_ctx *c2 = wf_ctx_new(m2, 64, 4, 1, err, sizeof err);
	CHECK(6, c2 != NULL);
	CHECK(6, eval(c2, p, 6, WF_ATTN_CAUSAL, 1, 0, a) == 0);
	CHECK(6, memcmp(a, b, 6 * row) == 0);
	printf("ok 6 pre-packed matrices (%d) give the same logits\n", n_packed);
	wf_ctx_free(c2);
	wf_model_free(m2);

	/* 7 */
	for (int from = 0; from <= 4; from++) {
		wf_ctx_truncate(c, 0);
		CHECK(7, eval(c, p, 4, WF_ATTN_CAUSAL, 1, from, from < 4 ? x : NULL) == 0);
		CHECK(7, eval(c, p + 4, 2, WF_ATTN_CAUSAL, 1, 0, a) == 0);
		CHECK(7, memcmp(a, b + 4 * V, 2 * row) == 0);
		wf_ctx_truncate(c, 2);
		CHECK(7, eval(c, blk, 4, WF_ATTN_BLOCK, 0, 0, a) == 0);
		CHECK(7, eval(c, blk, 4, WF_ATTN_BLOCK, 0, from, x) == 0);
		CHECK(7, from == 4 || memcmp(x, a + (size_t)from * V, (size_t)(4 - from) * row) == 0);
	}
	printf("ok 7 logits of the last rows only equal those rows of the full answer\n");

	free(a), free(b), free(x), free(y);
	wf_ctx_free(c);
	wf_model_free(m);
	return 0;
}
