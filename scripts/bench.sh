#!/usr/bin/env bash
# Benchmarks recorded in docs/BENCHMARKS.md. Builds the release build, then runs, each with its
# same-run baseline:
#   1. log append (100-byte events, group commit)          src/log/log_benchmark
#   2. NDJSON parse + validate                              src/event/ndjson_benchmark
#   3. filter + map in process                              src/plan/pipeline_benchmark
#   4. HTTP NDJSON ingest end to end (impulse run + impulse load, 1,000-line batches):
#      closed loop, then open loop at half the measured rate for the latency
#   5. idle CPU of `impulse run` over IDLE_SECONDS (default 60)
#   6. redis-server XADD, pipelined, on the same machine (installed for the benchmark only)
#   7. (only with `nexmark`) Nexmark q0 q1 q2 q3 q5 q7 q8 in process (`impulse-bench nexmark`),
#      NEXMARK_EVENTS (default 2,000,000) events, checkpoints off / 10 s / 1 s, 3 runs each;
#      prints the median events per engine CPU-second. Results in build/bench/nexmark*.
#   8. (only with `ysb`) the Yahoo Streaming Benchmark in process (`impulse-bench ysb`, 2 shards,
#      10 s checkpoints): unpaced (YSB_EVENTS, default 10,000,000) for events per CPU-second, then
#      paced at each of YSB_RATES (default "100000 400000 600000") for YSB_SECONDS (default 120)
#      for the window result latency; 3 runs each, interleaved; prints the medians. Results in
#      build/bench/ysb*.
#   9. (only with `realtime`) the fraud path against nginx and a Python peer, one transaction per
#      request and 1000 per request, --durability none and sync, with an fsync probe
#      (bench/realtime/run.sh; results in build/bench/realtime).
#  10. (only with `personalization`) the personalization example's recommendation path in process:
#      history, then latency at a few rates and unpaced throughput, three variants of rank.yaml
#      (bench/personalization/run.sh; results in build/bench/personalization).
# Usage: scripts/bench.sh [all|micro|http|idle|redis|nexmark|ysb|realtime|personalization]    Results go to build/bench/*.txt.
# BUILD=dir selects the release build directory (default build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
IDLE_SECONDS=${IDLE_SECONDS:-60}
EVENTS=${EVENTS:-2000000}
NEXMARK_EVENTS=${NEXMARK_EVENTS:-2000000}
NEXMARK_INPUTS=${NEXMARK_INPUTS:-"rows ndjson"}  # typed rows (IngestRows) and/or NDJSON (Ingest)
BUILD=${BUILD:-build/release}
OUT=${OUT:-build/bench}
mkdir -p "$OUT"
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
if [ "$what" = nexmark ] || [ "$what" = ysb ]; then
  cmake --build "$BUILD" -j "$(nproc)" --target impulse-bench >/dev/null
elif [ "$what" = realtime ] || [ "$what" = personalization ]; then
  cmake --build "$BUILD" -j "$(nproc)" --target impulse impulse-bench >/dev/null
else
  cmake --build "$BUILD" -j "$(nproc)" --target impulse log_benchmark ndjson_benchmark pipeline_benchmark >/dev/null
fi
BIN=$BUILD/tools/impulse/impulse
BENCH_BIN=$BUILD/bench/impulse-bench
SPEC=examples/quickstart/pipeline.yaml
REPS=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_engine() {  # start_engine PORT DATADIR: runs impulse in the background, sets ENGINE_PID
  rm -rf "$2"
  "$BIN" run "$SPEC" --data-dir "$2" --listen "127.0.0.1:$1" 2>"$OUT/engine.log" &
  ENGINE_PID=$!
  for _ in $(seq 100); do
    grep -q "serving" "$OUT/engine.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "engine did not start" >&2
  cat "$OUT/engine.log" >&2
  exit 1
}

