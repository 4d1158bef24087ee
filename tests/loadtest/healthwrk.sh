#!/usr/bin/env bash
# /health of `tradesense api` (local profile, default log level info,
# LOG_FORMAT=json, access log to a file as a container's stdout would be)
# against bare Gin, with wrk -t2 -c32, alternating rounds in one run, and
# the ratio of each round. Optional second binary B: the same against B
# (old vs new build) in the same rounds.
# Usage: tests/loadtest/healthwrk.sh TRADESENSE_BIN BAREGIN_BIN [B_BIN] [rounds=3] [dur=5s]
# Build: CGO_ENABLED=0 go build -trimpath -o /tmp/ts ./app/tradesense
#        CGO_ENABLED=0 go build -trimpath -o /tmp/baregin ./tests/loadtest/baregin
set -euo pipefail
a=$1 bare=$2 b=${3:-} rounds=${4:-3} dur=${5:-5s}
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
declare -A pid
start_ts() { # bin port name
  APP_ENV=development LOG_LEVEL=info LOG_FORMAT=json HTTP_ADDR=127.0.0.1:$2 DATA_DIR="$tmp/data-$3" \
    "$1" api >"$tmp/$3.log" 2>&1 &
  pid[$2]=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$2/health/ready"; do sleep 0.01; done
}
start_ts "$a" 8196 a
[ -n "$b" ] && start_ts "$b" 8197 b
"$bare" 127.0.0.1:8199 >/dev/null 2>&1 &
pid[8199]=$!
until curl -sf -o /dev/null http://127.0.0.1:8199/health; do sleep 0.01; done
# CPU time (user+system, clock ticks) of the server on a port.
ticks() { awk '{print $14+$15}' "/proc/${pid[$1]}/stat"; }
# rps DURATION PORT: requests/s, p99, and the server's CPU µs per request
# (less disturbed by other load on the machine than req/s).
rps() {
  local t0 t1 out
  t0=$(ticks "$2")
  out=$(wrk -t2 -c32 -d"$1" --latency "http://127.0.0.1:$2/health")
  t1=$(ticks "$2")
  echo "$out" | awk -v dt=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '/requests in/ {n=$1} /Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} END {printf "%.0f %s %.1f\n", rps, p99, dt/hz*1e6/n}'
}
for u in 8199 8196 ${b:+8197}; do wrk -t2 -c32 -d1s "http://127.0.0.1:$u/health" >/dev/null; done
echo "load: $(uptime | sed 's/.*load/load/')"
for i in $(seq "$rounds"); do
  read -r g gp gc < <(rps "$dur" 8199)
  read -r x xp xc < <(rps "$dur" 8196)
  r() { awk -v x="$1" -v g="$2" 'BEGIN{printf "%.2f", x/g}'; }
  line="round $i: bare gin $g req/s (p99 $gp, $gc µs CPU/req) | A $x req/s (p99 $xp, $xc µs) A/gin $(r "$x" "$g"), CPU gin/A $(r "$gc" "$xc")"
  if [ -n "$b" ]; then
    read -r y yp yc < <(rps "$dur" 8197)
    line="$line | B $y req/s (p99 $yp, $yc µs) B/gin $(r "$y" "$g"), CPU gin/B $(r "$gc" "$yc"), B/A $(r "$y" "$x")"
  fi
  echo "$line"
done
echo "access log lines: A $(wc -l <"$tmp/a.log")${b:+, B $(wc -l <"$tmp/b.log")}"
grep -m1 '"request completed"' "$tmp/a.log" || true
