#!/usr/bin/env bats
# wf-shm and lib/image: building, listing, showing and removing model images
# in POSIX shared memory; attaching them (image_open, image_hold use
# wf_model_open as every program does); refusals; model resolution.
# Every test uses image names starting with its own prefix $P and its
# teardown removes them, whatever happened.

load test_helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	P="wft$$-$BATS_TEST_NUMBER"
	image_mkgguf m.gguf
	MSIZE=$(stat -c %s m.gguf)
	MPATH=$(realpath m.gguf)
	PIDS=()
	SAVED_DEFAULT=$(wf-shm default 2>/dev/null || true)
}

teardown() {
	local p f
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	for f in /dev/shm/wf."$P"* /dev/shm/wf._"$P"*; do
		[ -e "$f" ] && rm -f "$f"
	done
	if [ -n "$SAVED_DEFAULT" ]; then
		wf-shm default "$SAVED_DEFAULT" 2>/dev/null || true
	elif [ "$(wf-shm default 2>/dev/null)" != "" ]; then
		case "$(wf-shm default)" in "$P"*) wf-shm default --clear ;; esac
	fi
}

# The ls line for one image.
row() { printf '%c %-20s %12s %-10s %s' "$1" "$2" "$3" "$4" "$5"; }
HEAD="$(printf '  %-20s %12s %-10s %s' NAME SIZE STATE SOURCE)"

# Wait (bounded) until file $1 contains $2.
wait_for() {
	local i
	for i in $(seq 1000); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.01
	done
	echo "gave up waiting for '$2' in $1" >&2
	return 1
}

@test "load: prints the name; ls and info show a ready image" {
	run -0 wf-shm load m.gguf --name "$P"
	[ "$output" = "$P" ]
	[ -e "/dev/shm/wf.$P" ]
	run -0 wf-shm ls "$P"
	[ "${lines[0]}" = "$HEAD" ]
	[ "${lines[1]}" = "$(row ' ' "$P" $((MSIZE + 4096)) ready "$MPATH")" ]
	[ "${#lines[@]}" -eq 2 ]
	# the full listing has it too
	run -0 wf-shm ls
	[ "${lines[0]}" = "$HEAD" ]
	printf '%s\n' "${lines[@]}" | grep -qxF -- "$(row ' ' "$P" $((MSIZE + 4096)) ready "$MPATH")"
	run -0 wf-shm info "$P"
	[ "${lines[0]}" = "name:           $P" ]
	[ "${lines[1]}" = "object:         /wf.$P (/dev/shm/wf.$P)" ]
	[ "${lines[2]}" = "state:          ready" ]
	[ "${lines[3]}" = "default:        no" ]
	[ "${lines[5]}" = "mode:           0600" ]
	[ "${lines[6]}" = "size:           $((MSIZE + 4096)) bytes" ]
	[ "${lines[8]}" = "ready flag:     set" ]
	[ "${lines[9]}" = "total size:     $((MSIZE + 4096)) bytes" ]
	[ "${lines[10]}" = "payload:        gguf, offset 4096, $MSIZE bytes" ]
	[ "${lines[11]}" = "source:         $MPATH" ]
	[ "${lines[12]}" = "source device:  $(stat -c %d m.gguf)" ]
	[ "${lines[13]}" = "source inode:   $(stat -c %i m.gguf)" ]
	[ "${lines[14]}" = "source size:    $MSIZE bytes" ]
	# the payload is the file, byte for byte, at offset 4096
	cmp <(tail -c +4097 "/dev/shm/wf.$P") m.gguf
}

@test "load: the default name is the basename without .gguf, other bytes made '_'" {
	cp m.gguf "$P my:model.GGUF"
	run -0 wf-shm load "$P my:model.GGUF"
	[ "$output" = "${P}_my_model" ]
	cp m.gguf ".$P.gguf"
	run -0 wf-shm load "./.$P.gguf"
	[ "$output" = "_$P" ]
	run -0 wf-shm ls "${P}_my_model" "_$P"
	[ "${#lines[@]}" -eq 3 ]
}

