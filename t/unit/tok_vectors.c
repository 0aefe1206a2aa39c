/*
 * tok_vectors MODEL.gguf FILE.inp FILE.out [PRE]
 *
 * Runs llama.cpp's tokenizer test vectors (tests/test-tokenizer-0 format:
 * FILE.inp holds the strings, each followed by "\n__ggml_vocab_test__\n";
 * FILE.out one line per string, each id preceded by a space) through
 * lib/tokenizer without BOS and without special-token parsing, and checks
 * that the ids match and that joining the pieces gives the input back
 * (for byte-level BPE always; for SPM after dropping the prefix space).
 * PRE overrides the pre-tokenizer ("llama3", "gpt2", "default").
 * Prints "N/M passed" and exits 0 only if all pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "unit.h"
#include "tokenizer.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	size_t r;
	while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n < 2)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	b[n] = 0;
	*len = n;
	return b;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: tok_vectors MODEL.gguf FILE.inp FILE.out [PRE]\n");
		return 2;
	}
	char err[512];
	struct wf_gguf g;
	unit_gguf(argv[1], &g, 2);
	struct wf_tok_opts o = {0};
	if (argc > 4) {
		int p = wf_tok_pre_from_name(argv[4]);
		if (p < 0) {
			fprintf(stderr, "unknown pre-tokenizer %s\n", argv[4]);
			return 2;
		}
		o.pre = (enum wf_tok_pre)p;
	}
	struct wf_tokenizer *t = wf_tokenizer_load(&g, &o, err, sizeof err);
	if (!t) {
		fprintf(stderr, "%s: %s\n", argv[1], err);
		return 2;
	}
	size_t il, ol;
	char *inp = slurp(argv[2], &il), *outp = slurp(argv[3], &ol);
	const char *sep = "\n__ggml_vocab_test__\n";
	size_t seplen = strlen(sep);
	char *p = inp, *q = outp;
	int total = 0, ok = 0;
	struct wf_tok_ids ids = {0};
	char *text = malloc(il + 16);
	while (p < inp + il) {
		char *e = strstr(p, sep);
		if (!e)
			break;
		size_t n = (size_t)(e - p);
		char *nl = strchr(q, '\n');
		if (!nl) {
			fprintf(stderr, "%s: fewer lines than tests\n", argv[3]);
			return 2;
		}
		*nl = 0;
		total++;
		ids.n = 0;
		if (wf_tok_encode(t, p, n, 0, &ids, err, sizeof err)) {
			fprintf(stderr, "test %d: %s\n", total, err);
			return 2;
		}
		char got[8192];
		size_t gl = 0;
		got[0] = 0;
		for (size_t i = 0; i < ids.n && gl + 16 < sizeof got; i++)
			gl += (size_t)snprintf(got + gl, sizeof got - gl, " %d", ids.ids[i]);
		int pass = strcmp(got, q) == 0;
		/* pieces joined */
		size_t tl = 0;
		for (size_t i = 0; i < ids.n; i++) {
			size_t pl;
			const char *pc = wf_tok_piece(t, ids.ids[i], 0, &pl);
			if (tl + pl < il + 16) {
				memcpy(text + tl, pc, pl);
				tl += pl;
			}
		}
		const char *tx = text;
		if (wf_tok_add_space_prefix(t) && tl && text[0] == ' ') {
			tx++;
			tl--;
		}
		int rt = tl == n && memcmp(tx, p, n) == 0;
		if (!pass || !rt) {
			printf("test %d: input '%.*s'\n  expected '%s'\n  got      '%s'%s\n", total, (int)n, p, q, got,
			       rt ? "" : "\n  and the pieces do not give the input back");
		} else
			ok++;
		p = e + seplen;
		q = nl + 1;
	}
	printf("%d/%d passed\n", ok, total);
	free(ids.ids);
	free(text);
	free(inp);
	free(outp);
	wf_tokenizer_free(t);
	return ok == total && total > 0 ? 0 : 1;
}
