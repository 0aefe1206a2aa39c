/*
 * model — binding a BitNet b1.58 GGUF and the forward pass (see model.h).
 */
#include "model.h"
#include "errf.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels.h"
#include "pool.h"
#include "ternary.h"

#define OUT_ROWS 64 /* output-matrix rows per block for several tokens: 64 x 2560 Q8_0 = 174 KB */

/* A matrix of floats [rows][cols]: F32 (f32) or F16 (f16) data. */
struct fmat {
	int rows, cols;
	const float *f32;
	const uint16_t *f16;
	const uint8_t *q8;   /* output matrix only: a file's Q8_0 rows (kernels.h), used when set */
	struct wf_q8r q8r;   /* output matrix only: wf's 8-bit copy (kernels.h), used when q8r.q is set */
};

/* Low-rank correction of one linear: out += U (V x), x the float input. */
struct lrc {
	int rank;          /* 0: none */
	const float *u;    /* [out][rank] */
	const float *v;    /* [rank][in] */
};

enum { LQ, LK, LV, LO, LG, LU, LD, NLIN };

struct layer {
	const float *attn_norm, *attn_sub_norm, *ffn_norm, *ffn_sub_norm;
	struct wf_tmat wq, wk, wv, wo, wg, wu, wd;
	struct lrc lrc[NLIN];
	/* MoE layers: router [n_expert][H] and per-expert matrices. */
	int moe;
	const float *router;
	struct wf_tmat *eg, *eu, *ed;
};

struct wf_model {
	struct wf_hparams hp;
	int check_only;              /* wf_model_opts.check_only: nothing decoded */
	const struct wf_gguf *g;
	struct layer *layers;
	struct fmat embd, out;
	const float *output_norm;
	int max_rank;      /* largest LRC rank, 0 without LRC */
	struct tm_entry { char name[WF_GGUF_MAX_NAME + 16]; const struct wf_tmat *w; } *tms;
	size_t n_tms, cap_tms;
	void **allocs; /* private memory, freed with the model */
	size_t n_allocs, cap_allocs;
	uint8_t *arena;    /* packed matrices below ARENA_MIN share huge-page blocks */
	size_t arena_left;
};

int wf_act_parse(const char *s)
{
	if (!strcmp(s, "relu2") || !strcmp(s, "relu_sqr") || !strcmp(s, "relu²"))
		return WF_ACT_RELU2;
	if (!strcmp(s, "silu") || !strcmp(s, "swiglu"))
		return WF_ACT_SILU;
	return -1;
}

const char *wf_act_name(int act)
{
	return act == WF_ACT_SILU ? "silu" : act == WF_ACT_RELU2 ? "relu2" : "default";
}

/* ---------------------------------------------------------------------- */
/* Loading. */

static void *model_alloc(struct wf_model *m, size_t n, char *err, size_t errlen)
{
	void *p = NULL;
	if (m->n_allocs == m->cap_allocs) {
		size_t cap = m->cap_allocs ? 2 * m->cap_allocs : 64;
		void **a = realloc(m->allocs, cap * sizeof *a);
		if (!a)
			goto oom;
		m->allocs = a;
		m->cap_allocs = cap;
	}
	/* Large blocks (packed weights) on 2 MiB boundaries with transparent huge
	 * pages where the system allows: streaming them is TLB-bound otherwise
	 * (bench/bandwidth.sh: about 24 against 31 GB/s from one thread). */
	size_t al = n >= (4u << 20) ? (2u << 20) : 64;
	if (posix_memalign(&p, al, n ? n : 1) != 0)
		goto oom;
#ifdef MADV_HUGEPAGE
	if (al > 64)
		madvise(p, n, MADV_HUGEPAGE);
#endif
	m->allocs[m->n_allocs++] = p;
	return p;
oom:
	wf_errf(err, errlen, "out of memory (%zu bytes)", n);
	return NULL;
}

/*
 * n bytes (64-aligned) for a packed matrix.  Matrices under ARENA_MIN bytes
 * (q, k, v, o of 2B-4T: 0.4-1.6 MB) are cut from shared ARENA-byte blocks so
 * they too sit on transparent huge pages: with 4 KiB pages the vector
 * kernel streamed at about 26 GB/s in the model (perf, 2B-4T tg64, one
 * thread, Zen 5, 2026-12-04) against 37 GB/s in kernels_bench.  Unused
 * block tails are never touched, so they cost address space only.
 */
#define ARENA (32u << 20)
#define ARENA_MIN (4u << 20)
static void *packed_alloc(struct wf_model *m, size_t n, char *err, size_t errlen)
{
	n = (n + 63) / 64 * 64;
	if (n >= ARENA_MIN)
		return model_alloc(m, n, err, errlen);
	if (m->arena_left < n) {
		if (!(m->arena = model_alloc(m, ARENA, err, errlen)))
			return NULL;
		m->arena_left = ARENA;
	}
	void *p = m->arena;
	m->arena += n;
	m->arena_left -= n;
	return p;
}

/* Remember the packed matrix w under name (for wf_model_tmat). */
static int reg_tmat(struct wf_model *m, const char *name, const struct wf_tmat *w, char *err, size_t errlen)
{
	if (m->n_tms == m->cap_tms) {
		size_t cap = m->cap_tms ? 2 * m->cap_tms : 256;
		struct tm_entry *t = realloc(m->tms, cap * sizeof *t);
		if (!t) {
			wf_errf(err, errlen, "out of memory");
			return -1;
		}
		m->tms = t;
		m->cap_tms = cap;
	}
	snprintf(m->tms[m->n_tms].name, sizeof m->tms[m->n_tms].name, "%s", name);
	m->tms[m->n_tms++].w = w;
	return 0;
}

static void shape_str(char *buf, size_t len, const int64_t *ne, uint32_t n_dims)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, len - o, "[");
	for (uint32_t i = 0; i < n_dims && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

/*
 * Tensor name with shape [ne0] (ne1 == 0) or [ne0, ne1]; NULL if absent
 * and optional, else an error naming the expected shape.
 */
static const struct wf_gguf_tensor *tensor(const struct wf_gguf *g, const char *name, int64_t ne0,
                                           int64_t ne1, int required, int *fail, char *err,
                                           size_t errlen)
{
	const struct wf_gguf_tensor *t = wf_gguf_tensor(g, name);
	int64_t want[2] = {ne0, ne1};
	uint32_t nd = ne1 ? 2 : 1;
	char ws[64], fs[96];
	shape_str(ws, sizeof ws, want, nd);
	if (!t) {
		if (required) {
			wf_errf(err, errlen, "tensor '%s' is missing (expected %s)", name, ws);
			*fail = 1;
		}
		return NULL;
	}
	int ok = t->ne[0] == ne0 && t->ne[1] == (ne1 ? ne1 : 1) && t->ne[2] == 1 && t->ne[3] == 1;
	if (!ok) {
		shape_str(fs, sizeof fs, t->ne, t->n_dims);
		wf_errf(err, errlen, "tensor '%s': expected %s, found %s", name, ws, fs);
		*fail = 1;
		return NULL;
	}
	return t;
}

/* A float vector [n] (norm weights) as private F32. */
static const float *load_vec(struct wf_model *m, const char *name, int n, char *err, size_t errlen)
{
	int fail = 0;
	const struct wf_gguf_tensor *t = tensor(m->g, name, n, 0, 1, &fail, err, errlen);
	if (!t)
		return NULL;
	float *v = model_alloc(m, (size_t)n * sizeof *v, err, errlen);
	if (!v)
		return NULL;
	const uint8_t *d = t->data;
	for (int i = 0; i < n; i++) {
		if (t->type == WF_TYPE_F32) {
			memcpy(&v[i], d + 4 * (size_t)i, 4);
		} else if (t->type == WF_TYPE_F16 || t->type == WF_TYPE_BF16) {
			uint16_t h;
			memcpy(&h, d + 2 * (size_t)i, 2);
			v[i] = t->type == WF_TYPE_F16 ? wf_f16_to_f32(h) : wf_bf16_to_f32(h);
		} else {
			wf_errf(err, errlen, "tensor '%s': type %s is not supported (F32, F16, BF16)", name,
			       wf_ggml_type_name(t->type));
			return NULL;
		}
	}
	return v;
}

/* A float matrix [rows][cols]: F32 and F16 used in place when aligned,
 * BF16 (or misaligned data) converted to private F32. */
static int load_fmat(struct wf_model *m, const struct wf_gguf_tensor *t, struct fmat *f, char *err,
                     size_t errlen)
{
	f->rows = (int)t->ne[1];
	f->cols = (int)t->ne[0];
	size_t n = (size_t)f->rows * (size_t)f->cols;
	uintptr_t a = (uintptr_t)t->data;
	if (t->type == WF_TYPE_F16 && a % 2 == 0) {
		f->f16 = (const uint16_t *)(const void *)t->data;
		return 0;
	}
	if (t->type == WF_TYPE_F32 && a % 4 == 0) {
		f->f32 = (const float *)(const void *)t->data;
		return 0;
	}
	if (t->type != WF_TYPE_F32 && t->type != WF_TYPE_F16 && t->type != WF_TYPE_BF16) {
		wf_errf(err, errlen, "tensor '%s': type %s is not supported (F32, F16, BF16)", t->name,
		       wf_ggml_type_name(t->type));
		return -1;
	}
	if (m->check_only)
		return 0;
	float *v = model_alloc(m, n * sizeof *v, err, errlen);
	if (!v)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (t->type == WF_TYPE_F32) {
			memcpy(&v[i], t->data + 4 * i, 4);
		} else {
			uint16_t h;
			memcpy(&h, t->data + 2 * i, 2);
			v[i] = t->type == WF_TYPE_F16 ? wf_f16_to_f32(h) : wf_bf16_to_f32(h);
		}
	}
	f->f32 = v;
	return 0;
}

/* One ternary tensor to decode and pack (run in parallel at the end of the load). */
struct pack_job {
	struct wf_gguf_tensor t;  /* the tensor (or a 2-D view of it) */
	int64_t row0;             /* first row of t to pack */
	int rows, cols;
	float mult;               /* the `.scale` tensor's value, or 1 */
	struct wf_tmat *w;        /* receives the scale */
	uint8_t *dst;
	char err[256];
};

struct loader {
	struct wf_model *m;
	const struct wf_model_opts *o;
	struct pack_job *jobs;
	size_t n_jobs, cap_jobs;
	_Atomic size_t next;      /* next job to claim */
};

/* Rows decoded at a time: their trits (64 x cols bytes) stay in L2 on the
 * way to the packed layout, instead of a whole tensor's going through memory. */
#define PACK_ROWS 64

