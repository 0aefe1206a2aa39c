#include "tokenizer.h"
#include "errf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "unicode.h"

/* ------------------------------------------------------------------ */
/* The index: one block, no pointers, so it can live in a model image.  */

#define IX_MAGIC "WFTOKIX"
#define IX_VERSION 1u

struct ix_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint32_t n_vocab;
	uint32_t n_merges;
	uint32_t text_bits;      /* text slots: 1 << text_bits */
	uint32_t merge_bits;     /* merge slots: 1 << merge_bits (0: none) */
	uint64_t fingerprint;    /* hash of the vocabulary texts and merges */
	uint64_t total_size;     /* bytes of the whole block */
};

/* Token text -> id: hash = the text's 64-bit hash, id1 = id + 1 (0: empty
 * slot), len its length.  No two vocabulary texts share a hash (checked
 * while building), so the build compares hashes only; lookups of outside
 * text compare the bytes too. */
struct ix_text {
	uint64_t hash;
	uint32_t id1;
	uint32_t len;
};

/* (left id, right id) -> (rank, result id).  rank1 = rank + 1 (0: empty). */
struct ix_merge {
	uint32_t left, right, rank1, result;
};

/* ------------------------------------------------------------------ */

struct special {
	int32_t id;
	uint32_t len;
	const char *text;
};

/* A cached word: its bytes and its ids, both in the cache arena. */
struct cache_slot {
	uint64_t hash;           /* 0: empty */
	uint32_t off, len;       /* word bytes at arena + off */
	uint32_t ids_off, n_ids; /* ids at arena + ids_off (int32 aligned) */
};

#define CACHE_SLOTS (1u << 14)
#define CACHE_ARENA (1u << 21)
#define CACHE_MAX_WORD 64

/* A special token found in the text: bytes [start, end). */
struct frag {
	size_t start, end;
	int32_t id;
};

struct bigram {
	float score;     /* SPM: higher first */
	uint32_t rank;   /* BPE: lower first */
	int32_t left, right;
	int32_t lid, rid; /* BPE: the ids the pair had when pushed */
	uint32_t size;   /* SPM: bytes of the pair */
};

struct wf_tokenizer {
	enum wf_tok_model model;
	enum wf_tok_pre pre;
	uint32_t n_vocab;
	int ignore_merges;
	int add_bos, add_eos, add_space_prefix;
	int32_t bos, eos, unk, eot, eom, sep, pad;
	int32_t eog[16];
	size_t n_eog;

	const struct wf_gguf_str *texts; /* [n_vocab], inside the GGUF */
	uint8_t *types;                  /* [n_vocab] */
	float *scores;                   /* [n_vocab] (SPM) */
	uint32_t *piece_off;             /* [n_vocab + 1] into pieces */
	char *pieces;
	int32_t byte_tok[256];           /* token of each byte, -1 if none */

	/* the index (owned or adopted) */
	const struct ix_header *ix;
	const struct ix_text *ix_text;
	const struct ix_merge *ix_merge;
	void *ix_owned;

	struct special *specials;        /* sorted: longer first, then lower id */
	size_t n_specials, n_user;       /* n_user: how many are user-defined */
	uint8_t special_first[256];      /* 1 if some special text starts with the byte */

	/* encode scratch */
	char *esc;                       /* SPM: escaped text; BPE: mapped word */
	size_t esc_cap;
	int32_t *sym_id, *sym_prev, *sym_next;
	uint32_t *sym_start, *sym_n;
	size_t sym_cap;
	struct bigram *heap;
	size_t heap_n, heap_cap;
	struct frag *frags;
	size_t frags_cap;
	uint8_t *taken;
	size_t taken_cap;
	struct cache_slot *cache;
	char *cache_arena;
	size_t cache_used, cache_count;
};

static inline uint64_t ld64(const char *s)
{
	uint64_t v;
	memcpy(&v, s, 8);
	return v;
}

static inline uint32_t ld32(const char *s)
{
	uint32_t v;
	memcpy(&v, s, 4);
	return v;
}

/* A 64-bit hash of s[0..n) (native byte order: an index never leaves its
 * machine).  Short strings, the common case, take two multiplications. */
static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull), a, b;
	while (n > 16) {
		h = (h ^ ld64(s)) * 0xbf58476d1ce4e5b9ull;
		h = (h ^ ld64(s + 8) ^ (h >> 31)) * 0x94d049bb133111ebull;
		s += 16;
		n -= 16;
	}
	if (n >= 8) {
		a = ld64(s);
		b = ld64(s + n - 8);
	} else if (n >= 4) {
		a = ld32(s);
		b = ld32(s + n - 4);
	} else if (n > 0) {
		a = (uint64_t)(unsigned char)s[0] << 16 | (uint64_t)(unsigned char)s[n >> 1] << 8 |
		    (unsigned char)s[n - 1];
		b = 0;
	} else
		a = b = 0;
	h = (h ^ a) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 31;
	h = (h ^ b) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	return h;
}

