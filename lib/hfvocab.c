/*
 * hfvocab — Hugging Face tokenizer.json to GGUF tokenizer keys (hfvocab.h).
 */
#include "hfvocab.h"
#include "errf.h"
#include "model.h" /* WF_MAX_VOCAB */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The LLaMA 3 pre-tokenizer regex as tokenizer.json spells it (two forms). */
static const char *const llama3_regex[] = {
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
	"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

static const char *const special_cfg_name[WF_SPECIAL_N] = {
	"bos", "eos", "unk", "sep", "pad", "cls", "mask", "eot"
};
static const char *const special_gguf_key[WF_SPECIAL_N] = {
	"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
	"tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
	"tokenizer.ggml.padding_token_id", "tokenizer.ggml.cls_token_id",
	"tokenizer.ggml.mask_token_id", "tokenizer.ggml.eot_token_id",
};

/* Keep a malloc'd block for wf_hfvocab_free; frees it and fails on OOM. */
static void *own(struct wf_hfvocab *v, void *p)
{
	if (!p)
		return NULL;
	if (v->n_owned == v->owned_cap) {
		size_t cap = v->owned_cap ? v->owned_cap * 2 : 8;
		char **o = realloc(v->owned, cap * sizeof(*o));
		if (!o) {
			free(p);
			return NULL;
		}
		v->owned = o;
		v->owned_cap = cap;
	}
	v->owned[v->n_owned++] = p;
	return p;
}

void wf_hfvocab_free(struct wf_hfvocab *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_owned; i++)
		free(v->owned[i]);
	free(v->owned);
	free(v->tokens);
	free(v->token_lens);
	free(v->types);
	free(v->merges);
	for (size_t i = 0; i < v->n_tmpls; i++) {
		free(v->tmpls[i].name);
		free(v->tmpls[i].text);
	}
	free(v->tmpls);
	memset(v, 0, sizeof *v);
}

/* The token shown in messages, cut to keep the line short. */
static const char *shown(const char *s, char *buf, size_t n)
{
	snprintf(buf, n, "%s", s);
	if (strlen(s) >= n && n > 4)
		memcpy(buf + n - 4, "...", 4);
	return buf;
}

