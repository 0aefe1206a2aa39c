/*
 * libFuzzer harness for lib/hfvocab: the input is up to three JSON
 * documents separated by NUL bytes (a byte strict JSON never holds):
 *   tokenizer.json NUL tokenizer_config.json NUL config.json
 * A missing or unparsable second or third document is passed as absent
 * (NULL), as wf-convert does for a missing file.  wf_hfvocab_build must
 * succeed or fail with a message and nothing left to free (LeakSanitizer
 * checks).  On success the vocabulary is checked against hfvocab.h (every
 * token present and NUL-terminated at its length, known types, special ids
 * in range); up to 65536 tokens it is also written with wf_hfvocab_write
 * (which must then succeed: a built vocabulary is a writable one), the
 * GGUF read back and a tokenizer loaded from it; when that loads, the
 * input's first bytes are encoded with and without special tokens and
 * every id's piece is looked up.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "hfvocab.h"
#include "json.h"
#include "tokenizer.h"

static void check_vocab(const struct wf_hfvocab *v)
{
	volatile uint8_t acc = 0;
	if (v->n == 0 || strcmp(v->model, "gpt2") || !v->pre[0])
		__builtin_trap();
	for (uint32_t i = 0; i < v->n; i++) {
		if (!v->tokens[i] || v->tokens[i][v->token_lens[i]] != '\0')
			__builtin_trap();
		if (v->types[i] < WF_TOKTYPE_NORMAL || v->types[i] > WF_TOKTYPE_UNUSED)
			__builtin_trap();
		if (v->token_lens[i])
			acc ^= (uint8_t)v->tokens[i][0];
	}
	for (uint64_t i = 0; i < v->n_merges; i++)
		acc ^= (uint8_t)v->merges[i][strlen(v->merges[i])];
	for (int k = 0; k < WF_SPECIAL_N; k++)
		if (v->special[k] < -1 || v->special[k] >= (int64_t)v->n)
			__builtin_trap();
	if (v->add_bos < -1 || v->add_bos > 1 || v->add_eos < -1 || v->add_eos > 1)
		__builtin_trap();
	for (size_t i = 0; i < v->n_tmpls; i++)
		acc ^= (uint8_t)v->tmpls[i].text[0];
	(void)acc;
}

static void tokenize(const struct wf_gguf *g, const uint8_t *text, size_t n)
{
	char err[256];
	err[0] = '\0';
	struct wf_tokenizer *t = wf_tokenizer_load(g, NULL, err, sizeof err);
	if (!t) {
		if (!err[0])
			__builtin_trap();
		return;
	}
	struct wf_tok_ids ids = {0};
	for (int flags = 0; flags <= WF_ENC_SPECIAL; flags += WF_ENC_SPECIAL) {
		ids.n = 0;
		if (wf_tok_encode(t, (const char *)text, n, flags | WF_ENC_BOS | WF_ENC_EOS, &ids, err, sizeof err) < 0)
			__builtin_trap();
		for (size_t i = 0; i < ids.n; i++) {
			size_t pl;
			if (ids.ids[i] < 0 || (uint32_t)ids.ids[i] >= wf_tok_n_vocab(t) ||
			    !wf_tok_piece(t, ids.ids[i], 1, &pl))
				__builtin_trap();
		}
	}
	free(ids.ids);
	wf_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wf_json_doc *doc[3] = {NULL, NULL, NULL};
	const struct wf_json *root[3] = {NULL, NULL, NULL};
	char err[256];
	const char *p = (const char *)data, *end = p + size;
	for (int i = 0; i < 3 && p <= end; i++) {
		const char *z = i < 2 ? memchr(p, '\0', (size_t)(end - p)) : NULL;
		size_t n = z ? (size_t)(z - p) : (size_t)(end - p);
		doc[i] = wf_json_parse(p, n, 0, err, sizeof err);
		if (doc[i])
			root[i] = wf_json_root(doc[i]);
		else if (i == 0)
			return 0;
		if (!z)
			break;
		p = z + 1;
	}

	struct wf_hfvocab v;
	err[0] = '\0';
	if (wf_hfvocab_build(&v, root[0], root[1], root[2], NULL, err, sizeof err) < 0) {
		if (!err[0])
			__builtin_trap();
	} else if (v.n > 1 << 16) {
		/* valid up to WF_MAX_VOCAB, but writing and loading millions of
		 * tokens would pass libFuzzer's memory limit: only checked */
		check_vocab(&v);
		wf_hfvocab_free(&v);
	} else {
		check_vocab(&v);
		struct wf_gguf_writer *w = wf_gguf_writer_new();
		struct wf_gguf_mem m = {0};
		if (!w)
			abort();
		if (wf_hfvocab_write(&v, w) < 0 || wf_gguf_writer_begin(w, wf_gguf_sink_mem, &m) < 0 ||
		    wf_gguf_writer_finish(w) < 0)
			__builtin_trap();
		wf_gguf_writer_free(w);
		struct wf_gguf g;
		if (wf_gguf_parse(&g, m.p, m.n, err, sizeof err) < 0)
			__builtin_trap();
		tokenize(&g, data, size < 64 ? size : 64);
		wf_gguf_free(&g);
		free(m.p);
		wf_hfvocab_free(&v);
	}
	for (int i = 0; i < 3; i++)
		wf_json_free(doc[i]);
	return 0;
}
