/*
 * gen — text generation for servers: token IDs in, text pieces out, with
 * stop strings.
 *
 * A wf_gen owns a context (KV cache, thread pool) for a bound model and
 * its tokenizer.  wf_gen_run() evaluates a prompt (reusing the longest
 * cached prefix of the previous request), then generates -- autoregressively,
 * or by block diffusion (lib/dlm) when the request gives dlm parameters --
 * and hands the text to a callback as it is decided:
 *
 *   - each generated token's bytes (wf_tok_piece, special tokens as "")
 *     are appended to a pending buffer;
 *   - if a stop string occurs in the pending buffer, the text before its
 *     first occurrence is emitted and generation ends (WF_GEN_STOP);
 *   - else everything is emitted except (a) the longest tail of the
 *     buffer that is a proper prefix of some stop string, and (b) an
 *     incomplete UTF-8 character at the end; those wait for the next token.
 *
 * So no text of a stop string, nor of anything after it, ever reaches the
 * callback, and no UTF-8 character is split between two calls (bytes that
 * can never form a character are passed on as they are; the caller
 * replaces them, see wf_buf_json_str).  Generation ends at an
 * end-of-generation token (not emitted; WF_GEN_EOG), after exactly
 * max_tokens tokens or when the context is full (WF_GEN_LENGTH), at a stop
 * string (WF_GEN_STOP), or when the callback returns -1 (WF_GEN_ABORT).
 * Sampling is wf_sampler's, seeded per request, so one seed gives one
 * output; greedy output equals wf-decode's for the same prompt.
 *
 * Block diffusion decides tokens in runs (wf_dlm_run); each token of a run
 * goes through the same steps as an autoregressive one, in order, and the
 * run stops at the first that ends generation (end token, stop string,
 * abort), so the rules above hold unchanged and nothing after the end is
 * ever emitted.  Its output equals `wf-decode --decode dlm` with the same
 * settings for the same prompt.  It is greedy: the sampler parameters must
 * be greedy ones (temp 0, repeat_penalty 1); the others and the seed are
 * not used.
 *
 * Per token nothing is allocated; buffers are sized per request (the block
 * diffusion scheduler when the settings differ from the last request's).
 * Errors: 0 / -1 with one line in err[errlen].
 */
#ifndef WF_GEN_H
#define WF_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "chat.h"
#include "dlm.h"
#include "http.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

struct wf_gen;

/* A generator for model m and tokenizer tok (both outlive it) with a
 * context of n_ctx positions, n_batch, n_threads (0 = defaults, see
 * wf_ctx_new). */
struct wf_gen *wf_gen_new(const struct wf_model *m, struct wf_tokenizer *tok, int n_ctx, int n_batch,
                          int n_threads, char *err, size_t errlen);
void wf_gen_free(struct wf_gen *g);

struct wf_ctx *wf_gen_ctx(struct wf_gen *g);

enum wf_gen_finish { WF_GEN_LENGTH = 1, WF_GEN_EOG, WF_GEN_STOP, WF_GEN_ABORT };

struct wf_gen_req {
	const int32_t *prompt;       /* n_prompt >= 1 ids, each < n_vocab */
	int n_prompt;
	long max_tokens;             /* < 0: until the context is full */
	struct wf_sampler_params sp; /* checked with wf_sampler_check */
	uint64_t seed;
	const char *const *stop;     /* n_stop stop strings, each of stop_len[i] >= 1 bytes */
	const size_t *stop_len;
	size_t n_stop;
	int ignore_eos;              /* 1: end-of-generation tokens do not end it */
	const struct wf_dlm_params *dlm; /* NULL: autoregressive; else block diffusion
	                                    with these resolved settings (wf_dlm_resolve) */
};

struct wf_gen_result {
	int n_prompt;                /* tokens evaluated for the prompt (all of them, cached or not) */
	int n_cached;                /* of which reused from the cache (block diffusion
	                                reuses whole blocks only) */
	int n_gen;                   /* tokens generated (the end-of-generation token not counted) */
	int finish;                  /* enum wf_gen_finish */
	int stop_index;              /* WF_GEN_STOP: which stop string */
	double t_prompt_ms, t_gen_ms;  /* block diffusion: the prefill of the prompt's
	                                  whole blocks, and the rest */
	int n_passes;                /* block diffusion: forward passes (wf_dlm_stats); else 0 */
};

/* Called with each decided piece of text (n >= 1); return 0 to go on, -1
 * to abort. */
typedef int (*wf_gen_emit_fn)(void *ud, const char *text, size_t n);

/*
 * Run one request.  -1 with a message when the prompt is empty, does not
 * fit ("prompt of 300 tokens does not fit in the context of 256"), the
 * sampler parameters are invalid ("block diffusion is greedy: temperature
 * 0.7" with dlm), the scheduler cannot be made ("block size 512 exceeds
 * the batch of 256"), or an evaluation fails; the result then says how far
 * it got.  Returns 0 otherwise, also when aborted.
 */
int wf_gen_run(struct wf_gen *g, const struct wf_gen_req *rq, wf_gen_emit_fn emit, void *ud,
               struct wf_gen_result *res, char *err, size_t errlen);

/* ---------------------------------------------------------------------- */
/* Conversations of any length, in the formats of lib/chat. */

struct wf_chat_msg {
	const char *role;            /* "system", "user", "assistant" */
	const char *content;
	size_t len;
};

/*
 * Render msgs[0..n) and the generation prompt for the assistant into text
 * (appended), as lib/chat renders one system and one user message:
 *   BITNET   per message "System: " / "User: " / "Assistant: ", the trimmed
 *            content, "<|eot_id|>"; then "Assistant: "
 *   LLAMA3   "<|start_header_id|>ROLE<|end_header_id|>\n\n", the trimmed
 *            content, "<|eot_id|>"; then the assistant header
 *   CHATML   "<|im_start|>ROLE\n", content, "<|im_end|>\n"; then
 *            "<|im_start|>assistant\n"
 * System messages with empty content are left out, as lib/chat does.
 * ranges[] (room for 2 * (2n + 1) entries) receives the [start, end) byte
 * ranges of template text (for wf_tok_encode_ex), relative to the start of
 * what this call appended; *n_ranges their count.  -1 for an unknown role
 * or format, or when out of memory.
 */
int wf_gen_chat_render(enum wf_chat_format f, const struct wf_chat_msg *msgs, size_t n, struct wf_buf *text,
                       size_t *ranges, size_t *n_ranges);

#endif
