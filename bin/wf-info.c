/*
 * wf-info — show a GGUF file's or a model image's metadata and tensor table.
 *
 *   wf-info [-a] [--json] [FILE|IMAGE ...]
 *
 * Human-readable by default (arrays longer than 8 elements are summarised
 * unless -a); --json writes one JSON object per model, arrays in full.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gguf.h"
#include "image.h"
#include "tokio.h"

#define SUMMARY 8

static int all_arrays, json;

/* Print s[0..n) for humans: printable UTF-8 as is, the rest as \n, \t, \xHH. */
static void put_human(const char *s, uint64_t n)
{
	putchar('"');
	for (uint64_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static int utf8_len(const unsigned char *s, uint64_t n)
{
	int k;
	uint32_t cp, min;
	if (s[0] < 0x80) return 1;
	if ((s[0] & 0xe0) == 0xc0) k = 1, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0) k = 2, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0) k = 3, cp = s[0] & 0x07, min = 0x10000;
	else return 0;
	if ((uint64_t)k >= n)
		return 0;
	for (int j = 1; j <= k; j++) {
		if ((s[j] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[j] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k + 1;
}

/* JSON string; invalid UTF-8 bytes become U+FFFD. */
static void put_json_str(const char *str, uint64_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	putchar('"');
	for (uint64_t i = 0; i < n;) {
		unsigned char c = s[i];
		int k = utf8_len(s + i, n - i);
		if (k == 0) {
			fputs("\\ufffd", stdout);
			i++;
			continue;
		}
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c == '\r')
			fputs("\\r", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			fwrite(s + i, 1, (size_t)k, stdout);
		i += (uint64_t)k;
	}
	putchar('"');
}

static void put_num(const struct wf_gguf_kv *kv, uint32_t t, uint64_t i)
{
	double v = wf_gguf_kv_num(kv, i);
	if (t == WF_GGUF_BOOL)
		fputs(v != 0 ? "true" : "false", stdout);
	else if (t == WF_GGUF_FLOAT32 || t == WF_GGUF_FLOAT64) {
		if (json && !isfinite(v))
			fputs("null", stdout);
		else
			printf(t == WF_GGUF_FLOAT32 ? "%.9g" : "%.17g", v);
	} else if (t == WF_GGUF_UINT64 || t == WF_GGUF_INT64) {
		/* 64-bit integers exactly, not through double */
		const uint8_t *p = kv->data + 8 * i;
		uint64_t u = 0;
		for (int b = 7; b >= 0; b--)
			u = u << 8 | p[b];
		if (t == WF_GGUF_INT64)
			printf("%lld", (long long)(int64_t)u);
		else
			printf("%llu", (unsigned long long)u);
	} else
		printf("%.0f", v);
}

static void put_elem(const struct wf_gguf_kv *kv, uint64_t i)
{
	uint32_t t = kv->type == WF_GGUF_ARRAY ? kv->atype : kv->type;
	if (t == WF_GGUF_STRING)
		(json ? put_json_str : put_human)(kv->strs[i].ptr, kv->strs[i].len);
	else
		put_num(kv, t, i);
}

static void put_value(const struct wf_gguf_kv *kv)
{
	if (kv->type != WF_GGUF_ARRAY) {
		put_elem(kv, 0);
		return;
	}
	uint64_t n = kv->n, shown = json || all_arrays || n <= SUMMARY ? n : SUMMARY;
	putchar('[');
	for (uint64_t i = 0; i < shown; i++) {
		if (i)
			fputs(", ", stdout);
		put_elem(kv, i);
	}
	if (shown < n)
		printf(", ... (%llu more)", (unsigned long long)(n - shown));
	putchar(']');
}

static void shape(const struct wf_gguf_tensor *t, char *buf, size_t len)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, len - o, "[");
	for (uint32_t d = 0; d < t->n_dims && o < len; d++)
		o += (size_t)snprintf(buf + o, len - o, d ? ", %lld" : "%lld", (long long)t->ne[d]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

static void show_human(const char *name, const struct wf_gguf *g, const struct wf_model_src *src)
{
	printf("%s: GGUF v%u, %llu bytes%s\n", name, g->version, (unsigned long long)g->size,
	       src->is_image ? " (shared-memory image)" : "");
	printf("alignment %u, data at %llu, %llu keys, %llu tensors\n", g->alignment,
	       (unsigned long long)g->data_offset, (unsigned long long)g->n_kv,
	       (unsigned long long)g->n_tensors);
	printf("\nmetadata:\n");
	size_t w = 0;
	for (uint64_t i = 0; i < g->n_kv; i++)
		if (g->kv[i].key.len > w)
			w = (size_t)g->kv[i].key.len;
	if (w > 48)
		w = 48;
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const struct wf_gguf_kv *kv = &g->kv[i];
		char type[40];
		if (kv->type == WF_GGUF_ARRAY)
			snprintf(type, sizeof type, "%s[%llu]", wf_gguf_vtype_name(kv->atype),
			         (unsigned long long)kv->n);
		else
			snprintf(type, sizeof type, "%s", wf_gguf_vtype_name(kv->type));
		printf("  %-*.*s  %-16s ", (int)w, (int)kv->key.len, kv->key.ptr, type);
		put_value(kv);
		putchar('\n');
	}
	printf("\ntensors:\n");
	printf("  %-32s %-6s %-18s %12s %12s\n", "name", "type", "shape", "offset", "bytes");
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const struct wf_gguf_tensor *t = &g->tensors[i];
		char sh[96], q[4 * 256 + 4];
		shape(t, sh, sizeof sh);
		/* control bytes escaped: a name must not break the table or drive the terminal */
		wf_quote(q, sizeof q, t->name, strlen(t->name), 256);
		printf("  %-32s %-6s %-18s %12llu %12llu\n", q, wf_ggml_type_name(t->type), sh,
		       (unsigned long long)t->offset, (unsigned long long)t->nbytes);
	}
}

static void show_json(const char *name, const struct wf_gguf *g, const struct wf_model_src *src)
{
	fputs("{\"model\": ", stdout);
	put_json_str(name, strlen(name));
	printf(", \"image\": %s, \"version\": %u, \"size\": %llu, \"alignment\": %u, "
	       "\"data_offset\": %llu, \"metadata\": {",
	       src->is_image ? "true" : "false", g->version, (unsigned long long)g->size,
	       g->alignment, (unsigned long long)g->data_offset);
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const struct wf_gguf_kv *kv = &g->kv[i];
		fputs(i ? ", " : "", stdout);
		put_json_str(kv->key.ptr, kv->key.len);
		fputs(": {\"type\": ", stdout);
		if (kv->type == WF_GGUF_ARRAY)
			printf("\"ARRAY[%s]\"", wf_gguf_vtype_name(kv->atype));
		else
			printf("\"%s\"", wf_gguf_vtype_name(kv->type));
		fputs(", \"value\": ", stdout);
		put_value(kv);
		putchar('}');
	}
	fputs("}, \"tensors\": [", stdout);
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const struct wf_gguf_tensor *t = &g->tensors[i];
		char sh[96];
		shape(t, sh, sizeof sh);
		printf("%s{\"name\": ", i ? ", " : "");
		put_json_str(t->name, strlen(t->name));
		printf(", \"type\": \"%s\", \"shape\": %s, \"offset\": %llu, \"bytes\": %llu}",
		       wf_ggml_type_name(t->type), sh, (unsigned long long)t->offset,
		       (unsigned long long)t->nbytes);
	}
	fputs("]}\n", stdout);
}