static void pack_worker(void *arg, int ith, int nth)
{
	struct loader *L = arg;
	int8_t *trits = NULL;
	size_t cap = 0;
	(void)ith, (void)nth;
	for (;;) {
		size_t i = atomic_fetch_add(&L->next, 1);
		if (i >= L->n_jobs)
			break;
		struct pack_job *j = &L->jobs[i];
		int chunk = j->rows < PACK_ROWS ? j->rows : PACK_ROWS;
		size_t n = (size_t)chunk * (size_t)j->cols;
		float scale;
		if (n > cap) {
			int8_t *tr = realloc(trits, n);
			if (!tr) {
				snprintf(j->err, sizeof j->err, "out of memory (%zu bytes)", n);
				continue;
			}
			trits = tr;
			cap = n;
		}
		if (wf_ternary_scale(&j->t, &scale, j->err, sizeof j->err) < 0)
			continue;
		int r = 0;
		for (; r < j->rows; r += chunk) {
			int nr = j->rows - r < chunk ? j->rows - r : chunk;
			/* chunk is a multiple of the 4-row group: whole groups before r */
			if (wf_ternary_tmat_rows(&j->t, scale, j->row0 + r, j->row0 + r + nr, trits,
			                         j->dst + wf_tmat_packed_size(r, j->cols), j->err,
			                         sizeof j->err) < 0)
				break;
		}
		if (r < j->rows)
			continue;
		j->w->scale = scale * j->mult;
		if (!isfinite(j->w->scale))
			snprintf(j->err, sizeof j->err, "tensor '%s': scale is not finite", j->t.name);
	}
	free(trits);
}

/* Decode and pack every queued tensor on all cores. */
static int run_pack_jobs(struct loader *L, char *err, size_t errlen)
{
	if (!L->n_jobs)
		return 0;
	struct wf_pool *pool = wf_pool_new(0, err, errlen);
	if (!pool)
		return -1;
	atomic_store(&L->next, 0);
	wf_pool_run(pool, pack_worker, L);
	wf_pool_free(pool);
	for (size_t i = 0; i < L->n_jobs; i++) {
		if (L->jobs[i].err[0]) {
			wf_errf(err, errlen, "%s", L->jobs[i].err);
			return -1;
		}
	}
	return 0;
}

static struct pack_job *new_job(struct loader *L, char *err, size_t errlen)
{
	if (L->n_jobs == L->cap_jobs) {
		size_t cap = L->cap_jobs ? 2 * L->cap_jobs : 64;
		struct pack_job *j = realloc(L->jobs, cap * sizeof *j);
		if (!j) {
			wf_errf(err, errlen, "out of memory");
			return NULL;
		}
		L->jobs = j;
		L->cap_jobs = cap;
	}
	struct pack_job *j = &L->jobs[L->n_jobs++];
	memset(j, 0, sizeof *j);
	return j;
}

/* Ternary weight `name` [cols, rows] into w, with an optional `.scale`. */
static int load_tmat(struct loader *L, const char *name, int cols, int rows, struct wf_tmat *w,
                     char *err, size_t errlen)
{
	struct wf_model *m = L->m;
	int fail = 0;
	const struct wf_gguf_tensor *t = tensor(m->g, name, cols, rows, 1, &fail, err, errlen);
	if (!t)
		return -1;
	if (t->type != WF_TYPE_WF_TMAT && !wf_ternary_type_ok(t->type)) {
		wf_errf(err, errlen, "tensor '%s': type %s is not a ternary weight format "
		       "(I2_S, TQ1_0, TQ2_0, F32, F16, BF16)", name, wf_ggml_type_name(t->type));
		return -1;
	}
	w->rows = rows;
	w->cols = cols;
	const uint8_t *data = NULL;
	float scale = 0;
	int r = 0, prepacked = 0;
	if (t->type == WF_TYPE_WF_TMAT) {
		/* already in the kernels' layout (a model image): bound in place,
		 * s_W in the trailer; a `.scale` tensor still applies below */
		data = t->data;
		memcpy(&scale, t->data + wf_tmat_packed_size(rows, cols), sizeof scale);
		prepacked = 1;
	} else if (L->o && L->o->packed) {
		r = L->o->packed(L->o->packed_ctx, name, rows, cols, &data, &scale, err, errlen);
		if (r < 0)
			return -1;
	}
	struct pack_job *job = NULL;
	if (r == 0 && !prepacked && wf_ternary_check(t, NULL, NULL, err, errlen) < 0)
		return -1;
	if (r == 0 && !prepacked && m->check_only) {
		scale = 1;
	} else if (r == 0 && !prepacked) {
		uint8_t *p = packed_alloc(m, wf_tmat_packed_size(rows, cols), err, errlen);
		if (!p || !(job = new_job(L, err, errlen)))
			return -1;
		job->t = *t;
		job->rows = rows;
		job->cols = cols;
		job->mult = 1;
		job->w = w;
		job->dst = p;
		data = p;
		scale = 1; /* set by the job */
	}
	/* Optional per-weight `.scale` [1]: multiplied after the product (folded
	 * into s_W; a pre-packed matrix's scale has it folded in already). */
	char sname[WF_GGUF_MAX_NAME + 8];
	size_t len = strlen(name);
	if (r == 0 && len > 7 && !strcmp(name + len - 7, ".weight")) {
		snprintf(sname, sizeof sname, "%.*s.scale", (int)(len - 7), name);
		const struct wf_gguf_tensor *st = wf_gguf_tensor(m->g, sname);
		if (st) {
			float sc;
			if (st->ne[0] * st->ne[1] * st->ne[2] * st->ne[3] != 1) {
				char fs[96];
				shape_str(fs, sizeof fs, st->ne, st->n_dims);
				wf_errf(err, errlen, "tensor '%s': expected [1], found %s", sname, fs);
				return -1;
			}
			if (st->type == WF_TYPE_F32) {
				memcpy(&sc, st->data, 4);
			} else if (st->type == WF_TYPE_F16 || st->type == WF_TYPE_BF16) {
				uint16_t h;
				memcpy(&h, st->data, 2);
				sc = st->type == WF_TYPE_F16 ? wf_f16_to_f32(h) : wf_bf16_to_f32(h);
			} else {
				wf_errf(err, errlen, "tensor '%s': type %s is not supported (F32, F16, BF16)",
				       sname, wf_ggml_type_name(st->type));
				return -1;
			}
			if (!isfinite(sc)) {
				wf_errf(err, errlen, "tensor '%s': scale is not finite", sname);
				return -1;
			}
			scale *= sc;
			if (job)
				job->mult = sc;
		}
	}
	if (!isfinite(scale)) {
		wf_errf(err, errlen, "tensor '%s': scale is not finite", name);
		return -1;
	}
	w->scale = scale;
	w->data = data;
	if (reg_tmat(m, name, w, err, errlen) < 0)
		return -1;
	m->hp.n_params += (uint64_t)rows * (uint64_t)cols;
	m->hp.n_bytes += t->nbytes;
	return 0;
}

/*
 * LRC of linear `base` ("blk.3.attn_q") with in/out sizes: optional tensors
 * base.lrc_v [in, rank] and base.lrc_u [rank, out] (F32/F16/BF16), both or
 * neither; rank from `<arch>.lrc_rank` when present, else from the tensors.
 */
static int load_lrc(struct wf_model *m, const char *base, int in, int out, struct lrc *L, char *err,
                    size_t errlen)
{
	char nu[160], nv[160];
	snprintf(nu, sizeof nu, "%.128s.lrc_u", base);
	snprintf(nv, sizeof nv, "%.128s.lrc_v", base);
	const struct wf_gguf_tensor *tu = wf_gguf_tensor(m->g, nu), *tv = wf_gguf_tensor(m->g, nv);
	if (!tu && !tv)
		return 0;
	if (!tu || !tv) {
		wf_errf(err, errlen, "tensor '%s' is missing (LRC needs both %s and %s)", tu ? nv : nu,
		       nu, nv);
		return -1;
	}
	int rank = m->hp.lrc_rank ? m->hp.lrc_rank : (int)tv->ne[1];
	if (rank < 1 || rank > in) {
		wf_errf(err, errlen, "tensor '%s': rank %d is out of range [1, %d]", nv, rank, in);
		return -1;
	}
	int fail = 0;
	if (!tensor(m->g, nv, in, rank, 1, &fail, err, errlen) ||
	    !tensor(m->g, nu, rank, out, 1, &fail, err, errlen))
		return -1;
	struct fmat fu = {0}, fv = {0};
	if (load_fmat(m, tu, &fu, err, errlen) < 0 || load_fmat(m, tv, &fv, err, errlen) < 0)
		return -1;
	/* F16 tensors are used in place by load_fmat: widen them here. */
	const float *uv[2] = {fu.f32, fv.f32};
	const struct fmat *fm[2] = {&fu, &fv};
	for (int k = 0; k < 2 && !m->check_only; k++) {
		if (fm[k]->f32)
			continue;
		size_t n = (size_t)fm[k]->rows * (size_t)fm[k]->cols;
		float *d = model_alloc(m, n * sizeof *d, err, errlen);
		if (!d)
			return -1;
		for (size_t i = 0; i < n; i++)
			d[i] = wf_f16_to_f32(fm[k]->f16[i]);
		uv[k] = d;
	}
	L->rank = rank;
	L->u = uv[0];
	L->v = uv[1];
	m->hp.n_bytes += tu->nbytes + tv->nbytes;
	if (rank > m->max_rank)
		m->max_rank = rank;
	return 0;
}

/* A 3-D tensor [ne0, ne1, ne2] (MoE experts), or an error naming the shape. */
static const struct wf_gguf_tensor *tensor3(const struct wf_gguf *g, const char *name, int64_t ne0,
                                            int64_t ne1, int64_t ne2, char *err, size_t errlen)
{
	const struct wf_gguf_tensor *t = wf_gguf_tensor(g, name);
	int64_t want[3] = {ne0, ne1, ne2};
	char ws[64], fs[96];
	shape_str(ws, sizeof ws, want, 3);
	if (!t) {
		wf_errf(err, errlen, "tensor '%s' is missing (expected %s)", name, ws);
		return NULL;
	}
	if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != ne2 || t->ne[3] != 1) {
		shape_str(fs, sizeof fs, t->ne, t->n_dims);
		wf_errf(err, errlen, "tensor '%s': expected %s, found %s", name, ws, fs);
		return NULL;
	}
	return t;
}

/* Experts of `name` [cols, rows, n]: one packed matrix each into w[n]. */
static int load_experts(struct loader *L, const char *name, int cols, int rows, int n, struct wf_tmat *w,
                        char *err, size_t errlen)
{
	struct wf_model *m = L->m;
	const struct wf_gguf_tensor *t = tensor3(m->g, name, cols, rows, n, err, errlen);
	if (!t)
		return -1;
	if (!wf_ternary_type_ok(t->type)) {
		wf_errf(err, errlen, "tensor '%s': type %s is not a ternary weight format "
		       "(I2_S, TQ1_0, TQ2_0, F32, F16, BF16)", name, wf_ggml_type_name(t->type));
		return -1;
	}
	/* I2_S has one scale for the whole 3-D tensor: a 2-D view [cols, rows * n]
	 * whose rows [e*rows, (e+1)*rows) are expert e.  Other types have a
	 * scale per block: each expert is its own view, with its own scale. */
	struct wf_gguf_tensor v = *t;
	v.ne[1] = (int64_t)rows * n;
	v.ne[2] = 1;
	v.n_dims = 2;
	if (wf_ternary_check(&v, NULL, NULL, err, errlen) < 0)
		return -1;
	uint64_t per = (uint64_t)rows * (uint64_t)cols;
	if (t->type != WF_TYPE_I2_S) {
		v.ne[1] = rows;
		v.nbytes = wf_ternary_tensor_bytes(t->type, per);
	}
	for (int e = 0; e < n; e++) {
		w[e].rows = rows;
		w[e].cols = cols;
		const uint8_t *data = NULL;
		float scale = 0;
		int r = 0;
		if (L->o && L->o->packed) {
			char pn[WF_GGUF_MAX_NAME + 16];
			snprintf(pn, sizeof pn, "%s#%d", name, e);
			r = L->o->packed(L->o->packed_ctx, pn, rows, cols, &data, &scale, err, errlen);
			if (r < 0)
				return -1;
		}
		if (r == 0 && m->check_only) {
			scale = 1;
		} else if (r == 0) {
			struct pack_job *job;
			uint8_t *p = packed_alloc(m, wf_tmat_packed_size(rows, cols), err, errlen);
			if (!p || !(job = new_job(L, err, errlen)))
				return -1;
			job->t = v;
			job->row0 = (int64_t)e * rows;
			if (t->type != WF_TYPE_I2_S) {
				job->t.data = t->data + wf_ternary_body_bytes(t->type, (uint64_t)e * per);
				job->row0 = 0;
			}
			job->rows = rows;
			job->cols = cols;
			job->mult = 1;
			job->w = &w[e];
			job->dst = p;
			data = p;
			scale = 1;
		}
		w[e].data = data;
		w[e].scale = scale;
		char rn[WF_GGUF_MAX_NAME + 16];
		snprintf(rn, sizeof rn, "%s#%d", name, e);
		if (reg_tmat(m, rn, &w[e], err, errlen) < 0)
			return -1;
	}
	m->hp.n_params += (uint64_t)rows * (uint64_t)cols * (uint64_t)n;
	m->hp.n_bytes += t->nbytes;
	return 0;
}

