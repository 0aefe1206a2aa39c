/*
 * kernels — ternary matrix products and the small numeric ops around them.
 *
 * A ternary matrix W has `rows` output rows of `cols` weights in {-1,0,+1}
 * and one float scale s_W.  It is stored in the kernels' native packed
 * layout (wf_tmat_packed_size bytes; the layout is private to kernels/ and
 * may interleave rows).  Activations are quantised per token exactly as
 * bitnet.cpp's quantize_row_i8_s:
 *
 *   m = max(1e-5, max_i |x_i|)            computed in double
 *   s = (float)(127 / m)
 *   q_i = clamp(round_half_even(x_i * s), -128, 127)   x_i * s in float
 *
 * and a product row is  out_r = (float)(Σ_i T[r][i]·q_i) / s * s_W
 * with the sum in int32 (never int16) and the float ops in that order.
 * (The AVX2 kernels add maddubs results in 16-bit lanes only for as many
 * column blocks as provably cannot wrap, then widen: the sum is exact.)
 *
 * Every function has a scalar reference (the oracle) and SIMD variants
 * (AVX2, AVX2 with AVX-VNNI, AVX-512/VNNI, NEON) chosen once at run time by
 * wf_kernels_init(); all variants give bit-identical results.
 *
 * Native packed layout (2 bits per weight, rows interleaved by 4):
 *
 *   rows are padded to a multiple of WF_TMAT_ROW_GROUP (4) with zero rows;
 *   the matrix is a sequence of row groups g = 0, 1, ... (rows 4g..4g+3),
 *   each a sequence of column blocks b = 0 .. cols/128 - 1, each holding
 *   4 x 32 bytes: the 32 bytes of row 4g+k at offset 32k.  Byte j (0..31)
 *   of a row's block packs the codes c = t + 1 in {0,1,2} of columns
 *
 *       128b + j  (bits 0-1),  128b + 32 + j  (bits 2-3),
 *       128b + 64 + j  (bits 4-5),  128b + 96 + j  (bits 6-7).
 *
 *   Size = ceil(rows/4) * 4 * cols / 4 bytes.  So (w >> 2k) & 3 of a 32-byte
 *   load lines up with 32 consecutive activations (no activation shuffle),
 *   maddubs / vpdpbusd take the unsigned codes directly, and
 *   Σ t·q = Σ c·q − Σ q.  A thread's row range is one sequential stream; one
 *   activation load feeds 4 rows.  Every 128-byte tile is 64-byte aligned
 *   when data is.
 */
#ifndef WF_KERNELS_H
#define WF_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Pick the best implementation for this CPU.  name: NULL/"auto", or force
 * "scalar", "avx2", "avxvnni", "avx512", "neon" (error if the CPU lacks
 * it; "auto" prefers avx512, then avxvnni, then avx2).  Returns 0
 * or -1 with a message.  Safe to call more than once; the first call before
 * any kernel use is required. */
int wf_kernels_init(const char *name, char *err, size_t errlen);

/* Name of the implementation in use ("scalar", "avx2", ...). */
const char *wf_kernels_name(void);

/* Column granularity the packed layout needs: cols must be a multiple of
 * WF_TMAT_COL_ALIGN (every supported model has this). Rows may be any count. */
#define WF_TMAT_COL_ALIGN 128

/* Rows are interleaved in groups of this many; split work between threads
 * at multiples of it (wf_pool_split) so no two threads share a row group.
 * Any [r0, r1) is still correct, just slower at unaligned edges. */
#define WF_TMAT_ROW_GROUP 4

/* A packed ternary matrix (points into an image or private memory). */
struct wf_tmat {
	int rows, cols;
	float scale;          /* s_W */
	const uint8_t *data;  /* wf_tmat_packed_size(rows, cols) bytes; 64-byte
	                       * alignment is best for speed, any works */
};

/* Bytes of the packed layout for rows x cols. */
size_t wf_tmat_packed_size(int rows, int cols);

/* Pack trits t[rows][cols] (row-major, values -1/0/+1) into dst; about 1 ns a
 * weight.  Values outside -1..1 give garbage, not a crash. */
