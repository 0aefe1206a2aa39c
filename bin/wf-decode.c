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
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
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
	"       [--dlm-attention block-causal|causal] [--strict]\n"                               \
	"       [--score | --ppl [--ppl-stride S] | --mc]"

/* Room for at most this many logits (floats) per --logits piece. */
#define LOGITS_PIECE (16u << 20)

enum {
	OPT_TEMP = 256, OPT_TOPK, OPT_TOPP, OPT_MINP, OPT_REP, OPT_REPN, OPT_SEED, OPT_STOP,
	OPT_IGNORE_EOS, OPT_ECHO, OPT_LOGITS, OPT_ACT, OPT_STRICT, OPT_DECODE, OPT_KV,
	OPT_SCORE, OPT_PPL, OPT_PPL_STRIDE, OPT_MC,
	OPT_BLOCK, OPT_SUB, OPT_THR, OPT_DMODE, OPT_MASK, OPT_DATTN
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
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *model_arg = NULL, *logits_path = NULL;
	long n_predict = 128, n_threads = 0, n_ctx = 0, n_batch = 0;
	int score_mode = 0; /* lib/score: OPT_SCORE, OPT_PPL or OPT_MC */
	long ppl_stride = 0;
	int echo = 0, strict = 0, kv_f16 = 0, ignore_eos = 0, act = WF_ACT_DEFAULT, have_seed = 0;
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
	if (dlm_opt && !dlm)
		usage_die("%s: only with --decode dlm", dlm_opt);
	if (dlm && (sp.temp > 0 || sp.repeat_penalty != 1 || logits_path || score_mode))
		usage_die("--decode dlm: block diffusion is greedy generation (no --temp, --repeat-penalty, "
		          "--logits, --score, --ppl, --mc)");
	if (!have_seed)
		seed = 0x5eed; /* a fixed default: runs are reproducible unless --seed says otherwise */

	if (wf_kernels_init(NULL, err, sizeof err) < 0)
		die("%s", err);
	struct wf_model_src src;
	memset(&src, 0, sizeof src);
	if (wf_model_open(model_arg, &src, err, sizeof err) < 0)
		die("%s", err);
	struct wf_gguf g;
	if (wf_gguf_parse(&g, src.base, src.size, err, sizeof err) < 0)
		die("%s: %s", src.name, err);
	struct wf_model_opts mo = {act, NULL, NULL};
	struct wf_model *m = wf_model_load(&g, &mo, err, sizeof err);
	if (!m)
		die("%s: %s", src.name, err);
	const struct wf_hparams *hp = wf_model_hparams(m);
	int V = hp->n_vocab;
	for (int i = 0; i < n_stop; i++)
		if (stop[i] >= V)
			usage_die("--stop-id: %d is out of range [0, %d)", (int)stop[i], V);
	struct wf_ctx *ctx = wf_ctx_new(m, (int)n_ctx, (int)n_batch, (int)n_threads, err, sizeof err);
	if (!ctx)
		die("%s: %s", src.name, err);
	wf_ctx_set_kv_f16(ctx, kv_f16);
	struct wf_dlm *dl = NULL;
	if (dlm) {
		if (dp.mask_id >= V)
			usage_die("--mask-id: %d is out of range [0, %d)", (int)dp.mask_id, V);
		if (wf_dlm_resolve(&dp, &g, V, err, sizeof err) < 0 || !(dl = wf_dlm_new(m, ctx, &dp, err, sizeof err)))
			die("%s: %s", src.name, err);
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
	while (mc && (r = wf_reader_next(&rd, &rec, &len, err, sizeof err)) != 0) {
		struct wf_mc_result res = {0};
		int ok = r > 0 && wf_mc_eval(mc, rec, len, &res, err, sizeof err) == 0;
		if (!ok)
			error("record %llu: %s", (unsigned long long)rd.recno, err);
		if (wf_mc_fprint(stdout, &res, (unsigned long long)rd.recno, ok) < 0)
			cli_stdout_failed();
		flush_out();
		failures += !ok;
		if (!ok && strict)
			break;
	}
	while (!mc && (r = wf_reader_next(&rd, &rec, &len, err, sizeof err)) != 0) {
		unsigned long long recno = (unsigned long long)rd.recno;
		const char *key = NULL;
		size_t keylen = 0;
		int bad = 0;
		if (r < 0) {
			error("record %llu: %s", recno, err);
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
