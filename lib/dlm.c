#include "dlm.h"
#include "errf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wf_dlm {
	struct wf_ctx *c;
	struct wf_dlm_params p;
	int V, n_ctx, B, S;
	int32_t *x;           /* [n_ctx + 1]: prompt, then generated ids */
	uint8_t *known;       /* [n_ctx + 1]: 1 where x is decided */
	int32_t *blk;         /* [B]: what a denoise pass sees */
	float *logits;        /* [B][V] */
	int32_t *fpos, *fid;  /* [B]: fixed by the current pass */
	wf_dlm_trace_fn trace;
	void *tud;
};

int wf_dlm_mode_parse(const char *s)
{
	if (!strcmp(s, "greedy"))
		return WF_DLM_GREEDY;
	if (!strcmp(s, "iterative"))
		return WF_DLM_ITERATIVE;
	if (!strcmp(s, "adaptive"))
		return WF_DLM_ADAPTIVE;
	return -1;
}

const char *wf_dlm_mode_name(int mode)
{
	return mode == WF_DLM_GREEDY ? "greedy" : mode == WF_DLM_ADAPTIVE ? "adaptive" : "iterative";
}

int wf_dlm_attn_parse(const char *s, size_t n)
{
	if (n == 12 && !memcmp(s, "block-causal", 12))
		return WF_ATTN_BLOCK;
	if (n == 6 && !memcmp(s, "causal", 6))
		return WF_ATTN_CAUSAL;
	return -1;
}

const char *wf_dlm_attn_name(int attn)
{
	return attn == WF_ATTN_CAUSAL ? "causal" : "block-causal";
}

void wf_dlm_params_unset(struct wf_dlm_params *p)
{
	p->block_size = 0;
	p->sub_block = 0;
	p->threshold = -1;
	p->mode = -1;
	p->mask_id = -1;
	p->attn = -1;
}

#define MAX_BLOCK 65536

/* A positive size from key k into *out (when *out is unset): 0, or -1. */
static int key_size(const struct wf_gguf *g, const char *k, int *out, char *err, size_t errlen)
{
	uint32_t u;
	char e[256];
	if (*out)
		return 0;
	int rc = wf_gguf_get_u32(g, k, &u, e, sizeof e);
	if (rc < 0) {
		wf_errf(err, errlen, "%s", e);
		return -1;
	}
	if (rc == 0) {
		if (u < 1 || u > MAX_BLOCK) {
			wf_errf(err, errlen, "key '%s': %u is not in [1, %d]", k, u, MAX_BLOCK);
			return -1;
		}
		*out = (int)u;
	}
	return 0;
}

/* The mask id from key k into *out (when unset): 0, or -1. */
static int key_mask(const struct wf_gguf *g, const char *k, int n_vocab, int32_t *out, char *err, size_t errlen)
{
	uint32_t u;
	char e[256];
	if (*out >= 0)
		return 0;
	int rc = wf_gguf_get_u32(g, k, &u, e, sizeof e);
	if (rc < 0) {
		wf_errf(err, errlen, "%s", e);
		return -1;
	}
	if (rc == 0) {
		if (u >= (uint32_t)n_vocab) {
			wf_errf(err, errlen, "key '%s': %u is out of range [0, %d)", k, u, n_vocab);
			return -1;
		}
		*out = (int32_t)u;
	}
	return 0;
}

static const char *const mask_spellings[] = {"<|mask|>", "|<MASK>|", "<mask>", "[MASK]"};

