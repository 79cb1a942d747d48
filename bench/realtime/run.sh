#!/usr/bin/env bash
# Real-time decisions on the fraud path, against the HTTP/1.1 ceiling and a Python peer, in one
# run on one machine (docs/BENCHMARKS.md, "Real-time decisions"). Builds nothing: it takes the
# release binaries. Prints one table; raw load generator output goes to $OUT.
#
#   bench/realtime/run.sh            (./dev bench realtime builds the release build first)
#
# Pieces, each driven by `impulse load` with the same transactions (`impulse generate fraud`):
#   fsync probe   impulse-bench fsync-probe: append+fdatasync of a group commit's size, repeated
#   nginx         Debian's nginx, one worker, a fixed 200 reply: the HTTP/1.1 ceiling
#   impulse       examples/fraud/alerts.yaml, --durability none and sync, one transaction per
#                 request over 16 connections (the ack; the decision in the response when the
#                 load generator has --decide), and 1000 transactions per request
#   peer          bench/peers/fraud_service.py (standard library HTTP server, python3-xgboost)
# Decision rows at fixed open-loop rates (DECIDE_RATES, "1000 2000 5000" req/s) count from each
# request's due time and, under sync, show the engine's own fsync latency (/metrics log_fsync).
# "best rate" is the highest open-loop rate of a sweep (fractions of the closed-loop maximum)
# whose p99 stays under 10 ms; "at R" rows are open loop at the peer's best rate.
#
# Environment: BIN, BENCH_BIN (release binaries), OUT (build/bench/realtime), ROUNDS (3, closed
# loop rows are the median), SECONDS_PER_RUN (4), SMOKE=1 (tiny counts, one round: the ctest
# smoke that keeps this script working; pieces whose packages are missing are skipped there).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/release/tools/impulse/impulse}
BENCH_BIN=${BENCH_BIN:-build/release/bench/impulse-bench}
OUT=${OUT:-build/bench/realtime}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
SMOKE=${SMOKE:-0}
CONNS=16
PY=/usr/bin/python3  # Debian's interpreter: it has python3-xgboost
NGINX_PORT=18480 ENGINE_PORT=18481 PEER_PORT=18482
if [ "$SMOKE" = 1 ]; then ROUNDS=1; SECONDS_PER_RUN=0.2; fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
[ -x "$BIN" ] || { echo "run.sh: $BIN missing: build the release build first" >&2; exit 1; }

# --- transactions: generated once (5000 customers, 10000 terminals, the example's defaults)
DAYS=${DAYS:-120}
[ "$SMOKE" = 1 ] && DAYS=3
TX=$OUT/tx-$DAYS.ndjson
if [ ! -s "$TX" ]; then "$BIN" generate fraud --format ndjson --days "$DAYS" --seed 1 >"$TX.tmp" && mv "$TX.tmp" "$TX"; fi
TX_LINES=$(wc -l <"$TX")

ROWS=()
row() { ROWS+=("$(printf '%-44s %12s %10s %10s  %s' "$1" "$2" "$3" "$4" "${5:-}")"); }

wait_http() {  # wait_http PORT LOG: until something answers on PORT
  for _ in $(seq 200); do
    curl -s -o /dev/null "http://127.0.0.1:$1/healthz" && return 0
    sleep 0.05
  done
  echo "run.sh: nothing answers on port $1" >&2
  cat "$2" >&2 || true
  exit 1
}

