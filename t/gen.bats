#!/usr/bin/env bats
# wf-gen: seeded random BitNet GGUFs (inspected with t/unit/ternary_gguf.c).
bats_require_minimum_version 1.5.0
load test_helper

USAGE1="usage: wf-gen -o OUT.gguf [--arch bitnet|bitnet-b1.58] [--type i2_s|tq2_0|tq1_0|f32|f16|bf16]"

@test "gen: the default tiny model parses" {
	run -0 wf-gen -o "$BATS_TEST_TMPDIR/m.gguf"
	[ "$output" = "" ]
	run -0 wf-info "$BATS_TEST_TMPDIR/m.gguf"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/m.gguf")" = 1365920 ]
}

@test "gen: same seed gives a byte-identical file, another seed does not" {
	wf-gen -o "$BATS_TEST_TMPDIR/a.gguf" --seed 42 --type tq2_0
	wf-gen -o "$BATS_TEST_TMPDIR/b.gguf" --type=tq2_0 --seed=42
	wf-gen -o "$BATS_TEST_TMPDIR/c.gguf" --seed 43 --type tq2_0
	run -0 cmp "$BATS_TEST_TMPDIR/a.gguf" "$BATS_TEST_TMPDIR/b.gguf"
	run -1 cmp -s "$BATS_TEST_TMPDIR/a.gguf" "$BATS_TEST_TMPDIR/c.gguf"
}

@test "gen: every weight type decodes to the same trits" {
	d=$BATS_TEST_TMPDIR
	for t in i2_s tq2_0 tq1_0 f32 f16 bf16; do
		wf-gen -o "$d/$t.gguf" --type $t --seed 9 --layers 2
	done
	for t in tq2_0 tq1_0; do
		run -0 ternary_gguf same "$d/i2_s.gguf" "$d/$t.gguf"
		[ "$output" = "14 ternary tensors: same trits, same scales" ]
	done
	# float weights are re-ternarised by absmean: scale * (fraction non-zero)
	for t in f32 f16 bf16; do
		run -0 ternary_gguf same "$d/i2_s.gguf" "$d/$t.gguf"
		[ "$output" = "14 ternary tensors: same trits, scales differ in 14" ]
	done
	run -0 ternary_gguf stats "$d/tq1_0.gguf"
	[ "$output" = "-1 0.30 0 0.40 +1 0.30 scale 0.0215..0.0484" ]
}

@test "gen: both architectures hold the same weights" {
	wf-gen -o "$BATS_TEST_TMPDIR/a.gguf" --arch bitnet --type tq2_0 --seed 5
	wf-gen -o "$BATS_TEST_TMPDIR/b.gguf" --arch bitnet-b1.58 --type i2_s --seed 5
	run -0 ternary_gguf same "$BATS_TEST_TMPDIR/a.gguf" "$BATS_TEST_TMPDIR/b.gguf"
	[ "$output" = "28 ternary tensors: same trits, same scales" ]
}

