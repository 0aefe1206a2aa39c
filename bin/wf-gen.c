/*
 * wf-gen — write a BitNet b1.58 GGUF with seeded random weights.
 *
 * Every tensor has its own random stream, seeded from (seed, tensor name),
 * so the same seed gives the same trits, scales, norms and embedding in
 * every weight type and in both architectures; only the packing differs.
 * Ternary tensors are generated as trits a chunk at a time, packed with
 * lib/ternary and streamed through the GGUF writer, so no tensor is ever
 * held whole.  The file is written under a temporary name in the target
 * directory and renamed into place at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "gguf.h"
#include "kernels.h"
#include "model.h"
#include "ternary.h"
#include "unicode.h"

static const char usage_text[] =
	"wf-gen -o OUT.gguf [--arch bitnet|bitnet-b1.58] [--type i2_s|tq2_0|tq1_0|f32|f16|bf16]\n"
	"       [--seed N] [--shape tiny|2b4t] [--hidden H] [--layers L] [--heads N] [--kv-heads N]\n"
	"       [--ffn F] [--vocab V] [--ctx C] [--rope-theta T] [--eps E] [--act relu2|silu|none]\n"
	"       [--name NAME] [--lrc-rank R [--lrc-type f32|f16] [--lrc-scale S]]\n"
	"       [--experts N --experts-used K [--expert-ffn F] [--experts-from-dense]]";

/* ---- random numbers: splitmix64 ---------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t next64(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* The stream of one tensor: the seed mixed with the FNV-1a hash of its name. */
static struct rng stream(uint64_t seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325u;
	struct rng r;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3u;
	r.s = seed ^ h;
	next64(&r);
	return r;
}

/* Uniform in [0, 1) from 24 bits. */
static float unif(struct rng *r)
{
	return (float)(next64(r) >> 40) * (1.0f / 16777216.0f);
}

/* Roughly normal, mean 0, standard deviation 1: the sum of four 16-bit
 * uniforms, centred and scaled (Irwin-Hall, |x| <= 3.46). */
