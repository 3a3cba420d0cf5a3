#!/usr/bin/env bash
# Sourced by scripts and tests that need a throw-away Redis Cluster: starts 6 redis-server nodes
# (3 masters + 3 replicas; FAILPIPE_TEST_CLUSTER_REPLICAS=0 or 2 gives 0 or 2 per master) on 127.0.0.1 on free ports in a temporary directory, creates the cluster
# with `redis-cli --cluster create`, waits until every node reports cluster_state:ok, and exports
#   FAILPIPE_TEST_REDIS_CLUSTER_URL    redis://127.0.0.1:<port of one node> (a seed)
#   FAILPIPE_TEST_REDIS_CLUSTER_NODES  "port:pid,port:pid,..." (every node, for tests that kill one)
#   FAILPIPE_TEST_REDIS_CLUSTER_DIR    the nodes' directory (node <port> in <dir>/<port>); a test that
#                                      restarts a node it killed appends the new PID to <dir>/extra.pids
#   FAILPIPE_REDIS_SERVER              the redis-server binary
# It stops every node (by its PID) when the calling shell exits, whatever the outcome (an EXIT trap set
# before, e.g. by scripts/redis-test-server.sh sourced first, still runs: source that one first).
# Every wait is bounded; on failure it prints why and exits 1.
failpipe_cluster_dir=$(mktemp -d -t failpipe-cluster.XXXXXX)
failpipe_cluster_pids=()
failpipe_stop_cluster() {
  local pid
  if [ -f "${failpipe_cluster_dir}/extra.pids" ]; then
    while read -r pid; do failpipe_cluster_pids+=("${pid}"); done <"${failpipe_cluster_dir}/extra.pids"
  fi
  for pid in "${failpipe_cluster_pids[@]}"; do
    kill "${pid}" 2>/dev/null || true
  done
  for pid in "${failpipe_cluster_pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${pid}" 2>/dev/null || true
  done
  rm -rf "${failpipe_cluster_dir}"
}
# scripts/redis-test-server.sh sourced first sets an EXIT trap of its own: run both. Any other EXIT
# trap is replaced, as redis-test-server.sh does (never copied: in a subshell `trap -p` shows the
# parent's traps, which must not run when the subshell ends).
if declare -F failpipe_stop_redis >/dev/null && trap -p EXIT | grep -q 'failpipe_stop_redis'; then
  trap 'failpipe_stop_cluster; failpipe_stop_redis' EXIT
else
  trap failpipe_stop_cluster EXIT
fi
export FAILPIPE_REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)

# The node answering on $1 is the process $2 (a foreign server may already hold the port).
failpipe_cluster_ours() {
  kill -0 "$2" 2>/dev/null &&
    redis-cli -h 127.0.0.1 -p "$1" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$2"
}

