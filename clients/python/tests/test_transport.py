"""The client's batching, retry and error mapping against a scripted HTTP server (http.server).

The engine cannot be made to answer 507 on demand nor 503 with a chosen Retry-After; this server
answers what each test scripts, and records what the client sent.
    /usr/bin/python3 -m unittest discover -s clients/python/tests -p 'test_transport.py'
"""
import email.utils
import http.server
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import impulse_client as ic  # noqa: E402


class Scripted(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length) if length else b""
        srv = self.server
        srv.requests.append((self.command, self.path, dict(self.headers), body))
        status, headers, reply = srv.script.pop(0) if srv.script else srv.default(body)
        data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if srv.drop_idle:  # closes the keep-alive connection without saying so, as an idle timeout does
            self.close_connection = True

    do_GET = _answer
    do_POST = _answer


def accept_all(body):
    n = len([x for x in body.split(b"\n") if x.strip()])
    return 200, {}, {"accepted": n, "rejected": 0, "errors": [], "errors_truncated": False}


class TransportTest(unittest.TestCase):
    def setUp(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
        self.server.requests = []
        self.server.script = []
        self.server.default = accept_all
        self.server.drop_idle = False
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.sleeps = []

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def client(self, **kw):
        c = ic.Client(self.url, **kw)
        c._sleep = self.sleeps.append  # record the waits instead of waiting
        self.addCleanup(c.close)
        return c

    def unavailable(self, retry_after="2"):
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return 503, headers, {"error": "engine queues full", "code": "Unavailable"}

    def test_tail_skips_events_removed_by_retention(self):
        # The partition's start moved past the tail's position (retention): the tail goes on from
        # the new start and says how many events it missed, rather than failing.
        def desc(start):
            return 200, {}, {"streams": [{"name": "s", "partitions": [
                {"partition": 0, "start_offset": start, "end_offset": 10}]}]}
        rows = "".join(json.dumps({"_offset": i, "_partition": 0, "a": i}) + "\n" for i in range(5, 10)).encode()
        self.server.script = [
            desc(0),
            (400, {}, {"error": "offset 0 is before the start of log (5)", "code": "OutOfRange"}),
            desc(5),
            (200, {}, rows),
        ]
        with self.assertLogs("impulse_client", level="WARNING") as logs:
            got = list(self.client().tail("s", from_offset=0, follow=False))
        self.assertEqual([r["a"] for r in got], [5, 6, 7, 8, 9])
        self.assertIn("5 events", logs.output[0])
        self.assertIn("from=5", self.server.requests[-1][1])
        # Any other 400 is still raised.
        self.server.script = [desc(0), (400, {}, {"error": "bad", "code": "InvalidArgument"})]
        with self.assertRaises(ic.BadRequest):
            list(self.client().tail("s", from_offset=0, follow=False))

    def test_batches_by_count_and_bytes(self):
        events = [{"i": 100 + i, "pad": "x" * 10} for i in range(25)]  # lines of one length
        r = self.client(batch_events=10).send("s", events)
        self.assertEqual([len(b[3].splitlines()) for b in self.server.requests], [10, 10, 5])
        self.assertEqual((r.sent, r.accepted, r.requests), (25, 25, 3))
        line = len(json.dumps(events[0], separators=(",", ":"))) + 1
        self.server.requests.clear()
        self.client(batch_bytes=3 * line).send("s", events)  # 3 lines fit exactly
        self.assertEqual([len(b[3].splitlines()) for b in self.server.requests], [3] * 8 + [1])
        # Every event once, in order, whatever the cut.
        sent = [json.loads(x)["i"] - 100 for b in self.server.requests for x in b[3].splitlines()]
        self.assertEqual(sent, list(range(25)))
        self.assertEqual(self.server.requests[0][1], "/v1/streams/s/events")
        self.assertEqual(self.server.requests[0][2]["Content-Type"], "application/x-ndjson")

    def test_an_event_over_the_byte_bound_goes_alone(self):
        self.client(batch_bytes=50).send("s", [{"a": 1}, {"big": "y" * 100}, {"a": 2}])
        self.assertEqual([len(b[3].splitlines()) for b in self.server.requests], [1, 1, 1])

    def test_retries_503_after_retry_after(self):
        self.server.script = [self.unavailable("2"), self.unavailable("2")]
        r = self.client(backoff=0.25).send("s", [{"a": 1}, {"a": 2}])
        self.assertEqual(self.sleeps, [2.0, 2.0])  # Retry-After beats the 0.25 s / 0.5 s backoff
        self.assertEqual(r.retries, 2)
        self.assertEqual(r.accepted, 2)
        self.assertEqual(len({b[3] for b in self.server.requests}), 1)  # the same body each time
        self.assertEqual(len(self.server.requests), 3)

    def test_backoff_without_retry_after_doubles_to_its_cap(self):
        self.server.script = [self.unavailable(None)] * 4
        self.client(backoff=0.5, max_backoff=1.5, max_retries=4).send("s", [{"a": 1}])
        self.assertEqual(self.sleeps, [0.5, 1.0, 1.5, 1.5])

    def test_retry_after_as_http_date(self):
        when = email.utils.formatdate(time.time() + 30, usegmt=True)
        self.server.script = [self.unavailable(when)]
        self.client().send("s", [{"a": 1}])
        self.assertEqual(len(self.sleeps), 1)
        self.assertTrue(25 <= self.sleeps[0] <= 31, self.sleeps)

    def test_gives_up_after_max_retries(self):
        self.server.script = [accept_all(b"{}\n")] + [self.unavailable("1")] * 10
        c = self.client(batch_events=1, max_retries=3)
        with self.assertRaises(ic.ServiceUnavailable) as cm:
            c.send("s", [{"a": 1}, {"a": 2}])
        e = cm.exception
        self.assertEqual((e.status, e.code, e.retry_after), (503, "Unavailable", 1.0))
        self.assertEqual(self.sleeps, [1.0, 1.0, 1.0])
        self.assertEqual(len(self.server.requests), 1 + 4)
        self.assertEqual(e.result.accepted, 1)  # the first batch went through
        self.assertEqual(e.batch_first_index, 1)

    def test_rejected_lines_mapped_to_caller_indexes_across_batches(self):
        def reject_odd_values(body):
            lines = body.splitlines()
            errs = [{"line": n + 1, "reason": f"bad {json.loads(x)['v']}"} for n, x in enumerate(lines)
                    if json.loads(x)["v"] % 2]
            status = 422 if len(errs) == len(lines) else 207 if errs else 200
            return status, {}, {"accepted": len(lines) - len(errs), "rejected": len(errs), "errors": errs,
                                "errors_truncated": False}

        self.server.default = reject_odd_values
        events = [{"v": v} for v in [0, 1, 2, 3, 5, 7, 8]]
        with self.assertRaises(ic.RejectedLines) as cm:
            self.client(batch_events=3).send("s", events)
        r = cm.exception.result
        self.assertEqual([(e.index, e.reason) for e in r.errors], [(1, "bad 1"), (3, "bad 3"), (4, "bad 5"),
                                                                  (5, "bad 7")])
        self.assertEqual([(e.batch, e.line) for e in r.errors], [(0, 2), (1, 1), (1, 2), (1, 3)])
        self.assertEqual((r.sent, r.accepted, r.rejected, r.requests), (7, 3, 4, 3))
        self.assertIn("4 of 7 events rejected", str(cm.exception))
        r2 = self.client(batch_events=3).send("s", events, raise_on_reject=False)
        self.assertEqual(r2.rejected, 4)

    def test_507_with_stored_lines_is_not_retried(self):
        self.server.script = [(507, {}, {"error": "disk full", "code": "ResourceExhausted", "stored_lines": [1, 3]})]
        with self.assertRaises(ic.InsufficientStorage) as cm:
            self.client().send("s", [{"a": 1}, {"a": 2}, {"a": 3}])
        self.assertEqual(cm.exception.stored_lines, [1, 3])
        self.assertEqual(cm.exception.code, "ResourceExhausted")
        self.assertEqual(cm.exception.body["error"], "disk full")
        self.assertEqual(len(self.server.requests), 1)
        self.assertEqual(self.sleeps, [])

    def test_typed_errors_by_status(self):
        for status, cls in [(400, ic.BadRequest), (401, ic.Unauthorized), (404, ic.NotFound),
                            (405, ic.MethodNotAllowed), (409, ic.Conflict), (413, ic.PayloadTooLarge),
                            (422, ic.Unprocessable), (500, ic.InternalServerError), (501, ic.Unimplemented),
                            (507, ic.InsufficientStorage), (418, ic.ImpulseError)]:
            self.server.script = [(status, {}, {"error": f"e{status}", "code": "X"})]
            with self.assertRaises(cls) as cm:
                self.client().streams()
            self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.message), (status, "X",
                                                                                             f"e{status}"))

    def test_non_json_error_body_keeps_its_text(self):
        self.server.script = [(400, {}, b"malformed request\n")]
        with self.assertRaises(ic.BadRequest) as cm:
            self.client().streams()
        self.assertEqual(cm.exception.message, "malformed request")
        self.assertIsNone(cm.exception.code)

    def test_a_keep_alive_connection_closed_while_idle_is_reopened(self):
        self.server.drop_idle = True
        self.server.script = [(200, {}, {"streams": []}), (200, {}, {"streams": [{"name": "a"}]})]
        c = self.client()
        self.assertEqual(c.streams(), [])
        time.sleep(0.1)  # the server has closed its end
        self.assertEqual(c.streams(), [{"name": "a"}])
        self.assertEqual(len(self.server.requests), 2)

    def test_token_sent_as_bearer(self):
        self.server.script = [(200, {}, {"streams": []})]
        self.client(token="t0k").streams()
        self.assertEqual(self.server.requests[0][2]["Authorization"], "Bearer t0k")

    def test_unserializable_event_names_its_index(self):
        with self.assertRaisesRegex(ValueError, "event 1: not serializable"):
            self.client().send("s", [{"a": 1}, {"a": float("nan")}])
        self.assertEqual(self.server.requests, [])

    def test_no_server_is_a_transport_error(self):
        port = self.server.server_address[1]
        self.tearDown()
        self.setUp = lambda: None
        with self.assertRaises(ic.TransportError), ic.Client(f"http://127.0.0.1:{port}", timeout=2) as c:
            c.health()
        self.tearDown = lambda: None

    def test_parse_metrics(self):
        m = ic.parse_metrics('# HELP x y\n# TYPE x counter\nx{a="1",b="q\\"z"} 3\nx{a="2"} 4.5\ny 7\n'
                             'h_bucket{le="+Inf"} 2\n')
        self.assertEqual(m.get("x"), 7.5)
        self.assertEqual(m.get("x", a="1"), 3)
        self.assertEqual(m.samples["x"][0][0], {"a": "1", "b": 'q"z'})
        self.assertEqual(m.get("y"), 7)
        self.assertEqual(m.get("h_bucket", le="+Inf"), 2)
        self.assertNotIn("z", m)

    def test_dataframe_without_pandas_is_a_clear_import_error(self):
        saved = sys.modules.get("pandas")
        sys.modules["pandas"] = None  # import pandas now raises ImportError
        try:
            with self.assertRaisesRegex(ImportError, "needs pandas.*python3-pandas"):
                ic.to_dataframe([{"a": 1}])
        finally:
            if saved is None:
                del sys.modules["pandas"]
            else:
                sys.modules["pandas"] = saved


if __name__ == "__main__":
    unittest.main()
