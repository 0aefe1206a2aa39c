#!/usr/bin/env bats
# wf-convert: checkpoint directories, safetensors checks, GGUF re-quantisation.
load test_helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# u64le N: 8 bytes little-endian.
u64le() {
	local n=$1 i s=""
	for i in 0 1 2 3 4 5 6 7; do
		s+=$(printf '\\x%02x' $(( (n >> (8 * i)) & 255 )))
	done
	printf "$s"
}

# mk_st FILE HEADER [DATA_BYTES]: a safetensors file; the data is standard
# input, or DATA_BYTES zero bytes.
mk_st() {
	if [ $# -eq 3 ]; then
		{ u64le ${#2}; printf '%s' "$2"; head -c "$3" /dev/zero; } > "$1"
	else
		{ u64le ${#2}; printf '%s' "$2"; cat; } > "$1"
	fi
}

# A small checkpoint: hidden 128, ffn 256, 1 layer, 2 heads (1 kv), vocab 16.
# $1 = dir; $2 = "packed" for uint8 ternary projections, else F32 latent.
mk_ckpt() {
	local d=$1 h="" off=0 name shape n dt bytes sc=
	mkdir -p "$d"
	cat > "$d/config.json" <<'EOT'
{"architectures": ["BitnetForCausalLM"], "hidden_size": 128, "intermediate_size": 256,
 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 16,
 "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "max_position_embeddings": 512, "hidden_act": "silu",
 "tie_word_embeddings": true}
EOT
	cat > "$d/tokenizer.json" <<'EOT'
{"added_tokens":[{"id":9,"content":"<|end|>","special":true}],
 "pre_tokenizer":{"type":"ByteLevel","use_regex":true},
 "model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}
EOT
	printf '{"eos_token": "<|end|>", "add_bos_token": false}' > "$d/tokenizer_config.json"
	printf '{"mask_token_id": 9, "bd_size": 32, "small_block_size": 8, "attention": "causal"}' > "$d/dlm_config.json"
	add() { # name dtype shape bytes
		h+="${h:+,}\"$1\":{\"dtype\":\"$2\",\"shape\":[$3],\"data_offsets\":[$off,$((off + $4))]}"
		off=$((off + $4))
	}
	add model.embed_tokens.weight F32 "16,128" $((16 * 128 * 4))
	add model.norm.weight F32 128 512
	for n in input_layernorm post_attention_layernorm self_attn.attn_sub_norm; do
		add model.layers.0.$n.weight F32 128 512
	done
	add model.layers.0.mlp.ffn_sub_norm.weight F32 256 1024
	for p in self_attn.q_proj:128:128 self_attn.k_proj:64:128 self_attn.v_proj:64:128 \
		self_attn.o_proj:128:128 mlp.gate_proj:256:128 mlp.up_proj:256:128 mlp.down_proj:128:256; do
		IFS=: read -r name o i <<<"$p"
		if [ "$2" = packed ]; then
			add model.layers.0.$name.weight U8 "$((o / 4)),$i" $((o / 4 * i))
			sc+=" $name"
		else
			add model.layers.0.$name.weight F32 "$o,$i" $((o * i * 4))
		fi
	done
	if [ "$2" = packed ]; then
		# every weight byte 0x26 (octal 046) holds codes 2,1,2,0 = trits
		# +1,0,+1,-1 for the 4 row quarters; every weight_scale is BF16 1.0
		local wb=$off
		for name in $sc; do
			add model.layers.0.$name.weight_scale BF16 1 2
		done
		{ head -c $wb /dev/zero | tr '\0' '\046'; printf '\x80\x3f%.0s' $sc; } |
			mk_st "$d/model.safetensors" "{$h}"
	else
		# F32 1.0, -1.0, 0.0, 0.2 repeated: absmean 0.55, trits +1, -1, 0, 0
		printf '\x00\x00\x80\x3f\x00\x00\x80\xbf\x00\x00\x00\x00\xcd\xcc\x4c\x3e%.0s' $(seq $((off / 16))) |
			mk_st "$d/model.safetensors" "{$h}"
	fi
}

@test "usage errors" {
	run -2 wf-convert
	[ "${lines[0]}" = "wf-convert: no input named" ]
	run -2 wf-convert -o x.gguf
	[ "${lines[0]}" = "wf-convert: no input named" ]
	run -2 wf-convert dir
	[ "${lines[0]}" = "wf-convert: no output file (-o OUT.gguf)" ]
	run -2 wf-convert -t Q4_0 -o x.gguf dir
	[ "${lines[0]}" = "wf-convert: --type 'Q4_0': expected I2_S, TQ1_0, TQ2_0, F16, BF16 or F32" ]
	run -2 wf-convert -a llama -o x.gguf dir
	[ "${lines[0]}" = "wf-convert: --arch 'llama': expected bitnet-b1.58 or bitnet" ]
	run -0 wf-convert --help
	[ "${lines[0]%% *}" = "usage:" ]
	run -1 wf-convert -o x.gguf nonexistent
	[ "$output" = "wf-convert: nonexistent: No such file or directory" ]
	E=$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf
	run -2 wf-convert --pre llama3 -o x.gguf "$E"
	[ "${lines[0]}" = "wf-convert: --pre: a tokenizer's option, for a checkpoint directory or --vocab-only (the input is a GGUF file)" ]
	run -2 wf-convert --vocab-only -t TQ2_0 -o x.gguf tokenizer.json
	[ "${lines[0]}" = "wf-convert: --vocab-only writes no weights: not with -t" ]
	[ ! -e x.gguf ]
}

@test "inputs and outputs that are not regular files; the file size limit" {
	E=$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf
	mkfifo fifo
	run -1 timeout 20 wf-convert -o x.gguf fifo
	[ "$output" = "wf-convert: fifo: not a regular file" ]
	run -1 timeout 20 wf-convert --vocab-only -o x.gguf fifo
	[ "$output" = "wf-convert: fifo: not a regular file" ]
	run -1 wf-convert -q -o fifo "$E"
	[ "$output" = "wf-convert: fifo: not a regular file (the output is written beside it, then renamed over it)" ]
	[ -p fifo ]
	run -1 bash -c "ulimit -f 1000; wf-convert -q -t F32 -o big.gguf '$E'"
	[ "$output" = "wf-convert: big.gguf: write error: File too large" ]
	[ "$(ls -A | sort | tr '\n' ' ')" = "fifo " ]
}

@test "malformed safetensors: header length, JSON, dtype, shape, ranges" {
	mk_ckpt m
	st() { mk_st m/model.safetensors "$@"; run -1 wf-convert -q -o x.gguf m; }
	P="wf-convert: m/model.safetensors"
	printf 'abc' > m/model.safetensors
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "$P: file of 3 bytes is too short for a safetensors header" ]
	{ u64le 1000; printf '{}'; } > m/model.safetensors
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "$P: header length 1000 is past the end of the file (10 bytes)" ]
	{ u64le 200000000; printf '{}'; } > m/model.safetensors
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "$P: header length 200000000 is over the limit of 100000000 bytes" ]
	st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},}' 8
	[ "$output" = "$P: header: line 1, column 55: trailing comma in object" ]
	st '[]' 0
	[ "$output" = "$P: header: expected a JSON object, found array" ]
	st '{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}' 8
	[ "$output" = "$P: tensor 'a': unknown dtype 'Q4'" ]
	st '{"a":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}}' 8
	[ "$output" = "$P: tensor 'a': shape[1] is not a non-negative integer" ]
	st '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}' 8
	[ "$output" = "$P: tensor 'a': data_offsets [0, 8] hold 8 bytes, shape [3] of F32 needs 12" ]
	st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}' 8
	[ "$output" = "$P: tensor 'a': data_offsets [4, 12] past the end of the data (8 bytes)" ]
	st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}' 8
	[ "$output" = "$P: tensor 'a': data_offsets [8, 0] end before they begin" ]
	st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[4],"data_offsets":[6,10]}}' 10
	[ "$output" = "$P: tensors 'a' and 'b': data ranges [0, 8) and [6, 10) overlap" ]
	st '{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}' 8
	[ "$output" = "$P: tensor 'a': shape [4294967296, 4294967296] is too large" ]
	st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
	[ "$output" = "$P: tensor 'a': listed twice" ]
	st '{"__metadata__":{"format":1}}' 0
	[ "$output" = "$P: __metadata__: 'format': expected a string value" ]
	st '{"__metadata__":{"format":"pt"},"__metadata__":{}}' 0
	[ "$output" = "$P: __metadata__: listed twice" ]
	st '{"__metadata__":{"format":"pt"}}' 0
	[ "$output" = "wf-convert: tensor 'model.embed_tokens.weight' is missing" ]
	[ "$(ls | grep -c tmp)" = "0" ]
}

