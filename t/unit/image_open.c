/*
 * image_open [ARG] — resolve a model as every program does
 * (wf_model_open with ARG as the -m value, or NULL without ARG), parse it
 * and print one line:
 *   name=DISPLAY kind=image|file image=NAME|- size=BYTES tensors=N
 * Errors: "image_open: MESSAGE", exit 1.
 */
#include "gguf.h"
#include "image.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	struct wf_model_src src;
	struct wf_gguf g;
	char err[1024];

	if (argc > 2) {
		fprintf(stderr, "usage: image_open [MODEL]\n");
		return 2;
	}
	if (wf_model_open(argc == 2 ? argv[1] : NULL, &src, err, sizeof err) < 0) {
		fprintf(stderr, "image_open: %s\n", err);
		return 1;
	}
	if (wf_gguf_parse(&g, src.base, src.size, err, sizeof err) < 0) {
		fprintf(stderr, "image_open: %s: %s\n", src.name, err);
		wf_model_close(&src);
		return 1;
	}
	printf("name=%s kind=%s image=%s size=%zu tensors=%llu\n", src.name, src.is_image ? "image" : "file",
	       src.is_image ? src.image : "-", src.size, (unsigned long long)g.n_tensors);
	wf_gguf_free(&g);
	wf_model_close(&src);
	return 0;
}
