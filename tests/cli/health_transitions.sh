#!/usr/bin/env bash
# `failpipe health` through the real binary over a redis-server of this test's own: healthy (0),
# warning (1) once a dead letter waits — "1 more since the last check" with --state, then without —
# unhealthy (2) while the server is paused (the --timeout bounds the wait) and once it is stopped.
# The server is started and stopped by its PID (scripts/redis-test-server.sh).
# Usage: health_transitions.sh FAILPIPE_BINARY SOURCE_DIR
set -u
exe=$1
source_dir=$2
unset FAILPIPE_TEST_REDIS_URL FAILPIPE_REDIS_URL
# shellcheck source=../../scripts/redis-test-server.sh
source "${source_dir}/scripts/redis-test-server.sh"
url=${FAILPIPE_TEST_REDIS_URL}
work=$(mktemp -d -t failpipe-health.XXXXXX)
trap 'kill -CONT "${failpipe_redis_pid}" 2>/dev/null; failpipe_stop_redis; rm -rf "${work}"' EXIT
failures=0

# expect STATUS REGEX ARGS...: runs failpipe ARGS, checks the exit status and that stdout matches.
expect() {
  local want=$1 pattern=$2
  shift 2
  local out status
  out=$("${exe}" "$@" 2>"${work}/stderr")
  status=$?
  if [ "${status}" != "${want}" ] || ! grep -Eq -- "${pattern}" <<<"${out}"; then
    echo "FAIL: failpipe $* -> status ${status} (expected ${want})"
    echo "  stdout: ${out}"
    echo "  stderr: $(cat "${work}/stderr")"
    echo "  expected stdout to match: ${pattern}"
    failures=$((failures + 1))
  else
    echo "ok: failpipe $* -> ${status}"
  fi
}

broker=(--redis "${url}" --prefix health-test)
state=(--state "${work}/state.json")

expect 0 '^\{"status":"healthy"' health "${broker[@]}" "${state[@]}" --format json
"${exe}" push --channel orders --type order.created --data 1 "${broker[@]}" >/dev/null
expect 0 '^\{"status":"healthy"' health "${broker[@]}" "${state[@]}" --format json

# A dead letter arrives (as the dead-letter middleware would put it there).
"${exe}" push --channel orders:dlq --type order.created --data 2 "${broker[@]}" >/dev/null
expect 1 '"reasons":\["orders:dlq holds 1 dead letter \(1 more since the last check\)"\]' \
  health "${broker[@]}" "${state[@]}" --format json
expect 1 '"reasons":\["orders:dlq holds 1 dead letter"\]' health "${broker[@]}" "${state[@]}" --format json
expect 1 '^warning$' health "${broker[@]}"
# health only reads: the message and the dead letter are where they were.
expect 0 '^\{"channels":\[\{"channel":"orders","ready":1,"delayed":0,"reserved":0,"dead":1,' \
  stats --format json "${broker[@]}"

# A broker that does not answer: paused, it is unhealthy within the timeout.
kill -STOP "${failpipe_redis_pid}"
started=$(date +%s)
expect 2 '"components":\[\{"name":"broker","status":"unhealthy","reasons":\["unreachable: redis://127\.0\.0\.1:[0-9]+: ' \
  health "${broker[@]}" --timeout 1s --format json
took=$(( $(date +%s) - started ))
if [ "${took}" -gt 30 ]; then
  echo "FAIL: health took ${took} s against a paused broker with --timeout 1s"
  failures=$((failures + 1))
fi
kill -CONT "${failpipe_redis_pid}"
expect 1 '^warning$' health "${broker[@]}"

# Stopped: unhealthy, and the report is still printed.
failpipe_stop_redis
expect 2 '^\{"status":"unhealthy".*Connection refused' health "${broker[@]}" --format json
expect 2 '^unhealthy$' health "${broker[@]}" "${state[@]}"

if [ "${failures}" -ne 0 ]; then
  echo "${failures} check(s) failed"
  exit 1
fi
echo "all checks passed"
