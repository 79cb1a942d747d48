#!/usr/bin/env python3
"""Soak: the fraud demo's engine at half the maximum rate this script's client reaches, for a
long time, its resident memory and open file descriptors sampled, and a verdict on whether they stay flat after warm-up.

    scripts/soak.py --binary build/release/tools/impulse/impulse --duration 1800

The engine runs examples/fraud/alerts.yaml (features, XGBoost model, trigger, webhook to a
receiver in this process that answers 200), 2 shards, with three changes for a long run: the
watermark allows 1 day of disorder and idle timeouts are off (the clients' requests overlap),
and `transactions` keeps --retention-mib per partition (pipeline outputs inherit it), so that
the disk does not fill. The input is `impulse generate fraud` (5000 customers, 60 days) replayed
over and over, each pass shifted 60 days later with new transaction ids, so event time only
moves forward and the state covers a bounded set of entities and windows.

Phases: a closed-loop probe of --probe-seconds measures the maximum acknowledged rate; the soak
then runs open loop at --rate (default: half that maximum) for --duration seconds. Every
--interval seconds it appends a row to the CSV (--csv): elapsed seconds, VmRSS and VmHWM (KiB,
/proc/PID/status), open fds (/proc/PID/fd), threads, events acknowledged, rate over the interval.

Verdict: the samples after --warmup seconds are split in thirds; RSS is flat when the last
third's maximum is at most the first third's maximum * (1 + --rss-tolerance) + 16 MiB; fds are
flat when the last third's maximum is at most the first third's maximum + --fd-slack. Exit 0 when
both are flat (and the achieved rate is within 10% of the target), 1 otherwise. Python 3
standard library only.
"""

import argparse
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCH_2018_04_01_S = 1522540800


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Receiver:
    def __init__(self):
        self.calls = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.calls += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Input:
    """The simulation as templates; batch(k) is request k of the endless replay."""

    def __init__(self, binary, days, batch):
        gen = subprocess.run([binary, "generate", "fraud", "--format", "ndjson", "--customers", "5000",
                              "--terminals", "10000", "--days", str(days), "--seed", "1"],
                             check=True, capture_output=True)
        self.rows = []
        pat = re.compile(r'^\{"transaction_id":(\d+),"tx_datetime":"[^"]*",(.*"tx_time_seconds":(\d+),.*)$')
        for line in gen.stdout.decode().splitlines():
            m = pat.match(line)
            if not m:
                raise SystemExit(f"soak: unexpected simulator line: {line[:200]}")
            ts_ms = (EPOCH_2018_04_01_S + int(m.group(3))) * 1000
            self.rows.append((int(m.group(1)), ts_ms, m.group(2)))
        self.n = len(self.rows)
        self.span_ms = days * 86400 * 1000
        self.batch = batch

    def body(self, k):
        out = []
        first = k * self.batch
        for i in range(first, first + self.batch):
            p, j = divmod(i, self.n)
            tid, ts, rest = self.rows[j]
            out.append('{"transaction_id":%d,"tx_datetime":%d,%s\n' % (tid + p * self.n, ts + p * self.span_ms, rest))
        return "".join(out).encode()


