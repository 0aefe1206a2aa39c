/*
 * wf-shm — place model images in POSIX shared memory, list, show and
 * remove them.  See wf-shm(1) and lib/image.h.
 */
#include "cli.h"
#include "gguf.h"
#include "image.h"
#include "repack.h"

#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#define USAGE \
	"wf-shm load [--name NAME] [--mode OCTAL] [--default] [--raw] MODEL.gguf\n" \
	"       wf-shm ls [NAME...]\n" \
	"       wf-shm info NAME...\n" \
	"       wf-shm rm NAME... | wf-shm rm --stale [NAME...]\n" \
	"       wf-shm default [NAME | --clear]"

#define CHUNK ((size_t)8 << 20)             /* bytes copied between progress/interrupt checks */
#define PROGRESS_MIN ((uint64_t)64 << 20)   /* show progress for files this big */

static volatile sig_atomic_t interrupted, resume;

static void on_resume(int sig)
{
	(void)sig;
	resume = 1;
}

static void on_signal(int sig)
{
	interrupted = sig;
}

static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* Over RLIMIT_FSIZE, posix_fallocate() fails with EFBIG: report it. */
	signal(SIGXFSZ, SIG_IGN);
}

/* getopt has said what is wrong: add the usage and exit 2. */
static void usage_only(void)
{
	fprintf(stderr, "usage: %s\n", USAGE);
	exit(2);
}

/* Parse an octal permission mode 0..0777 or usage_die. */
static mode_t parse_mode(const char *s)
{
	char *end;
	unsigned long v;
	errno = 0;
	v = strtoul(s, &end, 8);
	if (!*s || *end || errno || v > 0777 || s[0] == '-' || s[0] == '+')
		usage_die("--mode '%s': expected an octal mode from 0 to 0777", s);
	return (mode_t)v;
}

/* Abort b: what became of its object, for the message. */
static const char *abort_image(struct wf_image_builder *b)
{
	return wf_image_abort(b) ? "removed" : "already removed (or made again by another loader): left alone";
}

/* Copy size bytes of fd into dst, showing progress on a terminal. */
static void copy_in(struct wf_image_builder *b, int fd, const char *path, uint64_t size)
{
	int tty = isatty(2) && size >= PROGRESS_MIN;
	uint64_t done = 0;
	int last = -1;
	while (done < size) {
		size_t want = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
		ssize_t n = pread(fd, b->payload + done, want, (off_t)done);
		if (n < 0 && errno == EINTR && !interrupted)
			continue;
		if (interrupted) {
			const char *what = abort_image(b);
			if (tty)
				fputc('\n', stderr);
			die("interrupted; image '%s' %s", b->name, what);
		}
		if (n <= 0) {
			char e[256];
			snprintf(e, sizeof e, "%s", n < 0 ? strerror(errno) : "file shrank while loading");
			wf_image_abort(b);
			die("%s: %s", path, e);
		}
		done += (uint64_t)n;
		if (tty) {
			int pct = (int)(done * 100 / size);
			if (pct != last)
				fprintf(stderr, "\r%s: loading '%s': %3d%%", prog, b->name, pct);
			last = pct;
		}
	}
	if (tty)
		fputc('\n', stderr);
}

/* The image sink, stopping at a signal. */
static int sink_checked(void *ctx, const void *buf, size_t n, char *err, size_t errlen)
{
	if (interrupted) {
		snprintf(err, errlen, "interrupted");
		return -1;
	}
	return wf_image_sink(ctx, buf, n, err, errlen);
}

struct progress {
	int tty;
	const char *name;
	int last;
};

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	int pct = total ? (int)(done * 100 / total) : 100;
	if (p->tty && pct != p->last)
		fprintf(stderr, "\r%s: repacking into '%s': %3d%%", prog, p->name, pct);
	p->last = pct;
}

