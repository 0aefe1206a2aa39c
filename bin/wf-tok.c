/*
 * wf-tok — text records in, token-ID records out (man/wf-tok.1,
 * man/wf-tokens.5).
 *
 *   wf-tok [-m MODEL] [-zwk] [--bos|--no-bos] [--eos|--no-eos] [--special]
 *          [--chat] [--chat-format F] [--system TEXT] [--pre P] [--strict] [FILE...]
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "cli.h"
#include "gguf.h"
#include "image.h"
#include "tokenizer.h"
#include "tokio.h"

#define USAGE "wf-tok [-m MODEL] [-zwk] [--bos|--no-bos] [--eos|--no-eos] [--special] [--chat] " \
              "[--chat-format bitnet|llama3|chatml] [--system TEXT] [--pre llama3|gpt2|default] " \
              "[--max-len BYTES] [--strict] [FILE...]"

enum {
	OPT_BOS = 256, OPT_NO_BOS, OPT_EOS, OPT_NO_EOS, OPT_SPECIAL, OPT_CHAT, OPT_CHAT_FORMAT, OPT_SYSTEM,
	OPT_PRE, OPT_STRICT, OPT_MAXLEN
};

static struct wf_tokenizer *tok;
static int enc_flags, strict, keys, chat_fmt;
static const char *system_msg;
static char *chat_buf;
static size_t chat_cap;
static struct wf_tok_ids ids;
static unsigned long long recno;
static int failures;

/* One record: key handling, chat rendering, encoding, output. */
static void do_record(const char *name, const char *rec, size_t len)
{
	const char *key = NULL;
	size_t keylen = 0;
	char err[512];
	if (keys && (key = wf_rec_key(rec, len, &keylen))) {
		len -= keylen + 1;
		rec += keylen + 1;
	}
	ids.n = 0;
	int r;
	if (chat_fmt != WF_CHAT_NONE) {
		size_t clen, ranges[2 * WF_CHAT_MAX_RANGES], nr;
		if (wf_chat_render(chat_fmt, system_msg, system_msg ? strlen(system_msg) : 0, rec, len, &chat_buf,
		                   &chat_cap, &clen, ranges, &nr))
			die("out of memory");
		r = wf_tok_encode_ex(tok, chat_buf, clen, enc_flags, ranges, nr, &ids, err, sizeof err);
	} else
		r = wf_tok_encode(tok, rec, len, enc_flags, &ids, err, sizeof err);
	if (r) {
		error("%s%srecord %llu: %s", name ? name : "", name ? ": " : "", recno, err);
		failures++;
		ids.n = 0;
	}
	if (wf_write_key(stdout, key, keylen) || wf_write_ids(stdout, ids.ids, ids.n) || putchar('\n') == EOF)
		cli_stdout_failed();
	if (r && strict)
		cli_exit(1);
}

static void do_stream(const char *name, FILE *f, int delim, size_t max_len)
{
	struct wf_reader rd;
	char *rec, err[512];
	size_t len;
	int r;
	wf_reader_init(&rd, f, delim, max_len);
	for (;;) {
		/* what is written goes out before waiting for more input, so a
		 * pipeline answers each record as it comes */
		if (!wf_reader_ready(&rd) && fflush(stdout) == EOF)
			cli_stdout_failed();
		if ((r = wf_reader_next(&rd, &rec, &len, err, sizeof err)) == 0)
			break;
		if (r < 0 && rd.failed) { /* a read error ends this input */
			error("%s: %s", name ? name : "standard input", err);
			failures++;
			break;
		}
		if (r < 0) {
			/* an over-long record: an empty output record (with its
			 * key, when its first bytes hold one), go on */
			size_t keylen = 0;
			const char *key = keys ? wf_rec_key(rec, len, &keylen) : NULL;
			error("%s%s%s", name ? name : "", name ? ": " : "", err);
			failures++;
			if (wf_write_key(stdout, key, keylen) || putchar('\n') == EOF)
				cli_stdout_failed();
			if (strict)
				cli_exit(1);
			continue;
		}
		recno = rd.recno;
		do_record(name, rec, len);
	}
	wf_reader_free(&rd);
}

