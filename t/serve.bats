#!/usr/bin/env bats
# wf-serve: the OpenAI-compatible endpoints, llama.cpp's, streaming, limits,
# concurrency, signals.  Every server listens on 127.0.0.1 port 0 and is
# stopped in teardown.  Greedy answers are compared with the pipeline
# wf-tok | wf-decode | wf-detok on the same prompt.
load test_helper

M="$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf"

setup_file() {
	command -v curl >/dev/null || skip "curl is not installed"
}

setup() {
	command -v curl >/dev/null || skip "curl is not installed"
	SRV_PID=
	SRVS=()
	IMG=
}

teardown() {
	for p in "${SRVS[@]}"; do
		kill -CONT "$p" 2>/dev/null || true
	done
	for p in "${SRVS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${SRVS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		# workers exit when the parent's socket closes
	done
	[ -z "$IMG" ] || wf-shm rm "$IMG" >/dev/null 2>&1 || true
	# no sanitizer report from the server or its workers (make check-asan)
	if [ -n "${LOG:-}" ] && grep -h -e 'Sanitizer' -e 'runtime error' "$LOG"* 2>/dev/null; then
		return 1
	fi
}

# start ARGS...: start wf-serve on a free port; sets URL, SRV_PID, LOG.
start() {
	LOG="$BATS_TEST_TMPDIR/serve.$RANDOM.log"
	local out="$LOG.out"
	wf-serve -m "$M" --port 0 -v "$@" >"$out" 2>"$LOG" 3>&- &
	SRV_PID=$!
	SRVS+=("$SRV_PID")
	for _ in $(seq 200); do
		URL=$(head -n 1 "$out")
		[ -n "$URL" ] && break
		kill -0 "$SRV_PID" 2>/dev/null || { cat "$LOG" >&2; return 1; }
		sleep 0.05
	done
	[ -n "$URL" ]
	URL=${URL%/}
}

# worker_pid N: the pid of worker N from the log.
worker_pid() {
	sed -n "s/^wf-serve: worker $1: pid \([0-9]*\)$/\1/p" "$LOG" | tail -n 1
}

post() { curl -sS --max-time 30 -X POST -H 'Content-Type: application/json' "$URL$1" -d "$2"; }
# status PATH BODY: the HTTP status line's code, the body in $BATS_TEST_TMPDIR/body
status() {
	curl -sS --max-time 30 -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -X POST "$URL$1" -d "$2"
}
body() { cat "$BATS_TEST_TMPDIR/body"; }
jget() { http_jget "$@"; }

# pipeline TEXT N: greedy continuation of TEXT by the filters.
pipeline() {
	printf '%s\n' "$1" | wf-tok -m "$M" | wf-decode -m "$M" -n "$2" | wf-detok -m "$M"
}

