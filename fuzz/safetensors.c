/*
 * libFuzzer harness for lib/safetensors: parse arbitrary bytes as a
 * .safetensors file.  A failure must come with a message; on success every
 * promise of safetensors.h is checked again: each tensor's bytes lie in the
 * data section (its first and last byte are read, so ASan sees a pointer
 * outside the exact-size copy), nbytes is nelem times the dtype size, no
 * two non-empty ranges overlap, wf_st_find finds each tensor by its name,
 * and __metadata__ holds only strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wf_safetensors st;
	char err[256];
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	err[0] = '\0';
	if (wf_st_parse(&st, buf, size, err, sizeof err) < 0) {
		if (!err[0] || st.t || st.doc || st.by_name)
			__builtin_trap();
		free(buf);
		return 0;
	}
	volatile uint8_t acc = 0;
	const uint8_t *lo = buf + st.data_offset, *hi = buf + size;
	if (st.data_offset < 10 || st.data_offset > size)
		__builtin_trap();
	for (size_t i = 0; i < st.n; i++) {
		const struct wf_st_tensor *t = &st.t[i];
		uint64_t nelem = 1;
		if (t->n_dims < 0 || t->n_dims > WF_ST_MAX_DIMS || wf_st_dtype_size(t->dtype) == 0)
			__builtin_trap();
		for (int d = 0; d < t->n_dims; d++) {
			if (t->shape[d] < 0)
				__builtin_trap();
			nelem *= (uint64_t)t->shape[d];
		}
		if (nelem != t->nelem || t->nbytes != t->nelem * wf_st_dtype_size(t->dtype))
			__builtin_trap();
		if (t->data < lo || t->data > hi || t->nbytes > (uint64_t)(hi - t->data))
			__builtin_trap();
		if (t->nbytes)
			acc ^= t->data[0] ^ t->data[t->nbytes - 1];
		if (wf_st_find(&st, t->name) != t)
			__builtin_trap();
		for (size_t j = 0; j < i; j++) {
			const struct wf_st_tensor *u = &st.t[j];
			if (t->nbytes && u->nbytes && t->data < u->data + u->nbytes && u->data < t->data + t->nbytes)
				__builtin_trap();
		}
	}
	if (st.metadata)
		for (uint32_t k = 0; k < st.metadata->n; k++)
			if (st.metadata->u.kids[k].type != WF_JSON_STRING)
				__builtin_trap();
	(void)acc;
	wf_st_free(&st);
	free(buf);
	return 0;
}
