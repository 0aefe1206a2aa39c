/*
 * tokenizer — text to token IDs and back, from a model's GGUF metadata.
 *
 * Two vocabulary kinds (tokenizer.ggml.model):
 *   "gpt2"   byte-level BPE (GPT-2, LLaMA 3, BitNet b1.58 2B-4T): the text is
 *            cut into words by a pre-tokenizer, each word's bytes become the
 *            byte tokens and are merged by rank (tokenizer.ggml.merges).
 *   "llama"  SentencePiece-style BPE (LLaMA 1/2): spaces become U+2581, a
 *            space is put in front (add_space_prefix), UTF-8 characters are
 *            merged by token score, leftovers fall back to <0xXX> tokens.
 * The results are the same as llama.cpp's tokenizer (its test vectors pass).
 *
 * Pre-tokenizers (byte-level BPE), each a hand-written matcher of a regular
 * expression (the classes \p{L} \p{N} \p{P} \s come from lib/unicode):
 *   WF_PRE_LLAMA3   (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|
 *                   [^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 *                   \s*[\r\n]+|\s+(?!\S)|\s+
 *                   and a word that is itself a token is not merged
 *                   (ignore_merges).  tokenizer.ggml.pre "llama3", "llama-v3",
 *                   "llama-bpe", "smaug-bpe".
 *   WF_PRE_GPT2     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
 *                   ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *                   pre "gpt-2", "phi-2", "mpt", "olmo", "roberta-bpe".
 *   WF_PRE_DEFAULT  llama.cpp's (and bitnet.cpp's) fallback, four splits in
 *                   turn: [\p{P}\$\+<=>\^~\|]+, then the GPT-2 expression,
 *                   then \p{N}+, then [0-9][0-9][0-9]; the text between
 *                   matches is kept as words too.  pre "default".
 * When tokenizer.ggml.pre is absent, a LLaMA 3 vocabulary (128256 tokens,
 * "<|begin_of_text|>" at 128000) gets WF_PRE_LLAMA3, its model-correct
 * rules, and any other gets WF_PRE_DEFAULT, llama.cpp's choice for a
 * missing key.  (bitnet.cpp uses DEFAULT for the official 2B-4T GGUF, which
 * lacks the key: choose WF_PRE_DEFAULT to get its token IDs.  DEFAULT
 * follows llama.cpp's code, std::regex on category-collapsed text included;
 * no bitnet.cpp output was at hand to compare with.)
 *
 * Invalid UTF-8 is not an error: a byte that does not start a valid
 * sequence is a character of its own with no class (like punctuation for
 * the expressions above).  Byte-level BPE encodes it with its byte token
 * and SPM with its <0xXX> token, so any byte string round-trips.  (For
 * valid UTF-8 the ids are llama.cpp's; for invalid input llama.cpp's SPM
 * takes the length a lead byte announces, swallowing following bytes, and
 * replaces bad bytes by U+FFFD in byte-level BPE: wf keeps the bytes.)
 *
 * Lifetime: the handle points into the parsed GGUF (token texts, and the
 * struct wf_gguf's string tables): keep g and its buffer alive while the
 * handle is in use.  Every lookup is const and thread-safe; wf_tok_encode()
 * uses scratch space and a word cache inside the handle, so one thread at a
 * time may encode with one handle.
 *
 * The merge index is one flat block of integers without pointers
 * (wf_tok_index()), so a model image can carry a precomputed copy and
 * wf_tokenizer_load() can adopt it instead of building it: `wf-shm load`
 * stores it as the tensor WF_TOK_INDEX_TENSOR (type F32 used as raw 32-bit
 * words, [index bytes / 4]), and the loader adopts such a tensor in place.
 */
#ifndef WF_TOKENIZER_H
#define WF_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

/* Token types (tokenizer.ggml.token_type; llama.cpp's values). */
enum wf_toktype {
	WF_TOKTYPE_UNDEFINED = 0,
	WF_TOKTYPE_NORMAL = 1,
	WF_TOKTYPE_UNKNOWN = 2,
	WF_TOKTYPE_CONTROL = 3,
	WF_TOKTYPE_USER_DEFINED = 4,
	WF_TOKTYPE_UNUSED = 5,
	WF_TOKTYPE_BYTE = 6
};

