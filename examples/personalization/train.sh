#!/bin/sh
# The personalization example's training loop, end to end: simulate the shop, backfill the
# ranker's training rows with the engine (rank.yaml's ranking_candidates: every model input as
# the rank step serves it), label them and train the ranker (examples/personalization/train.py)
# into a new version of examples/personalization/models/ranker, and evaluate the new version as the
# engine serves it, on live and on nightly features, against the popularity baselines
# (`impulse demo personalization --models`).
#
#   examples/personalization/train.sh [IMPULSE_BINARY] [WORK_DIR]
#
# The default shop (10 000 users, 30 days, the last 7 held out, the 14 before them training);
# environment variables USERS, DAYS, HELDOUT_DAYS, TRAIN_DAYS change it, e.g. a quick run of the
# loop: USERS=1000 DAYS=10 HELDOUT_DAYS=3 TRAIN_DAYS=5 MODELS=<a scratch copy of models/>
# (MODELS: the repository the new version goes to; the test fixture is rewritten only for the
# committed one).
#
# A manual step (the CI and the tests do not run it): the model it writes is committed. Needs
# Debian's python3-xgboost and python3-pandas (apt-get install -y python3-xgboost python3-pandas)
# and /usr/bin/python3 (a pyenv python3 on the PATH lacks them). Run time on the default shop:
# docs/BENCHMARKS.md, "The training loop (examples/personalization/train.sh)".
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IMPULSE=${1:-$ROOT/build/release/tools/impulse/impulse}
WORK=${2:-${TMPDIR:-/tmp}/impulse-personalization-train}
MODELS=${MODELS:-$HERE/models}
SHOP="--users ${USERS:-10000} --days ${DAYS:-30}"
HELDOUT="--heldout-days ${HELDOUT_DAYS:-7}"
PY=/usr/bin/python3

[ -x "$IMPULSE" ] || { echo "train.sh: no impulse binary at $IMPULSE (build the target impulse)" >&2; exit 2; }
mkdir -p "$WORK"

run() { echo "+ $*"; "$@"; }

# 1. The shop (default: 10 000 users, 5 000 items, 30 days from 2024-03-04, seed 0).
echo "+ $IMPULSE generate shop --quiet $SHOP > $WORK/events.csv"
# shellcheck disable=SC2086 # $SHOP, $HELDOUT: lists of flags
"$IMPULSE" generate shop --quiet $SHOP > "$WORK/events.csv"
# 2. The training rows, by the engine: a sample of the views, one row per candidate, scored by
#    the serving model (the score is not a training input).
run "$IMPULSE" backfill "$HERE/rank.yaml" --input "$WORK/events.csv" --models "$MODELS" \
  --stream ranking_candidates --out "$WORK/candidates.csv"
# 3. For the pandas cross-check and the test fixture: every event with its features; the hourly
#    category lists.
run "$IMPULSE" backfill "$HERE/features.yaml" --input "$WORK/events.csv" --stream events_features \
  --out "$WORK/features.csv"
run "$IMPULSE" backfill "$HERE/features.yaml" --input "$WORK/events.csv" --stream category_top_items \
  --out "$WORK/top.csv"
# 4. Label and train (a new version of the ranker).
# shellcheck disable=SC2086
run "$PY" "$HERE/train.py" "$WORK/events.csv" "$WORK/candidates.csv" --features "$WORK/features.csv" \
  --top "$WORK/top.csv" --repository "$MODELS" --days "${DAYS:-30}" $HELDOUT \
  --train-days "${TRAIN_DAYS:-14}"
# 5. The repository loads in the engine; the test fixture for the new model (the engine must
#    score it as xgboost did: tests/personalization_model_test.cc).
run "$IMPULSE" models list --models "$MODELS"
if [ "$MODELS" = "$HERE/models" ]; then
  run "$PY" "$HERE/testdata/make_fixture.py" "$WORK/features.csv" "$WORK/top.csv"
fi
# 6. The new version as the engine serves it (rank.yaml's recommendations and
#    recommendations_nightly) against the baselines, on the held-out days.
# shellcheck disable=SC2086
run "$IMPULSE" demo personalization $SHOP $HELDOUT --models "$MODELS"