/* Required / optional u32 key `<arch>.suffix` in [lo, hi]. */
static int key_u32(const struct wf_gguf *g, const char *arch, const char *suffix, int required,
                   uint32_t lo, uint32_t hi, int *out, char *err, size_t errlen)
{
	char key[128];
	uint32_t v = 0;
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	int r = wf_gguf_get_u32(g, key, &v, err, errlen);
	if (r < 0)
		return -1;
	if (r == 1) {
		if (!required)
			return 0;
		wf_errf(err, errlen, "key '%s' is missing", key);
		return -1;
	}
	if (v < lo || v > hi) {
		wf_errf(err, errlen, "key '%s': %u is out of range [%u, %u]", key, v, lo, hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int key_f32(const struct wf_gguf *g, const char *arch, const char *suffix, int required,
                   float *out, char *err, size_t errlen)
{
	char key[128];
	float v;
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	int r = wf_gguf_get_f32(g, key, &v, err, errlen);
	if (r < 0)
		return -1;
	if (r == 1) {
		if (!required)
			return 0;
		wf_errf(err, errlen, "key '%s' is missing", key);
		return -1;
	}
	if (!isfinite(v)) {
		wf_errf(err, errlen, "key '%s': value is not finite", key);
		return -1;
	}
	*out = v;
	return 0;
}

static int read_hparams(struct wf_model *m, const struct wf_model_opts *o, char *err, size_t errlen)
{
	const struct wf_gguf *g = m->g;
	struct wf_hparams *hp = &m->hp;
	struct wf_gguf_str s;
	int r = wf_gguf_get_str(g, "general.architecture", &s, err, errlen);
	if (r < 0)
		return -1;
	if (r == 1) {
		wf_errf(err, errlen, "key 'general.architecture' is missing");
		return -1;
	}
	if (s.len >= sizeof hp->arch ||
	    !((s.len == 12 && !memcmp(s.ptr, "bitnet-b1.58", 12)) ||
	      (s.len == 9 && !memcmp(s.ptr, "bitnet-25", 9)) || (s.len == 6 && !memcmp(s.ptr, "bitnet", 6)))) {
		wf_errf(err, errlen, "architecture '%.*s' is not supported (bitnet-b1.58, bitnet-25, bitnet)",
		       (int)(s.len > 64 ? 64 : s.len), s.ptr);
		return -1;
	}
	memcpy(hp->arch, s.ptr, s.len);
	hp->arch[s.len] = 0;
	const char *a = hp->arch;

	hp->n_head_kv = 0;
	hp->n_rot = 0;
	hp->rope_base = 10000.0f;
	hp->rope_freq_scale = 1.0f;
	if (key_u32(g, a, "context_length", 1, 1, WF_MAX_CTX, &hp->n_ctx_train, err, errlen) < 0 ||
	    key_u32(g, a, "embedding_length", 1, 1, WF_MAX_EMBD, &hp->n_embd, err, errlen) < 0 ||
	    key_u32(g, a, "block_count", 1, 1, WF_MAX_LAYER, &hp->n_layer, err, errlen) < 0 ||
	    key_u32(g, a, "feed_forward_length", 1, 1, WF_MAX_FF, &hp->n_ff, err, errlen) < 0 ||
	    key_u32(g, a, "attention.head_count", 1, 1, WF_MAX_HEAD, &hp->n_head, err, errlen) < 0 ||
	    key_u32(g, a, "attention.head_count_kv", 0, 1, WF_MAX_HEAD, &hp->n_head_kv, err, errlen) < 0 ||
	    key_u32(g, a, "rope.dimension_count", 0, 2, WF_MAX_EMBD, &hp->n_rot, err, errlen) < 0 ||
	    key_f32(g, a, "attention.layer_norm_rms_epsilon", 1, &hp->rms_eps, err, errlen) < 0 ||
	    key_f32(g, a, "rope.freq_base", 0, &hp->rope_base, err, errlen) < 0)
		return -1;
	if (!hp->n_head_kv)
		hp->n_head_kv = hp->n_head;
	char key[128];
	if (hp->n_embd % hp->n_head) {
		wf_errf(err, errlen, "key '%s.attention.head_count': %d does not divide embedding_length %d",
		       a, hp->n_head, hp->n_embd);
		return -1;
	}
	if (hp->n_head % hp->n_head_kv) {
		wf_errf(err, errlen, "key '%s.attention.head_count_kv': %d does not divide head_count %d", a,
		       hp->n_head_kv, hp->n_head);
		return -1;
	}
	hp->head_dim = hp->n_embd / hp->n_head;
	if (hp->head_dim % 2) {
		wf_errf(err, errlen, "key '%s.attention.head_count': head dimension %d is odd", a, hp->head_dim);
		return -1;
	}
	if (!hp->n_rot)
		hp->n_rot = hp->head_dim;
	if (hp->n_rot % 2 || hp->n_rot > hp->head_dim) {
		wf_errf(err, errlen, "key '%s.rope.dimension_count': %d must be even and at most the head dimension %d",
		       a, hp->n_rot, hp->head_dim);
		return -1;
	}
	if (hp->n_embd % WF_TMAT_COL_ALIGN || hp->n_ff % WF_TMAT_COL_ALIGN) {
		wf_errf(err, errlen, "key '%s.%s': %d is not a multiple of %d (needed by the ternary kernels)", a,
		       hp->n_embd % WF_TMAT_COL_ALIGN ? "embedding_length" : "feed_forward_length",
		       hp->n_embd % WF_TMAT_COL_ALIGN ? hp->n_embd : hp->n_ff, WF_TMAT_COL_ALIGN);
		return -1;
	}
	if (!(hp->rms_eps >= 0 && hp->rms_eps < 1)) {
		wf_errf(err, errlen, "key '%s.attention.layer_norm_rms_epsilon': %g is out of range [0, 1)", a,
		       (double)hp->rms_eps);
		return -1;
	}
	if (!(hp->rope_base > 0)) {
		wf_errf(err, errlen, "key '%s.rope.freq_base': %g is not positive", a, (double)hp->rope_base);
		return -1;
	}
	/* RoPE scaling: none or linear (factor f divides positions by f). */
	snprintf(key, sizeof key, "%s.rope.scaling.type", a);
	r = wf_gguf_get_str(g, key, &s, err, errlen);
	if (r < 0)
		return -1;
	if (r == 0 && !(s.len == 4 && !memcmp(s.ptr, "none", 4)) && !(s.len == 6 && !memcmp(s.ptr, "linear", 6))) {
		wf_errf(err, errlen, "key '%s': '%.*s' is not supported (none, linear)", key,
		       (int)(s.len > 32 ? 32 : s.len), s.ptr);
		return -1;
	}
	if (r == 0 && s.len == 6) {
		float f = 1.0f;
		if (key_f32(g, a, "rope.scaling.factor", 0, &f, err, errlen) < 0)
			return -1;
		if (!(f > 0)) {
			wf_errf(err, errlen, "key '%s.rope.scaling.factor': %g is not positive", a, (double)f);
			return -1;
		}
		hp->rope_freq_scale = 1.0f / f;
	}
	/* MoE: experts, experts used per token, expert FFN size. */
	hp->n_ff_exp = hp->n_ff;
	if (key_u32(g, a, "expert_count", 0, 0, 4096, &hp->n_expert, err, errlen) < 0 ||
	    key_u32(g, a, "expert_feed_forward_length", 0, 1, WF_MAX_FF, &hp->n_ff_exp, err, errlen) < 0 ||
	    key_u32(g, a, "lrc_rank", 0, 1, WF_MAX_EMBD, &hp->lrc_rank, err, errlen) < 0)
		return -1;
	if (hp->n_expert > 0) {
		if (key_u32(g, a, "expert_used_count", 1, 1, (uint32_t)hp->n_expert, &hp->n_expert_used, err,
		            errlen) < 0)
			return -1;
		if (hp->n_ff_exp % WF_TMAT_COL_ALIGN) {
			wf_errf(err, errlen, "key '%s.expert_feed_forward_length': %d is not a multiple of %d", a,
			       hp->n_ff_exp, WF_TMAT_COL_ALIGN);
			return -1;
		}
	}
	/* Activation: flag, then file key, then architecture and shape. */
	snprintf(key, sizeof key, "%s.hidden_activation", a);
	r = wf_gguf_get_str(g, key, &s, err, errlen);
	if (r < 0)
		return -1;
	if (o && o->act) {
		hp->act = o->act;
		hp->act_from = "flag";
	} else if (r == 0) {
		char v[32];
		snprintf(v, sizeof v, "%.*s", (int)(s.len > 31 ? 31 : s.len), s.ptr);
		hp->act = wf_act_parse(v);
		if (hp->act < 0) {
			wf_errf(err, errlen, "key '%s': '%s' is not supported (relu2, silu)", key, v);
			return -1;
		}
		hp->act_from = "file key";
	} else {
		hp->act = WF_ACT_RELU2;
		hp->act_from = "architecture";
	}
	return 0;
}

/*
 * The output matrix in 8 bits (half the bytes of F16 per token): a file's
 * output.weight stored as Q8_0 is multiplied as it is (load_fmat; the
 * activations quantised to Q8_0 too, as ggml does).  Otherwise the F16/F32
 * matrix gets wf's row-scaled copy (kernels.h WF_Q8R: one scale per row,
 * and per token for the activations, so a product is one integer dot):
 * the tensor `wf.output_q8r` a model image carries (lib/repack), else one
 * made here when the matrix is large (WF_Q8_0_OUTPUT_MIN, kernels.h) or
 * $WF_OUTPUT=q8_0.  $WF_OUTPUT=f16 keeps the float product.
 */
static int load_out_q8(struct wf_model *m, char *err, size_t errlen)
{
	if (m->check_only)
		return 0;
	int want = wf_output_env(err, errlen);
	if (want == -2)
		return -1;
	int H = m->hp.n_embd, V = m->hp.n_vocab, fail = 0;
	const struct wf_gguf_tensor *t = wf_gguf_tensor(m->g, "output.weight");
	if (t && t->type == WF_TYPE_Q8_0)
		return 0;   /* bound by load_fmat */
	if (want < 0 || H % WF_Q8R_ALIGN)
		return 0;
	t = tensor(m->g, "wf.output_q8r", H, V, 0, &fail, err, errlen);
	if (fail)
		return -1;
	if (t && t->type == WF_TYPE_WF_Q8R) {
		wf_q8r_bind(&m->out.q8r, t->data, V, H);
		return 0;
	}
	if (want == 0 && (size_t)H * (size_t)V * (m->out.f16 ? 2 : 4) >= WF_Q8_0_OUTPUT_MIN)
		want = 1;
	if (want > 0) {
		void *q = model_alloc(m, wf_q8r_bytes(V, H), err, errlen);
		if (!q)
			return -1;
		/* the copy is ours: its arrays are written through the binding */
		struct wf_q8r *o = &m->out.q8r;
		wf_q8r_bind(o, q, V, H);
		if (m->out.f16)
			wf_q8r_from_f16(m->out.f16, H, (int8_t *)o->q, (float *)o->d, (int32_t *)o->sum, 0, V);
		else
			wf_q8r_from_f32(m->out.f32, H, (int8_t *)o->q, (float *)o->d, (int32_t *)o->sum, 0, V);
	}
	return 0;
}

struct wf_model *wf_model_load(const struct wf_gguf *g, const struct wf_model_opts *opts, char *err,
                               size_t errlen)
{
	struct wf_model *m = calloc(1, sizeof *m);
	struct loader L = {m, opts, NULL, 0, 0, 0};
	char name[128];
	int fail = 0;
	if (!m) {
		wf_errf(err, errlen, "out of memory");
		return NULL;
	}
	m->g = g;
	m->check_only = opts && opts->check_only;
	if (read_hparams(m, opts, err, errlen) < 0)
		goto fail;
	struct wf_hparams *hp = &m->hp;
	int H = hp->n_embd, F = hp->n_ff, kvd = hp->n_head_kv * hp->head_dim;

	const struct wf_gguf_tensor *te = wf_gguf_tensor(g, "token_embd.weight");
	if (!te) {
		wf_errf(err, errlen, "tensor 'token_embd.weight' is missing (expected [%d, n_vocab])", H);
		goto fail;
	}
	if (te->n_dims != 2 || te->ne[0] != H || te->ne[1] < 1 || te->ne[1] > WF_MAX_VOCAB) {
		char fs[96];
		shape_str(fs, sizeof fs, te->ne, te->n_dims);
		wf_errf(err, errlen, "tensor 'token_embd.weight': expected [%d, n_vocab], found %s", H, fs);
		goto fail;
	}
	hp->n_vocab = (int)te->ne[1];
	int nv = 0;
	if (key_u32(g, hp->arch, "vocab_size", 0, 1, WF_MAX_VOCAB, &nv, err, errlen) < 0)
		goto fail;
	if (nv && nv != hp->n_vocab) {
		wf_errf(err, errlen, "key '%s.vocab_size': %d disagrees with tensor 'token_embd.weight' (%d rows)",
		       hp->arch, nv, hp->n_vocab);
		goto fail;
	}
	if (!strcmp(hp->arch, "bitnet") && !strcmp(hp->act_from, "architecture") &&
	    hp->n_vocab >= 32000 && hp->n_vocab <= 32002) {
		hp->act = WF_ACT_SILU; /* the legacy 1bitLLM models (LLaMA-2 vocabulary) */
		hp->act_from = "shape";
	}
	if (load_fmat(m, te, &m->embd, err, errlen) < 0)
		goto fail;
	hp->n_bytes += te->nbytes;
	const struct wf_gguf_tensor *to = tensor(g, "output.weight", H, hp->n_vocab, 0, &fail, err, errlen);
	if (fail)
		goto fail;
	if (to && to->type == WF_TYPE_Q8_0 && H % WF_Q8_0_BLOCK == 0) {
		m->out.rows = hp->n_vocab;
		m->out.cols = H;
		m->out.q8 = to->data;
		hp->n_bytes += to->nbytes;
	} else if (to) {
		if (load_fmat(m, to, &m->out, err, errlen) < 0)
			goto fail;
		hp->n_bytes += to->nbytes;
	} else {
		m->out = m->embd;
		hp->tied = 1;
	}
	if (load_out_q8(m, err, errlen) < 0)
		goto fail;
	if (!(m->output_norm = load_vec(m, "output_norm.weight", H, err, errlen)))
		goto fail;

	m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
	if (!m->layers) {
		wf_errf(err, errlen, "out of memory");
		goto fail;
	}
	for (int l = 0; l < hp->n_layer; l++) {
		struct layer *ly = &m->layers[l];
#define VEC(field, nm, n)                                                  \
	snprintf(name, sizeof name, "blk.%d." nm ".weight", l);            \
	if (!(ly->field = load_vec(m, name, n, err, errlen)))              \
		goto fail;
#define MAT(field, nm, c, r)                                               \
	snprintf(name, sizeof name, "blk.%d." nm ".weight", l);            \
	if (load_tmat(&L, name, c, r, &ly->field, err, errlen) < 0)        \
		goto fail;
		VEC(attn_norm, "attn_norm", H)
		MAT(wq, "attn_q", H, H)
		MAT(wk, "attn_k", H, kvd)
		MAT(wv, "attn_v", H, kvd)
		MAT(wo, "attn_output", H, H)
		VEC(attn_sub_norm, "attn_sub_norm", H)
		VEC(ffn_norm, "ffn_norm", H)
		snprintf(name, sizeof name, "blk.%d.ffn_gate_inp.weight", l);
		if (wf_gguf_tensor(g, name)) {
			int E = hp->n_expert, Fe = hp->n_ff_exp;
			if (!E) {
				wf_errf(err, errlen, "tensor '%s': key '%s.expert_count' is missing", name, hp->arch);
				goto fail;
			}
			const struct wf_gguf_tensor *tr = tensor(g, name, H, E, 1, &fail, err, errlen);
			struct fmat fr = {0};
			if (!tr || load_fmat(m, tr, &fr, err, errlen) < 0)
				goto fail;
			if (!fr.f32 && !m->check_only) {
				float *d = model_alloc(m, (size_t)E * H * sizeof *d, err, errlen);
				if (!d)
					goto fail;
				for (size_t i = 0; i < (size_t)E * H; i++)
					d[i] = wf_f16_to_f32(fr.f16[i]);
				fr.f32 = d;
			}
			ly->moe = 1;
			ly->router = fr.f32;
			ly->eg = model_alloc(m, 3 * (size_t)E * sizeof *ly->eg, err, errlen);
			if (!ly->eg)
				goto fail;
			ly->eu = ly->eg + E;
			ly->ed = ly->eu + E;
			snprintf(name, sizeof name, "blk.%d.ffn_gate_exps.weight", l);
			if (load_experts(&L, name, H, Fe, E, ly->eg, err, errlen) < 0)
				goto fail;
			snprintf(name, sizeof name, "blk.%d.ffn_up_exps.weight", l);
			if (load_experts(&L, name, H, Fe, E, ly->eu, err, errlen) < 0)
				goto fail;
			snprintf(name, sizeof name, "blk.%d.ffn_down_exps.weight", l);
			if (load_experts(&L, name, Fe, H, E, ly->ed, err, errlen) < 0)
				goto fail;
			VEC(ffn_sub_norm, "ffn_sub_norm", Fe)
		} else {
			MAT(wg, "ffn_gate", H, F)
			MAT(wu, "ffn_up", H, F)
			MAT(wd, "ffn_down", F, H)
			VEC(ffn_sub_norm, "ffn_sub_norm", F)
		}
		static const char *const lin[NLIN] = {"attn_q", "attn_k", "attn_v", "attn_output",
		                                       "ffn_gate", "ffn_up", "ffn_down"};
		for (int k = 0; k < (ly->moe ? LG : NLIN); k++) {
			int in = k == LD ? F : H;
			int out = k == LK || k == LV ? kvd : k == LG || k == LU ? F : H;
			snprintf(name, sizeof name, "blk.%d.%s", l, lin[k]);
			if (load_lrc(m, name, in, out, &ly->lrc[k], err, errlen) < 0)
				goto fail;
		}
#undef VEC
#undef MAT
		if (l == 0)
			hp->wtype = wf_model_wtype(g);
	}
	if (run_pack_jobs(&L, err, errlen) < 0)
		goto fail;
	free(L.jobs);
	return m;
fail:
	free(L.jobs);
	wf_model_free(m);
	return NULL;
}

void wf_model_free(struct wf_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_allocs; i++)
		free(m->allocs[i]);
	free(m->allocs);
	free(m->layers);
	free(m->tms);
	free(m);
}

uint32_t wf_model_wtype(const struct wf_gguf *g)
{
	const struct wf_gguf_tensor *q = wf_gguf_tensor(g, "blk.0.attn_q.weight");
	uint32_t from;
	char e[128];
	if (!q)
		return WF_TYPE_WF_TMAT;
	if (q->type == WF_TYPE_WF_TMAT && wf_gguf_get_u32(g, "wf.repacked_from", &from, e, sizeof e) == 0)
		return from;
	return q->type;
}

const struct wf_hparams *wf_model_hparams(const struct wf_model *m)
{
	return &m->hp;
}

size_t wf_model_n_tmats(const struct wf_model *m)
{
	return m->n_tms;
}

const struct wf_tmat *wf_model_tmat(const struct wf_model *m, size_t i, const char **name)
{
	if (i >= m->n_tms)
		return NULL;
	if (name)
		*name = m->tms[i].name;
	return m->tms[i].w;
}

/* ---------------------------------------------------------------------- */
/* Contexts. */

/* Stages of the forward pass, each one pool run (or inline for one token). */
enum stage {
	ST_ATTN_IN,  /* [tokens] x += ffo (l > 0); rmsnorm attn_norm; quantize */
	ST_QKV,      /* [rows]   q, k, v */
	ST_ROPE,     /* [tokens] rope q and k; store k, v in the cache */
	ST_ATTN,     /* [token x head] attention */
	ST_SUB,      /* [tokens] rmsnorm attn_sub_norm; quantize */
	ST_WO,       /* [rows]   ao = Wo a */
	ST_FFN_IN,   /* [tokens] x += ao; rmsnorm ffn_norm; quantize */
	ST_GU,       /* [rows]   g = act(Wg h) * (Wu h) */
	ST_FFN_SUB,  /* [tokens] rmsnorm ffn_sub_norm; quantize */
	ST_DOWN,     /* [rows]   ffo = Wd g */
	ST_OUT_IN,   /* [tokens] x += ffo; rmsnorm output_norm (logit rows) */
	ST_OUT,      /* [rows]   logits */
	ST_ROUTE,    /* [tokens] MoE: router, top-k, softmax; ao = 0 */
	ST_EXP_GU,   /* [rows]   one expert's gate/up for the tokens routed to it */
	ST_EXP_SUB,  /* [tokens] its rmsnorm ffn_sub_norm; quantize */
	ST_EXP_DOWN  /* [rows]   its down projection, added to ao with the router weight */
};

struct wf_ctx {
	const struct wf_model *m;
	int n_ctx, n_batch, n_threads;
	struct wf_pool *pool;
	int n_seq, cur;      /* sequences, and the one the single-sequence API works on */
	int *past;           /* [n_seq] positions cached per sequence */
	int kv_f16;          /* keys and values (and queries) rounded to F16, the cache stored as F16 */
	int32_t *tokens;     /* [n_seq][n_ctx] */
	float *kc, *vc;      /* [n_seq][kv_blocks][n_layer][n_head_kv][KV_BLOCK][head_dim]: kv_at;
	                      * F32, or F16 (kv_f16) in the first half of each map */
	size_t kv_bytes;     /* of each of the two anonymous maps */
	int *tpos, *tseq;    /* [n_batch] position and sequence of each token of the piece */
	float *rope_cos, *rope_sin; /* [n_ctx][n_rot/2] */
	/* scratch for n_batch tokens */
	float *x, *xn, *q, *k, *v, *att, *ao, *g, *u;
	int8_t *q8;
	float *qs;
	float *scores;       /* [n_threads][n_head / n_head_kv][n_ctx] */
	float *lrc_t;        /* [n_batch][3][max_rank]: V x of the linears sharing an input */
	/* MoE */
	int32_t *sel;        /* [n_batch][n_expert_used] chosen experts */
	float *selw;         /* their weights */
	float *rl;           /* [n_batch][n_expert] router logits */
	int32_t *etok;       /* tokens routed to the current expert */
	float *ew;           /* and their weights */
	int8_t *q8e;         /* [n_batch][max(H, Fe)] their quantised inputs */
	float *qse;
	float *ge, *ue, *edo; /* [n_batch][Fe], [n_batch][Fe], [n_batch][H] */
	int ne, cur_e;
	/* the stage being run */
	enum stage st;
	int layer, n, attn;
	int lo_from;         /* first block position whose logits are wanted */
	float *logits;
};

static void *xcalloc(size_t n, size_t size, int *fail)
{
	void *p = NULL;
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX / size || posix_memalign(&p, 64, n * size) != 0) {
		*fail = 1;
		return NULL;
	}
	memset(p, 0, n * size);
	return p;
}

static void ctx_job(void *arg, int ti, int nt);

/*
 * The KV cache in blocks of KV_BLOCK positions: a sequence's block b holds
 * positions [b·KV_BLOCK, (b + 1)·KV_BLOCK) of every layer and KV head, and
 * within it each head's keys (values) are contiguous, position p at
 * (p mod KV_BLOCK)·head_dim.  So attention streams a head's keys a block at
 * a time, and the cache grows with the positions written a block at a
 * time, which lets it sit on 2 MiB pages (2B-4T: a block is 2.4 MiB of
 * keys).  On 4 KiB pages the page faults of new positions and the TLB
 * misses of attention's reads took 0.46 s more of a 6.2 s `--parallel 16`
 * run (16 records x 64 ids, 2B-4T; stage timers, Zen 5 VM, 2026-12-04).
 * Offset in kc / vc of (sequence s, layer l, KV head kh, position p):
 */
#define KV_BLOCK 32
static size_t kv_blocks(int n_ctx)
{
	return ((size_t)n_ctx + KV_BLOCK - 1) / KV_BLOCK;
}

static size_t kv_at(const struct wf_ctx *c, int s, int l, int kh, int p)
{
	const struct wf_hparams *hp = &c->m->hp;
	size_t blk = (size_t)s * kv_blocks(c->n_ctx) + (size_t)(p / KV_BLOCK);
	return (((blk * (size_t)hp->n_layer + (size_t)l) * (size_t)hp->n_head_kv + (size_t)kh) * KV_BLOCK +
	        (size_t)(p % KV_BLOCK)) * (size_t)hp->head_dim;
}

/* The same as an address in cache (kc or vc): F32, or F16 where kv_f16. */
static const void *kv_ptr(const struct wf_ctx *c, const float *cache, int s, int l, int kh, int p)
{
	return (const char *)cache + kv_at(c, s, l, kh, p) * (c->kv_f16 ? 2 : 4);
}

/* A zeroed anonymous mapping whose pages cost nothing until written (and
 * reserve no swap): the caches of every sequence at full context; on
 * transparent huge pages where the system gives them on request. */
static float *kv_map(size_t bytes, int *fail)
{
	void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
	               -1, 0);
	if (p == MAP_FAILED) {
		*fail = 1;
		return NULL;
	}
#ifdef MADV_HUGEPAGE
	if (bytes)
		madvise(p, bytes, MADV_HUGEPAGE);   /* advice only: refused, the cache still works */
#endif
	return p;
}

