/*
 * score — teacher forcing, llama-perplexity windows, and lm-evaluation-
 * harness multiple choice on top of wf_ctx_eval (contracts in score.h).
 */
#include "score.h"
#include "errf.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tokenizer.h"

/* Logits per evaluation piece: at most this many floats (64 MiB). */
#define LOGITS_MAX (16u << 20)

struct wf_scorer {
	struct wf_ctx *c;
	int V;
	int rows;          /* logits rows per piece */
	float *logits;     /* [rows][V] */
	double *lp;        /* wf_score_ids / wf_ppl_eval per-position results */
	size_t lp_cap;
	size_t n;          /* ids of the last wf_score_ids record */
	double total;
	int32_t *win;      /* a perplexity chunk */
	size_t win_cap;
};

/* Grow *p to hold n elements of size sz. */
static int grow(void *pp, size_t *cap, size_t n, size_t sz, char *err, size_t errlen)
{
	void **p = pp;
	if (n <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < n)
		c *= 2;
	void *q = realloc(*p, c * sz);
	if (!q) {
		wf_errf(err, errlen, "out of memory");
		return -1;
	}
	*p = q;
	*cap = c;
	return 0;
}

double wf_logprob(const float *l, int V, int32_t tok, int *greedy)
{
	int am = 0;
	float mx = l[0];
	for (int i = 1; i < V; i++)
		if (l[i] > mx)
			mx = l[i], am = i;
	double z = 0;
	for (int i = 0; i < V; i++)
		z += exp((double)l[i] - (double)mx);
	if (greedy)
		*greedy = am == tok;
	return (double)l[tok] - (double)mx - log(z);
}

struct wf_scorer *wf_scorer_new(struct wf_ctx *c, int n_vocab, char *err, size_t errlen)
{
	if (n_vocab <= 0) {
		wf_errf(err, errlen, "vocabulary of %d tokens", n_vocab);
		return NULL;
	}
	struct wf_scorer *s = calloc(1, sizeof *s);
	if (!s) {
		wf_errf(err, errlen, "out of memory");
		return NULL;
	}
	s->c = c;
	s->V = n_vocab;
	int rows = (int)(LOGITS_MAX / (unsigned)n_vocab);
	if (rows > wf_ctx_n_batch(c))
		rows = wf_ctx_n_batch(c);
	if (rows < 1)
		rows = 1;
	s->rows = rows;
	s->logits = malloc((size_t)rows * (size_t)n_vocab * sizeof *s->logits);
	if (!s->logits) {
		free(s);
		wf_errf(err, errlen, "out of memory for %d rows of logits", rows);
		return NULL;
	}
	return s;
}

void wf_scorer_free(struct wf_scorer *s)
{
	if (!s)
		return;
	free(s->logits);
	free(s->lp);
	free(s->win);
	free(s);
}

int wf_score_seq(struct wf_scorer *s, const int32_t *tok, int n, int from, double *lp,
                 unsigned char *greedy, char *err, size_t errlen)
{
	if (from < 1) {
		wf_errf(err, errlen, "scoring from token %d (the first scored token is 1 or later)", from);
		return -1;
	}
	if (n < 2 || from >= n)
		return 0;
	int m = n - 1, NC = wf_ctx_n_ctx(s->c);
	if (m > NC) {
		wf_errf(err, errlen, "%d positions do not fit in the context of %d", m, NC);
		return -1;
	}
	int need = from - 1; /* the first position whose logits are needed */
	int a = wf_ctx_reuse_prefix(s->c, tok, from);
	while (a < m) {
		struct wf_eval e = {tok + a, 0, WF_ATTN_CAUSAL, 1, 0, NULL};
		if (a < need) {
			e.n = need - a; /* context only: no logits */
		} else {
			e.n = m - a < s->rows ? m - a : s->rows;
			e.logits = s->logits;
		}
		if (wf_ctx_eval(s->c, &e, err, errlen) < 0)
			return -1;
		if (e.logits) {
			for (int p = a; p < a + e.n; p++) {
				int g;
				lp[p + 1] = wf_logprob(s->logits + (size_t)(p - a) * (size_t)s->V, s->V, tok[p + 1], &g);
				if (greedy)
					greedy[p + 1] = (unsigned char)g;
			}
		}
		a += e.n;
	}
	return 0;
}

