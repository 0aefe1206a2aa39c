/*
 * score — teacher-forced log-probabilities, sliding-window perplexity and
 * multiple-choice log-likelihoods over a model context (wf-decode --score,
 * --ppl, --mc; the formats are in man/wf-decode.1).
 *
 * All log-probabilities are natural logs computed in double from the float
 * logits: log p(t) = l[t] - max - log Σ_i exp(l_i - max).
 *
 * Perplexity follows llama.cpp's llama-perplexity:
 *   default (stride 0): the tokens are cut into n / W chunks of W tokens
 *     (a trailing partial chunk is dropped); with a BOS id (the vocabulary
 *     adds BOS) the first token of every chunk is replaced by BOS; in each
 *     chunk positions W/2 .. W-2 predict their next token, so each chunk
 *     scores W - 1 - W/2 tokens and always has W/2 tokens of context.
 *   stride S (0 < S < W, llama-perplexity --ppl-stride): chunks of W
 *     tokens start at 0, S, 2S, ... while ceil((n - W) / S) chunks fit;
 *     each scores its last S tokens (positions W-S-1 .. W-2 predict); no
 *     token is replaced by BOS (llama.cpp sets BOS only after evaluating).
 *   Both require n >= 2 W tokens, as llama-perplexity does.
 *   ppl = exp(nll / count); its standard error ppl * sqrt((E[nll²] -
 *   E[nll]²) / (count - 1)), llama-perplexity's "+/-".
 *
 * Multiple choice follows lm-evaluation-harness (HFLM, loglikelihood
 * requests): see wf_mc_eval.
 *
 * Memory: a scorer allocates its logits rows at creation (rows × n_vocab
 * floats, rows = min(n_batch, 16 Mi / n_vocab)) and per-record arrays as
 * records grow; nothing is allocated per token.
 *
 * Errors: 0 / -1 (or NULL) with one line in the caller's err[errlen].
 */
#ifndef WF_SCORE_H
#define WF_SCORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gguf.h"
#include "model.h"

/*
 * log softmax(logits[0..n_vocab))[tok], in double.  *greedy (when not
 * NULL) is 1 when tok is the argmax, the lowest id on ties (the token
 * greedy decoding picks), else 0.
 */
double wf_logprob(const float *logits, int n_vocab, int32_t tok, int *greedy);

struct wf_scorer;

/* A scorer evaluating on c (which must outlive it) for a vocabulary of
 * n_vocab. */
struct wf_scorer *wf_scorer_new(struct wf_ctx *c, int n_vocab, char *err, size_t errlen);
void wf_scorer_free(struct wf_scorer *s);

/*
 * Teacher forcing over tok[0..n): for i in [from, n),
 *   lp[i] = log P(tok[i] | tok[0..i)),  greedy[i] = tok[i] is the argmax.
 * lp[0..from) and greedy[0..from) are left alone; greedy may be NULL.
 * 1 <= from.  Positions 0 .. n-2 are evaluated (the last token is only a
 * target), so n - 1 must fit in the context ("N positions do not fit in
 * the context of M").  The longest cached prefix shared with tok is reused
 * (at most from - 1 positions, whose logits are not needed), and tok[0..n-1)
 * stays cached afterwards, so consecutive calls sharing a prefix -- the
 * choices of one question -- evaluate it once.  Results equal a fresh
 * evaluation.
 */
int wf_score_seq(struct wf_scorer *s, const int32_t *tok, int n, int from, double *lp,
                 unsigned char *greedy, char *err, size_t errlen);

/*
 * wf-decode --score on one record: every id after the first, scored given
 * the ones before.  The result stays in the scorer until the next call.
 */
int wf_score_ids(struct wf_scorer *s, const int32_t *tok, size_t n, char *err, size_t errlen);

/* Write the last wf_score_ids result as "TOTAL N<TAB>LP_1 ... LP_N" (no
 * key, no newline): TOTAL the sum, N = max(n - 1, 0), LP_i the log
 * probability of id i (from 0); numbers as %.6f.  0, or -1 on a write
 * error. */
int wf_score_fprint(const struct wf_scorer *s, FILE *f);

struct wf_ppl_opts {
	int window;    /* W >= 2: tokens per chunk (llama-perplexity -c) */
	int stride;    /* 0: the default chunks; 0 < S < W: --ppl-stride S */
	int32_t bos;   /* >= 0: BOS put first in every chunk (default mode); -1: none */
};

