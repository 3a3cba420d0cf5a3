#!/usr/bin/env bash
# What Redis's cluster mode costs failpipe per message, in server instructions, apart from any
# machine: one redis-server and one `cluster-enabled yes` redis-server that holds every slot, both
# under valgrind's callgrind (instructions counted, no cache simulation), both on loopback on free
# ports and stopped by PID on exit. build/bin/bench_redis runs scenarios A (all succeed) and B (10 %
# fail once, 1 % dead-lettered) over 6 shard groups on each in turn (FAILPIPE_BENCH_N messages a run,
# default 20,000; FAILPIPE_BENCH_ITERATIONS rounds, default 3), and this script reads each server's
# instruction count (callgrind_control -e) before and after each run: pushes, reserves, settles and
# the server's own upkeep over the run. Unlike CPU seconds, the count does not depend on the cores,
# the caches or the other processes, so one run tells what a second would: a machine with fewer
# cores than a cluster has masters can still say what a master costs per message.
#
# Prints one line per run and a Markdown table: instructions per message on each, and the
# cluster's over the one Redis's. Under callgrind the servers run some 100 times slower than
# without: the messages per second it prints are callgrind's, not Redis's. Needs valgrind
# (sudo apt-get install valgrind). FAILPIPE_BUILD_DIR as for scripts/bench-redis.sh.
#
# FAILPIPE_REDIS_SERVER: the redis-server to run (default: the one on PATH). Debian's has no
# symbols; scripts/redis-with-symbols.sh builds the same version from Debian's source with them.
# FAILPIPE_BENCH_PROFILE=DIR keeps each run's callgrind profile in DIR and, after the table, lists
# the functions whose instructions per message differ most between the node and the one Redis
# (round 1, each scenario): where the cluster's extra work goes. Needs a server with symbols.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
  { echo "bench-cluster-mode: needs valgrind and callgrind_control (sudo apt-get install valgrind)" >&2; exit 1; }
source scripts/bench-build.sh bench-cluster-mode
bench=${build_dir}/bin/bench_redis

server=${FAILPIPE_REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}
[ -x "${server}" ] || { echo "bench-cluster-mode: FAILPIPE_REDIS_SERVER=${server} is not an executable" >&2; exit 1; }
profile_dir=${FAILPIPE_BENCH_PROFILE:-}
if [ -n "${profile_dir}" ]; then
  mkdir -p "${profile_dir}" || { echo "bench-cluster-mode: cannot make FAILPIPE_BENCH_PROFILE=${profile_dir}" >&2; exit 1; }
  profile_dir=$(cd "${profile_dir}" && pwd)
fi
# Each server's profile: written on each dump (one a run) when profiling, else nowhere.
profile_out() { if [ -n "${profile_dir}" ]; then echo "${profile_dir}/callgrind.$1.%p"; else echo /dev/null; fi; }
dir=$(mktemp -d -t failpipe-cluster-mode.XXXXXX)
pids=()
stop_servers() {
  local pid
  for pid in "${pids[@]+"${pids[@]}"}"; do kill "${pid}" 2>/dev/null || true; done
  for pid in "${pids[@]+"${pids[@]}"}"; do
    for _ in $(seq 1 100); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${pid}" 2>/dev/null || true
  done
  rm -rf "${dir}"
}
trap stop_servers EXIT

