#!/usr/bin/env bash
# The same bad filter, given to `failpipe dlq list` and to the dashboard's GET /api/dead, is refused
# with the same message (each naming the parameter as its user spells it: --since / since), and
# neither reaches the broker (none answers here).
set -u
exe=$1
work=$(mktemp -d -t failpipe-filter-messages.XXXXXX)
pid=
cleanup() {
  if [ -n "${pid}" ] && kill -0 "${pid}" 2>/dev/null; then kill -TERM "${pid}" 2>/dev/null; wait "${pid}" 2>/dev/null; fi
  rm -rf "${work}"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

"${exe}" dashboard --redis redis://127.0.0.1:1 --listen 127.0.0.1:0 >"${work}/out" 2>"${work}/err" &
pid=$!
for _ in $(seq 1 100); do grep -qs '^open: ' "${work}/out" && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*/' "${work}/out" | head -1)
[ -n "${url}" ] || fail "the dashboard printed no URL"

checked=0
# check NAME=VALUE [NAME=VALUE]: the CLI's stderr and the API's 400 error must say the same.
check() {
  local cli_args=() api_args=() pair name value
  for pair in "$@"; do
    name=${pair%%=*}
    value=${pair#*=}
    cli_args+=("--${name}" "${value}")
    api_args+=(--data-urlencode "${name}=${value}")
  done
  local status=0
  "${exe}" dlq list --channel orders "${cli_args[@]}" --redis redis://127.0.0.1:1 >"${work}/cli.out" 2>"${work}/cli.err" || status=$?
  [ "${status}" -eq 2 ] || fail "dlq list $*: exit ${status}, expected 2 ($(cat "${work}/cli.err"))"
  local cli api code
  # The CLI's own framing around the message: its name before, the pointer to --help after.
  cli=$(sed -n 's/^failpipe dlq list: //p' "${work}/cli.err" | sed 's/ (see "failpipe dlq list --help")$//')
  code=$(curl -s -o "${work}/api" -w '%{http_code}' --get --data-urlencode channel=orders "${api_args[@]}" "${url}api/dead")
  [ "${code}" = 400 ] || fail "GET /api/dead $*: ${code}, expected 400 ($(cat "${work}/api"))"
  api=$(jq -r .error "${work}/api")
  # The CLI names --since, the API since: the rest is the same text.
  [ "$(printf '%s' "${cli}" | sed -E 's/--(since|until|grep|channel|reason|class|group)/\1/g')" = "${api}" ] ||
    fail "$*: different messages:
  cli: ${cli}
  api: ${api}"
  case "${cli}" in --*|unknown*|dead-letter*) ;; *) fail "$*: the CLI's message does not start with the parameter: ${cli}" ;; esac
  checked=$((checked + 1))
}

check since=yesterday
check since=
check "since=2026-03-01T10:00:00"
check "since=2026-03-01T10:00:00+02:00"
check "until=2026-02-30T10:00:00Z"
check since=5x
check since=-5m
check since=1e12
check "grep=order (["
check since=1h until=2h
[ "${checked}" -eq 10 ] || fail "only ${checked} cases checked"

# A good UTC time passes both: the CLI goes on to the broker (none answers: exit 1, not 2), and the
# API to the adapter (503 from the broker, not 400).
status=0
"${exe}" dlq list --channel orders --since 2026-03-01T10:00:00Z --until 1h --redis redis://127.0.0.1:1 >/dev/null 2>"${work}/cli.err" || status=$?
[ "${status}" -eq 1 ] || fail "dlq list --since <UTC time>: exit ${status}, expected 1 ($(cat "${work}/cli.err"))"
code=$(curl -s -o "${work}/api" -w '%{http_code}' --get --data-urlencode channel=orders \
  --data-urlencode since=2026-03-01T10:00:00Z --data-urlencode until=1h "${url}api/dead")
[ "${code}" = 503 ] || fail "GET /api/dead?since=<UTC time>: ${code}, expected 503 ($(cat "${work}/api"))"
echo "ok: ${checked} bad filters, the same message from the CLI and the API"
