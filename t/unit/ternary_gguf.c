/*
 * ternary_gguf — look at generated GGUFs through lib/gguf and lib/ternary
 * (driven by t/gen.bats).
 *
 *   ternary_gguf list FILE     every key ("key TYPE value"; arrays as
 *                              "key TYPE[n]") and tensor ("name TYPE [shape]")
 *   ternary_gguf same A B      the two files hold the same model up to the
 *                              weight type: same tensor names and shapes,
 *                              identical trits in every ternary projection,
 *                              identical bytes elsewhere.  Prints
 *                              "N ternary tensors: same trits, same scales"
 *                              (or "scales differ in K").
 *   ternary_gguf stats FILE    fraction of -1/0/+1 and the scale range
 *
 * Exit 0 when the check holds, 1 with a message otherwise.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "kernels.h"
#include "ternary.h"

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		printf("%s: cannot open\n", path);
		exit(1);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		exit(1);
	while (got < (size_t)st.st_size && (r = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)r;
	close(fd);
	*len = got;
	return buf;
}

static void load(struct wf_gguf *g, uint8_t **buf, const char *path)
{
	size_t len;
	char err[256];

	*buf = slurp(path, &len);
	if (wf_gguf_parse(g, *buf, len, err, sizeof err)) {
		printf("%s: %s\n", path, err);
		exit(1);
	}
}

static void shape(const struct wf_gguf_tensor *t, char *s, size_t n)
{
	uint32_t d;
	size_t o = 0;

	o += (size_t)snprintf(s + o, n - o, "[");
	for (d = 0; d < t->n_dims && o < n; d++)
		o += (size_t)snprintf(s + o, n - o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
	if (o < n)
		snprintf(s + o, n - o, "]");
}

static int list(const char *path)
{
	struct wf_gguf g;
	uint8_t *buf;
	uint64_t i;
	char s[128];

	load(&g, &buf, path);
	for (i = 0; i < g.n_kv; i++) {
		const struct wf_gguf_kv *kv = &g.kv[i];
		printf("%.*s ", (int)kv->key.len, kv->key.ptr);
		if (kv->type == WF_GGUF_ARRAY)
			printf("%s[%" PRIu64 "]\n", wf_gguf_vtype_name(kv->atype), kv->n);
		else if (kv->type == WF_GGUF_STRING)
			printf("STRING \"%.*s\"\n", (int)kv->strs[0].len, kv->strs[0].ptr);
		else if (kv->type == WF_GGUF_BOOL)
			printf("BOOL %s\n", kv->data[0] ? "true" : "false");
		else
			printf("%s %.9g\n", wf_gguf_vtype_name(kv->type), wf_gguf_kv_num(kv, 0));
	}
	for (i = 0; i < g.n_tensors; i++) {
		shape(&g.tensors[i], s, sizeof s);
		printf("%s %s %s\n", g.tensors[i].name, wf_ggml_type_name(g.tensors[i].type), s);
	}
	wf_gguf_free(&g);
	free(buf);
	return 0;
}

/* The ternary projections: 2-D tensors other than the embedding. */
static int is_projection(const struct wf_gguf_tensor *t)
{
	return t->n_dims == 2 && strcmp(t->name, "token_embd.weight");
}

static int same(const char *pa, const char *pb)
{
	struct wf_gguf a, b;
	uint8_t *ba, *bb;
	uint64_t i;
	int n = 0, nscale = 0, rc = 0;
	char err[256];

	load(&a, &ba, pa);
	load(&b, &bb, pb);
	if (a.n_tensors != b.n_tensors) {
		printf("%" PRIu64 " tensors vs %" PRIu64 "\n", a.n_tensors, b.n_tensors);
		return 1;
	}
	for (i = 0; i < a.n_tensors && !rc; i++) {
		const struct wf_gguf_tensor *ta = &a.tensors[i], *tb = wf_gguf_tensor(&b, ta->name);
		int64_t ra, ca, rb, cb;
		int8_t *xa, *xb;
		float sa, sb;

		if (!tb || tb->n_dims != ta->n_dims || tb->ne[0] != ta->ne[0] || tb->ne[1] != ta->ne[1]) {
			printf("tensor '%s' differs in name or shape\n", ta->name);
			rc = 1;
		} else if (!is_projection(ta)) {
			if (ta->type != tb->type || ta->nbytes != tb->nbytes || memcmp(ta->data, tb->data, ta->nbytes)) {
				printf("tensor '%s' differs\n", ta->name);
				rc = 1;
			}
		} else if (wf_ternary_check(ta, &ra, &ca, err, sizeof err) ||
		           wf_ternary_check(tb, &rb, &cb, err, sizeof err)) {
			printf("%s\n", err);
			rc = 1;
		} else {
			xa = malloc((size_t)(ra * ca));
			xb = malloc((size_t)(rb * cb));
			if (!xa || !xb)
				exit(1);
			if (wf_ternary_decode(ta, xa, &sa, err, sizeof err) ||
			    wf_ternary_decode(tb, xb, &sb, err, sizeof err)) {
				printf("%s\n", err);
				rc = 1;
			} else if (memcmp(xa, xb, (size_t)(ra * ca))) {
				printf("tensor '%s': trits differ\n", ta->name);
				rc = 1;
			} else {
				n++;
				nscale += sa != sb;
			}
			free(xa);
			free(xb);
		}
	}
	if (!rc) {
		if (nscale)
			printf("%d ternary tensors: same trits, scales differ in %d\n", n, nscale);
		else
			printf("%d ternary tensors: same trits, same scales\n", n);
	}
	wf_gguf_free(&a);
	wf_gguf_free(&b);
	free(ba);
	free(bb);
	return rc;
}

static int stats(const char *path)
{
	struct wf_gguf g;
	uint8_t *buf;
	uint64_t i, j, cnt[3] = {0, 0, 0}, tot = 0;
	float lo = 1e30f, hi = -1e30f;
	char err[256];

	load(&g, &buf, path);
	for (i = 0; i < g.n_tensors; i++) {
		const struct wf_gguf_tensor *t = &g.tensors[i];
		int64_t r, c;
		int8_t *x;
		float s;

		if (!is_projection(t))
			continue;
		if (wf_ternary_check(t, &r, &c, err, sizeof err))
			return printf("%s\n", err), 1;
		x = malloc((size_t)(r * c));
		if (!x || wf_ternary_decode(t, x, &s, err, sizeof err))
			return printf("%s\n", err), 1;
		for (j = 0; j < (uint64_t)(r * c); j++)
			cnt[x[j] + 1]++;
		tot += (uint64_t)(r * c);
		lo = s < lo ? s : lo;
		hi = s > hi ? s : hi;
		free(x);
	}
	printf("-1 %.2f 0 %.2f +1 %.2f scale %.4f..%.4f\n", (double)cnt[0] / (double)tot,
	       (double)cnt[1] / (double)tot, (double)cnt[2] / (double)tot, (double)lo, (double)hi);
	wf_gguf_free(&g);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	char err[128];

	if (wf_kernels_init("scalar", err, sizeof err))
		return printf("%s\n", err), 1;
	if (argc == 3 && !strcmp(argv[1], "list"))
		return list(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "same"))
		return same(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "stats"))
		return stats(argv[2]);
	fprintf(stderr, "usage: ternary_gguf list FILE | same A B | stats FILE\n");
	return 2;
}
