#!/usr/bin/env bash
# Sourced by scripts that need a throw-away redis-server: starts one on 127.0.0.1 on a free port in a
# temporary directory, exports FAILPIPE_TEST_REDIS_URL and FAILPIPE_REDIS_SERVER, and stops it (by its
# PID) when the calling shell exits, whatever the outcome.
failpipe_redis_dir=$(mktemp -d -t failpipe-redis.XXXXXX)
failpipe_redis_pid=
failpipe_stop_redis() {
  if [ -n "${failpipe_redis_pid}" ] && kill -0 "${failpipe_redis_pid}" 2>/dev/null; then
    kill "${failpipe_redis_pid}" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "${failpipe_redis_pid}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${failpipe_redis_pid}" 2>/dev/null || true
  fi
  rm -rf "${failpipe_redis_dir}"
}
trap failpipe_stop_redis EXIT
export FAILPIPE_REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)
for _attempt in $(seq 1 20); do
  port=$(( 20000 + (RANDOM * 7 + _attempt * 131) % 40000 ))
  "${FAILPIPE_REDIS_SERVER}" --bind 127.0.0.1 --port "${port}" --dir "${failpipe_redis_dir}" \
      --save '' --appendonly no --protected-mode yes --daemonize no \
      --logfile "${failpipe_redis_dir}/redis.log" &
  failpipe_redis_pid=$!
  # The server answering must be ours (a foreign one may already hold the port): compare PIDs.
  ours() {
    kill -0 "${failpipe_redis_pid}" 2>/dev/null &&
      redis-cli -h 127.0.0.1 -p "${port}" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:${failpipe_redis_pid}"
  }
  for _ in $(seq 1 50); do
    ours && break
    kill -0 "${failpipe_redis_pid}" 2>/dev/null || break
    sleep 0.1
  done
  if ours; then
    export FAILPIPE_TEST_REDIS_URL="redis://127.0.0.1:${port}"
    echo "failpipe: redis-server ${failpipe_redis_pid} on 127.0.0.1:${port}" >&2
    break
  fi
  kill "${failpipe_redis_pid}" 2>/dev/null || true
  failpipe_redis_pid=
done
if [ -z "${FAILPIPE_TEST_REDIS_URL:-}" ]; then
  echo "failpipe: could not start redis-server on a free port" >&2
  exit 1
fi