# load NAME PORT BATCH RATE [extra load args]: one load generator run; sets EPS P50 P99
load() {
  local name=$1 port=$2 batch=$3 rate=$4
  shift 4
  local events
  if [ "$rate" = 0 ]; then events=${CLOSED_EVENTS:-$(awk -v b="$batch" 'BEGIN { print (b > 1 ? 400000 : 60000) }')}; else
    events=$(awk -v r="$rate" -v s="$SECONDS_PER_RUN" 'BEGIN { print int(r * s) }'); fi
  [ "$SMOKE" = 1 ] && events=$(( batch > 1 ? 4 * batch : 300 ))
  [ "$events" -gt "$TX_LINES" ] && events=$TX_LINES
  [ "$events" -lt "$batch" ] && events=$batch
  local f="$OUT/$name.txt"
  "$BIN" load --target "127.0.0.1:$port" --stream transactions --input "$TX" --events "$events" \
    --connections "$CONNS" --batch "$batch" --rate "$rate" "$@" >"$f" 2>&1 || true
  EPS=$(sed -n 's/.* \([0-9][0-9]*\) events\/s.*/\1/p' "$f" | head -1)
  P50=$(sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p' "$f" | head -1)
  P99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$f" | head -1)
  PENDING=$(sed -n 's/.*decisions: \([0-9]*\) events answered pending.*/\1/p' "$f" | head -1)
  if grep -q "errors [1-9]" "$f"; then echo "run.sh: $name: $(grep errors "$f")" >&2; fi
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# closed NAME PORT BATCH [args]: ROUNDS closed-loop runs (restart with RESTART if set); medians
closed() {
  local name=$1 port=$2 batch=$3
  shift 3
  local e=() a=() b=() i
  for i in $(seq "$ROUNDS"); do
    if [ -n "${RESTART:-}" ]; then $RESTART; fi
    load "$name-closed-$i" "$port" "$batch" 0 "$@"
    e+=("$EPS") a+=("$P50") b+=("$P99")
  done
  EPS=$(median "${e[@]}") P50=$(median "${a[@]}") P99=$(median "${b[@]}")
}

# best NAME PORT MAX_EPS: the highest rate of a sweep whose p99 < 10 ms; sets BEST (events/s,
# "none" when even the lowest rate's p99 is over: then P50/P99 and LOWEST are that run's)
best() {
  local name=$1 port=$2 max=$3 f rate
  BEST=none
  local sweep="1.0 0.8 0.6 0.4 0.2 0.1"
  [ "$SMOKE" = 1 ] && sweep="0.5"
  for f in $sweep; do
    rate=$(awk -v m="$max" -v f="$f" 'BEGIN { print int(m * f) }')
    [ "$rate" -lt 1 ] && continue
    if [ -n "${RESTART:-}" ]; then $RESTART; fi
    load "$name-rate-$rate" "$port" 1 "$rate"
    LOWEST=$rate
    if awk -v p="$P99" 'BEGIN { exit !(p != "" && p < 10) }'; then BEST=$EPS; return; fi
  done
}
best_row() {  # best_row LABEL UNIT
  if [ "$BEST" = none ]; then row "$1" "none" "$P50" "$P99" "$2; p99 >= 10 ms down to $LOWEST/s (shown)"; else
    row "$1" "$BEST" "$P50" "$P99" "$2"; fi
}

# --- fsync probe: a group commit of 16 one-transaction requests is ~4 KB
if [ -x "$BENCH_BIN" ]; then
  mkdir -p "$OUT/probe"
  "$BENCH_BIN" fsync-probe --dir "$OUT/probe" --bytes 4096 --count "$([ "$SMOKE" = 1 ] && echo 20 || echo 2000)" \
    >"$OUT/fsync-probe.txt"
  PROBE_P50=$(sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p' "$OUT/fsync-probe.txt")
  PROBE_P99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$OUT/fsync-probe.txt")
  row "fsync probe (4 KB append + fdatasync)" "-" "$PROBE_P50" "$PROBE_P99"
else
  row "fsync probe" "skipped" "" "" "($BENCH_BIN missing)"
fi

# --- nginx: one worker, fixed 200 reply (its body counts one accepted event for the generator)
NGINX_UP=0
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
  mkdir -p "$TMP/nginx"
  cat >"$TMP/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { default_type application/json; return 200 '{"accepted":1,"rejected":0}'; }
  }
}
NGINX
  /usr/sbin/nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>"$TMP/nginx/stderr" &
  PIDS+=($!)
  wait_http "$NGINX_PORT" "$TMP/nginx/stderr"
  NGINX_UP=1
  closed nginx "$NGINX_PORT" 1
  NGINX_EPS=$EPS
  row "nginx, fixed 200, 1 req/event, closed loop" "$EPS" "$P50" "$P99" "req/s"
else
  row "nginx" "skipped" "" "" "(not installed: scripts/setup.sh)"
fi

# --- Impulse on the fraud path. The spec's webhook goes to nginx (200 for every alert).
SPEC=$TMP/alerts.yaml
sed "s#http://127.0.0.1:8471/alerts#http://127.0.0.1:$NGINX_PORT/alerts#" examples/fraud/alerts.yaml >"$SPEC"
ENGINE_PID=""
DURABILITY=none
start_engine() {
  stop_engine
  rm -rf "$TMP/data"
  "$BIN" run "$SPEC" --models examples/fraud/models --data-dir "$TMP/data" --listen "127.0.0.1:$ENGINE_PORT" \
    --durability "$DURABILITY" 2>"$OUT/engine.log" &
  ENGINE_PID=$!
  wait_http "$ENGINE_PORT" "$OUT/engine.log"
}
stop_engine() {
  if [ -n "$ENGINE_PID" ]; then kill "$ENGINE_PID" 2>/dev/null || true; wait "$ENGINE_PID" 2>/dev/null || true; fi
  ENGINE_PID=""
}
# Hook for the decision in the response: the load generator's --decide asks each request for
# the score pipeline's output by transaction_id. Until `impulse load` has it, only acks are
# measured and the decision rows say so.
DECIDE=()
if "$BIN" load --help 2>&1 | grep -q -- "--decide"; then DECIDE=(--decide score --id transaction_id); fi

declare -A IMP_EPS IMP_P50 IMP_P99 IMP_BEST
for DURABILITY in none sync; do
  RESTART=start_engine
  closed "impulse-$DURABILITY-1" "$ENGINE_PORT" 1
  IMP_EPS[$DURABILITY]=$EPS
  row "impulse $DURABILITY, 1 tx/req, ack, closed loop" "$EPS" "$P50" "$P99" "req/s"
  if [ "$DURABILITY" = sync ]; then
    # Group commit: requests answered per fdatasync of the ingested stream (the last round's engine).
    metric() { curl -s "http://127.0.0.1:$ENGINE_PORT/metrics" | sed -n "s/^$1{stream=\"transactions\"} \([0-9.e+]*\)/\1/p"; }
    GROUP=$(awk -v r="$(metric impulse_ingest_requests_total)" -v f="$(metric impulse_log_fsyncs_total)" \
      'BEGIN { if (f > 0) printf "%.1f", r / f; else print "-" }')
    row "  requests per fdatasync (4 partitions)" "$GROUP" "" "" "sync, 1 tx/req, last round"
  fi
  if [ ${#DECIDE[@]} -gt 0 ]; then
    RESTART=start_engine closed "impulse-$DURABILITY-1-decide" "$ENGINE_PORT" 1 "${DECIDE[@]}"
    row "impulse $DURABILITY, 1 tx/req, decision, closed" "$EPS" "$P50" "$P99" "req/s; last round: ${PENDING:-?} answered pending"
    RESTART=start_engine closed "impulse-$DURABILITY-100-decide" "$ENGINE_PORT" 100 "${DECIDE[@]}"
    row "impulse $DURABILITY, 100 tx/req, decision, closed" "$EPS" "$P50" "$P99" "events/s; last round: ${PENDING:-?} pending"
  else
    row "impulse $DURABILITY, 1 tx/req, decision" "n/a" "" "" "(impulse load has no --decide yet)"
  fi
  closed "impulse-$DURABILITY-1000" "$ENGINE_PORT" 1000
  row "impulse $DURABILITY, 1000 tx/req, ack, closed loop" "$EPS" "$P50" "$P99" "events/s"
  unset RESTART
done

# --- the Python peer
PEER_UP=0
if $PY -c "import xgboost" 2>/dev/null; then
  start_peer() {
    stop_peer
    $PY bench/peers/fraud_service.py --port "$PEER_PORT" --model examples/fraud/models/fraud/1/model.json \
      >"$OUT/peer.log" 2>&1 &
    PEER_PID=$!
    for _ in $(seq 200); do curl -s -o /dev/null -X POST --data-binary @/dev/null "http://127.0.0.1:$PEER_PORT/" && break; sleep 0.05; done
  }
  stop_peer() {
    if [ -n "${PEER_PID:-}" ]; then kill "$PEER_PID" 2>/dev/null || true; wait "$PEER_PID" 2>/dev/null || true; fi
    PEER_PID=""
  }
  RESTART=start_peer
  CLOSED_EVENTS=8000 closed peer-1 "$PEER_PORT" 1
  PEER_EPS=$EPS
  row "python peer, 1 tx/req, score, closed loop" "$EPS" "$P50" "$P99" "req/s"
  best peer "$PEER_PORT" "$PEER_EPS"
  PEER_BEST=$BEST
  best_row "python peer: best rate with p99 < 10 ms" "req/s, open loop"
  # The common rate: the peer's best, or half its closed-loop rate when it has none.
  if [ "$PEER_BEST" = none ]; then COMMON=$(( PEER_EPS / 2 )); else COMMON=$PEER_BEST; fi
  [ "$COMMON" -lt 1 ] && COMMON=1
  start_peer
  load peer-at-common "$PEER_PORT" 1 "$COMMON"
  row "python peer at $COMMON/s (common rate)" "$EPS" "$P50" "$P99" "req/s, open loop"
  unset RESTART
  stop_peer
  PEER_UP=1
else
  row "python peer" "skipped" "" "" "(python3-xgboost missing: scripts/setup.sh)"
fi

# --- Impulse open loop: its best rate, and at the peer's best rate
for DURABILITY in none sync; do
  RESTART=start_engine
  best "impulse-$DURABILITY" "$ENGINE_PORT" "${IMP_EPS[$DURABILITY]}"
  best_row "impulse $DURABILITY: best rate with p99 < 10 ms" "req/s, open loop, ack"
  if [ "$PEER_UP" = 1 ]; then
    start_engine
    load "impulse-$DURABILITY-at-common" "$ENGINE_PORT" 1 "$COMMON"
    row "impulse $DURABILITY at $COMMON/s (common rate)" "$EPS" "$P50" "$P99" "req/s, open loop, ack"
  fi
  unset RESTART
done
stop_engine

# --- Impulse open loop, the decision in the response at fixed rates: latency counts from each
# request's due time (the targets' shape), beside the engine's own fsyncs (the log_fsync stage of
# /metrics, a histogram: its p99 is a bucket bound) and the probe's p99 above.
# hist_q STAGE Q: quantile Q of impulse_stage_latency_seconds{stage=STAGE} in ms (bucket bound)
hist_q() {
  { curl -s "http://127.0.0.1:$ENGINE_PORT/metrics" || true; } | awk -v st="$1" -v q="$2" '
    index($0, "impulse_stage_latency_seconds_bucket{stage=\"" st "\"") == 1 {
      split($1, a, "le=\""); sub(/"}.*/, "", a[2]); le[n] = a[2]; c[n++] = $2 }
    END { if (n == 0 || c[n-1] == 0) { print "-"; exit }
          for (i = 0; i < n; i++) if (c[i] >= q * c[n-1]) { print (le[i] == "+Inf" ? "inf" : le[i] * 1000); exit } }'
}
if [ ${#DECIDE[@]} -gt 0 ]; then
  DECIDE_RATES=${DECIDE_RATES:-1000 2000 5000}
  [ "$SMOKE" = 1 ] && DECIDE_RATES=1000
  for DURABILITY in none sync; do
    for rate in $DECIDE_RATES; do
      start_engine
      load "impulse-$DURABILITY-decide-rate-$rate" "$ENGINE_PORT" 1 "$rate" "${DECIDE[@]}"
      P999=$(sed -n 's/.*p99.9 \([0-9.]*\) ms.*/\1/p' "$OUT/impulse-$DURABILITY-decide-rate-$rate.txt" | head -1)
      extra="req/s, open loop, decision; p99.9 ${P999:-?} ms; ${PENDING:-?} pending"
      if [ "$DURABILITY" = sync ]; then
        extra="$extra; engine fsync p50/p99 <= $(hist_q log_fsync 0.5)/$(hist_q log_fsync 0.99) ms"
      fi
      row "impulse $DURABILITY, 1 tx/req, decision at $rate/s" "$EPS" "$P50" "$P99" "$extra"
    done
  done
  stop_engine
fi

# --- the decision readable in the log, per hop: in process (impulse-bench hops), one
# transaction per Ingest call, open loop
if [ -x "$BENCH_BIN" ]; then
  HOPS_RATE=${HOPS_RATE:-5000}
  for DURABILITY in none sync; do
    f="$OUT/hops-$DURABILITY.txt"
    "$BENCH_BIN" hops --spec "$SPEC" --models examples/fraud/models --input "$TX" \
      --outputs tx_by_terminal,tx_features,tx_scored --rate "$HOPS_RATE" \
      --events "$(awk -v r="$HOPS_RATE" -v s="$SECONDS_PER_RUN" 'BEGIN { n = int(r * s); print (n < 200 ? 200 : n) }')" \
      --durability "$DURABILITY" --data-dir "$TMP/hops" >"$f" 2>&1 || true
    for what in ack tx_by_terminal tx_features tx_scored; do
      read -r P50 P99 < <(awk -v w="$what" '$0 ~ w && /p50/ { for (i = 1; i <= NF; i++) { if ($i == "p50") a = $(i+1); if ($i == "p99") b = $(i+1) } print a, b; exit }' "$f")
      row "in process $DURABILITY at $HOPS_RATE/s: $what" "-" "${P50:-}" "${P99:-}" "$([ "$what" = ack ] && echo "ack" || echo "readable in the log")"
    done
  done
fi

echo "Real-time decisions: fraud path (examples/fraud/alerts.yaml), $(nproc) cores, $CONNS connections, $(date -u +%FT%TZ)"
printf '%-44s %12s %10s %10s  %s\n' "what" "throughput" "p50 ms" "p99 ms" "unit"
printf '%s\n' "${ROWS[@]}"
