#!/usr/bin/env bash
# The Redis benchmark of issue 3: builds failpipe (scripts/build.sh, into build/), starts a throw-away
# redis-server on 127.0.0.1 on a free port (scripts/redis-test-server.sh, stopped by its PID on exit,
# whatever happens), measures `redis-benchmark -c 16 -P 16 -t lpush` on it for scale, then runs
# build/bin/bench_redis against it: the real Worker, settling per reserved batch and per message,
# scenarios A, B, B' at concurrency 1 and 16, and C (pushes). Prints a Markdown table at the end;
# exits non-zero when a run's counts do not verify.
#
# --cluster: instead, shard groups on one Redis against a Redis Cluster, in one run. It also starts a
# throw-away cluster (scripts/redis-test-cluster.sh: 3 masters + 3 replicas on loopback, stopped by
# PID on exit) and runs A and B over FAILPIPE_BENCH_GROUPS shard groups (default 6, spread round the
# masters; FAILPIPE_BENCH_GROUP_SPREAD=natural keeps the names g0, g1, ... wherever their slots fall)
# on each, 16 workers: INFO commandstats and INFO cpu of every master diffed over each run, N =
# 100,000 messages a run and 7 rounds unless FAILPIPE_BENCH_N / FAILPIPE_BENCH_ITERATIONS say otherwise. The cluster runs twice: all masters
# at once, and master by master in turn (each master's groups alone, the others idle: the masters'
# cost when none waits for a core another holds, which a machine with fewer cores than
# redis-servers cannot give them at once). Prints a table and a verdict per scenario and way
# (commands balanced within 20 % across the masters; the masters' CPU per message on the cluster no
# more than on one Redis, run by run, with the geometric mean of the ratios and its 95 % interval).
# The one Redis has a replica too (started and stopped by PID like the others) whenever the cluster's
# masters have one, so that both sides pay for feeding one replica per master
# (FAILPIPE_BENCH_ONE_REDIS_REPLICA=0 leaves it out, =1 keeps it when the cluster has none). Controls for telling the cluster's cost from the machine's:
# FAILPIPE_BENCH_BATCH (deliveries per reserve, default 64), FAILPIPE_TEST_CLUSTER_REPLICAS=0 (three
# masters without replicas), FAILPIPE_BENCH_PIN=1 (every redis-server on CPU 0, the benchmark on the
# other CPUs, with taskset), FAILPIPE_BENCH_SYSCALLS=1 (the masters' system calls per message, by
# call, counted with perf stat: needs linux-perf and the right to trace the servers).
#
# Extra arguments go to the benchmark (Google Benchmark flags, e.g. --benchmark_filter='^A/').
# FAILPIPE_BUILD_DIR picks another build directory (only the benchmark is built there; configured
# as Release first if it is not yet). FAILPIPE_BENCH_N (messages per run, default 20000) and
# FAILPIPE_BENCH_ITERATIONS (runs per scenario, default 5) are passed through.
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=
args=()
for arg in "$@"; do
  if [ "${arg}" = --cluster ]; then cluster=1; else args+=("${arg}"); fi
done
set -- "${args[@]+"${args[@]}"}"
if [ -n "${cluster}" ] && [ ! -f scripts/redis-test-cluster.sh ]; then
  echo "bench-redis --cluster: scripts/redis-test-cluster.sh is missing (run it from a failpipe checkout)" >&2
  exit 1
fi
source scripts/bench-build.sh bench-redis

if [ -n "${FAILPIPE_BENCH_SYSCALLS:-}" ]; then
  [ -n "${cluster}" ] || { echo "bench-redis: FAILPIPE_BENCH_SYSCALLS goes with --cluster" >&2; exit 2; }
  command -v perf >/dev/null ||
    { echo "bench-redis: FAILPIPE_BENCH_SYSCALLS needs perf (sudo apt-get install linux-perf)" >&2; exit 1; }
fi

