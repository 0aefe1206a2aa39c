/*
 * libFuzzer harness for lib/json: any input must parse or fail with a
 * message, never crash; a parsed tree is walked completely.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json.h"

static size_t walk(const struct wf_json *v, int depth)
{
	size_t n = 1;
	int64_t x;
	if (v->type == WF_JSON_STRING && v->s[v->n] != '\0')
		__builtin_trap();
	if (v->type == WF_JSON_NUMBER)
		(void)wf_json_int(v, INT64_MIN, INT64_MAX, &x);
	if (v->type == WF_JSON_ARRAY || v->type == WF_JSON_OBJECT) {
		if (depth > WF_JSON_DEFAULT_DEPTH)
			__builtin_trap();
		for (uint32_t i = 0; i < v->n; i++) {
			if (v->type == WF_JSON_OBJECT && wf_json_get(v, v->u.kids[i].key) == NULL &&
			    strlen(v->u.kids[i].key) == v->u.kids[i].keylen)
				__builtin_trap();
			n += walk(&v->u.kids[i], depth + 1);
		}
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct wf_json_doc *d = wf_json_parse((const char *)data, size, 0, err, sizeof err);
	if (!d) {
		if (!err[0])
			__builtin_trap();
		return 0;
	}
	walk(wf_json_root(d), 0);
	wf_json_free(d);
	return 0;
}