# Starts a redis-server under callgrind on a free port with the extra arguments given; sets
# started_port and started_pid. The server answering must be ours: its process_id is checked.
start_server() {
  local name=$1 attempt port pid
  shift
  for attempt in $(seq 1 20); do
    port=$(( 20000 + (RANDOM * 7 + attempt * 131 + ${#pids[@]} * 977) % 30000 ))
    mkdir -p "${dir}/${port}"
    valgrind --tool=callgrind --cache-sim=no --branch-sim=no --callgrind-out-file="$(profile_out "${name}")" -q \
      "${server}" --bind 127.0.0.1 --port "${port}" --dir "${dir}/${port}" --save '' --appendonly no \
      --protected-mode yes --daemonize no --logfile "${dir}/${port}/redis.log" "$@" &
    pid=$!
    for _ in $(seq 1 200); do
      kill -0 "${pid}" 2>/dev/null || break
      if redis-cli -h 127.0.0.1 -p "${port}" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:${pid}"; then
        pids+=("${pid}")
        started_port=${port} started_pid=${pid}
        return 0
      fi
      sleep 0.1
    done
    kill "${pid}" 2>/dev/null || true
  done
  echo "bench-cluster-mode: could not start redis-server under callgrind on a free port" >&2
  exit 1
}

start_server one
one_port=${started_port} one_pid=${started_pid}
start_server node --cluster-enabled yes --cluster-config-file "${dir}/nodes.conf" --cluster-node-timeout 15000
node_port=${started_port} node_pid=${started_pid}
redis-cli -h 127.0.0.1 -p "${node_port}" cluster addslotsrange 0 16383 >/dev/null
for _ in $(seq 1 300); do
  redis-cli -h 127.0.0.1 -p "${node_port}" cluster info 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok' && break
  sleep 0.1
done
redis-cli -h 127.0.0.1 -p "${node_port}" cluster info | tr -d '\r' | grep -qx 'cluster_state:ok' ||
  { echo "bench-cluster-mode: the one-node cluster did not reach cluster_state:ok" >&2; exit 1; }
echo "bench-cluster-mode: $("${server}" --version | cut -d' ' -f1-3) under $(valgrind --version): one Redis on" \
     "127.0.0.1:${one_port} (pid ${one_pid}), a cluster-enabled node holding every slot on 127.0.0.1:${node_port} (pid ${node_pid})" >&2

# Instructions the server @p1 (a PID) has executed so far, every thread.
instructions() {
  callgrind_control -e "$1" 2>/dev/null | awk '$1 == "Th" { gsub(",", "", $3); total += $3; found = 1 }
                                                END { if (!found) exit 1; printf "%.0f\n", total }'
}

n=${FAILPIPE_BENCH_N:-20000}
rounds=${FAILPIPE_BENCH_ITERATIONS:-3}
declare -A sums
results=()
for round in $(seq 1 "${rounds}"); do
  for scenario in A B; do
    for side in one cluster; do
      if [ "${side}" = one ]; then pid=${one_pid} filter="^${scenario}/one_Redis/"; else pid=${node_pid} filter="^${scenario}/cluster/"; fi
      [ -z "${profile_dir}" ] || callgrind_control -z "${pid}" >/dev/null
      before=$(instructions "${pid}") || { echo "bench-cluster-mode: callgrind_control -e ${pid} gave no count" >&2; exit 1; }
      FAILPIPE_BENCH_REDIS_URL=redis://127.0.0.1:${one_port} FAILPIPE_BENCH_CLUSTER_URL=redis://127.0.0.1:${node_port} \
        FAILPIPE_BENCH_CLUSTER_MASTERS="127.0.0.1:${node_port}=0-16383" FAILPIPE_BENCH_N=${n} FAILPIPE_BENCH_ITERATIONS=1 \
        "${bench}" --benchmark_filter="${filter}" >"${dir}/run.out" 2>&1 ||
        { echo "bench-cluster-mode: ${bench} --benchmark_filter='${filter}' failed:" >&2; tail -n 20 "${dir}/run.out" >&2; exit 1; }
      after=$(instructions "${pid}") || { echo "bench-cluster-mode: callgrind_control -e ${pid} gave no count" >&2; exit 1; }
      [ -z "${profile_dir}" ] || callgrind_control -d "${scenario}-${side}-${round}" "${pid}" >/dev/null
      per=$(( (after - before) / n ))
      sums[${scenario}/${side}]=$(( ${sums[${scenario}/${side}]:-0} + per ))
      results+=("${scenario}/${side}/${round}=${per}")
      echo "bench-cluster-mode: round ${round}, ${scenario} on $([ "${side}" = one ] && echo "one Redis" || echo "the cluster node"): ${per} instructions per message" >&2
    done
  done
done

echo
echo "Server instructions per message (callgrind, user space, every thread; N = ${n} a run, ${rounds} rounds):"
echo
echo "| scenario | one Redis | cluster-enabled node, every slot | cluster over one Redis | runs (one Redis / node) |"
echo "| --- | ---: | ---: | ---: | --- |"
for scenario in A B; do
  one=$(( ${sums[${scenario}/one]} / rounds )) node=$(( ${sums[${scenario}/cluster]} / rounds ))
  runs=
  for round in $(seq 1 "${rounds}"); do
    for entry in "${results[@]}"; do
      case "${entry}" in "${scenario}/one/${round}="*) runs+="${runs:+, }${entry#*=}" ;; esac
      case "${entry}" in "${scenario}/cluster/${round}="*) runs+=" / ${entry#*=}" ;; esac
    done
  done
  label=$([ "${scenario}" = A ] && echo "A all succeed" || echo "B 10 % fail once, 1 % dead")
  printf '| %s | %s | %s | %+.1f %% | %s |\n' "${label}" "${one}" "${node}" \
    "$(awk -v a="${node}" -v b="${one}" 'BEGIN { printf "%.1f", 100 * (a / b - 1) }')" "${runs}"
done

[ -n "${profile_dir}" ] || exit 0
# The dump of run @p1 (its trigger, e.g. A-one-1) among the profiles.
dump_of() { grep -l -x "desc: Trigger: dump $1" "${profile_dir}"/callgrind.* 2>/dev/null | head -n 1; }
# Each function's own instructions in the dump @p1, per message: "function<TAB>count".
own_per_message() {
  callgrind_annotate --inclusive=no --threshold=100 --auto=no "$1" 2>/dev/null |
    awk -v n="${n}" 'match($0, /^ *[0-9,]+ +\( *[0-9.]+%\) +/) && $0 !~ /PROGRAM TOTALS/ {
                       count = $1; gsub(",", "", count); f = substr($0, RLENGTH + 1); sub(/ \[.*$/, "", f)
                       if (f ~ /:main$|__libc_start|below main|^\?\?\?:0x/) next   # frames open at the zero: whole runs
                       own[f] += count / n }
                     END { for (f in own) printf "%s\t%.1f\n", f, own[f] }'
}
for scenario in A B; do
  one=$(dump_of "${scenario}-one-1") node=$(dump_of "${scenario}-cluster-1")
  [ -n "${one}" ] && [ -n "${node}" ] ||
    { echo "bench-cluster-mode: no profiles of ${scenario} round 1 in ${profile_dir}" >&2; exit 1; }
  echo
  echo "${scenario}: functions that differ most, instructions per message (node - one Redis; ${profile_dir}):"
  echo
  echo "| function | one Redis | node | node - one Redis |"
  echo "| --- | ---: | ---: | ---: |"
  join -t $'\t' -a 1 -a 2 -e 0 -o 0,1.2,2.2 <(own_per_message "${one}" | sort -t $'\t' -k1,1) \
      <(own_per_message "${node}" | sort -t $'\t' -k1,1) |
    awk -F '\t' '{ d = $3 - $2; printf "%s\t%.0f\t%.0f\t%+.0f\t%f\n", $1, $2, $3, d, (d < 0 ? -d : d) }' |
    sort -t $'\t' -k5,5 -g -r | head -n 12 |
    awk -F '\t' '{ sub(/^.*\//, "", $1); printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }'
done
