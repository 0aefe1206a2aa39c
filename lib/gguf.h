/*
 * gguf — bounds-checked reader and streaming writer of GGUF v2/v3 files.
 *
 * Reading works on a (pointer, length) pair: an mmap of a file or an
 * attached image.  wf_gguf_parse() validates the whole header, every
 * metadata value, every tensor info and every tensor's data range before it
 * returns, so after success every pointer it hands out lies inside the
 * buffer.  Nothing in the buffer is modified; strings in the buffer are not
 * NUL-terminated and are handed out as (ptr, len) pairs.
 *
 * Errors: functions return 0 / -1 (or NULL) and write one line, without a
 * trailing newline, into the caller's err[errlen] buffer.  Messages name the
 * offending key or tensor, e.g.
 *   "tensor 'blk.0.attn_q.weight': data past end of file (offset 4096 + 66 bytes > 1000)".
 */
#ifndef WF_GGUF_H
#define WF_GGUF_H

#include <stddef.h>
#include <stdint.h>

#define WF_GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define WF_GGUF_DEFAULT_ALIGNMENT 32
#define WF_GGUF_MAX_NAME 63        /* tensor name bytes (ggml stores a NUL in 64) */
#define WF_GGUF_MAX_DIMS 4
#define WF_GGUF_MAX_STRING (1u << 20)   /* 1 MiB per metadata string */
#define WF_GGUF_MAX_ARRAY (1u << 24)    /* elements per metadata array */
#define WF_GGUF_MAX_ALIGNMENT 65536

/* Metadata value types (GGUF spec). */
enum wf_gguf_vtype {
	WF_GGUF_UINT8 = 0, WF_GGUF_INT8 = 1, WF_GGUF_UINT16 = 2, WF_GGUF_INT16 = 3,
	WF_GGUF_UINT32 = 4, WF_GGUF_INT32 = 5, WF_GGUF_FLOAT32 = 6, WF_GGUF_BOOL = 7,
	WF_GGUF_STRING = 8, WF_GGUF_ARRAY = 9, WF_GGUF_UINT64 = 10, WF_GGUF_INT64 = 11,
	WF_GGUF_FLOAT64 = 12
};

/* The tensor types wf knows (ggml ids; I2_S is bitnet.cpp's fork id). */
enum wf_ggml_type {
	WF_TYPE_F32 = 0, WF_TYPE_F16 = 1, WF_TYPE_Q8_0 = 8, WF_TYPE_BF16 = 30,
	WF_TYPE_TQ1_0 = 34, WF_TYPE_TQ2_0 = 35, WF_TYPE_I2_S = 36,
	/* wf's own: a ternary matrix [cols, rows] in the kernels' packed layout
	 * (kernels/kernels.h: 2 bits per weight, rows interleaved by 4, rows
	 * padded to a multiple of 4, cols a multiple of 128), then an f32 scale
	 * s_W and 28 zero bytes: ceil(rows/4)*4*cols/4 + 32 bytes.  Written by
	 * `wf-shm load` into model images; no other engine reads it. */
	WF_TYPE_WF_TMAT = 1000,
	/* wf's own: an 8-bit output matrix [cols, rows] (kernels/kernels.h
	 * WF_Q8R: int8 rows without gaps, then a float scale and an int32 sum
	 * per row; cols a multiple of 32): rows·(cols + 8) bytes.  Written by
	 * `wf-shm load` into model images. */
	WF_TYPE_WF_Q8R = 1001
};

/* A string inside the buffer: len bytes at ptr, not NUL-terminated. */
struct wf_gguf_str {
	const char *ptr;
	uint64_t len;
};

/* One metadata pair.  For a scalar, n == 1 and data points at the value
 * (little-endian, possibly unaligned: read it with the accessors below).
 * For an array, type == WF_GGUF_ARRAY, atype is the element type, n the
 * count and data the first element; arrays of strings have strs[n] too. */
struct wf_gguf_kv {
	struct wf_gguf_str key;
	uint32_t type;
	uint32_t atype;
	uint64_t n;
	const uint8_t *data;
	struct wf_gguf_str *strs; /* STRING scalars: strs[0]; STRING arrays: strs[n]; else NULL */
};

