#!/usr/bin/env bats
# wf-decode --score, --ppl, --mc (lib/score): formats, agreement with
# independent computations, llama-perplexity windows, lm-evaluation-harness
# multiple choice, errors; the tiny-shakespeare held-out perplexity.
load test_helper

setup_file() {
	wf-gen -o "$BATS_FILE_TMPDIR/m.gguf" --shape tiny --seed 3 >/dev/null
}

setup() {
	M="$BATS_FILE_TMPDIR/m.gguf"
	S="$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf"
	T="$BATS_TEST_TMPDIR"
}

# awk: |a - b| <= tol
close_to() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

@test "score_check: lib/score against plain evaluation" {
	run -0 score_check "$M"
	[ "$output" = $'ok 1\nok 2\nok 3\nok 4' ]
}

@test "--score: key, TOTAL N, TAB, one value per id after the first; short records" {
	run -0 wf-decode -m "$M" --score < <(printf 'a\t1 2 3\n\n5\nb\t7\n')
	[ "${#lines[@]}" -eq 4 ] || [ "$(printf '%s\n' "$output" | wc -l)" -eq 4 ]
	[[ "${lines[0]}" =~ ^a$'\t'-[0-9]+\.[0-9]{6}\ 2$'\t'-[0-9]+\.[0-9]{6}\ -[0-9]+\.[0-9]{6}$ ]]
	# the total is the sum of the values
	awk -F'\t' 'NR == 1 { split($2, h, " "); n = split($3, v, " "); s = 0; for (i = 1; i <= n; i++) s += v[i];
		d = s - h[1]; exit !(n == h[2] && d < 2e-6 && d > -2e-6) }' <<<"$output"
	[ "$(printf '%s\n' "$output" | sed -n 2p)" = $'0.000000 0\t' ]
	[ "$(printf '%s\n' "$output" | sed -n 3p)" = $'0.000000 0\t' ]
	[ "$(printf '%s\n' "$output" | sed -n 4p)" = $'b\t0.000000 0\t' ]
}

@test "--score agrees with --logits scored by model_ppl" {
	printf '%s\n' '3 14 15 92 65 35 89 79 32 38' '46 26 43 38 32 79 50' '2 7 1 8 2 8 1 8 2 8 4 5 9' > "$T/ids"
	wf-decode -m "$M" -n 0 --logits "$T/l.f32" < "$T/ids" > /dev/null
	ref=$(model_ppl -V 1024 "$T/ids" "$T/l.f32")
	got=$(wf-decode -m "$M" --score < "$T/ids" | awk '{ s += $1; n += $2 } END { printf "tokens %d loss %.6f", n, -s / n }')
	[ "$(cut -d' ' -f2 <<<"$ref")" = "$(cut -d' ' -f2 <<<"$got")" ]
	close_to "$(cut -d' ' -f4 <<<"$ref")" "$(cut -d' ' -f4 <<<"$got")" 2e-6
}

@test "--score: same results in any record order, thread count and batch size (prefix reuse)" {
	printf '%s\n' '5 6 7 8 9 10 11' '5 6 7 8 9 12 13 14' '5 6 7' '5 6 7 8 9 10 11 15' > "$T/ids"
	a=$(wf-decode -m "$M" --score -t 1 < "$T/ids")
	b=$(tac "$T/ids" | wf-decode -m "$M" --score -t 2 -b 2 | tac)
	[ "$a" = "$b" ]
	# each record alone
	c=$(while read -r l; do echo "$l" | wf-decode -m "$M" --score; done < "$T/ids")
	[ "$a" = "$c" ]
}

@test "--score: a record longer than the context fails alone, output stays aligned" {
	run -1 --separate-stderr wf-decode -m "$M" --score -c 4 < <(printf 'k\t1 2 3 4 5\n1 2 3 4 5 6\n1 2\n')
	[ "$stderr" = "wf-decode: record 2: record of 6 tokens needs 5 positions, the context holds 4" ]
	[ "$(wf-decode -m "$M" --score -c 4 2>/dev/null < <(printf 'k\t1 2 3 4 5\n1 2 3 4 5 6\n1 2\n') | cut -c1-2 | tr '\n' '|')" = $'k\t|'"|$(echo 1 2 | wf-decode -m "$M" --score | cut -c1-2)|" ]
}

