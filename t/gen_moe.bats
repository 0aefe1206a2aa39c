#!/usr/bin/env bats
# wf-gen's LRC and MoE variants: --lrc-rank, --experts, --experts-from-dense.
bats_require_minimum_version 1.5.0
load test_helper

USAGE1="usage: wf-gen -o OUT.gguf [--arch bitnet|bitnet-b1.58] [--type i2_s|tq2_0|tq1_0|f32|f16|bf16]"
PROMPT="1 2 3 4 5 6 7 8 9 10 11 12"

# logits OUT MODEL: the prompt's logits (every position) into OUT.
logits() {
	rm -f "$1"
	echo "$PROMPT" | wf-decode -m "$2" -n 0 --logits "$1"
}

@test "gen moe: keys, tensor names, types and shapes" {
	wf-gen -o "$BATS_TEST_TMPDIR/m.gguf" --layers 1 --experts 4 --experts-used 2 --expert-ffn 512 \
		--lrc-rank 8 --lrc-type f16
	run -0 ternary_gguf list "$BATS_TEST_TMPDIR/m.gguf"
	got=$(printf '%s\n' "$output" | grep -v '^tokenizer\|^general\|rope\|context\|vocab\|attention\.\|activation')
	[ "$got" = 'bitnet-b1.58.embedding_length UINT32 256
bitnet-b1.58.block_count UINT32 1
bitnet-b1.58.feed_forward_length UINT32 768
bitnet-b1.58.expert_count UINT32 4
bitnet-b1.58.expert_used_count UINT32 2
bitnet-b1.58.expert_feed_forward_length UINT32 512
bitnet-b1.58.lrc_rank UINT32 8
token_embd.weight F16 [256, 1024]
blk.0.attn_norm.weight F32 [256]
blk.0.attn_q.weight I2_S [256, 256]
blk.0.attn_q.lrc_v F16 [256, 8]
blk.0.attn_q.lrc_u F16 [8, 256]
blk.0.attn_k.weight I2_S [256, 128]
blk.0.attn_k.lrc_v F16 [256, 8]
blk.0.attn_k.lrc_u F16 [8, 128]
blk.0.attn_v.weight I2_S [256, 128]
blk.0.attn_v.lrc_v F16 [256, 8]
blk.0.attn_v.lrc_u F16 [8, 128]
blk.0.attn_output.weight I2_S [256, 256]
blk.0.attn_output.lrc_v F16 [256, 8]
blk.0.attn_output.lrc_u F16 [8, 256]
blk.0.attn_sub_norm.weight F32 [256]
blk.0.ffn_norm.weight F32 [256]
blk.0.ffn_gate_inp.weight F32 [256, 4]
blk.0.ffn_gate_exps.weight I2_S [256, 512, 4]
blk.0.ffn_up_exps.weight I2_S [256, 512, 4]
blk.0.ffn_down_exps.weight I2_S [512, 256, 4]
blk.0.ffn_sub_norm.weight F32 [512]
output_norm.weight F32 [256]' ]
	# a dense model with LRC has it on all seven linears
	wf-gen -o "$BATS_TEST_TMPDIR/l.gguf" --layers 1 --lrc-rank 4 --type tq2_0
	run -0 ternary_gguf list "$BATS_TEST_TMPDIR/l.gguf"
	got=$(printf '%s\n' "$output" | grep 'lrc\|ffn_down')
	[ "$got" = 'bitnet-b1.58.lrc_rank UINT32 4
blk.0.attn_q.lrc_v F32 [256, 4]
blk.0.attn_q.lrc_u F32 [4, 256]
blk.0.attn_k.lrc_v F32 [256, 4]
blk.0.attn_k.lrc_u F32 [4, 128]
blk.0.attn_v.lrc_v F32 [256, 4]
blk.0.attn_v.lrc_u F32 [4, 128]
blk.0.attn_output.lrc_v F32 [256, 4]
blk.0.attn_output.lrc_u F32 [4, 256]
blk.0.ffn_gate.lrc_v F32 [256, 4]
blk.0.ffn_gate.lrc_u F32 [4, 768]
blk.0.ffn_up.lrc_v F32 [256, 4]
blk.0.ffn_up.lrc_u F32 [4, 768]
blk.0.ffn_down.weight TQ2_0 [768, 256]
blk.0.ffn_down.lrc_v F32 [768, 4]
blk.0.ffn_down.lrc_u F32 [4, 256]' ]
}

# Experts copied from the dense FFN: with one expert used the router weight
# is exactly 1 (softmax of one logit: exp(0)/exp(0)) and the weighted sum is
# 0 + 1*y = y, so the logits are bit-identical.  With k > 1 identical experts
# the k weights sum to 1 only up to float rounding and the FFN output is
# sum_k (w_k*y) with a rounding per product and per addition, i.e. y(1+d) with
# |d| a few ulp; that perturbs the next layer's activations slightly (measured
# rel L2 0..3e-6, per row at most 7.4e-6), so the bound is 1e-4 and every
# position whose top-1 leads by more than 0.05 must agree.
@test "gen moe: a MoE of copies of the dense FFN gives the dense logits, in every ternary type" {
	d=$BATS_TEST_TMPDIR
	for t in i2_s tq2_0 tq1_0 f16; do
		wf-gen -o "$d/d.gguf" --type $t --layers 2 --seed 3
		logits "$d/d.f32" "$d/d.gguf"
		for k in 1 2 4; do
			wf-gen -o "$d/m.gguf" --type $t --layers 2 --seed 3 --experts 4 --experts-used $k --experts-from-dense
			logits "$d/m$k.f32" "$d/m.gguf"
		done
		run -0 cmp "$d/d.f32" "$d/m1.f32"
		run -0 model_cmp -l 1e-4 "$d/d.f32" "$d/m2.f32"
		run -0 model_cmp -l 1e-4 "$d/d.f32" "$d/m4.f32"
	done
	# the router is real: random experts under it route and change the logits
	wf-gen -o "$d/r.gguf" --type f16 --layers 2 --seed 3 --experts 4 --experts-used 2
	logits "$d/r.f32" "$d/r.gguf"
	run -1 model_cmp -l 1e-2 "$d/d.f32" "$d/r.f32"
}

@test "gen moe: experts from dense are byte copies of the dense tensors, in every type" {
	d=$BATS_TEST_TMPDIR
	for t in i2_s tq2_0 tq1_0 f32 f16 bf16; do
		wf-gen -o "$d/d.gguf" --type $t --layers 2 --seed 5 --ffn 512
		wf-gen -o "$d/m.gguf" --type $t --layers 2 --seed 5 --ffn 512 --experts 3 --experts-used 1 \
			--experts-from-dense
		run -0 gen_exps "$d/m.gguf" "$d/d.gguf"
		[ "$output" = "6 stacks of 3 experts: copies of the dense tensors" ]
	done
	# random experts are not
	wf-gen -o "$d/r.gguf" --type bf16 --layers 2 --seed 5 --ffn 512 --experts 3 --experts-used 1
	run -1 gen_exps "$d/r.gguf" "$d/d.gguf"
	[ "$output" = "blk.0.ffn_gate_exps.weight: expert 0 differs from blk.0.ffn_gate.weight" ]
}

@test "gen lrc: all-zero U gives exactly the dense logits; a real correction changes them" {
	d=$BATS_TEST_TMPDIR
	wf-gen -o "$d/d.gguf" --layers 2 --seed 3
	wf-gen -o "$d/z.gguf" --layers 2 --seed 3 --lrc-rank 8 --lrc-scale 0
	wf-gen -o "$d/zh.gguf" --layers 2 --seed 3 --lrc-rank 16 --lrc-scale 0 --lrc-type f16
	wf-gen -o "$d/l.gguf" --layers 2 --seed 3 --lrc-rank 8
	for f in d z zh l; do logits "$d/$f.f32" "$d/$f.gguf"; done
	run -0 cmp "$d/d.f32" "$d/z.f32"
	run -0 cmp "$d/d.f32" "$d/zh.f32"
	run -1 cmp -s "$d/d.f32" "$d/l.f32"
	# the default correction (U 0.01 g / sqrt(rank)) is small but real
	run -0 model_cmp -l 0.2 "$d/d.f32" "$d/l.f32"
	run -1 model_cmp -l 1e-3 "$d/d.f32" "$d/l.f32"
	# on a MoE model LRC is on the attention linears only; zero U changes nothing
	wf-gen -o "$d/m.gguf" --layers 2 --seed 3 --experts 4 --experts-used 2
	wf-gen -o "$d/mz.gguf" --layers 2 --seed 3 --experts 4 --experts-used 2 --lrc-rank 8 --lrc-scale 0
	wf-gen -o "$d/ml.gguf" --layers 2 --seed 3 --experts 4 --experts-used 2 --lrc-rank 8
	for f in m mz ml; do logits "$d/$f.f32" "$d/$f.gguf"; done
	run -0 cmp "$d/m.f32" "$d/mz.f32"
	run -1 cmp -s "$d/m.f32" "$d/ml.f32"
}

@test "gen moe/lrc: greedy generation runs on both, deterministically" {
	d=$BATS_TEST_TMPDIR
	wf-gen -o "$d/m.gguf" --layers 2 --seed 4 --experts 4 --experts-used 2 --lrc-rank 8 --type tq2_0
	wf-gen -o "$d/l.gguf" --layers 2 --seed 4 --lrc-rank 8 --type tq1_0
	for f in m l; do
		run -0 wf-decode -m "$d/$f.gguf" -n 6 <<<"1 2 3"
		[ "$(wc -w <<<"$output")" = 6 ]
		a=$output
		run -0 wf-decode -m "$d/$f.gguf" -n 6 -t 1 -b 1 <<<"1 2 3"
		[ "$output" = "$a" ]
	done
}

@test "gen moe/lrc: deterministic per seed; flags absent leave the file as it was" {
	d=$BATS_TEST_TMPDIR
	a=(--layers 1 --experts 3 --experts-used 2 --lrc-rank 4)
	wf-gen -o "$d/a.gguf" "${a[@]}" --seed 8
	wf-gen -o "$d/b.gguf" "${a[@]}" --seed=8
	wf-gen -o "$d/c.gguf" "${a[@]}" --seed 9
	run -0 cmp "$d/a.gguf" "$d/b.gguf"
	run -1 cmp -s "$d/a.gguf" "$d/c.gguf"
	wf-gen -o "$d/f.gguf" --layers 1 --experts 3 --experts-used 2 --experts-from-dense --seed 8
	wf-gen -o "$d/g.gguf" --layers 1 --experts 3 --experts-used 2 --experts-from-dense --seed 8
	run -0 cmp "$d/f.gguf" "$d/g.gguf"
	# the dense tiny model of t/gen.bats is untouched
	wf-gen -o "$d/t.gguf"
	[ "$(stat -c %s "$d/t.gguf")" = 1365920 ]
}

@test "gen moe/lrc: usage errors exit 2 with exact messages" {
	check() {
		want=$1; shift
		run -2 wf-gen "$@"
		[ "${lines[0]}" = "$want" ]
		[ "${lines[1]}" = "$USAGE1" ]
	}
	o=$BATS_TEST_TMPDIR/x.gguf
	check "wf-gen: --experts needs --experts-used" -o "$o" --experts 4
	check "wf-gen: --experts-used needs --experts" -o "$o" --experts-used 2
	check "wf-gen: --expert-ffn needs --experts" -o "$o" --expert-ffn 256
	check "wf-gen: --experts-from-dense needs --experts" -o "$o" --experts-from-dense
	check "wf-gen: --experts-used 5 is above --experts 4" -o "$o" --experts 4 --experts-used 5
	check "wf-gen: --experts 5000 is above 4096" -o "$o" --experts 5000 --experts-used 1
	check "wf-gen: --experts: '0' is not a positive integer" -o "$o" --experts 0
	check "wf-gen: --experts-used: 'x' is not a positive integer" -o "$o" --experts 2 --experts-used x
	check "wf-gen: --expert-ffn 384 is not a multiple of 256 (tq1_0)" -o "$o" --type tq1_0 --experts 2 \
		--experts-used 1 --expert-ffn 384
	check "wf-gen: --expert-ffn 200 is not a multiple of 128" -o "$o" --experts 2 --experts-used 1 --expert-ffn 200
	check "wf-gen: --experts-from-dense copies the dense FFN: --expert-ffn 512 must equal --ffn 768" -o "$o" \
		--experts 2 --experts-used 1 --expert-ffn 512 --experts-from-dense
	check "wf-gen: option '--experts-from-dense' takes no value" -o "$o" --experts-from-dense=1
	check "wf-gen: --lrc-type needs --lrc-rank" -o "$o" --lrc-type f16
	check "wf-gen: --lrc-scale needs --lrc-rank" -o "$o" --lrc-scale 0
	check "wf-gen: --lrc-type: unknown type 'q8_0' (f32, f16)" -o "$o" --lrc-rank 4 --lrc-type q8_0
	check "wf-gen: --lrc-scale: '-1' is not a non-negative number" -o "$o" --lrc-rank 4 --lrc-scale -1
	check "wf-gen: --lrc-rank: '0' is not a positive integer" -o "$o" --lrc-rank 0
	check "wf-gen: --lrc-rank 300 is above --hidden 256" -o "$o" --lrc-rank 300
	check "wf-gen: --lrc-rank 200 is above --ffn 128" -o "$o" --ffn 128 --lrc-rank 200
	[ ! -e "$o" ]
	# a MoE model has no LRC on ffn_down, so only H bounds the rank
	run -0 wf-gen -o "$o" --layers 1 --ffn 128 --lrc-rank 200 --experts 2 --experts-used 1
}
