#!/usr/bin/env bash
# The personalization example's recommendation path end to end, in process (docs/BENCHMARKS.md,
# "Personalization: the recommendation path"). Builds nothing: it takes the release binaries
# (`./dev bench personalization` builds them first). Prints one table; raw output goes to $OUT.
#
#   bench/personalization/run.sh
#
# Data: `impulse generate shop --days $DAYS` (the simulator's defaults otherwise: 10 000 users,
# 5 000 items, 20 categories), NDJSON. Every run is `impulse-bench hops` on a fresh engine
# (2 shards, durability none): the first $WARM_DAYS days are ingested unpaced and drained (the
# history: 1-day and 7-day windows, the hourly top-100 lists per category), then the following
# events are measured with event time following the wall clock (--live-time: the history is
# shifted to end when the measurement starts, each measured event carries its send time), as in
# live use, so the 1 s max_out_of_orderness wait is real time.
#
# Variants of examples/personalization/rank.yaml, derived here from the example (so they follow
# its edits) into $OUT:
#   full      rank.yaml as it is: also its `ranking_candidates` pipeline (the same rank step with
#             emit: candidates, 100 rows written per view: the training set). Not run by default:
#             on 2026-12-07 its history warm-up was killed by the kernel's OOM killer (the serve
#             variant's warm-up peaks at ~9 GB resident; docs/BENCHMARKS.md)
#   serve     without `ranking_candidates`: the recommendation path alone
#   nowait    serve, with the user_category and item views computed on arrival and the lookup and
#             rank reading as of the event's time - 2 s (as_of: -2s, beyond the watermark's 1 s lag)
#             instead of 0s: no step waits for the watermark; the same compute
# One engine per variant and round (the history's warm-up is the slow part: minutes), measured in
# phases on the following events, in this order:
#   latency     open loop at each of $RATES events/s for $SECONDS_PER_RATE s (then 2 s more, not
#               measured, so that the last measured events do not wait for a watermark that no
#               later event moves): p50 / p99 from an event's due time to its row readable (a
#               subscription polling every 1 ms) in events_by_user_category (after the user view
#               and the first key_by), events_by_item (after the point-in-time user_category view
#               and the second key_by), events_features (after the point-in-time item view),
#               views_with_candidates (views only, after the broadcast lookup of the candidate
#               lists) and recommendations (after the rank step and the key_by to users)
#   throughput  $EVENTS events sent as fast as accepted (1000 per Ingest) with the data's own time
#               spacing (a replay: event time runs faster than the wall clock, nothing waits for
#               long); events/s to the last recommendation, the process's CPU per event and per
#               recommendation (a ranked view)
# CPU per event is the process's (engine threads and the driver, whose subscriptions poll 5
# streams every 1 ms in the latency phases). Medians of $ROUNDS rounds; the load average at each
# run's start is printed beside: the machine is shared.
#
# Environment: BIN, BENCH_BIN, OUT (build/bench/personalization), ROUNDS (1), DAYS (3),
# WARM_DAYS (2), EVENTS (10000), RATES ("100 250 500"), SECONDS_PER_RATE (10), VARIANTS ("serve
# nowait"; or with full), SMOKE=1 (one round, tiny counts, the serve variant: the check that this
# script works). One round takes about 8 minutes on the shared 2-CPU machine (3 of warm-up per
# variant).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/release/tools/impulse/impulse}
BENCH_BIN=${BENCH_BIN:-build/release/bench/impulse-bench}
OUT=${OUT:-build/bench/personalization}
ROUNDS=${ROUNDS:-1}
DAYS=${DAYS:-3}
WARM_DAYS=${WARM_DAYS:-2}
EVENTS=${EVENTS:-10000}
RATES=${RATES:-"100 250 500"}
SECONDS_PER_RATE=${SECONDS_PER_RATE:-10}
VARIANTS=${VARIANTS:-"serve nowait"}
SMOKE=${SMOKE:-0}
EXAMPLE=examples/personalization
if [ "$SMOKE" = 1 ]; then ROUNDS=1 DAYS=2 WARM_DAYS=1 EVENTS=300 RATES=200 SECONDS_PER_RATE=1 VARIANTS=${VARIANTS_SMOKE:-serve}; fi
for b in "$BIN" "$BENCH_BIN"; do [ -x "$b" ] || { echo "run.sh: $b missing: build the release build first" >&2; exit 1; }; done
mkdir -p "$OUT"

# --- data: generated once per DAYS
EV=$OUT/shop-$DAYS.ndjson
if [ ! -s "$EV" ]; then "$BIN" generate shop --format ndjson --days "$DAYS" --quiet >"$EV.tmp" && mv "$EV.tmp" "$EV"; fi
start_day=$(head -1 "$EV" | sed -n 's/.*"event_datetime":"\([0-9-]*\)T.*/\1/p')
measure_day=$(date -u -d "$start_day + $WARM_DAYS days" +%F)
WARM=$(( $(grep -n -m1 "\"event_datetime\":\"$measure_day" "$EV" | cut -d: -f1) - 1 ))
[ "$WARM" -gt 0 ] || { echo "run.sh: no event on $measure_day in $EV (DAYS $DAYS, WARM_DAYS $WARM_DAYS)" >&2; exit 1; }
AVAILABLE=$(( $(wc -l <"$EV") - WARM ))

# --- the variants
awk '/^  - name: ranking_candidates$/ { skip = 1; next } skip && /^  - name: / { skip = 0 } !skip' \
  "$EXAMPLE/rank.yaml" >"$OUT/serve.yaml"
