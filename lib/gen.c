#include "gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unicode.h"

struct wf_gen {
	const struct wf_model *m;
	struct wf_tokenizer *tok;
	struct wf_ctx *ctx;
	int n_vocab, n_ctx;
	size_t max_piece;          /* longest token piece, in bytes */
	float *logits;             /* [n_vocab] */
	int32_t *hist;             /* [n_ctx + 1]: prompt and generated ids */
	char *pend;                /* text decided but not yet emitted */
	size_t pend_cap;
	struct wf_dlm *dlm;        /* block diffusion, made on first use */
	struct wf_dlm_params dlm_p; /* its settings */
};

struct wf_gen *wf_gen_new(const struct wf_model *m, struct wf_tokenizer *tok, int n_ctx, int n_batch,
                          int n_threads, char *err, size_t errlen)
{
	struct wf_gen *g = calloc(1, sizeof *g);
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->m = m;
	g->tok = tok;
	g->n_vocab = wf_model_hparams(m)->n_vocab;
	if ((uint32_t)g->n_vocab > wf_tok_n_vocab(tok)) {
		snprintf(err, errlen, "the model has %d tokens but the vocabulary %u", g->n_vocab,
		         wf_tok_n_vocab(tok));
		free(g);
		return NULL;
	}
	g->ctx = wf_ctx_new(m, n_ctx, n_batch, n_threads, err, errlen);
	if (!g->ctx) {
		free(g);
		return NULL;
	}
	g->n_ctx = wf_ctx_n_ctx(g->ctx);
	for (int32_t id = 0; id < g->n_vocab; id++) {
		size_t n = 0;
		if (wf_tok_piece(tok, id, 0, &n) && n > g->max_piece)
			g->max_piece = n;
	}
	g->logits = malloc((size_t)g->n_vocab * sizeof *g->logits);
	g->hist = malloc(((size_t)g->n_ctx + 1) * sizeof *g->hist);
	if (!g->logits || !g->hist) {
		snprintf(err, errlen, "out of memory");
		wf_gen_free(g);
		return NULL;
	}
	return g;
}

void wf_gen_free(struct wf_gen *g)
{
	if (!g)
		return;
	wf_dlm_free(g->dlm);
	wf_ctx_free(g->ctx);
	free(g->logits);
	free(g->hist);
	free(g->pend);
	free(g);
}

