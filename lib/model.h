/*
 * model — a BitNet b1.58 model bound to a parsed GGUF, and its forward pass.
 *
 * Binding (wf_model_load) reads the hyperparameters of architectures
 * `bitnet-b1.58`, `bitnet-25` and `bitnet`, checks every tensor's presence,
 * type and shape, and turns each ternary weight (I2_S, TQ2_0, TQ1_0, or
 * F32/F16/BF16 ternarised with the per-tensor absmean) into the kernels'
 * packed layout in private memory -- or binds already packed data handed in
 * by the caller (a model image), see struct wf_model_opts.  Float tensors
 * (norms, embedding, output matrix) are read in place when they are F32 or
 * F16 and suitably aligned, else converted once at load.
 *
 * The forward pass (wf_ctx_eval) follows DESIGN §5 and notes/bitnet-formats.md:
 *
 *   rmsnorm(x, w):  ss = Σ (double)(x_i*x_i); r = 1/sqrtf((float)(ss/n) + eps);
 *                   y_i = (x_i * r) * w_i
 *   tlinear(x, W):  per token q = Qa(x) (wf_quantize_i8, shared by q/k/v and
 *                   by gate/up), out = (float)(Σ T·q) / s_x * s_W
 *                   (times the optional `.scale` tensor, + U(Vᵀx) with LRC)
 *   attention:      NEOX RoPE with ggml's iterative theta, GQA, scores
 *                   (q·k) * 1/sqrtf(head_dim), softmax with the sum in double
 *   FFN:            relu(g)² * u  (or silu(g) * u), SubLN before Wo and Wdown
 *   logits:         rmsnorm(x, output_norm) times the output matrix (tied
 *                   embedding or output.weight): an F16 matrix with the
 *                   state rounded to F16 (as ggml), F32 exactly; a large one
 *                   (>= 64 MiB) or with $WF_OUTPUT=q8_0 as a Q8_0 copy with
 *                   Q8_0 activations ($WF_OUTPUT=f16: never).
 *
 * Optional per model:
 *   `.scale` tensors [1] per weight (blk.N.attn_q.scale ...): multiply the
 *       product (folded into s_W).
 *   LRC: blk.N.<linear>.lrc_v [in, rank] and .lrc_u [rank, out] (F32/F16/
 *       BF16; rank from `<arch>.lrc_rank` when present): the linear's output
 *       gains U (V x), x its float input before quantisation.  Not on experts.
 *   MoE: a layer with blk.N.ffn_gate_inp.weight [H, n_expert] (float) has
 *       experts blk.N.ffn_{gate,up}_exps.weight [H, Fe, n_expert] and
 *       ffn_down_exps.weight [Fe, H, n_expert] (ternary types; TQ/float types
 *       get a scale per expert, I2_S one for the tensor) instead of the dense
 *       FFN; keys `<arch>.expert_count`, `.expert_used_count` (k), optional
 *       `.expert_feed_forward_length` (Fe, default feed_forward_length).
 *       Router logits r = W_inp h (h the ffn_norm output in float); the k
 *       largest (ties: lower expert) are kept and weighted by softmax over
 *       those k; each expert computes act(g)*u, ffn_sub_norm [Fe], down; the
 *       FFN output is the weighted sum.
 *
 * KV cache: F32 by default, i.e. exact: on the trained tiny-shakespeare
 * model the final logits are 0.0010-0.0017 rel L2 from the float64
 * reference (bitnet.cpp with its F16 cache: 0.0021-0.0045).  Optionally
 * (wf_ctx_set_kv_f16) keys and values are rounded to F16 as in the peers'
 * default F16 cache, and queries too, as ggml's K·Q product converts them;
 * that brings wf within 1e-7 (one token), 2e-4, 8e-4 and 0.0075 (7, 64 and
 * 200 tokens) rel L2 of bitnet.cpp's I2_S logits on the peer fixtures,
 * against 0.027 with F32.  Either way the cache is held as F32, so attention
 * runs as plain float SIMD without conversions, at twice the memory of an
 * F16 cache (2B-4T: 153.6 KB per position); pages are touched only as
 * positions are used.  An F16 output matrix multiplies the hidden state
 * rounded to F16, as ggml's F16 matmul does.
 *
 * Threads: a context owns a wf_pool; matrix products are split by rows,
 * attention by heads, per-token work by tokens.  A context allocates all
 * its scratch at creation: wf_ctx_eval allocates nothing.
 *
 * Sequences: a context may hold several independent sequences ("slots",
 * wf_ctx_new_seqs), each with its own cache, tokens and n_past, sharing the
 * weights, pool and scratch.  wf_ctx_eval_seqs evaluates one token of each
 * of several sequences in one pass (the projections then read each weight
 * once for all of them); its results equal evaluating each sequence alone,
 * bit for bit.
 *
 * Errors: 0 / -1 (or NULL) with one line in the caller's err[errlen].
 */
