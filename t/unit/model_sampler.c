/*
 * model_sampler — checks of lib/sampler against the rules in sampler.h.
 * Prints "ok N ..." per check; exits 1 at the first failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"

static int fails;

#define CHECK(n, what, cond)                                  \
	do {                                                      \
		if (cond)                                             \
			printf("ok %d %s\n", n, what);                    \
		else {                                                \
			printf("not ok %d %s\n", n, what);                \
			fails++;                                          \
		}                                                     \
	} while (0)

/* Frequencies of ids 0..V-1 over N draws with p, seed 42. */
static void freq(const struct wf_sampler_params *p, const float *lg, int V, int N, double *f)
{
	char err[256];
	struct wf_sampler *s = wf_sampler_new(p, V, err, sizeof err);
	float *l = malloc((size_t)V * sizeof *l);
	memset(f, 0, (size_t)V * sizeof *f);
	wf_sampler_seed(s, 42);
	for (int i = 0; i < N; i++) {
		memcpy(l, lg, (size_t)V * sizeof *l);
		f[wf_sampler_sample(s, l, NULL, 0)] += 1.0 / N;
	}
	free(l);
	wf_sampler_free(s);
}

int main(void)
{
	struct wf_sampler_params p;
	char err[256];
	float lg[4] = {logf(0.5f), logf(0.3f), logf(0.2f), -INFINITY};
	double f[4];
	int N = 200000;

	float t[5] = {1, 3, 3, -1, 2};
	CHECK(1, "argmax: ties go to the lowest id", wf_argmax(t, 5) == 1);
	float tn[3] = {NAN, 1, 0};
	CHECK(2, "argmax: NaN never wins", wf_argmax(tn, 3) == 1);

	wf_sampler_defaults(&p);
	p.temp = 1, p.top_k = 0, p.top_p = 1, p.min_p = 0;
	freq(&p, lg, 4, N, f);
	CHECK(3, "temp 1: frequencies follow softmax",
	      fabs(f[0] - 0.5) < 0.01 && fabs(f[1] - 0.3) < 0.01 && fabs(f[2] - 0.2) < 0.01 && f[3] == 0);

	p.top_p = 0.6f;
	freq(&p, lg, 4, N, f);
	CHECK(4, "top-p 0.6 keeps the two most likely (0.5 + 0.3)",
	      fabs(f[0] - 0.625) < 0.01 && fabs(f[1] - 0.375) < 0.01 && f[2] == 0);

	p.top_p = 1, p.min_p = 0.5f;
	freq(&p, lg, 4, N, f);
	CHECK(5, "min-p 0.5 keeps p >= 0.25", fabs(f[0] - 0.625) < 0.01 && f[2] == 0);

	p.min_p = 0, p.top_k = 1;
	freq(&p, lg, 4, N, f);
	CHECK(6, "top-k 1 is greedy", fabs(f[0] - 1) < 1e-9 && f[1] == 0);

	p.top_k = 0, p.temp = 0.5f;
	freq(&p, lg, 4, N, f);
	/* softmax(l / 0.5) = p^2 normalised: 0.25, 0.09, 0.04 over 0.38 */
	CHECK(7, "temperature 0.5 squares the probabilities",
	      fabs(f[0] - 0.25 / 0.38) < 0.01 && fabs(f[1] - 0.09 / 0.38) < 0.01);

	/* repetition penalty, greedy: id 0 seen, logit 2 -> 1; id 2 seen, -1 -> -2 */
	wf_sampler_defaults(&p);
	p.repeat_penalty = 2;
	struct wf_sampler *s = wf_sampler_new(&p, 3, err, sizeof err);
	float r[3] = {2, 1.5f, -1};
	int32_t hist[3] = {0, 2, 0};
	int32_t id = wf_sampler_sample(s, r, hist, 3);
	CHECK(8, "repeat penalty divides positive and multiplies negative logits once",
	      id == 1 && r[0] == 1 && r[1] == 1.5f && r[2] == -2);
	wf_sampler_free(s);

	wf_sampler_defaults(&p);
	p.top_p = 1.5f;
	CHECK(9, "bad parameters are refused",
	      wf_sampler_new(&p, 3, err, sizeof err) == NULL && !strcmp(err, "--top-p: 1.5 is not in [0, 1]"));

	/* same seed, same draws; reseeding restarts */
	wf_sampler_defaults(&p);
	p.temp = 1, p.top_k = 0, p.top_p = 1, p.min_p = 0;
	s = wf_sampler_new(&p, 4, err, sizeof err);
	int32_t a[32], b[32];
	for (int k = 0; k < 2; k++) {
		wf_sampler_seed(s, 7);
		for (int i = 0; i < 32; i++) {
			float l[4];
			memcpy(l, lg, sizeof l);
			(k ? b : a)[i] = wf_sampler_sample(s, l, NULL, 0);
		}
	}
	CHECK(10, "one seed, one sequence", !memcmp(a, b, sizeof a));
	wf_sampler_free(s);
	return fails ? 1 : 0;
}
