/*
 * libFuzzer harness for lib/gguf: parse arbitrary bytes; on success touch
 * every kv, string and tensor byte the reader handed out (ASan checks that
 * each lies inside the input) and write the file back through the writer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

static int sink(void *ctx, const void *buf, size_t n, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	volatile uint8_t *acc = ctx;
	const uint8_t *p = buf;
	for (size_t i = 0; i < n; i++)
		*acc ^= p[i];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wf_gguf g;
	char err[256];
	/* an exact-size copy, so a read one past the end is caught */
	uint8_t *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	if (wf_gguf_parse(&g, buf, size, err, sizeof err) == 0) {
		volatile uint8_t acc = 0;
		struct wf_gguf_writer *w = wf_gguf_writer_new();
		for (uint64_t i = 0; i < g.n_kv; i++) {
			const struct wf_gguf_kv *kv = &g.kv[i];
			for (uint64_t j = 0; j < kv->key.len; j++)
				acc ^= (uint8_t)kv->key.ptr[j];
			if (kv->strs)
				for (uint64_t j = 0; j < kv->n; j++)
					for (uint64_t k = 0; k < kv->strs[j].len; k++)
						acc ^= (uint8_t)kv->strs[j].ptr[k];
			else if (kv->type != WF_GGUF_STRING)
				for (uint64_t j = 0; j < kv->n; j++) {
					double d = wf_gguf_kv_num(kv, j);
					uint64_t u;
					memcpy(&u, &d, sizeof u);
					acc ^= (uint8_t)u;
				}
			if (kv->key.len < 65536 && strncmp(kv->key.ptr, "general.alignment", kv->key.len))
				wf_gguf_writer_copy_kv(w, kv);
		}
		for (uint64_t i = 0; i < g.n_tensors; i++) {
			const struct wf_gguf_tensor *t = &g.tensors[i];
			if (t->nbytes)
				acc ^= t->data[0] ^ t->data[t->nbytes - 1];
			wf_gguf_writer_tensor(w, t->name, t->type, t->ne, t->n_dims);
		}
		if (wf_gguf_writer_begin(w, sink, (void *)&acc) == 0) {
			for (uint64_t i = 0; i < g.n_tensors; i++)
				wf_gguf_writer_data(w, g.tensors[i].data, g.tensors[i].nbytes);
			wf_gguf_writer_finish(w);
		}
		wf_gguf_writer_free(w);
		wf_gguf_free(&g);
	}
	free(buf);
	return 0;
}