@test "300000 tensors: a name listed twice, and the weight_map's names, found without comparing every pair" {
	# the names were once compared pairwise: minutes here, most of an hour
	# for a 100 MB header
	mk_ckpt m
	awk 'BEGIN {
		printf "{"
		for (i = 0; i < 300000; i++)
			printf "\"t%d\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},", i
		printf "\"t0\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}"
	}' > h.json
	{ u64le $(wc -c < h.json); cat h.json; } > m/model.safetensors
	run -1 timeout 30 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/model.safetensors: tensor 't0': listed twice" ]
	# a shard of them all, each looked up by the weight_map
	rm m/model.safetensors
	awk 'BEGIN {
		printf "{"
		for (i = 0; i < 300000; i++)
			printf "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}", i ? "," : "", i
		printf "}"
	}' > h.json
	{ u64le $(wc -c < h.json); cat h.json; } > m/a.safetensors
	awk 'BEGIN {
		printf "{\"weight_map\":{"
		for (i = 0; i < 300000; i++)
			printf "\"t%d\":\"a.safetensors\",", i
		printf "\"missing\":\"a.safetensors\"}}"
	}' > m/model.safetensors.index.json
	run -1 timeout 30 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/model.safetensors.index.json: weight_map: tensor 'missing' is not in a.safetensors" ]
}