struct wf_gguf_tensor {
	char name[WF_GGUF_MAX_NAME + 1]; /* NUL-terminated copy */
	uint32_t n_dims;
	int64_t ne[WF_GGUF_MAX_DIMS];    /* unused dims are 1 */
	uint32_t type;
	uint64_t offset;                 /* relative to the data section */
	uint64_t nbytes;
	const uint8_t *data;             /* base + data_offset + offset */
};

struct wf_gguf {
	const uint8_t *base;
	size_t size;
	uint32_t version;
	uint64_t n_kv, n_tensors;
	struct wf_gguf_kv *kv;
	struct wf_gguf_tensor *tensors;
	uint32_t alignment;
	uint64_t data_offset;            /* start of the tensor data section */
	uint64_t data_end;               /* end of the last tensor, padded (at most size) */
	int trailing;                    /* 1 when bytes follow data_end (tolerated) */
};

/* Parse buf[len] into *g.  On success returns 0; call wf_gguf_free() later.
 * On failure returns -1 with a message in err, and *g needs no freeing. */
int wf_gguf_parse(struct wf_gguf *g, const void *buf, size_t len, char *err, size_t errlen);

/* Release what wf_gguf_parse() allocated (not the buffer).  NULL-safe. */
void wf_gguf_free(struct wf_gguf *g);

/* The pair with this key, or NULL. */
const struct wf_gguf_kv *wf_gguf_find(const struct wf_gguf *g, const char *key);

/* The tensor with this name, or NULL. */
const struct wf_gguf_tensor *wf_gguf_tensor(const struct wf_gguf *g, const char *name);

/*
 * Typed getters.  Each returns 0 and stores the value, 1 when the key is
 * absent (the value is left alone, so callers may preset a default), or -1
 * with "key 'K': expected TYPE, found TYPE" when the key has another type.
 * wf_gguf_get_u32 accepts any integer type whose value fits; wf_gguf_get_f32
 * accepts FLOAT32 or FLOAT64.
 */
int wf_gguf_get_u32(const struct wf_gguf *g, const char *key, uint32_t *out, char *err, size_t errlen);
int wf_gguf_get_u64(const struct wf_gguf *g, const char *key, uint64_t *out, char *err, size_t errlen);
int wf_gguf_get_i64(const struct wf_gguf *g, const char *key, int64_t *out, char *err, size_t errlen);
int wf_gguf_get_f32(const struct wf_gguf *g, const char *key, float *out, char *err, size_t errlen);
int wf_gguf_get_bool(const struct wf_gguf *g, const char *key, int *out, char *err, size_t errlen);
int wf_gguf_get_str(const struct wf_gguf *g, const char *key, struct wf_gguf_str *out, char *err, size_t errlen);

/* An array with this key, element type atype and, when n != 0, exactly n
 * elements: returns the kv, or NULL with a message in err ("key 'K' is
 * missing" / "expected ARRAY[INT32] of 1024, found ...").  */
const struct wf_gguf_kv *wf_gguf_get_arr(const struct wf_gguf *g, const char *key, uint32_t atype,
                                         uint64_t n, char *err, size_t errlen);

/* Element i of an array of fixed-size numbers, as the named C type.
 * The caller has checked atype and i < n. */
uint32_t wf_gguf_arr_u32(const struct wf_gguf_kv *kv, uint64_t i);
int32_t wf_gguf_arr_i32(const struct wf_gguf_kv *kv, uint64_t i);
float wf_gguf_arr_f32(const struct wf_gguf_kv *kv, uint64_t i);

/* Scalar value of a kv as double / int64 (for printing); 0 for non-numbers. */
double wf_gguf_kv_num(const struct wf_gguf_kv *kv, uint64_t i);

/* Names: "UINT32", "STRING", ...; "F32", "TQ2_0", "I2_S", ... ("type 99" style
 * names are written into a static buffer for unknown ids: not thread-safe). */
const char *wf_gguf_vtype_name(uint32_t t);
const char *wf_ggml_type_name(uint32_t t);

/* 1 when wf knows tensor type t, else 0. */
int wf_ggml_type_known(uint32_t t);

/* Bytes a tensor of type t with ne[0..n_dims) takes; -1 with a message if
 * the shape does not fit the type (row length not a multiple of the block
 * size) or the size overflows.  I2_S: nelem/4 + 32. */
int wf_ggml_nbytes(uint32_t t, const int64_t *ne, uint32_t n_dims, uint64_t *out, char *err, size_t errlen);

