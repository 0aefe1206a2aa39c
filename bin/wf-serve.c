/*
 * wf-serve — an OpenAI-compatible HTTP front for a model (man/wf-serve.1).
 *
 *   wf-serve [-m MODEL] [-j WORKERS] [--host H] [--port P] [options]
 *
 * Process structure.  The parent binds the model once (before forking, so
 * the bound weights -- an image's shared pages, or a file's packed copy --
 * are shared by every worker), opens the listening socket and forks -j
 * workers, each with its own context (KV cache, threads) and a UNIX stream
 * socket to the parent.  The parent alone does network I/O until a request
 * is complete: it accepts, reads heads and bodies without blocking (poll),
 * enforces the size limits and timeouts, answers what needs no model (/,
 * /health, /v1/models, errors) itself, and hands each complete request to
 * an idle worker: the client's descriptor travels over the worker socket
 * (SCM_RIGHTS), followed by the request's bytes.  So a slow client holds a
 * connection slot, never a worker.  Complete requests wait in a bounded
 * FIFO while all workers are busy; when it is full they get 503 with
 * Retry-After.  A worker answers on the client socket itself (streaming
 * SSE as tokens are decided), writing 'W' to the parent before the first
 * byte of the response; it shuts the socket down, closes it and writes 'D'
 * back: idle again.  The parent keeps its copy of the descriptor until
 * then, so that when a worker dies (EOF on its socket) before its 'W', the
 * parent answers 500 itself; after 'W' it can only close: the response is
 * cut short.  A worker that dies is replaced.
 * SIGTERM/SIGINT: stop accepting, drop connections whose request is still
 * incomplete, answer what is queued or in flight (503 for what is queued
 * when every worker has died: none is replaced then), then exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chat.h"
#include "cli.h"
#include "cli-model.h"
#include "dlm.h"
#include "gen.h"
#include "gguf.h"
#include "http.h"
#include "image.h"
#include "json.h"
#include "kernels.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"
#include "tokio.h"

#define USAGE                                                                                      \
	"wf-serve [-m MODEL] [-j WORKERS] [-t THREADS] [-c CTX] [--host HOST] [--port PORT]\n"         \
	"       [--api-key-file FILE] [--alias NAME] [--chat-format bitnet|llama3|chatml] [-n N]\n"    \
	"       [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S]\n"      \
	"       [--queue N] [--max-conns N] [--max-body BYTES] [--timeout SECS]\n"                     \
	"       [--request-timeout SECS] [-v]"

#define MAX_STOP 16          /* stop strings per request */
#define MAX_STOP_LEN 1024    /* bytes per stop string */
#define MAX_HEAD 16384
#define MAX_TARGET 8192

enum {
	OPT_HOST = 256, OPT_PORT, OPT_KEYFILE, OPT_ALIAS, OPT_CHATFMT, OPT_TEMP, OPT_TOPK, OPT_TOPP, OPT_MINP,
	OPT_REP, OPT_SEED, OPT_QUEUE, OPT_MAXCONNS, OPT_MAXBODY, OPT_TIMEOUT, OPT_REQTIMEOUT
};

/* Routes. */
enum { R_NONE, R_PAGE, R_HEALTH, R_MODELS, R_CHAT, R_CMPL, R_LLAMA, R_TOKENIZE, R_DETOKENIZE };

/* ---------------------------------------------------------------------- */
/* Configuration and the bound model (set in the parent, inherited). */

static struct {
	const char *host;
	long port;
	long workers, threads, n_ctx, n_predict, queue, max_conns;
	uint64_t max_body;
	long timeout, req_timeout;   /* seconds */
	int verbose;
	char *api_key;
	size_t api_key_len;
	char model_id[256];
	int chat_fmt;
	struct wf_sampler_params sp;
	int have_seed;
	uint64_t seed;
	struct wf_dlm_params dlm;    /* block diffusion: the model's settings */
	int dlm_ok;                  /* 0: the model has none; dlm_err says why */
	char dlm_err[320];
} cfg;

static struct wf_model_src src;
static struct wf_gguf gg;
static struct wf_model *model;
static struct wf_tokenizer *tok;
static long created_at;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void logmsg(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2)))
#endif
	;
static void logmsg(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n = snprintf(line, sizeof line, "%s: ", prog);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	size_t l = strlen(line);
	if (l + 1 < sizeof line)
		line[l++] = '\n';
	/* one write per line, so lines of several processes do not mix */
	ssize_t w = write(2, line, l);
	(void)w;
}

static const char *err_type(int status)
{
	switch (status) {
	case 401: return "authentication_error";
	case 404: return "not_found_error";
	case 500: return "server_error";
	case 503: return "server_error";
	default: return "invalid_request_error";
	}
}

/* An OpenAI-style error response into b. */
static void error_response(struct wf_buf *b, int status, const char *msg, const char *param, const char *extra)
{
	struct wf_buf j = {0};
	wf_buf_puts(&j, "{\"error\":{\"message\":");
	wf_buf_json_str(&j, msg, strlen(msg));
	wf_buf_printf(&j, ",\"type\":\"%s\",\"param\":", err_type(status));
	if (param)
		wf_buf_json_str(&j, param, strlen(param));
	else
		wf_buf_puts(&j, "null");
	wf_buf_printf(&j, ",\"code\":%d}}\n", status);
	wf_http_head(b, status, "application/json", (long long)j.len, extra);
	wf_buf_put(b, j.p, j.len);
	wf_buf_free(&j);
}

static void json_response(struct wf_buf *b, int status, const struct wf_buf *body)
{
	wf_http_head(b, status, "application/json", (long long)body->len, NULL);
	wf_buf_put(b, body->p, body->len);
}

/* ---------------------------------------------------------------------- */
/* The chat page: inline HTML, CSS and JS, no external assets. */

static const char page_html[] =
#include "wf-serve-page.h"
	;

/* ---------------------------------------------------------------------- */
/* Worker. */

static int wfd;                     /* the worker's socket to the parent */
static struct wf_gen *gen;
static unsigned long long req_counter;

/* Write all of p[0..n) to fd (blocking, with the socket's send timeout). */
static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct reply {
	int fd;
	int route, stream, failed, status;
	int began;               /* the parent was told 'W' */
	char id[64];
	long created;
	struct wf_buf out;       /* one response / event being built */
	struct wf_buf text;      /* the whole completion (non-streaming) */
};

/* Every byte of a response goes through here.  Before the first, 'W'
 * tells the parent the response has begun: from then on a death of this
 * worker leaves the client a cut response, not the parent's 500.  'W' goes
 * first, so the parent never writes its error after bytes of ours. */
static void send_buf(struct reply *r, struct wf_buf *b)
{
	if (!r->failed && !b->oom && !r->began) {
		r->began = 1;
		(void)write_all(wfd, "W", 1); /* failing: the parent is gone, the client may not be */
	}
	if (!r->failed && (b->oom || write_all(r->fd, b->p, b->len) < 0))
		r->failed = 1;
	b->len = 0;
}

