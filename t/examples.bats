#!/usr/bin/env bats
# examples/: batch generation joined back, perplexity, the cron eval job and
# its SVG chart, scale-out with GNU parallel and a Slurm job array — each
# run on the shipped model.
load test_helper

setup() {
	E="$WF_ROOT/examples"
	M="$E/models/tiny-shakespeare-i2_s.gguf"
	T="$BATS_TEST_TMPDIR"
	TAB=$'\t'
	img=
}

# an image a test loaded itself
teardown() {
	[ -z "$img" ] || wf-shm rm "$img" > /dev/null 2>&1 || true
}

# the reference: the plain pipeline over the prompts, in input order
direct() { wf-tok -m "$M" -k < "$E/data/prompts.tsv" | wf-decode -m "$M" -n "$1" | wf-detok -m "$M" -e; }

no_images_left() {
	run -0 wf-shm ls
	[[ "$output" != *"$1"* ]]
}

# killed SIG CMD...: run CMD in a session of its own whose wf-tok says it
# has started and then waits; once it has, send SIG to the session; $st is
# CMD's exit status.  (/bin/sh is dash on Debian, which runs no EXIT trap
# when a signal ends it.)
killed() {
	local sig=$1 pid
	shift
	mkdir -p "$T/stub"
	printf '#!/bin/sh\n: > "%s/started"\nexec sleep 600\n' "$T" > "$T/stub/wf-tok"
	chmod +x "$T/stub/wf-tok"
	rm -f "$T/started"
	PATH="$T/stub:$PATH" setsid "$@" > "$T/killed.out" 2>&1 3>&- &
	pid=$!
	until [ -e "$T/started" ]; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -"$sig" -- -"$pid"
	st=0
	wait "$pid" || st=$?
}

@test "batch.sh: every prompt joined back to its answer by key" {
	run -0 "$E/batch.sh" -m "$M" -n 8
	[ "${#lines[@]}" -eq "$(wc -l < "$E/data/prompts.tsv")" ]
	# KEY<TAB>PROMPT<TAB>ANSWER, sorted by key, equal to paste(1) of the
	# aligned streams
	exp=$(direct 8 | cut -f2- | paste "$E/data/prompts.tsv" - | LC_ALL=C sort -t "$TAB" -k1,1)
	[ "$output" = "$exp" ]
	[[ "${lines[0]}" == citizen$'\tFirst Citizen:\t'* ]]
}

@test "batch.sh: usage error" {
	run -2 "$E/batch.sh" -x
	[ "${lines[-1]}" = "usage: batch.sh [-m MODEL] [-n N] [PROMPTS.tsv]" ]
}

@test "batch.sh: a prompt wf-decode refuses is an empty answer and exit 1" {
	printf 'long\t%s\n' "$(printf 'ROMEO: %.0s' $(seq 200))" > "$T/p.tsv"
	printf 'a\tROMEO:\n' >> "$T/p.tsv"
	run -1 "$E/batch.sh" -m "$M" -n 4 "$T/p.tsv"
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]}" = "wf-decode: record 1: prompt of 600 tokens does not fit in the context of 256" ]
	[ "${lines[1]}" = "a${TAB}ROMEO:${TAB}$(printf 'ROMEO:\n' | wf-tok -m "$M" | wf-decode -m "$M" -n 4 | wf-detok -m "$M" -e)" ]
	[ "${lines[2]}" = "long${TAB}$(sed -n 's/^long\t//p' "$T/p.tsv")${TAB}" ]
	run -1 "$E/batch.sh" -m "$M" "$T/none.tsv"
	[ "$output" = "batch.sh: $T/none.tsv: cannot read" ]
}

@test "batch.sh: CRLF line ends, no final newline, prompts on standard input" {
	run -0 "$E/batch.sh" -m "$M" -n 8
	exp=$output
	sed 's/$/\r/' "$E/data/prompts.tsv" | head -c -1 > "$T/crlf.tsv"
	run -0 "$E/batch.sh" -m "$M" -n 8 "$T/crlf.tsv"
	[ "$output" = "$exp" ]
	run -0 "$E/batch.sh" -m "$M" -n 8 - < "$T/crlf.tsv"
	[ "$output" = "$exp" ]
}