/* Create image `name` for a payload of size bytes, or die saying why. */
static void create(struct wf_image_builder *b, const char *name, mode_t mode, uint64_t size,
                   uint32_t kind, const char *path, const struct stat *st)
{
	char err[512];
	if (wf_image_create(b, name, mode, size, kind, path, st, err, sizeof err) == 0)
		return;
	if (strstr(err, "already exists"))
		die("%s (remove it with 'wf-shm rm %s', or choose another --name)", err, name);
	die("%s", err);
}

/*
 * Build image `name` from the parsed file g: a GGUF whose ternary
 * projections are already in the kernels' layout (lib/repack.h).
 * Returns 0, or 1 when nothing in g is repacked (the caller copies it).
 */
static int load_repacked(struct wf_image_builder *b, const struct wf_gguf *g, const char *name,
                         mode_t mode, const char *path, const struct stat *st)
{
	char err[512];
	uint64_t size;
	struct wf_repack *r = wf_repack_plan(g, &size, err, sizeof err);
	if (!r)
		die("%s: %s", path, err);
	if (wf_repack_count(r) == 0) {
		wf_repack_free(r);
		return 1;
	}
	create(b, name, mode, size, WF_IMAGE_PAYLOAD_REPACKED, path, st);
	struct progress p = {isatty(2) && st->st_size >= (off_t)PROGRESS_MIN, name, -1};
	int rc = wf_repack_write(r, sink_checked, b, show_progress, &p, err, sizeof err);
	if (p.tty)
		fputc('\n', stderr);
	wf_repack_free(r);
	if (rc < 0) {
		const char *what = abort_image(b);
		if (interrupted)
			die("interrupted; image '%s' %s", name, what);
		die("%s: %s; image '%s' %s", path, err, name, what);
	}
	return 0;
}

static int cmd_load(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'M' },
		{ "default", no_argument, NULL, 'd' },
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *name = NULL, *path;
	char defname[WF_IMAGE_NAME_MAX + 1], err[512];
	mode_t mode = 0600;
	int mark_default = 0, raw = 0, c, fd;
	struct stat st, st2;
	struct wf_gguf g;
	struct wf_image_builder b;
	void *map = NULL;
	static const uint8_t empty[1];

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'M': mode = parse_mode(optarg); break;
		case 'd': mark_default = 1; break;
		case 'r': raw = 1; break;
		case 'h': printf("usage: %s\n", USAGE); return cli_exit(0);
		default: usage_only();
		}
	}
	if (argc - optind != 1)
		usage_die(argc - optind ? "load takes one model file" : "load: no model file");
	path = argv[optind];
	if (!name) {
		wf_image_default_name(path, defname, sizeof defname);
		name = defname;
	}
	if (wf_image_name_ok(name, err, sizeof err) < 0)
		usage_die("%s", err);

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the open */
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		die("%s: fstat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		die("%s: not a regular file", path);
	if ((uint64_t)st.st_size > SIZE_MAX)
		die("%s: too large for this address space", path);
	/* Validate before building: parsing reads only the header and tables. */
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			die("%s: mmap: %s", path, strerror(errno));
	}
	if (wf_gguf_parse(&g, map ? map : empty, (size_t)st.st_size, err, sizeof err) < 0)
		die("%s: %s", path, err);

	catch_signals();
	int copied = raw || load_repacked(&b, &g, name, mode, path, &st) == 1;
	wf_gguf_free(&g);
	if (map)
		munmap(map, (size_t)st.st_size);
	if (copied) {
		create(&b, name, mode, (uint64_t)st.st_size, WF_IMAGE_PAYLOAD_GGUF, path, &st);
		copy_in(&b, fd, path, (uint64_t)st.st_size);
	}
	if (fstat(fd, &st2) < 0 || st2.st_size != st.st_size ||
	    st2.st_mtim.tv_sec != st.st_mtim.tv_sec || st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec) {
		die("%s: file changed while loading; image '%s' %s", path, name, abort_image(&b));
	}
	close(fd);

	/* Test hook: stop with the image filled but not published, so a test
	 * can kill the loader at the worst moment, or go on (SIGUSR1). */
	if (getenv("WF_SHM_TEST_STALL") && *getenv("WF_SHM_TEST_STALL")) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_resume;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
		fprintf(stderr, "%s: WF_SHM_TEST_STALL: image '%s' filled, not published; waiting\n", prog,
		        name);
		while (!interrupted && !resume)
			pause();
	}
	if (interrupted)
		die("interrupted; image '%s' %s", name, abort_image(&b));
	/* The name goes out before the image is published, so a failed write
	 * (a full disk) leaves nothing behind; a reader that has gone (EPIPE)
	 * does not stop the load. */
	int reader_gone = 0;
	if (printf("%s\n", name) < 0 || fflush(stdout) != 0) {
		int e = errno;
		if (e != EPIPE)
			die("write error on standard output: %s; image '%s' %s", strerror(e), name,
			    abort_image(&b));
		reader_gone = 1;
	}
	if (wf_image_publish(&b, err, sizeof err) < 0) {
		wf_image_abort(&b);
		die("%s", err);
	}
	if (mark_default && wf_image_set_default(name, err, sizeof err) < 0)
		die("image '%s' loaded, but marking it the default failed: %s", name, err);
	if (reader_gone)
		_exit(0); /* as cli_exit on EPIPE, without writing the name again */
	return cli_exit(0);
}

