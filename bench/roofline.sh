#!/bin/sh
# bench/roofline.sh — issue 7's roofline goal, measured in one go: the
# machine's read bandwidth (bench/bandwidth.sh), wf-bench tg64 on the
# 2B-4T-shaped model, the bandwidth again, at each thread count; then
# tg64 as a share of the roofline from either bandwidth reading
#
#   roofline t/s = bandwidth / bytes read per generated token
#
# (the ternary projections plus the 8-bit output copy: 0.850 GB; the KV
# cache, small at 64 positions, is left out).  The host's memory speed can
# move by a third within a minute, hence the two readings.
#
#   bench/roofline.sh [MODEL [THREADS [ROUNDS]]]
#   default: the 2B-4T I2_S model (written by wf-gen when absent, as
#   bench/2b4t.sh does), threads "1 2", 1 round
set -eu
dir=${WF_BENCH_DIR:-/tmp/wf-bench}
bin=${WF_BUILD:-build}/bin
model=${1:-$dir/2b4t-i2_s.gguf}
threads=${2:-1 2}
rounds=${3:-1}
here=$(dirname "$0")
if [ ! -f "$model" ]; then
	mkdir -p "$(dirname "$model")"
	echo "writing $model" >&2
	"$bin/wf-gen" -o "$model" --shape 2b4t --type i2_s >&2
fi
# bytes per token: 30 layers of 2B-4T's projections at 2 bits, the output
# matrix (128256 x 2560) as wf's 8-bit copy (WF_Q8R: int8 rows, a float
# scale and an int32 sum per row)
H=2560 F=6912 L=30 KV=640 V=128256
bytes=$(( L * (H * H * 2 + H * KV * 2 + H * F * 3) / 4 + V * (H + 8) ))
bw() {   # read GB/s at $1 threads
	sh "$here/bandwidth.sh" 1024 3 "$1" | awk -F'|' '/^\| [0-9]/ { gsub(/ /, "", $3); print $3 }'
}
echo "# $(date -u '+%Y-%m-%d %H:%M') $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $bin/wf-bench -m $model -p 0 -n 64 -r 3 -t T between two bench/bandwidth.sh 1024 3 T; $bytes bytes a token"
echo "| round | threads | read GB/s before / after | tg64 t/s | of the roofline |"
echo "| ---: | ---: | ---: | ---: | ---: |"
r=1
while [ "$r" -le "$rounds" ]; do
	for t in $threads; do
		b0=$(bw "$t")
		tg=$("$bin/wf-bench" -m "$model" -p 0 -n 64 -r 3 -t "$t" | awk -F'|' '/tg64/ { split($8, v, " "); print v[1] }')
		b1=$(bw "$t")
		awk -v r="$r" -v t="$t" -v b0="$b0" -v b1="$b1" -v tg="$tg" -v n="$bytes" 'BEGIN {
			lo = b0 < b1 ? b0 : b1; hi = b0 < b1 ? b1 : b0
			printf "| %d | %d | %.1f / %.1f | %.2f | %.0f-%.0f %% |\n", r, t, b0, b1, tg,
			       100 * tg * n / (hi * 1e9), 100 * tg * n / (lo * 1e9)
		}'
	done
	r=$((r + 1))
done