void wf_tmat_pack(uint8_t *dst, const int8_t *t, int rows, int cols);

/* The same from codes (trit + 1) already in WF_TMAT's row order (row r's
 * 128-column block b at codes[r·cols/4 + 32·b], byte j holding columns j,
 * 32 + j, 64 + j, 96 + j in bits 1-0, 3-2, 5-4, 7-6): the bytes
 * wf_tmat_pack makes from the same weights. */
void wf_tmat_pack_codes(uint8_t *dst, const uint8_t *codes, int rows, int cols);

/* Unpack row r of a packed matrix into t[cols] (tests, conversions). */
void wf_tmat_unpack_row(const struct wf_tmat *w, int r, int8_t *t);

/* Quantise x[n] to q[n] as above; returns s, stores Σq in *sum if non-NULL.
 * NaN inputs are ignored by the max and quantise to 0 (bitnet.cpp's result
 * there is unspecified); an infinite max gives s = 0 and all q = 0. */
float wf_quantize_i8(const float *x, int n, int8_t *q, int32_t *sum);

/*
 * out[r - r0] for rows r in [r0, r1) of W times one quantised activation
 * vector q[cols] with scale s:  out = (float)dot / s * W->scale.
 * 0 <= r0 <= r1 <= rows.  q needs no alignment.  The kernel computes Σq itself.
 */
void wf_tmat_vec(const struct wf_tmat *w, const int8_t *q, float s, float *out, int r0, int r1);

/*
 * The same for n tokens at once (prefill): q is [n][cols] with scales s[n];
 * out is [n][ldo] and row r of token j goes to out[j*ldo + r].  Computes rows
 * [r0, r1).  Faster than n calls of wf_tmat_vec (weights read once per tile).
 * Uses up to about 200 KB of stack (the AVX2 variant's buffers).
 */
void wf_tmat_mat(const struct wf_tmat *w, const int8_t *q, const float *s, int n,
                 float *out, int ldo, int r0, int r1);

/* F16 matrix (e.g. the tied embedding used as output matrix) times float
 * x[cols]: out[r - r0] = Σ_i f16(W[r][i]) * x[i] for r in [r0, r1);
 * W row-major [rows][cols], any cols >= 0, float accumulation.
 * Summation order (fixed, so all variants agree bit for bit): 32 partial
 * sums, p[i % 32] = fmaf(w_i, x_i, p[i % 32]) for i ascending; then fold
 * halves: p[l] += p[l + h] for l < h, h = 16, 8, 4, 2, 1; out = p[0]. */
void wf_f16_matvec(const uint16_t *w, int cols, const float *x, float *out, int r0, int r1);

/*
 * Attention for one query, over T keys / values at a stride (the KV cache):
 *   wf_attn_scores: s[t] = dot(q, K + t·ldk) · scale, t < T, the dot over hd
 *     values in a fixed order (all variants agree bit for bit): 16 partial
 *     sums, p[i % 16] = fmaf(q_i, k_i, p[i % 16]) for i ascending; then
 *     p[l] += p[l + h] for h = 8, 4, 2, 1; dot = p[0].
 *   wf_attn_mix: o[i] += Σ_t w[t]·V[t·ldv + i] for i < hd, each element
 *     from its value in o by o_i = fmaf(w[t], v_{t,i}, o_i) for t ascending
 *     (so o zeroed to +0, then calls over consecutive pieces of the keys,
 *     give the same bits as one call over all of them).
 */
void wf_attn_scores(const float *q, const float *K, size_t ldk, int hd, int T, float scale, float *s);
void wf_attn_mix(const float *w, const float *V, size_t ldv, int hd, int T, float *o);

/* The same over an F16 cache: K and V hold F16 bits (strides in elements),
 * each widened exactly to float, and the results are bit for bit those of
 * wf_attn_scores / wf_attn_mix on the widened values. */
void wf_attn_scores_f16(const float *q, const uint16_t *K, size_t ldk, int hd, int T, float scale, float *s);
void wf_attn_mix_f16(const float *w, const uint16_t *V, size_t ldv, int hd, int T, float *o);