#ifndef WF_MODEL_H
#define WF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

/* The largest hyperparameters wf_model_load accepts (embedding length,
 * feed-forward length, layers, heads, vocabulary, context); the writers
 * (wf-gen, wf-convert) hold their output to them too. */
#define WF_MAX_EMBD (1 << 16)
#define WF_MAX_FF (1 << 20)
#define WF_MAX_LAYER 1024
#define WF_MAX_HEAD 1024
#define WF_MAX_VOCAB (1 << 24)
#define WF_MAX_CTX (1 << 24)

/* FFN activation. */
enum wf_act {
	WF_ACT_DEFAULT = 0, /* from the file: see wf_model_load */
	WF_ACT_RELU2 = 1,   /* relu(g)^2 * u */
	WF_ACT_SILU = 2     /* silu(g) * u */
};

/* "relu2" / "silu" -> WF_ACT_*, or -1. */
int wf_act_parse(const char *s);
const char *wf_act_name(int act);

struct wf_hparams {
	char arch[32];         /* general.architecture */
	int n_vocab;           /* rows of token_embd */
	int n_embd;            /* H */
	int n_layer;
	int n_ff;              /* F */
	int n_head, n_head_kv;
	int head_dim;          /* H / n_head */
	int n_rot;             /* rope.dimension_count (default head_dim) */
	int n_ctx_train;       /* context_length */
	float rope_base;       /* rope.freq_base (default 10000) */
	float rope_freq_scale; /* 1 / rope.scaling.factor for linear scaling */
	float rms_eps;
	int act;               /* WF_ACT_RELU2 or WF_ACT_SILU, as resolved */
	const char *act_from;  /* "file key", "flag", "architecture", "shape" */
	int tied;              /* no output.weight: logits from token_embd */
	int n_expert, n_expert_used; /* 0 for a dense model */
	int n_ff_exp;          /* expert FFN size (expert_feed_forward_length, default n_ff) */
	int lrc_rank;          /* 0 without LRC */
	uint64_t n_params;     /* weights counted over all bound tensors */
	uint64_t n_bytes;      /* GGUF bytes of those tensors */
	uint32_t wtype;        /* type of blk.0.attn_q.weight, or in an image the type it came in (for display) */
};

/*
 * Pre-packed tensors.  When opts->packed is set, the loader asks it for
 * every ternary weight before packing it: the callback returns 1 after
 * storing *data (wf_tmat_packed_size(rows, cols) bytes, 64-byte aligned,
 * valid for the model's lifetime) and *scale (s_W with any `.scale`
 * tensor folded in, as wf_model_tmat reports it), 0 to have the loader
 * decode and pack the GGUF
 * tensor itself, or -1 with a message in err to fail the load.  name is
 * the GGUF tensor name ("blk.3.ffn_up.weight"; for MoE experts
 * "blk.3.ffn_up_exps.weight#E" with E the expert index).
 */
typedef int (*wf_packed_fn)(void *ctx, const char *name, int rows, int cols,
                            const uint8_t **data, float *scale, char *err, size_t errlen);

