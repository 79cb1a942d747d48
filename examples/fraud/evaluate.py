#!/usr/bin/python3
"""Scores of the fraud example's test period, measured as the Fraud Detection Handbook does.

Input: a CSV with (case-insensitive) columns TX_DATETIME, CUSTOMER_ID, TX_FRAUD and a score
column (--score, default fraud_score), covering at least the training, delay and test periods.
Only test-period rows need a score; the earlier rows give the labels that make a card "known
compromised". Output: AUC ROC, average precision and card precision@k, a readable block and one
JSON line (the last line of stdout).

The protocol is the handbook's ("Reproducible Machine Learning for Credit Card Fraud Detection -
Practical Handbook", chapter 3 "Baseline fraud detection system", get_train_test_set, and
chapter 4 "Precision top-k metrics", card_precision_top_k):
  - training period D0 .. D0+6, delay period D0+7 .. D0+13, test period D0+14 .. D0+20 (days of
    7 by default; days are UTC calendar days, as the simulator's TX_TIME_DAYS);
  - known compromised cards: a customer with a fraud in the training period is known before the
    test starts; for test day i (0-based), the frauds of days D0+7 .. D0+6+i are known as well
    (one more delay-period day per test day: labels arrive a week late). Every transaction of
    test day i by a card known by then is removed from the test set;
  - AUC ROC and average precision (sklearn) over the remaining test transactions;
  - card precision@k per test day: per card, the maximum score and the maximum label; the k
    cards with the highest scores; the fraction of them that are frauds (divided by k even when
    fewer cards remain). A card found in an earlier test day's top k is removed from later days
    (remove_detected_compromised_cards=True). The mean over the test days is reported.
Ties between equal card scores are broken by customer id (a stable sort); the handbook's
default sort leaves them unspecified.

Uses only Debian's python3-pandas, python3-sklearn: /usr/bin/python3 evaluate.py --help.
"""
import argparse
import datetime
import json
import sys

import numpy as np
import pandas as pd
from sklearn import metrics

# Bounds: a test set above this is a mistake (the wrong file or period), not a bigger test.
ROWS_MAX = 50_000_000


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("csv", help="scored transactions (CSV)")
    p.add_argument("--score", default="fraud_score", help="score column (default fraud_score)")
    p.add_argument("--train-start", default="2018-07-25", help="first training day, YYYY-MM-DD")
    p.add_argument("--train-days", type=int, default=7)
    p.add_argument("--delay-days", type=int, default=7)
    p.add_argument("--test-days", type=int, default=7)
    p.add_argument("--top-k", type=int, default=100, help="cards checked per day (default 100)")
    p.add_argument("--name", default="", help="label for the JSON line (the model's name)")
    p.add_argument("--reference", default="", help="another scored CSV (TRANSACTION_ID and the "
                   "same score column, e.g. offline predictions): report the largest score "
                   "difference over the test rows, and fail unless every test row is in it")
    p.add_argument("--reference-score", default="", help="its score column (default: --score)")
    a = p.parse_args(argv)
    for key in ("train_days", "delay_days", "test_days", "top_k"):
        if not 1 <= getattr(a, key) <= 100_000:
            p.error(f"--{key.replace('_', '-')} must be in 1..100000")
    return a


def load(path, score):
    """Reads the columns the protocol needs; column names match case-insensitively."""
    header = pd.read_csv(path, nrows=0).columns
    by_upper = {c.upper(): c for c in header}
    want = {"TX_DATETIME": None, "CUSTOMER_ID": None, "TX_FRAUD": None, score.upper(): None}
    if "TRANSACTION_ID" in by_upper:
        want["TRANSACTION_ID"] = None
    missing = [k for k in want if k not in by_upper]
    if missing:
        raise SystemExit(f"{path}: missing column(s) {missing}; have {list(header)}")
    cols = [by_upper[k] for k in want]
    df = pd.read_csv(path, usecols=cols)
    if len(df) > ROWS_MAX:
        raise SystemExit(f"{path}: {len(df)} rows, more than {ROWS_MAX}")
    df = df.rename(columns={by_upper[k]: k for k in want})
    df = df.rename(columns={score.upper(): "SCORE"})
    # RFC 3339 ("2018-08-08T00:00:31.000Z") or the simulator's "2018-08-08 00:00:31", both UTC.
    t = pd.to_datetime(df["TX_DATETIME"], utc=True)
    df["DAY"] = t.dt.tz_localize(None).dt.normalize()
    return df


