/*
 * ternary — the on-disk formats of BitNet b1.58 weights.
 *
 * A ternary tensor is rows x cols trits T[r][c] in {-1, 0, +1} (row-major,
 * rows = ne[1], cols = ne[0] in GGUF order) and one float scale s: the
 * weight is T * s.  This module turns the GGUF encodings into that form and
 * back, byte-identical to the peers' quantizers:
 *
 *   I2_S   bitnet.cpp, x86 ACT_PARALLEL layout.  The whole tensor (row-major,
 *          n = rows*cols weights, n a multiple of 128) is cut into 128-weight
 *          blocks of 32 bytes; byte m of a block holds weights m, m+32, m+64,
 *          m+96 of the block in bits 7-6, 5-4, 3-2, 1-0, code = T + 1.  Then
 *          the f32 scale at byte n/4 and 28 zero bytes: n/4 + 32 bytes.
 *   TQ2_0  ggml, 66 bytes per 256 weights: qs[64], f16 d.  Byte 32h+m of qs
 *          holds weights 128h + 32j + m (j = 0..3) in bits 2j..2j+1,
 *          code = T + 1.
 *   TQ1_0  ggml, 54 bytes per 256 weights: qs[48], qh[4], f16 d.  Each byte
 *          is a base-3 number of 5 codes (the first most significant),
 *          q in 0..242 stored as ceil(q * 256 / 243).  qs[m], m < 32: weights
 *          m + 32j (j = 0..4); qs[32+m], m < 16: weights 160 + m + 16j;
 *          qh[m], m < 4: weights 240 + m + 4j (j = 0..3) and a 0 fifth code.
 *          Code j of byte b is ((uint8_t)(b * 3^j) * 3) >> 8.
 *   F32, F16, BF16  latent weights W, ternarised exactly as training does:
 *          s = (float)max(Σ|W_i| / n, 1e-5), the sum and the division in
 *          double, |W_i| summed in index order from W_i widened to double;
 *          T = clamp(rintf(W / s), -1, 1), W / s a float division and rintf
 *          rounding half to even.  Encoding writes W = (float)T * s (then
 *          rounded to F16/BF16), so re-decoding gives the same trits but, by
 *          the absmean rule, the scale s times the fraction of non-zero trits.
 *
 * One scale per tensor.  I2_S stores one.  TQ types store a d per block:
 * the tensor's scale is the d shared by every block that holds a non-zero
 * trit (an all-zero block's d is irrelevant: ggml's and gguf-py's quantizers
 * write 0 there); blocks that disagree are an error naming the tensor and the
 * two blocks.  Per-row or per-block scales are not supported.  The encoders
 * write d = f16(s) in every block, and d = 0 in all-zero blocks, as ggml and
 * gguf-py do for input T * s.
 *
 * Streaming: the *_pack / *_unpack functions work on any block-aligned run
 * of weights, and wf_ternary_decode_rows on any row range, so a tensor of
 * any size can be produced or read a piece at a time.  A range starting at
 * weight k0 occupies the bytes at wf_ternary_body_bytes(type, k0) onwards.
 *
 * Errors: functions returning int give 0, or -1 with one line in err.
 */
#ifndef WF_TERNARY_H
#define WF_TERNARY_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

/* 1 when type is I2_S, TQ1_0, TQ2_0, F32, F16 or BF16, else 0. */
int wf_ternary_type_ok(uint32_t type);

/* Weights per packing block: 128 for I2_S, 256 for TQ1_0 / TQ2_0, 1 for
 * F32 / F16 / BF16, 0 for any other type. */
uint32_t wf_ternary_block(uint32_t type);

/* Bytes n weights take in type's body (n a multiple of the block):
 * I2_S n/4 (the 32-byte scale trailer is not included), TQ2_0 66n/256,
 * TQ1_0 54n/256, F32 4n, F16 / BF16 2n; 0 for other types. */
uint64_t wf_ternary_body_bytes(uint32_t type, uint64_t n);

/* Bytes of a whole tensor of n weights: the body, plus 32 for I2_S. */
uint64_t wf_ternary_tensor_bytes(uint32_t type, uint64_t n);

/*
 * Check that t is a ternary-capable tensor wf can decode: a known type
 * above, 1 or 2 dimensions, cols a multiple of the TQ block, n a multiple
 * of 128 for I2_S, and t->nbytes as the type demands.  Stores rows and cols
 * (either may be NULL).  Messages name the tensor:
 *   "tensor 'blk.0.attn_q.weight': type Q8_0 is not a ternary weight format".
 */
int wf_ternary_check(const struct wf_gguf_tensor *t, int64_t *rows, int64_t *cols,
                     char *err, size_t errlen);