/* Parse options of a command that takes only --help (and maybe one flag). */
static void plain_opts(int argc, char **argv, const char *flag, int *flag_set)
{
	struct option opts[3] = {
		{ "help", no_argument, NULL, 'h' },
		{ flag ? flag : "help", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': printf("usage: %s\n", USAGE); cli_exit(0); break;
		case 'f': *flag_set = 1; break;
		default: usage_only();
		}
	}
}

static void print_row(const struct wf_image_info *in, int is_default)
{
	const char *src = in->have_header && in->hdr.src_path[0] ? in->hdr.src_path : "-";
	if (printf("%c %-20s %12lld %-10s %s\n", is_default ? '*' : ' ', in->name,
	           (long long)in->st.st_size, wf_image_state_name(in->state), src) < 0)
		cli_stdout_failed();
}

static int cmd_ls(int argc, char **argv)
{
	char **names = NULL, err[512], def[WF_IMAGE_NAME_MAX + 1];
	size_t n, i;
	int status = 0, unused = 0;
	struct wf_image_info in;

	plain_opts(argc, argv, NULL, &unused);
	if (wf_image_get_default(def, sizeof def, err, sizeof err) != 1)
		def[0] = '\0';
	if (optind < argc) {
		for (i = (size_t)optind; i < (size_t)argc; i++)
			if (wf_image_name_ok(argv[i], err, sizeof err) < 0)
				usage_die("%s", err);
	} else if (wf_image_list(&names, &n, err, sizeof err) < 0) {
		die("%s", err);
	}
	printf("  %-20s %12s %-10s %s\n", "NAME", "SIZE", "STATE", "SOURCE");
	if (optind < argc) {
		for (i = (size_t)optind; i < (size_t)argc; i++) {
			if (wf_image_inspect(argv[i], &in, err, sizeof err) < 0)
				status = error("%s", err);
			else
				print_row(&in, strcmp(in.name, def) == 0);
		}
	} else {
		for (i = 0; i < n; i++)
			if (wf_image_inspect(names[i], &in, err, sizeof err) == 0)
				print_row(&in, strcmp(in.name, def) == 0);
		free(names);
	}
	return cli_exit(status ? 1 : 0);
}

