/*
 * json_parse — drive lib/json from the bats suite.
 *
 *   json_parse [-d DEPTH] [-i] [FILE]
 *
 * Parses FILE (or standard input) and prints the value back as compact
 * JSON: strings with '"', '\\' and bytes below 0x20 escaped (\n, \t, ... or
 * \u00XX) and everything else as raw UTF-8, numbers as their source text,
 * members in document order.  -i prints the root number as an exact integer
 * (wf_json_int) or "not an integer".  Errors: "json_parse: MESSAGE", exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"

static void put_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\b': fputs("\\b", stdout); break;
		case '\f': fputs("\\f", stdout); break;
		default:
			if (c < 0x20)
				printf("\\u%04x", c);
			else
				putchar(c);
		}
	}
	putchar('"');
}

static void put_val(const struct wf_json *v)
{
	switch (v->type) {
	case WF_JSON_NULL: fputs("null", stdout); break;
	case WF_JSON_TRUE: fputs("true", stdout); break;
	case WF_JSON_FALSE: fputs("false", stdout); break;
	case WF_JSON_NUMBER: fputs(v->s, stdout); break;
	case WF_JSON_STRING: put_str(v->s, v->n); break;
	case WF_JSON_ARRAY:
	case WF_JSON_OBJECT:
		putchar(v->type == WF_JSON_ARRAY ? '[' : '{');
		for (uint32_t i = 0; i < v->n; i++) {
			if (i)
				putchar(',');
			if (v->type == WF_JSON_OBJECT) {
				put_str(v->u.kids[i].key, v->u.kids[i].keylen);
				putchar(':');
			}
			put_val(&v->u.kids[i]);
		}
		putchar(v->type == WF_JSON_ARRAY ? ']' : '}');
		break;
	}
}

int main(int argc, char **argv)
{
	int depth = 0, as_int = 0, c;
	while ((c = getopt(argc, argv, "d:i")) != -1) {
		if (c == 'd')
			depth = atoi(optarg);
		else if (c == 'i')
			as_int = 1;
		else
			return 2;
	}
	FILE *f = optind < argc ? fopen(argv[optind], "rb") : stdin;
	if (!f) {
		perror(argv[optind]);
		return 1;
	}
	size_t cap = 1 << 16, n = 0, k;
	char *buf = malloc(cap);
	while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (!buf)
		return 1;
	char err[256];
	struct wf_json_doc *doc = wf_json_parse(buf, n, depth, err, sizeof err);
	free(buf);
	if (!doc) {
		fprintf(stderr, "json_parse: %s\n", err);
		return 1;
	}
	const struct wf_json *r = wf_json_root(doc);
	if (as_int) {
		int64_t x;
		if (wf_json_int(r, INT64_MIN, INT64_MAX, &x) == 0)
			printf("%lld\n", (long long)x);
		else
			printf("not an integer\n");
	} else {
		put_val(r);
		putchar('\n');
	}
	wf_json_free(doc);
	return 0;
}