static void send_error(struct reply *r, int status, const char *param, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
static void send_error(struct reply *r, int status, const char *param, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->out.len = 0;
	error_response(&r->out, status, msg, param, NULL);
	r->status = status;
	send_buf(r, &r->out);
}

/* Request fields.  Each getter: 0 absent or null (default kept), 1 set,
 * -1 after answering 400 naming the field. */
static int get_bool(struct reply *r, const struct wf_json *o, const char *k, int *out)
{
	const struct wf_json *v = wf_json_get(o, k);
	if (!v || v->type == WF_JSON_NULL)
		return 0;
	if (v->type != WF_JSON_TRUE && v->type != WF_JSON_FALSE) {
		send_error(r, 400, k, "'%s' must be a boolean, not %s", k, wf_json_type_name(v->type));
		return -1;
	}
	*out = v->type == WF_JSON_TRUE;
	return 1;
}

static int get_num(struct reply *r, const struct wf_json *o, const char *k, double lo, double hi, float *out)
{
	const struct wf_json *v = wf_json_get(o, k);
	if (!v || v->type == WF_JSON_NULL)
		return 0;
	if (v->type != WF_JSON_NUMBER || !(v->u.num >= lo && v->u.num <= hi)) {
		send_error(r, 400, k, "'%s' must be a number in [%g, %g]", k, lo, hi);
		return -1;
	}
	*out = (float)v->u.num;
	return 1;
}

static int get_int(struct reply *r, const struct wf_json *o, const char *k, int64_t lo, int64_t hi, int64_t *out)
{
	const struct wf_json *v = wf_json_get(o, k);
	if (!v || v->type == WF_JSON_NULL)
		return 0;
	if (wf_json_int(v, lo, hi, out) < 0) {
		send_error(r, 400, k, "'%s' must be an integer in [%lld, %lld]", k, (long long)lo, (long long)hi);
		return -1;
	}
	return 1;
}

/* The request's generation parameters. */
struct params {
	long max_tokens;
	struct wf_sampler_params sp;
	uint64_t seed;
	const char *stop[MAX_STOP];
	size_t stop_len[MAX_STOP];
	size_t n_stop;
	int stream, ignore_eos;
	int use_dlm;                 /* "wf_decode": "dlm" */
	struct wf_dlm_params dlm;    /* its settings: the model's, with the request's */
};

/* The decoding mode: "wf_decode" ("ar" or "dlm") and, with "dlm", the
 * settings a request may change.  Block diffusion is greedy, so it wants
 * temperature 0 and repeat_penalty 1 (read before this). */
static int get_dlm(struct reply *r, const struct wf_json *o, struct params *p)
{
	static const char *const keys[] = {"wf_block_size", "wf_sub_block", "wf_threshold", "wf_dlm_mode"};
	const struct wf_json *v = wf_json_get(o, "wf_decode");
	int64_t iv;
	int k;
	p->use_dlm = 0;
	if (v && v->type != WF_JSON_NULL) {
		if (wf_json_streq(v, "dlm"))
			p->use_dlm = 1;
		else if (!wf_json_streq(v, "ar")) {
			send_error(r, 400, "wf_decode", "'wf_decode' must be \"ar\" or \"dlm\"");
			return -1;
		}
	}
	if (!p->use_dlm) {
		for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
			const struct wf_json *kv = wf_json_get(o, keys[i]);
			if (kv && kv->type != WF_JSON_NULL) {
				send_error(r, 400, keys[i], "'%s' goes with \"wf_decode\": \"dlm\"", keys[i]);
				return -1;
			}
		}
		return 0;
	}
	if (!cfg.dlm_ok) {
		send_error(r, 400, "wf_decode", "block diffusion is not available for this model: %s", cfg.dlm_err);
		return -1;
	}
	p->dlm = cfg.dlm;
	if ((k = get_int(r, o, "wf_block_size", 1, 65536, &iv)) < 0)
		return -1;
	if (k)
		p->dlm.block_size = (int)iv;
	if ((k = get_int(r, o, "wf_sub_block", 1, 65536, &iv)) < 0)
		return -1;
	if (k)
		p->dlm.sub_block = (int)iv;
	if (get_num(r, o, "wf_threshold", 0, 1, &p->dlm.threshold) < 0)
		return -1;
	v = wf_json_get(o, "wf_dlm_mode");
	if (v && v->type != WF_JSON_NULL) {
		if (wf_json_streq(v, "greedy"))
			p->dlm.mode = WF_DLM_GREEDY;
		else if (wf_json_streq(v, "iterative"))
			p->dlm.mode = WF_DLM_ITERATIVE;
		else if (wf_json_streq(v, "adaptive"))
			p->dlm.mode = WF_DLM_ADAPTIVE;
		else {
			send_error(r, 400, "wf_dlm_mode", "'wf_dlm_mode' must be \"greedy\", \"iterative\" or \"adaptive\"");
			return -1;
		}
	}
	int nb = wf_ctx_n_batch(wf_gen_ctx(gen));
	if (p->dlm.attn == WF_ATTN_BLOCK && p->dlm.block_size > nb) {
		send_error(r, 400, wf_json_get(o, "wf_block_size") ? "wf_block_size" : "wf_decode",
		           "block size %d exceeds the batch of %d", p->dlm.block_size, nb);
		return -1;
	}
	if (p->sp.temp > 0) {
		send_error(r, 400, "temperature", "block diffusion is greedy: 'temperature' must be 0, not %g",
		           (double)p->sp.temp);
		return -1;
	}
	if (p->sp.repeat_penalty != 1) {
		send_error(r, 400, "repeat_penalty", "block diffusion is greedy: 'repeat_penalty' must be 1, not %g",
		           (double)p->sp.repeat_penalty);
		return -1;
	}
	return 0;
}

static int get_params(struct reply *r, const struct wf_json *o, struct params *p)
{
	int64_t iv;
	int k;
	float zero = 0;
	p->max_tokens = cfg.n_predict;
	p->sp = cfg.sp;
	p->seed = cfg.have_seed ? cfg.seed : ((uint64_t)time(NULL) << 20) ^ ((uint64_t)getpid() << 8) ^ req_counter;
	p->n_stop = 0;
	p->stream = p->ignore_eos = 0;
	/* llama.cpp's n_predict takes -1 (no limit), OpenAI's max_tokens 0 and up */
	const char *mt = r->route == R_LLAMA ? "n_predict" : "max_tokens";
	if ((k = get_int(r, o, mt, r->route == R_LLAMA ? -1 : 0, INT_MAX, &iv)) < 0)
		return -1;
	if (k)
		p->max_tokens = (long)iv;
	if (r->route == R_CHAT) {
		if ((k = get_int(r, o, "max_completion_tokens", 0, INT_MAX, &iv)) < 0)
			return -1;
		if (k)
			p->max_tokens = (long)iv;
	}
	if (get_num(r, o, "temperature", 0, 100, &p->sp.temp) < 0 || get_num(r, o, "top_p", 0, 1, &p->sp.top_p) < 0 ||
	    get_num(r, o, "min_p", 0, 1, &p->sp.min_p) < 0 ||
	    get_num(r, o, "repeat_penalty", 0, 100, &p->sp.repeat_penalty) < 0)
		return -1;
	if (!(p->sp.repeat_penalty > 0)) {
		send_error(r, 400, "repeat_penalty", "'repeat_penalty' must be a number in (0, 100]");
		return -1;
	}
	if ((k = get_int(r, o, "top_k", 0, INT_MAX, &iv)) < 0)
		return -1;
	if (k)
		p->sp.top_k = (int)iv;
	if ((k = get_int(r, o, "seed", INT64_MIN, INT64_MAX, &iv)) < 0)
		return -1;
	if (k)
		p->seed = (uint64_t)iv;
	if (get_bool(r, o, "stream", &p->stream) < 0 || get_bool(r, o, "ignore_eos", &p->ignore_eos) < 0)
		return -1;
	/* accepted only at their neutral values */
	if (get_num(r, o, "frequency_penalty", 0, 0, &zero) < 0 || get_num(r, o, "presence_penalty", 0, 0, &zero) < 0)
		return -1;
	if ((k = get_int(r, o, "n", 1, 1, &iv)) < 0)
		return -1;
	int lp = 0;
	if (get_bool(r, o, "logprobs", &lp) < 0)
		return -1;
	if (lp) {
		send_error(r, 400, "logprobs", "'logprobs' is not supported");
		return -1;
	}
	if (get_dlm(r, o, p) < 0)
		return -1;
	const struct wf_json *v = wf_json_get(o, "stop");
	if (v && v->type == WF_JSON_STRING) {
		p->stop[0] = v->s;
		p->stop_len[0] = v->n;
		p->n_stop = 1;
	} else if (v && v->type == WF_JSON_ARRAY) {
		if (v->n > MAX_STOP) {
			send_error(r, 400, "stop", "'stop' holds %u strings; at most %d", v->n, MAX_STOP);
			return -1;
		}
		for (uint32_t i = 0; i < v->n; i++) {
			if (v->u.kids[i].type != WF_JSON_STRING) {
				send_error(r, 400, "stop", "'stop' must be a string or an array of strings");
				return -1;
			}
			p->stop[i] = v->u.kids[i].s;
			p->stop_len[i] = v->u.kids[i].n;
		}
		p->n_stop = v->n;
	} else if (v && v->type != WF_JSON_NULL) {
		send_error(r, 400, "stop", "'stop' must be a string or an array of strings");
		return -1;
	}
	for (size_t i = 0; i < p->n_stop; i++)
		if (p->stop_len[i] == 0 || p->stop_len[i] > MAX_STOP_LEN) {
			send_error(r, 400, "stop", "stop strings must hold 1 to %d bytes", MAX_STOP_LEN);
			return -1;
		}
	char err[256];
	if (wf_sampler_check(&p->sp, err, sizeof err) < 0) {
		send_error(r, 400, NULL, "%s", err);
		return -1;
	}
	return 0;
}

/* The prompt of a completion request: a string (tokenized, special tokens
 * recognised, BOS as the vocabulary wants), an array of token ids, or an
 * array holding one of those. */
