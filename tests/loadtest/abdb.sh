#!/bin/bash
# A/B of the database benchmarks between two builds, alternating (old then new, ROUNDS times).
# Usage: tests/loadtest/abdb.sh OLD_TESTS_BIN OLD_SQLSTORE_BIN NEW_TESTS_BIN NEW_SQLSTORE_BIN [ROUNDS=2]
# (each built with `go test -c` of ./tests and ./adapters/sqlstore at its commit); needs
# TEST_POSTGRES_URL and TEST_REDIS_URL. Prints the benchmark lines of each run.
set -u
cd "$(dirname "$0")/../.."
for r in $(seq "${5:-2}"); do
  for v in old new; do
    if [ $v = old ]; then T=$1 S=$2; else T=$3 S=$4; fi
    echo "== round $r $v $(uptime)"
    (cd adapters/sqlstore && $S -test.run '^$' -test.bench 'BenchmarkTrading/Rebuild' -test.benchtime 3x -test.benchmem -test.timeout 900s) 2>&1 | grep ^Benchmark
    (cd adapters/sqlstore && $S -test.run '^$' -test.bench ImportFlex100k -test.benchtime 1x -test.benchmem -test.timeout 900s) 2>&1 | grep ^Benchmark
    (cd tests && $T -test.run '^$' -test.bench BenchmarkTradeListHTTP -test.benchtime 1x) 2>&1 | grep ^Benchmark
    (cd tests && $T -test.run '^$' -test.bench BenchmarkAnalyticsSummaryHTTP -test.benchtime 1x) 2>&1 | grep ^Benchmark
  done
done
