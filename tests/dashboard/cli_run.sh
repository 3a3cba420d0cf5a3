#!/usr/bin/env bash
# `failpipe dashboard` starts even while the broker is down (it says so), prints its URL and token,
# serves the page and the API (503 from the broker, 401 without the token), and exits 0 on SIGTERM.
set -u
exe=$1
work=$(mktemp -d -t failpipe-dashboard-cli.XXXXXX)
pid=
cleanup() {
  if [ -n "${pid}" ] && kill -0 "${pid}" 2>/dev/null; then kill -KILL "${pid}" 2>/dev/null; fi
  rm -rf "${work}"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- stdout"; cat "${work}/out"; echo "--- stderr"; cat "${work}/err"; exit 1; }

"${exe}" dashboard --redis redis://127.0.0.1:1 --listen 127.0.0.1:0 >"${work}/out" 2>"${work}/err" &
pid=$!
for _ in $(seq 1 100); do grep -qs '^open: ' "${work}/out" && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*/' "${work}/out" | head -1)
token=$(sed -n 's/^token: //p' "${work}/out")
[ -n "${url}" ] || fail "no URL printed"
[ "${#token}" -eq 64 ] || fail "no 64-digit token printed"
grep -q "the broker does not answer now" "${work}/err" || fail "no warning about the broker"
grep -q "open: ${url}#token=${token}" "${work}/out" || fail "no link with the token"

code=$(curl -s -o "${work}/page" -w '%{http_code}' "${url}")
[ "${code}" = 200 ] || fail "GET / answered ${code}"
grep -q '<script src="/app.js"' "${work}/page" || fail "the page does not load app.js"
code=$(curl -s -o "${work}/overview" -w '%{http_code}' "${url}api/overview")
[ "${code}" = 503 ] || fail "GET /api/overview with the broker down answered ${code}"
grep -q 'broker unreachable' "${work}/overview" || fail "the 503 does not say the broker is unreachable"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"channel":"orders"}' "${url}api/replay")
[ "${code}" = 401 ] || fail "POST without the token answered ${code}"

kill -TERM "${pid}"
status=0
wait "${pid}" || status=$?
pid=
[ "${status}" -eq 0 ] || fail "exit ${status} after SIGTERM, expected 0"
grep -q 'failpipe dashboard: stopped' "${work}/out" || fail "no 'stopped' line"
echo "ok"