@test "--score, --ppl, --mc: usage errors" {
	run -2 wf-decode -m "$M" --score --logits x.f32
	[ "${lines[0]}" = "wf-decode: --logits: not with --score (they write what generation makes)" ]
	[ ! -e x.f32 ]
	run -2 wf-decode -m "$M" --mc --echo
	[ "${lines[0]}" = "wf-decode: --echo: not with --mc (they write what generation makes)" ]
	run -2 wf-decode -m "$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf" --ppl --ppl-stride 300
	[ "${lines[0]}" = "wf-decode: --ppl-stride: 300 is not below the window of 256 (-c)" ]
	run -2 wf-decode -m "$M" --score --mc
	[ "${lines[0]}" = "wf-decode: --score, --ppl and --mc exclude each other" ]
	run -2 wf-decode -m "$M" --score --ppl-stride 4
	[ "${lines[0]}" = "wf-decode: --ppl-stride goes with --ppl" ]
	run -2 wf-decode -m "$M" --ppl -c 8 --ppl-stride 8
	[ "${lines[0]}" = "wf-decode: --ppl-stride: 8 is not below the window -c 8" ]
	run -2 wf-decode -m "$M" --ppl --ppl-stride 0
	[ "${lines[0]}" = "wf-decode: --ppl-stride: '0' is not an integer in [1, 16777216]" ]
}

# awk over --score lines of the windows: the sum of the values from field
# index FROM (1-based among the values) on.
window_sum() {
	awk -F'\t' -v from="$1" '{ n = split($2, v, " "); for (i = from; i <= n; i++) { s -= v[i]; c++ } }
		END { printf "%d %.5f\n", c, s / c }'
}

@test "--ppl: llama-perplexity chunks (W/2 context, trailing chunk dropped) equal --score of each chunk" {
	seq 1 100 | awk '{ printf "%d ", ($1 * 37 + 11) % 1000 } END { print "" }' | sed 's/ $//' > "$T/ids"
	run -0 wf-decode -m "$M" --ppl -c 16 < "$T/ids"
	read -r ppl n loss err <<<"$output"
	[ "$n" = 42 ]   # 6 chunks of 16, each scoring 16 - 1 - 8 = 7
	# the same chunks by hand: ids 0..15, 16..31, ...; value i scores id i: 9..15;
	# the model adds BOS (wf-tok puts 896 first), so BOS starts every chunk
	[ "$(printf abc | wf-tok -m "$M" | cut -d' ' -f1)" = 896 ]
	tr ' ' '\n' < "$T/ids" | head -96 | paste -d' ' - - - - - - - - - - - - - - - - | sed 's/^[0-9]*/896/' |
		wf-decode -m "$M" --score | window_sum 9 > "$T/ref"
	[ "$(cat "$T/ref")" = "42 $(printf '%.5f' "$loss")" ]
	close_to "$ppl" "$(awk -v l="$loss" 'BEGIN { print exp(l) }')" 1e-3
}

@test "--ppl --ppl-stride: windows every S, each scoring its last S, no BOS put in" {
	seq 1 100 | awk '{ printf "%d ", ($1 * 37 + 11) % 1000 } END { print "" }' | sed 's/ $//' > "$T/ids"
	run -0 wf-decode -m "$M" --ppl -c 20 --ppl-stride 8 < "$T/ids"
	read -r ppl n loss err <<<"$output"
	[ "$n" = 80 ]   # ceil((100 - 20) / 8) = 10 windows of 8
	tr ' ' '\n' < "$T/ids" | awk '{ a[NR - 1] = $1 } END { for (s = 0; s + 20 < 100; s += 8) {
		l = a[s]; for (i = s + 1; i < s + 20; i++) l = l " " a[i]; print l } }' |
		wf-decode -m "$M" --score | window_sum 12 > "$T/ref"
	[ "$(cat "$T/ref")" = "80 $(printf '%.5f' "$loss")" ]
}

@test "--ppl: a record shorter than two windows fails with llama-perplexity's rule" {
	run -1 wf-decode -m "$M" --ppl -c 16 < <(seq 1 31 | tr '\n' ' ' | sed 's/ $/\n/')
	[ "${lines[0]}" = "wf-decode: record 1: perplexity with windows of 16 needs at least 32 tokens, the record has 31" ]
}

