#!/usr/bin/python3
"""Checks that a running engine serves the fraud models exactly as they scored offline.

Scores rows through the engine's KServe v2 route (`POST /v2/models/{m}/infer`, with the Python
client clients/python) and compares each score, as float32, with the offline one. train.py
--engine calls `compare` on the test period right after writing the models; alone, this script
checks the committed fixture (testdata/fraud_scores.csv: 200 rows, both models' Python scores):

  impulse run examples/fraud/score.yaml --models examples/fraud/models &
  /usr/bin/python3 examples/fraud/serve_check.py --engine http://127.0.0.1:8470

Exit status 1 when any score differs. Standard library only (and the client).
"""
import argparse
import csv
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import impulse_client
except ImportError:  # not pip-installed: the checkout's copy
    sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
    import impulse_client

# Model -> the fixture's column of its offline scores.
FIXTURE_SCORES = {"fraud": "xgb_score", "fraud_lr": "lr_score"}
INFER_CHUNK = 5000  # rows per infer request (the engine's bound is 10000)


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def input_names(client, model, version=None):
    """The model's inputs in its config order, as the engine serving it says."""
    return client.model_metadata(model, version)["parameters"]["input_names"]


def compare(client, model, rows, expected, version=None):
    """Scores `rows` (lists of the model's inputs in config order; None = missing) with `model`
    and compares them with `expected`. Returns (served version, mismatches as (row, served,
    expected), max |served - expected|)."""
    if len(rows) != len(expected):
        raise ValueError(f"{len(rows)} rows but {len(expected)} expected scores")
    served, served_version = [], None
    for i in range(0, len(rows), INFER_CHUNK):
        r = client.infer(model, rows[i:i + INFER_CHUNK], version=version)
        served_version = r.model_version
        served.extend(row[0] for row in r.rows("output"))
    mismatches, worst = [], 0.0
    for i, (s, e) in enumerate(zip(served, expected)):
        if s is None or f32(s) != f32(e):
            mismatches.append((i, s, e))
            worst = float("inf") if s is None else max(worst, abs(f32(s) - f32(e)))
    return served_version, mismatches, worst


def report(model, version, n, mismatches, worst):
    print(f"serve_check: {model} version {version}: {n} rows, {len(mismatches)} differ, "
          f"max |difference| {worst:g}")
    for i, s, e in mismatches[:5]:
        print(f"serve_check:   row {i}: served {s!r}, offline {e!r}")
    return not mismatches


def fixture_rows(path, names, score_column):
    rows, expected = [], []
    with open(path, newline="") as f:
        for rec in csv.DictReader(f):
            rows.append([float(rec[n]) if rec[n] != "" else None for n in names])
            expected.append(float(rec[score_column]))
    return rows, expected


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--engine", default="http://127.0.0.1:8470", help="the engine's URL")
    p.add_argument("--token", default=os.environ.get("IMPULSE_TOKEN"), help="bearer token (or IMPULSE_TOKEN)")
    p.add_argument("--fixture", default=os.path.join(HERE, "testdata", "fraud_scores.csv"))
    a = p.parse_args(argv)
    ok = True
    with impulse_client.Client(a.engine, token=a.token) as client:
        for model, column in FIXTURE_SCORES.items():
            rows, expected = fixture_rows(a.fixture, input_names(client, model), column)
            version, mismatches, worst = compare(client, model, rows, expected)
            ok &= report(model, version, len(rows), mismatches, worst)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
