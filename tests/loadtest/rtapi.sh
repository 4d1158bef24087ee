#!/usr/bin/env bash
# RSS per idle realtime connection of the real `tradesense api` (local
# profile, in-process broker, the whole Gin server in front): 10 users,
# N connections spread over them, read from /proc/<pid>/status.
# Usage: tests/loadtest/rtapi.sh [connections=10000] [hold=60s] [extra env, e.g. REALTIME_WRITE_DELAY=1ms]
# RTAPI_BIN=dir uses prebuilt dir/tradesense and dir/rtload.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-10000}
hold=${2:-60s}
shift 2 || true
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
bin=${RTAPI_BIN:-$tmp}
if [ -z "${RTAPI_BIN:-}" ]; then
  CGO_ENABLED=0 go build -trimpath -o "$bin/tradesense" ./app/tradesense
  CGO_ENABLED=0 go build -trimpath -o "$bin/rtload" ./tests/loadtest/rtload
fi
ulimit -n 65536 2>/dev/null || true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export APP_ENV=development LOG_LEVEL=warn HTTP_ADDR=127.0.0.1:$port DATA_DIR="$tmp/data" \
  AUTH_ARGON2_MEMORY_KIB=64 AUTH_ARGON2_TIME=1 AUTH_IP_RATE_MULTIPLIER=1000 \
  REALTIME_MAX_CONNECTIONS_PER_USER=1000 TRADESENSE_PASSWORD="realtime load passphrase"
for i in $(seq 0 9); do "$bin/tradesense" users create --email "rt$i@example.com" >/dev/null; done
env "$@" "$bin/tradesense" api >"$tmp/api.log" 2>&1 &
pid=$!
until curl -sf -o /dev/null "http://127.0.0.1:$port/health/ready"; do
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/api.log" >&2; exit 1; }
  sleep 0.05
done
sleep 2
"$bin/rtload" api -url "http://127.0.0.1:$port" -pid "$pid" -users 'rt%d@example.com:10' -password "$TRADESENSE_PASSWORD" -n "$n" -hold "$hold"
