/*
 * sampler — see sampler.h.
 */
#include "sampler.h"
#include "errf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cand {
	float l;
	int32_t id;
};

struct wf_sampler {
	struct wf_sampler_params p;
	int n_vocab;
	uint64_t rng;
	struct cand *c; /* [n_vocab] candidates */
	uint8_t *seen;  /* [n_vocab] penalty marks */
	float *prob;    /* [n_vocab] */
};

void wf_sampler_defaults(struct wf_sampler_params *p)
{
	p->temp = 0;
	p->top_k = 40;
	p->top_p = 0.95f;
	p->min_p = 0.05f;
	p->repeat_penalty = 1.0f;
	p->repeat_last_n = 64;
}

int wf_sampler_check(const struct wf_sampler_params *p, char *err, size_t errlen)
{
	if (!(p->temp >= 0) || !isfinite(p->temp)) {
		wf_errf(err, errlen, "--temp: %g is not a finite number >= 0", (double)p->temp);
		return -1;
	}
	if (p->top_k < 0) {
		wf_errf(err, errlen, "--top-k: %d is negative", p->top_k);
		return -1;
	}
	if (!(p->top_p >= 0 && p->top_p <= 1)) {
		wf_errf(err, errlen, "--top-p: %g is not in [0, 1]", (double)p->top_p);
		return -1;
	}
	if (!(p->min_p >= 0 && p->min_p <= 1)) {
		wf_errf(err, errlen, "--min-p: %g is not in [0, 1]", (double)p->min_p);
		return -1;
	}
	if (!(p->repeat_penalty > 0) || !isfinite(p->repeat_penalty)) {
		wf_errf(err, errlen, "--repeat-penalty: %g is not a finite number > 0", (double)p->repeat_penalty);
		return -1;
	}
	if (p->repeat_last_n < 0) {
		wf_errf(err, errlen, "--repeat-last-n: %d is negative", p->repeat_last_n);
		return -1;
	}
	return 0;
}

struct wf_sampler *wf_sampler_new(const struct wf_sampler_params *p, int n_vocab, char *err, size_t errlen)
{
	if (wf_sampler_check(p, err, errlen) < 0)
		return NULL;
	struct wf_sampler *s = calloc(1, sizeof *s);
	if (s) {
		s->p = *p;
		s->n_vocab = n_vocab;
		s->c = malloc((size_t)n_vocab * sizeof *s->c);
		s->seen = calloc((size_t)n_vocab, 1);
		s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
	}
	if (!s || !s->c || !s->seen || !s->prob) {
		wf_sampler_free(s);
		wf_errf(err, errlen, "out of memory");
		return NULL;
	}
	wf_sampler_seed(s, 0);
	return s;
}

void wf_sampler_free(struct wf_sampler *s)
{
	if (!s)
		return;
	free(s->c);
	free(s->seen);
	free(s->prob);
	free(s);
}

void wf_sampler_seed(struct wf_sampler *s, uint64_t seed)
{
	s->rng = seed ^ 0x9E3779B97F4A7C15ull;
}

/* splitmix64 */
static uint64_t next64(struct wf_sampler *s)
{
	uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double uniform(struct wf_sampler *s)
{
	return (double)(next64(s) >> 11) * (1.0 / 9007199254740992.0);
}

int32_t wf_argmax(const float *x, int n)
{
	int32_t best = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i]))
			best = i;
	return best;
}

/* Descending logit, then ascending id: a total order, so results do not
 * depend on the sort algorithm. */
static int before(const struct cand *a, const struct cand *b)
{
	return a->l > b->l || (a->l == b->l && a->id < b->id);
}

static int cmp_desc(const void *a, const void *b)
{
	return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* Min-heap (by the order above, worst at the top) of k candidates. */
static void sift_down(struct cand *h, int k, int i)
{
	for (;;) {
		int w = i, a = 2 * i + 1, b = a + 1;
		if (a < k && before(&h[w], &h[a]))
			w = a;
		if (b < k && before(&h[w], &h[b]))
			w = b;
		if (w == i)
			return;
		struct cand t = h[i];
		h[i] = h[w];
		h[w] = t;
		i = w;
	}
}

int32_t wf_sampler_sample(struct wf_sampler *s, float *l, const int32_t *hist, int n_hist)
{
	const struct wf_sampler_params *p = &s->p;
	int V = s->n_vocab;
	if (p->repeat_penalty != 1.0f && p->repeat_last_n > 0 && n_hist > 0) {
		int from = n_hist > p->repeat_last_n ? n_hist - p->repeat_last_n : 0;
		for (int i = from; i < n_hist; i++) {
			int32_t t = hist[i];
			if (t < 0 || t >= V || s->seen[t])
				continue;
			s->seen[t] = 1;
			l[t] = l[t] > 0 ? l[t] / p->repeat_penalty : l[t] * p->repeat_penalty;
		}
		for (int i = from; i < n_hist; i++)
			if (hist[i] >= 0 && hist[i] < V)
				s->seen[hist[i]] = 0;
	}
	int32_t am = wf_argmax(l, V);
	if (p->temp <= 0)
		return am;
	float mx = l[am];
	/* Normaliser of softmax over the whole vocabulary (for top-p). */
	double z = 0;
	for (int i = 0; i < V; i++)
		z += exp((double)l[i] - mx);
	/* Candidates: the top k (heap), or all above the min-p cut. */
	int n = 0;
	if (p->top_k > 0 && p->top_k < V) {
		int k = p->top_k;
		for (int i = 0; i < V; i++) {
			struct cand x = {l[i], i};
			if (n < k) {
				s->c[n++] = x;
				if (n == k)
					for (int j = k / 2 - 1; j >= 0; j--)
						sift_down(s->c, k, j);
			} else if (before(&x, &s->c[0])) {
				s->c[0] = x;
				sift_down(s->c, k, 0);
			}
		}
	} else {
		double cut = p->min_p > 0 ? (double)mx + log((double)p->min_p) : -INFINITY;
		for (int i = 0; i < V; i++)
			if ((double)l[i] >= cut)
				s->c[n++] = (struct cand){l[i], i};
	}
	if (n == 0)
		return am;
	qsort(s->c, (size_t)n, sizeof *s->c, cmp_desc);
	/* top-p over the full distribution, then min-p; always keep one. */
	int keep = n;
	if (p->top_p < 1) {
		double cum = 0;
		for (int i = 0; i < n; i++) {
			cum += exp((double)s->c[i].l - mx) / z;
			if (cum >= p->top_p) {
				keep = i + 1;
				break;
			}
		}
	}
	if (p->min_p > 0) {
		double cut = (double)mx + log((double)p->min_p);
		int i = 1;
		while (i < keep && (double)s->c[i].l >= cut)
			i++;
		keep = i;
	}
	/* Temperature and the draw. */
	double tot = 0;
	for (int i = 0; i < keep; i++) {
		s->prob[i] = (float)exp(((double)s->c[i].l - mx) / p->temp);
		tot += s->prob[i];
	}
	double r = uniform(s) * tot, acc = 0;
	for (int i = 0; i < keep; i++) {
		acc += s->prob[i];
		if (r < acc)
			return s->c[i].id;
	}
	return s->c[keep - 1].id;
}
