/*
 * cli-model.h — the start-up shared by the programs that run a model
 * (wf-decode, wf-bench, wf-serve): choose the kernels for this CPU,
 * resolve -m (a file, an image, $WF_MODEL or the default image; see
 * wf_model_open in lib/image.h), parse the GGUF and bind the model.
 * Header-only like cli.h; include it after cli.h.
 */
#ifndef WF_CLI_MODEL_H
#define WF_CLI_MODEL_H

#include <string.h>

#include "gguf.h"
#include "image.h"
#include "kernels.h"
#include "model.h"

/*
 * The model named by arg (NULL: $WF_MODEL or the default image), bound
 * with activation act (WF_ACT_DEFAULT: as the file says).  src and g are
 * filled and must outlive the model (free it, then wf_gguf_free(g) and
 * wf_model_close(src)).  Any failure dies: "prog: NAME: message".
 */
static inline struct wf_model *cli_model_load(const char *arg, int act, struct wf_model_src *src,
                                              struct wf_gguf *g)
{
	char err[512];
	if (wf_kernels_init(NULL, err, sizeof err) < 0)
		die("%s", err);
	memset(src, 0, sizeof *src);
	if (wf_model_open(arg, src, err, sizeof err) < 0)
		die("%s", err);
	if (wf_gguf_parse(g, src->base, src->size, err, sizeof err) < 0)
		die("%s: %s", src->name, err);
	struct wf_model_opts mo = {.act = act};
	struct wf_model *m = wf_model_load(g, &mo, err, sizeof err);
	if (!m)
		die("%s: %s", src->name, err);
	return m;
}

#endif
