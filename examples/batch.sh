#!/bin/sh
# examples/batch.sh — greedy answers for a file of keyed prompts, joined back
# to the prompts.
#
#   examples/batch.sh [-m MODEL] [-n N] [PROMPTS.tsv]
#
# PROMPTS.tsv (default examples/data/prompts.tsv, - for standard input):
# KEY<TAB>PROMPT per line; a CR ending a line (CRLF files) is dropped.
# Output: KEY<TAB>PROMPT<TAB>ANSWER per prompt, sorted by key; the answer is
# escaped by wf-detok -e (\n, \t, \\) so that it stays on one line.  A prompt
# a program refuses (too long for the context, ...) gets an empty answer, the
# program's message on standard error, and exit status 1.
#
# Every filter passes the key through and writes one record per input
# record, so `paste` could glue the columns as they come; joining on the key
# (join(1) on both sides sorted) is what keeps working when records are
# reordered or processed by several workers (examples/parallel.sh).
set -eu
here=$(dirname "$0")
model=${WF_MODEL:-$here/models/tiny-shakespeare-i2_s.gguf}
n=32
usage() { echo "usage: batch.sh [-m MODEL] [-n N] [PROMPTS.tsv]" >&2; exit 2; }
while getopts m:n: o; do
	case $o in
	m) model=$OPTARG ;;
	n) n=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || usage
in=${1:-$here/data/prompts.tsv}
if [ "$in" != - ] && { [ ! -r "$in" ] || [ -d "$in" ]; }; then
	echo "batch.sh: $in: cannot read" >&2
	exit 1
fi
tab=$(printf '\t')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# dash runs no EXIT trap on a signal: make the usual ones an exit
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM

# one step at a time, so that every program's status counts (a pipeline's
# would be wf-detok's alone); a bad record still gives its empty answer
awk '{ sub(/\r$/, ""); print }' "$in" > "$tmp/prompts"
st=0
wf-tok -m "$model" -k < "$tmp/prompts" > "$tmp/ids" || st=1
wf-decode -m "$model" -n "$n" < "$tmp/ids" > "$tmp/gen" || st=1
wf-detok -m "$model" -e < "$tmp/gen" > "$tmp/answers" || st=1
LC_ALL=C sort -t "$tab" -k1,1 "$tmp/prompts" > "$tmp/prompts.s"
LC_ALL=C sort -t "$tab" -k1,1 "$tmp/answers" > "$tmp/answers.s"
LC_ALL=C join -t "$tab" "$tmp/prompts.s" "$tmp/answers.s"
exit "$st"