struct wf_ctx *wf_ctx_new(const struct wf_model *m, int n_ctx, int n_batch, int n_threads, char *err,
                          size_t errlen)
{
	return wf_ctx_new_seqs(m, n_ctx, n_batch, n_threads, 1, err, errlen);
}

struct wf_ctx *wf_ctx_new_seqs(const struct wf_model *m, int n_ctx, int n_batch, int n_threads, int n_seqs,
                               char *err, size_t errlen)
{
	const struct wf_hparams *hp = &m->hp;
	if (n_seqs < 1 || n_seqs > WF_MAX_SEQS) {
		wf_errf(err, errlen, "%d sequences: not in [1, %d]", n_seqs, WF_MAX_SEQS);
		return NULL;
	}
	if (n_ctx <= 0)
		n_ctx = hp->n_ctx_train;
	if (n_ctx > WF_MAX_CTX) {
		wf_errf(err, errlen, "context of %d positions is too large (at most %d)", n_ctx, WF_MAX_CTX);
		return NULL;
	}
	if (n_batch <= 0)
		n_batch = 256;
	if (n_batch > n_ctx)
		n_batch = n_ctx;
	if (n_threads <= 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		n_threads = nc > 0 ? (int)nc : 1;
	}
	if (n_threads > 256)
		n_threads = 256;
	struct wf_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		wf_errf(err, errlen, "out of memory");
		return NULL;
	}
	c->m = m;
	c->n_ctx = n_ctx;
	c->n_batch = n_batch;
	c->n_threads = n_threads;
	c->n_seq = n_seqs;
	c->kv_f16 = 0;
	int H = hp->n_embd, F = hp->n_ff, kvd = hp->n_head_kv * hp->head_dim, HF = H > F ? H : F;
	size_t B = (size_t)n_batch;
	int fail = 0;
	size_t S = (size_t)n_seqs;
	size_t nblk = kv_blocks(n_ctx);
	size_t kvn = S * nblk * KV_BLOCK * (size_t)hp->n_layer * (size_t)kvd;
	if (kvn / S / nblk / KV_BLOCK != (size_t)hp->n_layer * (size_t)kvd ||
	    kvn > SIZE_MAX / sizeof(float)) {
		wf_errf(err, errlen, "a cache of %d sequences x %d positions does not fit in memory", n_seqs, n_ctx);
		free(c);
		return NULL;
	}
	c->kv_bytes = kvn * sizeof(float);
	c->kc = kv_map(c->kv_bytes, &fail);
	c->vc = kv_map(c->kv_bytes, &fail);
	c->past = xcalloc(S, sizeof(int), &fail);
	c->tokens = xcalloc(S * (size_t)n_ctx, sizeof(int32_t), &fail);
	c->tpos = xcalloc(B, sizeof(int), &fail);
	c->tseq = xcalloc(B, sizeof(int), &fail);
	c->rope_cos = xcalloc((size_t)n_ctx * (size_t)(hp->n_rot / 2), sizeof(float), &fail);
	c->rope_sin = xcalloc((size_t)n_ctx * (size_t)(hp->n_rot / 2), sizeof(float), &fail);
	c->x = xcalloc(B * (size_t)H, sizeof(float), &fail);
	c->xn = xcalloc(B * (size_t)HF, sizeof(float), &fail);
	c->q = xcalloc(B * (size_t)H, sizeof(float), &fail);
	c->k = xcalloc(B * (size_t)kvd, sizeof(float), &fail);
	c->v = xcalloc(B * (size_t)kvd, sizeof(float), &fail);
	c->att = xcalloc(B * (size_t)H, sizeof(float), &fail);
	c->ao = xcalloc(B * (size_t)H, sizeof(float), &fail);
	c->g = xcalloc(B * (size_t)F, sizeof(float), &fail);
	c->u = xcalloc(B * (size_t)F, sizeof(float), &fail);
	c->q8 = xcalloc(B * (size_t)HF, 1, &fail);
	c->qs = xcalloc(B, sizeof(float), &fail);
	c->scores = xcalloc((size_t)n_threads * (size_t)(hp->n_head / hp->n_head_kv) * (size_t)n_ctx,
	                    sizeof(float), &fail);
	if (hp->n_expert) {
		int Fe = hp->n_ff_exp, HFe = H > Fe ? H : Fe;
		c->sel = xcalloc(B * (size_t)hp->n_expert_used, sizeof(int32_t), &fail);
		c->selw = xcalloc(B * (size_t)hp->n_expert_used, sizeof(float), &fail);
		c->rl = xcalloc(B * (size_t)hp->n_expert, sizeof(float), &fail);
		c->etok = xcalloc(B, sizeof(int32_t), &fail);
		c->ew = xcalloc(B, sizeof(float), &fail);
		c->q8e = xcalloc(B * (size_t)HFe, 1, &fail);
		c->qse = xcalloc(B, sizeof(float), &fail);
		c->ge = xcalloc(B * (size_t)Fe, sizeof(float), &fail);
		c->ue = xcalloc(B * (size_t)Fe, sizeof(float), &fail);
		c->edo = xcalloc(B * (size_t)H, sizeof(float), &fail);
	}
	c->lrc_t = xcalloc(B * 3 * (size_t)(m->max_rank ? m->max_rank : 1), sizeof(float), &fail);
	if (fail) {
		wf_errf(err, errlen, "out of memory for a context of %d positions", n_ctx);
		wf_ctx_free(c);
		return NULL;
	}
	/* RoPE table as ggml computes it: theta starts at the position and is
	 * multiplied by theta_scale = base^(-2/n_rot) per pair, in float. */
	int nr = hp->n_rot / 2;
	float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
	for (int p = 0; p < n_ctx; p++) {
		float theta = (float)p;
		for (int i = 0; i < nr; i++) {
			float th = hp->rope_freq_scale * theta;
			c->rope_cos[(size_t)p * nr + i] = cosf(th);
			c->rope_sin[(size_t)p * nr + i] = sinf(th);
			theta *= theta_scale;
		}
	}
	c->pool = wf_pool_new(n_threads, err, errlen);
	if (!c->pool) {
		wf_ctx_free(c);
		return NULL;
	}
	return c;
}