class Driver:
    """Client threads sending request k at t0 + k * batch / rate (rate 0: as fast as possible)."""

    def __init__(self, port, inp, connections):
        self.port = port
        self.inp = inp
        self.connections = connections
        self.next_k = 0
        self.lock = threading.Lock()
        self.acked = 0
        self.errors = []
        self.stop_flag = threading.Event()

    def run(self, rate, seconds):
        self.stop_flag.clear()
        self.rate = rate
        self.t0 = time.monotonic()
        self.k0 = self.next_k
        threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.connections)]
        for t in threads:
            t.start()
        end = self.t0 + seconds
        while time.monotonic() < end and not self.errors:
            time.sleep(0.1)
        self.stop_flag.set()
        for t in threads:
            t.join()
        if self.errors:
            raise SystemExit(f"soak: {self.errors[0]}")

    def _client(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self.stop_flag.is_set():
            with self.lock:
                k = self.next_k
                self.next_k += 1
            if self.rate > 0:
                due = self.t0 + (k - self.k0) * self.inp.batch / self.rate
                wait = due - time.monotonic()
                if wait > 0:
                    if self.stop_flag.wait(wait):
                        return
            body = self.inp.body(k)
            while True:
                try:
                    conn.request("POST", "/v1/streams/transactions/events", body=body)
                    r = conn.getresponse()
                    r.read()
                except (OSError, http.client.HTTPException) as e:
                    self.errors.append(f"ingest failed: {e}")
                    return
                if r.status == 503:  # nothing accepted: resend after a pause
                    time.sleep(float(r.getheader("Retry-After") or 1) / 10)
                    continue
                if r.status != 200:
                    self.errors.append(f"ingest answered {r.status}")
                    return
                with self.lock:
                    self.acked += self.inp.batch
                break


def proc_sample(pid):
    status = open(f"/proc/{pid}/status").read()

    def field(name):
        return int(re.search(rf"^{name}:\s+(\d+)", status, re.M).group(1))

    return (field("VmRSS"), field("VmHWM"), field("RssAnon"), field("RssFile"), len(os.listdir(f"/proc/{pid}/fd")),
            field("Threads"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(ROOT, "build/release/tools/impulse/impulse"))
    p.add_argument("--duration", type=float, default=1800, help="seconds of soak after the probe")
    p.add_argument("--rate", type=float, default=0, help="events/s (0: half the probed maximum)")
    p.add_argument("--probe-seconds", type=float, default=30)
    p.add_argument("--interval", type=float, default=10, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=-1, help="seconds not judged (default: a sixth of --duration)")
    p.add_argument("--rss-tolerance", type=float, default=0.10)
    p.add_argument("--fd-slack", type=int, default=16)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--batch", type=int, default=1000, help="lines per request")
    p.add_argument("--days", type=int, default=60, help="days of simulation replayed")
    p.add_argument("--retention-mib", type=int, default=128, help="per partition of transactions")
    p.add_argument("--checkpoint-ms", type=int, default=10000)
    p.add_argument("--csv", default="soak.csv")
    p.add_argument("--work-dir")
    args = p.parse_args()
    warmup = args.duration / 6 if args.warmup < 0 else args.warmup

    work = args.work_dir or tempfile.mkdtemp(prefix="impulse-soak-")
    os.makedirs(work, exist_ok=True)
    receiver = Receiver()
    src = open(os.path.join(ROOT, "examples/fraud/alerts.yaml")).read()
    wm = "watermark: {max_out_of_orderness: 1s}"
    url = "url: http://127.0.0.1:8471/alerts"
    if wm not in src or url not in src:
        raise SystemExit("soak: examples/fraud/alerts.yaml changed: update the rewrite")
    spec = os.path.join(work, "soak.yaml")
    with open(spec, "w") as f:
        f.write(src.replace(wm, "watermark: {max_out_of_orderness: 1d, idle_timeout: never}\n"
                            f"    retention: {{bytes: {args.retention_mib << 20}}}")
                .replace(url, f"url: http://127.0.0.1:{receiver.port}/alerts"))
    data = os.path.join(work, "data")
    elog = open(os.path.join(work, "engine.log"), "wb")
    engine = subprocess.Popen([args.binary, "run", spec, "--models", os.path.join(ROOT, "examples/fraud/models"),
                               "--data-dir", data, "--listen", "127.0.0.1:0", "--shards", "2",
                               "--checkpoint-interval-ms", str(args.checkpoint_ms)],
                              stdout=subprocess.DEVNULL, stderr=elog)
    port = None
    for _ in range(6000):
        m = re.search(r"http://127\.0\.0\.1:(\d+)", open(os.path.join(work, "engine.log")).read())
        if m:
            port = int(m.group(1))
            break
        if engine.poll() is not None:
            raise SystemExit("soak: the engine exited at start (see %s/engine.log)" % work)
        time.sleep(0.01)
    if port is None:
        raise SystemExit("soak: the engine did not start")
    inp = Input(args.binary, args.days, args.batch)
    log(f"engine pid {engine.pid} on port {port}; {inp.n} simulated transactions per pass; work dir {work}")
    driver = Driver(port, inp, args.connections)
    try:
        rate = args.rate
        if rate <= 0:
            before = driver.acked
            driver.run(0, args.probe_seconds)
            maximum = (driver.acked - before) / args.probe_seconds
            rate = maximum / 2
            log(f"probe: {maximum:.0f} events/s acknowledged closed loop; soak at {rate:.0f} events/s")
        samples = []
        with open(args.csv, "w") as csv:
            csv.write("elapsed_s,rss_kib,hwm_kib,rss_anon_kib,rss_file_kib,fds,threads,events_acked,events_per_s\n")
            runner = threading.Thread(target=driver.run, args=(rate, args.duration), daemon=True)
            t0 = time.monotonic()
            runner.start()
            last_acked, last_t = driver.acked, t0
            while runner.is_alive():
                due = t0 + (len(samples) + 1) * args.interval
                runner.join(timeout=max(0.0, due - time.monotonic()))
                if not runner.is_alive() and time.monotonic() < due:
                    break  # the soak ended within this interval: no partial sample
                if engine.poll() is not None:
                    raise SystemExit(f"soak: the engine died (status {engine.returncode}); see {work}/engine.log")
                now = time.monotonic()
                rss, hwm, anon, file_backed, fds, threads = proc_sample(engine.pid)
                acked = driver.acked
                eps = (acked - last_acked) / max(now - last_t, 1e-9)
                last_acked, last_t = acked, now
                samples.append((now - t0, rss, hwm, anon, file_backed, fds, threads, acked, eps))
                csv.write("%.1f,%d,%d,%d,%d,%d,%d,%d,%.0f\n" % samples[-1])
                csv.flush()
                log("t=%5.0fs rss %6.1f MiB (anon %6.1f, file %5.1f) fds %4d threads %3d acked %d (%.0f/s)" %
                    (now - t0, rss / 1024, anon / 1024, file_backed / 1024, fds, threads, acked, eps))
        achieved = (driver.acked - (samples[0][7] if samples else 0)) / max(samples[-1][0] - samples[0][0], 1e-9)
    finally:
        engine.send_signal(signal.SIGTERM)
        try:
            engine.wait(timeout=300)
        except subprocess.TimeoutExpired:
            engine.kill()
    judged = [s for s in samples if s[0] >= warmup]
    if len(judged) < 6:
        log(f"not enough samples after the {warmup:.0f} s warm-up to judge ({len(judged)})")
        sys.exit(1)
    third = len(judged) // 3
    first, last = judged[:third], judged[-third:]
    rss_first, rss_last = max(s[1] for s in first), max(s[1] for s in last)
    fd_first, fd_last = max(s[5] for s in first), max(s[5] for s in last)
    # Least-squares slope of RSS after warm-up, reported with the verdict (a slow leak shows here
    # before it exceeds the tolerance).
    n = len(judged)
    mx = sum(s[0] for s in judged) / n
    my = sum(s[1] for s in judged) / n
    slope = sum((s[0] - mx) * (s[1] - my) for s in judged) / max(sum((s[0] - mx) ** 2 for s in judged), 1e-9)
    rss_flat = rss_last <= rss_first * (1 + args.rss_tolerance) + 16 * 1024
    fd_flat = fd_last <= fd_first + args.fd_slack
    rate_ok = achieved >= 0.9 * rate
    verdict = {
        "target_events_per_s": round(rate), "achieved_events_per_s": round(achieved), "events_acked": driver.acked,
        "webhook_calls": receiver.calls, "samples": len(samples), "warmup_s": round(warmup),
        "rss_mib_first_third_max": round(rss_first / 1024, 1), "rss_mib_last_third_max": round(rss_last / 1024, 1),
        "rss_slope_mib_per_hour": round(slope * 3600 / 1024, 1),
        "rss_anon_mib_first_last": [round(judged[0][3] / 1024, 1), round(judged[-1][3] / 1024, 1)],
        "rss_file_mib_first_last": [round(judged[0][4] / 1024, 1), round(judged[-1][4] / 1024, 1)],
        "fds_first_third_max": fd_first, "fds_last_third_max": fd_last,
        "rss_flat": rss_flat, "fds_flat": fd_flat, "rate_reached": rate_ok, "engine_exit": engine.returncode,
    }
    log(("FLAT " if rss_flat and fd_flat and rate_ok else "NOT FLAT ") + json.dumps(verdict))
    if rss_flat and fd_flat and rate_ok and engine.returncode == 0:
        shutil.rmtree(work, ignore_errors=True)
        sys.exit(0)
    log(f"work dir kept: {work}")
    sys.exit(1)


if __name__ == "__main__":
    main()
