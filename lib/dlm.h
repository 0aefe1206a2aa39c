/*
 * dlm — block-diffusion decoding (Fast-dLLM v2) on a wf_ctx.
 *
 * The sequence x = prompt, then generated tokens, is cut into blocks of B
 * positions aligned at absolute positions k·B (the first block holds the
 * prompt's tail).  With L the prompt length and E = L + max_tokens the end:
 *
 *   prefill   x[0, P), P = floor(L/B)·B, is evaluated causally into the
 *             cache.  When P = L its last logits give x[L] (argmax).
 *   denoise   the current block [s, e), e = min(s + B, E, n_ctx), holds
 *             its decided tokens and the mask token elsewhere.  Sub-blocks
 *             of S positions (aligned at s, s + S, ...) are decoded left to
 *             right; while the current one has masked slots, one pass
 *             evaluates the block against the cached prefix without
 *             writing the cache (attention inside the block bidirectional,
 *             WF_ATTN_BLOCK, or causal), and each masked slot i of the
 *             sub-block gets the argmax x̂_i of the logits of position
 *             i - 1 (token shift; the mask id excluded) and its probability
 *             p_i = softmax(logits)[x̂_i].  Slots with p_i > τ (strict) are
 *             fixed; if none is, the one with the largest p_i (the
 *             leftmost on ties).
 *   clean     when the block is complete and more tokens are wanted, one
 *             causal pass over x[s, e) writes its keys and values into the
 *             cache; the argmax of its last logits is x[e], the first token
 *             of the next block (so no mask ever reaches the cache).
 *
 * Thresholds τ per mode:
 *   WF_DLM_ITERATIVE  τ = threshold on every pass;
 *   WF_DLM_ADAPTIVE   the k-th pass of a sub-block (k = 1, 2, 3...) uses
 *                     max(0.5, θ-0.4), then max(0.7, θ-0.2), then θ;
 *   WF_DLM_GREEDY     one denoise pass per block fixes every masked slot
 *                     (the whole block is one sub-block, τ = -∞).
 *
 * Output: tokens are handed to the caller in position order, each once,
 * as soon as every token to its left is decided (one call per decided
 * run).  Generation ends before the first end-of-generation token (which
 * is not handed over, nor anything after it), after exactly max_tokens
 * tokens, or when the context is full (the last token then is the one the
 * final clean pass predicts, as in autoregressive decoding).
 *
 * With B = 1 every block is one decided slot: prefill, then one clean pass
 * per token, which is autoregressive greedy decoding, token for token.
 *
 * Counting: a forward pass is the prefill (when P > 0; however many pieces
 * it runs in), each denoise pass and each clean pass.
 *
 * Memory: wf_dlm_new() sizes everything (a B × n_vocab logits buffer, the
 * sequence of n_ctx + 1 ids); wf_dlm_run() allocates nothing.
 * Errors: 0 / -1 (or NULL) with one line in err[errlen].
 */
#ifndef WF_DLM_H
#define WF_DLM_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "model.h"

enum wf_dlm_mode { WF_DLM_GREEDY = 0, WF_DLM_ITERATIVE = 1, WF_DLM_ADAPTIVE = 2 };

/* "greedy" / "iterative" / "adaptive" -> WF_DLM_*, or -1.  And back. */
int wf_dlm_mode_parse(const char *s);
const char *wf_dlm_mode_name(int mode);

/* "block-causal" -> WF_ATTN_BLOCK, "causal" -> WF_ATTN_CAUSAL, or -1 (n bytes of s). */
int wf_dlm_attn_parse(const char *s, size_t n);
const char *wf_dlm_attn_name(int attn);

/* Settings.  A field left at its unset value (0, or -1 for mask_id and
 * attn, NaN-free: threshold < 0) is filled in by wf_dlm_resolve(). */
struct wf_dlm_params {
	int block_size;        /* B; 0: unset */
	int sub_block;         /* S; 0: unset; larger than B means one sub-block */
	float threshold;       /* θ in [0, 1]; < 0: unset */
	int mode;              /* WF_DLM_*; -1: unset (iterative) */
	int32_t mask_id;       /* -1: unset */
	int attn;              /* WF_ATTN_BLOCK / WF_ATTN_CAUSAL; -1: unset */
};

