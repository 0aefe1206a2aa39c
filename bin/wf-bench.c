/*
 * wf-bench — prompt-processing and generation throughput, like llama-bench.
 *
 *   wf-bench [-m MODEL] [-p 128] [-n 64] [-t 1,2] [-r 5] [--kv-type f32|f16] [--json]
 *
 * ppP: P random token ids evaluated as one batch from an empty context,
 * logits of the last only; tgN: N tokens decoded one at a time from an
 * empty context.  Each test runs once to warm up, then -r times; the table
 * shows the mean and standard deviation of tokens per second.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli-model.h"
#include "dlm.h"
#include "gguf.h"
#include "image.h"
#include "kernels.h"
#include "model.h"
#include "sampler.h"

#define USAGE                                                                                         \
	"wf-bench [-m MODEL] [-p N[,N...]] [-n N[,N...]] [-t N[,N...]] [-r REPS] [-c CTX] [--act relu2|silu]\n" \
	"       [--kv-type f32|f16] [--json] [--decode dlm [--threshold T[,T...]] [--prompt FILE]]\n" \
	"       (-m --model, -p --n-prompt, -n --n-gen, -t --threads, -r --repetitions, -c --ctx-size)"

#define MAXL 16

static int parse_list(const char *opt, const char *s, int *out, int lo)
{
	int n = 0;
	const char *p = s;
	for (;;) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (errno || end == p || v < lo || v > (1 << 20) || n == MAXL || (*end && *end != ','))
			usage_die("%s: '%s' is not a list of integers >= %d", opt, s, lo);
		out[n++] = (int)v;
		if (!*end)
			return n;
		p = end + 1;
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct result {
	const char *test;
	int n, threads;
	double mean, sd;
};

/* Seconds for one run of the test. */
static double run_once(struct wf_ctx *c, int pp, int n, const int32_t *toks, float *logits)
{
	char err[256];
	wf_ctx_truncate(c, 0);
	double t0 = now();
	if (pp) {
		if (wf_ctx_decode(c, toks, n, logits, err, sizeof err) < 0)
			die("%s", err);
	} else {
		for (int i = 0; i < n; i++)
			if (wf_ctx_decode(c, toks + i, 1, logits, err, sizeof err) < 0)
				die("%s", err);
	}
	return now() - t0;
}

/* Thresholds "0.5,0.9" into out[]: their count. */
static int parse_flist(const char *s, float *out)
{
	int n = 0;
	const char *p = s;
	for (;;) {
		char *end;
		errno = 0;
		float v = strtof(p, &end);
		if ((errno && !(errno == ERANGE && v < 1)) || end == p || !(v >= 0 && v <= 1) || n == MAXL || (*end && *end != ','))
			usage_die("--threshold: '%s' is not a list of numbers in [0, 1]", s);
		out[n++] = v;
		if (!*end)
			return n;
		p = end + 1;
	}
}

struct dlm_sink {
	int32_t *out;
	int n;
};

static int dlm_collect(void *ud, int pos, const int32_t *ids, int n)
{
	struct dlm_sink *k = ud;
	(void)pos;
	memcpy(k->out + k->n, ids, (size_t)n * sizeof *ids);
	k->n += n;
	return 0;
}

/*
 * --decode dlm: for the prompt, n tokens autoregressively (greedy) and by
 * block diffusion at each threshold; per row the forward passes per
 * generated token, tokens per second (mean over reps after a warm-up, the
 * prompt included) and the perplexity of the generated tokens scored
 * autoregressively by the same model.
 */