int wf_dlm_resolve(struct wf_dlm_params *p, const struct wf_gguf *g, int n_vocab, char *err, size_t errlen)
{
	if (g) {
		char e[256];
		if (key_size(g, "wf.dlm.block_size", &p->block_size, err, errlen) < 0 ||
		    key_size(g, "wf.dlm.sub_block_size", &p->sub_block, err, errlen) < 0)
			return -1;
		if (p->threshold < 0) {
			float f;
			int rc = wf_gguf_get_f32(g, "wf.dlm.threshold", &f, e, sizeof e);
			if (rc < 0) {
				wf_errf(err, errlen, "%s", e);
				return -1;
			}
			if (rc == 0) {
				if (!(f >= 0 && f <= 1)) {
					wf_errf(err, errlen, "key 'wf.dlm.threshold': %g is not in [0, 1]", (double)f);
					return -1;
				}
				p->threshold = f;
			}
		}
		if (p->attn < 0) {
			struct wf_gguf_str s;
			int rc = wf_gguf_get_str(g, "wf.dlm.attention", &s, e, sizeof e);
			if (rc < 0) {
				wf_errf(err, errlen, "%s", e);
				return -1;
			}
			if (rc == 0) {
				p->attn = wf_dlm_attn_parse(s.ptr, (size_t)s.len);
				if (p->attn < 0) {
					wf_errf(err, errlen, "key 'wf.dlm.attention': '%.*s' is not block-causal or causal",
					       (int)(s.len > 64 ? 64 : s.len), s.ptr);
					return -1;
				}
			}
		}
		if (key_mask(g, "wf.dlm.mask_token_id", n_vocab, &p->mask_id, err, errlen) < 0 ||
		    key_mask(g, "tokenizer.ggml.mask_token_id", n_vocab, &p->mask_id, err, errlen) < 0)
			return -1;
		const struct wf_gguf_kv *kv = wf_gguf_find(g, "tokenizer.ggml.tokens");
		if (p->mask_id < 0 && kv && kv->type == WF_GGUF_ARRAY && kv->atype == WF_GGUF_STRING && kv->strs) {
			uint64_t n = kv->n < (uint64_t)n_vocab ? kv->n : (uint64_t)n_vocab;
			for (size_t k = 0; k < sizeof mask_spellings / sizeof *mask_spellings && p->mask_id < 0; k++) {
				size_t len = strlen(mask_spellings[k]);
				for (uint64_t i = 0; i < n; i++)
					if (kv->strs[i].len == len && !memcmp(kv->strs[i].ptr, mask_spellings[k], len)) {
						p->mask_id = (int32_t)i;
						break;
					}
			}
		}
	}
	if (p->block_size == 0)
		p->block_size = 32;
	if (p->sub_block == 0)
		p->sub_block = 8;
	if (p->threshold < 0)
		p->threshold = 0.9f;
	if (p->mode < 0)
		p->mode = WF_DLM_ITERATIVE;
	if (p->attn < 0)
		p->attn = WF_ATTN_BLOCK;
	if (p->block_size < 1 || p->block_size > MAX_BLOCK) {
		wf_errf(err, errlen, "block size %d is not in [1, %d]", p->block_size, MAX_BLOCK);
		return -1;
	}
	if (p->sub_block < 1 || p->sub_block > MAX_BLOCK) {
		wf_errf(err, errlen, "sub-block size %d is not in [1, %d]", p->sub_block, MAX_BLOCK);
		return -1;
	}
	if (!(p->threshold >= 0 && p->threshold <= 1)) {
		wf_errf(err, errlen, "threshold %g is not in [0, 1]", (double)p->threshold);
		return -1;
	}
	if (p->mode != WF_DLM_GREEDY && p->mode != WF_DLM_ITERATIVE && p->mode != WF_DLM_ADAPTIVE) {
		wf_errf(err, errlen, "unknown mode %d", p->mode);
		return -1;
	}
	if (p->attn != WF_ATTN_BLOCK && p->attn != WF_ATTN_CAUSAL) {
		wf_errf(err, errlen, "unknown attention %d", p->attn);
		return -1;
	}
	if (p->mask_id < 0) {
		wf_errf(err, errlen,
		       "no mask token: the model has no key wf.dlm.mask_token_id or tokenizer.ggml.mask_token_id "
		       "and no token spelled <|mask|>, |<MASK>|, <mask> or [MASK]");
		return -1;
	}
	if (p->mask_id >= n_vocab) {
		wf_errf(err, errlen, "mask id %d is out of range [0, %d)", (int)p->mask_id, n_vocab);
		return -1;
	}
	return 0;
}

void wf_dlm_free(struct wf_dlm *d)
{
	if (!d)
		return;
	free(d->x);
	free(d->known);
	free(d->blk);
	free(d->logits);
	free(d->fpos);
	free(d->fid);
	free(d);
}

struct wf_dlm *wf_dlm_new(const struct wf_model *m, struct wf_ctx *c, const struct wf_dlm_params *p,
                          char *err, size_t errlen)
{
	int V = wf_model_hparams(m)->n_vocab;
	if (p->block_size < 1 || p->sub_block < 1 || p->mask_id < 0 || p->mask_id >= V) {
		wf_errf(err, errlen, "block diffusion settings not resolved");
		return NULL;
	}
	if (p->attn == WF_ATTN_BLOCK && p->block_size > wf_ctx_n_batch(c)) {
		wf_errf(err, errlen, "block size %d exceeds the batch of %d", p->block_size, wf_ctx_n_batch(c));
		return NULL;
	}
	struct wf_dlm *d = calloc(1, sizeof *d);
	if (!d) {
		wf_errf(err, errlen, "out of memory");
		return NULL;
	}
	d->c = c;
	d->p = *p;
	d->V = V;
	d->n_ctx = wf_ctx_n_ctx(c);
	d->B = p->block_size;
	d->S = p->mode == WF_DLM_GREEDY || p->sub_block > d->B ? d->B : p->sub_block;
	size_t nx = (size_t)d->n_ctx + 1;
	d->x = malloc(nx * sizeof *d->x);
	d->known = malloc(nx);
	d->blk = malloc((size_t)d->B * sizeof *d->blk);
	d->logits = malloc((size_t)d->B * (size_t)V * sizeof *d->logits);
	d->fpos = malloc((size_t)d->B * sizeof *d->fpos);
	d->fid = malloc((size_t)d->B * sizeof *d->fid);
	if (!d->x || !d->known || !d->blk || !d->logits || !d->fpos || !d->fid) {
		wf_dlm_free(d);
		wf_errf(err, errlen, "out of memory");
		return NULL;
	}
	return d;
}

