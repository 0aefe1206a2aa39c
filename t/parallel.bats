#!/usr/bin/env bats
# wf-decode --parallel N (continuous batching) and --unordered: the same
# lines as the sequential loop, in input order or as records finish.
load test_helper

setup_file() {
	wf-gen -o "$BATS_FILE_TMPDIR/m.gguf" --shape tiny --seed 3 >/dev/null
	wf-gen -o "$BATS_FILE_TMPDIR/moe.gguf" --shape tiny --seed 3 --experts 4 --experts-used 2 >/dev/null
	# 20 prompts of 0-30 tokens, some sharing prefixes, one empty
	cat >"$BATS_FILE_TMPDIR/p.txt" <<-'EOF'
	1774 1147 1755 1893 1600 954 926 1041 1752 1203 389 379 1647 1049 975 1290 1258
	266 514 323 116 323
	10 119 337 300 266 273 357
	1220
	928 1340 1514 1261 1332 323 1277 31 1704 1083 130 122 74
	266 514 323 116 323
	10 119 337 300 266 273 357 669 903 1211 1726 401 1064 479 1312 603 1024

	438
	266 514 323 116 323
	10 119 337 300 266 273 357 1452 814 860 150 1160 1290
	32 840 1553 1890 242 276 505 1448 207
	123
	266 514 323 116 323 1633 998 364 1397 1146 386 917 1043 391 1499 1576 269
	10 119 337 300 266 273 357 436 1 553 1771 1646 1214
	1315 1182 206 87 300 437 905 529 20 1583 1250 674 1701 607 791 151 153 185 428 1194 1304 498 32 1232 756 762 1275 929 261 1203
	1705 1177 278 1775 791 375 1285 316 637 1861 468 1675 1251 511 1486 389 325
	266 514 323 116 323 403 1407 796 1807 989 1237 161 864 98 213 224 80 1050 523 489 1516 1443
	10 119 337 300 266 273 357 1006 601 1066 360 1476 141 259 468 982 1146 1339 1746 1262 1259 152 574 435 1879 1874 418 1534 34 142
	756 1088 1172 270 189 742
	EOF
	awk '{ printf "r%d\t%s\n", NR, $0 }' "$BATS_FILE_TMPDIR/p.txt" >"$BATS_FILE_TMPDIR/k.txt"
	# the same in the generated models' vocabulary of 1024
	awk '{ for (i = 1; i <= NF; i++) $i %= 1000; printf "r%d\t%s\n", NR, $0 }' "$BATS_FILE_TMPDIR/p.txt" \
		>"$BATS_FILE_TMPDIR/k1000.txt"
}

setup() {
	E="$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf"
	P="$BATS_FILE_TMPDIR/p.txt"
	K="$BATS_FILE_TMPDIR/k.txt"
}

# The output of every --parallel N given (after the other options) equals
# that of --parallel 1, the sequential loop; $out holds it.
same_for() {
	local opts=() n
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	out=$(wf-decode "${opts[@]}" --parallel 1 <"$IN")
	for n in "$@"; do
		run -0 wf-decode "${opts[@]}" --parallel "$n" <"$IN"
		[ "$output" = "$out" ] || { echo "--parallel $n differs"; return 1; }
	done
}

# ids per line of $out
counts() { awk -F'\t' '{ print split($NF, a, " ") }' <<<"$out" | tr '\n' ' '; }

@test "greedy: --parallel 1, 2, 5, 16 give the same lines; -n, --stop-id and the context end records" {
	IN=$P
	same_for -m "$E" -c 40 -n 24 --stop-id 44 -- 2 5 16
	[ "$(counts)" = "24 3 24 0 6 3 24 0 1 3 12 5 0 2 9 2 11 19 2 24 " ]
	# -n -1: every record runs until prompt and ids fill the context of 40
	# (the last id is sampled, not evaluated): 41 - prompt ids
	same_for -m "$E" -c 40 -n -1 -- 2 5 16
	[ "$(counts)" = "24 36 34 40 28 36 24 0 40 36 28 32 40 24 28 11 24 19 11 35 " ]
	IN=$K
	same_for -m "$E" -c 40 -n 24 --stop-id 44 -- 2 16
	[ "$(wc -l <<<"$out")" -eq 20 ]
	[ "$(cut -f1 <<<"$out" | tr '\n' ' ')" = "r1 r2 r3 r4 r5 r6 r7 r8 r9 r10 r11 r12 r13 r14 r15 r16 r17 r18 r19 r20 " ]
}

