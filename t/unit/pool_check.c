/*
 * pool_check — tests of lib/pool: every thread runs each job exactly once,
 * results are visible after wf_pool_run, wf_pool_split covers [0, n)
 * exactly; `pool_check bench` prints the round-trip cost of an empty job.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

static int fails;
#define CHECK(c, ...) do { if (!(c)) { if (fails++ < 20) { \
	printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } } while (0)

struct job {
	int nth;
	int iter;
	int seen[64];       /* plain writes: visible to the caller after run */
	atomic_int calls;
	long sum[64];
};

static void work(void *arg, int ith, int nth)
{
	struct job *j = arg;
	if (nth != j->nth || ith < 0 || ith >= nth)
		j->seen[0] = -1000;
	j->seen[ith] = j->iter;
	atomic_fetch_add(&j->calls, 1);
	long s = 0;
	for (int i = 0; i < 1000 * (ith + 1); i++)
		s += i;
	j->sum[ith] = s;
}

static void empty(void *arg, int ith, int nth) { (void)arg; (void)ith; (void)nth; }

/* wf_pool_for: every chunk exactly once, right n, never two at once. */
struct chunks {
	int n;
	atomic_int count[1000];
	atomic_int busy[1000];
	atomic_int bad;
};

static void chunk(void *arg, int i, int n)
{
	struct chunks *c = arg;
	if (n != c->n || i < 0 || i >= n) {
		atomic_fetch_add(&c->bad, 1);
		return;
	}
	if (atomic_fetch_add(&c->busy[i], 1) != 0)
		atomic_fetch_add(&c->bad, 1);
	for (volatile int k = 0; k < 200 * (i % 7); k++)
		;
	atomic_fetch_add(&c->count[i], 1);
	atomic_fetch_sub(&c->busy[i], 1);
}

static void test_for(int nthreads)
{
	char err[200];
	struct wf_pool *p = wf_pool_new(nthreads, err, sizeof err);
	struct chunks *c = calloc(1, sizeof *c);
	int ns[] = { 0, 1, 2, 3, 17, 100, 1000 };
	for (int rep = 0; rep < 20; rep++)
		for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
			c->n = ns[k];
			for (int i = 0; i < 1000; i++)
				atomic_store(&c->count[i], 0);
			wf_pool_for(p, c->n, chunk, c);
			for (int i = 0; i < 1000; i++)
				CHECK(atomic_load(&c->count[i]) == (i < c->n), "for %d threads n=%d: chunk %d ran %d times",
				      nthreads, c->n, i, atomic_load(&c->count[i]));
		}
	CHECK(atomic_load(&c->bad) == 0, "for: %d bad calls", atomic_load(&c->bad));
	free(c);
	wf_pool_free(p);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void test_split(void)
{
	int ns[] = { 0, 1, 3, 4, 5, 17, 100, 2560, 6913 };
	int aligns[] = { 1, 4, 8 };
	for (size_t a = 0; a < 3; a++)
		for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
			for (int nth = 1; nth <= 9; nth++) {
				int n = ns[k], al = aligns[a], next = 0, maxc = 0, minc = n;
				for (int i = 0; i < nth; i++) {
					int lo, hi;
					wf_pool_split(n, al, i, nth, &lo, &hi);
					CHECK(lo == next && hi >= lo, "split %d/%d of %d: [%d,%d) after %d", i, nth, n, lo, hi, next);
					CHECK(lo % al == 0 || lo == n, "split start %d not aligned to %d", lo, al);
					next = hi;
					if (hi - lo > maxc) maxc = hi - lo;
					if (hi - lo < minc) minc = hi - lo;
				}
				CHECK(next == n, "split of %d by %d ends at %d", n, nth, next);
				CHECK(maxc - minc <= al || n < al * nth, "split of %d by %d unbalanced %d..%d", n, nth, minc, maxc);
			}
}

static void test_run(int nthreads, int iters)
{
	char err[200];
	struct wf_pool *p = wf_pool_new(nthreads, err, sizeof err);
	if (!p) {
		printf("FAIL: %s\n", err);
		exit(1);
	}
	int n = wf_pool_size(p);
	CHECK(nthreads <= 0 ? n == (int)sysconf(_SC_NPROCESSORS_ONLN) : n == nthreads, "size %d", n);
	struct job *j = calloc(1, sizeof *j);
	j->nth = n;
	for (int it = 1; it <= iters; it++) {
		j->iter = it;
		atomic_store(&j->calls, 0);
		wf_pool_run(p, work, j);
		CHECK(atomic_load(&j->calls) == n, "iteration %d: %d calls for %d threads", it, atomic_load(&j->calls), n);
		for (int i = 0; i < n; i++) {
			CHECK(j->seen[i] == it, "iteration %d: thread %d saw %d", it, i, j->seen[i]);
			CHECK(j->sum[i] == 1000L * (i + 1) * (1000L * (i + 1) - 1) / 2, "sum %d", i);
		}
		if (it % 50 == 0)   /* let the workers fall asleep now and then */
			usleep(2000);
	}
	free(j);
	wf_pool_free(p);
}

static void bench(void)
{
	char err[200];
	for (int nt = 1; nt <= 2; nt++) {
		struct wf_pool *p = wf_pool_new(nt, err, sizeof err);
		int iters = 20000;
		wf_pool_run(p, empty, NULL);
		double t0 = now();
		for (int i = 0; i < iters; i++)
			wf_pool_run(p, empty, NULL);
		double hot = (now() - t0) / iters;
		/* after the workers went to sleep */
		double cold = 0;
		for (int i = 0; i < 20; i++) {
			usleep(5000);
			t0 = now();
			wf_pool_run(p, empty, NULL);
			cold += now() - t0;
		}
		printf("threads %d: back-to-back run %.2f us, run after 5 ms idle %.1f us\n", nt,
		       hot * 1e6, cold / 20 * 1e6);
		wf_pool_free(p);
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "bench")) {
		bench();
		return 0;
	}
	test_split();
	test_run(1, 100);
	test_run(2, 300);
	test_run(3, 100);
	test_run(5, 20);
	test_run(0, 50);
	test_for(1);
	test_for(2);
	test_for(3);
	wf_pool_free(NULL);
	if (fails) {
		printf("%d failures\n", fails);
		return 1;
	}
	printf("ok\n");
	return 0;
}
