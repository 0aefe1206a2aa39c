/*
 * wf-decode — the worker: token-ID records in, generated token-ID records out.
 *
 *   wf-tok | wf-decode [-m MODEL] [-n N] [options] | wf-detok
 *
 * Each input record (optional "KEY\t", then decimal ids) is a prompt.  The
 * output record is the key, then the generated ids, written and flushed one
 * by one as they are decided, then '\n'.  Bad records are reported on
 * stderr with their number and give an empty output record; the exit
 * status is 1 if any failed (--strict: stop at the first).
 *
 * --parallel N decodes up to N records at once in one context of N
 * sequences (continuous batching, below): output in input order, or with
 * --unordered each record's line as it finishes.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli-model.h"
#include "dlm.h"
#include "gguf.h"
#include "image.h"
#include "kernels.h"
#include "model.h"
#include "sampler.h"
#include "score.h"
#include "tokenizer.h"
#include "tokio.h"

#define USAGE                                                                              \
	"wf-decode [-m MODEL] [-n N] [-t THREADS] [-c CTX] [-b BATCH] [--temp T] [--top-k K]\n" \
	"       [--top-p P] [--min-p P] [--repeat-penalty R] [--repeat-last-n N] [--seed S]\n"    \
	"       [--stop-id ID]... [--ignore-eos] [--echo] [--logits FILE] [--act relu2|silu]\n"   \
	"       [--kv-type f16|f32] [--decode ar|dlm] [--block-size B] [--sub-block S]\n"         \
	"       [--threshold T] [--dlm-mode greedy|iterative|adaptive] [--mask-id ID]\n"          \
	"       [--dlm-attention block-causal|causal] [--strict] [--parallel N] [--unordered]\n" \
	"       [--score | --ppl [--ppl-stride S] | --mc]"

/* Room for at most this many logits (floats) per --logits piece. */
#define LOGITS_PIECE (16u << 20)

enum {
	OPT_TEMP = 256, OPT_TOPK, OPT_TOPP, OPT_MINP, OPT_REP, OPT_REPN, OPT_SEED, OPT_STOP,
	OPT_IGNORE_EOS, OPT_ECHO, OPT_LOGITS, OPT_ACT, OPT_STRICT, OPT_DECODE, OPT_KV,
	OPT_SCORE, OPT_PPL, OPT_PPL_STRIDE, OPT_MC,
	OPT_BLOCK, OPT_SUB, OPT_THR, OPT_DMODE, OPT_MASK, OPT_DATTN, OPT_PARALLEL, OPT_UNORDERED
};

static void put(const char *s)
{
	if (fputs(s, stdout) == EOF)
		cli_stdout_failed();
}

static void put_id(int32_t id, int first)
{
	if (printf(first ? "%d" : " %d", (int)id) < 0)
		cli_stdout_failed();
}

static void flush_out(void)
{
	if (fflush(stdout) == EOF)
		cli_stdout_failed();
}

/* Block diffusion hands over each decided run: write and flush it. */
static int emit_ids(void *ud, int pos, const int32_t *ids, int n)
{
	int *first = ud;
	(void)pos;
	for (int i = 0; i < n; i++, *first = 0)
		put_id(ids[i], *first);
	flush_out();
	return 0;
}

/* --logits files are little-endian float32 on every host. */
static void to_le32(float *x, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &x[i], 4);
		u = __builtin_bswap32(u);
		memcpy(&x[i], &u, 4);
	}
#else
	(void)x, (void)n;
#endif
}

/* An end-of-generation id from tokenizer.ggml.KEY, if present and in range. */
static void add_eog(const struct wf_gguf *g, const char *key, int n_vocab, int32_t *eog, int *n_eog)
{
	uint32_t v;
	char err[256];
	if (wf_gguf_get_u32(g, key, &v, err, sizeof err) == 0 && v < (uint32_t)n_vocab)
		eog[(*n_eog)++] = (int32_t)v;
}

/* ---------------------------------------------------------------------- */
/*
 * --parallel N: continuous batching.  Slot s of the context (sequence s)
 * holds one record at a time.  A record is admitted into the free slot
 * whose cache shares the longest prefix with its prompt, prefilled alone
 * there (the shared prefix skipped), and seeded as the sequential loop
 * seeds every record; then each step samples every busy slot's next id
 * from its own logits and sampler, ends the records that are done, and
 * evaluates the last ids of all the others in one wf_ctx_eval_seqs.  A
 * free slot takes the next record before the next step.  So a record's
 * ids are those the sequential loop gives it.
 *
 * Output in input order: the oldest unwritten record streams its ids as
 * they come; a later one finishing first is rendered to a line and waits
 * in the queue (in input order) until every earlier line is out.
 * --unordered: each record's line is written whole when it finishes.
 */
