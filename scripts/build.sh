#!/usr/bin/env bash
# Configures and builds failpipe into ./build (Release, warnings as errors on our own targets).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
# Ninja for a new build directory when it is installed: it compiles a target's files while the
# libraries it links are still being built, where make waits for them (an idle core on CI's two).
generator=()
[ ! -f build/CMakeCache.txt ] && command -v ninja >/dev/null && generator=(-GNinja)
# The test suites at -O0 (FAILPIPE_TESTS_O0): half their compile time, which is most of a build; the
# libraries, tools, examples and benchmarks they exercise stay at -O3.
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DFAILPIPE_WERROR=ON -DFAILPIPE_TESTS_O0=ON >/dev/null
cmake --build build -j2
