#!/usr/bin/env bash
# Idle RSS of `tradesense api` over five minutes (VmRSS = RssAnon + RssFile
# at 3, 30, 65, 125, 185, 245 and 305 s after ready): the periodic jobs run
# each minute and the runtime forces a collection every two, so this shows
# what an idle process settles at, not only its first seconds.
# Usage: tests/loadtest/idletimeline.sh BIN local|services [port=8421]
#   (services: DATABASE_URL and REDIS_URL from the environment)
set -euo pipefail
bin=$1 profile=$2 port=${3:-8421}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
env=(APP_ENV=development LOG_LEVEL=info LOG_FORMAT=json HTTP_ADDR=127.0.0.1:$port DATA_DIR="$tmp/data")
if [ "$profile" = services ]; then env+=(DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="idle$port:"); fi
env "${env[@]}" "$bin" migrate up >/dev/null 2>&1 || true
env "${env[@]}" "$bin" api >"$tmp/log" 2>&1 &
pid=$!
until curl -sf -o /dev/null "http://127.0.0.1:$port/health/ready"; do sleep 0.01; done
t=0
for at in 3 30 65 125 185 245 305; do
  sleep $((at - t)); t=$at
  awk -v at="$at" -v p="$profile" -v b="$(basename "$bin")" '/^VmRSS/ {rss=$2} /^RssAnon/ {anon=$2} /^RssFile/ {file=$2} END {printf "%s %s at %3d s: VmRSS %5.1f MB = anon %5.1f + file %5.1f\n", b, p, at, rss/1024, anon/1024, file/1024}' "/proc/$pid/status"
done