static uint64_t hash_pair(uint32_t a, uint32_t b)
{
	uint64_t h = ((uint64_t)a << 32 | b) * 0x9E3779B97F4A7C15ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

/* ------------------------------------------------------------------ */
/* GPT-2's byte <-> character mapping: printable bytes stand for
 * themselves, the other 68 bytes for U+0100.. in byte order. */

static int byte_is_printable(unsigned b)
{
	return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

static uint32_t byte_to_cp(unsigned b)
{
	if (byte_is_printable(b))
		return b;
	if (b <= 32)                   /* 0..32 -> U+0100..U+0120 */
		return 256 + b;
	if (b >= 127 && b <= 160)      /* 127..160 -> U+0121..U+0142 */
		return 256 + 33 + (b - 127);
	return 256 + 67;               /* 173 -> U+0143 */
}

/* The byte a mapped character stands for, or -1. */
static int cp_to_byte(uint32_t cp)
{
	if (cp < 256)
		return byte_is_printable(cp) ? (int)cp : -1;
	if (cp <= 256 + 32)
		return (int)(cp - 256);
	if (cp <= 256 + 66)
		return (int)(cp - 256 - 33 + 127);
	if (cp == 256 + 67)
		return 173;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Lookups in the index. */

static int32_t find_text(const struct wf_tokenizer *t, const char *s, size_t len)
{
	if (!t->ix || len == 0)
		return -1;
	uint64_t h = hash_bytes(s, len);
	uint32_t mask = (1u << t->ix->text_bits) - 1;
	for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
		const struct ix_text *e = &t->ix_text[i];
		if (!e->id1)
			return -1;
		if (e->hash == h && e->len == len && e->id1 <= t->n_vocab) {
			const struct wf_gguf_str *x = &t->texts[e->id1 - 1];
			if (x->len == len && memcmp(x->ptr, s, len) == 0)
				return (int32_t)(e->id1 - 1);
		}
	}
}

/* The id of a vocabulary text known by its hash and length (building). */
static int32_t find_hash(const struct wf_tokenizer *t, uint64_t h, size_t len)
{
	uint32_t mask = (1u << t->ix->text_bits) - 1;
	for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
		const struct ix_text *e = &t->ix_text[i];
		if (!e->id1)
			return -1;
		if (e->hash == h && e->len == len)
			return (int32_t)(e->id1 - 1);
	}
}

static const struct ix_merge *find_merge(const struct wf_tokenizer *t, int32_t a, int32_t b)
{
	if (a < 0 || b < 0 || !t->ix_merge)
		return NULL;
	uint32_t mask = (1u << t->ix->merge_bits) - 1;
	for (uint32_t i = (uint32_t)hash_pair((uint32_t)a, (uint32_t)b) & mask;; i = (i + 1) & mask) {
		const struct ix_merge *e = &t->ix_merge[i];
		if (!e->rank1)
			return NULL;
		if (e->left == (uint32_t)a && e->right == (uint32_t)b)
			return e->result < t->n_vocab ? e : NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Building the index. */

/* Table size: a power of two at most 3/4 full. */
static uint32_t bits_for(uint64_t n)
{
	uint32_t b = 4;
	while (((uint64_t)1 << b) * 3 < 4 * n)
		b++;
	return b;
}

/* The bytes an array of strings takes in the GGUF (they are contiguous:
 * length, bytes, length, bytes...). */
static uint64_t span_hash(const struct wf_gguf_kv *kv)
{
	if (!kv || !kv->n)
		return 0;
	const char *a = (const char *)kv->data, *b = kv->strs[kv->n - 1].ptr + kv->strs[kv->n - 1].len;
	return hash_bytes(a, (size_t)(b - a));
}

/* Identifies the vocabulary and merges an index was built from. */
static uint64_t fingerprint(const struct wf_gguf_kv *tokens, const struct wf_gguf_kv *merges)
{
	return span_hash(tokens) * 31 + span_hash(merges);
}

/* Print s[0..n) for a message: at most 40 bytes, control bytes as \xHH. */
static const char *show(const char *s, size_t n, char *buf, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == 40) {
			o += (size_t)snprintf(buf + o, cap - o, "...");
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = 0;
	return buf;
}

/* Zeroed memory for the index; a large one asks for huge pages, since its
 * building is a stream of random accesses. */
static void *alloc_index(size_t total)
{
	void *p = NULL;
	size_t align = total >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
	size_t size = (total + align - 1) / align * align;
	if (posix_memalign(&p, align, size))
		return NULL;
#ifdef MADV_HUGEPAGE
	if (align > 64)
		madvise(p, size, MADV_HUGEPAGE);
#endif
	memset(p, 0, total);
	return p;
}

static int build_index(struct wf_tokenizer *t, const struct wf_gguf_kv *tokens, const struct wf_gguf_kv *merges,
                       char *err, size_t errlen)
{
	uint64_t n_merges = merges ? merges->n : 0;
	uint32_t tb = bits_for(t->n_vocab), mb = n_merges ? bits_for(n_merges) : 0;
	size_t text_bytes = ((size_t)1 << tb) * sizeof(struct ix_text);
	size_t merge_bytes = mb ? ((size_t)1 << mb) * sizeof(struct ix_merge) : 0;
	size_t total = sizeof(struct ix_header) + text_bytes + merge_bytes;
	char *blk = alloc_index(total);
	if (!blk)
		return wf_errf(err, errlen, "out of memory (tokenizer index, %zu bytes)", total);
	struct ix_header *h = (struct ix_header *)blk;
	memcpy(h->magic, IX_MAGIC, 8);
	h->version = IX_VERSION;
	h->header_size = sizeof *h;
	h->n_vocab = t->n_vocab;
	h->n_merges = (uint32_t)n_merges;
	h->text_bits = tb;
	h->merge_bits = mb;
	h->total_size = total;
	t->ix_owned = blk;
	t->ix = h;
	struct ix_text *tt = (struct ix_text *)(blk + sizeof *h);
	struct ix_merge *mt = mb ? (struct ix_merge *)(blk + sizeof *h + text_bytes) : NULL;
	t->ix_text = tt;
	t->ix_merge = mt;

	/* texts: a later duplicate replaces the earlier id; hashes are
	 * computed a batch ahead and their slots prefetched */
	uint32_t mask = (1u << tb) - 1;
	enum { TB = 32 };
	uint64_t th[TB];
	for (uint32_t base = 0; base < t->n_vocab; base += TB) {
		uint32_t m = t->n_vocab - base < TB ? t->n_vocab - base : TB;
		for (uint32_t k = 0; k < m; k++) {
			th[k] = hash_bytes(t->texts[base + k].ptr, t->texts[base + k].len);
			__builtin_prefetch(&tt[th[k] & mask], 1);
		}
		for (uint32_t k = 0; k < m; k++) {
			uint32_t id = base + k;
			const char *s = t->texts[id].ptr;
			size_t len = t->texts[id].len;
			uint64_t hv = th[k];
			if (!len)
				continue;
			for (uint32_t i = (uint32_t)hv & mask;; i = (i + 1) & mask) {
				struct ix_text *e = &tt[i];
				if (!e->id1) {
					e->hash = hv;
					e->id1 = id + 1;
					e->len = (uint32_t)len;
					break;
				}
				if (e->hash == hv && e->len == len) {
					const struct wf_gguf_str *x = &t->texts[e->id1 - 1];
					if (memcmp(x->ptr, s, len)) {
						char b1[200], b2[200];
						return wf_errf(err, errlen, "tokens %u '%s' and %u '%s' have the same hash (cannot index)",
						            e->id1 - 1, show(x->ptr, len, b1, sizeof b1), id,
						            show(s, len, b2, sizeof b2));
					}
					e->id1 = id + 1;
					break;
				}
			}
		}
	}

	/* merges: "LEFT RIGHT", split at the first space after the first byte.
	 * Done in batches whose table slots are prefetched first: the build is
	 * bound by memory latency, not by work. */
	char b1[200], b2[200];
	uint32_t mmask = mb ? (1u << mb) - 1 : 0;
	char *cat = NULL;
	size_t cat_cap = 0;
	enum { B = 32 };
	struct {
		const char *s, *sp;
		size_t ll, rl;
		uint64_t hl, hr, hc, hp;
		int32_t a, b, c;
	} q[B];
	for (uint64_t base = 0; base < n_merges; base += B) {
		size_t m = n_merges - base < B ? (size_t)(n_merges - base) : B;
		for (size_t k = 0; k < m; k++) {
			uint64_t r = base + k;
			const char *s = merges->strs[r].ptr;
			size_t len = merges->strs[r].len;
			const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
			if (!sp) {
				free(cat);
				return wf_errf(err, errlen, "tokenizer.ggml.merges[%llu]: '%s' is not two tokens separated by a space",
				            (unsigned long long)r, show(s, len, b1, sizeof b1));
			}
			size_t ll = (size_t)(sp - s), rl = len - ll - 1;
			if (ll + rl > cat_cap) {
				cat_cap = 2 * (ll + rl) + 64;
				char *p = realloc(cat, cat_cap);
				if (!p) {
					free(cat);
					return wf_errf(err, errlen, "out of memory");
				}
				cat = p;
			}
			memcpy(cat, s, ll);
			memcpy(cat + ll, sp + 1, rl);
			q[k].s = s;
			q[k].sp = sp;
			q[k].ll = ll;
			q[k].rl = rl;
			q[k].hl = hash_bytes(s, ll);
			q[k].hr = hash_bytes(sp + 1, rl);
			q[k].hc = hash_bytes(cat, ll + rl);
			__builtin_prefetch(&tt[q[k].hl & mask]);
			__builtin_prefetch(&tt[q[k].hr & mask]);
			__builtin_prefetch(&tt[q[k].hc & mask]);
		}
		for (size_t k = 0; k < m; k++) {
			uint64_t r = base + k;
			q[k].a = find_hash(t, q[k].hl, q[k].ll);
			q[k].b = find_hash(t, q[k].hr, q[k].rl);
			q[k].c = find_hash(t, q[k].hc, q[k].ll + q[k].rl);
			if (q[k].a < 0 || q[k].b < 0 || q[k].c < 0) {
				const char *s = q[k].s, *sp = q[k].sp;
				size_t ll = q[k].ll, rl = q[k].rl;
				free(cat);
				show(s, ll + rl + 1, b1, sizeof b1);
				if (q[k].a < 0 || q[k].b < 0)
					return wf_errf(err, errlen, "tokenizer.ggml.merges[%llu]: '%s': '%s' is not a token",
					            (unsigned long long)r, b1,
					            q[k].a < 0 ? show(s, ll, b2, sizeof b2) : show(sp + 1, rl, b2, sizeof b2));
				char c2[200];
				size_t o = 0;
				for (size_t i = 0; i < ll + rl && o + 1 < sizeof c2; i++)
					c2[o++] = i < ll ? s[i] : sp[1 + i - ll];
				return wf_errf(err, errlen, "tokenizer.ggml.merges[%llu]: '%s': the merged '%s' is not a token",
				            (unsigned long long)r, b1, show(c2, o, b2, sizeof b2));
			}
			q[k].hp = hash_pair((uint32_t)q[k].a, (uint32_t)q[k].b);
			__builtin_prefetch(&mt[q[k].hp & mmask], 1);
		}
		for (size_t k = 0; k < m; k++) {
			uint32_t a = (uint32_t)q[k].a, b = (uint32_t)q[k].b;
			for (uint32_t i = (uint32_t)q[k].hp & mmask;; i = (i + 1) & mmask) {
				struct ix_merge *e = &mt[i];
				if (!e->rank1) {
					e->left = a;
					e->right = b;
					e->rank1 = (uint32_t)(base + k) + 1;
					e->result = (uint32_t)q[k].c;
					break;
				}
				if (e->left == a && e->right == b)
					break; /* a repeated merge keeps its first rank */
			}
		}
	}
	free(cat);
	h->fingerprint = fingerprint(tokens, merges);
	return 0;
}

static int adopt_index(struct wf_tokenizer *t, const struct wf_gguf_kv *tokens, const struct wf_gguf_kv *merges,
                       const void *p, size_t len, char *err, size_t errlen)
{
	const struct ix_header *h = p;
	uint64_t n_merges = merges ? merges->n : 0;
	if (len < sizeof *h || ((uintptr_t)p & 7) || memcmp(h->magic, IX_MAGIC, 8) || h->version != IX_VERSION ||
	    h->header_size != sizeof *h || h->total_size != len)
		return wf_errf(err, errlen, "tokenizer index: bad header");
	if (h->n_vocab != t->n_vocab || h->n_merges != n_merges || h->text_bits != bits_for(t->n_vocab) ||
	    h->merge_bits != (n_merges ? bits_for(n_merges) : 0))
		return wf_errf(err, errlen, "tokenizer index: built for another vocabulary");
	size_t text_bytes = ((size_t)1 << h->text_bits) * sizeof(struct ix_text);
	size_t merge_bytes = h->merge_bits ? ((size_t)1 << h->merge_bits) * sizeof(struct ix_merge) : 0;
	if (sizeof *h + text_bytes + merge_bytes != len)
		return wf_errf(err, errlen, "tokenizer index: size %zu does not match its header", len);
	if (h->fingerprint != fingerprint(tokens, merges))
		return wf_errf(err, errlen, "tokenizer index: built for another vocabulary (fingerprint)");
	t->ix = h;
	t->ix_text = (const struct ix_text *)((const char *)p + sizeof *h);
	t->ix_merge = h->merge_bits ? (const struct ix_merge *)((const char *)p + sizeof *h + text_bytes) : NULL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Loading. */

int wf_tok_pre_from_name(const char *s)
{
	static const char *const llama3[] = {"llama3", "llama-v3", "llama-bpe", "smaug-bpe"};
	static const char *const gpt2[] = {"gpt2", "gpt-2", "phi-2", "mpt", "olmo", "roberta-bpe"};
	for (size_t i = 0; i < sizeof llama3 / sizeof *llama3; i++)
		if (!strcmp(s, llama3[i]))
			return WF_PRE_LLAMA3;
	for (size_t i = 0; i < sizeof gpt2 / sizeof *gpt2; i++)
		if (!strcmp(s, gpt2[i]))
			return WF_PRE_GPT2;
	if (!strcmp(s, "default"))
		return WF_PRE_DEFAULT;
	return -1;
}

const char *wf_tok_pre_name(enum wf_tok_pre pre)
{
	switch (pre) {
	case WF_PRE_LLAMA3: return "llama3";
	case WF_PRE_GPT2: return "gpt2";
	case WF_PRE_DEFAULT: return "default";
	default: return "auto";
	}
}

static int str_eq(struct wf_gguf_str s, const char *c)
{
	size_t n = strlen(c);
	return s.len == n && memcmp(s.ptr, c, n) == 0;
}

/* An optional token-id key: absent leaves *id; present must be < n. */
static int get_id(const struct wf_gguf *g, const char *key, uint32_t n, int32_t *id, char *err, size_t errlen)
{
	const struct wf_gguf_kv *kv = wf_gguf_find(g, key);
	if (!kv)
		return 0;
	int64_t v;
	int r = wf_gguf_get_i64(g, key, &v, err, errlen);
	if (r < 0)
		return -1;
	if (v < 0 || v >= (int64_t)n)
		return wf_errf(err, errlen, "%s: token id %lld is out of range [0, %u)", key, (long long)v, n);
	*id = (int32_t)v;
	return 0;
}

static int build_pieces(struct wf_tokenizer *t, char *err, size_t errlen)
{
	size_t total = 0;
	for (uint32_t i = 0; i < t->n_vocab; i++)
		total += t->texts[i].len + 1;
	t->piece_off = malloc(((size_t)t->n_vocab + 1) * sizeof *t->piece_off);
	t->pieces = malloc(total ? total : 1);
	if (!t->piece_off || !t->pieces || total > UINT32_MAX)
		return wf_errf(err, errlen, "out of memory (token pieces)");
	size_t o = 0;
	for (uint32_t id = 0; id < t->n_vocab; id++) {
		const char *s = t->texts[id].ptr;
		size_t n = t->texts[id].len;
		int type = t->types[id];
		t->piece_off[id] = (uint32_t)o;
		int plain = type == WF_TOKTYPE_NORMAL || type == WF_TOKTYPE_UNDEFINED ||
		            (type == WF_TOKTYPE_BYTE && t->model == WF_TOK_BPE);
		if (t->model == WF_TOK_SPM && type == WF_TOKTYPE_BYTE && n == 6 && !memcmp(s, "<0x", 3) &&
		    s[5] == '>') {
			unsigned v;
			char hex[3] = {s[3], s[4], 0};
			char *end;
			v = (unsigned)strtoul(hex, &end, 16);
			if (*end == 0) {
				t->pieces[o++] = (char)v;
				t->pieces[o++] = 0;
				continue;
			}
		}
		if (plain && t->model == WF_TOK_BPE) {
			for (size_t i = 0; i < n;) {
				unsigned char c = (unsigned char)s[i];
				if (c >= 33 && c <= 126) { /* printable ASCII stands for itself */
					t->pieces[o++] = (char)c;
					i++;
					continue;
				}
				uint32_t cp;
				size_t l = wf_utf8_next(s + i, n - i, &cp);
				int b = cp == WF_U_BAD ? -1 : cp_to_byte(cp);
				if (b >= 0)
					t->pieces[o++] = (char)b;
				else {
					memcpy(t->pieces + o, s + i, l);
					o += l;
				}
				i += l;
			}
		} else if (plain) { /* SPM: U+2581 is a space */
			for (size_t i = 0; i < n;) {
				if (i + 3 <= n && !memcmp(s + i, "\xe2\x96\x81", 3)) {
					t->pieces[o++] = ' ';
					i += 3;
				} else
					t->pieces[o++] = s[i++];
			}
		} else {
			memcpy(t->pieces + o, s, n);
			o += n;
		}
		t->pieces[o++] = 0;
	}
	t->piece_off[t->n_vocab] = (uint32_t)o;
	return 0;
}

static int cmp_special(const void *a, const void *b)
{
	const struct special *x = a, *y = b;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

static int build_specials(struct wf_tokenizer *t, char *err, size_t errlen)
{
	size_t n = 0;
	for (uint32_t i = 0; i < t->n_vocab; i++) {
		int ty = t->types[i];
		if ((ty == WF_TOKTYPE_CONTROL || ty == WF_TOKTYPE_USER_DEFINED || ty == WF_TOKTYPE_UNKNOWN) &&
		    t->texts[i].len)
			n++;
	}
	t->specials = calloc(n ? n : 1, sizeof *t->specials);
	if (!t->specials)
		return wf_errf(err, errlen, "out of memory");
	for (uint32_t i = 0; i < t->n_vocab; i++) {
		int ty = t->types[i];
		if ((ty == WF_TOKTYPE_CONTROL || ty == WF_TOKTYPE_USER_DEFINED || ty == WF_TOKTYPE_UNKNOWN) &&
		    t->texts[i].len) {
			struct special *s = &t->specials[t->n_specials++];
			s->id = (int32_t)i;
			s->text = t->texts[i].ptr;
			s->len = (uint32_t)t->texts[i].len;
			t->special_first[(unsigned char)s->text[0]] = 1;
			t->n_user += ty == WF_TOKTYPE_USER_DEFINED;
		}
	}
	qsort(t->specials, t->n_specials, sizeof *t->specials, cmp_special);
	return 0;
}

static void add_eog(struct wf_tokenizer *t, int32_t id)
{
	if (id < 0)
		return;
	for (size_t i = 0; i < t->n_eog; i++)
		if (t->eog[i] == id)
			return;
	if (t->n_eog < sizeof t->eog / sizeof *t->eog)
		t->eog[t->n_eog++] = id;
}

static int32_t find_linear(const struct wf_tokenizer *t, const char *s)
{
	size_t n = strlen(s);
	for (uint32_t i = t->n_vocab; i-- > 0;)
		if (t->texts[i].len == n && !memcmp(t->texts[i].ptr, s, n))
			return (int32_t)i;
	return -1;
}

static int32_t find_any(const struct wf_tokenizer *t, const char *s)
{
	return t->ix ? find_text(t, s, strlen(s)) : find_linear(t, s);
}

struct wf_tokenizer *wf_tokenizer_load(const struct wf_gguf *g, const struct wf_tok_opts *opts,
                                       char *err, size_t errlen)
{
	struct wf_tok_opts none = {0};
	if (!opts)
		opts = &none;
	struct wf_tokenizer *t = calloc(1, sizeof *t);
	if (!t) {
		wf_errf(err, errlen, "out of memory");
		return NULL;
	}
	t->bos = t->eos = t->unk = t->eot = t->eom = t->sep = t->pad = -1;
	struct wf_gguf_str model, pre;
	int r = wf_gguf_get_str(g, "tokenizer.ggml.model", &model, err, errlen);
	if (r == 1)
		wf_errf(err, errlen, "key 'tokenizer.ggml.model' is missing (no tokenizer in this model)");
	if (r)
		goto bad;
	char mb[80];
	if (str_eq(model, "gpt2"))
		t->model = WF_TOK_BPE;
	else if (str_eq(model, "llama"))
		t->model = WF_TOK_SPM;
	else {
		wf_errf(err, errlen, "tokenizer.ggml.model '%s' is not supported (only 'gpt2' and 'llama')",
		     show(model.ptr, model.len, mb, sizeof mb));
		goto bad;
	}

	const struct wf_gguf_kv *tok = wf_gguf_get_arr(g, "tokenizer.ggml.tokens", WF_GGUF_STRING, 0, err, errlen);
	if (!tok)
		goto bad;
	if (tok->n == 0 || tok->n > 0x7fffffff) {
		wf_errf(err, errlen, "key 'tokenizer.ggml.tokens': %llu tokens (expected 1 to 2^31-1)",
		     (unsigned long long)tok->n);
		goto bad;
	}
	t->n_vocab = (uint32_t)tok->n;
	t->texts = tok->strs;
	uint32_t n = t->n_vocab;

	t->types = malloc(n);
	if (!t->types) {
		wf_errf(err, errlen, "out of memory");
		goto bad;
	}
	if (wf_gguf_find(g, "tokenizer.ggml.token_type")) {
		const struct wf_gguf_kv *ty = wf_gguf_get_arr(g, "tokenizer.ggml.token_type", WF_GGUF_INT32, n, err, errlen);
		if (!ty)
			goto bad;
		for (uint32_t i = 0; i < n; i++) {
			int32_t v = wf_gguf_arr_i32(ty, i);
			if (v < 0 || v > 6) {
				wf_errf(err, errlen, "tokenizer.ggml.token_type[%u]: %d is not a token type (0..6)", i, v);
				goto bad;
			}
			t->types[i] = (uint8_t)v;
		}
	} else
		memset(t->types, WF_TOKTYPE_NORMAL, n);

	if (t->model == WF_TOK_SPM || wf_gguf_find(g, "tokenizer.ggml.scores")) {
		const struct wf_gguf_kv *sc = wf_gguf_get_arr(g, "tokenizer.ggml.scores", WF_GGUF_FLOAT32, n, err, errlen);
		if (!sc)
			goto bad;
		if (t->model == WF_TOK_SPM) {
			t->scores = malloc((size_t)n * sizeof *t->scores);
			if (!t->scores) {
				wf_errf(err, errlen, "out of memory");
				goto bad;
			}
			for (uint32_t i = 0; i < n; i++)
				t->scores[i] = wf_gguf_arr_f32(sc, i);
		}
	}

	const struct wf_gguf_kv *merges = NULL;
	if (t->model == WF_TOK_BPE) {
		merges = wf_gguf_get_arr(g, "tokenizer.ggml.merges", WF_GGUF_STRING, 0, err, errlen);
		if (!merges)
			goto bad;
		if (merges->n >= 0x7fffffff) {
			wf_errf(err, errlen, "key 'tokenizer.ggml.merges': too many merges (%llu)", (unsigned long long)merges->n);
			goto bad;
		}
	}

	/* special ids (llama.cpp's SPM defaults: unk 0, bos 1, eos 2) */
	if (t->model == WF_TOK_SPM) {
		t->unk = n > 0 ? 0 : -1;
		t->bos = n > 1 ? 1 : -1;
		t->eos = n > 2 ? 2 : -1;
	}
	if (get_id(g, "tokenizer.ggml.bos_token_id", n, &t->bos, err, errlen) ||
	    get_id(g, "tokenizer.ggml.eos_token_id", n, &t->eos, err, errlen) ||
	    get_id(g, "tokenizer.ggml.unknown_token_id", n, &t->unk, err, errlen) ||
	    get_id(g, "tokenizer.ggml.separator_token_id", n, &t->sep, err, errlen) ||
	    get_id(g, "tokenizer.ggml.padding_token_id", n, &t->pad, err, errlen) ||
	    get_id(g, "tokenizer.ggml.eot_token_id", n, &t->eot, err, errlen) ||
	    get_id(g, "tokenizer.ggml.eom_token_id", n, &t->eom, err, errlen))
		goto bad;

	/* pre-tokenizer */
	if (t->model == WF_TOK_BPE) {
		if (opts->pre != WF_PRE_AUTO)
			t->pre = opts->pre;
		else {
			r = wf_gguf_get_str(g, "tokenizer.ggml.pre", &pre, err, errlen);
			if (r < 0)
				goto bad;
			if (r == 1) {
				/* absent: a LLaMA 3 vocabulary gets its own rules */
				int llama3 = n == 128256 && str_eq(t->texts[128000], "<|begin_of_text|>");
				t->pre = llama3 ? WF_PRE_LLAMA3 : WF_PRE_DEFAULT;
			} else {
				char nb[64];
				if (pre.len >= sizeof nb) {
					wf_errf(err, errlen, "tokenizer.ggml.pre '%s' is not a known pre-tokenizer",
					     show(pre.ptr, pre.len, mb, sizeof mb));
					goto bad;
				}
				memcpy(nb, pre.ptr, pre.len);
				nb[pre.len] = 0;
				int p = wf_tok_pre_from_name(nb);
				if (p < 0) {
					wf_errf(err, errlen, "tokenizer.ggml.pre '%s' is not a known pre-tokenizer "
					     "(known: llama3, llama-bpe, gpt-2, default)", show(pre.ptr, pre.len, mb, sizeof mb));
					goto bad;
				}
				t->pre = (enum wf_tok_pre)p;
			}
		}
		t->ignore_merges = t->pre == WF_PRE_LLAMA3;
		t->add_bos = t->pre == WF_PRE_LLAMA3;
	} else {
		t->add_bos = 1;
		t->add_space_prefix = 1;
	}
	if (wf_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos, err, errlen) < 0 ||
	    wf_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos, err, errlen) < 0 ||
	    wf_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err, errlen) < 0)
		goto bad;
	if (t->model == WF_TOK_BPE)
		t->add_space_prefix = 0;

	if (build_pieces(t, err, errlen))
		goto bad;
	if (!opts->decode_only) {
		const struct wf_gguf_tensor *it = wf_gguf_tensor(g, WF_TOK_INDEX_TENSOR);
		if (opts->index) {
			if (adopt_index(t, tok, merges, opts->index, opts->index_len, err, errlen))
				goto bad;
		} else if (it && it->type == WF_TYPE_F32 && it->n_dims == 1) {
			/* a model image's precomputed index, used in place */
			if (adopt_index(t, tok, merges, it->data, (size_t)it->nbytes, err, errlen))
				goto bad;
		} else if (build_index(t, tok, merges, err, errlen))
			goto bad;
		if (build_specials(t, err, errlen))
			goto bad;
		for (int b = 0; b < 256; b++) {
			char buf[8];
			size_t l;
			if (t->model == WF_TOK_BPE)
				l = wf_utf8_encode(byte_to_cp((unsigned)b), buf);
			else
				l = (size_t)snprintf(buf, sizeof buf, "<0x%02X>", b);
			t->byte_tok[b] = find_text(t, buf, l);
		}
		t->cache = calloc(CACHE_SLOTS, sizeof *t->cache);
		t->cache_arena = malloc(CACHE_ARENA);
		if (!t->cache || !t->cache_arena) {
			wf_errf(err, errlen, "out of memory");
			goto bad;
		}
	}

	/* a LLaMA 3 vocabulary without the key still has its BOS */
	if (t->model == WF_TOK_BPE && t->pre == WF_PRE_LLAMA3 && t->bos < 0)
		t->bos = find_any(t, "<|begin_of_text|>");
	static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
	for (size_t i = 0; t->eot < 0 && i < sizeof eot_names / sizeof *eot_names; i++)
		t->eot = find_any(t, eot_names[i]);
	if (t->eom < 0)
		t->eom = find_any(t, "<|eom_id|>");
	add_eog(t, t->eos);
	add_eog(t, t->eot);
	add_eog(t, t->eom);
	static const char *const eog_names[] = {"<|eot_id|>", "<|end_of_text|>", "<|eom_id|>", "<|im_end|>",
	                                        "<|endoftext|>", "<|end|>", "<end_of_turn>"};
	for (size_t i = 0; i < sizeof eog_names / sizeof *eog_names; i++) {
		int32_t id = find_any(t, eog_names[i]);
		if (id >= 0 && t->types[id] == WF_TOKTYPE_CONTROL)
			add_eog(t, id);
	}
	return t;
bad:
	wf_tokenizer_free(t);
	return NULL;
}

void wf_tokenizer_free(struct wf_tokenizer *t)
{
	if (!t)
		return;
	free(t->types);
	free(t->scores);
	free(t->piece_off);
	free(t->pieces);
	free(t->ix_owned);
	free(t->specials);
	free(t->esc);
	free(t->sym_id);
	free(t->sym_prev);
	free(t->sym_next);
	free(t->sym_start);
	free(t->sym_n);
	free(t->heap);
	free(t->frags);
	free(t->taken);
	free(t->cache);
	free(t->cache_arena);
	free(t);
}

/* ------------------------------------------------------------------ */
/* Accessors. */

uint32_t wf_tok_n_vocab(const struct wf_tokenizer *t) { return t->n_vocab; }
enum wf_tok_model wf_tok_model(const struct wf_tokenizer *t) { return t->model; }
enum wf_tok_pre wf_tok_pre(const struct wf_tokenizer *t) { return t->pre; }
int32_t wf_tok_bos(const struct wf_tokenizer *t) { return t->bos; }
int32_t wf_tok_eos(const struct wf_tokenizer *t) { return t->eos; }
int32_t wf_tok_eot(const struct wf_tokenizer *t) { return t->eot; }
int32_t wf_tok_unk(const struct wf_tokenizer *t) { return t->unk; }
int wf_tok_add_bos(const struct wf_tokenizer *t) { return t->add_bos; }
int wf_tok_add_eos(const struct wf_tokenizer *t) { return t->add_eos; }
int wf_tok_add_space_prefix(const struct wf_tokenizer *t) { return t->add_space_prefix; }

const int32_t *wf_tok_eog(const struct wf_tokenizer *t, size_t *n)
{
	*n = t->n_eog;
	return t->eog;
}

int wf_tok_is_eog(const struct wf_tokenizer *t, int32_t id)
{
	for (size_t i = 0; i < t->n_eog; i++)
		if (t->eog[i] == id)
			return 1;
	return 0;
}

enum wf_toktype wf_tok_type(const struct wf_tokenizer *t, int32_t id)
{
	if (id < 0 || (uint32_t)id >= t->n_vocab)
		return WF_TOKTYPE_UNDEFINED;
	return (enum wf_toktype)t->types[id];
}

const char *wf_tok_text(const struct wf_tokenizer *t, int32_t id, size_t *len)
{
	if (id < 0 || (uint32_t)id >= t->n_vocab)
		return NULL;
	*len = t->texts[id].len;
	return t->texts[id].ptr;
}

const char *wf_tok_piece(const struct wf_tokenizer *t, int32_t id, int special, size_t *len)
{
	if (id < 0 || (uint32_t)id >= t->n_vocab)
		return NULL;
	int ty = t->types[id];
	if (ty == WF_TOKTYPE_UNUSED ||
	    (!special && (ty == WF_TOKTYPE_CONTROL || ty == WF_TOKTYPE_UNKNOWN))) {
		*len = 0;
		return "";
	}
	*len = t->piece_off[id + 1] - t->piece_off[id] - 1;
	return t->pieces + t->piece_off[id];
}

int32_t wf_tok_find(const struct wf_tokenizer *t, const char *s, size_t len)
{
	if (!t->ix) {
		for (uint32_t i = t->n_vocab; i-- > 0;)
			if (t->texts[i].len == len && len && !memcmp(t->texts[i].ptr, s, len))
				return (int32_t)i;
		return -1;
	}
	return find_text(t, s, len);
}

const void *wf_tok_index(const struct wf_tokenizer *t, size_t *len)
{
	if (!t->ix)
		return NULL;
	*len = (size_t)t->ix->total_size;
	return t->ix;
}

/* ------------------------------------------------------------------ */
/* Growing scratch arrays. */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static int push_id(struct wf_tok_ids *out, int32_t id)
{
	if (out->n == out->cap) {
		size_t c = out->cap ? out->cap * 2 : 256;
		int32_t *p = realloc(out->ids, c * sizeof *p);
		if (!p)
			return -1;
		out->ids = p;
		out->cap = c;
	}
	out->ids[out->n++] = id;
	return 0;
}

static int sym_reserve(struct wf_tokenizer *t, size_t n)
{
	if (n <= t->sym_cap)
		return 0;
	size_t c = t->sym_cap ? t->sym_cap : 64;
	while (c < n)
		c *= 2;
	int32_t *a = realloc(t->sym_id, c * sizeof *a);
	if (a) t->sym_id = a;
	int32_t *b = realloc(t->sym_prev, c * sizeof *b);
	if (b) t->sym_prev = b;
	int32_t *d = realloc(t->sym_next, c * sizeof *d);
	if (d) t->sym_next = d;
	uint32_t *e = realloc(t->sym_start, c * sizeof *e);
	if (e) t->sym_start = e;
	uint32_t *f = realloc(t->sym_n, c * sizeof *f);
	if (f) t->sym_n = f;
	if (!a || !b || !d || !e || !f)
		return -1;
	t->sym_cap = c;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The heap of candidate pairs.  BPE: lowest rank first; SPM: highest score
 * first; ties: the leftmost pair. */

static int bg_before(const struct wf_tokenizer *t, const struct bigram *a, const struct bigram *b)
{
	if (t->model == WF_TOK_BPE) {
		if (a->rank != b->rank)
			return a->rank < b->rank;
	} else if (a->score != b->score)
		return a->score > b->score;
	return a->left < b->left;
}

static int heap_push(struct wf_tokenizer *t, const struct bigram *x)
{
	if (grow((void **)&t->heap, &t->heap_cap, t->heap_n + 1, sizeof *t->heap))
		return -1;
	size_t i = t->heap_n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!bg_before(t, x, &t->heap[p]))
			break;
		t->heap[i] = t->heap[p];
		i = p;
	}
	t->heap[i] = *x;
	return 0;
}

static struct bigram heap_pop(struct wf_tokenizer *t)
{
	struct bigram top = t->heap[0], last = t->heap[--t->heap_n];
	size_t i = 0, n = t->heap_n;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && bg_before(t, &t->heap[c + 1], &t->heap[c]))
			c++;
		if (!bg_before(t, &t->heap[c], &last))
			break;
		t->heap[i] = t->heap[c];
		i = c;
	}
	if (n)
		t->heap[i] = last;
	return top;
}

