#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unicode.h"

static int refuse(struct wf_http_req *r, int status, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	r->status = status;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ieq(const char *a, size_t n, const char *b)
{
	size_t m = strlen(b);
	if (n != m)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* The next line of buf[*pos..len): [*s, *s + *n) without its CR LF or LF.
 * Returns 1, 0 when no LF has arrived yet, -1 on a bare CR. */
static int next_line(const char *buf, size_t len, size_t *pos, const char **s, size_t *n)
{
	const char *p = buf + *pos;
	const char *lf = memchr(p, '\n', len - *pos);
	if (!lf)
		return 0;
	size_t l = (size_t)(lf - p);
	if (l && p[l - 1] == '\r')
		l--;
	if (memchr(p, '\r', l))
		return -1;
	*s = p;
	*n = l;
	*pos = (size_t)(lf - buf) + 1;
	return 1;
}

static int parse_request_line(const char *s, size_t n, const struct wf_http_limits *lim, struct wf_http_req *r,
                              char *err, size_t errlen)
{
	size_t i = 0;
	while (i < n && s[i] != ' ')
		i++;
	if (i == 0 || i >= sizeof r->method)
		return refuse(r, 400, err, errlen, "line 1: method of %zu bytes (1 to %zu allowed)", i,
		              sizeof r->method - 1);
	for (size_t k = 0; k < i; k++)
		if (!is_tchar((unsigned char)s[k]))
			return refuse(r, 400, err, errlen, "line 1: the method is not a token");
	memcpy(r->method, s, i);
	r->method[i] = 0;
	if (i == n)
		return refuse(r, 400, err, errlen, "line 1: no request target");
	size_t t = ++i;
	while (i < n && s[i] != ' ') {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e)
			return refuse(r, 400, err, errlen, "line 1: byte 0x%02x in the request target", c);
		i++;
	}
	if (i == t)
		return refuse(r, 400, err, errlen, "line 1: empty request target");
	if (i - t > lim->max_target)
		return refuse(r, 414, err, errlen, "request target of %zu bytes exceeds %zu", i - t,
		              lim->max_target);
	r->target = s + t;
	r->target_len = i - t;
	/* absolute-form (RFC 9112 3.2.2): the path starts after the authority */
	size_t sch = r->target_len >= 7 && ieq(r->target, 7, "http://") ? 7
	           : r->target_len >= 8 && ieq(r->target, 8, "https://") ? 8 : 0;
	if (sch) {
		const char *p = memchr(r->target + sch, '/', r->target_len - sch);
		if (!p)
			return refuse(r, 400, err, errlen, "line 1: absolute-form target without a path");
		r->target_len -= (size_t)(p - r->target);
		r->target = p;
	}
	const char *q = memchr(r->target, '?', r->target_len);
	r->path_len = q ? (size_t)(q - r->target) : r->target_len;
	if (i == n)
		return refuse(r, 400, err, errlen, "line 1: no HTTP version");
	const char *v = s + i + 1;
	size_t vn = n - i - 1;
	if (vn == 8 && !memcmp(v, "HTTP/1.", 7) && v[7] >= '0' && v[7] <= '9') {
		r->minor = v[7] - '0';
		return 0;
	}
	if (vn == 8 && !memcmp(v, "HTTP/", 5) && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' &&
	    v[7] <= '9')
		return refuse(r, 505, err, errlen, "HTTP/%c.%c is not supported", v[5], v[7]);
	return refuse(r, 400, err, errlen, "line 1: bad HTTP version");
}

/* Does the comma-separated list v[0..n) hold token tok (case-insensitive)? */
static int list_has(const char *v, size_t n, const char *tok)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t a = i;
		while (i < n && v[i] != ',')
			i++;
		size_t b = i;
		while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
			b--;
		if (b > a && ieq(v + a, b - a, tok))
			return 1;
	}
	return 0;
}

static int parse_field(const char *s, size_t n, size_t lineno, const struct wf_http_limits *lim,
                       struct wf_http_req *r, int *have_len, char *err, size_t errlen)
{
	if (s[0] == ' ' || s[0] == '\t')
		return refuse(r, 400, err, errlen, "line %zu: folded header line", lineno);
	size_t i = 0;
	while (i < n && s[i] != ':') {
		if (!is_tchar((unsigned char)s[i]))
			return refuse(r, 400, err, errlen, "line %zu: the field name is not a token", lineno);
		i++;
	}
	if (i == n || i == 0)
		return refuse(r, 400, err, errlen, "line %zu: %s", lineno, i ? "no ':' in the field" : "empty field name");
	size_t a = i + 1, b = n;
	while (a < b && (s[a] == ' ' || s[a] == '\t'))
		a++;
	while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
		b--;
	for (size_t k = a; k < b; k++) {
		unsigned char c = (unsigned char)s[k];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return refuse(r, 400, err, errlen, "line %zu: control byte 0x%02x in a field value", lineno, c);
	}
	if (r->n_fields == WF_HTTP_MAX_FIELDS)
		return refuse(r, 431, err, errlen, "more than %d header fields", WF_HTTP_MAX_FIELDS);
	struct wf_http_field *f = &r->fields[r->n_fields++];
	f->name = s;
	f->name_len = i;
	f->value = s + a;
	f->value_len = b - a;
	if (ieq(s, i, "content-length")) {
		uint64_t v = 0;
		if (a == b || b - a > 19)
			return refuse(r, 400, err, errlen, "line %zu: bad Content-Length", lineno);
		for (size_t k = a; k < b; k++) {
			if (s[k] < '0' || s[k] > '9')
				return refuse(r, 400, err, errlen, "line %zu: bad Content-Length", lineno);
			v = v * 10 + (uint64_t)(s[k] - '0');
		}
		if (*have_len && v != r->content_length)
			return refuse(r, 400, err, errlen, "line %zu: conflicting Content-Length", lineno);
		*have_len = 1;
		r->content_length = v;
		if (v > lim->max_body)
			return refuse(r, 413, err, errlen, "body of %llu bytes exceeds %llu", (unsigned long long)v,
			              (unsigned long long)lim->max_body);
	} else if (ieq(s, i, "transfer-encoding")) {
		return refuse(r, 501, err, errlen, "Transfer-Encoding is not supported (send Content-Length)");
	} else if (ieq(s, i, "connection")) {
		if (list_has(s + a, b - a, "close"))
			r->keep_alive = 0;
		else if (list_has(s + a, b - a, "keep-alive"))
			r->keep_alive = 1;
	} else if (ieq(s, i, "expect")) {
		r->expect_continue = ieq(s + a, b - a, "100-continue");
	}
	return 0;
}

