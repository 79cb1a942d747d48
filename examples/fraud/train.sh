#!/bin/sh
# The fraud example's training loop, end to end: simulate, backfill the features, train the
# XGBoost and logistic-regression baselines with the handbook's protocol, write them into the
# model repository examples/fraud/models, and evaluate their test-period scores.
#
#   examples/fraud/train.sh [IMPULSE_BINARY] [WORK_DIR]
#
# A manual step (the CI and the tests do not run it): the model files and the test fixture it
# writes are committed. Needs Debian's python3-xgboost, python3-sklearn, python3-pandas
# (apt-get install -y python3-xgboost python3-sklearn python3-pandas) and /usr/bin/python3 (a
# pyenv python3 on the PATH lacks those packages). About 1 minute and 1.5 GB of disk in WORK_DIR.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IMPULSE=${1:-$ROOT/build/release/tools/impulse/impulse}
WORK=${2:-${TMPDIR:-/tmp}/impulse-fraud-train}
PY=/usr/bin/python3
SEED=1

[ -x "$IMPULSE" ] || { echo "train.sh: no impulse binary at $IMPULSE (build the target impulse)" >&2; exit 2; }
mkdir -p "$WORK"

run() { echo "+ $*"; "$@"; }

# 1. 183 days from 2018-04-01 of the handbook's simulator (5000 customers, 10000 terminals).
echo "+ $IMPULSE generate fraud --seed $SEED > $WORK/tx.csv"
"$IMPULSE" generate fraud --seed "$SEED" > "$WORK/tx.csv"
# 2. The training set: every transaction with its features as of that transaction.
run "$IMPULSE" backfill "$ROOT/examples/fraud/features.yaml" --input "$WORK/tx.csv" --out "$WORK/features.csv"
# 3. Train on 2018-07-25..31; predictions for 2018-07-25..2018-08-14; the C++ test fixture. An
#    engine serving the repository (score.yaml, which needs the models there already) reloads the
#    new models, and must score the test period as train.py did (through the Python client).
PORT=${PORT:-18479}
rm -rf "$WORK/engine"
"$IMPULSE" run "$HERE/score.yaml" --models "$HERE/models" --data-dir "$WORK/engine" \
  --listen "127.0.0.1:$PORT" 2> "$WORK/engine.log" &
ENGINE=$!
trap 'kill $ENGINE 2>/dev/null || true' EXIT
"$PY" -c "import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen('http://127.0.0.1:$PORT/healthz', timeout=1); sys.exit(0)
    except OSError: time.sleep(0.1)
sys.exit('train.sh: the engine did not start: see $WORK/engine.log')"
run "$PY" "$HERE/train.py" "$WORK/features.csv" --repository "$HERE/models" --out "$WORK" \
  --fixture "$HERE/testdata/fraud_scores.csv" --engine "http://127.0.0.1:$PORT"
kill $ENGINE
wait $ENGINE || true
trap - EXIT
# 4. Test 2018-08-08..14 without the cards known compromised: AUC ROC, AP, card precision@100.
for m in fraud fraud_lr; do
  run "$PY" "$HERE/evaluate.py" "$WORK/predictions_$m.csv" --name "$m"
done
# 5. The repository loads in the engine (both versions must say ready).
run "$IMPULSE" models list --models "$HERE/models"
# 6. The engine scores every transaction with both models (score.yaml: features, then predict
#    steps); the same metrics, and the scores must equal the offline ones (max difference 0).
run "$IMPULSE" backfill "$HERE/score.yaml" --models "$HERE/models" --input "$WORK/tx.csv" \
  --into transactions --stream tx_scored --out "$WORK/scored.csv"
run "$PY" "$HERE/evaluate.py" "$WORK/scored.csv" --name "fraud (engine)" \
  --reference "$WORK/predictions_fraud.csv"
run "$PY" "$HERE/evaluate.py" "$WORK/scored.csv" --score fraud_lr_score --name "fraud_lr (engine)" \
  --reference "$WORK/predictions_fraud_lr.csv" --reference-score fraud_score
