#!/bin/bash
# bench/output-q8.sh — what the 8-bit (Q8_0) output matrix does to the
# logits and to greedy decoding, against wf's exact F16 product and the
# peers' own distances (../shared/fixtures/peers/README.md: bitnet.cpp I2_S
# vs TQ2_0 on the same weights is rel L2 0.0258, top-1 264/272, greedy
# identical 3/4).
#
#   bench/output-q8.sh [SHARED]     (default ../shared)
#
# Peers' fixtures: the 4 sequences of seqs.txt through each of the 4 models
# (F16 cache as the peers), logits with WF_OUTPUT=f16 and WF_OUTPUT=q8_0,
# compared with each other and with the peer's logits (model_cmp: rel L2
# over all positions, top-1 agreement); then 32 greedy tokens after each
# sequence with either output, and how many leading tokens agree.
# tiny-shakespeare (trained): the 6 golden prompts, 48 greedy tokens against
# the float64 reference's, leading tokens equal, with either output.
# Needs jq(1) (not installed by .ci/run: apt-get install jq) and `make`
# (wf-decode and build/t/model_cmp).
set -eu
shared=${1:-../shared}
P=$shared/fixtures/peers
S=$shared/models/tiny-shakespeare-bitnet
PATH=${WF_BUILD:-build}/bin:${WF_BUILD:-build}/t:$PATH
# checked first: the second table needs them after minutes of the first
command -v jq > /dev/null || { echo "output-q8.sh: needs jq (apt-get install jq)" >&2; exit 1; }
for d in "$P" "$S"; do
	[ -d "$d" ] || { echo "output-q8.sh: $d: no such directory (the ../shared fixtures)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
same() {   # leading words equal in two lines
	awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x); split(b, y); for (i = 1; i <= n && x[i] == y[i]; i++); print i - 1 }'
}
field() { sed -n "s/\(.* \)*$1 \([^ ]*\).*/\2/p"; }
echo "# $(date -u +%Y-%m-%d) bench/output-q8.sh $shared"
echo "| model | seq | rows | q8 vs f16 rel L2 | q8 vs f16 top-1 | f16 vs peer rel L2 | q8 vs peer rel L2 | q8 vs peer top-1 | greedy 32: equal leading tokens | teacher-forced on F16's greedy (margin 0.02) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for m in tiny-b158-i2_s tiny-b158-tq2_0 tiny-bitnet-tq2_0 tiny-bitnet-tq1_0; do
	fl="--kv-type f16"
	case $m in tiny-bitnet-*) fl="--act silu --kv-type f16" ;; esac
	for k in 0 1 2 3; do
		ids=$(sed -n "$((k + 1))p" "$P/seqs.txt")
		for o in f16 q8_0; do
			rm -f "$tmp/$o.f32"
			echo "$ids" | WF_OUTPUT=$o wf-decode -m "$P/$m.gguf" -n 0 $fl --logits "$tmp/$o.f32" > /dev/null
			WF_OUTPUT=$o wf-decode -m "$P/$m.gguf" -n 32 --ignore-eos $fl <<<"$ids" > "$tmp/$o.g"
		done
		# teacher forcing along F16's greedy tokens: Q8_0's argmax must agree
		# at every step up to its own first top1-top2 margin below 0.02
		rm -f "$tmp/tf.f32"
		echo "$ids $(cut -d' ' -f1-31 "$tmp/f16.g")" |
			WF_OUTPUT=q8_0 wf-decode -m "$P/$m.gguf" -n 0 $fl --logits "$tmp/tf.f32" > /dev/null
		n=$(wc -w <<<"$ids")
		tf=$(model_cmp -V 1024 -M 0.02 -g "$tmp/f16.g" -s $((n - 1)) "$tmp/tf.f32" && echo ok || echo MISMATCH)
		qf=$(model_cmp -V 1024 "$tmp/q8_0.f32" "$tmp/f16.f32" || true)
		fp=$(model_cmp -V 1024 "$tmp/f16.f32" "$P/$m.s$k.f32" || true)
		qp=$(model_cmp -V 1024 "$tmp/q8_0.f32" "$P/$m.s$k.f32" || true)
		echo "| $m | $k | $(field rows <<<"$qf") | $(field rel_l2 <<<"$qf") | $(field top1 <<<"$qf") |" \
		     "$(field rel_l2 <<<"$fp") | $(field rel_l2 <<<"$qp") | $(field top1 <<<"$qp") |" \
		     "$(same "$(cat "$tmp/q8_0.g")" "$(cat "$tmp/f16.g")")/32 | $(tr '\n' ' ' <<<"$tf")|"
	done
done
echo
echo "| tiny-shakespeare prompt | greedy 48, F16 output: equal leading tokens | Q8_0 output | Q8_0 vs F16 |"
echo "| ---: | ---: | ---: | ---: |"
for pi in 0 1 2 3 4 5; do
	p=$(jq -r ".prompts[$pi].ids | map(tostring) | join(\" \")" "$S/golden.json")
	g=$(jq -r ".prompts[$pi].ar_greedy_48 | map(tostring) | join(\" \")" "$S/golden.json")
	a=$(WF_OUTPUT=f16 wf-decode -m "$S/tiny-shakespeare-bitnet-b158-tq2_0.gguf" -n 48 --ignore-eos <<<"$p")
	b=$(WF_OUTPUT=q8_0 wf-decode -m "$S/tiny-shakespeare-bitnet-b158-tq2_0.gguf" -n 48 --ignore-eos <<<"$p")
	echo "| $pi | $(same "$a" "$g")/48 | $(same "$b" "$g")/48 | $(same "$b" "$a")/48 |"
done