@test "load: O_EXCL, the same name twice is an error and the first image survives" {
	run -0 wf-shm load m.gguf --name "$P"
	run -1 wf-shm load m.gguf --name "$P"
	[ "$output" = "wf-shm: image '$P' already exists (remove it with 'wf-shm rm $P', or choose another --name)" ]
	run -0 image_open "$P"
	[ "$output" = "name=$P kind=image image=$P size=$MSIZE tensors=1" ]
}

@test "load: mode 0600 by default, --mode sets it exactly (umask aside)" {
	run -0 wf-shm load m.gguf --name "$P"
	run -0 stat -c %a "/dev/shm/wf.$P"
	[ "$output" = "600" ]
	run -0 sh -c "umask 077; wf-shm load --mode 0644 --name $P-b m.gguf"
	run -0 stat -c %a "/dev/shm/wf.$P-b"
	[ "$output" = "644" ]
	run -0 wf-shm load --mode 440 --name "$P-c" m.gguf
	run -0 stat -c %a "/dev/shm/wf.$P-c"
	[ "$output" = "440" ]
	run -0 wf-shm info "$P-c"
	[ "${lines[5]}" = "mode:           0440" ]
	for bad in 8 01000 -1 '' 0x1 7a; do
		run -2 wf-shm load --mode "$bad" --name "$P-d" m.gguf
		[ "${lines[0]}" = "wf-shm: --mode '$bad': expected an octal mode from 0 to 0777" ]
	done
	[ ! -e "/dev/shm/wf.$P-d" ]
}

@test "names: invalid ones are usage errors" {
	run -2 wf-shm load --name "a/b" m.gguf
	[ "${lines[0]}" = "wf-shm: invalid image name 'a/b': '/' is not allowed (use A-Z a-z 0-9 . _ -)" ]
	run -2 wf-shm load --name "" m.gguf
	[ "${lines[0]}" = "wf-shm: invalid image name '': empty" ]
	run -2 wf-shm load --name ".x" m.gguf
	[ "${lines[0]}" = "wf-shm: invalid image name '.x': must start with a letter, digit or '_'" ]
	run -2 wf-shm load --name "$(printf 'a%.0s' $(seq 65))" m.gguf
	[ "${lines[0]}" = "wf-shm: invalid image name 'aaaaaaaaaaaaaaaa...': longer than 64 bytes" ]
	run -0 wf-shm load --name "$P$(printf 'a%.0s' $(seq $((64 - ${#P}))))" m.gguf
	run -2 wf-shm info "x y"
	[ "${lines[0]}" = "wf-shm: invalid image name 'x y': ' ' is not allowed (use A-Z a-z 0-9 . _ -)" ]
	run -2 wf-shm rm "../x"
}

@test "load: a bad or missing model file builds nothing" {
	printf 'GGUF\003\000\000\000' > bad.gguf
	run -1 wf-info bad.gguf
	msg="${lines[0]#wf-info: }"
	run -1 wf-shm load --name "$P" bad.gguf
	[ "$output" = "wf-shm: $msg" ]
	run -1 wf-shm load --name "$P" nope.gguf
	[ "$output" = "wf-shm: nope.gguf: No such file or directory" ]
	run -1 wf-shm load --name "$P" .
	[ "$output" = "wf-shm: .: not a regular file" ]
	mkfifo fifo
	run -1 timeout 20 wf-shm load --name "$P" fifo
	[ "$output" = "wf-shm: fifo: not a regular file" ]
	[ ! -e "/dev/shm/wf.$P" ]
}

@test "load: space that cannot be reserved is an error at load time, nothing left" {
	# RLIMIT_FSIZE makes posix_fallocate fail with EFBIG as a full /dev/shm does with ENOSPC
	run -1 sh -c "ulimit -f 64; exec wf-shm load --name $P m.gguf"
	[ "$output" = "wf-shm: image '$P': cannot reserve $((MSIZE + 4096)) bytes in shared memory: File too large" ]
	[ ! -e "/dev/shm/wf.$P" ]
}

