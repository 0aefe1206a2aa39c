/*
 * tok_unit [GPT2.gguf [SPM.gguf [LLAMA3.gguf]]]
 *
 * Unit and property tests of lib/unicode, lib/tokenizer and lib/chat.
 * Without arguments only the self-contained tests run (tiny vocabularies
 * built in memory with the GGUF writer); with the fixture vocabularies
 * (../shared/fixtures/tokenizers, and the LLaMA 3 one converted by
 * wf-convert) also the pre-tokenizer splits and seeded random round trips.
 * Prints each failure and "tok_unit: N checks, M failed"; exits 1 on any.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chat.h"
#include "gguf.h"
#include "tokenizer.h"
#include "unicode.h"

static int checks, failed;

#define CHECK(cond, ...) check_((cond), __LINE__, __VA_ARGS__)
static void check_(int ok, int line, const char *fmt, ...)
{
	checks++;
	if (ok)
		return;
	failed++;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stdout, "FAIL line %d: ", line);
	vfprintf(stdout, fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* GGUF in memory. */

/* Finish writer w into m (0 tensors). */
static void finish(struct wf_gguf_writer *w, struct wf_gguf_mem *m)
{
	memset(m, 0, sizeof *m);
	if (wf_gguf_writer_begin(w, wf_gguf_sink_mem, m) || wf_gguf_writer_finish(w)) {
		fprintf(stderr, "writer: %s\n", wf_gguf_writer_error(w));
		exit(2);
	}
	wf_gguf_writer_free(w);
}

/* The byte-level BPE tokens of the 256 bytes (GPT-2's mapping), in byte
 * order, into names[0..256); returns the storage to free. */
static char *byte_names(const char **names)
{
	char *store = malloc(256 * 4);
	int k = 256;
	for (int b = 0; b < 256; b++) {
		int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
		uint32_t cp = printable ? (uint32_t)b : (uint32_t)k++;
		size_t l = wf_utf8_encode(cp, store + 4 * b);
		store[4 * b + l] = 0;
		names[b] = store + 4 * b;
	}
	return store;
}

/*
 * A tiny byte-level vocabulary: 256 byte tokens, then "ab" (256), "abc"
 * (257), "bc" (258), "aa" (259), "<|end|>" (260, control), "<u>" (261,
 * user-defined); merges by rank: "a b", "ab c", "b c", "a a".
 */
static void tiny_bpe(struct wf_gguf_mem *m, const char *pre, int bad)
{
	const char *names[262];
	char *store = byte_names(names);
	names[256] = "ab";
	names[257] = "abc";
	names[258] = "bc";
	names[259] = "aa";
	names[260] = "<|end|>";
	names[261] = "<u>";
	int32_t types[262];
	for (int i = 0; i < 262; i++)
		types[i] = 1;
	types[260] = 3;
	types[261] = 4;
	const char *merges[] = {"a b", "ab c", "b c", "a a"};
	struct wf_gguf_writer *w = wf_gguf_writer_new();
	wf_gguf_writer_str(w, "general.architecture", "llama");
	wf_gguf_writer_str(w, "tokenizer.ggml.model", bad == 1 ? "wordpiece" : "gpt2");
	if (pre)
		wf_gguf_writer_str(w, "tokenizer.ggml.pre", pre);
	if (bad == 2)
		wf_gguf_writer_arr(w, "tokenizer.ggml.tokens", WF_GGUF_INT32, types, 262);
	else
		wf_gguf_writer_arr_str(w, "tokenizer.ggml.tokens", names, NULL, 262);
	if (bad == 3)
		types[7] = 9;
	wf_gguf_writer_arr(w, "tokenizer.ggml.token_type", WF_GGUF_INT32, types, bad == 4 ? 261 : 262);
	if (bad == 5)
		merges[2] = "b cz";
	if (bad == 6)
		merges[3] = "aa";
	if (bad == 9)
		merges[1] = "b a";
	wf_gguf_writer_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 4);
	wf_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", bad == 7 ? 262 : 260);
	if (bad == 8) {
		float sc[10] = {0};
		wf_gguf_writer_arr(w, "tokenizer.ggml.scores", WF_GGUF_FLOAT32, sc, 10);
	}
	finish(w, m);
	free(store);
}

