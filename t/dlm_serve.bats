#!/usr/bin/env bats
# wf-serve with "wf_decode": "dlm": block diffusion per request.  Every
# answer is compared with wf-tok | wf-decode --decode dlm | wf-detok on the
# same prompt and settings.  Servers listen on 127.0.0.1 port 0 and are
# stopped in teardown, as in t/serve.bats.
load test_helper

M="$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf"

setup() {
	command -v curl >/dev/null || skip "curl is not installed"
	SRVS=()
	LOG=
}

teardown() {
	for p in "${SRVS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${SRVS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	# no sanitizer report from a server or its workers (make check-asan)
	if [ -n "$LOG" ] && grep -h -e 'Sanitizer' -e 'runtime error' "$BATS_TEST_TMPDIR"/serve.*.log 2>/dev/null; then
		return 1
	fi
}

# start [-m MODEL] ARGS...: wf-serve on a free port; sets URL and LOG.
start() {
	local model=$M
	if [ "$1" = -m ]; then
		model=$2
		shift 2
	fi
	LOG="$BATS_TEST_TMPDIR/serve.$RANDOM.log"
	wf-serve -m "$model" --port 0 -v "$@" >"$LOG.out" 2>"$LOG" 3>&- &
	SRVS+=("$!")
	URL=
	for _ in $(seq 200); do
		URL=$(head -n 1 "$LOG.out")
		[ -n "$URL" ] && break
		kill -0 "$!" 2>/dev/null || { cat "$LOG" >&2; return 1; }
		sleep 0.05
	done
	[ -n "$URL" ]
	URL=${URL%/}
}

post() { curl -sS --max-time 30 -X POST "$URL$1" -d "$2"; }
sse() { curl -sSN --max-time 30 -X POST "$URL$1" -d "$2"; }
# status PATH BODY: the HTTP status code; the body in $BATS_TEST_TMPDIR/body
status() { curl -sS --max-time 30 -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -X POST "$URL$1" -d "$2"; }
body() { cat "$BATS_TEST_TMPDIR/body"; }
jget() { http_jget "$@"; }

# dlm TEXT N [wf-decode options]: the pipeline's block-diffusion continuation.
dlm() {
	printf '%s\n' "$1" | wf-tok -m "${DM:-$M}" | wf-decode -m "${DM:-$M}" -n "$2" --decode dlm "${@:3}" |
		wf-detok -m "${DM:-$M}"
}

@test "/v1/completions: the text of wf-decode --decode dlm, streamed and not; usage" {
	start
	want=$(dlm 'ROMEO:' 40)
	[[ "$want" == " I am a man, I'll be a man's"* ]]
	# not the autoregressive text
	[ "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40}' | jget choices.0.text)" != "$want" ]
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm","temperature":0}')
	[ "$(jget choices.0.text <<<"$r")" = "$want" ]
	[ "$(jget choices.0.finish_reason <<<"$r")" = length ]
	[ "$(jget usage.prompt_tokens <<<"$r")" = 2 ]
	[ "$(jget usage.completion_tokens <<<"$r")" = 40 ]
	[ "$(jget usage.total_tokens <<<"$r")" = 42 ]
	s=$(sse /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm","stream":true}')
	[ "$(jget -s -c choices.0.text <<<"$s")" = "$want" ]
	[ "$(jget -s choices.0.finish_reason <<<"$s" | grep -v null)" = length ]
	[ "$(jget -s usage.completion_tokens <<<"$s")" = 40 ]
	# "ar" is the default's name
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":8,"wf_decode":"ar"}')
	[ "$(jget choices.0.text <<<"$r")" = " I am not, I am I," ]
}

@test "/v1/chat/completions and /completion with dlm, streamed and not" {
	start
	want=$(printf 'ROMEO:\n' | wf-tok -m "$M" --chat-format chatml | wf-decode -m "$M" -n 24 --decode dlm | wf-detok -m "$M")
	r=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"ROMEO:"}],"max_tokens":24,"wf_decode":"dlm"}')
	[ "$(jget choices.0.message.content <<<"$r")" = "$want" ]
	[ "$(jget usage.completion_tokens <<<"$r")" = 24 ]
	n=$(printf 'ROMEO:\n' | wf-tok -m "$M" --chat-format chatml | wc -w)
	[ "$(jget usage.prompt_tokens <<<"$r")" = "$n" ]
	s=$(sse /v1/chat/completions '{"messages":[{"role":"user","content":"ROMEO:"}],"max_tokens":24,"wf_decode":"dlm","stream":true}')
	[ "$(jget -s -c choices.0.delta.content <<<"$s")" = "$want" ]
	[ "$(jget -s choices.0.finish_reason <<<"$s" | grep -v null)" = length ]
	want=$(dlm 'To be, or not to be' 30)
	r=$(post /completion '{"prompt":"To be, or not to be","n_predict":30,"wf_decode":"dlm"}')
	[ "$(jget content <<<"$r")" = "$want" ]
	[ "$(jget tokens_predicted <<<"$r")" = 30 ]
	[ "$(jget stopped_limit <<<"$r")" = true ]
	s=$(sse /completion '{"prompt":"To be, or not to be","n_predict":30,"wf_decode":"dlm","stream":true}')
	[ "$(jget -s -n -c content <<<"$s")" = "$want" ]
}