# until_health FIELD VALUE: wait (bounded) until /health reports it.
until_health() {
	for _ in $(seq 100); do
		[ "$(curl -sS --max-time 30 "$URL/health" | jget "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

@test "usage errors exit 2; a missing model exits 1 naming it" {
	run -2 wf-serve --bogus
	[ "${lines[0]}" = "wf-serve: unrecognized option '--bogus'" ]
	run -2 wf-serve -m "$M" --port 70000
	[ "${lines[0]}" = "wf-serve: --port: '70000' is not an integer in [0, 65535]" ]
	run -2 wf-serve -m "$M" --chat-format jinja
	[ "${lines[0]}" = "wf-serve: --chat-format: 'jinja' is not bitnet, llama3 or chatml" ]
	run -1 wf-serve -m "$BATS_TEST_TMPDIR/none.gguf"
	[ "$output" = "wf-serve: $BATS_TEST_TMPDIR/none.gguf: No such file or directory" ]
	: >"$BATS_TEST_TMPDIR/empty.key"
	run -1 wf-serve -m "$M" --api-key-file "$BATS_TEST_TMPDIR/empty.key"
	[ "$output" = "wf-serve: $BATS_TEST_TMPDIR/empty.key: the key file is empty" ]
	printf 'a b\nc\n' >"$BATS_TEST_TMPDIR/space.key"
	run -1 wf-serve -m "$M" --api-key-file "$BATS_TEST_TMPDIR/space.key"
	[ "$output" = "wf-serve: $BATS_TEST_TMPDIR/space.key: the key holds white space or control bytes" ]
}

@test "a port in use is a runtime error" {
	start
	port=${URL##*:}
	run -1 wf-serve -m "$M" --port "$port"
	[[ "$output" == "wf-serve: 127.0.0.1 port $port: Address already in use" ]]
}

@test "GET /health, /v1/models; 404 and 405 with OpenAI error objects" {
	start -j 2
	run -0 curl -sS --max-time 30 "$URL/health"
	[ "$output" = '{"status":"ok","workers":2,"busy":0,"queued":0}' ]
	run -0 curl -sS --max-time 30 "$URL/v1/models"
	[ "$(jget data.0.id <<<"$output")" = "tiny-shakespeare-i2_s" ]
	[ "$(jget object <<<"$output")" = "list" ]
	[ "$(jget data.0.object <<<"$output")" = "model" ]
	run -0 curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "$URL/nope"
	[ "$output" = 404 ]
	run -0 curl -sS --max-time 30 -w '\n%{http_code}' "$URL/v1/completions"
	[ "${lines[1]}" = 405 ]
	[ "$(jget error.message <<<"${lines[0]}")" = "use POST with this endpoint" ]
	[ "$(jget error.type <<<"${lines[0]}")" = "invalid_request_error" ]
}

@test "HEAD: the head of GET's answer, no body; other methods are told GET or HEAD" {
	start
	run -0 curl -sS --max-time 30 -I "$URL/health"
	[ "${lines[0]}" = $'HTTP/1.1 200 OK\r' ]
	len=$(curl -sS --max-time 30 "$URL/health" | wc -c)
	[[ "$output" == *$'Content-Length: '"$len"$'\r'* ]]
	run -0 bash -c "curl -sS --max-time 30 -X HEAD -o - '$URL/v1/models' 2>/dev/null | wc -c"
	[ "$output" = 0 ]
	run -0 curl -sS --max-time 30 -X DELETE -D - "$URL/health"
	[[ "$output" == *$'Allow: GET, HEAD\r'* ]]
	[[ "$output" == *'"message":"use GET or HEAD with this endpoint"'* ]]
}

@test "a full connection table answers 503 with Retry-After and a right Content-Length" {
	start --max-conns 1
	exec 5<>"/dev/tcp/127.0.0.1/${URL##*:}"
	printf 'GET /hea' >&5 # holds the only slot
	run -0 curl -sS --max-time 30 -D "$BATS_TEST_TMPDIR/h" "$URL/health"
	[ "$(jget error.message <<<"$output")" = "too many connections; retry later" ]
	[ "$(jget error.code <<<"$output")" = 503 ]
	grep -q $'^HTTP/1.1 503 ' "$BATS_TEST_TMPDIR/h"
	grep -q $'^Retry-After: 1\r$' "$BATS_TEST_TMPDIR/h"
	grep -q "^Content-Length: $(printf '%s\n' "$output" | wc -c)"$'\r$' "$BATS_TEST_TMPDIR/h"
	exec 5>&-
}

@test "--alias names the model" {
	start --alias shakespeare
	[ "$(curl -sS --max-time 30 "$URL/v1/models" | jget data.0.id)" = shakespeare ]
	[ "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":1}' | jget model)" = shakespeare ]
}

@test "/v1/completions: greedy text equals wf-tok | wf-decode | wf-detok; usage; finish_reason length" {
	start
	want=$(pipeline 'ROMEO:' 20)
	[[ "$want" == " I am not, I am I, "* ]]
	run -0 post /v1/completions '{"model":"x","prompt":"ROMEO:","max_tokens":20,"temperature":0}'
	r=$output
	[ "$(jget choices.0.text <<<"$r")" = "$want" ]
	[ "$(jget choices.0.finish_reason <<<"$r")" = length ]
	[ "$(jget object <<<"$r")" = text_completion ]
	[[ "$(jget id <<<"$r")" == cmpl-* ]]
	n=$(printf 'ROMEO:\n' | wf-tok -m "$M" | wc -w)
	[ "$(jget usage.prompt_tokens <<<"$r")" = "$n" ]
	[ "$(jget usage.completion_tokens <<<"$r")" = 20 ]
	[ "$(jget usage.total_tokens <<<"$r")" = $((n + 20)) ]
	# a prompt given as token ids
	ids=$(printf 'ROMEO:\n' | wf-tok -m "$M" | tr ' ' ,)
	[ "$(post /v1/completions "{\"prompt\":[$ids],\"max_tokens\":20}" | jget choices.0.text)" = "$want" ]
	[ "$(post /v1/completions '{"prompt":["ROMEO:"],"max_tokens":20}' | jget choices.0.text)" = "$want" ]
}

@test "/v1/completions streaming: text_completion chunks, finish and usage, then [DONE]" {
	start
	want=$(pipeline 'To be, or not to be' 30)
	curl -sSN --max-time 30 "$URL/v1/completions" -d '{"prompt":"To be, or not to be","max_tokens":30,"stream":true}' \
		-D "$BATS_TEST_TMPDIR/h" >"$BATS_TEST_TMPDIR/s"
	grep -qi '^content-type: text/event-stream' "$BATS_TEST_TMPDIR/h"
	[ "$(jget -s -c choices.0.text <"$BATS_TEST_TMPDIR/s")" = "$want" ]
	[ "$(jget -s object <"$BATS_TEST_TMPDIR/s" | sort -u)" = text_completion ]
	[ "$(jget -s choices.0.finish_reason <"$BATS_TEST_TMPDIR/s" | grep -v null)" = length ]
	[ "$(jget -s usage.completion_tokens <"$BATS_TEST_TMPDIR/s")" = 30 ]
	[ "$(tail -n 2 "$BATS_TEST_TMPDIR/s" | head -n 1)" = "data: [DONE]" ]
}

@test "stop strings: a string or an array, honoured exactly, never streamed past" {
	start
	full=$(pipeline 'ROMEO:' 20)
	# ", I am I" spans several tokens; the text before its first occurrence is all that comes back
	want=${full%%, I am I*}
	[ "$want" = " I am not" ]
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":20,"stop":", I am I"}')
	[ "$(jget choices.0.text <<<"$r")" = "$want" ]
	[ "$(jget choices.0.finish_reason <<<"$r")" = stop ]
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":20,"stop":["zzz",", I am I","not,"]}')
	[ "$(jget choices.0.text <<<"$r")" = " I am " ]
	s=$(curl -sSN --max-time 30 "$URL/v1/completions" -d '{"prompt":"ROMEO:","max_tokens":20,"stream":true,"stop":[", I am I"]}')
	[ "$(jget -s -c choices.0.text <<<"$s")" = "$want" ]
	[ "$(jget -s choices.0.finish_reason <<<"$s" | grep -v null)" = stop ]
	# a stop string that never occurs: all 20 tokens, finish length
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":20,"stop":["QQQ"]}')
	[ "$(jget choices.0.text <<<"$r")" = "$full" ]
	[ "$(jget choices.0.finish_reason <<<"$r")" = length ]
	# a stop string at the very start: empty text
	r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":20,"stop":" I"}')
	[ "$(jget choices.0.text <<<"$r")" = "" ]
	[ "$(jget usage.completion_tokens <<<"$r")" = 1 ]
}

@test "sampling: seed and temperature per request" {
	start
	a=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":24,"temperature":1,"top_p":1,"seed":7}' | jget choices.0.text)
	b=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":24,"temperature":1,"top_p":1,"seed":7}' | jget choices.0.text)
	c=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":24,"temperature":1,"top_p":1,"seed":8}' | jget choices.0.text)
	[ "$a" = "$b" ]
	[ "$a" != "$c" ]
	# the same sampler as wf-decode: same seed, same tokens
	want=$(printf 'ROMEO:\n' | wf-tok -m "$M" | wf-decode -m "$M" -n 24 --temp 1 --top-p 1 --seed 7 | wf-detok -m "$M")
	[ "$a" = "$want" ]
}

@test "/v1/chat/completions: the model's chat format (ChatML fallback), system messages, streaming deltas" {
	start
	want=$(printf 'ROMEO:\n' | wf-tok -m "$M" --chat-format chatml | wf-decode -m "$M" -n 12 | wf-detok -m "$M")
	r=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"ROMEO:"}],"max_tokens":12}')
	[ "$(jget choices.0.message.content <<<"$r")" = "$want" ]
	[ "$(jget choices.0.message.role <<<"$r")" = assistant ]
	[ "$(jget object <<<"$r")" = chat.completion ]
	[[ "$(jget id <<<"$r")" == chatcmpl-* ]]
	n=$(printf 'ROMEO:\n' | wf-tok -m "$M" --chat-format chatml | wc -w)
	[ "$(jget usage.prompt_tokens <<<"$r")" = "$n" ]
	# with a system message, as wf-tok --system renders it
	want=$(printf 'Speak.\n' | wf-tok -m "$M" --chat-format chatml --system 'You are Juliet.' |
		wf-decode -m "$M" -n 12 | wf-detok -m "$M")
	r=$(post /v1/chat/completions '{"messages":[{"role":"system","content":"You are Juliet."},{"role":"user","content":[{"type":"text","text":"Speak."}]}],"max_tokens":12}')
	[ "$(jget choices.0.message.content <<<"$r")" = "$want" ]
	# streamed: a role delta first, content deltas, a finish chunk with usage, [DONE]
	s=$(curl -sSN --max-time 30 "$URL/v1/chat/completions" -d '{"messages":[{"role":"system","content":"You are Juliet."},{"role":"user","content":"Speak."}],"max_tokens":12,"stream":true}')
	[ "$(jget -s -c choices.0.delta.content <<<"$s")" = "$want" ]
	[ "$(jget -s choices.0.delta.role <<<"$s")" = assistant ]
	[ "$(jget -s object <<<"$s" | sort -u)" = chat.completion.chunk ]
	[ "$(jget -s choices.0.finish_reason <<<"$s" | grep -v null)" = length ]
	[ "$(jget -s usage.completion_tokens <<<"$s")" = 12 ]
}

@test "multi-turn chats render every turn; --chat-format overrides" {
	start --chat-format llama3
	r=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}],"max_tokens":1}')
	[ "$(jget usage.completion_tokens <<<"$r")" = 1 ]
	[ "$(curl -sS --max-time 30 "$URL/v1/models" | jget data.0.meta.chat_format)" = llama3 ]
	# one turn renders as wf-tok --chat renders it
	n=$(printf 'a\n' | wf-tok -m "$M" --chat-format llama3 | wc -w)
	r=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"a"}],"max_tokens":1}')
	[ "$(jget usage.prompt_tokens <<<"$r")" = "$n" ]
}