static struct wf_tokenizer *load_mem(struct wf_gguf_mem *m, struct wf_gguf *g, enum wf_tok_pre pre, char *err,
                                     size_t errlen)
{
	if (wf_gguf_parse(g, m->p, m->n, err, errlen)) {
		fprintf(stderr, "parse: %s\n", err);
		exit(2);
	}
	struct wf_tok_opts o = {0};
	o.pre = pre;
	struct wf_tokenizer *t = wf_tokenizer_load(g, &o, err, errlen);
	if (!t)
		wf_gguf_free(g);
	return t;
}

/* ids as " 1 2 3" */
static const char *fmt_ids(const struct wf_tok_ids *v)
{
	static char buf[4096];
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < v->n && o + 16 < sizeof buf; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, " %d", v->ids[i]);
	return buf;
}

static const char *enc(struct wf_tokenizer *t, const char *s, size_t n, int flags)
{
	static struct wf_tok_ids v;
	static char err[256];
	v.n = 0;
	if (wf_tok_encode(t, s, n, flags, &v, err, sizeof err))
		return err;
	return fmt_ids(&v);
}

static void test_tiny(void)
{
	struct wf_gguf_mem m;
	struct wf_gguf g;
	char err[512];
	tiny_bpe(&m, "gpt-2", 0);
	struct wf_tokenizer *t = load_mem(&m, &g, WF_PRE_AUTO, err, sizeof err);
	CHECK(t != NULL, "tiny load: %s", t ? "" : err);
	if (!t)
		return;
	CHECK(wf_tok_n_vocab(t) == 262, "n_vocab");
	CHECK(wf_tok_pre(t) == WF_PRE_GPT2, "pre gpt-2");
	/* "abc": a b -> ab (rank 0), ab c -> abc (rank 1) */
	const char *r = enc(t, "abc", 3, 0);
	CHECK(!strcmp(r, " 257"), "abc -> %s", r);
	/* "aaa": a a (rank 3), leftmost first -> aa a */
	r = enc(t, "aaa", 3, 0);
	CHECK(!strcmp(r, " 259 97"), "aaa -> %s", r);
	/* "bca": b c -> bc; then a */
	r = enc(t, "bca", 3, 0);
	CHECK(!strcmp(r, " 258 97"), "bca -> %s", r);
	/* byte tokens: "\n" is U+010A in the mapping, token 10 */
	r = enc(t, "\n", 1, 0);
	CHECK(!strcmp(r, " 10"), "newline -> %s", r);
	/* control tokens only with WF_ENC_SPECIAL; user-defined always */
	r = enc(t, "x<|end|>y", 9, 0);
	CHECK(!strcmp(r, " 120 60 124 101 110 100 124 62 121"), "no special -> %s", r);
	r = enc(t, "x<|end|>y", 9, WF_ENC_SPECIAL);
	CHECK(!strcmp(r, " 120 260 121"), "special -> %s", r);
	r = enc(t, "<u>ab", 5, 0);
	CHECK(!strcmp(r, " 261 256"), "user-defined -> %s", r);
	r = enc(t, "ab", 2, WF_ENC_EOS);
	CHECK(!strcmp(r, " 256 260"), "eos -> %s", r);
	/* pieces */
	size_t n;
	const char *p = wf_tok_piece(t, 10, 0, &n);
	CHECK(p && n == 1 && p[0] == '\n', "piece 10");
	p = wf_tok_piece(t, 260, 0, &n);
	CHECK(p && n == 0, "control piece hidden");
	p = wf_tok_piece(t, 260, 1, &n);
	CHECK(p && n == 7 && !memcmp(p, "<|end|>", 7), "control piece with special");
	CHECK(wf_tok_piece(t, 262, 0, &n) == NULL, "piece out of range");
	CHECK(wf_tok_find(t, "abc", 3) == 257, "find abc");
	CHECK(wf_tok_find(t, "zzz", 3) == -1, "find missing");
	CHECK(wf_tok_type(t, 260) == WF_TOKTYPE_CONTROL, "type control");
	CHECK(wf_tok_is_eog(t, 260) && !wf_tok_is_eog(t, 5), "eog");

	/* a precomputed index gives the same results; a damaged one is refused */
	size_t il;
	const void *ix = wf_tok_index(t, &il);
	void *copy = aligned_alloc(64, (il + 63) / 64 * 64);
	memcpy(copy, ix, il);
	struct wf_tok_opts o = {0};
	o.index = copy;
	o.index_len = il;
	struct wf_tokenizer *t2 = wf_tokenizer_load(&g, &o, err, sizeof err);
	CHECK(t2 != NULL, "adopt index: %s", t2 ? "" : err);
	if (t2) {
		r = enc(t2, "abcaaa", 6, 0);
		CHECK(!strcmp(r, " 257 259 97"), "adopted index: %s", r);
		wf_tokenizer_free(t2);
	}
	o.index_len = il - 8;
	t2 = wf_tokenizer_load(&g, &o, err, sizeof err);
	CHECK(!t2 && !strcmp(err, "tokenizer index: bad header"), "short index: %s", t2 ? "loaded" : err);
	free(copy);
	wf_tokenizer_free(t);
	wf_gguf_free(&g);
	free(m.p);

	/* decode-only handles */
	tiny_bpe(&m, "gpt-2", 0);
	wf_gguf_parse(&g, m.p, m.n, err, sizeof err);
	struct wf_tok_opts d = {0};
	d.decode_only = 1;
	t = wf_tokenizer_load(&g, &d, err, sizeof err);
	CHECK(t && wf_tok_find(t, "bc", 2) == 258, "decode-only find");
	struct wf_tok_ids v = {0};
	CHECK(t && wf_tok_encode(t, "a", 1, 0, &v, err, sizeof err) == -1 &&
	      !strcmp(err, "tokenizer loaded for decoding only"), "decode-only encode: %s", err);
	wf_tokenizer_free(t);
	wf_gguf_free(&g);
	free(m.p);

	/* pre absent: not LLaMA 3 -> default */
	tiny_bpe(&m, NULL, 0);
	t = load_mem(&m, &g, WF_PRE_AUTO, err, sizeof err);
	CHECK(t && wf_tok_pre(t) == WF_PRE_DEFAULT && !wf_tok_add_bos(t), "absent pre -> default");
	wf_tokenizer_free(t);
	wf_gguf_free(&g);
	free(m.p);
}