static long parse_size(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1)
		usage_die("%s: '%s' is not a positive integer", opt, s);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, NULL, 'm'},
		{"whole", no_argument, NULL, 'w'},
		{"keys", no_argument, NULL, 'k'},
		{"null", no_argument, NULL, 'z'},
		{"bos", no_argument, NULL, OPT_BOS},
		{"no-bos", no_argument, NULL, OPT_NO_BOS},
		{"eos", no_argument, NULL, OPT_EOS},
		{"no-eos", no_argument, NULL, OPT_NO_EOS},
		{"special", no_argument, NULL, OPT_SPECIAL},
		{"chat", no_argument, NULL, OPT_CHAT},
		{"chat-format", required_argument, NULL, OPT_CHAT_FORMAT},
		{"system", required_argument, NULL, OPT_SYSTEM},
		{"pre", required_argument, NULL, OPT_PRE},
		{"strict", no_argument, NULL, OPT_STRICT},
		{"max-len", required_argument, NULL, OPT_MAXLEN},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *model_arg = NULL;
	int delim = '\n', bos = -1, eos = -1, special = 0, chat = 0;
	size_t max_len = 0;
	struct wf_tok_opts to = {0};
	char err[512];
	int c;

	cli_init(argc, argv, USAGE);
	while ((c = getopt_long(argc, argv, "m:wkzh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 'w': delim = WF_READ_WHOLE; break;
		case 'z': delim = '\0'; break;
		case 'k': keys = 1; break;
		case OPT_BOS: bos = 1; break;
		case OPT_NO_BOS: bos = 0; break;
		case OPT_EOS: eos = 1; break;
		case OPT_NO_EOS: eos = 0; break;
		case OPT_SPECIAL: special = 1; break;
		case OPT_CHAT: chat = 1; break;
		case OPT_CHAT_FORMAT:
			chat_fmt = wf_chat_from_name(optarg);
			if (chat_fmt == WF_CHAT_NONE)
				usage_die("--chat-format: '%s' is not bitnet, llama3 or chatml", optarg);
			chat = 1;
			break;
		case OPT_SYSTEM: system_msg = optarg; break;
		case OPT_PRE: {
			int p = wf_tok_pre_from_name(optarg);
			if (p < 0)
				usage_die("--pre: '%s' is not llama3, gpt2 or default", optarg);
			to.pre = (enum wf_tok_pre)p;
			break;
		}
		case OPT_STRICT: strict = 1; break;
		case OPT_MAXLEN: max_len = (size_t)parse_size("--max-len", optarg); break;
		case 'h':
			printf("usage: %s\n", USAGE);
			return cli_exit(0);
		default:
			usage_die(NULL);
		}
	}
	if (system_msg && !chat)
		usage_die("--system needs --chat");

	struct wf_model_src src;
	memset(&src, 0, sizeof src);
	if (wf_model_open(model_arg, &src, err, sizeof err) < 0)
		die("%s", err);
	struct wf_gguf g;
	if (wf_gguf_parse(&g, src.base, src.size, err, sizeof err) < 0)
		die("%s: %s", src.name, err);
	tok = wf_tokenizer_load(&g, &to, err, sizeof err);
	if (!tok)
		die("%s: %s", src.name, err);
	if (chat && chat_fmt == WF_CHAT_NONE) {
		struct wf_gguf_str tmpl;
		int r = wf_gguf_get_str(&g, "tokenizer.chat_template", &tmpl, err, sizeof err);
		if (r < 0)
			die("%s: %s", src.name, err);
		if (r == 1)
			die("%s: no chat template in the model (key 'tokenizer.chat_template'); "
			    "name one with --chat-format bitnet|llama3|chatml", src.name);
		chat_fmt = wf_chat_detect(tmpl.ptr, tmpl.len);
		if (chat_fmt == WF_CHAT_NONE)
			die("%s: chat template not recognised (not BitNet, LLaMA 3 or ChatML); "
			    "name one with --chat-format bitnet|llama3|chatml", src.name);
	}
	/* asked for by name, a token the vocabulary lacks is an error, not silently left out */
	if (bos == 1 && wf_tok_bos(tok) < 0)
		die("%s: --bos: the vocabulary has no BOS token", src.name);
	if (eos == 1 && wf_tok_eos(tok) < 0)
		die("%s: --eos: the vocabulary has no EOS token", src.name);
	if (bos < 0)
		bos = wf_tok_add_bos(tok) || (chat_fmt != WF_CHAT_NONE && wf_chat_wants_bos(chat_fmt));
	if (eos < 0)
		eos = wf_tok_add_eos(tok);
	enc_flags = (bos ? WF_ENC_BOS : 0) | (eos ? WF_ENC_EOS : 0) | (special ? WF_ENC_SPECIAL : 0);

	if (optind == argc)
		do_stream(NULL, stdin, delim, max_len);
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "-")) {
			do_stream(NULL, stdin, delim, max_len);
			continue;
		}
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			error("%s: %s", argv[i], strerror(errno));
			failures++;
			continue;
		}
		do_stream(argv[i], f, delim, max_len);
		fclose(f);
	}
	free(ids.ids);
	free(chat_buf);
	wf_tokenizer_free(tok);
	wf_gguf_free(&g);
	wf_model_close(&src);
	return cli_exit(failures ? 1 : 0);
}