/* ------------------------------------------------------------------ */
/* Byte-level BPE of one word. */

static int bpe_try_pair(struct wf_tokenizer *t, int32_t l, int32_t r)
{
	if (l < 0 || r < 0)
		return 0;
	const struct ix_merge *m = find_merge(t, t->sym_id[l], t->sym_id[r]);
	if (!m)
		return 0;
	struct bigram b = {0};
	b.rank = m->rank1 - 1;
	b.left = l;
	b.right = r;
	b.lid = t->sym_id[l];
	b.rid = t->sym_id[r];
	return heap_push(t, &b);
}

static int cache_get(struct wf_tokenizer *t, const char *w, size_t n, uint64_t h, struct wf_tok_ids *out)
{
	uint32_t mask = CACHE_SLOTS - 1;
	for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
		const struct cache_slot *c = &t->cache[i];
		if (!c->hash)
			return 0;
		if (c->hash == h && c->len == n && !memcmp(t->cache_arena + c->off, w, n)) {
			const int32_t *ids = (const int32_t *)(t->cache_arena + c->ids_off);
			for (uint32_t k = 0; k < c->n_ids; k++)
				if (push_id(out, ids[k]))
					return -1;
			return 1;
		}
	}
}

static void cache_put(struct wf_tokenizer *t, const char *w, size_t n, uint64_t h, const int32_t *ids, size_t n_ids)
{
	size_t need = ((n + 3) & ~(size_t)3) + n_ids * sizeof(int32_t);
	if (t->cache_count >= CACHE_SLOTS / 2 || t->cache_used + need > CACHE_ARENA) {
		memset(t->cache, 0, CACHE_SLOTS * sizeof *t->cache);
		t->cache_used = t->cache_count = 0;
	}
	uint32_t mask = CACHE_SLOTS - 1, i = (uint32_t)h & mask;
	while (t->cache[i].hash)
		i = (i + 1) & mask;
	struct cache_slot *c = &t->cache[i];
	c->hash = h;
	c->off = (uint32_t)t->cache_used;
	c->len = (uint32_t)n;
	memcpy(t->cache_arena + t->cache_used, w, n);
	t->cache_used += (n + 3) & ~(size_t)3;
	c->ids_off = (uint32_t)t->cache_used;
	c->n_ids = (uint32_t)n_ids;
	if (n_ids)
		memcpy(t->cache_arena + t->cache_used, ids, n_ids * sizeof *ids);
	t->cache_used += n_ids * sizeof *ids;
	t->cache_count++;
}

