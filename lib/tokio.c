#include "tokio.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MAX ((size_t)1 << 30)
#define IN_SIZE 65536

int wf_reader_init(struct wf_reader *r, FILE *f, int delim, size_t max_len)
{
	memset(r, 0, sizeof *r);
	r->fd = fileno(f);
	r->delim = delim;
	r->max = max_len ? max_len : DEFAULT_MAX;
	return 0;
}

void wf_reader_free(struct wf_reader *r)
{
	free(r->buf);
	free(r->in);
	r->buf = r->in = NULL;
	r->cap = 0;
}

/* Stop reading for good: errno e (0: out of memory). */
static void fail(struct wf_reader *r, int e)
{
	r->failed = 1;
	r->err_no = e;
	r->eof = 1;
}

/* Make room for n+1 bytes of record; -1 (and failed) when out of memory. */
static int reserve(struct wf_reader *r, size_t n)
{
	if (n + 1 <= r->cap)
		return 0;
	size_t cap = r->cap ? r->cap : 256;
	while (cap < n + 1)
		cap *= 2;
	char *p = realloc(r->buf, cap);
	if (!p) {
		fail(r, 0);
		return -1;
	}
	r->buf = p;
	r->cap = cap;
	return 0;
}

/* Move buffered input into the record until its delimiter (then done);
 * bytes past max are dropped (toolong). */
static void gather(struct wf_reader *r)
{
	while (!r->done && r->ip < r->il) {
		const char *p = r->in + r->ip;
		size_t avail = r->il - r->ip, take = avail;
		const char *d = r->delim == WF_READ_WHOLE ? NULL : memchr(p, r->delim, avail);
		if (d)
			take = (size_t)(d - p);
		size_t room = r->max - r->n, keep = take < room ? take : room;
		if (take > room)
			r->toolong = 1;
		if (keep) {
			if (reserve(r, r->n + keep) < 0)
				return;
			memcpy(r->buf + r->n, p, keep);
			r->n += keep;
		}
		r->ip += take + (d != NULL);
		r->any = 1;
		r->done = d != NULL;
	}
}

/* One read(2) into the empty input buffer: 1 bytes read, 0 end of input
 * (eof), -1 failed, -2 nothing there yet (only when !block). */
static int fill(struct wf_reader *r, int block)
{
	if (!r->in && !(r->in = malloc(IN_SIZE))) {
		fail(r, 0);
		return -1;
	}
	for (;;) {
		struct pollfd pfd = {r->fd, POLLIN, 0};
		if (!block) {
			int k = poll(&pfd, 1, 0);
			if (k == 0)
				return -2;
			if (k < 0 && errno != EINTR) {
				fail(r, errno);
				return -1;
			}
		}
		ssize_t k = read(r->fd, r->in, IN_SIZE);
		if (k > 0) {
			r->ip = 0;
			r->il = (size_t)k;
			return 1;
		}
		if (k == 0) {
			r->eof = 1;
			return 0;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) { /* a non-blocking descriptor */
			if (!block)
				return -2;
			pfd.revents = 0;
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
				fail(r, errno);
				return -1;
			}
		} else if (errno != EINTR) {
			fail(r, errno);
			return -1;
		}
	}
}

/* Whether the next record is at hand: gathered whole, or the input ended. */
static int at_hand(const struct wf_reader *r)
{
	return r->done || r->eof;
}

int wf_reader_ready(struct wf_reader *r)
{
	for (;;) {
		gather(r);
		if (at_hand(r))
			return 1;
		if (fill(r, 0) == -2)
			return 0;
	}
}

int wf_reader_next(struct wf_reader *r, char **rec, size_t *len, char *err, size_t errlen)
{
	for (;;) {
		gather(r);
		if (at_hand(r))
			break;
		fill(r, 1);
	}
	if (r->failed) {
		if (r->failed > 1)
			return 0;
		r->failed = 2; /* said once; a partial record is lost */
		if (r->err_no)
			snprintf(err, errlen, "read error: %s", strerror(r->err_no));
		else
			snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!r->done && !r->any && !(r->delim == WF_READ_WHOLE && r->recno == 0))
		return 0; /* end of input */
	int toolong = r->toolong;
	size_t n = r->n;
	r->n = 0;
	r->any = r->toolong = r->done = 0;
	r->recno++;
	if (reserve(r, n) < 0) {
		snprintf(err, errlen, "out of memory");
		r->failed = 2;
		return -1;
	}
	r->buf[n] = '\0';
	*rec = r->buf;
	*len = n;
	if (toolong) {
		snprintf(err, errlen, "record %llu: longer than %zu bytes", (unsigned long long)r->recno, r->max);
		return -1;
	}
	return 1;
}

const char *wf_rec_key(const char *rec, size_t len, size_t *keylen)
{
	const char *tab = memchr(rec, '\t', len);
	*keylen = tab ? (size_t)(tab - rec) : 0;
	return tab ? rec : NULL;
}

const char *wf_quote(char *out, size_t outlen, const char *s, size_t n, size_t max)
{
	size_t o = 0;
	if (!outlen)
		return out;
	for (size_t i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[5];
		if (c == '\r' || c == '\t' || c == '\n')
			snprintf(e, sizeof e, "\\%c", c == '\r' ? 'r' : c == '\t' ? 't' : 'n');
		else if (c < 0x20 || c == 0x7f)
			snprintf(e, sizeof e, "\\x%02x", c);
		else
			e[0] = (char)c, e[1] = '\0';
		size_t k = strlen(e);
		if (o + k >= outlen)
			break;
		memcpy(out + o, e, k);
		o += k;
	}
	if (n > max && o + 3 < outlen)
		memcpy(out + o, "...", 3), o += 3;
	out[o] = '\0';
	return out;
}

int wf_idrec_parse(const char *line, size_t len, uint32_t n_vocab, struct wf_idrec *out,
                   char *err, size_t errlen)
{
	const char *p = line, *end = line + len;
	out->n = 0;
	out->key = wf_rec_key(line, len, &out->keylen);
	if (out->key)
		p = line + out->keylen + 1;
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
			char q[4 * 20 + 4];
			snprintf(err, errlen, "token %zu: '%s' is not a token id", i,
			         wf_quote(q, sizeof q, s, (size_t)(p - s), 20));
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