struct wf_ctx *wf_gen_ctx(struct wf_gen *g)
{
	return g->ctx;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The first occurrence of s[0..m) (m >= 1) in p[0..n), or NULL. */
static const char *find(const char *p, size_t n, const char *s, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (p[i] == s[0] && !memcmp(p + i, s, m))
			return p + i;
	return NULL;
}

/* The earliest occurrence of any stop string in p[0..n): its offset, the
 * stop's index in *which; -1 when none. */
static long find_stop(const char *p, size_t n, const struct wf_gen_req *rq, int *which)
{
	long best = -1;
	for (size_t i = 0; i < rq->n_stop; i++) {
		const char *s = find(p, n, rq->stop[i], rq->stop_len[i]);
		if (s && (best < 0 || s - p < best)) {
			best = (long)(s - p);
			*which = (int)i;
		}
	}
	return best;
}

/* The longest tail of p[0..n) that is a proper prefix of some stop string. */
static size_t stop_hold(const char *p, size_t n, const struct wf_gen_req *rq)
{
	size_t hold = 0;
	for (size_t i = 0; i < rq->n_stop; i++) {
		size_t k = rq->stop_len[i] - 1;
		if (k > n)
			k = n;
		for (; k > hold; k--)
			if (!memcmp(p + n - k, rq->stop[i], k)) {
				hold = k;
				break;
			}
	}
	return hold;
}

/* One request's output state: what push_token() needs. */
struct out {
	struct wf_gen *g;
	const struct wf_gen_req *rq;
	struct wf_gen_result *res;
	wf_gen_emit_fn emit;
	void *ud;
	size_t pn;                 /* bytes pending in g->pend */
	double t_prefill;          /* block diffusion: when the prefill pass ended */
};

/*
 * Generated token t: end of generation, or its piece appended to the
 * pending text, a stop string looked for, and what is decided emitted.
 * 1 when generation ends here (res->finish says why; nothing is left
 * pending then), else 0.
 */
static int push_token(struct out *o, int32_t t)
{
	struct wf_gen *g = o->g;
	const struct wf_gen_req *rq = o->rq;
	struct wf_gen_result *res = o->res;
	if (!rq->ignore_eos && wf_tok_is_eog(g->tok, t)) {
		res->finish = WF_GEN_EOG;
		return 1;
	}
	res->n_gen++;
	size_t len = 0;
	const char *piece = wf_tok_piece(g->tok, t, 0, &len);
	if (!piece || !len)
		return 0;
	memcpy(g->pend + o->pn, piece, len);
	o->pn += len;
	int which = -1;
	long at = rq->n_stop ? find_stop(g->pend, o->pn, rq, &which) : -1;
	if (at >= 0) {
		if (at > 0 && o->emit(o->ud, g->pend, (size_t)at) < 0)
			res->finish = WF_GEN_ABORT;
		else {
			res->finish = WF_GEN_STOP;
			res->stop_index = which;
		}
		o->pn = 0;
		return 1;
	}
	size_t ready = o->pn - stop_hold(g->pend, o->pn, rq);
	ready = wf_utf8_complete(g->pend, ready);
	if (ready) {
		if (o->emit(o->ud, g->pend, ready) < 0) {
			res->finish = WF_GEN_ABORT;
			o->pn = 0;
			return 1;
		}
		memmove(g->pend, g->pend + ready, o->pn - ready);
		o->pn -= ready;
	}
	return 0;
}

/* Autoregressive generation: the prompt evaluated (its cached prefix
 * reused), then one sampled token per step. */
static int run_ar(struct wf_gen *g, struct out *o, char *err, size_t errlen)
{
	const struct wf_gen_req *rq = o->rq;
	struct wf_gen_result *res = o->res;
	struct wf_sampler *smp = wf_sampler_new(&rq->sp, g->n_vocab, err, errlen);
	if (!smp)
		return -1;
	wf_sampler_seed(smp, rq->seed);

	double t0 = now_ms();
	int n = rq->n_prompt;
	memcpy(g->hist, rq->prompt, (size_t)n * sizeof *g->hist);
	int kept = wf_ctx_reuse_prefix(g->ctx, g->hist, n);
	res->n_cached = kept;
	if (wf_ctx_decode(g->ctx, g->hist + kept, n - kept, g->logits, err, errlen) < 0) {
		wf_ctx_truncate(g->ctx, 0);
		wf_sampler_free(smp);
		return -1;
	}
	double t1 = now_ms();
	res->t_prompt_ms = t1 - t0;

	int rc = 0;
	for (long i = 0; rq->max_tokens < 0 || i < rq->max_tokens; i++) {
		int32_t t = wf_sampler_sample(smp, g->logits, g->hist, n);
		if (push_token(o, t))
			break;
		g->hist[n++] = t;
		if ((rq->max_tokens >= 0 && i + 1 == rq->max_tokens) || wf_ctx_n_past(g->ctx) >= g->n_ctx)
			break;
		if (wf_ctx_decode(g->ctx, &t, 1, g->logits, err, errlen) < 0) {
			rc = -1;
			o->pn = 0;
			break;
		}
	}
	res->t_gen_ms = now_ms() - t1;
	wf_sampler_free(smp);
	return rc;
}

/* wf_dlm_emit_fn: a decided run, token by token, until one ends generation. */
static int dlm_emit(void *ud, int pos, const int32_t *ids, int n)
{
	(void)pos;
	for (int i = 0; i < n; i++)
		if (push_token(ud, ids[i]))
			return -1;
	return 0;
}

/* wf_dlm_trace_fn: the prompt's time ends with the prefill pass. */
static void dlm_trace(void *ud, const struct wf_dlm_pass *ps)
{
	struct out *o = ud;
	if (ps->kind == WF_DLM_PREFILL)
		o->t_prefill = now_ms();
}

static int same_dlm(const struct wf_dlm_params *a, const struct wf_dlm_params *b)
{
	return a->block_size == b->block_size && a->sub_block == b->sub_block && a->threshold == b->threshold &&
	       a->mode == b->mode && a->mask_id == b->mask_id && a->attn == b->attn;
}

/* Generation by block diffusion with the settings rq->dlm; its scheduler
 * is made again only when they differ from the last ones. */
static int run_dlm(struct wf_gen *g, struct out *o, char *err, size_t errlen)
{
	const struct wf_gen_req *rq = o->rq;
	struct wf_gen_result *res = o->res;
	if (!g->dlm || !same_dlm(&g->dlm_p, rq->dlm)) {
		wf_dlm_free(g->dlm);
		g->dlm = wf_dlm_new(g->m, g->ctx, rq->dlm, err, errlen);
		if (!g->dlm)
			return -1;
		g->dlm_p = *rq->dlm;
	}
	/* what wf_dlm_run keeps: the cached prefix shared with the prompt, at
	 * most P - 1 positions of its P whole-block positions */
	int P = rq->n_prompt / rq->dlm->block_size * rq->dlm->block_size, kept = 0;
	const int32_t *ct = wf_ctx_tokens(g->ctx);
	int np = wf_ctx_n_past(g->ctx);
	while (kept < np && kept < P - 1 && ct[kept] == rq->prompt[kept])
		kept++;
	res->n_cached = kept;
	double t0 = now_ms();
	o->t_prefill = t0;
	wf_dlm_set_trace(g->dlm, dlm_trace, o);
	struct wf_dlm_stats st;
	int rc = wf_dlm_run(g->dlm, rq->prompt, rq->n_prompt, rq->max_tokens, NULL, 0, dlm_emit, o, &st, err, errlen);
	wf_dlm_set_trace(g->dlm, NULL, NULL);
	res->t_prompt_ms = o->t_prefill - t0;
	res->t_gen_ms = now_ms() - o->t_prefill;
	res->n_passes = st.n_passes;
	/* a finish of push_token's stands; else the scheduler ran out of tokens
	 * or context (or failed) */
	if (rc < 0) {
		o->pn = 0;
		return -1;
	}
	return 0;
}

int wf_gen_run(struct wf_gen *g, const struct wf_gen_req *rq, wf_gen_emit_fn emit, void *ud,
               struct wf_gen_result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof *res);
	res->n_prompt = rq->n_prompt;
	res->stop_index = -1;
	if (rq->n_prompt < 1) {
		snprintf(err, errlen, "the prompt is empty");
		return -1;
	}
	if (rq->n_prompt >= g->n_ctx) {
		snprintf(err, errlen, "prompt of %d tokens does not fit in the context of %d", rq->n_prompt,
		         g->n_ctx);
		return -1;
	}
	for (int i = 0; i < rq->n_prompt; i++)
		if (rq->prompt[i] < 0 || rq->prompt[i] >= g->n_vocab) {
			snprintf(err, errlen, "token %d: id %d out of range [0, %d)", i + 1, (int)rq->prompt[i],
			         g->n_vocab);
			return -1;
		}
	if (wf_sampler_check(&rq->sp, err, errlen) < 0)
		return -1;
	if (rq->dlm && rq->sp.temp > 0) {
		snprintf(err, errlen, "block diffusion is greedy: temperature %g", (double)rq->sp.temp);
		return -1;
	}
	if (rq->dlm && rq->sp.repeat_penalty != 1) {
		snprintf(err, errlen, "block diffusion is greedy: repeat penalty %g", (double)rq->sp.repeat_penalty);
		return -1;
	}
	size_t max_stop = 0;
	for (size_t i = 0; i < rq->n_stop; i++) {
		if (rq->stop_len[i] == 0) {
			snprintf(err, errlen, "stop string %zu is empty", i + 1);
			return -1;
		}
		if (rq->stop_len[i] > max_stop)
			max_stop = rq->stop_len[i];
	}
	/* what may wait: a stop prefix or an incomplete character, plus one piece */
	size_t need = max_stop + g->max_piece + 8;
	if (need > g->pend_cap) {
		char *p = realloc(g->pend, need);
		if (!p) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		g->pend = p;
		g->pend_cap = need;
	}
	struct out o = {g, rq, res, emit, ud, 0, 0};
	res->finish = WF_GEN_LENGTH;
	int rc = rq->dlm ? run_dlm(g, &o, err, errlen) : run_ar(g, &o, err, errlen);
	/* nothing more will come: what was held back is final text */
	if (o.pn && emit(ud, g->pend, o.pn) < 0)
		res->finish = WF_GEN_ABORT;
	return rc;
}