static int get_prompt(struct reply *r, const struct wf_json *o, struct wf_tok_ids *ids)
{
	const struct wf_json *v = wf_json_get(o, "prompt");
	char err[256];
	if (!v || v->type == WF_JSON_NULL) {
		send_error(r, 400, "prompt", "'prompt' is required");
		return -1;
	}
	if (v->type == WF_JSON_ARRAY && v->n == 1 &&
	    (v->u.kids[0].type == WF_JSON_STRING || v->u.kids[0].type == WF_JSON_ARRAY))
		v = &v->u.kids[0];
	if (v->type == WF_JSON_STRING) {
		int flags = WF_ENC_SPECIAL | (wf_tok_add_bos(tok) ? WF_ENC_BOS : 0);
		if (wf_tok_encode(tok, v->s, v->n, flags, ids, err, sizeof err) < 0) {
			send_error(r, 500, NULL, "%s", err);
			return -1;
		}
		return 0;
	}
	if (v->type == WF_JSON_ARRAY) {
		uint32_t nv = wf_tok_n_vocab(tok);
		for (uint32_t i = 0; i < v->n; i++) {
			int64_t id;
			int kt = v->u.kids[i].type;
			if (kt == WF_JSON_STRING || kt == WF_JSON_ARRAY) {
				send_error(r, 400, "prompt", "'prompt' holds %u prompts; one prompt per request", v->n);
				return -1;
			}
			if (wf_json_int(&v->u.kids[i], 0, (int64_t)nv - 1, &id) < 0) {
				send_error(r, 400, "prompt", "'prompt': element %u is not a token id in [0, %u)", i, nv);
				return -1;
			}
			if (ids->n == ids->cap) {
				size_t c = ids->cap ? 2 * ids->cap : 64;
				int32_t *p = realloc(ids->ids, c * sizeof *p);
				if (!p) {
					send_error(r, 500, NULL, "out of memory");
					return -1;
				}
				ids->ids = p;
				ids->cap = c;
			}
			ids->ids[ids->n++] = (int32_t)id;
		}
		return 0;
	}
	send_error(r, 400, "prompt", "'prompt' must be a string or an array of token ids (one prompt per request)");
	return -1;
}

/* The text of a message's content: a string, null, or an array of
 * {"type": "text", "text": ...} parts (joined). */
static int get_content(struct reply *r, const struct wf_json *m, uint32_t i, struct wf_buf *store, size_t *off,
                       size_t *len)
{
	const struct wf_json *c = wf_json_get(m, "content");
	*off = store->len;
	if (!c || c->type == WF_JSON_NULL) {
		*len = 0;
		return 0;
	}
	if (c->type == WF_JSON_STRING) {
		wf_buf_put(store, c->s, c->n);
	} else if (c->type == WF_JSON_ARRAY) {
		for (uint32_t k = 0; k < c->n; k++) {
			const struct wf_json *part = &c->u.kids[k], *t = wf_json_get(part, "text");
			if (!wf_json_streq(wf_json_get(part, "type"), "text") || !t || t->type != WF_JSON_STRING) {
				send_error(r, 400, "messages", "messages[%u]: only text content parts are supported", i);
				return -1;
			}
			wf_buf_put(store, t->s, t->n);
		}
	} else {
		send_error(r, 400, "messages", "messages[%u]: 'content' must be a string or an array of parts", i);
		return -1;
	}
	*len = store->len - *off;
	return 0;
}

