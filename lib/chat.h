/*
 * chat — the chat formats wf knows, recognised from a model's
 * tokenizer.chat_template by distinctive substrings (there is no Jinja
 * engine), and rendering of a conversation of one optional system message
 * and one user message into the text of the prompt.  The text holds the
 * format's special tokens by name ("<|eot_id|>"): encode it with
 * WF_ENC_SPECIAL.  BOS is not part of the text: put it in front when
 * wf_chat_wants_bos() says so.
 *
 *   WF_CHAT_BITNET   BitNet b1.58 2B-4T, as its Hugging Face template:
 *                    [System: S<|eot_id|>]User: U<|eot_id|>Assistant: 
 *   WF_CHAT_LLAMA3   <|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>
 *                    <|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>
 *                    <|start_header_id|>assistant<|end_header_id|>\n\n
 *   WF_CHAT_CHATML   <|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n
 *                    <|im_start|>assistant\n
 * BITNET and LLAMA3 trim white space around the messages (the templates'
 * "| trim"); CHATML keeps them as given.
 */
#ifndef WF_CHAT_H
#define WF_CHAT_H

#include <stddef.h>

enum wf_chat_format { WF_CHAT_NONE = 0, WF_CHAT_BITNET, WF_CHAT_LLAMA3, WF_CHAT_CHATML };

/* "bitnet", "llama3", "chatml" -> the format; WF_CHAT_NONE if unknown. */
enum wf_chat_format wf_chat_from_name(const char *name);
const char *wf_chat_name(enum wf_chat_format f);

/*
 * The format of a Jinja template text tmpl[0..len): "<|start_header_id|>" ->
 * LLAMA3; "<|im_start|>" -> CHATML; "BITNET", or "<|eot_id|>" with
 * "Assistant: " -> BITNET (checked in this order, as llama.cpp does);
 * WF_CHAT_NONE otherwise.
 */
enum wf_chat_format wf_chat_detect(const char *tmpl, size_t len);

/* 1 when the format's template starts with the BOS token. */
int wf_chat_wants_bos(enum wf_chat_format f);

/*
 * Render: the prompt for system (NULL or sys_len 0 for none) and user into
 * *buf (malloc'd / grown with realloc; *cap its size), *len its length.
 * ranges[0 .. 2 * *n_ranges) receives the [start, end) byte ranges of the
 * template's own text (at most WF_CHAT_MAX_RANGES ranges), where special
 * tokens are to be recognised (wf_tok_encode_ex()); the messages lie
 * outside them.  Returns 0, or -1 when out of memory or f is WF_CHAT_NONE.
 */
#define WF_CHAT_MAX_RANGES 8
int wf_chat_render(enum wf_chat_format f, const char *system, size_t sys_len, const char *user, size_t user_len,
                   char **buf, size_t *cap, size_t *len, size_t *ranges, size_t *n_ranges);

#endif