/* The same for nq >= 1 queries sharing their keys and values (the heads of
 * one KV head): query g at q + g·ldq, its scores at s + g·lds, its weights
 * at w + g·ldw, its output at o + g·ldo; each query's results are bit for
 * bit those of the functions above (f16: of the _f16 pair, K and V then
 * holding F16 bits), and a variant may read the keys and values once for
 * all the queries. */
void wf_attn_scores_grp(const float *q, size_t ldq, int nq, const void *K, int f16, size_t ldk, int hd, int T,
                        float scale, float *s, size_t lds);
void wf_attn_mix_grp(const float *w, size_t ldw, int nq, const void *V, int f16, size_t ldv, int hd, int T,
                     float *o, size_t ldo);

/*
 * Softmax of s[0..T) in place (T >= 1), in a fixed order so that all
 * variants agree bit for bit:
 *   m = max_t s[t];  e_t = wf_exp_le0(s[t] − m) (kern.h: exp for x <= 0 by
 *   range reduction and a degree-7 polynomial, within 2 ulp of exp; 0 below
 *   −87);  Σ in 16 partial sums p[t % 16] += e_t for t ascending, folded
 *   p[l] += p[l + h] for h = 8, 4, 2, 1;  s[t] = e_t · (1 / Σ).
 * A NaN or infinity anywhere makes every output the quiet NaN 0x7fc00000.
 */
void wf_softmax(float *s, int T);

/* x[i] = wf_f16_to_f32(wf_f32_to_f16(x[i])) for i < n: each value rounded
 * to the nearest F16 (ties to even, NaN quiet with its top payload bits),
 * all variants bit for bit (queries against an F16 cache, the input of an
 * F16 output matrix). */
void wf_f16_round(float *x, int n);

/* h[i] = wf_f32_to_f16(x[i]) for i < n, all variants bit for bit. */
void wf_f16_from_f32(const float *x, int n, uint16_t *h);

/*
 * Q8_0, ggml's block type 8: blocks of 32 values, each an F16 scale d then
 * 32 int8 q (34 bytes), value_i = d·q_i.  What a file's Q8_0 output.weight
 * holds, multiplied by activations quantised the same way (as ggml does).
 * n (or cols) must be a multiple of 32.
 */
#define WF_Q8_0_BLOCK 32
#define WF_Q8_0_BYTES 34

/* The default for the output matrix (lib/model, lib/repack): one stored in
 * F16/F32 of at least this many bytes is multiplied as a WF_Q8R copy (there
 * it is the largest read per generated token: 2B-4T's is 656 MB); smaller
 * ones stay in cache and keep the exact product.  $WF_OUTPUT=q8_0 or f16
 * overrides either way. */
#define WF_Q8_0_OUTPUT_MIN ((size_t)64 << 20)

/* $WF_OUTPUT, which overrides that size rule: 0 when unset or empty, 1 for
 * "q8_0" (the 8-bit copy whatever the size), -1 for "f16" (the float
 * product); -2 with a message in err for any other value. */
int wf_output_env(char *err, size_t errlen);

/* Bytes of n values in Q8_0. */
size_t wf_q8_0_size(int n);

/* Quantise x[n] to Q8_0 blocks at dst (any alignment), per block:
 *   m = max |x_i| (NaN ignored), d = m / 127, id = m > 0 ? 127 / m : 0,
 *   q_i = wf_q8(x_i · id) (round half to even, NaN -> 0; |q_i| <= 127),
 *   stored scale = f16(d).
 * One implementation (the scalar one) for every variant. */
void wf_q8_0_quantize(const float *x, int n, uint8_t *dst);

/* Rows [r0, r1) of an F16 matrix [rows][cols] to Q8_0 rows of
 * wf_q8_0_size(cols) bytes at dst (row r at dst + (r - r0)·size). */
void wf_q8_0_from_f16(const uint16_t *w, int cols, uint8_t *dst, int r0, int r1);

