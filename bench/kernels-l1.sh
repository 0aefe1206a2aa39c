#!/bin/sh
# bench/kernels-l1.sh — kernel loops with their data in L1, one core, best of
# 5, for the figures in docs/PERFORMANCE.md that build/t/kernels_bench (which
# reads its matrices from memory or L2/L3) does not show:
#
#   - the vpdpbusd zmm ceiling (12 independent accumulators);
#   - the AVX-512 prefill tiles of 8 rows x 6 and x 4 tokens (kernels/tmat_avx512.c,
#     compiled into the helper) over 20 column blocks;
#   - wf_tmat_vec on 64 rows x 2560 columns (40 KB packed), every
#     variant this CPU has, in cycles per 128-byte tile at CLOCK_GHZ;
#   - attention for one query over 128 keys of head size 128, contiguous
#     (wf_attn_scores + wf_attn_mix, every variant), and for four queries
#     sharing them (wf_attn_scores_grp + wf_attn_mix_grp).
#
#   bench/kernels-l1.sh [CLOCK_GHZ]     default 3.66 (this machine's, from a
#                                       chain of dependent adds)
#
# Run from a tree's root to measure that tree's kernels (the tiles are
# compiled from its kernels/tmat_avx512.c, the rest linked from its libwf.a).
#
# The helper is compiled from this script with the system cc against
# build/libwf.a (run `make` first) into $WF_BENCH_DIR (default /tmp/wf-bench).
# Needs AVX-512 VNNI for the first two parts; prints "skipped" otherwise.
# Needs an x86-64 machine and a compiler for it (the helper is compiled
# with -mavx512f ...): elsewhere, exit 1 with a message before anything is
# compiled.
set -eu
ghz=${1:-3.66}
# the helper is x86 code (-mavx512f ... -mavx512vnni, AVX-512 and AVX2 kernels): on another machine, or with a
# compiler for another target, say so rather than fail in the compiler
m=$(uname -m)
cct=$(${CC:-cc} -dumpmachine 2>/dev/null || echo unknown)
case $m/$cct in
x86_64/x86_64*) ;;
*) echo "kernels-l1.sh: needs an x86-64 machine and compiler (-mavx512f ... -mavx512vnni, AVX-512 and AVX2 kernels); this is $m, ${CC:-cc} targets $cct" >&2; exit 1 ;;
esac
dir=${WF_BENCH_DIR:-/tmp/wf-bench}
build=${WF_BUILD:-build}
root=$(pwd)
mkdir -p "$dir"
src=$dir/kernels-l1.c
exe=$dir/kernels-l1
cat > "$src" <<'EOF'
#include "tmat_avx512.c"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static int has_vnni(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
}

#define DPC(a, w, x) __asm__("vpdpbusd %2, %1, %0" : "+v"(a) : "v"(w), "v"(x))

static void ceiling(void)
{
	__m512i w = _mm512_set1_epi8(2), x = _mm512_set1_epi8(-3);
	__m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
	__m512i a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
	const long N = 20000000;
	double best = 1e9;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		for (long i = 0; i < N; i++) {
			DPC(a0, w, x); DPC(a1, w, x); DPC(a2, w, x); DPC(a3, w, x);
			DPC(a4, w, x); DPC(a5, w, x); DPC(a6, w, x); DPC(a7, w, x);
			DPC(a8, w, x); DPC(a9, w, x); DPC(a10, w, x); DPC(a11, w, x);
		}
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	__m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
	                             _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
	s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)));
	volatile int sink = _mm512_reduce_add_epi32(s);
	(void)sink;
	printf("vpdpbusd zmm, 12 chains: %.2f G/s, %.0f G multiply-adds/s\n", 12.0 * N / best / 1e9,
	       12.0 * 64 * N / best / 1e9);
}

