#!/usr/bin/env bats
# wf-decode: the record contract, options, errors, determinism.
load test_helper

setup_file() {
	wf-gen -o "$BATS_FILE_TMPDIR/m.gguf" --shape tiny --seed 3 >/dev/null
	wf-gen -o "$BATS_FILE_TMPDIR/tq1.gguf" --shape tiny --seed 3 --type tq1_0 >/dev/null
	wf-gen -o "$BATS_FILE_TMPDIR/f16.gguf" --shape tiny --seed 3 --type f16 >/dev/null
	wf-gen -o "$BATS_FILE_TMPDIR/tq2.gguf" --shape tiny --seed 3 --type tq2_0 >/dev/null
}

setup() {
	M="$BATS_FILE_TMPDIR/m.gguf"
}

count() { wc -w <<<"$1" | tr -d ' '; }

@test "greedy: exactly -n ids per record, keys passed through, empty records kept" {
	run -0 wf-decode -m "$M" -n 5 < <(printf 'a\t1 2 3\n\n4 5\n')
	[ "${#lines[@]}" -eq 3 ] || [ "$(printf '%s\n' "$output" | wc -l)" -eq 3 ]
	[[ "${lines[0]}" == a$'\t'* ]]
	[ "$(count "${lines[0]#a?}")" -eq 5 ]
	k=$(printf '%s\n' "$output" | sed -n 2p)
	[ -z "$k" ]
}

@test "greedy output is deterministic and independent of threads and batch size" {
	a=$(echo 7 8 9 10 | wf-decode -m "$M" -n 16 -t 1)
	b=$(echo 7 8 9 10 | wf-decode -m "$M" -n 16 -t 2 -b 1)
	[ "$a" = "$b" ]
	[ "$(count "$a")" -eq 16 ]
}

@test "--logits: batched prefill equals one token at a time, any thread count" {
	echo 5 6 7 8 9 10 11 12 13 | wf-decode -m "$M" -n 0 -t 1 --logits "$BATS_TEST_TMPDIR/a.f32"
	echo 5 6 7 8 9 10 11 12 13 | wf-decode -m "$M" -n 0 -t 2 -b 1 --logits "$BATS_TEST_TMPDIR/b.f32"
	echo 5 6 7 8 9 10 11 12 13 | wf-decode -m "$M" -n 0 -t 2 -b 4 --logits "$BATS_TEST_TMPDIR/c.f32"
	cmp "$BATS_TEST_TMPDIR/a.f32" "$BATS_TEST_TMPDIR/b.f32"
	cmp "$BATS_TEST_TMPDIR/a.f32" "$BATS_TEST_TMPDIR/c.f32"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/a.f32")" -eq $((9 * 1024 * 4)) ]
}

@test "--logits appends one block per record; -n 0 writes empty records" {
	run -0 wf-decode -m "$M" -n 0 --logits "$BATS_TEST_TMPDIR/l.f32" < <(printf '1 2\nk\t3\n')
	[ "$output" = $'\nk\t' ]
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/l.f32")" -eq $((3 * 1024 * 4)) ]
}

@test "--echo writes the prompt first" {
	g=$(echo 1 2 3 | wf-decode -m "$M" -n 4)
	run -0 wf-decode -m "$M" -n 4 --echo <<<"1 2 3"
	[ "$output" = "1 2 3 $g" ]
}

@test "prefix reuse across records gives the same results as fresh contexts" {
	a=$(printf '1 2 3 4\n1 2 3 5\n1 2 3 4\n' | wf-decode -m "$M" -n 6)
	b=$( (echo 1 2 3 4 | wf-decode -m "$M" -n 6; echo 1 2 3 5 | wf-decode -m "$M" -n 6;
	      echo 1 2 3 4 | wf-decode -m "$M" -n 6) )
	[ "$a" = "$b" ]
}

@test "--stop-id stops before the stop token" {
	g=$(echo 1 2 3 | wf-decode -m "$M" -n 4)
	set -- $g
	run -0 wf-decode -m "$M" -n 4 --stop-id "$3" <<<"1 2 3"
	[ "$output" = "$1 $2" ]
}

