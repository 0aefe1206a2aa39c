/*
 * libFuzzer harness for lib/tokio: the token-record stream every filter
 * reads.  The first input byte picks the delimiter ('\n', '\0' or whole
 * input), the reader's max record length and the vocabulary size; the rest
 * is the stream.  It is read back from a temporary file (one for the whole
 * run, rewritten each time) with wf_reader_ready and wf_reader_next, and
 * each record must equal the one a plain split of the stream gives (its
 * first max bytes and -1 when longer).  Each record is then parsed with
 * wf_idrec_parse and the result compared with a plain model: the key is
 * what precedes the first TAB, the ids are the space-separated fields, each
 * all digits and at most 2^31 - 1 and below the vocabulary size, or the
 * parse fails with a message.  A parsed record is written with
 * wf_write_key / wf_write_ids and must parse back the same.  wf_quote of
 * each record must stay inside its buffer and hold no control byte.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokio.h"

static const size_t maxes[8] = {0, 1, 2, 3, 5, 8, 16, 64};
static const uint32_t vocabs[8] = {0, 1, 2, 10, 1000, 65536, 0x7fffffffu, 0xffffffffu};

/* The model of wf_idrec_parse: 0 and the ids, or -1. */
static int model_parse(const char *s, size_t n, uint32_t n_vocab, const int32_t *ids, size_t n_ids)
{
	size_t k = 0;
	const char *tab = memchr(s, '\t', n);
	size_t i = tab ? (size_t)(tab - s) + 1 : 0;
	while (i < n) {
		if (s[i] == ' ') {
			i++;
			continue;
		}
		uint64_t v = 0;
		for (; i < n && s[i] != ' '; i++) {
			if (s[i] < '0' || s[i] > '9')
				return -1;
			v = v * 10 + (uint64_t)(s[i] - '0');
			if (v > 0x7fffffffu)
				return -1;
		}
		if (n_vocab && v >= n_vocab)
			return -1;
		if (ids && (k >= n_ids || (uint64_t)ids[k] != v))
			__builtin_trap();
		k++;
	}
	if (ids && k != n_ids)
		__builtin_trap();
	return 0;
}

static void check_record(const char *rec, size_t len, uint32_t n_vocab, struct wf_idrec *ir)
{
	char err[256];
	err[0] = '\0';
	int r = wf_idrec_parse(rec, len, n_vocab, ir, err, sizeof err);
	const char *tab = memchr(rec, '\t', len);
	size_t kl;
	if (wf_rec_key(rec, len, &kl) != (tab ? rec : NULL) || kl != (tab ? (size_t)(tab - rec) : 0))
		__builtin_trap();
	if (ir->key != (tab ? rec : NULL) || ir->keylen != kl)
		__builtin_trap();
	if (r < 0) {
		if (!err[0] || model_parse(rec, len, n_vocab, NULL, 0) == 0)
			__builtin_trap();
		return;
	}
	if (r != 0 || model_parse(rec, len, n_vocab, ir->ids, ir->n) != 0)
		__builtin_trap();

	/* written back, it parses the same */
	char *out = NULL;
	size_t outn = 0;
	FILE *f = open_memstream(&out, &outn);
	if (!f)
		abort();
	if (wf_write_key(f, ir->key, ir->keylen) < 0 || wf_write_ids(f, ir->ids, ir->n) < 0 || fclose(f) == EOF)
		__builtin_trap();
	struct wf_idrec back = {0};
	if (wf_idrec_parse(out, outn, n_vocab, &back, err, sizeof err) < 0 || back.n != ir->n ||
	    back.keylen != ir->keylen || (ir->n && memcmp(back.ids, ir->ids, ir->n * sizeof *ir->ids)) ||
	    (back.key == NULL) != (ir->key == NULL) || (ir->key && memcmp(back.key, ir->key, ir->keylen)))
		__builtin_trap();
	wf_idrec_free(&back);
	free(out);
}

static void check_quote(const char *s, size_t n)
{
	size_t outlen = n % 50, max = n % 13;
	char *out = malloc(outlen ? outlen : 1);
	if (!out)
		abort();
	if (wf_quote(out, outlen, s, n, max) != out)
		__builtin_trap();
	if (outlen) {
		size_t l = strnlen(out, outlen);
		if (l == outlen)
			__builtin_trap();
		for (size_t i = 0; i < l; i++)
			if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
				__builtin_trap();
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *tmp;
	if (!tmp && !(tmp = tmpfile()))
		abort();
	if (size == 0)
		return 0;
	int sel = data[0];
	int delim = sel % 3 == 0 ? '\n' : sel % 3 == 1 ? '\0' : WF_READ_WHOLE;
	size_t max = maxes[(sel >> 2) & 7];
	uint32_t n_vocab = vocabs[(sel >> 5) & 7];
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	int fd = fileno(tmp);
	if (ftruncate(fd, 0) < 0 || (n && pwrite(fd, s, n, 0) != (ssize_t)n) || lseek(fd, 0, SEEK_SET) < 0)
		abort();

	struct wf_reader r;
	struct wf_idrec ir = {0};
	char err[256];
	wf_reader_init(&r, tmp, delim, max);
	size_t at = 0;
	for (uint64_t k = 1;; k++) {
		/* the next record by a plain split */
		int more = delim == WF_READ_WHOLE ? k == 1 : at < n;
		const char *d = delim == WF_READ_WHOLE ? NULL : memchr(s + at, delim, n - at);
		size_t rl = d ? (size_t)(d - (s + at)) : n - at;
		int toolong = max && rl > max;

		if (wf_reader_ready(&r) != 1)
			__builtin_trap();
		char *rec;
		size_t len;
		err[0] = '\0';
		int got = wf_reader_next(&r, &rec, &len, err, sizeof err);
		if (!more) {
			if (got != 0 || wf_reader_next(&r, &rec, &len, err, sizeof err) != 0)
				__builtin_trap();
			break;
		}
		size_t want = toolong ? max : rl;
		if (got != (toolong ? -1 : 1) || (toolong && !err[0]) || r.recno != k || len != want ||
		    rec[len] != '\0' || memcmp(rec, s + at, want))
			__builtin_trap();
		check_record(rec, len, n_vocab, &ir);
		check_quote(rec, len);
		at += rl + (d != NULL);
	}
	wf_idrec_free(&ir);
	wf_reader_free(&r);
	return 0;
}
