#include "chat.h"

#include <stdlib.h>
#include <string.h>

enum wf_chat_format wf_chat_from_name(const char *s)
{
	if (!strcmp(s, "bitnet"))
		return WF_CHAT_BITNET;
	if (!strcmp(s, "llama3"))
		return WF_CHAT_LLAMA3;
	if (!strcmp(s, "chatml"))
		return WF_CHAT_CHATML;
	return WF_CHAT_NONE;
}

const char *wf_chat_name(enum wf_chat_format f)
{
	switch (f) {
	case WF_CHAT_BITNET: return "bitnet";
	case WF_CHAT_LLAMA3: return "llama3";
	case WF_CHAT_CHATML: return "chatml";
	default: return "none";
	}
}

static int has(const char *s, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; i + m <= n; i++)
		if (s[i] == needle[0] && !memcmp(s + i, needle, m))
			return 1;
	return 0;
}

enum wf_chat_format wf_chat_detect(const char *t, size_t n)
{
	if (has(t, n, "<|start_header_id|>"))
		return WF_CHAT_LLAMA3;
	if (has(t, n, "<|im_start|>"))
		return WF_CHAT_CHATML;
	if (has(t, n, "BITNET") || (has(t, n, "<|eot_id|>") && has(t, n, "Assistant: ")))
		return WF_CHAT_BITNET;
	return WF_CHAT_NONE;
}

int wf_chat_wants_bos(enum wf_chat_format f)
{
	return f == WF_CHAT_BITNET || f == WF_CHAT_LLAMA3;
}

struct out {
	char **buf;
	size_t *cap, len;
	int oom;
	size_t *ranges, nr;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > *o->cap) {
		size_t c = *o->cap ? *o->cap : 256;
		while (c < o->len + n + 1)
			c *= 2;
		char *p = realloc(*o->buf, c);
		if (!p) {
			o->oom = 1;
			return;
		}
		*o->buf = p;
		*o->cap = c;
	}
	memcpy(*o->buf + o->len, s, n);
	o->len += n;
	(*o->buf)[o->len] = 0;
}

/* Template text: put it and record its range (joined with the last one
 * when adjacent). */
static void puts_(struct out *o, const char *s)
{
	size_t a = o->len;
	put(o, s, strlen(s));
	if (o->nr && o->ranges[2 * o->nr - 1] == a)
		o->ranges[2 * o->nr - 1] = o->len;
	else if (o->nr < WF_CHAT_MAX_RANGES) {
		o->ranges[2 * o->nr] = a;
		o->ranges[2 * o->nr + 1] = o->len;
		o->nr++;
	}
}

/* Jinja's trim: white space (space, \t, \n, \r, \f, \v) off both ends. */
static void trim(const char **s, size_t *n)
{
	while (*n && strchr(" \t\n\r\f\v", (*s)[0]) && (*s)[0]) {
		(*s)++;
		(*n)--;
	}
	while (*n && strchr(" \t\n\r\f\v", (*s)[*n - 1]) && (*s)[*n - 1])
		(*n)--;
}

int wf_chat_render(enum wf_chat_format f, const char *sys, size_t sys_len, const char *user, size_t user_len,
                   char **buf, size_t *cap, size_t *len, size_t *ranges, size_t *n_ranges)
{
	struct out o = {buf, cap, 0, 0, ranges, 0};
	int has_sys = sys && sys_len;
	put(&o, "", 0);
	switch (f) {
	case WF_CHAT_BITNET:
		trim(&sys, &sys_len);
		trim(&user, &user_len);
		if (has_sys) {
			puts_(&o, "System: ");
			put(&o, sys, sys_len);
			puts_(&o, "<|eot_id|>");
		}
		puts_(&o, "User: ");
		put(&o, user, user_len);
		puts_(&o, "<|eot_id|>Assistant: ");
		break;
	case WF_CHAT_LLAMA3:
		trim(&sys, &sys_len);
		trim(&user, &user_len);
		if (has_sys) {
			puts_(&o, "<|start_header_id|>system<|end_header_id|>\n\n");
			put(&o, sys, sys_len);
			puts_(&o, "<|eot_id|>");
		}
		puts_(&o, "<|start_header_id|>user<|end_header_id|>\n\n");
		put(&o, user, user_len);
		puts_(&o, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
		break;
	case WF_CHAT_CHATML:
		if (has_sys) {
			puts_(&o, "<|im_start|>system\n");
			put(&o, sys, sys_len);
			puts_(&o, "<|im_end|>\n");
		}
		puts_(&o, "<|im_start|>user\n");
		put(&o, user, user_len);
		puts_(&o, "<|im_end|>\n<|im_start|>assistant\n");
		break;
	default:
		return -1;
	}
	if (o.oom)
		return -1;
	*len = o.len;
	*n_ranges = o.nr;
	return 0;
}