/*
 * The per-tensor scale of t (checked with wf_ternary_check first): I2_S the
 * f32 after the body; TQ the common d as described above (all blocks zero:
 * the first block's d); F32/F16/BF16 the absmean, which reads the whole
 * tensor.  A scale that is not finite is an error.
 */
int wf_ternary_scale(const struct wf_gguf_tensor *t, float *scale, char *err, size_t errlen);

/*
 * The fast path for I2_S and TQ2_0 (their bytes already hold 2-bit codes
 * c = trit + 1): the codes of rows [r0, r1) of t, for rows a multiple of
 * 128 long, in WF_TMAT's row order -- per row and 128-column block 32
 * bytes, byte j holding columns j, 32 + j, 64 + j, 96 + j in bits 1-0,
 * 3-2, 5-4, 7-6 -- into out[(r1 - r0)·cols/4] (wf_tmat_pack_codes takes
 * them).  Returns 1 without touching out for any other type or shape (the
 * caller decodes trits instead), 0 when done, -1 with the same message as
 * wf_ternary_decode_rows for a code 3 or a bad range.
 */
int wf_ternary_codes_rows(const struct wf_gguf_tensor *t, int64_t r0, int64_t r1, uint8_t *out,
                          char *err, size_t errlen);

/*
 * Rows [r0, r1) of t in wf's packed kernel layout (wf_tmat_pack's bytes for
 * those rows) at dst: I2_S and TQ2_0 by wf_ternary_codes_rows and
 * wf_tmat_pack_codes, other types by wf_ternary_decode_rows and
 * wf_tmat_pack.  scratch holds (r1 - r0)·cols bytes.  Errors as
 * wf_ternary_decode_rows.
 */
int wf_ternary_tmat_rows(const struct wf_gguf_tensor *t, float scale, int64_t r0, int64_t r1,
                         int8_t *scratch, uint8_t *dst, char *err, size_t errlen);

/*
 * Trits of rows [r0, r1) of t into out[(r1 - r0) * cols].  scale is the
 * value wf_ternary_scale() gave (used only by F32/F16/BF16).  Errors: a
 * 2-bit code 3 in I2_S or TQ2_0 (not a trit: the peers would read +2),
 * a range outside the tensor.
 */
int wf_ternary_decode_rows(const struct wf_gguf_tensor *t, float scale, int64_t r0, int64_t r1,
                           int8_t *out, char *err, size_t errlen);

/* Both of the above for the whole tensor: trits[rows * cols] and *scale. */
int wf_ternary_decode(const struct wf_gguf_tensor *t, int8_t *trits, float *scale,
                      char *err, size_t errlen);

/*
 * Pack n trits (values -1/0/+1; n a multiple of wf_ternary_block(type))
 * into dst[wf_ternary_body_bytes(type, n)].  scale is the TQ d (rounded to
 * f16) and the float types' magnitude; I2_S ignores it (see
 * wf_ternary_i2s_trailer).  type must satisfy wf_ternary_type_ok.
 */
void wf_ternary_pack(uint32_t type, const int8_t *t, uint64_t n, float scale, uint8_t *dst);

/* The 32 bytes that end an I2_S tensor: f32 scale (little-endian), 28 zeros. */
void wf_ternary_i2s_trailer(float scale, uint8_t dst[32]);

/*
 * Unpack n weights (a multiple of the block) from src (the bytes
 * wf_ternary_pack would have written) into t[n].  Float types are
 * ternarised with scale.  Returns 0, or -1 with "weight K: code 3 is not
 * a ternary value" (K counted from src) for I2_S and TQ2_0.
 */
int wf_ternary_unpack(uint32_t type, const uint8_t *src, uint64_t n, float scale, int8_t *t,
                      char *err, size_t errlen);

/*
 * Whole tensor: pack trits[rows * cols] with scale into dst[dstlen], which
 * must be exactly wf_ternary_tensor_bytes(type, rows * cols) bytes (the I2_S
 * trailer included).  Errors: bad type, shape not a multiple of the block,
 * wrong dstlen.
 */
int wf_ternary_encode(uint32_t type, const int8_t *trits, int64_t rows, int64_t cols, float scale,
                      uint8_t *dst, uint64_t dstlen, char *err, size_t errlen);

/* The training rule's scale of n floats: (float)max(Σ|w_i| / n, 1e-5) in
 * double, as above (n = 0 gives 1e-5). */
float wf_ternary_absmean(const float *w, uint64_t n);

/* clamp(rintf(w / s), -1, 1); NaN gives 0. */
int8_t wf_ternary_round(float w, float s);

#endif