struct wf_ppl {
	long count;    /* tokens scored */
	int chunks;
	double nll;    /* Σ -log p */
	double nll2;   /* Σ (log p)² */
};

/*
 * Perplexity of tok[0..n) as described at the top.  Errors: "perplexity
 * with windows of 256 needs at least 512 tokens, the record has 300";
 * evaluation errors.  The context must hold W - 1 positions.
 */
int wf_ppl_eval(struct wf_scorer *s, const int32_t *tok, size_t n, const struct wf_ppl_opts *o,
                struct wf_ppl *r, char *err, size_t errlen);

/* ppl, mean nll (nats per token), and the standard error of ppl
 * (NaN when count < 2). */
void wf_ppl_finish(const struct wf_ppl *r, double *ppl, double *loss, double *ppl_err);

/* Write "PPL N LOSS ERR" (%.4f %ld %.6f %.4f; no newline).  0 or -1. */
int wf_ppl_fprint(const struct wf_ppl *r, FILE *f);

/*
 * The BOS id llama-perplexity would put first in every chunk: the
 * vocabulary's BOS when it adds BOS (tokenizer.ggml.add_bos_token, with
 * llama.cpp's defaults), else -1 (also when g has no usable vocabulary).
 */
int32_t wf_score_model_bos(const struct wf_gguf *g);

/* ---------------------------------------------------------------------- */
/* Multiple choice (lm-evaluation-harness loglikelihood requests). */

struct wf_mc;

/* A multiple-choice scorer with its own tokenizer built from g (which
 * must outlive it). */
struct wf_mc *wf_mc_new(struct wf_scorer *s, const struct wf_gguf *g, char *err, size_t errlen);
void wf_mc_free(struct wf_mc *m);

struct wf_mc_result {
	const char *id;            /* the record's "id" (a string's text, a number's source), or NULL */
	size_t idlen;
	int n;                     /* choices (1 for a "continuation" record) */
	const double *ll;          /* [n] log-likelihood of each continuation */
	const unsigned char *greedy; /* [n] 1: every continuation token is the argmax */
	const int *ntok;           /* [n] continuation tokens */
	int pred, pred_norm;       /* argmax ll; argmax ll / length (first on ties) */
	int gold;                  /* gold index, or -1 */
	int single;                /* 1: a "continuation" record */
};

/*
 * Score one JSON object (one line of JSON Lines):
 *   {"context": C, "continuation": X}
 *       one request (C, X), as the harness's loglikelihood requests;
 *   {"context": C, "choices": [X0, X1, ...], "gold": G, "target_delimiter": D}
 *       requests (C, D + Xi) for every choice, as the harness's
 *       multiple_choice tasks; "gold" (optional) an index or the text of a
 *       choice; "target_delimiter" optional, default " " as in the harness.
 *   "id" (optional, a string without TAB or newline, or a number) names
 *   the record in the output.
 * Tokenization as the harness's _encode_pair: trailing whitespace of C
 * (Python's str.isspace) moves to the front of the continuation; ctx =
 * encode(C), whole = encode(C + X); the continuation tokens are whole
 * after len(ctx) tokens; the model sees ctx + those tokens, cut on the
 * left to the last n_ctx + 1 (the last token is only a target).  An empty
 * C gives ctx = [BOS] (else [EOS]) and the continuation encode(X).
 * encode() adds no BOS and recognises control-token texts (HF's
 * add_special_tokens=False).  ll = Σ log p of the continuation tokens;
 * greedy: each is the argmax.  pred_norm divides ll by the length of Xi in
 * characters (Unicode code points, Python's len(); the byte count for
 * ASCII), without the delimiter, as the harness's acc_norm does.
 * Choices of one record share the cached context (wf_score_seq).
 * On error r->id is still set when the object had one.
 */
int wf_mc_eval(struct wf_mc *m, const char *line, size_t len, struct wf_mc_result *r, char *err,
               size_t errlen);

/*
 * Write one output line for r (see wf-decode(1), --mc):
 *   KEY<TAB>LL...<TAB>GREEDY...<TAB>PRED<TAB>PRED_NORM<TAB>GOLD<TAB>ACC<TAB>ACC_NORM\n
 * KEY the id or else recno; a failed record (ok == 0) is "KEY<TAB>\n".
 * 0, or -1 on a write error.
 */
int wf_mc_fprint(FILE *f, const struct wf_mc_result *r, unsigned long long recno, int ok);

#endif
