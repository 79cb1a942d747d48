#!/usr/bin/python3
"""Writes ranker_scores.csv: 1000 candidate rows of held-out views with the committed ranker's
(its highest version, the one served) xgboost scores, for tests/personalization_model_test.cc (the engine must score them equally).

  make_fixture.py FEATURES.csv TOP.csv   (train.sh's WORK_DIR/features.csv and top.csv)
"""

import os
import sys

import numpy as np
import xgboost

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import train as T  # noqa: E402

FIRST_HELDOUT_EPOCH_DAY = 19810  # 2024-03-28, a held-out day of the default simulation


def main(argv):
    df = T.load_features(argv[0])
    lists, expanded = T.load_lists(argv[1])
    versions = T.item_versions(df)
    views = df[df["type"] == "view"]
    events = views[views["t"] >= T.DAY_MS * FIRST_HELDOUT_EPOCH_DAY].head(300)
    rows = T.candidate_rows(events, lists, expanded, versions, "t").reset_index(drop=True)
    ranker = os.path.join(os.path.dirname(HERE), "models", "ranker")
    version = max(int(v) for v in os.listdir(ranker) if v.isdigit())
    booster = xgboost.Booster()
    booster.load_model(os.path.join(ranker, str(version), "model.json"))
    rows["py_score"] = booster.predict(T.matrix(rows))
    rows = rows.sample(n=1000, random_state=0).sort_index()
    rows["row_id"] = np.arange(len(rows))
    rows["py_score"] = [np.format_float_positional(np.float32(x), unique=True) for x in rows["py_score"]]
    rows[["row_id"] + T.FEATURES + ["py_score"]].to_csv(os.path.join(HERE, "ranker_scores.csv"), index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