micro() {
  echo "== log append (100-byte events; Sync = blocking fdatasync, async = background fdatasync)"
  "$BUILD"/src/log/log_benchmark "${REPS[@]}" --benchmark_filter='AppendWithGroupCommit' | tee "$OUT/log.txt"
  echo "== NDJSON parse + validate"
  "$BUILD"/src/event/ndjson_benchmark "${REPS[@]}" | tee "$OUT/ndjson.txt"
  echo "== filter + map in process"
  "$BUILD"/src/plan/pipeline_benchmark "${REPS[@]}" | tee "$OUT/pipeline.txt"
}

http() {
  echo "== HTTP NDJSON ingest end to end ($EVENTS events, 4 connections, 1000 lines per request)"
  start_engine 18470 "$OUT/data-http"
  local t0
  t0=$(cpu_ticks "$ENGINE_PID")
  "$BIN" load --target 127.0.0.1:18470 --events "$EVENTS" --connections 4 --batch 1000 | tee "$OUT/http-closed.txt"
  local t1
  t1=$(cpu_ticks "$ENGINE_PID")
  echo "engine CPU: $(( (t1 - t0) )) ticks ($(getconf CLK_TCK)/s)" | tee -a "$OUT/http-closed.txt"
  local rate
  rate=$(awk '/events\/s/ {print int($3 / 2); exit}' "$OUT/http-closed.txt")
  echo "== HTTP ingest latency at half that rate ($rate events/s, open loop)"
  "$BIN" load --target 127.0.0.1:18470 --events "$EVENTS" --connections 4 --batch 1000 --rate "$rate" \
    | tee "$OUT/http-open.txt"
  kill -TERM "$ENGINE_PID"
  wait "$ENGINE_PID"
}

idle() {
  echo "== idle CPU of impulse run over ${IDLE_SECONDS}s"
  start_engine 18471 "$OUT/data-idle"
  sleep 2
  local t0 t1 hz
  hz=$(getconf CLK_TCK)
  t0=$(cpu_ticks "$ENGINE_PID")
  sleep "$IDLE_SECONDS"
  t1=$(cpu_ticks "$ENGINE_PID")
  kill -TERM "$ENGINE_PID"
  wait "$ENGINE_PID"
  awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$IDLE_SECONDS" \
    'BEGIN { printf "idle CPU: %d ticks in %d s = %.3f%% of one core\n", d, s, 100 * d / hz / s }' | tee "$OUT/idle.txt"
}

redis() {
  echo "== redis-server XADD, pipelined (same machine, same run)"
  if ! command -v redis-server >/dev/null; then
    apt-get install -y -qq redis-server >/dev/null 2>&1 || { echo "redis-server not installable; skipped"; return 0; }
  fi
  local dir
  dir=$(mktemp -d)
  # A ~100-byte entry, like the quickstart events; fsync'ed AOF is redis' durable mode.
  local fields=(user_id u1234 url /products/p-000042 amount 123.45 ts 2023-11-14T22:13:20.123Z)
  for mode in "appendfsync-always" "no-persistence"; do
    local args=(--port 16390 --bind 127.0.0.1 --save "" --dir "$dir" --daemonize no)
    if [ "$mode" = "appendfsync-always" ]; then args+=(--appendonly yes --appendfsync always); else args+=(--appendonly no); fi
    redis-server "${args[@]}" >/dev/null 2>&1 &
    local rpid=$!
    sleep 0.5
    echo "-- $mode"
    redis-benchmark -p 16390 -P 1000 -c 4 -n "$EVENTS" -q XADD bench '*' "${fields[@]}" | tr '\r' '\n' | tail -1 | tee "$OUT/redis-$mode.txt"
    kill "$rpid"
    wait "$rpid" 2>/dev/null || true
  done
  rm -rf "$dir"
}