static void fmt_time(int64_t sec, int64_t nsec, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)sec;
	char d[64];
	if (!localtime_r(&t, &tm) || !strftime(d, sizeof d, "%Y-%m-%d %H:%M:%S", &tm)) {
		snprintf(buf, len, "%lld.%09lld", (long long)sec, (long long)nsec);
		return;
	}
	snprintf(buf, len, "%s.%09lld", d, (long long)nsec);
	if (strftime(d, sizeof d, " %z", &tm))
		snprintf(buf + strlen(buf), len - strlen(buf), "%s", d);
}

static void print_info(const struct wf_image_info *in, int is_default)
{
	const struct wf_image_header *h = &in->hdr;
	struct passwd *pw = getpwuid(in->st.st_uid);
	char t[96];

	printf("name:           %s\n", in->name);
	printf("object:         %s%s (%s/wf.%s)\n", WF_IMAGE_PREFIX, in->name, WF_IMAGE_DIR, in->name);
	printf("state:          %s\n", wf_image_state_name(in->state));
	if (in->reason[0])
		printf("reason:         %s\n", in->reason);
	printf("default:        %s\n", is_default ? "yes" : "no");
	if (pw)
		printf("owner:          %s (uid %lu)\n", pw->pw_name, (unsigned long)in->st.st_uid);
	else
		printf("owner:          uid %lu\n", (unsigned long)in->st.st_uid);
	printf("mode:           %04o\n", (unsigned)(in->st.st_mode & 07777));
	printf("size:           %lld bytes\n", (long long)in->st.st_size);
	if (!in->have_header)
		return;
	printf("format:         %s version %u, header %u bytes\n", WF_IMAGE_MAGIC, h->version, h->header_size);
	printf("ready flag:     %s\n", atomic_load_explicit(&h->ready, memory_order_relaxed) == WF_IMAGE_READY
	                                   ? "set" : "not set");
	printf("total size:     %llu bytes\n", (unsigned long long)h->total_size);
	printf("payload:        %s, offset %llu, %llu bytes\n",
	       h->payload_kind == WF_IMAGE_PAYLOAD_GGUF       ? "gguf"
	       : h->payload_kind == WF_IMAGE_PAYLOAD_REPACKED ? "repacked gguf"
	                                                       : "unknown kind",
	       (unsigned long long)h->payload_offset, (unsigned long long)h->payload_size);
	printf("source:         %s\n", h->src_path[0] ? h->src_path : "-");
	printf("source device:  %llu\n", (unsigned long long)h->src_dev);
	printf("source inode:   %llu\n", (unsigned long long)h->src_ino);
	printf("source size:    %llu bytes\n", (unsigned long long)h->src_size);
	fmt_time(h->src_mtime_sec, h->src_mtime_nsec, t, sizeof t);
	printf("source mtime:   %s\n", t);
	printf("loader pid:     %lld\n", (long long)h->creator_pid);
	fmt_time(h->created_sec, h->created_nsec, t, sizeof t);
	printf("created:        %s\n", t);
}

static int cmd_info(int argc, char **argv)
{
	char err[512], def[WF_IMAGE_NAME_MAX + 1];
	struct wf_image_info in;
	int status = 0, unused = 0, i;

	plain_opts(argc, argv, NULL, &unused);
	if (optind >= argc)
		usage_die("info: no image name");
	if (wf_image_get_default(def, sizeof def, err, sizeof err) != 1)
		def[0] = '\0';
	for (i = optind; i < argc; i++) {
		if (wf_image_name_ok(argv[i], err, sizeof err) < 0)
			usage_die("%s", err);
	}
	for (i = optind; i < argc; i++) {
		if (wf_image_inspect(argv[i], &in, err, sizeof err) < 0) {
			status = error("%s", err);
			continue;
		}
		if (i > optind)
			putchar('\n');
		print_info(&in, strcmp(in.name, def) == 0);
	}
	return cli_exit(status ? 1 : 0);
}

