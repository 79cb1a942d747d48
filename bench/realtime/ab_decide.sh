#!/usr/bin/env bash
# A/B of one transaction per request with the decision in the response (`--durability none`,
# 16 connections, closed loop), beside nginx in the same run: the commands of run.sh's
# "impulse none, 1 tx/req, decision" and "nginx" rows, for two engine binaries, alternated.
#
#   bench/realtime/ab_decide.sh BASE_BIN NEW_BIN     (ROUNDS=3, OUT=build/bench/ab-decide,
#                                                    DURABILITY=none, BATCH=1)
#
# Prints, per round: nginx req/s, p50, p99, then each binary's req/s, p50, p99, engine CPU
# microseconds per request, context switches per request and file reads and writes (read/pread,
# write/pwrite calls: the log's) per request; and the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$1 B=$2
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-build/bench/ab-decide}
EVENTS=${EVENTS:-60000}
EXTRA=${EXTRA:-}  # extra `impulse run` arguments for both binaries
DURABILITY=${DURABILITY:-none}
BATCH=${BATCH:-1}  # transactions per request (the engines' figures are then events/s, per event)
CONNS=16 NGINX_PORT=18480 ENGINE_PORT=18481
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
TX=$OUT/tx-120.ndjson
if [ ! -s "$TX" ]; then "$A" generate fraud --format ndjson --days 120 --seed 1 >"$TX.tmp" && mv "$TX.tmp" "$TX"; fi
wait_http() {
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$1/healthz" && return 0; sleep 0.05; done
  echo "ab_decide.sh: nothing answers on port $1" >&2; exit 1
}
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
wait_http "$NGINX_PORT"
SPEC=$TMP/alerts.yaml
sed "s#http://127.0.0.1:8471/alerts#http://127.0.0.1:$NGINX_PORT/alerts#" examples/fraud/alerts.yaml >"$SPEC"
# run_load NAME PORT [args]: prints "eps p50 p99"
run_load() {
  local name=$1 port=$2 f
  shift 2
  f="$OUT/$name.txt"
  "$A" load --target "127.0.0.1:$port" --stream transactions --input "$TX" --events "$EVENTS" \
    --connections "$CONNS" --batch "$BATCH" --rate 0 "$@" >"$f" 2>&1 || true
  if grep -q "errors [1-9]" "$f"; then echo "ab_decide.sh: $name: $(grep errors "$f")" >&2; fi
  echo "$(sed -n 's/.* \([0-9][0-9]*\) events\/s.*/\1/p' "$f" | head -1) $(sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p' "$f" | head -1) $(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$f" | head -1)"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # utime + stime, all threads
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ { n += $2 } END { print n }'; }
# read/pread and write/pwrite system calls (not socket sends and receives), all threads
io_calls() { awk '/^syscr/ { r = $2 } /^syscw/ { w = $2 } END { print r, w }' "/proc/$1/io"; }
engine_round() {  # engine_round LABEL BIN ROUND
  rm -rf "$TMP/data"
  # shellcheck disable=SC2086
  "$2" run "$SPEC" --models examples/fraud/models --data-dir "$TMP/data" --listen "127.0.0.1:$ENGINE_PORT" \
    --durability "$DURABILITY" $EXTRA 2>"$OUT/engine-$1-$3.log" &
  local pid=$!
  wait_http "$ENGINE_PORT"
  local c0 s0 io0 res
  c0=$(cpu_ticks "$pid") s0=$(switches "$pid") io0=$(io_calls "$pid")
  res=$(run_load "$1-$3" "$ENGINE_PORT" --decide score --id transaction_id)
  # The engine's CPU time, context switches and file reads and writes (all threads) per
  # request, over the load run: unlike req/s, these hardly depend on what else the machine runs.
  echo "$1 $res $(awk -v a="$c0" -v b="$(cpu_ticks "$pid")" -v t="$(getconf CLK_TCK)" -v n="$EVENTS" \
    'BEGIN { printf "%.1f", (b - a) / t * 1e6 / n }') $(awk -v a="$s0" -v b="$(switches "$pid")" -v n="$EVENTS" \
    'BEGIN { printf "%.2f", (b - a) / n }') $(echo "$io0 $(io_calls "$pid")" | awk -v n="$EVENTS" \
    '{ printf "%.2f %.2f", ($3 - $1) / n, ($4 - $2) / n }')"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
echo "ab_decide: durability $DURABILITY, $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$ROUNDS"); do
  echo "nginx $(run_load "nginx-$i" "$NGINX_PORT")"
  if [ $((i % 2)) = 1 ]; then engine_round A "$A" "$i"; engine_round B "$B" "$i"; else
    engine_round B "$B" "$i"; engine_round A "$A" "$i"; fi
done | tee "$OUT/rounds.txt"
med() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for w in nginx A B; do
  printf '%s median: %s req/s, p50 %s ms, p99 %s ms' "$w" \
    "$(awk -v w=$w '$1==w {print $2}' "$OUT/rounds.txt" | med)" \
    "$(awk -v w=$w '$1==w {print $3}' "$OUT/rounds.txt" | med)" \
    "$(awk -v w=$w '$1==w {print $4}' "$OUT/rounds.txt" | med)"
  [ $w = nginx ] || printf ', engine CPU %s us/request, %s context switches/request, %s file reads + %s writes/request' \
    "$(awk -v w=$w '$1==w {print $5}' "$OUT/rounds.txt" | med)" "$(awk -v w=$w '$1==w {print $6}' "$OUT/rounds.txt" | med)" \
    "$(awk -v w=$w '$1==w {print $7}' "$OUT/rounds.txt" | med)" "$(awk -v w=$w '$1==w {print $8}' "$OUT/rounds.txt" | med)"
  echo
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