@test "sampling (--temp 0.8 --seed 7 --top-k 40): the same lines for every --parallel" {
	IN=$K
	same_for -m "$E" -c 40 -n 24 --temp 0.8 --seed 7 --top-k 40 -- 2 5 16
	IN=$P
	same_for -m "$E" -c 40 -n 20 --temp 0.8 --seed 7 --top-k 40 --stop-id 44 --repeat-penalty 1.3 -- 3 16
	[ "$(wc -l <<<"$out")" -eq 20 ]
}

@test "generated models, threads and a small batch: the same lines" {
	IN=$BATS_FILE_TMPDIR/k1000.txt
	same_for -m "$BATS_FILE_TMPDIR/m.gguf" -n 9 -t 1 -- 4 16
	same_for -m "$BATS_FILE_TMPDIR/m.gguf" -n 9 -t 2 -b 16 -- 16
	same_for -m "$BATS_FILE_TMPDIR/moe.gguf" -n 7 -- 3 8
	same_for -m "$BATS_FILE_TMPDIR/m.gguf" -n 9 --kv-type f16 -- 5
}

@test "--unordered: the same set of lines, each whole" {
	IN=$K
	same_for -m "$E" -c 40 -n 24 --stop-id 44 --
	run -0 wf-decode -m "$E" -c 40 -n 24 --stop-id 44 --parallel 5 --unordered <"$K"
	[ "$(sort <<<"$output")" = "$(sort <<<"$out")" ]
	run -0 wf-decode -m "$E" -c 40 -n 24 --stop-id 44 --unordered <"$K"
	[ "$output" = "$out" ]
}

