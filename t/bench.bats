#!/usr/bin/env bats
# wf-bench: output format and options (speed itself goes to docs/PERFORMANCE.md).
load test_helper

setup_file() {
	wf-gen -o "$BATS_FILE_TMPDIR/m.gguf" --shape tiny --seed 5 >/dev/null
}

@test "markdown table with llama-bench's columns and pp/tg rows per thread count" {
	run -0 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" -p 16 -n 4 -t 1,2 -r 1
	[ "${lines[0]}" = "| model | size | params | backend | threads | test | t/s |" ]
	[ "${lines[1]}" = "| --- | ---: | ---: | --- | ---: | ---: | ---: |" ]
	[ "${#lines[@]}" -eq 6 ]
	[[ "${lines[2]}" == "| bitnet-b1.58 4L I2_S | 0.00 GiB | 0.00 B | CPU "*" | 1 | pp16 | "*" ± "*" |" ]]
	[[ "${lines[3]}" == *" | 1 | tg4 | "* ]]
	[[ "${lines[4]}" == *" | 2 | pp16 | "* ]]
	[[ "${lines[5]}" == *" | 2 | tg4 | "* ]]
}

@test "--json: one object per test" {
	run -0 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" -p 8,16 -n 0 -t 1 -r 2 --json
	[ "$(jq length <<<"$output")" -eq 2 ]
	[ "$(jq -r '.[1].test' <<<"$output")" = "pp16" ]
	[ "$(jq -r '.[0].reps' <<<"$output")" = "2" ]
	[ "$(jq -r '.[0].params' <<<"$output")" = "3145728" ]
	[ "$(jq -r '.[0].avg_ts > 0' <<<"$output")" = "true" ]
}

@test "--kv-type f16: the F16 cache, named in the JSON" {
	run -0 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" -p 16 -n 4 -t 1 -r 1 --kv-type f16 --json
	[ "$(jq length <<<"$output")" -eq 2 ]
	[ "$(jq -r '.[0].kv_type' <<<"$output")" = "f16" ]
	[ "$(jq -r '.[1].test' <<<"$output")" = "tg4" ]
	run -0 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" -p 8 -n 0 -t 1 -r 1 --json
	[ "$(jq -r '.[0].kv_type' <<<"$output")" = "f32" ]
}

@test "usage errors exit 2" {
	run -2 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" -p x
	[ "${lines[0]}" = "wf-bench: -p: 'x' is not a list of integers >= 0" ]
	run -2 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" -t 0
	[ "${lines[0]}" = "wf-bench: -t: '0' is not a list of integers >= 1" ]
	run -2 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" -c 4 -p 8 -n 0
	[ "${lines[0]}" = "wf-bench: -c 4 is smaller than the longest test (8)" ]
	run -2 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" --kv-type q8
	[ "${lines[0]}" = "wf-bench: --kv-type: 'q8' is not f16 or f32" ]
	run -2 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" -t 1,300
	[ "${lines[0]}" = "wf-bench: -t: 300 threads; at most 256" ]
	run -2 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" --threshold 0.5
	[ "${lines[0]}" = "wf-bench: --threshold: only with --decode dlm" ]
	run -2 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" --prompt p.txt
	[ "${lines[0]}" = "wf-bench: --prompt: only with --decode dlm" ]
}

@test "--decode dlm with a block larger than the default batch of 256" {
	TS="$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf"
	model_edit "$TS" "$BATS_TEST_TMPDIR/b512.gguf" u32=wf.dlm.block_size:512
	run -0 wf-bench -m "$BATS_TEST_TMPDIR/b512.gguf" --decode dlm -p 4 -n 4 -r 1 -t 1 --threshold 0.9 --json
	[[ "$output" == *'"decode": "dlm", "threshold": 0.90, "block_size": 512,'* ]]
}

@test "a tiny threshold (a float underflow) is a number" {
	run -0 wf-bench -m "$BATS_FILE_TMPDIR/m.gguf" --decode dlm -p 4 -n 2 -r 1 -t 1 --threshold 1e-40 --json
	run -0 wf-decode -m "$BATS_FILE_TMPDIR/m.gguf" -n 1 --top-p 1e-40 <<<"1 2"
}

@test "a bad model is exit 1" {
	run -1 wf-bench -m /nonexistent.gguf
	[ "${lines[0]}" = "wf-bench: /nonexistent.gguf: No such file or directory" ]
}

@test "bench/parallel.sh: a model whose vocabulary is small gets prompt ids within it" {
	# the shipped model's vocabulary is 2048 ids
	run -0 env WF_BUILD="$WF_BUILD" WF_BENCH_DIR="$BATS_TEST_TMPDIR" sh "$WF_ROOT/bench/parallel.sh" \
		"$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf" 1 2 4 4 "1 2"
	[ "${lines[3]}" = "| --parallel | wall s | generation s | ids | t/s | x --parallel 1 |" ]
	[[ "${lines[5]}" == "| 1 | "*" | 8 | "* ]]
	[[ "${lines[6]}" == "| 2 | "*" | 8 | "* ]]
	[[ "${lines[-1]}" == "# load average after: "* ]]
}