int wf_score_ids(struct wf_scorer *s, const int32_t *tok, size_t n, char *err, size_t errlen)
{
	s->n = 0;
	s->total = 0;
	if (n > (size_t)wf_ctx_n_ctx(s->c) + 1) {
		wf_errf(err, errlen, "record of %zu tokens needs %zu positions, the context holds %d", n, n - 1,
		       wf_ctx_n_ctx(s->c));
		return -1;
	}
	if (grow(&s->lp, &s->lp_cap, n + 1, sizeof *s->lp, err, errlen) < 0)
		return -1;
	if (wf_score_seq(s, tok, (int)n, 1, s->lp, NULL, err, errlen) < 0)
		return -1;
	double t = 0;
	for (size_t i = 1; i < n; i++)
		t += s->lp[i];
	s->n = n;
	s->total = t;
	return 0;
}

int wf_score_fprint(const struct wf_scorer *s, FILE *f)
{
	size_t k = s->n ? s->n - 1 : 0;
	if (fprintf(f, "%.6f %zu\t", s->total, k) < 0)
		return -1;
	for (size_t i = 1; i < s->n; i++)
		if (fprintf(f, i == 1 ? "%.6f" : " %.6f", s->lp[i]) < 0)
			return -1;
	return 0;
}

int wf_ppl_eval(struct wf_scorer *s, const int32_t *tok, size_t n, const struct wf_ppl_opts *o,
                struct wf_ppl *r, char *err, size_t errlen)
{
	int W = o->window, S = o->stride, NC = wf_ctx_n_ctx(s->c);
	memset(r, 0, sizeof *r);
	if (S < 0 || (S > 0 && S >= W)) {
		wf_errf(err, errlen, "perplexity stride %d is not in [1, %d) (the window is %d)", S, W, W);
		return -1;
	}
	if (W < (S ? 2 : 3)) {
		wf_errf(err, errlen, "perplexity windows of %d tokens score nothing", W);
		return -1;
	}
	if (W - 1 > NC) {
		wf_errf(err, errlen, "perplexity windows of %d tokens need %d positions, the context holds %d", W,
		       W - 1, NC);
		return -1;
	}
	if (n < 2 * (size_t)W) {
		wf_errf(err, errlen, "perplexity with windows of %d needs at least %d tokens, the record has %zu",
		       W, 2 * W, n);
		return -1;
	}
	if (grow(&s->lp, &s->lp_cap, (size_t)W, sizeof *s->lp, err, errlen) < 0 ||
	    grow(&s->win, &s->win_cap, (size_t)W, sizeof *s->win, err, errlen) < 0)
		return -1;
	size_t nch = S ? (n - (size_t)W + (size_t)S - 1) / (size_t)S : n / (size_t)W;
	int from = S ? W - S : W / 2 + 1;
	for (size_t k = 0; k < nch; k++) {
		size_t start = k * (size_t)(S ? S : W);
		memcpy(s->win, tok + start, (size_t)W * sizeof *s->win);
		if (!S && o->bos >= 0)
			s->win[0] = o->bos;
		if (wf_score_seq(s, s->win, W, from, s->lp, NULL, err, errlen) < 0)
			return -1;
		for (int i = from; i < W; i++) {
			r->nll -= s->lp[i];
			r->nll2 += s->lp[i] * s->lp[i];
			r->count++;
		}
		r->chunks++;
	}
	return 0;
}

