#!/bin/sh
# bench/parallel.sh — batched decoding: R records (short distinct prompts,
# GEN ids each with --ignore-eos) through `wf-decode --parallel N` for
# several N, on the 2B-4T-shaped random model, generated ids per second.
#
#   bench/parallel.sh [MODEL [THREADS [R [GEN [PROMPT [NS]]]]]]
#   default: the 2B-4T I2_S model (written by wf-gen when absent, as
#   bench/2b4t.sh does), 2 threads, 16 records, 64 ids, 4-token prompts,
#   N in "1 4 8 16"
#
# Time per run is wall time less a run on empty input (loading the model),
# so t/s counts the prompts' prefill (R x PROMPT positions) against the
# generated ids.  Every run's output is checked equal to --parallel 1's.
# A run too short for its time to show past the load's (tiny R and GEN) has
# t/s - and a comment line saying so after the table.
set -eu
dir=${WF_BENCH_DIR:-/tmp/wf-bench}
bin=${WF_BUILD:-build}/bin
model=${1:-$dir/2b4t-i2_s.gguf}
t=${2:-2}
r=${3:-16}
gen=${4:-64}
plen=${5:-4}
ns=${6:-1 4 8 16}
if [ ! -f "$model" ]; then
	mkdir -p "$(dirname "$model")"
	echo "writing $model" >&2
	"$bin/wf-gen" -o "$model" --shape 2b4t --type i2_s >&2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# dash runs no EXIT trap on a signal: make the usual ones an exit
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
# prompt ids in [100, 30100), or in [100, vocab - 10) for a smaller vocabulary
vocab=$("$bin/wf-info" "$model" | awk '$1 ~ /\.vocab_size$/ { print $3; exit }')
awk -v r="$r" -v p="$plen" -v v="${vocab:-32000}" 'BEGIN { srand(1); span = v - 110 < 30000 ? v - 110 : 30000;
	for (i = 1; i <= r; i++) { printf "r%d\t", i;
	for (j = 0; j < p; j++) printf "%s%d", j ? " " : "", 100 + int(rand() * span); printf "\n" } }' > "$tmp/in.txt"
ctx=$((plen + gen + 8))
# secs IN OUT [OPTIONS]: wall seconds of one run
secs() {
	in=$1 out=$2
	shift 2
	t0=$(date +%s.%N)
	"$bin/wf-decode" -m "$model" -t "$t" -c "$ctx" -n "$gen" --ignore-eos "$@" < "$in" > "$out"
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}
echo "# $(date -u '+%Y-%m-%d %H:%M') $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# bench/parallel.sh $model $t $r $gen $plen   (wf-decode -t $t -c $ctx -n $gen --ignore-eos --parallel N, $r records of $plen ids)"
secs /dev/null /dev/null > /dev/null   # warm the page cache
load=$(secs /dev/null /dev/null)
echo "# load (empty input): $load s"
echo "| --parallel | wall s | generation s | ids | t/s | x --parallel 1 |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
base= short=
for n in $ns; do
	w=$(secs "$tmp/in.txt" "$tmp/out.$n" --parallel "$n")
	[ "$n" = "$(echo "$ns" | cut -d' ' -f1)" ] && cp "$tmp/out.$n" "$tmp/ref"
	cmp -s "$tmp/ref" "$tmp/out.$n" || { echo "--parallel $n: output differs" >&2; exit 1; }
	ids=$(cut -f2 "$tmp/out.$n" | wc -w)
	# a generation time (wall less load, in hundredths) of 0 or less cannot
	# be divided by: its rate, and a ratio to it, are - (not inf or nan)
	tps=$(echo "$w $load $ids" | awk '{ g = $1 - $2; if (g > 0.005) printf "%.1f", $3 / g; else print "-" }')
	[ "$tps" != - ] || short=1
	[ -n "$base" ] || base=$tps
	echo "$n $w $load $ids $tps $base" | awk '{ r = $5 == "-" || $6 == "-" || $6 == 0 ? "-" : sprintf("%.2f", $5 / $6)
		printf "| %d | %.2f | %.2f | %d | %s | %s |\n", $1, $2, $2 - $3, $4, $5, r }'
done
[ -z "$short" ] || echo "# t/s -: wall time less load is 0.00 s or less, too short to measure: raise R or GEN"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