# Starts one node on a free port (the cluster bus takes port + 10000, so ports stay below 55536).
failpipe_cluster_start_node() {
  local attempt port pid dir
  for attempt in $(seq 1 20); do
    port=$(( 20000 + (RANDOM * 7 + attempt * 131 + ${#failpipe_cluster_pids[@]} * 977) % 30000 ))
    dir="${failpipe_cluster_dir}/${port}"
    mkdir -p "${dir}" || continue
    # cluster-node-timeout 1000: a killed master is failed over within a few seconds, so the
    # failover tests stay short.
    "${FAILPIPE_REDIS_SERVER}" --bind 127.0.0.1 --port "${port}" --dir "${dir}" \
        --cluster-enabled yes --cluster-config-file "${dir}/nodes.conf" --cluster-node-timeout 1000 \
        --save '' --appendonly no --protected-mode yes --daemonize no \
        --logfile "${dir}/redis.log" &
    pid=$!
    for _ in $(seq 1 50); do
      failpipe_cluster_ours "${port}" "${pid}" && break
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    if failpipe_cluster_ours "${port}" "${pid}"; then
      # Not a job of the shell: a node a test kills is not reported as "Killed" in its output.
      disown "${pid}" 2>/dev/null || true
      failpipe_cluster_pids+=("${pid}")
      failpipe_cluster_ports+=("${port}")
      return 0
    fi
    kill "${pid}" 2>/dev/null || true
    rm -rf "${dir}"
  done
  return 1
}

failpipe_cluster_ports=()
failpipe_cluster_failed=
# FAILPIPE_TEST_CLUSTER_REPLICAS: replicas per master (default 1; 0 gives three masters alone).
failpipe_cluster_replicas=${FAILPIPE_TEST_CLUSTER_REPLICAS:-1}
case "${failpipe_cluster_replicas}" in
  0 | 1 | 2) ;;
  *) echo "failpipe: FAILPIPE_TEST_CLUSTER_REPLICAS must be 0, 1 or 2" >&2; exit 1 ;;
esac
for _node in $(seq 1 $(( 3 * (1 + failpipe_cluster_replicas) ))); do
  if ! failpipe_cluster_start_node; then
    echo "failpipe: could not start redis-server node ${_node} of the cluster on a free port" >&2
    failpipe_cluster_failed=1
    break
  fi
done

if [ -z "${failpipe_cluster_failed}" ]; then
  _addresses=()
  for _port in "${failpipe_cluster_ports[@]}"; do _addresses+=("127.0.0.1:${_port}"); done
  if ! timeout 60 redis-cli --cluster create "${_addresses[@]}" --cluster-replicas "${failpipe_cluster_replicas}" --cluster-yes \
        >"${failpipe_cluster_dir}/create.log" 2>&1; then
    echo "failpipe: redis-cli --cluster create failed:" >&2
    tail -n 20 "${failpipe_cluster_dir}/create.log" >&2
    failpipe_cluster_failed=1
  fi
fi

if [ -z "${failpipe_cluster_failed}" ]; then
  # Every node must agree the cluster is ok (slots covered, every node known) before tests start.
  _ok=
  for _ in $(seq 1 300); do
    _ok=1
    for _port in "${failpipe_cluster_ports[@]}"; do
      if ! redis-cli -h 127.0.0.1 -p "${_port}" cluster info 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok'; then
        _ok=
        break
      fi
      # Every node known and linked, and every master replicated (a failover test needs a replica
      # that has synced, else it is not promoted).
      if [ "$(redis-cli -h 127.0.0.1 -p "${_port}" cluster nodes 2>/dev/null | grep -c connected)" != "${#failpipe_cluster_ports[@]}" ]; then
        _ok=
        break
      fi
      _repl=$(redis-cli -h 127.0.0.1 -p "${_port}" info replication 2>/dev/null | tr -d '\r')
      if [ "${failpipe_cluster_replicas}" -gt 0 ] && echo "${_repl}" | grep -qx 'role:master' && ! echo "${_repl}" | grep -q '^slave0:.*state=online'; then
        _ok=
        break
      fi
    done
    [ -n "${_ok}" ] && break
    sleep 0.1
  done
  if [ -z "${_ok}" ]; then
    echo "failpipe: the Redis Cluster did not reach cluster_state:ok within 30 s" >&2
    failpipe_cluster_failed=1
  fi
fi

if [ -n "${failpipe_cluster_failed}" ]; then
  exit 1
fi

_nodes=
for _i in "${!failpipe_cluster_ports[@]}"; do
  _nodes+="${_nodes:+,}${failpipe_cluster_ports[$_i]}:${failpipe_cluster_pids[$_i]}"
done
export FAILPIPE_TEST_REDIS_CLUSTER_URL="redis://127.0.0.1:${failpipe_cluster_ports[0]}"
export FAILPIPE_TEST_REDIS_CLUSTER_NODES="${_nodes}"
export FAILPIPE_TEST_REDIS_CLUSTER_DIR="${failpipe_cluster_dir}"
echo "failpipe: Redis Cluster on 127.0.0.1 (port:pid ${FAILPIPE_TEST_REDIS_CLUSTER_NODES})" >&2
unset _node _addresses _port _ok _i _nodes _repl
