#!/usr/bin/env bats
# wf-convert --vocab-only: tokenizer.json -> GGUF tokenizer keys.
load test_helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# A tiny byte-level BPE tokenizer.json; $1 = pre_tokenizer JSON, $2 = merges JSON.
mk_tok() {
	cat > tokenizer.json <<EOT
{"version":"1.0","added_tokens":[
 {"id":6,"content":"<|end|>","special":true,"normalized":false},
 {"id":8,"content":"\u2581hi\u2581","special":false,"normalized":true},
 {"id":9,"content":"<|user|>","special":false,"normalized":false}],
 "pre_tokenizer":$1,
 "post_processor":null,
 "model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"c":3,"\u0120d":4,"c\u0120d":5},
   "merges":$2}}
EOT
}

GPT2_PRE='{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}'

@test "usage: no input, no output, two inputs, bad --pre" {
	run -2 wf-convert --vocab-only
	[ "${lines[0]}" = "wf-convert: no input named" ]
	[ "${lines[1]}" = "usage: wf-convert [-fq] [-t TYPE] [-a ARCH] [--pre NAME] [--config FILE] -o OUT.gguf DIR|IN.gguf" ]
	run -2 wf-convert --vocab-only tokenizer.json
	[ "${lines[0]}" = "wf-convert: no output file (-o OUT.gguf)" ]
	run -2 wf-convert --vocab-only -o x.gguf a.json b.json
	[ "${lines[0]}" = "wf-convert: expected one input, found 2" ]
	run -2 wf-convert --vocab-only --pre '' -o x.gguf a.json
	[ "${lines[0]}" = "wf-convert: --pre '': expected a name of 1 to 63 bytes" ]
	run -2 wf-convert --bogus
	[ "${lines[1]%% *}" = "usage:" ]
}

@test "missing file, not JSON, not BPE" {
	run -1 wf-convert --vocab-only -o x.gguf nonexistent.json
	[ "$output" = "wf-convert: nonexistent.json: No such file or directory" ]
	printf '{"model": [1, 2,]}' > bad.json
	run -1 wf-convert --vocab-only -o x.gguf bad.json
	[ "$output" = "wf-convert: bad.json: line 1, column 17: trailing comma in array" ]
	printf '{"model":{"type":"Unigram","vocab":[]}}' > u.json
	run -1 wf-convert --vocab-only -o x.gguf u.json
	[ "$output" = "wf-convert: u.json: model.type: 'Unigram' is not supported (only BPE)" ]
	printf '{"model":{"type":"BPE","byte_fallback":true,"vocab":{"a":0},"merges":[]}}' > spm.json
	run -1 wf-convert --vocab-only -o x.gguf spm.json
	[ "$output" = "wf-convert: spm.json: model.byte_fallback: SentencePiece-style BPE is not supported (only byte-level BPE)" ]
	[ ! -e x.gguf ]
	[ -z "$(ls | grep tmp)" ]
}

@test "pair-form merges, holes, control and user-defined added tokens (GPT-2 pre)" {
	mk_tok "$GPT2_PRE" '[["a","b"],["c"," d"]]'
	run -0 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	[ "$output" = "" ]
	run -0 convert_kv v.gguf general.architecture tokenizer.ggml.model tokenizer.ggml.pre \
		tokenizer.ggml.tokens tokenizer.ggml.token_type tokenizer.ggml.merges bitnet-b1.58.vocab_size \
		tokenizer.ggml.bos_token_id tokenizer.ggml.add_bos_token
	[ "${lines[0]}" = "general.architecture = bitnet-b1.58" ]
	[ "${lines[1]}" = "tokenizer.ggml.model = gpt2" ]
	[ "${lines[2]}" = "tokenizer.ggml.pre = gpt-2" ]
	[ "${lines[3]}" = "tokenizer.ggml.tokens = ARRAY[STRING] 10: a b ab c Ġd cĠd <|end|> [PAD7]  hi  <|user|>" ]
	[ "${lines[4]}" = "tokenizer.ggml.token_type = ARRAY[INT32] 10: 1 1 1 1 1 1 3 5 4 3" ]
	[ "${lines[5]}" = "tokenizer.ggml.merges = ARRAY[STRING] 2: a b c Ġd" ]
	[ "${lines[6]}" = "bitnet-b1.58.vocab_size = 10" ]
	[ "${lines[7]}" = "tokenizer.ggml.bos_token_id absent" ]
	[ "${lines[8]}" = "tokenizer.ggml.add_bos_token absent" ]
}