@test "sampling: the same seed gives the same output, another seed another" {
	a=$(echo 1 2 3 | wf-decode -m "$M" --temp 1 --seed 7 -n 12 --top-k 0 --top-p 1 --min-p 0)
	b=$(echo 1 2 3 | wf-decode -m "$M" --temp 1 --seed 7 -n 12 --top-k 0 --top-p 1 --min-p 0)
	c=$(echo 1 2 3 | wf-decode -m "$M" --temp 1 --seed 8 -n 12 --top-k 0 --top-p 1 --min-p 0)
	[ "$a" = "$b" ]
	[ "$a" != "$c" ]
	[ "$(count "$a")" -eq 12 ]
}

@test "sampling with top-k 1 is greedy" {
	g=$(echo 4 5 6 | wf-decode -m "$M" -n 8)
	run -0 wf-decode -m "$M" --temp 0.8 --top-k 1 --seed 1 -n 8 <<<"4 5 6"
	[ "$output" = "$g" ]
}

@test "bad records: message with record number, empty record, processing goes on, exit 1" {
	run -1 wf-decode -m "$M" -n 2 < <(printf '1 x 3\nk\t99999\n4 5\n')
	[ "${lines[0]}" = "wf-decode: record 1: token 2: 'x' is not a token id" ]
	[ "${lines[1]}" = "wf-decode: record 2: token 1: id 99999 out of range [0, 1024)" ]
	run -1 wf-decode -m "$M" -n 2 < <(printf '1 x 3\nk\t99999\n4 5\n') 2>/dev/null
}

@test "bad records keep alignment on stdout" {
	out=$(printf '1 x 3\nk\t99999\n4 5\n' | wf-decode -m "$M" -n 2 2>/dev/null) || true
	[ "$(printf '%s\n' "$out" | sed -n 1p)" = "" ]
	[ "$(printf '%s\n' "$out" | sed -n 2p)" = $'k\t' ]
	[ "$(count "$(printf '%s\n' "$out" | sed -n 3p)")" -eq 2 ]
}

@test "--strict stops at the first bad record" {
	run -1 wf-decode -m "$M" -n 2 --strict < <(printf '1 x\n4 5\n')
	[ "$output" = "wf-decode: record 1: token 2: 'x' is not a token id" ]
}

@test "a read error ends the input: one message, no output line, exit 1, in every mode" {
	for mode in "" "--parallel 2" "--unordered" "--score" "--mc"; do
		run --separate-stderr -1 timeout 20 wf-decode -m "$M" -n 2 $mode < /
		[ "$output" = "" ] || { echo "$mode: stdout '$output'"; return 1; }
		[ "$stderr" = "wf-decode: standard input: read error: Is a directory" ] || { echo "$mode: $stderr"; return 1; }
	done
}

@test "a closed stdin or stdout is an error, never the model file read as input" {
	E="$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf"
	run -1 bash -c "wf-tok -m '$E' <&-"
	[ "$output" = "wf-tok: standard input: read error: Bad file descriptor" ]
	run -1 bash -c "wf-detok -m '$E' <&-"
	[ "$output" = "wf-detok: standard input: read error: Bad file descriptor" ]
	run -1 bash -c "wf-decode -m '$E' -n 2 <&-"
	[ "$output" = "wf-decode: standard input: read error: Bad file descriptor" ]
	run -1 bash -c "echo 1 2 | wf-decode -m '$E' -n 2 >&-"
	[ "$output" = "wf-decode: write error on standard output: Bad file descriptor" ]
}

@test "WF_OUTPUT other than q8_0, f16 or empty is an error naming it" {
	WF_OUTPUT=q8 run -1 wf-decode -m "$M" -n 1 </dev/null
	[ "$output" = "wf-decode: $M: WF_OUTPUT: 'q8' is not q8_0 or f16" ]
	WF_OUTPUT= run -0 wf-decode -m "$M" -n 1 </dev/null
}