@test "tiny-shakespeare held-out perplexity: 85.9 as the model's reference defines it" {
	need_shared models/tiny-shakespeare-bitnet
	case $WF_BUILD in *asan*) skip "39 688 scored tokens take minutes under ASan; run by make check" ;; esac
	d="$SHARED/models/tiny-shakespeare-bitnet"
	# 256-token windows, no BOS, every id after the first predicted once
	run -0 "$WF_ROOT/examples/perplexity.sh" -m "$d/tiny-shakespeare-bitnet-b158-tq2_0.gguf" -c 256 --every "$d/heldout.txt"
	read -r ppl n loss err <<<"$output"
	[ "$n" = 39688 ]
	ref=$(jq .heldout.exact_int8_ternary.ppl "$d/golden.json" 2>/dev/null || echo 85.90905000705322)
	close_to "$ppl" "$ref" 0.01
}

# --- --mc ---------------------------------------------------------------

ids() { printf '%s' "$1" | wf-tok -m "$S" -w; }

@test "--mc: the continuation's tokens are the harness's (tail of the joint encoding) and LL their sum" {
	ctx='First Citizen:
We are' cont=' accounted poor citizens'
	c=$(ids "$ctx") w=$(ids "$ctx$cont")
	nc=$(wc -w <<<"$c") nw=$(wc -w <<<"$w")
	jq -cn --arg c "$ctx" --arg x "$cont" '{id: "r1", context: $c, continuation: $x}' > "$T/in"
	run -0 wf-decode -m "$S" --mc < "$T/in"
	IFS=$'\t' read -r key ll g pred pnorm gold acc accn <<<"$output"
	[ "$key" = r1 ] && [ "$pred $pnorm $gold $accn" = "0 0 - -" ] && [ "$acc" = "$g" ]
	# the model sees ctx ids then the tail of the joint ids
	seq_ids="$c $(cut -d' ' -f$((nc + 1))- <<<"$w")"
	ref=$(echo "$seq_ids" | wf-decode -m "$S" --score | cut -f2 | tr ' ' '\n' | tail -n $((nw - nc)) | awk '{ s += $1 } END { printf "%.6f", s }')
	close_to "$ll" "$ref" 1e-5
}

@test "--mc: trailing whitespace of the context moves to the continuation" {
	a=$(printf '%s\n' '{"context": "To be, or not", "continuation": " to be"}' | wf-decode -m "$S" --mc)
	b=$(printf '%s\n' '{"context": "To be, or not ", "continuation": "to be"}' | wf-decode -m "$S" --mc)
	[ "${a#1?}" = "${b#1?}" ]
}

@test "--mc: choices get the target delimiter; acc and acc_norm as the harness (length in characters)" {
	jq -cn '{id: 7, context: "KING HENRY", choices: [":", "VI", "the fourth", "é"], gold: 2}' > "$T/in"
	jq -cn '{context: "KING HENRY", choices: [":", "VI", "the fourth", "é"], gold: "é", target_delimiter: ""}' >> "$T/in"
	run -0 wf-decode -m "$S" --mc < "$T/in"
	IFS=$'\t' read -r key ll g pred pnorm gold acc accn <<<"${lines[0]}"
	[ "$key" = 7 ] && [ "$gold" = 2 ] && [ "$(wc -w <<<"$ll")" = 4 ] && [ "$(wc -w <<<"$g")" = 4 ]
	# PRED = argmax LL, PRED_NORM = argmax LL / len(choice) with lengths 1 2 10 1
	exp=$(awk -v ll="$ll" 'BEGIN { n = split(ll, v, " "); split("1 2 10 1", len, " ");
		p = 1; q = 1; for (i = 2; i <= n; i++) { if (v[i] > v[p]) p = i; if (v[i] / len[i] > v[q] / len[q]) q = i }
		print p - 1, q - 1, (p - 1 == 2), (q - 1 == 2) }')
	[ "$pred $pnorm $acc $accn" = "$exp" ]
	# each LL equals the continuation request with the delimiter written out
	l3=$(jq -cn '{context: "KING HENRY", continuation: " the fourth"}' | wf-decode -m "$S" --mc | cut -f2)
	[ "$(cut -d' ' -f3 <<<"$ll")" = "$l3" ]
	IFS=$'\t' read -r key ll g pred pnorm gold acc accn <<<"${lines[1]}"
	[ "$key" = 2 ] && [ "$gold" = 3 ]
	l1=$(jq -cn '{context: "KING HENRY", continuation: ":"}' | wf-decode -m "$S" --mc | cut -f2)
	[ "$(cut -d' ' -f1 <<<"$ll")" = "$l1" ]
}

