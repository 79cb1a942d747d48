#!/usr/bin/env bash
# Does a polling web console slow ingest? Runs `impulse load` against `impulse run` (quickstart
# pipeline) RUNS times without and RUNS times with PAGES simulated console pages, each fetching
# /metrics once a second and /v1/streams every 5 s (what an open page on the Overview tab does;
# console/app.js), alternating the two so drift hits both; prints each run and the medians.
#
#   BIN=build/release/tools/impulse/impulse bench/console/overhead.sh
set -euo pipefail

BIN="${BIN:-build/release/tools/impulse/impulse}"
RUNS="${RUNS:-5}"
PAGES="${PAGES:-5}"
EVENTS="${EVENTS:-2000000}"
CONNECTIONS="${CONNECTIONS:-4}"
BATCH="${BATCH:-1000}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
spec="$here/examples/quickstart/pipeline.yaml"
work="$(mktemp -d)"
engine_pid=""
pollers=()

cleanup() {
  for p in "${pollers[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$engine_pid" ]; then kill "$engine_pid" 2>/dev/null || true; wait "$engine_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

poll_page() {  # one simulated console page
  local base=$1 i=0
  while :; do
    curl -s -o /dev/null "$base/metrics"
    if [ $((i % 5)) -eq 0 ]; then curl -s -o /dev/null "$base/v1/streams"; fi
    i=$((i + 1))
    sleep 1
  done
}

run_once() {  # $1: none | pages; prints events/s
  local mode=$1 p
  p=$(port)
  rm -rf "$work/data"
  "$BIN" run "$spec" --data-dir "$work/data" --listen "127.0.0.1:$p" >/dev/null 2>"$work/engine.log" &
  engine_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
  pollers=()
  if [ "$mode" = pages ]; then
    for _ in $(seq "$PAGES"); do poll_page "http://127.0.0.1:$p" & pollers+=($!); done
    sleep 1
  fi
  "$BIN" load --target "127.0.0.1:$p" --events "$EVENTS" --connections "$CONNECTIONS" --batch "$BATCH" \
    >"$work/load.txt" 2>&1
  for q in "${pollers[@]}"; do kill "$q" 2>/dev/null || true; wait "$q" 2>/dev/null || true; done
  pollers=()
  # Scrapes served and their mean time in the server (end of headers to reply written), taken
  # before this last scrape is counted.
  local scrapes
  scrapes=$(curl -s "http://127.0.0.1:$p/metrics" | awk '
    /^impulse_http_requests_total\{/ && /route="metrics"/ {n += $NF}
    /^impulse_http_request_duration_seconds_sum\{/ && /route="metrics"/ {t += $NF}
    /^impulse_http_request_duration_seconds_count\{/ && /route="metrics"/ {c += $NF}
    END {printf "%d %.0f", n, (c > 0 ? t / c * 1e6 : 0)}')
  kill "$engine_pid"; wait "$engine_pid" 2>/dev/null || true; engine_pid=""
  local rate
  rate=$(grep -m1 'HTTP ingest' "$work/load.txt" | grep -oE '[0-9]+ events/s' | grep -oE '^[0-9]+')
  [ -n "$rate" ] || { cat "$work/load.txt" >&2; exit 1; }
  echo "$rate $scrapes"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "command: impulse load --events $EVENTS --connections $CONNECTIONS --batch $BATCH (quickstart), RUNS=$RUNS PAGES=$PAGES"
none=()
pages=()
for r in $(seq "$RUNS"); do
  read -r a _ _ < <(run_once none)
  read -r b sb us < <(run_once pages)
  echo "run $r: without console $a events/s; with $PAGES pages $b events/s ($sb /metrics scrapes, mean $us us each)"
  none+=("$a")
  pages+=("$b")
done
mn=$(printf '%s\n' "${none[@]}" | median)
mp=$(printf '%s\n' "${pages[@]}" | median)
echo "median: without console $mn events/s; with $PAGES polling pages $mp events/s"
