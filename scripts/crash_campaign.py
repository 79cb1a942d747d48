#!/usr/bin/env python3
"""Crash campaign: kill -9 the fraud example's engine at random points, over many rounds, and check
after each round that nothing acknowledged was lost or duplicated.

    scripts/crash_campaign.py --binary build/release/tools/impulse/impulse --rounds 100

The engine runs examples/fraud/alerts.yaml (features, XGBoost model, trigger, webhook) with the
watermark widened to 1 day and idle timeouts off (so that the outputs depend only on the logs,
not on timing), 2 shards, checkpoints every --checkpoint-ms. Three clients POST simulated
transactions (`impulse generate fraud`) concurrently; the webhook goes to a receiver in this
process that fails about 10% of the calls (500, dropped connection, or an answer slower than the
webhook's 2 s timeout). Each round kills the engine with SIGKILL in one of three ways, in turn:

  load        at a random moment under load;
  checkpoint  while a checkpoint is being written (a `<id>.pending` directory exists);
  recovery    under load, then again while the restarted engine recovers (before it serves, or
              while its pipelines replay), sometimes twice.

Then it restarts the engine, waits until every pipeline has caught up, and checks:

  1. every acknowledged transaction is in `transactions` exactly once, and no transaction twice;
  2. each pipeline output (tx_by_terminal, tx_features, tx_scored, alerts) holds no transaction
     twice and equals, row for row, what a clean engine (never killed) computes from the same
     stored input: the clean engine is fed, in the same per-partition order, exactly what the
     crashed engine's `transactions` log holds (acknowledged or not);
  3. every alert was delivered to the webhook at least once with its Idempotency-Key
     `fraud_alert/<transaction_id>` (waiting up to --delivery-timeout s for retries).

Exit status 0 when every round passed, 1 otherwise (the first failure stops the campaign; the
work directory with the engines' logs is kept). Python 3 standard library only.
"""

import argparse
import http.client
import http.server
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUTS = ["tx_by_terminal", "tx_features", "tx_scored", "alerts"]
TX_ID = re.compile(r'"transaction_id":(\d+)')
# Read-back rows start with these; the rest of the line is the event (fields in schema order).
META = re.compile(r'^\{"_offset":\d+,"_partition":\d+,')


