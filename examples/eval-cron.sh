#!/bin/sh
# examples/eval-cron.sh — a scheduled evaluation: perplexity of a held-out
# text and accuracy on a multiple-choice task, appended to a TSV history,
# and the history drawn as an SVG line chart.
#
#   examples/eval-cron.sh [-m MODEL] [-d DIR] [-t TEXT] [-q TASK.jsonl] [-c W]
#
# DIR (default .) gets history.tsv, one row per run:
#   date  model  ppl  tokens  acc  acc_norm  questions
# and history.svg (ppl, acc and acc_norm over the runs, examples/plot.awk).
# Perplexity: windows of W tokens (default 256), every token after the first
# predicted once (examples/perplexity.sh --every); accuracy: wf-decode --mc
# (lm-evaluation-harness acc and acc_norm).  Defaults: the shipped model,
# examples/data/heldout-sample.txt and examples/data/mc-sample.jsonl.
# WF_EVAL_DATE sets the date written (backfills, tests); default: now, UTC.
# A text or task that cannot be read, that a program refuses, or a task with
# no questions is exit 1, and appends no row.
#
# A crontab(5) line, nightly at 03:17 (crontab -e):
#   17 3 * * *  cd /srv/wf && PATH=/usr/local/bin:$PATH examples/eval-cron.sh -m /srv/models/m.gguf -d /var/lib/wf-eval >> /var/log/wf-eval.log 2>&1
# With the model in shared memory (wf-shm load --name prod m.gguf), -m prod
# evaluates exactly the image the workers are serving.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
model=${WF_MODEL:-$here/models/tiny-shakespeare-i2_s.gguf}
dir=.
text=$here/data/heldout-sample.txt
task=$here/data/mc-sample.jsonl
W=256
usage() { echo "usage: eval-cron.sh [-m MODEL] [-d DIR] [-t TEXT] [-q TASK.jsonl] [-c W]" >&2; exit 2; }
while getopts m:d:t:q:c: o; do
	case $o in
	m) model=$OPTARG ;;
	d) dir=$OPTARG ;;
	t) text=$OPTARG ;;
	q) task=$OPTARG ;;
	c) W=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
for f in "$text" "$task"; do
	if [ ! -r "$f" ] || [ -d "$f" ]; then
		echo "eval-cron.sh: $f: cannot read" >&2
		exit 1
	fi
done
mkdir -p "$dir"
# one run at a time: a slow run must not interleave with the next one
if ! mkdir "$dir/.lock" 2>/dev/null; then
	echo "eval-cron.sh: $dir/.lock exists: another run is in progress (or crashed: remove it)" >&2
	exit 1
fi
trap 'rm -f "$dir/history.svg.tmp"; rmdir "$dir/.lock"' EXIT
# dash runs no EXIT trap on a signal: make the usual ones an exit
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM

date=${WF_EVAL_DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
set -- $("$here/perplexity.sh" -m "$model" -c "$W" --every "$text")
[ $# -eq 4 ] || { echo "eval-cron.sh: perplexity failed" >&2; exit 1; }
ppl=$1 tokens=$2
# a failed run appends nothing (wf-decode's status, not awk's)
mc=$(wf-decode -m "$model" --mc < "$task") || { echo "eval-cron.sh: accuracy failed" >&2; exit 1; }
# a task with no question scored (an empty file) is an error, not a row
acc=$(printf '%s\n' "$mc" |
	awk -F'\t' 'NF == 8 && $6 != "-" { n++; a += $7; b += $8 } END { if (n) printf "%.4f %.4f %d", a / n, b / n, n }')
[ -n "$acc" ] || { echo "eval-cron.sh: $task: no questions (an empty task)" >&2; exit 1; }
set -- $acc
hist=$dir/history.tsv
[ -s "$hist" ] || printf 'date\tmodel\tppl\ttokens\tacc\tacc_norm\tquestions\n' > "$hist"
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$date" "$(basename "$model")" "$ppl" "$tokens" "$1" "$2" "$3" >> "$hist"
awk -f "$here/plot.awk" -v cols=ppl,acc,acc_norm -v title="wf eval: $(basename "$model")" "$hist" > "$dir/history.svg.tmp"
mv -f "$dir/history.svg.tmp" "$dir/history.svg"