void wf_dlm_set_trace(struct wf_dlm *d, wf_dlm_trace_fn fn, void *ud)
{
	d->trace = fn;
	d->tud = ud;
}

/* argmax of row[0..V) without the mask id, the lowest id on ties (NaN never wins). */
static int32_t argmax_nomask(const float *row, int V, int32_t mask)
{
	int32_t best = mask == 0 ? 1 : 0;
	for (int32_t j = best + 1; j < V; j++)
		if (j != mask && row[j] > row[best])
			best = j;
	return best;
}

/* softmax(row)[x] over the whole vocabulary, the sum in double. */
static double prob_of(const float *row, int V, int32_t x)
{
	float m = row[0];
	for (int j = 1; j < V; j++)
		if (row[j] > m)
			m = row[j];
	double sum = 0;
	for (int j = 0; j < V; j++)
		sum += exp((double)row[j] - (double)m);
	return exp((double)row[x] - (double)m) / sum;
}

static void trace(struct wf_dlm *d, int kind, int start, int end, float tau, int nf)
{
	if (!d->trace)
		return;
	struct wf_dlm_pass ps = {kind, start, end, tau, nf, d->fpos, d->fid};
	d->trace(d->tud, &ps);
}

struct run {
	long E;                 /* one past the last position that may be generated */
	int emitted;            /* next position to hand over */
	const int32_t *eog;
	int n_eog;
	wf_dlm_emit_fn emit;
	void *ud;
	struct wf_dlm_stats *st;
};

/* Hand over the decided run after r->emitted.  1 when generation ends
 * here (an end token reached, or the caller said stop), else 0. */
static int flush(struct wf_dlm *d, struct run *r)
{
	int a = r->emitted, b = a, end = 0;
	while (b < r->E && d->known[b]) {
		for (int k = 0; k < r->n_eog; k++)
			end |= d->x[b] == r->eog[k];
		if (end)
			break;
		b++;
	}
	if (b > a) {
		r->emitted = b;
		r->st->n_gen += b - a;
		if (r->emit && r->emit(r->ud, a, d->x + a, b - a) < 0) {
			r->st->finish = WF_DLM_ABORT;
			return 1;
		}
	}
	if (end) {
		r->st->finish = WF_DLM_EOG;
		return 1;
	}
	return 0;
}

/* τ of the k-th (from 0) denoise pass over a sub-block. */
static float pass_threshold(const struct wf_dlm *d, int k)
{
	float t = d->p.threshold;
	if (d->p.mode == WF_DLM_GREEDY)
		return -INFINITY;
	if (d->p.mode == WF_DLM_ADAPTIVE) {
		if (k == 0)
			return fmaxf(0.5f, t - 0.4f);
		if (k == 1)
			return fmaxf(0.7f, t - 0.2f);
	}
	return t;
}

/* Denoise sub-block [sb, se) of block [s, e) until it has no mask: 0, 1
 * when generation ended, -1 on an evaluation error. */