static void expect_error(int bad, const char *pre, const char *want)
{
	struct wf_gguf_mem m;
	struct wf_gguf g;
	char err[512] = "";
	tiny_bpe(&m, pre, bad);
	struct wf_tokenizer *t = load_mem(&m, &g, WF_PRE_AUTO, err, sizeof err);
	CHECK(!t && !strcmp(err, want), "malformed %d: got '%s', want '%s'", bad, t ? "(loaded)" : err, want);
	if (t) {
		wf_tokenizer_free(t);
		wf_gguf_free(&g);
	}
	free(m.p);
}

static void test_malformed(void)
{
	expect_error(1, "gpt-2", "tokenizer.ggml.model 'wordpiece' is not supported (only 'gpt2' and 'llama')");
	expect_error(2, "gpt-2", "key 'tokenizer.ggml.tokens': expected ARRAY[STRING], found ARRAY[INT32] of 262");
	expect_error(3, "gpt-2", "tokenizer.ggml.token_type[7]: 9 is not a token type (0..6)");
	expect_error(4, "gpt-2", "key 'tokenizer.ggml.token_type': expected ARRAY[INT32] of 262, found ARRAY[INT32] of 261");
	expect_error(5, "gpt-2", "tokenizer.ggml.merges[2]: 'b cz': 'cz' is not a token");
	expect_error(6, "gpt-2", "tokenizer.ggml.merges[3]: 'aa' is not two tokens separated by a space");
	expect_error(7, "gpt-2", "tokenizer.ggml.eos_token_id: token id 262 is out of range [0, 262)");
	expect_error(8, "gpt-2", "key 'tokenizer.ggml.scores': expected ARRAY[FLOAT32] of 262, found ARRAY[FLOAT32] of 10");
	expect_error(9, "gpt-2", "tokenizer.ggml.merges[1]: 'b a': the merged 'ba' is not a token");
	expect_error(0, "bloom", "tokenizer.ggml.pre 'bloom' is not a known pre-tokenizer (known: llama3, llama-bpe, gpt-2, default)");
}

/* ------------------------------------------------------------------ */

