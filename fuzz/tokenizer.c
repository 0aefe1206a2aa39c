/*
 * libFuzzer harness for lib/tokenizer: arbitrary bytes are encoded with two
 * tiny vocabularies built in memory with the GGUF writer (byte-level BPE
 * under each pre-tokenizer, and SPM with byte fallback), with and without
 * special-token parsing, and the pieces must give the input back.  The
 * first byte picks the options; the rest is the text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer.h"
#include "unicode.h"

static struct wf_gguf_mem bpe_buf, spm_buf;
static struct wf_gguf bpe_g, spm_g;
static struct wf_tokenizer *bpe[3], *spm;

static void build_bpe(void)
{
	static char store[256 * 4];
	const char *names[262];
	int k = 256;
	for (int b = 0; b < 256; b++) {
		int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
		size_t l = wf_utf8_encode(printable ? (uint32_t)b : (uint32_t)k++, store + 4 * b);
		store[4 * b + l] = 0;
		names[b] = store + 4 * b;
	}
	names[256] = "ab";
	names[257] = "abc";
	names[258] = "\xc4\xa0" "a"; /* "Ġa" */
	names[259] = "<|end|>";
	names[260] = "<u>";
	names[261] = "\xc4\xa0\xc4\xa0";
	int32_t types[262];
	for (int i = 0; i < 262; i++)
		types[i] = 1;
	types[259] = 3;
	types[260] = 4;
	const char *merges[] = {"a b", "ab c", "\xc4\xa0 a", "\xc4\xa0 \xc4\xa0"};
	struct wf_gguf_writer *w = wf_gguf_writer_new();
	wf_gguf_writer_str(w, "tokenizer.ggml.model", "gpt2");
	wf_gguf_writer_arr_str(w, "tokenizer.ggml.tokens", names, NULL, 262);
	wf_gguf_writer_arr(w, "tokenizer.ggml.token_type", WF_GGUF_INT32, types, 262);
	wf_gguf_writer_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 4);
	wf_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", 259);
	if (wf_gguf_writer_begin(w, wf_gguf_sink_mem, &bpe_buf) || wf_gguf_writer_finish(w))
		abort();
	wf_gguf_writer_free(w);
}

static void build_spm(void)
{
	static char store[256 * 8];
	const char *names[266];
	float scores[266];
	int32_t types[266];
	names[0] = "<unk>"; types[0] = 2;
	names[1] = "<s>"; types[1] = 3;
	names[2] = "</s>"; types[2] = 3;
	for (int b = 0; b < 256; b++) {
		snprintf(store + 8 * b, 8, "<0x%02X>", b);
		names[3 + b] = store + 8 * b;
		types[3 + b] = 6;
	}
	names[259] = "\xe2\x96\x81";       /* ▁ */
	names[260] = "\xe2\x96\x81" "a";   /* ▁a */
	names[261] = "ab";
	names[262] = "a";
	names[263] = "b";
	names[264] = "\xc3\xa9";           /* é */
	names[265] = "\xe2\x96\x81\xe2\x96\x81";
	for (int i = 0; i < 266; i++) {
		scores[i] = -(float)i;
		if (i >= 259)
			types[i] = 1;
	}
	struct wf_gguf_writer *w = wf_gguf_writer_new();
	wf_gguf_writer_str(w, "tokenizer.ggml.model", "llama");
	wf_gguf_writer_arr_str(w, "tokenizer.ggml.tokens", names, NULL, 266);
	wf_gguf_writer_arr(w, "tokenizer.ggml.scores", WF_GGUF_FLOAT32, scores, 266);
	wf_gguf_writer_arr(w, "tokenizer.ggml.token_type", WF_GGUF_INT32, types, 266);
	if (wf_gguf_writer_begin(w, wf_gguf_sink_mem, &spm_buf) || wf_gguf_writer_finish(w))
		abort();
	wf_gguf_writer_free(w);
}

static void init(void)
{
	char err[256];
	build_bpe();
	build_spm();
	if (wf_gguf_parse(&bpe_g, bpe_buf.p, bpe_buf.n, err, sizeof err) ||
	    wf_gguf_parse(&spm_g, spm_buf.p, spm_buf.n, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	for (int i = 0; i < 3; i++) {
		struct wf_tok_opts o = {0};
		o.pre = (enum wf_tok_pre)(WF_PRE_LLAMA3 + i);
		bpe[i] = wf_tokenizer_load(&bpe_g, &o, err, sizeof err);
		if (!bpe[i]) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
	}
	spm = wf_tokenizer_load(&spm_g, NULL, err, sizeof err);
	if (!spm) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
}

/* Join the pieces of ids and compare with text (SPM: one prefix space). */
static void check(struct wf_tokenizer *t, const struct wf_tok_ids *v, const uint8_t *text, size_t n, int special)
{
	static char *back;
	static size_t cap;
	size_t o = 0;
	for (size_t i = 0; i < v->n; i++) {
		size_t pl;
		const char *p = wf_tok_piece(t, v->ids[i], 1, &pl);
		if (!p)
			abort();
		if (o + pl > cap) {
			cap = 2 * (o + pl) + 64;
			back = realloc(back, cap);
		}
		memcpy(back + o, p, pl);
		o += pl;
	}
	const char *b = back;
	if (wf_tok_add_space_prefix(t) && o && b[0] == ' ') {
		b++;
		o--;
	}
	/* SPM puts a space after each special token (as llama.cpp does), so
	 * its text comes back only without special parsing; byte-level BPE
	 * always (the pieces of special tokens are their texts) */
	if (special && t == spm)
		return;
	if (o != n || (n && memcmp(b, text, n)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		init();
		ready = 1;
	}
	if (size == 0)
		return 0;
	int sel = data[0];
	const uint8_t *text = data + 1;
	size_t n = size - 1;
	int special = sel & 1;
	struct wf_tok_ids v = {0};
	char err[256];
	struct wf_tokenizer *t = (sel >> 1) % 4 == 3 ? spm : bpe[(sel >> 1) % 4];
	if (wf_tok_encode(t, (const char *)text, n, special ? WF_ENC_SPECIAL : 0, &v, err, sizeof err))
		abort();
	for (size_t i = 0; i < v.n; i++)
		if (v.ids[i] < 0 || (uint32_t)v.ids[i] >= wf_tok_n_vocab(t))
			abort();
	check(t, &v, text, n, special);
	free(v.ids);
	return 0;
}