@test "batch.sh: its temporary directory is removed when a signal ends it" {
	mkdir "$T/tmp"
	TMPDIR="$T/tmp" killed TERM "$E/batch.sh" -m "$M"
	[ "$st" -eq 143 ]
	[ "$(ls -A "$T/tmp")" = "" ]
}

@test "perplexity.sh: llama-perplexity by default, every token with --every" {
	wf-tok -m "$M" -w < "$E/data/heldout-sample.txt" > "$T/ids"
	n=$(wc -w < "$T/ids")
	run -0 "$E/perplexity.sh" -m "$M" -c 64 "$E/data/heldout-sample.txt"
	[ "$output" = "$(wf-decode -m "$M" --ppl -c 64 < "$T/ids")" ]
	run -0 "$E/perplexity.sh" -m "$M" -c 64 --every "$E/data/heldout-sample.txt" "$E/data/heldout-sample.txt"
	read -r ppl count loss err file <<<"${lines[0]}"
	[ "$count" = $((n - 1)) ] && [ "$file" = "$E/data/heldout-sample.txt" ]
	[ "${lines[0]}" = "${lines[1]}" ]
	# a window longer than the text: --score of the whole record
	run -0 "$E/perplexity.sh" -m "$M" -c 4096 --every "$E/data/heldout-sample.txt"
	read -r ppl count loss err <<<"$output"
	wf-decode -m "$M" --score -c 4096 < "$T/ids" |
		awk -v c="$count" -v l="$loss" '{ d = l + $1 / $2; exit !(c == $2 && d < 2e-6 && d > -2e-6) }'
	run -2 "$E/perplexity.sh" --every "$E/data/heldout-sample.txt"
	[ "$output" = "perplexity.sh: --every needs -c W" ]
}

@test "perplexity.sh: a model path with spaces" {
	mkdir "$T/a dir"
	cp "$M" "$T/a dir/m b.gguf"
	for every in "" --every; do
		run -0 "$E/perplexity.sh" -m "$M" -c 64 $every "$E/data/heldout-sample.txt"
		exp=$output
		run -0 "$E/perplexity.sh" -m "$T/a dir/m b.gguf" -c 64 $every "$E/data/heldout-sample.txt"
		[ "$output" = "$exp" ]
	done
}

@test "perplexity.sh: a file it cannot read, or that wf-decode refuses, is exit 1" {
	for every in "" --every; do
		run -1 "$E/perplexity.sh" -m "$M" -c 64 $every "$T/none.txt"
		[ "$output" = "perplexity.sh: $T/none.txt: cannot read" ]
		# the first file's line, then the error
		run -1 "$E/perplexity.sh" -m "$M" -c 64 $every "$E/data/heldout-sample.txt" "$T/none.txt"
		[ "${#lines[@]}" -eq 2 ]
		[[ "${lines[0]}" == *"$TAB$E/data/heldout-sample.txt" ]]
		[ "${lines[1]}" = "perplexity.sh: $T/none.txt: cannot read" ]
	done
	printf 'ROMEO:\n' > "$T/short.txt"
	run -1 "$E/perplexity.sh" -m "$M" -c 64 "$T/short.txt"
	[ "$output" = "wf-decode: record 1: perplexity with windows of 64 needs at least 128 tokens, the record has 2" ]
}

