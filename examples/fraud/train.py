#!/usr/bin/python3
"""Trains the fraud example's models on `impulse backfill` output with the handbook's protocol.

Input: the backfill CSV of examples/fraud/features.yaml (lowercase event fields, the handbook's
uppercase feature names). Output, in --repository:
  fraud/1/model.json      XGBoost (Booster.save_model, JSON), binary:logistic
  fraud_lr/1/model.json   logistic regression in the engine's linear JSON format (docs/MODELS.md)
  <name>/config.yaml      the 15 inputs in training order, each `from` a backfill column
plus, in --out, the test-period predictions of both models (for evaluate.py) and, with
--fixture, 200 test-period rows with their features and both models' scores for a C++ test.

Protocol ("Reproducible Machine Learning for Credit Card Fraud Detection - Practical Handbook",
chapter 3 "Baseline fraud detection system"): train on the transactions of 2018-07-25 ..
2018-07-31, a 7-day delay, test on 2018-08-08 .. 2018-08-14 (evaluate.py removes the cards
known compromised). Models: the handbook's xgboost.XGBClassifier(random_state=0, n_jobs=-1) with
the library defaults of its time spelled out (100 trees, max_depth 6, learning_rate 0.3,
tree_method exact) so a newer xgboost trains the same model, and
sklearn.linear_model.LogisticRegression(random_state=0) on StandardScaler-scaled inputs. The
handbook scales the inputs of every model; the trees here see the raw values instead (a tree is
unchanged by a per-feature increasing affine map, up to where a split falls between two
values), so neither engine model needs a scaler: the scaler is folded into the linear model's
weights and bias.

With --engine URL, the engine serving the repository reloads the models written and must score
the test period exactly as they score here (serve_check.py, through the Python client).

Debian's interpreter and packages (python3-xgboost, python3-sklearn, python3-pandas):
  /usr/bin/python3 examples/fraud/train.py features.csv --repository examples/fraud/models
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np
import pandas as pd
import sklearn
import sklearn.linear_model
import sklearn.preprocessing
import xgboost

# The handbook's 15 baseline inputs, in model order; the value is the backfill column.
INPUTS = [
    ("TX_AMOUNT", "tx_amount"),
    ("TX_DURING_WEEKEND", "TX_DURING_WEEKEND"),
    ("TX_DURING_NIGHT", "TX_DURING_NIGHT"),
    ("CUSTOMER_ID_NB_TX_1DAY_WINDOW", "CUSTOMER_ID_NB_TX_1DAY_WINDOW"),
    ("CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW", "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"),
    ("CUSTOMER_ID_NB_TX_7DAY_WINDOW", "CUSTOMER_ID_NB_TX_7DAY_WINDOW"),
    ("CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW", "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"),
    ("CUSTOMER_ID_NB_TX_30DAY_WINDOW", "CUSTOMER_ID_NB_TX_30DAY_WINDOW"),
    ("CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW", "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW"),
    ("TERMINAL_ID_NB_TX_1DAY_WINDOW", "TERMINAL_ID_NB_TX_1DAY_WINDOW"),
    ("TERMINAL_ID_RISK_1DAY_WINDOW", "TERMINAL_ID_RISK_1DAY_WINDOW"),
    ("TERMINAL_ID_NB_TX_7DAY_WINDOW", "TERMINAL_ID_NB_TX_7DAY_WINDOW"),
    ("TERMINAL_ID_RISK_7DAY_WINDOW", "TERMINAL_ID_RISK_7DAY_WINDOW"),
    ("TERMINAL_ID_NB_TX_30DAY_WINDOW", "TERMINAL_ID_NB_TX_30DAY_WINDOW"),
    ("TERMINAL_ID_RISK_30DAY_WINDOW", "TERMINAL_ID_RISK_30DAY_WINDOW"),
]
FEATURES = [name for name, _ in INPUTS]
COLUMNS = [col for _, col in INPUTS]
META = ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_fraud"]

XGB_PARAMS = dict(n_estimators=100, max_depth=6, learning_rate=0.3, tree_method="exact",
                  objective="binary:logistic", random_state=0, n_jobs=2)
FIXTURE_ROWS = 200


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("features", help="impulse backfill output (CSV)")
    p.add_argument("--repository", required=True, help="model repository to write into")
    p.add_argument("--version", type=int, default=1, help="version directory (default 1)")
    p.add_argument("--out", default=".", help="directory for the test-period predictions")
    p.add_argument("--fixture", default="", help="write the C++ test fixture CSV here")
    p.add_argument("--train-start", default="2018-07-25")
    p.add_argument("--train-end", default="2018-08-01", help="exclusive")
    p.add_argument("--test-start", default="2018-08-08")
    p.add_argument("--test-end", default="2018-08-15", help="exclusive")
    p.add_argument("--engine", default="",
                   help="URL of a running engine whose --models is --repository: reload the models just "
                        "written there and check that it scores the test period exactly as here")
    p.add_argument("--token", default=os.environ.get("IMPULSE_TOKEN"), help="the engine's bearer token")
    a = p.parse_args(argv)
    if not 1 <= a.version <= 1_000_000:
        p.error("--version must be in 1..1000000")
    return a


def load(path, a):
    """Rows from the training start to the test end (the rest of the history is not needed)."""
    header = pd.read_csv(path, nrows=0).columns
    missing = [c for c in META + COLUMNS if c not in header]
    if missing:
        raise SystemExit(f"{path}: missing column(s) {missing}")
    # Read as text first: the fixture keeps the backfill's exact spelling of each value.
    chunks = []
    for chunk in pd.read_csv(path, usecols=META + COLUMNS, dtype=str, chunksize=500_000):
        t = chunk["tx_datetime"]  # RFC 3339 UTC: string order is time order
        chunks.append(chunk[(t >= a.train_start) & (t < a.test_end)])
    text = pd.concat(chunks, ignore_index=True)
    df = text[META].copy()
    df["transaction_id"] = df["transaction_id"].astype(np.int64)
    df["customer_id"] = df["customer_id"].astype(np.int64)
    df["tx_fraud"] = df["tx_fraud"].astype(np.int64)
    for name, col in INPUTS:
        df[name] = text[col].astype(np.float64)  # empty cell -> NaN (missing)
    return df, text


def write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)


def config_yaml(kind, comment):
    lines = [f"# {line}" for line in comment] + [f"kind: {kind}", "file: model.json", "inputs:"]
    for name, col in INPUTS:
        lines.append(f"  - {{name: {name}, from: {col}}}" if name != col else f"  - {name}")
    lines += ["outputs: [fraud_score]", "batching: {max_batch_size: 64, max_queue_delay_us: 0}",
              "version_policy: {latest: 1}", ""]
    return "\n".join(lines)


def train_xgboost(train):
    clf = xgboost.XGBClassifier(**XGB_PARAMS)
    clf.fit(train[FEATURES].to_numpy(np.float32), train["tx_fraud"].to_numpy())
    return clf.get_booster()


def predict_xgboost(booster, df):
    m = xgboost.DMatrix(df[FEATURES].to_numpy(np.float32), missing=np.nan)
    return booster.predict(m).astype(np.float32)


def train_logistic(train):
    scaler = sklearn.preprocessing.StandardScaler().fit(train[FEATURES])
    lr = sklearn.linear_model.LogisticRegression(random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lr.fit(scaler.transform(train[FEATURES]), train["tx_fraud"])
    for w in caught:
        print(f"train.py: logistic regression: {w.message}", file=sys.stderr)
    # w . (x - mean) / scale + b  ==  (w / scale) . x + (b - sum(w * mean / scale))
    w = lr.coef_[0] / scaler.scale_
    b = float(lr.intercept_[0] - np.sum(lr.coef_[0] * scaler.mean_ / scaler.scale_))
    return np.float32(w), np.float32(b), lr, scaler


def predict_logistic(w, b, df):
    """As the engine's LinearModel: float32 weights, bias and inputs, double sum, sigmoid in
    double rounded to float32; a missing input adds nothing."""
    x = df[FEATURES].to_numpy(np.float32).astype(np.float64)
    x = np.where(np.isnan(x), 0.0, x)
    s = float(b) + x @ w.astype(np.float64)
    return (1.0 / (1.0 + np.exp(-s))).astype(np.float32)


def fixture(test, text_test, xgb_scores, lr_scores):
    """FIXTURE_ROWS test-period rows spread evenly over it: 20 frauds, the rest any rows."""
    y = test["tx_fraud"].to_numpy()
    frauds, others = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    pick = lambda rows, n: rows[np.linspace(0, len(rows) - 1, n).round().astype(int)]  # noqa: E731
    idx = np.sort(np.concatenate([pick(frauds, 20), pick(others, FIXTURE_ROWS - 20)]))
    out = pd.DataFrame({"transaction_id": text_test["transaction_id"].to_numpy()[idx],
                        "tx_fraud": text_test["tx_fraud"].to_numpy()[idx]})
    for name, col in INPUTS:
        out[name] = text_test[col].to_numpy()[idx]  # the backfill's own spelling
    # repr of a float32 widened to double: exact, and parses back to the same float32.
    out["xgb_score"] = [repr(float(v)) for v in xgb_scores[idx]]
    out["lr_score"] = [repr(float(v)) for v in lr_scores[idx]]
    return out


def check_engine(a, test, offline):
    """The models just written, as a running engine serves them: each version reloaded from the
    repository (the model admin route) and the test period scored through the KServe v2 route,
    with the Python client (clients/python); every score must equal the offline one as float32.
    """
    import serve_check  # beside this script; it finds the client
    x = test[FEATURES].to_numpy(np.float64)
    rows = [[None if np.isnan(v) else float(v) for v in r] for r in x]  # None: a missing input
    ok = True
    with serve_check.impulse_client.Client(a.engine, token=a.token, timeout=300) as client:
        for model, scores in offline.items():
            client.load_model(model, a.version)
            names = serve_check.input_names(client, model, a.version)
            if names != FEATURES:
                raise SystemExit(f"train.py: the engine's {model} takes {names}, not the inputs trained here: "
                                 f"is its --models {a.repository}?")
            version, mismatches, worst = serve_check.compare(client, model, rows, [float(s) for s in scores],
                                                             version=a.version)
            ok &= serve_check.report(model, version, len(rows), mismatches, worst)
    return ok


def main(argv):
    a = parse_args(argv)
    print(f"train.py: xgboost {xgboost.__version__}, scikit-learn {sklearn.__version__}, "
          f"pandas {pd.__version__}, numpy {np.__version__}")
    df, text = load(a.features, a)
    t = df["tx_datetime"]
    train = df[(t >= a.train_start) & (t < a.train_end)]
    test_mask = ((t >= a.test_start) & (t < a.test_end)).to_numpy()
    test, text_test = df[test_mask], text[test_mask]
    print(f"train.py: training rows {len(train)} ({int(train.tx_fraud.sum())} frauds), "
          f"test-period rows {len(test)} ({int(test.tx_fraud.sum())} frauds)")
    if len(train) == 0 or train.tx_fraud.nunique() < 2 or len(test) < FIXTURE_ROWS:
        raise SystemExit("train.py: the periods hold too few rows (generate 183 days from 2018-04-01)")

    booster = train_xgboost(train)
    v = str(a.version)
    xgb_path = os.path.join(a.repository, "fraud", v, "model.json")
    os.makedirs(os.path.dirname(xgb_path), exist_ok=True)
    booster.save_model(xgb_path)
    write(os.path.join(a.repository, "fraud", "config.yaml"), config_yaml("xgboost", [
        "XGBoost baseline of the Fraud Detection Handbook, written by examples/fraud/train.py",
        f"(xgboost {xgboost.__version__}: {json.dumps(XGB_PARAMS, sort_keys=True)}).",
        "Trained on 2018-07-25..31 of `impulse backfill examples/fraud/features.yaml`."]))

    w, b, _, _ = train_logistic(train)
    lr_path = os.path.join(a.repository, "fraud_lr", v, "model.json")
    write(lr_path, json.dumps({"kind": "logistic", "weights": [float(x) for x in w],
                               "bias": float(b)}, indent=1) + "\n")
    write(os.path.join(a.repository, "fraud_lr", "config.yaml"), config_yaml("linear", [
        "Logistic regression baseline of the Fraud Detection Handbook, written by",
        f"examples/fraud/train.py (scikit-learn {sklearn.__version__}, LogisticRegression(random_state=0)",
        "on StandardScaler inputs; the scaler is folded into the weights and bias).",
        "Trained on 2018-07-25..31 of `impulse backfill examples/fraud/features.yaml`."]))
    print(f"train.py: wrote {xgb_path}, {lr_path} and their config.yaml")

    # Predictions over training + delay + test (evaluate.py needs the earlier labels).
    span = df[(t >= a.train_start) & (t < a.test_end)]
    xgb_all, lr_all = predict_xgboost(booster, span), predict_logistic(w, b, span)
    os.makedirs(a.out, exist_ok=True)
    for name, scores in (("fraud", xgb_all), ("fraud_lr", lr_all)):
        p = span[["transaction_id", "tx_datetime", "customer_id", "tx_fraud"]].copy()
        p["fraud_score"] = [repr(float(s)) for s in scores]
        path = os.path.join(a.out, f"predictions_{name}.csv")
        p.to_csv(path, index=False)
        print(f"train.py: wrote {path}")

    if a.fixture:
        xgb_test, lr_test = predict_xgboost(booster, test), predict_logistic(w, b, test)
        fx = fixture(test, text_test, xgb_test, lr_test)
        os.makedirs(os.path.dirname(a.fixture) or ".", exist_ok=True)
        fx.to_csv(a.fixture, index=False)
        print(f"train.py: wrote {a.fixture} ({len(fx)} rows, {int(fx.tx_fraud.astype(int).sum())} frauds)")
    if a.engine:
        offline = {"fraud": predict_xgboost(booster, test), "fraud_lr": predict_logistic(w, b, test)}
        if not check_engine(a, test, offline):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
