/*
 * tok_bench MODEL.gguf TEXT [REPS [PRE]]
 *
 * Benchmark (not a test): prints the time to build the tokenizer from the
 * parsed GGUF (best of 5), the time to adopt a precomputed index, and the
 * encoding speed over TEXT repeated REPS times (default 10), in MB/s of
 * input on one core, cold cache and warm.  Used for docs/PERFORMANCE.md.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "tokenizer.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: on a shared machine, wall time also counts the
 * time the scheduler gave to others. */
static double cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: tok_bench MODEL.gguf TEXT [REPS [PRE]]\n");
		return 2;
	}
	int reps = argc > 3 ? atoi(argv[3]) : 10;
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		return perror(argv[1]), 2;
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	char err[512];
	struct wf_gguf g;
	double t0 = now();
	if (map == MAP_FAILED || wf_gguf_parse(&g, map, (size_t)st.st_size, err, sizeof err))
		return fprintf(stderr, "%s: %s\n", argv[1], err), 2;
	double t_parse = now() - t0;
	struct wf_tok_opts o = {0};
	if (argc > 4)
		o.pre = (enum wf_tok_pre)wf_tok_pre_from_name(argv[4]);
	struct wf_tokenizer *t = NULL;
	double best = 1e9, bestc = 1e9;
	for (int i = 0; i < 5; i++) {
		if (t)
			wf_tokenizer_free(t);
		t0 = now();
		double c0 = cpu();
		t = wf_tokenizer_load(&g, &o, err, sizeof err);
		double d = now() - t0, dc = cpu() - c0;
		if (!t)
			return fprintf(stderr, "%s\n", err), 2;
		if (d < best)
			best = d;
		if (dc < bestc)
			bestc = dc;
	}
	size_t ixlen;
	const void *ix = wf_tok_index(t, &ixlen);
	void *copy = aligned_alloc(64, (ixlen + 63) / 64 * 64);
	memcpy(copy, ix, ixlen);
	struct wf_tok_opts o2 = o;
	o2.index = copy;
	o2.index_len = ixlen;
	double best2 = 1e9, best2c = 1e9;
	for (int i = 0; i < 5; i++) {
		t0 = now();
		double c0 = cpu();
		struct wf_tokenizer *t2 = wf_tokenizer_load(&g, &o2, err, sizeof err);
		double d = now() - t0, dc = cpu() - c0;
		if (!t2)
			return fprintf(stderr, "adopt: %s\n", err), 2;
		wf_tokenizer_free(t2);
		if (d < best2)
			best2 = d;
		if (dc < best2c)
			best2c = dc;
	}
	printf("vocab %u tokens, pre %s: GGUF parse %.1f ms; tokenizer build (best of 5) %.1f ms wall, %.1f ms CPU "
	       "(index %zu bytes); with a precomputed index %.1f ms wall, %.1f ms CPU\n",
	       wf_tok_n_vocab(t), wf_tok_pre_name(wf_tok_pre(t)), t_parse * 1e3, best * 1e3, bestc * 1e3, ixlen,
	       best2 * 1e3, best2c * 1e3);

	FILE *f = fopen(argv[2], "rb");
	if (!f)
		return perror(argv[2]), 2;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *text = malloc((size_t)n * reps + 1);
	if (fread(text, 1, (size_t)n, f) != (size_t)n)
		return 2;
	fclose(f);
	for (int i = 1; i < reps; i++)
		memcpy(text + (size_t)n * i, text, (size_t)n);
	size_t total = (size_t)n * reps;
	struct wf_tok_ids ids = {0};
	/* line by line, as wf-tok does */
	for (int pass = 0; pass < 2; pass++) {
		ids.n = 0;
		t0 = now();
		double c0 = cpu();
		size_t ntok = 0;
		const char *p = text, *end = text + total;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
			ids.n = 0;
			if (wf_tok_encode(t, p, len, 0, &ids, err, sizeof err))
				return fprintf(stderr, "%s\n", err), 2;
			ntok += ids.n;
			p += len + 1;
		}
		double d = now() - t0, dc = cpu() - c0;
		printf("%s: %zu bytes (%d x %ld), %zu tokens, %.3f s wall, %.1f MB/s wall, %.1f MB/s CPU\n",
		       pass ? "warm" : "first", total, reps, n, ntok, d, total / d / 1e6, total / dc / 1e6);
	}
	free(ids.ids);
	free(text);
	free(copy);
	wf_tokenizer_free(t);
	wf_gguf_free(&g);
	return 0;
}