@test "load: a name that cannot be written leaves no image; a reader that has gone does not stop the load" {
	run -1 sh -c "exec wf-shm load --name $P m.gguf >/dev/full"
	[ "$output" = "wf-shm: write error on standard output: No space left on device; image '$P' removed" ]
	[ ! -e "/dev/shm/wf.$P" ]
	# the reader closes its end before the name is written: EPIPE, quietly
	run -0 bash -c "set -o pipefail; wf-shm load --name $P m.gguf | exec 0<&-"
	[ "$output" = "" ]
	run -0 wf-shm info "$P"
	[ "${lines[2]}" = "state:          ready" ]
}

@test "an image names the weight type its file had (wf.repacked_from), as wf-bench shows it" {
	E="$WF_ROOT/examples/models/tiny-shakespeare-i2_s.gguf"
	wf-shm load --name "$P" "$E"
	run -0 wf-info "$P"
	[[ "$output" == *"wf.repacked_from                               UINT32           36"* ]]
	a=$(wf-bench -m "$E" -p 4 -n 0 -r 1 -t 1 | tail -n 1 | cut -d'|' -f2)
	b=$(wf-bench -m "$P" -p 4 -n 0 -r 1 -t 1 | tail -n 1 | cut -d'|' -f2)
	[ "$a" = " bitnet-b1.58 4L I2_S " ]
	[ "$b" = "$a" ]
}

@test "rm: removes images; a missing one is an error, the rest still go" {
	wf-shm load m.gguf --name "$P-a"
	wf-shm load m.gguf --name "$P-b"
	run -1 wf-shm rm "$P-a" "$P-none" "$P-b"
	[ "$output" = "wf-shm: no image '$P-none'" ]
	[ ! -e "/dev/shm/wf.$P-a" ]
	[ ! -e "/dev/shm/wf.$P-b" ]
	run -1 wf-shm info "$P-a"
	[ "$output" = "wf-shm: no image '$P-a'" ]
	run -1 image_open "shm:$P-a"
	[ "$output" = "image_open: no image '$P-a'" ]
	run -1 wf-shm rm --stale "$P-none"
	[ "$output" = "wf-shm: no image '$P-none'" ]
}

@test "usage errors exit 2, --help exits 0" {
	run -2 wf-shm
	[ "${lines[0]}" = "wf-shm: no command" ]
	[ "${lines[1]}" = "usage: wf-shm load [--name NAME] [--mode OCTAL] [--default] [--raw] MODEL.gguf" ]
	run -2 wf-shm frob
	[ "${lines[0]}" = "wf-shm: unknown command 'frob'" ]
	run -2 wf-shm load
	[ "${lines[0]}" = "wf-shm: load: no model file" ]
	run -2 wf-shm load a.gguf b.gguf
	[ "${lines[0]}" = "wf-shm: load takes one model file" ]
	run -2 wf-shm load --bogus m.gguf
	[ "${lines[0]}" = "wf-shm load: unrecognized option '--bogus'" ]
	run -2 wf-shm rm
	[ "${lines[0]}" = "wf-shm: rm: no image name (or --stale)" ]
	run -2 wf-shm info
	[ "${lines[0]}" = "wf-shm: info: no image name" ]
	run -0 wf-shm --help
	[ "${lines[0]}" = "usage: wf-shm load [--name NAME] [--mode OCTAL] [--default] [--raw] MODEL.gguf" ]
	run -0 wf-shm load --help
	[ ! -e "/dev/shm/wf.$P" ]
}