static float gauss(struct rng *r)
{
	uint64_t x = next64(r);
	uint32_t s = (uint32_t)(x & 0xffff) + (uint32_t)(x >> 16 & 0xffff) +
	             (uint32_t)(x >> 32 & 0xffff) + (uint32_t)(x >> 48);
	return ((float)s * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

/* Trits from random bytes: 77/256 -1, 102/256 0, 77/256 +1 (about 30/40/30,
 * like the peers' random models). */
static int8_t trit_of[256];

static void init_trits(void)
{
	int i;
	for (i = 0; i < 256; i++)
		trit_of[i] = (int8_t)(i < 77 ? -1 : i < 179 ? 0 : 1);
}

static void gen_trits(struct rng *r, int8_t *t, size_t n)
{
	size_t i = 0;
	int k;

	while (i < n) {
		uint64_t x = next64(r);
		for (k = 0; k < 8 && i < n; k++, i++, x >>= 8)
			t[i] = trit_of[x & 0xff];
	}
}

/* ---- model description --------------------------------------------------- */

struct opts {
	const char *out, *arch, *type_name, *act, *name, *shape;
	uint32_t type;
	uint64_t seed;
	uint32_t hidden, layers, heads, kv_heads, ffn, vocab, ctx;
	float rope_theta, eps;
	/* variants: 0 when absent */
	uint32_t lrc_rank, experts, experts_used, expert_ffn;
	const char *lrc_type_name;
	uint32_t lrc_type;
	float lrc_scale;
	int lrc_scale_set, from_dense;
};

static const struct { const char *name; uint32_t type, file_type; } types[] = {
	{"i2_s", WF_TYPE_I2_S, 40}, {"tq2_0", WF_TYPE_TQ2_0, 37}, {"tq1_0", WF_TYPE_TQ1_0, 36},
	{"f32", WF_TYPE_F32, 0}, {"f16", WF_TYPE_F16, 1}, {"bf16", WF_TYPE_BF16, 32},
};

static uint32_t file_type_of(uint32_t type)
{
	size_t i;
	for (i = 0; i < sizeof types / sizeof types[0]; i++)
		if (types[i].type == type)
			return types[i].file_type;
	return 0;
}

static void shape_defaults(struct opts *o, const char *shape)
{
	if (!strcmp(shape, "tiny")) {
		o->hidden = 256, o->layers = 4, o->heads = 4, o->kv_heads = 2, o->ffn = 768;
		o->vocab = 1024, o->ctx = 4096, o->rope_theta = 500000.0f;
	} else if (!strcmp(shape, "2b4t")) {
		o->hidden = 2560, o->layers = 30, o->heads = 20, o->kv_heads = 5, o->ffn = 6912;
		o->vocab = 128256, o->ctx = 4096, o->rope_theta = 500000.0f;
	} else {
		usage_die("--shape: unknown shape '%s' (tiny, 2b4t)", shape);
	}
}

static uint32_t parse_u32(const char *opt, const char *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (!*v || *end || *v == '-' || *v == '+' || errno || x == 0 || x > 0x7fffffffu)
		usage_die("%s: '%s' is not a positive integer", opt, v);
	return (uint32_t)x;
}

static uint64_t parse_u64(const char *opt, const char *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (!*v || *end || *v == '-' || *v == '+' || errno)
		usage_die("%s: '%s' is not a non-negative integer", opt, v);
	return (uint64_t)x;
}

static float parse_nonneg_float(const char *opt, const char *v)
{
	char *end;
	float x;

	errno = 0;
	x = strtof(v, &end);
	if (!*v || *end || errno || !(x >= 0) || !isfinite(x))
		usage_die("%s: '%s' is not a non-negative number", opt, v);
	return x;
}

static float parse_pos_float(const char *opt, const char *v)
{
	char *end;
	float x;

	errno = 0;
	x = strtof(v, &end);
	if (!*v || *end || errno || !(x > 0) || !isfinite(x))
		usage_die("%s: '%s' is not a positive number", opt, v);
	return x;
}

/* Options as given; each numeric one is 0 until set. */
static void parse_args(int argc, char **argv, struct opts *o)
{
	struct opts set;
	int i;

	memset(o, 0, sizeof *o);
	memset(&set, 0, sizeof set);
	o->arch = "bitnet-b1.58";
	o->type_name = "i2_s";
	o->act = "relu2";
	o->seed = 1;
	o->shape = "tiny";
	o->eps = 1e-5f;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL, *eq;
		char opt[32];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: %s\n", usage_text);
			cli_exit(0);
		}
		if (a[0] != '-' || !a[1])
			usage_die("unexpected argument '%s'", a);
		/* --opt=value or --opt value; -o FILE */
		eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
		if (eq && (size_t)(eq - a) < sizeof opt) {
			memcpy(opt, a, (size_t)(eq - a));
			opt[eq - a] = 0;
			v = eq + 1;
		} else {
			snprintf(opt, sizeof opt, "%s", a);
			if (strlen(a) >= sizeof opt)
				usage_die("unknown option '%s'", a);
		}
#define IS(s) (!strcmp(opt, s))
		if (!(IS("-o") || IS("--arch") || IS("--type") || IS("--seed") || IS("--shape") ||
		      IS("--hidden") || IS("--layers") || IS("--heads") || IS("--kv-heads") || IS("--ffn") ||
		      IS("--vocab") || IS("--ctx") || IS("--rope-theta") || IS("--eps") || IS("--act") ||
		      IS("--name") || IS("--lrc-rank") || IS("--lrc-type") || IS("--lrc-scale") ||
		      IS("--experts") || IS("--experts-used") || IS("--expert-ffn") ||
		      IS("--experts-from-dense")))
			usage_die("unknown option '%s'", opt);
		if (IS("--experts-from-dense")) {
			if (v)
				usage_die("option '%s' takes no value", opt);
			o->from_dense = 1;
			continue;
		}
		if (!v) {
			if (i + 1 >= argc)
				usage_die("option '%s' needs a value", opt);
			v = argv[++i];
		}
		if (IS("-o")) o->out = v;
		else if (IS("--arch")) o->arch = v;
		else if (IS("--type")) o->type_name = v;
		else if (IS("--seed")) o->seed = parse_u64(opt, v);
		else if (IS("--shape")) o->shape = v;
		else if (IS("--hidden")) set.hidden = parse_u32(opt, v);
		else if (IS("--layers")) set.layers = parse_u32(opt, v);
		else if (IS("--heads")) set.heads = parse_u32(opt, v);
		else if (IS("--kv-heads")) set.kv_heads = parse_u32(opt, v);
		else if (IS("--ffn")) set.ffn = parse_u32(opt, v);
		else if (IS("--vocab")) set.vocab = parse_u32(opt, v);
		else if (IS("--ctx")) set.ctx = parse_u32(opt, v);
		else if (IS("--rope-theta")) set.rope_theta = parse_pos_float(opt, v);
		else if (IS("--eps")) o->eps = parse_pos_float(opt, v);
		else if (IS("--act")) o->act = v;
		else if (IS("--name")) o->name = v;
		else if (IS("--lrc-rank")) o->lrc_rank = parse_u32(opt, v);
		else if (IS("--lrc-type")) o->lrc_type_name = v;
		else if (IS("--lrc-scale")) o->lrc_scale = parse_nonneg_float(opt, v), o->lrc_scale_set = 1;
		else if (IS("--experts")) o->experts = parse_u32(opt, v);
		else if (IS("--experts-used")) o->experts_used = parse_u32(opt, v);
		else if (IS("--expert-ffn")) o->expert_ffn = parse_u32(opt, v);
#undef IS
	}
	if (!o->out)
		usage_die("-o OUT.gguf is required");
	if (strcmp(o->arch, "bitnet") && strcmp(o->arch, "bitnet-b1.58"))
		usage_die("--arch: unknown architecture '%s' (bitnet, bitnet-b1.58)", o->arch);
	for (i = 0; i < (int)(sizeof types / sizeof types[0]); i++)
		if (!strcmp(o->type_name, types[i].name))
			break;
	if (i == (int)(sizeof types / sizeof types[0]))
		usage_die("--type: unknown weight type '%s' (i2_s, tq2_0, tq1_0, f32, f16, bf16)", o->type_name);
	o->type = types[i].type;
	if (strcmp(o->act, "relu2") && strcmp(o->act, "silu") && strcmp(o->act, "none"))
		usage_die("--act: unknown activation '%s' (relu2, silu, none)", o->act);
	shape_defaults(o, o->shape);
#define OVR(f) if (set.f) o->f = set.f
	OVR(hidden); OVR(layers); OVR(heads); OVR(kv_heads); OVR(ffn); OVR(vocab); OVR(ctx);
	OVR(rope_theta);
#undef OVR
	/* the readers' limits (lib/model.c), so that every wf program loads the file */
	{
		const struct { const char *opt; uint32_t v, max; } lim[] = {
			{"--hidden", o->hidden, WF_MAX_EMBD}, {"--layers", o->layers, WF_MAX_LAYER},
			{"--heads", o->heads, WF_MAX_HEAD}, {"--ffn", o->ffn, WF_MAX_FF},
			{"--vocab", o->vocab, WF_MAX_VOCAB}, {"--ctx", o->ctx, WF_MAX_CTX},
		};
		for (size_t k = 0; k < sizeof lim / sizeof lim[0]; k++)
			if (lim[k].v > lim[k].max)
				usage_die("%s %u is above %u, the most a reader accepts", lim[k].opt, lim[k].v, lim[k].max);
	}
	if (o->eps >= 1)
		usage_die("--eps %g is not below 1", (double)o->eps);
	if (o->name && wf_utf8_valid_prefix(o->name, strlen(o->name)) != strlen(o->name))
		usage_die("--name: not valid UTF-8");
	{
		/* rows of every ternary matrix are hidden or ffn weights long:
		 * the engine packs 128-column blocks, TQ types need 256 */
		uint32_t blk = wf_ternary_block(o->type) == 256 ? 256 : 128;
		if (o->hidden % blk)
			usage_die("--hidden %u is not a multiple of %u%s%s%s", o->hidden, blk,
			          blk == 256 ? " (" : "", blk == 256 ? o->type_name : "", blk == 256 ? ")" : "");
		if (o->ffn % blk)
			usage_die("--ffn %u is not a multiple of %u%s%s%s", o->ffn, blk,
			          blk == 256 ? " (" : "", blk == 256 ? o->type_name : "", blk == 256 ? ")" : "");
		if (o->expert_ffn % blk)
			usage_die("--expert-ffn %u is not a multiple of %u%s%s%s", o->expert_ffn, blk,
			          blk == 256 ? " (" : "", blk == 256 ? o->type_name : "", blk == 256 ? ")" : "");
	}
	if (o->hidden % o->heads)
		usage_die("--heads %u does not divide --hidden %u", o->heads, o->hidden);
	if (o->heads % o->kv_heads)
		usage_die("--kv-heads %u does not divide --heads %u", o->kv_heads, o->heads);
	if ((o->hidden / o->heads) % 2)
		usage_die("head dimension %u is odd (RoPE rotates pairs)", o->hidden / o->heads);
	if (o->vocab < 272)
		usage_die("--vocab %u is below 272 (256 byte tokens and 16 control tokens)", o->vocab);
	/* MoE */
	if (!o->experts && (o->experts_used || o->expert_ffn || o->from_dense))
		usage_die("%s needs --experts", o->experts_used ? "--experts-used" :
		          o->expert_ffn ? "--expert-ffn" : "--experts-from-dense");
	if (o->experts) {
		if (o->experts > 4096)
			usage_die("--experts %u is above 4096", o->experts);
		if (!o->experts_used)
			usage_die("--experts needs --experts-used");
		if (o->experts_used > o->experts)
			usage_die("--experts-used %u is above --experts %u", o->experts_used, o->experts);
		if (o->from_dense && o->expert_ffn && o->expert_ffn != o->ffn)
			usage_die("--experts-from-dense copies the dense FFN: --expert-ffn %u must equal --ffn %u",
			          o->expert_ffn, o->ffn);
		if (!o->expert_ffn)
			o->expert_ffn = o->ffn;
	}
	/* LRC */
	if (!o->lrc_rank && (o->lrc_type_name || o->lrc_scale_set))
		usage_die("%s needs --lrc-rank", o->lrc_type_name ? "--lrc-type" : "--lrc-scale");
	if (!o->lrc_type_name || !strcmp(o->lrc_type_name, "f32"))
		o->lrc_type = WF_TYPE_F32;
	else if (!strcmp(o->lrc_type_name, "f16"))
		o->lrc_type = WF_TYPE_F16;
	else
		usage_die("--lrc-type: unknown type '%s' (f32, f16)", o->lrc_type_name);
	if (!o->lrc_scale_set)
		o->lrc_scale = 0.01f;
	if (o->lrc_rank > o->hidden)
		usage_die("--lrc-rank %u is above --hidden %u", o->lrc_rank, o->hidden);
	if (o->lrc_rank > o->ffn && !o->experts)
		usage_die("--lrc-rank %u is above --ffn %u", o->lrc_rank, o->ffn);
}

