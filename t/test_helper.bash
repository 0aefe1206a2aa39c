# Shared set-up for the bats suites.  WF_BUILD is the object tree (build/ or
bats_require_minimum_version 1.5.0
# build-asan/); the programs under test come first on PATH.
WF_ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
: "${WF_BUILD:=$WF_ROOT/build}"
export PATH="$WF_BUILD/bin:$WF_BUILD/t:$PATH"
# ../shared holds fixtures the project cannot make itself; tests that read it
# skip with a message where it is absent.
SHARED="$WF_ROOT/../shared"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
unset WF_MODEL

need_shared() {
	[ -d "$SHARED/$1" ] || skip "../shared/$1 is absent"
}
