"""The Impulse HTTP client (docs/HTTP_API.md), on the standard library only."""

import http.client
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass, field

from . import errors as _errors
from .errors import RejectedLines, ResponseTooLarge, ServiceUnavailable, TransportError

DEFAULT_URL = "http://127.0.0.1:8470"
_log = logging.getLogger("impulse_client")
# A batch is sent when it holds this many events or this many bytes of NDJSON, whichever comes
# first. The engine reports at most 1000 line errors per request (EngineOptions::
# max_line_errors_reported), so with 1000 events a batch every rejected event is listed; 1 MiB
# stays far under the engine's 32 MiB body limit.
DEFAULT_BATCH_EVENTS = 1000
DEFAULT_BATCH_BYTES = 1 << 20
# 503 (backpressure, engine stopping): a request is retried this many times, waiting the
# engine's Retry-After or the backoff, whichever is longer (backoff doubles from
# DEFAULT_BACKOFF_S up to DEFAULT_MAX_BACKOFF_S).
DEFAULT_MAX_RETRIES = 5
DEFAULT_BACKOFF_S = 0.25
DEFAULT_MAX_BACKOFF_S = 10.0
# A server's Retry-After is honoured up to this many seconds (a longer one waits this long), and
# the retries of one request wait at most DEFAULT_RETRY_BUDGET_S in all: past it the 503 is raised,
# so a misbehaving server cannot hold the caller for hours.
DEFAULT_MAX_RETRY_AFTER_S = 30.0
DEFAULT_RETRY_BUDGET_S = 120.0
DEFAULT_TIMEOUT_S = 30.0
# The longest answer body read (ResponseTooLarge past it). The engine's largest answers are reads
# of 10000 events and /metrics, far below it.
DEFAULT_MAX_RESPONSE_BYTES = 64 << 20
# tail: each long-poll of the read route waits up to this long for new events (the engine's
# maximum is 30000, Engine::kWaitReadableMaxMs); it must stay under the socket timeout.
DEFAULT_TAIL_WAIT_MS = 10000
WAIT_MS_MAX = 30000
# The engine's bounds per request (docs/HTTP_API.md).
FEATURE_BATCH_MAX = 1000
READ_LIMIT_MAX = 10000
DECIDE_EVENTS_MAX = 10000


@dataclass
class LineError:
    """A rejected event: `index` in the caller's sequence (0-based), `reason` from the engine."""

    index: int
    reason: str
    batch: int = 0  # which request of the send (0-based)
    line: int = 0  # 1-based line in that request


@dataclass
class SendResult:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: list = field(default_factory=list)  # LineError, ascending index
    errors_truncated: bool = False  # the engine listed only some rejected lines of a request
    requests: int = 0
    retries: int = 0  # 503 answers retried
    last_status: int = 0


@dataclass
class Decision:
    """One event's answer from `decide`: status `decided`, `pending`, `late` or `rejected`."""

    index: int
    status: str
    id: object = None
    output: dict = None  # the pipeline's output row (decided)
    rules: list = field(default_factory=list)  # trigger steps that fired (decided)
    reason: str = None  # why the line was rejected (rejected) or dropped as late (late)


@dataclass
class DecideResult:
    pipeline: str = ""
    id_field: str = ""
    accepted: int = 0
    rejected: int = 0
    decisions: list = field(default_factory=list)  # Decision, one per event, in order
    retries: int = 0

    @property
    def pending(self):
        return [d for d in self.decisions if d.status == "pending"]

    @property
    def late(self):
        return [d for d in self.decisions if d.status == "late"]

    @property
    def decided(self):
        return [d for d in self.decisions if d.status == "decided"]


@dataclass
class InferResult:
    model_name: str
    model_version: str
    id: object
    outputs: dict  # output name -> {"datatype", "shape", "data"}, as the engine sent them
    raw: dict

    def rows(self, name=None):
        """An output tensor as a list of rows (shape [n, K] -> n lists of K; [n] -> n values)."""
        if name is None:
            name = next(iter(self.outputs))
        t = self.outputs[name]
        shape, data = t["shape"], _flatten(t["data"])
        if len(shape) == 2:
            k = shape[1]
            return [data[i * k:(i + 1) * k] for i in range(shape[0])]
        return data


def _flatten(data):
    if not isinstance(data, list):
        return [data]
    out = []
    for x in data:
        if isinstance(x, list):
            out.extend(_flatten(x))
        else:
            out.append(x)
    return out