static int bpe_word(struct wf_tokenizer *t, const char *w, size_t n, struct wf_tok_ids *out)
{
	if (n == 0)
		return 0;
	uint64_t h = 0;
	if (n <= CACHE_MAX_WORD) {
		h = hash_bytes(w, n) | 1;
		int r = cache_get(t, w, n, h, out);
		if (r)
			return r < 0 ? -1 : 0;
	}
	size_t first = out->n;
	if (t->ignore_merges) {
		/* the word in GPT-2's mapping: at most 2 bytes per byte */
		if (grow((void **)&t->esc, &t->esc_cap, 2 * n + 1, 1))
			return -1;
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			m += wf_utf8_encode(byte_to_cp((unsigned char)w[i]), t->esc + m);
		int32_t id = find_text(t, t->esc, m);
		if (id >= 0) {
			if (push_id(out, id))
				return -1;
			goto done;
		}
	}
	if (sym_reserve(t, n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		t->sym_id[i] = t->byte_tok[(unsigned char)w[i]];
		t->sym_prev[i] = (int32_t)i - 1;
		t->sym_next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
		t->sym_n[i] = 1;
	}
	t->heap_n = 0;
	for (size_t i = 1; i < n; i++)
		if (bpe_try_pair(t, (int32_t)i - 1, (int32_t)i))
			return -1;
	while (t->heap_n) {
		struct bigram b = heap_pop(t);
		int32_t l = b.left, r = b.right;
		if (!t->sym_n[l] || !t->sym_n[r] || t->sym_next[l] != r || t->sym_id[l] != b.lid ||
		    t->sym_id[r] != b.rid)
			continue; /* stale */
		const struct ix_merge *m = find_merge(t, b.lid, b.rid);
		t->sym_id[l] = (int32_t)m->result;
		t->sym_n[l] += t->sym_n[r];
		t->sym_n[r] = 0;
		t->sym_next[l] = t->sym_next[r];
		if (t->sym_next[r] >= 0)
			t->sym_prev[t->sym_next[r]] = l;
		if (bpe_try_pair(t, t->sym_prev[l], l) || bpe_try_pair(t, l, t->sym_next[l]))
			return -1;
	}
	for (int32_t i = 0; i >= 0; i = t->sym_next[i])
		if (t->sym_id[i] >= 0 && push_id(out, t->sym_id[i]))
			return -1;
done:
	/* a word of bytes without byte tokens has no ids, and out->ids is
	 * still NULL when nothing was pushed before it */
	if (n <= CACHE_MAX_WORD)
		cache_put(t, w, n, h, out->n > first ? out->ids + first : NULL, out->n - first);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pre-tokenizers: each returns the end of the word that starts at i. */

static inline size_t dec(const char *s, size_t i, size_t n, uint32_t *cp, unsigned *fl)
{
	unsigned char c = (unsigned char)s[i];
	if (c < 0x80) {
		static const uint8_t ascii[128] = {
			['\t'] = WF_U_SPACE, ['\n'] = WF_U_SPACE, ['\v'] = WF_U_SPACE, ['\f'] = WF_U_SPACE,
			['\r'] = WF_U_SPACE, [' '] = WF_U_SPACE,
		};
		*cp = c;
		if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
			*fl = WF_U_LETTER;
		else if (c >= '0' && c <= '9')
			*fl = WF_U_NUMBER;
		else if (ascii[c])
			*fl = ascii[c];
		else
			*fl = wf_u_flags(c);
		return 1;
	}
	size_t l = wf_utf8_next(s + i, n - i, cp);
	*fl = wf_u_flags(*cp);
	return l;
}

#define LNS (WF_U_LETTER | WF_U_NUMBER | WF_U_SPACE)

/* Run of characters whose flags have any of want (or, with neg, none of
 * want) from i; returns its end. */
static size_t run(const char *s, size_t i, size_t n, unsigned want, int neg)
{
	while (i < n) {
		uint32_t cp;
		unsigned f;
		size_t l = dec(s, i, n, &cp, &f);
		if (neg ? (f & want) != 0 : (f & want) == 0)
			break;
		i += l;
	}
	return i;
}

/* Whitespace at i: \s+(?!\S) then \s+, and with rn, \s*[\r\n]+ first. */
static size_t match_space(const char *s, size_t i, size_t n, int rn)
{
	size_t j = i, prev = i, last_rn = 0;
	while (j < n) {
		uint32_t cp;
		unsigned f;
		size_t l = dec(s, j, n, &cp, &f);
		if (!(f & WF_U_SPACE))
			break;
		if (cp == '\r' || cp == '\n')
			last_rn = j + 1;
		prev = j;
		j += l;
	}
	if (rn && last_rn)
		return last_rn;
	if (j == n || prev == i)
		return j;
	return prev;
}

/* 's 't 're 've 'm 'll 'd at i: their length in bytes, else 0.  fold: in any case
 * (llama.cpp lowers the code points; only ASCII letters lower to these). */
static int is_contraction(const char *s, size_t i, size_t n, int fold)
{
	if (s[i] != '\'' || i + 1 >= n)
		return 0;
	uint32_t a, b = 0;
	size_t la = wf_utf8_next(s + i + 1, n - i - 1, &a), lb = 0;
	if (i + 1 + la < n)
		lb = wf_utf8_next(s + i + 1 + la, n - i - 1 - la, &b);
	if (fold) {
		a = wf_u_lower(a);
		b = wf_u_lower(b);
	}
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return (int)(1 + la);
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
		return (int)(1 + la + lb);
	return 0;
}

static size_t match_llama3(const char *s, size_t i, size_t n)
{
	int c = is_contraction(s, i, n, 1);
	if (c)
		return i + (size_t)c;
	uint32_t c0, c1;
	unsigned f0, f1;
	size_t l0 = dec(s, i, n, &c0, &f0);
	/* [^\r\n\p{L}\p{N}]?\p{L}+ */
	if (f0 & WF_U_LETTER)
		return run(s, i + l0, n, WF_U_LETTER, 0);
	if (c0 != '\r' && c0 != '\n' && !(f0 & WF_U_NUMBER) && i + l0 < n) {
		size_t l1 = dec(s, i + l0, n, &c1, &f1);
		if (f1 & WF_U_LETTER)
			return run(s, i + l0 + l1, n, WF_U_LETTER, 0);
	}
	/* \p{N}{1,3} */
	if (f0 & WF_U_NUMBER) {
		size_t j = i + l0;
		for (int k = 1; k < 3 && j < n; k++) {
			size_t l = dec(s, j, n, &c1, &f1);
			if (!(f1 & WF_U_NUMBER))
				break;
			j += l;
		}
		return j;
	}
	/*  ?[^\s\p{L}\p{N}]+[\r\n]* */
	size_t j = i;
	unsigned f = f0;
	if (c0 == ' ') {
		j = i + 1;
		f = WF_U_SPACE;
		if (j < n)
			dec(s, j, n, &c1, &f);
	}
	if (j < n && !(f & LNS)) {
		j = run(s, j, n, LNS, 1);
		while (j < n && (s[j] == '\r' || s[j] == '\n'))
			j++;
		return j;
	}
	if (f0 & WF_U_SPACE)
		return match_space(s, i, n, 1);
	return i + l0;
}

static size_t match_gpt2(const char *s, size_t i, size_t n)
{
	int c = is_contraction(s, i, n, 0);
	if (c)
		return i + (size_t)c;
	uint32_t c0, c1;
	unsigned f0, f;
	size_t l0 = dec(s, i, n, &c0, &f0), j = i, l = l0;
	f = f0;
	if (c0 == ' ' && i + 1 < n) {
		j = i + 1;
		l = dec(s, j, n, &c1, &f);
	}
	if (f & WF_U_LETTER)
		return run(s, j + l, n, WF_U_LETTER, 0);
	if (f & WF_U_NUMBER)
		return run(s, j + l, n, WF_U_NUMBER, 0);
	if (!(f & LNS))
		return run(s, j + l, n, LNS, 1);
	if (f0 & WF_U_SPACE)
		return match_space(s, i, n, 0);
	return i + l0;
}

/* Word sink for the pre-tokenizers. */
static int emit_word(struct wf_tokenizer *t, const char *w, size_t n, struct wf_tok_ids *out)
{
	return bpe_word(t, w, n, out);
}

/* DEFAULT, last two steps: [0-9][0-9][0-9] splits, inside \p{N}+ splits. */
static int default_digits(struct wf_tokenizer *t, const char *s, size_t n, struct wf_tok_ids *out)
{
	size_t gap = 0, i = 0;
	while (i < n) {
		if (i + 3 <= n && s[i] >= '0' && s[i] <= '9' && s[i + 1] >= '0' && s[i + 1] <= '9' &&
		    s[i + 2] >= '0' && s[i + 2] <= '9') {
			if (gap < i && emit_word(t, s + gap, i - gap, out))
				return -1;
			if (emit_word(t, s + i, 3, out))
				return -1;
			i += 3;
			gap = i;
			continue;
		}
		uint32_t cp;
		unsigned f;
		i += dec(s, i, n, &cp, &f);
	}
	if (gap < n && emit_word(t, s + gap, n - gap, out))
		return -1;
	return 0;
}

static int default_numbers(struct wf_tokenizer *t, const char *s, size_t n, struct wf_tok_ids *out)
{
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		unsigned f;
		dec(s, i, n, &cp, &f);
		size_t e = (f & WF_U_NUMBER) ? run(s, i, n, WF_U_NUMBER, 0) : run(s, i, n, WF_U_NUMBER, 1);
		if (default_digits(t, s + i, e - i, out))
			return -1;
		i = e;
	}
	return 0;
}

static int is_default_punct(uint32_t cp, unsigned f)
{
	return (f & WF_U_PUNCT) || cp == '$' || cp == '+' || cp == '<' || cp == '=' || cp == '>' || cp == '^' ||
	       cp == '~' || cp == '|';
}

static int pretokenize(struct wf_tokenizer *t, const char *s, size_t n, struct wf_tok_ids *out)
{
	size_t i = 0;
	if (t->pre == WF_PRE_LLAMA3 || t->pre == WF_PRE_GPT2) {
		size_t (*match)(const char *, size_t, size_t) = t->pre == WF_PRE_LLAMA3 ? match_llama3 : match_gpt2;
		while (i < n) {
			size_t e = match(s, i, n);
			if (emit_word(t, s + i, e - i, out))
				return -1;
			i = e;
		}
		return 0;
	}
	/* DEFAULT: runs of [\p{P}$+<=>^~|] and the text between them, each cut
	 * by the GPT-2 expression, each word of that cut by \p{N}+ and
	 * [0-9][0-9][0-9]. */
	while (i < n) {
		uint32_t cp;
		unsigned f;
		dec(s, i, n, &cp, &f);
		int p = is_default_punct(cp, f);
		size_t e = i;
		while (e < n) {
			size_t l = dec(s, e, n, &cp, &f);
			if (is_default_punct(cp, f) != p)
				break;
			e += l;
		}
		for (size_t j = i; j < e;) {
			size_t k = match_gpt2(s, j, e);
			if (default_numbers(t, s + j, k - j, out))
				return -1;
			j = k;
		}
		i = e;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* SentencePiece-style BPE over an escaped fragment e[0..m). */

static int spm_try_pair(struct wf_tokenizer *t, const char *e, int32_t l, int32_t r)
{
	if (l < 0 || r < 0)
		return 0;
	uint32_t size = t->sym_n[l] + t->sym_n[r];
	int32_t id = find_text(t, e + t->sym_start[l], size);
	if (id < 0)
		return 0;
	struct bigram b = {0};
	b.score = t->scores[id];
	b.left = l;
	b.right = r;
	b.size = size;
	return heap_push(t, &b);
}

static int spm_fragment(struct wf_tokenizer *t, const char *e, size_t m, struct wf_tok_ids *out)
{
	if (m == 0)
		return 0;
	if (sym_reserve(t, m))
		return -1;
	int32_t k = 0;
	for (size_t o = 0; o < m; k++) {
		/* one symbol per character; a byte that does not start a valid
		 * one is a symbol of its own (llama.cpp would take the length its
		 * first byte announces, swallowing what follows) */
		uint32_t cp;
		size_t l = wf_utf8_next(e + o, m - o, &cp);
		t->sym_start[k] = (uint32_t)o;
		t->sym_n[k] = (uint32_t)l;
		t->sym_prev[k] = k - 1;
		o += l;
		t->sym_next[k] = o == m ? -1 : k + 1;
	}
	t->heap_n = 0;
	for (int32_t i = 1; i < k; i++)
		if (spm_try_pair(t, e, i - 1, i))
			return -1;
	while (t->heap_n) {
		struct bigram b = heap_pop(t);
		int32_t l = b.left, r = b.right;
		if (!t->sym_n[l] || !t->sym_n[r] || t->sym_n[l] + t->sym_n[r] != b.size)
			continue;
		t->sym_n[l] += t->sym_n[r];
		t->sym_n[r] = 0;
		t->sym_next[l] = t->sym_next[r];
		if (t->sym_next[r] >= 0)
			t->sym_prev[t->sym_next[r]] = l;
		if (spm_try_pair(t, e, t->sym_prev[l], l) || spm_try_pair(t, e, l, t->sym_next[l]))
			return -1;
	}
	for (int32_t i = 0; i >= 0; i = t->sym_next[i]) {
		const char *p = e + t->sym_start[i];
		int32_t id = find_text(t, p, t->sym_n[i]);
		if (id >= 0) {
			if (push_id(out, id))
				return -1;
			continue;
		}
		for (uint32_t j = 0; j < t->sym_n[i]; j++) {
			int32_t b = t->byte_tok[(unsigned char)p[j]];
			if (b < 0)
				b = t->unk;
			if (b >= 0 && push_id(out, b))
				return -1;
		}
	}
	return 0;
}

static int spm_text(struct wf_tokenizer *t, const char *s, size_t n, int prefix, struct wf_tok_ids *out)
{
	size_t spaces = prefix ? 1 : 0;
	for (size_t i = 0; i < n; i++)
		spaces += s[i] == ' ';
	if (grow((void **)&t->esc, &t->esc_cap, n + 2 * spaces + 1, 1))
		return -1;
	size_t m = 0;
	if (prefix) {
		memcpy(t->esc, "\xe2\x96\x81", 3);
		m = 3;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ') {
			memcpy(t->esc + m, "\xe2\x96\x81", 3);
			m += 3;
		} else
			t->esc[m++] = s[i];
	}
	return spm_fragment(t, t->esc, m, out);
}

/* ------------------------------------------------------------------ */
/* Special tokens: llama.cpp's partition.  Longest texts first (then lower
 * ids), each takes its leftmost non-overlapping occurrences in the text not
 * yet taken by a longer one. */

/* 1 when [a, b) lies inside one of the ranges. */
static int in_ranges(const size_t *r, size_t nr, size_t a, size_t b)
{
	for (size_t i = 0; i < nr; i++)
		if (a >= r[2 * i] && b <= r[2 * i + 1])
			return 1;
	return 0;
}

static int cmp_frag(const void *a, const void *b)
{
	const struct frag *x = a, *y = b;
	return (x->start > y->start) - (x->start < y->start);
}

static int partition(struct wf_tokenizer *t, const char *s, size_t n, int special, const size_t *ranges,
                     size_t n_ranges, size_t *nf)
{
	*nf = 0;
	size_t cnt = 0;
	int any = 0;
	if (!special && !n_ranges && !t->n_user)
		return 0;
	for (size_t i = 0; i < n && !any; i++)
		any = t->special_first[(unsigned char)s[i]];
	if (any) {
		if (grow((void **)&t->taken, &t->taken_cap, n + 1, 1))
			return -1;
		memset(t->taken, 0, n);
		/* marks: 0 free, 1 inside a match, 2 start of a match (id in frags) */
		for (size_t k = 0; k < t->n_specials; k++) {
			const struct special *sp = &t->specials[k];
			int ty = t->types[sp->id];
			int always = special || ty == WF_TOKTYPE_USER_DEFINED;
			if (!always && !n_ranges)
				continue;
			if (sp->len > n)
				continue;
			const char *p = s;
			while ((size_t)(p - s) + sp->len <= n) {
				const char *q = memchr(p, sp->text[0], n - sp->len - (size_t)(p - s) + 1);
				if (!q)
					break;
				size_t at = (size_t)(q - s);
				if (memcmp(q, sp->text, sp->len)) {
					p = q + 1;
					continue;
				}
				if (!always && !in_ranges(ranges, n_ranges, at, at + sp->len)) {
					p = q + 1;
					continue;
				}
				int clash = 0;
				for (size_t x = at; x < at + sp->len && !clash; x++)
					clash = t->taken[x] != 0;
				if (clash) {
					p = q + 1;
					continue;
				}
				if (grow((void **)&t->frags, &t->frags_cap, cnt + 1, sizeof *t->frags))
					return -1;
				t->frags[cnt].start = at;
				t->frags[cnt].end = at + sp->len;
				t->frags[cnt].id = sp->id;
				cnt++;
				memset(t->taken + at, 1, sp->len);
				p = q + sp->len;
			}
		}
	}
	if (cnt == 0)
		return 0;
	/* order the matches by position (they never overlap: starts differ);
	 * qsort, since a long text can hold very many */
	qsort(t->frags, cnt, sizeof *t->frags, cmp_frag);
	*nf = cnt;
	return 0;
}

int wf_tok_encode(struct wf_tokenizer *t, const char *text, size_t len, int flags,
                  struct wf_tok_ids *out, char *err, size_t errlen)
{
	return wf_tok_encode_ex(t, text, len, flags, NULL, 0, out, err, errlen);
}

int wf_tok_encode_ex(struct wf_tokenizer *t, const char *text, size_t len, int flags, const size_t *ranges,
                     size_t n_ranges, struct wf_tok_ids *out, char *err, size_t errlen)
{
	size_t n0 = out->n;
	if (!t->ix)
		return wf_errf(err, errlen, "tokenizer loaded for decoding only");
	if ((flags & WF_ENC_BOS) && t->bos >= 0 && push_id(out, t->bos))
		goto oom;
	size_t nf;
	if (partition(t, text, len, flags & WF_ENC_SPECIAL, ranges, n_ranges, &nf))
		goto oom;
	size_t pos = 0;
	int prev_special = 1;
	for (size_t k = 0; k <= nf; k++) {
		size_t end = k < nf ? t->frags[k].start : len;
		if (end > pos) {
			int r = t->model == WF_TOK_SPM ? spm_text(t, text + pos, end - pos, t->add_space_prefix && prev_special, out)
			                               : pretokenize(t, text + pos, end - pos, out);
			if (r)
				goto oom;
			prev_special = 0;
		}
		if (k < nf) {
			if (push_id(out, t->frags[k].id))
				goto oom;
			prev_special = 1;
			pos = t->frags[k].end;
		}
	}
	if ((flags & WF_ENC_EOS) && t->eos >= 0 && push_id(out, t->eos))
		goto oom;
	return 0;
oom:
	out->n = n0;
	return wf_errf(err, errlen, "out of memory");
}
