#!/bin/sh
# make demo: the main job on the example model shipped in examples/models/ —
# text in, tokens, a BitNet b1.58 forward pass, text out — first from the
# file, then from a shared-memory image that every later worker attaches.
set -e
O=${1:-build}
B=$O/bin
M=examples/models/tiny-shakespeare-i2_s.gguf
PROMPTS='ROMEO:
To be, or not to be
KING HENRY'

echo "== the model"
"$B/wf-info" "$M" | sed -n '1,2p'
echo
echo "== wf-tok | wf-decode | wf-detok  (greedy, 40 tokens per prompt)"
printf '%s\n' "$PROMPTS" | "$B/wf-tok" -m "$M" | "$B/wf-decode" -m "$M" -n 40 | "$B/wf-detok" -m "$M" -e
echo
echo "== the same through a shared-memory image"
name=wf-demo-$$
"$B/wf-shm" load --name "$name" "$M" >/dev/null
trap '"$B/wf-shm" rm "$name" >/dev/null 2>&1' EXIT
# dash runs no EXIT trap on a signal: make the usual ones an exit
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
"$B/wf-shm" ls "$name"
printf '%s\n' "$PROMPTS" | "$B/wf-tok" -m "shm:$name" | "$B/wf-decode" -m "shm:$name" -n 40 --temp 0.8 --seed 1 | "$B/wf-detok" -m "shm:$name" -e
