#!/usr/bin/python3
"""The personalization example's ranker: labelled engine rows, XGBoost model, held-out lists.

  train.py EVENTS.csv CANDIDATES.csv --start 2024-03-04 --days 30 --heldout-days 7 \\
           --repository examples/personalization/models \\
           [--features FEATURES.csv --top TOP.csv]

EVENTS.csv is `impulse generate shop`'s output; CANDIDATES.csv is `impulse backfill
examples/personalization/rank.yaml --stream ranking_candidates`: one row per (view, candidate) of
a deterministic 1-in-20 sample of the views, with every model input as the engine's rank step
computes it when it serves (the candidate's item features as of the view, its place and count in
its category's list, the event's user and user-category features) and the serving model's score.
FEATURES.csv and TOP.csv (optional) are `impulse backfill examples/personalization/features.yaml
--stream events_features` and `--stream category_top_items`, for the pandas cross-check below. Needs Debian's python3-xgboost and python3-pandas.

What it does (examples/personalization/README.md, "The ranker"):
  1. Labels the engine's rows: a candidate is positive when it is the item of the session's next
     view (from EVENTS.csv). Only views followed by another view in their session are training
     rows.
  2. Trains on the rows of the --train-days days before the held-out ones (binary:logistic: the
     engine's model loader serves it; rank:pairwise is not among its objectives, docs/MODELS.md),
     and prints HR@10 of the next view on the held-out days' sampled views (model vs the
     category list's order), from the engine's rows.
  3. With --features and --top: rebuilds the training rows in pandas (the builder train.py used
     before the rank step existed: as-of joins of the item view and the category lists) and
     prints how many of their values differ from the engine's (a cross-check of both).
  The held-out evaluation of the model as served, on live (a) and nightly (b) features, is
  `impulse demo personalization --models REPOSITORY` (train.sh's last step): the engine's own
  recommendations streams, scored against the popularity baselines.
"""

import argparse
import datetime
import json
import os
import sys

import numpy as np
import pandas as pd
import xgboost

# Shallow, slow and regularised: positives are 1 in 200 candidate rows, and deeper trees (depth
# 6, eta 0.3, 100 rounds) ranked worse than the list's own order on the validation day.
XGB_PARAMS = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.05, "min_child_weight": 50,
              "tree_method": "hist", "nthread": 2, "seed": 0}
ROUNDS = 300
DAY_MS = 86_400_000
LIST_LENGTH = 10

# Per-candidate inputs: the item view's features (as of the prediction), the candidate's place
# in the category list, and whether it is the item being viewed.
ITEM_FEATURES = ["ITEM_VIEWS_1H", "ITEM_VIEWS_1D", "ITEM_CARTS_1H", "ITEM_CARTS_1D", "ITEM_PURCHASES_1H",
                 "ITEM_PURCHASES_1D", "ITEM_CART_RATE_1D"]
CANDIDATE_FEATURES = ["cand_list_count", "cand_list_rank", "cand_is_current"]
# The event's context: the user's and the user-category's features (the same for every
# candidate of an event; they let the trees weigh the item features by the user's state).
CONTEXT_FEATURES = ["USER_EVENTS_1H", "USER_VIEWS_7D", "USER_SESSIONS_7D", "UC_EVENTS_1H", "UC_EVENTS_1D",
                    "UC_EVENTS_7D"]
FEATURES = ["cand_" + f for f in ITEM_FEATURES] + CANDIDATE_FEATURES + CONTEXT_FEATURES


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("events", help="impulse generate shop's events (CSV): the labels")
    p.add_argument("candidates", help="rank.yaml's ranking_candidates backfill (CSV): the training rows")
    p.add_argument("--features", help="features.yaml's events_features backfill (CSV), for the pandas cross-check")
    p.add_argument("--top", help="features.yaml's category_top_items backfill (CSV), with --features")
    p.add_argument("--start", default="2024-03-04", help="the simulation's first day")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--heldout-days", type=int, default=7)
    p.add_argument("--train-days", type=int, default=14, help="the last N days before the held-out ones train")
    p.add_argument("--repository", help="model repository: writes ranker/<next version>/model.json and "
                                        "ranker/config.yaml")
    p.add_argument("--params", default="{}", help="JSON overriding XGB_PARAMS (and 'rounds')")
    p.add_argument("--validate-only", action="store_true",
                   help="train on the days before the last training day and print HR@10 on that day's rows "
                        "(model vs the category list's order); write nothing")
    a = p.parse_args(argv)
    if bool(a.features) != bool(a.top):
        p.error("--features and --top go together")
    return a


def to_ms(column, fmt="%Y-%m-%dT%H:%M:%S.%fZ"):
    """Milliseconds since the epoch of a backfill's timestamps (or of `fmt`'s)."""
    return pd.to_datetime(column, format=fmt).values.astype("datetime64[ms]").astype(np.int64)