@test "bench/parallel.sh: a time too short to measure gives t/s -, not inf or nan" {
	# a clock that stands still: every run takes 0.00 s
	mkdir "$BATS_TEST_TMPDIR/stub"
	printf '#!/bin/sh\necho 1000.000000000\n' > "$BATS_TEST_TMPDIR/stub/date"
	chmod +x "$BATS_TEST_TMPDIR/stub/date"
	run -0 env PATH="$BATS_TEST_TMPDIR/stub:$PATH" WF_BUILD="$WF_BUILD" WF_BENCH_DIR="$BATS_TEST_TMPDIR" sh "$WF_ROOT/bench/parallel.sh" \
		"$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf" 1 2 4 4 "1 2"
	[ "${#lines[@]}" -eq 9 ]
	[ "${lines[2]}" = "# load (empty input): 0.00 s" ]
	[ "${lines[5]}" = "| 1 | 0.00 | 0.00 | 8 | - | - |" ]
	[ "${lines[6]}" = "| 2 | 0.00 | 0.00 | 8 | - | - |" ]
	[ "${lines[7]}" = "# t/s -: wall time less load is 0.00 s or less, too short to measure: raise R or GEN" ]
}

@test "bench/output-q8.sh: says it needs jq, and the fixtures, before it starts" {
	mkdir "$BATS_TEST_TMPDIR/empty"
	run -1 env PATH="$BATS_TEST_TMPDIR/empty" /bin/bash "$WF_ROOT/bench/output-q8.sh" "$BATS_TEST_TMPDIR"
	[ "$output" = "output-q8.sh: needs jq (apt-get install jq)" ]
	command -v jq > /dev/null || skip "jq is not installed"
	run -1 /bin/bash "$WF_ROOT/bench/output-q8.sh" "$BATS_TEST_TMPDIR"
	[ "$output" = "output-q8.sh: $BATS_TEST_TMPDIR/fixtures/peers: no such directory (the ../shared fixtures)" ]
}

@test "bench/workers.sh: an image of this run's own name, removed after and on a signal; another run's is kept" {
	M="$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf"
	T=$BATS_TEST_TMPDIR
	# the image a run at the same time would hold (the name all runs used)
	wf-shm load --name wfbench-workers "$M" > /dev/null
	run -0 --separate-stderr env WF_BUILD="$WF_BUILD" bash "$WF_ROOT/bench/workers.sh" "$M" 2 64
	[[ "$stderr" == wfbench-workers-[0-9]* ]]
	[ "${#lines[@]}" -eq 8 ]
	[[ "${lines[4]}" == "| 1 | "*" | yes |" ]] && [[ "${lines[5]}" == "| 2 | "*" | yes |" ]]
	run -0 wf-shm ls
	[[ "$output" == *" wfbench-workers "* ]] && [[ "$output" != *wfbench-workers-* ]]
	wf-shm rm wfbench-workers > /dev/null
	# a build whose wf-decode says it has started and then waits: each
	# signal ends the run with 128 + its number, and the image is removed
	mkdir -p "$T/o/bin"
	for p in "$WF_BUILD"/bin/*; do ln -s "$p" "$T/o/bin/"; done
	rm "$T/o/bin/wf-decode"
	printf '#!/bin/sh\n: > "%s/started"\nexec sleep 600\n' "$T" > "$T/o/bin/wf-decode"
	chmod +x "$T/o/bin/wf-decode"
	# (not INT: a background job starts with it ignored, and cannot trap it)
	for sig in HUP TERM; do
		rm -f "$T/started"
		WF_BUILD="$T/o" setsid bash "$WF_ROOT/bench/workers.sh" "$M" 1 64 > /dev/null 2>&1 3>&- &
		pid=$!
		until [ -e "$T/started" ]; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -"$sig" -- -"$pid"
		st=0
		wait "$pid" || st=$?
		[ "$st" -eq $((128 + $(kill -l "$sig"))) ]
		run -0 wf-shm ls
		[[ "$output" != *wfbench-workers* ]]
	done
}

@test "bench/bandwidth.sh, bench/kernels-l1.sh: another machine or compiler target, or more than 64 threads, is said before compiling" {
	T=$BATS_TEST_TMPDIR
	mkdir "$T/stub"
	printf '#!/bin/sh\necho aarch64\n' > "$T/stub/uname"
	chmod +x "$T/stub/uname"
	for s in bandwidth kernels-l1; do
		PATH="$T/stub:$PATH" WF_BENCH_DIR="$T/b" run -1 sh "$WF_ROOT/bench/$s.sh"
		[ "$output" = "$s.sh: needs an x86-64 machine and compiler ($(sed -n "s/^\*) echo \"$s.sh: needs an x86-64 machine and compiler (\([^)]*\)).*/\1/p" "$WF_ROOT/bench/$s.sh")); this is aarch64, ${CC:-cc} targets $(${CC:-cc} -dumpmachine)" ]
		[ ! -e "$T/b" ]
	done
	run -2 sh "$WF_ROOT/bench/bandwidth.sh" 1 1 "1 65"
	[ "$output" = "bandwidth.sh: thread count '65': each must be from 1 to 64
usage: bandwidth.sh [MIB [REPS [THREADS]]]" ]
	run -2 sh "$WF_ROOT/bench/bandwidth.sh" 1 1 0
	[ "${lines[0]}" = "bandwidth.sh: thread count '0': each must be from 1 to 64" ]
}