enum wf_tok_model { WF_TOK_BPE = 1, WF_TOK_SPM = 2 };

/* The tensor a model image holds the precomputed index in. */
#define WF_TOK_INDEX_TENSOR "wf.tokenizer.index"

enum wf_tok_pre {
	WF_PRE_AUTO = 0,     /* from tokenizer.ggml.pre (see above) */
	WF_PRE_LLAMA3,
	WF_PRE_GPT2,
	WF_PRE_DEFAULT
};

struct wf_tok_opts {
	enum wf_tok_pre pre;     /* WF_PRE_AUTO unless overridden */
	int decode_only;         /* 1: skip the merge and text indexes (faster
	                          * load); wf_tok_encode() and wf_tok_find()
	                          * then fail */
	const void *index;       /* a precomputed index (from wf_tok_index() on
	                          * the same GGUF), or NULL: then the GGUF's
	                          * WF_TOK_INDEX_TENSOR if it has one (checked
	                          * like this), else one is built */
	size_t index_len;
};

/* A growable array of token IDs.  Zero-initialize; wf_tok_encode() appends
 * and grows it with realloc (so after warm-up nothing is allocated); free
 * ids with free(). */
struct wf_tok_ids {
	int32_t *ids;
	size_t n, cap;
};

struct wf_tokenizer;

/* Pre-tokenizer by name: "llama3" (also "llama-v3", "llama-bpe",
 * "smaug-bpe"), "gpt2" (also "gpt-2"), "default"; -1 if unknown. */
int wf_tok_pre_from_name(const char *name);
/* "llama3", "gpt2", "default". */
const char *wf_tok_pre_name(enum wf_tok_pre pre);

/*
 * Build a tokenizer from g's tokenizer.ggml.* keys.  opts may be NULL.
 * Checks, each failing with a precise message:
 *   tokenizer.ggml.model present and "gpt2" or "llama";
 *   tokenizer.ggml.tokens STRING[n] with 0 < n < 2^31;
 *   tokenizer.ggml.scores FLOAT32[n] (required for "llama", optional else);
 *   tokenizer.ggml.token_type INT32[n] with values 0..6 (optional; all
 *     normal when absent);
 *   tokenizer.ggml.merges STRING[] (required for "gpt2"): each "LEFT RIGHT"
 *     with LEFT, RIGHT and LEFTRIGHT tokens of the vocabulary;
 *   bos/eos/unknown/separator/padding/eot/eom token ids in [0, n);
 *   tokenizer.ggml.pre known (or overridden by opts->pre).
 * Returns the handle, or NULL with the message in err.
 */
struct wf_tokenizer *wf_tokenizer_load(const struct wf_gguf *g, const struct wf_tok_opts *opts,
                                       char *err, size_t errlen);
void wf_tokenizer_free(struct wf_tokenizer *t);

uint32_t wf_tok_n_vocab(const struct wf_tokenizer *t);
enum wf_tok_model wf_tok_model(const struct wf_tokenizer *t);
enum wf_tok_pre wf_tok_pre(const struct wf_tokenizer *t);   /* BPE only */

/* Special ids, -1 when the vocabulary has none.  bos/eos/unk/eot come from
 * tokenizer.ggml.{bos,eos,unknown,eot}_token_id.  Without the key: SPM
 * vocabularies have unk 0, bos 1, eos 2 (llama.cpp's defaults); a LLaMA 3
 * BPE vocabulary has bos "<|begin_of_text|>"; eot is the token
 * "<|eot_id|>" (or "<|im_end|>", "<|end|>", "<end_of_turn>"). */
int32_t wf_tok_bos(const struct wf_tokenizer *t);
int32_t wf_tok_eos(const struct wf_tokenizer *t);
int32_t wf_tok_eot(const struct wf_tokenizer *t);
int32_t wf_tok_unk(const struct wf_tokenizer *t);

/* tokenizer.ggml.add_bos_token / add_eos_token (defaults as llama.cpp:
 * add BOS for "llama" and for LLaMA 3 BPE, else not; never EOS). */
