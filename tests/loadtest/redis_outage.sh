#!/usr/bin/env bash
# GET /api/v1/auth/me under hey with Redis up, then with Redis killed
# (issue 11 item 6): PostgreSQL (TEST_POSTGRES_URL's server, a throwaway
# database) and a private redis-server. Usage: redis_outage.sh [DURATION] [CONCURRENCY]
set -euo pipefail
dur=${1:-10s}; conc=${2:-8}
cd "$(dirname "$0")/../.."
command -v hey >/dev/null || { echo "hey is not installed (apt-get install hey)" >&2; exit 1; }
pg=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
db="bench_outage_$$"
work=$(mktemp -d)
rport=16399; hport=8097
psql "$pg" -qc "CREATE DATABASE $db" >/dev/null
cleanup() {
  [ -n "${api:-}" ] && kill "$api" 2>/dev/null && wait "$api" 2>/dev/null || true
  [ -n "${rds:-}" ] && kill "$rds" 2>/dev/null && wait "$rds" 2>/dev/null || true
  psql "$pg" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/tradesense" ./app/tradesense
redis-server --bind 127.0.0.1 --port $rport --save "" --appendonly no >/dev/null & rds=$!
export DATABASE_URL="${pg%%/test*}/$db?sslmode=disable" REDIS_URL="redis://127.0.0.1:$rport/0" DATA_DIR="$work/data" \
  HTTP_ADDR="127.0.0.1:$hport" LOG_LEVEL=error AUTH_IP_RATE_MULTIPLIER=1000 AUTH_NOTIFY_NEW_LOGIN=false \
  TRADESENSE_PASSWORD="outage bench passphrase 1"
"$work/tradesense" migrate up >/dev/null
"$work/tradesense" users create --email bench@example.com >/dev/null
"$work/tradesense" api >"$work/api.log" 2>&1 & api=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$hport/health" >/dev/null && break; sleep 0.1; done
tok=$(curl -fs -H 'Content-Type: application/json' -d '{"email":"bench@example.com","password":"outage bench passphrase 1"}' \
  "http://127.0.0.1:$hport/api/v1/auth/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
run() {
  hey -z 2s -c "$conc" -H "Authorization: Bearer $tok" "http://127.0.0.1:$hport/api/v1/auth/me" >/dev/null
  hey -z "$dur" -c "$conc" -H "Authorization: Bearer $tok" "http://127.0.0.1:$hport/api/v1/auth/me" |
    awk -v what="$1" '/Requests\/sec/ {rps=$2} /50%/ {p50=$3} /95%/ {p95=$3} /99%/ {p99=$3} /^\s+\[[0-9]+\]/ {codes=codes" "$1"x"$2}
      END {printf "%-12s %8.0f req/s  p50 %6.2f ms  p95 %6.2f ms  p99 %6.2f ms  statuses:%s\n", what, rps, p50*1000, p95*1000, p99*1000, codes}'
}
run "redis up"
kill -9 "$rds"; wait "$rds" 2>/dev/null || true; rds=
sleep 1
run "redis down"
