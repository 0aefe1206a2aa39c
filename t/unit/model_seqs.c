/*
 * model_seqs MODEL [THREADS] — checks of the multi-sequence context
 * (wf_ctx_new_seqs, wf_ctx_set_seq, wf_ctx_eval_seqs) on any small model:
 *   1. sequences prefilled to different lengths in one context, then
 *      stepped together by wf_ctx_eval_seqs in varying subsets and orders
 *      (1 to 14 tokens a step: both ways lib/model multiplies a few tokens),
 *      give the logits of each sequence decoded alone in its own context,
 *      bit for bit (the first steps, and again once some sequences have
 *      been truncated, reused by prefix and refilled);
 *   2. n_past and the cached tokens of every sequence follow;
 *   3. bad requests fail with their message and change nothing;
 *   4. wf_ctx_shared_prefix reports what wf_ctx_reuse_prefix keeps.
 * Prints "ok N" per check, exits 1 at the first failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "kernels.h"
#include "model.h"
#include "unit.h"

#define NS 14     /* sequences */
#define BATCH 16
#define CTX 48
#define STEPS 12

static char err[512];

#define CHECK(n, cond)                                                        \
	do {                                                                      \
		if (!(cond)) {                                                        \
			fprintf(stderr, "check %d failed: %s (%s)\n", n, #cond, err);     \
			return 1;                                                         \
		}                                                                     \
	} while (0)

/* A deterministic token stream per sequence. */
static int32_t tok_at(int s, int i, int V)
{
	return (int32_t)((s * 131 + i * 17 + (i * i) % 7 + 1) % V);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: model_seqs MODEL.gguf [THREADS]\n");
		return 2;
	}
	int nt = argc == 3 ? atoi(argv[2]) : 2;
	struct wf_gguf g;
	struct wf_model *m = unit_model(argv[1], &g, 2);
	int V = wf_model_hparams(m)->n_vocab;
	struct wf_ctx *c = wf_ctx_new_seqs(m, CTX, BATCH, nt, NS, err, sizeof err);
	struct wf_ctx *ref[NS];
	CHECK(0, c && wf_ctx_n_seqs(c) == NS && wf_ctx_seq(c) == 0);
	for (int s = 0; s < NS; s++) {
		ref[s] = wf_ctx_new(m, CTX, BATCH, nt, err, sizeof err);
		CHECK(0, ref[s] != NULL);
	}
	float *lg = malloc((size_t)NS * V * sizeof *lg), *lr = malloc((size_t)V * sizeof *lr);
	int32_t hist[NS][CTX];
	int len[NS] = {3, 11, 1, 20, 7, 2, 13, 5, 1, 9, 4, 16, 6, 8}; /* prompt lengths */
	CHECK(0, lg && lr);

	/* 1. prefill each sequence (the multi context in pieces of its batch) */
	for (int s = 0; s < NS; s++) {
		for (int i = 0; i < len[s]; i++)
			hist[s][i] = tok_at(s, i, V);
		CHECK(1, wf_ctx_set_seq(c, s) == 0 && wf_ctx_seq(c) == s);
		CHECK(1, wf_ctx_decode(c, hist[s], len[s], lg, err, sizeof err) == 0);
		CHECK(1, wf_ctx_decode(ref[s], hist[s], len[s], lr, err, sizeof err) == 0);
		CHECK(1, memcmp(lg, lr, (size_t)V * sizeof *lr) == 0);
	}
	/* then steps over subsets: step k takes want[k % 6] sequences, in
	 * order from sequence 5k on */
	static const int want[6] = {NS, 3, 13, 1, 12, 7};
	for (int round = 0; round < 2; round++) {
		for (int k = 0; k < STEPS; k++) {
			int32_t tk[NS];
			int sq[NS], n = want[k % 6];
			for (int i = 0; i < n; i++) {
				int s = (5 * k + i) % NS;
				sq[i] = s;
				tk[i] = tok_at(s + 7, len[s], V);
			}
			CHECK(1, wf_ctx_eval_seqs(c, tk, sq, n, lg, err, sizeof err) == 0);
			for (int j = 0; j < n; j++) {
				int s = sq[j];
				hist[s][len[s]++] = tk[j];
				CHECK(1, wf_ctx_decode(ref[s], &tk[j], 1, lr, err, sizeof err) == 0);
				if (memcmp(lg + (size_t)j * V, lr, (size_t)V * sizeof *lr) != 0) {
					snprintf(err, sizeof err, "round %d step %d sequence %d: logits differ", round, k, s);
					CHECK(1, 0);
				}
			}
		}
		/* 2. positions and tokens */
		for (int s = 0; s < NS; s++) {
			CHECK(2, wf_ctx_set_seq(c, s) == 0);
			CHECK(2, wf_ctx_n_past(c) == len[s]);
			CHECK(2, memcmp(wf_ctx_tokens(c), hist[s], (size_t)len[s] * sizeof(int32_t)) == 0);
		}
		if (round == 1)
			break;
		/* sequence 1 is truncated, 3 takes a prompt sharing 5 tokens with
		 * its cache (4. shared_prefix == reuse_prefix), 0 is emptied and
		 * refilled; the references do the same afresh */
		wf_ctx_set_seq(c, 1);
		wf_ctx_truncate(c, 4);
		len[1] = 4;
		int32_t p3[9];
		for (int i = 0; i < 9; i++)
			p3[i] = i < 5 ? hist[3][i] : tok_at(40, i, V);
		CHECK(4, wf_ctx_shared_prefix(c, 3, p3, 9) == 5 && wf_ctx_shared_prefix(c, NS, p3, 9) == 0);
		wf_ctx_set_seq(c, 3);
		int kept = wf_ctx_reuse_prefix(c, p3, 9);
		CHECK(4, kept == 5 && wf_ctx_n_past(c) == 5);
		CHECK(1, wf_ctx_decode(c, p3 + kept, 9 - kept, lg, err, sizeof err) == 0);
		memcpy(hist[3], p3, sizeof p3);
		len[3] = 9;
		wf_ctx_set_seq(c, 0);
		wf_ctx_truncate(c, 0);
		CHECK(1, wf_ctx_decode(c, hist[4], 6, lg, err, sizeof err) == 0);
		memcpy(hist[0], hist[4], 6 * sizeof(int32_t));
		len[0] = 6;
		for (int s = 0; s < NS; s++) {
			wf_ctx_truncate(ref[s], 0);
			CHECK(1, wf_ctx_decode(ref[s], hist[s], len[s], lr, err, sizeof err) == 0);
		}
	}
	printf("ok 1 eval_seqs logits equal each sequence decoded alone\n");
	printf("ok 2 n_past and tokens per sequence\n");
	printf("ok 4 shared_prefix\n");

	/* 3. bad requests: message, nothing changes */
	int past[NS];
	for (int s = 0; s < NS; s++) {
		wf_ctx_set_seq(c, s);
		past[s] = wf_ctx_n_past(c);
	}
	int32_t tk[BATCH + 1] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	int dup[3] = {0, 2, 0}, out[2] = {1, NS}, many[BATCH + 1];
	for (int i = 0; i <= BATCH; i++)
		many[i] = i % NS;
	CHECK(3, wf_ctx_eval_seqs(c, tk, dup, 3, lg, err, sizeof err) < 0 &&
	             !strcmp(err, "tokens 1 and 3: both for sequence 0"));
	CHECK(3, wf_ctx_eval_seqs(c, tk, out, 2, lg, err, sizeof err) < 0 &&
	             !strcmp(err, "token 2: sequence 14 out of range [0, 14)"));
	CHECK(3, wf_ctx_eval_seqs(c, tk, many, BATCH + 1, lg, err, sizeof err) < 0 &&
	             !strcmp(err, "17 tokens: not in [1, 16] (the batch)"));
	CHECK(3, wf_ctx_eval_seqs(c, tk, many, 0, lg, err, sizeof err) < 0);
	int32_t badtok[2] = {1, (int32_t)V};
	CHECK(3, wf_ctx_eval_seqs(c, badtok, many, 2, lg, err, sizeof err) < 0);
	/* fill sequence 2 to the end of the context: one more does not fit */
	wf_ctx_set_seq(c, 2);
	int32_t fill[CTX];
	for (int i = 0; i < CTX; i++)
		fill[i] = tok_at(2, i, V);
	wf_ctx_truncate(c, 0);
	CHECK(3, wf_ctx_decode(c, fill, CTX, NULL, err, sizeof err) == 0);
	past[2] = CTX;
	int s2[2] = {1, 2};
	CHECK(3, wf_ctx_eval_seqs(c, tk, s2, 2, lg, err, sizeof err) < 0 &&
	             !strcmp(err, "sequence 2: 1 position does not fit in the context of 48 (48 cached)"));
	CHECK(3, wf_ctx_set_seq(c, NS) < 0 && wf_ctx_set_seq(c, -1) < 0 && wf_ctx_seq(c) == 2);
	for (int s = 0; s < NS; s++) {
		wf_ctx_set_seq(c, s);
		CHECK(3, wf_ctx_n_past(c) == past[s]);
	}
	CHECK(3, !wf_ctx_new_seqs(m, CTX, 8, 1, 0, err, sizeof err) &&
	             !strcmp(err, "0 sequences: not in [1, 1024]"));
	printf("ok 3 bad requests\n");

	for (int s = 0; s < NS; s++)
		wf_ctx_free(ref[s]);
	wf_ctx_free(c);
	free(lg);
	free(lr);
	wf_model_free(m);
	return 0;
}
