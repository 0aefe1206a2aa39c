/*
 * json — strict JSON parser (see json.h for the contract).
 *
 * Recursive descent with the depth bounded by max_depth.  The children of
 * an array or object are collected on a scratch stack while it is parsed
 * and copied into one contiguous block when it closes, so every container
 * ends up with kids[0..n) and the scratch stack is reused.
 */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct chunk {
	struct chunk *next;
	size_t cap, used;
	struct wf_json nodes[];
};

struct wf_json_doc {
	struct wf_json root;
	char *strings;          /* all decoded strings and number texts */
	struct chunk *chunks;   /* node blocks */
};

struct parser {
	const unsigned char *buf;
	size_t len, i;
	int depth, max_depth;
	char *sp;               /* next free byte in doc->strings */
	struct wf_json_doc *doc;
	struct wf_json *stk;    /* scratch stack of finished children */
	size_t stk_n, stk_cap;
	char *err;
	size_t errlen;
	int failed;
};

void wf_json_linecol(const char *buf, size_t len, size_t pos, unsigned long *line, unsigned long *col)
{
	unsigned long l = 1, c = 1;
	if (pos > len)
		pos = len;
	for (size_t k = 0; k < pos; k++) {
		if (buf[k] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = l;
	*col = c;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(struct parser *p, size_t at, const char *fmt, ...)
{
	if (p->failed)
		return -1;
	p->failed = 1;
	if (p->errlen == 0)
		return -1;
	unsigned long line, col;
	wf_json_linecol((const char *)p->buf, p->len, at, &line, &col);
	int n = snprintf(p->err, p->errlen, "line %lu, column %lu: ", line, col);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int oom(struct parser *p)
{
	if (!p->failed && p->errlen)
		snprintf(p->err, p->errlen, "out of memory");
	p->failed = 1;
	return -1;
}

/* Describe the byte at i for messages: 'x', 0xNN or "end of input". */
static const char *what(struct parser *p, size_t i, char *tmp, size_t n)
{
	if (i >= p->len)
		return "end of input";
	unsigned char c = p->buf[i];
	if (c >= 0x21 && c < 0x7f)
		snprintf(tmp, n, "'%c'", c);
	else
		snprintf(tmp, n, "byte 0x%02x", c);
	return tmp;
}

static void skip_ws(struct parser *p)
{
	while (p->i < p->len) {
		unsigned char c = p->buf[p->i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->i++;
	}
}

static struct wf_json *alloc_nodes(struct parser *p, size_t n)
{
	struct chunk *c = p->doc->chunks;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 4096 ? n : 4096;
		c = malloc(sizeof(*c) + cap * sizeof(struct wf_json));
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = p->doc->chunks;
		p->doc->chunks = c;
	}
	struct wf_json *r = c->nodes + c->used;
	c->used += n;
	return r;
}

static int push(struct parser *p, const struct wf_json *v)
{
	if (p->stk_n == p->stk_cap) {
		size_t cap = p->stk_cap ? p->stk_cap * 2 : 256;
		struct wf_json *s = realloc(p->stk, cap * sizeof(*s));
		if (!s)
			return oom(p);
		p->stk = s;
		p->stk_cap = cap;
	}
	p->stk[p->stk_n++] = *v;
	return 0;
}

/* Move the children collected since base into a block owned by v. */
static int close_container(struct parser *p, struct wf_json *v, size_t base)
{
	size_t n = p->stk_n - base;
	v->n = (uint32_t)n;
	v->u.kids = NULL;
	if (n) {
		struct wf_json *k = alloc_nodes(p, n);
		if (!k)
			return oom(p);
		memcpy(k, p->stk + base, n * sizeof(*k));
		v->u.kids = k;
	}
	p->stk_n = base;
	return 0;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Read the 4 hex digits after "\u" at p->i (which points at 'u'). */
static int read_u4(struct parser *p, size_t esc, unsigned *out)
{
	if (p->len - p->i < 5)
		return fail(p, esc, "truncated \\u escape");
	unsigned v = 0;
	for (int k = 1; k <= 4; k++) {
		int h = hexval(p->buf[p->i + k]);
		if (h < 0)
			return fail(p, esc, "bad \\u escape: expected 4 hex digits");
		v = v << 4 | (unsigned)h;
	}
	p->i += 5;
	*out = v;
	return 0;
}

static char *put_utf8(char *d, unsigned cp)
{
	if (cp < 0x80) {
		*d++ = (char)cp;
	} else if (cp < 0x800) {
		*d++ = (char)(0xC0 | cp >> 6);
		*d++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*d++ = (char)(0xE0 | cp >> 12);
		*d++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*d++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*d++ = (char)(0xF0 | cp >> 18);
		*d++ = (char)(0x80 | (cp >> 12 & 0x3F));
		*d++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*d++ = (char)(0x80 | (cp & 0x3F));
	}
	return d;
}

/*
 * Length of the valid UTF-8 sequence at s[0..n) starting with a byte
 * >= 0x80, or 0 if it is invalid (RFC 3629 table: no overlongs, no
 * surrogates, nothing above U+10FFFF).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0;
		if (c == 0xED && s[1] >= 0xA0)
			return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0;
		if (c == 0xF4 && s[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

/* p->i at the opening quote.  Decodes into the string arena. */
static int parse_string(struct parser *p, const char **out, uint32_t *outlen)
{
	size_t start = p->i++;
	char *d = p->sp;
	const unsigned char *b = p->buf;
	for (;;) {
		size_t i = p->i;
		/* copy a run of plain ASCII */
		while (i < p->len && b[i] >= 0x20 && b[i] < 0x80 && b[i] != '"' && b[i] != '\\')
			i++;
		memcpy(d, b + p->i, i - p->i);
		d += i - p->i;
		p->i = i;
		if (i >= p->len)
			return fail(p, start, "unterminated string");
		unsigned char c = b[i];
		if (c == '"') {
			p->i++;
			break;
		}
		if (c < 0x20)
			return fail(p, i, "raw control character 0x%02x in string (must be escaped)", c);
		if (c >= 0x80) {
			size_t n = utf8_len(b + i, p->len - i);
			if (!n)
				return fail(p, i, "invalid UTF-8 in string (byte 0x%02x)", c);
			memcpy(d, b + i, n);
			d += n;
			p->i += n;
			continue;
		}
		/* backslash */
		if (i + 1 >= p->len)
			return fail(p, start, "unterminated string");
		unsigned char e = b[i + 1];
		p->i = i + 1;
		switch (e) {
		case '"': *d++ = '"'; p->i++; break;
		case '\\': *d++ = '\\'; p->i++; break;
		case '/': *d++ = '/'; p->i++; break;
		case 'b': *d++ = '\b'; p->i++; break;
		case 'f': *d++ = '\f'; p->i++; break;
		case 'n': *d++ = '\n'; p->i++; break;
		case 'r': *d++ = '\r'; p->i++; break;
		case 't': *d++ = '\t'; p->i++; break;
		case 'u': {
			unsigned cp;
			if (read_u4(p, i, &cp) < 0)
				return -1;
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				return fail(p, i, "lone low surrogate \\u%04X", cp);
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				size_t j = p->i;
				if (p->len - j < 2 || b[j] != '\\' || b[j + 1] != 'u')
					return fail(p, i, "lone high surrogate \\u%04X (expected a \\uDC00-\\uDFFF escape after it)", cp);
				unsigned lo;
				p->i = j + 1;
				if (read_u4(p, j, &lo) < 0)
					return -1;
				if (lo < 0xDC00 || lo > 0xDFFF)
					return fail(p, i, "lone high surrogate \\u%04X (followed by \\u%04X, not a low surrogate)", cp, lo);
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			d = put_utf8(d, cp);
			break;
		}
		default:
			if (e >= 0x21 && e < 0x7f)
				return fail(p, i, "bad escape '\\%c' in string", e);
			return fail(p, i, "bad escape (backslash then byte 0x%02x) in string", e);
		}
	}
	*out = p->sp;
	*outlen = (uint32_t)(d - p->sp);
	*d++ = '\0';
	p->sp = d;
	return 0;
}

static int parse_number(struct parser *p, struct wf_json *v)
{
	const unsigned char *b = p->buf;
	size_t start = p->i, i = p->i, n = p->len;
	if (i < n && b[i] == '-')
		i++;
	if (i >= n || b[i] < '0' || b[i] > '9')
		return fail(p, start, "bad number: expected a digit after '-'");
	if (b[i] == '0') {
		i++;
		if (i < n && b[i] >= '0' && b[i] <= '9')
			return fail(p, start, "bad number: leading zero");
	} else {
		while (i < n && b[i] >= '0' && b[i] <= '9')
			i++;
	}
	if (i < n && b[i] == '.') {
		i++;
		if (i >= n || b[i] < '0' || b[i] > '9')
			return fail(p, start, "bad number: expected a digit after '.'");
		while (i < n && b[i] >= '0' && b[i] <= '9')
			i++;
	}
	if (i < n && (b[i] == 'e' || b[i] == 'E')) {
		i++;
		if (i < n && (b[i] == '+' || b[i] == '-'))
			i++;
		if (i >= n || b[i] < '0' || b[i] > '9')
			return fail(p, start, "bad number: expected a digit in the exponent");
		while (i < n && b[i] >= '0' && b[i] <= '9')
			i++;
	}
	char *s = p->sp;
	memcpy(s, b + start, i - start);
	s[i - start] = '\0';
	p->sp += i - start + 1;
	errno = 0;
	double d = strtod(s, NULL);
	if (isinf(d))
		return fail(p, start, "number out of range: %.40s%s", s, i - start > 40 ? "..." : "");
	v->type = WF_JSON_NUMBER;
	v->s = s;
	v->n = (uint32_t)(i - start);
	v->u.num = d;
	p->i = i;
	return 0;
}

static int parse_value(struct parser *p, struct wf_json *v);

static int parse_array(struct parser *p, struct wf_json *v)
{
	size_t open = p->i++;
	size_t base = p->stk_n;
	char tmp[16];
	if (++p->depth > p->max_depth)
		return fail(p, open, "nesting deeper than %d", p->max_depth);
	v->type = WF_JSON_ARRAY;
	skip_ws(p);
	if (p->i < p->len && p->buf[p->i] == ']') {
		p->i++;
	} else {
		for (;;) {
			struct wf_json e;
			if (parse_value(p, &e) < 0 || push(p, &e) < 0)
				return -1;
			skip_ws(p);
			if (p->i >= p->len)
				return fail(p, open, "unterminated array");
			unsigned char c = p->buf[p->i];
			if (c == ']') {
				p->i++;
				break;
			}
			if (c != ',')
				return fail(p, p->i, "expected ',' or ']' in array, found %s", what(p, p->i, tmp, sizeof tmp));
			p->i++;
			skip_ws(p);
			if (p->i < p->len && p->buf[p->i] == ']')
				return fail(p, p->i, "trailing comma in array");
		}
	}
	p->depth--;
	return close_container(p, v, base);
}

static int parse_object(struct parser *p, struct wf_json *v)
{
	size_t open = p->i++;
	size_t base = p->stk_n;
	char tmp[16];
	if (++p->depth > p->max_depth)
		return fail(p, open, "nesting deeper than %d", p->max_depth);
	v->type = WF_JSON_OBJECT;
	skip_ws(p);
	if (p->i < p->len && p->buf[p->i] == '}') {
		p->i++;
	} else {
		for (;;) {
			if (p->i >= p->len)
				return fail(p, open, "unterminated object");
			if (p->buf[p->i] != '"')
				return fail(p, p->i, "expected a string key in object, found %s", what(p, p->i, tmp, sizeof tmp));
			const char *key;
			uint32_t keylen;
			if (parse_string(p, &key, &keylen) < 0)
				return -1;
			skip_ws(p);
			if (p->i >= p->len || p->buf[p->i] != ':')
				return fail(p, p->i, "expected ':' after object key, found %s", what(p, p->i, tmp, sizeof tmp));
			p->i++;
			struct wf_json e;
			if (parse_value(p, &e) < 0)
				return -1;
			e.key = key;
			e.keylen = keylen;
			if (push(p, &e) < 0)
				return -1;
			skip_ws(p);
			if (p->i >= p->len)
				return fail(p, open, "unterminated object");
			unsigned char c = p->buf[p->i];
			if (c == '}') {
				p->i++;
				break;
			}
			if (c != ',')
				return fail(p, p->i, "expected ',' or '}' in object, found %s", what(p, p->i, tmp, sizeof tmp));
			p->i++;
			skip_ws(p);
			if (p->i < p->len && p->buf[p->i] == '}')
				return fail(p, p->i, "trailing comma in object");
		}
	}
	p->depth--;
	return close_container(p, v, base);
}

static int literal(struct parser *p, const char *word, int type, struct wf_json *v)
{
	size_t n = strlen(word);
	if (p->len - p->i < n || memcmp(p->buf + p->i, word, n) != 0)
		return fail(p, p->i, "invalid literal (expected '%s')", word);
	p->i += n;
	v->type = (uint8_t)type;
	return 0;
}

static int parse_value(struct parser *p, struct wf_json *v)
{
	char tmp[16];
	memset(v, 0, sizeof *v);
	skip_ws(p);
	if (p->i >= p->len)
		return fail(p, p->i, "unexpected end of input, expected a value");
	v->pos = (uint32_t)p->i;
	switch (p->buf[p->i]) {
	case '{': return parse_object(p, v);
	case '[': return parse_array(p, v);
	case '"':
		v->type = WF_JSON_STRING;
		return parse_string(p, &v->s, &v->n);
	case 't': return literal(p, "true", WF_JSON_TRUE, v);
	case 'f': return literal(p, "false", WF_JSON_FALSE, v);
	case 'n': return literal(p, "null", WF_JSON_NULL, v);
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return parse_number(p, v);
	default:
		if (p->i == 0 && p->len >= 3 && p->buf[0] == 0xEF && p->buf[1] == 0xBB && p->buf[2] == 0xBF)
			return fail(p, p->i, "UTF-8 byte order mark is not allowed");
		return fail(p, p->i, "unexpected %s, expected a value", what(p, p->i, tmp, sizeof tmp));
	}
}

void wf_json_free(struct wf_json_doc *doc)
{
	if (!doc)
		return;
	struct chunk *c = doc->chunks;
	while (c) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
	free(doc->strings);
	free(doc);
}

struct wf_json_doc *wf_json_parse(const char *buf, size_t len, int max_depth, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (len >= UINT32_MAX) {
		if (errlen)
			snprintf(err, errlen, "input too large (%zu bytes, limit 4 GiB)", len);
		return NULL;
	}
	if (max_depth <= 0)
		max_depth = WF_JSON_DEFAULT_DEPTH;
	if (max_depth > WF_JSON_MAX_DEPTH)
		max_depth = WF_JSON_MAX_DEPTH;
	struct wf_json_doc *doc = calloc(1, sizeof *doc);
	/* Every string or number needs at most its source bytes + 1 (the NUL
	 * is paid for by its closing quote, or by the delimiter or end after a
	 * number), so len + 1 bytes hold them all. */
	if (doc)
		doc->strings = malloc(len + 1);
	if (!doc || !doc->strings) {
		if (errlen)
			snprintf(err, errlen, "out of memory");
		wf_json_free(doc);
		return NULL;
	}
	struct parser p = {
		.buf = (const unsigned char *)buf, .len = len, .max_depth = max_depth,
		.sp = doc->strings, .doc = doc, .err = err, .errlen = errlen,
	};
	char tmp[16];
	int rc = parse_value(&p, &doc->root);
	if (rc == 0) {
		skip_ws(&p);
		if (p.i < len)
			rc = fail(&p, p.i, "trailing garbage after the JSON value (%s)", what(&p, p.i, tmp, sizeof tmp));
	}
	free(p.stk);
	if (rc < 0) {
		wf_json_free(doc);
		return NULL;
	}
	return doc;
}

const struct wf_json *wf_json_root(const struct wf_json_doc *doc)
{
	return doc ? &doc->root : NULL;
}

const struct wf_json *wf_json_get(const struct wf_json *v, const char *key)
{
	if (!v || v->type != WF_JSON_OBJECT)
		return NULL;
	size_t kl = strlen(key);
	for (uint32_t k = 0; k < v->n; k++) {
		const struct wf_json *m = &v->u.kids[k];
		if (m->keylen == kl && memcmp(m->key, key, kl) == 0)
			return m;
	}
	return NULL;
}

const char *wf_json_type_name(int type)
{
	static const char *const names[] = {"null", "false", "true", "number", "string", "array", "object"};
	if (type < 0 || type > WF_JSON_OBJECT)
		return "unknown";
	return names[type];
}

int wf_json_streq(const struct wf_json *v, const char *s)
{
	if (!v || v->type != WF_JSON_STRING)
		return 0;
	size_t n = strlen(s);
	return v->n == n && memcmp(v->s, s, n) == 0;
}

/*
 * Exact integer value of the number text: digits d (no leading zeros beyond
 * one), optional fraction f, optional exponent e.  The value is integral
 * when the fraction digits past the exponent are all zero.
 */
int wf_json_int(const struct wf_json *v, int64_t lo, int64_t hi, int64_t *out)
{
	if (!v || v->type != WF_JSON_NUMBER)
		return -1;
	const char *s = v->s;
	int neg = 0;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	/* collect the significant digits and the decimal exponent */
	const char *ip = s;
	size_t ni = 0, nf = 0;
	while (ip[ni] >= '0' && ip[ni] <= '9')
		ni++;
	const char *fp = ip + ni;
	if (*fp == '.') {
		fp++;
		while (fp[nf] >= '0' && fp[nf] <= '9')
			nf++;
	} else {
		fp = NULL;
	}
	long e = 0;
	const char *ep = strpbrk(s, "eE");
	if (ep) {
		ep++;
		int eneg = 0;
		if (*ep == '+' || *ep == '-')
			eneg = *ep++ == '-';
		while (*ep >= '0' && *ep <= '9') {
			if (e < 100000)
				e = e * 10 + (*ep - '0');
			ep++;
		}
		if (eneg)
			e = -e;
	}
	/* value = digits(ip ++ fp) * 10^(e - nf) */
	unsigned __int128 acc = 0;
	long shift = e - (long)nf;
	size_t total = ni + nf;
	for (size_t k = 0; k < total; k++) {
		char c = k < ni ? ip[k] : fp[k - ni];
		long place = (long)(total - 1 - k) + shift; /* power of ten of this digit */
		if (place < 0) {
			if (c != '0')
				return -1; /* fractional part */
			continue;
		}
		if (acc > ((unsigned __int128)1 << 64))
			return -1;
		acc = acc * 10 + (unsigned)(c - '0');
	}
	for (long k = 0; k < shift && acc; k++) {
		if (acc > ((unsigned __int128)1 << 64))
			return -1;
		acc *= 10;
	}
	if (acc > ((unsigned __int128)1 << 63))
		return -1;
	int64_t r;
	if (neg)
		r = acc == ((unsigned __int128)1 << 63) ? INT64_MIN : -(int64_t)acc;
	else if (acc == ((unsigned __int128)1 << 63))
		return -1;
	else
		r = (int64_t)acc;
	if (r < lo || r > hi)
		return -1;
	*out = r;
	return 0;
}