def _quote(segment):
    return urllib.parse.quote(str(segment), safe="")


def _ndjson_line(event, index):
    if isinstance(event, (bytes, bytearray)):
        event = bytes(event).decode("utf-8")
    if isinstance(event, str):
        line = event.strip("\r\n")
        if "\n" in line:
            raise ValueError(f"event {index}: a pre-serialized event holds a line break")
        if not line.strip():
            raise ValueError(f"event {index}: empty event")
        return line.encode("utf-8")
    try:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ValueError(f"event {index}: not serializable as JSON: {e}") from e


class Client:
    """A connection to one engine. Not thread-safe: use one Client per thread.

    `url` is the engine's base URL (`http://host:8470`); `token` its bearer token (`impulse run
    --token`); `timeout` the socket timeout in seconds for each request.
    """

    def __init__(self, url=DEFAULT_URL, token=None, timeout=DEFAULT_TIMEOUT_S, *, batch_events=DEFAULT_BATCH_EVENTS,
                 batch_bytes=DEFAULT_BATCH_BYTES, max_retries=DEFAULT_MAX_RETRIES, backoff=DEFAULT_BACKOFF_S,
                 max_backoff=DEFAULT_MAX_BACKOFF_S, max_retry_after=DEFAULT_MAX_RETRY_AFTER_S,
                 retry_budget=DEFAULT_RETRY_BUDGET_S, max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"url wants http://HOST:PORT or https://HOST:PORT, got {url!r}")
        if batch_events < 1 or batch_bytes < 1:
            raise ValueError("batch_events and batch_bytes must be positive")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if max_retry_after < 0 or retry_budget < 0:
            raise ValueError("max_retry_after and retry_budget must be >= 0")
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be positive")
        self.url = url.rstrip("/")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port
        self._prefix = parsed.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.batch_events = batch_events
        self.batch_bytes = batch_bytes
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.retry_budget = retry_budget
        self.max_response_bytes = max_response_bytes
        self._conn = None
        self._conn_used = False
        self._sleep = time.sleep  # replaced by tests

    # -- transport ---------------------------------------------------------------------------

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _connection(self):
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout)
            self._conn_used = False
        return self._conn

    def _raw(self, method, path, body=None, query=None, content_type=None):
        """One request; returns (status, headers, body bytes). No status is an error here."""
        target = self._prefix + path
        if query:
            target += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if content_type:
            headers["Content-Type"] = content_type
        # A keep-alive connection the engine closed while idle (its idle timeout, or shed at
        # max_connections) fails before any answer; the engine served nothing of the request
        # (docs/HTTP_API.md, max_connections), so it is sent once more on a new connection.
        for attempt in (0, 1):
            conn = self._connection()
            reused = self._conn_used
            try:
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                data = self._read_body(resp, method, target)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if reused and attempt == 0:
                    continue
                raise TransportError(f"{method} {target}: {e}") from e
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise TransportError(f"{method} {target}: {e}") from e
            self._conn_used = True
            if resp.will_close:
                self.close()
            return resp.status, dict(resp.getheaders()), data
        raise AssertionError("unreachable")

    def _read_body(self, resp, method, target):
        """The answer's body, at most max_response_bytes of it: ResponseTooLarge beyond (the rest is
        not read; the connection is closed by the caller's handler)."""
        limit = self.max_response_bytes
        length = resp.getheader("Content-Length")
        too_large = f"{method} {target}: answer body over max_response_bytes ({limit})"
        if length is not None and length.strip().isdigit() and int(length) > limit:
            self.close()
            raise ResponseTooLarge(f"{too_large}: Content-Length {int(length)}", limit=limit, status=resp.status)
        data = resp.read(limit + 1)  # one byte more tells a body of exactly `limit` from a longer one
        if len(data) > limit:
            self.close()
            raise ResponseTooLarge(too_large, limit=limit, status=resp.status)
        return data

    def _request(self, method, path, body=None, query=None, content_type=None, ok=(200,), retry=True):
        """A request whose status must be in `ok`; 503 retried (at most max_retries times, waiting
        at most retry_budget seconds in all).

        Returns (status, headers, body bytes, retries)."""
        retries = 0
        waited = 0.0
        while True:
            status, headers, data = self._raw(method, path, body, query, content_type)
            if status in ok:
                return status, headers, data, retries
            err = _errors.error_for(status, data, headers)
            if isinstance(err, ServiceUnavailable) and retry and retries < self.max_retries:
                delay = self._retry_delay(err.retry_after, retries)
                if waited + delay > self.retry_budget:
                    err.message += (f" (not retried: {waited + delay:g} s of waiting would pass retry_budget"
                                    f" {self.retry_budget:g} s)")
                    err.args = (err.message,)
                    raise err
                self._sleep(delay)
                waited += delay
                retries += 1
                continue
            raise err

    def _retry_delay(self, retry_after, attempt):
        backoff = min(self.max_backoff, self.backoff * (2 ** attempt))
        return max(min(retry_after or 0.0, self.max_retry_after), backoff)

    def _json(self, method, path, payload=None, query=None, ok=(200,), retry=True):
        body = None if payload is None else json.dumps(payload, separators=(",", ":")).encode("utf-8")
        ctype = "application/json" if body is not None else None
        _, _, data, _ = self._request(method, path, body, query, ctype, ok, retry)
        return json.loads(data.decode("utf-8")) if data else None

    # -- ingest --------------------------------------------------------------------------------

    def _batches(self, events):
        """(first index, [lines]) per request, cut at batch_events events or batch_bytes bytes."""
        lines, size, first = [], 0, 0
        for i, event in enumerate(events):
            line = _ndjson_line(event, i)
            if lines and (len(lines) >= self.batch_events or size + len(line) + 1 > self.batch_bytes):
                yield first, lines
                lines, size, first = [], 0, i
            lines.append(line)
            size += len(line) + 1
        if lines:
            yield first, lines

    def send(self, stream, events, *, raise_on_reject=True):
        """Ingests `events` (dicts, or JSON text one event each) into `stream`, in batches.

        Returns a SendResult once every batch is acknowledged (durable). A batch answered 503 is
        retried after Retry-After (nothing of it was accepted), at most max_retries times, then
        ServiceUnavailable is raised. Rejected events do not stop the send: when any was rejected,
        RejectedLines is raised at the end (`.result.errors`: index in `events` and reason), or,
        with raise_on_reject=False, they are in the returned result. Any other error stops the
        send and is raised with `.result` set to what was sent before it (earlier batches are
        stored; for a 507 `stored_lines` lists the lines of the failed batch that were stored,
        and `.batch_first_index` is the index in `events` of that batch's line 1). An event that
        cannot be serialized raises ValueError naming its index, before its batch is sent.
        """
        result = SendResult()
        path = f"/v1/streams/{_quote(stream)}/events"
        for batch_no, (first, lines) in enumerate(self._batches(events)):
            body = b"\n".join(lines) + b"\n"
            try:
                status, _, data, retries = self._request("POST", path, body, None, "application/x-ndjson",
                                                         ok=(200, 207, 422))
            except _errors.ImpulseError as e:
                e.result = result
                e.batch_first_index = first
                raise
            reply = json.loads(data.decode("utf-8"))
            result.requests += 1
            result.retries += retries
            result.sent += len(lines)
            result.accepted += int(reply.get("accepted", 0))
            result.rejected += int(reply.get("rejected", 0))
            result.errors_truncated |= bool(reply.get("errors_truncated", False))
            result.last_status = status
            for err in reply.get("errors", []):
                line = int(err["line"])
                result.errors.append(LineError(index=first + line - 1, reason=err.get("reason", ""), batch=batch_no,
                                               line=line))
        if result.rejected and raise_on_reject:
            raise RejectedLines(result)
        return result

    def decide(self, stream, pipeline, events, *, id_field=None, timeout_ms=None):
        """Ingests `events` into `stream` and returns pipeline `pipeline`'s decision for each.

        The decision in the response (`POST /v1/streams/{stream}/events?decide=PIPELINE`): a
        DecideResult whose `decisions` hold one Decision per event, in order, with its status
        (`decided`: `output` row and fired `rules`; `pending`: no output within `timeout_ms` after
        the acknowledgement, the event is still processed; `late`: sent to `_late_events`, no
        decision will come, `reason`; `rejected`: `reason`). `id_field`
        names the field that identifies an event (default: the pipeline's event_id).
        Batches as `send` (at most 10000 events per request); 503 retried likewise.
        """
        query = {"decide": pipeline}
        if id_field is not None:
            query["id"] = id_field
        if timeout_ms is not None:
            query["timeout_ms"] = str(int(timeout_ms))
        result = DecideResult(pipeline=pipeline)
        path = f"/v1/streams/{_quote(stream)}/events"
        for first, lines in self._batches(events):
            for start in range(0, len(lines), DECIDE_EVENTS_MAX):
                part = lines[start:start + DECIDE_EVENTS_MAX]
                body = b"\n".join(part) + b"\n"
                try:
                    _, _, data, retries = self._request("POST", path, body, query, "application/x-ndjson",
                                                        ok=(200, 207, 422))
                except _errors.ImpulseError as e:
                    e.result = result
                    e.batch_first_index = first + start
                    raise
                reply = json.loads(data.decode("utf-8"))
                result.retries += retries
                result.id_field = reply.get("id_field", result.id_field)
                result.accepted += int(reply.get("accepted", 0))
                result.rejected += int(reply.get("rejected", 0))
                base = first + start
                for d in reply.get("decisions", []):
                    result.decisions.append(Decision(index=base + int(d["line"]) - 1, status=d["status"],
                                                     id=d.get("id"), output=d.get("output"),
                                                     rules=list(d.get("rules") or []), reason=d.get("reason")))
        return result

    # -- read back -----------------------------------------------------------------------------

    def read(self, stream, partition, from_offset=0, limit=100, *, wait_ms=0):
        """Up to `limit` (1..10000) events of one partition from `from_offset`, as dicts with
        `_offset`, `_partition`, `_event_time` and the fields. Offsets of pipeline-written
        streams are not dense: continue from the last `_offset` + 1. With `wait_ms` (0..30000)
        and no event yet, the engine answers as soon as one is readable or after wait_ms."""
        query = {"partition": str(int(partition)), "from": str(int(from_offset)), "limit": str(int(limit))}
        if wait_ms:
            query["wait_ms"] = str(int(wait_ms))
        _, _, data, _ = self._request("GET", f"/v1/streams/{_quote(stream)}/events", query=query)
        return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]

    def read_cursor(self, stream, cursor="beginning", limit=100, *, wait_ms=0):
        """Up to `limit` events of every partition from `cursor` ("beginning", "end", or the
        `cursor` of a previous answer), waiting up to `wait_ms` for one when there is none: the
        engine's answer as a dict with `events`, `cursor` (pass it back to continue), `end_offsets`,
        `caught_up` and `skipped` (docs/HTTP_API.md, "Every partition")."""
        query = {"cursor": cursor, "limit": str(int(limit))}
        if wait_ms:
            query["wait_ms"] = str(int(wait_ms))
        return self._json("GET", f"/v1/streams/{_quote(stream)}/events", query=query)

    def stream(self, name):
        """The description of one stream (`GET /v1/streams/{name}`: fields, partitions with
        start and end offsets, retention, readers and writers); NotFound when unknown."""
        return self._json("GET", f"/v1/streams/{_quote(name)}")

    def tail(self, stream, partition=None, from_offset="end", *, follow=True, limit=1000,
             wait_ms=DEFAULT_TAIL_WAIT_MS):
        """Yields the events of `stream` as they are acknowledged, by long-polling the read route.

        `partition`: one partition, or None for all of them (the cursor form of
        `GET /v1/streams/{s}/events`: one request reads every partition). `from_offset`: "end"
        (only new events), "start" (everything retained), or an offset (the same for every
        partition; past a partition's end, its end), taken when tail is called. With
        follow=False the generator ends once it has reached the ends seen when it was called;
        otherwise each request waits up to `wait_ms` (1..30000, below the client's timeout) for
        new events, until the generator is closed. Events of one partition come in offset order.
        Events removed by the stream's retention before the tail read them are skipped, with a
        warning on the `impulse_client` logger naming how many.
        """
        wait_ms = int(wait_ms)
        if follow and not 0 < wait_ms <= WAIT_MS_MAX:
            raise ValueError(f"wait_ms must be in 1..{WAIT_MS_MAX}, got {wait_ms}")
        if follow and self.timeout is not None and wait_ms / 1000.0 >= self.timeout:
            raise ValueError(f"wait_ms {wait_ms} must be shorter than the client's timeout ({self.timeout} s)")
        parts = sorted(self.stream(stream)["partitions"], key=lambda q: q["partition"])
        ends = [int(q["end_offset"]) for q in parts]
        if partition is not None and not 0 <= int(partition) < len(parts):
            raise _errors.BadRequest(f"stream '{stream}' has no partition {partition} (it has {len(parts)})",
                                     status=400, code="OutOfRange")
        if from_offset == "end":
            start = list(ends)
        elif from_offset in ("start", "beginning"):  # "beginning" as in read_cursor
            start = [int(q["start_offset"]) for q in parts]
        elif isinstance(from_offset, int) and not isinstance(from_offset, bool) and from_offset >= 0:
            start = [min(from_offset, e) for e in ends]
        else:
            raise ValueError(f"from_offset must be 'end', 'start' (or 'beginning') or an offset >= 0, "
                             f"got {from_offset!r}")
        limit = max(1, min(int(limit), READ_LIMIT_MAX))
        wait = wait_ms if follow else 0
        if partition is None:
            return self._tail_all(stream, start, ends, follow, limit, wait)
        p = int(partition)
        return self._tail_one(stream, p, start[p], ends[p], follow, limit, wait)

    def _tail_all(self, stream, start, ends, follow, limit, wait_ms):
        cursor = ",".join(str(o) for o in start)
        while True:
            reply = self.read_cursor(stream, cursor, limit, wait_ms=wait_ms)
            skipped = int(reply.get("skipped", 0))
            if skipped:
                _log.warning("stream %s: %d events removed by retention before they were read", stream, skipped)
            yield from reply["events"]
            cursor = reply["cursor"]
            if not follow:
                at = [int(x) for x in cursor.split(",")]
                if reply.get("caught_up") or all(a >= e for a, e in zip(at, ends)):
                    return

    def _tail_one(self, stream, p, pos, end, follow, limit, wait_ms):
        while True:
            if not follow and pos >= end:
                return
            try:
                rows = self.read(stream, p, pos, limit, wait_ms=wait_ms)
            except _errors.BadRequest as e:
                if e.code != "OutOfRange":
                    raise
                # Retention removed the position before it was read: go on from the partition's
                # start, saying how much was missed.
                first = next((int(q["start_offset"]) for q in self.stream(stream)["partitions"]
                              if q["partition"] == p), None)
                if first is None or pos >= first:
                    raise
                _log.warning("stream %s partition %d: %d events removed by retention before they were read",
                             stream, p, first - pos)
                pos = first
                continue
            if not rows:
                if not follow:
                    return  # only watermark markers before `end` (pipeline-written streams)
                continue  # the wait ended with nothing new: wait again
            yield from rows
            pos = int(rows[-1]["_offset"]) + 1

    # -- features, decisions, models -------------------------------------------------------------

    def features(self, view, entity):
        """The online features of one entity (a dict with `found`, `features`, `as_of`...), or of
        a list of entities (a list of such dicts in request order, by the batch route in chunks of
        1000). An entity without values is returned with `found` False and a `reason`; an
        unknown view raises NotFound."""
        if isinstance(entity, (list, tuple)):
            out = []
            path = f"/v1/features/{_quote(view)}:batch"
            for i in range(0, len(entity), FEATURE_BATCH_MAX):
                chunk = [e if isinstance(e, (int, str)) and not isinstance(e, bool) else str(e)
                         for e in entity[i:i + FEATURE_BATCH_MAX]]
                reply = self._json("POST", path, {"entities": chunk})
                out.extend(reply["results"])
            return out
        status, _, data, _ = self._request("GET", f"/v1/features/{_quote(view)}/{_quote(entity)}", ok=(200, 404))
        body = json.loads(data.decode("utf-8"))
        if status == 404 and "found" not in body:
            raise _errors.error_for(status, data, {})
        return body

    def feature_views(self):
        return self._json("GET", "/v1/features")["views"]

    def decision(self, stream, event_id):
        """The decision records of one event from a decision log (`GET /v1/decisions/...`):
        a dict with `records`, oldest first; NotFound for an unknown stream or id."""
        return self._json("GET", f"/v1/decisions/{_quote(stream)}/{_quote(event_id)}")

    def infer(self, model, rows, version=None, *, outputs=None, request_id=None, datatype="FP64"):
        """Scores `rows` with a model of the engine's repository (KServe v2 infer).

        `rows`: a list of lists (one tensor [n, N], the model's inputs in config order) or a list
        of dicts (one tensor per input name; a missing key or None is a missing value, which the
        model's config default or NaN replaces). Returns an InferResult: `rows()` gives the
        scores per row."""
        rows = list(rows)
        if rows and isinstance(rows[0], dict):
            names = []
            for r in rows:
                for k in r:
                    if k not in names:
                        names.append(k)
            inputs = [{"name": n, "shape": [len(rows)], "datatype": datatype, "data": [r.get(n) for r in rows]}
                      for n in names]
        else:
            width = len(rows[0]) if rows else 0
            inputs = [{"name": "input", "shape": [len(rows), width], "datatype": datatype,
                       "data": [list(r) for r in rows]}]
        payload = {"inputs": inputs}
        if request_id is not None:
            payload["id"] = request_id
        if outputs:
            payload["outputs"] = [{"name": o} for o in outputs]
        path = f"/v2/models/{_quote(model)}"
        if version is not None:
            path += f"/versions/{_quote(version)}"
        reply = self._json("POST", path + "/infer", payload)
        outs = {o["name"]: o for o in reply.get("outputs", [])}
        return InferResult(model_name=reply.get("model_name"), model_version=reply.get("model_version"),
                           id=reply.get("id"), outputs=outs, raw=reply)

    def load_model(self, model, version):
        """Loads (or reloads from its files) one version whatever the version policy
        (`POST /v1/models/{m}/versions/{v}:load`): {"ok", "model", "version", "state"}.
        Unprocessable when the model file does not load (a serving copy stays)."""
        return self._json("POST", f"/v1/models/{_quote(model)}/versions/{int(version)}:load", retry=False)

    def unload_model(self, model, version):
        return self._json("POST", f"/v1/models/{_quote(model)}/versions/{int(version)}:unload", retry=False)

    def rescan_models(self):
        """Re-reads the repository (`POST /v1/models:rescan`): {"ok", "ready", "failed"}."""
        return self._json("POST", "/v1/models:rescan", retry=False)

    def model_metadata(self, model, version=None):
        path = f"/v2/models/{_quote(model)}"
        if version is not None:
            path += f"/versions/{_quote(version)}"
        return self._json("GET", path)

    # -- listings and health ---------------------------------------------------------------------

    def streams(self):
        """Every stream: name, fields, key, event_time, partitions with start and end offsets."""
        return self._json("GET", "/v1/streams")["streams"]

    def models(self):
        """The model repository's versions and their state (`GET /v1/models`)."""
        return self._json("GET", "/v1/models")["models"]

    def health(self):
        """True when the engine answers `GET /healthz` (which needs no token); raises otherwise."""
        _, _, data, _ = self._request("GET", "/healthz", retry=False)
        return data.decode("utf-8").strip() == "ok"

    def ready(self):
        """KServe readiness: True when every model has a ready version, False on 503."""
        status, _, _, _ = self._request("GET", "/v2/health/ready", ok=(200, 503), retry=False)
        return status == 200

    def metrics(self, parsed=False):
        """`GET /metrics`: the Prometheus text, or with parsed=True a Metrics object."""
        _, _, data, _ = self._request("GET", "/metrics", retry=False)
        text = data.decode("utf-8")
        return parse_metrics(text) if parsed else text

    # -- pandas ------------------------------------------------------------------------------

    def read_frame(self, stream, partition=None, from_offset="start", limit=1000):
        """Every event of `stream` (or one partition) up to its current end, as a pandas
        DataFrame. ImportError when pandas is not installed."""
        from .frame import to_dataframe
        return to_dataframe(self.tail(stream, partition, from_offset, follow=False, limit=limit))


