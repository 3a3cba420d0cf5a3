#!/usr/bin/env bash
# `failpipe dlq replay` and `failpipe dashboard` trust the same origins: given the same --config,
# a dry-run replay of the same dead letters refuses the same ones, for the same reason, through
# either. One dead letter names a channel of the config's worker.channels that has no pipeline
# (and that the broker does not list): trusted by both. One names a channel nobody configured
# (forged): refused by both. Without --config both refuse the two alike.
# Usage: origin_trust.sh FAILPIPE SEEDER (over FAILPIPE_TEST_REDIS_URL; skipped without it).
set -u
exe=$1
seeder=$2
if [ -z "${FAILPIPE_TEST_REDIS_URL:-}" ]; then
  echo "skipped: FAILPIPE_TEST_REDIS_URL is not set (source scripts/redis-test-server.sh)"
  exit 0
fi
url=${FAILPIPE_TEST_REDIS_URL}
prefix="origintest-$$-${RANDOM}"
work=$(mktemp -d -t failpipe-origin-trust.XXXXXX)
pid=
stop_dashboard() {
  if [ -n "${pid}" ] && kill -0 "${pid}" 2>/dev/null; then kill -TERM "${pid}" 2>/dev/null; wait "${pid}" 2>/dev/null; fi
  pid=
}
cleanup() { stop_dashboard; rm -rf "${work}"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# orders has a pipeline; audit is only a worker channel (it runs the default pipeline).
cat >"${work}/config.json" <<'JSON'
{
  "pipelines": {"orders": [{"type": "send-again", "id": "again", "maxAttempts": 2}]},
  "worker": {"channels": ["orders", "audit"]}
}
JSON
"${seeder}" "${url}" "${prefix}" orders:dlq w1=audit f1=admin-commands o1=orders || fail "seeding failed"

# The CLI's refusals as "ID<TAB>reason" lines in cli.refused; its summary is the last line of cli.out.
cli_refusals() {
  local status=0
  "${exe}" dlq replay --channel orders --dry-run --redis "${url}" --prefix "${prefix}" "$@" >"${work}/cli.out" 2>"${work}/cli.err" ||
    status=$?
  [ "${status}" -eq 0 ] || fail "dlq replay --dry-run $*: exit ${status} ($(cat "${work}/cli.err"))"
  sed -n 's/^refused \([^:]*\): \(.*\) (left in the dead letters; --to CHANNEL replays it there)$/\1\t\2/p' "${work}/cli.out" |
    sort >"${work}/cli.refused"
}

# The dashboard's refusals for the same dry run, as the same lines in api.refused; its answer in api.
api_refusals() {
  "${exe}" dashboard --redis "${url}" --prefix "${prefix}" --listen 127.0.0.1:0 "$@" >"${work}/dash.out" 2>"${work}/dash.err" &
  pid=$!
  for _ in $(seq 1 100); do grep -qs '^open: ' "${work}/dash.out" && break; sleep 0.1; done
  local base token code
  base=$(grep -o 'http://127.0.0.1:[0-9]*/' "${work}/dash.out" | head -1)
  token=$(sed -n 's/^token: //p' "${work}/dash.out")
  [ -n "${base}" ] || fail "the dashboard $* printed no URL ($(cat "${work}/dash.err"))"
  code=$(curl -s -o "${work}/api" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H "X-Failpipe-Token: ${token}" -d '{"channel": "orders", "dryRun": true}' "${base}api/replay")
  stop_dashboard
  [ "${code}" = 200 ] || fail "POST /api/replay (dry run) $*: ${code} ($(cat "${work}/api"))"
  jq -r '.refusals[] | "\(.id)\t\(.reason)"' "${work}/api" | sort >"${work}/api.refused"
}

# check WANT_REFUSED WANT_REPLAYED [--config FILE]: both refuse exactly WANT_REFUSED (ids, space-
# separated), with the same reasons, and would replay WANT_REPLAYED.
check() {
  local want_refused=$1 want_replayed=$2
  shift 2
  local what=${*:-without --config}
  cli_refusals "$@"
  api_refusals "$@"
  local refused
  refused=$(cut -f1 "${work}/cli.refused" | xargs)
  [ "${refused}" = "${want_refused}" ] || fail "${what}: the CLI refused [${refused}], expected [${want_refused}]"
  cmp -s "${work}/cli.refused" "${work}/api.refused" || fail "${what}: the CLI and the dashboard disagree:
  cli: $(cat "${work}/cli.refused")
  api: $(cat "${work}/api.refused")"
  grep -q "^dry run: would replay ${want_replayed} of orders:dlq to their channels, park 0, skip 0, refuse " "${work}/cli.out" ||
    fail "${what}: the CLI's summary: $(tail -1 "${work}/cli.out")"
  [ "$(jq -r .replayed "${work}/api")" = "${want_replayed}" ] ||
    fail "${what}: the dashboard would replay $(jq -r .replayed "${work}/api"), expected ${want_replayed}"
  grep -q 'its origin "admin-commands" is not a channel this deployment knows' "${work}/cli.refused" ||
    fail "${what}: no reason given: $(cat "${work}/cli.refused")"
}

# With the config: audit (a worker channel without a pipeline) is trusted by both, the forged one not.
check "f1" 2 --config "${work}/config.json"
# Without it: neither knows audit either; the two still agree.
check "f1 w1" 1
# A dry run moved nothing.
"${exe}" stats --channel orders --format json --redis "${url}" --prefix "${prefix}" >"${work}/stats" ||
  fail "stats failed"
[ "$(jq -r '.channels[0].dead' "${work}/stats")" = 3 ] || fail "the dead letters moved: $(cat "${work}/stats")"
echo "ok: the CLI and the dashboard trust and refuse the same origins"