@test "--unordered refuses records without a key" {
	run -1 --separate-stderr wf-decode -m "$E" -n 3 --parallel 2 --unordered < <(printf 'a\t1 2\n3 4\n\nb\t5\n')
	[ "$stderr" = "wf-decode: record 2: no key (--unordered writes lines as records finish; keys tell them apart)
wf-decode: record 3: no key (--unordered writes lines as records finish; keys tell them apart)" ]
	a=$(printf 'a\t1 2\n' | wf-decode -m "$E" -n 3)
	b=$(printf 'b\t5\n' | wf-decode -m "$E" -n 3)
	[ "$(sort <<<"$output")" = "$(printf '\n\n%s\n%s\n' "$a" "$b" | sort)" ]
}

@test "--echo: the prompt, then the generated ids, as the sequential loop" {
	IN=$K
	same_for -m "$E" -c 40 -n 6 --stop-id 44 --echo -- 3 16
	[ "$(sed -n 2p <<<"$out")" = "r2	266 514 323 116 323 $(echo 266 514 323 116 323 | wf-decode -m "$E" -c 40 -n 6 --stop-id 44)" ]
	run -0 wf-decode -m "$E" -n 0 --echo --parallel 4 < <(printf 'a\t1 2\n\n3\n')
	[ "$output" = $'a\t1 2\n\n3' ]
}

@test "bad records keep their place and are reported with their number; exit 1" {
	in=$(printf 'a\t1 2 3\nb\t1 x 3\nc\t4 5\n9 99999\nd\t%s\ne\t6 7 8 9\n' "$(seq -s ' ' 1 45)")
	run -1 --separate-stderr wf-decode -m "$E" -c 40 -n 8 --parallel 1 <<<"$in"
	seq_out=$output seq_err=$stderr
	[ "$stderr" = "wf-decode: record 2: token 2: 'x' is not a token id
wf-decode: record 4: token 2: id 99999 out of range [0, 2048)
wf-decode: record 5: prompt of 45 tokens does not fit in the context of 40" ] || { echo "$stderr"; false; }
	for n in 2 3 16; do
		run -1 --separate-stderr wf-decode -m "$E" -c 40 -n 8 --parallel "$n" <<<"$in"
		[ "$output" = "$seq_out" ]
		[ "$stderr" = "$seq_err" ]
	done
	[ "$(cut -f1 <<<"$output" | tr '\n' ' ')" = "a b c  d e " ]
	[ "$(sed -n 2p <<<"$output")" = "b	" ]
	[ "$(sed -n 4p <<<"$output")" = "" ]
}

@test "--strict: the records before the first bad one, its empty line, then stop" {
	in=$(printf 'a\t1 2 3\nb\t4 5 6 7 8\nc\t1 x\nd\t5 6\n')
	run -1 --separate-stderr wf-decode -m "$E" -n 8 --strict --parallel 1 <<<"$in"
	seq_out=$output
	[ "$stderr" = "wf-decode: record 3: token 2: 'x' is not a token id" ]
	[ "$(cut -f1 <<<"$output" | tr '\n' ' ')" = "a b c " ]
	run -1 --separate-stderr wf-decode -m "$E" -n 8 --strict --parallel 4 <<<"$in"
	[ "$output" = "$seq_out" ]
	[ "$stderr" = "wf-decode: record 3: token 2: 'x' is not a token id" ]
}

@test "a record is answered while the input stays open, the next line half written (no wait to fill the slots)" {
	want=$(printf 'a\t1 2 3\n' | wf-decode -m "$E" -n 4)
	coproc DEC { wf-decode -m "$E" -n 4 --parallel 4; }
	printf 'a\t1 2 3\nb\t4' >&"${DEC[1]}"
	read -r -t 20 line <&"${DEC[0]}"
	[ "$line" = "$want" ]
	printf ' 5\n' >&"${DEC[1]}"
	read -r -t 20 line <&"${DEC[0]}"
	[ "$line" = "$(printf 'b\t4 5\n' | wf-decode -m "$E" -n 4)" ]
	exec {DEC[1]}>&-
	wait "$DEC_PID"
}

@test "options that do not batch, and bad --parallel values, are usage errors" {
	run -2 wf-decode -m "$E" --parallel 0
	[ "${lines[0]}" = "wf-decode: --parallel: '0' is not an integer in [1, 256]" ]
	run -2 wf-decode -m "$E" --parallel 257
	[ "${lines[0]}" = "wf-decode: --parallel: '257' is not an integer in [1, 256]" ]
	run -2 wf-decode -m "$E" --parallel 4 --score
	[ "${lines[0]}" = "wf-decode: --parallel 4: not with --score (only generation is batched; use --parallel 1)" ]
	run -2 wf-decode -m "$E" --parallel 2 --ppl
	[ "${lines[0]}" = "wf-decode: --parallel 2: not with --ppl (only generation is batched; use --parallel 1)" ]
	run -2 wf-decode -m "$E" --parallel 2 --mc
	[ "${lines[0]}" = "wf-decode: --parallel 2: not with --mc (only generation is batched; use --parallel 1)" ]
	run -2 wf-decode -m "$E" --parallel 2 --logits /dev/null
	[ "${lines[0]}" = "wf-decode: --parallel 2: not with --logits (only generation is batched; use --parallel 1)" ]
	run -2 wf-decode -m "$E" --parallel 2 --decode dlm
	[ "${lines[0]}" = "wf-decode: --parallel 2: not with --decode dlm (only generation is batched; use --parallel 1)" ]
	run -2 wf-decode -m "$E" --unordered --score
	[ "${lines[0]}" = "wf-decode: --unordered: not with --score (only generation is batched)" ]
	run -2 wf-decode -m "$E" --parallel 16 -b 8
	[ "${lines[0]}" = "wf-decode: --parallel 16: more than the batch of 8 tokens (-b)" ]
	run -2 wf-decode -m "$E" --parallel 16 -c 8 </dev/null
	[ "${lines[0]}" = "wf-decode: --parallel 16: more than the batch of 8 tokens (-b, or the context -c)" ]
	run -0 wf-decode -m "$E" --parallel 1 --score </dev/null
	[ "$output" = "" ]
}

@test "wf_ctx_eval_seqs equals each sequence decoded alone, bit for bit (model_seqs)" {
	for m in "$E" "$BATS_FILE_TMPDIR/m.gguf" "$BATS_FILE_TMPDIR/moe.gguf"; do
		run -0 model_seqs "$m" 2
		[ "$output" = "ok 1 eval_seqs logits equal each sequence decoded alone
ok 2 n_past and tokens per sequence
ok 4 shared_prefix
ok 3 bad requests" ]
	done
	run -0 model_seqs "$BATS_FILE_TMPDIR/m.gguf" 1
	[ "${#lines[@]}" -eq 4 ]
	WF_OUTPUT=q8_0 run -0 model_seqs "$BATS_FILE_TMPDIR/m.gguf" 2
	[ "${#lines[@]}" -eq 4 ]
}
