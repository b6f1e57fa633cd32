"""Request body size limit: a body over `--max-body-bytes` is refused with 413 before it is parsed.

A declared `Content-Length` over the limit is refused at once; a chunked body is counted as it is
read and refused the moment it passes the limit, so memory never holds more than the limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fncall.api.errors import body_too_large, error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(body_too_large(self.max_bytes), scope["path"])(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise body_too_large(self.max_bytes)  # surfaces in the handler's read of the body
            return message

        await self.app(scope, counted, send)