static int denoise(struct wf_dlm *d, struct run *r, int s, int e, int sb, int se, char *err, size_t errlen)
{
	const int V = d->V;
	const int32_t mask = d->p.mask_id;
	for (int k = 0;; k++) {
		int first = sb;
		while (first < se && d->known[first])
			first++;
		if (first == se)
			return 0;
		/* first > s: slot s is always decided (prompt or clean pass) */
		float tau = pass_threshold(d, k);
		for (int j = s; j < e; j++)
			d->blk[j - s] = d->known[j] ? d->x[j] : mask;
		/* logits of positions first-1 .. se-2 are needed; a causal block
		 * need not look past them */
		int n = d->p.attn == WF_ATTN_CAUSAL ? se - 1 - s : e - s;
		int from = first - 1 - s;
		struct wf_eval ev = {d->blk, n, d->p.attn, 0, from, d->logits};
		if (wf_ctx_eval(d->c, &ev, err, errlen) < 0)
			return -1;
		r->st->n_denoise++;
		r->st->n_passes++;
		int nf = 0, best = -1;
		int32_t best_id = 0;
		double best_p = -1;
		for (int i = first; i < se; i++) {
			if (d->known[i])
				continue;
			const float *row = d->logits + (size_t)(i - 1 - s - from) * (size_t)V;
			int32_t id = argmax_nomask(row, V, mask);
			double pr = prob_of(row, V, id);
			if (best < 0 || pr > best_p) {
				best = i;
				best_id = id;
				best_p = pr;
			}
			if (pr > (double)tau) {
				d->fpos[nf] = i;
				d->fid[nf++] = id;
			}
		}
		if (nf == 0) {
			d->fpos[0] = best;
			d->fid[nf++] = best_id;
		}
		for (int f = 0; f < nf; f++) {
			d->x[d->fpos[f]] = d->fid[f];
			d->known[d->fpos[f]] = 1;
		}
		trace(d, WF_DLM_DENOISE, s, e, tau, nf);
		if (flush(d, r))
			return 1;
	}
}

int wf_dlm_run(struct wf_dlm *d, const int32_t *prompt, int n_prompt, long max_tokens, const int32_t *eog,
               int n_eog, wf_dlm_emit_fn emit, void *ud, struct wf_dlm_stats *st, char *err, size_t errlen)
{
	struct wf_dlm_stats dummy;
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof *st);
	st->finish = WF_DLM_LENGTH;
	const int L = n_prompt, B = d->B, S = d->S, NC = d->n_ctx;
	if (L < 1) {
		wf_errf(err, errlen, "the prompt is empty");
		return -1;
	}
	if (L > NC) {
		wf_errf(err, errlen, "prompt of %d tokens does not fit in the context of %d", L, NC);
		return -1;
	}
	for (int i = 0; i < L; i++)
		if (prompt[i] < 0 || prompt[i] >= d->V) {
			wf_errf(err, errlen, "token %d: id %d out of range [0, %d)", i + 1, (int)prompt[i], d->V);
			return -1;
		}
	if (max_tokens == 0)
		return 0;
	struct run r = {max_tokens < 0 || max_tokens > NC ? NC + 1L : L + max_tokens, L, eog, n_eog, emit, ud, st};
	if (r.E > NC + 1L)
		r.E = NC + 1L;
	memcpy(d->x, prompt, (size_t)L * sizeof *d->x);
	memset(d->known, 1, (size_t)L);
	memset(d->known + L, 0, (size_t)(NC + 1 - L));

	/* prefill the prompt's whole blocks */
	const int P = L / B * B;
	if (P > 0) {
		int kept = wf_ctx_reuse_prefix(d->c, d->x, P);
		int want = P == L;
		struct wf_eval ev = {d->x + kept, P - kept, WF_ATTN_CAUSAL, 1, want ? P - kept - 1 : P - kept,
		                     want ? d->logits : NULL};
		if (wf_ctx_eval(d->c, &ev, err, errlen) < 0) {
			wf_ctx_truncate(d->c, 0);
			return -1;
		}
		st->n_prefill = 1;
		st->n_passes++;
		if (want) {
			d->x[L] = argmax_nomask(d->logits, d->V, d->p.mask_id);
			d->known[L] = 1;
			d->fpos[0] = L;
			d->fid[0] = d->x[L];
		}
		trace(d, WF_DLM_PREFILL, 0, P, 0, want);
	} else {
		wf_ctx_truncate(d->c, 0);
	}

	for (int s = P;;) {
		if (flush(d, &r) || r.emitted >= r.E || s >= NC)
			return 0;
		int e = s + B;
		if (e > r.E)
			e = (int)r.E;
		if (e > NC)
			e = NC;
		for (int sb = s; sb < e; sb += S) {
			int se = sb + S < e ? sb + S : e;
			int rc = denoise(d, &r, s, e, sb, se, err, errlen);
			if (rc < 0)
				return -1;
			if (rc > 0)
				return 0;
		}
		if (e >= r.E)
			continue; /* all wanted tokens decided: the flush above ends it */
		/* the clean pass: the block's keys and values, and x[e] */
		struct wf_eval ev = {d->x + s, e - s, WF_ATTN_CAUSAL, 1, e - s - 1, d->logits};
		if (wf_ctx_eval(d->c, &ev, err, errlen) < 0)
			return -1;
		st->n_clean++;
		st->n_passes++;
		d->x[e] = argmax_nomask(d->logits, d->V, d->p.mask_id);
		d->known[e] = 1;
		d->fpos[0] = e;
		d->fid[0] = d->x[e];
		trace(d, WF_DLM_CLEAN, 0, e, 0, 1);
		s = e;
	}
}
