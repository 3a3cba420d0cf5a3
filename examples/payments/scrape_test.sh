#!/usr/bin/env bash
# The payments run with --listen: /metrics holds the run's counters and gauges and /health answers
# JSON while it runs; the run still accounts for every payment (exit 0). Plain bash (/dev/tcp): no
# curl or python on the test machine.
set -euo pipefail
payments="$1"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# GET $1 from the run's server into $2 (body only); fails when the server does not answer.
get() {
  local path="$1" file="$2"
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
  timeout 5 cat <&3 | tr -d '\r' | sed '1,/^$/d' >"$file"
  exec 3>&-
}

"$payments" --messages 4000 --outage-at 1 --outage-for 1 --quiet --listen 127.0.0.1:0 >"$out/report" 2>"$out/log" &
pid=$!
port=""
for _ in $(seq 1 100); do  # the address is printed before the first payment is pushed
  port=$(sed -n 's|.*serving http://127\.0\.0\.1:\([0-9]*\)/metrics and /health.*|\1|p' "$out/log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "the address was not printed"; cat "$out/log"; kill "$pid"; exit 1; }
scraped=""
for _ in $(seq 1 200); do  # at most ~20 s
  if get /metrics "$out/metrics" 2>/dev/null &&
     grep -q '^failpipe_messages_total{channel="payments",type="payment.charge",outcome="succeeded"} [1-9]' "$out/metrics"; then
    scraped=yes
    break
  fi
  sleep 0.1
done
get /health "$out/health" || true
status=0
wait "$pid" || status=$?
[ -n "$scraped" ] || { echo "no /metrics page with succeeded payments"; cat "$out/log"; exit 1; }
grep -q '^# TYPE failpipe_handler_duration_seconds histogram' "$out/metrics" || { echo "no handler histogram"; exit 1; }
grep -q '^failpipe_worker_threads{state="alive"} 4' "$out/metrics" || { echo "no thread gauge"; exit 1; }
grep -q '^failpipe_breaker_state' "$out/metrics" || { echo "no breaker gauge"; exit 1; }
grep -Eq '"status": ?"(healthy|warning|unhealthy)"' "$out/health" || { echo "no /health JSON:"; cat "$out/health"; exit 1; }
[ "$status" -eq 0 ] || { echo "the run exited $status"; cat "$out/report"; exit 1; }
grep -q "lost 0" "$out/report" || { echo "not every payment accounted for"; cat "$out/report"; exit 1; }
echo "scraped /metrics and /health during the run; every payment accounted for"
