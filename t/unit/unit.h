/*
 * unit.h — what the C unit tests share: a GGUF file mapped and parsed,
 * and a model bound from one.  Header-only; every test is one file plus
 * this.  Failures print "PATH: why" on stderr and exit with the caller's
 * status (each test keeps its own).
 */
#ifndef WF_UNIT_H
#define WF_UNIT_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "kernels.h"
#include "model.h"

/* Files parsed by unit_gguf, unmapped and freed at exit (so the leak
 * checker, which runs after, sees nothing). */
static struct {
	struct wf_gguf g;    /* a copy: the caller's may live on main's stack */
	void *map;
	size_t size;
} unit_open_[8] __attribute__((unused));
static int unit_n_open_ __attribute__((unused));

static void unit_close_all_(void)
{
	for (int i = 0; i < unit_n_open_; i++) {
		wf_gguf_free(&unit_open_[i].g);
		munmap(unit_open_[i].map, unit_open_[i].size);
	}
}

/* Map path read-only and parse it into *g, whose arrays stay valid until
 * exit, when they are freed (do not free them); at most 8 per test. */
static inline void unit_gguf(const char *path, struct wf_gguf *g, int status)
{
	char err[512];
	struct stat st;
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		exit(status);
	}
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		perror(path);
		exit(status);
	}
	close(fd);
	if (wf_gguf_parse(g, map, (size_t)st.st_size, err, sizeof err) < 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		exit(status);
	}
	if (unit_n_open_ == (int)(sizeof unit_open_ / sizeof unit_open_[0])) {
		fprintf(stderr, "%s: more than 8 files in one test\n", path);
		exit(status);
	}
	if (unit_n_open_ == 0)
		atexit(unit_close_all_);
	unit_open_[unit_n_open_].g = *g;
	unit_open_[unit_n_open_].map = map;
	unit_open_[unit_n_open_++].size = (size_t)st.st_size;
}

/* The kernels for this CPU, then the model in path (parsed into *g as
 * unit_gguf does) bound with default options; free it with wf_model_free. */
static inline struct wf_model *unit_model(const char *path, struct wf_gguf *g, int status)
{
	char err[512];
	if (wf_kernels_init(NULL, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(status);
	}
	unit_gguf(path, g, status);
	struct wf_model *m = wf_model_load(g, NULL, err, sizeof err);
	if (!m) {
		fprintf(stderr, "%s: %s\n", path, err);
		exit(status);
	}
	return m;
}

#endif