struct wf_model_opts {
	int act;                /* WF_ACT_DEFAULT, or force one (a flag) */
	wf_packed_fn packed;    /* may be NULL */
	void *packed_ctx;
	int check_only;         /* validate every key and tensor (names, shapes,
	                         * types, sizes) as a load does, but decode and
	                         * pack nothing: the model can only be freed and
	                         * its hyperparameters read (a converter checking
	                         * what it wrote) */
};

struct wf_model;

/*
 * Bind the model in g (which must outlive the model, with its buffer).
 * opts may be NULL.  The activation is, in order: opts->act; the key
 * `<arch>.hidden_activation` ("relu2", "relu_sqr", "silu"); for arch
 * `bitnet` with a LLaMA-2-sized vocabulary (32000..32002, the 1bitLLM
 * models) SiLU; else ReLU².  Errors name the key or tensor:
 *   "tensor 'blk.0.attn_q.weight': expected [256, 256], found [256, 128]"
 *   "key 'bitnet-b1.58.attention.head_count': 3 does not divide embedding_length 256"
 * Call wf_kernels_init() first (else the scalar kernels run).
 */
struct wf_model *wf_model_load(const struct wf_gguf *g, const struct wf_model_opts *opts,
                               char *err, size_t errlen);
void wf_model_free(struct wf_model *m);

const struct wf_hparams *wf_model_hparams(const struct wf_model *m);

/* The type the ternary weights of g came in (that of blk.0.attn_q.weight;
 * in a model image, its `wf.repacked_from`), for display: WF_TYPE_WF_TMAT
 * when that is not known (no such tensor, or an image without the key). */
uint32_t wf_model_wtype(const struct wf_gguf *g);

/*
 * The packed ternary matrices of a loaded model, for image builders: i in
 * [0, wf_model_n_tmats(m)); *name (if name is non-NULL) receives the name
 * the packed callback is asked with, and the result's scale is s_W with
 * any `.scale` tensor folded in (what the callback returns).
 * A builder loads the model once, stores each matrix's data
 * (wf_tmat_packed_size(rows, cols) bytes) and s_W under its name, and
 * workers bind them through wf_model_opts.packed.
 */
size_t wf_model_n_tmats(const struct wf_model *m);
const struct wf_tmat *wf_model_tmat(const struct wf_model *m, size_t i, const char **name);

/* ---------------------------------------------------------------------- */
/* Contexts: a KV cache, scratch and a thread pool. */

struct wf_ctx;

/*
 * A context for m with room for n_ctx positions (0: the model's
 * context_length), evaluating up to n_batch tokens per internal step (0:
 * min(256, n_ctx)), with n_threads threads (0: all online CPUs).
 */
struct wf_ctx *wf_ctx_new(const struct wf_model *m, int n_ctx, int n_batch, int n_threads,
                          char *err, size_t errlen);

/*
 * The same with n_seqs sequences (1 ..WF_MAX_SEQS), each with room for
 * n_ctx positions; sequence 0 is selected.  wf_ctx_new is n_seqs = 1.
 * A sequence costs n_layer * n_ctx * kvd * 8 bytes of address space
 * (kvd = n_head_kv * head_dim; keys and values as F32; n_ctx rounded up to
 * a multiple of 32), mapped anonymous, without swap reservation and on
 * transparent huge pages where the system allows, so memory is taken as
 * positions are written, 32 positions at a time (2B-4T: 153.6 KB per
 * position, 629 MB reserved per sequence at 4096 positions), plus
 * n_ctx * 4 bytes of token ids.
 * "3000 sequences: not in [1, 1024]".
 */
#define WF_MAX_SEQS 1024
struct wf_ctx *wf_ctx_new_seqs(const struct wf_model *m, int n_ctx, int n_batch, int n_threads,
                               int n_seqs, char *err, size_t errlen);
void wf_ctx_free(struct wf_ctx *c);

int wf_ctx_n_ctx(const struct wf_ctx *c);
int wf_ctx_n_batch(const struct wf_ctx *c);
int wf_ctx_n_threads(const struct wf_ctx *c);

