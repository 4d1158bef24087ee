#!/bin/bash
# #13 first page of trades (one quarter closed, one tag, 50 a page) under hey -c 16 against a built binary, on the
# kept 50,000-trade book of BenchmarkTradeListHTTP (TRADELIST_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/listbook?sslmode=disable,
# seeded by one run of that benchmark), with a private Redis as in production. Each round runs the binary as it runs by
# default (the page cache on) and with TRADES_PAGE_CACHE_MAX_BYTES=0 (every page read from PostgreSQL), alternating.
# Usage: tests/loadtest/listhey.sh BIN PORT [rounds=3] [requests=20000]
# Prints per run: req/s, p50/p90/p99, the server's and PostgreSQL's CPU per request, and hey's own CPU.
set -euo pipefail
BIN=$1; P=$2; R=${3:-3}; N=${4:-20000}
DB=${TRADELIST_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/listbook?sslmode=disable}
command -v hey >/dev/null || { echo "hey is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
redis-server --port 6398 --save "" --appendonly no --daemonize yes --pidfile "$tmp/redis.pid" >/dev/null
trap 'kill $(jobs -p) 2>/dev/null; redis-cli -p 6398 shutdown nosave >/dev/null 2>&1; rm -rf "$tmp"' EXIT
for i in $(seq 50); do redis-cli -p 6398 ping >/dev/null 2>&1 && break; sleep 0.1; done
# CPU ticks (10 ms) of the PostgreSQL backends of the book's database.
dbticks() {
  local t=0
  for pid in $(psql "$DB" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"); do
    t=$((t + $(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null || echo 0)))
  done
  echo $t
}
run() { # label cache-bytes
  DATABASE_URL="$DB" REDIS_URL=redis://127.0.0.1:6398/0 TRADES_PAGE_CACHE_MAX_BYTES=$2 \
    LOG_LEVEL=${LOG_LEVEL:-info} LOG_FORMAT=json HTTP_ADDR=127.0.0.1:$P WORKER_EMBEDDED=false AUTH_IP_RATE_MULTIPLIER=100000 \
    "$BIN" api >"$tmp/$1.log" 2>&1 &
  local pid=$!
  for i in $(seq 100); do curl -sf "http://127.0.0.1:$P/health/ready" >/dev/null && break; sleep 0.1; done
  local tok tag url
  tok=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"email":"bench-list@example.com","password":"bench list passphrase 1"}' \
    "http://127.0.0.1:$P/api/v1/auth/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  tag=$(curl -s -H "Authorization: Bearer $tok" "http://127.0.0.1:$P/api/v1/tags" | sed -E 's/.*"id":"([^"]+)".*/\1/')
  url="http://127.0.0.1:$P/api/v1/trades?from=2025-04-01&to=2025-06-30&tag_id=$tag&limit=50"
  hey -c 16 -n 2000 -H "Authorization: Bearer $tok" "$url" >/dev/null
  local c0 d0 c1 d1
  c0=$(awk '{print $14+$15}' /proc/$pid/stat); d0=$(dbticks)
  /usr/bin/time -f "%U %S" -o "$tmp/time" hey -c 16 -n "$N" -H "Authorization: Bearer $tok" "$url" >"$tmp/hey.txt"
  c1=$(awk '{print $14+$15}' /proc/$pid/stat); d1=$(dbticks)
  echo "$1: $(grep -E 'Requests/sec' "$tmp/hey.txt" | awk '{printf "%.0f", $2}') req/s, $(grep -E '  50%|  90%|  99%' "$tmp/hey.txt" | awk '{printf "%s %.2f ms  ", $1, $3*1000}')" \
    "server $(awk -v t=$((c1-c0)) -v n="$N" 'BEGIN{printf "%.0f", t*10000/n}') µs/req, PostgreSQL $(awk -v t=$((d1-d0)) -v n="$N" 'BEGIN{printf "%.0f", t*10000/n}') µs/req," \
    "hey $(awk '{printf "%.2f", $1+$2}' "$tmp/time") s CPU; codes: $(grep -A3 'Status code' "$tmp/hey.txt" | tail -n +2 | tr -s ' ' | tr '\n' ' ')"
  kill $pid; wait $pid 2>/dev/null || true
}
for r in $(seq "$R"); do
  run "round $r cached" 8388608
  run "round $r uncached" 0
done