def load_features(path):
    df = pd.read_csv(path)
    df["t"] = to_ms(df["event_datetime"])
    df = df.sort_values(["t", "event_id"], kind="stable").reset_index(drop=True)
    # Next view of the session, for each view (the label of the next-click protocol).
    views = df[df["type"] == "view"][["event_id", "session_id", "item_id"]].copy()
    views["next_item"] = views.groupby("session_id")["item_id"].shift(-1)
    df = df.merge(views[["event_id", "next_item"]], on="event_id", how="left")
    return df


def next_views(path):
    """Per view event of EVENTS.csv: the item of the next view of its session (NaN: none)."""
    ev = pd.read_csv(path, usecols=["event_id", "event_datetime", "session_id", "item_id", "type"])
    ev = ev[ev["type"] == "view"].copy()
    ev["t"] = to_ms(ev["event_datetime"], "%Y-%m-%d %H:%M:%S")  # impulse generate shop's CSV
    ev = ev.sort_values(["t", "event_id"], kind="stable")
    ev["next_item"] = ev.groupby("session_id")["item_id"].shift(-1)
    return ev[["event_id", "next_item"]]


def load_candidates(path, from_ms, to_ms_, labels):
    """The engine's candidate rows of the views in [from_ms, to_ms_) that have a next view, labelled."""
    columns = ["event_id", "event_datetime", "candidate"] + FEATURES + ["score"]
    dtypes = {f: np.float32 for f in FEATURES + ["score"]}
    parts = []
    for chunk in pd.read_csv(path, usecols=columns, dtype=dtypes, chunksize=1_000_000):
        chunk["t"] = to_ms(chunk["event_datetime"])
        parts.append(chunk[(chunk["t"] >= from_ms) & (chunk["t"] < to_ms_)].drop(columns=["event_datetime"]))
    rows = pd.concat(parts, ignore_index=True).merge(labels, on="event_id", how="inner")
    rows = rows[rows["next_item"].notna()].copy()
    rows["label"] = (rows["candidate"] == rows["next_item"]).astype(np.int32)
    return rows.rename(columns={"candidate": "cand"})


def hit_rate(rows, scores):
    """HR@10 of the next view over the events of `rows` (each with its candidates)."""
    tops = top_lists(rows, scores)
    next_item = dict(zip(rows["event_id"], rows["next_item"]))
    return sum(1 for e, items in tops.items() if next_item[e] in items) / max(len(tops), 1), len(tops)


def cross_check(engine_rows, pandas_rows):
    """Per input, how many (view, candidate) values differ between the engine's and pandas' rows."""
    both = engine_rows.merge(pandas_rows[["event_id", "cand"] + FEATURES], on=["event_id", "cand"], how="outer",
                             suffixes=("", "_pd"), indicator=True)
    unmatched = int((both["_merge"] != "both").sum())
    both = both[both["_merge"] == "both"]
    differ = {}
    for f in FEATURES:
        x, y = both[f].to_numpy(np.float32), both[f + "_pd"].to_numpy(np.float32)
        differ[f] = int((~((x == y) | (np.isnan(x) & np.isnan(y)))).sum())
    return len(both), unmatched, differ


def load_lists(path):
    top = pd.read_csv(path)
    top["R"] = to_ms(top["window_end"])
    top = top.sort_values("R", kind="stable").reset_index(drop=True)
    top["list_id"] = np.arange(len(top))
    rows = []
    for list_id, items in zip(top["list_id"], top["top_items"]):
        for rank, entry in enumerate(json.loads(items)):
            rows.append((list_id, int(entry["value"]), int(entry["count"]), rank + 1))
    expanded = pd.DataFrame(rows, columns=["list_id", "cand", "cand_list_count", "cand_list_rank"])
    return top[["list_id", "category", "R"]], expanded


def item_versions(df):
    v = df[["t", "item_id"] + ITEM_FEATURES].rename(columns={"item_id": "cand", "t": "version_t"})
    v = v.rename(columns={f: "cand_" + f for f in ITEM_FEATURES})
    return v.sort_values("version_t", kind="stable").reset_index(drop=True)


def candidate_rows(events, lists, expanded, versions, asof_column):
    """One row per (event, candidate) with the candidate's features as of events[asof_column]."""
    ev = events.sort_values("t", kind="stable")
    ev = pd.merge_asof(ev, lists.rename(columns={"R": "list_t"}), left_on="t", right_on="list_t", by="category",
                       direction="backward")
    ev = ev[ev["list_id"].notna()].copy()
    ev["list_id"] = ev["list_id"].astype(np.int64)
    rows = ev.merge(expanded, on="list_id", how="inner")
    rows["cand_is_current"] = (rows["cand"] == rows["item_id"]).astype(np.float32)
    rows = rows.sort_values(asof_column, kind="stable")
    rows = pd.merge_asof(rows, versions, left_on=asof_column, right_on="version_t", by="cand", direction="backward")
    # The item view drops an entity idle for its longest window (1 d): a lookup reads null then.
    stale = (rows[asof_column] - rows["version_t"] > DAY_MS) | rows["version_t"].isna()
    for f in ITEM_FEATURES:
        rows.loc[stale, "cand_" + f] = np.nan
    return rows


