#!/bin/sh
# bench/bandwidth.sh — the machine's memory read bandwidth at 1 and 2
# threads (plain sequential AVX2 loads, each thread streaming its own
# contiguous half of a buffer far larger than the caches, best of REPS
# passes), and the decoding roofline it implies for the 2B-4T shape:
#
#   roofline t/s = bandwidth / bytes read per generated token
#
#   bench/bandwidth.sh [MIB [REPS [THREADS]]]   default 1024 MiB, 5 passes, "1 2"
#
# Each thread count is from 1 to 64 (usage error, exit 2, otherwise).  Needs
# an x86-64 machine with AVX2 and a compiler for it: elsewhere, exit 1 with
# a message before anything is compiled.
#
# Bytes per token of the 2B-4T shape (30 layers, H 2560, F 6912, KV 640):
# the ternary projections, packed at 2 bits a weight (wf's WF_TMAT layout,
# bitnet.cpp's I2_S, TQ2_0), plus the output matrix (the tied embedding,
# 128256 x 2560) as F16, wf's 8-bit copy (WF_Q8R: int8 rows, a scale and a
# sum per row; wf's default for it), Q6_K (ik_llama.cpp's default) or Q4_0;
# the KV cache read by attention is small at short contexts and left out.
# The helper is compiled from this script with the system cc into
# $WF_BENCH_DIR (default /tmp/wf-bench).
set -eu
usage() { echo "usage: bandwidth.sh [MIB [REPS [THREADS]]]" >&2; exit 2; }
[ $# -le 3 ] || usage
mib=${1:-1024}
reps=${2:-5}
threads=${3:-1 2}
# the helper has room for 64 threads
for t in $threads; do
	case $t in
	'' | *[!0-9]* | 0*) ;;
	*) [ "$t" -gt 64 ] || continue ;;
	esac
	echo "bandwidth.sh: thread count '$t': each must be from 1 to 64" >&2
	usage
done
# the helper is x86 code (-mavx2, AVX2 loads): on another machine, or with a
# compiler for another target, say so rather than fail in the compiler
m=$(uname -m)
cct=$(${CC:-cc} -dumpmachine 2>/dev/null || echo unknown)
case $m/$cct in
x86_64/x86_64*) ;;
*) echo "bandwidth.sh: needs an x86-64 machine and compiler (-mavx2, AVX2 loads); this is $m, ${CC:-cc} targets $cct" >&2; exit 1 ;;
esac
dir=${WF_BENCH_DIR:-/tmp/wf-bench}
mkdir -p "$dir"
src=$dir/membw.c
exe=$dir/membw
cat > "$src" <<'EOF'
#include <immintrin.h>
#include <sys/mman.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned char *buf;
static size_t per;
static pthread_barrier_t bar;
static volatile long long sink;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Sum a thread's part with 4 independent 32-byte load chains. */
static void *reader(void *arg)
{
	const unsigned char *p = buf + (size_t)arg * per;
	pthread_barrier_wait(&bar);
	__m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
	for (size_t i = 0; i < per; i += 128) {
		a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)(p + i)));
		b = _mm256_add_epi64(b, _mm256_load_si256((const __m256i *)(p + i + 32)));
		c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i *)(p + i + 64)));
		d = _mm256_add_epi64(d, _mm256_load_si256((const __m256i *)(p + i + 96)));
	}
	a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
	long long v[4];
	_mm256_storeu_si256((__m256i *)v, a);
	sink += v[0] + v[1] + v[2] + v[3];
	pthread_barrier_wait(&bar);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t mib = strtoul(argv[1], NULL, 10), n = mib << 20;
	int reps = atoi(argv[2]), nt = atoi(argv[3]);
	if (nt < 1 || nt > 64)
		return 2;
	if (posix_memalign((void **)&buf, 4096, n))
		return 1;
	madvise(buf, n, MADV_HUGEPAGE); /* where the system allows */
	memset(buf, 1, n);
	per = n / nt / 128 * 128;
	double best = 0;
	for (int r = 0; r < reps; r++) {
		pthread_t th[64];
		pthread_barrier_init(&bar, NULL, nt + 1);
		for (int t = 0; t < nt; t++)
			pthread_create(&th[t], NULL, reader, (void *)(size_t)t);
		pthread_barrier_wait(&bar);
		double t0 = now();
		pthread_barrier_wait(&bar);
		double gbs = (double)per * nt / (now() - t0) / 1e9;
		for (int t = 0; t < nt; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&bar);
		if (gbs > best)
			best = gbs;
	}
	printf("%.1f\n", best);
	return 0;
}
EOF
${CC:-cc} -O2 -mavx2 -pthread -o "$exe" "$src"

# bytes per token of the 2B-4T shape
H=2560 F=6912 L=30 KV=640 V=128256
tern=$(( L * (H * H * 2 + H * KV * 2 + H * F * 3) / 4 ))
f16=$(( V * H * 2 ))
q8=$(( V * (H + 8) ))
q6=$(( V * H / 256 * 210 ))
q4=$(( V * H / 32 * 18 ))

echo "# $(date -u +%Y-%m-%d) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# bench/bandwidth.sh $mib $reps \"$threads\""
echo "# bytes per token: ternary $tern; output F16 $f16, 8-bit (WF_Q8R) $q8, Q6_K $q6, Q4_0 $q4"
printf '| threads | read GB/s | roofline t/s, F16 output | 8-bit output | Q6_K output | Q4_0 output |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: |\n'
for t in $threads; do
	bw=$("$exe" "$mib" "$reps" "$t")
	awk -v t="$t" -v bw="$bw" -v a="$tern" -v f="$f16" -v i="$q8" -v s="$q6" -v q="$q4" 'BEGIN {
		printf "| %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", t, bw, bw * 1e9 / (a + f), bw * 1e9 / (a + i), bw * 1e9 / (a + s), bw * 1e9 / (a + q)
	}'
done