static void bench_dlm(const struct wf_model *m, const struct wf_gguf *g, const char *name, const int32_t *prompt,
                      int L, int n, int threads, int reps, const float *thr, int nthr, int json, int n_ctx,
                      int kv_f16)
{
	char err[512];
	const int V = wf_model_hparams(m)->n_vocab;
	struct wf_dlm_params dp;
	wf_dlm_params_unset(&dp);
	if (wf_dlm_resolve(&dp, g, V, err, sizeof err) < 0)
		die("%s: %s", name, err);
	if (n_ctx < L + n + 1)
		n_ctx = L + n + 1;
	if (n_ctx < dp.block_size)
		n_ctx = dp.block_size;
	/* the batch must hold a block: the default, min(256, n_ctx), or the block */
	struct wf_ctx *c = wf_ctx_new(m, n_ctx, dp.block_size > 256 ? dp.block_size : 0, threads, err, sizeof err);
	if (!c)
		die("%s: %s", name, err);
	wf_ctx_set_kv_f16(c, kv_f16);
	int32_t *seq = malloc((size_t)(L + n + 1) * sizeof *seq);
	float *lg = malloc((size_t)(n > 0 ? n : 1) * (size_t)V * sizeof *lg);
	if (!seq || !lg)
		die("out of memory");
	memcpy(seq, prompt, (size_t)L * sizeof *seq);
	if (!json) {
		printf("| decode | threshold | block | prompt | tokens | passes | passes/token | t/s | ppl |\n");
		printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	} else {
		printf("[");
	}
	for (int row = -1; row < nthr; row++) {
		struct wf_dlm *d = NULL;
		if (row >= 0) {
			dp.threshold = thr[row];
			if (!(d = wf_dlm_new(m, c, &dp, err, sizeof err)))
				die("%s: %s", name, err);
		}
		struct wf_dlm_stats st = {0};
		double sum = 0, sq = 0;
		for (int r = 0; r <= reps; r++) {
			wf_ctx_truncate(c, 0);
			double t0 = now();
			int got = 0;
			if (d) {
				struct dlm_sink k = {seq + L, 0};
				if (wf_dlm_run(d, prompt, L, n, NULL, 0, dlm_collect, &k, &st, err, sizeof err) < 0)
					die("%s", err);
				got = k.n;
			} else {
				st.n_passes = 0;
				if (wf_ctx_decode(c, prompt, L, lg, err, sizeof err) < 0)
					die("%s", err);
				for (st.n_passes = 1; got < n; got++) {
					seq[L + got] = wf_argmax(lg, V);
					if (got + 1 < n) {
						if (wf_ctx_decode(c, seq + L + got, 1, lg, err, sizeof err) < 0)
							die("%s", err);
						st.n_passes++;
					}
				}
			}
			double ts = got / (now() - t0);
			if (r > 0) /* the first is the warm-up */
				sum += ts, sq += ts * ts;
		}
		double mean = sum / reps;
		double sd = reps > 1 ? sqrt(fmax(0, (sq - reps * mean * mean) / (reps - 1))) : 0;
		/* perplexity of seq[L, L+n) given what precedes it, causally */
		wf_ctx_truncate(c, 0);
		struct wf_eval ev = {seq, L + n - 1, WF_ATTN_CAUSAL, 1, L - 1, lg};
		if (n > 0 && wf_ctx_eval(c, &ev, err, sizeof err) < 0)
			die("%s", err);
		double nll = 0;
		for (int i = 0; i < n; i++) {
			const float *rw = lg + (size_t)i * V;
			float mx = rw[wf_argmax(rw, V)];
			double z = 0;
			for (int j = 0; j < V; j++)
				z += exp((double)rw[j] - mx);
			nll += log(z) - ((double)rw[seq[L + i]] - mx);
		}
		double ppl = n > 0 ? exp(nll / n) : 0;
		char tbuf[16] = "-";
		if (d)
			snprintf(tbuf, sizeof tbuf, "%.2f", (double)thr[row]);
		if (json)
			printf("%s\n  {\"decode\": \"%s\", \"threshold\": %s, \"block_size\": %d, \"prompt\": %d, "
			       "\"tokens\": %d, \"passes\": %d, \"passes_per_token\": %.4f, \"avg_ts\": %.3f, "
			       "\"stddev_ts\": %.3f, \"ppl\": %.4f, \"threads\": %d, \"kernels\": \"%s\"}",
			       row < 0 ? "" : ",", d ? "dlm" : "ar", d ? tbuf : "null", d ? dp.block_size : 1, L, n,
			       st.n_passes, n ? (double)st.n_passes / n : 0, mean, sd, ppl, threads, wf_kernels_name());
		else
			printf("| %s | %s | %d | %d | %d | %d | %.3f | %.2f ± %.2f | %.3f |\n", d ? "dlm" : "ar", tbuf,
			       d ? dp.block_size : 1, L, n, st.n_passes, n ? (double)st.n_passes / n : 0, mean, sd, ppl);
		if (fflush(stdout) == EOF)
			cli_stdout_failed();
		wf_dlm_free(d);
	}
	if (json)
		printf("\n]\n");
	free(seq);
	free(lg);
	wf_ctx_free(c);
}

