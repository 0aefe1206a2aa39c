#!/usr/bin/env bats
# wf-detok: ID records to text, streamed, never splitting a character.
load test_helper

TOKF="$SHARED/fixtures/tokenizers"

# The tiny vocabulary of t/tok.bats: byte tokens 0..255 in byte order,
# "he" 256, "hel" 257, "Ġw" 258, "<|end|>" 259 (control).
mk_tiny() {
	awk 'BEGIN {
		k = 256
		printf "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":259,\"content\":\"<|end|>\",\"special\":true,\"normalized\":false}],"
		printf "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
		printf "\"post_processor\":null,\"model\":{\"type\":\"BPE\",\"vocab\":{"
		for (b = 0; b < 256; b++) {
			p = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174
			cp = p ? b : k++
			if (b == 34) s = "\\\""; else if (b == 92) s = "\\\\"
			else if (cp >= 33 && cp <= 126) s = sprintf("%c", cp); else s = sprintf("\\u%04x", cp)
			printf "%s\"%s\":%d", (b ? "," : ""), s, b
		}
		printf ",\"he\":256,\"hel\":257,\"\\u0120w\":258},\"merges\":[\"h e\",\"he l\",\"\\u0120 w\"]}}\n"
	}' > "$1.json"
	wf-convert -q --vocab-only -o "$1" "$1.json"
}

llama3() {
	need_shared fixtures/tokenizers
	L3="$BATS_FILE_TMPDIR/llama3.gguf"
	if [ ! -f "$L3" ]; then
		wf-convert -q --vocab-only --config "$TOKF/llama3-tokenizer_config.json" \
			-o "$L3.tmp" "$TOKF/llama3-tokenizer.json"
		mv "$L3.tmp" "$L3"
	fi
}

# The 46 test strings of a .inp file as NUL-terminated records.
inp_to_nul() {
	local sep=$'\n__ggml_vocab_test__\n' s
	s="$(cat "$1")"$'\n'
	while [[ "$s" == *"$sep"* ]]; do
		printf '%s\0' "${s%%"$sep"*}"
		s="${s#*"$sep"}"
	done
}

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "text -> ids -> text is the identity on the vector corpus (gpt-2, llama-spm, LLaMA 3)" {
	llama3
	inp_to_nul "$TOKF/ggml-vocab-gpt-2.gguf.inp" > corpus
	[ "$(tr -cd '\0' < corpus | wc -c)" = 46 ]
	for m in "$TOKF/ggml-vocab-gpt-2.gguf" "$TOKF/ggml-vocab-llama-spm.gguf" "$L3"; do
		wf-tok -z -m "$m" < corpus > ids
		[ "$(wc -l < ids)" = 46 ]
		wf-detok -z -m "$m" < ids > back
		cmp corpus back
	done
	# also with the DEFAULT pre-tokenizer and without BOS
	wf-tok -z --pre default --no-bos -m "$L3" < corpus | wf-detok -z -m "$L3" > back
	cmp corpus back
}

@test "raw mode: one line per record, keys first, control tokens hidden unless --special" {
	mk_tiny tiny.gguf
	run -0 wf-detok -m tiny.gguf < <(printf '257 108 111 258 111 114 108 100\nk\t256 259 256\n\n')
	[ "$output" = $'hello world\nk\thehe' ]
	run -0 bash -c "printf '256\n\n256\n' | wf-detok -m tiny.gguf | tr '\n' '|'"
	[ "$output" = "he||he|" ]
	run -0 wf-detok -m tiny.gguf --special < <(printf 'k\t256 259 256\n')
	[ "$output" = $'k\the<|end|>he' ]
	llama3
	run -0 wf-detok -m "$L3" <<< '128000 9906 1917 128009'
	[ "$output" = "Hello world" ]
	run -0 wf-detok -m "$L3" --special <<< '128000 9906 1917 128009'
	[ "$output" = "<|begin_of_text|>Hello world<|eot_id|>" ]
}

@test "SPM: the space put in front of a text that starts with BOS is removed" {
	need_shared fixtures/tokenizers
	run -0 wf-detok -m "$TOKF/ggml-vocab-llama-spm.gguf" < <(printf '1 15043 3186\n15043 3186\n')
	[ "$output" = $'Hello world\n Hello world' ]
	# also when BOS is shown: the space is the text's, not BOS's
	run -0 wf-detok --special -m "$TOKF/ggml-vocab-llama-spm.gguf" < <(printf '1 15043 3186\n')
	[ "$output" = '<s>Hello world' ]
}

@test "-e escapes, -j JSON Lines, -z NUL-terminated" {
	mk_tiny tiny.gguf
	# a TAB b \ c CR 0x01 newline " DEL
	printf '97 9 98 92 99 13 1 10 34 127\nk\t256\n' > ids
	run -0 wf-detok -e -m tiny.gguf < ids
	[ "$output" = $'a\\tb\\\\c\\r\\x01\\n"\\x7f\nk\the' ]
	run -0 wf-detok -j -m tiny.gguf < ids
	[ "$output" = $'{"text":"a\\tb\\\\c\\r\\u0001\\n\\"\x7f"}\n{"key":"k","text":"he"}' ]
	run -0 bash -c "wf-detok -z -m tiny.gguf < ids | tr '\0\t\n' '|>_'"
	[ "$output" = $'a>b\\c\r\x01_"\x7f|k>he|' ]
}