@test "n_predict -1: until the context is full, as wf-decode -n -1" {
	start -c 72
	want=$(dlm 'ROMEO:' -1 -c 72)
	r=$(post /completion '{"prompt":"ROMEO:","n_predict":-1,"wf_decode":"dlm"}')
	[ "$(jget content <<<"$r")" = "$want" ]
	# the last token is the one the final clean pass predicts
	[ "$(jget tokens_predicted <<<"$r")" = 71 ]
	[ "$(jget stopped_limit <<<"$r")" = true ]
}

@test "wf_block_size, wf_sub_block, wf_threshold, wf_dlm_mode as wf-decode's options" {
	start
	want=$(dlm 'ROMEO:' 40 --block-size 8 --sub-block 4 --threshold 0.5 --dlm-mode adaptive)
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm","wf_block_size":8,"wf_sub_block":4,"wf_threshold":0.5,"wf_dlm_mode":"adaptive"}')
	[ "$(jget choices.0.text <<<"$r")" = "$want" ]
	want=$(dlm 'ROMEO:' 40 --dlm-mode greedy)
	[ "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm","wf_dlm_mode":"greedy"}' |
		jget choices.0.text)" = "$want" ]
	# back to the model's settings
	[ "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm"}' | jget choices.0.text)" = "$(dlm 'ROMEO:' 40)" ]
	# block size 1 is autoregressive greedy decoding
	[ "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":20,"wf_decode":"dlm","wf_block_size":1}' |
		jget choices.0.text)" = "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":20}' | jget choices.0.text)" ]
}

@test "stop strings in dlm mode: honoured exactly inside a decided run, never streamed past" {
	start
	# threshold 0 decides a sub-block of 8 tokens per pass, handed over as one run
	full=$(dlm 'ROMEO:' 40 --threshold 0)
	[ "$full" = " I,,,,, I,,,,,,, I,,,,,,, I,,,,,,, and I,,,,,, I," ]
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm","wf_threshold":0,"stop":", I"}')
	[ "$(jget choices.0.text <<<"$r")" = " I,,,," ]
	[ "$(jget choices.0.finish_reason <<<"$r")" = stop ]
	[ "$(jget usage.completion_tokens <<<"$r")" = 7 ]
	s=$(sse /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm","wf_threshold":0,"stop":[", I"],"stream":true}')
	[ "$(jget -s -c choices.0.text <<<"$s")" = " I,,,," ]
	[ "$(jget -s choices.0.finish_reason <<<"$s" | grep -v null)" = stop ]
	r=$(post /completion '{"prompt":"ROMEO:","n_predict":40,"wf_decode":"dlm","wf_dlm_mode":"greedy","stop":["zz",", and"]}')
	want=$(dlm 'ROMEO:' 40 --dlm-mode greedy)
	[ "$(jget content <<<"$r")" = "${want%%, and*}" ]
	[ "$(jget stopped_word <<<"$r")" = true ]
	[ "$(jget stopping_word <<<"$r")" = ", and" ]
	# the default settings (one token per pass), a stop spanning tokens
	want=$(dlm 'ROMEO:' 40)
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm","stop":"man'"'"'s\nTo"}')
	[ "$(jget choices.0.text <<<"$r")" = " I am a man, I'll be a " ]
	[ "$(jget choices.0.text <<<"$r")" = "${want%%man\'s*}" ]
	# a stop that never occurs: everything
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm","stop":"QQQ"}')
	[ "$(jget choices.0.text <<<"$r")" = "$want" ]
	[ "$(jget choices.0.finish_reason <<<"$r")" = length ]
}