@test "checkpoint checks: architecture, activation, shapes, unknown tensors" {
	mk_ckpt m
	sed -i 's/BitnetForCausalLM/LlamaForCausalLM/' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/config.json: architectures: expected BitNetForCausalLM or BitnetForCausalLM" ]
	mk_ckpt m
	sed -i 's/"silu"/"gelu"/' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/config.json: hidden_act: expected \"relu2\" or \"silu\"" ]
	mk_ckpt m
	sed -i 's/"intermediate_size": 256/"intermediate_size": 512/' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight': expected [512, 128], found [256, 128]" ]
	mk_ckpt m
	sed -i 's/"hidden_size": 128,//' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/config.json: 'hidden_size' is missing" ]
	rm -r m; mk_ckpt m
	rm m/tokenizer.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/tokenizer.json: No such file or directory" ]
	[ ! -e x.gguf ]
}

@test "checkpoint checks: values the readers would refuse, broken links, non-finite floats" {
	mk_ckpt m
	sed -i 's/"rope_theta": 10000.0/"rope_theta": 1e300/' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/config.json: 'rope_theta': 1e+300 is not a positive float32 (FLT_MIN..FLT_MAX)" ]
	mk_ckpt m
	sed -i 's/"rms_norm_eps": 1e-06/"rms_norm_eps": 2/' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/config.json: 'rms_norm_eps': 2 is not below 1" ]
	mk_ckpt m
	sed -i 's/"vocab_size": 16/"vocab_size": 2000000000/' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/config.json: 'vocab_size': expected an integer in 1..16777216" ]
	mk_ckpt m
	sed -i 's/"tie_word_embeddings": true/"tie_word_embeddings": true, "rope_scaling": {"type": "dynamic", "factor": 2}/' m/config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = 'wf-convert: m/config.json: '"'"'rope_scaling'"'"': only {"type": "linear", "factor": F} is supported' ]
	mk_ckpt m
	sed -i 's/"tie_word_embeddings": true/"tie_word_embeddings": true, "rope_scaling": {"type": "linear", "factor": 4}/' m/config.json
	run -0 wf-convert -q -o x.gguf m
	run -0 convert_kv x.gguf bitnet-b1.58.rope.scaling.factor
	[ "$output" = "bitnet-b1.58.rope.scaling.factor = 4" ]
	rm -r m x.gguf; mk_ckpt m
	ln -sf ../nowhere/tokenizer_config.json m/tokenizer_config.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/tokenizer_config.json: a symbolic link to a missing file" ]
	rm -r m; mk_ckpt m
	# +inf as the first value of model.norm.weight (after the 16 x 128 embedding)
	hlen=$(od -An -tu8 -N8 m/model.safetensors | tr -d ' ')
	printf '\x00\x00\x80\x7f' | dd of=m/model.safetensors bs=1 seek=$((8 + hlen + 8192)) conv=notrunc 2>/dev/null
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: tensor 'output_norm.weight': value 0 is not finite (inf)" ]
	[ ! -e x.gguf ]
}