@test "eval-cron.sh: appends date, model, perplexity and accuracy to the history and draws it" {
	for d in 2026-01-01 2026-01-02 2026-01-03; do
		WF_EVAL_DATE=$d run -0 "$E/eval-cron.sh" -m "$M" -d "$T/ev"
		[ "$output" = "" ]
	done
	run -0 cat "$T/ev/history.tsv"
	[ "${#lines[@]}" -eq 4 ]
	[ "${lines[0]}" = $'date\tmodel\tppl\ttokens\tacc\tacc_norm\tquestions' ]
	ppl=$("$E/perplexity.sh" -m "$M" -c 256 --every "$E/data/heldout-sample.txt" | cut -d' ' -f1-2 | tr ' ' '\t')
	acc=$(wf-decode -m "$M" --mc < "$E/data/mc-sample.jsonl" | awk -F'\t' '{ a += $7; b += $8; n++ } END { printf "%.4f\t%.4f\t%d", a / n, b / n, n }')
	[ "${lines[1]}" = "2026-01-01${TAB}tiny-shakespeare-i2_s.gguf${TAB}$ppl${TAB}$acc" ]
	[ "${lines[3]}" = "2026-01-03${TAB}tiny-shakespeare-i2_s.gguf${TAB}$ppl${TAB}$acc" ]
	# the chart: three panels of three points, well-formed XML
	[ "$(grep -c '<circle' "$T/ev/history.svg")" -eq 9 ]
	[ "$(grep -c '<polyline' "$T/ev/history.svg")" -eq 3 ]
	if command -v xmllint >/dev/null; then xmllint --noout "$T/ev/history.svg"; fi
	# the docs hold a crontab line
	grep -q '^#   17 3 \* \* \*  cd /srv/wf && .*examples/eval-cron.sh' "$E/eval-cron.sh"
}

@test "eval-cron.sh: a task it cannot read or wf-decode --mc refuses is exit 1, and no row" {
	run -1 "$E/eval-cron.sh" -m "$M" -d "$T/ev" -q "$T/none.jsonl"
	[ "$output" = "eval-cron.sh: $T/none.jsonl: cannot read" ]
	{ head -1 "$E/data/mc-sample.jsonl"; echo '{"context": "x"'; } > "$T/bad.jsonl"
	run -1 "$E/eval-cron.sh" -m "$M" -d "$T/ev" -q "$T/bad.jsonl"
	[ "${lines[-1]}" = "eval-cron.sh: accuracy failed" ]
	[[ "${lines[0]}" == "wf-decode: record 2: "* ]]
	[ ! -e "$T/ev/history.tsv" ] && [ ! -e "$T/ev/.lock" ]
}

@test "eval-cron.sh: an empty task is exit 1, and no row" {
	: > "$T/empty.jsonl"
	run -1 "$E/eval-cron.sh" -m "$M" -d "$T/ev" -q "$T/empty.jsonl"
	[ "$output" = "eval-cron.sh: $T/empty.jsonl: no questions (an empty task)" ]
	[ ! -e "$T/ev/history.tsv" ] && [ ! -e "$T/ev/.lock" ]
}

@test "eval-cron.sh: one run at a time" {
	mkdir -p "$T/ev/.lock"
	run -1 "$E/eval-cron.sh" -m "$M" -d "$T/ev"
	[ "$output" = "eval-cron.sh: $T/ev/.lock exists: another run is in progress (or crashed: remove it)" ]
	[ ! -e "$T/ev/history.tsv" ]
}

@test "eval-cron.sh: the lock is removed when a signal ends a run" {
	for sig in TERM HUP; do
		killed "$sig" "$E/eval-cron.sh" -m "$M" -d "$T/ev"
		[ "$st" -eq $((128 + $(kill -l "$sig"))) ]
		[ ! -e "$T/ev/.lock" ] && [ ! -e "$T/ev/history.tsv" ]
	done
}

