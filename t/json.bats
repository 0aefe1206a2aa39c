#!/usr/bin/env bats
# lib/json: the strict parser, through t/unit/json_parse.c.
load test_helper

# ok INPUT EXPECTED: parses and prints back as EXPECTED.
ok() {
	run -0 json_parse <<<"$1"
	[ "$output" = "$2" ]
}

# bad INPUT MESSAGE: refused with exactly MESSAGE.
bad() {
	run -1 json_parse < <(printf '%s' "$1")
	[ "$output" = "json_parse: $2" ]
}

@test "accepts values, keeps order and number text" {
	ok '{"a":[1,2.5e3,-0,true,false,null],"b":{},"c":[]}' '{"a":[1,2.5e3,-0,true,false,null],"b":{},"c":[]}'
	ok ' 	
 [ 1 , "x" ] ' '[1,"x"]'
	ok '{"k":1,"k":2}' '{"k":1,"k":2}'
	ok '1e-400' '1e-400'
	ok '1e30' '1e30'
	ok '-0.0E+5' '-0.0E+5'
}

@test "string escapes: all simple ones, \\u, surrogate pairs to UTF-8, \\u0000" {
	ok '"\" \\ \/ \b \f \n \r \t"' '"\" \\ / \b \f \n \r \t"'
	ok '"\u0041\u00e9\u20AC\ud83d\ude00"' '"Aé€😀"'
	ok '"a\u0000b"' '"a\u0000b"'
	ok '"é😀 raw"' '"é😀 raw"'
	run -0 bash -c 'printf "\"\\\\uD834\\\\uDD1E\"" | json_parse | od -An -tx1'
	[ "$(echo $output)" = "22 f0 9d 84 9e 22 0a" ]
}

@test "bad escapes and lone surrogates" {
	bad '"\x"' "line 1, column 2: bad escape '\\x' in string"
	bad '"\u12"' 'line 1, column 2: truncated \u escape'
	bad '"\u12g4"' 'line 1, column 2: bad \u escape: expected 4 hex digits'
	bad '"\ud800"' 'line 1, column 2: lone high surrogate \uD800 (expected a \uDC00-\uDFFF escape after it)'
	bad '"\ud800\u0041"' 'line 1, column 2: lone high surrogate \uD800 (followed by \u0041, not a low surrogate)'
	bad '"ab\udc00"' 'line 1, column 4: lone low surrogate \uDC00'
	bad '"\ud800\n"' 'line 1, column 2: lone high surrogate \uD800 (expected a \uDC00-\uDFFF escape after it)'
}

@test "invalid UTF-8 and raw control characters in strings" {
	bad $'"\xff"' 'line 1, column 2: invalid UTF-8 in string (byte 0xff)'
	bad $'"\xc0\xaf"' 'line 1, column 2: invalid UTF-8 in string (byte 0xc0)'
	bad $'"\xed\xa0\x80"' 'line 1, column 2: invalid UTF-8 in string (byte 0xed)'
	bad $'"\xf4\x90\x80\x80"' 'line 1, column 2: invalid UTF-8 in string (byte 0xf4)'
	bad $'"\xe2\x82"' 'line 1, column 2: invalid UTF-8 in string (byte 0xe2)'
	bad $'"a\tb"' 'line 1, column 3: raw control character 0x09 in string (must be escaped)'
	bad $'{\n  "a":\n "x\ny"}' 'line 3, column 4: raw control character 0x0a in string (must be escaped)'
	bad '"abc' 'line 1, column 1: unterminated string'
}

@test "numbers: grammar and range" {
	bad '01' 'line 1, column 1: bad number: leading zero'
	bad '1.' "line 1, column 1: bad number: expected a digit after '.'"
	bad '.5' "line 1, column 1: unexpected '.', expected a value"
	bad '+1' "line 1, column 1: unexpected '+', expected a value"
	bad '-' "line 1, column 1: bad number: expected a digit after '-'"
	bad '1e' 'line 1, column 1: bad number: expected a digit in the exponent'
	bad '[1e400]' 'line 1, column 2: number out of range: 1e400'
	bad '-1e400' 'line 1, column 1: number out of range: -1e400'
	bad "$(printf '9%.0s' {1..400})" 'line 1, column 1: number out of range: 9999999999999999999999999999999999999999...'
	bad 'NaN' "line 1, column 1: unexpected 'N', expected a value"
	bad 'Infinity' "line 1, column 1: unexpected 'I', expected a value"
}

@test "exact integers from the number text" {
	for pair in 9223372036854775807:9223372036854775807 -9223372036854775808:-9223372036854775808 \
		9223372036854775808:"not an integer" 1.0:1 1e2:100 100e-2:1 1.5:"not an integer" \
		1e-1:"not an integer" 0e99999:0 1e30:"not an integer"; do
		run -0 json_parse -i <<<"${pair%%:*}"
		[ "$output" = "${pair#*:}" ]
	done
}

@test "structure errors: trailing comma, missing colon, bad key, trailing garbage, empty" {
	bad '[1,]' 'line 1, column 4: trailing comma in array'
	bad '{"a":1,}' 'line 1, column 8: trailing comma in object'
	bad '{"a" 1}' "line 1, column 6: expected ':' after object key, found '1'"
	bad '{1:2}' "line 1, column 2: expected a string key in object, found '1'"
	bad '[1 2]' "line 1, column 4: expected ',' or ']' in array, found '2'"
	bad '{"a":1 "b":2}' "line 1, column 8: expected ',' or '}' in object, found '\"'"
	bad '[1' 'line 1, column 1: unterminated array'
	bad '{"a":1' 'line 1, column 1: unterminated object'
	bad '1 2' "line 1, column 3: trailing garbage after the JSON value ('2')"
	bad '{}x' "line 1, column 3: trailing garbage after the JSON value ('x')"
	bad $'{} \x01' "line 1, column 4: trailing garbage after the JSON value (byte 0x01)"
	bad '' 'line 1, column 1: unexpected end of input, expected a value'
	bad '   ' 'line 1, column 4: unexpected end of input, expected a value'
	bad 'tru' "line 1, column 1: invalid literal (expected 'true')"
	bad 'nul' "line 1, column 1: invalid literal (expected 'null')"
	bad $'\xef\xbb\xbf{}' 'line 1, column 1: UTF-8 byte order mark is not allowed'
}

@test "depth bomb: nesting is bounded" {
	run -0 bash -c "printf '%.0s[' {1..128}; printf '%.0s]' {1..128}"
	ok "$output" "$output"
	bomb="$(printf '%.0s[' {1..129})"
	bad "$bomb" 'line 1, column 129: nesting deeper than 128'
	run -1 bash -c "head -c 10000000 /dev/zero | tr '\\0' '[' | json_parse"
	[ "$output" = "json_parse: line 1, column 129: nesting deeper than 128" ]
	run -1 bash -c "printf '%.0s{\"a\":' {1..6} | json_parse -d 5"
	[ "$output" = "json_parse: line 1, column 26: nesting deeper than 5" ]
}

@test "a 9 MB tokenizer.json parses" {
	need_shared fixtures/tokenizers
	run -0 bash -c "json_parse '$SHARED/fixtures/tokenizers/llama3-tokenizer.json' | wc -c"
	[ "$output" -gt 6000000 ]
}
