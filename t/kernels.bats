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
	run -0 kernels_check quant scalar
	[ "$output" = "ok" ]
}

@test "activation quantisation: avx2 identical to scalar" {
	variant quant avx2
}

@test "activation quantisation: avx512 identical to scalar" {
	variant quant avx512
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

@test "avx512 kernels on a C model of the intrinsics: bit-identical to scalar" {
	run kernels_avx512emu
	if [ "$status" -eq 77 ]; then skip "$output"; fi
	[ "$status" -eq 0 ]
	[ "$output" = "ok" ]
}

@test "avxvnni kernels on a C model of the intrinsics: bit-identical to scalar" {
	run kernels_avxvnniemu
	if [ "$status" -eq 77 ]; then skip "$output"; fi
	[ "$status" -eq 0 ]
	[ "$output" = "ok" ]
}

@test "attention scores, softmax and mix: scalar against the documented order" {
	variant attn scalar
}

@test "attention scores, softmax and mix: avx2 bit-identical to scalar" {
	variant attn avx2
}

@test "attention scores, softmax and mix: avx512 bit-identical to scalar" {
	variant attn avx512
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

@test "Q8_0 output product: scalar quantiser bytes, oracle accuracy" {
	variant q8mv scalar
}

@test "Q8_0 output product: avx2 bit-identical to scalar" {
	variant q8mv avx2
}

@test "Q8_0 output product: avx512 table bit-identical to scalar" {
	variant q8mv avx512
}

@test "avxvnni (AVX2 with 256-bit vpdpbusd): every kernel bit-identical to scalar" {
	variant tmat avxvnni
	variant q8mv avxvnni
	variant quant avxvnni
	variant attn avxvnni
	variant f16mv avxvnni
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
	[ "$output" = "kernels 'bogus': unknown or not built for this architecture (expected auto, scalar, avx2, avxvnni, avx512 or neon)" ]
}

@test "thread pool: every thread once per run, split covers exactly" {
	run -0 pool_check
	[ "$output" = "ok" ]
}

# The NEON kernels on an emulated aarch64, where a cross sysroot and
# qemu-aarch64 exist (Debian: libc6-dev-arm64-cross libgcc-12-dev-arm64-cross
# qemu-user); both the sdot and the smull/smlal paths.
@test "neon kernels under qemu-aarch64: bit-identical to scalar" {
	sysroot="${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}"
	command -v qemu-aarch64 >/dev/null || skip "qemu-aarch64 is absent"
	command -v clang >/dev/null || skip "clang is absent"
	[ -f "$sysroot/include/stdio.h" ] || skip "no aarch64 sysroot at $sysroot"
	for march in armv8-a armv8.2-a+dotprod; do
		bin="$BATS_TEST_TMPDIR/kernels_check_$march"
		clang --target=aarch64-linux-gnu --sysroot="$sysroot" -fuse-ld=lld -static \
		    -march="$march" -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
		    -I"$WF_ROOT/lib" -I"$WF_ROOT/kernels" -std=c11 -O2 -o "$bin" \
		    "$WF_ROOT/t/unit/kernels_check.c" "$WF_ROOT"/kernels/*.c -lm 2>/dev/null ||
		    skip "cannot link for aarch64 (cross libgcc or lld missing)"
		run -0 qemu-aarch64 "$bin" name
		[ "$output" = "neon" ]
		for t in convert layout; do
			run -0 qemu-aarch64 "$bin" "$t"
			[ "$output" = "ok" ]
		done
		run -0 qemu-aarch64 "$bin" quant neon
		[ "$output" = "ok" ]
		run -0 qemu-aarch64 "$bin" tmat neon
		[ "$output" = "ok" ]
		run -0 qemu-aarch64 "$bin" f16mv neon
		[ "$output" = "ok" ]
		run -0 qemu-aarch64 "$bin" q8mv neon
		[ "$output" = "ok" ]
		run -0 qemu-aarch64 "$bin" attn neon
		[ "$output" = "ok" ]
	done
}
