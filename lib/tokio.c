#include "tokio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX ((size_t)1 << 30)

int wf_reader_init(struct wf_reader *r, FILE *f, int delim, size_t max_len)
{
	memset(r, 0, sizeof *r);
	r->f = f;
	r->delim = delim;
	r->max = max_len ? max_len : DEFAULT_MAX;
	return 0;
}

void wf_reader_free(struct wf_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

/* Make room for n+1 bytes; -1 when out of memory. */
static int reserve(struct wf_reader *r, size_t n)
{
	if (n + 1 <= r->cap)
		return 0;
	size_t cap = r->cap ? r->cap : 256;
	while (cap < n + 1)
		cap *= 2;
	char *p = realloc(r->buf, cap);
	if (!p)
		return -1;
	r->buf = p;
	r->cap = cap;
	return 0;
}

int wf_reader_next(struct wf_reader *r, char **rec, size_t *len, char *err, size_t errlen)
{
	if (r->eof)
		return 0;
	size_t n = 0;
	int c, any = 0, toolong = 0;
	while ((c = getc_unlocked(r->f)) != EOF) {
		any = 1;
		if (r->delim != WF_READ_WHOLE && c == r->delim)
			break;
		if (n >= r->max) {
			toolong = 1;
			continue;
		}
		if (reserve(r, n + 1) < 0) {
			snprintf(err, errlen, "record %llu: out of memory", (unsigned long long)r->recno + 1);
			return -1;
		}
		r->buf[n++] = (char)c;
	}
	if (c == EOF) {
		if (ferror(r->f)) {
			snprintf(err, errlen, "read error: %s", strerror(errno));
			return -1;
		}
		r->eof = 1;
		if (!any && !(r->delim == WF_READ_WHOLE && r->recno == 0))
			return 0;
	}
	r->recno++;
	if (toolong) {
		snprintf(err, errlen, "record %llu: longer than %zu bytes", (unsigned long long)r->recno, r->max);
		return -1;
	}
	if (reserve(r, n) < 0) {
		snprintf(err, errlen, "record %llu: out of memory", (unsigned long long)r->recno);
		return -1;
	}
	r->buf[n] = '\0';
	*rec = r->buf;
	*len = n;
	return 1;
}

int wf_idrec_parse(const char *line, size_t len, uint32_t n_vocab, struct wf_idrec *out,
                   char *err, size_t errlen)
{
	const char *p = line, *end = line + len;
	const char *tab = memchr(line, '\t', len);
	out->n = 0;
	out->key = NULL;
	out->keylen = 0;
	if (tab) {
		out->key = line;
		out->keylen = (size_t)(tab - line);
		p = tab + 1;
	}
	for (size_t i = 1;; i++) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			return 0;
		const char *s = p;
		uint64_t v = 0;
		int bad = 0;
		while (p < end && *p != ' ') {
			if (*p < '0' || *p > '9' || v > 0x7fffffffu)
				bad = 1;
			else
				v = v * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (bad || v > 0x7fffffffu) {
			int w = (int)(p - s > 20 ? 20 : p - s);
			snprintf(err, errlen, "token %zu: '%.*s%s' is not a token id", i, w, s,
			         p - s > 20 ? "..." : "");
			return -1;
		}
		if (n_vocab && v >= n_vocab) {
			snprintf(err, errlen, "token %zu: id %llu out of range [0, %u)", i,
			         (unsigned long long)v, n_vocab);
			return -1;
		}
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 64;
			int32_t *ids = realloc(out->ids, cap * sizeof *ids);
			if (!ids) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			out->ids = ids;
			out->cap = cap;
		}
		out->ids[out->n++] = (int32_t)v;
	}
}

void wf_idrec_free(struct wf_idrec *r)
{
	free(r->ids);
	memset(r, 0, sizeof *r);
}

int wf_write_key(FILE *f, const char *key, size_t keylen)
{
	if (!key)
		return 0;
	if (fwrite(key, 1, keylen, f) != keylen || putc('\t', f) == EOF)
		return -1;
	return 0;
}

int wf_write_ids(FILE *f, const int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fprintf(f, i ? " %d" : "%d", ids[i]) < 0)
			return -1;
	return 0;
}