@test "resolution: a file maps the file until an image of it exists, then the image" {
	run -0 image_open m.gguf
	[ "$output" = "name=m.gguf kind=file image=- size=$MSIZE tensors=1" ]
	wf-shm load m.gguf --name "$P"
	run -0 image_open m.gguf
	[ "$output" = "name=m.gguf kind=image image=$P size=$MSIZE tensors=1" ]
	run -0 image_open "$MPATH"
	[ "$output" = "name=$MPATH kind=image image=$P size=$MSIZE tensors=1" ]
	run -0 image_open "$P"
	[ "$output" = "name=$P kind=image image=$P size=$MSIZE tensors=1" ]
	run -0 image_open "shm:$P"
	[ "$output" = "name=$P kind=image image=$P size=$MSIZE tensors=1" ]
	# a copy is another file (other inode): no image of it
	cp m.gguf copy.gguf
	run -0 image_open copy.gguf
	[ "$output" = "name=copy.gguf kind=file image=- size=$MSIZE tensors=1" ]
	# an existing file wins over an image of the same name
	cp m.gguf "$P"
	run -0 image_open "$P"
	[ "$output" = "name=$P kind=file image=- size=$MSIZE tensors=1" ]
	run -1 image_open "$P-none"
	[ "$output" = "image_open: $P-none: no such file or image" ]
	run -1 image_open "dir/$P"
	[ "$output" = "image_open: dir/$P: No such file or directory" ]
	run -1 image_open .
	[ "$output" = "image_open: .: not a regular file" ]
}

@test "resolution: -m, then WF_MODEL, then the default image; else how to name one" {
	wf-shm default --clear
	run -1 image_open
	[ "$output" = "image_open: no model: use -m FILE|IMAGE, set WF_MODEL, or mark a default image with 'wf-shm load --default FILE'" ]
	WF_MODEL=m.gguf run -0 image_open
	[ "$output" = "name=m.gguf kind=file image=- size=$MSIZE tensors=1" ]
	WF_MODEL= run -1 image_open
	[ "$output" = "image_open: no model: use -m FILE|IMAGE, set WF_MODEL, or mark a default image with 'wf-shm load --default FILE'" ]
	WF_MODEL="$P-none" run -1 image_open
	[ "$output" = "image_open: WF_MODEL: $P-none: no such file or image" ]
	run -0 wf-shm load --default --name "$P" m.gguf
	run -0 wf-shm default
	[ "$output" = "$P" ]
	run -0 wf-shm ls "$P"
	[ "${lines[1]}" = "$(row '*' "$P" $((MSIZE + 4096)) ready "$MPATH")" ]
	run -0 wf-shm info "$P"
	[ "${lines[3]}" = "default:        yes" ]
	run -0 image_open
	[ "$output" = "name=$P kind=image image=$P size=$MSIZE tensors=1" ]
	# WF_MODEL overrides the default, -m overrides WF_MODEL
	cp m.gguf other.gguf
	WF_MODEL=other.gguf run -0 image_open
	[ "$output" = "name=other.gguf kind=file image=- size=$MSIZE tensors=1" ]
	WF_MODEL=other.gguf run -0 image_open "shm:$P"
	[ "$output" = "name=$P kind=image image=$P size=$MSIZE tensors=1" ]
	WF_MODEL="shm:$P" run -0 image_open
	[ "$output" = "name=$P kind=image image=$P size=$MSIZE tensors=1" ]
	# `wf-shm default NAME` moves the mark
	wf-shm load --name "$P-b" other.gguf
	run -0 wf-shm default "$P-b"
	run -0 image_open
	[ "$output" = "name=$P-b kind=image image=$P-b size=$MSIZE tensors=1" ]
	run -1 wf-shm default "$P-none"
	[ "$output" = "wf-shm: no image '$P-none'" ]
	# a default whose image vanished says so
	rm -f "/dev/shm/wf.$P-b"
	run -1 image_open
	[ "$output" = "image_open: default image '$P-b' does not exist (mark another with 'wf-shm load --default FILE')" ]
	# removing the default image with wf-shm removes the mark
	wf-shm default "$P"
	run -0 wf-shm rm "$P"
	run -1 wf-shm default
	[ "$output" = "wf-shm: no default image" ]
	run -1 image_open
	[ "$output" = "image_open: no model: use -m FILE|IMAGE, set WF_MODEL, or mark a default image with 'wf-shm load --default FILE'" ]
}

