#!/bin/bash
# The sequential re-measure of docs/benchmarks.md ("Night re-measure"). Usage: tests/loadtest/remeasure.sh OUTDIR
set -x
O=${1:-/tmp/q/out}; mkdir -p $O /tmp/q   # /tmp/q/ts-old (70ea784), /tmp/q/baregin and /tmp/q/peer (jobspeer) are built beforehand
cd "$(dirname "$0")/../.."
export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/test?sslmode=disable" TEST_REDIS_URL="redis://127.0.0.1:6379/0" CI=true
CGO_ENABLED=0 go build -trimpath -tags nomsgpack -ldflags='-s -w' -o /tmp/q/ts ./app/tradesense
go test -c -o /tmp/q/tests.test ./tests/ && go test -c -o /tmp/q/sql.test ./adapters/sqlstore/
uptime > $O/00-uptime
(cd tests && /tmp/q/tests.test -test.run '^$' -test.bench BenchmarkTradeListHTTP -test.benchtime 1x -test.count 2) > $O/10-tradelist 2>&1
(cd tests && /tmp/q/tests.test -test.run '^$' -test.bench BenchmarkAnalyticsSummaryHTTP -test.benchtime 1x -test.count 2) > $O/11-warm 2>&1
(cd tests && /tmp/q/tests.test -test.run '^$' -test.bench 'BenchmarkAnalytics$' -test.benchtime 3x) > $O/12-analytics 2>&1
(cd adapters/sqlstore && /tmp/q/sql.test -test.run '^$' -test.bench ImportFlex100k -test.benchtime 1x -test.count 3 -test.benchmem -test.timeout 900s) > $O/13-import 2>&1
(cd adapters/sqlstore && /tmp/q/sql.test -test.run '^$' -test.bench 'BenchmarkTrading/(Rebuild|AddOne)' -test.benchtime 3x -test.benchmem -test.timeout 900s) > $O/14-rebuild 2>&1
uptime >> $O/00-uptime
redis-server --port 6391 --save "" --appendonly no --daemonize yes --pidfile /tmp/q/r6391.pid
sleep 0.5
/tmp/q/peer -redis redis://127.0.0.1:6391/0 -jobs 20000 -workers 1,2,4 -rounds 3 > $O/20-peer 2>&1
/tmp/q/peer -redis redis://127.0.0.1:6391/0 -jobs 20000 -workers 0 -rounds 3 > $O/21-peer-enq 2>&1
kill $(cat /tmp/q/r6391.pid)
(cd tests && /tmp/q/tests.test -test.run '^$' -test.bench JobsRedisStreams -test.benchtime 1x -test.count 2) > $O/22-jobsbench 2>&1
uptime >> $O/00-uptime
tests/loadtest/healthwrk.sh /tmp/q/ts-old /tmp/q/baregin /tmp/q/ts 5 5s > $O/30-health 2>&1
tests/loadtest/idle.sh /tmp/q/ts > $O/31-idle 2>&1
for i in 1 2 3; do ROUTE=login tests/loadtest/loginflood.sh /tmp/q/ts 1856$i login-$i; done > $O/32-flood 2>&1
for i in 1 2; do ROUTE=register tests/loadtest/loginflood.sh /tmp/q/ts 1857$i reg-$i; done >> $O/32-flood 2>&1
mkdir -p /tmp/q/rt && cp /tmp/q/ts /tmp/q/rt/tradesense && CGO_ENABLED=0 go build -trimpath -o /tmp/q/rt/rtload ./tests/loadtest/rtload
RTAPI_BIN=/tmp/q/rt tests/loadtest/rtapi.sh 10000 30s > $O/33-rtapi 2>&1
uptime >> $O/00-uptime
echo done > $O/99-done
