/*
 * hfvocab — a Hugging Face tokenizer.json (+ tokenizer_config.json,
 * config.json) turned into the GGUF tokenizer keys llama.cpp's
 * convert_hf_to_gguf.py writes for byte-level BPE models (its
 * _set_vocab_gpt2 path and gguf-py's SpecialVocab):
 *
 *   tokenizer.ggml.model       "gpt2" (BPE model with a ByteLevel pre-tokenizer)
 *   tokenizer.ggml.pre         recognised from the pre-tokenizer:
 *                                Split(LLaMA 3 regex) + ByteLevel  -> "llama-bpe"
 *                                ByteLevel(use_regex: true) alone  -> "gpt-2"
 *                              anything else is refused with the reason unless
 *                              the caller names the value (opts.pre)
 *   tokenizer.ggml.tokens      ids 0..n-1: model.vocab, then added_tokens (which
 *                              win on a shared id); a missing id is "[PAD<id>]"
 *   tokenizer.ggml.token_type  INT32: 1 normal; added tokens 3 control when
 *                              "special" (or looking special: "<|...|>",
 *                              "<pad>", "<mask>", "<unused...>", ...), else 4
 *                              user-defined (with U+2581 replaced by ' ');
 *                              5 unused for the "[PAD<id>]" holes
 *   tokenizer.ggml.merges      "a b" strings; the newer [["a","b"]] pair form is
 *                              joined with ' ' after spaces inside the parts are
 *                              written as U+0120, as gguf-py does
 *   tokenizer.ggml.{bos,eos,unknown,seperator,padding,cls,mask}_token_id
 *                              tokenizer_config.json's <typ>_token (a string or
 *                              {"content": ...}) looked up among added_tokens,
 *                              else config.json's <typ>_token_id ("seperator" is
 *                              gguf-py's spelling)
 *   tokenizer.ggml.eot_token_id  tokenizer_config.json's eot_token, else the
 *                              added token "<|eot_id|>" or "<|im_end|>" when it
 *                              exists (llama.cpp finds these by text at load time)
 *   tokenizer.ggml.add_bos_token / add_eos_token
 *                              tokenizer_config.json's add_bos_token /
 *                              add_eos_token; else inferred from a
 *                              TemplateProcessing post-processor that starts with
 *                              the BOS / ends with the EOS; else not written
 *   tokenizer.chat_template    tokenizer_config.json's chat_template (a string; or
 *                              a list of {name, template}: "default" becomes
 *                              tokenizer.chat_template, the others
 *                              tokenizer.chat_template.<name>; names are 1 to 64
 *                              of [A-Za-z0-9_-], each used once), unless the
 *                              caller supplies one
 *
 * n (the token count) is config.json's vocab_size when given (every id must
 * be below it), else the largest id + 1; n and every id + 1 are at most
 * WF_MAX_VOCAB (model.h), the most a model may have.
 *
 * Not supported (refused with a message): non-BPE models (Unigram,
 * WordPiece), SentencePiece-style BPE (byte_fallback: true).
 */
#ifndef WF_HFVOCAB_H
#define WF_HFVOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "json.h"
#include "tokenizer.h" /* the token types, WF_TOKTYPE_* */

/* The special ids, in gguf-py's order; WF_SPECIAL_EOT is wf's addition. */
enum { WF_SPECIAL_BOS, WF_SPECIAL_EOS, WF_SPECIAL_UNK, WF_SPECIAL_SEP, WF_SPECIAL_PAD,
       WF_SPECIAL_CLS, WF_SPECIAL_MASK, WF_SPECIAL_EOT, WF_SPECIAL_N };

struct wf_hfvocab_opts {
	const char *pre;            /* tokenizer.ggml.pre to write instead of detecting; NULL: detect */
	int64_t n_vocab;            /* > 0: the token count (else config.json's vocab_size or max id + 1) */
	const char *chat_template;  /* non-NULL: write this instead of tokenizer_config's */
};

struct wf_hfvocab_tmpl {
	char *name;                 /* NULL for the default template */
	char *text;
};

struct wf_hfvocab {
	uint32_t n;                 /* tokens */
	const char **tokens;        /* tokens[n], NUL-terminated UTF-8 */
	size_t *token_lens;         /* bytes of each (a token may hold a NUL) */
	int32_t *types;             /* types[n], WF_TOKTYPE_* */
	uint64_t n_merges;
	const char **merges;        /* "a b" */
	char model[16];             /* "gpt2" */
	char pre[64];               /* "llama-bpe", "gpt-2", or opts.pre */
	int64_t special[WF_SPECIAL_N]; /* ids, -1 when absent */
	int add_bos, add_eos;       /* 0/1, -1 when unknown (not written) */
	struct wf_hfvocab_tmpl *tmpls;
	size_t n_tmpls;
	/* private: storage */
	char **owned;
	size_t n_owned, owned_cap;
};

/*
 * Build *v from the parsed tokenizer.json root tok, tokenizer_config.json
 * root tcfg (NULL if absent) and config.json root cfg (NULL if absent).
 * v keeps pointers into the JSON trees: free them only after
 * wf_hfvocab_free(v).  Returns 0, or -1 with a message naming the field:
 *   "token id 5000 is not below config.json's vocab_size 4096"
 * (then *v is zeroed and needs no freeing).
 */
int wf_hfvocab_build(struct wf_hfvocab *v, const struct wf_json *tok, const struct wf_json *tcfg,
                     const struct wf_json *cfg, const struct wf_hfvocab_opts *opts,
                     char *err, size_t errlen);

/* Release what wf_hfvocab_build allocated.  NULL-safe; *v is zeroed. */
void wf_hfvocab_free(struct wf_hfvocab *v);

/* Add the tokenizer keys (list above) to a GGUF writer.  0 or -1 (the
 * writer's error, see wf_gguf_writer_error). */
int wf_hfvocab_write(const struct wf_hfvocab *v, struct wf_gguf_writer *w);

#endif
