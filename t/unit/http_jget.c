/*
 * http_jget — pick values out of JSON for the wf-serve tests (a tiny jq).
 *
 *   http_jget [-s] [-c] PATH < INPUT
 *
 * PATH is dot-separated member names and array indices ("choices.0.text";
 * "." is the root).  The value there is printed: a string raw (its UTF-8
 * bytes), a number as its source text, true/false/null as such, arrays and
 * objects as "array N" / "object N"; then a newline unless -c.  INPUT is
 * one JSON document, or with -s a server-sent event stream: every
 * "data: JSON" line is a document (values missing there are skipped) and
 * "data: [DONE]" must end the stream (else "no [DONE]", exit 1) unless -n.
 * Errors: "http_jget: MESSAGE", exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"

static int sep = '\n';

static const struct wf_json *walk(const struct wf_json *v, const char *path)
{
	char part[256];
	if (!strcmp(path, "."))
		return v;
	while (*path && v) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof part)
			return NULL;
		memcpy(part, path, n);
		part[n] = 0;
		path += n + (path[n] == '.');
		if (v->type == WF_JSON_ARRAY) {
			char *end;
			unsigned long i = strtoul(part, &end, 10);
			v = (*end || i >= v->n) ? NULL : &v->u.kids[i];
		} else
			v = wf_json_get(v, part);
	}
	return v;
}

static void print(const struct wf_json *v)
{
	switch (v->type) {
	case WF_JSON_STRING: fwrite(v->s, 1, v->n, stdout); break;
	case WF_JSON_NUMBER: fputs(v->s, stdout); break;
	case WF_JSON_ARRAY: printf("array %u", v->n); break;
	case WF_JSON_OBJECT: printf("object %u", v->n); break;
	default: fputs(wf_json_type_name(v->type), stdout);
	}
	if (sep)
		putchar(sep);
}

int main(int argc, char **argv)
{
	int sse = 0, need_done = 1, c;
	char err[256];
	while ((c = getopt(argc, argv, "scn")) != -1) {
		if (c == 's')
			sse = 1;
		else if (c == 'c')
			sep = 0;
		else if (c == 'n')
			need_done = 0;
		else
			return 2;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: http_jget [-s] [-c] [-n] PATH < INPUT\n");
		return 2;
	}
	const char *path = argv[optind];
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	size_t k;
	while (buf && (k = fread(buf + len, 1, cap - len, stdin)) > 0) {
		len += k;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (!buf) {
		fprintf(stderr, "http_jget: out of memory\n");
		return 1;
	}
	int rc = 0;
	if (!sse) {
		struct wf_json_doc *d = wf_json_parse(buf, len, 0, err, sizeof err);
		if (!d) {
			fprintf(stderr, "http_jget: %s\n", err);
			rc = 1;
		} else {
			const struct wf_json *v = walk(wf_json_root(d), path);
			if (v)
				print(v);
			else {
				fprintf(stderr, "http_jget: no '%s'\n", path);
				rc = 1;
			}
			wf_json_free(d);
		}
	} else {
		int done = 0;
		size_t pos = 0;
		while (pos < len && rc == 0) {
			char *nl = memchr(buf + pos, '\n', len - pos);
			size_t end = nl ? (size_t)(nl - buf) : len;
			char *line = buf + pos;
			size_t n = end - pos;
			pos = end + 1;
			if (n < 6 || memcmp(line, "data: ", 6))
				continue;
			if (done) {
				fprintf(stderr, "http_jget: data after [DONE]\n");
				rc = 1;
				break;
			}
			if (n == 12 && !memcmp(line + 6, "[DONE]", 6)) {
				done = 1;
				continue;
			}
			struct wf_json_doc *d = wf_json_parse(line + 6, n - 6, 0, err, sizeof err);
			if (!d) {
				fprintf(stderr, "http_jget: event: %s\n", err);
				rc = 1;
				break;
			}
			const struct wf_json *v = walk(wf_json_root(d), path);
			if (v)
				print(v);
			wf_json_free(d);
		}
		if (rc == 0 && need_done && !done) {
			fprintf(stderr, "http_jget: no [DONE]\n");
			rc = 1;
		}
	}
	free(buf);
	return rc;
}
