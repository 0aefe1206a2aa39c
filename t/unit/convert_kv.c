/*
 * convert_kv — print GGUF metadata values for the wf-convert tests.
 *
 *   convert_kv FILE KEY...          one line per key:
 *       KEY = VALUE                      scalars (strings raw)
 *       KEY = ARRAY[TYPE] N: e0 e1 ... e(N-1)   arrays of up to 16 elements
 *       KEY = ARRAY[TYPE] N: e0 e1 e2 ... eN-2 eN-1   longer ones (first 3, last 2)
 *       KEY absent
 *   convert_kv -c FILE_A FILE_B KEY...   "KEY same" or "KEY differs ..." per key
 *   convert_kv -n FILE KEY VALUE         count of elements of array KEY equal to VALUE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "unit.h"

/* Open and parse path into *g, or exit 1. */
static void open_gguf(const char *path, struct wf_gguf *g)
{
	unit_gguf(path, g, 1);
}

static void put_elem(const struct wf_gguf_kv *kv, uint32_t t, uint64_t i)
{
	if (t == WF_GGUF_STRING) {
		fwrite(kv->strs[i].ptr, 1, kv->strs[i].len, stdout);
	} else if (t == WF_GGUF_FLOAT32 || t == WF_GGUF_FLOAT64) {
		printf("%.9g", wf_gguf_kv_num(kv, i));
	} else if (t == WF_GGUF_BOOL) {
		printf("%s", kv->data[i] ? "true" : "false");
	} else {
		printf("%.0f", wf_gguf_kv_num(kv, i));
	}
}

static void show(const struct wf_gguf *g, const char *key)
{
	const struct wf_gguf_kv *kv = wf_gguf_find(g, key);
	if (!kv) {
		printf("%s absent\n", key);
		return;
	}
	printf("%s = ", key);
	if (kv->type != WF_GGUF_ARRAY) {
		put_elem(kv, kv->type, 0);
	} else {
		printf("ARRAY[%s] %llu:", wf_gguf_vtype_name(kv->atype), (unsigned long long)kv->n);
		for (uint64_t i = 0; i < kv->n; i++) {
			if (kv->n > 16 && i == 3) {
				printf(" ...");
				i = kv->n - 3;
				continue;
			}
			putchar(' ');
			put_elem(kv, kv->atype, i);
		}
	}
	putchar('\n');
}

/* Element size in bytes of a fixed-size type. */
static size_t vsize(uint32_t t)
{
	switch (t) {
	case WF_GGUF_UINT8: case WF_GGUF_INT8: case WF_GGUF_BOOL: return 1;
	case WF_GGUF_UINT16: case WF_GGUF_INT16: return 2;
	case WF_GGUF_UINT32: case WF_GGUF_INT32: case WF_GGUF_FLOAT32: return 4;
	default: return 8;
	}
}

static int same(const struct wf_gguf_kv *a, const struct wf_gguf_kv *b)
{
	if (a->type != b->type || a->atype != b->atype || a->n != b->n)
		return 0;
	uint32_t t = a->type == WF_GGUF_ARRAY ? a->atype : a->type;
	if (t == WF_GGUF_STRING) {
		for (uint64_t i = 0; i < a->n; i++)
			if (a->strs[i].len != b->strs[i].len ||
			    memcmp(a->strs[i].ptr, b->strs[i].ptr, a->strs[i].len) != 0)
				return 0;
		return 1;
	}
	return memcmp(a->data, b->data, a->n * vsize(t)) == 0;
}

int main(int argc, char **argv)
{
	static struct wf_gguf a, b;
	if (argc >= 4 && strcmp(argv[1], "-c") == 0) {
		open_gguf(argv[2], &a);
		open_gguf(argv[3], &b);
		int rc = 0;
		for (int i = 4; i < argc; i++) {
			const struct wf_gguf_kv *x = wf_gguf_find(&a, argv[i]), *y = wf_gguf_find(&b, argv[i]);
			if (!x || !y) {
				printf("%s %s\n", argv[i], !x && !y ? "absent in both" : "absent in one");
				rc = !x && !y ? rc : 1;
			} else if (same(x, y)) {
				printf("%s same\n", argv[i]);
			} else {
				printf("%s differs\n", argv[i]);
				rc = 1;
			}
		}
		return rc;
	}
	if (argc == 5 && strcmp(argv[1], "-n") == 0) {
		open_gguf(argv[2], &a);
		const struct wf_gguf_kv *kv = wf_gguf_find(&a, argv[3]);
		if (!kv || kv->type != WF_GGUF_ARRAY || kv->atype == WF_GGUF_STRING) {
			fprintf(stderr, "%s: not a numeric array\n", argv[3]);
			return 1;
		}
		double want = atof(argv[4]);
		unsigned long long n = 0;
		for (uint64_t i = 0; i < kv->n; i++)
			n += wf_gguf_kv_num(kv, i) == want;
		printf("%llu\n", n);
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: convert_kv FILE KEY... | -c A B KEY... | -n FILE KEY VALUE\n");
		return 2;
	}
	open_gguf(argv[1], &a);
	for (int i = 2; i < argc; i++)
		show(&a, argv[i]);
	return 0;
}