@test "--mc: is_greedy is 1 for the model's own greedy continuation" {
	ctx='ROMEO:'
	cont=$(ids "$ctx" | wf-decode -m "$S" -n 6 | wf-detok -m "$S")
	jq -cn --arg c "$ctx" --arg x "$cont" '{context: $c, choices: [$x, " and the king"], target_delimiter: "", gold: 0}' > "$T/in"
	run -0 wf-decode -m "$S" --mc < "$T/in"
	IFS=$'\t' read -r key ll g pred pnorm gold acc accn <<<"$output"
	[ "$g" = "1 0" ] && [ "$gold" = 0 ]
}

@test "--mc: an empty context becomes BOS" {
	run -0 wf-decode -m "$S" --mc < <(echo '{"context": "", "continuation": "ROMEO:"}')
	ll=$(cut -f2 <<<"$output")
	ref=$(echo "2045 $(ids ROMEO:)" | wf-decode -m "$S" --score | cut -d' ' -f1)
	[ "$ll" = "$ref" ]
}

@test "--mc: records sharing a context give the same results alone and together" {
	for x in ' the' ' king' ' of' ' England'; do jq -cn --arg x "$x" '{context: "KING HENRY:\nWhat say", continuation: $x}'; done > "$T/in"
	a=$(wf-decode -m "$S" --mc -b 3 < "$T/in" | cut -f2-)
	b=$(while read -r l; do echo "$l" | wf-decode -m "$S" --mc | cut -f2-; done < "$T/in")
	[ "$a" = "$b" ]
}

@test "--mc: bad lines are reported, keep their place, and set the exit status" {
	cat > "$T/in" <<-'EOF'
	{"context": "A", "continuation": " b"}
	[1, 2]
	{"id": "x", "continuation": " b"}
	{"id": "y", "context": "A", "continuation": " b", "choices": ["c"]}
	{"id": "z", "context": "A", "choices": ["c", "d"], "gold": 2}
	{"context": "A", "choices": []}
	{"context": "A", "choices": ["c", ""]}
	{"context": 5, "continuation": " b"}
	{"id": "a\tb", "context": "A", "continuation": " b"}
	{"context": "A", "choices": ["c"], "gold": "q"}
	{"context": "A", "continuation": " b"
	EOF
	run -1 --separate-stderr wf-decode -m "$S" --mc < "$T/in"
	lines=("${stderr_lines[@]}")
	[ "${lines[0]}" = "wf-decode: record 2: expected a JSON object, found array" ]
	[ "${lines[1]}" = "wf-decode: record 3: no \"context\"" ]
	[ "${lines[2]}" = "wf-decode: record 4: both \"continuation\" and \"choices\"" ]
	[ "${lines[3]}" = "wf-decode: record 5: \"gold\" must be a choice index in [0, 2) or a choice's text" ]
	[ "${lines[4]}" = "wf-decode: record 6: \"choices\" is empty" ]
	[ "${lines[5]}" = "wf-decode: record 7: choice 1 is empty" ]
	[ "${lines[6]}" = "wf-decode: record 8: \"context\" is number, expected a string" ]
	[ "${lines[7]}" = "wf-decode: record 9: \"id\" must be non-empty and hold no TAB, CR, LF or NUL" ]
	[ "${lines[8]}" = "wf-decode: record 10: \"gold\" \"q\" is not one of the choices" ]
	[[ "${lines[9]}" == "wf-decode: record 11: line 1, column "*": "* ]]
	out=$(wf-decode -m "$S" --mc < "$T/in" 2>/dev/null | cut -f1-2 | tr '\t\n' ':|')
	[[ "$out" =~ ^1:-[0-9.]+\|2:\|x:\|y:\|z:\|6:\|7:\|8:\|9:\|10:\|11:\|$ ]]
	run -1 --separate-stderr wf-decode -m "$S" --mc --strict < "$T/in"
	[ "$output" = $'1\t'"$(head -1 "$T/in" | wf-decode -m "$S" --mc | cut -f2-)"$'\n2\t' ]
	[ "$stderr" = "wf-decode: record 2: expected a JSON object, found array" ]
}
