#!/bin/bash
# usage: [ROUTE=login|register] [GOMEMLIMIT=…] tests/loadtest/loginflood.sh BINARY PORT LABEL
# Local profile (SQLite, memory) in a temporary DATA_DIR; hey -c 64 on login (or register) for
# 30 s, /me measured at the same time (hey -c 4), VmHWM/VmRSS from /proc. See docs/benchmarks.md.
BIN=$1; PORT=$2; LABEL=$3
HEY=${HEY:-$(command -v hey || echo "$(go env GOPATH)/bin/hey")}
D=$(mktemp -d /tmp/tsload.XXXX)
export DATA_DIR=$D LOG_LEVEL=warn HTTP_ADDR=127.0.0.1:$PORT AUTH_IP_RATE_MULTIPLIER=100000 AUTH_NOTIFY_NEW_LOGIN=false APP_ENV=development
$BIN migrate up >/dev/null 2>&1
TRADESENSE_PASSWORD='bench passphrase 123' $BIN users create --email bench@example.com >/dev/null 2>&1
# The binary's pages start out of the page cache, so that its file-backed
# RSS does not depend on how it got there (a freshly linked file sits in
# large folios that map 2 MiB at a time).
dd if="$BIN" iflag=nocache count=0 status=none
$BIN api > $D/log 2>&1 &
PID=$!
for i in $(seq 100); do curl -sf 127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
T=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"email":"bench@example.com","password":"bench passphrase 123"}' 127.0.0.1:$PORT/api/v1/auth/login | jq -r .access_token)
echo "== $LABEL ($BIN) pid $PID; idle: $(grep -E 'VmRSS|RssAnon|RssFile' /proc/$PID/status | tr -s ' ' | tr '\n' ' ')"; uptime
( peak=0; while kill -0 $PID 2>/dev/null; do r=$(awk '/VmRSS/{print $2}' /proc/$PID/status 2>/dev/null); [ -n "$r" ] && [ $r -gt $peak ] && peak=$r && echo $peak > $D/peak; sleep 0.2; done ) &
if [ "${ROUTE:-login}" = register ]; then
  $HEY -z 30s -c 64 -m POST -T application/json -d '{"email":"flood@example.com","password":"flood passphrase 123","display_name":"Flood"}' http://127.0.0.1:$PORT/api/v1/auth/register > $D/login.txt &
else
  $HEY -z 30s -c 64 -m POST -T application/json -d '{"email":"bench@example.com","password":"bench passphrase 123"}' http://127.0.0.1:$PORT/api/v1/auth/login > $D/login.txt &
fi
HL=$!
sleep 2
$HEY -z 25s -c 4 -H "Authorization: Bearer $T" http://127.0.0.1:$PORT/api/v1/auth/me > $D/me.txt
wait $HL
echo "-- ${ROUTE:-login} (hey -z 30s -c 64):"; grep -E "Requests/sec|99%|50%|\[[0-9]+\]" $D/login.txt
echo "-- /me during it (hey -z 25s -c 4):"; grep -E "Requests/sec|99%|95%|50%|\[[0-9]+\]" $D/me.txt
echo "-- memory: $(grep -E 'VmHWM|VmRSS|RssAnon|RssFile' /proc/$PID/status | tr -s ' ' | tr '\n' ' ') sampled peak VmRSS $(cat $D/peak) kB"
kill $PID; wait $PID 2>/dev/null
grep -c '"level":"ERROR"\|level=ERROR' $D/log | sed 's/^/error log lines: /'
rm -rf $D
