/*
 * sampler — choosing the next token from a row of logits.
 *
 * Greedy (temp <= 0): the argmax, ties to the lowest id, after the
 * repetition penalty.  Sampled (temp > 0), in llama.cpp's order:
 *
 *   1. repetition penalty over the last repeat_last_n tokens: a logit l of a
 *      token seen there becomes l / penalty if l > 0, else l * penalty
 *      (each distinct token once);
 *   2. top-k: keep the k largest logits (0: all);
 *   3. top-p: with p = softmax(logits) over the whole vocabulary, keep the
 *      smallest prefix (by descending logit) whose mass reaches top_p;
 *   4. min-p: keep tokens with p >= min_p * p_max;
 *   5. temperature: sample from softmax(l / temp) over what is left.
 *
 * The random numbers come from a 64-bit generator seeded by
 * wf_sampler_seed(), so one seed gives one output.  No allocation after
 * wf_sampler_new().
 */
#ifndef WF_SAMPLER_H
#define WF_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

struct wf_sampler_params {
	float temp;            /* 0: greedy */
	int top_k;             /* 0: off */
	float top_p;           /* 1: off */
	float min_p;           /* 0: off */
	float repeat_penalty;  /* 1: off */
	int repeat_last_n;     /* tokens looked back at by the penalty */
};

/* Greedy, top_k 40, top_p 0.95, min_p 0.05, no penalty, last 64. */
void wf_sampler_defaults(struct wf_sampler_params *p);

/* 0 if the parameters are valid, else -1 with "--top-p: 1.5 is not in [0, 1]" style text. */
int wf_sampler_check(const struct wf_sampler_params *p, char *err, size_t errlen);

struct wf_sampler;

struct wf_sampler *wf_sampler_new(const struct wf_sampler_params *p, int n_vocab, char *err,
                                  size_t errlen);
void wf_sampler_free(struct wf_sampler *s);

/* Restart the random sequence. */
void wf_sampler_seed(struct wf_sampler *s, uint64_t seed);

/*
 * The next token from logits[n_vocab] (modified: penalties are applied in
 * place), given the tokens so far hist[0..n_hist) (prompt and generated).
 */
int32_t wf_sampler_sample(struct wf_sampler *s, float *logits, const int32_t *hist, int n_hist);

/* Index of the largest of x[0..n), the lowest on ties (NaN never wins). */
int32_t wf_argmax(const float *x, int n);

#endif
