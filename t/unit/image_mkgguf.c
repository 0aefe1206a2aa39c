/*
 * image_mkgguf FILE [BYTES] — write a small valid GGUF through the writer in
 * lib/gguf.h: general.architecture "wf-test" and one F32 tensor "t" whose
 * data is about BYTES long (default 1 MiB, so an image of it spans many
 * pages).  The values are a fixed function of the index, so two runs give
 * the same file.  t/shm.bats loads it into images.
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct wf_gguf_writer *w;
	uint64_t bytes = (uint64_t)1 << 20, n, i;
	int64_t ne[2];
	float buf[1024];
	int fd;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: image_mkgguf FILE [BYTES]\n");
		return 2;
	}
	if (argc == 3)
		bytes = strtoull(argv[2], NULL, 10);
	n = bytes / 4 / 64 * 64;
	if (n < 64)
		n = 64;
	ne[0] = 64;
	ne[1] = (int64_t)(n / 64);
	w = wf_gguf_writer_new();
	if (!w) {
		fprintf(stderr, "image_mkgguf: out of memory\n");
		return 1;
	}
	wf_gguf_writer_str(w, "general.architecture", "wf-test");
	wf_gguf_writer_u32(w, "wf-test.rows", (uint32_t)ne[1]);
	wf_gguf_writer_tensor(w, "t", WF_TYPE_F32, ne, 2);
	if (wf_gguf_writer_error(w)[0]) {
		fprintf(stderr, "image_mkgguf: %s\n", wf_gguf_writer_error(w));
		return 1;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "image_mkgguf: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (wf_gguf_writer_begin(w, wf_gguf_sink_fd, &fd) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		buf[i % 1024] = (float)(i % 251) - 125.0f;
		if (i % 1024 == 1023 || i == n - 1)
			if (wf_gguf_writer_data(w, buf, (i % 1024 + 1) * sizeof *buf) < 0)
				goto fail;
	}
	if (wf_gguf_writer_finish(w) < 0)
		goto fail;
	wf_gguf_writer_free(w);
	if (close(fd) < 0) {
		fprintf(stderr, "image_mkgguf: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	return 0;
fail:
	fprintf(stderr, "image_mkgguf: %s: %s\n", argv[1], wf_gguf_writer_error(w));
	wf_gguf_writer_free(w);
	close(fd);
	return 1;
}
