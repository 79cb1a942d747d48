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
import urllib.parse

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
        if srv.endless:  # a body that does not end until the reader goes away (or 256 MiB)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            piece = b"x" * 65536
            try:
                while srv.written < (256 << 20):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    srv.written += len(piece)
            except OSError:
                pass
            self.close_connection = True
            return
        if srv.chunked:  # no Content-Length: the client learns the size only by reading
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 7):
                piece = data[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
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
        self.server.chunked = False
        self.server.endless = False
        self.server.written = 0
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

    @staticmethod
    def desc(starts, ends):
        """GET /v1/streams/s: a stream with one partition per (start, end)."""
        return 200, {}, {"name": "s", "partitions": [{"partition": p, "start_offset": a, "end_offset": b}
                                                      for p, (a, b) in enumerate(zip(starts, ends))]}

    @staticmethod
    def cursor_reply(events, cursor, caught_up, skipped=0):
        return 200, {}, {"stream": "s", "events": events, "cursor": cursor, "end_offsets": [], "caught_up": caught_up,
                         "skipped": skipped}

    def query(self, n):
        """The query of the server's n-th request, as a dict."""
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.server.requests[n][1]).query))

    def test_tail_reads_every_partition_by_cursor(self):
        # One request per answer for all partitions (no partition parameter), each passing the
        # previous answer's cursor back; without follow, no wait and an end at the ends seen first.
        ev = [{"_offset": 0, "_partition": 0, "a": 1}, {"_offset": 0, "_partition": 1, "a": 2},
              {"_offset": 1, "_partition": 0, "a": 3}]
        self.server.script = [self.desc([0, 0], [2, 1]), self.cursor_reply(ev[:2], "1,1", False),
                              self.cursor_reply(ev[2:], "2,1", False)]
        got = list(self.client().tail("s", from_offset="start", follow=False))
        self.assertEqual([r["a"] for r in got], [1, 2, 3])
        self.assertEqual(len(self.server.requests), 3)  # ends at the ends of the call, caught_up or not
        self.assertEqual(self.server.requests[0][1], "/v1/streams/s")
        self.assertEqual(self.query(1), {"cursor": "0,0", "limit": "1000"})
        self.assertEqual(self.query(2), {"cursor": "1,1", "limit": "1000"})
        # caught_up ends it too (a pipeline stream whose last records are watermark markers).
        self.server.requests.clear()
        self.server.script = [self.desc([0, 0], [9, 9]), self.cursor_reply([], "9,9", True)]
        self.assertEqual(list(self.client().tail("s", from_offset=4, follow=False)), [])
        self.assertEqual(self.query(1)["cursor"], "4,4")

    def test_tail_follow_long_polls_instead_of_sleeping(self):
        row = {"_offset": 5, "_partition": 1, "a": 9}
        self.server.script = [self.desc([0, 0], [3, 5]), self.cursor_reply([], "3,5", False),
                              self.cursor_reply([row], "3,6", False)]
        it = self.client().tail("s")  # from the end, following
        self.assertEqual(next(it), row)
        it.close()
        self.assertEqual(self.query(1), {"cursor": "3,5", "limit": "1000", "wait_ms": "10000"})
        self.assertEqual(self.query(2)["cursor"], "3,5")  # a wait that ended empty: the same cursor
        self.assertEqual(self.sleeps, [])
        # One partition: the partition form, with the same wait.
        self.server.requests.clear()
        self.server.script = [self.desc([0, 0], [3, 5]), (200, {}, b""), (200, {}, json.dumps(row).encode() + b"\n")]
        it = self.client().tail("s", partition=1, wait_ms=2000)
        self.assertEqual(next(it), row)
        it.close()
        self.assertEqual(self.query(1), {"partition": "1", "from": "5", "limit": "1000", "wait_ms": "2000"})
        self.assertEqual(self.query(2)["from"], "5")

    def test_tail_wait_must_fit_the_engine_and_the_timeout(self):
        with self.assertRaisesRegex(ValueError, "wait_ms must be in 1..30000"):
            self.client().tail("s", wait_ms=30001)
        with self.assertRaisesRegex(ValueError, "shorter than the client's timeout"):
            self.client(timeout=5).tail("s", wait_ms=5000)
        self.assertEqual(self.server.requests, [])
        with self.assertRaises(ic.BadRequest) as cm:
            self.server.script = [self.desc([0], [1])]
            self.client().tail("s", partition=1)
        self.assertEqual(cm.exception.code, "OutOfRange")
        # A bad starting point is the caller's error, said before any read is sent.
        for bad in (-5, "beginnning", "3", 2.5, True):
            self.server.requests.clear()
            self.server.script = [self.desc([0], [1])]
            with self.assertRaisesRegex(ValueError, "from_offset must be"):
                next(self.client().tail("s", from_offset=bad, follow=False))
            self.assertEqual(len(self.server.requests), 1, bad)  # the describe call only

    def test_tail_skips_events_removed_by_retention(self):
        # Every partition: the engine went on from the partition's start and said how many events
        # it skipped; the tail says so rather than failing.
        rows = [{"_offset": i, "_partition": 0, "a": i} for i in range(5, 10)]
        self.server.script = [self.desc([5], [10]), self.cursor_reply(rows, "10", True, skipped=5)]
        with self.assertLogs("impulse_client", level="WARNING") as logs:
            got = list(self.client().tail("s", from_offset=0, follow=False))
        self.assertEqual([r["a"] for r in got], [5, 6, 7, 8, 9])
        self.assertIn("5 events", logs.output[0])
        # One partition: its start moved past the tail's position; the tail goes on from the new start.
        self.server.script = [
            self.desc([0], [10]),
            (400, {}, {"error": "offset 0 is before the start of log (5)", "code": "OutOfRange"}),
            self.desc([5], [10]),
            (200, {}, "".join(json.dumps(r) + "\n" for r in rows).encode()),
        ]
        with self.assertLogs("impulse_client", level="WARNING") as logs:
            got = list(self.client().tail("s", partition=0, from_offset=0, follow=False))
        self.assertEqual([r["a"] for r in got], [5, 6, 7, 8, 9])
        self.assertIn("5 events", logs.output[0])
        self.assertIn("from=5", self.server.requests[-1][1])
        # Any other 400 is still raised.
        self.server.script = [self.desc([0], [10]), (400, {}, {"error": "bad", "code": "InvalidArgument"})]
        with self.assertRaises(ic.BadRequest):
            list(self.client().tail("s", partition=0, from_offset=0, follow=False))

    def test_retry_after_is_capped(self):
        # A day's Retry-After waits max_retry_after (30 s by default), as does a far HTTP date.
        self.server.script = [self.unavailable("86400"),
                              self.unavailable(email.utils.formatdate(time.time() + 86400, usegmt=True))]
        self.client().send("s", [{"a": 1}])
        self.assertEqual(self.sleeps, [30.0, 30.0])
        self.sleeps.clear()
        self.server.script = [self.unavailable("86400")]
        self.client(max_retry_after=2).send("s", [{"a": 1}])
        self.assertEqual(self.sleeps, [2.0])

    def test_retries_stop_at_the_retry_budget(self):
        # 30 s per retry, 70 s of budget: two waits, then the third 503 is raised.
        self.server.script = [self.unavailable("30")] * 5
        with self.assertRaises(ic.ServiceUnavailable) as cm:
            self.client(max_retries=10, retry_budget=70).send("s", [{"a": 1}])
        self.assertEqual(self.sleeps, [30.0, 30.0])
        self.assertEqual(len(self.server.requests), 3)
        self.assertIn("retry_budget", str(cm.exception))

    def test_an_answer_over_max_response_bytes_is_an_error(self):
        body = {"streams": [{"name": "x" * 200}]}
        size = len(json.dumps(body))
        for chunked in (False, True):  # by Content-Length, and by reading (no length given)
            self.server.chunked = chunked
            self.server.script = [(200, {}, body), (200, {}, body), (200, {}, {"streams": []})]
            c = self.client(max_response_bytes=size)
            self.assertEqual(c.streams(), body["streams"])  # exactly the bound: read
            c.max_response_bytes = size - 1
            with self.assertRaises(ic.ResponseTooLarge) as cm:
                c.streams()
            self.assertEqual((cm.exception.limit, cm.exception.status), (size - 1, 200))
            self.assertEqual(c.streams(), [])  # the client goes on, on a new connection
        with self.assertRaises(ValueError):
            ic.Client(self.url, max_response_bytes=0)

    def test_an_endless_answer_is_not_read_to_its_end(self):
        # The client stops reading past its bound: the server can send only what fits in the
        # sockets' buffers before the client hangs up, far from its 256 MiB.
        self.server.endless = True
        self.server.script = [(200, {}, b"")]
        with self.assertRaises(ic.ResponseTooLarge):
            self.client(max_response_bytes=1000).streams()
        for _ in range(100):  # until the server has stopped writing (it sees the closed socket)
            if self._server_done():
                break
        self.assertLess(self.server.written, 64 << 20)

    def _server_done(self):
        before = self.server.written
        time.sleep(0.05)
        return self.server.written == before

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