def split(df, a):
    """The handbook's test set: test-period rows minus the cards known compromised by then."""
    d0 = pd.Timestamp(datetime.date.fromisoformat(a.train_start))
    day = lambda i: d0 + pd.Timedelta(days=i)  # noqa: E731
    train = df[(df.DAY >= d0) & (df.DAY < day(a.train_days))]
    known = set(train.loc[train.TX_FRAUD == 1, "CUSTOMER_ID"])
    parts = []
    for i in range(a.test_days):
        # The delay-period day whose labels arrive by test day i (the last training day for i = 0).
        delay_day = df[df.DAY == day(a.train_days + i - 1)]
        known |= set(delay_day.loc[delay_day.TX_FRAUD == 1, "CUSTOMER_ID"])
        test_day = df[df.DAY == day(a.train_days + a.delay_days + i)]
        parts.append(test_day[~test_day.CUSTOMER_ID.isin(known)].assign(TEST_DAY=i))
    test = pd.concat(parts)
    if test.SCORE.isna().any():
        raise SystemExit(f"{int(test.SCORE.isna().sum())} test-period rows have no score")
    return train, test


def card_precision_top_k(test, k):
    detected = set()
    per_day = []
    for i in sorted(test.TEST_DAY.unique()):
        d = test[(test.TEST_DAY == i) & ~test.CUSTOMER_ID.isin(detected)]
        cards = d.groupby("CUSTOMER_ID")[["SCORE", "TX_FRAUD"]].max().reset_index()
        cards = cards.sort_values("SCORE", ascending=False, kind="mergesort").head(k)
        hits = cards.loc[cards.TX_FRAUD == 1, "CUSTOMER_ID"]
        per_day.append(len(hits) / k)
        detected |= set(hits)
    return float(np.mean(per_day)), per_day


def evaluate(df, a):
    train, test = split(df, a)
    if test.TX_FRAUD.nunique() < 2:
        raise SystemExit("the test set needs both frauds and genuine transactions")
    cp, per_day = card_precision_top_k(test, a.top_k)
    return {
        "name": a.name,
        "auc_roc": float(metrics.roc_auc_score(test.TX_FRAUD, test.SCORE)),
        "average_precision": float(metrics.average_precision_score(test.TX_FRAUD, test.SCORE)),
        f"card_precision_at_{a.top_k}": cp,
        f"card_precision_at_{a.top_k}_per_day": per_day,
        "train_rows": int(len(train)),
        "test_rows": int(len(test)),
        "test_frauds": int(test.TX_FRAUD.sum()),
    }


def compare(df, a):
    """Largest |score - reference score| over the test rows, matched by transaction id."""
    _, test = split(df, a)
    ref = load(a.reference, a.reference_score or a.score)
    if "TRANSACTION_ID" not in test or "TRANSACTION_ID" not in ref:
        raise SystemExit("--reference: both files need a TRANSACTION_ID column")
    m = test[["TRANSACTION_ID", "SCORE"]].merge(ref[["TRANSACTION_ID", "SCORE"]], how="left",
                                                on="TRANSACTION_ID", suffixes=("", "_REF"))
    if m.SCORE_REF.isna().any():
        raise SystemExit(f"--reference: {int(m.SCORE_REF.isna().sum())} test rows are not in it")
    return float((m.SCORE - m.SCORE_REF).abs().max()), int(len(m))


def main(argv):
    a = parse_args(argv)
    df = load(a.csv, a.score)
    r = evaluate(df, a)
    if a.reference:
        r["max_abs_diff_vs_reference"], r["rows_compared"] = compare(df, a)
    k = a.top_k
    print(f"{a.name or a.csv}: test rows {r['test_rows']} ({r['test_frauds']} frauds) after "
          f"removing known compromised cards")
    print(f"  AUC ROC {r['auc_roc']:.4f}  average precision {r['average_precision']:.4f}  "
          f"card precision@{k} {r[f'card_precision_at_{k}']:.4f}")
    if a.reference:
        print(f"  vs {a.reference}: max |score difference| {r['max_abs_diff_vs_reference']:.3g} "
              f"over {r['rows_compared']} test rows")
    print(json.dumps(r, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