@test "a prompt longer than the context is an error for that record" {
	run -1 wf-decode -m "$M" -c 8 -n 2 < <(echo 1 2 3 4 5 6 7 8 9; echo 1 2)
	[ "${lines[0]}" = "wf-decode: record 1: prompt of 9 tokens does not fit in the context of 8" ]
	[ "$(count "${lines[1]}")" -eq 2 ]
}

@test "generation stops when the context is full" {
	run -0 wf-decode -m "$M" -c 8 -n 100 <<<"1 2 3 4 5 6"
	[ "$(count "$output")" -eq 3 ]
}

@test "TQ1_0 gives the same logits as I2_S of the same weights; F16 weights load" {
	for f in m tq1 f16; do
		echo 9 8 7 6 | wf-decode -m "$BATS_FILE_TMPDIR/$f.gguf" -n 0 --logits "$BATS_TEST_TMPDIR/$f.f32"
	done
	cmp "$BATS_TEST_TMPDIR/m.f32" "$BATS_TEST_TMPDIR/tq1.f32"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/f16.f32")" -eq $((4 * 1024 * 4)) ]
}

@test "model from WF_MODEL" {
	a=$(echo 1 2 | wf-decode -m "$M" -n 3)
	b=$(echo 1 2 | WF_MODEL="$M" wf-decode -n 3)
	[ "$a" = "$b" ]
}

@test "usage errors exit 2" {
	run -2 wf-decode -m "$M" --temp -1
	[ "${lines[0]}" = "wf-decode: --temp: -1 is not a finite number >= 0" ]
	run -2 wf-decode -m "$M" --act gelu
	[ "${lines[0]}" = "wf-decode: --act: 'gelu' is not relu2 or silu" ]
	run -2 wf-decode -m "$M" -n x
	[ "${lines[0]}" = "wf-decode: -n: 'x' is not an integer in [-1, 2147483647]" ]
	run -2 wf-decode -m "$M" --top-p 2
	[ "${lines[0]}" = "wf-decode: --top-p: 2 is not in [0, 1]" ]
	run -2 wf-decode -m "$M" extra
	[ "${lines[0]}" = "wf-decode: unexpected argument 'extra'" ]
}

@test "broken models: precise messages" {
	T="$BATS_TEST_TMPDIR/bad.gguf"
	model_edit "$M" "$T" drop=blk.1.ffn_up.weight
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: tensor 'blk.1.ffn_up.weight' is missing (expected [256, 768])" ]
	model_edit "$M" "$T" shape=blk.0.attn_k.weight:256,256
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: tensor 'blk.0.attn_k.weight': expected [256, 128], found [256, 256]" ]
	model_edit "$M" "$T" u32=bitnet-b1.58.attention.head_count:3
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: key 'bitnet-b1.58.attention.head_count': 3 does not divide embedding_length 256" ]
	model_edit "$M" "$T" delkey=bitnet-b1.58.block_count
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: key 'bitnet-b1.58.block_count' is missing" ]
	model_edit "$M" "$T" str=general.architecture:llama
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: architecture 'llama' is not supported (bitnet-b1.58, bitnet-25, bitnet)" ]
	model_edit "$M" "$T" str=bitnet-b1.58.hidden_activation:gelu
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: key 'bitnet-b1.58.hidden_activation': 'gelu' is not supported (relu2, silu)" ]
}

@test "activation: file key, overridden by --act" {
	T="$BATS_TEST_TMPDIR/silu.gguf"
	model_edit "$M" "$T" str=bitnet-b1.58.hidden_activation:silu
	a=$(echo 1 2 3 | wf-decode -m "$T" -n 6)
	b=$(echo 1 2 3 | wf-decode -m "$M" -n 6 --act silu)
	c=$(echo 1 2 3 | wf-decode -m "$T" -n 6 --act relu2)
	d=$(echo 1 2 3 | wf-decode -m "$M" -n 6)
	[ "$a" = "$b" ]
	[ "$c" = "$d" ]
	[ "$a" != "$d" ]
}