/* 1: round cached keys and values, and queries, to F16 like the peers, and
 * store the cache as F16 (half the memory); 0 (the default): keep them F32
 * (exact).  Changing it forgets what every sequence has cached (call it
 * before the first evaluation). */
void wf_ctx_set_kv_f16(struct wf_ctx *c, int on);

int wf_ctx_n_seqs(const struct wf_ctx *c);

/* Select sequence s (0 <= s < n_seqs; else -1 and nothing changes): the
 * single-sequence calls below (n_past, tokens, truncate, reuse_prefix,
 * eval, decode) work on it.  wf_ctx_seq: the one selected. */
int wf_ctx_set_seq(struct wf_ctx *c, int s);
int wf_ctx_seq(const struct wf_ctx *c);

/* Positions held in the cache (the next token goes at this position). */
int wf_ctx_n_past(const struct wf_ctx *c);

/* The tokens at positions [0, n_past). */
const int32_t *wf_ctx_tokens(const struct wf_ctx *c);

/* Forget positions >= n (n <= n_past); 0 empties the cache. */
void wf_ctx_truncate(struct wf_ctx *c, int n);

/*
 * Keep the longest cached prefix shared with tok[0..n) but at most n - 1
 * positions (so evaluating the rest yields the last token's logits), and
 * forget the rest.  Returns the number kept: the caller evaluates
 * tok[kept..n).  Results equal evaluating the whole prompt afresh.
 */
int wf_ctx_reuse_prefix(struct wf_ctx *c, const int32_t *tok, int n);

/* What wf_ctx_reuse_prefix would keep on sequence s (0 if s is out of
 * range), changing nothing: for choosing the sequence a prompt goes to. */
int wf_ctx_shared_prefix(const struct wf_ctx *c, int s, const int32_t *tok, int n);

/* Attention inside the evaluated block (to the cached prefix it is always full). */
enum wf_attn {
	WF_ATTN_CAUSAL = 0, /* position i sees block positions <= i */
	WF_ATTN_BLOCK = 1   /* every block position sees the whole block (block diffusion) */
};

/*
 * One evaluation: tokens tok[0..n) at positions n_past .. n_past+n-1.
 *   attn    causal, or bidirectional inside the block (then n <= n_batch)
 *   commit  1: the block's keys and values stay cached and n_past grows by
 *           n (prefill, generation, block-diffusion clean pass); 0: the
 *           cache is as before afterwards (block-diffusion refinement)
 *   logits  NULL, or [n - logits_from][n_vocab] floats receiving the logits
 *           of block positions logits_from .. n-1 (n - 1: the last only)
 * n_past + n must not exceed n_ctx ("N positions do not fit in the context
 * of M (P cached)").  Causal blocks longer than n_batch run in pieces, with
 * the same results.  Allocates nothing.
 */
struct wf_eval {
	const int32_t *tok;
	int n;
	int attn;
	int commit;
	int logits_from;
	float *logits;
};

int wf_ctx_eval(struct wf_ctx *c, const struct wf_eval *e, char *err, size_t errlen);

/* Convenience: commit tok[0..n) causally; logits of the last token into
 * logits[n_vocab] when logits is non-NULL. */
int wf_ctx_decode(struct wf_ctx *c, const int32_t *tok, int n, float *logits,
                  char *err, size_t errlen);

/*
 * One token for each of n distinct sequences: tok[j] goes to sequence
 * seq[j] at its next position (its n_past), is committed (n_past grows by
 * one), and its logits go to logits[j][n_vocab] (logits may be NULL).
 * 1 <= n <= n_batch.  Every token's logits equal those of wf_ctx_decode of
 * that token alone on its sequence, bit for bit.  Checked before anything
 * is evaluated (nothing changes on error): "tokens 1 and 3: both for
 * sequence 2", "sequence 2: 1 position does not fit in the context of 64
 * (64 cached)", sequence and id ranges.  Allocates nothing.
 */
int wf_ctx_eval_seqs(struct wf_ctx *c, const int32_t *tok, const int *seq, int n, float *logits,
                     char *err, size_t errlen);

#endif
