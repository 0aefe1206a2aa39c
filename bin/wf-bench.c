/*
 * wf-bench — prompt-processing and generation throughput, like llama-bench.
 *
 *   wf-bench [-m MODEL] [-p 128] [-n 64] [-t 1,2] [-r 5] [--json]
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
#include "gguf.h"
#include "image.h"
#include "kernels.h"
#include "model.h"

#define USAGE "wf-bench [-m MODEL] [-p N[,N...]] [-n N[,N...]] [-t N[,N...]] [-r REPS] [-c CTX] [--act relu2|silu] [--json]"

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
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *model_arg = NULL;
	int pp[MAXL] = {128}, tg[MAXL] = {64}, th[MAXL] = {0};
	int npp = 1, ntg = 1, nth = 1, reps = 5, json = 0, act = WF_ACT_DEFAULT;
	long n_ctx = 0;
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
		case 'j': json = 1; break;
		case 'h':
			printf("usage: %s\n", USAGE);
			return cli_exit(0);
		default:
			usage_die(NULL);
		}
	}
	if (optind < argc)
		usage_die("unexpected argument '%s'", argv[optind]);
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
		th[0] = nc > 0 ? (int)nc : 1;
	}

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
	double tl = now();
	struct wf_model *m = wf_model_load(&g, &mo, err, sizeof err);
	if (!m)
		die("%s: %s", src.name, err);
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
					       "\"reps\": %d, \"avg_ts\": %.3f, \"stddev_ts\": %.3f, \"load_s\": %.3f}",
					       first ? "" : ",", desc, (unsigned long long)hp->n_bytes,
					       (unsigned long long)hp->n_params, wf_kernels_name(), th[ti], test, n, reps,
					       mean, sd, tl);
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
