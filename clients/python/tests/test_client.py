"""Every method of the Python client against a real `impulse run` (fraud_spec.yaml: feature views,
the committed XGBoost model of examples/fraud with a decision log, a trigger), with a token.

    IMPULSE_BINARY=build/debug/tools/impulse/impulse /usr/bin/python3 -m unittest \
        discover -s clients/python/tests -p 'test_client.py'
"""
import datetime
import importlib.util
import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import impulse_client as ic  # noqa: E402
from engine import HERE, SOURCE_DIR, Engine  # noqa: E402

TOKEN = "client-test-token"
BASE = datetime.datetime(2018, 4, 1, tzinfo=datetime.timezone.utc)
_clock = [0]


def tx(tx_id, customer, amount=10.0, terminal=1, seconds=None):
    """A transaction of the fraud example. Event times rise by one second per call, so no test's
    events are late for the watermark (1 s of out-of-orderness) whatever order the tests run in."""
    if seconds is None:
        _clock[0] += 1
        seconds = _clock[0]
    t = BASE + datetime.timedelta(seconds=seconds)
    return {"transaction_id": tx_id, "tx_datetime": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "customer_id": customer,
            "terminal_id": terminal, "tx_amount": amount, "tx_time_seconds": seconds, "tx_time_days": 0,
            "tx_fraud": 0, "tx_fraud_scenario": 0}


def eventually(fn, seconds=15):
    """fn's value once it is truthy (pipelines write their outputs after the ingest's answer)."""
    deadline = time.monotonic() + seconds
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


class EngineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.engine = Engine(os.path.join(HERE, "fraud_spec.yaml"), "--models",
                            os.path.join(SOURCE_DIR, "examples", "fraud", "models"), "--http-threads", "1",
                            token=TOKEN)
        # The first event through a pipeline that reads another pipeline's stream is decided
        # about 10 s after the engine starts (then in milliseconds): wait for it once here, so
        # the tests' 1 s decide timeouts measure the steady state.
        with ic.Client(cls.engine.url, token=TOKEN) as c:
            first = c.decide("transactions", "score", [tx(1, customer=1)], timeout_ms=30000)
        if first.decisions[0].status != "decided":
            cls.tearDownClass()
            raise AssertionError(f"the first event was not decided within 30 s: {first}")

    @classmethod
    def tearDownClass(cls):
        rc = cls.engine.stop()
        out = cls.engine.output()
        cls.engine.cleanup()
        if rc != 0:
            raise AssertionError(f"impulse run exited {rc}: {out}")

    def client(self, **kw):
        c = ic.Client(self.engine.url, token=kw.pop("token", TOKEN), **kw)
        self.addCleanup(c.close)
        return c

    def ids_in(self, stream):
        return {r["transaction_id"] for r in self.client().tail(stream, from_offset="start", follow=False)}

    def test_health_needs_no_token(self):
        self.assertTrue(self.client(token=None).health())

    def test_token_required(self):
        for token in (None, "wrong"):
            with self.assertRaises(ic.Unauthorized) as cm:
                self.client(token=token).streams()
            e = cm.exception
            self.assertEqual((e.status, e.code), (401, "Unauthenticated"))
            self.assertEqual(e.body, {"error": "missing or invalid bearer token", "code": "Unauthenticated"})
            self.assertIn("Bearer", e.headers.get("WWW-Authenticate", ""))

    def test_streams_and_models(self):
        c = self.client()
        streams = {s["name"]: s for s in c.streams()}
        for name in ("transactions", "tx_scored", "decisions", "alerts", "_dead_letter"):
            self.assertIn(name, streams)
        self.assertEqual(len(streams["transactions"]["partitions"]), 2)
        self.assertEqual(streams["transactions"]["key"], "customer_id")
        models = {(m["name"], m["version"]): m for m in c.models()}
        self.assertEqual(models[("fraud", 1)]["state"], "ready")
        self.assertEqual(models[("fraud", 1)]["inputs"], 15)
        self.assertTrue(c.ready())
        self.assertEqual(sorted(c.feature_views()), ["customer", "terminal"])

    def test_model_admin(self):
        c = self.client()
        self.assertEqual(c.load_model("fraud", 1), {"ok": True, "model": "fraud", "version": 1, "state": "ready"})
        # fraud_lr is not used by the spec: unloaded, it is not served, then loaded again.
        self.assertEqual(c.unload_model("fraud_lr", 1)["state"], "unavailable")
        with self.assertRaises(ic.ServiceUnavailable) as cm:
            self.client(max_retries=0).infer("fraud_lr", [[0.0] * 15])
        self.assertIn("fraud_lr", cm.exception.message)
        self.assertFalse(c.ready())
        self.assertEqual(c.load_model("fraud_lr", 1)["state"], "ready")
        self.assertTrue(c.ready())
        r = c.rescan_models()
        self.assertEqual((r["ok"], r["ready"], r["failed"]), (True, 2, 0))
        with self.assertRaises(ic.NotFound):
            c.load_model("fraud", 9)
        with self.assertRaises(ic.BadRequest):
            c._json("POST", "/v1/models/fraud/versions/01:load")

    def test_send_lists_rejected_lines_by_caller_index_across_batches(self):
        c = self.client(batch_events=10)
        dead_before = sum(p["end_offset"] for p in c.stream("_dead_letter")["partitions"])
        events = [tx(10000 + i, customer=100 + i) for i in range(25)]
        events[3]["tx_amount"] = "x"
        del events[14]["customer_id"]
        events[22] = '{"transaction_id": 10022, not json'
        with self.assertRaises(ic.RejectedLines) as cm:
            c.send("transactions", events)
        r = cm.exception.result
        self.assertEqual([e.index for e in r.errors], [3, 14, 22])
        self.assertEqual([(e.batch, e.line) for e in r.errors], [(0, 4), (1, 5), (2, 3)])
        self.assertIn("tx_amount", r.errors[0].reason)
        self.assertIn("customer_id", r.errors[1].reason)
        self.assertEqual((r.sent, r.accepted, r.rejected, r.requests, r.last_status), (25, 22, 3, 3, 207))
        good = {10000 + i for i in range(25)} - {10003, 10014, 10022}
        stored = self.ids_in("transactions")
        self.assertLessEqual(good, stored)
        self.assertFalse({10003, 10014, 10022} & stored)
        # Never silently dropped: each rejected line is in the dead letters.
        dead_after = sum(p["end_offset"] for p in c.stream("_dead_letter")["partitions"])
        self.assertEqual(dead_after - dead_before, 3)

    def test_send_accepted_returns_counts(self):
        r = self.client().send("transactions", [tx(11000 + i, customer=7) for i in range(5)])
        self.assertEqual((r.sent, r.accepted, r.rejected, r.errors, r.last_status), (5, 5, 0, [], 200))

    def test_send_all_rejected_is_422(self):
        with self.assertRaises(ic.RejectedLines) as cm:
            self.client().send("transactions", [{"transaction_id": 1}, {"nope": 2}])
        self.assertEqual(cm.exception.result.last_status, 422)
        self.assertEqual([e.index for e in cm.exception.errors], [0, 1])

    def test_send_to_unknown_stream_is_not_found(self):
        with self.assertRaises(ic.NotFound) as cm:
            self.client().send("nope", [{"a": 1}])
        self.assertEqual(cm.exception.code, "NotFound")
        self.assertIn("nope", cm.exception.message)

    def test_send_to_a_pipeline_stream_is_bad_request(self):
        with self.assertRaises(ic.BadRequest) as cm:
            self.client().send("tx_scored", [{"a": 1}])
        self.assertEqual(cm.exception.code, "InvalidArgument")

    def test_decide(self):
        c = self.client(batch_events=2)  # the decisions of 3 requests, in the caller's order
        events = [tx(20001, customer=2001, amount=50.0), tx(20002, customer=2002, amount=10.0),
                  tx(20003, customer=2003, amount=1500.0), None]
        events[1]["tx_amount"] = "x"
        # Late for the watermark (an hour before 20003, same customer so same partition): the
        # customer view sends it to _late_events, its decision never comes: answered late at once.
        events[3] = tx(20004, customer=2003, amount=20.0, seconds=_clock[0] - 3600)
        r = c.decide("transactions", "score", events, timeout_ms=1000)
        self.assertEqual((r.pipeline, r.id_field, r.accepted, r.rejected), ("score", "transaction_id", 3, 1))
        self.assertEqual([d.index for d in r.decisions], [0, 1, 2, 3])
        self.assertEqual([d.status for d in r.decisions], ["decided", "rejected", "decided", "late"])
        d0, d1, d2, d3 = r.decisions
        self.assertEqual((d0.id, d0.rules, d0.output["transaction_id"], d0.output["tx_amount"]), (20001, [], 20001, 50))
        self.assertTrue(0.0 <= d0.output["fraud_score"] <= 1.0)
        self.assertIn("tx_amount", d1.reason)
        self.assertEqual((d2.id, d2.rules), (20003, ["big_amount"]))
        self.assertEqual(d3.id, 20004)
        self.assertIn("late", d3.reason)
        self.assertEqual(r.pending, [])
        self.assertEqual([d.id for d in r.late], [20004])
        self.assertEqual([d.id for d in r.decided], [20001, 20003])
        # The rule published its alert.
        self.assertIn(20003, eventually(lambda: self.ids_in("alerts") & {20003}))

    def test_decide_unknown_pipeline_is_bad_request(self):
        with self.assertRaises(ic.BadRequest) as cm:
            self.client().decide("transactions", "nope", [tx(20100, customer=1)])
        self.assertIn("nope", cm.exception.message)

    def test_features(self):
        c = self.client()
        r = c.decide("transactions", "score", [tx(30001, customer=3001, amount=10.0, terminal=77),
                                               tx(30002, customer=3001, amount=30.0, terminal=77)])
        self.assertEqual([d.status for d in r.decisions], ["decided", "decided"])
        one = c.features("customer", 3001)
        self.assertTrue(one["found"])
        self.assertEqual(one["entity"], "3001")
        self.assertEqual(one["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"], 2)
        self.assertEqual(one["features"]["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"], 20.0)
        missing = c.features("customer", 999999999)
        self.assertFalse(missing["found"])
        self.assertIsNone(missing["features"])
        self.assertTrue(missing["reason"])
        many = c.features("customer", [3001, "999999999", "3001"])
        self.assertEqual([m["found"] for m in many], [True, False, True])
        self.assertEqual(many[0]["features"], one["features"])
        self.assertTrue(c.features("terminal", [77])[0]["found"])
        with self.assertRaises(ic.NotFound) as cm:
            c.features("nope", 1)
        self.assertEqual(cm.exception.code, "NotFound")
        with self.assertRaises(ic.NotFound):
            c.features("nope", [1])

    def test_decision_and_infer_agree(self):
        c = self.client()
        r = c.decide("transactions", "score", [tx(40001, customer=4001, amount=321.5)])
        score = r.decisions[0].output["fraud_score"]
        rec = eventually(lambda: self._decision(c, 40001))
        self.assertIsNotNone(rec, "no decision record for 40001")
        self.assertEqual((rec["event_id"], rec["model"], rec["version"], rec["entity"]), ("40001", "fraud", 1, "4001"))
        self.assertAlmostEqual(rec["scores"]["fraud_score"], score, places=6)
        self.assertEqual(rec["features"]["TX_AMOUNT"], 321.5)
        # The features the model saw, scored again through the KServe v2 route: the same score,
        # by input name (one tensor per input) and as one [n, 15] tensor in the config's order.
        by_name = c.infer("fraud", [rec["features"]], version=1, request_id="r1")
        self.assertEqual((by_name.model_name, by_name.model_version, by_name.id), ("fraud", "1", "r1"))
        self.assertAlmostEqual(by_name.rows()[0][0], score, places=6)
        names = c.model_metadata("fraud")["parameters"]["input_names"]
        as_rows = c.infer("fraud", [[rec["features"][n] for n in names]] * 2)
        self.assertEqual(as_rows.outputs["output"]["shape"], [2, 1])
        self.assertEqual(as_rows.rows(), by_name.rows() * 2)
        with self.assertRaises(ic.NotFound):
            c.decision("decisions", 987654321)
        with self.assertRaises(ic.NotFound):
            c.infer("nope", [[1.0]])
        with self.assertRaises(ic.BadRequest) as cm:
            c.infer("fraud", [[1.0, 2.0]])
        self.assertEqual(cm.exception.code, "InvalidArgument")
        self.assertIn("shape", cm.exception.message)

    @staticmethod
    def _decision(c, event_id):
        try:
            return c.decision("decisions", event_id)["records"][0]
        except ic.NotFound:
            return None

    def test_serve_check_of_the_fraud_example(self):
        # examples/fraud/serve_check.py (train.py --engine uses it): the committed fixture's
        # offline scores equal the served ones; a changed score is reported.
        sys.path.insert(0, os.path.join(SOURCE_DIR, "examples", "fraud"))
        try:
            import serve_check
        finally:
            sys.path.pop(0)
        import contextlib
        import io
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = serve_check.main(["--engine", self.engine.url, "--token", TOKEN])
        self.assertEqual(rc, 0, out.getvalue())
        self.assertIn("fraud version 1: 200 rows, 0 differ, max |difference| 0", out.getvalue())
        self.assertIn("fraud_lr version 1: 200 rows, 0 differ", out.getvalue())
        c = self.client()
        names = serve_check.input_names(c, "fraud")
        rows, expected = serve_check.fixture_rows(os.path.join(serve_check.HERE, "testdata", "fraud_scores.csv"),
                                                  names, "xgb_score")
        expected[7] *= 1.001
        version, mismatches, worst = serve_check.compare(c, "fraud", rows, expected)
        self.assertEqual((version, [m[0] for m in mismatches]), ("1", [7]))
        self.assertGreater(worst, 0)

    def test_read(self):
        c = self.client()
        c.send("transactions", [tx(50000 + i, customer=5000 + i) for i in range(6)])
        for p in (0, 1):
            rows = c.read("transactions", p, 0, limit=2)
            self.assertEqual(len(rows), 2)
            self.assertEqual([r["_partition"] for r in rows], [p, p])
            self.assertEqual([r["_offset"] for r in rows], [0, 1])
            self.assertEqual(c.read("transactions", p, 1, limit=1), rows[1:])
        end = c.stream("transactions")["partitions"][0]["end_offset"]
        self.assertEqual(c.read("transactions", 0, end), [])
        with self.assertRaises(ic.BadRequest) as cm:
            c.read("transactions", 5, 0)
        self.assertEqual(cm.exception.code, "OutOfRange")
        with self.assertRaises(ic.BadRequest):
            c.read("transactions", 0, 0, limit=0)

    def test_tail_follows_every_partition(self):
        c = self.client()
        it = c.tail("transactions", wait_ms=5000)  # from the end, as of now; long-polls
        one = c.tail("transactions", partition=1, wait_ms=5000)
        events = [tx(60000 + i, customer=6000 + i) for i in range(8)]

        def later():
            time.sleep(0.3)
            with ic.Client(self.engine.url, token=TOKEN) as other:
                other.send("transactions", events)

        t = threading.Thread(target=later)
        t.start()
        got = [next(it) for _ in events]
        t.join()
        self.assertEqual(sorted(r["transaction_id"] for r in got), [e["transaction_id"] for e in events])
        self.assertEqual({r["_partition"] for r in got}, {0, 1})
        in_one = [r for r in got if r["_partition"] == 1]
        self.assertEqual([next(one) for _ in in_one], in_one)
        it.close()
        one.close()

    def test_read_cursor_round_trip(self):
        c = self.client()
        c.send("transactions", [tx(62000 + i, customer=6200 + i) for i in range(6)])
        first = c.read_cursor("transactions", "beginning", limit=2)
        self.assertEqual(len(first["events"]), 2)
        self.assertFalse(first["caught_up"])
        seen = [(r["_partition"], r["_offset"]) for r in first["events"]]
        cursor = first["cursor"]
        while True:
            reply = c.read_cursor("transactions", cursor, limit=1000)
            seen += [(r["_partition"], r["_offset"]) for r in reply["events"]]
            cursor = reply["cursor"]
            if reply["caught_up"]:
                break
        self.assertEqual(len(seen), len(set(seen)))  # no event twice
        self.assertEqual([int(x) for x in cursor.split(",")], reply["end_offsets"])
        # At the end, a wait that finds nothing answers after wait_ms with the same cursor.
        idle = c.read_cursor("transactions", cursor, wait_ms=200)
        self.assertEqual((idle["events"], idle["cursor"]), ([], cursor))
        with self.assertRaises(ic.BadRequest):
            c.read_cursor("transactions", "1,2,3,4,5,6,7")

    def test_tail_reads_pipeline_streams_to_their_end(self):
        c = self.client()
        c.decide("transactions", "score", [tx(61000 + i, customer=6100 + i) for i in range(4)])
        self.assertLessEqual({61000, 61001, 61002, 61003}, self.ids_in("tx_scored"))
        rows = list(c.tail("tx_scored", from_offset="start", follow=False))
        for p in (0, 1):
            offsets = [r["_offset"] for r in rows if r["_partition"] == p]
            self.assertEqual(offsets, sorted(offsets))
            self.assertEqual(len(set(offsets)), len(offsets))

    def test_metrics(self):
        c = self.client()
        text = c.metrics()
        self.assertIn("# TYPE impulse_http_requests_total counter", text)
        before = c.metrics(parsed=True).get("impulse_http_requests_total", route="ingest")
        c.send("transactions", [tx(70000, customer=7000)])
        c.send("transactions", [tx(70001, customer=7001)])
        after = c.metrics(parsed=True).get("impulse_http_requests_total", route="ingest")
        self.assertEqual(after - before, 2)

    def test_read_frame(self):
        c = self.client()
        c.decide("transactions", "score", [tx(80000, customer=8000)])
        if importlib.util.find_spec("pandas") is None:
            with self.assertRaisesRegex(ImportError, "needs pandas"):
                c.read_frame("tx_scored")
            self.skipTest("pandas is not installed: only the ImportError was checked")
        df = c.read_frame("tx_scored")
        self.assertIn("fraud_score", df.columns)
        self.assertIn(80000, set(df["transaction_id"]))


