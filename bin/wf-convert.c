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
#include "ternary.h"

#define USAGE \
	"wf-convert [-fq] [-t TYPE] [-a ARCH] [--pre NAME] [--config FILE] -o OUT.gguf DIR|IN.gguf\n" \
	"       wf-convert --vocab-only [--pre NAME] [--config FILE] -o OUT.gguf tokenizer.json"

/* ------------------------------------------------------------ options */

static struct {
	const char *out;
	const char *type_name;
	uint32_t type;
	const char *arch;
	const char *pre;
	const char *config;
	int vocab_only, force, quiet, progress;
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
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	int fd = mkstemp(tmp_path);
	if (fd >= 0)
		tmp_live = 1;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (fd < 0)
		die("%s: cannot create a temporary file beside it: %s", out, strerror(errno));
	return fd;
}

/* fsync, close and rename the temporary file over out. */
static void commit_tmp(int fd, const char *out)
{
	if (fchmod(fd, 0666 & ~saved_umask) < 0 && errno != EPERM)
		fatal("%s: chmod: %s", tmp_path, strerror(errno));
	if (fsync(fd) < 0 && errno != EINVAL)
		fatal("%s: %s", out, strerror(errno));
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
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s", S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
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
	if (optional && access(path, F_OK) < 0 && errno == ENOENT)
		return;
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

static int convert(const char *in)
{
	die("%s: checkpoint conversion is not implemented yet", in);
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
		case 't': opt.type_name = optarg; break;
		case 'a': opt.arch = optarg; break;
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
	if (opt.vocab_only)
		return vocab_only(in);
	return convert(in);
}
