/*
 * tokio_read — lib/tokio's record reader against a plain model of it.
 *
 *   tokio_read [SEED [ROUNDS]]
 *
 * Each round makes random records (lengths around the reader's 64 KiB
 * read size and around a random max, bytes that include TABs, NULs and
 * the delimiter's neighbours), writes them to a pipe from a child in
 * random-sized pieces with pauses, and reads them back with
 * wf_reader_next, calling wf_reader_ready in between, for '\n', '\0' and
 * whole-input delimiters, with and without a final delimiter.  Every
 * record must come back whole (or its first max bytes and -1 when longer
 * than max), in order, numbered, then 0 for good.  Prints "ok N rounds",
 * or the first difference and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tokio.h"

static unsigned long long rs = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (unsigned)(rs % n);
}

static int fail(int round, const char *what)
{
	printf("round %d: %s\n", round, what);
	return 1;
}

/* A record length: mostly short, sometimes near max or the read size. */
static size_t rlen(size_t max)
{
	switch (rnd(6)) {
	case 0: return 0;
	case 1: return max + rnd(3) - 1;
	case 2: return 65536 + rnd(5) - 2;
	case 3: return rnd(200000);
	default: return rnd(40);
	}
}

static int one_round(int round)
{
	int delim = rnd(3) == 0 ? '\0' : rnd(4) == 0 ? WF_READ_WHOLE : '\n';
	size_t max = rnd(2) ? 1 + rnd(100) : 1 + rnd(150000);
	int nrec = delim == WF_READ_WHOLE ? 1 : (int)rnd(12);
	int final = delim == WF_READ_WHOLE ? 0 : (int)rnd(2); /* last record without its delimiter */
	size_t *len = calloc((size_t)nrec + 1, sizeof *len), total = 0;
	for (int i = 0; i < nrec; i++)
		total += (len[i] = rlen(max)) + 1;
	char *text = malloc(total + 1);
	size_t at = 0;
	for (int i = 0; i < nrec; i++) {
		for (size_t k = 0; k < len[i]; k++) {
			static const char pool[] = "ab\t \r\x01\xff";
			char c = pool[rnd(sizeof pool)]; /* includes the pool's NUL */
			if (c == delim)
				c = 'x';
			text[at++] = c;
		}
		if (delim != WF_READ_WHOLE && !(final && i == nrec - 1))
			text[at++] = (char)delim;
	}
	if (final && nrec && len[nrec - 1] == 0)
		final = 0, text[at++] = (char)delim; /* an empty last record needs its delimiter */
	int fd[2];
	if (pipe(fd) < 0)
		return fail(round, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		return fail(round, "fork");
	if (pid == 0) { /* the writer: random pieces, short pauses */
		close(fd[0]);
		for (size_t w = 0; w < at;) {
			size_t k = 1 + rnd(rnd(2) ? 16 : 100000);
			if (k > at - w)
				k = at - w;
			ssize_t n = write(fd[1], text + w, k);
			if (n <= 0)
				_exit(1);
			w += (size_t)n;
			if (rnd(8) == 0) {
				struct timespec ts = {0, 200000};
				nanosleep(&ts, NULL);
			}
		}
		_exit(0);
	}
	close(fd[1]);
	FILE *f = fdopen(fd[0], "rb");
	struct wf_reader r;
	wf_reader_init(&r, f, delim, max);
	char *rec, err[256];
	size_t n, off = 0;
	int bad = 0;
	int want = delim == WF_READ_WHOLE ? 1 : nrec;
	for (int i = 0; i < want && !bad; i++) {
		while (rnd(2) && !wf_reader_ready(&r))
			;
		int got = wf_reader_next(&r, &rec, &n, err, sizeof err);
		size_t l = delim == WF_READ_WHOLE ? at : len[i];
		size_t keep = l > max ? max : l;
		if (got != (l > max ? -1 : 1) || r.recno != (unsigned long long)i + 1 || n != keep ||
		    memcmp(rec, text + off, keep) != 0 || rec[n] != '\0') {
			printf("round %d: record %d of %d (len %zu, max %zu, delim %d): got %d, %zu bytes\n", round,
			       i + 1, want, l, max, delim, got, n);
			bad = 1;
		}
		off += l + 1;
	}
	if (!bad && (wf_reader_next(&r, &rec, &n, err, sizeof err) != 0 || !wf_reader_ready(&r) ||
	             wf_reader_next(&r, &rec, &n, err, sizeof err) != 0))
		bad = fail(round, "no end of input after the last record");
	wf_reader_free(&r);
	fclose(f);
	int st;
	waitpid(pid, &st, 0);
	free(len);
	free(text);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		rs = strtoull(argv[1], NULL, 10) * 2654435761u + 1;
	int rounds = argc > 2 ? atoi(argv[2]) : 300;
	for (int i = 0; i < rounds; i++)
		if (one_round(i))
			return 1;
	/* a read error: not a record, said once */
	FILE *d = fopen("/", "r");
	if (d) {
		struct wf_reader r;
		char *rec, err[256];
		size_t n;
		wf_reader_init(&r, d, '\n', 0);
		int a = wf_reader_next(&r, &rec, &n, err, sizeof err);
		int b = wf_reader_next(&r, &rec, &n, err, sizeof err);
		if (a != -1 || !r.failed || strncmp(err, "read error: ", 12) || b != 0)
			return fail(-1, "a read error is not -1 once, then 0");
		wf_reader_free(&r);
		fclose(d);
	}
	printf("ok %d rounds\n", rounds);
	return 0;
}
