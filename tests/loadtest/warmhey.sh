#!/bin/bash
# #15 warm summary under hey -c 16 against a built binary, on the kept 50,000-trade book of BenchmarkAnalyticsSummaryHTTP
# (ANALYTICS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/book?sslmode=disable, database "book" created beforehand).
# Usage: tests/loadtest/warmhey.sh BIN PORT [rounds=3]; prints req/s, p50/p90/p99, server CPU per request (ns) and hey's CPU.
BIN=$1; P=$2; R=${3:-3}
redis-server --port 6397 --save "" --appendonly no --daemonize yes --pidfile /tmp/r6397.pid >/dev/null; sleep 0.3
DATABASE_URL="postgres://postgres@127.0.0.1:5432/book?sslmode=disable" REDIS_URL=redis://127.0.0.1:6397/0 \
  LOG_LEVEL=${LOG_LEVEL:-info} LOG_FORMAT=json HTTP_ADDR=127.0.0.1:$P WORKER_EMBEDDED=false AUTH_IP_RATE_MULTIPLIER=100000 $BIN api >/tmp/warm-$P.log 2>&1 &
PID=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:$P/health/ready >/dev/null && break; sleep 0.1; done
T=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"email":"bench-analytics-http@example.com","password":"bench analytics passphrase 1"}' http://127.0.0.1:$P/api/v1/auth/login | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
hey -c 16 -n 2000 -H "Authorization: Bearer $T" http://127.0.0.1:$P/api/v1/analytics/summary >/dev/null
for r in $(seq $R); do
  c0=$(awk '{print $14+$15}' /proc/$PID/stat)
  /usr/bin/time -f "%U %S" -o /tmp/heytime-$P-$r hey -c 16 -n 20000 -H "Authorization: Bearer $T" http://127.0.0.1:$P/api/v1/analytics/summary > /tmp/hey-$P-$r.txt; echo "hey cpu s: $(cat /tmp/heytime-$P-$r)"
  c1=$(awk '{print $14+$15}' /proc/$PID/stat)
  echo "round $r: $(grep -E 'Requests/sec' /tmp/hey-$P-$r.txt | awk '{print $2}') req/s, $(grep -E '  50%|  90%|  99%' /tmp/hey-$P-$r.txt | awk '{printf "%s %s ms  ", $1, $3*1000}') server $(awk -v t=$((c1-c0)) "BEGIN{printf \"%.1f\", t*10000/20000}") µs/req (utime+stime, 10 ms ticks) codes: $(grep -A3 'Status code' /tmp/hey-$P-$r.txt | tail -n +2 | tr -s ' ' | tr '\n' ' ')"
done
kill $PID; wait $PID 2>/dev/null; redis-cli -p 6397 shutdown nosave >/dev/null 2>&1
