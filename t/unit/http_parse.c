/*
 * http_parse — drive lib/http's request parser from the bats suite.
 *
 *   http_parse [-H MAX_HEAD] [-T MAX_TARGET] [-B MAX_BODY] [-f] < REQUEST
 *
 * Feeds standard input to wf_http_parse() one byte at a time (as a slow
 * client would), then prints one line:
 *   "more"                              the head is incomplete
 *   "refused STATUS: MESSAGE"           refused (exit 1)
 *   "ok METHOD TARGET path=P 1.M head=N length=L keep-alive=K expect=E fields=F"
 * and with -f each field as "NAME: VALUE".  It checks that the answer never
 * changes once it is final (complete or refused) as bytes keep coming.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"

int main(int argc, char **argv)
{
	struct wf_http_limits lim = {16384, 8192, 1 << 20};
	int c, fields = 0;
	while ((c = getopt(argc, argv, "H:T:B:f")) != -1) {
		switch (c) {
		case 'H': lim.max_head = strtoul(optarg, NULL, 10); break;
		case 'T': lim.max_target = strtoul(optarg, NULL, 10); break;
		case 'B': lim.max_body = strtoull(optarg, NULL, 10); break;
		case 'f': fields = 1; break;
		default: return 2;
		}
	}
	size_t cap = 1 << 16, len = 0, k;
	char *buf = malloc(cap);
	while (buf && (k = fread(buf + len, 1, cap - len, stdin)) > 0) {
		len += k;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (!buf)
		return 1;
	struct wf_http_req q;
	char err[256];
	int r = 0, final = -2;
	size_t at = 0;
	for (size_t n = 0; n <= len; n++) {
		/* a private copy of exactly n bytes, so reading past it is caught by ASan */
		char *p = malloc(n ? n : 1);
		memcpy(p, buf, n);
		r = wf_http_parse(p, n, &lim, &q, err, sizeof err);
		free(p);
		if (final != -2 && r != final) {
			printf("answer changed from %d to %d at byte %zu (final at %zu)\n", final, r, n, at);
			return 3;
		}
		if (r != 0 && final == -2) {
			final = r;
			at = n;
		}
	}
	/* the last answer, on the whole input (pointers into buf) */
	r = wf_http_parse(buf, len, &lim, &q, err, sizeof err);
	if (r == 0)
		printf("more\n");
	else if (r < 0) {
		printf("refused %d: %s\n", q.status, err);
		free(buf);
		return 1;
	} else {
		printf("ok %s %.*s path=%.*s 1.%d head=%zu length=%llu keep-alive=%d expect=%d fields=%zu\n", q.method,
		       (int)q.target_len, q.target, (int)q.path_len, q.target, q.minor, q.head_len,
		       (unsigned long long)q.content_length, q.keep_alive, q.expect_continue, q.n_fields);
		if (fields)
			for (size_t i = 0; i < q.n_fields; i++)
				printf("%.*s: %.*s\n", (int)q.fields[i].name_len, q.fields[i].name, (int)q.fields[i].value_len,
				       q.fields[i].value);
	}
	free(buf);
	return 0;
}
