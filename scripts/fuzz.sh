#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, in ./build-fuzz) and runs each for a while.
#
#   scripts/fuzz.sh                      every target, 15 s each
#   scripts/fuzz.sh --seconds 60         every target, 60 s each (the large suite)
#   scripts/fuzz.sh --seconds 600 config one target, longer
#   scripts/fuzz.sh --jobs 2             two targets at once, each on a core (CI: test.sh runs
#                                        --seconds 10 --jobs 2)
#
# New coverage goes to build-fuzz/corpus/<target> (not into the repository); a crash is written to
# build-fuzz/artifacts/<target>/ and printed with the line that keeps it as a regression input.
# Prints one line per target and exits non-zero when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=15
build_dir=build-fuzz
jobs=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;  # fuzzers run at once (each on one core)
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

clang=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "${clang}" ]; then
  echo "fuzz: clang++ not found (scripts/ensure-deps.sh installs clang-14); nothing fuzzed" >&2
  exit 1
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Only the core library and the fuzz targets: no tests, tools, examples, benchmarks, install rules,
# Redis adapter, HTTP server or dashboard. -O1 (libFuzzer searches faster than at -O0); the library
# and the targets in unity batches (FAILPIPE_UNITY: about half the compile time).
generator=()  # Ninja builds the targets side by side (for a new build directory, when installed)
[ ! -f "${build_dir}/CMakeCache.txt" ] && command -v ninja >/dev/null && generator=(-GNinja)
configure() {  # [<cmake option>...]
  cmake -S . -B "${build_dir}" "${generator[@]}" -DCMAKE_CXX_COMPILER="${clang}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DFAILPIPE_FUZZ=ON -DFAILPIPE_WERROR=ON \
        -DFAILPIPE_BUILD_TESTS=OFF -DFAILPIPE_BUILD_EXAMPLES=OFF -DFAILPIPE_BUILD_TOOLS=OFF \
        -DFAILPIPE_BUILD_BENCH=OFF -DFAILPIPE_INSTALL=OFF -DFAILPIPE_WITH_REDIS=OFF -DFAILPIPE_WITH_HTTP=OFF \
        -DFAILPIPE_UNITY=ON "${launcher[@]}" "$@" >/dev/null
  generator=()
}
configure
fuzz_targets=$(cmake --build "${build_dir}" --target help | grep -o 'failpipe_fuzz_[a-z_]*' | grep -v '_replay_' | sort -u)
# shellcheck disable=SC2086
if ! cmake --build "${build_dir}" -j2 --target ${fuzz_targets}; then
  # A unity batch can fail where every file alone compiles (two files with the same file-local name).
  echo "fuzz: the build failed; building again file by file (-DFAILPIPE_UNITY=OFF). If it passes now, a unity" \
       "batch has a collision: rename the file-local helper it names (cmake/FailpipeUnity.cmake)" >&2
  configure -DFAILPIPE_UNITY=OFF
  # shellcheck disable=SC2086
  cmake --build "${build_dir}" -j2 --target ${fuzz_targets}
fi

if [ ${#targets[@]} -eq 0 ]; then
  for binary in "${build_dir}"/fuzz/failpipe_fuzz_*; do targets+=("${binary##*/failpipe_fuzz_}"); done
fi

# One fuzzer: its seeds and regressions first (a regression that crashes again fails at once).
run_one() {
  local target=$1 binary="${build_dir}/fuzz/failpipe_fuzz_$1" work="${build_dir}/corpus/$1"
  local artifacts="${build_dir}/artifacts/$1/" log="${build_dir}/logs/$1.log"
  mkdir -p "${work}" "${artifacts}" "${build_dir}/logs"
  local status=0
  # -max_len bounds an input (deep-nesting limits are tested by regression files, not by search);
  # -timeout and -rss_limit_mb turn a hang or a memory blow-up into a saved crash.
  "${binary}" -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
              -print_final_stats=1 -artifact_prefix="${artifacts}" \
              "${work}" "tests/fuzz/${target}/corpus" "tests/fuzz/${target}/regressions" >"${log}" 2>&1 || status=$?
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "${log}" | grep -o '[0-9]*$' || echo "?")
  if [ "${status}" -eq 0 ]; then
    echo "fuzz: ${target}: ok (${seconds} s, ${runs} runs, corpus $(ls "${work}" | wc -l) files)"
  else
    echo "fuzz: ${target}: FAILED (exit ${status}); log ${log}"
    grep -E 'property broken|runtime error|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY' "${log}" | head -5 | sed 's/^/  /'
    grep -E '^ *#[0-9]+ 0x' "${log}" | head -25 | sed 's/^/  /'
    for crash in "${artifacts}"*; do
      [ -f "${crash}" ] || continue
      echo "  input: ${crash}; keep it: cp ${crash} tests/fuzz/${target}/regressions/<what-it-shows>"
    done
  fi
  return "${status}"
}

failed=0
pids=()
for target in "${targets[@]}"; do
  if [ ! -x "${build_dir}/fuzz/failpipe_fuzz_${target}" ]; then
    echo "fuzz: ${target}: no such target" >&2; failed=1; continue
  fi
  run_one "${target}" &
  pids+=($!)
  if [ ${#pids[@]} -ge "${jobs}" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "${pid}" || failed=1; done
exit "${failed}"
