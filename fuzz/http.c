/*
 * libFuzzer harness for lib/http: any bytes, fed whole and in two parts,
 * must give "need more", a complete head whose pointers lie inside the
 * input, or a refusal with a status and a message -- never a crash, and a
 * final answer must not change when more bytes follow.  The JSON string
 * writer must turn any bytes into valid JSON (checked with lib/json).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"

static void check(const char *p, size_t n, const struct wf_http_req *q, int r, const char *err)
{
	if (r < 0 && (q->status < 400 || q->status > 599 || !err[0]))
		__builtin_trap();
	if (r == 1) {
		if (q->head_len > n || q->target < p || q->target + q->target_len > p + n ||
		    q->path_len > q->target_len || q->n_fields > WF_HTTP_MAX_FIELDS)
			__builtin_trap();
		for (size_t i = 0; i < q->n_fields; i++)
			if (q->fields[i].name < p || q->fields[i].value + q->fields[i].value_len > p + n)
				__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct wf_http_limits lim = {512, 128, 1000};
	struct wf_http_req q;
	char err[256];
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	size_t cut = size ? data[0] % (size + 1) : 0;
	err[0] = 0;
	int r1 = wf_http_parse(p, cut, &lim, &q, err, sizeof err);
	check(p, cut, &q, r1, err);
	err[0] = 0;
	int r2 = wf_http_parse(p, size, &lim, &q, err, sizeof err);
	check(p, size, &q, r2, err);
	if (r1 != 0 && r2 != r1)
		__builtin_trap();

	struct wf_buf b = {0};
	wf_buf_json_str(&b, p, size);
	if (!b.oom) {
		struct wf_json_doc *d = wf_json_parse(b.p, b.len, 0, err, sizeof err);
		if (!d)
			__builtin_trap();
		wf_json_free(d);
	}
	wf_buf_free(&b);
	free(p);
	return 0;
}
