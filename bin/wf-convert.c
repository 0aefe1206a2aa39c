/*
 * wf-convert — Hugging Face / WrinkleFree BitNet checkpoints to GGUF, GGUF
 * re-quantisation, and tokenizer.json import.
 *
 *   wf-convert [options] DIR -o OUT.gguf          checkpoint directory
 *   wf-convert [options] IN.gguf -o OUT.gguf      re-quantise
 *   wf-convert --vocab-only [options] tokenizer.json -o OUT.gguf
 *
 * The output is written to a temporary file beside OUT and renamed over it
 * at the end; on any error, SIGINT, SIGTERM or SIGHUP the temporary file is
 * removed and OUT is left as it was.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "gguf.h"
#include "hfvocab.h"
#include "json.h"
#include "kernels.h"
#include "model.h"
#include "safetensors.h"
#include "ternary.h"

#define USAGE \
	"wf-convert [-fq] [-t TYPE] [-a ARCH] [--pre NAME] [--config FILE] -o OUT.gguf DIR|IN.gguf\n" \
	"       wf-convert --vocab-only [-q] [--pre NAME] [--config FILE] -o OUT.gguf tokenizer.json"

/* ------------------------------------------------------------ options */

static struct {
	const char *out;
	const char *type_name;
	uint32_t type;
	const char *arch;
	const char *pre;
	const char *config;
	int vocab_only, force, quiet, progress, arch_given, type_given;
} opt = {.type = WF_TYPE_I2_S, .arch = "bitnet-b1.58"};

/* ------------------------------------------------- temporary output file */

static char tmp_path[PATH_MAX];
static volatile sig_atomic_t tmp_live;
static mode_t saved_umask;

static void remove_tmp(void)
{
	if (tmp_live) {
		tmp_live = 0;
		unlink(tmp_path);
	}
}

