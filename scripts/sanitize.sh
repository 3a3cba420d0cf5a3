#!/usr/bin/env bash
# Builds and runs the test suites under sanitizers (g++), each in its own build directory:
#
#   scripts/sanitize.sh asan    ./build-asan: ASan + UBSan, -fno-sanitize-recover=all: the whole core
#                               suite, the Redis suite (against a throw-away redis-server on loopback)
#                               and the fuzz regression replays
#   scripts/sanitize.sh tsan    ./build-tsan: TSan: the core suite (with its concurrent tests)
#   scripts/sanitize.sh         both
#
# Lean builds: only failpipe_tests, failpipe_redis_tests, the fuzz replays and what they link (no
# tools, examples, benchmarks, HTTP server, dashboard, browser, cluster or install tests). Compiled for
# compile speed, which is most of a sanitizer stage (docs/testing.md, "Sanitizers"): the test suites
# at -O0 (FAILPIPE_TESTS_O0: a third less CPU than -O1; the sanitizers find the same errors) and the
# libraries at -O1 (the heavy tests spend their time there: a whole tree at -O0 made one time out),
# line tables only (-g1: file:line in every report's stack, about 40% less compile time than -g),
# and the libraries, the two test suites and the fuzz replays in unity batches (FAILPIPE_UNITY). Any sanitizer report fails its test (and prints the stack), so a green run means zero
# reports.
set -euo pipefail
cd "$(dirname "$0")/.."

# The whole core suite: its concurrent tests (memory adapter, worker: several workers and threads on
# one adapter; message ids: fork; manual clock: atomics) need TSan, and the rest costs ~10 s more, so
# a new concurrent test is covered wherever it is filed.
tsan_tests='^core:'

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

# Ninja builds the test binaries side by side; make would build one --target after the other.
generator() {  # <build dir>: Ninja for a new build directory when it is installed
  [ ! -f "$1/CMakeCache.txt" ] && command -v ninja >/dev/null && echo "-GNinja"
  true
}

configure() {  # <build dir> <sanitizers> <with redis> [<cmake option>...]
  local dir=$1 sanitizers=$2 redis=$3; shift 3
  # shellcheck disable=SC2046
  cmake -S . -B "${dir}" $(generator "${dir}") -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DFAILPIPE_TESTS_O0=ON -DFAILPIPE_SANITIZE="${sanitizers}" -DFAILPIPE_WERROR=ON \
        -DFAILPIPE_BUILD_TESTS=ON -DFAILPIPE_BUILD_EXAMPLES=OFF -DFAILPIPE_BUILD_TOOLS=OFF \
        -DFAILPIPE_BUILD_BENCH=OFF -DFAILPIPE_INSTALL=OFF -DFAILPIPE_WITH_HTTP=OFF -DFAILPIPE_CLUSTER_TESTS=OFF \
        -DFAILPIPE_WITH_REDIS="${redis}" -DFAILPIPE_UNITY=ON "${launcher[@]}" "$@" >/dev/null
}

build() {  # <build dir> <sanitizers> <with redis> <target>...: builds, file by file if a unity batch fails
  local dir=$1 sanitizers=$2 redis=$3; shift 3
  configure "${dir}" "${sanitizers}" "${redis}"
  cmake --build "${dir}" -j2 --target "$@" && return 0
  # A batch can fail where every file alone compiles (two files with the same file-local name):
  # the run still completes, and the message says what to fix (cmake/FailpipeUnity.cmake).
  echo "sanitize: the build failed; building again file by file (-DFAILPIPE_UNITY=OFF). If it passes now, a" \
       "unity batch (Unity/unity_N_cxx.cxx above) has a collision: rename the file-local helper it names" \
       "(cmake/FailpipeUnity.cmake)" >&2
  configure "${dir}" "${sanitizers}" "${redis}" -DFAILPIPE_UNITY=OFF
  cmake --build "${dir}" -j2 --target "$@"
}

replay_targets() {  # the fuzz replay targets a build has
  cmake --build "$1" --target help | grep -o 'failpipe_fuzz_replay_[a-z_]*' | sort -u || true
}

run_asan() {
  echo "sanitize: asan: building build-asan (ASan + UBSan)"
  configure build-asan address,undefined ON
  # shellcheck disable=SC2046
  build build-asan address,undefined ON failpipe_tests failpipe_redis_tests $(replay_targets build-asan) || return 1
  # Leaks and every UBSan finding are fatal; the stack of each report goes into the test's output.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  echo "sanitize: asan: running the core, Redis and fuzz-replay tests"
  (
    # shellcheck source=scripts/redis-test-server.sh
    source scripts/redis-test-server.sh
    # The chaos test is not built here (its worker processes under ASan would take minutes), nor
    # every binary the docs check needs.
    ctest --test-dir build-asan --output-on-failure -j2 --timeout 600 -LE "chaos|docs"
  )
}

run_tsan() {
  echo "sanitize: tsan: building build-tsan (TSan)"
  build build-tsan thread OFF failpipe_tests || return 1
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
  echo "sanitize: tsan: running the core tests"
  ctest --test-dir build-tsan --output-on-failure -j2 --timeout 600 -R "${tsan_tests}"
}

which=${1:-all}
case "${which}" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) status=0; run_asan || status=$?; run_tsan || status=$?; exit "${status}" ;;
  *) echo "usage: scripts/sanitize.sh [asan|tsan]" >&2; exit 2 ;;
esac
