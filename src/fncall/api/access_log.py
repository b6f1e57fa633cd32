"""One structured line per request on the `fncall.access` logger, plus request metrics and an id.

The line is logfmt (`key=value`, values quoted when needed): request id, method, path, model, status,
prompt/completion tokens, finish reason and latency. Handlers add what only they know (model, tokens)
to the request's `AccessRecord`, found in `request.state.access`. The id is echoed as `X-Request-ID`
(a client-supplied one is kept when it is short and plain, so callers can correlate).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fncall.api.generation import CompletionStats
from fncall.api.metrics import Metrics

log = logging.getLogger("fncall.access")

_PLAIN = re.compile(r"^[A-Za-z0-9._:/{}@+-]{1,128}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CLIENT_CLOSED = 499  # nginx's status for a client that left before the response started


@dataclass(slots=True)
class AccessRecord:
    request_id: str
    method: str
    path: str
    status: int = 0
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None

    def completed(self, stats: CompletionStats) -> None:
        """Called once per completion: a request with several choices (`n`) adds up their tokens."""
        self.prompt_tokens = stats.prompt_tokens
        self.completion_tokens = (self.completion_tokens or 0) + stats.completion_tokens
        self.finish_reason = stats.outcome

    def line(self, seconds: float) -> str:
        fields = {
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "model": self.model,
            "status": self.status,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.finish_reason,
            "latency_ms": f"{seconds * 1000:.1f}",
        }
        return " ".join(f"{k}={_value(v)}" for k, v in fields.items() if v is not None)


MAX_VALUE = 256  # characters of one field: a scanner's 8 KB path must not make an 8 KB log line


def _value(value: object) -> str:
    text = str(value)[:MAX_VALUE]
    # Client-supplied text (model, path) is quoted so it cannot forge fields or lines.
    return text if _PLAIN.match(text) else json.dumps(text)


def access_record(request: Request) -> AccessRecord | None:
    return getattr(request.state, "access", None)


class AccessLog:
    """Outermost middleware: sees every request, including those refused by auth or limits."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = AccessRecord(_request_id(scope), scope["method"], scope["path"])
        scope.setdefault("state", {})["access"] = record
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", record.request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            record.status = record.status or 500  # the 500 itself is sent by Starlette, outside us
            raise
        finally:
            record.status = record.status or CLIENT_CLOSED
            seconds = time.perf_counter() - started
            self.metrics.observe_request(record.path, record.method, record.status, seconds)
            if log.isEnabledFor(logging.INFO):
                log.info("%s", record.line(seconds))


def _request_id(scope: Scope) -> str:
    given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
    return given if _CLIENT_ID.match(given) else "req_" + secrets.token_hex(12)