/* ---- vocabulary -------------------------------------------------------- */

/* GPT-2's byte-level alphabet: byte b is token b, spelled as the code point
 * b for the printable bytes '!'..'~', 0xa1..0xac, 0xae..0xff, else 256 + k
 * for the k-th other byte in order. */
static int byte_codepoint(int b)
{
	int k = 0, c;

	if ((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff))
		return b;
	for (c = 0; c < b; c++)
		if (!((c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff)))
			k++;
	return 256 + k;
}

static char *utf8(int cp)
{
	char *s = malloc(4);
	if (!s)
		die("out of memory");
	if (cp < 0x80) {
		s[0] = (char)cp, s[1] = 0;
	} else {
		s[0] = (char)(0xc0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3f)), s[2] = 0;
	}
	return s;
}

static char *xstrdup2(const char *a, const char *sep, const char *b)
{
	size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
	char *s = malloc(la + ls + lb + 1);
	if (!s)
		die("out of memory");
	memcpy(s, a, la);
	memcpy(s + la, sep, ls);
	memcpy(s + la + ls, b, lb + 1);
	return s;
}

struct vocab {
	uint32_t n, n_merges, n_special, bos, eos, eot, mask;
	char **tokens, **merges;
	int32_t *types;
};

/*
 * 256 byte tokens; then merge-derived tokens: "Ġ" + a..z, every pair of
 * lowercase letters, then each merged token in order extended by each letter
 * (merge "t l"), as many as the vocabulary holds; then the control tokens in
 * LLaMA-3's order (begin_of_text, end_of_text, reserved_0, reserved_1,
 * finetune_right_pad_id, reserved_2, start/end_header_id, eom_id, eot_id,
 * python_tag, reserved_3, ...) with <|mask|> as the last id.  n_special is
 * vocab/8 clamped to [16, 256].  For vocab 1024 this is the peers' layout.
 */
