#!/usr/bin/env bats
# lib/gguf through wf-info: every malformed class of
# ../shared/notes/gguf-malformed.md is refused with an exact message and exit
# 1; the valid controls parse.

load test_helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# bad CLASS MESSAGE: the file of that class is refused with that message.
bad() {
	gguf_mkbad "$1" "$1.gguf"
	run -1 wf-info "$1.gguf"
	[ "$output" = "wf-info: $1.gguf: $2" ]
}

@test "controls: v3, v2, empty, alignment 1 and 64 parse" {
	for c in ok_v3 ok_v2 ok_empty ok_align1 ok_align64; do
		gguf_mkbad $c $c.gguf
		run -0 wf-info $c.gguf
	done
	run -0 wf-info ok_align64.gguf
	[ "${lines[1]}" = "alignment 64, data at 192, 1 keys, 2 tensors" ]
	run -0 wf-info ok_v2.gguf
	[ "${lines[0]}" = "ok_v2.gguf: GGUF v2, 320 bytes" ]
}

@test "a tensor name with control bytes is escaped in the table, kept in the JSON" {
	gguf_mkbad ok_tname_ctrl t.gguf
	run -0 wf-info t.gguf
	[ "${lines[-1]}" = '  blk.0.attn\nnorm\x1b[31m         F32    [8, 2]                        0           64' ]
	run -0 bash -c "wf-info --json t.gguf | grep -o '\"name\": \"blk[^\"]*\"'"
	[ "$output" = '"name": "blk.0.attn\nnorm\u001b[31m"' ]
}

@test "trailing bytes after the last tensor: a warning, exit 0" {
	gguf_mkbad ok_trailing t.gguf
	run -0 --separate-stderr wf-info t.gguf
	[ "$stderr" = "wf-info: t.gguf: warning: 100 bytes after the last tensor" ]
}

@test "header: short, magic, versions, byte-swapped" {
	bad short_file "file too short for a GGUF header (10 bytes)"
	bad bad_magic "not a GGUF file (bad magic 47 47 55 58)"
	bad version0 "GGUF version 0 is not supported (only 2 and 3)"
	bad version1 "GGUF version 1 is not supported (only 2 and 3)"
	bad version4 "GGUF version 4 is not supported (only 2 and 3)"
	bad version_swapped "GGUF version 0x03000000 looks byte-swapped (big-endian files are not supported)"
}

@test "header: counts negative or larger than the file can hold" {
	bad n_tensors_negative "tensor count -1 does not fit in the file"
	bad n_tensors_huge "tensor count 1000000 does not fit in the file"
	bad n_kv_negative "key count -5 does not fit in the file"
	bad n_kv_huge "key count 1073741824 does not fit in the file"
	bad truncated_tinfo "tensor count 1 does not fit in the file"
}

@test "keys: empty, too long, past end, not ASCII, duplicate" {
	bad key_empty "key #0: empty key"
	bad key_too_long "key #0: key length 70000 exceeds the limit of 65535"
	bad key_past_end "key #0: key length 100 exceeds the remaining bytes"
	bad key_not_ascii "key #0: byte 0x0a at position 8 is not printable ASCII"
	bad key_duplicate "key 'a.b': duplicate key"
	bad truncated_kv "key 'c.d': value past end of file"
}

@test "values: bad types, arrays of arrays" {
	bad vtype_bad "key 'a.b': value type 13 is not a GGUF type"
	bad array_of_arrays "key 'a.b': arrays of arrays are not supported"
	bad array_etype_bad "key 'a.b': array element type 77 is not a GGUF type"
}

@test "strings: past end, over the cap, invalid UTF-8" {
	bad string_past_end "key 'a.b': string length 1000 exceeds the remaining 23 bytes"
	bad string_over_cap "key 'a.b': string length 1048577 exceeds the limit of 1048576 bytes"
	bad string_bad_utf8 "key 'a.b': string is not valid UTF-8"
}

@test "arrays: count overflow, past end, over the cap" {
	bad array_count_overflow "key 'a.b': array of 4611686018427387904 elements exceeds the limit of 16777216"
	bad array_past_end "key 'a.b': array of 1000 UINT32 needs 4000 bytes, 64 remain"
	bad array_over_cap "key 'a.b': array of 16777217 elements exceeds the limit of 16777216"
	bad array_strings_past_end "key 'a.b': array of 3 strings exceeds the remaining 18 bytes"
}

@test "BOOL other than 0 or 1" {
	bad bool_bad "key 'a.b': BOOL value 2 (must be 0 or 1)"
	bad bool_array_bad "key 'a.b': element 2 is a BOOL with value 7 (must be 0 or 1)"
}

@test "general.alignment: wrong type, zero, not a power of two, too large" {
	bad align_wrong_type "key 'general.alignment': expected UINT32, found UINT64"
	bad align_zero "key 'general.alignment': 0 is not a power of two in [1, 65536]"
	bad align_not_pow2 "key 'general.alignment': 48 is not a power of two in [1, 65536]"
	bad align_huge "key 'general.alignment': 1048576 is not a power of two in [1, 65536]"
}

@test "tensor names: empty, too long, invalid, duplicate" {
	bad tname_empty "tensor #0: empty name"
	bad tname_too_long "tensor #0: name length 64 exceeds the limit of 63 bytes"
	bad tname_bad_utf8 "tensor #0: name is not valid UTF-8 text"
	bad tname_duplicate "tensor 'w': duplicate tensor name"
}

