/*
 * kern.h — private to kernels/: the table each implementation fills in, and
 * the small pieces of the packed layout all of them share.
 */
#ifndef WF_KERN_H
#define WF_KERN_H

#include "kernels.h"

struct wf_kern_ops {
	const char *name;
	void (*tmat_vec)(const struct wf_tmat *w, const int8_t *q, float s, float *out,
	                 int r0, int r1);
	void (*tmat_mat)(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
	                 float *out, int ldo, int r0, int r1);
	void (*f16_matvec)(const uint16_t *w, int cols, const float *x, float *out,
	                   int r0, int r1);
};

extern const struct wf_kern_ops wf_kern_scalar;
#if defined(__x86_64__)
extern const struct wf_kern_ops wf_kern_avx2, wf_kern_avx512;
#endif
#if defined(__aarch64__)
extern const struct wf_kern_ops wf_kern_neon;
#endif

/* Bytes of one 4-row x 128-column tile. */
#define WF_TILE_BYTES 128

/* The tile of row group g, column block b (nb = cols / 128 blocks). */
static inline const uint8_t *wf_tile(const struct wf_tmat *w, int g, int b)
{
	int nb = w->cols / WF_TMAT_COL_ALIGN;
	return w->data + ((size_t)g * nb + b) * WF_TILE_BYTES;
}

/* The one place the float epilogue is written: (float)dot / s * s_W. */
static inline float wf_tmat_out(int32_t dot, float s, float sw)
{
	float v = (float)dot / s;
	return v * sw;
}

#endif
