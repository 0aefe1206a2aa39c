#!/usr/bin/env bats
# Model images hold the ternary projections in the kernels' packed layout
# (WF_TMAT, lib/repack): whatever the file's weight type, the image's packed
# bytes are the same, and logits from the image equal logits from the file.

load test_helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	IMG=wf-rp-$$-$BATS_TEST_NUMBER
}

teardown() {
	for n in $(wf-shm ls 2>/dev/null | awk -v p="wf-rp-$$-" 'index($1, p) == 1 {print $1}'); do
		wf-shm rm "$n" >/dev/null 2>&1 || true
	done
}

@test "load repacks: WF_TMAT projections, wf.repacked, alignment 64, payload 'repacked gguf'" {
	wf-gen -o m.gguf --type tq2_0 --seed 5 --hidden 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 --vocab 512
	run -0 wf-shm load --name $IMG m.gguf
	[ "$output" = "$IMG" ]
	run -0 wf-info shm:$IMG
	[[ "${lines[1]}" == "alignment 64, data at "* ]]
	[[ "$output" == *"  wf.repacked "*"UINT32           1"* ]]
	[ "$(grep -c ' WF_TMAT ' <<<"$output")" = 14 ]
	[[ "$output" == *"  blk.1.ffn_down.weight            WF_TMAT [512, 256]"* ]]
	[[ "$output" == *"  token_embd.weight                F16    [256, 512]"* ]]
	run -0 wf-shm info $IMG
	[[ "$output" == *"payload:        repacked gguf, offset 4096, "* ]]
}

@test "load: an image name already taken is an error on the repacking path too" {
	wf-gen -o m.gguf --type tq1_0 --seed 5 --hidden 256 --layers 1 --heads 4 --kv-heads 2 --ffn 256 --vocab 512
	run -0 wf-shm load --name $IMG m.gguf
	run -1 wf-shm load --name $IMG m.gguf
	[ "$output" = "wf-shm: image '$IMG' already exists (remove it with 'wf-shm rm $IMG', or choose another --name)" ]
	run -0 wf-shm info $IMG
	[[ "$output" == *"payload:        repacked gguf, "* ]]
}

@test "load --raw keeps the file's bytes" {
	wf-gen -o m.gguf --type i2_s --seed 5 --hidden 256 --layers 1 --heads 4 --kv-heads 2 --ffn 256 --vocab 512
	run -0 wf-shm load --raw --name $IMG m.gguf
	run -0 wf-shm info $IMG
	[[ "$output" == *"payload:        gguf, offset 4096, $(stat -c %s m.gguf) bytes"* ]]
	[ "$(wf-info shm:$IMG | grep -c ' I2_S ')" = 7 ]
}

@test "every weight type packs to the same bytes; logits from the image equal the file's" {
	for t in i2_s tq2_0 tq1_0 f16; do
		wf-gen -o $t.gguf --type $t --seed 9 --hidden 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 --vocab 512
		wf-shm load --name $IMG-$t $t.gguf
	done
	run -0 repack_cmp shm:$IMG-i2_s shm:$IMG-tq2_0
	[ "$output" = "14 tensors: packed bytes equal; scales equal" ]
	run -0 repack_cmp shm:$IMG-tq2_0 shm:$IMG-tq1_0
	[ "$output" = "14 tensors: packed bytes equal; scales equal" ]
	# F16 weights are ternarised with their absmean at repack, as at load
	run -0 repack_cmp shm:$IMG-i2_s shm:$IMG-f16
	[[ "$output" == "14 tensors: packed bytes equal; scales "* ]]
	echo '1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17' > p.txt
	for t in i2_s tq1_0 f16; do
		wf-decode -m $t.gguf -n 0 --logits file.$t.f32 < p.txt > /dev/null
		wf-decode -m shm:$IMG-$t -n 0 --logits image.$t.f32 < p.txt > /dev/null
		cmp file.$t.f32 image.$t.f32
		[ "$(stat -c %s image.$t.f32)" = $((17 * 512 * 4)) ]
	done
	# and greedy generation through the image is the file's
	[ "$(wf-decode -m shm:$IMG-tq1_0 -n 12 < p.txt)" = "$(wf-decode -m tq1_0.gguf -n 12 < p.txt)" ]
}

@test "peers: the four same-seed fixtures pack to identical images" {
	need_shared fixtures/peers
	P=$SHARED/fixtures/peers
	for f in tiny-b158-i2_s tiny-b158-tq2_0 tiny-bitnet-tq1_0 tiny-bitnet-tq2_0; do
		wf-shm load --name $IMG-$f $P/$f.gguf
	done
	run -0 repack_cmp shm:$IMG-tiny-b158-i2_s shm:$IMG-tiny-b158-tq2_0
	[ "$output" = "28 tensors: packed bytes equal; scales equal" ]
	run -0 repack_cmp shm:$IMG-tiny-b158-tq2_0 shm:$IMG-tiny-bitnet-tq1_0
	[ "$output" = "28 tensors: packed bytes equal; scales equal" ]
	run -0 repack_cmp shm:$IMG-tiny-bitnet-tq1_0 shm:$IMG-tiny-bitnet-tq2_0
	[ "$output" = "28 tensors: packed bytes equal; scales equal" ]
	sed -n 3p $P/seqs.txt > s.txt
	wf-decode -m $P/tiny-b158-i2_s.gguf -n 0 --logits file.f32 < s.txt > /dev/null
	wf-decode -m shm:$IMG-tiny-b158-i2_s -n 0 --logits image.f32 < s.txt > /dev/null
	cmp file.f32 image.f32
}