/* Every field unset. */
void wf_dlm_params_unset(struct wf_dlm_params *p);

/*
 * Fill the unset fields of p from the model g (may be NULL), then from the
 * built-in defaults, and check them against n_vocab.  From the model:
 *   wf.dlm.block_size, wf.dlm.sub_block_size, wf.dlm.threshold,
 *   wf.dlm.attention ("block-causal" / "causal"), and the mask id from
 *   wf.dlm.mask_token_id, else tokenizer.ggml.mask_token_id, else the
 *   first token (in tokenizer.ggml.tokens) spelled "<|mask|>", "|<MASK>|",
 *   "<mask>" or "[MASK]", tried in that order.
 * Defaults: B 32, S 8, θ 0.9, iterative, block-causal; the mask has none,
 * so without one -1 with "no mask token: ..." naming the keys and spellings.
 * Errors name the key or field: "key 'wf.dlm.block_size': 0 is not a
 * block size", "mask id 5000 is out of range [0, 2048)".
 */
int wf_dlm_resolve(struct wf_dlm_params *p, const struct wf_gguf *g, int n_vocab, char *err, size_t errlen);

/* One forward pass, for tracing. */
enum wf_dlm_kind { WF_DLM_PREFILL = 0, WF_DLM_DENOISE = 1, WF_DLM_CLEAN = 2 };

struct wf_dlm_pass {
	int kind;              /* WF_DLM_* kind */
	int start, end;        /* positions evaluated: [start, end) */
	float threshold;       /* DENOISE: τ of this pass */
	int n_fixed;           /* tokens decided by this pass (clean/prefill: 0 or 1) */
	const int32_t *pos;    /* their positions, ascending */
	const int32_t *id;     /* and ids */
};

typedef void (*wf_dlm_trace_fn)(void *ud, const struct wf_dlm_pass *ps);

/* Decided tokens x[pos .. pos + n), in order; return 0 to go on, -1 to stop. */
typedef int (*wf_dlm_emit_fn)(void *ud, int pos, const int32_t *ids, int n);

enum wf_dlm_finish { WF_DLM_LENGTH = 1, WF_DLM_EOG, WF_DLM_ABORT };

struct wf_dlm_stats {
	int n_gen;             /* tokens handed over */
	int n_passes;          /* n_prefill + n_denoise + n_clean */
	int n_prefill, n_denoise, n_clean;
	int finish;            /* WF_DLM_* finish */
};

struct wf_dlm;

/*
 * A scheduler for context c of model m (both outlive it) with resolved
 * params p (copied).  -1 when B exceeds the context's batch for bidirectional
 * blocks ("block size 512 exceeds the batch of 256"), or out of memory.
 */
struct wf_dlm *wf_dlm_new(const struct wf_model *m, struct wf_ctx *c, const struct wf_dlm_params *p,
                          char *err, size_t errlen);
void wf_dlm_free(struct wf_dlm *d);

/* Call fn for every forward pass of later runs (NULL: off). */
void wf_dlm_set_trace(struct wf_dlm *d, wf_dlm_trace_fn fn, void *ud);

/*
 * Generate from prompt[0..n_prompt) (n_prompt >= 1, ids < n_vocab, at most
 * n_ctx of them): at most max_tokens tokens (< 0: until the context is
 * full), ending before any of eog[0..n_eog).  The cache's whole blocks of
 * the prompt are reused when the previous run left them there.  Afterwards
 * the cache holds clean keys and values of x[0, s) for the last block
 * start s reached.  -1 with a message when an evaluation fails or the
 * prompt is bad; *st is filled either way (st may be NULL).
 */
int wf_dlm_run(struct wf_dlm *d, const int32_t *prompt, int n_prompt, long max_tokens, const int32_t *eog,
               int n_eog, wf_dlm_emit_fn emit, void *ud, struct wf_dlm_stats *st, char *err, size_t errlen);

#endif
