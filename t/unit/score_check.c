/*
 * score_check MODEL — lib/score against plain wf_ctx_eval on any model:
 *   1. wf_logprob: log-softmax of hand-made logits (sum of probabilities 1,
 *      greedy is the lowest id among ties);
 *   2. wf_score_seq equals log-softmax of the logits of one fresh causal
 *      evaluation, for every start `from`, whatever the cache held before
 *      (prefix reuse), with n_batch 3 (pieces) and 64;
 *   3. wf_ppl_eval: chunk and token counts of both llama-perplexity modes,
 *      and the sums equal scoring each window by hand (BOS replacing the
 *      first token of each chunk in the default mode only);
 *   4. errors: too few tokens, a stride not below the window, a record
 *      longer than the context.
 * Prints "ok N" per check; exits 1 at the first failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "kernels.h"
#include "model.h"
#include "score.h"
#include "unit.h"

static char err[512];

#define CHECK(n, cond)                                                        \
	do {                                                                      \
		if (!(cond)) {                                                        \
			fprintf(stderr, "check %d failed: %s (%s)\n", n, #cond, err);     \
			return 1;                                                         \
		}                                                                     \
	} while (0)

#define NT 40 /* tokens in the test sequence */

/* Reference: log p of tok[i] for i in 1..n-1 from one fresh evaluation. */
static int reference(struct wf_ctx *c, int V, const int32_t *tok, int n, double *ref, float *lg)
{
	wf_ctx_truncate(c, 0);
	struct wf_eval e = {tok, n - 1, WF_ATTN_CAUSAL, 1, 0, lg};
	if (wf_ctx_eval(c, &e, err, sizeof err) < 0)
		return -1;
	for (int i = 1; i < n; i++) {
		const float *row = lg + (size_t)(i - 1) * V;
		double mx = row[0], z = 0;
		for (int j = 1; j < V; j++)
			mx = row[j] > mx ? row[j] : mx;
		for (int j = 0; j < V; j++)
			z += exp(row[j] - mx);
		ref[i] = row[tok[i]] - mx - log(z);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: score_check MODEL\n");
		return 2;
	}
	/* 1 */
	{
		float l[5] = {1, 3, 3, -2, 0};
		int g;
		double s = 0;
		for (int t = 0; t < 5; t++)
			s += exp(wf_logprob(l, 5, t, NULL));
		CHECK(1, fabs(s - 1) < 1e-12);
		double lp = wf_logprob(l, 5, 1, &g);
		double z = exp(1) + 2 * exp(3) + exp(-2) + exp(0);
		CHECK(1, fabs(lp - (3 - log(z))) < 1e-12 && g == 1);
		wf_logprob(l, 5, 2, &g);
		CHECK(1, g == 0);
		printf("ok 1\n");
	}

	struct wf_gguf g;
	struct wf_model *m = unit_model(argv[1], &g, 1);
	int V = wf_model_hparams(m)->n_vocab;

	int32_t tok[NT], other[NT];
	for (int i = 0; i < NT; i++) {
		tok[i] = (int32_t)((i * 7919 + 13) % V);
		other[i] = i < 10 ? tok[i] : (int32_t)((i * 31 + 5) % V);
	}
	float *lg = malloc((size_t)NT * V * sizeof *lg);
	double ref[NT], lp[NT];
	unsigned char gr[NT];
	CHECK(0, lg != NULL);

	/* 2 */
	int batches[2] = {3, 64};
	for (int b = 0; b < 2; b++) {
		struct wf_ctx *c = wf_ctx_new(m, 64, batches[b], 2, err, sizeof err);
		CHECK(2, c != NULL);
		struct wf_scorer *s = wf_scorer_new(c, V, err, sizeof err);
		CHECK(2, s != NULL);
		CHECK(2, reference(c, V, tok, NT, ref, lg) == 0);
		for (int from = 1; from < NT; from += 3) {
			/* leave the cache holding a sequence sharing 10 tokens */
			wf_ctx_truncate(c, 0);
			CHECK(2, wf_ctx_decode(c, other, NT - 5, NULL, err, sizeof err) == 0);
			for (int i = 0; i < NT; i++)
				lp[i] = 99, gr[i] = 7;
			CHECK(2, wf_score_seq(s, tok, NT, from, lp, gr, err, sizeof err) == 0);
			for (int i = 0; i < from; i++)
				CHECK(2, lp[i] == 99 && gr[i] == 7);
			for (int i = from; i < NT; i++) {
				if (fabs(lp[i] - ref[i]) > 1e-9) {
					fprintf(stderr, "batch %d from %d token %d: %.9f != %.9f\n", batches[b], from, i,
					        lp[i], ref[i]);
					return 1;
				}
				int gg;
				wf_logprob(lg + (size_t)(i - 1) * V, V, tok[i], &gg);
				CHECK(2, gr[i] == gg);
			}
			CHECK(2, wf_ctx_n_past(c) == NT - 1);
		}
		/* the same record again reuses all but from - 1 .. and agrees */
		CHECK(2, wf_score_seq(s, tok, NT, NT - 1, lp, gr, err, sizeof err) == 0);
		CHECK(2, fabs(lp[NT - 1] - ref[NT - 1]) < 1e-9);
		wf_scorer_free(s);
		wf_ctx_free(c);
	}
	printf("ok 2\n");

	/* 3: 40 tokens, windows of 8 (5 chunks of 3 scored), stride 3 */
	{
		struct wf_ctx *c = wf_ctx_new(m, 16, 0, 2, err, sizeof err);
		CHECK(3, c != NULL);
		struct wf_scorer *s = wf_scorer_new(c, V, err, sizeof err);
		CHECK(3, s != NULL);
		for (int mode = 0; mode < 3; mode++) {
			struct wf_ppl_opts o = {8, mode == 2 ? 3 : 0, mode == 1 ? 1 : -1};
			struct wf_ppl r;
			CHECK(3, wf_ppl_eval(s, tok, NT, &o, &r, err, sizeof err) == 0);
			int chunks = mode == 2 ? (NT - 8 + 2) / 3 : NT / 8;
			int per = mode == 2 ? 3 : 8 - 1 - 4;
			CHECK(3, r.chunks == chunks && r.count == (long)chunks * per);
			double nll = 0, nll2 = 0;
			for (int k = 0; k < chunks; k++) {
				int32_t w[8];
				memcpy(w, tok + k * (mode == 2 ? 3 : 8), sizeof w);
				if (mode == 1)
					w[0] = 1;
				CHECK(3, reference(c, V, w, 8, ref, lg) == 0);
				for (int i = 8 - per; i < 8; i++)
					nll -= ref[i], nll2 += ref[i] * ref[i];
			}
			CHECK(3, fabs(nll - r.nll) < 1e-8 && fabs(nll2 - r.nll2) < 1e-8);
			double ppl, loss, pe;
			wf_ppl_finish(&r, &ppl, &loss, &pe);
			CHECK(3, fabs(loss - nll / r.count) < 1e-12 && fabs(ppl - exp(loss)) < 1e-9);
			double var = nll2 / r.count - loss * loss;
			CHECK(3, fabs(pe - ppl * sqrt(var / (r.count - 1))) < 1e-9);
		}
		printf("ok 3\n");

		/* 4 */
		struct wf_ppl r;
		struct wf_ppl_opts o = {8, 0, -1};
		CHECK(4, wf_ppl_eval(s, tok, 15, &o, &r, err, sizeof err) < 0);
		CHECK(4, !strcmp(err, "perplexity with windows of 8 needs at least 16 tokens, the record has 15"));
		o.stride = 8;
		CHECK(4, wf_ppl_eval(s, tok, NT, &o, &r, err, sizeof err) < 0);
		CHECK(4, !strcmp(err, "perplexity stride 8 is not in [1, 8) (the window is 8)"));
		o.window = 18, o.stride = 0;
		CHECK(4, wf_ppl_eval(s, tok, NT, &o, &r, err, sizeof err) < 0);
		CHECK(4, !strcmp(err, "perplexity windows of 18 tokens need 17 positions, the context holds 16"));
		CHECK(4, wf_score_ids(s, tok, 18, err, sizeof err) < 0);
		CHECK(4, !strcmp(err, "record of 18 tokens needs 17 positions, the context holds 16"));
		CHECK(4, wf_score_ids(s, tok, 17, err, sizeof err) == 0);
		CHECK(4, wf_score_seq(s, tok, 5, 0, lp, NULL, err, sizeof err) < 0);
		wf_scorer_free(s);
		wf_ctx_free(c);
		printf("ok 4\n");
	}
	free(lg);
	wf_model_free(m);
	return 0;
}
