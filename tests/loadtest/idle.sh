#!/usr/bin/env bash
# Idle footprint and start of `tradesense api`: start to ready (exec to the
# first 200 of /health/ready), then VmRSS = RssAnon + RssFile and the
# binary's mapped pages 3 s later, for each binary given, in both profiles
# (local: SQLite + memory; services: PostgreSQL + Redis when DATABASE_URL
# and REDIS_URL are set in the environment).
# IDLE_AT lists the seconds after ready to read it at (default "3 30"):
# IDLE_AT="3 30 65 125 185 245 305" follows it over five minutes, while
# the periodic jobs (each minute) and the runtime's forced collection
# (every two) run, to see what an idle process settles at.
# Usage: DATABASE_URL=... REDIS_URL=... [IDLE_AT="..."] tests/loadtest/idle.sh BIN...
set -euo pipefail
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port=8310
measure() { # bin profile
  local bin=$1 profile=$2 env=(APP_ENV=development LOG_LEVEL=info LOG_FORMAT=json HTTP_ADDR=127.0.0.1:$port DATA_DIR="$tmp/data-$port")
  if [ "$profile" = services ]; then env+=(DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="idle$port:"); fi
  # first start creates and migrates; measure the second (a restart)
  env "${env[@]}" "$bin" migrate up >/dev/null 2>&1 || true
  local start ready pid
  # Out of the page cache first (as after a deploy): the file-backed RSS of a
  # freshly linked binary depends on the large folios the linker's writes left.
  dd if="$bin" iflag=nocache count=0 status=none
  start=$(date +%s%N)
  env "${env[@]}" "$bin" api >"$tmp/$port.log" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/health/ready"; do sleep 0.002; done
  ready=$(( ($(date +%s%N) - start) / 1000000 ))
  local t=0
  for at in ${IDLE_AT:-3 30}; do
    sleep $((at - t)); t=$at
    awk -v b="$(basename "$bin")" -v p="$profile" -v r="$ready" -v sz="$(stat -c %s "$bin")" -v at="$at" \
      '/^VmRSS/ {rss=$2} /^RssAnon/ {anon=$2} /^RssFile/ {file=$2} END {printf "%-10s %-8s binary %5.1f MB  ready %4d ms  at %2d s: VmRSS %5.1f MB = anon %5.1f + file %5.1f\n", b, p, sz/1e6, r, at, rss/1024, anon/1024, file/1024}' "/proc/$pid/status"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  port=$((port + 1))
}
echo "load: $(uptime | sed 's/.*load/load/')"
for bin in "$@"; do
  measure "$bin" local
  if [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ]; then measure "$bin" services; fi
done
