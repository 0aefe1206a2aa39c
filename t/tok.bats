#!/usr/bin/env bats
# wf-tok and lib/tokenizer: llama.cpp's test vectors, records, keys, chat
# formats, bad input.
load test_helper

TOKF="$SHARED/fixtures/tokenizers"

# A tiny byte-level BPE vocabulary made here: the 256 byte tokens (GPT-2's
# mapping) in byte order, "he" 256, "hel" 257, "Ġw" 258, "<|end|>" 259
# (control); merges "h e", "he l", "Ġ w".
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

# The LLaMA 3 vocabulary as wf-convert makes it from the HF files.
llama3() {
	need_shared fixtures/tokenizers
	L3="$BATS_FILE_TMPDIR/llama3.gguf"
	if [ ! -f "$L3" ]; then
		wf-convert -q --vocab-only --config "$TOKF/llama3-tokenizer_config.json" \
			-o "$L3.tmp" "$TOKF/llama3-tokenizer.json"
		mv "$L3.tmp" "$L3"
	fi
}

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "unit tests (self-contained part)" {
	run -0 tok_unit
	[[ "$output" == "tok_unit: "*" checks, 0 failed" ]]
}

@test "unit tests with the fixture vocabularies (splits, seeded round trips)" {
	llama3
	run -0 tok_unit "$TOKF/ggml-vocab-gpt-2.gguf" "$TOKF/ggml-vocab-llama-spm.gguf" "$L3"
	[[ "$output" == "tok_unit: "*" checks, 0 failed" ]]
}

@test "llama.cpp vectors: gpt-2 (46/46)" {
	need_shared fixtures/tokenizers
	run -0 tok_vectors "$TOKF/ggml-vocab-gpt-2.gguf" "$TOKF/ggml-vocab-gpt-2.gguf.inp" "$TOKF/ggml-vocab-gpt-2.gguf.out"
	[ "$output" = "46/46 passed" ]
}

@test "llama.cpp vectors: llama-spm (46/46)" {
	need_shared fixtures/tokenizers
	run -0 tok_vectors "$TOKF/ggml-vocab-llama-spm.gguf" "$TOKF/ggml-vocab-llama-spm.gguf.inp" "$TOKF/ggml-vocab-llama-spm.gguf.out"
	[ "$output" = "46/46 passed" ]
}

@test "llama.cpp vectors: llama-bpe through the converted LLaMA 3 tokenizer.json (46/46)" {
	llama3
	run -0 tok_vectors "$L3" "$TOKF/ggml-vocab-llama-bpe.gguf.inp" "$TOKF/ggml-vocab-llama-bpe.gguf.out"
	[ "$output" = "46/46 passed" ]
	# the pre-tokenizer named explicitly gives the same
	run -0 tok_vectors "$L3" "$TOKF/ggml-vocab-llama-bpe.gguf.inp" "$TOKF/ggml-vocab-llama-bpe.gguf.out" llama3
	[ "$output" = "46/46 passed" ]
}

@test "wf-tok: lines, BOS default from the vocabulary, exact ids" {
	llama3
	run -0 wf-tok -m "$L3" <<< $'Hello world\nThe capital of France is'
	[ "${lines[0]}" = "128000 9906 1917" ]
	[ "${lines[1]}" = "128000 791 6864 315 9822 374" ]
	run -0 wf-tok -m "$TOKF/ggml-vocab-gpt-2.gguf" <<< 'Hello world'
	[ "$output" = "15496 995" ]
	run -0 wf-tok -m "$TOKF/ggml-vocab-llama-spm.gguf" <<< 'Hello world'
	[ "$output" = "1 15043 3186" ]
	run -0 wf-tok -m "$TOKF/ggml-vocab-llama-spm.gguf" --no-bos --eos <<< 'Hello world'
	[ "$output" = "15043 3186 2" ]
	run -0 wf-tok -m "$TOKF/ggml-vocab-gpt-2.gguf" --bos <<< 'Hello'
	[ "$output" = "50256 15496" ]
}

@test "wf-tok: self-made vocabulary, keys, -z, -w, empty records, files" {
	mk_tiny tiny.gguf
	run -0 wf-tok -m tiny.gguf <<< 'hello world'
	[ "$output" = "257 108 111 258 111 114 108 100" ]
	# -k: text before the first TAB is the key; a record without TAB has none
	run -0 bash -c "printf 'a\thel\tx\nhe\n\n' | wf-tok -k -m tiny.gguf | tr '\n\t' '|>'"
	[ "$output" = "a>257 9 120|256||" ]
	# without -k the TAB is text
	run -0 wf-tok -m tiny.gguf < <(printf 'a\thel\n')
	[ "$output" = "97 9 257" ]
	# -z: NUL-separated records (newlines are text); output is still lines
	run -0 wf-tok -z -m tiny.gguf < <(printf 'he\nl\0hel')
	[ "$output" = $'256 10 108\n257' ]
	# -w: the whole input is one record
	run -0 wf-tok -w -m tiny.gguf < <(printf 'he\nhe\n')
	[ "$output" = "256 10 256 10" ]
	run -0 wf-tok -w -m tiny.gguf < /dev/null
	[ "$output" = "" ]
	# file operands, '-' for standard input
	printf 'he\n' > a.txt
	run -0 wf-tok -m tiny.gguf a.txt - a.txt <<< 'hel'
	[ "$output" = $'256\n257\n256' ]
}

