#!/usr/bin/env bats
# Every program has an mdoc man page, and every page is clean under groff.

load test_helper

@test "every man page is clean under groff -mdoc -ww -z" {
	command -v groff >/dev/null || skip "groff is not installed"
	for f in "$WF_ROOT"/man/*.[157]; do
		run -0 groff -mdoc -ww -z "$f"
		[ "$output" = "" ] || { echo "$f: $output"; false; }
	done
}

@test "every program in bin/ has a man page" {
	for f in "$WF_ROOT"/bin/wf-*.c; do
		n=$(basename "$f" .c)
		[ -f "$WF_ROOT/man/$n.1" ] || { echo "no man/$n.1"; false; }
	done
}