@test "sharded checkpoints: the same output as one file; a tensor in two shards is named" {
	mk_ckpt m
	run -0 wf-convert -q -o one.gguf m
	# two shards: every tensor in a.safetensors, and model.norm.weight again in b
	mv m/model.safetensors m/a.safetensors
	names=$(head -c 4096 m/a.safetensors | grep -ao '"model[^"]*"' | sort -u)
	map=$(for n in $names; do printf '%s: "a.safetensors"\n' "$n"; done | paste -sd, -)
	printf '{"weight_map": {%s}}' "$map" > m/model.safetensors.index.json
	run -0 wf-convert -q -o two.gguf m
	cmp one.gguf two.gguf
	mk_st m/b.safetensors '{"model.norm.weight":{"dtype":"F32","shape":[128],"data_offsets":[0,512]}}' 512
	printf '{"weight_map": {%s}}' "${map/'"model.norm.weight": "a.safetensors"'/'"model.norm.weight": "b.safetensors"'}" \
		> m/model.safetensors.index.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/model.safetensors.index.json: tensor 'model.norm.weight' is in both m/a.safetensors and m/b.safetensors" ]
	# b named for another tensor only: the second copy is found when every tensor is accounted for
	mk_st m/b.safetensors '{"model.norm.weight":{"dtype":"F32","shape":[128],"data_offsets":[0,512]},"x.extra":{"dtype":"F32","shape":[1],"data_offsets":[512,516]}}' 516
	printf '{"weight_map": {%s, "x.extra": "b.safetensors"}}' "$map" > m/model.safetensors.index.json
	run -1 wf-convert -q -o x.gguf m
	[ "$output" = "wf-convert: m/b.safetensors: tensor 'model.norm.weight' is in both m/a.safetensors and m/b.safetensors" ]
	[ ! -e x.gguf ]
}