struct slot {
	int busy;
	unsigned long long recno;
	char *key;            /* the record's key (keyed), copied */
	size_t keylen, keycap;
	int keyed;
	int32_t *hist;        /* [NC + 1]: the prompt hist[0..n), then generated ids, to nh */
	int n, nh;
	long gen;             /* ids generated */
	struct wf_sampler *smp;
	float *pre;           /* [V] logits of the prompt's last position */
	float *lg;            /* the logits the next id comes from (pre or a row of blog) */
	int streaming;        /* its line is being written as it grows */
	unsigned long long qi; /* its place in the output queue */
};

/* A record whose line is not written yet: slot >= 0 while it generates. */
struct qline {
	int slot;
	char *text;
	size_t len;
};

struct par {
	struct wf_ctx *ctx;
	struct wf_reader *rd;
	struct wf_idrec *ir;
	int V, NC, echo, strict, unordered;
	long n_predict;
	uint64_t seed;
	const int32_t *eog;
	int n_eog;
	int N, busy, eof, stop, failures;
	struct slot *sl;
	float *blog;          /* [N][V] */
	int32_t *btok;        /* [N] */
	int *bseq;
	struct qline *q;      /* ring of qcap; q_first is the number of the line at qhead */
	size_t qcap, qhead, qn;
	unsigned long long q_first;
};

/* "KEY\t" (key may be NULL), ids, and '\n' when end. */
static int write_rec(FILE *f, const char *key, size_t keylen, const int32_t *ids, size_t n, int end)
{
	if (wf_write_key(f, key, keylen) < 0 || wf_write_ids(f, ids, n) < 0)
		return -1;
	return end && putc('\n', f) == EOF ? -1 : 0;
}

/* The ids a slot's line shows: the prompt with --echo, then the generated ones. */
static int line_start(const struct par *P, const struct slot *s)
{
	return P->echo ? 0 : s->n;
}

static struct qline *q_at(struct par *P, unsigned long long i)
{
	return &P->q[(P->qhead + (size_t)(i - P->q_first)) % P->qcap];
}

static unsigned long long q_push(struct par *P, int slot, char *text, size_t len)
{
	if (P->qn == P->qcap) {
		size_t cap = P->qcap ? 2 * P->qcap : 16;
		struct qline *q = malloc(cap * sizeof *q);
		if (!q)
			die("out of memory");
		for (size_t i = 0; i < P->qn; i++)
			q[i] = P->q[(P->qhead + i) % P->qcap];
		free(P->q);
		P->q = q;
		P->qcap = cap;
		P->qhead = 0;
	}
	unsigned long long i = P->q_first + P->qn++;
	*q_at(P, i) = (struct qline){slot, text, len};
	return i;
}

/* Drop the line at the head of the queue (written). */
static void q_pop(struct par *P)
{
	free(P->q[P->qhead].text);
	P->qhead = (P->qhead + 1) % P->qcap;
	P->qn--;
	P->q_first++;
}

/* Write the finished lines at the head of the queue; the first record
 * still generating starts streaming (its key and ids so far). */
static void q_drain(struct par *P)
{
	while (P->qn) {
		struct qline *l = &P->q[P->qhead];
		if (l->slot >= 0) {
			struct slot *s = &P->sl[l->slot];
			if (!s->streaming) {
				int st = line_start(P, s);
				if (write_rec(stdout, s->keyed ? s->key : NULL, s->keylen, s->hist + st, (size_t)(s->nh - st), 0) < 0)
					cli_stdout_failed();
				s->streaming = 1;
			}
			break;
		}
		if (fwrite(l->text, 1, l->len, stdout) != l->len)
			cli_stdout_failed();
		q_pop(P);
	}
	flush_out();
}

/* A complete line for a record: written now (--unordered) or queued. */
static void emit_line(struct par *P, const char *key, size_t keylen, const int32_t *ids, size_t n)
{
	if (P->unordered) {
		if (write_rec(stdout, key, keylen, ids, n, 1) < 0)
			cli_stdout_failed();
		flush_out();
		return;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f || write_rec(f, key, keylen, ids, n, 1) < 0 || fclose(f) == EOF)
		die("out of memory");
	q_push(P, -1, text, len);
	q_drain(P);
}