class Metrics:
    """Prometheus samples by family name: `samples[name]` is a list of (labels dict, value)."""

    def __init__(self, samples):
        self.samples = samples

    def get(self, name, **labels):
        """The sum of the samples of `name` whose labels include `labels` (0.0 when none)."""
        total = 0.0
        for lab, value in self.samples.get(name, []):
            if all(lab.get(k) == v for k, v in labels.items()):
                total += value
        return total

    def __contains__(self, name):
        return name in self.samples


def _parse_labels(s):
    labels, i, n = {}, 0, len(s)
    while i < n:
        while i < n and s[i] in " ,":
            i += 1
        if i >= n:
            break
        eq = s.index("=", i)
        key = s[i:eq].strip()
        i = eq + 1
        if s[i] != '"':
            raise ValueError(f"label {key}: value not quoted")
        i += 1
        val = []
        while s[i] != '"':
            if s[i] == "\\":
                i += 1
                val.append({"n": "\n", "\\": "\\", '"': '"'}.get(s[i], s[i]))
            else:
                val.append(s[i])
            i += 1
        labels[key] = "".join(val)
        i += 1
    return labels


def parse_metrics(text):
    """Parses Prometheus text format 0.0.4 into a Metrics object."""
    samples = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            close = rest.rindex("}")
            labels = _parse_labels(rest[:close])
            value = rest[close + 1:].split()[0]
        else:
            name, value = line.split()[:2]
            labels = {}
        samples.setdefault(name.strip(), []).append((labels, float(value)))
    return Metrics(samples)