@test "latent F32 checkpoint converts to every type with the same trits" {
	mk_ckpt m
	run -0 wf-convert -o ref.gguf -t F32 m
	[ "$output" = "wf-convert: ref.gguf: 13 tensors, F32, 0.6 MiB (from m)" ]
	for t in I2_S TQ1_0 TQ2_0 F16 BF16; do
		if [ $t = TQ1_0 ] || [ $t = TQ2_0 ]; then
			run -1 wf-convert -q -t $t -o out.gguf m
			[ "$output" = "wf-convert: tensor 'blk.0.attn_q.weight': $t needs rows of a multiple of 256 weights, found 128" ]
			continue
		fi
		run -0 wf-convert -q -t $t -o out.gguf m
		run -0 convert_cmp -t 0.008 out.gguf ref.gguf
		[ "$output" = "ok: 7 ternary tensors, 6 other tensors" ]
	done
	run -0 convert_kv out.gguf general.file_type bitnet-b1.58.hidden_activation bitnet-b1.58.context_length \
		bitnet-b1.58.rope.freq_base bitnet-b1.58.attention.layer_norm_rms_epsilon bitnet-b1.58.rope.dimension_count \
		wf.dlm.mask_token_id wf.dlm.block_size wf.dlm.sub_block_size wf.dlm.attention tokenizer.ggml.eos_token_id \
		tokenizer.ggml.add_bos_token tokenizer.ggml.tokens
	[ "$output" = "general.file_type = 32
bitnet-b1.58.hidden_activation = silu
bitnet-b1.58.context_length = 512
bitnet-b1.58.rope.freq_base = 10000
bitnet-b1.58.attention.layer_norm_rms_epsilon = 9.99999997e-07
bitnet-b1.58.rope.dimension_count = 64
wf.dlm.mask_token_id = 9
wf.dlm.block_size = 32
wf.dlm.sub_block_size = 8
wf.dlm.attention = causal
tokenizer.ggml.eos_token_id = 9
tokenizer.ggml.add_bos_token = false
tokenizer.ggml.tokens = ARRAY[STRING] 16: a b ab [PAD3] [PAD4] [PAD5] [PAD6] [PAD7] [PAD8] <|end|> [PAD10] [PAD11] [PAD12] [PAD13] [PAD14] [PAD15]" ]
	run -0 convert_cmp -r out.gguf blk.0.ffn_up.weight
	[ "$output" = "scale 0.550049: mixed x256" ]
}

@test "packed uint8 ternary checkpoint: rows k*(out/4)+r from bits 2k, weight_scale multiplies" {
	mk_ckpt m packed
	run -0 wf-convert -q -o p.gguf m
	run -0 convert_cmp -r p.gguf blk.0.attn_q.weight
	[ "$output" = "scale 1: +1x32 0x32 +1x32 -1x32" ]
	run -0 convert_cmp -r p.gguf blk.0.ffn_down.weight
	[ "$output" = "scale 1: +1x32 0x32 +1x32 -1x32" ]
	run -0 wf-convert -q -t F32 --arch bitnet -o f.gguf m
	run -0 convert_cmp -t 1e-6 f.gguf p.gguf
	[ "$output" = "ok: 7 ternary tensors, 6 other tensors" ]
	run -0 convert_kv f.gguf general.architecture bitnet.block_count
	[ "$output" = "general.architecture = bitnet
bitnet.block_count = 1" ]
}

@test "GGUF re-quantisation round trips and refusals" {
	mk_ckpt m
	run -0 wf-convert -q -o a.gguf m
	run -0 wf-convert -q -t F16 -o b.gguf a.gguf
	run -0 wf-convert -q -t I2_S -o c.gguf b.gguf
	run -0 convert_cmp -t 0.001 c.gguf a.gguf
	[ "$output" = "ok: 7 ternary tensors, 6 other tensors" ]
	run -0 convert_kv c.gguf general.file_type general.architecture
	[ "$output" = "general.file_type = 40
general.architecture = bitnet-b1.58" ]
	run -1 wf-convert -q -t TQ2_0 -o d.gguf a.gguf
	[ "$output" = "wf-convert: tensor 'blk.0.attn_q.weight': TQ2_0 needs rows of a multiple of 256 weights, found 128" ]
	# a model wf-decode would refuse is not written (a block_count past the blocks present)
	n=$(convert_kv a.gguf bitnet-b1.58.block_count | sed 's/.* = //')
	model_edit a.gguf e.gguf u32=bitnet-b1.58.block_count:$((n + 1))
	run -1 wf-convert -q -t I2_S -o d.gguf e.gguf
	[ "$output" = "wf-convert: e.gguf: not a model wf can run: tensor 'blk.$n.attn_norm.weight' is missing (expected [128])" ]
	[ ! -e d.gguf ]
	printf 'GGUF' > bad.gguf
	run -1 wf-convert -q -o d.gguf bad.gguf
	[ "${output:0:24}" = "wf-convert: bad.gguf: fi" ] || [ "${output:0:22}" = "wf-convert: bad.gguf: " ]
	[ ! -e d.gguf ]
}

@test "tiny-shakespeare converts to every type: trits identical to its TQ2_0 GGUF" {
	need_shared models/tiny-shakespeare-bitnet
	M="$SHARED/models/tiny-shakespeare-bitnet"
	for t in TQ2_0 TQ1_0 I2_S F16 BF16 F32; do
		run -0 wf-convert -q -t $t -o t.gguf "$M"
		run -0 convert_cmp t.gguf "$M/tiny-shakespeare-bitnet-b158-tq2_0.gguf"
		[ "$output" = "ok: 28 ternary tensors, 18 other tensors" ]
	done
	run -0 wf-convert -q -t TQ2_0 -o t.gguf "$M"
	run -1 convert_cmp -t 0 t.gguf "$M/tiny-shakespeare-bitnet-b158-tq2_0.gguf"
	# scales bit-identical; only the embedding differs (F16 here, F32 there)
	[ "${output%%:*}" = "token_embd.weight" ]
	run -0 convert_kv -c t.gguf "$M/tiny-shakespeare-bitnet-b158-tq2_0.gguf" general.architecture \
		bitnet-b1.58.context_length bitnet-b1.58.embedding_length bitnet-b1.58.block_count \
		bitnet-b1.58.feed_forward_length bitnet-b1.58.attention.head_count bitnet-b1.58.attention.head_count_kv \
		bitnet-b1.58.attention.layer_norm_rms_epsilon bitnet-b1.58.rope.freq_base bitnet-b1.58.rope.dimension_count \
		bitnet-b1.58.vocab_size general.file_type tokenizer.ggml.tokens tokenizer.ggml.merges
	[ "$status" -eq 0 ]
}

@test "peer TQ2_0 re-quantised to I2_S equals the peer I2_S tensors byte for byte" {
	need_shared fixtures/peers
	P="$SHARED/fixtures/peers"
	run -0 wf-convert -q -t I2_S -o i.gguf "$P/tiny-b158-tq2_0.gguf"
	run -0 convert_cmp -t 0 i.gguf "$P/tiny-b158-i2_s.gguf"
	[ "$output" = "ok: 28 ternary tensors, 18 other tensors" ]
	cmp <(tail -c 800000 i.gguf) <(tail -c 800000 "$P/tiny-b158-i2_s.gguf")
	run -0 wf-convert -q -t TQ1_0 --arch bitnet -o q.gguf "$P/tiny-b158-tq2_0.gguf"
	cmp <(tail -c 600000 q.gguf) <(tail -c 600000 "$P/tiny-bitnet-tq1_0.gguf")
	run -0 convert_kv q.gguf general.architecture bitnet.block_count general.file_type
	[ "$output" = "general.architecture = bitnet
bitnet.block_count = 4
general.file_type = 36" ]
}

@test "progress: [i/n] per tensor on a terminal, nothing when stderr is not one" {
	need_shared models/tiny-shakespeare-bitnet
	command -v script > /dev/null || skip "no script(1) to give wf-convert a terminal"
	cd "$BATS_TEST_TMPDIR"
	run -0 script -qec "wf-convert '$SHARED/models/tiny-shakespeare-bitnet' -o p.gguf" /dev/null
	[[ "$output" == *"wf-convert: [0/46] token_embd.weight"* ]]
	[[ "$output" == *$'\r'"wf-convert: [46/46] done"* ]]
	rm -f p.gguf
	run -0 --separate-stderr wf-convert "$SHARED/models/tiny-shakespeare-bitnet" -o p.gguf
	[ "$stderr" = "wf-convert: p.gguf: 46 tensors, I2_S, 1.8 MiB (from $SHARED/models/tiny-shakespeare-bitnet)" ]
}
