#!/bin/sh
# bench/ppl-shakespeare.sh — held-out perplexity of the trained
# tiny-shakespeare model, to compare with its golden.json (85.9 with the
# exact int8 x ternary maths; 256-token windows, no BOS, every position of
# every window predicted).
#
#   bench/ppl-shakespeare.sh [SHARED_DIR]
#
# Pipeline: wf-tok the held-out text (no BOS); cut the ids into windows of
# 256 inputs at stride 256, each scored on its 256 next ids (so every id
# after the first is predicted exactly once: 39 688 predictions);
# wf-decode -n 0 --logits each window; score with build/t/model_ppl -x.
set -eu
shared=${1:-../shared}
bin=${WF_BUILD:-build}
m=$shared/models/tiny-shakespeare-bitnet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# dash runs no EXIT trap on a signal: make the usual ones an exit
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
"$bin/bin/wf-tok" -m "$m/tiny-shakespeare-bitnet-b158-tq2_0.gguf" -w --no-bos < "$m/heldout.txt" > "$tmp/ids"
# one line per window: 256 inputs and the target of the last (257 ids)
tr ' ' '\n' < "$tmp/ids" | awk 'NF { a[n++] = $1 }
	END { for (s = 0; s + 1 < n; s += 256) { e = s + 257 < n ? s + 257 : n; l = a[s];
	      for (i = s + 1; i < e; i++) l = l " " a[i]; print l } }' > "$tmp/windows"
sed 's/ [0-9]*$//' "$tmp/windows" |
	"$bin/bin/wf-decode" -m "$m/tiny-shakespeare-bitnet-b158-tq2_0.gguf" -n 0 -c 256 \
	--logits "$tmp/logits.f32" > /dev/null
"$bin/t/model_ppl" -V 2048 -x "$tmp/windows" "$tmp/logits.f32"