static int info(const char *arg)
{
	struct wf_model_src src;
	struct wf_gguf g;
	char err[512];
	if (wf_model_open(arg, &src, err, sizeof err)) {
		if (!arg && !strncmp(err, "no model:", 9)) /* wf-info names its models as operands, not -m */
			return error("no model: name a FILE or IMAGE, set WF_MODEL, or mark a default image with "
			             "'wf-shm load --default FILE'");
		return error("%s", err);
	}
	if (wf_gguf_parse(&g, src.base, src.size, err, sizeof err)) {
		error("%s: %s", src.name, err);
		wf_model_close(&src);
		return -1;
	}
	if (g.trailing)
		fprintf(stderr, "%s: %s: warning: %llu bytes after the last tensor\n", prog, src.name,
		        (unsigned long long)(g.size - g.data_end));
	(json ? show_json : show_human)(src.name, &g, &src);
	wf_gguf_free(&g);
	wf_model_close(&src);
	if (ferror(stdout))
		cli_stdout_failed();
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"all", no_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, rc = 0;
	cli_init(argc, argv, "wf-info [-a] [-j|--json] [FILE|IMAGE ...]");
	while ((c = getopt_long(argc, argv, "ajh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all_arrays = 1; break;
		case 'j': json = 1; break;
		case 'h':
			printf("usage: %s\n", cli_usage_text);
			return cli_exit(0);
		default: usage_die(NULL);
		}
	}
	if (optind == argc)
		rc |= info(NULL) ? 1 : 0;
	for (int i = optind; i < argc; i++) {
		if (i > optind && !json)
			putchar('\n');
		rc |= info(argv[i]) ? 1 : 0;
	}
	return cli_exit(rc);
}
