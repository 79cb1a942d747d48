#!/usr/bin/python3
"""A fraud-scoring HTTP service written the way a Python team would: the peer of Impulse's fraud
path in bench/realtime/run.sh.

Standard library HTTP server (ThreadingHTTPServer, HTTP/1.1 keep-alive), Debian's xgboost
(python3-xgboost) loading the example's model (examples/fraud/models/fraud/1/model.json), and the
handbook's 14 features computed in Python per request from per-customer and per-terminal
windows kept in dicts (the definitions of examples/fraud/README.md, "Columns"):

  customer, w in {1, 7, 30} days: count and mean amount of its transactions in (t - w, t],
      this one included
  terminal, w in {1, 7, 30} days: count and fraud rate of its transactions in
      (t - 7 - w, t - 7] days (the 7-day label delay); rate 0 when there are none

POST any path with NDJSON transactions (the fields of examples/fraud/alerts.yaml's
`transactions`), one or more lines; the reply is JSON with "accepted", "rejected" (the load
generator counts those) and each transaction's fraud_score. Transactions are expected in time
order per customer and terminal (as the generator writes them); the windows drop what is older
than the longest window.

  /usr/bin/python3 bench/peers/fraud_service.py --port 18490 --model examples/fraud/models/fraud/1/model.json
"""
import argparse
import collections
import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import xgboost

DAY = 86400
DELAY_DAYS = 7
WINDOWS = (1, 7, 30)


class Scorer:
    def __init__(self, model_path):
        self.booster = xgboost.Booster()
        self.booster.load_model(model_path)
        self.booster.set_param({"nthread": 1})
        self.customers = collections.defaultdict(collections.deque)  # id -> deque[(t, amount)]
        self.terminals = collections.defaultdict(collections.deque)  # id -> deque[(t, fraud)]
        self.lock = threading.Lock()

    def features(self, tx):
        t = int(datetime.datetime.fromisoformat(tx["tx_datetime"].replace("Z", "+00:00")).timestamp())
        amount = float(tx["tx_amount"])
        weekend = 1.0 if datetime.datetime.utcfromtimestamp(t).isoweekday() >= 6 else 0.0
        night = 1.0 if datetime.datetime.utcfromtimestamp(t).hour <= 6 else 0.0
        row = [amount, weekend, night]
        cust = self.customers[tx["customer_id"]]
        cust.append((t, amount))
        while cust and cust[0][0] <= t - 30 * DAY:
            cust.popleft()
        for w in WINDOWS:
            amounts = [a for (ts, a) in cust if t - w * DAY < ts <= t]
            row += [float(len(amounts)), sum(amounts) / len(amounts)]
        term = self.terminals[tx["terminal_id"]]
        end = t - DELAY_DAYS * DAY
        for w in WINDOWS:
            frauds = [f for (ts, f) in term if end - w * DAY < ts <= end]
            row += [float(len(frauds)), sum(frauds) / len(frauds) if frauds else 0.0]
        term.append((t, int(tx["tx_fraud"])))
        while term and term[0][0] <= t - (DELAY_DAYS + 30) * DAY:
            term.popleft()
        return row

    def score(self, txs):
        with self.lock:
            rows = [self.features(tx) for tx in txs]
            scores = self.booster.inplace_predict(np.asarray(rows, dtype=np.float32))
        return [float(s) for s in scores]


def make_handler(scorer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        # The headers and the body are two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every reply for ~40 ms.
        disable_nagle_algorithm = True

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                txs = [json.loads(line) for line in body.splitlines() if line.strip()]
                scores = scorer.score(txs)
            except (ValueError, KeyError, TypeError) as e:
                return self.reply(400, {"error": str(e)})
            return self.reply(200, {"accepted": len(txs), "rejected": 0, "scores": [
                {"transaction_id": tx["transaction_id"], "fraud_score": s} for tx, s in zip(txs, scores)]})

        def reply(self, status, obj):
            out = json.dumps(obj, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):  # no access log
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=18490)
    p.add_argument("--model", default="examples/fraud/models/fraud/1/model.json")
    a = p.parse_args()
    ThreadingHTTPServer.request_queue_size = 128  # the default 5 drops SYNs of 16 clients connecting at once
    server = ThreadingHTTPServer((a.host, a.port), make_handler(Scorer(a.model)))
    server.daemon_threads = True
    print(f"fraud_service: serving on http://{a.host}:{a.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
