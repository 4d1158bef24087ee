#!/bin/bash
# #18 table rows 1-2: authenticated read (wrk -t2 -c32 on /api/v1/auth/me) and refresh with rotation (refreshload -c 32), PostgreSQL + Redis.
# Usage: tests/loadtest/authread.sh BIN [PORT]; builds tests/loadtest/refreshload into /tmp/refreshload.
cd "$(dirname "$0")/../.." && go build -o /tmp/refreshload ./tests/loadtest/refreshload || exit 1
BIN=$1; P=${2:-18602}
psql -h 127.0.0.1 -U postgres -Atc "DROP DATABASE IF EXISTS authread" >/dev/null; createdb -h 127.0.0.1 -U postgres authread
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/authread?sslmode=disable" REDIS_URL=redis://127.0.0.1:6379/5 LOG_LEVEL=info LOG_FORMAT=json HTTP_ADDR=127.0.0.1:$P WORKER_EMBEDDED=false AUTH_IP_RATE_MULTIPLIER=1000 AUTH_NOTIFY_NEW_LOGIN=false
$BIN migrate up >/dev/null 2>&1
TRADESENSE_PASSWORD='bench passphrase 123' $BIN users create --email authread@example.com >/dev/null 2>&1
$BIN api >/tmp/authread.log 2>&1 & PID=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:$P/health/ready >/dev/null && break; sleep 0.1; done
T=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"email":"authread@example.com","password":"bench passphrase 123"}' http://127.0.0.1:$P/api/v1/auth/login | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
wrk -t2 -c32 -d3s -H "Authorization: Bearer $T" http://127.0.0.1:$P/api/v1/auth/me >/dev/null
for r in 1 2; do wrk -t2 -c32 -d10s --latency -H "Authorization: Bearer $T" http://127.0.0.1:$P/api/v1/auth/me | grep -E "Requests/sec|  50%|  99%|Non-2xx"; done
for r in 1 2; do REFRESHLOAD_PASSWORD='bench passphrase 123' /tmp/refreshload -base http://127.0.0.1:$P -email authread@example.com -c 32 -d 10s; done
kill $PID; wait $PID 2>/dev/null