static int cmd_rm(int argc, char **argv)
{
	char **names, err[512];
	size_t n, i;
	int stale = 0, status = 0, k;
	struct wf_image_info in;

	plain_opts(argc, argv, "stale", &stale);
	if (stale) {
		/* With names, only those are candidates; without, every image. */
		if (optind < argc) {
			for (k = optind; k < argc; k++)
				if (wf_image_name_ok(argv[k], err, sizeof err) < 0)
					usage_die("%s", err);
			names = argv + optind;
			n = (size_t)(argc - optind);
		} else if (wf_image_list(&names, &n, err, sizeof err) < 0) {
			die("%s", err);
		}
		for (i = 0; i < n; i++) {
			if (wf_image_inspect(names[i], &in, err, sizeof err) < 0) {
				if (optind < argc) /* a named image must exist, as for plain rm */
					status = error("%s", err);
				continue;
			}
			if (in.st.st_uid != geteuid())
				continue;
			if (in.state != WF_IMAGE_STATE_STALE && in.state != WF_IMAGE_STATE_DAMAGED)
				continue;
			if (wf_image_remove(names[i], err, sizeof err) < 0)
				status = error("%s", err);
			else if (printf("%s\n", names[i]) < 0)
				cli_stdout_failed();
		}
		if (optind == argc)
			free(names);
		return cli_exit(status ? 1 : 0);
	}
	if (optind >= argc)
		usage_die("rm: no image name (or --stale)");
	for (k = optind; k < argc; k++)
		if (wf_image_name_ok(argv[k], err, sizeof err) < 0)
			usage_die("%s", err);
	for (k = optind; k < argc; k++)
		if (wf_image_remove(argv[k], err, sizeof err) < 0)
			status = error("%s", err);
	return cli_exit(status ? 1 : 0);
}

static int cmd_default(int argc, char **argv)
{
	char err[512], def[WF_IMAGE_NAME_MAX + 1];
	struct wf_image_info in;
	int clear = 0, r;

	plain_opts(argc, argv, "clear", &clear);
	if (clear) {
		if (optind < argc)
			usage_die("default --clear takes no name");
		if (wf_image_clear_default(err, sizeof err) < 0)
			die("%s", err);
		return cli_exit(0);
	}
	if (argc - optind > 1)
		usage_die("default takes at most one name");
	if (optind == argc) {
		r = wf_image_get_default(def, sizeof def, err, sizeof err);
		if (r < 0)
			die("%s", err);
		if (r == 0)
			die("no default image");
		printf("%s\n", def);
		return cli_exit(0);
	}
	if (wf_image_name_ok(argv[optind], err, sizeof err) < 0)
		usage_die("%s", err);
	if (wf_image_inspect(argv[optind], &in, err, sizeof err) < 0)
		die("%s", err);
	if (wf_image_set_default(argv[optind], err, sizeof err) < 0)
		die("%s", err);
	return cli_exit(0);
}

int main(int argc, char **argv)
{
	static char cmdname[64];
	const char *cmd;
	cli_init(argc, argv, USAGE);
	if (argc < 2)
		usage_die("no command");
	cmd = argv[1];
	/* Each command parses argv[1..] with its name in the argv[0] slot. */
	argc--;
	argv++;
	snprintf(cmdname, sizeof cmdname, "%s %.16s", prog, cmd);
	argv[0] = cmdname; /* getopt's messages then name "wf-shm load" */
	optind = 1;
	if (strcmp(cmd, "load") == 0)
		return cmd_load(argc, argv);
	if (strcmp(cmd, "ls") == 0)
		return cmd_ls(argc, argv);
	if (strcmp(cmd, "info") == 0)
		return cmd_info(argc, argv);
	if (strcmp(cmd, "rm") == 0)
		return cmd_rm(argc, argv);
	if (strcmp(cmd, "default") == 0)
		return cmd_default(argc, argv);
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		printf("usage: %s\n", USAGE);
		return cli_exit(0);
	}
	usage_die("unknown command '%s'", cmd);
}
