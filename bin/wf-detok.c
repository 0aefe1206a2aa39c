/*
 * wf-detok — token-ID records in, text out, streamed (man/wf-detok.1,
 * man/wf-tokens.5).
 *
 *   wf-detok [-m MODEL] [-e|-j|-z] [--special] [--strict] [FILE...]
 *
 * Input is read with read(2) in chunks.  A record whose newline is already
 * in hand is handled whole (so a bad ID yields an empty output record).  A
 * record still arriving (wf-decode writing while it generates) is streamed:
 * its key is known at its TAB, and a record whose first bytes are an ID and
 * a space has no key; from then on each ID's piece is printed as soon as
 * its bytes complete UTF-8 characters.  Output is flushed whenever input
 * has to be waited for, when standard output is a pipe or a terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "gguf.h"
#include "image.h"
#include "tokenizer.h"
#include "tokio.h"
#include "unicode.h"

#define USAGE "wf-detok [-m MODEL] [-e|-j|-z] [--special] [--strict] [FILE...]"

enum { OPT_SPECIAL = 256, OPT_STRICT };
enum { MODE_RAW, MODE_ESC, MODE_JSON, MODE_NUL };

static struct wf_tokenizer *tok;
static uint32_t n_vocab;
static int mode = MODE_RAW, special, strict, interactive, failures;
static const char *in_name;   /* for messages; NULL for standard input */

/* The record in progress. */
static unsigned long long recno;
static enum { UNDECIDED, STREAMING } state;
static char *line;            /* UNDECIDED: the bytes so far */
static size_t line_len, line_cap;
static size_t line_scanned;   /* UNDECIDED: line[0, line_scanned) holds no TAB */
static int skipping;          /* STREAMING: a bad ID was seen, drop the rest */
static uint64_t acc;          /* STREAMING: the ID being read */
static size_t acc_digits, acc_bad, tok_index;
static char acc_text[24];     /* STREAMING: the token's first bytes, for messages */
static size_t acc_len;
static int first_id, strip_space;
static char pend[8];          /* bytes of an incomplete UTF-8 character */
static size_t pend_n;
static struct wf_idrec idrec;

static void out_bytes(const char *s, size_t n)
{
	if (n && fwrite(s, 1, n, stdout) != n)
		cli_stdout_failed();
}

/* Text bytes, valid UTF-8, escaped for the output mode. */
static void out_text(const char *s, size_t n)
{
	if (mode == MODE_RAW || mode == MODE_NUL) {
		out_bytes(s, n);
		return;
	}
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		const char *e = NULL;
		if (c == '\n') e = "\\n";
		else if (c == '\t') e = "\\t";
		else if (c == '\r') e = "\\r";
		else if (c == '\\') e = "\\\\";
		else if (c == '"' && mode == MODE_JSON) e = "\\\"";
		else if (c < 0x20 || (c == 0x7f && mode == MODE_ESC)) {
			snprintf(esc, sizeof esc, mode == MODE_JSON ? "\\u%04x" : "\\x%02x", c);
			e = esc;
		}
		if (e) {
			out_bytes(s + run, i - run);
			out_bytes(e, strlen(e));
			run = i + 1;
		}
	}
	out_bytes(s + run, n - run);
}

/* Any bytes: complete characters out, never-valid bytes as U+FFFD. */
static void out_sanitized(const char *s, size_t n)
{
	size_t i = 0, run = 0;
	while (i < n) {
		uint32_t cp;
		size_t l = wf_utf8_next(s + i, n - i, &cp);
		if (cp != WF_U_BAD) {
			i += l;
			continue;
		}
		out_text(s + run, i - run);
		out_text("\xef\xbf\xbd", 3);
		i += wf_utf8_bad_len(s + i, n - i);
		run = i;
	}
	out_text(s + run, n - run);
}

static void begin_record(const char *key, size_t keylen)
{
	pend_n = 0;
	first_id = 1;
	strip_space = 0;
	if (mode == MODE_JSON) {
		out_bytes("{", 1);
		if (key) {
			out_bytes("\"key\":\"", 7);
			out_sanitized(key, keylen);
			out_bytes("\",", 2);
		}
		out_bytes("\"text\":\"", 8);
	} else if (key) {
		out_bytes(key, keylen);
		out_bytes("\t", 1);
	}
}