static void tiles(void)
{
	static uint8_t w[2 * 20 * 128] __attribute__((aligned(64)));
	static int8_t q[6 * 2560] __attribute__((aligned(64)));
	static int32_t acc[16 * LDA];
	for (size_t i = 0; i < sizeof w; i++)
		w[i] = (uint8_t)(i * 37);
	for (size_t i = 0; i < sizeof q; i++)
		q[i] = (int8_t)(i * 11);
	const int8_t *qt[6];
	for (int t = 0; t < 6; t++)
		qt[t] = q + t * 2560;
	for (int nt = 6; nt >= 4; nt -= 2) {
		double best = 1e9;
		long R = 40000;
		for (int r = 0; r < 5; r++) {
			double t0 = now();
			for (long i = 0; i < R; i++)
				(nt == 6 ? tile8x6 : tile8x4)(w, w + 20 * 128, 20, qt, acc, 0, (uintptr_t)w, 0);
			double t = now() - t0;
			if (t < best)
				best = t;
		}
		printf("tile 8 rows x %d tokens, L1: %.0f G multiply-adds/s\n", nt,
		       8.0 * nt * 2560 * R / best / 1e9);
	}
}

static void vec(const char *v, double ghz)
{
	char err[256];
	if (wf_kernels_init(v, err, sizeof err))
		return;
	static uint8_t w[16 * 20 * 128] __attribute__((aligned(64)));
	static int8_t q[2560] __attribute__((aligned(64)));
	for (size_t i = 0; i < sizeof w; i++)
		w[i] = (uint8_t)(i * 37);
	for (int i = 0; i < 2560; i++)
		q[i] = (int8_t)(i * 11);
	struct wf_tmat m = { 64, 2560, 0.5f, w };
	float out[64];
	double best = 1e9;
	long R = 50000;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		for (long i = 0; i < R; i++)
			wf_tmat_vec(&m, q, 1.0f, out, 0, 64);
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	printf("wf_tmat_vec %s, 64 x 2560 in L1: %.1f cycles a tile, %.1f GB/s\n", v,
	       best * ghz * 1e9 / (R * 16.0 * 20), R * 16.0 * 20 * 128 / best / 1e9);
}

static void attn(const char *v)
{
	char err[256];
	if (wf_kernels_init(v, err, sizeof err))
		return;
	int hd = 128, T = 128;
	float *K = malloc(sizeof(float) * T * hd), q[128], s[128], o[128];
	for (int i = 0; i < T * hd; i++)
		K[i] = (float)(i % 97) / 97;
	for (int i = 0; i < hd; i++)
		q[i] = (float)i / hd;
	double best = 1e9;
	long R = 20000;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		for (long i = 0; i < R; i++) {
			wf_attn_scores(q, K, (size_t)hd, hd, T, 0.1f, s);
			wf_attn_mix(s, K, (size_t)hd, hd, T, o);
		}
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	printf("attention %s, one query, 128 keys x 128: %.2f us\n", v, best / R * 1e6);
	/* four queries of one KV head (grouped-query attention) at once */
	float q4[4 * 128], s4[4 * 128], o4[4 * 128];
	for (int i = 0; i < 4 * hd; i++)
		q4[i] = (float)(i % 131) / hd;
	best = 1e9;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		for (long i = 0; i < R; i++) {
			wf_attn_scores_grp(q4, (size_t)hd, 4, K, 0, (size_t)hd, hd, T, 0.1f, s4, (size_t)T);
			memset(o4, 0, sizeof o4);
			wf_attn_mix_grp(s4, (size_t)T, 4, K, 0, (size_t)hd, hd, T, o4, (size_t)hd);
		}
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	printf("attention %s, four queries of one KV head, 128 keys x 128: %.2f us\n", v, best / R * 1e6);
	free(K);
}

int main(int argc, char **argv)
{
	double ghz = argc > 1 ? atof(argv[1]) : 3.66;
	if (has_vnni()) {
		ceiling();
		tiles();
	} else {
		printf("vpdpbusd ceiling and AVX-512 tiles: skipped (no AVX-512 VNNI)\n");
	}
	const char *vs[] = { "scalar", "avx2", "avxvnni", "avx512" };
	for (int i = 0; i < 4; i++)
		vec(vs[i], ghz);
	for (int i = 0; i < 4; i++)
		attn(vs[i]);
	return 0;
}
EOF
${CC:-cc} -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -mavx512f -mavx512bw -mavx512vl -mavx512vnni \
	-mavx512dq -mfma -mf16c -mbmi2 -I"$root/kernels" -I"$root/lib" -o "$exe" "$src" \
	"$root/$build/libwf.a" -lm -lpthread
echo "# $(date -u '+%Y-%m-%d %H:%M') $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# bench/kernels-l1.sh $ghz"
"$exe" "$ghz"
