"""Python client of the Impulse engine's HTTP API (docs/HTTP_API.md), standard library only.

    from impulse_client import Client
    c = Client("http://127.0.0.1:8470", token=None)
    c.send("transactions", events)
"""

from .client import (DEFAULT_BACKOFF_S, DEFAULT_BATCH_BYTES, DEFAULT_BATCH_EVENTS, DEFAULT_MAX_BACKOFF_S,
                     DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_AFTER_S,
                     DEFAULT_RETRY_BUDGET_S, DEFAULT_TAIL_WAIT_MS, DEFAULT_TIMEOUT_S, Client, DecideResult, Decision, InferResult, LineError,
                     Metrics, SendResult, parse_metrics)
from .errors import (BadRequest, Conflict, HeadersTooLarge, ImpulseError, InsufficientStorage, InternalServerError,
                     MethodNotAllowed, NotFound, PayloadTooLarge, RejectedLines, ResponseTooLarge, ServiceUnavailable,
                     TransportError,
                     Unauthorized, Unimplemented, Unprocessable)
from .frame import to_dataframe

__version__ = "0.1.0"

__all__ = [
    "Client", "SendResult", "LineError", "DecideResult", "Decision", "InferResult", "Metrics", "parse_metrics",
    "to_dataframe", "ImpulseError", "TransportError", "BadRequest", "Unauthorized", "NotFound", "MethodNotAllowed",
    "Conflict", "PayloadTooLarge", "Unprocessable", "HeadersTooLarge", "InternalServerError", "Unimplemented",
    "ServiceUnavailable", "InsufficientStorage", "RejectedLines", "ResponseTooLarge", "DEFAULT_BATCH_EVENTS", "DEFAULT_BATCH_BYTES",
    "DEFAULT_MAX_RETRIES", "DEFAULT_BACKOFF_S", "DEFAULT_MAX_BACKOFF_S", "DEFAULT_TIMEOUT_S",
    "DEFAULT_MAX_RETRY_AFTER_S", "DEFAULT_RETRY_BUDGET_S", "DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_TAIL_WAIT_MS",
]
