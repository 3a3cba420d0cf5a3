#!/usr/bin/env bash
# Durability A/B (docs/redis.md, "Durability"): the Redis benchmark (build/bin/bench_redis) against a
# master with one replica, once with durability "master" and once with `?durability=replicas&
# replicas=1&waitMs=1000` in the URL. Starts both servers on 127.0.0.1 on free ports (the master by
# scripts/redis-test-server.sh, the replica here with --replicaof) and stops them by PID on exit.
# Extra arguments go to the benchmark (e.g. --benchmark_filter='^A/'). FAILPIPE_BUILD_DIR as in
# scripts/bench-redis.sh (default build); the benchmark must be built already (target bench_redis).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FAILPIPE_BUILD_DIR:-build}
bench="${build_dir}/bin/bench_redis"
[ -x "${bench}" ] || { echo "bench-durability: ${bench} is not built (cmake --build ${build_dir} --target bench_redis)" >&2; exit 1; }

source scripts/redis-test-server.sh
master_port=${FAILPIPE_TEST_REDIS_URL##*:}
replica_dir=$(mktemp -d -t failpipe-replica.XXXXXX)
replica_pid=
stop_replica() {
  if [ -n "${replica_pid}" ] && kill -0 "${replica_pid}" 2>/dev/null; then
    kill "${replica_pid}" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "${replica_pid}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${replica_pid}" 2>/dev/null || true
  fi
  rm -rf "${replica_dir}"
  failpipe_stop_redis
}
trap stop_replica EXIT
for attempt in $(seq 1 20); do
  replica_port=$(( 20000 + (RANDOM * 11 + attempt * 173) % 40000 ))
  [ "${replica_port}" = "${master_port}" ] && continue
  "${FAILPIPE_REDIS_SERVER}" --bind 127.0.0.1 --port "${replica_port}" --dir "${replica_dir}" --save '' \
      --appendonly no --daemonize no --logfile "${replica_dir}/redis.log" \
      --replicaof 127.0.0.1 "${master_port}" &
  replica_pid=$!
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "${master_port}" info replication 2>/dev/null | tr -d '\r' |
      grep -q "port=${replica_port},state=online" && break
    kill -0 "${replica_pid}" 2>/dev/null || break
    sleep 0.1
  done
  if redis-cli -h 127.0.0.1 -p "${master_port}" info replication 2>/dev/null | tr -d '\r' | grep -q "port=${replica_port},state=online"; then
    break
  fi
  kill "${replica_pid}" 2>/dev/null || true
  replica_pid=
done
[ -n "${replica_pid}" ] || { echo "bench-durability: could not start a replica" >&2; exit 1; }
echo "bench-durability: master 127.0.0.1:${master_port}, replica ${replica_pid} on 127.0.0.1:${replica_port}" >&2

for durability in master replicas; do
  url=${FAILPIPE_TEST_REDIS_URL}
  [ "${durability}" = replicas ] && url="${url}?durability=replicas&replicas=1&waitMs=1000"
  before=$(redis-cli -h 127.0.0.1 -p "${master_port}" info commandstats | tr -d '\r' | grep '^cmdstat_wait:' || true)
  echo "bench-durability: durability ${durability}: ${bench} $*" >&2
  FAILPIPE_BENCH_REDIS_URL=${url} "${bench}" "$@"
  echo "bench-durability: WAIT on the master before: ${before:-none}; after: $(redis-cli -h 127.0.0.1 -p "${master_port}" info commandstats | tr -d '\r' | grep '^cmdstat_wait:' || echo none)" >&2
done