static void on_signal(int sig)
{
	if (tmp_live)
		unlink(tmp_path);
	tmp_live = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

/* die() with the temporary file removed first. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2), noreturn))
#endif
static void fatal(const char *fmt, ...)
{
	va_list ap;
	remove_tmp();
	va_start(ap, fmt);
	cli_vmsg(fmt, ap);
	va_end(ap);
	exit(1);
}

/* Create OUT's temporary sibling; returns its fd. */
static int open_tmp(const char *out)
{
	int n = snprintf(tmp_path, sizeof tmp_path, "%s.tmp.XXXXXX", out);
	saved_umask = umask(0);
	umask(saved_umask);
	if (n < 0 || (size_t)n >= sizeof tmp_path)
		die("%s: output path too long", out);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGXFSZ, SIG_IGN); /* past the file size limit a write fails (EFBIG) and is reported */
	struct stat st;
	if (stat(out, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		die("%s: not a regular file (the output is written beside it, then renamed over it)", out);
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	int fd = mkstemp(tmp_path);
	if (fd >= 0) {
		tmp_live = 1;
		atexit(remove_tmp);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (fd < 0)
		die("%s: cannot create a temporary file beside it: %s", out, strerror(errno));
	return fd;
}

/* 0 if g binds as wf-decode would bind it (every key, and every tensor's
 * name, shape and type; nothing decoded), else -1 with the reason in err. */
static int model_binds(const struct wf_gguf *g, char *err, size_t errlen)
{
	struct wf_model_opts mo = {.check_only = 1};
	struct wf_model *m = wf_model_load(g, &mo, err, errlen);
	wf_model_free(m);
	return m ? 0 : -1;
}

/* Read back what was written with the readers every wf program uses (the
 * GGUF parser, and the tokenizer when there is one), so that nothing they
 * refuse (a string over its limit, a merge of no tokens) is handed out as a
 * success. */
static void verify_output(int fd, const char *out)
{
	struct stat st;
	char err[512];
	if (fstat(fd, &st) < 0)
		fatal("%s: fstat: %s", out, strerror(errno));
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		fatal("%s: mmap: %s", out, strerror(errno));
	struct wf_gguf g;
	if (wf_gguf_parse(&g, map, (size_t)st.st_size, err, sizeof err) < 0)
		fatal("%s: the file written does not read back: %s", out, err);
	if (wf_gguf_find(&g, "tokenizer.ggml.model")) {
		struct wf_tokenizer *t = wf_tokenizer_load(&g, NULL, err, sizeof err);
		if (!t)
			fatal("%s: the tokenizer written does not load: %s", out, err);
		wf_tokenizer_free(t);
	}
	/* a model (not --vocab-only) must bind as wf-decode would bind it */
	if (g.n_tensors && model_binds(&g, err, sizeof err) < 0)
		fatal("%s: the model written does not load: %s", out, err);
	wf_gguf_free(&g);
	munmap(map, (size_t)st.st_size);
}

/* fsync, verify, close and rename the temporary file over out. */
static void commit_tmp(int fd, const char *out)
{
	if (fchmod(fd, 0666 & ~saved_umask) < 0 && errno != EPERM)
		fatal("%s: chmod: %s", tmp_path, strerror(errno));
	if (fsync(fd) < 0 && errno != EINVAL)
		fatal("%s: %s", out, strerror(errno));
	verify_output(fd, out);
	if (close(fd) < 0)
		fatal("%s: %s", out, strerror(errno));
	if (rename(tmp_path, out) < 0)
		fatal("%s: cannot rename %s to it: %s", out, tmp_path, strerror(errno));
	tmp_live = 0;
}

/* ---------------------------------------------------------- buffered sink */

struct bufsink {
	int fd;
	uint8_t *buf;
	size_t n, cap;
	uint64_t written;
};

static int bs_flush(struct bufsink *b, char *err, size_t errlen)
{
	int fd = b->fd;
	int rc = wf_gguf_sink_fd(&fd, b->buf, b->n, err, errlen);
	b->n = 0;
	return rc;
}

static int bs_write(void *ctx, const void *p, size_t n, char *err, size_t errlen)
{
	struct bufsink *b = ctx;
	b->written += n;
	if (b->n + n > b->cap) {
		if (bs_flush(b, err, errlen) < 0)
			return -1;
		if (n >= b->cap) {
			int fd = b->fd;
			return wf_gguf_sink_fd(&fd, p, n, err, errlen);
		}
	}
	memcpy(b->buf + b->n, p, n);
	b->n += n;
	return 0;
}

/* -------------------------------------------------------------- file input */

/* Read a whole file into a malloc'd buffer (NUL-terminated). */
static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK); /* a FIFO must not block the open */
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	struct stat st;
	int sr = fstat(fd, &st);
	if (sr < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s", sr < 0 ? strerror(errno) : S_ISDIR(st.st_mode) ? "is a directory"
		                                                     : "not a regular file");
		close(fd);
		return NULL;
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *b = malloc(cap);
	if (!b) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	for (;;) {
		if (n + 1 >= cap) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				close(fd);
				snprintf(err, errlen, "out of memory");
				return NULL;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t k = read(fd, b + n, cap - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			snprintf(err, errlen, "%s", strerror(errno));
			free(b);
			close(fd);
			return NULL;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	b[n] = '\0';
	*len = n;
	return b;
}

/* A parsed JSON file; doc NULL when the file is absent and optional. */
struct jfile {
	char *text;
	size_t len;
	struct wf_json_doc *doc;
	const struct wf_json *root;
};

/* Load and parse path; optional: a missing file gives an empty jfile. */
static void load_json(struct jfile *j, const char *path, int optional)
{
	char err[256];
	memset(j, 0, sizeof *j);
	struct stat ls;
	if (optional && access(path, F_OK) < 0 && errno == ENOENT) {
		if (lstat(path, &ls) == 0) /* there, but a link to nothing: a half-made download */
			fatal("%s: a symbolic link to a missing file", path);
		return;
	}
	j->text = slurp(path, &j->len, err, sizeof err);
	if (!j->text)
		fatal("%s: %s", path, err);
	j->doc = wf_json_parse(j->text, j->len, 0, err, sizeof err);
	if (!j->doc)
		fatal("%s: %s", path, err);
	j->root = wf_json_root(j->doc);
	if (j->root->type != WF_JSON_OBJECT)
		fatal("%s: expected a JSON object, found %s", path, wf_json_type_name(j->root->type));
}

static void free_json(struct jfile *j)
{
	wf_json_free(j->doc);
	free(j->text);
	memset(j, 0, sizeof *j);
}

/* dirname of path into buf ("." when it has no '/'). */
static void dir_of(const char *path, char *buf, size_t n)
{
	const char *s = strrchr(path, '/');
	if (!s)
		snprintf(buf, n, ".");
	else if (s == path)
		snprintf(buf, n, "/");
	else
		snprintf(buf, n, "%.*s", (int)(s - path), path);
}

static void join(char *buf, size_t n, const char *dir, const char *name)
{
	int k = snprintf(buf, n, "%s/%s", dir, name);
	if (k < 0 || (size_t)k >= n)
		fatal("%s/%s: path too long", dir, name);
}

/* ----------------------------------------------------------- vocabulary */

/*
 * Import tokenizer.json at tok_path (its tokenizer_config.json from
 * opt.config or beside it, config.json beside it) into v.  The JSON files
 * stay loaded in js[3] until the caller frees them.
 */
static void import_vocab(struct wf_hfvocab *v, struct jfile js[3], const char *tok_path,
                         int64_t n_vocab)
{
	char dir[PATH_MAX], p[PATH_MAX], err[512];
	dir_of(tok_path, dir, sizeof dir);
	load_json(&js[0], tok_path, 0);
	if (opt.config) {
		load_json(&js[1], opt.config, 0);
	} else {
		join(p, sizeof p, dir, "tokenizer_config.json");
		load_json(&js[1], p, 1);
	}
	join(p, sizeof p, dir, "config.json");
	load_json(&js[2], p, 1);
	struct wf_hfvocab_opts o = {.pre = opt.pre, .n_vocab = n_vocab};
	if (wf_hfvocab_build(v, js[0].root, js[1].root, js[2].root, &o, err, sizeof err) < 0)
		fatal("%s: %s", tok_path, err);
}

static int vocab_only(const char *tok_path)
{
	struct jfile js[3];
	struct wf_hfvocab v;
	import_vocab(&v, js, tok_path, 0);
	struct wf_gguf_writer *w = wf_gguf_writer_new();
	if (!w)
		die("out of memory");
	wf_gguf_writer_str(w, "general.architecture", opt.arch);
	char key[128];
	snprintf(key, sizeof key, "%s.vocab_size", opt.arch);
	wf_gguf_writer_u32(w, key, v.n);
	if (wf_hfvocab_write(&v, w) < 0)
		die("%s: %s", opt.out, wf_gguf_writer_error(w));
	int fd = open_tmp(opt.out);
	struct bufsink bs = {.fd = fd, .cap = 1 << 20};
	if (!(bs.buf = malloc(bs.cap)))
		fatal("out of memory");
	char err[256];
	if (wf_gguf_writer_begin(w, bs_write, &bs) < 0 || wf_gguf_writer_finish(w) < 0)
		fatal("%s: %s", opt.out, wf_gguf_writer_error(w));
	if (bs_flush(&bs, err, sizeof err) < 0)
		fatal("%s: %s", opt.out, err);
	commit_tmp(fd, opt.out);
	if (!opt.quiet)
		fprintf(stderr, "%s: %s: %u tokens, %llu merges, pre '%s'\n", prog, opt.out, v.n,
			(unsigned long long)v.n_merges, v.pre);
	free(bs.buf);
	wf_gguf_writer_free(w);
	wf_hfvocab_free(&v);
	for (int i = 0; i < 3; i++)
		free_json(&js[i]);
	return 0;
}

/* ------------------------------------------------------------- progress */

static int n_done, n_total;

static void progress(const char *name)
{
	if (!opt.progress)
		return;
	fprintf(stderr, "\r%s: [%d/%d] %-40.40s", prog, n_done, n_total, name);
	if (n_done == n_total)
		fputc('\n', stderr);
	fflush(stderr);
}

/* ------------------------------------------------------ tensors to write */

enum role { R_EMBD, R_NORM, R_TERNARY, R_COPY, R_EXPERTS };
enum srckind { S_ST, S_ST_PACKED, S_GGUF };

struct otensor {
	char name[WF_GGUF_MAX_NAME + 1];
	enum role role;
	uint32_t type;                /* output type */
	int64_t ne[WF_GGUF_MAX_DIMS]; /* GGUF order */
	uint32_t n_dims;
	enum srckind kind;
	const struct wf_st_tensor *st;    /* S_ST, S_ST_PACKED */
	const struct wf_st_tensor *scale; /* S_ST_PACKED: weight_scale */
	const struct wf_gguf_tensor *gt;  /* S_GGUF */
	const struct wf_st_tensor **exps; /* R_EXPERTS: ne[2] latent float experts */
};

static struct otensor *outs;
static size_t n_outs, cap_outs;

static struct otensor *add_out(const char *name, enum role role, uint32_t type)
{
	if (n_outs == cap_outs) {
		cap_outs = cap_outs ? cap_outs * 2 : 64;
		outs = realloc(outs, cap_outs * sizeof(*outs));
		if (!outs)
			die("out of memory");
	}
	struct otensor *o = &outs[n_outs++];
	memset(o, 0, sizeof *o);
	snprintf(o->name, sizeof o->name, "%s", name);
	o->role = role;
	o->type = type;
	return o;
}

static const char *shape_str(const int64_t *ne, int n, char *buf, size_t len)
{
	size_t k = 0;
	buf[0] = '\0';
	k += (size_t)snprintf(buf, len, "[");
	for (int i = 0; i < n && k < len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? ", " : "", (long long)ne[i]);
	if (k < len)
		snprintf(buf + k, len - k, "]");
	return buf;
}

/* ------------------------------------------------------ element access */

static float ld_f32(const uint8_t *p)
{
	float f;
	memcpy(&f, p, 4);
	return f;
}

static uint16_t ld_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Elements [i0, i0 + n) of a float safetensors tensor as float. */
static void st_floats(const struct wf_st_tensor *t, uint64_t i0, uint64_t n, float *out)
{
	const uint8_t *p = t->data;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t j = i0 + i;
		switch (t->dtype) {
		case WF_ST_F32: out[i] = ld_f32(p + 4 * j); break;
		case WF_ST_F16: out[i] = wf_f16_to_f32(ld_u16(p + 2 * j)); break;
		case WF_ST_BF16: out[i] = wf_bf16_to_f32(ld_u16(p + 2 * j)); break;
		default: {
			double d;
			memcpy(&d, p + 8 * j, 8);
			out[i] = (float)d;
		}
		}
	}
}

/* Elements [i0, i0 + n) of an F32/F16/BF16 GGUF tensor as float. */
static void gguf_floats(const struct wf_gguf_tensor *t, uint64_t i0, uint64_t n, float *out)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t j = i0 + i;
		if (t->type == WF_TYPE_F32)
			out[i] = ld_f32(t->data + 4 * j);
		else if (t->type == WF_TYPE_F16)
			out[i] = wf_f16_to_f32(ld_u16(t->data + 2 * j));
		else
			out[i] = wf_bf16_to_f32(ld_u16(t->data + 2 * j));
	}
}

static int is_float_type(uint32_t t)
{
	return t == WF_TYPE_F32 || t == WF_TYPE_F16 || t == WF_TYPE_BF16;
}

static void src_floats(const struct otensor *o, uint64_t i0, uint64_t n, float *out)
{
	if (o->kind == S_GGUF)
		gguf_floats(o->gt, i0, n, out);
	else
		st_floats(o->st, i0, n, out);
}

/* Encode n floats as type (F32/F16/BF16) into dst. */
static void enc_floats(uint32_t type, const float *v, uint64_t n, uint8_t *dst)
{
	for (uint64_t i = 0; i < n; i++) {
		if (type == WF_TYPE_F32) {
			memcpy(dst + 4 * i, &v[i], 4);
		} else {
			uint16_t h = type == WF_TYPE_F16 ? wf_f32_to_f16(v[i]) : wf_f32_to_bf16(v[i]);
			dst[2 * i] = (uint8_t)h;
			dst[2 * i + 1] = (uint8_t)(h >> 8);
		}
	}
}