@test "a vocabulary's merge index goes into the image and is used in place, with the same tokens" {
	need_shared fixtures/tokenizers
	T=$SHARED/fixtures/tokenizers
	run -0 wf-shm load --name $IMG "$T/ggml-vocab-gpt-2.gguf"
	run -0 wf-shm info $IMG
	[[ "$output" == *"payload:        repacked gguf, offset 4096, "* ]]
	run -0 wf-info shm:$IMG
	[[ "$output" == *"  wf.tokenizer.index               F32    ["* ]]
	# every test string of the llama.cpp vectors, one record each (-w per string)
	awk 'BEGIN { RS = "\n__ggml_vocab_test__\n" } { printf "%s%c", $0, 0 }' "$T/ggml-vocab-gpt-2.gguf.inp" > inp.z
	wf-tok -z -m "$T/ggml-vocab-gpt-2.gguf" < inp.z > file.ids
	wf-tok -z -m shm:$IMG < inp.z > image.ids
	[ "$(wc -l < file.ids)" = 46 ]
	cmp file.ids image.ids
	[ "$(sed -n 3p file.ids)" = "$(sed -n 3p "$T/ggml-vocab-gpt-2.gguf.out" | sed 's/^ //')" ]
}

@test "a file with nothing to repack and no vocabulary is copied as it is" {
	gguf_mkbad ok_v3 plain.gguf
	run -0 wf-shm load --name $IMG plain.gguf
	run -0 wf-shm info $IMG
	[[ "$output" == *"payload:        gguf, offset 4096, 320 bytes"* ]]
}

@test "a malformed WF_TMAT tensor is refused by the reader" {
	gguf_mkbad wf_tmat_3d bad.gguf
	run -1 wf-info bad.gguf
	[ "$output" = "wf-info: bad.gguf: tensor 'w': WF_TMAT needs 2 dimensions and rows of a multiple of 128 weights" ]
}

@test "a WF_Q8R tensor: rows of 64 take 2 x (64 + 8) bytes; rows of 48 are refused" {
	gguf_mkbad wf_q8r_ok ok.gguf
	run -0 wf-info ok.gguf
	[[ "$output" == *"  w"*"WF_Q8R [64, 2] "*" 144"* ]]
	gguf_mkbad wf_q8r_row_48 bad.gguf
	run -1 wf-info bad.gguf
	[ "$output" = "wf-info: bad.gguf: tensor 'w': WF_Q8R needs 2 dimensions and rows of a multiple of 32 values" ]
}

@test "image: 8-bit output copy (WF_OUTPUT=q8_0) gives the file's 8-bit logits; WF_OUTPUT=f16 the F16 ones" {
	wf-gen -o m.gguf --type tq2_0 --seed 9 --hidden 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 --vocab 512
	echo '1 2 3 4 5 6 7 8 9 10' > p.txt
	# from the file (before any image of it exists: wf-decode would use that)
	wf-decode -m m.gguf -n 0 --logits file.f16.f32 < p.txt > /dev/null
	WF_OUTPUT=q8_0 wf-decode -m m.gguf -n 0 --logits file.q8.f32 < p.txt > /dev/null
	WF_OUTPUT=q8_0 wf-decode -m m.gguf -n 8 --ignore-eos < p.txt > file.gen
	run -1 cmp -s file.f16.f32 file.q8.f32
	# close: the 8-bit product moves the logits by well under the peers' distance
	run -0 model_cmp -V 512 -l 0.02 file.q8.f32 file.f16.f32
	# small output matrices get no copy by default
	wf-shm load --name $IMG-plain m.gguf
	run -0 wf-info shm:$IMG-plain
	[[ "$output" != *"wf.output_q8r"* ]]
	wf-shm rm $IMG-plain
	WF_OUTPUT=q8_0 wf-shm load --name $IMG m.gguf
	run -0 wf-info shm:$IMG
	[[ "$output" == *"  wf.output_q8r"*"WF_Q8R [256, 512] "* ]]
	wf-decode -m shm:$IMG -n 0 --logits image.q8.f32 < p.txt > /dev/null
	cmp file.q8.f32 image.q8.f32
	WF_OUTPUT=f16 wf-decode -m shm:$IMG -n 0 --logits image.f16.f32 < p.txt > /dev/null
	cmp file.f16.f32 image.f16.f32
	run -0 wf-decode -m shm:$IMG -n 8 --ignore-eos < p.txt
	[ "$output" = "$(cat file.gen)" ]
}