@test "wf-tok: --special, control tokens stay text without it" {
	mk_tiny tiny.gguf
	run -0 wf-tok -m tiny.gguf <<< 'he<|end|>'
	[ "$output" = "256 60 124 101 110 100 124 62" ]
	run -0 wf-tok -m tiny.gguf --special <<< 'he<|end|>'
	[ "$output" = "256 259" ]
	llama3
	run -0 wf-tok -m "$L3" --no-bos <<< 'Hi<|eot_id|>'
	[ "$output" = "13347 27 91 68 354 851 91 29" ]
	run -0 wf-tok -m "$L3" --no-bos --special <<< 'Hi<|eot_id|>'
	[ "$output" = "13347 128009" ]
}

@test "wf-tok: invalid UTF-8 is accepted and encoded byte by byte" {
	mk_tiny tiny.gguf
	run -0 wf-tok -m tiny.gguf < <(printf 'h\xffe\xc3\n')
	[ "$output" = "104 255 101 195" ]
}

@test "wf-tok: a vocabulary without byte tokens drops the bytes it cannot spell" {
	# as llama.cpp does; a first word with no ids at all once did pointer
	# arithmetic on the still-NULL id list (UBSan, make check-asan)
	printf '{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},"pre_tokenizer":{"type":"ByteLevel"}}' > nb.json
	wf-convert -q --vocab-only -o nb.gguf nb.json
	run -0 bash -c "printf 'x ab\nxy\nab\n' | wf-tok -m nb.gguf | tr '\n' '|'"
	[ "$output" = "2||2|" ]
}

@test "wf-tok --pre: LLaMA 3 rules vs bitnet.cpp's DEFAULT set" {
	llama3
	# LLaMA 3: contractions kept, numbers in threes from the left
	run -0 wf-tok -m "$L3" --no-bos <<< "don't pay \$12345!"
	[ "$output" = "15357 956 2343 400 4513 1774 0" ]
	# DEFAULT (bitnet.cpp without tokenizer.ggml.pre): punctuation split first
	run -0 wf-tok -m "$L3" --no-bos --pre default <<< "don't pay \$12345!"
	[ "$output" = "15357 6 83 2343 220 3 4513 1774 0" ]
	run -0 wf-tok -m "$L3" --no-bos --pre gpt2 <<< "don't pay \$12345!"
	[ "$output" = "15357 956 2343 400 4513 1774 0" ]
}

@test "wf-tok --chat: format from the template, or named; --system" {
	llama3
	# the converted LLaMA 3 config carries its template: LLaMA 3 headers
	run -0 wf-tok -m "$L3" --chat <<< ' Hi there '
	[ "$output" = "128000 128006 882 128007 271 13347 1070 128009 128006 78191 128007 271" ]
	# BitNet b1.58 2B-4T (Hugging Face template): BOS, "User: ", eot, "Assistant: "
	run -0 wf-tok -m "$L3" --chat-format bitnet --system 'Be brief.' <<< 'Hi there'
	[ "$output" = "128000 2374 25 2893 10015 13 128009 1502 25 21694 1070 128009 72803 25 220" ]
	# special tokens in the user's text stay text unless --special
	run -0 wf-tok -m "$L3" --chat-format bitnet <<< 'a<|eot_id|>'
	[ "$output" = "128000 1502 25 264 27 91 68 354 851 91 29 128009 72803 25 220" ]
	run -0 wf-tok -m "$L3" --chat-format bitnet --special <<< 'a<|eot_id|>'
	[ "$output" = "128000 1502 25 264 128009 128009 72803 25 220" ]
	# ChatML, keys pass through
	run -0 wf-tok -k -m "$L3" --chat-format chatml --no-bos < <(printf 'k\tHi\n')
	[ "$output" = $'k\t27 91 318 5011 91 29 882 198 13347 27 91 318 6345 91 397 27 91 318 5011 91 29 78191 198' ]
}

@test "wf-tok --chat without a template says how to name a format" {
	mk_tiny tiny.gguf
	run -1 wf-tok -m tiny.gguf --chat <<< 'x'
	[ "$output" = "wf-tok: tiny.gguf: no chat template in the model (key 'tokenizer.chat_template'); name one with --chat-format bitnet|llama3|chatml" ]
}