@test "gen: bitnet-b1.58 keys, tensor names, types and shapes" {
	wf-gen -o "$BATS_TEST_TMPDIR/m.gguf" --layers 1 --hidden 256 --heads 4 --kv-heads 1 \
		--ffn 384 --vocab 300 --ctx 512 --rope-theta 10000 --seed 3
	run -0 ternary_gguf list "$BATS_TEST_TMPDIR/m.gguf"
	[ "$output" = 'general.architecture STRING "bitnet-b1.58"
general.name STRING "wf-gen-tiny-i2_s-seed3"
general.file_type UINT32 40
general.quantization_version UINT32 2
bitnet-b1.58.vocab_size UINT32 300
bitnet-b1.58.context_length UINT32 512
bitnet-b1.58.embedding_length UINT32 256
bitnet-b1.58.block_count UINT32 1
bitnet-b1.58.feed_forward_length UINT32 384
bitnet-b1.58.attention.head_count UINT32 4
bitnet-b1.58.attention.head_count_kv UINT32 1
bitnet-b1.58.rope.dimension_count UINT32 64
bitnet-b1.58.rope.freq_base FLOAT32 10000
bitnet-b1.58.rope.scaling.type STRING "linear"
bitnet-b1.58.rope.scaling.factor FLOAT32 1
bitnet-b1.58.attention.layer_norm_rms_epsilon FLOAT32 9.99999975e-06
bitnet-b1.58.hidden_activation STRING "relu2"
tokenizer.ggml.model STRING "gpt2"
tokenizer.ggml.pre STRING "llama-bpe"
tokenizer.ggml.tokens STRING[300]
tokenizer.ggml.token_type INT32[300]
tokenizer.ggml.merges STRING[7]
tokenizer.ggml.bos_token_id UINT32 263
tokenizer.ggml.eos_token_id UINT32 264
tokenizer.ggml.eot_token_id UINT32 272
tokenizer.ggml.mask_token_id UINT32 299
tokenizer.ggml.add_bos_token BOOL true
tokenizer.ggml.add_eos_token BOOL false
token_embd.weight F16 [256, 300]
blk.0.attn_norm.weight F32 [256]
blk.0.attn_q.weight I2_S [256, 256]
blk.0.attn_k.weight I2_S [256, 64]
blk.0.attn_v.weight I2_S [256, 64]
blk.0.attn_output.weight I2_S [256, 256]
blk.0.attn_sub_norm.weight F32 [256]
blk.0.ffn_norm.weight F32 [256]
blk.0.ffn_gate.weight I2_S [256, 384]
blk.0.ffn_up.weight I2_S [256, 384]
blk.0.ffn_down.weight I2_S [384, 256]
blk.0.ffn_sub_norm.weight F32 [384]
output_norm.weight F32 [256]' ]
}

@test "gen: bitnet keys and TQ1_0 tensors; --act silu, --act none, --name, --eps" {
	wf-gen -o "$BATS_TEST_TMPDIR/m.gguf" --arch bitnet --type tq1_0 --layers 1 --act silu \
		--name toy --eps 1e-6
	run -0 ternary_gguf list "$BATS_TEST_TMPDIR/m.gguf"
	[ "${lines[1]}" = 'general.name STRING "toy"' ]
	[ "${lines[2]}" = 'general.file_type UINT32 36' ]
	[ "${lines[4]}" = 'bitnet.vocab_size UINT32 1024' ]
	[ "${lines[15]}" = 'bitnet.attention.layer_norm_rms_epsilon FLOAT32 9.99999997e-07' ]
	[ "${lines[16]}" = 'bitnet.hidden_activation STRING "silu"' ]
	[ "${lines[30]}" = 'blk.0.attn_q.weight TQ1_0 [256, 256]' ]
	[ "${lines[38]}" = 'blk.0.ffn_down.weight TQ1_0 [768, 256]' ]
	wf-gen -o "$BATS_TEST_TMPDIR/n.gguf" --layers 1 --act none --type bf16
	run -0 ternary_gguf list "$BATS_TEST_TMPDIR/n.gguf"
	[ "${lines[2]}" = 'general.file_type UINT32 32' ]
	[ "${lines[16]}" = 'tokenizer.ggml.model STRING "gpt2"' ]
	[ "${lines[29]}" = 'blk.0.attn_q.weight BF16 [256, 256]' ]
}

@test "gen: the vocabulary is the peers' byte-level BPE layout" {
	need_shared fixtures/peers
	wf-gen -o "$BATS_TEST_TMPDIR/m.gguf" --layers 4
	run -0 ternary_gguf list "$BATS_TEST_TMPDIR/m.gguf"
	want=$(ternary_gguf list "$SHARED/fixtures/peers/tiny-b158-i2_s.gguf" | grep '^tokenizer\|^blk\|^token_embd\|^output')
	got=$(printf '%s\n' "$output" | grep '^tokenizer\|^blk\|^token_embd\|^output' | grep -v mask_token_id)
	[ "$got" = "$want" ]
}

@test "gen: a failed run leaves no file behind" {
	mkdir "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/d/x.gguf"
	run -1 wf-gen -o "$BATS_TEST_TMPDIR/d/x.gguf"
	[ "$output" = "wf-gen: $BATS_TEST_TMPDIR/d/x.gguf: Is a directory" ]
	[ "$(ls -A "$BATS_TEST_TMPDIR/d")" = "x.gguf" ]
	run -1 wf-gen -o "$BATS_TEST_TMPDIR/nodir/x.gguf"
	[ "$output" = "wf-gen: $BATS_TEST_TMPDIR/nodir/x.gguf: No such file or directory" ]
	mkfifo "$BATS_TEST_TMPDIR/d/fifo"
	run -1 wf-gen -o "$BATS_TEST_TMPDIR/d/fifo"
	[ "$output" = "wf-gen: $BATS_TEST_TMPDIR/d/fifo: not a regular file (the output is written beside it, then renamed over it)" ]
	[ -p "$BATS_TEST_TMPDIR/d/fifo" ]
	# past the file size limit: the write error, no temporary file left
	run -1 bash -c "ulimit -f 100; wf-gen -o '$BATS_TEST_TMPDIR/d/big.gguf'"
	[ "$output" = "wf-gen: $BATS_TEST_TMPDIR/d/big.gguf: write error: File too large" ]
	[ "$(ls -A "$BATS_TEST_TMPDIR/d" | sort | tr '\n' ' ')" = "fifo x.gguf " ]
}

@test "gen: a long UTF-8 --name is written whole" {
	name=$(printf 'é%.0s' {1..100})
	run -0 wf-gen -o "$BATS_TEST_TMPDIR/n.gguf" --name "$name"
	run -0 wf-info "$BATS_TEST_TMPDIR/n.gguf"
	[[ "$output" == *"$name"* ]]
}

@test "gen: usage errors exit 2 with exact messages" {
	check() {
		want=$1; shift
		run -2 wf-gen "$@"
		[ "${lines[0]}" = "$want" ]
		[ "${lines[1]}" = "$USAGE1" ]
	}
	o=$BATS_TEST_TMPDIR/x.gguf
	check "wf-gen: -o OUT.gguf is required"
	check "wf-gen: option '-o' needs a value" -o
	check "wf-gen: option '--hidden' needs a value" -o "$o" --hidden
	check "wf-gen: --hidden: '0' is not a positive integer" -o "$o" --hidden 0
	check "wf-gen: --hidden: 'abc' is not a positive integer" -o "$o" --hidden abc
	check "wf-gen: unknown option '--bogus'" -o "$o" --bogus 1
	check "wf-gen: unexpected argument 'foo'" -o "$o" foo
	check "wf-gen: --type: unknown weight type 'q4' (i2_s, tq2_0, tq1_0, f32, f16, bf16)" -o "$o" --type q4
	check "wf-gen: --arch: unknown architecture 'llama' (bitnet, bitnet-b1.58)" -o "$o" --arch llama
	check "wf-gen: --shape: unknown shape 'huge' (tiny, 2b4t)" -o "$o" --shape huge
	check "wf-gen: --hidden 320 is not a multiple of 128" -o "$o" --hidden 320
	check "wf-gen: --hidden 384 is not a multiple of 256 (tq2_0)" -o "$o" --type tq2_0 --hidden 384
	check "wf-gen: --ffn 100 is not a multiple of 128" -o "$o" --ffn 100
	check "wf-gen: --heads 3 does not divide --hidden 256" -o "$o" --heads 3
	check "wf-gen: --kv-heads 3 does not divide --heads 4" -o "$o" --kv-heads 3
	check "wf-gen: head dimension 1 is odd (RoPE rotates pairs)" -o "$o" --hidden 128 --heads 128
	check "wf-gen: --vocab 271 is below 272 (256 byte tokens and 16 control tokens)" -o "$o" --vocab 271
	check "wf-gen: --act: unknown activation 'gelu' (relu2, silu, none)" -o "$o" --act gelu
	check "wf-gen: --rope-theta: '-1' is not a positive number" -o "$o" --rope-theta -1
	check "wf-gen: --seed: '-1' is not a non-negative integer" -o "$o" --seed -1
	check "wf-gen: --eps 5 is not below 1" -o "$o" --eps 5
	check "wf-gen: --ctx 99999999 is above 16777216, the most a reader accepts" -o "$o" --ctx 99999999
	check "wf-gen: --layers 2000 is above 1024, the most a reader accepts" -o "$o" --layers 2000
	check "wf-gen: --name: not valid UTF-8" -o "$o" --name $'bad\xffname'
	[ ! -e "$o" ]
}

@test "gen: --help prints the usage and exits 0" {
	run -0 wf-gen --help
	[ "${lines[0]}" = "$USAGE1" ]
}