class BackpressureTest(unittest.TestCase):
    """A real 503 with Retry-After: one connection slot held by a request whose body is not
    complete, so the client's connection gets the reserve slot, which refuses ingest with 503."""

    @classmethod
    def setUpClass(cls):
        cls.engine = Engine(os.path.join(HERE, "fraud_spec.yaml"), "--models",
                            os.path.join(SOURCE_DIR, "examples", "fraud", "models"), "--http-threads", "1",
                            "--max-connections", "1", "--reserve-connections", "1")

    @classmethod
    def tearDownClass(cls):
        rc = cls.engine.stop()
        out = cls.engine.output()
        cls.engine.cleanup()
        if rc != 0:
            raise AssertionError(f"impulse run exited {rc}: {out}")

    def test_503_retried_after_retry_after(self):
        body = (json.dumps(tx(90000, customer=9000)) + "\n").encode()
        head = b"POST /v1/streams/transactions/events HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        # The connection of the engine's last health probe may still hold the regular slot (it is
        # closing, not idle), so the holding connection can land in the reserve: it is then
        # answered 503 at once, and is tried again.
        for _ in range(50):
            hold = socket.create_connection(("127.0.0.1", self.engine.port))
            hold.sendall(head + body[:5])
            hold.settimeout(0.3)
            try:
                answer = hold.recv(4096)
            except socket.timeout:
                break  # no answer: the engine waits for the rest of the body, in the regular slot
            hold.close()
            self.assertTrue(answer == b"" or answer.startswith(b"HTTP/1.1 503"), answer)
        else:
            self.fail("the holding connection never got the regular slot")
        self.addCleanup(hold.close)
        hold.settimeout(30)

        with ic.Client(self.engine.url, max_retries=0) as c:
            with self.assertRaises(ic.ServiceUnavailable) as cm:
                c.send("transactions", [tx(90001, customer=9001)])
        e = cm.exception
        self.assertEqual((e.status, e.code, e.retry_after), (503, "Unavailable", 1.0))
        self.assertEqual(e.result.accepted, 0)

        def release():
            time.sleep(0.3)
            hold.sendall(body[5:])

        t = threading.Thread(target=release)
        t.start()
        with ic.Client(self.engine.url, backoff=0.1) as c:
            waits = []
            c._sleep = lambda s: (waits.append(s), time.sleep(s))
            r = c.send("transactions", [tx(90002, customer=9002)])
            t.join()
            self.assertEqual(r.accepted, 1)
            self.assertGreaterEqual(r.retries, 1)
            self.assertEqual(waits[0], 1.0)  # the engine's Retry-After, over the 0.1 s backoff
            self.assertTrue(hold.recv(4096).startswith(b"HTTP/1.1 200"))
            m = c.metrics(parsed=True)
            self.assertGreaterEqual(m.get("impulse_http_connections_reserve_total"), 2)
            ids = {r["transaction_id"] for r in c.tail("transactions", from_offset="start", follow=False)}
            self.assertEqual(ids, {90000, 90002})


if __name__ == "__main__":
    unittest.main()