void wf_ppl_finish(const struct wf_ppl *r, double *ppl, double *loss, double *ppl_err)
{
	double c = (double)r->count;
	double l = r->count ? r->nll / c : NAN;
	double p = exp(l), e = NAN;
	if (r->count > 1) {
		double var = r->nll2 / c - l * l;
		if (var > 0)
			e = p * sqrt(var / (c - 1));
	}
	if (ppl)
		*ppl = p;
	if (loss)
		*loss = l;
	if (ppl_err)
		*ppl_err = e;
}

int wf_ppl_fprint(const struct wf_ppl *r, FILE *f)
{
	double p, l, e;
	wf_ppl_finish(r, &p, &l, &e);
	return fprintf(f, "%.4f %ld %.6f %.4f", p, r->count, l, e) < 0 ? -1 : 0;
}

int32_t wf_score_model_bos(const struct wf_gguf *g)
{
	struct wf_tok_opts to;
	char err[256];
	memset(&to, 0, sizeof to);
	to.decode_only = 1;
	struct wf_tokenizer *t = wf_tokenizer_load(g, &to, err, sizeof err);
	if (!t)
		return -1;
	int32_t b = wf_tok_add_bos(t) ? wf_tok_bos(t) : -1;
	wf_tokenizer_free(t);
	return b;
}

/* ---------------------------------------------------------------------- */
/* Multiple choice. */

struct wf_mc {
	struct wf_scorer *s;
	struct wf_tokenizer *t;
	int32_t prefix;            /* the token an empty context becomes: BOS, else EOS */
	struct wf_json_doc *doc;   /* the last record (r->id points into it) */
	struct wf_tok_ids ctx, whole;
	char *text;                /* context + continuation */
	size_t text_cap;
	int32_t *seq;
	size_t seq_cap;
	double *lp;
	unsigned char *gr;
	size_t lp_cap, gr_cap;
	double *ll;
	unsigned char *greedy;
	int *ntok;
	size_t ll_cap, greedy_cap, ntok_cap;
};

struct wf_mc *wf_mc_new(struct wf_scorer *s, const struct wf_gguf *g, char *err, size_t errlen)
{
	struct wf_mc *m = calloc(1, sizeof *m);
	if (!m) {
		wf_errf(err, errlen, "out of memory");
		return NULL;
	}
	m->s = s;
	m->t = wf_tokenizer_load(g, NULL, err, errlen);
	if (!m->t) {
		free(m);
		return NULL;
	}
	if ((int64_t)wf_tok_n_vocab(m->t) > (int64_t)s->V) {
		wf_errf(err, errlen, "vocabulary of %u tokens is larger than the model's %d", wf_tok_n_vocab(m->t),
		       s->V);
		wf_mc_free(m);
		return NULL;
	}
	m->prefix = wf_tok_bos(m->t) >= 0 ? wf_tok_bos(m->t) : wf_tok_eos(m->t);
	return m;
}

void wf_mc_free(struct wf_mc *m)
{
	if (!m)
		return;
	wf_tokenizer_free(m->t);
	wf_json_free(m->doc);
	free(m->ctx.ids);
	free(m->whole.ids);
	free(m->text);
	free(m->seq);
	free(m->lp);
	free(m->gr);
	free(m->ll);
	free(m->greedy);
	free(m->ntok);
	free(m);
}

/* Python's str.isspace() for one code point. */
static int py_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
	       c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Bytes of trailing whitespace (Python's len(s) - len(s.rstrip()), in
 * bytes) of valid UTF-8 s[0..n). */
static size_t trailing_space(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t end = n;
	while (end > 0) {
		size_t b = end - 1;
		while (b > 0 && (u[b] & 0xc0) == 0x80)
			b--;
		uint32_t c = u[b];
		size_t k = end - b;
		if (k == 2)
			c = (uint32_t)(u[b] & 0x1f) << 6 | (u[b + 1] & 0x3f);
		else if (k == 3)
			c = (uint32_t)(u[b] & 0x0f) << 12 | (uint32_t)(u[b + 1] & 0x3f) << 6 | (u[b + 2] & 0x3f);
		else if (k >= 4)
			c = 0x10000; /* no whitespace above U+FFFF */
		if (!py_space(c))
			break;
		end = b;
	}
	return n - end;
}