static void emit_id(int32_t id)
{
	size_t n;
	if (first_id) {
		first_id = 0;
		/* an SPM text that starts with BOS had a space put in front */
		strip_space = wf_tok_add_space_prefix(tok) && id == wf_tok_bos(tok);
	}
	const char *p = wf_tok_piece(tok, id, special, &n);
	if (!p || !n)
		return;
	/* the space is the text's: BOS's own text (--special) is passed over */
	if (strip_space && wf_tok_type(tok, id) != WF_TOKTYPE_CONTROL) {
		strip_space = 0;
		if (p[0] == ' ') {
			p++;
			n--;
		}
	}
	while (n) {
		size_t k = sizeof pend - pend_n;
		if (k > n)
			k = n;
		memcpy(pend + pend_n, p, k);
		pend_n += k;
		p += k;
		n -= k;
		size_t ready = wf_utf8_complete(pend, pend_n);
		out_sanitized(pend, ready);
		memmove(pend, pend + ready, pend_n - ready);
		pend_n -= ready;
	}
}

static void end_record(void)
{
	out_sanitized(pend, pend_n);
	pend_n = 0;
	if (mode == MODE_JSON)
		out_bytes("\"}\n", 3);
	else
		out_bytes(mode == MODE_NUL ? "" : "\n", 1);
}

static void record_failed(const char *msg)
{
	error("%s%srecord %llu: %s", in_name ? in_name : "", in_name ? ": " : "", recno, msg);
	failures++;
}

static void strict_exit(void)
{
	if (strict)
		cli_exit(1);
}

/* A record whose every byte is in hand. */
static void whole_record(const char *s, size_t n)
{
	char err[256];
	recno++;
	if (wf_idrec_parse(s, n, n_vocab, &idrec, err, sizeof err)) {
		record_failed(err);
		begin_record(idrec.key, idrec.keylen);
		end_record();
		strict_exit();
		return;
	}
	begin_record(idrec.key, idrec.keylen);
	for (size_t i = 0; i < idrec.n; i++)
		emit_id(idrec.ids[i]);
	end_record();
}

static void start_stream(const char *key, size_t keylen)
{
	recno++;
	state = STREAMING;
	skipping = 0;
	acc = acc_digits = acc_bad = acc_len = tok_index = 0;
	begin_record(key, keylen);
}

/* The ID read so far ends here. */
static void stream_token_end(void)
{
	if (!acc_digits && !acc_bad)
		return;
	tok_index++;
	char msg[160];
	if (acc_bad) {
		char q[4 * 20 + 4];
		snprintf(msg, sizeof msg, "token %zu: '%s' is not a token id", tok_index,
		         wf_quote(q, sizeof q, acc_text, acc_len, 20));
		record_failed(msg);
		skipping = 1;
	} else if (acc >= n_vocab) {
		snprintf(msg, sizeof msg, "token %zu: id %llu out of range [0, %u)", tok_index,
		         (unsigned long long)acc, n_vocab);
		record_failed(msg);
		skipping = 1;
	} else
		emit_id((int32_t)acc);
	acc = acc_digits = acc_bad = acc_len = 0;
	if (skipping && strict) {
		/* the text so far stays; the record is ended, as without --strict */
		end_record();
		cli_exit(1);
	}
}

/* Feed streamed bytes of the current record (no newline among them). */
static void stream_bytes(const char *s, size_t n)
{
	for (size_t i = 0; i < n && !skipping; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c != ' ') {
			if (acc_len < sizeof acc_text)
				acc_text[acc_len] = (char)c;
			acc_len++;
		}
		if (c >= '0' && c <= '9') {
			if (acc > 0x7fffffffu)
				acc_bad = 1;
			else
				acc = acc * 10 + (c - '0');
			acc_digits++;
			if (acc > 0x7fffffffu)
				acc_bad = 1;
		} else if (c == ' ')
			stream_token_end();
		else
			acc_bad = 1; /* the token ends at the next space or newline */
	}
}

static void stream_end(void)
{
	if (!skipping)
		stream_token_end();
	end_record();
	state = UNDECIDED;
}