void wf_ctx_free(struct wf_ctx *c)
{
	if (!c)
		return;
	if (c->pool)
		wf_pool_free(c->pool);
	if (c->kc)
		munmap(c->kc, c->kv_bytes ? c->kv_bytes : 1);
	if (c->vc)
		munmap(c->vc, c->kv_bytes ? c->kv_bytes : 1);
	free(c->past);
	free(c->tokens);
	free(c->tpos);
	free(c->tseq);
	free(c->rope_cos);
	free(c->rope_sin);
	free(c->x);
	free(c->xn);
	free(c->q);
	free(c->k);
	free(c->v);
	free(c->att);
	free(c->ao);
	free(c->g);
	free(c->u);
	free(c->q8);
	free(c->qs);
	free(c->scores);
	free(c->lrc_t);
	free(c->sel);
	free(c->selw);
	free(c->rl);
	free(c->etok);
	free(c->ew);
	free(c->q8e);
	free(c->qse);
	free(c->ge);
	free(c->ue);
	free(c->edo);
	free(c);
}

int wf_ctx_n_ctx(const struct wf_ctx *c) { return c->n_ctx; }
int wf_ctx_n_batch(const struct wf_ctx *c) { return c->n_batch; }
int wf_ctx_n_threads(const struct wf_ctx *c) { return c->n_threads; }
int wf_ctx_n_seqs(const struct wf_ctx *c) { return c->n_seq; }
int wf_ctx_seq(const struct wf_ctx *c) { return c->cur; }
int wf_ctx_n_past(const struct wf_ctx *c) { return c->past[c->cur]; }
const int32_t *wf_ctx_tokens(const struct wf_ctx *c) { return c->tokens + (size_t)c->cur * c->n_ctx; }

