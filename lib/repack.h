/*
 * repack — rewrite a BitNet GGUF so its ternary weights are already in the
 * kernels' native layout (type WF_TYPE_WF_TMAT, see gguf.h), for model
 * images: every worker then binds the weights in place, whatever format
 * the file used (I2_S, TQ1_0, TQ2_0, or float weights ternarised with the
 * per-tensor absmean), and loads no faster or slower for it.
 *
 * What is rewritten: every 2-D tensor named blk.N.{attn_q, attn_k, attn_v,
 * attn_output, ffn_gate, ffn_up, ffn_down}.weight (and output.weight when it
 * is ternary: I2_S/TQ1_0/TQ2_0) whose row length is a multiple of 128.  Its
 * trits and per-tensor scale are exactly those lib/model would compute from
 * the source tensor (lib/ternary decodes it); a `.scale` tensor beside it is
 * kept as it is and still applied by the model.  Everything else (metadata,
 * embedding, norms, MoE expert stacks, LRC factors) is copied unchanged.
 *
 * Added: `wf.output_q8r`, an 8-bit copy (type WF_Q8R, kernels.h) of the
 * float output matrix (output.weight, else the tied token_embd.weight;
 * F16/F32/BF16, rows a multiple of 32 long) when it holds
 * WF_Q8_0_OUTPUT_MIN bytes or more, or always with $WF_OUTPUT=q8_0 (never
 * with $WF_OUTPUT=f16).  lib/model
 * multiplies by it instead of the float matrix unless $WF_OUTPUT=f16; its
 * rows are quantised exactly as the model would at load.
 *
 * The output is GGUF v3 with alignment 64 and the key `wf.repacked` = 1.
 */
#ifndef WF_REPACK_H
#define WF_REPACK_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

struct wf_repack;

/*
 * Plan the rewrite of g (which must outlive the plan): checks every tensor
 * to be rewritten decodes (type, shape, one scale per tensor) and computes
 * the output size into *size.  Returns NULL with a message on error.
 */
struct wf_repack *wf_repack_plan(const struct wf_gguf *g, uint64_t *size, char *err, size_t errlen);

/* Tensors the plan rewrites or adds (0: nothing to gain from a repack). */
int wf_repack_count(const struct wf_repack *r);

/*
 * Write the repacked GGUF to sink.  progress, if not NULL, is called with
 * (bytes of tensor data written so far, total) after each tensor.  Memory:
 * one chunk of decoded trits (a few MiB), whatever the model's size.
 * Returns 0, or -1 with a message.
 */
int wf_repack_write(struct wf_repack *r, wf_gguf_sink sink, void *ctx,
                    void (*progress)(void *pctx, uint64_t done, uint64_t total), void *pctx,
                    char *err, size_t errlen);

void wf_repack_free(struct wf_repack *r);

#endif
