#!/bin/bash
# #13 cached first trade page under hey -c 16, two binaries alternating (A then B, R rounds), on the kept book of
# listhey.sh (same request, same start, page cache on, a private Redis per run). Prints per run: req/s, p50/p99, the
# server's CPU per request and hey's own CPU.
# Usage: tests/loadtest/listab.sh A_BIN B_BIN [rounds=3] [port=18181]
set -euo pipefail
A=$1; B=$2; R=${3:-3}; P=${4:-18181}
DB=${TRADELIST_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/listbook?sslmode=disable}
command -v hey >/dev/null || { echo "hey is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; redis-cli -p 6398 shutdown nosave >/dev/null 2>&1; rm -rf "$tmp"' EXIT
run() { # label bin
  redis-server --port 6398 --save "" --appendonly no --daemonize yes --pidfile "$tmp/redis.pid" >/dev/null
  for i in $(seq 50); do redis-cli -p 6398 ping >/dev/null 2>&1 && break; sleep 0.1; done
  DATABASE_URL="$DB" REDIS_URL=redis://127.0.0.1:6398/0 LOG_LEVEL=info LOG_FORMAT=json HTTP_ADDR=127.0.0.1:$P \
    WORKER_EMBEDDED=false AUTH_IP_RATE_MULTIPLIER=100000 "$2" api >"$tmp/server.log" 2>&1 &
  local pid=$!
  for i in $(seq 100); do curl -sf "http://127.0.0.1:$P/health/ready" >/dev/null && break; sleep 0.1; done
  local tok tag url c0 c1
  tok=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"email":"bench-list@example.com","password":"bench list passphrase 1"}' \
    "http://127.0.0.1:$P/api/v1/auth/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  tag=$(curl -s -H "Authorization: Bearer $tok" "http://127.0.0.1:$P/api/v1/tags" | sed -E 's/.*"id":"([^"]+)".*/\1/')
  url="http://127.0.0.1:$P/api/v1/trades?from=2025-04-01&to=2025-06-30&tag_id=$tag&limit=50"
  hey -c 16 -n 2000 -H "Authorization: Bearer $tok" "$url" >/dev/null
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  /usr/bin/time -f "%U %S" -o "$tmp/time" hey -c 16 -n 20000 -H "Authorization: Bearer $tok" "$url" >"$tmp/hey.txt"
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  echo "$1: $(grep -E 'Requests/sec' "$tmp/hey.txt" | awk '{printf "%.0f", $2}') req/s, $(grep -E '  50%|  99%' "$tmp/hey.txt" | awk '{printf "%s %.2f ms  ", $1, $3*1000}')" \
    "server $(( (c1 - c0) * 10000 / 20000 )) µs/req, hey $(awk '{printf "%.2f", $1+$2}' "$tmp/time") s CPU"
  kill $pid; wait $pid 2>/dev/null || true
  redis-cli -p 6398 shutdown nosave >/dev/null 2>&1 || true
}
echo "load: $(uptime | sed 's/.*load/load/')"
for r in $(seq "$R"); do
  run "round $r A" "$A"
  run "round $r B" "$B"
done