@test "a closed pipe ends quietly" {
	run -0 bash -c "yes '1 2 3' | head -50 | wf-decode -m '$M' -n 4 | head -1 >/dev/null"
	[ "$output" = "" ]
}

@test "LRC: zero U changes nothing; a real correction is batch- and thread-invariant" {
	T="$BATS_TEST_TMPDIR"
	model_edit "$M" "$T/z.gguf" add=blk.0.attn_q.lrc_v:256,8:0.1 add=blk.0.attn_q.lrc_u:8,256:0
	model_edit "$M" "$T/l.gguf" add=blk.1.ffn_down.lrc_v:768,8:0.1 add=blk.1.ffn_down.lrc_u:8,256:0.1 \
		add=blk.2.attn_k.lrc_v:256,8:0.1 add=blk.2.attn_k.lrc_u:8,128:0.1 u32=bitnet-b1.58.lrc_rank:8 \
		add=blk.3.ffn_up.lrc_v:256,8:0.1 add=blk.3.ffn_up.lrc_u:8,768:0.1
	for f in m z l; do
		m=$T/$f.gguf
		[ "$f" = m ] && m=$M
		echo 1 2 3 4 5 | wf-decode -m "$m" -n 0 -t 2 --logits "$T/$f.f32"
	done
	echo 1 2 3 4 5 | wf-decode -m "$T/l.gguf" -n 0 -t 1 -b 1 --logits "$T/l1.f32"
	cmp "$T/m.f32" "$T/z.f32"
	cmp "$T/l.f32" "$T/l1.f32"
	run -1 cmp -s "$T/m.f32" "$T/l.f32"
}

@test "LRC: incomplete or mis-shaped tensors are errors" {
	T="$BATS_TEST_TMPDIR/bad.gguf"
	model_edit "$M" "$T" add=blk.1.ffn_down.lrc_v:768,8:0.1
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: tensor 'blk.1.ffn_down.lrc_u' is missing (LRC needs both blk.1.ffn_down.lrc_u and blk.1.ffn_down.lrc_v)" ]
	model_edit "$M" "$T" add=blk.1.ffn_down.lrc_v:768,8:0.1 add=blk.1.ffn_down.lrc_u:8,255:0.1
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: tensor 'blk.1.ffn_down.lrc_u': expected [8, 256], found [8, 255]" ]
}

# A MoE version of the TQ2_0 tiny model: 4 experts per layer, expert 0 the
# dense FFN, the others other tensors of the same shapes; router $1 (a
# scale for random values, 0: all logits tie, so top-1 picks expert 0).
make_moe() { # ROUTER USED OUT
	local l n args=""
	for l in 0 1 2 3; do
		n=$(((l + 1) % 4))
		args="$args cat=blk.$l.ffn_gate_exps.weight:blk.$l.ffn_gate.weight,blk.$l.ffn_up.weight,blk.$n.ffn_gate.weight,blk.$n.ffn_up.weight"
		args="$args cat=blk.$l.ffn_up_exps.weight:blk.$l.ffn_up.weight,blk.$l.ffn_gate.weight,blk.$n.ffn_up.weight,blk.$n.ffn_gate.weight"
		args="$args cat=blk.$l.ffn_down_exps.weight:blk.$l.ffn_down.weight,blk.$n.ffn_down.weight,blk.$n.ffn_down.weight,blk.$l.ffn_down.weight"
		args="$args drop=blk.$l.ffn_gate.weight drop=blk.$l.ffn_up.weight drop=blk.$l.ffn_down.weight"
		args="$args add=blk.$l.ffn_gate_inp.weight:256,4:$1"
	done
	model_edit "$BATS_FILE_TMPDIR/tq2.gguf" "$3" $args u32=bitnet-b1.58.expert_count:4 \
		u32=bitnet-b1.58.expert_used_count:"$2"
}

@test "MoE: top-1 of tied router logits is expert 0, which equals the dense model" {
	T="$BATS_TEST_TMPDIR"
	make_moe 0 1 "$T/moe.gguf"
	echo 1 2 3 4 5 6 7 | wf-decode -m "$BATS_FILE_TMPDIR/tq2.gguf" -n 0 --logits "$T/d.f32"
	echo 1 2 3 4 5 6 7 | wf-decode -m "$T/moe.gguf" -n 0 --logits "$T/m.f32"
	cmp "$T/d.f32" "$T/m.f32"
}