static void dec_floats(uint32_t type, const uint8_t *src, uint64_t n, float *v)
{
	for (uint64_t i = 0; i < n; i++) {
		if (type == WF_TYPE_F32)
			v[i] = ld_f32(src + 4 * i);
		else if (type == WF_TYPE_F16)
			v[i] = wf_f16_to_f32(ld_u16(src + 2 * i));
		else
			v[i] = wf_bf16_to_f32(ld_u16(src + 2 * i));
	}
}

static size_t float_size(uint32_t type)
{
	return type == WF_TYPE_F32 ? 4 : 2;
}

/* ----------------------------------------------------------- writing */

static struct wf_gguf_writer *W;

static void wdata(const void *p, size_t n)
{
	if (wf_gguf_writer_data(W, p, n) < 0)
		fatal("%s: %s", opt.out, wf_gguf_writer_error(W));
}

#define CHUNK (1u << 20) /* elements per streamed piece */

/* Float tensors (embedding, norms): convert in pieces. */
static void write_float(const struct otensor *o)
{
	uint64_t n = 1;
	for (uint32_t d = 0; d < o->n_dims; d++)
		n *= (uint64_t)o->ne[d];
	float *v = malloc(CHUNK * sizeof(float));
	uint8_t *b = malloc(CHUNK * 4);
	if (!v || !b)
		fatal("out of memory");
	for (uint64_t i = 0; i < n; i += CHUNK) {
		uint64_t k = n - i < CHUNK ? n - i : CHUNK;
		src_floats(o, i, k, v);
		for (uint64_t j = 0; j < k; j++)
			if (!isfinite(v[j]))
				fatal("tensor '%s': value %llu is not finite (%g)", o->name, (unsigned long long)(i + j),
				      (double)v[j]);
		enc_floats(o->type, v, k, b);
		wdata(b, (size_t)k * float_size(o->type));
	}
	free(v);
	free(b);
}

/* A GGUF tensor copied byte for byte. */
static void write_copy(const struct otensor *o)
{
	wdata(o->gt->data, (size_t)o->gt->nbytes);
}

/*
 * Trits t[n] and scale *s of a ternary weight; w (latent floats, may be
 * left NULL) when the source holds them.
 */
static void load_ternary(const struct otensor *o, int64_t rows, int64_t cols, int8_t *t, float **w, float *s)
{
	char err[256];
	uint64_t n = (uint64_t)rows * (uint64_t)cols;
	*w = NULL;
	if (o->kind == S_ST_PACKED) {
		/* uint8 [rows/4, cols]: row k*(rows/4) + r is ((byte[r][c] >> 2k) & 3) - 1 */
		int64_t q = rows / 4;
		for (int64_t r = 0; r < q; r++) {
			for (int64_t c = 0; c < cols; c++) {
				uint8_t b = o->st->data[r * cols + c];
				for (int k = 0; k < 4; k++) {
					int code = b >> (2 * k) & 3;
					if (code == 3)
						fatal("tensor '%s': byte [%lld, %lld] holds code 3, not a ternary value",
						      o->st->name, (long long)r, (long long)c);
					t[(k * q + r) * cols + c] = (int8_t)(code - 1);
				}
			}
		}
		float sc;
		st_floats(o->scale, 0, 1, &sc);
		if (!isfinite(sc) || sc < 0)
			fatal("tensor '%s': scale %g is not a finite non-negative number", o->scale->name, (double)sc);
		*s = sc;
		return;
	}
	if (o->kind == S_GGUF && !is_float_type(o->gt->type)) {
		if (wf_ternary_decode(o->gt, t, s, err, sizeof err) < 0)
			fatal("%s", err);
		return;
	}
	float *f = malloc(n * sizeof(float));
	if (!f)
		fatal("out of memory");
	src_floats(o, 0, n, f);
	for (uint64_t i = 0; i < n; i++)
		if (!isfinite(f[i]))
			fatal("tensor '%s': weight %llu is %g", o->kind == S_GGUF ? o->gt->name : o->st->name,
			      (unsigned long long)i, (double)f[i]);
	*s = wf_ternary_absmean(f, n);
	for (uint64_t i = 0; i < n; i++)
		t[i] = wf_ternary_round(f[i], *s);
	*w = f;
}

/* Largest relative change of the scale a float type may show after a round trip. */
static double scale_tol(uint32_t type)
{
	return type == WF_TYPE_F32 ? 1e-6 : type == WF_TYPE_F16 ? 1.0 / 1024 : 1.0 / 128;
}

static void write_ternary(const struct otensor *o)
{
	char err[256];
	int64_t cols = o->ne[0], rows = o->ne[1];
	uint64_t n = (uint64_t)rows * (uint64_t)cols;
	int8_t *t = malloc(n ? n : 1);
	float *w, s;
	if (!t)
		fatal("out of memory");
	load_ternary(o, rows, cols, t, &w, &s);
	if (!is_float_type(o->type)) {
		uint64_t nb = wf_ternary_tensor_bytes(o->type, n);
		uint8_t *b = malloc(nb);
		if (!b)
			fatal("out of memory");
		if (wf_ternary_encode(o->type, t, rows, cols, s, b, nb, err, sizeof err) < 0)
			fatal("tensor '%s': %s", o->name, err);
		wdata(b, (size_t)nb);
		free(b);
	} else {
		/* Latent weights are written as they are; trits with a scale as
		 * T * s / f (f the fraction of non-zero trits), the values whose
		 * absmean is s again, so the loader's absmean rule gives back
		 * exactly these trits and this scale. */
		if (!w) {
			uint64_t nz = 0;
			for (uint64_t i = 0; i < n; i++)
				nz += t[i] != 0;
			w = malloc(n * sizeof(float));
			if (!w)
				fatal("out of memory");
			float m = nz ? (float)((double)s * (double)n / (double)nz) : 0.0f;
			for (uint64_t i = 0; i < n; i++)
				w[i] = (float)t[i] * m;
		}
		size_t fs = float_size(o->type);
		uint8_t *b = malloc(n * fs);
		if (!b)
			fatal("out of memory");
		enc_floats(o->type, w, n, b);
		/* Check: decode as the loader will. */
		dec_floats(o->type, b, n, w);
		float s2 = wf_ternary_absmean(w, n);
		uint64_t diff = 0;
		for (uint64_t i = 0; i < n; i++)
			diff += wf_ternary_round(w[i], s2) != t[i];
		double rel = fabs((double)s2 - (double)s) / (s > 0 ? (double)s : 1.0);
		if ((diff || rel > scale_tol(o->type)) && !opt.force)
			fatal("tensor '%s': as %s its weights would ternarise differently (%llu of %llu trits, "
			      "scale %g instead of %g); use --force to write it anyway",
			      o->name, wf_ggml_type_name(o->type), (unsigned long long)diff, (unsigned long long)n,
			      (double)s2, (double)s);
		wdata(b, n * fs);
		free(b);
	}
	free(w);
	free(t);
}

/* ------------------------------------------------------------- planning */

/* The GGUF name of a ternary projection, by HF module name. */
static const struct {
	const char *hf, *gguf;
} proj_names[] = {
	{"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"},
	{"self_attn.v_proj", "attn_v"}, {"self_attn.o_proj", "attn_output"},
	{"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"}, {"mlp.down_proj", "ffn_down"},
};

static int is_ternary_name(const char *name)
{
	if (strncmp(name, "blk.", 4) != 0)
		return 0;
	const char *p = strchr(name + 4, '.');
	if (!p)
		return 0;
	p++;
	for (size_t k = 0; k < sizeof proj_names / sizeof proj_names[0]; k++) {
		size_t l = strlen(proj_names[k].gguf);
		if (strncmp(p, proj_names[k].gguf, l) == 0 && strcmp(p + l, ".weight") == 0)
			return 1;
	}
	return 0;
}