int wf_ctx_set_seq(struct wf_ctx *c, int s)
{
	if (s < 0 || s >= c->n_seq)
		return -1;
	c->cur = s;
	return 0;
}

void wf_ctx_set_kv_f16(struct wf_ctx *c, int on)
{
	if (c->kv_f16 == (on != 0))
		return;
	c->kv_f16 = on != 0;
	/* the cache changes its element type: what it held is gone */
	for (int s = 0; s < c->n_seq; s++)
		c->past[s] = 0;
}

void wf_ctx_truncate(struct wf_ctx *c, int n)
{
	if (n >= 0 && n < c->past[c->cur])
		c->past[c->cur] = n;
}

int wf_ctx_shared_prefix(const struct wf_ctx *c, int s, const int32_t *tok, int n)
{
	if (s < 0 || s >= c->n_seq)
		return 0;
	const int32_t *t = c->tokens + (size_t)s * c->n_ctx;
	int k = 0;
	while (k < c->past[s] && k < n - 1 && t[k] == tok[k])
		k++;
	return k;
}

int wf_ctx_reuse_prefix(struct wf_ctx *c, const int32_t *tok, int n)
{
	int k = wf_ctx_shared_prefix(c, c->cur, tok, n);
	c->past[c->cur] = k;
	return k;
}

/* ---------------------------------------------------------------------- */
/* Numeric helpers. */

/* 4-lane float vectors (SSE, NEON; 16 bytes keeps the baseline ABI). */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f ld4(const float *p)
{
	v4f v;
	memcpy(&v, p, sizeof v);
	return v;
}