/* Slot si's record is done: its line ends. */
static void finish(struct par *P, int si)
{
	struct slot *s = &P->sl[si];
	int st = line_start(P, s);
	s->busy = 0;
	P->busy--;
	if (s->streaming) {
		put("\n"); /* a streaming record is the queue's head */
		s->streaming = 0;
		q_pop(P);
		q_drain(P);
	} else if (P->unordered) {
		emit_line(P, s->keyed ? s->key : NULL, s->keylen, s->hist + st, (size_t)(s->nh - st));
	} else {
		struct qline *l = q_at(P, s->qi);
		FILE *f = open_memstream(&l->text, &l->len);
		if (!f || write_rec(f, s->keyed ? s->key : NULL, s->keylen, s->hist + st, (size_t)(s->nh - st), 1) < 0 ||
		    fclose(f) == EOF)
			die("out of memory");
		l->slot = -1;
	}
}

/* The next record has arrived whole (or the input has ended). */
static int input_ready(const struct par *P)
{
	return wf_reader_ready(P->rd);
}

/* Read one record: a bad one or one that generates nothing gets its line
 * at once; the others are prefilled into a free slot. */
static void admit_next(struct par *P)
{
	char *rec, err[512];
	size_t len;
	int r = wf_reader_next(P->rd, &rec, &len, err, sizeof err);
	if (r == 0 || (r < 0 && P->rd->failed)) {
		if (r < 0) {
			error("standard input: %s", err);
			P->failures++;
		}
		P->eof = 1;
		return;
	}
	unsigned long long recno = (unsigned long long)P->rd->recno;
	struct wf_idrec *ir = P->ir;
	const char *key = NULL;
	size_t keylen = 0;
	int bad = 1;
	if (r < 0) {
		error("%s", err); /* too long */
		key = wf_rec_key(rec, len, &keylen);
	} else if (wf_idrec_parse(rec, len, (uint32_t)P->V, ir, err, sizeof err) < 0) {
		error("record %llu: %s", recno, err);
		key = ir->key, keylen = ir->keylen;
	} else {
		key = ir->key, keylen = ir->keylen;
		if (P->unordered && !key)
			error("record %llu: no key (--unordered writes lines as records finish; keys tell them apart)",
			      recno);
		else if (ir->n > (size_t)P->NC)
			error("record %llu: prompt of %zu tokens does not fit in the context of %d", recno, ir->n,
			      P->NC);
		else
			bad = 0;
	}
	if (bad) {
		emit_line(P, key, keylen, NULL, 0);
		P->failures++;
		P->stop |= P->strict;
		return;
	}
	int n = (int)ir->n;
	if (n == 0 || P->n_predict == 0) {
		emit_line(P, key, keylen, ir->ids, P->echo ? ir->n : 0);
		return;
	}
	/* the free slot sharing the longest prefix (the lowest on ties) */
	int si = -1, best = -1;
	for (int i = 0; i < P->N; i++) {
		int k = P->sl[i].busy ? -1 : wf_ctx_shared_prefix(P->ctx, i, ir->ids, n);
		if (k > best)
			best = k, si = i;
	}
	struct slot *s = &P->sl[si];
	wf_ctx_set_seq(P->ctx, si);
	int kept = wf_ctx_reuse_prefix(P->ctx, ir->ids, n);
	if (wf_ctx_decode(P->ctx, ir->ids + kept, n - kept, s->pre, err, sizeof err) < 0) {
		error("record %llu: %s", recno, err);
		emit_line(P, key, keylen, ir->ids, P->echo ? ir->n : 0);
		P->failures++;
		P->stop |= P->strict;
		return;
	}
	if (key && keylen > s->keycap) {
		char *k = realloc(s->key, keylen);
		if (!k)
			die("out of memory");
		s->key = k, s->keycap = keylen;
	}
	if (key)
		memcpy(s->key, key, keylen);
	s->keyed = key != NULL, s->keylen = keylen;
	memcpy(s->hist, ir->ids, (size_t)n * sizeof *s->hist);
	s->n = s->nh = n;
	s->gen = 0;
	s->recno = recno;
	s->lg = s->pre;
	wf_sampler_seed(s->smp, P->seed);
	s->busy = 1;
	P->busy++;
	if (!P->unordered) {
		s->qi = q_push(P, si, NULL, 0);
		q_drain(P);
	}
}