nexmark() {
  echo "== Nexmark in process ($NEXMARK_EVENTS events, default rate 10k events/s of event time, 2 producers)"
  echo "input query checkpoint_ms median_events_per_cpu_s median_events_per_s output_events" | tee "$OUT/nexmark.txt"
  local q c i input
  for input in $NEXMARK_INPUTS; do
  for q in q0 q1 q2 q3 q5 q7 q8; do
    for c in off 10000 1000; do
      local ms=$c
      # Stateful steps need checkpoints: "off" for them is one interval longer than the run.
      if [ "$c" = off ]; then case $q in q0|q1|q2) ms=0 ;; *) ms=3600000 ;; esac; fi
      local f="$OUT/nexmark-$input-$q-$c.jsonl"
      : >"$f"
      for i in 1 2 3; do
        "$BENCH_BIN" nexmark --query "$q" --events "$NEXMARK_EVENTS" --checkpoint-interval-ms "$ms" --input "$input" --json >>"$f"
      done
      local per_core eps out
      per_core=$(sed 's/.*"events_per_cpu_s":\([0-9]*\).*/\1/' "$f" | sort -n | sed -n 2p)
      eps=$(sed 's/.*"events_per_s":\([0-9]*\).*/\1/' "$f" | sort -n | sed -n 2p)
      out=$(sed 's/.*"output_events":\([0-9]*\).*/\1/' "$f" | sed -n 1p)
      echo "$input $q $c $per_core $eps $out" | tee -a "$OUT/nexmark.txt"
    done
  done
  done
}

ysb() {
  local rates=${YSB_RATES:-"100000 400000 600000"} seconds=${YSB_SECONDS:-120} events=${YSB_EVENTS:-10000000}
  echo "== Yahoo Streaming Benchmark in process (2 shards, 10 s checkpoints; medians of 3)"
  local i r
  : >"$OUT/ysb-unpaced.jsonl"
  for r in $rates; do : >"$OUT/ysb-$r.jsonl"; done
  for i in 1 2 3; do
    "$BENCH_BIN" ysb --unpaced --rate 1000000 --events "$events" --json >>"$OUT/ysb-unpaced.jsonl"
    for r in $rates; do
      "$BENCH_BIN" ysb --rate "$r" --duration-s "$seconds" --json >>"$OUT/ysb-$r.jsonl"
    done
  done
  python3 - "$OUT" $rates <<'PY' | tee "$OUT/ysb.txt"
import json, statistics, sys
out, rates = sys.argv[1], sys.argv[2:]
def med(rows, k): return statistics.median(r[k] for r in rows)
rows = [json.loads(l) for l in open(f"{out}/ysb-unpaced.jsonl")]
print(f"unpaced: {med(rows, 'events_per_cpu_s'):.0f} events per engine CPU-second, {med(rows, 'events_per_s'):.0f} events/s")
print("rate events_per_cpu_s max_send_lag_ms latency_p50_ms latency_p95_ms latency_p99_ms windows")
for r in rates:
    rows = [json.loads(l) for l in open(f"{out}/ysb-{r}.jsonl")]
    print(r, *(f"{med(rows, k):.{0 if k == 'events_per_cpu_s' else 1}f}" for k in
               ("events_per_cpu_s", "max_send_lag_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")),
          int(med(rows, "latency_windows")))
PY
}

case "$what" in
  all) micro; http; idle; redis ;;
  micro) micro ;;
  http) http ;;
  idle) idle ;;
  redis) redis ;;
  nexmark) nexmark ;;
  ysb) ysb ;;
  realtime) BIN="$BIN" BENCH_BIN="$BENCH_BIN" OUT="$OUT/realtime" bash bench/realtime/run.sh ;;
  personalization) BIN="$BIN" BENCH_BIN="$BENCH_BIN" OUT="$OUT/personalization" bash bench/personalization/run.sh ;;
  *) echo "usage: scripts/bench.sh [all|micro|http|idle|redis|nexmark|ysb|realtime|personalization]" >&2; exit 2 ;;
esac