sed -e 's/^    mode: point_in_time$/    mode: on_arrival/' -e 's/^\( *\)as_of: 0s$/\1as_of: -2s/' \
  "$OUT/serve.yaml" >"$OUT/nowait.yaml"
cp "$EXAMPLE/rank.yaml" "$OUT/full.yaml"
# The derivations must have found what they change (the example's layout may move on).
grep -q '^ *emit: candidates' "$OUT/serve.yaml" && { echo "run.sh: ranking_candidates not removed" >&2; exit 1; }
if [ "$(grep -c 'mode: on_arrival' "$OUT/nowait.yaml")" != 2 ] || [ "$(grep -c 'as_of: -2s' "$OUT/nowait.yaml")" != 2 ]; then
  echo "run.sh: nowait.yaml: expected 2 views made on_arrival and 2 as_of: -2s" >&2
  exit 1
fi
for v in $VARIANTS; do "$BIN" validate "$OUT/$v.yaml" >/dev/null; done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
load_avg() { cut -d' ' -f1 /proc/loadavg; }
PATH_STREAMS=events_by_user_category,events_by_item,events_features,views_with_candidates,recommendations

# field TEXT STREAM p50|p99: a latency of the stream's rows in a phase's output
field() { sed -n "s/.*readable in $2 .* $3 *\([0-9.]*\) ms.*/\1/p" <<<"$1" | head -1; }

declare -A TPUT CPU_EV CPU_VIEW FULL LAT LOADS
for r in $(seq "$ROUNDS"); do
  for v in $VARIANTS; do
    LOADS[$v]+="$(load_avg) "
    phases="" need=$EVENTS
    for rate in $RATES; do
      n=$(awk -v r="$rate" -v s="$SECONDS_PER_RATE" 'BEGIN { print int(r * s) }')
      phases+="$rate:$n,"
      need=$(( need + n + 2 * rate ))
    done
    [ "$need" -le "$AVAILABLE" ] || { echo "run.sh: the phases need $need events after the history, $EV has $AVAILABLE: raise DAYS" >&2; exit 1; }
    f=$OUT/$v-$r.txt
    "$BENCH_BIN" hops --spec "$OUT/$v.yaml" --models "$EXAMPLE/models" --input "$EV" --stream events --id event_id \
      --warm "$WARM" --live-time event_datetime --shards 2 --list-field list_CANDIDATES_1D --full-list 100 \
      --phases "${phases}unpaced:$EVENTS" --outputs "$PATH_STREAMS" >"$f" 2>&1 ||
      { echo "run.sh: $v round $r failed:" >&2; cat "$f" >&2; exit 1; }
    TPUT[$v]+="$(sed -n 's/.*throughput: \([0-9]*\) events\/s.*/\1/p' "$f") "
    CPU_EV[$v]+="$(grep -A2 'unpaced' "$f" | sed -n 's/.*s, \([0-9.]*\) us per event.*/\1/p') "
    CPU_VIEW[$v]+="$(sed -n 's/.* \([0-9.]*\) us per recommendations row.*/\1/p' "$f") "
    FULL[$v]+="$(sed -n 's/.*, \([0-9.]*\)% of .* lists.*/\1/p' "$f" | tail -1) "
    p=0
    for rate in $RATES; do
      p=$((p + 1))
      block=$(awk -v p="phase $p:" 'index($0, p) == 1 { on = 1; print; next } /^phase / { on = 0 } on' "$f")
      for s in ${PATH_STREAMS//,/ }; do
        LAT[$v-$rate-$s-p50]+="$(field "$block" "$s" p50) "
        LAT[$v-$rate-$s-p99]+="$(field "$block" "$s" p99) "
      done
      LAT[$v-$rate-cpu]+="$(sed -n 's/.*s, \([0-9.]*\) us per event.*/\1/p' <<<"$block") "
    done
  done
done

# shellcheck disable=SC2086  # the accumulated values are space-separated lists
{
  echo "personalization recommendation path: $(nproc) CPUs, $(date -u +%F), shop --days $DAYS, history $WARM_DAYS days ($WARM events), median of $ROUNDS round(s)"
  printf '%-7s %9s %10s %12s %10s  %s\n' variant "events/s" "CPU us/ev" "CPU us/rec" "lists=100" "(unpaced replay of $EVENTS events; load avg at each run's start: per round)"
  for v in $VARIANTS; do
    printf '%-7s %9s %10s %12s %9s%%  %s\n' "$v" "$(median ${TPUT[$v]})" "$(median ${CPU_EV[$v]})" \
      "$(median ${CPU_VIEW[$v]})" "$(median ${FULL[$v]})" "${LOADS[$v]}"
  done
  echo
  echo "latency from the event's due time to its row readable, event time = wall clock, ms p50 / p99"
  printf '%-7s %6s %15s %15s %15s %15s %15s %10s\n' variant "rate/s" by_user_category by_item features with_candidates \
    recommendations "CPU us/ev"
  for v in $VARIANTS; do
    for rate in $RATES; do
      cells=()
      for s in ${PATH_STREAMS//,/ }; do
        cells+=("$(median ${LAT[$v-$rate-$s-p50]}) / $(median ${LAT[$v-$rate-$s-p99]})")
      done
      printf '%-7s %6s %15s %15s %15s %15s %15s %10s\n' "$v" "$rate" "${cells[@]}" "$(median ${LAT[$v-$rate-cpu]})"
    done
  done
} | tee "$OUT/table.txt"