static int get_messages(struct reply *r, const struct wf_json *o, struct wf_tok_ids *ids)
{
	const struct wf_json *v = wf_json_get(o, "messages");
	char err[256];
	if (!v || v->type != WF_JSON_ARRAY || v->n == 0) {
		send_error(r, 400, "messages", "'messages' must be a non-empty array");
		return -1;
	}
	struct wf_chat_msg *msgs = calloc(v->n, sizeof *msgs);
	size_t *offs = calloc(v->n, sizeof *offs);
	size_t *ranges = calloc(2 * (2 * (size_t)v->n + 1), sizeof *ranges);
	struct wf_buf store = {0}, text = {0};
	int rc = -1;
	if (!msgs || !offs || !ranges) {
		send_error(r, 500, NULL, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < v->n; i++) {
		const struct wf_json *m = &v->u.kids[i], *role = wf_json_get(m, "role");
		if (m->type != WF_JSON_OBJECT || !role || role->type != WF_JSON_STRING) {
			send_error(r, 400, "messages", "messages[%u] must be an object with a 'role'", i);
			goto out;
		}
		if (wf_json_streq(role, "system") || wf_json_streq(role, "developer"))
			msgs[i].role = "system";
		else if (wf_json_streq(role, "user"))
			msgs[i].role = "user";
		else if (wf_json_streq(role, "assistant"))
			msgs[i].role = "assistant";
		else {
			char q[4 * 32 + 4];
			send_error(r, 400, "messages", "messages[%u]: role '%s' is not system, user or assistant", i,
			           wf_quote(q, sizeof q, role->s, role->n, 32));
			goto out;
		}
		if (get_content(r, m, i, &store, &offs[i], &msgs[i].len) < 0)
			goto out;
	}
	if (store.oom) {
		send_error(r, 500, NULL, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < v->n; i++)
		msgs[i].content = store.p ? store.p + offs[i] : "";
	size_t nr = 0;
	if (wf_gen_chat_render(cfg.chat_fmt, msgs, v->n, &text, ranges, &nr) < 0) {
		send_error(r, 500, NULL, "cannot render the conversation");
		goto out;
	}
	int flags = (wf_tok_add_bos(tok) || wf_chat_wants_bos(cfg.chat_fmt)) ? WF_ENC_BOS : 0;
	if (wf_tok_encode_ex(tok, text.p, text.len, flags, ranges, nr, ids, err, sizeof err) < 0) {
		send_error(r, 500, NULL, "%s", err);
		goto out;
	}
	rc = 0;
out:
	free(msgs);
	free(offs);
	free(ranges);
	wf_buf_free(&store);
	wf_buf_free(&text);
	return rc;
}

static void usage_json(struct wf_buf *b, const struct wf_gen_result *res)
{
	wf_buf_printf(b, "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}", res->n_prompt,
	              res->n_gen, res->n_prompt + res->n_gen);
}

static const char *finish_name(int f)
{
	return f == WF_GEN_LENGTH ? "length" : "stop";
}

/* The start of an OpenAI object: {"id":..,"object":..,"created":..,"model":.., */
static void obj_start(struct reply *r, struct wf_buf *b, const char *object)
{
	wf_buf_printf(b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":", r->id, object, r->created);
	wf_buf_json_str(b, cfg.model_id, strlen(cfg.model_id));
	wf_buf_puts(b, ",");
}

/* A streamed event carrying text t[0..n). */
static void stream_piece(struct reply *r, const char *t, size_t n)
{
	struct wf_buf *b = &r->out;
	b->len = 0;
	wf_buf_puts(b, "data: ");
	if (r->route == R_CHAT) {
		obj_start(r, b, "chat.completion.chunk");
		wf_buf_puts(b, "\"choices\":[{\"index\":0,\"delta\":{\"content\":");
		wf_buf_json_str(b, t, n);
		wf_buf_puts(b, "},\"logprobs\":null,\"finish_reason\":null}]}");
	} else if (r->route == R_CMPL) {
		obj_start(r, b, "text_completion");
		wf_buf_puts(b, "\"choices\":[{\"index\":0,\"text\":");
		wf_buf_json_str(b, t, n);
		wf_buf_puts(b, ",\"logprobs\":null,\"finish_reason\":null}]}");
	} else {
		wf_buf_puts(b, "{\"content\":");
		wf_buf_json_str(b, t, n);
		wf_buf_puts(b, ",\"stop\":false}");
	}
	wf_buf_puts(b, "\n\n");
	send_buf(r, b);
}

static int emit(void *ud, const char *t, size_t n)
{
	struct reply *r = ud;
	if (r->stream)
		stream_piece(r, t, n);
	else
		wf_buf_put(&r->text, t, n);
	return r->failed || r->text.oom ? -1 : 0;
}

/* llama.cpp's /completion fields about the end. */
static void llama_tail(struct wf_buf *b, const struct wf_gen_result *res, const struct params *p)
{
	wf_buf_printf(b, "\"stop\":true,\"model\":");
	wf_buf_json_str(b, cfg.model_id, strlen(cfg.model_id));
	wf_buf_printf(b, ",\"tokens_predicted\":%d,\"tokens_evaluated\":%d,\"tokens_cached\":%d,", res->n_gen,
	              res->n_prompt, res->n_cached);
	wf_buf_printf(b, "\"stopped_eos\":%s,\"stopped_limit\":%s,\"stopped_word\":%s,\"stopping_word\":",
	              res->finish == WF_GEN_EOG ? "true" : "false", res->finish == WF_GEN_LENGTH ? "true" : "false",
	              res->finish == WF_GEN_STOP ? "true" : "false");
	if (res->finish == WF_GEN_STOP)
		wf_buf_json_str(b, p->stop[res->stop_index], p->stop_len[res->stop_index]);
	else
		wf_buf_puts(b, "\"\"");
	wf_buf_printf(b, ",\"timings\":{\"prompt_ms\":%.3f,\"predicted_ms\":%.3f}", res->t_prompt_ms, res->t_gen_ms);
}

static void do_generate(struct reply *r, const struct wf_json *o)
{
	struct params p;
	struct wf_tok_ids ids = {0};
	char err[512];
	if (get_params(r, o, &p) < 0)
		return;
	if ((r->route == R_CHAT ? get_messages(r, o, &ids) : get_prompt(r, o, &ids)) < 0)
		goto out;
	int n_ctx = wf_ctx_n_ctx(wf_gen_ctx(gen));
	if (ids.n == 0) {
		send_error(r, 400, r->route == R_CHAT ? "messages" : "prompt", "the prompt is empty");
		goto out;
	}
	if (ids.n >= (size_t)n_ctx) {
		send_error(r, 400, r->route == R_CHAT ? "messages" : "prompt",
		           "prompt of %zu tokens does not fit in the context of %d", ids.n, n_ctx);
		goto out;
	}
	r->stream = p.stream;
	struct wf_gen_req rq = {ids.ids, (int)ids.n, p.max_tokens, p.sp, p.seed, p.stop, p.stop_len, p.n_stop,
	                        p.ignore_eos, p.use_dlm ? &p.dlm : NULL};
	struct wf_gen_result res;
	struct wf_buf *b = &r->out;
	if (r->stream) {
		r->status = 200;
		b->len = 0;
		wf_http_head(b, 200, "text/event-stream", -1, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
		if (r->route == R_CHAT) {
			wf_buf_puts(b, "data: ");
			obj_start(r, b, "chat.completion.chunk");
			wf_buf_puts(b, "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
			               "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
		}
		send_buf(r, b);
	}
	int rc = wf_gen_run(gen, &rq, emit, r, &res, err, sizeof err);
	if (r->failed || res.finish == WF_GEN_ABORT)
		goto out;
	if (rc < 0) {
		if (!r->stream) {
			send_error(r, 500, NULL, "%s", err);
			goto out;
		}
		b->len = 0;
		wf_buf_puts(b, "data: {\"error\":{\"message\":");
		wf_buf_json_str(b, err, strlen(err));
		wf_buf_puts(b, ",\"type\":\"server_error\",\"param\":null,\"code\":500}}\n\n");
		send_buf(r, b);
		goto out;
	}
	b->len = 0;
	if (r->stream) {
		wf_buf_puts(b, "data: ");
		if (r->route == R_CHAT) {
			obj_start(r, b, "chat.completion.chunk");
			wf_buf_printf(b, "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"%s\"}],",
			              finish_name(res.finish));
			usage_json(b, &res);
			wf_buf_puts(b, "}\n\ndata: [DONE]\n\n");
		} else if (r->route == R_CMPL) {
			obj_start(r, b, "text_completion");
			wf_buf_printf(b, "\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"%s\"}],",
			              finish_name(res.finish));
			usage_json(b, &res);
			wf_buf_puts(b, "}\n\ndata: [DONE]\n\n");
		} else {
			wf_buf_puts(b, "{\"content\":\"\",");
			llama_tail(b, &res, &p);
			wf_buf_puts(b, "}\n\n");
		}
		send_buf(r, b);
		goto out;
	}
	struct wf_buf body = {0};
	if (r->route == R_CHAT) {
		obj_start(r, &body, "chat.completion");
		wf_buf_puts(&body, "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
		wf_buf_json_str(&body, r->text.p ? r->text.p : "", r->text.len);
		wf_buf_printf(&body, "},\"logprobs\":null,\"finish_reason\":\"%s\"}],", finish_name(res.finish));
		usage_json(&body, &res);
		wf_buf_puts(&body, "}\n");
	} else if (r->route == R_CMPL) {
		obj_start(r, &body, "text_completion");
		wf_buf_puts(&body, "\"choices\":[{\"index\":0,\"text\":");
		wf_buf_json_str(&body, r->text.p ? r->text.p : "", r->text.len);
		wf_buf_printf(&body, ",\"logprobs\":null,\"finish_reason\":\"%s\"}],", finish_name(res.finish));
		usage_json(&body, &res);
		wf_buf_puts(&body, "}\n");
	} else {
		wf_buf_puts(&body, "{\"content\":");
		wf_buf_json_str(&body, r->text.p ? r->text.p : "", r->text.len);
		wf_buf_puts(&body, ",");
		llama_tail(&body, &res, &p);
		wf_buf_puts(&body, "}\n");
	}
	if (body.oom) {
		send_error(r, 500, NULL, "out of memory");
	} else {
		r->status = 200;
		json_response(b, 200, &body);
		send_buf(r, b);
	}
	wf_buf_free(&body);
out:
	free(ids.ids);
}

static void do_tokenize(struct reply *r, const struct wf_json *o)
{
	const struct wf_json *c = wf_json_get(o, "content");
	int add_special = 0, parse_special = 1;
	char err[256];
	if (!c || c->type != WF_JSON_STRING) {
		send_error(r, 400, "content", "'content' must be a string");
		return;
	}
	if (get_bool(r, o, "add_special", &add_special) < 0 || get_bool(r, o, "parse_special", &parse_special) < 0)
		return;
	struct wf_tok_ids ids = {0};
	int flags = (parse_special ? WF_ENC_SPECIAL : 0) | (add_special && wf_tok_add_bos(tok) ? WF_ENC_BOS : 0) |
	            (add_special && wf_tok_add_eos(tok) ? WF_ENC_EOS : 0);
	if (wf_tok_encode(tok, c->s, c->n, flags, &ids, err, sizeof err) < 0) {
		send_error(r, 500, NULL, "%s", err);
		free(ids.ids);
		return;
	}
	struct wf_buf body = {0};
	wf_buf_puts(&body, "{\"tokens\":[");
	for (size_t i = 0; i < ids.n; i++)
		wf_buf_printf(&body, i ? ",%d" : "%d", (int)ids.ids[i]);
	wf_buf_puts(&body, "]}\n");
	r->out.len = 0;
	r->status = 200;
	json_response(&r->out, 200, &body);
	send_buf(r, &r->out);
	wf_buf_free(&body);
	free(ids.ids);
}

static void do_detokenize(struct reply *r, const struct wf_json *o)
{
	const struct wf_json *t = wf_json_get(o, "tokens");
	if (!t || t->type != WF_JSON_ARRAY) {
		send_error(r, 400, "tokens", "'tokens' must be an array of token ids");
		return;
	}
	uint32_t nv = wf_tok_n_vocab(tok);
	struct wf_buf text = {0}, body = {0};
	for (uint32_t i = 0; i < t->n; i++) {
		int64_t id;
		size_t n;
		if (wf_json_int(&t->u.kids[i], 0, (int64_t)nv - 1, &id) < 0) {
			send_error(r, 400, "tokens", "'tokens': element %u is not a token id in [0, %u)", i, nv);
			wf_buf_free(&text);
			return;
		}
		const char *p = wf_tok_piece(tok, (int32_t)id, 0, &n);
		if (p)
			wf_buf_put(&text, p, n);
	}
	wf_buf_puts(&body, "{\"content\":");
	wf_buf_json_str(&body, text.p ? text.p : "", text.len);
	wf_buf_puts(&body, "}\n");
	r->out.len = 0;
	r->status = 200;
	json_response(&r->out, 200, &body);
	send_buf(r, &r->out);
	wf_buf_free(&body);
	wf_buf_free(&text);
}

static int route_of(const struct wf_http_req *q, int *post)
{
	static const struct {
		const char *path;
		int route, post;
	} routes[] = {
		{"/", R_PAGE, 0},
		{"/index.html", R_PAGE, 0},
		{"/health", R_HEALTH, 0},
		{"/v1/health", R_HEALTH, 0},
		{"/v1/models", R_MODELS, 0},
		{"/models", R_MODELS, 0},
		{"/v1/chat/completions", R_CHAT, 1},
		{"/chat/completions", R_CHAT, 1},
		{"/v1/completions", R_CMPL, 1},
		{"/completions", R_CMPL, 1},
		{"/completion", R_LLAMA, 1},
		{"/tokenize", R_TOKENIZE, 1},
		{"/detokenize", R_DETOKENIZE, 1},
	};
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
		if (wf_http_path_is(q, routes[i].path)) {
			*post = routes[i].post;
			return routes[i].route;
		}
	return R_NONE;
}

/* Answer one complete request buf[0..len) on fd. */
static void worker_request(int fd, const char *buf, size_t len)
{
	static const struct wf_http_limits lim = {MAX_HEAD, MAX_TARGET, UINT64_MAX};
	struct wf_http_req q;
	struct reply r;
	char err[512];
	double t0 = now_ms();
	memset(&r, 0, sizeof r);
	r.fd = fd;
	req_counter++;
	snprintf(r.id, sizeof r.id, "%llx%llx", (unsigned long long)getpid(), req_counter);
	r.created = (long)time(NULL);
	if (wf_http_parse(buf, len, &lim, &q, err, sizeof err) != 1) {
		send_error(&r, 400, NULL, "%s", err);
		goto out;
	}
	int post;
	r.route = route_of(&q, &post);
	const char *prefix = r.route == R_CHAT ? "chatcmpl-" : "cmpl-";
	memmove(r.id + strlen(prefix), r.id, strlen(r.id) + 1);
	memcpy(r.id, prefix, strlen(prefix));
	size_t blen = len - q.head_len;
	struct wf_json_doc *doc = wf_json_parse(buf + q.head_len, blen, 64, err, sizeof err);
	if (!doc) {
		send_error(&r, 400, NULL, "malformed JSON in the request body: %s", err);
		goto out;
	}
	const struct wf_json *o = wf_json_root(doc);
	if (o->type != WF_JSON_OBJECT) {
		send_error(&r, 400, NULL, "the request body must be a JSON object, not %s", wf_json_type_name(o->type));
	} else if (r.route == R_TOKENIZE) {
		do_tokenize(&r, o);
	} else if (r.route == R_DETOKENIZE) {
		do_detokenize(&r, o);
	} else if (r.route == R_CHAT || r.route == R_CMPL || r.route == R_LLAMA) {
		do_generate(&r, o);
	} else {
		send_error(&r, 404, NULL, "no such endpoint");
	}
	wf_json_free(doc);
out:
	if (cfg.verbose)
		logmsg("%s %.*s %d%s %.1f ms", q.method, (int)(q.path_len < 200 ? q.path_len : 200),
		       q.target ? q.target : "", r.status, r.failed ? " (client gone)" : "", now_ms() - t0);
	wf_buf_free(&r.out);
	wf_buf_free(&r.text);
}

/* Read exactly n bytes from fd. */
static int read_full(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t k = read(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The message header the parent sends with each client descriptor. */
struct handoff {
	uint32_t magic;
	uint32_t len;     /* request bytes that follow */
};
#define HANDOFF_MAGIC 0x77667271u

static void worker_main(int idx, int sock)
{
	char err[512];
	signal(SIGTERM, SIG_IGN);   /* the parent decides when workers stop */
	signal(SIGINT, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	wfd = sock;
	gen = wf_gen_new(model, tok, (int)cfg.n_ctx, 0, (int)cfg.threads, err, sizeof err);
	if (!gen) {
		logmsg("worker %d: %s: %s", idx, src.name, err);
		_exit(1);
	}
	if (write(sock, "R", 1) != 1)
		_exit(1);
	char *buf = NULL;
	size_t cap = 0;
	for (;;) {
		struct handoff h;
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = {&h, sizeof h};
		struct msghdr mh;
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof cbuf;
		ssize_t k;
		do
			k = recvmsg(sock, &mh, 0);
		while (k < 0 && errno == EINTR);
		if (k <= 0)
			break; /* the parent closed: exit */
		int fd = -1;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(cm), sizeof fd);
		if ((size_t)k < sizeof h && read_full(sock, (char *)&h + k, sizeof h - (size_t)k) < 0)
			break;
		if (h.magic != HANDOFF_MAGIC || fd < 0) {
			logmsg("worker %d: bad message from the parent", idx);
			_exit(1);
		}
		if (h.len + 1 > cap) {
			free(buf);
			cap = (size_t)h.len + 1;
			buf = malloc(cap);
			if (!buf) {
				logmsg("worker %d: out of memory", idx);
				_exit(1);
			}
		}
		if (read_full(sock, buf, h.len) < 0)
			break;
		buf[h.len] = 0;
		/* the parent read without blocking; answer with blocking writes
		 * that give up on a client that stops reading */
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		struct timeval tv = {cfg.timeout, 0};
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		worker_request(fd, buf, h.len);
		shutdown(fd, SHUT_WR);
		close(fd);
		if (write(sock, "D", 1) != 1)
			break;
	}
	free(buf);
	wf_gen_free(gen);
	_exit(0);
}

/* ---------------------------------------------------------------------- */
/* Parent: connections, queue, workers. */

/* C_WORKER: a worker answers on the client socket; the parent keeps its
 * copy of the descriptor, untouched, until the worker says 'D' (then
 * C_LINGER) or dies (then its 500 in C_WRITE, or C_LINGER if the worker
 * had begun to answer).  So the slot counts against --max-conns while the
 * request is in a worker's hands. */
enum { C_READ, C_QUEUED, C_WRITE, C_LINGER, C_WORKER };

struct conn {
	int fd;
	int state;
	char *buf;
	size_t len, cap;
	int head_done, route;
	int head_only;           /* a HEAD request: responses go without their body */
	size_t need;             /* head + body bytes, once the head is known */
	double t_start, t_last;  /* accept time, last byte received */
	struct wf_buf out;       /* a response the parent writes itself */
	size_t out_off;
	char what[96];           /* "GET /health", for the log */
};

struct worker {
	pid_t pid;
	int sock;
	int busy, ready;
	size_t conn;             /* while busy: the conn slot it answers */
	int began;               /* while busy: 'W' seen, its response has begun */
	char *tx;                /* handoff bytes still to send */
	size_t tx_len, tx_off;
};

static struct conn **conns;  /* [n_slots]: max_conns, then BUSY_SLOTS that only answer 503 */
static size_t n_slots;
#define BUSY_SLOTS 16
static size_t n_conns;
static struct worker *workers;
static size_t *queue;        /* ring of conn slots */
static size_t q_head, q_len;
static int listen_fd = -1;
static double accept_paused_until; /* now_ms() before which the listener is not polled */
#define ACCEPT_PAUSE_MS 100
static int sigpipe_fds[2];
static volatile sig_atomic_t got_term, got_chld;
static int draining;

static void on_signal(int sig)
{
	int saved = errno;
	if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term++;
	ssize_t w = write(sigpipe_fds[1], "s", 1);
	(void)w;
	errno = saved;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void conn_close(size_t i)
{
	struct conn *c = conns[i];
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	wf_buf_free(&c->out);
	free(c);
	conns[i] = NULL;
	n_conns--;
}

/* Stop sending (the client sees EOF) and linger a little reading (and
 * dropping) what the client still sends, so closing does not reset the
 * connection before the client read the response. */
static void conn_linger(size_t i)
{
	struct conn *c = conns[i];
	shutdown(c->fd, SHUT_WR);
	c->state = C_LINGER;
	c->t_last = now_ms();
}

/* Write what is pending of c->out; when done, linger. */
static void conn_flush(size_t i)
{
	struct conn *c = conns[i];
	while (c->out_off < c->out.len) {
		ssize_t w = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_close(i);
			return;
		}
		c->out_off += (size_t)w;
		c->t_last = now_ms();
	}
	conn_linger(i);
}

static void conn_respond(size_t i, int status)
{
	struct conn *c = conns[i];
	if (c->head_only) { /* the head, Content-Length and all, without the body */
		for (size_t k = 0; k + 4 <= c->out.len; k++)
			if (!memcmp(c->out.p + k, "\r\n\r\n", 4)) {
				c->out.len = k + 4;
				break;
			}
	}
	c->state = C_WRITE;
	c->out_off = 0;
	c->t_last = now_ms();
	if (cfg.verbose)
		logmsg("%s %d", c->what[0] ? c->what : "-", status);
	conn_flush(i);
}

static void conn_error(size_t i, int status, const char *msg, const char *extra)
{
	struct conn *c = conns[i];
	c->out.len = 0;
	error_response(&c->out, status, msg, NULL, extra);
	conn_respond(i, status);
}

static size_t n_busy(void)
{
	size_t b = 0;
	for (long w = 0; w < cfg.workers; w++)
		b += workers[w].busy;
	return b;
}

static void static_response(size_t i)
{
	struct conn *c = conns[i];
	struct wf_buf body = {0};
	c->out.len = 0;
	if (c->route == R_PAGE) {
		wf_http_head(&c->out, 200, "text/html; charset=utf-8", (long long)(sizeof page_html - 1),
		             "Cache-Control: no-cache\r\n");
		wf_buf_put(&c->out, page_html, sizeof page_html - 1);
	} else if (c->route == R_HEALTH) {
		wf_buf_printf(&body, "{\"status\":\"ok\",\"workers\":%ld,\"busy\":%zu,\"queued\":%zu}\n", cfg.workers,
		              n_busy(), q_len);
		json_response(&c->out, 200, &body);
	} else {
		wf_buf_puts(&body, "{\"object\":\"list\",\"data\":[{\"id\":");
		wf_buf_json_str(&body, cfg.model_id, strlen(cfg.model_id));
		wf_buf_printf(&body, ",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"wf\",\"meta\":{\"n_ctx\":%ld,"
		                     "\"n_vocab\":%d,\"chat_format\":\"%s\"}}]}\n",
		              created_at, cfg.n_ctx, wf_model_hparams(model)->n_vocab, wf_chat_name(cfg.chat_fmt));
		json_response(&c->out, 200, &body);
	}
	wf_buf_free(&body);
	conn_respond(i, 200);
}

/* Hand conn slot i to idle worker w: the descriptor and the request. */
static int dispatch(size_t i, size_t w)
{
	struct conn *c = conns[i];
	struct worker *wk = &workers[w];
	struct handoff h = {HANDOFF_MAGIC, (uint32_t)c->len};
	char *tx = malloc(sizeof h + c->len);
	if (!tx)
		return -1;
	memcpy(tx, &h, sizeof h);
	memcpy(tx + sizeof h, c->buf, c->len);
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = {tx, sizeof h + c->len};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof cbuf;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &c->fd, sizeof c->fd);
	ssize_t k;
	do
		k = sendmsg(wk->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
	if (k <= 0) {
		free(tx);
		return -1;
	}
	if (cfg.verbose)
		logmsg("%s -> worker %zu", c->what, w + 1);
	wk->busy = 1;
	wk->conn = i;
	wk->began = 0;
	wk->tx = tx;
	wk->tx_len = sizeof h + c->len;
	wk->tx_off = (size_t)k;
	if (wk->tx_off == wk->tx_len) {
		free(wk->tx);
		wk->tx = NULL;
	}
	/* the worker answers on its copy of the descriptor; ours waits for
	 * 'D' or the worker's death (C_WORKER) */
	c->state = C_WORKER;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
	return 0;
}

static long idle_worker(void)
{
	for (long w = 0; w < cfg.workers; w++)
		if (workers[w].ready && !workers[w].busy)
			return w;
	return -1;
}

/* Queue or dispatch a complete request. */
static void submit(size_t i)
{
	long w = idle_worker();
	if (q_len == 0 && w >= 0 && dispatch(i, (size_t)w) == 0)
		return;
	if (q_len >= (size_t)cfg.queue) {
		char msg[128];
		snprintf(msg, sizeof msg, "the server is busy: %zu requests are waiting; retry later", q_len);
		conn_error(i, 503, msg, "Retry-After: 1\r\n");
		return;
	}
	conns[i]->state = C_QUEUED;
	queue[(q_head + q_len++) % (size_t)cfg.queue] = i;
}

static void pump_queue(void)
{
	long w;
	while (q_len && (w = idle_worker()) >= 0) {
		size_t i = queue[q_head];
		if (dispatch(i, (size_t)w) < 0)
			return;
		q_head = (q_head + 1) % (size_t)cfg.queue;
		q_len--;
	}
}

static int key_ok(const struct wf_http_req *q)
{
	size_t n;
	const char *v = wf_http_field(q, "authorization", &n);
	if (!v || n < 7 || strncasecmp(v, "Bearer ", 7))
		return 0;
	v += 7;
	n -= 7;
	while (n && *v == ' ')
		v++, n--;
	if (n != cfg.api_key_len)
		return 0;
	unsigned char d = 0;
	for (size_t k = 0; k < n; k++)
		d |= (unsigned char)(v[k] ^ cfg.api_key[k]);
	return d == 0;
}

/* The head of conn i is complete: route, check, maybe answer at once. */
static void head_done(size_t i, const struct wf_http_req *q)
{
	struct conn *c = conns[i];
	int post = 0;
	c->head_done = 1;
	c->need = q->head_len + (size_t)q->content_length;
	snprintf(c->what, sizeof c->what, "%s %.*s", q->method, (int)(q->path_len < 80 ? q->path_len : 80), q->target);
	c->route = route_of(q, &post);
	if (c->route == R_NONE) {
		conn_error(i, 404, "no such endpoint", NULL);
		return;
	}
	c->head_only = !strcmp(q->method, "HEAD");
	int is_get = !strcmp(q->method, "GET") || c->head_only;
	if (post ? strcmp(q->method, "POST") != 0 : !is_get) {
		char msg[128];
		snprintf(msg, sizeof msg, "use %s with this endpoint", post ? "POST" : "GET or HEAD");
		conn_error(i, 405, msg, post ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n");
		return;
	}
	if (cfg.api_key && c->route != R_PAGE && c->route != R_HEALTH && !key_ok(q)) {
		conn_error(i, 401, "missing or wrong API key (send 'Authorization: Bearer KEY')",
		           "WWW-Authenticate: Bearer\r\n");
		return;
	}
	if (q->expect_continue && c->len < c->need) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		ssize_t w = send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL);
		(void)w;
	}
}

static void conn_read(size_t i)
{
	struct conn *c = conns[i];
	const struct wf_http_limits lim = {MAX_HEAD, MAX_TARGET, cfg.max_body};
	for (;;) {
		if (c->len == c->cap) {
			size_t limit = MAX_HEAD + (size_t)cfg.max_body;
			size_t nc = c->cap ? 2 * c->cap : 4096;
			if (c->head_done && nc > c->need)
				nc = c->need;
			if (nc > limit)
				nc = limit;
			if (nc <= c->cap) {
				conn_error(i, 413, "the request is too large", NULL);
				return;
			}
			char *p = realloc(c->buf, nc + 1);
			if (!p) {
				conn_error(i, 503, "out of memory", "Retry-After: 1\r\n");
				return;
			}
			c->buf = p;
			c->cap = nc;
		}
		ssize_t k = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(i);
			return;
		}
		if (k == 0) {
			conn_close(i); /* the client went away before its request was complete */
			return;
		}
		c->len += (size_t)k;
		c->t_last = now_ms();
		if (!c->head_done) {
			struct wf_http_req q;
			char err[256];
			int r = wf_http_parse(c->buf, c->len, &lim, &q, err, sizeof err);
			if (r < 0) {
				conn_error(i, q.status, err, NULL);
				return;
			}
			if (r == 1) {
				head_done(i, &q);
				if (conns[i] == NULL || conns[i]->state != C_READ)
					return;
			}
		}
		if (c->head_done && c->len >= c->need) {
			c->len = c->need; /* a pipelined next request is not served: Connection: close */
			if (c->route == R_PAGE || c->route == R_HEALTH || c->route == R_MODELS)
				static_response(i);
			else
				submit(i);
			return;
		}
	}
}

static void do_accept(void)
{
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			/* out of descriptors or memory: the backlog waits, and the
			 * listener leaves the poll set a while (it would stay
			 * readable and spin the loop) */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		set_nonblock(fd);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		/* a full table answers 503 from a spare slot, which lingers
		 * like any response; with no spare slot either, close */
		size_t i = 0;
		while (i < (size_t)cfg.max_conns && conns[i])
			i++;
		int busy = i == (size_t)cfg.max_conns;
		while (busy && i < n_slots && conns[i])
			i++;
		struct conn *c = i < n_slots ? calloc(1, sizeof *c) : NULL;
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = C_READ;
		c->t_start = c->t_last = now_ms();
		conns[i] = c;
		n_conns++;
		if (busy)
			conn_error(i, 503, "too many connections; retry later", "Retry-After: 1\r\n");
	}
}

static int spawn_worker(size_t w);

/* The worker answering conn i is done with it (it shut the connection
 * down and closed its copy), or died after beginning its response.  The
 * worker cleared O_NONBLOCK, and the flag belongs to the open file
 * description that our copy shares: set it again before our own I/O. */
static void conn_worker_done(size_t i)
{
	set_nonblock(conns[i]->fd);
	conn_linger(i);
}

/* A worker's socket is readable: 'R' ready, 'W' its response begins, 'D'
 * done, or EOF (it died).  The bytes of a stream arrive in order, and
 * before its EOF: a 'W' or 'D' written before a death is always seen. */
static void worker_event(size_t w)
{
	struct worker *wk = &workers[w];
	char b[64];
	ssize_t k = read(wk->sock, b, sizeof b);
	if (k < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (k > 0) {
		for (ssize_t j = 0; j < k; j++) {
			if (b[j] == 'R') {
				wk->ready = 1;
			} else if (b[j] == 'W') {
				wk->began = 1;
			} else if (b[j] == 'D' && wk->busy) {
				wk->busy = 0;
				if (conns[wk->conn])
					conn_worker_done(wk->conn);
			}
		}
		return;
	}
	int was_busy = wk->busy, began = wk->began;
	size_t ci = wk->conn;
	close(wk->sock);
	free(wk->tx);
	wk->tx = NULL;
	wk->sock = -1;
	wk->busy = wk->ready = 0;
	int st = 0;
	pid_t got;
	do
		got = waitpid(wk->pid, &st, 0);
	while (got < 0 && errno == EINTR);
	char why[64] = "died";
	int reaped = wk->pid > 0 && got == wk->pid;
	if (reaped) {
		if (WIFSIGNALED(st))
			snprintf(why, sizeof why, "was killed by signal %d", WTERMSIG(st));
		else
			snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(st));
	}
	struct conn *c = was_busy ? conns[ci] : NULL;
	if (c && !began) {
		/* Nothing of the response was written: the client gets an error
		 * in the usual shape.  500, not 502: the worker is a part of this
		 * server, not an upstream server the client could know of. */
		char msg[128];
		logmsg("worker %zu (pid %ld) %s before its response to %s began: answered 500", w + 1, (long)wk->pid,
		       why, c->what);
		snprintf(msg, sizeof msg, "the worker answering the request %s", why);
		set_nonblock(c->fd);
		conn_error(ci, 500, msg, NULL);
	} else if (c) {
		/* after 'W' bytes of the response may be out: an error now could
		 * land in the middle of them */
		logmsg("worker %zu (pid %ld) %s during its response to %s: the response is cut short", w + 1,
		       (long)wk->pid, why, c->what);
		conn_worker_done(ci);
	} else if (reaped && (WIFSIGNALED(st) || !draining)) {
		logmsg("worker %zu (pid %ld) %s", w + 1, (long)wk->pid, why);
	}
	wk->pid = 0;
	if (!draining && spawn_worker(w) < 0)
		logmsg("worker %zu: cannot restart it", w + 1);
}

static void worker_tx(size_t w)
{
	struct worker *wk = &workers[w];
	while (wk->tx && wk->tx_off < wk->tx_len) {
		ssize_t k = send(wk->sock, wk->tx + wk->tx_off, wk->tx_len - wk->tx_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			break; /* the worker died: its EOF is handled as readable */
		}
		wk->tx_off += (size_t)k;
	}
	free(wk->tx);
	wk->tx = NULL;
}

static int spawn_worker(size_t w)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		if (listen_fd >= 0)
			close(listen_fd);
		close(sigpipe_fds[0]);
		close(sigpipe_fds[1]);
		for (long k = 0; k < cfg.workers; k++)
			if (workers[k].sock >= 0)
				close(workers[k].sock);
		for (size_t k = 0; k < n_slots; k++)
			if (conns[k] && conns[k]->fd >= 0)
				close(conns[k]->fd);
		worker_main((int)w + 1, sv[1]);
	}
	close(sv[1]);
	struct worker *wk = &workers[w];
	memset(wk, 0, sizeof *wk);
	wk->pid = pid;
	wk->sock = sv[0];
	if (cfg.verbose)
		logmsg("worker %zu: pid %ld", w + 1, (long)pid);
	return 0;
}

static int open_listener(char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char port[16];
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof port, "%ld", cfg.port);
	int e = getaddrinfo(cfg.host, port, &hints, &res);
	if (e) {
		snprintf(err, errlen, "--host %s: %s", cfg.host, gai_strerror(e));
		return -1;
	}
	int fd = -1;
	snprintf(err, errlen, "%s:%ld: no address", cfg.host, cfg.port);
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
			break;
		snprintf(err, errlen, "%s port %ld: %s", cfg.host, cfg.port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void read_key_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("%s: %s", path, strerror(errno));
	/* the first line, without trailing white space */
	char buf[4098];
	size_t n = 0;
	int c;
	while (n < sizeof buf - 1 && (c = getc(f)) != EOF && c != '\n')
		buf[n++] = (char)c;
	int bad = ferror(f);
	fclose(f);
	if (bad)
		die("%s: read error", path);
	if (n == sizeof buf - 1)
		die("%s: the key is longer than 4096 bytes", path);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (n == 0)
		die("%s: the key file is empty", path);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] <= ' ' || buf[i] == 0x7f)
			die("%s: the key holds white space or control bytes", path);
	cfg.api_key = malloc(n + 1);
	if (!cfg.api_key)
		die("out of memory");
	memcpy(cfg.api_key, buf, n);
	cfg.api_key[n] = 0;
	cfg.api_key_len = n;
}