static void make_vocab(struct vocab *v, uint32_t n)
{
	static const char *named[11] = {
		"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
		"<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
		"<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
	uint32_t i, k, base, next_parent = 0;
	char letter[2] = {0, 0}, *g;

	v->n = n;
	v->n_special = n / 8 < 16 ? 16 : n / 8 > 256 ? 256 : n / 8;
	if (256 + v->n_special > n)
		v->n_special = n - 256;
	v->n_merges = n - 256 - v->n_special;
	v->tokens = calloc(n, sizeof *v->tokens);
	v->merges = calloc(v->n_merges ? v->n_merges : 1, sizeof *v->merges);
	v->types = calloc(n, sizeof *v->types);
	if (!v->tokens || !v->merges || !v->types)
		die("out of memory");
	for (i = 0; i < 256; i++) {
		v->tokens[i] = utf8(byte_codepoint((int)i));
		v->types[i] = 1;
	}
	g = v->tokens[' '];
	for (k = 0, i = 256; k < v->n_merges; k++, i++) {
		const char *left;
		if (k < 26) {
			left = g;
			letter[0] = (char)('a' + k);
		} else if (k < 26 + 26 * 26) {
			left = v->tokens['a' + (k - 26) / 26];
			letter[0] = (char)('a' + (k - 26) % 26);
		} else {
			uint32_t j = k - 26 - 26 * 26;
			next_parent = j / 26;
			left = v->tokens[256 + next_parent];
			letter[0] = (char)('a' + j % 26);
		}
		v->merges[k] = xstrdup2(left, " ", letter);
		v->tokens[i] = xstrdup2(left, "", letter);
		v->types[i] = 1;
	}
	base = 256 + v->n_merges;
	for (k = 0; k < v->n_special; k++) {
		char buf[64];
		if (k == v->n_special - 1)
			snprintf(buf, sizeof buf, "<|mask|>");
		else if (k < 11)
			snprintf(buf, sizeof buf, "%s", named[k]);
		else
			snprintf(buf, sizeof buf, "<|reserved_special_token_%u|>", k - 8);
		v->tokens[base + k] = xstrdup2(buf, "", "");
		v->types[base + k] = 3;
	}
	v->bos = base, v->eos = base + 1, v->eot = base + 9, v->mask = n - 1;
}

static void free_vocab(struct vocab *v)
{
	uint32_t i;
	for (i = 0; i < v->n; i++)
		free(v->tokens[i]);
	for (i = 0; i < v->n_merges; i++)
		free(v->merges[i]);
	free(v->tokens);
	free(v->merges);
	free(v->types);
}

/* ---- tensors ----------------------------------------------------------- */

enum kind { EMBED, NORM, TERNARY, EXPERTS, ROUTER, LRC_V, LRC_U };

/*
 * A tensor [cols, rows] or, for experts, [cols, rows, n_exp].  EXPERTS draw
 * from the stream of src, reps times over (1: the stack is one stream;
 * n_exp: copies of the dense tensor src).  LRC tensors' rows are `in` long
 * for V and `rank` long for U.
 */
struct tdesc {
	char name[64], src[64];
	enum kind kind;
	int64_t cols, rows, n_exp;
	int reps;
};

static int n_tensors;
static struct tdesc *tens;

static void add(const char *name, enum kind kind, int64_t cols, int64_t rows)
{
	struct tdesc *t = &tens[n_tensors++];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->kind = kind, t->cols = cols, t->rows = rows, t->n_exp = 0, t->reps = 1;
	snprintf(t->src, sizeof t->src, "%s", name);
}

/* The LRC pair of linear blk.l.lin [in -> out]: V [in, rank], U [rank, out]. */
static void add_lrc(const struct opts *o, uint32_t l, const char *lin, int64_t in, int64_t out)
{
	char n[64];
	if (!o->lrc_rank)
		return;
	snprintf(n, sizeof n, "blk.%u.%s.lrc_v", l, lin);
	add(n, LRC_V, in, o->lrc_rank);
	snprintf(n, sizeof n, "blk.%u.%s.lrc_u", l, lin);
	add(n, LRC_U, o->lrc_rank, out);
}

/* An expert stack blk.l.<s>_exps.weight [cols, rows, experts]. */
static void add_exps(const struct opts *o, uint32_t l, const char *s, int64_t cols, int64_t rows)
{
	char n[64];
	struct tdesc *t;
	snprintf(n, sizeof n, "blk.%u.%s_exps.weight", l, s);
	add(n, EXPERTS, cols, rows);
	t = &tens[n_tensors - 1];
	t->n_exp = o->experts;
	if (o->from_dense) {
		snprintf(t->src, sizeof t->src, "blk.%u.%s.weight", l, s);
		t->reps = (int)o->experts;
	}
}

/* The notes' tensor list, in the peers' order. */
static void plan(const struct opts *o)
{
	int64_t h = o->hidden, f = o->ffn, kv = (int64_t)o->hidden / o->heads * o->kv_heads;
	uint32_t l;
	char n[64];

	int64_t fe = o->expert_ffn;

	tens = calloc((size_t)o->layers * 25 + 2, sizeof *tens);
	if (!tens)
		die("out of memory");
	add("token_embd.weight", EMBED, h, o->vocab);
	for (l = 0; l < o->layers; l++) {
#define T(s, k, c, r) snprintf(n, sizeof n, "blk.%u." s ".weight", l), add(n, k, c, r)
		T("attn_norm", NORM, h, 1);
		T("attn_q", TERNARY, h, h);
		add_lrc(o, l, "attn_q", h, h);
		T("attn_k", TERNARY, h, kv);
		add_lrc(o, l, "attn_k", h, kv);
		T("attn_v", TERNARY, h, kv);
		add_lrc(o, l, "attn_v", h, kv);
		T("attn_output", TERNARY, h, h);
		add_lrc(o, l, "attn_output", h, h);
		T("attn_sub_norm", NORM, h, 1);
		T("ffn_norm", NORM, h, 1);
		if (o->experts) {
			/* LRC is not applied to experts */
			T("ffn_gate_inp", ROUTER, h, o->experts);
			add_exps(o, l, "ffn_gate", h, fe);
			add_exps(o, l, "ffn_up", h, fe);
			add_exps(o, l, "ffn_down", fe, h);
			T("ffn_sub_norm", NORM, fe, 1);
		} else {
			T("ffn_gate", TERNARY, h, f);
			add_lrc(o, l, "ffn_gate", h, f);
			T("ffn_up", TERNARY, h, f);
			add_lrc(o, l, "ffn_up", h, f);
			T("ffn_down", TERNARY, f, h);
			add_lrc(o, l, "ffn_down", f, h);
			T("ffn_sub_norm", NORM, f, 1);
		}
#undef T
	}
	add("output_norm.weight", NORM, h, 1);
}

/* ---- output ------------------------------------------------------------ */

static char *tmp_path;
static const char *out_path;
static volatile sig_atomic_t tmp_live;

static void on_signal(int sig)
{
	if (tmp_live)
		unlink(tmp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fail_out(const char *msg)
{
	if (tmp_live) {
		tmp_live = 0;
		unlink(tmp_path);
	}
	die("%s: %s", out_path, msg);
}

#define CHUNK (1u << 20) /* weights per chunk: a multiple of every block */

static void put(struct wf_gguf_writer *gw, const void *p, size_t n)
{
	if (wf_gguf_writer_data(gw, p, n))
		fail_out(wf_gguf_writer_error(gw));
}

static void write_tensor(struct wf_gguf_writer *gw, const struct opts *o, const struct tdesc *t,
                         int8_t *tr, uint8_t *out)
{
	struct rng r = stream(o->seed, t->name);
	uint64_t n = (uint64_t)t->cols * (uint64_t)t->rows, done, k;

	if (t->kind == NORM) {
		/* around 1: 1 + 0.1 * gauss, f32 */
		for (done = 0; done < n; done += k) {
			uint64_t m = n - done < CHUNK ? n - done : CHUNK;
			for (k = 0; k < m; k++) {
				float x = 1.0f + 0.1f * gauss(&r);
				memcpy(out + 4 * k, &x, 4);
			}
			put(gw, out, 4 * m);
		}
		return;
	}
	if (t->kind == ROUTER || t->kind == LRC_V || t->kind == LRC_U) {
		/* router g/sqrt(H) (unit-variance logits for a unit-rms input),
		 * V g/sqrt(in) (so V x is about unit size too), U S g/sqrt(rank);
		 * the router F32, LRC F32 or F16 */
		float m = t->kind == LRC_U ? o->lrc_scale / sqrtf((float)t->cols) : 1.0f / sqrtf((float)t->cols);
		uint32_t type = t->kind == ROUTER ? WF_TYPE_F32 : o->lrc_type;
		for (done = 0; done < n; done += k) {
			uint64_t c = n - done < CHUNK ? n - done : CHUNK;
			for (k = 0; k < c; k++) {
				float x = m * gauss(&r);
				if (type == WF_TYPE_F32) {
					memcpy(out + 4 * k, &x, 4);
				} else {
					uint16_t hv = wf_f32_to_f16(x);
					out[2 * k] = (uint8_t)hv, out[2 * k + 1] = (uint8_t)(hv >> 8);
				}
			}
			put(gw, out, (type == WF_TYPE_F32 ? 4 : 2) * c);
		}
		return;
	}
	if (t->kind == EMBED) {
		/* small: 0.02 * gauss, f16 */
		for (done = 0; done < n; done += k) {
			uint64_t m = n - done < CHUNK ? n - done : CHUNK;
			for (k = 0; k < m; k++) {
				uint16_t hv = wf_f32_to_f16(0.02f * gauss(&r));
				out[2 * k] = (uint8_t)hv, out[2 * k + 1] = (uint8_t)(hv >> 8);
			}
			put(gw, out, 2 * m);
		}
		return;
	}
	{
		/* scale first, then the trits: uniform in [0.02, 0.05], an f16
		 * value so every type stores it exactly.  An expert stack is one
		 * stream over all its experts (one scale: I2_S holds one), or the
		 * dense tensor's stream replayed once per expert. */
		float s = 0;
		int rep;
		if (t->kind == EXPERTS && t->reps == 1)
			n *= (uint64_t)t->n_exp;
		for (rep = 0; rep < t->reps; rep++) {
			r = stream(o->seed, t->src);
			s = wf_f16_to_f32(wf_f32_to_f16(0.02f + 0.03f * unif(&r)));
			for (done = 0; done < n; done += k) {
				k = n - done < CHUNK ? n - done : CHUNK;
				gen_trits(&r, tr, k);
				wf_ternary_pack(o->type, tr, k, s, out);
				put(gw, out, wf_ternary_body_bytes(o->type, k));
			}
		}
		if (o->type == WF_TYPE_I2_S) {
			uint8_t tail[32];
			wf_ternary_i2s_trailer(s, tail);
			put(gw, tail, sizeof tail);
		}
	}
}

static void key(const struct opts *o, const char *k, char *dst, size_t len)
{
	snprintf(dst, len, "%s.%s", o->arch, k);
}

/* File scope so that they stay reachable when die() exits (leak checkers). */
static struct wf_gguf_writer *w;
static int8_t *trits;
static uint8_t *buf;

int main(int argc, char **argv)
{
	struct opts o;
	struct vocab v;
	char k[128], name[128], err[256], *slash;
	int fd, i;
	mode_t um;

	(void)error, (void)cli_stdout_failed; /* cli.h helpers wf-gen has no use for */
	cli_init(argc, argv, usage_text);
	parse_args(argc, argv, &o);
	if (wf_kernels_init(NULL, err, sizeof err))
		die("%s", err);
	init_trits();
	make_vocab(&v, o.vocab);
	plan(&o);

	w = wf_gguf_writer_new();
	if (!w)
		die("out of memory");
	if (!o.name)
		snprintf(name, sizeof name, "wf-gen-%s-%s-seed%" PRIu64,
		         strcmp(o.shape, "tiny") && strcmp(o.shape, "2b4t") ? "custom" : o.shape,
		         o.type_name, o.seed);
	wf_gguf_writer_str(w, "general.architecture", o.arch);
	wf_gguf_writer_str(w, "general.name", o.name ? o.name : name);
	wf_gguf_writer_u32(w, "general.file_type", file_type_of(o.type));
	wf_gguf_writer_u32(w, "general.quantization_version", 2);
#define KU(s, x) key(&o, s, k, sizeof k), wf_gguf_writer_u32(w, k, x)
#define KF(s, x) key(&o, s, k, sizeof k), wf_gguf_writer_f32(w, k, x)
#define KS(s, x) key(&o, s, k, sizeof k), wf_gguf_writer_str(w, k, x)
	KU("vocab_size", o.vocab);
	KU("context_length", o.ctx);
	KU("embedding_length", o.hidden);
	KU("block_count", o.layers);
	KU("feed_forward_length", o.ffn);
	if (o.experts) {
		KU("expert_count", o.experts);
		KU("expert_used_count", o.experts_used);
		KU("expert_feed_forward_length", o.expert_ffn);
	}
	if (o.lrc_rank)
		KU("lrc_rank", o.lrc_rank);
	KU("attention.head_count", o.heads);
	KU("attention.head_count_kv", o.kv_heads);
	KU("rope.dimension_count", o.hidden / o.heads);
	KF("rope.freq_base", o.rope_theta);
	KS("rope.scaling.type", "linear");
	KF("rope.scaling.factor", 1.0f);
	KF("attention.layer_norm_rms_epsilon", o.eps);
	if (strcmp(o.act, "none"))
		KS("hidden_activation", o.act);
#undef KU
#undef KF
#undef KS
	wf_gguf_writer_str(w, "tokenizer.ggml.model", "gpt2");
	wf_gguf_writer_str(w, "tokenizer.ggml.pre", "llama-bpe");
	wf_gguf_writer_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens, NULL, v.n);
	wf_gguf_writer_arr(w, "tokenizer.ggml.token_type", WF_GGUF_INT32, v.types, v.n);
	wf_gguf_writer_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v.merges, NULL, v.n_merges);
	wf_gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", v.bos);
	wf_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", v.eos);
	wf_gguf_writer_u32(w, "tokenizer.ggml.eot_token_id", v.eot);
	wf_gguf_writer_u32(w, "tokenizer.ggml.mask_token_id", v.mask);
	wf_gguf_writer_bool(w, "tokenizer.ggml.add_bos_token", 1);
	wf_gguf_writer_bool(w, "tokenizer.ggml.add_eos_token", 0);
	for (i = 0; i < n_tensors; i++) {
		const struct tdesc *t = &tens[i];
		int64_t ne[3] = {t->cols, t->rows, t->n_exp};
		uint32_t type = t->kind == EMBED ? WF_TYPE_F16 : t->kind == NORM || t->kind == ROUTER ? WF_TYPE_F32 :
		                t->kind == LRC_V || t->kind == LRC_U ? o.lrc_type : o.type;
		wf_gguf_writer_tensor(w, t->name, type, ne, t->kind == NORM ? 1 : t->kind == EXPERTS ? 3 : 2);
	}
	if (*wf_gguf_writer_error(w))
		die("%s", wf_gguf_writer_error(w));
	free_vocab(&v);

	/* temporary file next to the output, renamed into place at the end */
	tmp_path = malloc(strlen(o.out) + 16);
	if (!tmp_path)
		die("out of memory");
	slash = strrchr(o.out, '/');
	sprintf(tmp_path, "%.*s.wf-gen.XXXXXX", slash ? (int)(slash - o.out + 1) : 0, o.out);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGXFSZ, SIG_IGN); /* past the file size limit a write fails (EFBIG) and is reported */
	out_path = o.out;
	struct stat ost;
	if (stat(o.out, &ost) == 0 && !S_ISREG(ost.st_mode) && !S_ISDIR(ost.st_mode))
		die("%s: not a regular file (the output is written beside it, then renamed over it)", o.out);
	fd = mkstemp(tmp_path);
	if (fd < 0)
		die("%s: %s", o.out, strerror(errno));
	tmp_live = 1;
	um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um) < 0)
		fail_out(strerror(errno));

	trits = malloc(CHUNK);
	buf = malloc((size_t)CHUNK * 4);
	if (!trits || !buf)
		fail_out("out of memory");
	if (wf_gguf_writer_begin(w, wf_gguf_sink_fd, &fd))
		fail_out(wf_gguf_writer_error(w));
	for (i = 0; i < n_tensors; i++)
		write_tensor(w, &o, &tens[i], trits, buf);
	if (wf_gguf_writer_finish(w))
		fail_out(wf_gguf_writer_error(w));
	if (close(fd) < 0 || rename(tmp_path, o.out) < 0)
		fail_out(strerror(errno));
	tmp_live = 0;
	wf_gguf_writer_free(w);
	free(trits);
	free(buf);
	free(tmp_path);
	free(tens);
	return cli_exit(0);
}