/* Refuse a ternary output type the shape cannot hold. */
static void check_packable(const char *name, uint32_t type, int64_t rows, int64_t cols)
{
	uint64_t n = (uint64_t)rows * (uint64_t)cols;
	if ((type == WF_TYPE_TQ1_0 || type == WF_TYPE_TQ2_0) && cols % 256)
		fatal("tensor '%s': %s needs rows of a multiple of 256 weights, found %lld", name,
		      wf_ggml_type_name(type), (long long)cols);
	if (type == WF_TYPE_I2_S && (cols % 128 || n % 128))
		fatal("tensor '%s': I2_S needs rows of a multiple of 128 weights, found %lld", name, (long long)cols);
}

static uint32_t file_type_of(uint32_t t)
{
	switch (t) {
	case WF_TYPE_F32: return 0;
	case WF_TYPE_F16: return 1;
	case WF_TYPE_BF16: return 32;
	case WF_TYPE_TQ1_0: return 36;
	case WF_TYPE_TQ2_0: return 37;
	default: return 40; /* bitnet.cpp's MOSTLY_I2_S */
	}
}

/* Drop the pages of data[0..n) from this process once written: the
 * input is a read-only file mapping, so this only frees memory (a later
 * read faults them in again), and a 2B checkpoint converts in bounded RSS. */
static void release(const void *data, uint64_t n)
{
	if (!data || !n)
		return;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)data / pg * pg, b = ((uintptr_t)data + n + pg - 1) / pg * pg;
	madvise((void *)a, b - a, MADV_DONTNEED);
}

static void release_src(const struct otensor *o)
{
	if (o->st)
		release(o->st->data, o->st->nbytes);
	if (o->scale)
		release(o->scale->data, o->scale->nbytes);
	if (o->gt)
		release(o->gt->data, o->gt->nbytes);
	if (o->exps)
		for (int64_t e = 0; e < o->ne[2]; e++)
			release(o->exps[e]->data, o->exps[e]->nbytes);
}

/* Write every planned tensor to OUT through a temporary file. */
static void write_all(const char *in)
{
	for (size_t i = 0; i < n_outs; i++) {
		struct otensor *o = &outs[i];
		if (wf_gguf_writer_tensor(W, o->name, o->type, o->ne, o->n_dims) < 0)
			fatal("%s: %s", opt.out, wf_gguf_writer_error(W));
	}
	int fd = open_tmp(opt.out);
	char err[256];
	struct bufsink bs = {.fd = fd, .cap = 1 << 20};
	if (!(bs.buf = malloc(bs.cap)))
		fatal("out of memory");
	if (wf_gguf_writer_begin(W, bs_write, &bs) < 0)
		fatal("%s: %s", opt.out, wf_gguf_writer_error(W));
	n_total = (int)n_outs;
	for (size_t i = 0; i < n_outs; i++) {
		struct otensor *o = &outs[i];
		n_done = (int)i;
		progress(o->name);
		switch (o->role) {
		case R_EMBD:
		case R_NORM:
			if (o->kind == S_GGUF && o->gt->type == o->type)
				write_copy(o);
			else
				write_float(o);
			break;
		case R_TERNARY: write_ternary(o); break;
		case R_EXPERTS:
			/* each expert ternarised and encoded on its own, one after the
			 * other: a scale per expert (TQ d in its blocks, float absmean) */
			for (int64_t e = 0; e < o->ne[2]; e++) {
				struct otensor x = *o;
				snprintf(x.name, sizeof x.name, "%.*s#%lld", WF_GGUF_MAX_NAME - 24, o->name, (long long)e);
				x.role = R_TERNARY;
				x.st = o->exps[e];
				x.ne[2] = 1;
				write_ternary(&x);
			}
			break;
		case R_COPY: write_copy(o); break;
		}
		release_src(o);
	}
	n_done = n_total;
	progress("done");
	if (wf_gguf_writer_finish(W) < 0)
		fatal("%s: %s", opt.out, wf_gguf_writer_error(W));
	if (bs_flush(&bs, err, sizeof err) < 0)
		fatal("%s: %s", opt.out, err);
	commit_tmp(fd, opt.out);
	if (!opt.quiet)
		fprintf(stderr, "%s: %s: %zu tensors, %s, %.1f MiB (from %s)\n", prog, opt.out, n_outs,
			wf_ggml_type_name(opt.type), (double)bs.written / (1 << 20), in);
	free(bs.buf);
}

/* ------------------------------------------------- checkpoint directory */

struct shard {
	void *map;
	size_t len;
	struct wf_safetensors st;
	char path[PATH_MAX];
};

static struct shard *shards;
static size_t n_shards;