/* The model's name for clients: --alias, the image name, or the file's
 * base name without ".gguf". */
static void set_model_id(const char *alias)
{
	if (alias) {
		snprintf(cfg.model_id, sizeof cfg.model_id, "%s", alias);
		return;
	}
	if (src.is_image) {
		snprintf(cfg.model_id, sizeof cfg.model_id, "%s", src.image);
		return;
	}
	const char *b = strrchr(src.name, '/');
	b = b ? b + 1 : src.name;
	size_t n = strlen(b);
	if (n >= sizeof cfg.model_id)
		n = sizeof cfg.model_id - 1;
	memcpy(cfg.model_id, b, n);
	cfg.model_id[n] = 0;
	if (n > 5 && !strcasecmp(cfg.model_id + n - 5, ".gguf"))
		cfg.model_id[n - 5] = 0;
}

/* Serve until told to stop; returns the requests dropped by a second
 * signal (queued, or in a worker's hands), 0 after a clean drain. */
static size_t parent_loop(void)
{
	size_t dropped = 0;
	size_t maxfds = 2 + (size_t)cfg.workers + n_slots;
	struct pollfd *pf = malloc(maxfds * sizeof *pf);
	size_t *who = malloc(maxfds * sizeof *who);
	if (!pf || !who)
		die("out of memory");
	for (;;) {
		if (got_term && !draining) {
			draining = 1;
			if (cfg.verbose)
				logmsg("terminating: finishing %zu requests in progress and %zu queued", n_busy(), q_len);
			close(listen_fd);
			listen_fd = -1;
			for (size_t i = 0; i < n_slots; i++)
				if (conns[i] && conns[i]->state == C_READ)
					conn_close((size_t)i);
		}
		if (got_term > 1) { /* a second signal: stop now */
			dropped = q_len + n_busy();
			break;
		}
		if (got_chld) {
			got_chld = 0; /* reaped where the worker's socket reports EOF */
		}
		if (draining && q_len == 0 && n_busy() == 0 && n_conns == 0)
			break;
		if (draining && q_len && idle_worker() < 0 && n_busy() == 0) {
			/* no worker left to answer what is queued (they are not
			 * replaced while draining): 503, then drain those */
			int alive = 0;
			for (long w = 0; w < cfg.workers; w++)
				alive |= workers[w].sock >= 0;
			while (!alive && q_len) {
				size_t i = queue[q_head];
				q_head = (q_head + 1) % (size_t)cfg.queue;
				q_len--;
				conn_error(i, 503, "the server is stopping and has no worker left to answer",
				           "Retry-After: 1\r\n");
			}
		}
		size_t n = 0;
		pf[n] = (struct pollfd){sigpipe_fds[0], POLLIN, 0};
		who[n++] = (size_t)-1;
		double now = now_ms(), next = now + 60000;
		if (listen_fd >= 0 && now >= accept_paused_until) {
			pf[n] = (struct pollfd){listen_fd, POLLIN, 0};
			who[n++] = (size_t)-2;
		} else if (listen_fd >= 0) {
			next = accept_paused_until;
		}
		for (long w = 0; w < cfg.workers; w++)
			if (workers[w].sock >= 0) {
				pf[n] = (struct pollfd){workers[w].sock, (short)(POLLIN | (workers[w].tx ? POLLOUT : 0)), 0};
				who[n++] = n_slots + (size_t)w;
			}
		for (size_t i = 0; i < n_slots; i++) {
			struct conn *c = conns[i];
			if (!c || c->state == C_QUEUED || c->state == C_WORKER)
				continue;
			double dl;
			if (c->state == C_READ) {
				dl = c->t_last + 1000.0 * (double)cfg.timeout;
				double d2 = c->t_start + 1000.0 * (double)cfg.req_timeout;
				if (d2 < dl)
					dl = d2;
			} else if (c->state == C_WRITE) {
				dl = c->t_last + 1000.0 * (double)cfg.timeout;
			} else {
				dl = c->t_last + 2000.0;
			}
			if (dl <= now) {
				if (c->state == C_READ) {
					if (c->len == 0)
						conn_close((size_t)i); /* connected, said nothing: just close */
					else
						conn_error((size_t)i, 408, "the request did not arrive in time", NULL);
				} else
					conn_close((size_t)i);
				if (!conns[i])
					continue;
				c = conns[i];
				dl = c->t_last + 2000.0;
			}
			if (dl < next)
				next = dl;
			pf[n] = (struct pollfd){c->fd, c->state == C_WRITE ? POLLOUT : POLLIN, 0};
			who[n++] = (size_t)i;
		}
		int wait = (int)(next - now) + 1;
		if (wait < 1)
			wait = 1;
		int r = poll(pf, (nfds_t)n, wait);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		for (size_t k = 0; k < n && r > 0; k++) {
			if (!pf[k].revents)
				continue;
			size_t id = who[k];
			if (id == (size_t)-1) {
				char b[64];
				while (read(sigpipe_fds[0], b, sizeof b) > 0)
					;
			} else if (id == (size_t)-2) {
				if (listen_fd >= 0)
					do_accept();
			} else if (id >= n_slots) {
				size_t w = id - n_slots;
				if (workers[w].sock != pf[k].fd)
					continue;
				if (pf[k].revents & POLLOUT)
					worker_tx(w);
				if (pf[k].revents & (POLLIN | POLLHUP | POLLERR))
					worker_event(w);
			} else {
				struct conn *c = conns[id];
				if (!c || c->fd != pf[k].fd)
					continue;
				if (c->state == C_READ)
					conn_read(id);
				else if (c->state == C_WRITE)
					conn_flush(id);
				else if (c->state == C_LINGER) {
					char b[4096];
					ssize_t got = recv(c->fd, b, sizeof b, 0);
					if (got <= 0 && !(got < 0 && (errno == EAGAIN || errno == EINTR)))
						conn_close(id);
				}
			}
		}
		pump_queue();
	}
	/* stop the workers: they exit when their socket closes */
	for (long w = 0; w < cfg.workers; w++)
		if (workers[w].sock >= 0) {
			close(workers[w].sock);
			workers[w].sock = -1;
			if (got_term > 1 && workers[w].pid > 0)
				kill(workers[w].pid, SIGKILL);
		}
	for (long w = 0; w < cfg.workers; w++)
		while (workers[w].pid > 0 && waitpid(workers[w].pid, NULL, 0) < 0 && errno == EINTR)
			;
	for (size_t i = 0; i < n_slots; i++)
		conn_close((size_t)i);
	free(pf);
	free(who);
	return dropped;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, NULL, 'm'},
		{"workers", required_argument, NULL, 'j'},
		{"threads", required_argument, NULL, 't'},
		{"ctx-size", required_argument, NULL, 'c'},
		{"n-predict", required_argument, NULL, 'n'},
		{"host", required_argument, NULL, OPT_HOST},
		{"port", required_argument, NULL, OPT_PORT},
		{"api-key-file", required_argument, NULL, OPT_KEYFILE},
		{"alias", required_argument, NULL, OPT_ALIAS},
		{"chat-format", required_argument, NULL, OPT_CHATFMT},
		{"temp", required_argument, NULL, OPT_TEMP},
		{"top-k", required_argument, NULL, OPT_TOPK},
		{"top-p", required_argument, NULL, OPT_TOPP},
		{"min-p", required_argument, NULL, OPT_MINP},
		{"repeat-penalty", required_argument, NULL, OPT_REP},
		{"seed", required_argument, NULL, OPT_SEED},
		{"queue", required_argument, NULL, OPT_QUEUE},
		{"max-conns", required_argument, NULL, OPT_MAXCONNS},
		{"max-body", required_argument, NULL, OPT_MAXBODY},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"request-timeout", required_argument, NULL, OPT_REQTIMEOUT},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *model_arg = NULL, *alias = NULL, *keyfile = NULL;
	int chat_fmt = WF_CHAT_NONE;
	char err[512];
	int c;

	cli_init(argc, argv, USAGE);
	cfg.host = "127.0.0.1";
	cfg.port = 8080;
	cfg.workers = 1;
	cfg.n_predict = -1;
	cfg.queue = 64;
	cfg.max_conns = 256;
	cfg.max_body = 1 << 20;
	cfg.timeout = 10;
	cfg.req_timeout = 60;
	wf_sampler_defaults(&cfg.sp);
	while ((c = getopt_long(argc, argv, "m:j:t:c:n:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 'j': cfg.workers = parse_long("-j", optarg, 1, 256); break;
		case 't': cfg.threads = parse_long("-t", optarg, 1, 256); break;
		case 'c': cfg.n_ctx = parse_long("-c", optarg, 1, 1 << 24); break;
		case 'n': cfg.n_predict = parse_long("-n", optarg, -1, INT_MAX); break;
		case OPT_HOST: cfg.host = optarg; break;
		case OPT_PORT: cfg.port = parse_long("--port", optarg, 0, 65535); break;
		case OPT_KEYFILE: keyfile = optarg; break;
		case OPT_ALIAS:
			if (!*optarg || strlen(optarg) >= sizeof cfg.model_id)
				usage_die("--alias: 1 to %zu bytes", sizeof cfg.model_id - 1);
			alias = optarg;
			break;
		case OPT_CHATFMT:
			chat_fmt = wf_chat_from_name(optarg);
			if (chat_fmt == WF_CHAT_NONE)
				usage_die("--chat-format: '%s' is not bitnet, llama3 or chatml", optarg);
			break;
		case OPT_TEMP: cfg.sp.temp = parse_float("--temp", optarg); break;
		case OPT_TOPK: cfg.sp.top_k = (int)parse_long("--top-k", optarg, 0, INT_MAX); break;
		case OPT_TOPP: cfg.sp.top_p = parse_float("--top-p", optarg); break;
		case OPT_MINP: cfg.sp.min_p = parse_float("--min-p", optarg); break;
		case OPT_REP: cfg.sp.repeat_penalty = parse_float("--repeat-penalty", optarg); break;
		case OPT_SEED: {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-')
				usage_die("--seed: '%s' is not a non-negative integer", optarg);
			cfg.seed = v;
			cfg.have_seed = 1;
			break;
		}
		case OPT_QUEUE: cfg.queue = parse_long("--queue", optarg, 0, 1 << 20); break;
		case OPT_MAXCONNS: cfg.max_conns = parse_long("--max-conns", optarg, 1, 1 << 16); break;
		case OPT_MAXBODY: cfg.max_body = (uint64_t)parse_long("--max-body", optarg, 1, 1L << 30); break;
		case OPT_TIMEOUT: cfg.timeout = parse_long("--timeout", optarg, 1, 86400); break;
		case OPT_REQTIMEOUT: cfg.req_timeout = parse_long("--request-timeout", optarg, 1, 86400); break;
		case 'v': cfg.verbose = 1; break;
		case 'h':
			printf("usage: %s\n", USAGE);
			return cli_exit(0);
		default:
			usage_die(NULL);
		}
	}
	if (optind < argc)
		usage_die("unexpected argument '%s'", argv[optind]);
	if (wf_sampler_check(&cfg.sp, err, sizeof err) < 0)
		usage_die("%s", err);
	if (keyfile)
		read_key_file(keyfile);
	if (cfg.threads == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		cfg.threads = ncpu > cfg.workers ? ncpu / cfg.workers : 1;
	}

	model = cli_model_load(model_arg, WF_ACT_DEFAULT, &src, &gg);
	tok = wf_tokenizer_load(&gg, NULL, err, sizeof err);
	if (!tok)
		die("%s: %s", src.name, err);
	if (chat_fmt == WF_CHAT_NONE) {
		struct wf_gguf_str tmpl;
		if (wf_gguf_get_str(&gg, "tokenizer.chat_template", &tmpl, err, sizeof err) == 0)
			chat_fmt = wf_chat_detect(tmpl.ptr, tmpl.len);
		if (chat_fmt == WF_CHAT_NONE)
			chat_fmt = WF_CHAT_CHATML; /* no (known) template: llama.cpp's fallback */
	}
	cfg.chat_fmt = chat_fmt;
	/* block diffusion: the model's settings, or why it has none */
	wf_dlm_params_unset(&cfg.dlm);
	cfg.dlm_ok = wf_dlm_resolve(&cfg.dlm, &gg, wf_model_hparams(model)->n_vocab, cfg.dlm_err,
	                            sizeof cfg.dlm_err) == 0;
	int model_ctx = wf_model_hparams(model)->n_ctx_train;
	if (cfg.n_ctx == 0)
		cfg.n_ctx = model_ctx > 0 ? model_ctx : 4096;
	set_model_id(alias);
	created_at = (long)time(NULL);

	listen_fd = open_listener(err, sizeof err);
	if (listen_fd < 0)
		die("%s", err);
	set_nonblock(listen_fd);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char hostbuf[NI_MAXHOST], portbuf[NI_MAXSERV];
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, hostbuf, sizeof hostbuf, portbuf, sizeof portbuf,
	                NI_NUMERICHOST | NI_NUMERICSERV))
		die("cannot read the listening address: %s", strerror(errno));

	if (pipe(sigpipe_fds) < 0)
		die("pipe: %s", strerror(errno));
	set_nonblock(sigpipe_fds[0]);
	set_nonblock(sigpipe_fds[1]);
	n_slots = (size_t)cfg.max_conns + BUSY_SLOTS;
	conns = calloc(n_slots, sizeof *conns);
	workers = calloc((size_t)cfg.workers, sizeof *workers);
	queue = calloc((size_t)(cfg.queue ? cfg.queue : 1), sizeof *queue);
	if (!conns || !workers || !queue)
		die("out of memory");
	for (long w = 0; w < cfg.workers; w++)
		workers[w].sock = -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (long w = 0; w < cfg.workers; w++)
		if (spawn_worker((size_t)w) < 0)
			die("cannot start worker %ld: %s", w + 1, strerror(errno));
	/* wait until every worker has its context */
	for (long w = 0; w < cfg.workers; w++) {
		char b;
		ssize_t k;
		do
			k = read(workers[w].sock, &b, 1);
		while (k < 0 && errno == EINTR);
		if (k != 1 || b != 'R') {
			for (long v = 0; v < cfg.workers; v++)
				if (workers[v].pid > 0)
					kill(workers[v].pid, SIGKILL);
			die("worker %ld failed to start", w + 1);
		}
		workers[w].ready = 1;
		set_nonblock(workers[w].sock);
	}
	sigaction(SIGCHLD, &sa, NULL);
	int v6 = strchr(hostbuf, ':') != NULL;
	printf("http://%s%s%s:%s/\n", v6 ? "[" : "", hostbuf, v6 ? "]" : "", portbuf);
	if (fflush(stdout) == EOF)
		die("write error on standard output: %s", strerror(errno));
	if (cfg.verbose) {
		logmsg("%s: %ld workers x %ld threads, context %ld, chat format %s, model '%s'", src.name, cfg.workers,
		       cfg.threads, cfg.n_ctx, wf_chat_name(cfg.chat_fmt), cfg.model_id);
		if (cfg.dlm_ok)
			logmsg("block diffusion: block %d, sub-block %d, threshold %g, %s, %s attention, mask %d",
			       cfg.dlm.block_size, cfg.dlm.sub_block, (double)cfg.dlm.threshold,
			       wf_dlm_mode_name(cfg.dlm.mode), wf_dlm_attn_name(cfg.dlm.attn), (int)cfg.dlm.mask_id);
		else
			logmsg("block diffusion is not available: %s", cfg.dlm_err);
	}
	size_t dropped = parent_loop();
	if (dropped)
		error("stopped by a second signal: %zu request%s not answered", dropped, dropped == 1 ? "" : "s");
	free(conns);
	free(workers);
	free(queue);
	free(cfg.api_key);
	wf_tokenizer_free(tok);
	wf_model_free(model);
	wf_gguf_free(&gg);
	wf_model_close(&src);
	return cli_exit(dropped ? 1 : 0);
}
