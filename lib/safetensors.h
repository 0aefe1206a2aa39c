/*
 * safetensors — bounds-checked reader of Hugging Face .safetensors files.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON, then
 * the data section.  The JSON is an object of
 *   "NAME": {"dtype": "BF16", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 * plus an optional "__metadata__" object of string values.  Offsets are
 * relative to the data section.
 *
 * wf_st_parse() checks everything before it returns: N fits the file and
 * is at most 100 MB; the header is strict JSON (lib/json) and an object;
 * every tensor has a known dtype, a shape of at most 8 non-negative
 * dimensions, 0 <= begin <= end <= data size, end - begin equal to the
 * product of the shape times the dtype size (no overflow); no two tensors'
 * byte ranges overlap.  After success every tensor's data pointer and byte
 * count lie inside the buffer.  Nothing in the buffer is modified.
 *
 * Messages name the tensor:
 *   "tensor 'model.norm.weight': data_offsets [0, 300] hold 300 bytes, shape [256] of BF16 needs 512".
 */
#ifndef WF_SAFETENSORS_H
#define WF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define WF_ST_MAX_HEADER 100000000u
#define WF_ST_MAX_DIMS 8

enum wf_st_dtype {
	WF_ST_BOOL, WF_ST_U8, WF_ST_I8, WF_ST_F8_E4M3, WF_ST_F8_E5M2,
	WF_ST_U16, WF_ST_I16, WF_ST_F16, WF_ST_BF16,
	WF_ST_U32, WF_ST_I32, WF_ST_F32, WF_ST_U64, WF_ST_I64, WF_ST_F64,
	WF_ST_NTYPES
};

struct wf_st_tensor {
	const char *name;          /* NUL-terminated (owned by the header tree) */
	int dtype;                 /* enum wf_st_dtype */
	int n_dims;
	int64_t shape[WF_ST_MAX_DIMS]; /* row-major, outermost first, as in the file */
	uint64_t nelem;
	uint64_t nbytes;
	const uint8_t *data;
};

struct wf_safetensors {
	const uint8_t *base;
	size_t size;
	uint64_t data_offset;      /* 8 + N */
	struct wf_st_tensor *t;    /* in header order */
	size_t n;
	const struct wf_json *metadata; /* "__metadata__" object or NULL */
	struct wf_json_doc *doc;
	struct wf_st_tensor **by_name; /* private: t sorted by name, for wf_st_find */
};

/* Parse buf[len]; 0, or -1 with a message (then *st needs no freeing). */
int wf_st_parse(struct wf_safetensors *st, const void *buf, size_t len, char *err, size_t errlen);

/* Free what wf_st_parse allocated (not the buffer).  NULL-safe. */
void wf_st_free(struct wf_safetensors *st);

/* The tensor named name, or NULL.  O(log n). */
const struct wf_st_tensor *wf_st_find(const struct wf_safetensors *st, const char *name);

/* "BF16", "U8", ... and bytes per element; "?" / 0 for a bad id. */
const char *wf_st_dtype_name(int dtype);
size_t wf_st_dtype_size(int dtype);

#endif
