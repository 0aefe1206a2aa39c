/*
 * gen_exps MOE.gguf DENSE.gguf — check that every expert stack
 * blk.N.<ffn>_exps.weight [cols, rows, E] of MOE holds E byte-identical
 * copies of DENSE's blk.N.<ffn>.weight [cols, rows] (same type; for I2_S
 * the bodies one after the other and the dense tensor's 32-byte scale
 * trailer once at the end).  Prints "S stacks of E experts: copies of the
 * dense tensors" and exits 0, or names the first difference and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "unit.h"
#include "ternary.h"

static struct wf_gguf ga, gb;

int main(int argc, char **argv)
{
	int stacks = 0;
	int64_t E = 0;
	if (argc != 3) {
		fprintf(stderr, "usage: gen_exps MOE.gguf DENSE.gguf\n");
		return 2;
	}
	unit_gguf(argv[1], &ga, 1);
	unit_gguf(argv[2], &gb, 1);
	for (uint64_t i = 0; i < ga.n_tensors; i++) {
		const struct wf_gguf_tensor *t = &ga.tensors[i];
		const char *x = strstr(t->name, "_exps.weight");
		char dn[WF_GGUF_MAX_NAME + 1];
		if (!x)
			continue;
		snprintf(dn, sizeof dn, "%.*s.weight", (int)(x - t->name), t->name);
		const struct wf_gguf_tensor *d = wf_gguf_tensor(&gb, dn);
		if (!d || d->type != t->type || d->ne[0] != t->ne[0] || d->ne[1] != t->ne[1] || t->n_dims != 3) {
			printf("%s: no dense %s of the same type and shape\n", t->name, dn);
			return 1;
		}
		uint64_t body = wf_ternary_body_bytes(t->type, (uint64_t)d->ne[0] * (uint64_t)d->ne[1]);
		for (int64_t e = 0; e < t->ne[2]; e++) {
			if (memcmp(t->data + (uint64_t)e * body, d->data, body)) {
				printf("%s: expert %lld differs from %s\n", t->name, (long long)e, dn);
				return 1;
			}
		}
		if (t->nbytes - (uint64_t)t->ne[2] * body != d->nbytes - body ||
		    memcmp(t->data + (uint64_t)t->ne[2] * body, d->data + body, d->nbytes - body)) {
			printf("%s: trailer differs from %s\n", t->name, dn);
			return 1;
		}
		stacks++;
		E = t->ne[2];
	}
	printf("%d stacks of %lld experts: copies of the dense tensors\n", stacks, (long long)E);
	return 0;
}
