#!/usr/bin/env bats
# wf-convert: MoE experts and LRC tensors in checkpoints (synthetic
# checkpoints from t/unit/convert_mkckpt.c: hidden 256, ffn 512, 2 layers, vocab 64).
bats_require_minimum_version 1.5.0
load test_helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# logits OUT MODEL: the prompt's logits at every position.
logits() {
	rm -f "$1"
	echo "1 2 3 4 5 6 7 8 9 10 11 12" | wf-decode -m "$2" -n 0 --logits "$1"
}

@test "convert moe: Mixtral and Qwen-MoE names become ffn_gate_inp and _exps stacks; keys" {
	convert_mkckpt -e 4 -k 2 mx
	run -0 wf-convert -t TQ1_0 -o mx.gguf mx
	[ "$output" = "wf-convert: mx.gguf: 26 tensors, TQ1_0, 0.8 MiB (from mx)" ]
	run -0 ternary_gguf list mx.gguf
	got=$(printf '%s\n' "$output" | grep 'blk\.1\.\|expert')
	[ "$got" = 'bitnet-b1.58.expert_count UINT32 4
bitnet-b1.58.expert_used_count UINT32 2
bitnet-b1.58.expert_feed_forward_length UINT32 512
blk.1.attn_norm.weight F32 [256]
blk.1.attn_q.weight TQ1_0 [256, 256]
blk.1.attn_k.weight TQ1_0 [256, 128]
blk.1.attn_v.weight TQ1_0 [256, 128]
blk.1.attn_output.weight TQ1_0 [256, 256]
blk.1.attn_sub_norm.weight F32 [256]
blk.1.ffn_norm.weight F32 [256]
blk.1.ffn_gate_inp.weight F32 [256, 4]
blk.1.ffn_gate_exps.weight TQ1_0 [256, 512, 4]
blk.1.ffn_up_exps.weight TQ1_0 [256, 512, 4]
blk.1.ffn_down_exps.weight TQ1_0 [512, 256, 4]
blk.1.ffn_sub_norm.weight F32 [512]' ]
	convert_mkckpt -e 4 -k 2 -s qwen qw
	run -0 wf-convert -q -t TQ1_0 -o qw.gguf qw
	# the same tensors (other values: each tensor's stream is seeded by its name)
	[ "$(ternary_gguf list mx.gguf | grep '^blk')" = "$(ternary_gguf list qw.gguf | grep '^blk')" ]
	run -0 wf-decode -m qw.gguf -n 4 <<<"1 2 3"
	[ "$(wc -w <<<"$output")" = 4 ]
	# I2_S holds one scale per tensor: the experts (a scale each) go as TQ2_0
	run -0 wf-convert -q -o i.gguf mx
	run -0 ternary_gguf list i.gguf
	got=$(printf '%s\n' "$output" | grep 'blk\.0\.attn_q\|blk\.0.*exps\|file_type')
	[ "$got" = 'general.file_type UINT32 40
blk.0.attn_q.weight I2_S [256, 256]
blk.0.ffn_gate_exps.weight TQ2_0 [256, 512, 4]
blk.0.ffn_up_exps.weight TQ2_0 [256, 512, 4]
blk.0.ffn_down_exps.weight TQ2_0 [512, 256, 4]' ]
}

# Experts copied from the dense FFN, latent floats ternarised per expert:
# each copy gets the dense tensor's trits and absmean scale.  One expert
# used: router weight exactly 1, logits bit-identical.  Two used: the
# weights sum to 1 up to float rounding (measured rel L2 0 to 5e-9).  I2_S:
# the experts are TQ2_0, whose scale is the absmean rounded to f16 where
# I2_S keeps it in f32 -- the same 2^-11 rounding that puts the dense I2_S
# and TQ2_0 conversions 0.0064 apart; measured 0.0041, bound 0.02.
@test "convert moe: experts copied from the dense FFN give the dense conversion's logits" {
	convert_mkckpt d
	convert_mkckpt -e 4 -k 1 -d m1
	convert_mkckpt -e 4 -k 2 -d -s qwen m2
	for t in TQ2_0 TQ1_0 F32 I2_S; do
		for c in d m1 m2; do
			wf-convert -q -t $t -o $c.gguf $c
			logits $c.f32 $c.gguf
		done
		if [ $t = I2_S ]; then
			run -0 model_cmp -V 64 -l 0.02 d.f32 m1.f32
			run -0 model_cmp -V 64 -l 0.02 d.f32 m2.f32
		else
			run -0 cmp d.f32 m1.f32
			run -0 model_cmp -V 64 -l 1e-4 d.f32 m2.f32
		fi
	done
	# random experts route and change the logits
	convert_mkckpt -e 4 -k 2 r
	wf-convert -q -t F32 -o r.gguf r
	logits r.f32 r.gguf
	run -1 model_cmp -V 64 -l 0.02 d.f32 r.f32
}

@test "convert lrc: <proj>.lrc_U [out, rank] / lrc_V [rank, in] become lrc_u / lrc_v; zero U is the dense model" {
	convert_mkckpt d
	convert_mkckpt -r 8 l
	convert_mkckpt -r 8 -z z
	run -0 wf-convert -q -t TQ2_0 -o l.gguf l
	run -0 ternary_gguf list l.gguf
	got=$(printf '%s\n' "$output" | grep 'lrc' | grep 'blk\.0\.\|rank')
	[ "$got" = 'bitnet-b1.58.lrc_rank UINT32 8
blk.0.attn_q.lrc_v F32 [256, 8]
blk.0.attn_q.lrc_u F32 [8, 256]
blk.0.attn_k.lrc_v F32 [256, 8]
blk.0.attn_k.lrc_u F32 [8, 128]
blk.0.attn_v.lrc_v F32 [256, 8]
blk.0.attn_v.lrc_u F32 [8, 128]
blk.0.attn_output.lrc_v F32 [256, 8]
blk.0.attn_output.lrc_u F32 [8, 256]
blk.0.ffn_gate.lrc_v F32 [256, 8]
blk.0.ffn_gate.lrc_u F32 [8, 512]
blk.0.ffn_up.lrc_v F32 [256, 8]
blk.0.ffn_up.lrc_u F32 [8, 512]
blk.0.ffn_down.lrc_v F32 [512, 8]
blk.0.ffn_down.lrc_u F32 [8, 256]' ]
	for t in TQ2_0 I2_S; do
		for c in d l z; do
			wf-convert -q -t $t -o $c.gguf $c
			logits $c.f32 $c.gguf
		done
		run -0 cmp d.f32 z.f32
		run -1 cmp -s d.f32 l.f32
		run -0 model_cmp -V 64 -l 0.2 d.f32 l.f32
	done
	run -0 wf-decode -m l.gguf -n 4 <<<"1 2 3"
	[ "$(wc -w <<<"$output")" = 4 ]
	# LRC and MoE together: attention LRC only (experts have none)
	convert_mkckpt -e 2 -k 1 -r 4 ml
	run -0 wf-convert -q -o ml.gguf ml
	run -0 ternary_gguf list ml.gguf
	[ "$(printf '%s\n' "$output" | grep -c 'lrc_[uv] ')" = 16 ]
	run -0 wf-decode -m ml.gguf -n 4 <<<"1 2 3"
	[ "$(wc -w <<<"$output")" = 4 ]
}

@test "convert: layers past num_hidden_layers are named as such" {
	convert_mkckpt m
	sed -i 's/"num_hidden_layers": 2/"num_hidden_layers": 1/' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/model.safetensors: tensor 'model.layers.1.input_layernorm.weight': layer 1 is past config.json's num_hidden_layers 1" ]
	[ ! -e x.gguf ]
}

@test "convert moe/lrc: refusals name the tensor or key" {
	convert_mkckpt -e 4 -k 2 m
	sed -i 's/"num_experts_per_tok": 2/"num_experts_per_tok": 5/' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/config.json: 'num_experts_per_tok': expected an integer in 1..4" ]
	sed -i 's/, "num_experts_per_tok": 5//' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/config.json: 'num_experts_per_tok' is missing" ]
	convert_mkckpt -e 4 -k 2 m
	sed -i 's/"num_local_experts": 4/"num_local_experts": 3/' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/model.safetensors: tensor 'model.layers.0.block_sparse_moe.gate.weight': expected [3, 256], found [4, 256]" ]
	sed -i 's/"num_local_experts": 3, //' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/model.safetensors: tensor 'model.layers.0.block_sparse_moe.gate.weight': MoE tensor but config.json has no num_local_experts or num_experts" ]
	convert_mkckpt -r 8 l
	sed -i 's/"lrc_rank": 8/"lrc_rank": 4/' l/config.json
	run -1 wf-convert -q -o x.gguf l
	[ "$output" = "wf-convert: tensor 'model.layers.0.self_attn.q_proj.lrc_V.weight': rank 8 differs from config.json's lrc_rank 4" ]
	[ ! -e x.gguf ]
}
