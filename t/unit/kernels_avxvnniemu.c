/*
 * kernels_avxvnniemu — runs kernels/tmat_avxvnni.c on any x86-64 CPU with
 * AVX2 by compiling it against t/unit/x86emu.h's C model of the
 * intrinsics, and checks it against the scalar oracle bit for bit: the
 * single-token ternary and 8-bit products, the prefill tile (inside the
 * real AVX2 prefill's blocking, hence AVX2) and the 8-bit output tiles,
 * both of their row orders.  The real build is tested by kernels_check
 * where the CPU has AVX-VNNI; this catches lane and indexing mistakes
 * everywhere else.  Prints "ok", or "unsupported" (exit 77) off x86-64 or
 * without AVX2.
 */
#if defined(__x86_64__)
#include "x86emu.h"

#define wf_kern_avxvnni emu_kern_avxvnni
#include "tmat_avxvnni.c"

int main(void)
{
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2")) {
		printf("unsupported: the avxvnni prefill runs inside the AVX2 kernels' blocking\n");
		return 77;
	}
	int rows[] = { 1, 3, 4, 5, 9, 17 }, cols[] = { 128, 384, 2176 };
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
			tcase(&emu_kern_avxvnni, rows[i], cols[k], 1 + (int)(rnd() % 15), 0);
	for (int n = 1; n <= 30; n++)   /* the vector kernel below 12 tokens, tiles and their tails above */
		tcase(&emu_kern_avxvnni, 6, 256, n, 0);
	tcase(&emu_kern_avxvnni, 5, 128 * 40, 13, 1);
	q8r_cases(&emu_kern_avxvnni);
	return emu_report();
}
#else
#include <stdio.h>

int main(void)
{
	printf("unsupported: the avxvnni kernels are x86-64 only\n");
	return 77;
}
#endif