static void test_utf8(void)
{
	uint32_t cp;
	CHECK(wf_utf8_next("\xc3\xa9", 2, &cp) == 2 && cp == 0xe9, "é");
	CHECK(wf_utf8_next("\xf0\x9f\x8e\x89", 4, &cp) == 4 && cp == 0x1f389, "emoji");
	CHECK(wf_utf8_next("\xc0\xaf", 2, &cp) == 1 && cp == WF_U_BAD, "overlong");
	CHECK(wf_utf8_next("\xed\xa0\x80", 3, &cp) == 1 && cp == WF_U_BAD, "surrogate");
	CHECK(wf_utf8_next("\xf4\x90\x80\x80", 4, &cp) == 1 && cp == WF_U_BAD, "> U+10FFFF");
	CHECK(wf_utf8_next("\xe2\x82", 2, &cp) == 1 && cp == WF_U_BAD, "truncated");
	CHECK(wf_utf8_complete("ab\xe2\x82", 4) == 2, "complete holds a viable tail");
	CHECK(wf_utf8_complete("ab\xe2\x82x", 5) == 5, "complete passes a dead sequence");
	CHECK(wf_utf8_complete("\x80", 1) == 1, "complete passes a stray continuation");
	CHECK(wf_utf8_complete("\xed\xa0", 2) == 2, "complete passes a surrogate start");
	CHECK(wf_utf8_bad_len("\xe2\x82x", 3) == 2, "maximal subpart");
	CHECK(wf_utf8_bad_len("\xf0\x9f\x8ex", 4) == 3, "maximal subpart 3");
	CHECK(wf_utf8_bad_len("\xc0\xaf", 2) == 1, "maximal subpart of C0");
	CHECK(wf_u_flags('a') == WF_U_LETTER && wf_u_flags('7') == WF_U_NUMBER, "ascii flags");
	CHECK(wf_u_flags(0x3000) & WF_U_SPACE, "ideographic space");
	CHECK(wf_u_flags(0x85) & WF_U_SPACE, "NEL is white space");
	CHECK(wf_u_flags(0x200b) == WF_U_OTHER, "ZWSP is Cf, not space");
	CHECK(wf_u_flags(0x4e2d) == WF_U_LETTER, "CJK letter");
	CHECK(wf_u_flags(0x0663) == WF_U_NUMBER, "Arabic-Indic digit");
	CHECK(wf_u_flags(0x00bd) == WF_U_NUMBER, "one half is No");
	CHECK(wf_u_flags(0x2014) == WF_U_PUNCT, "em dash");
	CHECK(wf_u_flags(0x0301) == WF_U_MARK, "combining acute");
	CHECK(wf_u_flags(0x20ac) == WF_U_SYMBOL, "euro sign");
	CHECK(wf_u_flags(0x0378) == 0, "unassigned");
	CHECK(wf_u_flags(0x110000) == 0, "past Unicode");
	CHECK(wf_u_lower('S') == 's' && wf_u_lower(0xc9) == 0xe9 && wf_u_lower(0x130) == 'i' &&
	      wf_u_lower(0x212a) == 'k' && wf_u_lower(0x17f) == 0x17f, "lowercase");
}