@test "an end-of-generation token inside a run ends the answer there; ignore_eos" {
	# make "," (id 44) the end-of-generation token
	model_edit "$M" "$BATS_TEST_TMPDIR/eos.gguf" u32=tokenizer.ggml.eos_token_id:44
	DM="$BATS_TEST_TMPDIR/eos.gguf"
	want=$(dlm 'ROMEO:' 40 --dlm-mode greedy)
	[ "$want" = " I" ]
	start -m "$DM"
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm","wf_dlm_mode":"greedy"}')
	[ "$(jget choices.0.text <<<"$r")" = " I" ]
	[ "$(jget choices.0.finish_reason <<<"$r")" = stop ]
	[ "$(jget usage.completion_tokens <<<"$r")" = 1 ]
	s=$(sse /completion '{"prompt":"ROMEO:","n_predict":40,"wf_decode":"dlm","wf_dlm_mode":"greedy","stream":true}')
	[ "$(jget -s -n -c content <<<"$s")" = " I" ]
	[ "$(jget -s -n stopped_eos <<<"$s")" = true ]
	want=$(dlm 'ROMEO:' 40 --dlm-mode greedy --ignore-eos)
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm","wf_dlm_mode":"greedy","ignore_eos":true}')
	[ "$(jget choices.0.text <<<"$r")" = "$want" ]
	[ "$(jget usage.completion_tokens <<<"$r")" = 40 ]
}

@test "ar and dlm requests share a worker's cache; whole blocks are reused" {
	start
	p="To be, or not to be, that is the question: Whether 'tis nobler in the mind to suffer the slings and arrows of outrageous fortune"
	L=$(printf '%s\n' "$p" | wf-tok -m "$M" | wc -w)
	[ "$L" -gt 32 ]
	[ "$L" -lt 64 ]
	want=$(dlm "$p" 20)
	r=$(post /completion "{\"prompt\":\"$p\",\"n_predict\":20,\"wf_decode\":\"dlm\"}")
	[ "$(jget content <<<"$r")" = "$want" ]
	[ "$(jget tokens_cached <<<"$r")" = 0 ]
	# the first block stays cached: an ar request reuses it
	r=$(post /completion "{\"prompt\":\"$p\",\"n_predict\":20}")
	[ "$(jget content <<<"$r")" = "$(printf '%s\n' "$p" | wf-tok -m "$M" | wf-decode -m "$M" -n 20 | wf-detok -m "$M")" ]
	[ "$(jget tokens_cached <<<"$r")" = 32 ]
	# and a dlm request after it: at most 31 of the block's 32 positions
	r=$(post /completion "{\"prompt\":\"$p\",\"n_predict\":20,\"wf_decode\":\"dlm\"}")
	[ "$(jget content <<<"$r")" = "$want" ]
	[ "$(jget tokens_cached <<<"$r")" = 31 ]
	[ "$(jget tokens_evaluated <<<"$r")" = "$L" ]
}

