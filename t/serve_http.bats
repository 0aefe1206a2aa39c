#!/usr/bin/env bats
# lib/http: the request parser, fed byte by byte through t/unit/http_parse.c.
load test_helper

# ok REQUEST EXPECTED [ARGS...]
ok() {
	local req=$1 want=$2
	shift 2
	run -0 http_parse "$@" < <(printf "$req")
	[ "$output" = "$want" ]
}

# bad REQUEST EXPECTED [ARGS...]
bad() {
	local req=$1 want=$2
	shift 2
	run -1 http_parse "$@" < <(printf "$req")
	[ "$output" = "$want" ]
}

@test "request line, fields, body length, path without the query" {
	ok 'POST /v1/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n{"prompt":1}' \
		'ok POST /v1/completions?x=1 path=/v1/completions 1.1 head=66 length=12 keep-alive=1 expect=0 fields=2'
	ok 'GET / HTTP/1.0\r\n\r\n' 'ok GET / path=/ 1.0 head=18 length=0 keep-alive=0 expect=0 fields=0'
	ok 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n' \
		'ok GET / path=/ 1.0 head=42 length=0 keep-alive=1 expect=0 fields=1'
	ok 'GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n' \
		'ok GET / path=/ 1.1 head=42 length=0 keep-alive=0 expect=0 fields=1'
	ok 'POST /x HTTP/1.1\r\nexpect: 100-Continue\r\ncontent-length: 5\r\n\r\n' \
		'ok POST /x path=/x 1.1 head=61 length=5 keep-alive=1 expect=1 fields=2'
	# absolute-form: the path and query after the authority
	ok 'GET http://127.0.0.1:8080/health?x HTTP/1.1\r\n\r\n' \
		'ok GET /health?x path=/health 1.1 head=47 length=0 keep-alive=1 expect=0 fields=0'
	ok 'GET HTTPS://h/ HTTP/1.1\r\n\r\n' 'ok GET / path=/ 1.1 head=27 length=0 keep-alive=1 expect=0 fields=0'
	bad 'GET http://h HTTP/1.1\r\n\r\n' 'refused 400: line 1: absolute-form target without a path'
}

@test "field values: white space trimmed, bytes kept; bare LF accepted" {
	ok 'GET / HTTP/1.1\r\nX-A:   v a l  \t\r\nX-B:\r\n\r\n' 'ok GET / path=/ 1.1 head=41 length=0 keep-alive=1 expect=0 fields=2
X-A: v a l
X-B: ' -f
	ok 'GET /a HTTP/1.1\nHost: x\n\n' 'ok GET /a path=/a 1.1 head=25 length=0 keep-alive=1 expect=0 fields=1'
	ok 'GET /a HTTP/1.1\r\nHost: x\r\n' 'more'
	ok '' 'more'
}

@test "malformed requests: 400 with the line and the reason" {
	bad 'GET\r\n\r\n' 'refused 400: line 1: no request target'
	bad ' / HTTP/1.1\r\n\r\n' 'refused 400: line 1: method of 0 bytes (1 to 15 allowed)'
	bad 'G(T / HTTP/1.1\r\n\r\n' 'refused 400: line 1: the method is not a token'
	bad 'GET /\001 HTTP/1.1\r\n\r\n' 'refused 400: line 1: byte 0x01 in the request target'
	bad 'GET / HTTP/1.1 \r\n\r\n' 'refused 400: line 1: bad HTTP version'
	bad 'GET / HTTP/1.1\rX\r\n\r\n' 'refused 400: line 1: bare CR'
	bad 'GET / HTTP/1.1\r\n folded\r\n\r\n' 'refused 400: line 2: folded header line'
	bad 'GET / HTTP/1.1\r\nNo colon\r\n\r\n' 'refused 400: line 2: the field name is not a token'
	bad 'GET / HTTP/1.1\r\n: v\r\n\r\n' 'refused 400: line 2: empty field name'
	bad 'GET / HTTP/1.1\r\nA : v\r\n\r\n' 'refused 400: line 2: the field name is not a token'
	bad 'GET / HTTP/1.1\r\nA: v\001\r\n\r\n' 'refused 400: line 2: control byte 0x01 in a field value'
	bad 'GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n' 'refused 400: line 2: bad Content-Length'
	bad 'GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n' 'refused 400: line 2: bad Content-Length'
	bad 'GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n' 'refused 400: line 3: conflicting Content-Length'
	bad 'GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n' 'refused 400: line 2: bad Content-Length'
}

@test "refusals by status: 413, 414, 431, 501, 505" {
	bad 'POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n' 'refused 413: body of 1048577 bytes exceeds 1048576'
	bad 'POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n' 'refused 413: body of 11 bytes exceeds 10' -B 10
	bad 'GET /0123456789 HTTP/1.1\r\n\r\n' 'refused 414: request target of 11 bytes exceeds 10' -T 10
	bad 'GET /0123456789012345678901234567890123456789' 'refused 414: request target exceeds 10 bytes' -T 10 -H 32
	bad 'GET / HTTP/1.1\r\nA: 0123456789012345678901234567890123456789\r\n\r\n' 'refused 431: request head exceeds 32 bytes' -H 32
	bad "GET / HTTP/1.1\r\n$(for i in $(seq 65); do printf 'A: b\\r\\n'; done)\r\n" 'refused 431: more than 64 header fields'
	bad 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' 'refused 501: Transfer-Encoding is not supported (send Content-Length)'
	bad 'GET / HTTP/2.0\r\n\r\n' 'refused 505: HTTP/2.0 is not supported'
}
