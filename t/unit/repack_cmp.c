/*
 * repack_cmp A B — compare the WF_TMAT tensors of two models (files or
 * images, resolved as every program does): for each WF_TMAT tensor of A,
 * B must have one of the same name and shape whose packed bytes are equal.
 * Prints "N tensors: packed bytes equal; scales equal|differ (max rel D)"
 * and exits 0, or names the first difference and exits 1.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gguf.h"
#include "image.h"

static int open_model(const char *arg, struct wf_model_src *src, struct wf_gguf *g)
{
	char err[512];
	if (wf_model_open(arg, src, err, sizeof err) < 0 ||
	    wf_gguf_parse(g, src->base, src->size, err, sizeof err) < 0) {
		fprintf(stderr, "repack_cmp: %s: %s\n", arg, err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct wf_model_src sa, sb;
	struct wf_gguf a, b;
	if (argc != 3) {
		fprintf(stderr, "usage: repack_cmp A B\n");
		return 2;
	}
	if (open_model(argv[1], &sa, &a) < 0 || open_model(argv[2], &sb, &b) < 0)
		return 1;
	int n = 0;
	double maxrel = 0;
	for (uint64_t i = 0; i < a.n_tensors; i++) {
		const struct wf_gguf_tensor *ta = &a.tensors[i];
		if (ta->type != WF_TYPE_WF_TMAT)
			continue;
		const struct wf_gguf_tensor *tb = wf_gguf_tensor(&b, ta->name);
		if (!tb || tb->type != WF_TYPE_WF_TMAT || tb->ne[0] != ta->ne[0] || tb->ne[1] != ta->ne[1]) {
			printf("tensor '%s': missing or different in %s\n", ta->name, argv[2]);
			return 1;
		}
		uint64_t body = ta->nbytes - 32;
		if (memcmp(ta->data, tb->data, body)) {
			printf("tensor '%s': packed bytes differ\n", ta->name);
			return 1;
		}
		float fa, fb;
		memcpy(&fa, ta->data + body, 4);
		memcpy(&fb, tb->data + body, 4);
		double rel = fabs((double)fa - fb) / fabs((double)fa);
		if (rel > maxrel)
			maxrel = rel;
		n++;
	}
	if (maxrel == 0)
		printf("%d tensors: packed bytes equal; scales equal\n", n);
	else
		printf("%d tensors: packed bytes equal; scales differ (max rel %.1e)\n", n, maxrel);
	wf_gguf_free(&a);
	wf_gguf_free(&b);
	wf_model_close(&sa);
	wf_model_close(&sb);
	return 0;
}