static void line_append(const char *s, size_t n)
{
	if (line_len + n + 1 > line_cap) {
		size_t c = line_cap ? line_cap : 4096;
		while (c < line_len + n + 1)
			c *= 2;
		char *p = realloc(line, c);
		if (!p)
			die("out of memory");
		line = p;
		line_cap = c;
	}
	memcpy(line + line_len, s, n);
	line_len += n;
}

/* UNDECIDED at the end of the input in hand: start streaming if the
 * record's key (or its absence) is known. */
static void decide(void)
{
	/* only the new bytes are searched: a long line arriving in many reads
	 * is not searched again and again */
	const char *tab = memchr(line + line_scanned, '\t', line_len - line_scanned);
	line_scanned = line_len;
	if (tab) {
		size_t k = (size_t)(tab - line);
		start_stream(line, k);
		stream_bytes(tab + 1, line_len - k - 1);
		line_len = line_scanned = 0;
		return;
	}
	size_t i = 0;
	while (i < line_len && line[i] >= '0' && line[i] <= '9')
		i++;
	if (i == 0 || i == line_len || line[i] != ' ')
		return;
	start_stream(NULL, 0);
	stream_bytes(line, line_len);
	line_len = line_scanned = 0;
}

static void process(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - s) : n;
		if (state == STREAMING) {
			stream_bytes(s + i, end - i);
			if (nl)
				stream_end();
		} else {
			line_append(s + i, end - i);
			if (nl) {
				whole_record(line, line_len);
				line_len = line_scanned = 0;
			}
		}
		i = nl ? end + 1 : n;
	}
	if (state == UNDECIDED && line_len)
		decide();
}

static void do_fd(int fd)
{
	static char buf[1 << 16];
	recno = 0;
	for (;;) {
		if (interactive && fflush(stdout))
			cli_stdout_failed();
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			error("%s: read error: %s", in_name ? in_name : "standard input", strerror(errno));
			failures++;
			break;
		}
		if (r == 0)
			break;
		process(buf, (size_t)r);
	}
	/* a last record without a newline */
	if (state == STREAMING)
		stream_end();
	else if (line_len) {
		whole_record(line, line_len);
		line_len = line_scanned = 0;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, NULL, 'm'},
		{"escape", no_argument, NULL, 'e'},
		{"json", no_argument, NULL, 'j'},
		{"null", no_argument, NULL, 'z'},
		{"special", no_argument, NULL, OPT_SPECIAL},
		{"strict", no_argument, NULL, OPT_STRICT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *model_arg = NULL;
	char err[512];
	int c;

	cli_init(argc, argv, USAGE);
	while ((c = getopt_long(argc, argv, "m:ejzh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 'e': mode = MODE_ESC; break;
		case 'j': mode = MODE_JSON; break;
		case 'z': mode = MODE_NUL; break;
		case OPT_SPECIAL: special = 1; break;
		case OPT_STRICT: strict = 1; break;
		case 'h':
			printf("usage: %s\n", USAGE);
			return cli_exit(0);
		default:
			usage_die(NULL);
		}
	}
	struct wf_model_src src;
	memset(&src, 0, sizeof src);
	if (wf_model_open(model_arg, &src, err, sizeof err) < 0)
		die("%s", err);
	struct wf_gguf g;
	if (wf_gguf_parse(&g, src.base, src.size, err, sizeof err) < 0)
		die("%s: %s", src.name, err);
	struct wf_tok_opts to = {0};
	to.decode_only = 1;
	tok = wf_tokenizer_load(&g, &to, err, sizeof err);
	if (!tok)
		die("%s: %s", src.name, err);
	n_vocab = wf_tok_n_vocab(tok);

	struct stat st;
	interactive = fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
	                                                 S_ISCHR(st.st_mode));

	if (optind == argc)
		do_fd(STDIN_FILENO);
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "-")) {
			in_name = NULL;
			do_fd(STDIN_FILENO);
			continue;
		}
		int fd = open(argv[i], O_RDONLY);
		if (fd < 0) {
			error("%s: %s", argv[i], strerror(errno));
			failures++;
			continue;
		}
		in_name = argv[i];
		do_fd(fd);
		close(fd);
	}
	free(line);
	wf_idrec_free(&idrec);
	wf_tokenizer_free(tok);
	wf_gguf_free(&g);
	wf_model_close(&src);
	return cli_exit(failures ? 1 : 0);
}
