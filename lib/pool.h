/*
 * pool — a fixed set of worker threads that run one function at a time on
 * every thread, the caller included.  Threads are created once by
 * wf_pool_new(); wf_pool_run() only wakes them: workers spin briefly on an
 * atomic generation counter (so back-to-back operations in a token cost no
 * system call), then sleep on a condition variable.  Work is handed out in
 * chunks claimed atomically, so the caller never waits for a thread that
 * has not woken up yet: it runs that thread's share itself.
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

/* Run fn(arg, ith, nth) once for each ith in [0, nth), nth = wf_pool_size,
 * on the pool's threads and the caller, and return when all calls have
 * returned.  Each ith runs exactly once and no two calls share an ith, but
 * ith does not name a thread: a thread that is slow to wake has its ith
 * run by another (so per-ith scratch is safe, per-thread state is not).
 * One run at a time per pool; fn must not run the same pool.  Writes made
 * by any fn are visible to the caller afterwards. */
void wf_pool_run(struct wf_pool *p, wf_pool_fn fn, void *arg);

/* Chunks per wf_pool_for at most; more are run on the caller alone. */
#define WF_POOL_MAX_CHUNKS 65535

/* The same for n chunks: fn(arg, i, n) once for each i in [0, n), chunks
 * handed out one at a time to whichever thread is free.  A few chunks per
 * thread (e.g. 4·nth with wf_pool_split inside fn) balance uneven threads
 * and busy machines better than wf_pool_run. */
void wf_pool_for(struct wf_pool *p, int n, wf_pool_fn fn, void *arg);

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