@test "wf-tok: over-long record: message, empty record, goes on, exit 1; --strict stops" {
	mk_tiny tiny.gguf
	run -1 bash -c "set -o pipefail; printf 'he\nhelhel\nhel\n' | wf-tok -m tiny.gguf --max-len 4 2>err | tr '\n' '|'"
	[ "$output" = "256||257|" ]
	[ "$(cat err)" = "wf-tok: record 2: longer than 4 bytes" ]
	run -1 bash -c "set -o pipefail; printf 'he\nhelhel\nhel\n' | wf-tok -m tiny.gguf --max-len 4 --strict 2>err | tr '\n' '|'"
	[ "$output" = "256||" ]
	[ "$(cat err)" = "wf-tok: record 2: longer than 4 bytes" ]
}

@test "wf-tok: an over-long last record without a newline, with -w, and with a key keeps its line" {
	mk_tiny tiny.gguf
	run -1 bash -c "set -o pipefail; printf 'he\nhelhel' | wf-tok -m tiny.gguf --max-len 4 2>err | od -An -c | tr -s ' '"
	[ "$output" = " 2 5 6 \\n \\n" ]
	[ "$(cat err)" = "wf-tok: record 2: longer than 4 bytes" ]
	run -1 bash -c "set -o pipefail; printf 'helhel' | wf-tok -w -m tiny.gguf --max-len 4 2>err | od -An -c | tr -s ' '"
	[ "$output" = " \\n" ]
	[ "$(cat err)" = "wf-tok: record 1: longer than 4 bytes" ]
	run -1 bash -c "set -o pipefail; printf 'k\thelhel\nhe\n' | wf-tok -k -m tiny.gguf --max-len 4 2>err | od -An -c | tr -s ' '"
	[ "$output" = " k \\t \\n 2 5 6 \\n" ]
	[ "$(cat err)" = "wf-tok: record 1: longer than 4 bytes" ]
}

@test "wf-tok: each record's ids go out while the input stays open" {
	E="$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf"
	coproc TOK { wf-tok -m "$E"; }
	printf 'ROMEO:\n' >&"${TOK[1]}"
	read -r -t 20 line <&"${TOK[0]}"
	[ "$line" = "824 58" ]
	exec {TOK[1]}>&-
	wait "$TOK_PID"
}

@test "wf-tok: a read error ends the input with a message, exit 1" {
	mk_tiny tiny.gguf
	run -1 wf-tok -m tiny.gguf < /
	[ "$output" = "wf-tok: standard input: read error: Is a directory" ]
}

@test "wf-tok: usage errors exit 2, model errors exit 1" {
	run -2 wf-tok --pre bogus
	[ "${lines[0]}" = "wf-tok: --pre: 'bogus' is not llama3, gpt2 or default" ]
	run -2 wf-tok --chat-format vicuna
	[ "${lines[0]}" = "wf-tok: --chat-format: 'vicuna' is not bitnet, llama3 or chatml" ]
	run -2 wf-tok --system hi
	[ "${lines[0]}" = "wf-tok: --system needs --chat" ]
	run -2 wf-tok --bogus
	[ "${lines[1]%% *}" = "usage:" ]
	run -1 wf-tok -m nonexistent.gguf < /dev/null
	[ "$output" = "wf-tok: nonexistent.gguf: no such file or image" ]
	printf 'not a gguf file at all, really' > bad.gguf
	run -1 wf-tok -m bad.gguf < /dev/null
	[ "${output%%:*}" = "wf-tok" ]
	[[ "$output" == "wf-tok: bad.gguf: not a GGUF file"* ]]
	mk_tiny tiny.gguf
	run -1 wf-tok -m tiny.gguf missing.txt
	[ "$output" = "wf-tok: missing.txt: No such file or directory" ]
}

@test "wf-tok: --bos or --eos with a vocabulary that has no such token is an error" {
	mk_tiny tiny.gguf
	run -1 wf-tok --bos -m tiny.gguf <<< 'he'
	[ "$output" = "wf-tok: tiny.gguf: --bos: the vocabulary has no BOS token" ]
	run -1 wf-tok --eos -m tiny.gguf <<< 'he'
	[ "$output" = "wf-tok: tiny.gguf: --eos: the vocabulary has no EOS token" ]
	run -0 wf-tok --no-bos --no-eos -m tiny.gguf <<< 'he'
	[ "$output" = "256" ]
}

@test "wf-tok: the model from WF_MODEL" {
	mk_tiny tiny.gguf
	WF_MODEL=tiny.gguf run -0 wf-tok <<< 'he'
	[ "$output" = "256" ]
	WF_MODEL=nonexistent run -1 wf-tok < /dev/null
	[ "$output" = "wf-tok: WF_MODEL: nonexistent: no such file or image" ]
}

@test "wf-tok: a closed pipe ends quietly" {
	mk_tiny tiny.gguf
	run -0 bash -c 'yes hello | wf-tok -m tiny.gguf | head -n 2'
	[ "$output" = $'257 108 111\n257 108 111' ]
}

@test "the record reader: records back whole across reads, too long ones cut at max, read errors once (tokio_read)" {
	run -0 tokio_read 1 300
	[ "$output" = "ok 300 rounds" ]
	run -0 tokio_read 7 300
	[ "$output" = "ok 300 rounds" ]
}
