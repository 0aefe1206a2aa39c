/*
 * pool — see pool.h.
 *
 * A run is a set of n chunks claimed one at a time from a single 64-bit
 * atomic word: generation (32 bits) | n (16) | next unclaimed chunk (16).
 * The caller publishes fn, arg and the word, then bumps gen; every thread,
 * the caller included, claims chunks by compare-and-swap while the word
 * still carries its generation.  So a worker that wakes late (a busy
 * machine, a slow vCPU wake-up) finds the chunks already taken and the
 * caller never waits for it; a worker that read fn/arg of a later run can
 * never claim a chunk of an earlier one.  The run ends when `done` reaches
 * n: every fn call has returned.
 *
 * Sleeping: workers spin briefly on gen, then wait on a condition
 * variable; gen changes under the mutex the sleepers check it under, so no
 * wake-up is lost.  The caller waits for `done` the same way.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

/* Spin iterations before sleeping: a cpu pause each, about 250 us in all
 * on Zen 3 — longer than the gaps between the operations of one token. */
#define SPIN 8192

struct worker {
	struct wf_pool *pool;
	pthread_t th;
};

struct wf_pool {
	int n;
	struct worker *w;
	_Atomic(wf_pool_fn) fn;
	_Atomic(void *) arg;
	atomic_uint gen;          /* bumped once per run, under mu */
	atomic_uint_least64_t word;   /* gen << 32 | nchunks << 16 | next */
	atomic_int done;          /* chunks finished in this run */
	atomic_int stop;
	unsigned last;            /* the caller's copy of gen */
	pthread_mutex_t mu;
	pthread_cond_t wake, finished;
};

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Claim and run chunks of generation g until none is left. */
static void work(struct wf_pool *p, unsigned g)
{
	wf_pool_fn fn = atomic_load(&p->fn);
	void *arg = atomic_load(&p->arg);
	uint_least64_t w = atomic_load(&p->word);
	for (;;) {
		unsigned next = (unsigned)(w & 0xffff), n = (unsigned)((w >> 16) & 0xffff);
		if ((unsigned)(w >> 32) != g || next >= n)
			return;
		if (!atomic_compare_exchange_weak(&p->word, &w, w + 1))
			continue;   /* w now holds the current word */
		fn(arg, (int)next, (int)n);
		if (atomic_fetch_add(&p->done, 1) + 1 == (int)n) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->finished);
			pthread_mutex_unlock(&p->mu);
		}
		w = atomic_load(&p->word);
	}
}

static void *worker_main(void *v)
{
	struct worker *me = v;
	struct wf_pool *p = me->pool;
	unsigned seen = 0;

	for (;;) {
		unsigned g = atomic_load(&p->gen);
		for (int i = 0; g == seen && i < SPIN; i++) {
			relax();
			g = atomic_load(&p->gen);
		}
		if (g == seen) {
			pthread_mutex_lock(&p->mu);
			while ((g = atomic_load(&p->gen)) == seen)
				pthread_cond_wait(&p->wake, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		seen = g;
		if (atomic_load(&p->stop))
			return NULL;
		work(p, g);
	}
}

/* Publish generation `last + 1` and wake the workers. */
static unsigned kick(struct wf_pool *p, int nchunks)
{
	unsigned g = ++p->last;
	atomic_store(&p->done, 0);
	atomic_store(&p->word, (uint_least64_t)g << 32 | (uint_least64_t)nchunks << 16);
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->gen, g);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	return g;
}

struct wf_pool *wf_pool_new(int nthreads, char *err, size_t errlen)
{
	if (nthreads <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = c > 0 ? (int)(c < 1024 ? c : 1024) : 1;
	}
	struct wf_pool *p = calloc(1, sizeof *p);
	struct worker *w = calloc((size_t)nthreads, sizeof *w);
	if (!p || !w) {
		free(p);
		free(w);
		snprintf(err, errlen, "thread pool: out of memory");
		return NULL;
	}
	p->n = nthreads;
	p->w = w;
	atomic_init(&p->fn, NULL);
	atomic_init(&p->arg, NULL);
	atomic_init(&p->gen, 0);
	atomic_init(&p->word, 0);
	atomic_init(&p->done, 0);
	atomic_init(&p->stop, 0);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->finished, NULL);
	for (int i = 1; i < nthreads; i++) {
		w[i].pool = p;
		int e = pthread_create(&w[i].th, NULL, worker_main, &w[i]);
		if (e) {
			snprintf(err, errlen, "thread pool: creating thread %d of %d: %s", i, nthreads,
			         strerror(e));
			p->n = i;   /* stop and join the ones already running */
			wf_pool_free(p);
			return NULL;
		}
	}
	return p;
}

int wf_pool_size(const struct wf_pool *p)
{
	return p->n;
}

void wf_pool_for(struct wf_pool *p, int n, wf_pool_fn fn, void *arg)
{
	if (n <= 0)
		return;
	if (p->n == 1 || n == 1 || n > WF_POOL_MAX_CHUNKS) {
		for (int i = 0; i < n; i++)
			fn(arg, i, n);
		return;
	}
	atomic_store(&p->fn, fn);
	atomic_store(&p->arg, arg);
	work(p, kick(p, n));
	for (int i = 0; i < SPIN; i++) {
		if (atomic_load(&p->done) == n)
			return;
		relax();
		/* a worker may be runnable on this very CPU (a busy machine):
		 * give it the chance now and then */
		if (i % 256 == 255)
			sched_yield();
	}
	pthread_mutex_lock(&p->mu);
	while (atomic_load(&p->done) != n)
		pthread_cond_wait(&p->finished, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void wf_pool_run(struct wf_pool *p, wf_pool_fn fn, void *arg)
{
	wf_pool_for(p, p->n, fn, arg);
}

void wf_pool_free(struct wf_pool *p)
{
	if (!p)
		return;
	if (p->n > 1) {
		atomic_store(&p->stop, 1);
		kick(p, 0);
		for (int i = 1; i < p->n; i++)
			pthread_join(p->w[i].th, NULL);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->finished);
	free(p->w);
	free(p);
}

void wf_pool_split(int n, int align, int ith, int nth, int *lo, int *hi)
{
	if (align < 1)
		align = 1;
	long units = ((long)n + align - 1) / align;
	long a = units * ith / nth * align, b = units * (ith + 1) / nth * align;
	*lo = (int)(a < n ? a : n);
	*hi = (int)(b < n ? b : n);
}
