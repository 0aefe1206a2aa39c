#!/bin/sh
# bench/prefix.sh — prefix reuse in wf-decode: N records that share a
# P-token prefix (a system prompt, a few-shot context) then differ in an
# S-token suffix, against N records of the same lengths whose prefixes all
# differ.  wf-decode keeps the longest cached prefix shared with the previous
# record (wf_ctx_reuse_prefix), so from the second record on only the suffix
# is prefilled.
#
#   bench/prefix.sh [MODEL [N [P [S [GEN [THREADS]]]]]]
#   default: the 2B-4T I2_S model, 4 records, P 500, S 20, GEN 8, 2 threads
set -eu
model=${1:-${WF_BENCH_DIR:-/tmp/wf-bench}/2b4t-i2_s.gguf}
n=${2:-4}
p=${3:-500}
s=${4:-20}
gen=${5:-8}
t=${6:-2}
bin=${WF_BUILD:-build}/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# dash runs no EXIT trap on a signal: make the usual ones an exit
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
# deterministic pseudo-random ids in [10, vocab - 10)
vocab=$("$bin/wf-info" "$model" | awk '$1 ~ /\.vocab_size$/ { print $3; exit }')
ids() { awk -v n="$1" -v seed="$2" -v v="${vocab:-2048}" 'BEGIN { srand(seed); for (i = 0; i < n; i++) printf "%s%d", i ? " " : "", 10 + int(rand() * (v - 20)) }'; }
shared=$(ids "$p" 1)
: > "$tmp/shared.txt"; : > "$tmp/distinct.txt"
for i in $(seq "$n"); do
	printf 'r%d\t%s %s\n' "$i" "$shared" "$(ids "$s" $((100 + i)))" >> "$tmp/shared.txt"
	printf 'r%d\t%s %s\n' "$i" "$(ids "$p" $((200 + i)))" "$(ids "$s" $((100 + i)))" >> "$tmp/distinct.txt"
done
ctx=$((p + s + gen + 8))
run() {
	t0=$(date +%s.%N)
	"$bin/wf-decode" -m "$model" -t "$t" -c "$ctx" -n "$gen" --ignore-eos < "$1" > "$1.out"
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}
echo "# $(date -u +%Y-%m-%d) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# bench/prefix.sh $model $n $p $s $gen $t   (wf-decode -t $t -c $ctx -n $gen --ignore-eos)"
"$bin/wf-decode" -m "$model" -t "$t" -c 16 -n 1 < /dev/null > /dev/null   # warm the page cache
a=$(run "$tmp/distinct.txt")
b=$(run "$tmp/shared.txt")
echo "| records | prefix | suffix | generated | distinct prefixes s | shared prefix s | saving |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
echo "$a $b" | awk -v n="$n" -v p="$p" -v s="$s" -v g="$gen" '{ printf "| %d | %d | %d | %d | %.2f | %.2f | %.0f %% |\n", n, p, s, g, $1, $2, 100 * (1 - $2 / $1) }'