@test "string-form merges equal the pair form; --arch bitnet" {
	mk_tok "$GPT2_PRE" '[["a","b"],["c"," d"]]'
	run -0 wf-convert -q --vocab-only -o pairs.gguf tokenizer.json
	mk_tok "$GPT2_PRE" '["a b","c Ġd"]'
	run -0 wf-convert -q --vocab-only --arch bitnet -o str.gguf tokenizer.json
	run -0 convert_kv -c pairs.gguf str.gguf tokenizer.ggml.merges tokenizer.ggml.tokens
	[ "$output" = "tokenizer.ggml.merges same
tokenizer.ggml.tokens same" ]
	run -0 convert_kv str.gguf bitnet.vocab_size
	[ "$output" = "bitnet.vocab_size = 10" ]
	mk_tok "$GPT2_PRE" '["a b","a Ġd"]'
	run -1 wf-convert -q --vocab-only -o bad.gguf tokenizer.json
	[ "$output" = "wf-convert: bad.gguf: the tokenizer written does not load: tokenizer.ggml.merges[1]: 'a Ġd': the merged 'aĠd' is not a token" ]
	[ ! -e bad.gguf ]
	mk_tok "$GPT2_PRE" '["a b","cd"]'
	run -1 wf-convert -q --vocab-only -o bad.gguf tokenizer.json
	[ "$output" = 'wf-convert: tokenizer.json: model.merges[1]: expected "A B", found "cd"' ]
	mk_tok "$GPT2_PRE" '["a b",["c","d"]]'
	run -1 wf-convert -q --vocab-only -o bad.gguf tokenizer.json
	[ "$output" = 'wf-convert: tokenizer.json: model.merges[1]: expected a string like the first merge, found array' ]
}

@test "unrecognised pre-tokenizer is refused unless named with --pre" {
	mk_tok '{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\p{N}+"},"behavior":"Isolated"},{"type":"ByteLevel","use_regex":false}]}' '[]'
	run -1 wf-convert --vocab-only -o v.gguf tokenizer.json
	[ "$output" = "wf-convert: tokenizer.json: pre_tokenizer: unrecognised Split regex '\\p{N}+' (name the pre-tokenizer to force it)" ]
	run -0 wf-convert -q --vocab-only --pre default -o v.gguf tokenizer.json
	run -0 convert_kv v.gguf tokenizer.ggml.pre tokenizer.ggml.merges
	[ "$output" = "tokenizer.ggml.pre = default
tokenizer.ggml.merges = ARRAY[STRING] 0:" ]
	mk_tok '{"type":"Whitespace"}' '[]'
	run -1 wf-convert --vocab-only -o v.gguf tokenizer.json
	[ "$output" = "wf-convert: tokenizer.json: pre_tokenizer: no ByteLevel step, so this is not byte-level BPE" ]
}

@test "special ids and flags from tokenizer_config.json and config.json" {
	mk_tok "$GPT2_PRE" '[]'
	cat > tokenizer_config.json <<'EOT'
{"bos_token": {"content": "<|user|>"}, "eos_token": "<|end|>", "pad_token": null,
 "add_bos_token": true, "add_eos_token": false,
 "chat_template": [{"name": "default", "template": "{{x}}"}, {"name": "tool_use", "template": "{{y}}"}]}
EOT
	printf '{"vocab_size": 12, "pad_token_id": 2, "eos_token_id": 1}' > config.json
	run -0 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	run -0 convert_kv v.gguf tokenizer.ggml.bos_token_id tokenizer.ggml.eos_token_id \
		tokenizer.ggml.padding_token_id tokenizer.ggml.add_bos_token tokenizer.ggml.add_eos_token \
		tokenizer.chat_template tokenizer.chat_template.tool_use tokenizer.ggml.tokens
	[ "${lines[0]}" = "tokenizer.ggml.bos_token_id = 9" ]
	[ "${lines[1]}" = "tokenizer.ggml.eos_token_id = 6" ]
	[ "${lines[2]}" = "tokenizer.ggml.padding_token_id = 2" ]
	[ "${lines[3]}" = "tokenizer.ggml.add_bos_token = true" ]
	[ "${lines[4]}" = "tokenizer.ggml.add_eos_token = false" ]
	[ "${lines[5]}" = "tokenizer.chat_template = {{x}}" ]
	[ "${lines[6]}" = "tokenizer.chat_template.tool_use = {{y}}" ]
	[ "${lines[7]}" = "tokenizer.ggml.tokens = ARRAY[STRING] 12: a b ab c Ġd cĠd <|end|> [PAD7]  hi  <|user|> [PAD10] [PAD11]" ]
	printf '{"vocab_size": 8}' > config.json
	run -1 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	[ "$output" = "wf-convert: tokenizer.json: token id 9 is not below config.json's vocab_size 8" ]
	# a special token of the vocabulary itself; one that is no token at all
	rm config.json
	printf '{"bos_token": "ab"}' > tokenizer_config.json
	run -0 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	run -0 convert_kv v.gguf tokenizer.ggml.bos_token_id
	[ "$output" = "tokenizer.ggml.bos_token_id = 2" ]
	printf '{"eos_token": "<|nope|>"}' > tokenizer_config.json
	run -1 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	[ "$output" = "wf-convert: tokenizer.json: tokenizer_config.json: eos_token '<|nope|>' is not a token" ]
}

@test "ids and vocab_size past WF_MAX_VOCAB (2^24) are refused before anything is allocated" {
	# each id up to the largest costs a token: one id of 2e9 once made a
	# two-token file ask for tens of gigabytes
	printf '{"model":{"type":"BPE","vocab":{"a":0,"b":16777216},"merges":[]},"pre_tokenizer":%s}' "$GPT2_PRE" > big.json
	run -1 wf-convert -q --vocab-only -o v.gguf big.json
	[ "$output" = "wf-convert: big.json: model.vocab: token 'b': expected an id in 0..16777215" ]
	printf '{"added_tokens":[{"id":16777216,"content":"<x>"}],"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":%s}' "$GPT2_PRE" > big.json
	run -1 wf-convert -q --vocab-only -o v.gguf big.json
	[ "$output" = "wf-convert: big.json: added_tokens[0]: expected an 'id' in 0..16777215" ]
	mk_tok "$GPT2_PRE" '[]'
	printf '{"vocab_size": 16777217}' > config.json
	run -1 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	[ "$output" = "wf-convert: tokenizer.json: config.json: vocab_size: expected an integer in 1..16777216" ]
	[ ! -e v.gguf ]
}

@test "chat template names: each once, 1 to 64 bytes (each becomes a GGUF key)" {
	mk_tok "$GPT2_PRE" '[]'
	printf '{"chat_template":[{"name":"a","template":"x"},{"name":"a","template":"y"}]}' > tokenizer_config.json
	run -1 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	[ "$output" = "wf-convert: tokenizer.json: tokenizer_config.json: chat_template[1]: a second template named 'a'" ]
	printf '{"chat_template":[{"name":"default","template":"x"},{"name":"default","template":"y"}]}' > tokenizer_config.json
	run -1 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	[ "$output" = "wf-convert: tokenizer.json: tokenizer_config.json: chat_template[1]: a second template named 'default'" ]
	printf '{"chat_template":[{"name":"","template":"x"}]}' > tokenizer_config.json
	run -1 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	[ "$output" = "wf-convert: tokenizer.json: tokenizer_config.json: chat_template[0]: template name of 0 bytes (1 to 64)" ]
	n64=nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn
	printf '{"chat_template":[{"name":"%sx","template":"x"}]}' "$n64" > tokenizer_config.json
	run -1 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	[ "$output" = "wf-convert: tokenizer.json: tokenizer_config.json: chat_template[0]: template name of 65 bytes (1 to 64)" ]
	[ ! -e v.gguf ]
	printf '{"chat_template":[{"name":"%s","template":"x"}]}' "$n64" > tokenizer_config.json
	run -0 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	run -0 convert_kv v.gguf "tokenizer.chat_template.$n64"
	[ "$output" = "tokenizer.chat_template.$n64 = x" ]
}

@test "LLaMA 3 tokenizer.json: 128256 tokens, 280147 merges, 256 control specials" {
	need_shared fixtures/tokenizers
	T="$SHARED/fixtures/tokenizers"
	run -0 wf-convert --vocab-only --config "$T/llama3-tokenizer_config.json" -o l3.gguf "$T/llama3-tokenizer.json"
	[ "$output" = "wf-convert: l3.gguf: 128256 tokens, 280147 merges, pre 'llama-bpe'" ]
	run -0 convert_kv l3.gguf tokenizer.ggml.model tokenizer.ggml.pre tokenizer.ggml.tokens \
		tokenizer.ggml.merges tokenizer.ggml.bos_token_id tokenizer.ggml.eos_token_id tokenizer.ggml.eot_token_id
	[ "${lines[0]}" = "tokenizer.ggml.model = gpt2" ]
	[ "${lines[1]}" = "tokenizer.ggml.pre = llama-bpe" ]
	[ "${lines[2]}" = "tokenizer.ggml.tokens = ARRAY[STRING] 128256: ! \" # ... <|reserved_special_token_249|> <|reserved_special_token_250|>" ]
	[ "${lines[3]}" = "tokenizer.ggml.merges = ARRAY[STRING] 280147: Ġ Ġ Ġ ĠĠĠ ĠĠ ĠĠ ... ãĥ¼ãĥ ¼ éĶ ¦" ]
	[ "${lines[4]}" = "tokenizer.ggml.bos_token_id = 128000" ]
	[ "${lines[5]}" = "tokenizer.ggml.eos_token_id = 128001" ]
	[ "${lines[6]}" = "tokenizer.ggml.eot_token_id = 128009" ]
	run -0 convert_kv -n l3.gguf tokenizer.ggml.token_type 3
	[ "$output" = "256" ]
	run -0 convert_kv -n l3.gguf tokenizer.ggml.token_type 1
	[ "$output" = "128000" ]
	run -0 convert_kv l3.gguf tokenizer.chat_template
	[ "${output:0:60}" = "tokenizer.chat_template = {% set loop_messages = messages %}" ]
}

@test "tiny-shakespeare tokenizer.json gives the tokenizer of its TQ2_0 GGUF" {
	need_shared models/tiny-shakespeare-bitnet
	M="$SHARED/models/tiny-shakespeare-bitnet"
	run -0 wf-convert --vocab-only -o tiny.gguf "$M/tokenizer.json"
	[ "$output" = "wf-convert: tiny.gguf: 2048 tokens, 1789 merges, pre 'llama-bpe'" ]
	run -0 convert_kv -c tiny.gguf "$M/tiny-shakespeare-bitnet-b158-tq2_0.gguf" \
		tokenizer.ggml.model tokenizer.ggml.pre tokenizer.ggml.tokens tokenizer.ggml.token_type \
		tokenizer.ggml.merges tokenizer.ggml.bos_token_id tokenizer.ggml.eos_token_id \
		tokenizer.ggml.mask_token_id tokenizer.ggml.add_bos_token tokenizer.ggml.add_eos_token
	[ "$output" = "tokenizer.ggml.model same
tokenizer.ggml.pre same
tokenizer.ggml.tokens same
tokenizer.ggml.token_type same
tokenizer.ggml.merges same
tokenizer.ggml.bos_token_id same
tokenizer.ggml.eos_token_id same
tokenizer.ggml.mask_token_id same
tokenizer.ggml.add_bos_token same
tokenizer.ggml.add_eos_token same" ]
}

@test "an existing output is replaced only on success" {
	echo old > v.gguf
	printf '{}' > empty.json
	run -1 wf-convert --vocab-only -o v.gguf empty.json
	[ "$output" = "wf-convert: empty.json: no 'model' object" ]
	[ "$(cat v.gguf)" = "old" ]
	mk_tok "$GPT2_PRE" '[]'
	run -0 wf-convert -q --vocab-only -o v.gguf tokenizer.json
	[ "$(head -c 4 v.gguf)" = "GGUF" ]
	[ "$(ls | grep -c tmp)" = "0" ]
}