/* One id for every busy slot; the records going on take one batched step. */
static void step(struct par *P)
{
	char err[512];
	int nb = 0;
	for (int si = 0; si < P->N; si++) {
		struct slot *s = &P->sl[si];
		if (!s->busy)
			continue;
		int32_t t = wf_sampler_sample(s->smp, s->lg, s->hist, s->nh);
		int end = 0;
		for (int e = 0; e < P->n_eog; e++)
			end |= t == P->eog[e];
		if (end) {
			finish(P, si);
			continue;
		}
		s->hist[s->nh++] = t;
		s->gen++;
		if (s->streaming)
			put_id(t, s->nh - 1 == line_start(P, s));
		wf_ctx_set_seq(P->ctx, si);
		if ((P->n_predict >= 0 && s->gen == P->n_predict) || wf_ctx_n_past(P->ctx) >= P->NC) {
			finish(P, si);
			continue;
		}
		P->btok[nb] = t;
		P->bseq[nb++] = si;
	}
	flush_out();
	if (nb && wf_ctx_eval_seqs(P->ctx, P->btok, P->bseq, nb, P->blog, err, sizeof err) < 0) {
		for (int j = 0; j < nb; j++) {
			error("record %llu: %s", P->sl[P->bseq[j]].recno, err);
			P->failures++;
			finish(P, P->bseq[j]);
		}
		return;
	}
	for (int j = 0; j < nb; j++)
		P->sl[P->bseq[j]].lg = P->blog + (size_t)j * P->V;
}