@test "llama.cpp endpoints: /completion, /tokenize, /detokenize" {
	start
	want=$(pipeline 'ROMEO:' 16)
	r=$(post /completion '{"prompt":"ROMEO:","n_predict":16}')
	[ "$(jget content <<<"$r")" = "$want" ]
	[ "$(jget stop <<<"$r")" = true ]
	[ "$(jget tokens_predicted <<<"$r")" = 16 ]
	[ "$(jget stopped_limit <<<"$r")" = true ]
	s=$(curl -sSN --max-time 30 "$URL/completion" -d '{"prompt":"ROMEO:","n_predict":16,"stream":true}')
	[ "$(jget -s -n -c content <<<"$s")" = "$want" ]
	[ "$(jget -s -n stop <<<"$s" | tail -n 1)" = true ]
	ids=$(printf 'To be, or not to be\n' | wf-tok -m "$M")
	r=$(post /tokenize '{"content":"To be, or not to be"}')
	[ "$(jget tokens <<<"$r")" = "array $(wc -w <<<"$ids")" ]
	[ "$(tr -d '[]{}"a-z:' <<<"$r")" = "$(tr ' ' , <<<"$ids")" ]
	r=$(post /detokenize "{\"tokens\":[$(tr ' ' , <<<"$ids")]}")
	[ "$(jget content <<<"$r")" = "To be, or not to be" ]
	run -0 status /detokenize '{"tokens":[1,99999]}'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "'tokens': element 1 is not a token id in [0, 2048)" ]
}

