#!/bin/sh
# examples/perplexity.sh — perplexity of text files.
#
#   examples/perplexity.sh [-m MODEL] [-c W] [--ppl-stride S | --every] FILE...
#
# Prints one line per file: "PPL N LOSS ERR" (perplexity, tokens scored,
# mean negative log-likelihood in nats, standard error of PPL), then the
# file name after a TAB when there are several files.
#
# Default: llama.cpp's llama-perplexity definition (wf-decode --ppl): chunks
# of W tokens, the second half of each scored, BOS first in every chunk when
# the model adds BOS; --ppl-stride S as llama-perplexity's.
# --every: windows of W input tokens at stride W, each predicting its next W
# tokens, so every token after the first is predicted exactly once (a short
# last window included) — the definition HF-style training scripts and the
# tiny-shakespeare model's reference perplexity use.
set -eu
model= W= stride= every=
usage() { echo "usage: perplexity.sh [-m MODEL] [-c W] [--ppl-stride S | --every] FILE..." >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	-m) [ $# -ge 2 ] || usage; model=$2; shift 2 ;;
	-c) [ $# -ge 2 ] || usage; W=$2; shift 2 ;;
	--ppl-stride) [ $# -ge 2 ] || usage; stride=$2; shift 2 ;;
	--every) every=1; shift ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
[ -z "$stride" ] || [ -z "$every" ] || usage
# the model as given (a path may hold spaces), else wf's own default
wfm() { prog=$1; shift; if [ -n "$model" ]; then "$prog" -m "$model" "$@"; else "$prog" "$@"; fi; }
if [ -n "$every" ] && [ -z "$W" ]; then
	echo "perplexity.sh: --every needs -c W" >&2
	exit 2
fi
nfiles=$#
for f in "$@"; do
	# each step's status is checked (a pipeline's would be its last's):
	# the ids of the whole file, then the scores
	if [ ! -r "$f" ] || [ -d "$f" ]; then
		echo "perplexity.sh: $f: cannot read" >&2
		exit 1
	fi
	ids=$(wfm wf-tok -w < "$f")
	if [ -n "$every" ]; then
		# one record per window: W inputs and the target of the last (W + 1
		# ids, consecutive windows sharing one id); --score scores ids 2..
		# of each record given the ones before it, i.e. W predictions.
		scores=$(printf '%s\n' "$ids" | tr ' ' '\n' |
			awk -v W="$W" 'NF { a[n++] = $1 }
			END { for (s = 0; s + 1 < n; s += W) { e = s + W + 1 < n ? s + W + 1 : n; l = a[s];
			      for (i = s + 1; i < e; i++) l = l " " a[i]; print l } }' |
			wfm wf-decode --score -c "$W")
		line=$(printf '%s\n' "$scores" |
			awk -F'\t' '{ k = split($2, v, " "); for (i = 1; i <= k; i++) { s -= v[i]; s2 += v[i] * v[i]; c++ } }
			END { if (!c) { print "perplexity.sh: nothing to score" > "/dev/stderr"; exit 1 }
			      l = s / c; p = exp(l); var = s2 / c - l * l; e = c > 1 && var > 0 ? p * sqrt(var / (c - 1)) : 0;
			      printf "%.4f %d %.6f %.4f\n", p, c, l, e }')
	else
		line=$(printf '%s\n' "$ids" | wfm wf-decode --ppl ${W:+-c "$W"} ${stride:+--ppl-stride "$stride"})
	fi
	if [ "$nfiles" -gt 1 ]; then printf '%s\t%s\n' "$line" "$f"; else printf '%s\n' "$line"; fi
done
