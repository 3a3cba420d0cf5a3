#!/usr/bin/env bash
# The Redis benchmark of issue 3: builds failpipe (scripts/build.sh, into build/), starts a throw-away
# redis-server on 127.0.0.1 on a free port (scripts/redis-test-server.sh, stopped by its PID on exit,
# whatever happens), measures `redis-benchmark -c 16 -P 16 -t lpush` on it for scale, then runs
# build/bin/bench_redis against it: the real Worker, settling per reserved batch and per message,
# scenarios A, B, B' at concurrency 1 and 16, and C (pushes). Prints a Markdown table at the end;
# exits non-zero when a run's counts do not verify.
#
# Extra arguments go to the benchmark (Google Benchmark flags, e.g. --benchmark_filter='^A/').
# FAILPIPE_BUILD_DIR picks another build directory (only the benchmark is built there; configured
# as Release first if it is not yet). FAILPIPE_BENCH_N (messages per run, default 20000) and
# FAILPIPE_BENCH_ITERATIONS (runs per scenario, default 5) are passed through.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${FAILPIPE_BUILD_DIR:-}" ]; then
  build_dir=${FAILPIPE_BUILD_DIR}
  [ -f "${build_dir}/CMakeCache.txt" ] || cmake -S . -B "${build_dir}" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "${build_dir}" -j2 --target bench_redis >/dev/null
else
  build_dir=build
  scripts/build.sh >/dev/null
fi
[ -x "${build_dir}/bin/bench_redis" ] || { echo "bench-redis: ${build_dir}/bin/bench_redis was not built (Google Benchmark or hiredis missing?)" >&2; exit 1; }

source scripts/redis-test-server.sh
port=${FAILPIPE_TEST_REDIS_URL##*:}
echo "bench-redis: $(redis-server --version | cut -d' ' -f1-3), $(nproc) cores shared by redis-server and the benchmark" >&2

# LPUSH of the same server, measured now, as the yardstick of what this machine's Redis can do.
lpush=$(redis-benchmark -h 127.0.0.1 -p "${port}" -c 16 -P 16 -t lpush -n 2000000 -q 2>/dev/null |
        tr '\r' '\n' | grep -E '^LPUSH: [0-9.]+ requests per second' | tail -1 | awk '{print $2}' || true)
if [ -z "${lpush}" ]; then
  echo "bench-redis: redis-benchmark gave no LPUSH figure; the share column stays empty" >&2
else
  echo "bench-redis: redis-benchmark -h 127.0.0.1 -p ${port} -c 16 -P 16 -t lpush -n 2000000 -q: ${lpush} requests per second" >&2
fi
redis-cli -h 127.0.0.1 -p "${port}" del mylist >/dev/null

echo "bench-redis: ${build_dir}/bin/bench_redis $*" >&2
FAILPIPE_BENCH_REDIS_URL=${FAILPIPE_TEST_REDIS_URL} FAILPIPE_LPUSH_OPS=${lpush} "${build_dir}/bin/bench_redis" "$@"