static float dot_f32(const float *a, const float *b, int n)
{
	v4f a0 = {0}, a1 = {0};
	int i = 0;
	for (; i + 8 <= n; i += 8) {
		a0 += ld4(a + i) * ld4(b + i);
		a1 += ld4(a + i + 4) * ld4(b + i + 4);
	}
	a0 += a1;
	float s = (a0[0] + a0[2]) + (a0[1] + a0[3]);
	for (; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* y = rmsnorm(x) * w as ggml computes it: float squares summed in double
 * (eight interleaved double sums, s[i % 8]: equal to ggml's one running sum
 * up to double rounding, which the float mean never sees in practice),
 * mean and 1/sqrt in float, then (x * r) * w.  Both loops are written 8 and
 * 4 at a time so that -O2 vectorises them (SLP). */
static void rmsnorm(float *restrict y, const float *restrict x, const float *restrict w, int n, float eps)
{
	double s[8] = {0};
	int i = 0;
	for (; i + 8 <= n; i += 8) {
		s[0] += (double)(x[i] * x[i]);
		s[1] += (double)(x[i + 1] * x[i + 1]);
		s[2] += (double)(x[i + 2] * x[i + 2]);
		s[3] += (double)(x[i + 3] * x[i + 3]);
		s[4] += (double)(x[i + 4] * x[i + 4]);
		s[5] += (double)(x[i + 5] * x[i + 5]);
		s[6] += (double)(x[i + 6] * x[i + 6]);
		s[7] += (double)(x[i + 7] * x[i + 7]);
	}
	for (; i < n; i++)
		s[i % 8] += (double)(x[i] * x[i]);
	double ss = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
	float mean = (float)(ss / n);
	float r = 1.0f / sqrtf(mean + eps);
	for (i = 0; i + 4 <= n; i += 4) {
		y[i] = (x[i] * r) * w[i];
		y[i + 1] = (x[i + 1] * r) * w[i + 1];
		y[i + 2] = (x[i + 2] * r) * w[i + 2];
		y[i + 3] = (x[i + 3] * r) * w[i + 3];
	}
	for (; i < n; i++)
		y[i] = (x[i] * r) * w[i];
}

/* x[i] += a[i], i < n, for distinct arrays. */
static void add_into(float *restrict x, const float *restrict a, int n)
{
	int i = 0;
	for (; i + 4 <= n; i += 4) {   /* 4 at a time: -O2 vectorises it (SLP) */
		x[i] += a[i];
		x[i + 1] += a[i + 1];
		x[i + 2] += a[i + 2];
		x[i + 3] += a[i + 3];
	}
	for (; i < n; i++)
		x[i] += a[i];
}

/* Thread ti's rows: whole 16-row groups (the packed layout groups rows by 4). */
static void split(int rows, int ti, int nt, int *r0, int *r1)
{
	wf_pool_split(rows, 16, ti, nt, r0, r1);
}

/* Rows [r0, r1) of W times n quantised tokens q8[n][W->cols] (scales qs). */
static void tlin_q(const struct wf_tmat *w, const int8_t *q8, const float *qs, int n, float *out, int ldo,
                   int r0, int r1)
{
	if (r0 >= r1 || n <= 0)
		return;
	if (n == 1)
		wf_tmat_vec(w, q8, qs[0], out + r0, r0, r1);
	else
		wf_tmat_mat(w, q8, qs, n, out, ldo, r0, r1);
}

static void tlin(const struct wf_ctx *c, const struct wf_tmat *w, int cols, float *out, int ldo, int r0,
                 int r1)
{
	(void)cols;
	tlin_q(w, c->q8, c->qs, c->n, out, ldo, r0, r1);
}

/* g = act(g) * u over rows [r0, r1) of n tokens of width F. */
static void ffn_act(int act, float *g, const float *u, int n, int F, int r0, int r1)
{
	for (int j = 0; j < n; j++) {
		float *gj = g + (size_t)j * F;
		const float *uj = u + (size_t)j * F;
		if (act == WF_ACT_SILU) {
			for (int r = r0; r < r1; r++)
				gj[r] = gj[r] / (1.0f + expf(-gj[r])) * uj[r];
		} else {
			/* relu(g)^2 * u, branch-free: relu is g & (g > 0), as ggml's
			 * (g > 0 ? g : 0), NaN giving 0 */
			int r = r0;
			const v4f z = {0, 0, 0, 0};
			for (; r + 4 <= r1; r += 4) {
				v4f gv = ld4(gj + r);
				v4f a = (v4f)((v4i)gv & (gv > z));
				v4f y = a * a * ld4(uj + r);
				memcpy(gj + r, &y, sizeof y);
			}
			for (; r < r1; r++) {
				float a = gj[r] > 0 ? gj[r] : 0;
				gj[r] = a * a * uj[r];
			}
		}
	}
}

/* ---------------------------------------------------------------------- */
/* The stages. */

static void tokens_range(int n, int ti, int nt, int *j0, int *j1)
{
	*j0 = (int)((long long)n * ti / nt);
	*j1 = (int)((long long)n * (ti + 1) / nt);
}

/* V x for the LRC linears k0..k1-1 sharing input xn[in] of token j. */
static void lrc_pre(const struct wf_ctx *c, const struct layer *ly, int j, const float *xn, int in,
                    int k0, int k1)
{
	int mr = c->m->max_rank;
	for (int k = k0; k < k1; k++) {
		const struct lrc *L = &ly->lrc[k];
		float *t = c->lrc_t + ((size_t)j * 3 + (size_t)(k - k0)) * mr;
		for (int r = 0; r < L->rank; r++)
			t[r] = dot_f32(L->v + (size_t)r * in, xn, in);
	}
}

/* out[j*ldo + r] += U[r] · t_j for rows [r0, r1) of linear k (slot in lrc_t). */
static void lrc_post(const struct wf_ctx *c, const struct lrc *L, int slot, float *out, int ldo, int r0,
                     int r1)
{
	int mr = c->m->max_rank;
	if (!L->rank)
		return;
	for (int j = 0; j < c->n; j++) {
		const float *t = c->lrc_t + ((size_t)j * 3 + (size_t)slot) * mr;
		for (int r = r0; r < r1; r++)
			out[(size_t)j * ldo + r] += dot_f32(L->u + (size_t)r * L->rank, t, L->rank);
	}
}

static void stage_norm_quant(struct wf_ctx *c, int ti, int nt)
{
	const struct wf_model *m = c->m;
	const struct wf_hparams *hp = &m->hp;
	const struct layer *ly = c->layer < hp->n_layer ? &m->layers[c->layer] : NULL;
	int H = hp->n_embd, F = hp->n_ff, HF = H > F ? H : F;
	int j0, j1;
	if (c->st == ST_EXP_SUB) {
		int Fe = hp->n_ff_exp;
		tokens_range(c->ne, ti, nt, &j0, &j1);
		for (int j = j0; j < j1; j++) {
			float *y = c->ue + (size_t)j * Fe; /* up is spent: the normed input goes here */
			rmsnorm(y, c->ge + (size_t)j * Fe, ly->ffn_sub_norm, Fe, hp->rms_eps);
			c->qse[j] = wf_quantize_i8(y, Fe, c->q8e + (size_t)j * Fe, NULL);
		}
		return;
	}
	tokens_range(c->n, ti, nt, &j0, &j1);
	for (int j = j0; j < j1; j++) {
		float *x = c->x + (size_t)j * H;
		float *xn = c->xn + (size_t)j * HF;
		int8_t *q8 = c->q8 + (size_t)j * (c->st == ST_FFN_SUB ? F : H);
		switch (c->st) {
		case ST_ATTN_IN:
			if (c->layer > 0)
				add_into(x, c->ao + (size_t)j * H, H);
			rmsnorm(xn, x, ly->attn_norm, H, hp->rms_eps);
			c->qs[j] = wf_quantize_i8(xn, H, q8, NULL);
			if (m->max_rank)
				lrc_pre(c, ly, j, xn, H, LQ, LV + 1);
			break;
		case ST_SUB:
			rmsnorm(xn, c->att + (size_t)j * H, ly->attn_sub_norm, H, hp->rms_eps);
			c->qs[j] = wf_quantize_i8(xn, H, q8, NULL);
			if (m->max_rank)
				lrc_pre(c, ly, j, xn, H, LO, LO + 1);
			break;
		case ST_FFN_IN:
			add_into(x, c->ao + (size_t)j * H, H);
			rmsnorm(xn, x, ly->ffn_norm, H, hp->rms_eps);
			c->qs[j] = wf_quantize_i8(xn, H, q8, NULL);
			if (m->max_rank)
				lrc_pre(c, ly, j, xn, H, LG, LU + 1);
			break;
		case ST_FFN_SUB:
			rmsnorm(xn, c->g + (size_t)j * F, ly->ffn_sub_norm, F, hp->rms_eps);
			c->qs[j] = wf_quantize_i8(xn, F, q8, NULL);
			if (m->max_rank)
				lrc_pre(c, ly, j, xn, F, LD, LD + 1);
			break;
		case ST_ROUTE: {
			/* top-k router logits (ties: lower expert), softmax over those */
			int E = hp->n_expert, K = hp->n_expert_used;
			float *rl = c->rl + (size_t)j * E;
			int32_t *sel = c->sel + (size_t)j * K;
			float *w = c->selw + (size_t)j * K;
			for (int e = 0; e < E; e++)
				rl[e] = dot_f32(ly->router + (size_t)e * H, xn, H);
			for (int k = 0; k < K; k++) {
				int b = -1;
				for (int e = 0; e < E; e++) {
					int taken = 0;
					for (int i = 0; i < k; i++)
						taken |= sel[i] == e;
					if (!taken && (b < 0 || rl[e] > rl[b]))
						b = e;
				}
				sel[k] = b;
			}
			float mx = rl[sel[0]], sum = 0;
			for (int k = 0; k < K; k++)
				sum += w[k] = expf(rl[sel[k]] - mx);
			for (int k = 0; k < K; k++)
				w[k] /= sum;
			memset(c->ao + (size_t)j * H, 0, (size_t)H * sizeof(float));
			break;
		}
		case ST_OUT_IN:
			if (j < c->lo_from)
				break;
			add_into(x, c->ao + (size_t)j * H, H);
			rmsnorm(xn, x, m->output_norm, H, hp->rms_eps);
			/* wf's 8-bit copy multiplies activations quantised as it
			 * is, put in the spent inputs of the ternary products; a
			 * Q8_0 output matrix Q8_0 activations, put in the spent
			 * query rows (1.0625 H bytes fit in H floats). */
			if (m->out.q8r.q)
				c->qs[j] = wf_q8r_quantize(xn, H, c->q8 + (size_t)j * H);
			else if (m->out.q8)
				wf_q8_0_quantize(xn, H, (uint8_t *)(c->q + (size_t)j * H));
			/* An F16 output matrix multiplies an F16 copy of the hidden
			 * state, as ggml's F16 matmul does (vec_dot_type F16). */
			else if (m->out.f16)
				wf_f16_round(xn, H);
			break;
		default:
			break;
		}
	}
}

/* RoPE on q and k of the tokens, then k and v into the cache. */
static void stage_rope(struct wf_ctx *c, int ti, int nt)
{
	const struct wf_hparams *hp = &c->m->hp;
	int H = hp->n_embd, hd = hp->head_dim, kvd = hp->n_head_kv * hd, nr = hp->n_rot / 2;
	int j0, j1;
	tokens_range(c->n, ti, nt, &j0, &j1);
	for (int j = j0; j < j1; j++) {
		int pos = c->tpos[j];
		const float *cs = c->rope_cos + (size_t)pos * nr, *sn = c->rope_sin + (size_t)pos * nr;
		for (int h = 0; h < hp->n_head + hp->n_head_kv; h++) {
			float *x = h < hp->n_head ? c->q + (size_t)j * H + (size_t)h * hd
			                          : c->k + (size_t)j * kvd + (size_t)(h - hp->n_head) * hd;
			for (int i = 0; i < nr; i++) {
				float a = x[i], b = x[i + nr];
				x[i] = a * cs[i] - b * sn[i];
				x[i + nr] = a * sn[i] + b * cs[i];
			}
		}
		/* F16 mode: the cache holds F16 values widened to F32, and q is
		 * rounded to F16 too, as ggml's K·Q product with an F16 cache
		 * converts it (vec_dot_type F16). */
		for (int kh = 0; kh < hp->n_head_kv; kh++) {
			size_t off = kv_at(c, c->tseq[j], c->layer, kh, pos);
			const float *k = c->k + (size_t)j * kvd + (size_t)kh * hd;
			const float *v = c->v + (size_t)j * kvd + (size_t)kh * hd;
			if (c->kv_f16) {
				wf_f16_from_f32(k, hd, (uint16_t *)c->kc + off);
				wf_f16_from_f32(v, hd, (uint16_t *)c->vc + off);
			} else {
				memcpy(c->kc + off, k, (size_t)hd * sizeof *k);
				memcpy(c->vc + off, v, (size_t)hd * sizeof *v);
			}
		}
		if (c->kv_f16)
			wf_f16_round(c->q + (size_t)j * H, H);
	}
}

/* Prefetch the cached keys and values token j reads for KV head kh, unless
 * they are those of (token pj, KV head pkh). */
static void attn_prefetch(const struct wf_ctx *c, int j, int kh, int pj, int pkh)
{
	const struct wf_hparams *hp = &c->m->hp;
	if (kh == pkh && c->tseq[j] == c->tseq[pj] && c->tpos[j] == c->tpos[pj])
		return;
	int T = c->tpos[j] + 1;
	size_t es = c->kv_f16 ? 2 : 4;
	for (int t = 0; t < T; t += KV_BLOCK) {
		const char *k = kv_ptr(c, c->kc, c->tseq[j], c->layer, kh, t);
		const char *v = kv_ptr(c, c->vc, c->tseq[j], c->layer, kh, t);
		size_t n = (size_t)(T - t < KV_BLOCK ? T - t : KV_BLOCK) * (size_t)hp->head_dim * es;
		for (size_t b = 0; b < n; b += 64) {
			__builtin_prefetch(k + b);
			__builtin_prefetch(v + b);
		}
	}
}

/*
 * softmax(q·K / sqrt(hd)) V for every (token, head).  The work goes in
 * units of one token and gq heads of one KV head's group, whose keys and
 * values the grouped kernels read once for all gq (gq the largest divisor
 * of the group that still leaves four units a thread), dealt round-robin:
 * a causal prompt's later tokens cost more.
 */
static void stage_attn(struct wf_ctx *c, int ti, int nt)
{
	const struct wf_hparams *hp = &c->m->hp;
	int H = hp->n_embd, hd = hp->head_dim;
	int grp = hp->n_head / hp->n_head_kv, gq = grp;
	while (gq > 1 && (grp % gq || (long)c->n * (hp->n_head / gq) < 4L * nt))
		gq--;
	float scale = 1.0f / sqrtf((float)hd);
	float *s = c->scores + (size_t)ti * (size_t)grp * c->n_ctx;
	size_t lds = (size_t)c->n_ctx;
	int per_tok = hp->n_head / gq, total = c->n * per_tok;
	/* tokens of several sequences (a batched step): each unit's keys and
	 * values come from memory, so the next unit's are prefetched */
	int many = c->n > 1 && c->tseq[0] != c->tseq[c->n - 1];
	for (int it = ti; it < total; it += nt) {
		int j = it / per_tok, h = it % per_tok * gq, kh = h / grp;
		/* the token's own sequence, up to its position (a block: the whole block) */
		int T = c->attn == WF_ATTN_BLOCK ? c->tpos[0] + c->n : c->tpos[j] + 1;
		const float *qv = c->q + (size_t)j * H + (size_t)h * hd;
		float *o = c->att + (size_t)j * H + (size_t)h * hd;
		if (many && it + nt < total)
			attn_prefetch(c, (it + nt) / per_tok, (it + nt) % per_tok * gq / grp, j, kh);
		for (int t = 0; t < T; t += KV_BLOCK)
			wf_attn_scores_grp(qv, (size_t)hd, gq, kv_ptr(c, c->kc, c->tseq[j], c->layer, kh, t), c->kv_f16,
			                   (size_t)hd, hd, T - t < KV_BLOCK ? T - t : KV_BLOCK, scale, s + t, lds);
		for (int g = 0; g < gq; g++)
			wf_softmax(s + g * lds, T);
		/* the mix adds each block into o in the order of one call */
		memset(o, 0, (size_t)gq * (size_t)hd * sizeof *o);
		for (int t = 0; t < T; t += KV_BLOCK)
			wf_attn_mix_grp(s + t, lds, gq, kv_ptr(c, c->vc, c->tseq[j], c->layer, kh, t), c->kv_f16,
			                (size_t)hd, hd, T - t < KV_BLOCK ? T - t : KV_BLOCK, o, (size_t)hd);
	}
}

static void stage_rows(struct wf_ctx *c, int ti, int nt)
{
	const struct wf_model *m = c->m;
	const struct wf_hparams *hp = &m->hp;
	const struct layer *ly = &m->layers[c->layer < hp->n_layer ? c->layer : 0];
	int H = hp->n_embd, F = hp->n_ff, kvd = hp->n_head_kv * hp->head_dim;
	int r0, r1;
	switch (c->st) {
	case ST_QKV:
		split(H, ti, nt, &r0, &r1);
		tlin(c, &ly->wq, H, c->q, H, r0, r1);
		lrc_post(c, &ly->lrc[LQ], 0, c->q, H, r0, r1);
		split(kvd, ti, nt, &r0, &r1);
		tlin(c, &ly->wk, H, c->k, kvd, r0, r1);
		tlin(c, &ly->wv, H, c->v, kvd, r0, r1);
		lrc_post(c, &ly->lrc[LK], 1, c->k, kvd, r0, r1);
		lrc_post(c, &ly->lrc[LV], 2, c->v, kvd, r0, r1);
		break;
	case ST_WO:
		split(H, ti, nt, &r0, &r1);
		tlin(c, &ly->wo, H, c->ao, H, r0, r1);
		lrc_post(c, &ly->lrc[LO], 0, c->ao, H, r0, r1);
		break;
	case ST_GU:
		split(F, ti, nt, &r0, &r1);
		tlin(c, &ly->wg, H, c->g, F, r0, r1);
		tlin(c, &ly->wu, H, c->u, F, r0, r1);
		lrc_post(c, &ly->lrc[LG], 0, c->g, F, r0, r1);
		lrc_post(c, &ly->lrc[LU], 1, c->u, F, r0, r1);
		ffn_act(hp->act, c->g, c->u, c->n, F, r0, r1);
		break;
	case ST_EXP_GU: {
		int Fe = hp->n_ff_exp;
		split(Fe, ti, nt, &r0, &r1);
		tlin_q(&ly->eg[c->cur_e], c->q8e, c->qse, c->ne, c->ge, Fe, r0, r1);
		tlin_q(&ly->eu[c->cur_e], c->q8e, c->qse, c->ne, c->ue, Fe, r0, r1);
		ffn_act(hp->act, c->ge, c->ue, c->ne, Fe, r0, r1);
		break;
	}
	case ST_EXP_DOWN:
		split(H, ti, nt, &r0, &r1);
		tlin_q(&ly->ed[c->cur_e], c->q8e, c->qse, c->ne, c->edo, H, r0, r1);
		for (int j = 0; j < c->ne; j++) {
			float *ao = c->ao + (size_t)c->etok[j] * H;
			const float *y = c->edo + (size_t)j * H;
			for (int r = r0; r < r1; r++)
				ao[r] += c->ew[j] * y[r];
		}
		break;
	case ST_DOWN:
		split(H, ti, nt, &r0, &r1);
		tlin(c, &ly->wd, F, c->ao, H, r0, r1);
		lrc_post(c, &ly->lrc[LD], 0, c->ao, H, r0, r1);
		break;
	case ST_OUT: {
		split(hp->n_vocab, ti, nt, &r0, &r1);
		if (r0 >= r1)
			break;
		int HF = H > F ? H : F;
		if (m->out.q8r.q) {
			/* the kernel reads the matrix once for all tokens */
			wf_q8r_matmat(&m->out.q8r, c->q8 + (size_t)c->lo_from * H, (size_t)H, c->qs + c->lo_from,
			              c->n - c->lo_from, c->logits + r0, (size_t)hp->n_vocab, r0, r1);
			break;
		}
		/* Several tokens take the rows in blocks of OUT_ROWS, so that a
		 * block read from memory serves every token from the cache (each
		 * row's product is the same whatever the blocking). */
		int rb = c->n - c->lo_from > 1 ? OUT_ROWS : r1 - r0;
		for (int b0 = r0; b0 < r1; b0 += rb) {
			int b1 = r1 - b0 < rb ? r1 : b0 + rb;
			for (int j = c->lo_from; j < c->n; j++) {
				const float *xn = c->xn + (size_t)j * HF;
				const uint8_t *xq = (const uint8_t *)(c->q + (size_t)j * H);
				float *out = c->logits + (size_t)(j - c->lo_from) * hp->n_vocab;
				if (m->out.q8) {
					wf_q8_0_matvec(m->out.q8, H, xq, out + b0, b0, b1);
				} else if (m->out.f16) {
					wf_f16_matvec(m->out.f16, H, xn, out + b0, b0, b1);
				} else {
					for (int r = b0; r < b1; r++)
						out[r] = dot_f32(m->out.f32 + (size_t)r * H, xn, H);
				}
			}
		}
		break;
	}
	default:
		break;
	}
}

static void ctx_job(void *arg, int ti, int nt)
{
	struct wf_ctx *c = arg;
	switch (c->st) {
	case ST_ATTN_IN:
	case ST_SUB:
	case ST_FFN_IN:
	case ST_FFN_SUB:
	case ST_OUT_IN:
	case ST_ROUTE:
	case ST_EXP_SUB:
		stage_norm_quant(c, ti, nt);
		break;
	case ST_ROPE:
		stage_rope(c, ti, nt);
		break;
	case ST_ATTN:
		stage_attn(c, ti, nt);
		break;
	default:
		stage_rows(c, ti, nt);
		break;
	}
}

/* Run stage st over the pool; per-token stages of a single token run inline. */
static void run(struct wf_ctx *c, enum stage st)
{
	c->st = st;
	int per_token = st == ST_ATTN_IN || st == ST_SUB || st == ST_FFN_IN || st == ST_FFN_SUB ||
	                st == ST_OUT_IN || st == ST_ROPE || st == ST_ROUTE || st == ST_EXP_SUB;
	int n = st == ST_EXP_SUB ? c->ne : c->n;
	if (c->n_threads == 1 || (per_token && n == 1))
		ctx_job(c, 0, 1);
	else
		wf_pool_run(c->pool, ctx_job, c);
}

static void run(struct wf_ctx *c, enum stage st);

/* A MoE FFN: route every token, then run each expert on the tokens routed
 * to it, adding its output times the router weight into ao. */
static void moe_ffn(struct wf_ctx *c)
{
	const struct wf_hparams *hp = &c->m->hp;
	int H = hp->n_embd, K = hp->n_expert_used;
	run(c, ST_ROUTE);
	for (int e = 0; e < hp->n_expert; e++) {
		int ne = 0;
		for (int j = 0; j < c->n; j++) {
			for (int k = 0; k < K; k++) {
				if (c->sel[(size_t)j * K + k] != e)
					continue;
				c->etok[ne] = j;
				c->ew[ne] = c->selw[(size_t)j * K + k];
				memcpy(c->q8e + (size_t)ne * H, c->q8 + (size_t)j * H, (size_t)H);
				c->qse[ne] = c->qs[j];
				ne++;
			}
		}
		if (!ne)
			continue;
		c->ne = ne;
		c->cur_e = e;
		run(c, ST_EXP_GU);
		run(c, ST_EXP_SUB);
		run(c, ST_EXP_DOWN);
	}
}

/* The forward pass of tok[0..n), n <= n_batch, token j at position
 * tpos[j] of sequence tseq[j] (set by the caller); logits of tokens
 * lo_from..n-1. */
static void forward(struct wf_ctx *c, const int32_t *tok, int n, int attn, int lo_from, float *logits)
{
	const struct wf_model *m = c->m;
	const struct wf_hparams *hp = &m->hp;
	int H = hp->n_embd;
	c->n = n;
	c->attn = attn;
	for (int j = 0; j < n; j++) {
		float *x = c->x + (size_t)j * H;
		if (m->embd.f16) {
			const uint16_t *e = m->embd.f16 + (size_t)tok[j] * H;
			for (int i = 0; i < H; i++)
				x[i] = wf_f16_to_f32(e[i]);
		} else {
			memcpy(x, m->embd.f32 + (size_t)tok[j] * H, (size_t)H * sizeof *x);
		}
	}
	for (int l = 0; l < hp->n_layer; l++) {
		c->layer = l;
		run(c, ST_ATTN_IN);
		run(c, ST_QKV);
		run(c, ST_ROPE);
		if (l == hp->n_layer - 1 && (!logits || lo_from > 0)) {
			/* The last layer's keys and values are cached; beyond that only
			 * the rows whose logits are wanted matter: keep rows
			 * [lo_from, n), moved to the front, as later positions. */
			int keep = logits ? n - lo_from : 0;
			if (keep <= 0)
				return;
			memmove(c->q, c->q + (size_t)lo_from * H, (size_t)keep * H * sizeof *c->q);
			memmove(c->x, c->x + (size_t)lo_from * H, (size_t)keep * H * sizeof *c->x);
			memmove(c->tpos, c->tpos + lo_from, (size_t)keep * sizeof *c->tpos);
			memmove(c->tseq, c->tseq + lo_from, (size_t)keep * sizeof *c->tseq);
			c->n = n = keep;
			lo_from = 0;
		}
		run(c, ST_ATTN);
		run(c, ST_SUB);
		run(c, ST_WO);
		run(c, ST_FFN_IN);
		if (m->layers[l].moe) {
			moe_ffn(c);
			continue;
		}
		run(c, ST_GU);
		run(c, ST_FFN_SUB);
		run(c, ST_DOWN);
	}
	if (logits && lo_from < n) {
		c->layer = hp->n_layer;
		c->lo_from = lo_from;
		c->logits = logits;
		run(c, ST_OUT_IN);
		run(c, ST_OUT);
	}
}

/* One piece of the current sequence: tok[0..n) at positions p0.., n <= n_batch. */
static void eval_piece(struct wf_ctx *c, const int32_t *tok, int n, int p0, int attn, int lo_from,
                       float *logits)
{
	for (int j = 0; j < n; j++) {
		c->tpos[j] = p0 + j;
		c->tseq[j] = c->cur;
	}
	forward(c, tok, n, attn, lo_from, logits);
}

int wf_ctx_eval(struct wf_ctx *c, const struct wf_eval *e, char *err, size_t errlen)
{
	const struct wf_hparams *hp = &c->m->hp;
	int n_past = c->past[c->cur];
	if (e->n < 0 || (e->n == 0 && e->logits && e->logits_from < 0)) {
		wf_errf(err, errlen, "bad evaluation request");
		return -1;
	}
	if (e->n == 0)
		return 0;
	if (e->n > c->n_ctx - n_past) {
		wf_errf(err, errlen, "%d positions do not fit in the context of %d (%d cached)", e->n, c->n_ctx,
		       n_past);
		return -1;
	}
	if (e->attn == WF_ATTN_BLOCK && e->n > c->n_batch) {
		wf_errf(err, errlen, "a bidirectional block of %d positions exceeds the batch of %d", e->n,
		       c->n_batch);
		return -1;
	}
	if (e->logits && (e->logits_from < 0 || e->logits_from > e->n)) {
		wf_errf(err, errlen, "logits_from %d outside [0, %d]", e->logits_from, e->n);
		return -1;
	}
	for (int j = 0; j < e->n; j++) {
		if (e->tok[j] < 0 || e->tok[j] >= hp->n_vocab) {
			wf_errf(err, errlen, "token %d: id %d out of range [0, %d)", j + 1, (int)e->tok[j], hp->n_vocab);
			return -1;
		}
	}
	for (int done = 0; done < e->n;) {
		int n = e->n - done;
		if (n > c->n_batch)
			n = c->n_batch;
		int lf = e->logits_from - done;
		if (lf < 0)
			lf = 0;
		float *lg = NULL;
		if (e->logits && lf < n)
			lg = e->logits + (size_t)(done + lf - e->logits_from) * hp->n_vocab;
		eval_piece(c, e->tok + done, n, n_past + done, e->attn, lf, lg);
		done += n;
	}
	if (e->commit) {
		memcpy(c->tokens + (size_t)c->cur * c->n_ctx + n_past, e->tok, (size_t)e->n * sizeof *e->tok);
		c->past[c->cur] = n_past + e->n;
	}
	return 0;
}

int wf_ctx_decode(struct wf_ctx *c, const int32_t *tok, int n, float *logits, char *err, size_t errlen)
{
	struct wf_eval e = {tok, n, WF_ATTN_CAUSAL, 1, n - 1, logits};
	return wf_ctx_eval(c, &e, err, errlen);
}

int wf_ctx_eval_seqs(struct wf_ctx *c, const int32_t *tok, const int *seq, int n, float *logits, char *err,
                     size_t errlen)
{
	const struct wf_hparams *hp = &c->m->hp;
	if (n < 1 || n > c->n_batch) {
		wf_errf(err, errlen, "%d tokens: not in [1, %d] (the batch)", n, c->n_batch);
		return -1;
	}
	for (int j = 0; j < n; j++) {
		int s = seq[j];
		if (s < 0 || s >= c->n_seq) {
			wf_errf(err, errlen, "token %d: sequence %d out of range [0, %d)", j + 1, s, c->n_seq);
			return -1;
		}
		for (int i = 0; i < j; i++) {
			if (seq[i] == s) {
				wf_errf(err, errlen, "tokens %d and %d: both for sequence %d", i + 1, j + 1, s);
				return -1;
			}
		}
		if (c->past[s] >= c->n_ctx) {
			wf_errf(err, errlen, "sequence %d: 1 position does not fit in the context of %d (%d cached)", s,
			        c->n_ctx, c->past[s]);
			return -1;
		}
		if (tok[j] < 0 || tok[j] >= hp->n_vocab) {
			wf_errf(err, errlen, "token %d: id %d out of range [0, %d)", j + 1, (int)tok[j], hp->n_vocab);
			return -1;
		}
	}
	for (int j = 0; j < n; j++) {
		c->tpos[j] = c->past[seq[j]];
		c->tseq[j] = seq[j];
	}
	forward(c, tok, n, WF_ATTN_CAUSAL, 0, logits);
	for (int j = 0; j < n; j++) {
		int s = seq[j];
		c->tokens[(size_t)s * c->n_ctx + c->past[s]++] = tok[j];
	}
	return 0;
}