@test "plot.awk: gaps for non-numbers, one row, an unknown column" {
	printf 'date\tppl\tacc\n' > "$T/h.tsv"
	printf '2026-01-0%d\t%s\t%s\n' 1 90.5 0.5 2 88 - 3 87.25 0.6 4 86 0.7 >> "$T/h.tsv"
	awk -f "$E/plot.awk" -v cols=ppl,acc "$T/h.tsv" > "$T/h.svg"
	[ "$(grep -c '<circle' "$T/h.svg")" -eq 7 ]
	[ "$(grep -c '<polyline' "$T/h.svg")" -eq 3 ]   # ppl, acc before and after the gap
	grep -q '>last 86<' "$T/h.svg"
	grep -q '>90.5<' "$T/h.svg"
	head -2 "$T/h.tsv" | awk -f "$E/plot.awk" -v cols=ppl > "$T/one.svg"
	[ "$(grep -c '<circle' "$T/one.svg")" -eq 1 ]
	run -1 awk -f "$E/plot.awk" -v cols=loss "$T/h.tsv"
	[ "$output" = "plot.awk: no column 'loss'" ]
}

@test "parallel.sh: blocks of records in parallel jobs, output in input order, one image, removed after" {
	command -v parallel >/dev/null || skip "GNU parallel is not installed (apt-get install parallel)"
	run -0 "$E/parallel.sh" -m "$M" -n 8 -N 3 -j 2
	[ "$output" = "$(direct 8)" ]
	no_images_left wf-par-
	# the --sshlogin path, with ':' (GNU parallel's name for this machine)
	run -0 "$E/parallel.sh" -m "$M" -n 8 -N 2 -S 2/:
	[ "$output" = "$(direct 8)" ]
	no_images_left wf-par-
}

@test "parallel.sh: an image already loaded (shm:NAME, or NAME) is used as it is and left in place" {
	command -v parallel >/dev/null || skip "GNU parallel is not installed (apt-get install parallel)"
	img=wf-ex-$$
	wf-shm load --name "$img" "$M" > /dev/null
	run -0 "$E/parallel.sh" -m "shm:$img" -n 8 -N 3
	[ "$output" = "$(direct 8)" ]
	run -0 "$E/parallel.sh" -m "$img" -n 8 -N 3
	[ "$output" = "$(direct 8)" ]
	no_images_left wf-par-
	run -0 wf-shm ls "$img"
	wf-shm rm "$img" > /dev/null
	run -1 "$E/parallel.sh" -m "shm:$img" -n 8
	[ "$output" = "wf-shm: no image '$img'" ]
}

