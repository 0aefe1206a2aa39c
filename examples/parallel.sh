#!/bin/sh
# examples/parallel.sh — batch generation scaled out with GNU parallel.
#
#   examples/parallel.sh [-m MODEL] [-n N] [-j JOBS] [-N RECORDS] [-t THREADS]
#                        [-S SSHLOGINS] [PROMPTS.tsv]
#
# Cuts the keyed prompts (KEY<TAB>PROMPT, default examples/data/prompts.tsv)
# into blocks of RECORDS lines (parallel --pipe -N), runs
# wf-tok | wf-decode | wf-detok -e on each block in JOBS jobs per machine
# (each with THREADS threads, default 1), and writes KEY<TAB>ANSWER in input
# order (--keep-order).  Locally by default; with -S (parallel --sshlogin,
# e.g. -S 8/node1,8/node2 or -S ..) on those machines, the blocks travelling
# over ssh.
#
# The model goes into shared memory once per machine before the jobs start
# (wf-shm load; parallel --nonall runs it once on every -S machine), every
# job attaches that image, and it is removed at the end.  MODEL must be at
# the same path on every machine, and the wf programs on their PATH.
# MODEL may also be an image already loaded (shm:NAME, or the NAME of an
# image when no such file exists): it must then be on every machine, and
# it is used as it is and left in place.
#
# A record a program refuses (a prompt too long for the context, ...) gets
# an empty answer, and the other records their answers as usual; the
# program's message and a line naming the block and the stage that failed
# (parallel.sh: block 2, from record 4: wf-decode (exit 1)) go to standard
# error, and the exit status is 1.
set -eu
here=$(dirname "$0")
model=${WF_MODEL:-$here/models/tiny-shakespeare-i2_s.gguf}
n=32 jobs=2 recs=100 threads=1 logins=
usage() { echo "usage: parallel.sh [-m MODEL] [-n N] [-j JOBS] [-N RECORDS] [-t THREADS] [-S SSHLOGINS] [PROMPTS.tsv]" >&2; exit 2; }
while getopts m:n:j:N:t:S: o; do
	case $o in
	m) model=$OPTARG ;;
	n) n=$OPTARG ;;
	j) jobs=$OPTARG ;;
	N) recs=$OPTARG ;;
	t) threads=$OPTARG ;;
	S) logins=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || usage
in=${1:-$here/data/prompts.tsv}
command -v parallel >/dev/null || { echo "parallel.sh: GNU parallel is not installed (apt-get install parallel)" >&2; exit 1; }

# once per machine: load the image (and remove it at the end), or check
# that the image given is there
on_each() {
	if [ -n "$logins" ]; then
		parallel --will-cite --nonall -S "$logins" "$@"
	else
		sh -c "$*"
	fi
}
img=
case $model in
shm:*) img=${model#shm:} ;;
*) [ -e "$model" ] || ! wf-shm ls "$model" > /dev/null 2>&1 || img=$model ;;
esac
if [ -n "$img" ]; then
	on_each "wf-shm ls '$img' > /dev/null"
else
	case $model in /*) ;; *) [ -e "$model" ] && model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model") ;; esac
	img=wf-par-$(hostname -s 2>/dev/null || echo h)-$$
	on_each "wf-shm load --name $img '$model' > /dev/null"
	trap 'on_each "wf-shm rm $img > /dev/null"' EXIT
	# dash runs no EXIT trap on a signal: make the usual ones an exit
	trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
fi

m="shm:$img"
# a job's status would be its pipeline's, wf-detok's alone: each stage
# writes its name and status to fd 3, and the job fails, naming the stages
# that did, when one is not 0 (POSIX sh, as on the -S machines; {#} is the
# block's number)
job="{ { { wf-tok -m $m -k; echo \"wf-tok \$?\" >&3; } |
	{ wf-decode -m $m -n $n -t $threads; echo \"wf-decode \$?\" >&3; } |
	{ wf-detok -m $m -e; echo \"wf-detok \$?\" >&3; }; } 3>&1 >&4 |
	{ f=; while read -r p s; do [ \"\$s\" = 0 ] || f=\"\$f \$p (exit \$s)\"; done
	[ -z \"\$f\" ] || { echo \"parallel.sh: block {#}, from record \$(( ({#} - 1) * $recs + 1 )):\$f\" >&2; exit 1; }; }; } 4>&1"
st=0
parallel --will-cite ${logins:+-S "$logins"} -j "$jobs" --pipe -N "$recs" --keep-order "$job" < "$in" || st=$?
if [ "$st" -ne 0 ]; then
	# GNU parallel's status: the number of failed jobs, up to 100
	if [ "$st" -le 100 ]; then echo "parallel.sh: $st block(s) failed" >&2
	else echo "parallel.sh: GNU parallel failed (exit $st)" >&2; fi
	exit 1
fi
