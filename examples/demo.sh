#!/bin/sh
# make demo: the main job on the example model shipped in examples/models/ —
# text in, tokens, a BitNet b1.58 forward pass, text out — first from the
# file, then from a shared-memory image that every later worker attaches.
#
#   examples/demo.sh [BUILD]
#
# BUILD (default: build/ beside examples/) holds bin/; the model is found
# beside this script, so it runs from any directory.  Every program's
# status counts: one that fails ends the demo with exit 1, naming it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
O=${1:-$here/../build}
B=$O/bin
M=$here/models/tiny-shakespeare-i2_s.gguf
PROMPTS='ROMEO:
To be, or not to be
KING HENRY'
tmp=$(mktemp -d)
name=
trap 'rm -rf "$tmp"; [ -z "$name" ] || "$B/wf-shm" rm "$name" >/dev/null 2>&1' EXIT
# dash runs no EXIT trap on a signal: make the usual ones an exit
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM

# run PROG ARGS...: $B/PROG, and exit 1 naming it when it fails (a
# pipeline's status would be its last program's alone)
run() {
	p=$1
	shift
	"$B/$p" "$@" || { s=$?; echo "demo.sh: $p failed (exit $s)" >&2; exit 1; }
}
# gen MODEL [OPTIONS]: the prompts through wf-tok, wf-decode, wf-detok, one
# step at a time
gen() {
	m=$1
	shift
	printf '%s\n' "$PROMPTS" > "$tmp/prompts"
	run wf-tok -m "$m" < "$tmp/prompts" > "$tmp/ids"
	run wf-decode -m "$m" -n 40 "$@" < "$tmp/ids" > "$tmp/gen"
	run wf-detok -m "$m" -e < "$tmp/gen"
}

echo "== the model"
run wf-info "$M" > "$tmp/info"
sed -n '1,2p' "$tmp/info"
echo
echo "== wf-tok | wf-decode | wf-detok  (greedy, 40 tokens per prompt)"
gen "$M"
echo
echo "== the same through a shared-memory image"
name=wf-demo-$$
run wf-shm load --name "$name" "$M" >/dev/null
run wf-shm ls "$name"
gen "shm:$name" --temp 0.8 --seed 1
