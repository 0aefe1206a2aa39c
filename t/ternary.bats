#!/usr/bin/env bats
# lib/ternary: the I2_S / TQ1_0 / TQ2_0 / float weight formats (t/unit/ternary_test.c).
bats_require_minimum_version 1.5.0
load test_helper

@test "ternary: worked vectors of the format notes" {
	run -0 ternary_test vectors
	[ "$output" = "ok tq1_0 vectors
ok tq2_0 vectors
ok i2_s vectors" ]
}

@test "ternary: pack -> unpack round trips, every type, awkward shapes" {
	run -0 ternary_test roundtrip
	[ "$output" = "ok roundtrip
ok zero blocks" ]
}

@test "ternary: training rule rounding and absmean" {
	run -0 ternary_test rounding
	[ "$output" = "ok rounding" ]
}

@test "ternary: error messages" {
	run -0 ternary_test errors
	[ "$output" = "ok errors" ]
}

@test "ternary: the four same-seed peer GGUFs decode alike and re-encode byte-identically" {
	need_shared fixtures/peers
	run -0 ternary_test peers "$SHARED/fixtures/peers"
	[ "$output" = "ok peers: 28 ternary tensors agree across 4 files and re-encode byte-identically" ]
}

@test "ternary: absmean of tiny-shakespeare's BF16 weights gives its GGUF trits" {
	need_shared models/tiny-shakespeare-bitnet
	run -0 ternary_test absmean "$SHARED/models/tiny-shakespeare-bitnet"
	[ "$output" = "ok absmean: 28 tensors ternarise to the GGUF's trits; scale = golden for 16, 1 ulp off for 12" ]
}

@test "ternary: usage error" {
	run -2 ternary_test
	[ "$output" = "usage: ternary_test vectors|roundtrip|rounding|errors|peers DIR|absmean DIR" ]
}