int wf_tok_add_bos(const struct wf_tokenizer *t);
int wf_tok_add_eos(const struct wf_tokenizer *t);
/* 1 for SPM vocabularies that put a space before the text (and whose
 * detokenized text therefore starts with one). */
int wf_tok_add_space_prefix(const struct wf_tokenizer *t);

/*
 * End-of-generation: the ids at which a decoder stops.  The set holds eos,
 * eot, eom and every control token whose text is one of "<|eot_id|>",
 * "<|end_of_text|>", "<|eom_id|>", "<|im_end|>", "<|endoftext|>",
 * "<|end|>", "<end_of_turn>".  For LLaMA 3 / BitNet 2B-4T: 128001 and
 * 128009.  *n gets the count; the array lives as long as the handle.
 */
const int32_t *wf_tok_eog(const struct wf_tokenizer *t, size_t *n);
int wf_tok_is_eog(const struct wf_tokenizer *t, int32_t id);

/* Type of token id (WF_TOKTYPE_*); WF_TOKTYPE_UNDEFINED when out of range. */
enum wf_toktype wf_tok_type(const struct wf_tokenizer *t, int32_t id);

/* The token's text as stored in the vocabulary (byte-level BPE texts are in
 * GPT-2's byte-to-character mapping, SPM texts use U+2581), not
 * NUL-terminated; NULL when id is out of range. */
const char *wf_tok_text(const struct wf_tokenizer *t, int32_t id, size_t *len);

/*
 * The bytes token id stands for, for printing: byte-level BPE texts mapped
 * back to raw bytes; SPM U+2581 -> ' ' and <0xXX> -> the byte; control and
 * unknown tokens give their text when special is 1 and "" when 0;
 * user-defined tokens give their text; unused tokens "".  The result may be
 * a partial UTF-8 character (byte tokens): join pieces before printing.
 * NUL-terminated for convenience (a piece may itself hold a NUL byte, so use
 * *len).  NULL when id is out of range.
 */
const char *wf_tok_piece(const struct wf_tokenizer *t, int32_t id, int special, size_t *len);

/* The id of the token whose vocabulary text is s[0..len) (as stored: "<|eot_id|>",
 * "Ġthe", "▁the"), or -1.  When several tokens share a text, the last. */
int32_t wf_tok_find(const struct wf_tokenizer *t, const char *s, size_t len);

enum {
	WF_ENC_SPECIAL = 1,  /* control-token texts in the input become their ids */
	WF_ENC_BOS = 2,      /* put bos first (when the vocabulary has one) */
	WF_ENC_EOS = 4       /* put eos last (when the vocabulary has one) */
};

/*
 * Tokenize text[0..len) (any bytes) and append the ids to out.  flags:
 * WF_ENC_*.  User-defined tokens are always matched in the text; control
 * and unknown tokens only with WF_ENC_SPECIAL (llama.cpp's parse_special),
 * longest first.  Returns 0, or -1 with a message (out of memory; or a
 * handle loaded with decode_only).  On failure out->n is restored.
 */
int wf_tok_encode(struct wf_tokenizer *t, const char *text, size_t len, int flags,
                  struct wf_tok_ids *out, char *err, size_t errlen);

/*
 * wf_tok_encode() where control tokens are also recognised, without
 * WF_ENC_SPECIAL, inside the byte ranges [ranges[2i], ranges[2i+1]) for
 * i < n_ranges: the parts of a chat template, while the user's text in
 * between stays plain text.
 */
int wf_tok_encode_ex(struct wf_tokenizer *t, const char *text, size_t len, int flags, const size_t *ranges,
                     size_t n_ranges, struct wf_tok_ids *out, char *err, size_t errlen);

/*
 * The precomputed index (token-text hash and merge hash): one flat,
 * position-independent block of native-endian integers, with a
 * header naming its size, the vocabulary size, the merge count and a hash
 * of the vocabulary texts.  Pass it back through wf_tok_opts.index to skip
 * building it; wf_tokenizer_load() checks that it matches the GGUF.
 * NULL for decode_only handles.
 */
const void *wf_tok_index(const struct wf_tokenizer *t, size_t *len);

#endif