@test "malformed JSON and bad fields: 400 with an OpenAI error object naming the field" {
	start
	run -0 status /v1/completions '{"prompt": "x",'
	[ "$output" = 400 ]
	[[ "$(body | jget error.message)" == "malformed JSON in the request body: line 1, column "* ]]
	[ "$(body | jget error.type)" = invalid_request_error ]
	[ "$(body | jget error.code)" = 400 ]
	run -0 status /v1/completions '[1]'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "the request body must be a JSON object, not array" ]
	run -0 status /v1/completions '{"prompt":"x","max_tokens":"5"}'
	[ "$output" = 400 ]
	[ "$(body | jget error.param)" = max_tokens ]
	[ "$(body | jget error.message)" = "'max_tokens' must be an integer in [0, 2147483647]" ]
	run -0 status /v1/completions '{"prompt":"x","max_tokens":-1}'
	[ "$(body | jget error.message)" = "'max_tokens' must be an integer in [0, 2147483647]" ]
	run -0 status /v1/completions '{"prompt":"x","repeat_penalty":0}'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "'repeat_penalty' must be a number in (0, 100]" ]
	[ "$(body | jget error.param)" = repeat_penalty ]
	run -0 status /v1/completions '{"prompt":"x","temperature":-1}'
	[ "$(body | jget error.message)" = "'temperature' must be a number in [0, 100]" ]
	run -0 status /v1/completions '{"prompt":"x","stop":[1]}'
	[ "$(body | jget error.message)" = "'stop' must be a string or an array of strings" ]
	run -0 status /v1/completions '{"prompt":"x","stop":""}'
	[ "$(body | jget error.message)" = "stop strings must hold 1 to 1024 bytes" ]
	run -0 status /v1/completions '{"prompt":"x","stream":"yes"}'
	[ "$(body | jget error.message)" = "'stream' must be a boolean, not string" ]
	run -0 status /v1/completions '{"max_tokens":3}'
	[ "$(body | jget error.message)" = "'prompt' is required" ]
	run -0 status /v1/completions '{"prompt":"x","n":2}'
	[ "$(body | jget error.param)" = n ]
	run -0 status /v1/chat/completions '{"messages":[]}'
	[ "$(body | jget error.message)" = "'messages' must be a non-empty array" ]
	run -0 status /v1/chat/completions '{"messages":[{"role":"tool","content":"x"}]}'
	[ "$(body | jget error.message)" = "messages[0]: role 'tool' is not system, user or assistant" ]
	run -0 status /v1/chat/completions '{"messages":[{"role":"user\u0000x","content":"x"}]}'
	[ "$(body | jget error.message)" = 'messages[0]: role '"'"'user\x00x'"'"' is not system, user or assistant' ]
	run -0 status /v1/completions '{"prompt":["a","b"]}'
	[ "$(body | jget error.message)" = "'prompt' holds 2 prompts; one prompt per request" ]
	run -0 status /v1/completions "{\"prompt\":\"$(printf 'word %.0s' $(seq 300))\"}"
	[ "$output" = 400 ]
	[[ "$(body | jget error.message)" == "prompt of "*" tokens does not fit in the context of 256" ]]
}