def matrix(rows):
    return xgboost.DMatrix(rows[FEATURES].to_numpy(np.float32), missing=np.nan)


def top_lists(rows, scores):
    """Per event, the LIST_LENGTH candidates by descending score (ties: list rank)."""
    r = rows[["event_id", "t", "cand", "cand_list_rank"]].copy()
    r["score"] = scores
    r = r.sort_values(["event_id", "score", "cand_list_rank"], ascending=[True, False, True], kind="stable")
    r = r.groupby("event_id", sort=False).head(LIST_LENGTH)
    return r.groupby("event_id", sort=True)["cand"].apply(list)


def write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)


def config_yaml(comment):
    lines = [f"# {line}" for line in comment] + ["kind: xgboost", "file: model.json", "inputs:"]
    lines += [f"  - {f}" for f in FEATURES]
    lines += ["outputs: [rank_score]", "batching: {max_batch_size: 256, max_queue_delay_us: 0}",
              "version_policy: {latest: 1}", ""]
    return "\n".join(lines)


def next_version(repository):
    d = os.path.join(repository, "ranker")
    versions = [int(v) for v in os.listdir(d) if v.isdigit()] if os.path.isdir(d) else []
    return max(versions, default=0) + 1


def main(argv):
    a = parse_args(argv)
    start_ms = int(datetime.datetime.fromisoformat(a.start).replace(tzinfo=datetime.timezone.utc).timestamp()) * 1000
    heldout_ms = start_ms + (a.days - a.heldout_days) * DAY_MS
    end_ms = start_ms + a.days * DAY_MS
    train_from_ms = heldout_ms - a.train_days * DAY_MS

    overrides = json.loads(a.params)
    global ROUNDS
    ROUNDS = int(overrides.pop("rounds", ROUNDS))
    XGB_PARAMS.update(overrides)

    # 1. The engine's rows, labelled.
    labels = next_views(a.events)
    rows = load_candidates(a.candidates, train_from_ms, end_ms, labels)
    if a.validate_only:
        heldout_ms -= DAY_MS  # the last training day validates
        end_ms = heldout_ms + DAY_MS
    train = rows[rows["t"] < heldout_ms]
    test = rows[(rows["t"] >= heldout_ms) & (rows["t"] < end_ms)]
    n_views = train["event_id"].nunique()
    print(f"train.py: {n_views} training views (the engine's sample), {len(train)} candidate rows, "
          f"{train['label'].sum()} positives ({train.groupby('event_id')['label'].max().mean():.3f} of the views "
          f"have their next view among the candidates)")
    # 2. Train; HR@10 on the held-out (or validation) day's sampled views.
    dtrain = xgboost.DMatrix(train[FEATURES].to_numpy(np.float32), label=train["label"].to_numpy(), missing=np.nan)
    booster = xgboost.train(XGB_PARAMS, dtrain, num_boost_round=ROUNDS)
    what = "validation day" if a.validate_only else "held-out days"
    for name, scores in (("model", booster.predict(matrix(test))),
                         ("list order", -test["cand_list_rank"].to_numpy(np.float64))):
        hr, n = hit_rate(test, scores)
        print(f"train.py: {what}, next view HR@10 ({name}): {hr:.4f} over {n} sampled views")
    if a.validate_only:
        return 0

    if a.repository:
        version = next_version(a.repository)
        model_path = os.path.join(a.repository, "ranker", str(version), "model.json")
        os.makedirs(os.path.dirname(model_path), exist_ok=True)
        booster.save_model(model_path)
        write(os.path.join(a.repository, "ranker", "config.yaml"), config_yaml([
            "The personalization example's ranker, written by examples/personalization/train.py",
            f"(xgboost {xgboost.__version__}: {json.dumps(XGB_PARAMS, sort_keys=True)}, {ROUNDS} rounds).",
            f"Version {version}: trained on the engine's rows (rank.yaml's ranking_candidates, a 1-in-20 sample",
            f"of the views) of the {a.train_days} days before the held-out ones; score = P(the candidate is the",
            "session's next view). Input names are the fields of rank.yaml's rank step rows.",
        ]))
        print(f"train.py: wrote {model_path} and its config.yaml")
    if not a.features:
        return 0

    # 3. The pandas cross-check of the training rows.
    df = load_features(a.features)
    lists, expanded = load_lists(a.top)
    versions = item_versions(df)
    views = df[df["type"] == "view"]
    sampled = views[views["event_id"].isin(train["event_id"].unique())]
    n, unmatched, differ = cross_check(train, candidate_rows(sampled, lists, expanded, versions, "t"))
    print(f"train.py: cross-check: {n} (view, candidate) rows in both the engine's and pandas' training rows, "
          f"{unmatched} in one only; values that differ: {json.dumps(differ)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