static void open_shard(const char *path)
{
	char err[256];
	shards = realloc(shards, (n_shards + 1) * sizeof(*shards));
	if (!shards)
		die("out of memory");
	struct shard *s = &shards[n_shards];
	memset(s, 0, sizeof *s);
	snprintf(s->path, sizeof s->path, "%s", path);
	int fd = open(path, O_RDONLY | O_NONBLOCK); /* a FIFO must not block the open */
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die("%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		die("%s: not a regular file", path);
	s->len = (size_t)st.st_size;
	s->map = s->len ? mmap(NULL, s->len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (s->len && s->map == MAP_FAILED)
		die("%s: mmap: %s", path, strerror(errno));
	if (wf_st_parse(&s->st, s->map, s->len, err, sizeof err) < 0)
		die("%s: %s", path, err);
	n_shards++;
}

/* The tensor named name in any shard (and its shard's path), or NULL. */
static const struct wf_st_tensor *st_get(const char *name, const char **path)
{
	for (size_t i = 0; i < n_shards; i++) {
		const struct wf_st_tensor *t = wf_st_find(&shards[i].st, name);
		if (t) {
			if (path)
				*path = shards[i].path;
			return t;
		}
	}
	return NULL;
}

static void open_checkpoint(const char *dir)
{
	char p[PATH_MAX];
	struct stat ls;
	join(p, sizeof p, dir, "model.safetensors");
	if (access(p, F_OK) == 0 || lstat(p, &ls) == 0) { /* a broken link fails there, named */
		open_shard(p);
		return;
	}
	join(p, sizeof p, dir, "model.safetensors.index.json");
	if (access(p, F_OK) < 0)
		die("%s: no model.safetensors and no model.safetensors.index.json", dir);
	struct jfile idx;
	load_json(&idx, p, 0);
	const struct wf_json *wm = wf_json_get(idx.root, "weight_map");
	if (!wm || wm->type != WF_JSON_OBJECT)
		die("%s: no 'weight_map' object", p);
	for (uint32_t i = 0; i < wm->n; i++) {
		const struct wf_json *f = &wm->u.kids[i];
		if (f->type != WF_JSON_STRING || !f->n || strchr(f->s, '/') || f->s[0] == '.')
			die("%s: weight_map: '%s': expected a file name in the same directory", p, f->key);
		int seen = 0;
		for (size_t k = 0; k < n_shards && !seen; k++)
			seen = strcmp(strrchr(shards[k].path, '/') + 1, f->s) == 0;
		if (!seen) {
			char sp[PATH_MAX];
			join(sp, sizeof sp, dir, f->s);
			open_shard(sp);
		}
	}
	for (uint32_t i = 0; i < wm->n; i++) {
		const char *path;
		const struct wf_st_tensor *t = st_get(wm->u.kids[i].key, &path);
		if (!t || strcmp(strrchr(path, '/') + 1, wm->u.kids[i].s) != 0) {
			for (size_t k = 0; t && k < n_shards; k++)
				if (!strcmp(strrchr(shards[k].path, '/') + 1, wm->u.kids[i].s) &&
				    wf_st_find(&shards[k].st, wm->u.kids[i].key))
					die("%s: tensor '%s' is in both %s and %s", p, wm->u.kids[i].key, path,
					    shards[k].path);
			die("%s: weight_map: tensor '%s' is not in %s", p, wm->u.kids[i].key, wm->u.kids[i].s);
		}
	}
	free_json(&idx);
}

/* config.json integer key, required unless dflt >= 0. */
static char cfg_path[PATH_MAX] = "config.json"; /* for messages: the config.json read */

static int64_t cfg_int(const struct wf_json *cfg, const char *key, int64_t dflt, int64_t lo, int64_t hi)
{
	const struct wf_json *v = wf_json_get(cfg, key);
	int64_t x;
	if (!v || v->type == WF_JSON_NULL) {
		if (dflt < 0)
			die("%s: '%s' is missing", cfg_path, key);
		return dflt;
	}
	if (wf_json_int(v, lo, hi, &x) < 0)
		die("%s: '%s': expected an integer in %lld..%lld", cfg_path, key, (long long)lo, (long long)hi);
	return x;
}

static double cfg_num(const struct wf_json *cfg, const char *key, double dflt)
{
	const struct wf_json *v = wf_json_get(cfg, key);
	if (!v || v->type == WF_JSON_NULL)
		return dflt;
	if (v->type != WF_JSON_NUMBER || !(v->u.num > 0))
		die("%s: '%s': expected a positive number", cfg_path, key);
	float f = (float)v->u.num; /* what is written */
	if (!(f > 0) || isinf(f))
		die("%s: '%s': %g is not a positive float32 (FLT_MIN..FLT_MAX)", cfg_path, key, v->u.num);
	return v->u.num;
}

/* Expect HF tensor name with shape [d0, d1] (d1 = 0: one dimension) and a float dtype. */
static const struct wf_st_tensor *need(const char *name, int64_t d0, int64_t d1)
{
	const char *path;
	const struct wf_st_tensor *t = st_get(name, &path);
	char a[64], b[64];
	int64_t want[2] = {d0, d1};
	if (!t)
		die("tensor '%s' is missing", name);
	if (t->dtype != WF_ST_F32 && t->dtype != WF_ST_F16 && t->dtype != WF_ST_BF16 && t->dtype != WF_ST_F64)
		die("%s: tensor '%s': dtype %s is not a float type", path, name, wf_st_dtype_name(t->dtype));
	int nd = d1 ? 2 : 1;
	if (t->n_dims != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1))
		die("%s: tensor '%s': expected %s, found %s", path, name, shape_str(want, nd, a, sizeof a),
		    shape_str(t->shape, t->n_dims, b, sizeof b));
	return t;
}

static void plan_float(const char *gname, const char *hfname, enum role role, uint32_t type, int64_t d0, int64_t d1)
{
	struct otensor *o = add_out(gname, role, type);
	o->kind = S_ST;
	o->st = need(hfname, d0, d1);
	o->n_dims = d1 ? 2 : 1;
	o->ne[0] = d1 ? d1 : d0;
	o->ne[1] = d1 ? d0 : 1;
	o->ne[2] = o->ne[3] = 1;
}

/* A ternary projection: latent floats [out, in] or packed uint8 [out/4, in] + weight_scale. */
static void plan_proj(const char *gname, const char *hfbase, int64_t out, int64_t in)
{
	char name[256], sname[256], a[64], b[64];
	const char *path;
	snprintf(name, sizeof name, "%s.weight", hfbase);
	snprintf(sname, sizeof sname, "%s.weight_scale", hfbase);
	const struct wf_st_tensor *t = st_get(name, &path);
	struct otensor *o = add_out(gname, R_TERNARY, opt.type);
	o->n_dims = 2;
	o->ne[0] = in;
	o->ne[1] = out;
	o->ne[2] = o->ne[3] = 1;
	if (t && t->dtype == WF_ST_U8) {
		int64_t want[2] = {out / 4, in};
		if (out % 4 || t->n_dims != 2 || t->shape[0] != out / 4 || t->shape[1] != in)
			die("%s: tensor '%s': packed uint8: expected %s, found %s", path, name,
			    shape_str(want, 2, a, sizeof a), shape_str(t->shape, t->n_dims, b, sizeof b));
		const struct wf_st_tensor *sc = st_get(sname, &path);
		if (!sc)
			die("tensor '%s' is missing (packed uint8 weights need it)", sname);
		if (sc->nelem != 1 || (sc->dtype != WF_ST_F32 && sc->dtype != WF_ST_F16 && sc->dtype != WF_ST_BF16))
			die("%s: tensor '%s': expected one F32/F16/BF16 value, found %s %s", path, sname,
			    wf_st_dtype_name(sc->dtype), shape_str(sc->shape, sc->n_dims, b, sizeof b));
		o->kind = S_ST_PACKED;
		o->st = t;
		o->scale = sc;
	} else {
		o->kind = S_ST;
		o->st = need(name, out, in);
	}
	check_packable(gname, opt.type, out, in);
}

static const struct wf_st_tensor *lm_head_tied; /* a saved copy of the tied embedding */
static int64_t n_expert_cfg;                    /* config.json's expert count (0: dense) */
static int64_t n_layer_cfg = INT64_MAX;         /* config.json's num_hidden_layers */
static int64_t lrc_rank_cfg;                    /* config.json's lrc_rank (0: absent) */

/* hf(NAME) or hf(NAME.weight): the checkpoint tensor, or NULL. */
static const struct wf_st_tensor *st_get2(const char *base, char *used, size_t ulen)
{
	const struct wf_st_tensor *t;
	snprintf(used, ulen, "%s", base);
	if ((t = st_get(used, NULL)))
		return t;
	snprintf(used, ulen, "%s.weight", base);
	return st_get(used, NULL);
}

/*
 * LRC of projection hfbase (out x in): hfbase.lrc_U [out, rank] and
 * hfbase.lrc_V [rank, in] (each optionally with a .weight suffix), both or
 * neither, as F32 blk.N.<proj>.lrc_u [rank, out] and .lrc_v [in, rank]
 * (GGUF order: the same row-major bytes).
 */
static void plan_lrc(const char *gname, const char *hfbase, int64_t out, int64_t in)
{
	char bu[256], bv[256], nu[300], nv[300], g[160];
	snprintf(bu, sizeof bu, "%s.lrc_U", hfbase);
	snprintf(bv, sizeof bv, "%s.lrc_V", hfbase);
	const struct wf_st_tensor *tu = st_get2(bu, nu, sizeof nu), *tv = st_get2(bv, nv, sizeof nv);
	if (!tu && !tv)
		return;
	if (!tu || !tv)
		die("tensor '%s' is missing (LRC needs both %s and %s)", tu ? bv : bu, bu, bv);
	int64_t rank = tv->n_dims == 2 ? tv->shape[0] : 0;
	if (rank < 1 || rank > in)
		die("tensor '%s': expected [rank, %lld] with rank in 1..%lld", nv, (long long)in, (long long)in);
	if (lrc_rank_cfg && rank != lrc_rank_cfg)
		die("tensor '%s': rank %lld differs from config.json's lrc_rank %lld", nv, (long long)rank,
		    (long long)lrc_rank_cfg);
	snprintf(g, sizeof g, "%.*s.lrc_v", (int)(strlen(gname) - 7), gname);
	plan_float(g, nv, R_NORM, WF_TYPE_F32, rank, in);
	snprintf(g, sizeof g, "%.*s.lrc_u", (int)(strlen(gname) - 7), gname);
	plan_float(g, nu, R_NORM, WF_TYPE_F32, out, rank);
}

/*
 * MoE FFN of layer l, when its router exists: Mixtral's
 * block_sparse_moe.gate.weight [E, H] with experts.K.{w1,w3,w2} (gate, up,
 * down), or Qwen-MoE's mlp.gate.weight with experts.K.{gate_proj,up_proj,
 * down_proj}; latent float experts.  Returns 0 for a dense layer.
 */
static int plan_moe(int64_t l, int64_t H, int64_t Fe)
{
	static const struct { const char *pre, *g, *u, *d; } styles[] = {
		{"block_sparse_moe", "w1", "w3", "w2"},
		{"mlp", "gate_proj", "up_proj", "down_proj"},
	};
	char h[256], g[96];
	const char *path;
	int k;
	for (k = 0; k < 2; k++) {
		snprintf(h, sizeof h, "model.layers.%lld.%s.gate.weight", (long long)l, styles[k].pre);
		if (st_get(h, &path))
			break;
	}
	if (k == 2)
		return 0;
	if (!n_expert_cfg)
		die("%s: tensor '%s': MoE tensor but config.json has no num_local_experts or num_experts", path, h);
	snprintf(g, sizeof g, "blk.%lld.ffn_gate_inp.weight", (long long)l);
	plan_float(g, h, R_NORM, WF_TYPE_F32, n_expert_cfg, H);
	/* I2_S holds one scale per tensor: experts, a scale each, go as TQ2_0 */
	uint32_t type = opt.type == WF_TYPE_I2_S ? WF_TYPE_TQ2_0 : opt.type;
	const char *const gn[3] = {"ffn_gate", "ffn_up", "ffn_down"};
	const char *const hn[3] = {styles[k].g, styles[k].u, styles[k].d};
	for (int p = 0; p < 3; p++) {
		int64_t rows = p == 2 ? H : Fe, cols = p == 2 ? Fe : H;
		snprintf(g, sizeof g, "blk.%lld.%s_exps.weight", (long long)l, gn[p]);
		struct otensor *o = add_out(g, R_EXPERTS, type);
		o->kind = S_ST;
		o->n_dims = 3;
		o->ne[0] = cols;
		o->ne[1] = rows;
		o->ne[2] = n_expert_cfg;
		o->ne[3] = 1;
		o->exps = calloc((size_t)n_expert_cfg, sizeof *o->exps);
		if (!o->exps)
			die("out of memory");
		for (int64_t e = 0; e < n_expert_cfg; e++) {
			snprintf(h, sizeof h, "model.layers.%lld.%s.experts.%lld.%s.weight", (long long)l, styles[k].pre,
			         (long long)e, hn[p]);
			o->exps[e] = need(h, rows, cols);
		}
		o->st = o->exps[0];
		if (type != opt.type && cols % 256)
			die("tensor '%s': experts need rows of a multiple of 256 weights for I2_S output "
			    "(I2_S holds one scale per tensor, so experts are written as TQ2_0), found %lld",
			    g, (long long)cols);
		check_packable(g, type, rows, cols);
	}
	/* the sub-norm over the expert output: under the MoE block, or the dense name */
	snprintf(h, sizeof h, "model.layers.%lld.%s.ffn_sub_norm.weight", (long long)l, styles[k].pre);
	if (!st_get(h, NULL))
		snprintf(h, sizeof h, "model.layers.%lld.mlp.ffn_sub_norm.weight", (long long)l);
	snprintf(g, sizeof g, "blk.%lld.ffn_sub_norm.weight", (long long)l);
	plan_float(g, h, R_NORM, WF_TYPE_F32, Fe, 0);
	return 1;
}

/* Every tensor of the checkpoint must be used: name one that is not. */
static void check_all_used(void)
{
	for (size_t i = 0; i < n_shards; i++) {
		for (size_t k = 0; k < shards[i].st.n; k++) {
			const struct wf_st_tensor *t = &shards[i].st.t[k];
			int used = t == lm_head_tied;
			for (size_t j = 0; j < n_outs && !used; j++) {
				used = outs[j].st == t || outs[j].scale == t;
				for (int64_t e = 0; outs[j].role == R_EXPERTS && e < outs[j].ne[2] && !used; e++)
					used = outs[j].exps[e] == t;
			}
			if (used)
				continue;
			const char *n = t->name;
			const char *p0 = "";
			if (st_get(n, &p0) != t)
				die("%s: tensor '%s' is in both %s and %s", shards[i].path, n, p0, shards[i].path);
			long lay;
			int at = 0;
			if (sscanf(n, "model.layers.%ld.%n", &lay, &at) == 1 && at > 0 && lay >= n_layer_cfg)
				die("%s: tensor '%s': layer %ld is past config.json's num_hidden_layers %lld", shards[i].path,
				    n, lay, (long long)n_layer_cfg);
			/* rotary caches are recomputed, never needed */
			if (strstr(n, "rotary_emb.inv_freq"))
				continue;
			if (strstr(n, "lrc_") || strstr(n, "lrc.") || strstr(n, ".lrc"))
				die("%s: tensor '%s': not an LRC tensor of a projection (<proj>.lrc_U and "
				    "<proj>.lrc_V of attention and dense FFN projections)", shards[i].path, n);
			if (strstr(n, "experts") || strstr(n, "block_sparse_moe") || strstr(n, ".gate.weight"))
				die("%s: tensor '%s': MoE tensor %s", shards[i].path, n, n_expert_cfg ?
				    "beyond the configured experts or not a router or expert projection" :
				    "but config.json has no num_local_experts or num_experts");
			die("%s: tensor '%s': not a tensor of a BitNet checkpoint (unrecognised name)", shards[i].path, n);
		}
	}
}

static void put_dlm(const char *dir)
{
	char p[PATH_MAX];
	struct jfile d;
	join(p, sizeof p, dir, "dlm_config.json");
	load_json(&d, p, 1);
	if (!d.doc)
		return;
	int64_t x;
	const struct wf_json *v;
	if ((v = wf_json_get(d.root, "mask_token_id"))) {
		if (wf_json_int(v, 0, INT32_MAX, &x) < 0)
			die("%s: mask_token_id: expected a token id", p);
		wf_gguf_writer_u32(W, "wf.dlm.mask_token_id", (uint32_t)x);
	}
	if ((v = wf_json_get(d.root, "bd_size")) || (v = wf_json_get(d.root, "block_size"))) {
		if (wf_json_int(v, 1, 1 << 20, &x) < 0)
			die("%s: %s: expected a positive integer", p, v->key);
		wf_gguf_writer_u32(W, "wf.dlm.block_size", (uint32_t)x);
	}
	if ((v = wf_json_get(d.root, "small_block_size")) || (v = wf_json_get(d.root, "sub_block_size"))) {
		if (wf_json_int(v, 1, 1 << 20, &x) < 0)
			die("%s: %s: expected a positive integer", p, v->key);
		wf_gguf_writer_u32(W, "wf.dlm.sub_block_size", (uint32_t)x);
	}
	if ((v = wf_json_get(d.root, "attention"))) {
		if (!wf_json_streq(v, "block-causal") && !wf_json_streq(v, "causal") && !wf_json_streq(v, "bidirectional"))
			die("%s: attention: expected \"block-causal\", \"causal\" or \"bidirectional\"", p);
		wf_gguf_writer_str(W, "wf.dlm.attention", v->s);
	}
	if ((v = wf_json_get(d.root, "threshold"))) {
		if (v->type != WF_JSON_NUMBER || !(v->u.num > 0 && v->u.num <= 1))
			die("%s: threshold: expected a number in (0, 1]", p);
		wf_gguf_writer_f32(W, "wf.dlm.threshold", (float)v->u.num);
	}
	free_json(&d);
}

static void key_u32(const char *k, uint32_t v)
{
	char key[128];
	snprintf(key, sizeof key, "%s.%s", opt.arch, k);
	wf_gguf_writer_u32(W, key, v);
}

static void key_f32(const char *k, float v)
{
	char key[128];
	snprintf(key, sizeof key, "%s.%s", opt.arch, k);
	wf_gguf_writer_f32(W, key, v);
}

static void key_str(const char *k, const char *v)
{
	char key[128];
	snprintf(key, sizeof key, "%s.%s", opt.arch, k);
	wf_gguf_writer_str(W, key, v);
}

static int convert_dir(const char *dir)
{
	char p[PATH_MAX];
	struct jfile cj;
	join(p, sizeof p, dir, "config.json");
	load_json(&cj, p, 0);
	snprintf(cfg_path, sizeof cfg_path, "%s", p);
	const struct wf_json *cfg = cj.root;

	const struct wf_json *archs = wf_json_get(cfg, "architectures");
	int ok = 0;
	for (uint32_t i = 0; archs && archs->type == WF_JSON_ARRAY && i < archs->n; i++)
		ok |= wf_json_streq(&archs->u.kids[i], "BitNetForCausalLM") ||
		      wf_json_streq(&archs->u.kids[i], "BitnetForCausalLM");
	if (!ok)
		die("%s: architectures: expected BitNetForCausalLM or BitnetForCausalLM", p);
	const char *act = "relu2";
	const struct wf_json *ha = wf_json_get(cfg, "hidden_act");
	if (ha) {
		if (wf_json_streq(ha, "relu2") || wf_json_streq(ha, "relu_sqr"))
			act = "relu2";
		else if (wf_json_streq(ha, "silu"))
			act = "silu";
		else
			die("%s: hidden_act: expected \"relu2\" or \"silu\"", p);
	}
	/* the readers' limits (lib/model.c), so that what is written loads */
	int64_t H = cfg_int(cfg, "hidden_size", -1, 1, WF_MAX_EMBD);
	int64_t F = cfg_int(cfg, "intermediate_size", -1, 1, WF_MAX_FF);
	int64_t L = cfg_int(cfg, "num_hidden_layers", -1, 1, WF_MAX_LAYER);
	n_layer_cfg = L;
	int64_t NH = cfg_int(cfg, "num_attention_heads", -1, 1, WF_MAX_HEAD);
	int64_t NKV = cfg_int(cfg, "num_key_value_heads", NH, 1, WF_MAX_HEAD);
	int64_t V = cfg_int(cfg, "vocab_size", -1, 1, WF_MAX_VOCAB);
	int64_t HD = cfg_int(cfg, "head_dim", H / NH, 1, WF_MAX_EMBD);
	int64_t CTX = cfg_int(cfg, "max_position_embeddings", 4096, 1, WF_MAX_CTX);
	double eps = cfg_num(cfg, "rms_norm_eps", 1e-5);
	double theta = cfg_num(cfg, "rope_theta", 500000.0);
	if (!(eps < 1))
		die("%s: 'rms_norm_eps': %g is not below 1", cfg_path, eps);
	/* linear RoPE scaling is what the readers know: positions divided by the factor */
	double rope_factor = 1;
	const struct wf_json *rs = wf_json_get(cfg, "rope_scaling");
	if (rs && rs->type != WF_JSON_NULL) {
		const struct wf_json *ty = rs->type == WF_JSON_OBJECT ? wf_json_get(rs, "type") : NULL;
		if (!ty && rs->type == WF_JSON_OBJECT)
			ty = wf_json_get(rs, "rope_type");
		if (!wf_json_streq(ty, "linear"))
			die("%s: 'rope_scaling': only {\"type\": \"linear\", \"factor\": F} is supported", cfg_path);
		rope_factor = cfg_num(rs, "factor", 1);
	}
	if (H % NH || NH % NKV)
		die("%s: num_attention_heads %lld and num_key_value_heads %lld do not divide hidden_size %lld", p,
		    (long long)NH, (long long)NKV, (long long)H);
	n_expert_cfg = cfg_int(cfg, "num_local_experts", 0, 0, 4096);
	if (!n_expert_cfg)
		n_expert_cfg = cfg_int(cfg, "num_experts", 0, 0, 4096);
	int64_t KE = 0, FE = F;
	if (n_expert_cfg) {
		KE = cfg_int(cfg, "num_experts_per_tok", -1, 1, n_expert_cfg);
		FE = cfg_int(cfg, "moe_intermediate_size", F, 1, 1 << 22);
	}
	lrc_rank_cfg = cfg_int(cfg, "lrc_rank", 0, 0, H);
	const struct wf_json *tie = wf_json_get(cfg, "tie_word_embeddings");
	int tied = !tie || tie->type != WF_JSON_FALSE;

	open_checkpoint(dir);

	struct jfile js[3];
	struct wf_hfvocab v;
	join(p, sizeof p, dir, "tokenizer.json");
	import_vocab(&v, js, p, V);

	W = wf_gguf_writer_new();
	if (!W)
		die("out of memory");
	const char *base = strrchr(dir, '/');
	char name[256];
	snprintf(name, sizeof name, "%s", base && base[1] ? base + 1 : dir);
	if (base && !base[1]) { /* "dir/" */
		snprintf(name, sizeof name, "%.*s", (int)(base - dir), dir);
		const char *b2 = strrchr(name, '/');
		if (b2)
			memmove(name, b2 + 1, strlen(b2));
	}
	wf_gguf_writer_str(W, "general.architecture", opt.arch);
	wf_gguf_writer_str(W, "general.name", name);
	wf_gguf_writer_u32(W, "general.file_type", file_type_of(opt.type));
	wf_gguf_writer_u32(W, "general.quantization_version", 2);
	key_u32("vocab_size", (uint32_t)V);
	key_u32("context_length", (uint32_t)CTX);
	key_u32("embedding_length", (uint32_t)H);
	key_u32("block_count", (uint32_t)L);
	key_u32("feed_forward_length", (uint32_t)F);
	if (n_expert_cfg) {
		key_u32("expert_count", (uint32_t)n_expert_cfg);
		key_u32("expert_used_count", (uint32_t)KE);
		key_u32("expert_feed_forward_length", (uint32_t)FE);
	}
	if (lrc_rank_cfg)
		key_u32("lrc_rank", (uint32_t)lrc_rank_cfg);
	key_u32("attention.head_count", (uint32_t)NH);
	key_u32("attention.head_count_kv", (uint32_t)NKV);
	key_u32("rope.dimension_count", (uint32_t)HD);
	key_f32("rope.freq_base", (float)theta);
	key_str("rope.scaling.type", "linear");
	key_f32("rope.scaling.factor", (float)rope_factor);
	key_f32("attention.layer_norm_rms_epsilon", (float)eps);
	key_str("hidden_activation", act);
	if (wf_hfvocab_write(&v, W) < 0)
		die("%s: %s", opt.out, wf_gguf_writer_error(W));
	put_dlm(dir);
	if (wf_gguf_writer_error(W)[0])
		die("%s: %s", opt.out, wf_gguf_writer_error(W));

	/* Tensors, in the peers' order. */
	plan_float("token_embd.weight", "model.embed_tokens.weight", R_EMBD, WF_TYPE_F16, V, H);
	for (int64_t l = 0; l < L; l++) {
		char g[96], h[128];
#define NORM(gn, hn, d) \
	snprintf(g, sizeof g, "blk.%lld." gn ".weight", (long long)l); \
	snprintf(h, sizeof h, "model.layers.%lld." hn ".weight", (long long)l); \
	plan_float(g, h, R_NORM, WF_TYPE_F32, d, 0)
#define PROJ(k, o_, i_) \
	snprintf(g, sizeof g, "blk.%lld.%s.weight", (long long)l, proj_names[k].gguf); \
	snprintf(h, sizeof h, "model.layers.%lld.%s", (long long)l, proj_names[k].hf); \
	plan_proj(g, h, o_, i_); \
	plan_lrc(g, h, o_, i_)
		NORM("attn_norm", "input_layernorm", H);
		PROJ(0, NH * HD, H);
		PROJ(1, NKV * HD, H);
		PROJ(2, NKV * HD, H);
		PROJ(3, H, NH * HD);
		NORM("attn_sub_norm", "self_attn.attn_sub_norm", NH * HD);
		NORM("ffn_norm", "post_attention_layernorm", H);
		if (!plan_moe(l, H, FE)) {
			PROJ(4, F, H);
			PROJ(5, F, H);
			PROJ(6, H, F);
			NORM("ffn_sub_norm", "mlp.ffn_sub_norm", F);
		}
#undef NORM
#undef PROJ
	}
	plan_float("output_norm.weight", "model.norm.weight", R_NORM, WF_TYPE_F32, H, 0);
	if (st_get("lm_head.weight", NULL)) {
		if (tied) {
			/* a saved copy of the tied matrix: must equal the embedding */
			const struct wf_st_tensor *a = st_get("lm_head.weight", NULL);
			const struct wf_st_tensor *e = st_get("model.embed_tokens.weight", NULL);
			if (a->nbytes != e->nbytes || a->dtype != e->dtype || memcmp(a->data, e->data, a->nbytes) != 0)
				die("tensor 'lm_head.weight' differs from 'model.embed_tokens.weight' although tie_word_embeddings is true");
			lm_head_tied = a;
		} else {
			if (strcmp(opt.arch, "bitnet") == 0)
				die("arch bitnet has no output.weight, but this checkpoint's lm_head is not tied (use --arch bitnet-b1.58)");
			plan_float("output.weight", "lm_head.weight", R_EMBD, WF_TYPE_F16, V, H);
		}
	} else if (!tied) {
		die("tensor 'lm_head.weight' is missing and tie_word_embeddings is false");
	}
	check_all_used();
	write_all(dir);

	wf_gguf_writer_free(W);
	wf_hfvocab_free(&v);
	for (int i = 0; i < 3; i++)
		free_json(&js[i]);
	free_json(&cj);
	for (size_t i = 0; i < n_shards; i++) {
		wf_st_free(&shards[i].st);
		if (shards[i].map)
			munmap(shards[i].map, shards[i].len);
	}
	free(shards);
	for (size_t i = 0; i < n_outs; i++)
		free(outs[i].exps);
	free(outs);
	return 0;
}

/* ------------------------------------------------------- GGUF requantise */

static int convert_gguf(const char *in)
{
	char err[256];
	int fd = open(in, O_RDONLY | O_NONBLOCK); /* a FIFO must not block the open */
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die("%s: %s", in, strerror(errno));
	if (!S_ISREG(st.st_mode))
		die("%s: not a regular file", in);
	size_t len = (size_t)st.st_size;
	void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (len && map == MAP_FAILED)
		die("%s: mmap: %s", in, strerror(errno));
	struct wf_gguf g;
	if (wf_gguf_parse(&g, map, len, err, sizeof err) < 0)
		die("%s: %s", in, err);
	struct wf_gguf_str arch;
	if (wf_gguf_get_str(&g, "general.architecture", &arch, err, sizeof err) != 0)
		die("%s: %s", in, err[0] ? err : "key 'general.architecture' is missing");
	char src_arch[64];
	snprintf(src_arch, sizeof src_arch, "%.*s", (int)(arch.len < 63 ? arch.len : 63), arch.ptr);
	if (!opt.arch_given)
		opt.arch = src_arch;
	if (strcmp(src_arch, "bitnet-b1.58") != 0 && strcmp(src_arch, "bitnet") != 0 && strcmp(src_arch, "bitnet-25") != 0)
		die("%s: general.architecture '%s' is not a BitNet architecture", in, src_arch);
	if (g.n_tensors && model_binds(&g, err, sizeof err) < 0) /* before any work */
		die("%s: not a model wf can run: %s", in, err);
	if (!opt.type_given) {
		const struct wf_gguf_tensor *q = wf_gguf_tensor(&g, "blk.0.attn_q.weight");
		if (q)
			opt.type = q->type;
	}
	W = wf_gguf_writer_new();
	if (!W)
		die("out of memory");
	size_t al = strlen(src_arch);
	for (uint64_t i = 0; i < g.n_kv; i++) {
		const struct wf_gguf_kv *kv = &g.kv[i];
		char key[256];
		snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 255 ? kv->key.len : 255), kv->key.ptr);
		if (!strcmp(key, "general.alignment"))
			continue;
		if (!strcmp(key, "general.architecture")) {
			wf_gguf_writer_str(W, key, opt.arch);
			continue;
		}
		if (!strcmp(key, "general.file_type")) {
			wf_gguf_writer_u32(W, key, file_type_of(opt.type));
			continue;
		}
		if (strncmp(key, src_arch, al) == 0 && key[al] == '.' && strcmp(opt.arch, src_arch) != 0) {
			/* renamed copy: same value under the new prefix */
			char nk[300];
			snprintf(nk, sizeof nk, "%s%s", opt.arch, key + al);
			struct wf_gguf_kv c = *kv;
			c.key.ptr = nk;
			c.key.len = strlen(nk);
			wf_gguf_writer_copy_kv(W, &c);
			continue;
		}
		wf_gguf_writer_copy_kv(W, kv);
	}
	if (!wf_gguf_find(&g, "general.file_type"))
		wf_gguf_writer_u32(W, "general.file_type", file_type_of(opt.type));
	if (wf_gguf_writer_error(W)[0])
		die("%s: %s", opt.out, wf_gguf_writer_error(W));
	for (uint64_t i = 0; i < g.n_tensors; i++) {
		const struct wf_gguf_tensor *t = &g.tensors[i];
		if (is_ternary_name(t->name)) {
			int64_t rows, cols;
			if (wf_ternary_check(t, &rows, &cols, err, sizeof err) < 0)
				die("%s: %s", in, err);
			struct otensor *o = add_out(t->name, R_TERNARY, opt.type);
			o->kind = S_GGUF;
			o->gt = t;
			o->n_dims = 2;
			o->ne[0] = cols;
			o->ne[1] = rows;
			o->ne[2] = o->ne[3] = 1;
			check_packable(t->name, opt.type, rows, cols);
		} else {
			struct otensor *o = add_out(t->name, R_COPY, t->type);
			o->kind = S_GGUF;
			o->gt = t;
			o->n_dims = t->n_dims;
			memcpy(o->ne, t->ne, sizeof o->ne);
		}
	}
	write_all(in);
	wf_gguf_writer_free(W);
	wf_gguf_free(&g);
	if (map)
		munmap(map, len);
	free(outs);
	return 0;
}

