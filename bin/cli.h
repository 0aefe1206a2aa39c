/*
 * cli.h — the conventions every wf program shares (git's die/error style).
 * Header-only and static: each program is one file plus this.
 *
 *   prog      set once from argv[0]'s basename by cli_init()
 *   die()     "prog: message\n" on stderr, exit 1 (runtime/data error)
 *   usage_die() "prog: message\n" + usage line, exit 2 (usage error)
 *   error()   "prog: message\n" on stderr, returns -1, continues
 *   parse_long(), parse_float() read option values or usage_die()
 *   cli_exit() flushes and checks stdout so a full disk is an error at exit;
 *             EPIPE on stdout ends the program quietly, as head(1) expects.
 */
#ifndef WF_CLI_H
#define WF_CLI_H

/* Not every program uses every helper. */
#if defined(__GNUC__)
#define CLI_UNUSED __attribute__((unused))
#else
#define CLI_UNUSED
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

CLI_UNUSED static const char *prog = "wf";
CLI_UNUSED static const char *cli_usage_text = "";

CLI_UNUSED static void cli_init(int argc, char **argv, const char *usage)
{
	(void)argc;
	if (argv && argv[0]) {
		const char *s = strrchr(argv[0], '/');
		prog = s ? s + 1 : argv[0];
	}
	cli_usage_text = usage;
	/* A closed pipe is reported by write() as EPIPE, handled at each check;
	 * past the file size limit a write fails with EFBIG, reported the same way. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	/* A standard descriptor the caller closed stays unusable, and taken: the
	 * model file must not be opened as stdin (and read as input) or stdout.
	 * /dev/null opened the other way round makes its reads or writes fail
	 * with EBADF. */
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int k = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
			if (k >= 0 && k != fd) /* only if the lower ones are taken already */
				close(k);
		}
}

CLI_UNUSED static void cli_vmsg(const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2), noreturn))
#endif
CLI_UNUSED static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cli_vmsg(fmt, ap);
	va_end(ap);
	exit(1);
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2), noreturn))
#endif
CLI_UNUSED static void usage_die(const char *fmt, ...)
{
	va_list ap;
	if (fmt && *fmt) {
		va_start(ap, fmt);
		cli_vmsg(fmt, ap);
		va_end(ap);
	}
	fprintf(stderr, "usage: %s\n", cli_usage_text);
	exit(2);
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
CLI_UNUSED static int error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cli_vmsg(fmt, ap);
	va_end(ap);
	return -1;
}

/* The integer option value s of option opt, in [lo, hi], or usage_die. */
CLI_UNUSED static long parse_long(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		usage_die("%s: '%s' is not an integer in [%ld, %ld]", opt, s, lo, hi);
	return v;
}

/* The finite number s of option opt, or usage_die. */
CLI_UNUSED static float parse_float(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	float v = strtof(s, &end);
	/* ERANGE: an overflow (infinite, refused below) or an underflow (a
	 * tiny number rounded towards 0, accepted) */
	if ((errno && errno != ERANGE) || end == s || *end || !(v - v == 0))
		usage_die("%s: '%s' is not a number", opt, s);
	return v;
}

/* Call after a failed write to stdout: EPIPE ends quietly, else die. */
CLI_UNUSED static void cli_stdout_failed(void)
{
	if (errno == EPIPE)
		_exit(0);
	die("write error on standard output: %s", strerror(errno));
}

/* Flush stdout and make a write error (disk full) the exit status. */
CLI_UNUSED static int cli_exit(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			_exit(status);
		fprintf(stderr, "%s: write error on standard output: %s\n", prog, strerror(errno));
		exit(1);
	}
	if (fclose(stdout) != 0 && errno != EPIPE) {
		fprintf(stderr, "%s: write error on standard output: %s\n", prog, strerror(errno));
		exit(1);
	}
	exit(status);
}

#endif
