#!/usr/bin/env bash
# The payments run with --listen: /metrics parses as Prometheus text with the run's counters and
# /health answers JSON while it runs; the run still accounts for every payment (exit 0).
set -euo pipefail
payments="$1"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$payments" --messages 4000 --outage-at 1 --outage-for 1 --quiet --listen "127.0.0.1:$port" >"$out/report" 2>"$out/log" &
pid=$!
scraped=""
for _ in $(seq 1 200); do  # at most ~20 s
  if curl -fsS "http://127.0.0.1:$port/metrics" >"$out/metrics" 2>/dev/null &&
     grep -q '^failpipe_messages_total{channel="payments",type="payment.charge",outcome="succeeded"} [1-9]' "$out/metrics"; then
    scraped=yes
    break
  fi
  sleep 0.1
done
health=$(curl -sS "http://127.0.0.1:$port/health" || true)
wait "$pid"; status=$?
[ -n "$scraped" ] || { echo "no /metrics page with succeeded payments"; cat "$out/log"; exit 1; }
grep -q '^# TYPE failpipe_handler_duration_seconds histogram' "$out/metrics" || { echo "no handler histogram"; exit 1; }
grep -q '^failpipe_worker_threads{state="alive"} 4' "$out/metrics" || { echo "no thread gauge"; exit 1; }
grep -q 'failpipe_breaker_state' "$out/metrics" || { echo "no breaker gauge"; exit 1; }
echo "$health" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["status"] in ("healthy","warning","unhealthy"), r' ||
  { echo "no /health JSON: $health"; exit 1; }
grep -q "serving http://127.0.0.1:$port/metrics and /health" "$out/log" || { echo "the address was not printed"; exit 1; }
[ "$status" -eq 0 ] || { echo "the run exited $status"; cat "$out/report"; exit 1; }
grep -q "lost 0" "$out/report" || { echo "not every payment accounted for"; cat "$out/report"; exit 1; }
echo "scraped /metrics and /health during the run; every payment accounted for"
