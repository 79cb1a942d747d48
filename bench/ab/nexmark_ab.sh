#!/usr/bin/env bash
# A/B of Nexmark in process between two builds, interleaved in one script so both see the same
# machine noise: for each round and query, A then B. Prints one line per run and the median
# events per engine CPU-second per (query, build), and B/A.
#   bench/ab/nexmark_ab.sh "A_CMD" "B_CMD" [rounds] [events] [queries...]
# A_CMD/B_CMD: the command that takes `nexmark ...` arguments, e.g.
#   "/tmp/base/build/release/tools/impulse/impulse" "build/release/bench/impulse-bench"
set -euo pipefail
a=$1 b=$2 rounds=${3:-3} events=${4:-2000000}
shift $(($# < 4 ? $# : 4))
queries=${*:-q0 q3 q5 q7}
out=$(mktemp)
for r in $(seq "$rounds"); do
  for q in $queries; do
    for side in A B; do
      cmd=$a; [ "$side" = B ] && cmd=$b
      v=$($cmd nexmark --query "$q" --events "$events" --checkpoint-interval-ms 1000 --input rows --json |
          tail -1 | sed -E 's/.*"events_per_cpu_s":([0-9]+).*/\1/')
      echo "$r $q $side $v" | tee -a "$out"
    done
  done
done
echo "query median_A median_B B/A (events per engine CPU-second)"
for q in $queries; do
  ma=$(awk -v q="$q" '$2==q && $3=="A" {print $4}' "$out" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  mb=$(awk -v q="$q" '$2==q && $3=="B" {print $4}' "$out" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  awk -v q="$q" -v a="$ma" -v b="$mb" 'BEGIN {printf "%s %d %d %.3f\n", q, a, b, b / a}'
done
rm -f "$out"