/* Code points in valid UTF-8 s[0..n) (Python's len()). */
static size_t utf8_len(const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xc0) != 0x80;
	return k;
}

/* A JSON value's type for messages. */
static const char *jtype(const struct wf_json *v)
{
	return wf_json_type_name(v->type);
}

/*
 * One request: the log-likelihood of continuation x[0..xn) after context
 * c[0..cn), the harness's way (see wf_mc_eval).
 */
static int mc_request(struct wf_mc *m, const char *c, size_t cn, const char *x, size_t xn, double *ll,
                      unsigned char *greedy, int *ntok, char *err, size_t errlen)
{
	size_t sp = trailing_space(c, cn);
	size_t c2 = cn - sp;               /* context without its trailing whitespace */
	size_t tn = cn + xn;               /* C' + X' = C + X */
	if (grow(&m->text, &m->text_cap, tn + 1, 1, err, errlen) < 0)
		return -1;
	memcpy(m->text, c, cn);
	memcpy(m->text + cn, x, xn);
	m->ctx.n = 0;
	m->whole.n = 0;
	const int32_t *cont;
	size_t ncont;
	if (c2 == 0) {
		/* empty context: the prefix token, then encode(whitespace + X) */
		if (m->prefix < 0) {
			wf_errf(err, errlen, "empty context and the vocabulary has neither BOS nor EOS");
			return -1;
		}
		if (wf_tok_encode(m->t, m->text, tn, WF_ENC_SPECIAL, &m->whole, err, errlen) < 0)
			return -1;
		if (grow(&m->ctx.ids, &m->ctx.cap, 1, sizeof *m->ctx.ids, err, errlen) < 0)
			return -1;
		m->ctx.ids[0] = m->prefix;
		m->ctx.n = 1;
		cont = m->whole.ids;
		ncont = m->whole.n;
	} else {
		if (wf_tok_encode(m->t, m->text, c2, WF_ENC_SPECIAL, &m->ctx, err, errlen) < 0 ||
		    wf_tok_encode(m->t, m->text, tn, WF_ENC_SPECIAL, &m->whole, err, errlen) < 0)
			return -1;
		cont = m->whole.ids + (m->whole.n > m->ctx.n ? m->ctx.n : m->whole.n);
		ncont = m->whole.n > m->ctx.n ? m->whole.n - m->ctx.n : 0;
	}
	if (ncont == 0) {
		wf_errf(err, errlen, "the continuation adds no tokens to the context");
		return -1;
	}
	int NC = wf_ctx_n_ctx(m->s->c);
	if (ncont > (size_t)NC) {
		wf_errf(err, errlen, "continuation of %zu tokens does not fit in the context of %d", ncont, NC);
		return -1;
	}
	size_t n = m->ctx.n + ncont;
	if (grow(&m->seq, &m->seq_cap, n, sizeof *m->seq, err, errlen) < 0)
		return -1;
	memcpy(m->seq, m->ctx.ids, m->ctx.n * sizeof *m->seq);
	memcpy(m->seq + m->ctx.n, cont, ncont * sizeof *m->seq);
	/* the harness keeps the last max_length + 1 tokens */
	size_t cut = n > (size_t)NC + 1 ? n - ((size_t)NC + 1) : 0;
	int32_t *seq = m->seq + cut;
	int sn = (int)(n - cut), from = (int)(n - cut - ncont);
	if (grow(&m->lp, &m->lp_cap, (size_t)sn, sizeof *m->lp, err, errlen) < 0 ||
	    grow(&m->gr, &m->gr_cap, (size_t)sn, sizeof *m->gr, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < ncont; i++) {
		if (cont[i] < 0 || cont[i] >= m->s->V) {
			wf_errf(err, errlen, "token %d is outside the model's vocabulary of %d", (int)cont[i], m->s->V);
			return -1;
		}
	}
	if (wf_score_seq(m->s, seq, sn, from, m->lp, m->gr, err, errlen) < 0)
		return -1;
	double sum = 0;
	int all = 1;
	for (int i = from; i < sn; i++) {
		sum += m->lp[i];
		all &= m->gr[i];
	}
	*ll = sum;
	*greedy = (unsigned char)all;
	*ntok = (int)ncont;
	return 0;
}

int wf_mc_eval(struct wf_mc *m, const char *line, size_t len, struct wf_mc_result *r, char *err,
               size_t errlen)
{
	memset(r, 0, sizeof *r);
	r->gold = -1;
	wf_json_free(m->doc);
	m->doc = wf_json_parse(line, len, 0, err, errlen);
	if (!m->doc)
		return -1;
	const struct wf_json *root = wf_json_root(m->doc);
	if (root->type != WF_JSON_OBJECT) {
		wf_errf(err, errlen, "expected a JSON object, found %s", jtype(root));
		return -1;
	}
	const struct wf_json *id = wf_json_get(root, "id");
	if (id) {
		if (id->type != WF_JSON_STRING && id->type != WF_JSON_NUMBER) {
			wf_errf(err, errlen, "\"id\" is %s, expected a string or a number", jtype(id));
			return -1;
		}
		if (id->n == 0 || memchr(id->s, '\t', id->n) || memchr(id->s, '\n', id->n) ||
		    memchr(id->s, '\r', id->n) || memchr(id->s, '\0', id->n)) {
			wf_errf(err, errlen, "\"id\" must be non-empty and hold no TAB, CR, LF or NUL");
			return -1;
		}
		r->id = id->s;
		r->idlen = id->n;
	}
	const struct wf_json *ctx = wf_json_get(root, "context");
	const struct wf_json *cont = wf_json_get(root, "continuation");
	const struct wf_json *ch = wf_json_get(root, "choices");
	const struct wf_json *gold = wf_json_get(root, "gold");
	const struct wf_json *delim = wf_json_get(root, "target_delimiter");
	if (!ctx) {
		wf_errf(err, errlen, "no \"context\"");
		return -1;
	}
	if (ctx->type != WF_JSON_STRING) {
		wf_errf(err, errlen, "\"context\" is %s, expected a string", jtype(ctx));
		return -1;
	}
	if (!!cont == !!ch) {
		wf_errf(err, errlen, cont ? "both \"continuation\" and \"choices\"" : "no \"continuation\" or \"choices\"");
		return -1;
	}
	const char *dl = " ";
	size_t dn = 1;
	int n;
	if (cont) {
		if (cont->type != WF_JSON_STRING) {
			wf_errf(err, errlen, "\"continuation\" is %s, expected a string", jtype(cont));
			return -1;
		}
		if (cont->n == 0) {
			wf_errf(err, errlen, "\"continuation\" is empty");
			return -1;
		}
		if (gold || delim) {
			wf_errf(err, errlen, "\"%s\" goes with \"choices\", not \"continuation\"", gold ? "gold" : "target_delimiter");
			return -1;
		}
		n = 1;
		r->single = 1;
	} else {
		if (ch->type != WF_JSON_ARRAY) {
			wf_errf(err, errlen, "\"choices\" is %s, expected an array of strings", jtype(ch));
			return -1;
		}
		if (ch->n == 0) {
			wf_errf(err, errlen, "\"choices\" is empty");
			return -1;
		}
		for (uint32_t i = 0; i < ch->n; i++) {
			if (ch->u.kids[i].type != WF_JSON_STRING) {
				wf_errf(err, errlen, "choice %u is %s, expected a string", i, jtype(&ch->u.kids[i]));
				return -1;
			}
			if (ch->u.kids[i].n == 0) {
				wf_errf(err, errlen, "choice %u is empty", i);
				return -1;
			}
		}
		if (delim) {
			if (delim->type != WF_JSON_STRING) {
				wf_errf(err, errlen, "\"target_delimiter\" is %s, expected a string", jtype(delim));
				return -1;
			}
			dl = delim->s;
			dn = delim->n;
		}
		n = (int)ch->n;
		if (gold) {
			int64_t g;
			if (gold->type == WF_JSON_STRING) {
				for (int i = 0; i < n && r->gold < 0; i++)
					if (ch->u.kids[i].n == gold->n && !memcmp(ch->u.kids[i].s, gold->s, gold->n))
						r->gold = i;
				if (r->gold < 0) {
					wf_errf(err, errlen, "\"gold\" \"%.*s\" is not one of the choices",
					       gold->n > 60 ? 60 : (int)gold->n, gold->s);
					return -1;
				}
			} else if (gold->type == WF_JSON_NUMBER && wf_json_int(gold, 0, n - 1, &g) == 0) {
				r->gold = (int)g;
			} else {
				wf_errf(err, errlen, "\"gold\" must be a choice index in [0, %d) or a choice's text", n);
				return -1;
			}
		}
	}
	if (grow(&m->ll, &m->ll_cap, (size_t)n, sizeof *m->ll, err, errlen) < 0 ||
	    grow(&m->greedy, &m->greedy_cap, (size_t)n, sizeof *m->greedy, err, errlen) < 0 ||
	    grow(&m->ntok, &m->ntok_cap, (size_t)n, sizeof *m->ntok, err, errlen) < 0)
		return -1;
	char *x = NULL;
	size_t xcap = 0;
	double best = 0, best_norm = 0;
	for (int i = 0; i < n; i++) {
		const struct wf_json *c = cont ? cont : &ch->u.kids[i];
		size_t xn = cont ? c->n : dn + c->n;
		if (grow(&x, &xcap, xn + 1, 1, err, errlen) < 0) {
			free(x);
			return -1;
		}
		if (cont) {
			memcpy(x, c->s, c->n);
		} else {
			memcpy(x, dl, dn);
			memcpy(x + dn, c->s, c->n);
		}
		if (mc_request(m, ctx->s, ctx->n, x, xn, &m->ll[i], &m->greedy[i], &m->ntok[i], err, errlen) < 0) {
			if (!cont) {
				char e2[256];
				snprintf(e2, sizeof e2, "%s", err);
				wf_errf(err, errlen, "choice %d: %s", i, e2);
			}
			free(x);
			return -1;
		}
		double norm = m->ll[i] / (double)utf8_len(c->s, c->n);
		if (i == 0 || m->ll[i] > best)
			best = m->ll[i], r->pred = i;
		if (i == 0 || norm > best_norm)
			best_norm = norm, r->pred_norm = i;
	}
	free(x);
	r->n = n;
	r->ll = m->ll;
	r->greedy = m->greedy;
	r->ntok = m->ntok;
	return 0;
}

int wf_mc_fprint(FILE *f, const struct wf_mc_result *r, unsigned long long recno, int ok)
{
	int e = 0;
	if (r->id)
		e |= fwrite(r->id, 1, r->idlen, f) != r->idlen;
	else
		e |= fprintf(f, "%llu", recno) < 0;
	e |= fputc('\t', f) == EOF;
	if (ok) {
		for (int i = 0; i < r->n; i++)
			e |= fprintf(f, i ? " %.6f" : "%.6f", r->ll[i]) < 0;
		e |= fputc('\t', f) == EOF;
		for (int i = 0; i < r->n; i++)
			e |= fprintf(f, i ? " %d" : "%d", r->greedy[i]) < 0;
		e |= fprintf(f, "\t%d\t%d", r->pred, r->pred_norm) < 0;
		if (r->single)
			e |= fprintf(f, "\t-\t%d\t-", r->greedy[0]) < 0;
		else if (r->gold >= 0)
			e |= fprintf(f, "\t%d\t%d\t%d", r->gold, r->pred == r->gold, r->pred_norm == r->gold) < 0;
		else
			e |= fputs("\t-\t-\t-", f) == EOF;
	}
	e |= fputc('\n', f) == EOF;
	return e ? -1 : 0;
}
