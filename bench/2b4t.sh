#!/bin/sh
# bench/2b4t.sh — wf-bench on a random-weight model of the BitNet b1.58
# 2B-4T shape (30 layers, hidden 2560, FFN 6912, 20/5 heads, vocab 128256,
# tied F16 embedding), at 1 and 2 threads, pp128 and tg64.
#
#   bench/2b4t.sh [TYPE [THREADS [REPS]]]     TYPE i2_s (default), tq2_0, tq1_0
#
# The model (about 1.2 GB) is written once by wf-gen into $WF_BENCH_DIR
# (default /tmp/wf-bench) and reused.  Run from the repository root after
# `make`.
set -eu
type=${1:-i2_s}
threads=${2:-1,2}
reps=${3:-5}
dir=${WF_BENCH_DIR:-/tmp/wf-bench}
bin=${WF_BUILD:-build}/bin
model=$dir/2b4t-$type.gguf
mkdir -p "$dir"
if [ ! -f "$model" ]; then
	echo "writing $model" >&2
	"$bin/wf-gen" -o "$model" --shape 2b4t --type "$type" >&2
fi
echo "# $(date -u +%Y-%m-%d) $(uname -m) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# $bin/wf-bench -m $model -p 128 -n 64 -t $threads -r $reps"
"$bin/wf-bench" -m "$model" -p 128 -n 64 -t "$threads" -r "$reps"