/* The record loop of --parallel; returns the number of failed records. */
static int run_parallel(struct par *P, const struct wf_sampler_params *sp)
{
	char err[512];
	P->sl = calloc((size_t)P->N, sizeof *P->sl);
	P->blog = malloc((size_t)P->N * (size_t)P->V * sizeof *P->blog);
	P->btok = malloc((size_t)P->N * sizeof *P->btok);
	P->bseq = malloc((size_t)P->N * sizeof *P->bseq);
	if (!P->sl || !P->blog || !P->btok || !P->bseq)
		die("out of memory");
	for (int i = 0; i < P->N; i++) {
		struct slot *s = &P->sl[i];
		s->hist = malloc(((size_t)P->NC + 1) * sizeof *s->hist);
		s->pre = malloc((size_t)P->V * sizeof *s->pre);
		s->smp = wf_sampler_new(sp, P->V, err, sizeof err);
		if (!s->hist || !s->pre)
			die("out of memory");
		if (!s->smp)
			die("%s", err);
	}
	for (;;) {
		while (!P->eof && !P->stop && P->busy < P->N && (P->busy == 0 || input_ready(P)))
			admit_next(P);
		if (!P->busy)
			break;
		step(P);
	}
	for (int i = 0; i < P->N; i++) {
		free(P->sl[i].key);
		free(P->sl[i].hist);
		free(P->sl[i].pre);
		wf_sampler_free(P->sl[i].smp);
	}
	free(P->sl);
	free(P->blog);
	free(P->btok);
	free(P->bseq);
	free(P->q);
	return P->failures;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, NULL, 'm'},
		{"n-predict", required_argument, NULL, 'n'},
		{"threads", required_argument, NULL, 't'},
		{"ctx-size", required_argument, NULL, 'c'},
		{"batch-size", required_argument, NULL, 'b'},
		{"temp", required_argument, NULL, OPT_TEMP},
		{"top-k", required_argument, NULL, OPT_TOPK},
		{"top-p", required_argument, NULL, OPT_TOPP},
		{"min-p", required_argument, NULL, OPT_MINP},
		{"repeat-penalty", required_argument, NULL, OPT_REP},
		{"repeat-last-n", required_argument, NULL, OPT_REPN},
		{"seed", required_argument, NULL, OPT_SEED},
		{"stop-id", required_argument, NULL, OPT_STOP},
		{"ignore-eos", no_argument, NULL, OPT_IGNORE_EOS},
		{"echo", no_argument, NULL, OPT_ECHO},
		{"logits", required_argument, NULL, OPT_LOGITS},
		{"act", required_argument, NULL, OPT_ACT},
		{"decode", required_argument, NULL, OPT_DECODE},
		{"strict", no_argument, NULL, OPT_STRICT},
		{"kv-type", required_argument, NULL, OPT_KV},
		{"score", no_argument, NULL, OPT_SCORE},
		{"ppl", no_argument, NULL, OPT_PPL},
		{"ppl-stride", required_argument, NULL, OPT_PPL_STRIDE},
		{"mc", no_argument, NULL, OPT_MC},
		{"block-size", required_argument, NULL, OPT_BLOCK},
		{"sub-block", required_argument, NULL, OPT_SUB},
		{"threshold", required_argument, NULL, OPT_THR},
		{"dlm-mode", required_argument, NULL, OPT_DMODE},
		{"mask-id", required_argument, NULL, OPT_MASK},
		{"dlm-attention", required_argument, NULL, OPT_DATTN},
		{"parallel", required_argument, NULL, OPT_PARALLEL},
		{"unordered", no_argument, NULL, OPT_UNORDERED},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *model_arg = NULL, *logits_path = NULL;
	long n_predict = 128, n_threads = 0, n_ctx = 0, n_batch = 0;
	int score_mode = 0; /* lib/score: OPT_SCORE, OPT_PPL or OPT_MC */
	long ppl_stride = 0;
	int echo = 0, strict = 0, kv_f16 = 0, ignore_eos = 0, act = WF_ACT_DEFAULT, have_seed = 0;
	long parallel = 1;
	int unordered = 0;
	uint64_t seed = 0;
	int32_t stop[64];
	int n_stop = 0;
	struct wf_sampler_params sp;
	struct wf_dlm_params dp;
	const char *dlm_opt = NULL;
	int dlm = 0;
	char err[512];
	int c;

	cli_init(argc, argv, USAGE);
	wf_sampler_defaults(&sp);
	wf_dlm_params_unset(&dp);
	while ((c = getopt_long(argc, argv, "m:n:t:c:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 'n': n_predict = parse_long("-n", optarg, -1, INT_MAX); break;
		case 't': n_threads = parse_long("-t", optarg, 1, 256); break;
		case 'c': n_ctx = parse_long("-c", optarg, 1, 1 << 24); break;
		case 'b': n_batch = parse_long("-b", optarg, 1, 1 << 16); break;
		case OPT_TEMP: sp.temp = parse_float("--temp", optarg); break;
		case OPT_TOPK: sp.top_k = (int)parse_long("--top-k", optarg, 0, INT_MAX); break;
		case OPT_TOPP: sp.top_p = parse_float("--top-p", optarg); break;
		case OPT_MINP: sp.min_p = parse_float("--min-p", optarg); break;
		case OPT_REP: sp.repeat_penalty = parse_float("--repeat-penalty", optarg); break;
		case OPT_REPN: sp.repeat_last_n = (int)parse_long("--repeat-last-n", optarg, 0, INT_MAX); break;
		case OPT_SEED: {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-')
				usage_die("--seed: '%s' is not a non-negative integer", optarg);
			seed = v;
			have_seed = 1;
			break;
		}
		case OPT_STOP:
			if (n_stop == (int)(sizeof stop / sizeof *stop))
				usage_die("--stop-id: at most %d", (int)(sizeof stop / sizeof *stop));
			stop[n_stop++] = (int32_t)parse_long("--stop-id", optarg, 0, INT32_MAX);
			break;
		case OPT_IGNORE_EOS: ignore_eos = 1; break;
		case OPT_ECHO: echo = 1; break;
		case OPT_LOGITS: logits_path = optarg; break;
		case OPT_ACT:
			act = wf_act_parse(optarg);
			if (act < 0)
				usage_die("--act: '%s' is not relu2 or silu", optarg);
			break;
		case OPT_DECODE:
			if (strcmp(optarg, "ar") && strcmp(optarg, "dlm"))
				usage_die("--decode: '%s' is not ar or dlm", optarg);
			dlm = !strcmp(optarg, "dlm");
			break;
		case OPT_BLOCK: dp.block_size = (int)parse_long("--block-size", optarg, 1, 65536), dlm_opt = "--block-size"; break;
		case OPT_SUB: dp.sub_block = (int)parse_long("--sub-block", optarg, 1, 65536), dlm_opt = "--sub-block"; break;
		case OPT_THR:
			dp.threshold = parse_float("--threshold", optarg);
			if (!(dp.threshold >= 0 && dp.threshold <= 1))
				usage_die("--threshold: %s is not in [0, 1]", optarg);
			dlm_opt = "--threshold";
			break;
		case OPT_DMODE:
			if ((dp.mode = wf_dlm_mode_parse(optarg)) < 0)
				usage_die("--dlm-mode: '%s' is not greedy, iterative or adaptive", optarg);
			dlm_opt = "--dlm-mode";
			break;
		case OPT_MASK: dp.mask_id = (int32_t)parse_long("--mask-id", optarg, 0, INT32_MAX), dlm_opt = "--mask-id"; break;
		case OPT_DATTN:
			if ((dp.attn = wf_dlm_attn_parse(optarg, strlen(optarg))) < 0)
				usage_die("--dlm-attention: '%s' is not block-causal or causal", optarg);
			dlm_opt = "--dlm-attention";
			break;
		case OPT_STRICT: strict = 1; break;
		case OPT_PARALLEL: parallel = parse_long("--parallel", optarg, 1, 256); break;
		case OPT_UNORDERED: unordered = 1; break;
		case OPT_KV:
			if (strcmp(optarg, "f16") && strcmp(optarg, "f32"))
				usage_die("--kv-type: '%s' is not f16 or f32", optarg);
			kv_f16 = !strcmp(optarg, "f16");
			break;
		case OPT_SCORE: case OPT_PPL: case OPT_MC:
			if (score_mode && score_mode != c)
				usage_die("--score, --ppl and --mc exclude each other");
			score_mode = c;
			break;
		case OPT_PPL_STRIDE: ppl_stride = parse_long("--ppl-stride", optarg, 1, 1 << 24); break;
		case 'h':
			printf("usage: %s\n", USAGE);
			return cli_exit(0);
		default:
			usage_die(NULL);
		}
	}
	if (optind < argc)
		usage_die("unexpected argument '%s'", argv[optind]);
	if (ppl_stride && score_mode != OPT_PPL)
		usage_die("--ppl-stride goes with --ppl");
	if (ppl_stride && n_ctx && ppl_stride >= n_ctx)
		usage_die("--ppl-stride: %ld is not below the window -c %ld", ppl_stride, n_ctx);
	if (wf_sampler_check(&sp, err, sizeof err) < 0)
		usage_die("%s", err);
	if (score_mode && (logits_path || echo))
		usage_die("%s: not with %s (they write what generation makes)", logits_path ? "--logits" : "--echo",
		          score_mode == OPT_SCORE ? "--score" : score_mode == OPT_PPL ? "--ppl" : "--mc");
	if (dlm_opt && !dlm)
		usage_die("%s: only with --decode dlm", dlm_opt);
	if (dlm && (sp.temp > 0 || sp.repeat_penalty != 1 || logits_path || score_mode))
		usage_die("--decode dlm: block diffusion is greedy generation (no --temp, --repeat-penalty, "
		          "--logits, --score, --ppl, --mc)");
	if (parallel > 1 || unordered) {
		/* only autoregressive generation is batched */
		const char *other = dlm ? "--decode dlm" : score_mode == OPT_SCORE ? "--score"
		                  : score_mode == OPT_PPL ? "--ppl" : score_mode == OPT_MC ? "--mc"
		                  : logits_path ? "--logits" : NULL;
		if (other && parallel > 1)
			usage_die("--parallel %ld: not with %s (only generation is batched; use --parallel 1)", parallel,
			          other);
		if (other)
			usage_die("--unordered: not with %s (only generation is batched)", other);
	}
	if (parallel > 1 && n_batch && parallel > n_batch)
		usage_die("--parallel %ld: more than the batch of %ld tokens (-b)", parallel, n_batch);
	if (!have_seed)
		seed = 0x5eed; /* a fixed default: runs are reproducible unless --seed says otherwise */

	struct wf_model_src src;
	struct wf_gguf g;
	struct wf_model *m = cli_model_load(model_arg, act, &src, &g);
	const struct wf_hparams *hp = wf_model_hparams(m);
	int V = hp->n_vocab;
	for (int i = 0; i < n_stop; i++)
		if (stop[i] >= V)
			usage_die("--stop-id: %d is out of range [0, %d)", (int)stop[i], V);
	struct wf_ctx *ctx = wf_ctx_new_seqs(m, (int)n_ctx, (int)n_batch, (int)n_threads, (int)parallel, err,
	                                     sizeof err);
	if (!ctx)
		die("%s: %s", src.name, err);
	if (parallel > wf_ctx_n_batch(ctx))
		usage_die("--parallel %ld: more than the batch of %d tokens (-b, or the context -c)", parallel,
		          wf_ctx_n_batch(ctx));
	if (ppl_stride && ppl_stride >= wf_ctx_n_ctx(ctx))
		usage_die("--ppl-stride: %ld is not below the window of %d (-c)", ppl_stride, wf_ctx_n_ctx(ctx));
	wf_ctx_set_kv_f16(ctx, kv_f16);
	struct wf_dlm *dl = NULL;
	if (dlm) {
		if (dp.mask_id >= V)
			usage_die("--mask-id: %d is out of range [0, %d)", (int)dp.mask_id, V);
		if (wf_dlm_resolve(&dp, &g, V, err, sizeof err) < 0 || !(dl = wf_dlm_new(m, ctx, &dp, err, sizeof err)))
			die("%s: %s%s", src.name, err, strncmp(err, "no mask token", 13) ? "" : " (give its id with --mask-id)");
	}
	/* --score, --ppl, --mc: lib/score; formats in wf-decode(1) */
	struct wf_scorer *scorer = NULL;
	struct wf_mc *mc = NULL;
	struct wf_ppl_opts ppl_o = {wf_ctx_n_ctx(ctx), (int)ppl_stride, score_mode == OPT_PPL ? wf_score_model_bos(&g) : -1};
	if (score_mode && !(scorer = wf_scorer_new(ctx, hp->n_vocab, err, sizeof err)))
		die("%s", err);
	if (score_mode == OPT_MC && !(mc = wf_mc_new(scorer, &g, err, sizeof err)))
		die("%s: %s", src.name, err);
	int NC = wf_ctx_n_ctx(ctx);
	struct wf_sampler *smp = wf_sampler_new(&sp, V, err, sizeof err);
	if (!smp)
		die("%s", err);

	/* End of generation: the tokenizer's set (eos, eot, eom and the
	 * end-of-turn control tokens); without a usable vocabulary, the keys. */
	size_t n_tok_eog = 0;
	const int32_t *tok_eog = NULL;
	struct wf_tokenizer *tok = NULL;
	if (!ignore_eos) {
		struct wf_tok_opts to;
		memset(&to, 0, sizeof to);
		to.decode_only = 1;
		tok = wf_tokenizer_load(&g, &to, err, sizeof err);
		if (tok)
			tok_eog = wf_tok_eog(tok, &n_tok_eog);
	}
	int32_t *eog = malloc((n_tok_eog + 3 + (size_t)n_stop) * sizeof *eog);
	int n_eog = 0;
	if (!eog)
		die("out of memory");
	for (size_t i = 0; i < n_tok_eog; i++)
		if (tok_eog[i] >= 0 && tok_eog[i] < V)
			eog[n_eog++] = tok_eog[i];
	if (!ignore_eos && !tok) {
		add_eog(&g, "tokenizer.ggml.eos_token_id", V, eog, &n_eog);
		add_eog(&g, "tokenizer.ggml.eot_token_id", V, eog, &n_eog);
		add_eog(&g, "tokenizer.ggml.eom_token_id", V, eog, &n_eog);
	}
	wf_tokenizer_free(tok);
	for (int i = 0; i < n_stop; i++)
		eog[n_eog++] = stop[i];

	FILE *lf = NULL;
	int lrows = 0;
	float *lbuf = NULL;
	if (logits_path) {
		lf = fopen(logits_path, "ab");
		if (!lf)
			die("%s: %s", logits_path, strerror(errno));
		lrows = (int)(LOGITS_PIECE / (unsigned)V);
		if (lrows < 1)
			lrows = 1;
		if (lrows > wf_ctx_n_batch(ctx))
			lrows = wf_ctx_n_batch(ctx);
	}
	lbuf = malloc((size_t)(lrows > 1 ? lrows : 1) * (size_t)V * sizeof *lbuf);
	float *logits = malloc((size_t)V * sizeof *logits);
	int32_t *hist = malloc(((size_t)NC + 1) * sizeof *hist);
	if (!lbuf || !logits || !hist)
		die("out of memory");

	struct wf_reader rd;
	struct wf_idrec ir = {0};
	wf_reader_init(&rd, stdin, '\n', 0);
	int failures = 0;
	char *rec;
	size_t len;
	int r;
	int batched = parallel > 1 || unordered;
	if (batched) {
		struct par P = {0};
		P.ctx = ctx, P.rd = &rd, P.ir = &ir, P.V = V, P.NC = NC;
		P.echo = echo, P.strict = strict, P.unordered = unordered;
		P.n_predict = n_predict, P.seed = seed, P.eog = eog, P.n_eog = n_eog, P.N = (int)parallel;
		failures = run_parallel(&P, &sp);
	}
	while (!batched && mc && (r = wf_reader_next(&rd, &rec, &len, err, sizeof err)) != 0) {
		if (r < 0 && rd.failed) {
			error("standard input: %s", err);
			failures++;
			break;
		}
		struct wf_mc_result res = {0};
		int ok = r > 0 && wf_mc_eval(mc, rec, len, &res, err, sizeof err) == 0;
		if (r < 0)
			error("%s", err); /* too long */
		else if (!ok)
			error("record %llu: %s", (unsigned long long)rd.recno, err);
		if (wf_mc_fprint(stdout, &res, (unsigned long long)rd.recno, ok) < 0)
			cli_stdout_failed();
		flush_out();
		failures += !ok;
		if (!ok && strict)
			break;
	}
	while (!batched && !mc && (r = wf_reader_next(&rd, &rec, &len, err, sizeof err)) != 0) {
		unsigned long long recno = (unsigned long long)rd.recno;
		const char *key = NULL;
		size_t keylen = 0;
		int bad = 0;
		if (r < 0 && rd.failed) {
			error("standard input: %s", err);
			failures++;
			break;
		}
		if (r < 0) {
			error("%s", err); /* too long */
			key = wf_rec_key(rec, len, &keylen);
			bad = 1;
		} else if (wf_idrec_parse(rec, len, (uint32_t)V, &ir, err, sizeof err) < 0) {
			error("record %llu: %s", recno, err);
			key = ir.key, keylen = ir.keylen;
			bad = 1;
		} else {
			key = ir.key, keylen = ir.keylen;
			if (!score_mode && ir.n > (size_t)NC) {
				error("record %llu: prompt of %zu tokens does not fit in the context of %d", recno,
				      ir.n, NC);
				bad = 1;
			}
		}
		if (key && wf_write_key(stdout, key, keylen) < 0)
			cli_stdout_failed();
		if (bad) {
			put("\n");
			flush_out();
			failures++;
			if (strict)
				break;
			continue;
		}
		if (score_mode) {
			struct wf_ppl pr;
			int ok = score_mode == OPT_PPL ? wf_ppl_eval(scorer, ir.ids, ir.n, &ppl_o, &pr, err, sizeof err)
			                               : wf_score_ids(scorer, ir.ids, ir.n, err, sizeof err);
			if (ok < 0)
				error("record %llu: %s", recno, err);
			else if ((score_mode == OPT_PPL ? wf_ppl_fprint(&pr, stdout) : wf_score_fprint(scorer, stdout)) < 0)
				cli_stdout_failed();
			put("\n");
			flush_out();
			failures += ok < 0;
			if (ok < 0 && strict)
				break;
			continue;
		}
		int n = (int)ir.n, first = 1;
		memcpy(hist, ir.ids, (size_t)n * sizeof *hist);
		if (echo) {
			for (int i = 0; i < n; i++, first = 0)
				put_id(hist[i], first);
		}
		int want_gen = n > 0 && n_predict != 0;
		int ok = 0;
		if (dl) {
			if (want_gen && wf_dlm_run(dl, hist, n, n_predict, eog, n_eog, emit_ids, &first, NULL, err,
			                           sizeof err) < 0) {
				error("record %llu: %s", recno, err);
				failures++;
			}
			put("\n");
			flush_out();
			continue;
		}
		if (n > 0 && lf) {
			/* every prompt position's logits, in pieces of lrows */
			wf_ctx_truncate(ctx, 0);
			for (int done = 0; done < n && ok == 0;) {
				int k = n - done < lrows ? n - done : lrows;
				struct wf_eval e = {hist + done, k, WF_ATTN_CAUSAL, 1, 0, lbuf};
				ok = wf_ctx_eval(ctx, &e, err, sizeof err);
				if (ok < 0)
					break;
				if (done + k == n) /* the last row, for generation */
					memcpy(logits, lbuf + (size_t)(k - 1) * V, (size_t)V * sizeof *logits);
				to_le32(lbuf, (size_t)k * V);
				if (fwrite(lbuf, sizeof(float), (size_t)k * V, lf) != (size_t)k * V)
					die("%s: %s", logits_path, strerror(errno));
				done += k;
			}
			if (fflush(lf) == EOF)
				die("%s: %s", logits_path, strerror(errno));
		} else if (want_gen) {
			int kept = wf_ctx_reuse_prefix(ctx, hist, n);
			ok = wf_ctx_decode(ctx, hist + kept, n - kept, logits, err, sizeof err);
		}
		if (ok < 0) {
			error("record %llu: %s", recno, err);
			put("\n");
			flush_out();
			failures++;
			if (strict)
				break;
			continue;
		}
		int nh = n;
		wf_sampler_seed(smp, seed);
		for (long i = 0; want_gen && (n_predict < 0 || i < n_predict); i++) {
			int32_t t = wf_sampler_sample(smp, logits, hist, nh);
			int end = 0;
			for (int e = 0; e < n_eog; e++)
				end |= t == eog[e];
			if (end)
				break;
			put_id(t, first);
			first = 0;
			flush_out();
			hist[nh++] = t;
			if ((n_predict >= 0 && i + 1 == n_predict) || wf_ctx_n_past(ctx) >= NC)
				break;
			if (wf_ctx_decode(ctx, &t, 1, logits, err, sizeof err) < 0) {
				error("record %llu: %s", recno, err);
				failures++;
				break;
			}
		}
		put("\n");
		flush_out();
	}
	if (lf && fclose(lf) == EOF)
		die("%s: %s", logits_path, strerror(errno));
	wf_reader_free(&rd);
	wf_idrec_free(&ir);
	free(lbuf);
	free(logits);
	free(hist);
	free(eog);
	wf_sampler_free(smp);
	wf_dlm_free(dl);
	wf_mc_free(mc);
	wf_scorer_free(scorer);
	wf_ctx_free(ctx);
	wf_model_free(m);
	wf_gguf_free(&g);
	wf_model_close(&src);
	return cli_exit(failures ? 1 : 0);
}