@test "never splits a character; bytes that cannot complete one become U+FFFD" {
	mk_tiny tiny.gguf
	# é = C3 A9 as two byte tokens; C3 then 'A'; E2 82 then 'x' (one U+FFFD
	# for the maximal subpart); a lone C3 at the end of a record
	run -0 wf-detok -m tiny.gguf < <(printf '195 169\n195 65\n226 130 120\n104 195\n169\n')
	[ "$output" = $'\xc3\xa9\n\xef\xbf\xbdA\n\xef\xbf\xbdx\nh\xef\xbf\xbd\n\xef\xbf\xbd' ]
	# the same when the ids arrive one by one
	run -0 bash -c "(printf '195 '; sleep 0.2; printf '169 '; sleep 0.2; printf '65\n') | wf-detok -m tiny.gguf"
	[ "$output" = $'\xc3\xa9A' ]
	run -0 bash -c "(printf 'k\t'; sleep 0.2; printf '257'; sleep 0.2; printf ' 108 111\n') | wf-detok -j -m tiny.gguf"
	[ "$output" = '{"key":"k","text":"hello"}' ]
}

@test "bad ids: message with the record number, empty record, goes on, exit 1; --strict stops" {
	mk_tiny tiny.gguf
	run -1 bash -c "set -o pipefail; printf '256\n1 260\nk\t2x\n257\n' | wf-detok -m tiny.gguf 2>err | tr '\n\t' '|>'"
	[ "$output" = "he||k>|hel|" ]
	[ "$(cat err)" = $'wf-detok: record 2: token 2: id 260 out of range [0, 260)\nwf-detok: record 3: token 1: \'2x\' is not a token id' ]
	run -1 bash -c "set -o pipefail; printf '256\n1 260\n257\n' | wf-detok --strict -m tiny.gguf 2>err | tr '\n' '|'"
	[ "$output" = "he||" ]
	[ "$(cat err)" = "wf-detok: record 2: token 2: id 260 out of range [0, 260)" ]
	# a record already streamed when the bad id comes: its text so far, then the end
	run -1 bash -c "set -o pipefail; (printf '257 '; sleep 0.2; printf '999 111\n256\n') | wf-detok -m tiny.gguf 2>err | tr '\n' '|'"
	[ "$output" = "hel|he|" ]
	[ "$(cat err)" = "wf-detok: record 1: token 2: id 999 out of range [0, 260)" ]
	run -1 bash -c "set -o pipefail; (printf 'k\t257 '; sleep 0.2; printf '25x7 111\n') | wf-detok -m tiny.gguf 2>err | tr '\n\t' '|>'"
	[ "$output" = "k>hel|" ]
	[ "$(cat err)" = "wf-detok: record 1: token 2: '25x7' is not a token id" ]
}

@test "a bad id's bytes are quoted with escapes: CRLF input says \\r" {
	mk_tiny tiny.gguf
	run -1 bash -c "printf '257 256\r\n' | wf-detok -m tiny.gguf 2>&1 >/dev/null"
	[ "$output" = "wf-detok: record 1: token 2: '256\\r' is not a token id" ]
	run -1 bash -c "printf '257 \001\177a\n' | wf-detok -m tiny.gguf 2>&1 >/dev/null"
	[ "$output" = "wf-detok: record 1: token 2: '\\x01\\x7fa' is not a token id" ]
	run -1 bash -c "printf '1 2\r\n' | wf-decode -m '$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf' -n 1 2>&1 >/dev/null"
	[ "$output" = "wf-decode: record 1: token 2: '2\\r' is not a token id" ]
}

@test "file operands, usage and model errors" {
	mk_tiny tiny.gguf
	printf '256\n' > a
	run -0 wf-detok -m tiny.gguf a - a <<< '257'
	[ "$output" = $'he\nhel\nhe' ]
	run -1 wf-detok -m tiny.gguf missing
	[ "$output" = "wf-detok: missing: No such file or directory" ]
	run -2 wf-detok --bogus
	[ "${lines[1]%% *}" = "usage:" ]
	run -1 wf-detok -m nonexistent.gguf < /dev/null
	[ "$output" = "wf-detok: nonexistent.gguf: no such file or image" ]
}

@test "a closed pipe ends quietly" {
	mk_tiny tiny.gguf
	run -0 bash -c 'yes 257 | wf-detok -m tiny.gguf | head -n 2'
	[ "$output" = $'hel\nhel' ]
}

# wf-detok reading FIFO "in" and writing FIFO "out" in the background; fd 7
# writes its input, fd 8 reads its output; $pid is its process.
detok_fifo() {
	rm -f in out
	mkfifo in out
	wf-detok "$@" < in > out &
	pid=$!
	exec 7> in 8< out
}

@test "--strict on a record being streamed: the record is still ended (newline, JSON closed)" {
	mk_tiny tiny.gguf
	# the first id's text must be out (so the record is streamed) before the bad id is sent
	detok_fifo --strict -j -m tiny.gguf 2> err
	printf 'k\t257 ' >&7
	read -r -t 20 -N 22 head <&8
	[ "$head" = '{"key":"k","text":"hel' ]
	printf '999 111\n256\n' >&7
	exec 7>&-
	rest="$(od -An -c <&8 | tr -s ' ')"
	exec 8<&-
	rc=0; wait "$pid" || rc=$?
	[ "$rc" = 1 ]
	[ "$rest" = ' " } \n' ]
	[ "$(cat err)" = "wf-detok: record 1: token 2: id 999 out of range [0, 260)" ]
	# raw mode: the newline
	detok_fifo --strict -m tiny.gguf 2> err
	printf '257 ' >&7
	read -r -t 20 -N 3 head <&8
	[ "$head" = "hel" ]
	printf 'x\n256\n' >&7
	exec 7>&-
	rest="$(od -An -c <&8 | tr -s ' ')"
	exec 8<&-
	rc=0; wait "$pid" || rc=$?
	[ "$rc" = 1 ]
	[ "$rest" = ' \n' ]
	[ "$(cat err)" = "wf-detok: record 1: token 2: 'x' is not a token id" ]
}
