/*
 * json — a small strict JSON (RFC 8259) parser building a read-only tree.
 *
 * wf_json_parse() reads a whole document from (buf, len) and returns a tree
 * of struct wf_json nodes that owns copies of every string, so the input may
 * be freed afterwards.  Strictness:
 *   - exactly one value, surrounded only by the four JSON whitespace bytes;
 *     anything after it is "trailing garbage"; no byte order mark;
 *   - strings: valid UTF-8 only (no overlong forms, no encoded surrogates,
 *     nothing above U+10FFFF), no raw control bytes (< 0x20), escapes
 *     \" \\ \/ \b \f \n \r \t \uXXXX only; \uD800-\uDBFF must be followed by
 *     \uDC00-\uDFFF (the pair is decoded to one 4-byte UTF-8 sequence), and
 *     a low surrogate alone is an error; \u0000 is kept as a NUL byte
 *     (use the length, not strlen, where that matters);
 *   - numbers: the JSON grammar exactly (no leading zeros, '+', '.5', '1.',
 *     NaN, Infinity); a number whose magnitude overflows a double is an
 *     error ("number out of range"); underflow rounds to 0 or a subnormal;
 *   - nesting deeper than max_depth arrays/objects is an error, so a
 *     "[[[[..." bomb costs nothing; the parser's recursion is bounded by it;
 *   - duplicate object keys are kept in order (wf_json_get finds the first).
 *
 * Errors name the position: "line 3, column 17: expected ':' after object key".
 * Lines count '\n' from 1; columns count bytes from 1.
 *
 * Memory: one allocation for all strings (at most len + 1 bytes) plus node
 * blocks; a tree of N values takes about 48·N bytes.  Inputs are limited to
 * 4 GiB - 1.
 */
#ifndef WF_JSON_H
#define WF_JSON_H

#include <stddef.h>
#include <stdint.h>

enum wf_json_type {
	WF_JSON_NULL, WF_JSON_FALSE, WF_JSON_TRUE, WF_JSON_NUMBER,
	WF_JSON_STRING, WF_JSON_ARRAY, WF_JSON_OBJECT
};

#define WF_JSON_DEFAULT_DEPTH 128
#define WF_JSON_MAX_DEPTH 4096

struct wf_json {
	uint8_t type;          /* enum wf_json_type */
	uint32_t n;            /* ARRAY/OBJECT: number of elements; STRING/NUMBER: bytes in s */
	uint32_t keylen;       /* bytes in key */
	const char *key;       /* member name (NUL-terminated) inside an OBJECT, else NULL */
	const char *s;         /* STRING: decoded UTF-8; NUMBER: its source text; NUL-terminated */
	union {
		double num;            /* NUMBER */
		struct wf_json *kids;  /* ARRAY/OBJECT: kids[0..n) in document order */
	} u;
	uint32_t pos;          /* byte offset of the value in the input */
};

struct wf_json_doc;

/*
 * Parse buf[len].  max_depth: the deepest nesting of arrays/objects allowed
 * (0 means WF_JSON_DEFAULT_DEPTH; at most WF_JSON_MAX_DEPTH).  Returns the
 * document, or NULL with "line L, column C: message" in err (an allocation
 * failure says "out of memory").
 */
struct wf_json_doc *wf_json_parse(const char *buf, size_t len, int max_depth, char *err, size_t errlen);

/* Free a document and every node and string in it.  NULL-safe. */
void wf_json_free(struct wf_json_doc *doc);

/* The root value of a parsed document. */
const struct wf_json *wf_json_root(const struct wf_json_doc *doc);

/* The first member named key of an OBJECT; NULL when v is NULL, is not an
 * object, or has no such member.  Linear in the member count. */
const struct wf_json *wf_json_get(const struct wf_json *v, const char *key);

/* "null", "false", "true", "number", "string", "array", "object". */
const char *wf_json_type_name(int type);

/*
 * The NUMBER v as an exact integer in [lo, hi]: 0 on success, -1 when v is
 * not a number, has a fraction or exponent part that makes it non-integral,
 * or lies outside the range.  Integers are read from the source text, so
 * values beyond 2^53 are exact.  "1.0" and "1e2" are integers (1 and 100).
 */
int wf_json_int(const struct wf_json *v, int64_t lo, int64_t hi, int64_t *out);

/* 1 when v is a STRING equal to the NUL-terminated s (byte for byte). */
int wf_json_streq(const struct wf_json *v, const char *s);

/*
 * Line and column (both from 1) of byte offset pos in buf[len], for callers
 * that report errors about values (use v->pos).
 */
void wf_json_linecol(const char *buf, size_t len, size_t pos, unsigned long *line, unsigned long *col);

#endif
