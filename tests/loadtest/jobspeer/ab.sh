#!/bin/bash
# ab.sh ROUNDS "FLAGS" BIN... — alternates jobspeer binaries on a private
# Redis (REDIS_PORT, default 6391): per run CONFIG RESETSTAT, the run, then
# Redis's read events (INFO stats total_reads_processed) and its XACK and
# XREADGROUP calls, with the load average.
#   ab.sh 3 "-jobs 20000 -workers 1 -rounds 1 -systems tradesense -prefill" /tmp/peer-old /tmp/peer-new
port=${REDIS_PORT:-6391}
R="redis-cli -p $port"
rounds=$1; flags=$2; shift 2
for i in $(seq 1 "$rounds"); do for b in "$@"; do
  $R config resetstat >/dev/null
  # shellcheck disable=SC2086
  out=$("$b" -redis "redis://127.0.0.1:$port/0" -force $flags 2>&1 | grep '^round' | sed 's/(.*//; s/ *jobs\/s end to end/ e2e/; s/enqueue→start//')
  st=$($R info stats | grep -E "total_reads_processed" | tr -d '\r' | cut -d: -f2)
  cs=$($R info commandstats | grep -E "xack|xreadgroup" | tr -d '\r' | sed 's/cmdstat_//; s/,usec=.*//' | tr '\n' ' ')
  echo "$(basename "$b") | $out | reads $st | $cs | load $(cut -d' ' -f1 /proc/loadavg)"
done; done