@test "parallel.sh: a record refused in a job, or any stage that fails, is exit 1 naming it; the other records are kept" {
	command -v parallel >/dev/null || skip "GNU parallel is not installed (apt-get install parallel)"
	{ head -2 "$E/data/prompts.tsv"; printf 'long\t%s\n' "$(printf 'ROMEO: %.0s' $(seq 200))"; sed -n 3,4p "$E/data/prompts.tsv"; } > "$T/p.tsv"
	run -1 --separate-stderr "$E/parallel.sh" -m "$M" -n 8 -N 2 "$T/p.tsv"
	[ "$output" = "$(direct 8 | head -2)"$'\n'"long$TAB"$'\n'"$(direct 8 | sed -n 3,4p)" ]
	[ "$stderr" = "wf-decode: record 1: prompt of 600 tokens does not fit in the context of 256
parallel.sh: block 2, from record 3: wf-decode (exit 1)
parallel.sh: 1 block(s) failed" ]
	no_images_left wf-par-
	# a wf-tok that writes its ids and then fails: every block says so
	mkdir "$T/stub"
	printf '#!/bin/sh\n"%s" "$@"\nexit 4\n' "$(command -v wf-tok)" > "$T/stub/wf-tok"
	chmod +x "$T/stub/wf-tok"
	PATH="$T/stub:$PATH" run -1 --separate-stderr "$E/parallel.sh" -m "$M" -n 8 -N 5
	[ "$output" = "$(direct 8)" ]
	[ "$stderr" = "parallel.sh: block 1, from record 1: wf-tok (exit 4)
parallel.sh: block 2, from record 6: wf-tok (exit 4)
parallel.sh: 2 block(s) failed" ]
	no_images_left wf-par-
}

@test "parallel.sh: the image is removed when a signal ends it" {
	command -v parallel >/dev/null || skip "GNU parallel is not installed (apt-get install parallel)"
	killed TERM "$E/parallel.sh" -m "$M" -n 8
	[ "$st" -eq 143 ]
	no_images_left wf-par-
}

@test "demo.sh: runs from any directory; a program that fails is exit 1, naming it" {
	cd "$T"
	run -0 sh "$E/demo.sh" "$WF_BUILD"
	[ "${lines[1]}" = "$E/models/tiny-shakespeare-i2_s.gguf: GGUF v3, 1923904 bytes" ]
	[ "${lines[4]}" = "$(printf 'ROMEO:\n' | wf-tok -m "$M" | wf-decode -m "$M" -n 40 | wf-detok -m "$M" -e)" ]
	[ "${#lines[@]}" -eq 13 ]
	no_images_left wf-demo-
	# a build whose wf-decode fails (a pipeline's status would be wf-detok's)
	mkdir -p "$T/o/bin"
	for p in "$WF_BUILD"/bin/*; do ln -s "$p" "$T/o/bin/"; done
	rm "$T/o/bin/wf-decode"
	printf '#!/bin/sh\necho "wf-decode: broken" >&2\nexit 3\n' > "$T/o/bin/wf-decode"
	chmod +x "$T/o/bin/wf-decode"
	run -1 sh "$E/demo.sh" "$T/o"
	[ "${lines[-2]}" = "wf-decode: broken" ]
	[ "${lines[-1]}" = "demo.sh: wf-decode failed (exit 3)" ]
	[ "${lines[3]}" = "== wf-tok | wf-decode | wf-detok  (greedy, 40 tokens per prompt)" ]
	[ "${#lines[@]}" -eq 6 ]
}

@test "slurm-array.sbatch: valid bash; shards cover every prompt once; one image per node, removed by the last task" {
	bash -n "$E/slurm-array.sbatch"
	grep -q '^#SBATCH --array=' "$E/slurm-array.sbatch"
	export MODEL="$M" PROMPTS="$E/data/prompts.tsv" OUT="$T/out" N_PREDICT=8 TMPDIR="$T"
	export SLURM_ARRAY_JOB_ID=$$ SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_STEP=1
	# the three tasks at once, as on one node
	for k in 0 1 2; do SLURM_ARRAY_TASK_ID=$k bash "$E/slurm-array.sbatch" & done
	wait %1 && wait %2 && wait %3
	[ "$(ls "$T/out")" = $'part-0.tsv\npart-1.tsv\npart-2.tsv' ]
	[ "$(wc -l < "$T/out/part-0.tsv")" -eq 3 ] && [ "$(wc -l < "$T/out/part-2.tsv")" -eq 2 ]
	[ "$(cat "$T/out"/part-*.tsv | LC_ALL=C sort)" = "$(direct 8 | LC_ALL=C sort)" ]
	no_images_left "wf-$$"
	# outside an array
	unset SLURM_ARRAY_TASK_ID
	run -1 bash "$E/slurm-array.sbatch"
	[[ "$output" == *"SLURM_ARRAY_TASK_ID: not a Slurm array task (sbatch --array)" ]]
	SLURM_ARRAY_TASK_ID=5 run -2 bash "$E/slurm-array.sbatch"
	[ "$output" = "task 5 is outside the array (0, step 1, 3 tasks)" ]
}

@test "slurm-array.sbatch: a failed task leaves no partial part, and the image is removed" {
	printf 'long\t%s\n' "$(printf 'ROMEO: %.0s' $(seq 200))" > "$T/p.tsv"
	export MODEL="$M" PROMPTS="$T/p.tsv" OUT="$T/out" N_PREDICT=8 TMPDIR="$T"
	export SLURM_ARRAY_JOB_ID=$$ SLURM_ARRAY_TASK_COUNT=1 SLURM_ARRAY_TASK_ID=0
	run -1 bash "$E/slurm-array.sbatch"
	[ "$output" = "wf-decode: record 1: prompt of 600 tokens does not fit in the context of 256" ]
	[ "$(ls -A "$T/out")" = "" ]
	no_images_left "wf-$$"
}