@test "a client that goes away mid-stream frees the worker" {
	start
	curl -sSN --max-time 30 -X POST "$URL/completion" \
		-d '{"prompt":"ROMEO:","n_predict":-1,"wf_decode":"dlm","stream":true}' 2>/dev/null | head -c 1 >/dev/null || true
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":40,"wf_decode":"dlm"}')
	[ "$(jget choices.0.text <<<"$r")" = "$(dlm 'ROMEO:' 40)" ]
	# one worker: the first request was logged before the second was taken
	grep -q '^wf-serve: POST /completion 200 (client gone) ' "$LOG"
}

@test "400s: greedy only, settings only with dlm, bad settings, a model without block diffusion" {
	start
	run -0 status /v1/completions '{"prompt":"x","wf_decode":"dlm","temperature":0.5}'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "block diffusion is greedy: 'temperature' must be 0, not 0.5" ]
	[ "$(body | jget error.param)" = temperature ]
	run -0 status /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"wf_decode":"dlm","repeat_penalty":1.5}'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "block diffusion is greedy: 'repeat_penalty' must be 1, not 1.5" ]
	run -0 status /v1/completions '{"prompt":"x","wf_block_size":8}'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "'wf_block_size' goes with \"wf_decode\": \"dlm\"" ]
	[ "$(body | jget error.param)" = wf_block_size ]
	run -0 status /v1/completions '{"prompt":"x","wf_decode":"ar","wf_dlm_mode":"greedy"}'
	[ "$(body | jget error.message)" = "'wf_dlm_mode' goes with \"wf_decode\": \"dlm\"" ]
	run -0 status /v1/completions '{"prompt":"x","wf_decode":"nar"}'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "'wf_decode' must be \"ar\" or \"dlm\"" ]
	run -0 status /v1/completions '{"prompt":"x","wf_decode":"dlm","wf_dlm_mode":"fast"}'
	[ "$(body | jget error.message)" = "'wf_dlm_mode' must be \"greedy\", \"iterative\" or \"adaptive\"" ]
	run -0 status /v1/completions '{"prompt":"x","wf_decode":"dlm","wf_threshold":1.5}'
	[ "$(body | jget error.message)" = "'wf_threshold' must be a number in [0, 1]" ]
	run -0 status /v1/completions '{"prompt":"x","wf_decode":"dlm","wf_block_size":0}'
	[ "$(body | jget error.message)" = "'wf_block_size' must be an integer in [1, 65536]" ]
	run -0 status /completion '{"prompt":"x","wf_decode":"dlm","wf_block_size":300}'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "block size 300 exceeds the batch of 256" ]
	[ "$(body | jget error.param)" = wf_block_size ]
	# the server is fine afterwards
	run -0 status /v1/completions '{"prompt":"ROMEO:","max_tokens":4,"wf_decode":"dlm"}'
	[ "$output" = 200 ]
}

@test "--temp T: dlm requests must ask for temperature 0" {
	start --temp 0.8
	run -0 status /v1/completions '{"prompt":"ROMEO:","max_tokens":4,"wf_decode":"dlm"}'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "block diffusion is greedy: 'temperature' must be 0, not 0.8" ]
	run -0 status /v1/completions '{"prompt":"ROMEO:","max_tokens":4,"wf_decode":"dlm","temperature":0}'
	[ "$output" = 200 ]
}

@test "a model whose block-diffusion settings are bad: dlm answers 400 with the reason, ar works" {
	model_edit "$M" "$BATS_TEST_TMPDIR/bad.gguf" str=wf.dlm.attention:sideways
	start -m "$BATS_TEST_TMPDIR/bad.gguf"
	grep -qx "wf-serve: block diffusion is not available: key 'wf.dlm.attention': 'sideways' is not block-causal or causal" "$LOG"
	run -0 status /v1/completions '{"prompt":"ROMEO:","max_tokens":4,"wf_decode":"dlm"}'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "block diffusion is not available for this model: key 'wf.dlm.attention': 'sideways' is not block-causal or causal" ]
	[ "$(body | jget error.param)" = wf_decode ]
	run -0 status /v1/completions '{"prompt":"ROMEO:","max_tokens":4}'
	[ "$output" = 200 ]
}