@test "wf_decode: ar is the default; other values than ar and dlm answer 400 (dlm: t/dlm_serve.bats)" {
	start
	run -0 status /v1/completions '{"prompt":"ROMEO:","max_tokens":3,"wf_decode":"ar"}'
	[ "$output" = 200 ]
	run -0 status /v1/completions '{"prompt":"x","wf_decode":"nar"}'
	[ "$output" = 400 ]
	[ "$(body | jget error.message)" = "'wf_decode' must be \"ar\" or \"dlm\"" ]
	[ "$(body | jget error.param)" = wf_decode ]
}

@test "oversized bodies get 413; over-long heads 431; bad HTTP 400" {
	start --max-body 100
	run -0 status /v1/completions "{\"prompt\":\"$(printf 'x%.0s' $(seq 200))\"}"
	[ "$output" = 413 ]
	[ "$(body | jget error.message)" = "body of 213 bytes exceeds 100" ]
	run -0 curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -H "X-Big: $(printf 'y%.0s' $(seq 17000))" "$URL/health"
	[ "$output" = 431 ]
	port=${URL##*:}
	exec 5<>"/dev/tcp/127.0.0.1/$port"
	printf 'HELLO\r\n\r\n' >&5
	run -0 head -n 1 <&5
	exec 5<&-
	[ "$output" = $'HTTP/1.1 400 Bad Request\r' ]
}

@test "--api-key-file: 401 without the bearer token, 200 with it; /health stays open" {
	printf 's3cret \nthe second line is not the key\n' >"$BATS_TEST_TMPDIR/key"
	start --api-key-file "$BATS_TEST_TMPDIR/key"
	run -0 curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "$URL/health"
	[ "$output" = 200 ]
	run -0 status /v1/completions '{"prompt":"ROMEO:","max_tokens":2}'
	[ "$output" = 401 ]
	[ "$(body | jget error.type)" = authentication_error ]
	run -0 curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' "$URL/v1/models"
	[ "$output" = 401 ]
	run -0 curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret' "$URL/v1/models"
	[ "$output" = 200 ]
	run -0 curl -sS --max-time 30 -H 'Authorization: Bearer s3cret' "$URL/v1/completions" -d '{"prompt":"ROMEO:","max_tokens":2}'
	[ "$(jget usage.completion_tokens <<<"$output")" = 2 ]
}

@test "a slow client cannot stall others; an idle one gets 408" {
	start -j 1 --timeout 2
	port=${URL##*:}
	exec 5<>"/dev/tcp/127.0.0.1/$port"
	printf 'POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"pro' >&5
	want=$(pipeline 'ROMEO:' 8)
	for i in 1 2 3; do
		[ "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":8}' | jget choices.0.text)" = "$want" ]
	done
	run -0 head -n 1 <&5
	exec 5<&-
	[ "$output" = $'HTTP/1.1 408 Request Timeout\r' ]
}

@test "50 concurrent requests, 2 workers: every one answered correctly" {
	start -j 2 -t 1
	prompts=("ROMEO:" "JULIET:" "To be, or not to be" "KING HENRY" "First Citizen:")
	for k in 0 1 2 3 4; do
		want[k]=$(pipeline "${prompts[k]}" 16)
	done
	for i in $(seq 0 49); do
		k=$((i % 5))
		printf '%s\t{"prompt":"%s","max_tokens":16%s}\n' "$i" "${prompts[k]}" "$([ $((i % 2)) = 0 ] && echo ',"stream":true')"
	done >"$BATS_TEST_TMPDIR/reqs"
	mkdir "$BATS_TEST_TMPDIR/r"
	pids=()
	while IFS=$'\t' read -r i req; do
		curl -sS --max-time 30 -N --max-time 60 "$URL/v1/completions" -d "$req" >"$BATS_TEST_TMPDIR/r/$i" 3>&- &
		pids+=($!)
	done <"$BATS_TEST_TMPDIR/reqs"
	wait "${pids[@]}"
	bad=0
	for i in $(seq 0 49); do
		k=$((i % 5))
		if [ $((i % 2)) = 0 ]; then
			got=$(jget -s -c choices.0.text <"$BATS_TEST_TMPDIR/r/$i")
		else
			got=$(jget choices.0.text <"$BATS_TEST_TMPDIR/r/$i")
		fi
		[ "$got" = "${want[k]}" ] || { echo "request $i: '$got' != '${want[k]}'"; bad=$((bad + 1)); }
	done
	[ "$bad" = 0 ]
}

@test "a full queue answers 503 with Retry-After; queued requests are answered later" {
	start -j 1 --queue 1
	w=$(worker_pid 1)
	[ -n "$w" ]
	kill -STOP "$w"
	post /v1/completions '{"prompt":"ROMEO:","max_tokens":4}' >"$BATS_TEST_TMPDIR/a" 3>&- &
	a=$!
	until_health busy 1
	post /v1/completions '{"prompt":"ROMEO:","max_tokens":4}' >"$BATS_TEST_TMPDIR/b" 3>&- &
	b=$!
	until_health queued 1
	run -0 curl -sS --max-time 30 -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' "$URL/v1/completions" -d '{"prompt":"x"}'
	[ "$output" = 503 ]
	grep -qi '^retry-after: 1' "$BATS_TEST_TMPDIR/h"
	[ "$(body | jget error.type)" = server_error ]
	kill -CONT "$w"
	wait "$a" "$b"
	want=$(pipeline 'ROMEO:' 4)
	[ "$(jget choices.0.text <"$BATS_TEST_TMPDIR/a")" = "$want" ]
	[ "$(jget choices.0.text <"$BATS_TEST_TMPDIR/b")" = "$want" ]
}

@test "SIGTERM: requests in flight and queued are answered, then the server exits 0" {
	start -j 1
	w=$(worker_pid 1)
	kill -STOP "$w"
	post /v1/completions '{"prompt":"ROMEO:","max_tokens":6}' >"$BATS_TEST_TMPDIR/a" 3>&- &
	a=$!
	until_health busy 1
	post /v1/completions '{"prompt":"ROMEO:","max_tokens":6}' >"$BATS_TEST_TMPDIR/b" 3>&- &
	b=$!
	until_health queued 1
	kill -TERM "$SRV_PID"
	kill -CONT "$w"
	rc=0
	wait "$SRV_PID" || rc=$?
	[ "$rc" = 0 ]
	want=$(pipeline 'ROMEO:' 6)
	wait "$a" "$b"
	[ "$(jget choices.0.text <"$BATS_TEST_TMPDIR/a")" = "$want" ]
	[ "$(jget choices.0.text <"$BATS_TEST_TMPDIR/b")" = "$want" ]
	! kill -0 "$w" 2>/dev/null
}

@test "a second SIGTERM stops at once: exit 1, saying how many requests were not answered" {
	start -j 1
	w=$(worker_pid 1)
	kill -STOP "$w"
	post /v1/completions '{"prompt":"ROMEO:","max_tokens":6}' >/dev/null 2>&1 3>&- &
	until_health busy 1
	post /v1/completions '{"prompt":"ROMEO:","max_tokens":6}' >/dev/null 2>&1 3>&- &
	until_health queued 1
	kill -TERM "$SRV_PID"
	sleep 0.2
	kill -TERM "$SRV_PID"
	rc=0
	wait "$SRV_PID" || rc=$?
	[ "$rc" = 1 ]
	[ "$(tail -n 1 "$LOG")" = "wf-serve: stopped by a second signal: 2 requests not answered" ]
	! kill -0 "$w" 2>/dev/null
}

@test "a worker that dies is replaced" {
	start -j 1
	w=$(worker_pid 1)
	kill -KILL "$w"
	for _ in $(seq 100); do
		[ "$(worker_pid 1)" != "$w" ] && break
		sleep 0.05
	done
	until_health busy 0
	want=$(pipeline 'ROMEO:' 5)
	for _ in $(seq 100); do
		r=$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":5}' | jget choices.0.text 2>/dev/null) && break
		sleep 0.05
	done
	[ "$r" = "$want" ]
	grep -q "worker 1 (pid $w) was killed by signal 9" "$LOG"
}

@test "a worker that dies before its response begins: the client gets 500, the log says so" {
	start -j 1
	w=$(worker_pid 1)
	kill -STOP "$w" # it cannot begin the response: its death comes first
	curl -sS --max-time 30 -i "$URL/v1/completions" -d '{"prompt":"ROMEO:","max_tokens":4}' \
		>"$BATS_TEST_TMPDIR/r" 3>&- &
	c=$!
	until_health busy 1
	kill -KILL "$w"
	wait "$c"
	b='{"error":{"message":"the worker answering the request was killed by signal 9","type":"server_error","param":null,"code":500}}'
	run -0 cat "$BATS_TEST_TMPDIR/r"
	[ "$output" = "$(printf 'HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' $((${#b} + 1)) "$b")" ]
	run -0 grep -Fx "wf-serve: worker 1 (pid $w) was killed by signal 9 before its response to POST /v1/completions began: answered 500" "$LOG"
	run -0 grep -Fx "wf-serve: POST /v1/completions 500" "$LOG"
	# the slot and the worker are free again; the new worker answers
	until_health busy 0
	[ "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":4}' | jget choices.0.text)" = "$(pipeline 'ROMEO:' 4)" ]
}

@test "a worker that dies during a streamed response: the stream is cut short, the log says so" {
	# 16000 events of some 450 bytes (the alias is in each) are more than the
	# kernel buffers for a client that reads nothing, so the worker cannot
	# finish before it is killed
	alias=$(printf 'a%.0s' $(seq 255))
	start -j 1 -c 16384 --alias "$alias"
	w=$(worker_pid 1)
	exec 5<>"/dev/tcp/127.0.0.1/${URL##*:}"
	req='{"messages":[{"role":"user","content":"hi"}],"max_tokens":16000,"ignore_eos":true,"stream":true}'
	printf 'POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s' ${#req} "$req" >&5
	IFS= read -r line <&5 # the worker told the parent 'W' before this byte
	[ "$line" = $'HTTP/1.1 200 OK\r' ]
	kill -KILL "$w"
	timeout 60 cat <&5 >"$BATS_TEST_TMPDIR/s"
	exec 5<&-
	run -0 grep -c '^data: {"id":"chatcmpl-' "$BATS_TEST_TMPDIR/s"
	[ "$output" -ge 1 ]
	run -1 grep -F 'data: [DONE]' "$BATS_TEST_TMPDIR/s"
	[ "$output" = "" ]
	run -0 grep -Fx "wf-serve: worker 1 (pid $w) was killed by signal 9 during its response to POST /v1/chat/completions: the response is cut short" "$LOG"
	until_health busy 0
}

@test "SIGTERM, then the only worker dies: 500 for the request in flight, 503 for the queued one, exit 0" {
	start -j 1
	w=$(worker_pid 1)
	kill -STOP "$w"
	curl -sS --max-time 30 -o "$BATS_TEST_TMPDIR/a" -w '%{http_code}' "$URL/v1/completions" \
		-d '{"prompt":"ROMEO:","max_tokens":4}' >"$BATS_TEST_TMPDIR/a.code" 3>&- &
	a=$!
	until_health busy 1
	curl -sS --max-time 30 -D "$BATS_TEST_TMPDIR/b.head" -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' \
		"$URL/v1/completions" -d '{"prompt":"ROMEO:","max_tokens":4}' >"$BATS_TEST_TMPDIR/b.code" 3>&- &
	b=$!
	until_health queued 1
	kill -TERM "$SRV_PID"
	# the parent drains (and so will not replace the worker) before it dies
	for _ in $(seq 100); do
		grep -q '^wf-serve: terminating' "$LOG" && break
		sleep 0.05
	done
	run -0 grep -Fx 'wf-serve: terminating: finishing 1 requests in progress and 1 queued' "$LOG"
	kill -KILL "$w"
	rc=0
	wait "$SRV_PID" || rc=$?
	[ "$rc" = 0 ]
	wait "$a" "$b"
	[ "$(cat "$BATS_TEST_TMPDIR/a.code")" = 500 ]
	[ "$(cat "$BATS_TEST_TMPDIR/a")" = '{"error":{"message":"the worker answering the request was killed by signal 9","type":"server_error","param":null,"code":500}}' ]
	[ "$(cat "$BATS_TEST_TMPDIR/b.code")" = 503 ]
	[ "$(cat "$BATS_TEST_TMPDIR/b")" = '{"error":{"message":"the server is stopping and has no worker left to answer","type":"server_error","param":null,"code":503}}' ]
	run -0 grep -Fx $'Retry-After: 1\r' "$BATS_TEST_TMPDIR/b.head"
	run -0 grep -Fx "wf-serve: worker 1 (pid $w) was killed by signal 9 before its response to POST /v1/completions began: answered 500" "$LOG"
}

@test "a shared-memory image serves the same answers" {
	IMG=wf-serve-test-$$
	wf-shm load --name "$IMG" "$M" >/dev/null
	want=$(pipeline 'ROMEO:' 10)
	M="shm:$IMG" start -j 2
	[ "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":10}' | jget choices.0.text)" = "$want" ]
	[ "$(curl -sS --max-time 30 "$URL/v1/models" | jget data.0.id)" = "$IMG" ]
}

@test "the chat page: served at /, self-contained, and the embedded copy matches its source" {
	start
	run -0 curl -sS --max-time 30 -D "$BATS_TEST_TMPDIR/h" "$URL/"
	grep -qi '^content-type: text/html; charset=utf-8' "$BATS_TEST_TMPDIR/h"
	[[ "$output" == "<!doctype html>"* ]]
	# no external assets: nothing loaded from another origin
	! grep -Eq '(src|href)="(https?:)?//' <<<"$output"
	[ "$output" = "$(cat "$WF_ROOT/bin/wf-serve-page.html")" ]
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' "$WF_ROOT/bin/wf-serve-page.html" >"$BATS_TEST_TMPDIR/page.h"
	diff <(grep -v '^/\*\| \*' "$WF_ROOT/bin/wf-serve-page.h") "$BATS_TEST_TMPDIR/page.h"
}

@test "the chat page streams a reply in headless Chromium" {
	C=$(command -v chromium || command -v chromium-browser || true)
	[ -n "$C" ] || skip "chromium is not installed (apt-get install chromium)"
	start
	want=$(pipeline 'ROMEO:' 12)
	# Virtual time does not wait for a slow server (an ASan build on a busy
	# machine): dump again with a longer budget until the page is done.
	for budget in 10000 30000 60000; do
		run -0 timeout 120 "$C" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
			--disable-background-networking --disable-component-update --disable-sync \
			--user-data-dir="$BATS_TEST_TMPDIR/chromium" --virtual-time-budget=$budget --dump-dom \
			"$URL/?mode=completion&temperature=0&max_tokens=12&q=ROMEO:"
		dom=$output
		[[ "$dom" == *'<body data-state="done">'* ]] && break
	done
	[[ "$dom" == *'<body data-state="done">'* ]]
	# the reply as rendered (HTML-escaped by the DOM dump), then the stats line
	esc=$(sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' <<<"$want")
	[[ "$dom" == *"<span class=\"text\">$esc</span><span class=\"stats\">2 + 12 tokens, finish: length</span>"* ]]
	grep -q 'GET /v1/models 200' "$LOG"
}
