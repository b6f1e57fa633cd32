"""`POST /v1/chat/completions`: submit to the engine, then answer as one JSON body or as SSE chunks."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from fncall.api.choices import ChoiceBuilder, Delta, merge
from fncall.api.errors import APIError, from_validation_error, model_not_found, server_error
from fncall.api.protocol import ChatCompletionRequest
from fncall.api.sse import DONE, sse_event
from fncall.api.translate import generation_plan
from fncall.engine.engine import PromptTooLong
from fncall.engine.scheduler import QueueFull
from fncall.engine.sequence import Event, Finished, Sequence, TextDelta
from fncall.runtime import Runtime


class EventBridge:
    """Carries engine events (emitted on the engine thread) into this request's asyncio queue."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    def emit(self, event: Event) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed at shutdown: nobody is listening
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            yield event
            if isinstance(event, Finished):
                return


@dataclass(slots=True, frozen=True)
class Meta:
    """What every response and chunk of one completion repeats."""

    id: str
    created: int
    model: str
    fingerprint: str

    def envelope(self, obj: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.fingerprint,
        }


def usage(done: Finished) -> dict[str, Any]:
    return {
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": done.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


async def parse_request(request: Request) -> ChatCompletionRequest:
    body = await request.body()
    try:
        return ChatCompletionRequest.model_validate_json(body)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


async def chat_completions(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    req = await parse_request(request)
    if req.model not in rt.names:
        raise model_not_found(req.model)
    plan = await anyio.to_thread.run_sync(generation_plan, rt, req)
    bridge = EventBridge()
    try:
        seq = rt.engine.submit(plan.generation, bridge.emit)
    except PromptTooLong as exc:
        raise APIError(str(exc), param="messages", code="context_length_exceeded") from exc
    except QueueFull as exc:
        raise APIError(
            f"The server is busy ({exc}); retry shortly.",
            status=429,
            type="rate_limit_error",
            code="rate_limit_exceeded",
            headers={"Retry-After": "1"},
        ) from exc
    meta = Meta(f"chatcmpl-{secrets.token_urlsafe(18)}", int(time.time()), rt.model_id, rt.fingerprint)
    builder = ChoiceBuilder(plan.tools, rt.tool_format.syntax)
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(
            _stream(meta, seq, bridge, builder, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await _complete(request, meta, seq, bridge, builder)


async def _complete(
    request: Request, meta: Meta, seq: Sequence, bridge: EventBridge, builder: ChoiceBuilder
) -> Response:
    watcher = asyncio.create_task(_cancel_on_disconnect(request, seq))
    deltas: list[Delta] = []
    try:
        async for event in bridge.events():
            if isinstance(event, TextDelta):
                deltas += builder.feed(event.text)
            else:
                done = event
                deltas += builder.finish()
    finally:
        watcher.cancel()
        seq.cancel()  # no-op when finished; frees the slot if this handler was cancelled
    if done.reason == "error":
        raise server_error(f"The engine failed while generating: {done.error}")
    body = meta.envelope("chat.completion") | {
        "choices": [
            {
                "index": 0,
                "message": merge(deltas),
                "logprobs": None,
                "finish_reason": builder.finish_reason(done.reason),
            }
        ],
        "usage": usage(done),
    }
    return JSONResponse(body)


async def _cancel_on_disconnect(request: Request, seq: Sequence) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            seq.cancel()
            return


async def _stream(
    meta: Meta, seq: Sequence, bridge: EventBridge, builder: ChoiceBuilder, include_usage: bool
) -> AsyncIterator[str]:
    """SSE body; starlette cancels this generator when the client disconnects, which cancels the sequence."""
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse_event(meta.envelope("chat.completion.chunk") | {"choices": [choice]} | extra)

    try:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        async for event in bridge.events():
            if isinstance(event, TextDelta):
                for delta in builder.feed(event.text):
                    yield chunk(delta)
            elif event.reason == "error":
                yield sse_event(server_error(f"The engine failed while generating: {event.error}").body())
                return
            else:
                for delta in builder.finish():
                    yield chunk(delta)
                yield chunk({}, builder.finish_reason(event.reason))
                if include_usage:
                    yield sse_event(
                        meta.envelope("chat.completion.chunk") | {"choices": [], "usage": usage(event)}
                    )
        yield DONE
    finally:
        seq.cancel()