static void test_chat(void)
{
	char *buf = NULL;
	size_t cap = 0, len, r[2 * WF_CHAT_MAX_RANGES], nr;
	CHECK(wf_chat_render(WF_CHAT_BITNET, NULL, 0, " Hi there\n", 10, &buf, &cap, &len, r, &nr) == 0 &&
	      !strcmp(buf, "User: Hi there<|eot_id|>Assistant: ") && nr == 2 && r[0] == 0 && r[1] == 6 &&
	      r[2] == 14 && r[3] == len, "bitnet: '%s'", buf);
	CHECK(wf_chat_render(WF_CHAT_BITNET, "Be brief.", 9, "Hi", 2, &buf, &cap, &len, r, &nr) == 0 &&
	      !strcmp(buf, "System: Be brief.<|eot_id|>User: Hi<|eot_id|>Assistant: "), "bitnet system: '%s'", buf);
	CHECK(wf_chat_render(WF_CHAT_LLAMA3, "S", 1, "U", 1, &buf, &cap, &len, r, &nr) == 0 &&
	      !strcmp(buf, "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user"
	                   "<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
	      "llama3: '%s'", buf);
	CHECK(wf_chat_render(WF_CHAT_CHATML, NULL, 0, " U ", 3, &buf, &cap, &len, r, &nr) == 0 &&
	      !strcmp(buf, "<|im_start|>user\n U <|im_end|>\n<|im_start|>assistant\n"), "chatml: '%s'", buf);
	const char *hf = "{% for message in messages %}{{ message['role'] | capitalize + ': ' + message['content'] | "
	                 "trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}";
	CHECK(wf_chat_detect(hf, strlen(hf)) == WF_CHAT_BITNET, "detect bitnet");
	const char *l3 = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}";
	CHECK(wf_chat_detect(l3, strlen(l3)) == WF_CHAT_LLAMA3, "detect llama3");
	const char *cm = "{{'<|im_start|>' + message['role'] + '\n'}}";
	CHECK(wf_chat_detect(cm, strlen(cm)) == WF_CHAT_CHATML, "detect chatml");
	CHECK(wf_chat_detect("{{ x }}", 7) == WF_CHAT_NONE, "detect none");
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Fixture vocabularies. */

struct mapped {
	void *p;
	size_t n;
	struct wf_gguf g;
};

static int map_file(const char *path, struct mapped *m)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	char err[256];
	if (fd < 0 || fstat(fd, &st))
		return -1;
	m->n = (size_t)st.st_size;
	m->p = mmap(NULL, m->n, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m->p == MAP_FAILED || wf_gguf_parse(&m->g, m->p, m->n, err, sizeof err))
		return -1;
	return 0;
}

/* encode(text) must equal the concatenation of encode(piece) over the
 * expected pre-tokenizer words, each of which is one word on its own. */