source scripts/redis-test-server.sh
port=${FAILPIPE_TEST_REDIS_URL##*:}
echo "bench-redis: $(redis-server --version | cut -d' ' -f1-3), $(nproc) cores shared by redis-server and the benchmark" >&2

if [ -n "${cluster}" ]; then
  # Sourced after the one Redis: its EXIT trap then stops both (see the script).
  source scripts/redis-test-cluster.sh
  seed=${FAILPIPE_TEST_REDIS_CLUSTER_URL#redis://}
  # The masters and their slots, "host:port=0-5460 ...", from CLUSTER NODES (fields 9 on: slots,
  # and [slot->-node] entries of migrations, left out).
  masters=$(redis-cli -h "${seed%:*}" -p "${seed##*:}" cluster nodes | tr -d '\r' |
            awk '$3 ~ /master/ && $3 !~ /fail/ {
                   address = $2; sub(/@.*/, "", address); slots = ""
                   for (i = 9; i <= NF; i++) if ($i !~ /^\[/) slots = slots (slots == "" ? "" : ",") $i
                   printf "%s%s=%s", (n++ ? " " : ""), address, slots
                 }')
  one_label="one Redis"
  # The one Redis gets a replica whenever the cluster's masters have one (the default), so that both
  # sides pay for feeding one replica per master; FAILPIPE_BENCH_ONE_REDIS_REPLICA=0 or 1 decides.
  one_replica=${FAILPIPE_BENCH_ONE_REDIS_REPLICA:-$([ "${FAILPIPE_TEST_CLUSTER_REPLICAS:-1}" = 0 ] && echo 0 || echo 1)}
  case "${one_replica}" in
    0 | 1) ;;
    *) echo "bench-redis: FAILPIPE_BENCH_ONE_REDIS_REPLICA must be 0 or 1" >&2; exit 2 ;;
  esac
  if [ "${one_replica}" = 1 ]; then
    bench_replica_dir=$(mktemp -d -t failpipe-bench-replica.XXXXXX)
    bench_replica_pid=
    bench_stop_replica() {
      if [ -n "${bench_replica_pid}" ]; then
        kill "${bench_replica_pid}" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "${bench_replica_pid}" 2>/dev/null || break; sleep 0.1; done
        kill -9 "${bench_replica_pid}" 2>/dev/null || true
      fi
      rm -rf "${bench_replica_dir}"
    }
    # The replica first, then the cluster and the one Redis (the two scripts' own stop functions).
    trap 'bench_stop_replica; failpipe_stop_cluster; failpipe_stop_redis' EXIT
    for attempt in $(seq 1 20); do
      replica_port=$(( 20000 + (RANDOM * 7 + attempt * 131) % 30000 ))
      "${FAILPIPE_REDIS_SERVER}" --bind 127.0.0.1 --port "${replica_port}" --dir "${bench_replica_dir}" \
          --save '' --appendonly no --protected-mode yes --daemonize no --replicaof 127.0.0.1 "${port}" \
          --logfile "${bench_replica_dir}/redis.log" &
      bench_replica_pid=$!
      linked=
      for _ in $(seq 1 100); do
        kill -0 "${bench_replica_pid}" 2>/dev/null || break
        if redis-cli -h 127.0.0.1 -p "${replica_port}" info replication 2>/dev/null | tr -d '\r' |
             grep -qx 'master_link_status:up' &&
           redis-cli -h 127.0.0.1 -p "${replica_port}" info server 2>/dev/null | tr -d '\r' |
             grep -qx "process_id:${bench_replica_pid}"; then
          linked=1
          break
        fi
        sleep 0.1
      done
      [ -n "${linked}" ] && break
      kill "${bench_replica_pid}" 2>/dev/null || true
      bench_replica_pid=
    done
    if [ -z "${bench_replica_pid}" ]; then
      echo "bench-redis: could not start a replica of the one Redis on a free port" >&2
      exit 1
    fi
    one_label="one Redis + replica"
    echo "bench-redis: the one Redis has a replica on 127.0.0.1:${replica_port} (pid ${bench_replica_pid})" >&2
  fi
  echo "bench-redis: ${one_label} at ${FAILPIPE_TEST_REDIS_URL}; Redis Cluster masters (and slots): ${masters}" >&2
  pin=()
  if [ -n "${FAILPIPE_BENCH_PIN:-}" ]; then
    # Every redis-server (the one Redis, its replica, the six cluster nodes) on CPU 0, the benchmark
    # on the others: both sides' servers get the same single core, whatever the number of processes.
    cpus=$(nproc)
    [ "${cpus}" -ge 2 ] || { echo "bench-redis: FAILPIPE_BENCH_PIN needs 2 or more CPUs" >&2; exit 1; }
    server_pids=("${failpipe_redis_pid}")
    [ -n "${bench_replica_pid:-}" ] && server_pids+=("${bench_replica_pid}")
    IFS=, read -r -a cluster_nodes <<<"${FAILPIPE_TEST_REDIS_CLUSTER_NODES}"
    for node in "${cluster_nodes[@]}"; do server_pids+=("${node#*:}"); done
    for pid in "${server_pids[@]}"; do taskset -a -p -c 0 "${pid}" >/dev/null; done
    pin=(taskset -c "1-$(( cpus - 1 ))")
    echo "bench-redis: pinned: ${#server_pids[@]} redis-servers on CPU 0, the benchmark on CPUs 1-$(( cpus - 1 ))" >&2
  fi
  # 100,000 messages a run unless told: the runs of the masters in turn split them three ways, and
  # each run's fixed cost (workers starting, streams created) must stay small beside its messages.
  # 7 rounds unless told: the CPU verdict is the median of 7 run-by-run ratios.
  export FAILPIPE_BENCH_N=${FAILPIPE_BENCH_N:-100000} FAILPIPE_BENCH_ITERATIONS=${FAILPIPE_BENCH_ITERATIONS:-7}
  echo "bench-redis: ${build_dir}/bin/bench_redis $* (N = ${FAILPIPE_BENCH_N}, ${FAILPIPE_BENCH_ITERATIONS} rounds)" >&2
  FAILPIPE_BENCH_ONE_REDIS_LABEL=${one_label} FAILPIPE_BENCH_REDIS_URL=${FAILPIPE_TEST_REDIS_URL} FAILPIPE_BENCH_CLUSTER_URL=${FAILPIPE_TEST_REDIS_CLUSTER_URL} \
    FAILPIPE_BENCH_CLUSTER_MASTERS=${masters} "${pin[@]+"${pin[@]}"}" "${build_dir}/bin/bench_redis" "$@"
  exit
fi

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
