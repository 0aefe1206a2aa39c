#!/bin/bash
# bench/workers.sh — memory of N wf-decode processes attached to one model
# image: each worker's RSS, PSS and private memory (from
# /proc/PID/smaps_rollup) after it has decoded one record and while it
# waits for the next, against the bound "KV cache + 32 MiB" per worker.
#
#   bench/workers.sh [MODEL [N [CTX [BATCH]]]]
#   default: the 2B-4T I2_S model, 4 workers, 512 positions, wf-decode's batch
#
# The image is placed with `wf-shm load --name wfbench-workers-PID MODEL`,
# a name of this run's own (PID: the script's), so that runs at the same
# time keep their images; it is removed at the end, and when HUP, INT or
# TERM ends the run (exit 129, 130, 143).  Every worker runs
# `wf-decode -m shm:wfbench-workers-PID -t 1 -c CTX -n 16`, gets one
# 32-token record, and is held open on a FIFO
# until all have been measured.  KV cache = layers x CTX x 2 x kv_dim x 4
# bytes (F32 cache; its pages are touched only as positions fill).
set -eu
model=${1:-${WF_BENCH_DIR:-/tmp/wf-bench}/2b4t-i2_s.gguf}
n=${2:-4}
ctx=${3:-512}
batch=${4:+-b $4}
bin=${WF_BUILD:-build}/bin
name=wfbench-workers-$$
tmp=$(mktemp -d)
pids=()
fds=()
cleanup() {
	for fd in "${fds[@]}"; do exec {fd}>&-; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	"$bin/wf-shm" rm "$name" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
# a signal is an exit, so that cleanup runs then too (as in the sh scripts,
# where dash runs no EXIT trap on a signal)
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
"$bin/wf-shm" load --name "$name" "$model" >&2
img=$(stat -c %s "/dev/shm/wf.$name" 2>/dev/null || echo 0)
# layers and kv_dim from the model's metadata
info=$("$bin/wf-info" "$model" 2>/dev/null || true)
key() { printf '%s\n' "$info" | awk -v k="$1" '$1 ~ "\\." k "$" { print $3; exit }'; }
layers=$(key block_count) embd=$(key embedding_length) heads=$(key attention.head_count)
kvh=$(key attention.head_count_kv)
kvd=$(( ${embd:-2560} / ${heads:-20} * ${kvh:-5} ))
kv=$(( ${layers:-30} * ctx * 2 * kvd * 4 ))
prompt=$(seq 100 131 | tr '\n' ' ')
for i in $(seq "$n"); do
	mkfifo "$tmp/in.$i"
	"$bin/wf-decode" -m "shm:$name" -t 1 -c "$ctx" $batch -n 16 < "$tmp/in.$i" > "$tmp/out.$i" 2> "$tmp/err.$i" &
	pids+=("$!")
	exec {fd}>"$tmp/in.$i"
	fds+=("$fd")
	echo "$prompt" >&"$fd"
done
# wait for every worker's output record
for i in $(seq "$n"); do
	while [ "$(wc -l < "$tmp/out.$i")" -lt 1 ]; do
		kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { cat "$tmp/err.$i" >&2; exit 1; }
		sleep 0.2
	done
done
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$2/smaps_rollup"; }
echo "# $(date -u +%Y-%m-%d) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# bench/workers.sh $model $n $ctx ${4:-}: image $((img >> 20)) MiB, KV cache $((kv >> 20)) MiB per worker, bound $(((kv >> 20) + 32)) MiB"
echo "| worker | RSS MiB | PSS MiB | private MiB | shared MiB | private <= KV + 32 MiB |"
echo "| ---: | ---: | ---: | ---: | ---: | --- |"
tp=0
for i in $(seq "$n"); do
	p=${pids[$((i - 1))]}
	rss=$(kib Rss "$p"); pss=$(kib Pss "$p")
	priv=$(( $(kib Private_Clean "$p") + $(kib Private_Dirty "$p") ))
	sh=$(( $(kib Shared_Clean "$p") + $(kib Shared_Dirty "$p") ))
	ok=no; [ $((priv * 1024)) -le $((kv + (32 << 20))) ] && ok=yes
	tp=$((tp + pss))
	echo "| $i | $((rss >> 10)) | $((pss >> 10)) | $((priv >> 10)) | $((sh >> 10)) | $ok |"
done
echo "# PSS of all $n workers: $((tp >> 10)) MiB (the image pages they touched, shared, plus their private memory)"
echo "# KV cache written by each worker: 48 positions, $(( (${layers:-30} * 48 * 2 * kvd * 4) >> 10 )) KiB (the rest of its $((kv >> 20)) MiB is untouched)"
