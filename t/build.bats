#!/usr/bin/env bats
# make install: every program and man page lands under DESTDIR/PREFIX.

load test_helper

@test "make install puts programs and man pages under DESTDIR/PREFIX" {
	run -0 make -s -C "$WF_ROOT" O="$WF_BUILD" DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/opt/wf install
	d="$BATS_TEST_TMPDIR/root/opt/wf"
	for f in "$WF_ROOT"/bin/wf-*.c; do
		n=$(basename "$f" .c)
		[ -x "$d/bin/$n" ] || { echo "missing bin/$n"; false; }
		[ -f "$d/share/man/man1/$n.1" ] || { echo "missing man1/$n.1"; false; }
	done
	[ -f "$d/share/man/man5/wf-tokens.5" ]
	[ -f "$d/share/man/man7/wf.7" ]
	run -0 "$d/bin/wf-info" --help
	[ "$output" = "usage: wf-info [-a] [-j|--json] [FILE|IMAGE ...]" ]
}
