#!/usr/bin/env bash
# One hostile event against a running engine: start `impulse run` on SPEC with 1 shard, POST BODY
# to stream `ev`, wait 4 s, say whether the process lives and its RSS, print the first
# _late_events row and the first OUT row, then stop it. docs/BENCHMARKS.md shows both repros:
#   bench/one_event/run.sh BIN bench/one_event/window.yaml bench/one_event/window.ndjson 18471 sums
#   bench/one_event/run.sh BIN bench/one_event/grow.yaml bench/one_event/grow.ndjson 18472 grown
set -u
bin=$1 spec=$2 body=$3 port=$4 out=$5
d=$(mktemp -d)
"$bin" run "$spec" --data-dir "$d" --listen "127.0.0.1:$port" --shards 1 > "$d/log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -s "localhost:$port/healthz" > /dev/null && break; sleep 0.2; done
curl -s -XPOST --data-binary "@$body" "localhost:$port/v1/streams/ev/events"
echo
sleep 4
if kill -0 "$pid" 2> /dev/null; then echo "alive, $(grep VmRSS "/proc/$pid/status")"; else echo "DIED"; fi
curl -s "localhost:$port/v1/streams/_late_events/events?partition=0&from=0&limit=1" | cut -c1-240
curl -s "localhost:$port/v1/streams/$out/events?partition=0&from=0&limit=1" | cut -c1-240
kill "$pid" 2> /dev/null
wait "$pid" 2> /dev/null
tail -3 "$d/log"
rm -rf "$d"