/* ---------------------------------------------------------------------- */

struct render {
	struct wf_buf *b;
	size_t base;
	size_t *ranges, nr;
};

/* Template text: appended, and its range recorded (joined with the last
 * range when adjacent). */
static void tmpl(struct render *r, const char *s)
{
	size_t a = r->b->len - r->base;
	wf_buf_puts(r->b, s);
	size_t e = r->b->len - r->base;
	if (r->nr && r->ranges[2 * r->nr - 1] == a)
		r->ranges[2 * r->nr - 1] = e;
	else {
		r->ranges[2 * r->nr] = a;
		r->ranges[2 * r->nr + 1] = e;
		r->nr++;
	}
}

static void trim(const char **s, size_t *n)
{
	while (*n && (*s)[0] && strchr(" \t\n\r\f\v", (*s)[0])) {
		(*s)++;
		(*n)--;
	}
	while (*n && (*s)[*n - 1] && strchr(" \t\n\r\f\v", (*s)[*n - 1]))
		(*n)--;
}

int wf_gen_chat_render(enum wf_chat_format f, const struct wf_chat_msg *msgs, size_t n, struct wf_buf *text,
                       size_t *ranges, size_t *n_ranges)
{
	struct render r = {text, text->len, ranges, 0};
	if (f != WF_CHAT_BITNET && f != WF_CHAT_LLAMA3 && f != WF_CHAT_CHATML)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *role = msgs[i].role, *c = msgs[i].content;
		size_t len = msgs[i].len;
		const char *cap;
		if (!strcmp(role, "system"))
			cap = "System: ";
		else if (!strcmp(role, "user"))
			cap = "User: ";
		else if (!strcmp(role, "assistant"))
			cap = "Assistant: ";
		else
			return -1;
		if (!strcmp(role, "system") && len == 0)
			continue;
		switch (f) {
		case WF_CHAT_BITNET:
			trim(&c, &len);
			tmpl(&r, cap);
			wf_buf_put(text, c, len);
			tmpl(&r, "<|eot_id|>");
			break;
		case WF_CHAT_LLAMA3:
			trim(&c, &len);
			tmpl(&r, "<|start_header_id|>");
			tmpl(&r, role);
			tmpl(&r, "<|end_header_id|>\n\n");
			wf_buf_put(text, c, len);
			tmpl(&r, "<|eot_id|>");
			break;
		default:
			tmpl(&r, "<|im_start|>");
			tmpl(&r, role);
			tmpl(&r, "\n");
			wf_buf_put(text, c, len);
			tmpl(&r, "<|im_end|>\n");
			break;
		}
	}
	if (f == WF_CHAT_BITNET)
		tmpl(&r, "Assistant: ");
	else if (f == WF_CHAT_LLAMA3)
		tmpl(&r, "<|start_header_id|>assistant<|end_header_id|>\n\n");
	else
		tmpl(&r, "<|im_start|>assistant\n");
	*n_ranges = r.nr;
	return text->oom ? -1 : 0;
}
