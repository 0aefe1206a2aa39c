/*
 * dlm_replay MODEL THRESHOLD < input — teacher-forced check of a reference
 * block-diffusion trace (golden.json's bd_trace), independent of lib/dlm.
 *
 * Input: line 1 the prompt ids; then one line per pass in dlm_run's trace
 * words ("prefill 0 P[ POS:ID]", "denoise S E POS:ID...", "clean 0 E POS:ID").
 * Every pass is recomputed from the reference's own state (so one
 * disagreement does not carry over) with the rules of lib/dlm.h, sub-blocks
 * of 8, and its decision compared with the reference's.  Prints one line
 * per disagreement, "pass K: token POS ours ID margin M" (M: top-2 logit
 * margin at that slot) or "pass K: slots ours P1 (p X) theirs P2 (p Y)",
 * then "agree A of N".
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "kernels.h"
#include "model.h"

#define SUB 8
#define MASK 2047

static char err[512];
static int V;

static int32_t top(const float *r, int32_t skip)
{
	int32_t b = skip == 0 ? 1 : 0;
	for (int32_t j = 0; j < V; j++)
		if (j != skip && r[j] > r[b])
			b = j;
	return b;
}

static double prob(const float *r, int32_t x)
{
	float m = r[top(r, -1)];
	double s = 0;
	for (int j = 0; j < V; j++)
		s += exp((double)r[j] - m);
	return exp((double)r[x] - m) / s;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return fprintf(stderr, "usage: dlm_replay MODEL THRESHOLD < input\n"), 2;
	double thr = atof(argv[2]);
	int fd = open(argv[1], O_RDONLY);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0)
		return perror(argv[1]), 1;
	void *buf = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	struct wf_gguf g;
	struct wf_model *m;
	struct wf_ctx *c;
	if (wf_kernels_init(NULL, err, sizeof err) < 0 || wf_gguf_parse(&g, buf, (size_t)sb.st_size, err, sizeof err) < 0 ||
	    !(m = wf_model_load(&g, NULL, err, sizeof err)) || !(c = wf_ctx_new(m, 0, 0, 1, err, sizeof err)))
		return fprintf(stderr, "dlm_replay: %s\n", err), 1;
	V = wf_model_hparams(m)->n_vocab;
	int NC = wf_ctx_n_ctx(c);
	int32_t *x = calloc((size_t)NC + 1, sizeof *x), blk[64];
	char *known = calloc((size_t)NC + 1, 1);
	float *lg = malloc((size_t)64 * V * sizeof *lg);
	static char line[1 << 16];
	int L = 0, npass = 0, agree = 0;
	if (!fgets(line, sizeof line, stdin))
		return 1;
	for (char *s = strtok(line, " \n"); s; s = strtok(NULL, " \n"))
		x[L] = atoi(s), known[L++] = 1;
	while (fgets(line, sizeof line, stdin)) {
		char kind[16];
		int S, E, off, n = 0, pos[64], id[64];
		char *p = line;
		if (sscanf(p, "%15s %d %d%n", kind, &S, &E, &off) != 3)
			return fprintf(stderr, "bad line: %s", line), 1;
		p += off;
		while (n < 64 && sscanf(p, " %d:%d%n", &pos[n], &id[n], &off) == 2)
			p += off, n++;
		npass++;
		int ok = 1;
		if (!strcmp(kind, "prefill") || !strcmp(kind, "clean")) {
			int from = wf_ctx_n_past(c);
			if (wf_ctx_decode(c, x + from, E - from, lg, err, sizeof err) < 0)
				return fprintf(stderr, "dlm_replay: %s\n", err), 1;
			if (n) {
				int32_t t = top(lg, MASK);
				if (t != id[0]) {
					ok = 0;
					float r2 = lg[top(lg, t)];
					printf("pass %d: token %d ours %d margin %.4f\n", npass, pos[0], t, lg[t] - r2);
				}
			}
		} else {
			int first = S;
			while (known[first])
				first++;
			int sb0 = S + (first - S) / SUB * SUB, se = sb0 + SUB < E ? sb0 + SUB : E;
			for (int j = S; j < E; j++)
				blk[j - S] = known[j] ? x[j] : MASK;
			struct wf_eval ev = {blk, E - S, WF_ATTN_BLOCK, 0, 0, lg};
			if (wf_ctx_eval(c, &ev, err, sizeof err) < 0)
				return fprintf(stderr, "dlm_replay: %s\n", err), 1;
			int fp[64], fid[64], nf = 0, best = -1, bid = 0;
			double bp = -1, pr[64];
			for (int i = first; i < se; i++) {
				if (known[i])
					continue;
				const float *r = lg + (size_t)(i - 1 - S) * V;
				int32_t t = top(r, MASK);
				pr[i - S] = prob(r, t);
				if (pr[i - S] > bp)
					bp = pr[i - S], best = i, bid = t;
				if (pr[i - S] > thr)
					fp[nf] = i, fid[nf++] = t;
			}
			if (!nf)
				fp[0] = best, fid[nf++] = bid;
			ok = nf == n;
			for (int k = 0; k < nf && ok; k++)
				ok = fp[k] == pos[k] && fid[k] == id[k];
			if (!ok) {
				if (nf == n && fp[0] == pos[0]) {
					const float *r = lg + (size_t)(pos[0] - 1 - S) * V;
					printf("pass %d: token %d ours %d margin %.4f\n", npass, pos[0], fid[0],
					       r[fid[0]] - r[id[0]]);
				} else {
					printf("pass %d: slots ours %d (p %.5f) theirs %d (p %.5f)\n", npass, fp[0],
					       pr[fp[0] - S], pos[0], pr[pos[0] - S]);
				}
			}
		}
		agree += ok;
		for (int k = 0; k < n; k++)
			x[pos[k]] = id[k], known[pos[k]] = 1;
	}
	printf("agree %d of %d\n", agree, npass);
	free(x);
	free(known);
	free(lg);
	wf_ctx_free(c);
	wf_model_free(m);
	wf_gguf_free(&g);
	munmap(buf, (size_t)sb.st_size);
	close(fd);
	return 0;
}