static void split_check(struct wf_tokenizer *t, const char *text, const char *const *words)
{
	char whole[4096], parts[4096] = "";
	snprintf(whole, sizeof whole, "%s", enc(t, text, strlen(text), 0));
	size_t total = 0;
	for (int i = 0; words[i]; i++) {
		total += strlen(words[i]);
		strncat(parts, enc(t, words[i], strlen(words[i]), 0), sizeof parts - strlen(parts) - 1);
	}
	CHECK(total == strlen(text), "words of '%s' do not add up", text);
	CHECK(!strcmp(whole, parts), "pre %s: '%s' -> '%s', words give '%s'", wf_tok_pre_name(wf_tok_pre(t)), text,
	      whole, parts);
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* A random string: ASCII words, spaces, digits, punctuation, multi-byte
 * characters of every length and (with bad) invalid bytes. */
static size_t random_text(char *buf, size_t cap, int bad)
{
	static const uint32_t pool[] = {'a', 'Z', ' ', ' ', '\n', '\t', '\r', '7', '\'', 's', '!', '.', '$',
	                                0xe9, 0x3b1, 0x4e2d, 0x3000, 0xa0, 0x1f389, 0x663, 0xbd, 0x2014, 0x301, 0x85};
	size_t n = 0, want = rnd() % (cap - 8);
	while (n < want) {
		uint32_t k = rnd() % 30;
		if (bad && k >= 28) {
			buf[n++] = (char)(0x80 + rnd() % 128);
			continue;
		}
		uint32_t cp = k < 24 ? pool[k] : 0x20 + rnd() % 0x5f;
		n += wf_utf8_encode(cp, buf + n);
	}
	return n;
}

static void roundtrip(struct wf_tokenizer *t, const char *what, int bad)
{
	char text[512], back[4096];
	struct wf_tok_ids v = {0};
	char err[256];
	int bad_cases = 0;
	for (int it = 0; it < 2000; it++) {
		size_t n = random_text(text, sizeof text, bad);
		v.n = 0;
		if (wf_tok_encode(t, text, n, 0, &v, err, sizeof err)) {
			CHECK(0, "%s: encode: %s", what, err);
			return;
		}
		size_t o = 0;
		for (size_t i = 0; i < v.n; i++) {
			size_t pl;
			const char *p = wf_tok_piece(t, v.ids[i], 0, &pl);
			if (!p || o + pl > sizeof back) {
				o = (size_t)-1;
				break;
			}
			memcpy(back + o, p, pl);
			o += pl;
		}
		const char *b = back;
		if (o != (size_t)-1 && wf_tok_add_space_prefix(t) && o && back[0] == ' ') {
			b++;
			o--;
		}
		if (o != n || memcmp(b, text, n))
			bad_cases++;
	}
	free(v.ids);
	CHECK(bad_cases == 0, "%s: %d of 2000 random strings do not round-trip", what, bad_cases);
}

static void test_fixtures(const char *gpt2, const char *spm, const char *llama3)
{
	struct mapped m;
	char err[512];
	if (gpt2 && !map_file(gpt2, &m)) {
		for (int pre = WF_PRE_LLAMA3; pre <= WF_PRE_DEFAULT; pre++) {
			struct wf_tok_opts o = {0};
			o.pre = (enum wf_tok_pre)pre;
			struct wf_tokenizer *t = wf_tokenizer_load(&m.g, &o, err, sizeof err);
			CHECK(t != NULL, "gpt-2 load: %s", err);
			if (!t)
				continue;
			roundtrip(t, wf_tok_pre_name((enum wf_tok_pre)pre), 0);
			roundtrip(t, wf_tok_pre_name((enum wf_tok_pre)pre), 1);
			if (pre == WF_PRE_DEFAULT) {
				split_check(t, "don't", (const char *const[]){"don", "'", "t", NULL});
				split_check(t, "Hello, world!!", (const char *const[]){"Hello", ",", " world", "!!", NULL});
				split_check(t, " 12345", (const char *const[]){" ", "123", "45", NULL});
				split_check(t, "a+=b", (const char *const[]){"a", "+=", "b", NULL});
				split_check(t, "x   y", (const char *const[]){"x", "  ", " y", NULL});
				split_check(t, "$100", (const char *const[]){"$", "100", NULL});
				split_check(t, "3.14159", (const char *const[]){"3", ".", "141", "59", NULL});
				split_check(t, "x`y", (const char *const[]){"x", "`", "y", NULL});
				split_check(t, "(a)", (const char *const[]){"(", "a", ")", NULL});
				split_check(t, "1\xc2\xbd" "234", (const char *const[]){"1\xc2\xbd", "234", NULL});
			} else if (pre == WF_PRE_LLAMA3) {
				split_check(t, "don't", (const char *const[]){"don", "'t", NULL});
				split_check(t, "DON'T", (const char *const[]){"DON", "'T", NULL});
				split_check(t, "Hello, world!!", (const char *const[]){"Hello", ",", " world", "!!", NULL});
				split_check(t, " 12345", (const char *const[]){" ", "123", "45", NULL});
				split_check(t, "x   y", (const char *const[]){"x", "  ", " y", NULL});
				split_check(t, "!!!\n\nx", (const char *const[]){"!!!\n\n", "x", NULL});
				split_check(t, "a \n\n b", (const char *const[]){"a", " \n\n", " b", NULL});
				split_check(t, "(hello", (const char *const[]){"(hello", NULL});
				split_check(t, "\thello", (const char *const[]){"\thello", NULL});
				split_check(t, "end   ", (const char *const[]){"end", "   ", NULL});
			} else {
				split_check(t, "don't", (const char *const[]){"don", "'t", NULL});
				split_check(t, "DON'T", (const char *const[]){"DON", "'", "T", NULL});
				split_check(t, " 12345", (const char *const[]){" 12345", NULL});
				split_check(t, "!!!\n\nx", (const char *const[]){"!!!", "\n", "\n", "x", NULL});
				split_check(t, "(hello", (const char *const[]){"(", "hello", NULL});
			}
			wf_tokenizer_free(t);
		}
		wf_gguf_free(&m.g);
		munmap(m.p, m.n);
	}
	if (spm && !map_file(spm, &m)) {
		struct wf_tokenizer *t = wf_tokenizer_load(&m.g, NULL, err, sizeof err);
		CHECK(t != NULL, "spm load: %s", err);
		if (t) {
			CHECK(wf_tok_model(t) == WF_TOK_SPM && wf_tok_add_bos(t) && wf_tok_bos(t) == 1 &&
			      wf_tok_eos(t) == 2 && wf_tok_unk(t) == 0, "spm specials");
			const char *r = enc(t, "Hello world", 11, WF_ENC_BOS);
			CHECK(!strcmp(r, " 1 15043 3186"), "spm Hello world -> %s", r);
			/* a byte with no token of its own: <0xXX> byte fallback */
			r = enc(t, "\x01", 1, 0);
			CHECK(!strcmp(r, " 29871 4"), "spm byte fallback -> %s", r);
			size_t n;
			const char *p = wf_tok_piece(t, 4, 0, &n);
			CHECK(p && n == 1 && p[0] == 1, "spm <0x01> piece");
			p = wf_tok_piece(t, 15043, 0, &n);
			CHECK(p && n == 6 && !memcmp(p, " Hello", 6), "spm piece ▁Hello");
			roundtrip(t, "spm", 0);
			roundtrip(t, "spm with bad bytes", 1);
			wf_tokenizer_free(t);
		}
		wf_gguf_free(&m.g);
		munmap(m.p, m.n);
	}
	if (llama3 && !map_file(llama3, &m)) {
		struct wf_tokenizer *t = wf_tokenizer_load(&m.g, NULL, err, sizeof err);
		CHECK(t != NULL, "llama3 load: %s", err);
		if (t) {
			CHECK(wf_tok_pre(t) == WF_PRE_LLAMA3 && wf_tok_n_vocab(t) == 128256, "llama3 pre");
			size_t n;
			const int32_t *eog = wf_tok_eog(t, &n);
			int has1 = 0, has9 = 0;
			for (size_t i = 0; i < n; i++) {
				has1 |= eog[i] == 128001;
				has9 |= eog[i] == 128009;
			}
			CHECK(has1 && has9, "llama3 eog holds 128001 and 128009");
			CHECK(wf_tok_eot(t) == 128009, "llama3 eot");
			CHECK(wf_tok_find(t, "<|begin_of_text|>", 17) == 128000, "find bos text");
			const char *r = enc(t, "<|eot_id|>", 10, WF_ENC_SPECIAL);
			CHECK(!strcmp(r, " 128009"), "special eot -> %s", r);
			r = enc(t, "<|eot_id|>", 10, 0);
			CHECK(!strcmp(r, " 27 91 68 354 851 91 29"), "plain eot -> %s", r);
			/* a longer special token wins over a shorter one inside it */
			r = enc(t, "a<|start_header_id|>b", 21, WF_ENC_SPECIAL);
			CHECK(!strcmp(r, " 64 128006 65"), "header -> %s", r);
			roundtrip(t, "llama3", 0);
			roundtrip(t, "llama3 with bad bytes", 1);
			wf_tokenizer_free(t);
		}
		/* the official BitNet 2B-4T GGUF has no tokenizer.ggml.pre: the
		 * LLaMA 3 vocabulary is recognised and gets its own rules */
		struct wf_gguf_writer *w = wf_gguf_writer_new();
		for (uint64_t i = 0; i < m.g.n_kv; i++) {
			const struct wf_gguf_kv *kv = &m.g.kv[i];
			if (!(kv->key.len == 18 && !memcmp(kv->key.ptr, "tokenizer.ggml.pre", 18)))
				wf_gguf_writer_copy_kv(w, kv);
		}
		struct wf_gguf_mem mb;
		finish(w, &mb);
		struct wf_gguf g2;
		t = load_mem(&mb, &g2, WF_PRE_AUTO, err, sizeof err);
		CHECK(t && wf_tok_pre(t) == WF_PRE_LLAMA3 && wf_tok_add_bos(t), "no pre key: LLaMA 3 rules");
		if (t) {
			const char *r = enc(t, "don't 12345", 11, WF_ENC_BOS);
			CHECK(!strcmp(r, " 128000 15357 956 220 4513 1774"), "no pre key: %s", r);
			wf_tokenizer_free(t);
			wf_gguf_free(&g2);
		}
		t = load_mem(&mb, &g2, WF_PRE_DEFAULT, err, sizeof err);
		if (t) {
			const char *r = enc(t, "don't 12345", 11, 0);
			CHECK(!strcmp(r, " 15357 6 83 220 4513 1774"), "no pre key, DEFAULT: %s", r);
			wf_tokenizer_free(t);
			wf_gguf_free(&g2);
		}
		free(mb.p);
		wf_gguf_free(&m.g);
		munmap(m.p, m.n);
	}
}

int main(int argc, char **argv)
{
	test_utf8();
	test_chat();
	test_tiny();
	test_malformed();
	test_fixtures(argc > 1 ? argv[1] : NULL, argc > 2 ? argv[2] : NULL, argc > 3 ? argv[3] : NULL);
	printf("tok_unit: %d checks, %d failed\n", checks, failed);
	return failed ? 1 : 0;
}
