#!/usr/bin/env bash
# Sourced by the Redis benchmark scripts (from the checkout's root) with their name as $1: builds
# bench_redis and sets build_dir. FAILPIPE_BUILD_DIR picks another build directory, where only the
# benchmark is built (configured as Release first if it is not yet); else scripts/build.sh builds
# everything into build/. Exits 1, naming the caller, when the benchmark was not built.
if [ -n "${FAILPIPE_BUILD_DIR:-}" ]; then
  build_dir=${FAILPIPE_BUILD_DIR}
  [ -f "${build_dir}/CMakeCache.txt" ] || cmake -S . -B "${build_dir}" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "${build_dir}" -j2 --target bench_redis >/dev/null
else
  build_dir=build
  scripts/build.sh >/dev/null
fi
[ -x "${build_dir}/bin/bench_redis" ] ||
  { echo "$1: ${build_dir}/bin/bench_redis was not built (Google Benchmark or hiredis missing?)" >&2; exit 1; }
