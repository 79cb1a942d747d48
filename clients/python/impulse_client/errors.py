"""Exceptions of the Impulse client: one class per HTTP status the engine answers with.

Every error the engine sends has a JSON body `{"error": "...", "code": "..."}` (docs/HTTP_API.md);
the exception keeps it whole (`body`), its `code` and its message. Branch on the class or on
`code`, never on the message text.
"""


class ImpulseError(Exception):
    """An error answer from the engine, or no answer at all (status None)."""

    status = None

    def __init__(self, message, status=None, code=None, body=None, headers=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.code = code
        self.body = body
        self.headers = dict(headers or {})

    def __str__(self):
        parts = []
        if self.status is not None:
            parts.append(str(self.status))
        if self.code:
            parts.append(self.code)
        prefix = " ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class TransportError(ImpulseError):
    """The request got no HTTP answer (connection refused, reset, timed out)."""


class ResponseTooLarge(ImpulseError):
    """The answer's body was longer than the client's `max_response_bytes` (`limit`): not read
    further, and the connection closed. `status` is the answer's HTTP status."""

    def __init__(self, message, limit=None, **kw):
        super().__init__(message, **kw)
        self.limit = limit


class BadRequest(ImpulseError):
    status = 400


class Unauthorized(ImpulseError):
    status = 401


class NotFound(ImpulseError):
    status = 404


class MethodNotAllowed(ImpulseError):
    status = 405


class Conflict(ImpulseError):
    status = 409


class PayloadTooLarge(ImpulseError):
    status = 413


class Unprocessable(ImpulseError):
    status = 422


class HeadersTooLarge(ImpulseError):
    status = 431


class InternalServerError(ImpulseError):
    status = 500


class Unimplemented(ImpulseError):
    status = 501


class ServiceUnavailable(ImpulseError):
    """503: backpressure, the engine stopping, or a model with no ready version.

    `retry_after` is the engine's Retry-After in seconds (None when it sent none). For ingest,
    nothing of the request was accepted.
    """

    status = 503

    def __init__(self, message, retry_after=None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class InsufficientStorage(ImpulseError):
    """507: the engine's disk is full. `stored_lines` (1-based lines of the request that were
    stored anyway) is empty when nothing of the request was stored."""

    status = 507

    def __init__(self, message, stored_lines=None, **kw):
        super().__init__(message, **kw)
        self.stored_lines = list(stored_lines or [])


class RejectedLines(ImpulseError):
    """Some events of a `send` were rejected by the engine (answered 207 or 422).

    The accepted ones are stored; the rejected ones are in the engine's `_dead_letter` stream.
    `result` is the whole SendResult: `result.errors` lists each rejected event with its index
    in the caller's sequence and the engine's reason.
    """

    def __init__(self, result):
        first = result.errors[0] if result.errors else None
        detail = f"; first: event {first.index}: {first.reason}" if first else ""
        more = " (the engine listed only some of them)" if result.errors_truncated else ""
        super().__init__(f"{result.rejected} of {result.sent} events rejected{more}{detail}",
                         status=result.last_status, code="InvalidArgument")
        self.result = result
        self.errors = result.errors


_BY_STATUS = {cls.status: cls for cls in (BadRequest, Unauthorized, NotFound, MethodNotAllowed, Conflict,
                                          PayloadTooLarge, Unprocessable, HeadersTooLarge, InternalServerError,
                                          Unimplemented, ServiceUnavailable, InsufficientStorage)}


def _retry_after_seconds(value):
    """Retry-After as seconds: a delay in seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    import email.utils
    import time
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def error_for(status, body_bytes, headers):
    """The exception for an error answer: its class by status, its message and code from the body."""
    import json
    body = None
    message = ""
    code = None
    text = body_bytes.decode("utf-8", "replace") if body_bytes else ""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("error", "")) or text
        code = body.get("code")
    else:
        body = text
        message = text.strip()
    if not message:
        message = f"HTTP {status}"
    cls = _BY_STATUS.get(status)
    kw = dict(status=status, code=code, body=body, headers=headers)
    if cls is ServiceUnavailable:
        return ServiceUnavailable(message, retry_after=_retry_after_seconds(_header(headers, "Retry-After")), **kw)
    if cls is InsufficientStorage:
        stored = body.get("stored_lines") if isinstance(body, dict) else None
        return InsufficientStorage(message, stored_lines=stored, **kw)
    if cls is None:
        return ImpulseError(message, **kw)
    return cls(message, **kw)


def _header(headers, name):
    lname = name.lower()
    for k, v in (headers or {}).items():
        if k.lower() == lname:
            return v
    return None
