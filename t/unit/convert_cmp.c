/*
 * convert_cmp — compare the weights of two GGUF files for the wf-convert tests.
 *
 *   convert_cmp [-t TOL] A.gguf B.gguf
 *
 * Every tensor of A must be in B with the same shape.  Ternary weights
 * (blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight,
 * in any of I2_S, TQ1_0, TQ2_0, F32, F16, BF16) are decoded with
 * lib/ternary (floats by the absmean rule): the trits must be identical and
 * the scales equal within relative TOL (default 2^-11, one f16 rounding).
 * Other F32/F16/BF16 tensors must agree element-wise within relative TOL
 * (absolute TOL below 1).  Prints "ok: N ternary tensors, M other tensors"
 * and exits 0, or names the first difference and exits 1.
 *
 *   convert_cmp -r FILE TENSOR
 *
 * Prints the ternary tensor's scale and its rows run-length encoded, each
 * run "T x N" for N consecutive rows whose trits are all T ("mixed" for a
 * row that is not constant): "scale 0.5: +1x32 0x32 -1x64".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "unit.h"
#include "kernels.h"
#include "ternary.h"

/* Open and parse path into *g, or exit 1. */
static void open_gguf(const char *path, struct wf_gguf *g)
{
	unit_gguf(path, g, 1);
}

static int is_ternary_name(const char *n)
{
	static const char *const p[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
	const char *d = strncmp(n, "blk.", 4) == 0 ? strchr(n + 4, '.') : NULL;
	if (!d)
		return 0;
	for (size_t k = 0; k < sizeof p / sizeof p[0]; k++) {
		size_t l = strlen(p[k]);
		if (strncmp(d + 1, p[k], l) == 0 && strcmp(d + 1 + l, ".weight") == 0)
			return 1;
	}
	return 0;
}

static float elem(const struct wf_gguf_tensor *t, uint64_t i)
{
	float f;
	uint16_t h;
	if (t->type == WF_TYPE_F32) {
		memcpy(&f, t->data + 4 * i, 4);
		return f;
	}
	memcpy(&h, t->data + 2 * i, 2);
	return t->type == WF_TYPE_F16 ? wf_f16_to_f32(h) : wf_bf16_to_f32(h);
}

static int rows(const char *path, const char *name)
{
	static struct wf_gguf g;
	char err[256];
	int64_t nr, nc;
	float s;
	open_gguf(path, &g);
	const struct wf_gguf_tensor *t = wf_gguf_tensor(&g, name);
	if (!t || wf_ternary_check(t, &nr, &nc, err, sizeof err) < 0) {
		printf("%s\n", t ? err : "no such tensor");
		return 1;
	}
	int8_t *tr = malloc((size_t)(nr * nc));
	if (wf_ternary_decode(t, tr, &s, err, sizeof err) < 0) {
		printf("%s\n", err);
		return 1;
	}
	printf("scale %.6g:", (double)s);
	int prev = 9;
	long run = 0;
	for (int64_t r = 0; r <= nr; r++) {
		int v = 9;
		if (r < nr) {
			v = tr[r * nc];
			for (int64_t k = 1; k < nc; k++)
				if (tr[r * nc + k] != v)
					v = 5;
		}
		if (r == nr || v != prev) {
			if (run && prev == 5)
				printf(" mixed x%ld", run);
			else if (run)
				printf(" %s%dx%ld", prev > 0 ? "+" : "", prev, run);
			prev = v;
			run = 0;
		}
		run++;
	}
	printf("\n");
	free(tr);
	return 0;
}

int main(int argc, char **argv)
{
	double tol = 1.0 / 2048;
	int c;
	char err[256];
	if (argc == 4 && strcmp(argv[1], "-r") == 0)
		return rows(argv[2], argv[3]);
	while ((c = getopt(argc, argv, "t:")) != -1) {
		if (c != 't')
			return 2;
		tol = atof(optarg);
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: convert_cmp [-t TOL] A.gguf B.gguf\n");
		return 2;
	}
	static struct wf_gguf a, b;
	open_gguf(argv[optind], &a);
	open_gguf(argv[optind + 1], &b);
	int nt = 0, no = 0;
	for (uint64_t i = 0; i < a.n_tensors; i++) {
		const struct wf_gguf_tensor *x = &a.tensors[i];
		const struct wf_gguf_tensor *y = wf_gguf_tensor(&b, x->name);
		if (!y) {
			printf("%s: missing in B\n", x->name);
			return 1;
		}
		if (x->n_dims != y->n_dims || memcmp(x->ne, y->ne, sizeof x->ne) != 0) {
			printf("%s: shapes differ\n", x->name);
			return 1;
		}
		uint64_t n = 1;
		for (int d = 0; d < 4; d++)
			n *= (uint64_t)x->ne[d];
		if (is_ternary_name(x->name)) {
			int8_t *tx = malloc(n), *ty = malloc(n);
			float sx, sy;
			if (wf_ternary_decode(x, tx, &sx, err, sizeof err) < 0 ||
			    wf_ternary_decode(y, ty, &sy, err, sizeof err) < 0) {
				printf("%s\n", err);
				return 1;
			}
			uint64_t diff = 0;
			for (uint64_t k = 0; k < n; k++)
				diff += tx[k] != ty[k];
			free(tx);
			free(ty);
			if (diff) {
				printf("%s: %llu of %llu trits differ\n", x->name, (unsigned long long)diff,
				       (unsigned long long)n);
				return 1;
			}
			if (fabs((double)sx - (double)sy) > tol * fabs((double)sy)) {
				printf("%s: scales %.9g and %.9g differ\n", x->name, (double)sx, (double)sy);
				return 1;
			}
			nt++;
			continue;
		}
		int fx = x->type == WF_TYPE_F32 || x->type == WF_TYPE_F16 || x->type == WF_TYPE_BF16;
		int fy = y->type == WF_TYPE_F32 || y->type == WF_TYPE_F16 || y->type == WF_TYPE_BF16;
		if (!fx || !fy) {
			if (x->type != y->type || x->nbytes != y->nbytes || memcmp(x->data, y->data, x->nbytes) != 0) {
				printf("%s: contents differ\n", x->name);
				return 1;
			}
		} else {
			for (uint64_t k = 0; k < n; k++) {
				double p = elem(x, k), q = elem(y, k);
				if (fabs(p - q) > tol * (fabs(q) > 1 ? fabs(q) : 1)) {
					printf("%s: element %llu: %.9g and %.9g differ\n", x->name, (unsigned long long)k, p, q);
					return 1;
				}
			}
		}
		no++;
	}
	if (a.n_tensors != b.n_tensors) {
		printf("tensor counts differ: %llu and %llu\n", (unsigned long long)a.n_tensors,
		       (unsigned long long)b.n_tensors);
		return 1;
	}
	printf("ok: %d ternary tensors, %d other tensors\n", nt, no);
	return 0;
}