class CampaignFailure(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# The flaky webhook receiver.


class Receiver:
    """HTTP/1.1 receiver on 127.0.0.1:<ephemeral>. /alerts fails `fail_rate` of the calls;
    /clean always answers 200. Records the Idempotency-Key of every call it answered 2xx."""

    def __init__(self, fail_rate, seed):
        self.lock = threading.Lock()
        self.delivered = {"/alerts": Counter(), "/clean": Counter()}
        self.attempts = Counter()
        self.rng = random.Random(seed)
        self.fail_rate = fail_rate
        self.refuse_new = False  # answer 500 to every key not delivered yet (--plant undelivered)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                key = self.headers.get("Idempotency-Key", "")
                path = self.path
                with outer.lock:
                    outer.attempts[path] += 1
                    r = outer.rng.random() if path == "/alerts" else 1.0
                    if outer.refuse_new and path == "/alerts" and key not in outer.delivered[path]:
                        r = 0.0
                if r < outer.fail_rate * 0.6:
                    self._answer(500)
                    return
                if r < outer.fail_rate * 0.9:
                    self.close_connection = True  # dropped without an answer
                    return
                if r < outer.fail_rate:
                    time.sleep(2.5)  # over the webhook's 2 s timeout: a failed attempt
                    self._answer(200)
                    return
                with outer.lock:
                    outer.delivered.setdefault(path, Counter())[key] += 1
                self._answer(200)

            def _answer(self, status):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered_keys(self, path):
        with self.lock:
            return set(self.delivered[path])

    def stop(self):
        self.server.shutdown()


# ---------------------------------------------------------------------------------------------
# An engine process and its HTTP API.


class Engine:
    def __init__(self, binary, spec, models, data_dir, log_path, checkpoint_ms, extra):
        self.args = [binary, "run", spec, "--models", models, "--data-dir", data_dir, "--listen", "127.0.0.1:0",
                     "--shards", "2", "--checkpoint-interval-ms", str(checkpoint_ms)] + extra
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc = None
        self.port = None
        self.started_at = 0.0

    def spawn(self):
        self.port = None
        logf = open(self.log_path, "ab")
        logf.write(b"---- start\n")
        logf.flush()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=logf)
        logf.close()
        self.started_at = time.monotonic()

    def wait_serving(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            tail = text[text.rfind("---- start"):]
            m = re.search(r"http://127\.0\.0\.1:(\d+)", tail)
            if m:
                self.port = int(m.group(1))
                return time.monotonic() - self.started_at
            if self.proc.poll() is not None:
                raise CampaignFailure(f"engine exited with {self.proc.returncode} at start:\n{tail[-3000:]}")
            time.sleep(0.005)
        raise CampaignFailure("engine did not serve within %ds" % timeout)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise CampaignFailure("engine did not stop within 120 s of SIGTERM")
            if self.proc.returncode != 0:
                raise CampaignFailure(f"engine stopped with status {self.proc.returncode} (see {self.log_path})")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def request(self, method, path, body=None, timeout=60):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def get_ok(self, path):
        status, body = self.request("GET", path)
        if status != 200:
            raise CampaignFailure(f"GET {path}: HTTP {status}: {body[:300]!r}")
        return body

    def end_offsets(self, stream):
        for s in json.loads(self.get_ok("/v1/streams"))["streams"]:
            if s["name"] == stream:
                return [p["end_offset"] for p in s["partitions"]]
        raise CampaignFailure(f"no stream {stream}")

    def read_partition(self, stream, partition, start, end):
        """Lines of one partition from offset `start` to `end` (markers skipped)."""
        lines = []
        at = start
        while at < end:
            body = self.get_ok(f"/v1/streams/{stream}/events?partition={partition}&from={at}&limit=10000")
            page = body.decode().splitlines()
            if not page:
                break
            lines.extend(page)
            at = int(re.match(r'\{"_offset":(\d+)', page[-1]).group(1)) + 1
        return lines

    def read_stream(self, stream):
        return [self.read_partition(stream, p, 0, end) for p, end in enumerate(self.end_offsets(stream))]

    def metric_sum(self, name):
        total = 0.0
        for line in self.get_ok("/metrics").decode().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_caught_up(self, timeout=300):
        """Until no pipeline lags and no stream grows for 3 polls in a row."""
        deadline = time.monotonic() + timeout
        last, same = None, 0
        while time.monotonic() < deadline:
            ends = {s["name"]: [p["end_offset"] for p in s["partitions"]]
                    for s in json.loads(self.get_ok("/v1/streams"))["streams"]}
            lag = self.metric_sum("impulse_pipeline_lag_events")
            if lag == 0 and ends == last:
                same += 1
                if same >= 3:
                    return
            else:
                same = 0
            last = ends
            time.sleep(0.2)
        raise CampaignFailure("pipelines did not catch up within %ds" % timeout)


# ---------------------------------------------------------------------------------------------
# Load.


class Load:
    """Clients POSTing batches of consecutive input lines; records what was acknowledged."""

    def __init__(self, lines, batch, clients, pause_s):
        self.lines = lines
        self.batch = batch
        self.clients = clients
        self.pause_s = pause_s
        self.next = 0
        self.lock = threading.Lock()
        self.acked = set()  # transaction ids
        self.sent = set()
        self.stop_flag = threading.Event()
        self.threads = []
        self.errors = []

    def ids(self, first, last):
        return range(first, last)  # transaction_id == line index (the simulator numbers them so)

    def start(self, engine):
        self.stop_flag.clear()
        self.threads = [threading.Thread(target=self._client, args=(engine.port,), daemon=True)
                        for _ in range(self.clients)]
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()
        if self.errors:
            raise CampaignFailure(self.errors[0])

    def exhausted(self):
        with self.lock:
            return self.next >= len(self.lines)

    def take(self):
        with self.lock:
            first = self.next
            last = min(first + self.batch, len(self.lines))
            self.next = last
            self.sent.update(self.ids(first, last))
            return first, last

    def _client(self, port):
        conn = None
        while not self.stop_flag.is_set():
            first, last = self.take()
            if first >= last:
                return
            body = "".join(self.lines[first:last]).encode()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", "/v1/streams/transactions/events", body=body)
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    with self.lock:
                        self.acked.update(self.ids(first, last))
                elif r.status != 503:  # 503: refused for backpressure, nothing stored
                    with self.lock:
                        self.errors.append(f"ingest answered {r.status}")
                    return
            except (OSError, http.client.HTTPException):
                # Killed mid-request, or not serving: the outcome of this batch is unknown.
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.02)
            if self.pause_s:
                time.sleep(self.pause_s)

    def ingest_all(self, engine, count):
        """Setup: `count` lines, acknowledged one request at a time."""
        while True:
            with self.lock:
                if self.next >= count:
                    return
            first, last = self.take()
            last = min(last, count)
            with self.lock:
                self.next = last
            body = "".join(self.lines[first:last]).encode()
            status, resp = engine.request("POST", "/v1/streams/transactions/events", body)
            if status != 200:
                raise CampaignFailure(f"setup ingest: HTTP {status} {resp[:200]!r}")
            with self.lock:
                self.acked.update(self.ids(first, last))