/* Block size (weights) and bytes per block of type t; 0 for unknown. */
uint32_t wf_ggml_blck_size(uint32_t t);
uint32_t wf_ggml_type_size(uint32_t t);

/* ---------------------------------------------------------------------- */
/*
 * Writer.  Build the metadata and the tensor table first, then write: the
 * header (with every tensor's offset computed from the declared types and
 * shapes), then each tensor's bytes in declaration order through
 * wf_gguf_writer_data() (any number of calls per tensor, so a tensor can be
 * streamed without holding it in memory); the writer inserts the alignment
 * padding itself.  wf_gguf_writer_finish() checks that every declared byte
 * was written.  Output is GGUF v3, alignment 32 unless general.alignment is
 * set with wf_gguf_writer_set_alignment().
 *
 * The sink is a callback: return 0 on success, -1 (with a message) on error.
 */
typedef int (*wf_gguf_sink)(void *ctx, const void *buf, size_t n, char *err, size_t errlen);

struct wf_gguf_writer;

struct wf_gguf_writer *wf_gguf_writer_new(void);
void wf_gguf_writer_free(struct wf_gguf_writer *w);

/* Metadata.  Keys and string values are copied.  Return 0 or -1 (duplicate
 * key, bad key, out of memory) with the message kept for
 * wf_gguf_writer_error(); later calls then fail too, so a caller may check
 * only the last call or wf_gguf_writer_error(). */
int wf_gguf_writer_u32(struct wf_gguf_writer *w, const char *key, uint32_t v);
int wf_gguf_writer_i32(struct wf_gguf_writer *w, const char *key, int32_t v);
int wf_gguf_writer_u64(struct wf_gguf_writer *w, const char *key, uint64_t v);
int wf_gguf_writer_f32(struct wf_gguf_writer *w, const char *key, float v);
int wf_gguf_writer_bool(struct wf_gguf_writer *w, const char *key, int v);
int wf_gguf_writer_str(struct wf_gguf_writer *w, const char *key, const char *v);
int wf_gguf_writer_strn(struct wf_gguf_writer *w, const char *key, const char *v, size_t len);
/* Array of n fixed-size elements of type atype (not STRING/ARRAY), copied. */
int wf_gguf_writer_arr(struct wf_gguf_writer *w, const char *key, uint32_t atype, const void *data, uint64_t n);
/* Array of n strings (NUL-terminated; lens may be NULL), copied. */
int wf_gguf_writer_arr_str(struct wf_gguf_writer *w, const char *key, const char *const *v,
                           const size_t *lens, uint64_t n);
/* Copy one kv from a parsed file (any type). */
int wf_gguf_writer_copy_kv(struct wf_gguf_writer *w, const struct wf_gguf_kv *kv);
/* Power of two in [1, 65536]; also written as general.alignment. */
int wf_gguf_writer_set_alignment(struct wf_gguf_writer *w, uint32_t align);

/* Declare a tensor; its data comes later, in declaration order. */
int wf_gguf_writer_tensor(struct wf_gguf_writer *w, const char *name, uint32_t type,
                          const int64_t *ne, uint32_t n_dims);

/* Total file size implied by what has been declared. */
uint64_t wf_gguf_writer_size(const struct wf_gguf_writer *w);

/* Write header + metadata + tensor infos + padding to the sink. */
int wf_gguf_writer_begin(struct wf_gguf_writer *w, wf_gguf_sink sink, void *ctx);
/* Append n bytes of tensor data (crossing into the next tensor is an error). */
int wf_gguf_writer_data(struct wf_gguf_writer *w, const void *buf, size_t n);
/* Check everything declared was written. */
int wf_gguf_writer_finish(struct wf_gguf_writer *w);

/* The last error, "" if none. */
const char *wf_gguf_writer_error(const struct wf_gguf_writer *w);

/* A sink writing to a file descriptor (ctx = pointer to int fd). */
int wf_gguf_sink_fd(void *ctx, const void *buf, size_t n, char *err, size_t errlen);

/* A sink appending to a buffer in memory that grows as needed (ctx =
 * pointer to a struct wf_gguf_mem, zeroed before the first write); the
 * caller frees p.  Fails only when out of memory. */
struct wf_gguf_mem {
	unsigned char *p;
	size_t n, cap;
};
int wf_gguf_sink_mem(void *ctx, const void *buf, size_t n, char *err, size_t errlen);

#endif