@test "tensor shapes: dims, zero and negative extents, overflow" {
	bad ndims_zero "tensor 'w': 0 dimensions (must be 1 to 4)"
	bad ndims_five "tensor 'w': 5 dimensions (must be 1 to 4)"
	bad dim_zero "tensor 'w': dimension 1 is 0 (must be positive)"
	bad dim_negative "tensor 'w': dimension 1 is -3 (must be positive)"
	bad nelem_overflow "tensor 'w': element count overflows"
	bad nbytes_overflow "tensor 'w': byte size overflows"
}

@test "tensor types: unknown, retired, unsupported, shape not in blocks" {
	bad type_unknown "tensor 'w': unknown type 99"
	bad type_retired "tensor 'w': unknown type 4"
	bad type_unsupported "tensor 'w': type Q4_0 (2) is not supported by wf"
	bad row_not_blocks "tensor 'w': row length 100 is not a multiple of the TQ2_0 block size 256"
	bad i2s_not_128 "tensor 'w': I2_S needs a multiple of 128 weights, found 64"
}

@test "layout: unaligned, gaps, overlap, wrapping offsets, data past EOF" {
	bad offset_unaligned "tensor 'w': offset 4 is not a multiple of the alignment 32"
	bad offset_gap "tensor 'w': offset 64 is not where the previous tensor ends (0)"
	bad offset_overlap "tensor 'b': offset 32 is not where the previous tensor ends (64)"
	bad offset_huge "tensor 'w': offset 18446744073709551584 is not where the previous tensor ends (0)"
	bad data_start_past_end "tensor data section starts past end of file (96 > 66)"
	bad data_past_end "tensor 'w': data past end of file (offset 0 + 128 bytes > 100)"
	bad data_second_past_end "tensor 'b': data past end of file (offset 32 + 4194304 bytes > 64)"
}

@test "every truncation of a valid file is refused, never a crash" {
	gguf_mkbad ok_v3 ok.gguf
	size=$(stat -c %s ok.gguf)
	for ((n = 0; n < size; n++)); do
		head -c $n ok.gguf > cut.gguf
		run wf-info cut.gguf
		[ "$status" -eq 1 ] || { echo "truncated to $n: status $status"; false; }
	done
}

@test "writer round trip: random files of every value and tensor type" {
	run -0 gguf_roundtrip 200
	[ "$output" = "200 files: ok" ]
}

@test "wf-info: human output of a known file" {
	gguf_mkbad ok_v3 ok.gguf
	run -0 wf-info ok.gguf
	[ "$output" = "ok.gguf: GGUF v3, 320 bytes
alignment 32, data at 192, 1 keys, 2 tensors

metadata:
  general.architecture  STRING           \"bitnet-b1.58\"

tensors:
  name                             type   shape                    offset        bytes
  a.weight                         F32    [8, 2]                        0           64
  b.weight                         F32    [8, 2]                       64           64" ]
}

@test "wf-info --json of a known file" {
	gguf_mkbad ok_v3 ok.gguf
	run -0 wf-info --json ok.gguf
	[ "$output" = '{"model": "ok.gguf", "image": false, "version": 3, "size": 320, "alignment": 32, "data_offset": 192, "metadata": {"general.architecture": {"type": "STRING", "value": "bitnet-b1.58"}}, "tensors": [{"name": "a.weight", "type": "F32", "shape": [8, 2], "offset": 0, "bytes": 64}, {"name": "b.weight", "type": "F32", "shape": [8, 2], "offset": 64, "bytes": 64}]}' ]
}

@test "wf-info: usage errors and missing files" {
	run -2 wf-info --bogus
	[ "${lines[1]}" = "usage: wf-info [-a] [-j|--json] [FILE|IMAGE ...]" ]
	run -1 wf-info /nonexistent/x.gguf
	[ "$output" = "wf-info: /nonexistent/x.gguf: No such file or directory" ]
}

@test "peers: the four fixture GGUFs parse and show their tensors" {
	need_shared fixtures/peers
	for f in tiny-bitnet-tq2_0 tiny-bitnet-tq1_0 tiny-b158-i2_s tiny-b158-tq2_0; do
		run -0 wf-info "$SHARED/fixtures/peers/$f.gguf"
	done
	run -0 wf-info "$SHARED/fixtures/peers/tiny-b158-i2_s.gguf"
	[ "${lines[1]}" = "alignment 32, data at 28640, 26 keys, 46 tensors" ]
	[[ "$output" == *'  general.architecture                           STRING           "bitnet-b1.58"'* ]]
	[[ "$output" == *'  tokenizer.ggml.tokens                          STRING[1024]     ["Ā", "ā", "Ă", "ă", "Ą", "ą", "Ć", "ć", ... (1016 more)]'* ]]
	[[ "$output" == *'  blk.0.attn_k.weight              I2_S   [256, 128]               541728         8224'* ]]
	run -0 wf-info "$SHARED/fixtures/peers/tiny-bitnet-tq1_0.gguf"
	[[ "$output" == *'  blk.3.ffn_down.weight            TQ1_0  [768, 256]'* ]]
	run -0 wf-info --json "$SHARED/fixtures/peers/tiny-bitnet-tq2_0.gguf"
	[[ "$output" == *'{"name": "blk.0.ffn_gate.weight", "type": "TQ2_0", "shape": [256, 768], "offset": '* ]]
	# -a prints the whole array
	run -0 wf-info -a "$SHARED/fixtures/peers/tiny-b158-i2_s.gguf"
	[[ "$output" != *"more)]"* ]]
}

@test "tokenizer fixture GGUFs (no tensors) parse" {
	need_shared fixtures/tokenizers
	run -0 wf-info "$SHARED/fixtures/tokenizers/ggml-vocab-llama-spm.gguf"
	[ "${lines[1]}" = "alignment 32, data at 723869, 22 keys, 0 tensors" ]
}