@test "MoE: a real router (top-2) is deterministic, batch- and thread-invariant, and routes" {
	T="$BATS_TEST_TMPDIR"
	make_moe 1 2 "$T/moe.gguf"
	echo 1 2 3 4 5 6 7 | wf-decode -m "$BATS_FILE_TMPDIR/tq2.gguf" -n 0 --logits "$T/d.f32"
	echo 1 2 3 4 5 6 7 | wf-decode -m "$T/moe.gguf" -n 0 -t 2 --logits "$T/a.f32"
	echo 1 2 3 4 5 6 7 | wf-decode -m "$T/moe.gguf" -n 0 -t 1 -b 1 --logits "$T/b.f32"
	cmp "$T/a.f32" "$T/b.f32"
	run -1 cmp -s "$T/a.f32" "$T/d.f32"
	run -0 wf-decode -m "$T/moe.gguf" -n 5 <<<"1 2 3"
	[ "$(count "$output")" -eq 5 ]
}

@test "MoE: missing keys and tensors are errors" {
	T="$BATS_TEST_TMPDIR/bad.gguf"
	model_edit "$BATS_FILE_TMPDIR/tq2.gguf" "$T" add=blk.0.ffn_gate_inp.weight:256,4:1
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: tensor 'blk.0.ffn_gate_inp.weight': key 'bitnet-b1.58.expert_count' is missing" ]
	model_edit "$BATS_FILE_TMPDIR/tq2.gguf" "$T" add=blk.0.ffn_gate_inp.weight:256,4:1 \
		u32=bitnet-b1.58.expert_count:4 u32=bitnet-b1.58.expert_used_count:2
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: tensor 'blk.0.ffn_gate_exps.weight' is missing (expected [256, 768, 4])" ]
	model_edit "$BATS_FILE_TMPDIR/tq2.gguf" "$T" u32=bitnet-b1.58.expert_count:4
	run -1 wf-decode -m "$T" <<<"1"
	[ "$output" = "wf-decode: $T: key 'bitnet-b1.58.expert_used_count' is missing" ]
}

@test "wf_ctx_eval contract for block diffusion (model_eval)" {
	run -0 model_eval "$M"
	[ "${lines[0]}" = "ok 1 non-committing evaluation leaves the cache alone" ]
	[ "${lines[4]}" = "ok 5 bad requests fail: token 1: id 1024 out of range [0, 1024)" ]
	[ "${lines[5]}" = "ok 6 pre-packed matrices (28) give the same logits" ]
	[ "${lines[6]}" = "ok 7 logits of the last rows only equal those rows of the full answer" ]
}

@test "generation stops at the model's end-of-generation token unless --ignore-eos" {
	g=$(echo 1 2 3 | wf-decode -m "$M" -n 4)
	set -- $g
	T="$BATS_TEST_TMPDIR/eos.gguf"
	model_edit "$M" "$T" u32=tokenizer.ggml.eos_token_id:"$3"
	run -0 wf-decode -m "$T" -n 4 <<<"1 2 3"
	[ "$output" = "$1 $2" ]
	run -0 wf-decode -m "$T" -n 4 --ignore-eos <<<"1 2 3"
	[ "$output" = "$g" ]
}

@test "sampler rules (model_sampler)" {
	run -0 model_sampler
	[ "$(grep -c '^ok' <<<"$output")" -eq 10 ]
}

@test "--logits does not change what is generated" {
	a=$(printf '1 2 3\n4 5 6 7\n' | wf-decode -m "$M" -n 6)
	b=$(printf '1 2 3\n4 5 6 7\n' | wf-decode -m "$M" -n 6 -b 2 --logits "$BATS_TEST_TMPDIR/l.f32")
	[ "$a" = "$b" ]
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/l.f32")" -eq $((7 * 1024 * 4)) ]
}
