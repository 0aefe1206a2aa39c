/*
 * http — a small, bounded HTTP/1.1 request parser and the pieces of a
 * response writer, for wf-serve.
 *
 * The parser reads one request head (request line and header fields) from a
 * buffer that grows as bytes arrive: call wf_http_parse() on everything
 * received so far; it answers "need more", "head complete" or "refused"
 * (with the status code to answer and a one-line reason).  It never reads
 * past len, allocates nothing, and keeps pointers into the caller's buffer.
 *
 * Accepted (RFC 9112, what curl and browsers send):
 *   request-line  METHOD SP TARGET SP "HTTP/1." DIGIT CRLF
 *                 METHOD is 1..15 token characters; TARGET is 1.. visible
 *                 ASCII bytes (0x21..0x7e); HTTP/1.0 and HTTP/1.1.  An
 *                 absolute-form target ("http://host/p?q") is taken as its
 *                 path and query ("/p?q").
 *   fields        NAME ":" OWS VALUE OWS CRLF, NAME a token, VALUE any bytes
 *                 but CR, LF and NUL and other controls than TAB.
 *   line ends     CRLF, or a bare LF (leniently); a bare CR is an error.
 *   Host          not required (leniently, for hand-written clients).
 *   body length   Content-Length (decimal, repeated copies must agree);
 *                 Transfer-Encoding is refused (501); no body otherwise.
 * Refusals: 400 malformed, 413 body over max_body, 414 target over
 * max_target, 431 head over max_head bytes or more than WF_HTTP_MAX_FIELDS
 * fields, 501 Transfer-Encoding, 505 another HTTP version.
 */
#ifndef WF_HTTP_H
#define WF_HTTP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define WF_HTTP_MAX_FIELDS 64

struct wf_http_limits {
	size_t max_head;     /* bytes of request line + fields + blank line */
	size_t max_target;   /* bytes of the request target */
	uint64_t max_body;   /* Content-Length limit */
};

/* A field: pointers into the parsed buffer, not NUL-terminated. */
struct wf_http_field {
	const char *name, *value;
	size_t name_len, value_len;
};

struct wf_http_req {
	char method[16];            /* NUL-terminated */
	const char *target;         /* into the buffer */
	size_t target_len;
	size_t path_len;            /* target up to '?' (or all of it) */
	int minor;                  /* 0: HTTP/1.0, 1: HTTP/1.1 */
	size_t head_len;            /* bytes of the head, blank line included */
	uint64_t content_length;    /* 0 when absent */
	int keep_alive;             /* 1.1 without "Connection: close", or 1.0 with keep-alive */
	int expect_continue;        /* "Expect: 100-continue" */
	size_t n_fields;
	struct wf_http_field fields[WF_HTTP_MAX_FIELDS];
	int status;                 /* on refusal: the status code to answer */
};

/*
 * Parse the head in buf[0..len).  Returns 1 when the head is complete
 * (req filled; the body is buf[head_len .. head_len + content_length) once
 * that much has arrived), 0 when more bytes are needed (nothing wrong so
 * far, and len is still under max_head), or -1 when the request is refused:
 * req->status holds the status and err a reason such as
 * "line 1: method 'G T' is not a token" or "head exceeds 16384 bytes".
 */
int wf_http_parse(const char *buf, size_t len, const struct wf_http_limits *lim, struct wf_http_req *req,
                  char *err, size_t errlen);

/* The value of the first field named name (case-insensitive), or NULL;
 * *len gets its length. */
const char *wf_http_field(const struct wf_http_req *req, const char *name, size_t *len);

/* 1 when the request path (target without the query) equals path. */
int wf_http_path_is(const struct wf_http_req *req, const char *path);

/* The reason phrase of a status code ("Not Found"); "Unknown" for others. */
const char *wf_http_reason(int status);

/* ---------------------------------------------------------------------- */
/* A growable byte buffer for building responses. */

struct wf_buf {
	char *p;
	size_t len, cap;
	int oom;        /* an allocation failed: later appends are dropped */
};

/* Append n bytes / a NUL-terminated string / printf-formatted text.  On
 * allocation failure b->oom is set and the buffer keeps what it had.
 * b->p is always NUL-terminated once anything was appended. */
void wf_buf_put(struct wf_buf *b, const void *s, size_t n);
void wf_buf_puts(struct wf_buf *b, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void wf_buf_printf(struct wf_buf *b, const char *fmt, ...);

/*
 * Append s[0..n) as a JSON string with its quotes: '"' '\\' and controls
 * escaped (\n \r \t \b \f, others \u00XX), U+2028/9 as \u2028/\u2029 (safe
 * inside <script>), bytes that are not valid UTF-8 replaced by U+FFFD
 * (one per maximal subpart), so the output is always valid JSON.
 */
void wf_buf_json_str(struct wf_buf *b, const char *s, size_t n);

void wf_buf_free(struct wf_buf *b);

/*
 * A response head: "HTTP/1.1 STATUS REASON", Content-Type (when ctype is
 * non-NULL), Content-Length (when clen >= 0), "Connection: close", the
 * extra lines in extra (each ending "\r\n"; may be NULL), and the blank
 * line.
 */
void wf_http_head(struct wf_buf *b, int status, const char *ctype, long long clen, const char *extra);

#endif
