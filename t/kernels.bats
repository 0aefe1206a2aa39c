#!/usr/bin/env bats
# kernels/: conversions, quantisation, packed layout, and every SIMD kernel
# against the scalar oracle (bit-identical); lib/pool.
load test_helper

variant() {   # run a variant's test; skip where this CPU lacks it
	run kernels_check "$1" "$2"
	if [ "$status" -eq 77 ]; then skip "$output"; fi
	[ "$status" -eq 0 ]
	[ "$output" = "ok" ]
}

@test "f16/bf16 conversions: all 65536 halves round-trip, RNE against an oracle" {
	run -0 kernels_check convert
	[ "$output" = "ok" ]
}

@test "activation quantisation matches quantize_row_i8_s (ties, floor, random)" {
	run -0 kernels_check quant
	[ "$output" = "ok" ]
}

@test "packed layout: pack/unpack, documented bytes, scalar vs dense product" {
	run -0 kernels_check layout
	[ "$output" = "ok" ]
}

@test "ternary kernels: scalar against itself through vec and mat" {
	variant tmat scalar
}

@test "ternary kernels: avx2 bit-identical to scalar" {
	variant tmat avx2
}

@test "ternary kernels: avx512 bit-identical to scalar" {
	variant tmat avx512
}

@test "ternary kernels: neon bit-identical to scalar" {
	variant tmat neon
}

@test "f16 matvec: avx2 bit-identical to scalar" {
	variant f16mv avx2
}

@test "f16 matvec: avx512 bit-identical to scalar" {
	variant f16mv avx512
}

@test "f16 matvec: neon bit-identical to scalar" {
	variant f16mv neon
}

@test "WF_KERNELS forces an implementation; the name argument wins" {
	WF_KERNELS=scalar run -0 kernels_check name
	[ "$output" = "scalar" ]
	WF_KERNELS=scalar run -0 kernels_check name scalar
	[ "$output" = "scalar" ]
	WF_KERNELS=auto run -0 kernels_check name
	[ -n "$output" ]
}

@test "unknown kernel name is an error" {
	WF_KERNELS=bogus run -1 kernels_check name
	[ "$output" = "kernels 'bogus': unknown or not built for this architecture (expected auto, scalar, avx2, avx512 or neon)" ]
}

@test "thread pool: every thread once per run, split covers exactly" {
	run -0 pool_check
	[ "$output" = "ok" ]
}
