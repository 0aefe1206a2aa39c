/*
 * pool — a fixed set of worker threads that run one function at a time on
 * every thread, the caller included.  Threads are created once by
 * wf_pool_new(); wf_pool_run() only wakes them: workers spin briefly on an
 * atomic generation counter (so back-to-back operations in a token cost no
 * system call), then sleep on a condition variable.
 */
#ifndef WF_POOL_H
#define WF_POOL_H

#include <stddef.h>

struct wf_pool;

/* fn(arg, ith, nth) is run once with each ith in [0, nth). */
typedef void (*wf_pool_fn)(void *arg, int ith, int nth);

/* Start a pool of nthreads threads in all (nthreads - 1 workers plus the
 * caller); nthreads <= 0 means every online core.  Returns NULL with a
 * message in err on failure. */
struct wf_pool *wf_pool_new(int nthreads, char *err, size_t errlen);

/* Number of threads, the caller included. */
int wf_pool_size(const struct wf_pool *p);

/* Run fn(arg, ith, nth) on every thread — ith = 0 on the calling thread —
 * and return when all have returned.  One run at a time per pool; fn must
 * not call wf_pool_run on the same pool.  Writes made by any fn are visible
 * to the caller afterwards. */
void wf_pool_run(struct wf_pool *p, wf_pool_fn fn, void *arg);

/* Stop and join the workers, free the pool.  NULL is fine. */
void wf_pool_free(struct wf_pool *p);

/*
 * Thread ith's share [*lo, *hi) of [0, n): contiguous chunks, boundaries at
 * multiples of align (e.g. WF_TMAT_ROW_GROUP) except the end n, sizes as
 * equal as align allows.  Chunks of all ith cover [0, n) exactly once;
 * some may be empty when n is small.
 */
void wf_pool_split(int n, int align, int ith, int nth, int *lo, int *hi);

#endif
