#!/bin/bash
# The checkpoint pause on the fraud path, both schemes with one binary (docs/BENCHMARKS.md,
# "Checkpoint pause: state captured, written in the background").
#   scripts/checkpoint_pause.sh [BUILD_DIR] [WORK_DIR]
# Generates ~1.79 M transactions (62 days, 15 000 customers, 30 000 terminals: ~45 MB of feature
# state), runs examples/fraud/alerts.yaml without its webhook under each scheme with a checkpoint
# every second: the first 60 days as fast as one connection goes (5000 per request), the rest
# slowly (100 every 100 ms), then prints the checkpoint_pause histogram and the kept manifests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
work=${2:-$(mktemp -d /tmp/impulse-ckpt-pause.XXXXXX)}
bin=$build/tools/impulse/impulse
port=${PORT:-18471}
durability=${DURABILITY:-none}
mkdir -p "$work"
python3 - "$root/examples/fraud/alerts.yaml" "$work/spec.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read()
s = s[:s.index('actions:')] + s[s.index('pipelines:'):]
s = s[:s.index('          call:')] + s[s.index('      - project: [transaction_id, tx_datetime'):]
open(sys.argv[2], 'w').write(s)
PY
[ -f "$work/tx.ndjson" ] || "$bin" generate fraud --days 62 --customers 15000 --terminals 30000 --format ndjson > "$work/tx.ndjson"
fast=$(grep -n -m1 '"tx_time_days":60,' "$work/tx.ndjson" | cut -d: -f1)
for scheme in background in-pause; do
  extra=()
  [ "$scheme" = in-pause ] && extra=(--checkpoint-state-in-pause)
  rm -rf "$work/data-$scheme"
  "$bin" run "$work/spec.yaml" --models "$root/examples/fraud/models" --data-dir "$work/data-$scheme" \
    --listen 127.0.0.1:$port --checkpoint-interval-ms 1000 --durability "$durability" "${extra[@]}" \
    > "$work/$scheme.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf 127.0.0.1:$port/healthz > /dev/null && break; sleep 0.2; done
  echo "== $scheme (--durability $durability)"
  python3 - "$port" "$work/tx.ndjson" "$((fast - 1))" <<'PY'
import http.client, sys, time
port, path, fast = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
lines = [l + b'\n' for l in open(path, 'rb').read().split(b'\n') if l]
c = http.client.HTTPConnection('127.0.0.1', port)
def post(chunk):
    c.request('POST', '/v1/streams/transactions/events', body=b''.join(chunk))
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
t0 = time.time()
for i in range(0, fast, 5000):
    post(lines[i:min(fast, i + 5000)])
print('%d transactions in %.1f s, then %d slowly' % (fast, time.time() - t0, len(lines) - fast), flush=True)
for i in range(fast, len(lines), 100):
    post(lines[i:i + 100])
    time.sleep(0.1)
time.sleep(2)
c.request('GET', '/metrics'); m = c.getresponse().read().decode()
for l in m.split('\n'):
    if 'stage="checkpoint_pause"' in l or l.startswith('impulse_checkpoints_total'):
        print(l)
PY
  "$bin" checkpoints list --data-dir "$work/data-$scheme"
  kill -TERM $pid; wait $pid || true
done