/* Whitespace-separated token ids from path into a new array: the count. */
static int read_prompt(const char *path, int V, int32_t **out)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	int n = 0, cap = 0;
	long v;
	int32_t *a = NULL;
	while (fscanf(f, "%ld", &v) == 1) {
		if (v < 0 || v >= V)
			die("%s: token %d: id %ld out of range [0, %d)", path, n + 1, v, V);
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			if (!(a = realloc(a, (size_t)cap * sizeof *a)))
				die("out of memory");
		}
		a[n++] = (int32_t)v;
	}
	if (!feof(f) || n == 0)
		die("%s: expected token ids", path);
	fclose(f);
	*out = a;
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, NULL, 'm'},
		{"n-prompt", required_argument, NULL, 'p'},
		{"n-gen", required_argument, NULL, 'n'},
		{"threads", required_argument, NULL, 't'},
		{"repetitions", required_argument, NULL, 'r'},
		{"ctx-size", required_argument, NULL, 'c'},
		{"act", required_argument, NULL, 'a'},
		{"kv-type", required_argument, NULL, 'K'},
		{"json", no_argument, NULL, 'j'},
		{"decode", required_argument, NULL, 'D'},
		{"threshold", required_argument, NULL, 'T'},
		{"prompt", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *model_arg = NULL;
	int pp[MAXL] = {128}, tg[MAXL] = {64}, th[MAXL] = {0};
	int npp = 1, ntg = 1, nth = 1, reps = 5, json = 0, act = WF_ACT_DEFAULT;
	long n_ctx = 0;
	int dlm = 0, nthr = 5, kv_f16 = 0, thr_given = 0;
	float thr[MAXL] = {0.5f, 0.7f, 0.8f, 0.9f, 0.95f};
	const char *prompt_path = NULL;
	char err[512];
	int c;

	cli_init(argc, argv, USAGE);
	(void)error;
	while ((c = getopt_long(argc, argv, "m:p:n:t:r:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 'p': npp = parse_list("-p", optarg, pp, 0); break;
		case 'n': ntg = parse_list("-n", optarg, tg, 0); break;
		case 't': nth = parse_list("-t", optarg, th, 1); break;
		case 'r': {
			int r[MAXL];
			if (parse_list("-r", optarg, r, 1) != 1)
				usage_die("-r: one count");
			reps = r[0];
			break;
		}
		case 'c': {
			int r[MAXL];
			if (parse_list("-c", optarg, r, 1) != 1)
				usage_die("-c: one size");
			n_ctx = r[0];
			break;
		}
		case 'a':
			act = wf_act_parse(optarg);
			if (act < 0)
				usage_die("--act: '%s' is not relu2 or silu", optarg);
			break;
		case 'K':
			if (strcmp(optarg, "f32") && strcmp(optarg, "f16"))
				usage_die("--kv-type: '%s' is not f16 or f32", optarg);
			kv_f16 = !strcmp(optarg, "f16");
			break;
		case 'j': json = 1; break;
		case 'D':
			if (strcmp(optarg, "ar") && strcmp(optarg, "dlm"))
				usage_die("--decode: '%s' is not ar or dlm", optarg);
			dlm = !strcmp(optarg, "dlm");
			break;
		case 'T': nthr = parse_flist(optarg, thr), thr_given = 1; break;
		case 'P': prompt_path = optarg; break;
		case 'h':
			printf("usage: %s\n", USAGE);
			return cli_exit(0);
		default:
			usage_die(NULL);
		}
	}
	if (optind < argc)
		usage_die("unexpected argument '%s'", argv[optind]);
	for (int i = 0; i < nth; i++)
		if (th[i] > 256)
			usage_die("-t: %d threads; at most 256", th[i]);
	if (!dlm && (thr_given || prompt_path))
		usage_die("%s: only with --decode dlm", prompt_path ? "--prompt" : "--threshold");
	int need = 1;
	for (int i = 0; i < npp; i++)
		need = pp[i] > need ? pp[i] : need;
	for (int i = 0; i < ntg; i++)
		need = tg[i] > need ? tg[i] : need;
	if (n_ctx == 0)
		n_ctx = need;
	if (n_ctx < need)
		usage_die("-c %ld is smaller than the longest test (%d)", n_ctx, need);
	if (th[0] == 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		th[0] = nc > 256 ? 256 : nc > 0 ? (int)nc : 1;
	}

	struct wf_model_src src;
	struct wf_gguf g;
	double tl = now();
	struct wf_model *m = cli_model_load(model_arg, act, &src, &g);
	tl = now() - tl;
	const struct wf_hparams *hp = wf_model_hparams(m);
	int32_t *toks = malloc((size_t)need * sizeof *toks);
	float *logits = malloc((size_t)hp->n_vocab * sizeof *logits);
	if (!toks || !logits)
		die("out of memory");
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < need; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		toks[i] = (int32_t)(x % (uint64_t)hp->n_vocab);
	}
	if (dlm) {
		int32_t *pr = NULL;
		int L = prompt_path ? read_prompt(prompt_path, hp->n_vocab, &pr) : (pp[0] > 0 ? pp[0] : 1);
		bench_dlm(m, &g, src.name, pr ? pr : toks, L, tg[0], th[0], reps, thr, nthr, json, (int)n_ctx, kv_f16);
		free(pr);
		free(toks);
		free(logits);
		wf_model_free(m);
		wf_gguf_free(&g);
		wf_model_close(&src);
		return cli_exit(0);
	}

	char desc[128];
	snprintf(desc, sizeof desc, "%s %dL %s", hp->arch, hp->n_layer, wf_ggml_type_name(hp->wtype));
	double gib = (double)hp->n_bytes / (1024.0 * 1024 * 1024);
	double params = (double)hp->n_params / 1e9;
	if (!json) {
		printf("| model | size | params | backend | threads | test | t/s |\n");
		printf("| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
		fflush(stdout);
	} else {
		printf("[");
	}
	int first = 1;
	for (int ti = 0; ti < nth; ti++) {
		struct wf_ctx *ctx = wf_ctx_new(m, (int)n_ctx, need, th[ti], err, sizeof err);
		if (!ctx)
			die("%s: %s", src.name, err);
		wf_ctx_set_kv_f16(ctx, kv_f16);
		for (int kind = 0; kind < 2; kind++) {
			int *ns = kind == 0 ? pp : tg, nn = kind == 0 ? npp : ntg;
			for (int k = 0; k < nn; k++) {
				int n = ns[k];
				if (n == 0)
					continue;
				run_once(ctx, kind == 0, n, toks, logits); /* warm-up */
				double sum = 0, sq = 0;
				for (int r = 0; r < reps; r++) {
					double ts = n / run_once(ctx, kind == 0, n, toks, logits);
					sum += ts;
					sq += ts * ts;
				}
				double mean = sum / reps;
				double sd = reps > 1 ? sqrt(fmax(0, (sq - reps * mean * mean) / (reps - 1))) : 0;
				char test[32];
				snprintf(test, sizeof test, "%s%d", kind == 0 ? "pp" : "tg", n);
				if (json) {
					printf("%s\n  {\"model\": \"%s\", \"size_bytes\": %llu, \"params\": %llu, "
					       "\"kernels\": \"%s\", \"threads\": %d, \"test\": \"%s\", \"n_tokens\": %d, "
					       "\"kv_type\": \"%s\", \"reps\": %d, \"avg_ts\": %.3f, \"stddev_ts\": %.3f, "
					       "\"load_s\": %.3f}",
					       first ? "" : ",", desc, (unsigned long long)hp->n_bytes,
					       (unsigned long long)hp->n_params, wf_kernels_name(), th[ti], test, n,
					       kv_f16 ? "f16" : "f32", reps, mean, sd, tl);
				} else {
					printf("| %s | %.2f GiB | %.2f B | CPU %s | %d | %s | %.2f ± %.2f |\n", desc, gib,
					       params, wf_kernels_name(), th[ti], test, mean, sd);
				}
				first = 0;
				if (fflush(stdout) == EOF)
					cli_stdout_failed();
			}
		}
		wf_ctx_free(ctx);
	}
	if (json)
		printf("\n]\n");
	free(toks);
	free(logits);
	wf_model_free(m);
	wf_gguf_free(&g);
	wf_model_close(&src);
	return cli_exit(0);
}