static int convert(const char *in)
{
	struct stat st;
	if (stat(in, &st) < 0)
		die("%s: %s", in, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return convert_dir(in);
	if (opt.pre || opt.config)
		usage_die("%s: a tokenizer's option, for a checkpoint directory or --vocab-only (the input is a GGUF "
		          "file)", opt.pre ? "--pre" : "--config");
	return convert_gguf(in);
}

/* ------------------------------------------------------------------ main */

static const struct {
	const char *name;
	uint32_t type;
} type_names[] = {
	{"I2_S", WF_TYPE_I2_S}, {"TQ1_0", WF_TYPE_TQ1_0}, {"TQ2_0", WF_TYPE_TQ2_0},
	{"F16", WF_TYPE_F16}, {"BF16", WF_TYPE_BF16}, {"F32", WF_TYPE_F32},
};

int main(int argc, char **argv)
{
	enum { O_VOCAB = 256, O_PRE, O_CONFIG };
	static const struct option lopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"type", required_argument, NULL, 't'},
		{"arch", required_argument, NULL, 'a'},
		{"force", no_argument, NULL, 'f'},
		{"quiet", no_argument, NULL, 'q'},
		{"vocab-only", no_argument, NULL, O_VOCAB},
		{"pre", required_argument, NULL, O_PRE},
		{"config", required_argument, NULL, O_CONFIG},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	(void)cli_stdout_failed;
	(void)error;
	cli_init(argc, argv, USAGE);
	while ((c = getopt_long(argc, argv, "o:t:a:fqh", lopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt.out = optarg; break;
		case 't': opt.type_name = optarg; opt.type_given = 1; break;
		case 'a': opt.arch = optarg; opt.arch_given = 1; break;
		case 'f': opt.force = 1; break;
		case 'q': opt.quiet = 1; break;
		case O_VOCAB: opt.vocab_only = 1; break;
		case O_PRE: opt.pre = optarg; break;
		case O_CONFIG: opt.config = optarg; break;
		case 'h':
			printf("usage: %s\n", USAGE);
			return cli_exit(0);
		default:
			usage_die(NULL);
		}
	}
	if (argc - optind != 1)
		usage_die(argc - optind ? "expected one input, found %d" : "no input named", argc - optind);
	if (!opt.out)
		usage_die("no output file (-o OUT.gguf)");
	if (opt.type_name) {
		size_t k;
		for (k = 0; k < sizeof type_names / sizeof type_names[0]; k++)
			if (strcasecmp(opt.type_name, type_names[k].name) == 0)
				break;
		if (k == sizeof type_names / sizeof type_names[0])
			usage_die("--type '%s': expected I2_S, TQ1_0, TQ2_0, F16, BF16 or F32", opt.type_name);
		opt.type = type_names[k].type;
	}
	if (strcmp(opt.arch, "bitnet-b1.58") != 0 && strcmp(opt.arch, "bitnet") != 0)
		usage_die("--arch '%s': expected bitnet-b1.58 or bitnet", opt.arch);
	if (opt.pre && (!*opt.pre || strlen(opt.pre) >= 64))
		usage_die("--pre '%s': expected a name of 1 to 63 bytes", opt.pre);
	opt.progress = !opt.quiet && isatty(2);
	const char *in = argv[optind];
	if (opt.vocab_only && (opt.type_given || opt.force))
		usage_die("--vocab-only writes no weights: not with %s", opt.type_given ? "-t" : "-f");
	if (opt.vocab_only)
		return vocab_only(in);
	return convert(in);
}
