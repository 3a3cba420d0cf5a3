#!/usr/bin/env bash
# Runs every test (what CI runs, via .ci/run), in stages, each announced and timed:
#
#   build     the normal build (scripts/build.sh: Release, -Werror, everything)
#   asan      core + Redis suites and fuzz replays under ASan + UBSan (scripts/sanitize.sh asan)
#   tsan      the core suite under TSan (scripts/sanitize.sh tsan)
#   fuzz      each libFuzzer target for a short while, two at once (scripts/fuzz.sh --seconds 10 --jobs 2)
#   tests     the normal suite: unit, integration, fault, CLI, examples, install, fuzz replays, and the
#             browser tests (headless Chromium, required here: FAILPIPE_REQUIRE_BROWSER=1), with a
#             redis-server and a Redis Cluster (6 nodes) of its own on loopback. Last, so its ctest
#             summary ends the output.
#
# Options: --no-sanitize, --no-fuzz (skip those stages), --fuzz-seconds N.
# One line per stage result at the end; exits non-zero when any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."

sanitize=1
fuzz=1
fuzz_seconds=10
while [ $# -gt 0 ]; do
  case "$1" in
    --no-sanitize) sanitize=0; shift ;;
    --no-fuzz) fuzz=0; shift ;;
    --fuzz-seconds) fuzz_seconds="$2"; shift 2 ;;
    *) echo "usage: scripts/test.sh [--no-sanitize] [--no-fuzz] [--fuzz-seconds N]" >&2; exit 2 ;;
  esac
done

# Every build of every stage goes through ccache when it is installed (a no-op on a cold cache).
command -v ccache >/dev/null && export CMAKE_CXX_COMPILER_LAUNCHER=ccache

results=()
failed=0
started=$(date +%s)

times_file=$(mktemp -t failpipe-times.XXXXXX)
children_cpu() {  # sets cpu_now: CPU seconds (user + sys) of every finished child so far, compilers included
  # `times` runs in this shell: in a $(...) subshell it would count that subshell's children only.
  times >"${times_file}"
  cpu_now=$(awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); n += t[1] * 60 + t[2] }
                           printf "%d", n }' "${times_file}")
}

stage() {  # <name> <command...>
  local name=$1; shift
  local begin; begin=$(date +%s)
  children_cpu
  local cpu_before=${cpu_now}
  echo "==> test.sh: stage ${name}: started $(date -u +%H:%M:%S)"
  local status=0
  "$@" || status=$?
  local took=$(( $(date +%s) - begin ))
  # CPU time as well as wall time: on a shared machine the wall time says more about the neighbours.
  children_cpu
  local cpu=$(( cpu_now - cpu_before ))
  local line
  if [ "${status}" -eq 0 ]; then line="test.sh: stage ${name}: ok (${took} s, CPU ${cpu} s)"
  else line="test.sh: stage ${name}: FAILED (exit ${status}, ${took} s, CPU ${cpu} s)"; failed=1; fi
  echo "==> ${line}"
  results+=("${line}")
  return "${status}"
}

summary_file=$(mktemp -t failpipe-ctest.XXXXXX)
normal_tests() {
  # shellcheck source=scripts/redis-test-server.sh
  source scripts/redis-test-server.sh
  # shellcheck source=scripts/redis-test-cluster.sh
  source scripts/redis-test-cluster.sh
  # A missing browser fails the browser tests here instead of skipping them (tests/browser).
  export FAILPIPE_REQUIRE_BROWSER=1
  ctest --test-dir build --output-on-failure -j2 --timeout 300 | tee "${summary_file}"
  local status=$?
  # What the browser tests saw, for a reviewer (docs/testing.md, "Browser tests").
  if [ -d build/screenshots ]; then echo "test.sh: the dashboard's screenshots: $(pwd)/build/screenshots"; fi
  return "${status}"
}

scripts/ensure-deps.sh --browser || exit 1
stage build scripts/build.sh
built=$?
[ "${sanitize}" -eq 1 ] && stage asan scripts/sanitize.sh asan
[ "${sanitize}" -eq 1 ] && stage tsan scripts/sanitize.sh tsan
[ "${fuzz}" -eq 1 ] && stage fuzz scripts/fuzz.sh --seconds "${fuzz_seconds}" --jobs 2
if [ "${built}" -eq 0 ]; then
  stage tests normal_tests
else
  results+=("test.sh: stage tests: SKIPPED (the build failed)")
fi

echo
for line in "${results[@]}"; do echo "${line}"; done
echo "test.sh: $( [ "${failed}" -eq 0 ] && echo "all stages passed" || echo "FAILED" ) in $(( $(date +%s) - started )) s"
# The normal suite's counts, last and alone on their line ("tests failed out of N" is ctest's summary).
if counts=$(grep -Eo '[0-9]+ tests failed out of [0-9]+' "${summary_file}" | tail -n 1) && [ -n "${counts}" ]; then
  failed_count=${counts%% *}
  total=${counts##* }
  echo "tests: $(( total - failed_count )) passed, ${failed_count} failed"
fi
rm -f "${summary_file}" "${times_file}"
exit "${failed}"