# ---------------------------------------------------------------------------------------------
# The campaign.


def strip_meta(line):
    return META.sub("{", line, count=1)


def tx_ids(lines):
    out = []
    for line in lines:
        m = TX_ID.search(line)
        if not m:
            raise CampaignFailure(f"row without transaction_id: {line[:200]}")
        out.append(int(m.group(1)))
    return out


class Campaign:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = args.work_dir or tempfile.mkdtemp(prefix="impulse-crash-campaign-")
        os.makedirs(self.work, exist_ok=True)
        self.receiver = Receiver(args.fail_rate, args.seed)
        models = os.path.join(ROOT, "examples/fraud/models")
        src = open(os.path.join(ROOT, "examples/fraud/alerts.yaml")).read()
        wm_from, wm_to = "watermark: {max_out_of_orderness: 1s}", "watermark: {max_out_of_orderness: 1d, idle_timeout: never}"
        url_from = "url: http://127.0.0.1:8471/alerts"
        if wm_from not in src or url_from not in src:
            raise CampaignFailure("examples/fraud/alerts.yaml changed: update the campaign's rewrite")
        specs = {}
        for name, path in (("crash", "/alerts"), ("clean", "/clean")):
            specs[name] = os.path.join(self.work, f"{name}.yaml")
            with open(specs[name], "w") as f:
                f.write(src.replace(wm_from, wm_to).replace(url_from, f"url: http://127.0.0.1:{self.receiver.port}{path}"))
        self.engine = Engine(args.binary, specs["crash"], models, os.path.join(self.work, "data"),
                             os.path.join(self.work, "engine.log"), args.checkpoint_ms, args.engine_arg)
        self.clean = Engine(args.binary, specs["clean"], models, os.path.join(self.work, "clean-data"),
                            os.path.join(self.work, "clean.log"), args.checkpoint_ms, args.engine_arg)
        # The input: enough simulated days for every round at the paced rate, plus the warm-up.
        per_round = args.clients * args.batch * (args.max_load_s / max(args.pause_s, 0.01) + 2) * 1.5
        need = args.warmup_events + per_round * args.rounds
        days = max(10, int(need / 1900) + 2)
        gen = subprocess.run([args.binary, "generate", "fraud", "--format", "ndjson", "--customers", "1000",
                              "--terminals", "2000", "--days", str(days), "--seed", str(args.seed)],
                             check=True, capture_output=True)
        self.lines = [l + "\n" for l in gen.stdout.decode().splitlines()]
        for i in (0, len(self.lines) - 1):
            if json.loads(self.lines[i])["transaction_id"] != i:
                raise CampaignFailure("the simulator no longer numbers transactions 0, 1, ...")
        self.load = Load(self.lines, args.batch, args.clients, args.pause_s)
        self.fed = [0, 0, 0, 0]  # per partition of transactions: lines fed to the clean engine
        self.fed_tail = ["", "", "", ""]  # the last line fed, to check the crashed log only grew
        self.stats = Counter()
        self.startup_s = []

    # -- kills --------------------------------------------------------------------------------

    def kill_under_load(self):
        self.load.start(self.engine)
        time.sleep(self.rng.uniform(self.args.min_load_s, self.args.max_load_s))
        self.engine.kill9()
        self.load.stop()

    def kill_in_checkpoint(self):
        self.load.start(self.engine)
        time.sleep(self.rng.uniform(0.05, 0.3))
        ckpt = os.path.join(self.engine.data_dir, "checkpoints")
        deadline = time.monotonic() + max(5.0, 4 * self.args.checkpoint_ms / 1000)
        caught = False
        while time.monotonic() < deadline:
            try:
                if any(n.endswith(".pending") for n in os.listdir(ckpt)):
                    caught = True
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.0005)
        self.engine.kill9()
        self.load.stop()
        self.stats["checkpoint_kills" if caught else "checkpoint_kills_missed"] += 1

    def kill_in_recovery(self):
        self.kill_under_load()
        for _ in range(self.rng.choice([1, 1, 2])):
            self.engine.spawn()
            typical = sorted(self.startup_s)[len(self.startup_s) // 2] if self.startup_s else 0.3
            if self.rng.random() < 0.5:
                # Before it serves: opening the logs, restoring the checkpoint.
                time.sleep(self.rng.uniform(0.0, typical))
                self.stats["recovery_kills_before_serving"] += 1
            else:
                # Serving, pipelines replaying (the lag may already be 0 on a small log).
                self.engine.wait_serving()
                time.sleep(self.rng.uniform(0.0, 0.2))
                self.stats["recovery_kills_while_replaying"] += 1
            self.engine.kill9()

    # -- checks -------------------------------------------------------------------------------

    def feed_clean(self):
        """Appends to the clean engine what the crashed engine's transactions log gained."""
        ends = self.engine.end_offsets("transactions")
        for p, end in enumerate(ends):
            if end < self.fed[p]:
                raise CampaignFailure(f"transactions partition {p} shrank: {end} < {self.fed[p]}")
            if self.fed[p] > 0:
                prev = self.engine.read_partition("transactions", p, self.fed[p] - 1, self.fed[p])
                if not prev or prev[0] != self.fed_tail[p]:
                    raise CampaignFailure(f"transactions partition {p}: offset {self.fed[p] - 1} changed")
            new = self.engine.read_partition("transactions", p, self.fed[p], end)
            if len(new) != end - self.fed[p]:
                raise CampaignFailure(f"transactions partition {p}: read {len(new)} of {end - self.fed[p]}")
            if self.args.plant == "skew" and p == 0 and self.fed[p] == 0 and new:
                # The clean engine sees another amount for one early transaction.
                new[0] = re.sub(r'"tx_amount":([0-9.]+)', lambda m: f'"tx_amount":{float(m.group(1)) + 1}', new[0])
            for i in range(0, len(new), 5000):
                chunk = new[i:i + 5000]
                body = "".join(re.sub(r'^\{"_offset":\d+,"_partition":\d+,"_event_time":-?\d+,', "{", l) + "\n"
                               for l in chunk).encode()
                status, resp = self.clean.request("POST", "/v1/streams/transactions/events", body)
                if status != 200:
                    raise CampaignFailure(f"clean engine ingest: HTTP {status} {resp[:300]!r}")
            if new:
                self.fed_tail[p] = self.engine.read_partition("transactions", p, end - 1, end)[0]
            self.fed[p] = end
        # The clean engine partitions by the same key hash: its logs must be the same.
        if self.clean.end_offsets("transactions") != ends:
            raise CampaignFailure("the clean engine's transactions partitions differ from the crashed one's")

    def check(self, rnd):
        if self.args.plant == "duplicate" and rnd == self.args.rounds:
            # Stores the first acknowledged request a second time.
            status, _ = self.engine.request("POST", "/v1/streams/transactions/events",
                                            "".join(self.lines[:self.args.batch]).encode())
            if status != 200:
                raise CampaignFailure(f"planting a duplicate: HTTP {status}")
        self.engine.wait_caught_up()
        self.feed_clean()
        self.clean.wait_caught_up()
        # 1. Acknowledged input: present exactly once.
        stored = Counter(tx_ids([l for part in self.engine.read_stream("transactions") for l in part]))
        dup = [i for i, n in stored.items() if n > 1]
        if dup:
            raise CampaignFailure(f"transactions stored twice: {sorted(dup)[:10]} ({len(dup)} in all)")
        lost = [i for i in self.load.acked if i not in stored]
        if lost:
            raise CampaignFailure(f"acknowledged transactions missing: {sorted(lost)[:10]} ({len(lost)} in all)")
        unsent = [i for i in stored if i not in self.load.sent]
        if unsent:
            raise CampaignFailure(f"transactions stored that were never sent: {sorted(unsent)[:10]}")
        # 2. Outputs: exactly once, equal to the clean run's.
        counts = {}
        for stream in OUTPUTS:
            got = [strip_meta(l) for part in self.engine.read_stream(stream) for l in part]
            want = [strip_meta(l) for part in self.clean.read_stream(stream) for l in part]
            ids = Counter(tx_ids(got))
            dup = [i for i, n in ids.items() if n > 1]
            if dup:
                raise CampaignFailure(f"{stream}: transactions output twice: {sorted(dup)[:10]} ({len(dup)} in all)")
            if Counter(got) != Counter(want):
                missing = Counter(want) - Counter(got)
                extra = Counter(got) - Counter(want)
                raise CampaignFailure(f"{stream} differs from the clean run: {len(got)} rows vs {len(want)}; "
                                      f"missing e.g. {list(missing)[:2]}, unexpected e.g. {list(extra)[:2]}")
            counts[stream] = len(got)
        # 3. Every alert delivered at least once with its key.
        alerts = {f"fraud_alert/{i}" for i in tx_ids([l for part in self.engine.read_stream("alerts") for l in part])}
        deadline = time.monotonic() + self.args.delivery_timeout
        while True:
            missing = alerts - self.receiver.delivered_keys("/alerts")
            if not missing:
                break
            if time.monotonic() > deadline:
                raise CampaignFailure(f"{len(missing)} of {len(alerts)} alerts never delivered, e.g. {sorted(missing)[:5]}")
            time.sleep(0.2)
        counts["acked"] = len(self.load.acked)
        counts["stored"] = len(stored)
        return counts

    # -- run ----------------------------------------------------------------------------------

    def run(self):
        a = self.args
        log(f"work dir {self.work}; {len(self.lines)} input lines; receiver on port {self.receiver.port}")
        self.engine.spawn()
        self.engine.wait_serving()
        self.clean.spawn()
        self.clean.wait_serving()
        # Warm-up: a week of history, so that the terminal features and the model have data.
        self.load.ingest_all(self.engine, a.warmup_events)
        kinds = ["load", "checkpoint", "recovery"]
        t0 = time.monotonic()
        for rnd in range(1, a.rounds + 1):
            if self.load.exhausted():
                raise CampaignFailure("input exhausted: raise the generated days")
            kind = kinds[(rnd - 1) % 3]
            if self.args.plant == "undelivered" and rnd == a.rounds:
                self.receiver.refuse_new = True  # the alerts of this round are never delivered
            started = time.monotonic()
            getattr(self, {"load": "kill_under_load", "checkpoint": "kill_in_checkpoint",
                           "recovery": "kill_in_recovery"}[kind])()
            self.stats[f"kills_{kind}"] += 1
            self.engine.spawn()
            self.startup_s.append(self.engine.wait_serving())
            counts = self.check(rnd)
            self.stats["rounds_passed"] += 1
            log(f"round {rnd}/{a.rounds} ({kind}) ok in {time.monotonic() - started:.1f}s: "
                + ", ".join(f"{k} {v}" for k, v in counts.items()))
        self.engine.stop()
        self.clean.stop()
        self.receiver.stop()
        elapsed = time.monotonic() - t0
        summary = dict(self.stats)
        summary.update(rounds=a.rounds, seconds=round(elapsed, 1), acked=len(self.load.acked),
                       webhook_attempts=self.receiver.attempts["/alerts"],
                       alerts_delivered=len(self.receiver.delivered_keys("/alerts")),
                       median_restart_s=round(sorted(self.startup_s)[len(self.startup_s) // 2], 3))
        log("PASS " + json.dumps(summary, sort_keys=True))
        if not a.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def abort(self):
        for e in (self.engine, self.clean):
            try:
                e.kill9()
            except Exception:
                pass
        self.load.stop_flag.set()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(ROOT, "build/release/tools/impulse/impulse"))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--batch", type=int, default=40, help="lines per request")
    p.add_argument("--pause-s", type=float, default=0.01, help="each client's pause between requests")
    p.add_argument("--min-load-s", type=float, default=0.1)
    p.add_argument("--max-load-s", type=float, default=1.5)
    p.add_argument("--warmup-events", type=int, default=15000, help="acknowledged before the first kill")
    p.add_argument("--checkpoint-ms", type=int, default=300)
    p.add_argument("--fail-rate", type=float, default=0.1, help="webhook calls the receiver fails")
    p.add_argument("--delivery-timeout", type=float, default=90)
    p.add_argument("--engine-arg", action="append", default=[],
                   help="one more `impulse run` argument for both engines, e.g. --engine-arg=--state=rocksdb")
    p.add_argument("--work-dir")
    p.add_argument("--keep", action="store_true", help="keep the work directory after a pass")
    p.add_argument("--plant", choices=["duplicate", "skew", "undelivered"],
                   help="plant a defect the checks must find (the campaign must then FAIL): a transaction "
                        "stored twice; an input the clean engine sees differently; an alert never delivered")
    args = p.parse_args()
    log(f"crash campaign: {args.rounds} rounds, seed {args.seed} (rerun with --seed {args.seed})")
    c = None
    try:
        c = Campaign(args)
        c.run()
    except CampaignFailure as e:
        if c:
            c.abort()
        log(f"FAIL: {e}")
        if c:
            log(f"work dir kept: {c.work} (engine.log, clean.log, data/)")
        sys.exit(1)


if __name__ == "__main__":
    main()