/*
 * Q8_0 matrix W (row r at w + r·wf_q8_0_size(cols)) times Q8_0 activations
 * xq[cols] (from wf_q8_0_quantize: |q| <= 127 is required; weights may use
 * -128): out[r - r0] for rows [r0, r1).  Fixed order (all variants agree
 * bit for bit): for block b, d_b = f16(dW_b) · f16(dx_b) in float and the
 * int32 sums s_{b,l} = Σ_{k<4} qW[b][4l+k]·qx[b][4l+k], l = 0..7; 32 float
 * partials p[8c + l], c = b mod 4, p[8c + l] = fmaf(d_b, s_{b,l}, p[8c + l])
 * for b ascending; then p[l] = (p[l] + p[8+l]) + (p[16+l] + p[24+l]), and
 * fold halves p[l] += p[l + h] for h = 4, 2, 1; out = p[0].
 */
void wf_q8_0_matvec(const uint8_t *w, int cols, const uint8_t *xq, float *out, int r0, int r1);

/*
 * WF_Q8R, wf's 8-bit copy of an output matrix [rows][cols] (cols a multiple
 * of 32): each row r scaled by its own d_r, value = d_r·q, and stored
 * without gaps so the kernels read a row as one stream.  In memory (and as
 * the image's tensor type WF_Q8R, lib/gguf.h), wf_q8r_bytes(rows, cols):
 *
 *   int8_t  q[rows][cols]    |q| <= 127
 *   float   d[rows]          an F16 value, widened
 *   int32_t sum[rows]        Σ_i q[r][i], which kernels multiplying
 *                            activations shifted to unsigned subtract
 *
 * Activations are quantised the same way, one scale per token
 * (wf_q8r_quantize).  A product is then one exact integer dot and one float
 * multiply.  Conversion, per row (and per token), NaN ignored in the max:
 *   m = max |w_i|, id = m > 0 ? 127 / m : 0, q_i = wf_q8(w_i · id),
 *   d = wf_f16_to_f32(wf_f32_to_f16(m / 127)).
 */
#define WF_Q8R_ALIGN 32

struct wf_q8r {
	const int8_t *q;
	const float *d;
	const int32_t *sum;
	int cols;
};

/* Bytes of a WF_Q8R matrix; and its three arrays within data (rows x cols
 * as above; data 4-byte aligned, 64 for the fastest loads). */
size_t wf_q8r_bytes(int rows, int cols);
void wf_q8r_bind(struct wf_q8r *m, const void *data, int rows, int cols);

/* x[n] to q[n]; returns d (the conversion above, one scale for all n). */
float wf_q8r_quantize(const float *x, int n, int8_t *q);

/* Rows [r0, r1) of an F16 (F32) matrix w [rows][cols] converted: row r to
 * q + (r - r0)·cols, d[r - r0], sum[r - r0]. */
void wf_q8r_from_f16(const uint16_t *w, int cols, int8_t *q, float *d, int32_t *sum, int r0, int r1);
void wf_q8r_from_f32(const float *w, int cols, int8_t *q, float *d, int32_t *sum, int r0, int r1);

/*
 * Rows [r0, r1) of W times n tokens x + j·ldx (int8 [cols], |x| <= 127,
 * scale dx[j]):  out[j·ldo + r - r0] = (float)dot · (d_r · dx[j]), dot the
 * exact int32 Σ q·x over the row (|dot| < 2^31 for cols < 133,000).  All
 * variants agree bit for bit; the matrix is read from memory once for all
 * the tokens (register tiles of rows x tokens where a variant has them).
 * Uses up to about 80 KB of stack.
 */
void wf_q8r_matmat(const struct wf_q8r *w, const int8_t *x, size_t ldx, const float *dx, int n,
                   float *out, size_t ldo, int r0, int r1);

/* Conversions. */
float wf_f16_to_f32(uint16_t h);
uint16_t wf_f32_to_f16(float f);       /* round to nearest even; NaN stays a
                                        * quiet NaN with its sign and top payload */
float wf_bf16_to_f32(uint16_t h);
uint16_t wf_f32_to_bf16(float f);      /* round to nearest even */

#endif
