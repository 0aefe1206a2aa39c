/*
 * image_sink NAME ok|short|garbage — build image NAME the way a repacking
 * loader will: wf_image_create() for the writer's size, the GGUF written
 * straight into the payload through wf_image_sink(), wf_image_publish().
 *   ok       a valid GGUF: published, prints "published NAME BYTES"
 *   short    the tensor data stops early: publish refuses, abort removes it
 *   garbage  the payload is filled with bytes that are not GGUF: refused
 * Errors: "image_sink: MESSAGE", exit 1.
 */
#include "gguf.h"
#include "image.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct wf_gguf_writer *w;
	struct wf_image_builder b;
	int64_t ne[2] = { 32, 8 };
	float row[32 * 8];
	uint64_t size;
	char err[512];
	int i;

	if (argc != 3) {
		fprintf(stderr, "usage: image_sink NAME ok|short|garbage\n");
		return 2;
	}
	for (i = 0; i < 32 * 8; i++)
		row[i] = (float)i;
	w = wf_gguf_writer_new();
	wf_gguf_writer_str(w, "general.architecture", "wf-test");
	wf_gguf_writer_tensor(w, "t", WF_TYPE_F32, ne, 2);
	if (wf_gguf_writer_error(w)[0]) {
		fprintf(stderr, "image_sink: %s\n", wf_gguf_writer_error(w));
		return 1;
	}
	size = wf_gguf_writer_size(w);
	if (wf_image_create(&b, argv[1], 0600, size, WF_IMAGE_PAYLOAD_REPACKED, NULL, NULL, err,
	                    sizeof err) < 0) {
		fprintf(stderr, "image_sink: %s\n", err);
		return 1;
	}
	if (strcmp(argv[2], "garbage") == 0) {
		memset(b.payload, 'x', (size_t)size);
	} else {
		size_t n = strcmp(argv[2], "short") == 0 ? sizeof row / 2 : sizeof row;
		if (wf_gguf_writer_begin(w, wf_image_sink, &b) < 0 || wf_gguf_writer_data(w, row, n) < 0) {
			fprintf(stderr, "image_sink: %s\n", wf_gguf_writer_error(w));
			wf_image_abort(&b);
			return 1;
		}
	}
	wf_gguf_writer_free(w);
	if (wf_image_publish(&b, err, sizeof err) < 0) {
		fprintf(stderr, "image_sink: %s\n", err);
		wf_image_abort(&b);
		return 1;
	}
	wf_image_abort(&b); /* after publish: only releases */
	printf("published %s %llu\n", argv[1], (unsigned long long)size);
	return 0;
}
