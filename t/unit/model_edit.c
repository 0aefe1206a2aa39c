/*
 * model_edit IN OUT [EDIT...] — copy a GGUF with edits, to make broken models
 * for t/decode.bats.  EDITs:
 *   drop=NAME          leave tensor NAME out
 *   shape=NAME:A,B     declare tensor NAME as [A, B] (data zero-filled/cut)
 *   u32=KEY:V          set metadata KEY to UINT32 V (added if absent)
 *   str=KEY:V          set metadata KEY to STRING V
 *   delkey=KEY         leave KEY out
 *   add=NAME:A,B:X     add an F32 tensor [A, B] of values X * u, u pseudo-random
 *                      in [-1, 1) (X = 0: zeros)
 *   cat=NEW:A,B,...    add tensor NEW [ne0, ne1, k]: the bytes of the k tensors
 *                      A, B, ... (same type and shape) one after the other
 *                      (valid for block types with per-block scales: MoE experts)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "unit.h"

static int nedit;
static char **edits;

static const char *find_edit(const char *kind, const char *name)
{
	size_t kl = strlen(kind), nl = strlen(name);
	for (int i = 0; i < nedit; i++) {
		const char *e = edits[i];
		if (!strncmp(e, kind, kl) && e[kl] == '=' && !strncmp(e + kl + 1, name, nl) &&
		    (e[kl + 1 + nl] == 0 || e[kl + 1 + nl] == ':'))
			return e + kl + 1 + nl;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	char err[512];
	if (argc < 3) {
		fprintf(stderr, "usage: model_edit IN OUT [EDIT...]\n");
		return 2;
	}
	edits = argv + 3;
	nedit = argc - 3;
	struct wf_gguf g;
	unit_gguf(argv[1], &g, 1);
	struct wf_gguf_writer *w = wf_gguf_writer_new();
	for (uint64_t i = 0; i < g.n_kv; i++) {
		char key[256];
		snprintf(key, sizeof key, "%.*s", (int)g.kv[i].key.len, g.kv[i].key.ptr);
		if (find_edit("delkey", key) || find_edit("u32", key) || find_edit("str", key))
			continue;
		wf_gguf_writer_copy_kv(w, &g.kv[i]);
	}
	for (int i = 0; i < nedit; i++) {
		char buf[512];
		snprintf(buf, sizeof buf, "%s", edits[i]);
		char *c = strchr(buf, ':');
		if (!strncmp(buf, "u32=", 4) && c) {
			*c = 0;
			wf_gguf_writer_u32(w, buf + 4, (uint32_t)strtoul(c + 1, NULL, 10));
		} else if (!strncmp(buf, "str=", 4) && c) {
			*c = 0;
			wf_gguf_writer_str(w, buf + 4, c + 1);
		}
	}
	int64_t *sizes = calloc(g.n_tensors, sizeof *sizes);
	for (uint64_t i = 0; i < g.n_tensors; i++) {
		const struct wf_gguf_tensor *t = &g.tensors[i];
		if (find_edit("drop", t->name))
			continue;
		const char *sh = find_edit("shape", t->name);
		int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
		uint32_t nd = t->n_dims;
		if (sh) {
			nd = 2;
			sscanf(sh + 1, "%lld,%lld", (long long *)&ne[0], (long long *)&ne[1]);
		}
		uint64_t nb;
		if (wf_ggml_nbytes(t->type, ne, nd, &nb, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		sizes[i] = (int64_t)nb;
		wf_gguf_writer_tensor(w, t->name, t->type, ne, nd);
	}
	for (int i = 0; i < nedit; i++) {
		char nm[128];
		long long a, b;
		double x;
		if (sscanf(edits[i], "add=%127[^:]:%lld,%lld:%lf", nm, &a, &b, &x) == 4) {
			int64_t ne[2] = {a, b};
			wf_gguf_writer_tensor(w, nm, WF_TYPE_F32, ne, 2);
		}
	}
	for (int i = 0; i < nedit; i++) {
		char nm[128], list[1024];
		if (sscanf(edits[i], "cat=%127[^:]:%1023s", nm, list) == 2) {
			const struct wf_gguf_tensor *t = NULL;
			int k = 0;
			for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","), k++) {
				t = wf_gguf_tensor(&g, tok);
				if (!t) {
					fprintf(stderr, "no tensor %s\n", tok);
					return 1;
				}
			}
			int64_t ne[3] = {t->ne[0], t->ne[1], k};
			wf_gguf_writer_tensor(w, nm, t->type, ne, 3);
		}
	}
	int ofd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (ofd < 0 || wf_gguf_writer_begin(w, wf_gguf_sink_fd, &ofd) < 0) {
		fprintf(stderr, "%s: %s\n", argv[2], wf_gguf_writer_error(w));
		return 1;
	}
	for (uint64_t i = 0; i < g.n_tensors; i++) {
		const struct wf_gguf_tensor *t = &g.tensors[i];
		if (find_edit("drop", t->name))
			continue;
		uint64_t n = (uint64_t)sizes[i], have = t->nbytes < n ? t->nbytes : n;
		wf_gguf_writer_data(w, t->data, have);
		if (have < n) {
			uint8_t *z = calloc(1, n - have);
			wf_gguf_writer_data(w, z, n - have);
			free(z);
		}
	}
	for (int i = 0; i < nedit; i++) {
		char nm[128];
		long long a, b;
		double x;
		if (sscanf(edits[i], "add=%127[^:]:%lld,%lld:%lf", nm, &a, &b, &x) == 4) {
			uint64_t rs = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
			for (long long k = 0; k < a * b; k++) {
				rs = rs * 6364136223846793005ull + 1442695040888963407ull;
				float v = (float)(x * ((double)(rs >> 40) / (double)(1 << 23) - 1.0));
				wf_gguf_writer_data(w, &v, 4);
			}
		}
	}
	for (int i = 0; i < nedit; i++) {
		char nm[128], list[1024];
		if (sscanf(edits[i], "cat=%127[^:]:%1023s", nm, list) == 2) {
			for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
				const struct wf_gguf_tensor *t = wf_gguf_tensor(&g, tok);
				wf_gguf_writer_data(w, t->data, t->nbytes);
			}
		}
	}
	if (wf_gguf_writer_finish(w) < 0 || close(ofd) < 0) {
		fprintf(stderr, "%s: %s\n", argv[2], wf_gguf_writer_error(w));
		return 1;
	}
	wf_gguf_writer_free(w);
	free(sizes);
	return 0;
}
