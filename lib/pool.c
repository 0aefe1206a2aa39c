/*
 * pool — see pool.h.  Handshake: the caller publishes (fn, arg), sets
 * pending = nth - 1 and bumps gen (release); a worker that sees a new gen
 * (acquire) runs fn and decrements pending (release); the caller waits for
 * pending == 0 (acquire).  Sleepers re-check their condition under the
 * mutex that the waker holds while it changes it, so no wake-up is lost.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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
	int ith;
	pthread_t th;
};

struct wf_pool {
	int n;
	struct worker *w;
	wf_pool_fn fn;
	void *arg;
	atomic_uint gen;
	atomic_int pending;
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_cond_t wake, done;
};

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static void *worker_main(void *v)
{
	struct worker *me = v;
	struct wf_pool *p = me->pool;
	unsigned seen = 0;

	for (;;) {
		unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
		for (int i = 0; g == seen && i < SPIN; i++) {
			relax();
			g = atomic_load_explicit(&p->gen, memory_order_acquire);
		}
		if (g == seen) {
			pthread_mutex_lock(&p->mu);
			while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
				pthread_cond_wait(&p->wake, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		seen = g;
		if (atomic_load_explicit(&p->stop, memory_order_relaxed))
			return NULL;
		p->fn(p->arg, me->ith, p->n);
		if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
}

/* Publish a generation: workers wake up and run p->fn. */
static void kick(struct wf_pool *p)
{
	atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
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
	atomic_init(&p->gen, 0);
	atomic_init(&p->pending, 0);
	atomic_init(&p->stop, 0);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	for (int i = 1; i < nthreads; i++) {
		w[i].pool = p;
		w[i].ith = i;
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

void wf_pool_run(struct wf_pool *p, wf_pool_fn fn, void *arg)
{
	if (p->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	kick(p);
	fn(arg, 0, p->n);
	for (int i = 0; i < SPIN; i++) {
		if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
			return;
		relax();
		/* a worker may be runnable on this very CPU (a busy machine):
		 * give it the chance now and then */
		if (i % 256 == 255)
			sched_yield();
	}
	pthread_mutex_lock(&p->mu);
	while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void wf_pool_free(struct wf_pool *p)
{
	if (!p)
		return;
	if (p->n > 1) {
		atomic_store_explicit(&p->stop, 1, memory_order_relaxed);
		kick(p);
		for (int i = 1; i < p->n; i++)
			pthread_join(p->w[i].th, NULL);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done);
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
