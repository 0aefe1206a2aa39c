/*
 * gguf_roundtrip N — write N seeded random GGUF files with the writer (every
 * value type, string arrays, every tensor type wf knows, random alignment),
 * parse each with the reader and check every key, value, shape, offset and
 * data byte.  Also checks that every proper prefix of the first few files is
 * refused.  Prints "N files: ok" or the first difference, exit 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define CHECK(c, ...)                                                         \
	do {                                                                  \
		if (!(c)) {                                                   \
			printf("file %d: ", file);                            \
			printf(__VA_ARGS__);                                  \
			putchar('\n');                                        \
			exit(1);                                              \
		}                                                             \
	} while (0)

static const uint32_t TT[] = {WF_TYPE_F32, WF_TYPE_F16, WF_TYPE_BF16, WF_TYPE_Q8_0,
                              WF_TYPE_TQ1_0, WF_TYPE_TQ2_0, WF_TYPE_I2_S};
static const uint8_t VS[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

struct kvspec {
	char key[32];
	uint32_t type, atype;
	uint64_t n;
	uint8_t val[64 * 8];
	char strs[8][40];
};

int main(int argc, char **argv)
{
	int nfiles = argc > 1 ? atoi(argv[1]) : 50;
	char err[256];
	for (int file = 0; file < nfiles; file++) {
		struct wf_gguf_writer *w = wf_gguf_writer_new();
		uint32_t align = 1u << (rnd() % 8);
		if (file % 3)
			CHECK(wf_gguf_writer_set_alignment(w, align) == 0, "set_alignment");
		else
			align = 32;
		int nkv = (int)(rnd() % 12);
		struct kvspec *kv = calloc((size_t)nkv + 1, sizeof *kv);
		for (int i = 0; i < nkv; i++) {
			struct kvspec *k = &kv[i];
			snprintf(k->key, sizeof k->key, "test.key_%d.v", i);
			k->type = (uint32_t)(rnd() % 13);
			if (k->type == WF_GGUF_ARRAY) {
				do
					k->atype = (uint32_t)(rnd() % 13);
				while (k->atype == WF_GGUF_ARRAY);
				k->n = rnd() % 9;
			} else
				k->n = 1;
			uint32_t t = k->type == WF_GGUF_ARRAY ? k->atype : k->type;
			for (uint64_t j = 0; j < k->n; j++) {
				if (t == WF_GGUF_STRING) {
					int len = (int)(rnd() % 30);
					for (int c = 0; c < len; c++)
						k->strs[j][c] = (char)(' ' + rnd() % 95);
				} else if (t == WF_GGUF_BOOL)
					k->val[j] = (uint8_t)(rnd() & 1);
				else {
					uint64_t r = rnd() >> 12; /* finite floats */
					memcpy(k->val + VS[t] * j, &r, VS[t]);
				}
			}
			struct wf_gguf_str ss[8];
			for (uint64_t j = 0; j < 8; j++)
				ss[j] = (struct wf_gguf_str){k->strs[j], strlen(k->strs[j])};
			struct wf_gguf_kv src = {{k->key, strlen(k->key)}, k->type, k->atype, k->n, k->val, ss};
			CHECK(wf_gguf_writer_copy_kv(w, &src) == 0, "copy_kv %s: %s", k->key, wf_gguf_writer_error(w));
		}
		int nt = (int)(rnd() % 6);
		uint32_t types[8];
		int64_t ne[8][4];
		uint32_t nd[8];
		uint64_t nbytes[8];
		for (int i = 0; i < nt; i++) {
			char name[32];
			types[i] = TT[rnd() % 7];
			nd[i] = 1 + (uint32_t)(rnd() % 4);
			uint32_t b = wf_ggml_blck_size(types[i]);
			if (types[i] == WF_TYPE_I2_S)
				b = 128;
			for (uint32_t d = 0; d < 4; d++)
				ne[i][d] = d < nd[i] ? 1 + (int64_t)(rnd() % 3) : 1;
			ne[i][0] = (int64_t)b * (1 + (int64_t)(rnd() % 3));
			snprintf(name, sizeof name, "t%d.weight", i);
			CHECK(wf_gguf_writer_tensor(w, name, types[i], ne[i], nd[i]) == 0, "tensor: %s",
			      wf_gguf_writer_error(w));
			CHECK(wf_ggml_nbytes(types[i], ne[i], nd[i], &nbytes[i], err, sizeof err) == 0, "nbytes");
		}
		struct wf_gguf_mem m = {0};
		CHECK(wf_gguf_writer_begin(w, wf_gguf_sink_mem, &m) == 0, "begin: %s", wf_gguf_writer_error(w));
		for (int i = 0; i < nt; i++) {
			/* data byte k of tensor i is (i*31 + k) mod 251, written in odd chunks */
			for (uint64_t k = 0; k < nbytes[i];) {
				uint8_t chunk[97];
				size_t c = (size_t)(1 + rnd() % 97);
				if (c > nbytes[i] - k)
					c = (size_t)(nbytes[i] - k);
				for (size_t j = 0; j < c; j++)
					chunk[j] = (uint8_t)((i * 31 + k + j) % 251);
				CHECK(wf_gguf_writer_data(w, chunk, c) == 0, "data: %s", wf_gguf_writer_error(w));
				k += c;
			}
		}
		CHECK(wf_gguf_writer_finish(w) == 0, "finish: %s", wf_gguf_writer_error(w));
		CHECK(m.n == wf_gguf_writer_size(w), "size %zu != predicted %llu", m.n,
		      (unsigned long long)wf_gguf_writer_size(w));
		CHECK(wf_gguf_writer_data(w, "x", 1) != 0, "data past the last tensor accepted");
		wf_gguf_writer_free(w);

		struct wf_gguf g;
		CHECK(wf_gguf_parse(&g, m.p, m.n, err, sizeof err) == 0, "parse: %s", err);
		CHECK(g.version == 3 && g.alignment == align, "version %u alignment %u (want %u)", g.version,
		      g.alignment, align);
		CHECK(g.n_kv == (uint64_t)nkv + (file % 3 ? 1 : 0), "n_kv %llu", (unsigned long long)g.n_kv);
		for (int i = 0; i < nkv; i++) {
			struct kvspec *k = &kv[i];
			const struct wf_gguf_kv *p = wf_gguf_find(&g, k->key);
			CHECK(p && p->type == k->type && p->n == k->n, "key %s", k->key);
			uint32_t t = k->type == WF_GGUF_ARRAY ? k->atype : k->type;
			if (k->type == WF_GGUF_ARRAY)
				CHECK(p->atype == k->atype, "key %s atype", k->key);
			for (uint64_t j = 0; j < k->n; j++) {
				if (t == WF_GGUF_STRING)
					CHECK(p->strs[j].len == strlen(k->strs[j]) &&
					      memcmp(p->strs[j].ptr, k->strs[j], p->strs[j].len) == 0,
					      "key %s string %llu", k->key, (unsigned long long)j);
				else
					CHECK(memcmp(p->data + VS[t] * j, k->val + VS[t] * j, VS[t]) == 0,
					      "key %s value %llu", k->key, (unsigned long long)j);
			}
		}
		CHECK(g.n_tensors == (uint64_t)nt, "n_tensors");
		for (int i = 0; i < nt; i++) {
			const struct wf_gguf_tensor *t = &g.tensors[i];
			CHECK(t->type == types[i] && t->n_dims == nd[i] && t->nbytes == nbytes[i], "tensor %d", i);
			CHECK(t->offset % align == 0, "tensor %d offset", i);
			for (uint32_t d = 0; d < 4; d++)
				CHECK(t->ne[d] == ne[i][d], "tensor %d ne[%u]", i, d);
			for (uint64_t k = 0; k < t->nbytes; k++)
				CHECK(t->data[k] == (uint8_t)((i * 31 + k) % 251), "tensor %d byte %llu", i,
				      (unsigned long long)k);
		}
		CHECK(!g.trailing, "trailing bytes");
		/* the padding after the last tensor is optional; nothing before it is */
		uint64_t last_end = nt ? g.data_offset + g.tensors[nt - 1].offset + nbytes[nt - 1] : 0;
		wf_gguf_free(&g);
		if (file < 3)
			for (size_t cut = 0; cut < m.n && nt; cut++) {
				/* a copy of exactly cut bytes, so ASan sees any overread */
				uint8_t *q = malloc(cut ? cut : 1);
				memcpy(q, m.p, cut);
				int rc = wf_gguf_parse(&g, q, cut, err, sizeof err);
				CHECK(rc == (cut < last_end ? -1 : 0), "prefix %zu of %zu: %d", cut, m.n, rc);
				if (rc == 0)
					wf_gguf_free(&g);
				free(q);
			}
		free(m.p);
		free(kv);
	}
	/* The writer refuses what the reader would. */
	int file = -1;
	struct wf_gguf_writer *w = wf_gguf_writer_new();
	CHECK(wf_gguf_writer_u32(w, "a.b", 1) == 0, "u32");
	CHECK(wf_gguf_writer_u32(w, "a.b", 2) == -1 &&
	      strcmp(wf_gguf_writer_error(w), "key 'a.b': duplicate key") == 0, "duplicate key: %s",
	      wf_gguf_writer_error(w));
	wf_gguf_writer_free(w);
	w = wf_gguf_writer_new();
	int64_t ne[2] = {100, 1};
	CHECK(wf_gguf_writer_tensor(w, "w", WF_TYPE_TQ2_0, ne, 2) == -1 &&
	      strcmp(wf_gguf_writer_error(w), "tensor 'w': row length 100 is not a multiple of the TQ2_0 block size 256") == 0,
	      "bad shape: %s", wf_gguf_writer_error(w));
	wf_gguf_writer_free(w);
	printf("%d files: ok\n", nfiles);
	return 0;
}