/* gguf-py's does_token_look_special. */
static int looks_special(const char *t, size_t n)
{
	static const char *const exact[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
	for (size_t k = 0; k < sizeof exact / sizeof exact[0]; k++)
		if (strcmp(t, exact[k]) == 0)
			return 1;
	if (n >= 4 && memcmp(t, "<|", 2) == 0 && memcmp(t + n - 2, "|>", 2) == 0)
		return 1;
	/* "<｜" ... "｜>" (U+FF5C FULLWIDTH VERTICAL LINE, deepseek-coder) */
	if (n >= 8 && memcmp(t, "<\xef\xbd\x9c", 4) == 0 && memcmp(t + n - 4, "\xef\xbd\x9c>", 4) == 0)
		return 1;
	if (n >= 8 && memcmp(t, "<unused", 7) == 0 && t[n - 1] == '>')
		return 1;
	return 0;
}

/* Copy s[n] with every U+2581 (e2 96 81) replaced by ' '. */
static char *unescape_spm_space(const char *s, size_t n, size_t *outn)
{
	char *d = malloc(n + 1), *o = d;
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (i + 2 < n && (unsigned char)s[i] == 0xe2 && (unsigned char)s[i + 1] == 0x96 &&
		    (unsigned char)s[i + 2] == 0x81) {
			*o++ = ' ';
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	*outn = (size_t)(o - d);
	return d;
}

/* Recognise the pre-tokenizer; 0 with v->pre set, or -1 with the reason. */
static int detect_pre(struct wf_hfvocab *v, const struct wf_json *pt, char *err, size_t errlen)
{
	const struct wf_json *list = pt;
	uint32_t n = 1;
	if (!pt || pt->type == WF_JSON_NULL)
		return wf_errf(err, errlen, "pre_tokenizer: none, so it is not byte-level BPE as wf knows it");
	if (pt->type != WF_JSON_OBJECT)
		return wf_errf(err, errlen, "pre_tokenizer: expected an object, found %s", wf_json_type_name(pt->type));
	if (wf_json_streq(wf_json_get(pt, "type"), "Sequence")) {
		const struct wf_json *l = wf_json_get(pt, "pretokenizers");
		if (!l || l->type != WF_JSON_ARRAY)
			return wf_errf(err, errlen, "pre_tokenizer: Sequence without a 'pretokenizers' array");
		list = l->u.kids;
		n = l->n;
	}
	const char *regex = NULL;
	int bytelevel = 0, bl_regex = 0, other = 0;
	char other_name[48] = "";
	for (uint32_t i = 0; i < n; i++) {
		const struct wf_json *p = &list[i];
		const struct wf_json *t = wf_json_get(p, "type");
		if (!t || t->type != WF_JSON_STRING)
			return wf_errf(err, errlen, "pre_tokenizer: element %u has no 'type' string", i);
		if (wf_json_streq(t, "ByteLevel")) {
			const struct wf_json *ur = wf_json_get(p, "use_regex");
			bytelevel = 1;
			/* tokenizers' default for use_regex is true */
			bl_regex = !ur || ur->type == WF_JSON_TRUE;
		} else if (wf_json_streq(t, "Split")) {
			const struct wf_json *pat = wf_json_get(wf_json_get(p, "pattern"), "Regex");
			if (!pat || pat->type != WF_JSON_STRING || regex) {
				other = 1;
				snprintf(other_name, sizeof other_name, "Split");
			} else {
				regex = pat->s;
			}
		} else {
			other = 1;
			snprintf(other_name, sizeof other_name, "%.40s", t->s);
		}
	}
	if (!bytelevel)
		return wf_errf(err, errlen, "pre_tokenizer: no ByteLevel step, so this is not byte-level BPE");
	if (other)
		return wf_errf(err, errlen, "pre_tokenizer: unrecognised step '%s' (name the pre-tokenizer to force it)", other_name);
	if (regex) {
		if (bl_regex)
			return wf_errf(err, errlen, "pre_tokenizer: Split regex followed by a ByteLevel step that also splits (use_regex: true) is not recognised");
		for (size_t k = 0; k < sizeof llama3_regex / sizeof llama3_regex[0]; k++) {
			if (strcmp(regex, llama3_regex[k]) == 0) {
				snprintf(v->pre, sizeof v->pre, "llama-bpe");
				return 0;
			}
		}
		char rb[64];
		return wf_errf(err, errlen, "pre_tokenizer: unrecognised Split regex '%s' (name the pre-tokenizer to force it)",
			    shown(regex, rb, sizeof rb));
	}
	if (!bl_regex)
		return wf_errf(err, errlen, "pre_tokenizer: ByteLevel without a regex (use_regex: false) and no Split step is not recognised");
	snprintf(v->pre, sizeof v->pre, "gpt-2");
	return 0;
}

/* Id of the added token whose content equals s, or -1. */
static int64_t added_id(const struct wf_json *added, const char *s, size_t n)
{
	if (!added || added->type != WF_JSON_ARRAY)
		return -1;
	for (uint32_t i = 0; i < added->n; i++) {
		const struct wf_json *c = wf_json_get(&added->u.kids[i], "content");
		int64_t id;
		if (c && c->type == WF_JSON_STRING && c->n == n && memcmp(c->s, s, n) == 0 &&
		    wf_json_int(wf_json_get(&added->u.kids[i], "id"), 0, INT32_MAX, &id) == 0)
			return id;
	}
	return -1;
}

static int set_special(struct wf_hfvocab *v, int typ, int64_t id)
{
	if (id < 0 || id >= (int64_t)v->n || v->special[typ] >= 0)
		return 0;
	v->special[typ] = id;
	return 0;
}

/* Read the merges array; 0 or -1. */
static int load_merges(struct wf_hfvocab *v, const struct wf_json *m, char *err, size_t errlen)
{
	if (!m || m->type == WF_JSON_NULL)
		return 0;
	if (m->type != WF_JSON_ARRAY)
		return wf_errf(err, errlen, "model.merges: expected an array, found %s", wf_json_type_name(m->type));
	v->n_merges = m->n;
	if (!m->n)
		return 0;
	v->merges = malloc(m->n * sizeof(*v->merges));
	if (!v->merges)
		return wf_errf(err, errlen, "out of memory");
	if (m->u.kids[0].type == WF_JSON_STRING) {
		for (uint32_t i = 0; i < m->n; i++) {
			const struct wf_json *e = &m->u.kids[i];
			if (e->type != WF_JSON_STRING)
				return wf_errf(err, errlen, "model.merges[%u]: expected a string like the first merge, found %s",
					    i, wf_json_type_name(e->type));
			const char *sp = e->n ? memchr(e->s + 1, ' ', e->n - 1) : NULL;
			if (!sp || sp == e->s + e->n - 1)
				return wf_errf(err, errlen, "model.merges[%u]: expected \"A B\", found \"%.40s\"", i, e->s);
			v->merges[i] = e->s;
		}
		return 0;
	}
	if (m->u.kids[0].type != WF_JSON_ARRAY)
		return wf_errf(err, errlen, "model.merges[0]: expected a string or a pair of strings, found %s",
			    wf_json_type_name(m->u.kids[0].type));
	/* pair form: "a b" with ' ' inside a part written as U+0120 (c4 a0) */
	size_t total = 0;
	for (uint32_t i = 0; i < m->n; i++) {
		const struct wf_json *e = &m->u.kids[i];
		if (e->type != WF_JSON_ARRAY || e->n != 2 || e->u.kids[0].type != WF_JSON_STRING ||
		    e->u.kids[1].type != WF_JSON_STRING || !e->u.kids[0].n || !e->u.kids[1].n)
			return wf_errf(err, errlen, "model.merges[%u]: expected a pair of non-empty strings", i);
		for (int k = 0; k < 2; k++) {
			const struct wf_json *s = &e->u.kids[k];
			total += s->n;
			for (uint32_t j = 0; j < s->n; j++)
				total += s->s[j] == ' ';
		}
		total += 2;
	}
	char *buf = own(v, malloc(total));
	if (!buf)
		return wf_errf(err, errlen, "out of memory");
	char *d = buf;
	for (uint32_t i = 0; i < m->n; i++) {
		const struct wf_json *e = &m->u.kids[i];
		v->merges[i] = d;
		for (int k = 0; k < 2; k++) {
			const struct wf_json *s = &e->u.kids[k];
			for (uint32_t j = 0; j < s->n; j++) {
				if (s->s[j] == ' ') {
					*d++ = (char)0xc4;
					*d++ = (char)0xa0;
				} else {
					*d++ = s->s[j];
				}
			}
			*d++ = k == 0 ? ' ' : '\0';
		}
	}
	return 0;
}

static int add_template(struct wf_hfvocab *v, const char *name, const char *text, size_t len)
{
	struct wf_hfvocab_tmpl *t = realloc(v->tmpls, (v->n_tmpls + 1) * sizeof(*t));
	if (!t)
		return -1;
	v->tmpls = t;
	t = &v->tmpls[v->n_tmpls];
	t->name = name ? strdup(name) : NULL;
	t->text = malloc(len + 1);
	if ((name && !t->name) || !t->text) {
		free(t->name);
		free(t->text);
		return -1;
	}
	memcpy(t->text, text, len);
	t->text[len] = '\0';
	v->n_tmpls++;
	return 0;
}

static int load_templates(struct wf_hfvocab *v, const struct wf_json *ct, char *err, size_t errlen)
{
	if (!ct || ct->type == WF_JSON_NULL)
		return 0;
	if (ct->type == WF_JSON_STRING)
		return add_template(v, NULL, ct->s, ct->n) < 0 ? wf_errf(err, errlen, "out of memory") : 0;
	if (ct->type != WF_JSON_ARRAY)
		return wf_errf(err, errlen, "tokenizer_config.json: chat_template: expected a string or a list, found %s",
			    wf_json_type_name(ct->type));
	for (uint32_t i = 0; i < ct->n; i++) {
		const struct wf_json *name = wf_json_get(&ct->u.kids[i], "name");
		const struct wf_json *text = wf_json_get(&ct->u.kids[i], "template");
		if (!name || name->type != WF_JSON_STRING || !text || text->type != WF_JSON_STRING)
			return wf_errf(err, errlen, "tokenizer_config.json: chat_template[%u]: expected {\"name\": ..., \"template\": ...}", i);
		/* each name becomes one GGUF key, tokenizer.chat_template.<name> */
		if (name->n < 1 || name->n > 64)
			return wf_errf(err, errlen, "tokenizer_config.json: chat_template[%u]: template name of %u bytes (1 to 64)",
				    i, name->n);
		for (uint32_t j = 0; j < name->n; j++) {
			char c = name->s[j];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
				return wf_errf(err, errlen, "tokenizer_config.json: chat_template[%u]: bad template name '%.40s'", i, name->s);
		}
		const char *nm = strcmp(name->s, "default") == 0 ? NULL : name->s;
		for (size_t k = 0; k < v->n_tmpls; k++)
			if (nm ? v->tmpls[k].name && strcmp(v->tmpls[k].name, nm) == 0 : !v->tmpls[k].name)
				return wf_errf(err, errlen, "tokenizer_config.json: chat_template[%u]: a second template named '%s'",
					    i, name->s);
		if (add_template(v, nm, text->s, text->n) < 0)
			return wf_errf(err, errlen, "out of memory");
	}
	return 0;
}

/* The content of a <typ>_token entry: a string or {"content": string}. */
static const struct wf_json *token_content(const struct wf_json *e)
{
	if (e && e->type == WF_JSON_OBJECT)
		e = wf_json_get(e, "content");
	return e && e->type == WF_JSON_STRING ? e : NULL;
}

/* add_bos / add_eos from a TemplateProcessing post-processor. */
static void infer_add_special(struct wf_hfvocab *v, const struct wf_json *pp)
{
	if (!pp || pp->type != WF_JSON_OBJECT)
		return;
	if (wf_json_streq(wf_json_get(pp, "type"), "Sequence")) {
		const struct wf_json *l = wf_json_get(pp, "processors");
		if (l && l->type == WF_JSON_ARRAY)
			for (uint32_t i = 0; i < l->n; i++)
				infer_add_special(v, &l->u.kids[i]);
		return;
	}
	if (!wf_json_streq(wf_json_get(pp, "type"), "TemplateProcessing"))
		return;
	const struct wf_json *single = wf_json_get(pp, "single");
	const struct wf_json *specials = wf_json_get(pp, "special_tokens");
	if (!single || single->type != WF_JSON_ARRAY || !single->n)
		return;
	for (int end = 0; end < 2; end++) {
		const struct wf_json *e = &single->u.kids[end ? single->n - 1 : 0];
		const struct wf_json *st = wf_json_get(wf_json_get(e, "SpecialToken"), "id");
		int typ = end ? WF_SPECIAL_EOS : WF_SPECIAL_BOS;
		int *flag = end ? &v->add_eos : &v->add_bos;
		if (*flag >= 0)
			continue;
		if (!st || st->type != WF_JSON_STRING) {
			*flag = 0;
			continue;
		}
		/* special_tokens[name].ids[0] is the id the template adds */
		const struct wf_json *ids = wf_json_get(wf_json_get(specials, st->s), "ids");
		int64_t id = -1;
		if (ids && ids->type == WF_JSON_ARRAY && ids->n == 1)
			wf_json_int(&ids->u.kids[0], 0, INT32_MAX, &id);
		*flag = id >= 0 && id == v->special[typ];
	}
}

static int build(struct wf_hfvocab *v, const struct wf_json *tok, const struct wf_json *tcfg,
                 const struct wf_json *cfg, const struct wf_hfvocab_opts *opts, char *err, size_t errlen)
{
	char tb[48];
	struct wf_hfvocab_opts dflt = {0};
	if (!opts)
		opts = &dflt;
	memset(v, 0, sizeof *v);
	for (int k = 0; k < WF_SPECIAL_N; k++)
		v->special[k] = -1;
	v->add_bos = v->add_eos = -1;
	if (tcfg && tcfg->type != WF_JSON_OBJECT)
		tcfg = NULL;
	if (cfg && cfg->type != WF_JSON_OBJECT)
		cfg = NULL;

	if (!tok || tok->type != WF_JSON_OBJECT)
		return wf_errf(err, errlen, "expected a JSON object at the top");
	const struct wf_json *model = wf_json_get(tok, "model");
	if (!model || model->type != WF_JSON_OBJECT)
		return wf_errf(err, errlen, "no 'model' object");
	const struct wf_json *mtype = wf_json_get(model, "type");
	const struct wf_json *vocab = wf_json_get(model, "vocab");
	if (mtype && !wf_json_streq(mtype, "BPE"))
		return wf_errf(err, errlen, "model.type: '%.40s' is not supported (only BPE)",
			    mtype->type == WF_JSON_STRING ? mtype->s : wf_json_type_name(mtype->type));
	if (!mtype && !wf_json_get(model, "merges"))
		return wf_errf(err, errlen, "model: no 'type' and no 'merges', so not a BPE model");
	if (!vocab || vocab->type != WF_JSON_OBJECT)
		return wf_errf(err, errlen, "model.vocab: expected an object of token: id");
	if (wf_json_get(model, "byte_fallback") && wf_json_get(model, "byte_fallback")->type == WF_JSON_TRUE)
		return wf_errf(err, errlen, "model.byte_fallback: SentencePiece-style BPE is not supported (only byte-level BPE)");
	snprintf(v->model, sizeof v->model, "gpt2");

	if (opts->pre) {
		snprintf(v->pre, sizeof v->pre, "%s", opts->pre);
	} else if (detect_pre(v, wf_json_get(tok, "pre_tokenizer"), err, errlen) < 0) {
		return -1;
	}

	const struct wf_json *added = wf_json_get(tok, "added_tokens");
	if (added && added->type == WF_JSON_NULL)
		added = NULL;
	if (added && added->type != WF_JSON_ARRAY)
		return wf_errf(err, errlen, "added_tokens: expected an array, found %s", wf_json_type_name(added->type));

	/* The token count.  Ids are held below WF_MAX_VOCAB, past which no
	 * model loads: every id up to the largest costs a token (a "[PAD<id>]"
	 * for each hole), so one big id would cost gigabytes. */
	int64_t n = opts->n_vocab, maxid = -1;
	const char *nsrc = "the vocabulary size asked for";
	if (n > WF_MAX_VOCAB)
		return wf_errf(err, errlen, "the vocabulary size asked for, %lld, is over %d", (long long)n, WF_MAX_VOCAB);
	if (n <= 0 && cfg && wf_json_get(cfg, "vocab_size")) {
		if (wf_json_int(wf_json_get(cfg, "vocab_size"), 1, WF_MAX_VOCAB, &n) < 0)
			return wf_errf(err, errlen, "config.json: vocab_size: expected an integer in 1..%d", WF_MAX_VOCAB);
		nsrc = "config.json's vocab_size";
	}
	for (uint32_t i = 0; i < vocab->n; i++) {
		int64_t id;
		if (wf_json_int(&vocab->u.kids[i], 0, WF_MAX_VOCAB - 1, &id) < 0)
			return wf_errf(err, errlen, "model.vocab: token '%s': expected an id in 0..%d", shown(vocab->u.kids[i].key, tb, sizeof tb), WF_MAX_VOCAB - 1);
		if (id > maxid)
			maxid = id;
	}
	for (uint32_t i = 0; added && i < added->n; i++) {
		const struct wf_json *a = &added->u.kids[i];
		int64_t id;
		const struct wf_json *c = wf_json_get(a, "content");
		if (wf_json_int(wf_json_get(a, "id"), 0, WF_MAX_VOCAB - 1, &id) < 0)
			return wf_errf(err, errlen, "added_tokens[%u]: expected an 'id' in 0..%d", i, WF_MAX_VOCAB - 1);
		if (!c || c->type != WF_JSON_STRING || c->n == 0)
			return wf_errf(err, errlen, "added_tokens[%u]: expected a non-empty 'content' string", i);
		if (id > maxid)
			maxid = id;
	}
	if (maxid < 0)
		return wf_errf(err, errlen, "model.vocab: no tokens");
	if (n <= 0)
		n = maxid + 1;
	else if (maxid >= n)
		return wf_errf(err, errlen, "token id %lld is not below %s %lld", (long long)maxid, nsrc, (long long)n);
	v->n = (uint32_t)n;
	v->tokens = calloc((size_t)n, sizeof(*v->tokens));
	v->token_lens = calloc((size_t)n, sizeof(*v->token_lens));
	v->types = calloc((size_t)n, sizeof(*v->types));
	if (!v->tokens || !v->token_lens || !v->types)
		return wf_errf(err, errlen, "out of memory");

	for (uint32_t i = 0; i < vocab->n; i++) {
		const struct wf_json *e = &vocab->u.kids[i];
		int64_t id;
		wf_json_int(e, 0, INT32_MAX, &id);
		if (v->tokens[id]) {
			char tb2[48];
			return wf_errf(err, errlen, "model.vocab: tokens '%s' and '%s' share id %lld",
				    shown(v->tokens[id], tb, sizeof tb), shown(e->key, tb2, sizeof tb2), (long long)id);
		}
		v->tokens[id] = e->key;
		v->token_lens[id] = e->keylen;
		v->types[id] = WF_TOKTYPE_NORMAL;
	}
	for (uint32_t i = 0; added && i < added->n; i++) {
		const struct wf_json *a = &added->u.kids[i];
		const struct wf_json *c = wf_json_get(a, "content");
		const struct wf_json *sp = wf_json_get(a, "special");
		int64_t id;
		wf_json_int(wf_json_get(a, "id"), 0, INT32_MAX, &id);
		v->tokens[id] = c->s;
		v->token_lens[id] = c->n;
		if ((sp && sp->type == WF_JSON_TRUE) || looks_special(c->s, c->n)) {
			v->types[id] = WF_TOKTYPE_CONTROL;
		} else {
			size_t ln = 0;
			char *u = own(v, unescape_spm_space(c->s, c->n, &ln));
			if (!u)
				return wf_errf(err, errlen, "out of memory");
			v->tokens[id] = u;
			v->token_lens[id] = ln;
			v->types[id] = WF_TOKTYPE_USER_DEFINED;
		}
	}
	/* the holes' names in one block: "[PAD16777215]" and its NUL fit in 16 */
	size_t holes = 0;
	for (int64_t id = 0; id < n; id++)
		holes += !v->tokens[id];
	char *pad = holes ? own(v, malloc(holes * 16)) : NULL;
	if (holes && !pad)
		return wf_errf(err, errlen, "out of memory");
	for (int64_t id = 0; id < n; id++) {
		if (v->tokens[id])
			continue;
		v->token_lens[id] = (size_t)snprintf(pad, 16, "[PAD%lld]", (long long)id);
		v->tokens[id] = pad;
		v->types[id] = WF_TOKTYPE_UNUSED;
		pad += 16;
	}

	if (load_merges(v, wf_json_get(model, "merges"), err, errlen) < 0)
		return -1;

	/* Special ids: tokenizer_config.json first, then config.json. */
	for (int typ = 0; typ < WF_SPECIAL_N && tcfg; typ++) {
		char key[32];
		snprintf(key, sizeof key, "add_%s_token", special_cfg_name[typ]);
		const struct wf_json *a = wf_json_get(tcfg, key);
		if (a && (a->type == WF_JSON_TRUE || a->type == WF_JSON_FALSE)) {
			if (typ == WF_SPECIAL_BOS)
				v->add_bos = a->type == WF_JSON_TRUE;
			if (typ == WF_SPECIAL_EOS)
				v->add_eos = a->type == WF_JSON_TRUE;
		}
		snprintf(key, sizeof key, "%s_token", special_cfg_name[typ]);
		const struct wf_json *c = token_content(wf_json_get(tcfg, key));
		if (!c)
			continue;
		/* an added token, else one of the vocabulary */
		int64_t id = added_id(added, c->s, c->n);
		const struct wf_json *vid = id < 0 && !memchr(c->s, 0, c->n) ? wf_json_get(vocab, c->s) : NULL;
		if (vid && wf_json_int(vid, 0, INT32_MAX, &id) < 0)
			id = -1;
		if (id < 0 && (typ == WF_SPECIAL_BOS || typ == WF_SPECIAL_EOS))
			return wf_errf(err, errlen, "tokenizer_config.json: %s '%s' is not a token", key,
			               shown(c->s, tb, sizeof tb));
		set_special(v, typ, id);
	}
	for (int typ = 0; typ < WF_SPECIAL_N && cfg; typ++) {
		char key[32];
		int64_t id;
		snprintf(key, sizeof key, "%s_token_id", special_cfg_name[typ]);
		if (wf_json_int(wf_json_get(cfg, key), 0, INT32_MAX, &id) == 0)
			set_special(v, typ, id);
	}
	if (v->special[WF_SPECIAL_EOT] < 0) {
		int64_t id = added_id(added, "<|eot_id|>", 10);
		if (id < 0)
			id = added_id(added, "<|im_end|>", 10);
		set_special(v, WF_SPECIAL_EOT, id);
	}
	infer_add_special(v, wf_json_get(tok, "post_processor"));

	if (opts->chat_template) {
		if (add_template(v, NULL, opts->chat_template, strlen(opts->chat_template)) < 0)
			return wf_errf(err, errlen, "out of memory");
	} else if (tcfg && load_templates(v, wf_json_get(tcfg, "chat_template"), err, errlen) < 0) {
		return -1;
	}
	return 0;
}

int wf_hfvocab_build(struct wf_hfvocab *v, const struct wf_json *tok, const struct wf_json *tcfg,
                     const struct wf_json *cfg, const struct wf_hfvocab_opts *opts,
                     char *err, size_t errlen)
{
	if (build(v, tok, tcfg, cfg, opts, err, errlen) < 0) {
		wf_hfvocab_free(v);
		return -1;
	}
	return 0;
}

int wf_hfvocab_write(const struct wf_hfvocab *v, struct wf_gguf_writer *w)
{
	wf_gguf_writer_str(w, "tokenizer.ggml.model", v->model);
	wf_gguf_writer_str(w, "tokenizer.ggml.pre", v->pre);
	wf_gguf_writer_arr_str(w, "tokenizer.ggml.tokens", v->tokens, v->token_lens, v->n);
	wf_gguf_writer_arr(w, "tokenizer.ggml.token_type", WF_GGUF_INT32, v->types, v->n);
	/* always, empty too: byte-level BPE readers require the key */
	wf_gguf_writer_arr_str(w, "tokenizer.ggml.merges", v->merges, NULL, v->n_merges);
	for (int typ = 0; typ < WF_SPECIAL_N; typ++)
		if (v->special[typ] >= 0)
			wf_gguf_writer_u32(w, special_gguf_key[typ], (uint32_t)v->special[typ]);
	if (v->add_bos >= 0)
		wf_gguf_writer_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
	if (v->add_eos >= 0)
		wf_gguf_writer_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos);
	for (size_t i = 0; i < v->n_tmpls; i++) {
		if (!v->tmpls[i].name) {
			wf_gguf_writer_str(w, "tokenizer.chat_template", v->tmpls[i].text);
		} else {
			char key[128];
			snprintf(key, sizeof key, "tokenizer.chat_template.%s", v->tmpls[i].name);
			wf_gguf_writer_str(w, key, v->tmpls[i].text);
		}
	}
	return wf_gguf_writer_error(w)[0] ? -1 : 0;
}