@test "two processes attached to one image share its pages (Pss about half of Rss)" {
	[ -r /proc/self/smaps ] || skip "no /proc/self/smaps"
	image_mkgguf big.gguf 4194304
	wf-shm load big.gguf --name "$P"
	image_hold "$P" > a.out & PIDS+=($!)
	image_hold big.gguf > b.out & PIDS+=($!)
	wait_for a.out "attached image"
	wait_for b.out "attached image"
	kill -USR1 "${PIDS[0]}" "${PIDS[1]}"
	wait_for a.out "rss="
	wait_for b.out "rss="
	kill -USR1 "${PIDS[0]}" "${PIDS[1]}"
	wait "${PIDS[0]}"
	wait "${PIDS[1]}"
	for f in a.out b.out; do
		line=$(sed -n 2p $f)
		rss=${line#rss=}; rss=${rss% pss=*}
		pss=${line#*pss=}
		echo "$f: rss=$rss pss=$pss" >&2
		# the whole 4 MiB image is resident, and its cost is split in two
		[ "$rss" -ge 4096 ]
		[ $((pss * 2)) -le $((rss + rss / 10)) ]
		[ $((pss * 2)) -ge $((rss - rss / 10)) ]
	done
	# alone, a holder pays for all of it
	image_hold "$P" > c.out & PIDS+=($!)
	wait_for c.out "attached image"
	kill -USR1 "${PIDS[2]}"
	wait_for c.out "rss="
	kill -USR1 "${PIDS[2]}"
	wait "${PIDS[2]}"
	line=$(sed -n 2p c.out)
	rss=${line#rss=}; rss=${rss% pss=*}
	pss=${line#*pss=}
	[ $((pss * 10)) -ge $((rss * 9)) ]
}

@test "a loader killed before publishing leaves nothing that attaches; stale; rm --stale" {
	wf-shm load m.gguf --name "$P-ok"
	WF_SHM_TEST_STALL=1 wf-shm load m.gguf --name "$P" 2> stall.log & PIDS+=($!)
	pid=${PIDS[0]}
	wait_for stall.log "WF_SHM_TEST_STALL"
	[ "$(cat stall.log)" = "wf-shm: WF_SHM_TEST_STALL: image '$P' filled, not published; waiting" ]
	run -0 wf-shm ls "$P"
	[ "${lines[1]}" = "$(row ' ' "$P" $((MSIZE + 4096)) building "$MPATH")" ]
	run -1 image_open "$P"
	[ "$output" = "image_open: image '$P' is not ready: its loader (pid $pid) is still building it" ]
	# a lookup by path skips it
	run -0 image_open m.gguf
	[ "$output" = "name=m.gguf kind=image image=$P-ok size=$MSIZE tensors=1" ]
	kill -9 "$pid"
	wait "$pid" || true
	run -1 image_open "$P"
	[ "$output" = "image_open: image '$P' is not ready: its loader (pid $pid) died before finishing (remove it with 'wf-shm rm --stale')" ]
	run -0 wf-shm ls "$P" "$P-ok"
	[ "${lines[1]}" = "$(row ' ' "$P" $((MSIZE + 4096)) stale "$MPATH")" ]
	[ "${lines[2]}" = "$(row ' ' "$P-ok" $((MSIZE + 4096)) ready "$MPATH")" ]
	run -0 wf-shm info "$P"
	[ "${lines[2]}" = "state:          stale" ]
	[ "${lines[3]}" = "reason:         its loader (pid $pid) died before finishing (remove it with 'wf-shm rm --stale')" ]
	[ "${lines[9]}" = "ready flag:     not set" ]
	run -0 wf-shm rm --stale "$P" "$P-ok"
	[ "$output" = "$P" ]
	[ ! -e "/dev/shm/wf.$P" ]
	[ -e "/dev/shm/wf.$P-ok" ]
}

@test "a loader stopped by SIGTERM before publishing removes its image" {
	WF_SHM_TEST_STALL=1 wf-shm load m.gguf --name "$P" 2> stall.log & PIDS+=($!)
	wait_for stall.log "WF_SHM_TEST_STALL"
	kill -TERM "${PIDS[0]}"
	rc=0
	wait "${PIDS[0]}" || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(sed -n 2p stall.log)" = "wf-shm: interrupted; image '$P' removed" ]
	[ ! -e "/dev/shm/wf.$P" ]
}

@test "a loader whose image was removed meanwhile: an interrupt leaves the new image of that name alone; publishing fails" {
	WF_SHM_TEST_STALL=1 wf-shm load m.gguf --name "$P" 2> stall.log & PIDS+=($!)
	wait_for stall.log "WF_SHM_TEST_STALL"
	wf-shm rm "$P"
	wf-shm load m.gguf --name "$P"
	kill -TERM "${PIDS[0]}"
	rc=0
	wait "${PIDS[0]}" || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(sed -n 2p stall.log)" = "wf-shm: interrupted; image '$P' already removed (or made again by another loader): left alone" ]
	run -0 image_open "$P"
	# removed while built, then told to go on: no success reported
	WF_SHM_TEST_STALL=1 wf-shm load m.gguf --name "$P-b" 2> stall2.log & PIDS+=($!)
	wait_for stall2.log "WF_SHM_TEST_STALL"
	wf-shm rm "$P-b"
	kill -USR1 "${PIDS[1]}"
	rc=0
	wait "${PIDS[1]}" || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(sed -n 2p stall2.log)" = "wf-shm: image '$P-b': removed while it was being built" ]
	[ ! -e "/dev/shm/wf.$P-b" ]
}

@test "stale when the source file changes or goes; still attaches by name" {
	wf-shm load m.gguf --name "$P"
	touch -d '2001-02-03 04:05:06' m.gguf
	run -0 wf-shm ls "$P"
	[ "${lines[1]}" = "$(row ' ' "$P" $((MSIZE + 4096)) stale "$MPATH")" ]
	run -0 wf-shm info "$P"
	[ "${lines[3]}" = "reason:         source file changed (mtime)" ]
	# the file no longer matches the image: it is mapped itself
	run -0 image_open m.gguf
	[ "$output" = "name=m.gguf kind=file image=- size=$MSIZE tensors=1" ]
	run -0 image_open "$P"
	[ "$output" = "name=$P kind=image image=$P size=$MSIZE tensors=1" ]
	# rewritten in place: same inode, other size and mtime
	image_mkgguf m.gguf 200000
	run -0 wf-shm info "$P"
	[ "${lines[3]}" = "reason:         source file changed (size, mtime)" ]
	# replaced: another inode
	image_mkgguf n.gguf
	mv n.gguf m.gguf
	run -0 wf-shm info "$P"
	[ "${lines[3]}" = "reason:         source file changed (inode, mtime)" ]
	rm m.gguf
	run -0 wf-shm info "$P"
	[ "${lines[3]}" = "reason:         source file is gone" ]
	run -0 wf-shm rm --stale "$P"
	[ "$output" = "$P" ]
	[ ! -e "/dev/shm/wf.$P" ]
}

@test "an image owned by another user is refused" {
	[ "$(id -u)" = 0 ] || skip "needs root to chown the image"
	nobody=$(id -u nobody) || skip "no user nobody"
	wf-shm load m.gguf --name "$P"
	chown nobody "/dev/shm/wf.$P"
	run -1 image_open "$P"
	[ "$output" = "image_open: image '$P' belongs to nobody (uid $nobody), not to root (uid 0)" ]
	# a lookup by path skips it and maps the file
	run -0 image_open m.gguf
	[ "$output" = "name=m.gguf kind=file image=- size=$MSIZE tensors=1" ]
	# rm --stale leaves other users' images alone
	run -0 wf-shm rm --stale "$P"
	[ "$output" = "" ]
	[ -e "/dev/shm/wf.$P" ]
}

@test "an image whose size disagrees with its header is refused" {
	wf-shm load m.gguf --name "$P"
	truncate -s 8192 "/dev/shm/wf.$P"
	run -1 image_open "$P"
	[ "$output" = "image_open: image '$P': size 8192 bytes disagrees with its header ($((MSIZE + 4096)) bytes)" ]
	run -0 wf-shm ls "$P"
	[ "${lines[1]}" = "$(row ' ' "$P" 8192 damaged "$MPATH")" ]
	run -0 wf-shm info "$P"
	[ "${lines[3]}" = "reason:         size 8192 bytes disagrees with its header ($((MSIZE + 4096)) bytes)" ]
	run -0 image_open m.gguf
	[ "$output" = "name=m.gguf kind=file image=- size=$MSIZE tensors=1" ]
	truncate -s 100 "/dev/shm/wf.$P"
	run -1 image_open "$P"
	[ "$output" = "image_open: image '$P': size 100 bytes is too small for a header" ]
	run -0 wf-shm ls "$P"
	[ "${lines[1]}" = "$(row ' ' "$P" 100 damaged -)" ]
	run -0 wf-shm rm --stale "$P"
	[ "$output" = "$P" ]
}

@test "bad magic and an unknown format version are refused" {
	head -c 8192 /dev/zero > "/dev/shm/wf.$P"
	run -1 image_open "$P"
	[ "$output" = "image_open: image '$P': bad magic (not a wf image)" ]
	run -0 wf-shm info "$P"
	[ "${lines[2]}" = "state:          damaged" ]
	[ "${lines[3]}" = "reason:         bad magic (not a wf image)" ]
	wf-shm load m.gguf --name "$P-v"
	printf '\007' | dd of="/dev/shm/wf.$P-v" bs=1 seek=8 conv=notrunc status=none
	run -1 image_open "$P-v"
	[ "$output" = "image_open: image '$P-v': format version 7, expected 2 (made by another version of wf: remove it with 'wf-shm rm $P-v' and load the model again)" ]
	run -0 wf-shm info "$P-v"
	[ "${lines[2]}" = "state:          damaged" ]
	run -0 wf-shm rm --stale "$P-v"
	[ "$output" = "$P-v" ]
}

@test "the peers' I2_S fixture loads (--raw: unchanged) and attaches" {
	need_shared fixtures/peers
	f="$SHARED/fixtures/peers/tiny-b158-i2_s.gguf"
	run -0 wf-shm load --raw --name "$P" "$f"
	run -0 image_open "$P"
	[ "$output" = "name=$P kind=image image=$P size=$(stat -c %s "$f") tensors=$(wf-info "$f" | sed -n 's/.*keys, \([0-9]*\) tensors$/\1/p')" ]
	cmp <(tail -c +4097 "/dev/shm/wf.$P") "$f"
}

@test "a payload written through wf_image_sink is published only when complete and valid" {
	run -0 image_sink "$P" ok
	size=${output##* }
	[ "$output" = "published $P $size" ]
	run -0 image_open "$P"
	[ "$output" = "name=$P kind=image image=$P size=$size tensors=1" ]
	run -0 wf-shm ls "$P"
	[ "${lines[1]}" = "$(row ' ' "$P" $((size + 4096)) ready -)" ]
	run -0 wf-shm info "$P"
	[ "${lines[10]}" = "payload:        repacked gguf, offset 4096, $size bytes" ]
	run -1 image_sink "$P-s" short
	[ "$output" = "image_sink: image '$P-s': payload incomplete (640 of $size bytes written)" ]
	[ ! -e "/dev/shm/wf.$P-s" ]
	head -c "$size" /dev/zero | tr '\0' x > g.gguf
	run -1 wf-info g.gguf
	msg=${output#wf-info: g.gguf: }
	run -1 image_sink "$P-g" garbage
	[ "$output" = "image_sink: image '$P-g': payload is not a valid GGUF: $msg" ]
	[ ! -e "/dev/shm/wf.$P-g" ]
}

@test "load: progress on a terminal for a big file" {
	command -v script > /dev/null || skip "no script(1) to give wf-shm a terminal"
	image_mkgguf big.gguf 70000000
	run -0 script -qec "wf-shm load --name $P big.gguf" /dev/null
	[[ "$output" == *$'\r'"wf-shm: loading '$P': 100%"* ]]
	run -0 image_open "$P"
	# without a terminal, only the name
	run -0 wf-shm load --name "$P-b" big.gguf
	[ "$output" = "$P-b" ]
}
