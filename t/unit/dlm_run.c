/*
 * dlm_run MODEL [options] < prompts — drive lib/dlm directly, for tests.
 *
 * Each stdin line is a prompt (decimal ids).  Per prompt it prints:
 *   with --trace, one line per forward pass:
 *       "prefill 0 P[ POS:ID]", "denoise S E POS:ID...", "clean 0 E POS:ID"
 *     (golden.json's bd_trace in the same words);
 *   with --emits, one line per hand-over: "emit POS N" and, with --trace,
 *     interleaved with the passes, so the order of decisions and output shows;
 *   "gen ID ID ..." — the tokens handed over;
 *   "passes N prefill A denoise B clean C finish F";
 *   with --check-cache, "cache ok" when, after the run, the cache holds no
 *     mask id, its tokens are the prompt followed by the tokens handed over
 *     (or decided past an end token), and one probe position evaluated on it
 *     gives the same logits, bit for bit, as on a fresh context that
 *     evaluated the same tokens causally; else "cache bad: why".
 * Options: --block-size B --sub-block S --threshold T --mode M --mask-id ID
 *   --attn block-causal|causal -n N --eog ID (repeatable) -c CTX -b BATCH
 *   --taus (print "tau T" before each denoise pass: its threshold)
 *   --kv-f16 (keys and values rounded to F16)
 *   --stop-after K (the emit callback says stop once K tokens were handed over)
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlm.h"
#include "gguf.h"
#include "kernels.h"
#include "model.h"

static char err[512];
static int show_trace, show_emits, show_taus;
static int32_t gen[1 << 16];
static int n_gen, stop_after = -1;

static void die(const char *what)
{
	fprintf(stderr, "dlm_run: %s: %s\n", what, err);
	exit(1);
}

static void on_pass(void *ud, const struct wf_dlm_pass *ps)
{
	(void)ud;
	if (show_taus && ps->kind == WF_DLM_DENOISE)
		printf("tau %.2f\n", (double)ps->threshold);
	if (!show_trace)
		return;
	static const char *kinds[] = {"prefill", "denoise", "clean"};
	printf("%s %d %d", kinds[ps->kind], ps->start, ps->end);
	for (int i = 0; i < ps->n_fixed; i++)
		printf(" %d:%d", (int)ps->pos[i], (int)ps->id[i]);
	printf("\n");
}

static int on_emit(void *ud, int pos, const int32_t *ids, int n)
{
	(void)ud;
	if (show_emits)
		printf("emit %d %d\n", pos, n);
	for (int i = 0; i < n; i++)
		gen[n_gen++] = ids[i];
	return stop_after >= 0 && n_gen >= stop_after ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: dlm_run MODEL [options] < prompts\n");
		return 2;
	}
	struct wf_dlm_params p;
	wf_dlm_params_unset(&p);
	long n_predict = 64;
	int check_cache = 0, kv_f16 = 0, n_ctx = 0, n_batch = 0, n_eog = 0;
	int32_t eog[16];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(a, "--trace"))
			show_trace = 1;
		else if (!strcmp(a, "--taus"))
			show_taus = 1;
		else if (!strcmp(a, "--emits"))
			show_emits = 1;
		else if (!strcmp(a, "--kv-f16"))
			kv_f16 = 1;
		else if (!strcmp(a, "--check-cache"))
			check_cache = 1;
		else if (!strcmp(a, "--block-size"))
			p.block_size = atoi(v), i++;
		else if (!strcmp(a, "--sub-block"))
			p.sub_block = atoi(v), i++;
		else if (!strcmp(a, "--threshold"))
			p.threshold = strtof(v, NULL), i++;
		else if (!strcmp(a, "--mode"))
			p.mode = wf_dlm_mode_parse(v), i++;
		else if (!strcmp(a, "--mask-id"))
			p.mask_id = atoi(v), i++;
		else if (!strcmp(a, "--attn"))
			p.attn = wf_dlm_attn_parse(v, strlen(v)), i++;
		else if (!strcmp(a, "-n"))
			n_predict = atol(v), i++;
		else if (!strcmp(a, "-c"))
			n_ctx = atoi(v), i++;
		else if (!strcmp(a, "-b"))
			n_batch = atoi(v), i++;
		else if (!strcmp(a, "--eog") && n_eog < 16)
			eog[n_eog++] = atoi(v), i++;
		else if (!strcmp(a, "--stop-after"))
			stop_after = atoi(v), i++;
		else {
			fprintf(stderr, "dlm_run: unknown option %s\n", a);
			return 2;
		}
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0)
		return perror(argv[1]), 1;
	void *buf = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (buf == MAP_FAILED)
		return perror("mmap"), 1;
	struct wf_gguf g;
	if (wf_kernels_init(NULL, err, sizeof err) < 0)
		die("kernels");
	if (wf_gguf_parse(&g, buf, (size_t)sb.st_size, err, sizeof err) < 0)
		die(argv[1]);
	struct wf_model *m = wf_model_load(&g, NULL, err, sizeof err);
	if (!m)
		die(argv[1]);
	int V = wf_model_hparams(m)->n_vocab;
	if (wf_dlm_resolve(&p, &g, V, err, sizeof err) < 0)
		die("resolve");
	struct wf_ctx *c = wf_ctx_new(m, n_ctx, n_batch, 1, err, sizeof err);
	if (!c)
		die("ctx");
	wf_ctx_set_kv_f16(c, kv_f16);
	struct wf_dlm *d = wf_dlm_new(m, c, &p, err, sizeof err);
	if (!d)
		die("dlm");
	wf_dlm_set_trace(d, on_pass, NULL);
	char line[1 << 16];
	int32_t prompt[1 << 14];
	float *l1 = malloc((size_t)V * sizeof *l1), *l2 = malloc((size_t)V * sizeof *l2);
	struct wf_ctx *fresh = check_cache ? wf_ctx_new(m, n_ctx, n_batch, 1, err, sizeof err) : NULL;
	if (!l1 || !l2 || (check_cache && !fresh))
		die("alloc");
	if (fresh)
		wf_ctx_set_kv_f16(fresh, kv_f16);
	while (fgets(line, sizeof line, stdin)) {
		int L = 0;
		for (char *s = strtok(line, " \t\n"); s && L < (int)(sizeof prompt / sizeof *prompt); s = strtok(NULL, " \t\n"))
			prompt[L++] = atoi(s);
		n_gen = 0;
		struct wf_dlm_stats st;
		int rc = wf_dlm_run(d, prompt, L, n_predict, eog, n_eog, on_emit, NULL, &st, err, sizeof err);
		if (rc < 0)
			printf("error: %s\n", err);
		printf("gen");
		for (int i = 0; i < n_gen; i++)
			printf(" %d", (int)gen[i]);
		printf("\npasses %d prefill %d denoise %d clean %d finish %d\n", st.n_passes, st.n_prefill,
		       st.n_denoise, st.n_clean, st.finish);
		if (check_cache) {
			int np = wf_ctx_n_past(c);
			const int32_t *t = wf_ctx_tokens(c);
			const char *why = NULL;
			for (int i = 0; i < np && !why; i++) {
				if (t[i] == p.mask_id)
					why = "a mask id in the cache";
				else if (i < L ? t[i] != prompt[i] : (i - L < n_gen && t[i] != gen[i - L]))
					why = "cached tokens differ from the prompt and output";
			}
			wf_ctx_truncate(fresh, 0);
			int32_t probe = 1;
			struct wf_eval e1 = {&probe, 1, WF_ATTN_CAUSAL, 0, 0, l1}, e2 = e1;
			e2.logits = l2;
			if (!why && np < wf_ctx_n_ctx(c)) {
				if (wf_ctx_decode(fresh, t, np, NULL, err, sizeof err) < 0 ||
				    wf_ctx_eval(c, &e1, err, sizeof err) < 0 || wf_ctx_eval(fresh, &e2, err, sizeof err) < 0)
					die("probe");
				if (memcmp(l1, l2, (size_t)V * sizeof *l1))
					why = "the cached keys and values differ from a fresh causal evaluation";
			}
			if (why)
				printf("cache bad: %s (n_past %d)\n", why, np);
			else
				printf("cache ok %d\n", np);
		}
		fflush(stdout);
	}
	free(l1);
	free(l2);
	wf_dlm_free(d);
	wf_ctx_free(fresh);
	wf_ctx_free(c);
	wf_model_free(m);
	wf_gguf_free(&g);
	munmap(buf, (size_t)sb.st_size);
	close(fd);
	return 0;
}
