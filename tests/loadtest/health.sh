#!/usr/bin/env bash
# Load test of /health: tradesense (local profile, full middleware chain)
# against a bare Gin hello-world, in one run, with hey. Also reports the
# idle RSS of `tradesense api` and its start-to-ready time.
# Usage: tests/loadtest/health.sh [duration=10s] [concurrency=64]
set -euo pipefail
cd "$(dirname "$0")/../.."
dur=${1:-10s}
conc=${2:-64}
command -v hey >/dev/null || { echo "hey is not installed (apt-get install hey)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$tmp/tradesense" ./app/tradesense
CGO_ENABLED=0 go build -trimpath -o "$tmp/baregin" ./tests/loadtest/baregin

# Start to ready: from exec to the first 200 from /health/ready.
start=$(date +%s%N)
APP_ENV=development LOG_LEVEL=warn HTTP_ADDR=127.0.0.1:8098 DATA_DIR="$tmp/data" "$tmp/tradesense" api >"$tmp/api.log" 2>&1 &
pid=$!
until curl -sf -o /dev/null http://127.0.0.1:8098/health/ready; do sleep 0.005; done
ready=$(date +%s%N)
echo "start to ready: $(( (ready - start) / 1000000 )) ms (first start: creates and migrates the SQLite file)"
sleep 2
echo "idle RSS: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"

"$tmp/baregin" 127.0.0.1:8099 >/dev/null 2>&1 &
until curl -sf -o /dev/null http://127.0.0.1:8099/health; do sleep 0.01; done

summary() { awk '/Requests\/sec/ {rps=$2} /99% in/ {p99=$3} END {printf "%s req/s, p99 %s s\n", rps, p99}'; }
hey -z 2s -c "$conc" http://127.0.0.1:8099/health >/dev/null
hey -z 2s -c "$conc" http://127.0.0.1:8098/health >/dev/null
bare=$(hey -z "$dur" -c "$conc" http://127.0.0.1:8099/health | summary)
echo "bare gin   /health: $bare"
ours=$(hey -z "$dur" -c "$conc" http://127.0.0.1:8098/health | summary)
echo "tradesense /health: $ours"
echo "ratio: $(echo "$ours $bare" | awk '{printf "%.2f", $1/$6}')"
echo "RSS after load: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"