int wf_http_parse(const char *buf, size_t len, const struct wf_http_limits *lim, struct wf_http_req *r,
                  char *err, size_t errlen)
{
	memset(r, 0, offsetof(struct wf_http_req, fields));
	r->status = 0;
	size_t pos = 0, lineno = 0;
	int have_len = 0;
	const char *s;
	size_t n;
	size_t scan = len < lim->max_head ? len : lim->max_head;
	for (;;) {
		int k = next_line(buf, scan, &pos, &s, &n);
		if (k < 0)
			return refuse(r, 400, err, errlen, "line %zu: bare CR", lineno + 1);
		if (k == 0)
			break;
		lineno++;
		if (lineno == 1) {
			if (parse_request_line(s, n, lim, r, err, errlen) < 0)
				return -1;
			r->keep_alive = r->minor >= 1;
			continue;
		}
		if (n == 0) {
			r->head_len = pos;
			return 1;
		}
		if (parse_field(s, n, lineno, lim, r, &have_len, err, errlen) < 0)
			return -1;
	}
	if (len < lim->max_head)
		return 0;
	if (lineno == 0) {
		/* still in the request line: a target too long, or garbage */
		const char *sp = memchr(buf, ' ', scan);
		if (sp && (size_t)(buf + scan - sp) > lim->max_target)
			return refuse(r, 414, err, errlen, "request target exceeds %zu bytes", lim->max_target);
	}
	return refuse(r, 431, err, errlen, "request head exceeds %zu bytes", lim->max_head);
}

const char *wf_http_field(const struct wf_http_req *r, const char *name, size_t *len)
{
	for (size_t i = 0; i < r->n_fields; i++)
		if (ieq(r->fields[i].name, r->fields[i].name_len, name)) {
			*len = r->fields[i].value_len;
			return r->fields[i].value;
		}
	return NULL;
}

int wf_http_path_is(const struct wf_http_req *r, const char *path)
{
	size_t n = strlen(path);
	return r->path_len == n && !memcmp(r->target, path, n);
}

const char *wf_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* ---------------------------------------------------------------------- */

static int grow(struct wf_buf *b, size_t extra)
{
	if (b->oom)
		return -1;
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t c = b->cap ? b->cap : 256;
	while (c < b->len + extra + 1) {
		if (c > SIZE_MAX / 2) {
			b->oom = 1;
			return -1;
		}
		c *= 2;
	}
	char *p = realloc(b->p, c);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = c;
	return 0;
}

void wf_buf_put(struct wf_buf *b, const void *s, size_t n)
{
	if (grow(b, n) < 0)
		return;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void wf_buf_puts(struct wf_buf *b, const char *s)
{
	wf_buf_put(b, s, strlen(s));
}

void wf_buf_printf(struct wf_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		wf_buf_put(b, small, (size_t)n);
		return;
	}
	if (grow(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void wf_buf_json_str(struct wf_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run = 0;
	wf_buf_put(b, "\"", 1);
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[8];
		size_t skip = 1;
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c == '\b')
			esc = "\\b";
		else if (c == '\f')
			esc = "\\f";
		else if (c < 0x20) {
			memcpy(u, "\\u00", 4);
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = 0;
			esc = u;
		} else if (c >= 0x80) {
			uint32_t cp;
			size_t l = wf_utf8_next(s + i, n - i, &cp);
			if (cp == WF_U_BAD) {
				esc = "\xef\xbf\xbd";
				skip = wf_utf8_bad_len(s + i, n - i);
			} else if (cp == 0x2028 || cp == 0x2029) {
				esc = cp == 0x2028 ? "\\u2028" : "\\u2029";
				skip = l;
			} else {
				i += l;
				continue;
			}
		}
		if (!esc) {
			i++;
			continue;
		}
		wf_buf_put(b, s + run, i - run);
		wf_buf_puts(b, esc);
		i += skip;
		run = i;
	}
	wf_buf_put(b, s + run, n - run);
	wf_buf_put(b, "\"", 1);
}

void wf_buf_free(struct wf_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}

void wf_http_head(struct wf_buf *b, int status, const char *ctype, long long clen, const char *extra)
{
	wf_buf_printf(b, "HTTP/1.1 %d %s\r\n", status, wf_http_reason(status));
	if (ctype)
		wf_buf_printf(b, "Content-Type: %s\r\n", ctype);
	if (clen >= 0)
		wf_buf_printf(b, "Content-Length: %lld\r\n", clen);
	wf_buf_puts(b, "Connection: close\r\n");
	if (extra)
		wf_buf_puts(b, extra);
	wf_buf_puts(b, "\r\n");
}
