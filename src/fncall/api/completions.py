"""`POST /v1/chat/completions`: submit to the engine, then answer as one JSON body or as SSE chunks."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from fncall.api import legacy_functions
from fncall.api.access_log import access_record
from fncall.api.choices import Delta, merge
from fncall.api.errors import APIError, from_validation_error, model_not_found, server_error
from fncall.api.generation import CompletionStats, Done, Generation
from fncall.api.metrics import Metrics
from fncall.api.protocol import ChatCompletionRequest
from fncall.api.shutdown import Admission
from fncall.api.sse import DONE, sse_event
from fncall.api.translate import Plan, generation_plan
from fncall.config import ServerConfig
from fncall.runtime import Runtime


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


async def parse_request(request: Request) -> ChatCompletionRequest:
    body = await request.body()
    try:
        return ChatCompletionRequest.model_validate_json(body)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


async def plan_request(request: Request) -> tuple[ChatCompletionRequest, Plan]:
    """Parses, checks and plans a chat request: whatever a client can get wrong before generation
    starts raises an APIError here (the playground's dry run calls it too)."""
    rt: Runtime = request.app.state.runtime
    req = await parse_request(request)
    record = access_record(request)
    if record is not None:
        record.model = req.model
    if req.model not in rt.names:
        raise model_not_found(req.model)
    _refuse_custom_tools(req)
    return req, await anyio.to_thread.run_sync(generation_plan, rt, req)


def _refuse_custom_tools(req: ChatCompletionRequest) -> None:
    """Custom tools run through the pipeline for /v1/responses, but chat has no shape for their calls
    here yet (they would come back as function calls): refused rather than misrepresented."""
    for i, tool in enumerate(req.tools or ()):
        if isinstance(tool, dict) and tool.get("type") == "custom":
            raise APIError(
                f"'tools[{i}].type' 'custom' is not supported on chat completions here; custom tools run "
                "on /v1/responses. Send 'function' tools.",
                param=f"tools[{i}].type",
            )


async def chat_completions(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    req, plan = await plan_request(request)
    generation = new_generation(request, rt, plan)
    generation.start()
    # The response names the model as the request did (one of its aliases), like vLLM and OpenAI.
    meta = Meta(f"chatcmpl-{secrets.token_urlsafe(18)}", int(time.time()), req.model, rt.fingerprint)
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        legacy = legacy_functions.is_legacy(req)
        return GenerationStream(_stream(meta, generation, include_usage, legacy=legacy), generation)
    return await _complete(request, meta, generation, legacy=legacy_functions.is_legacy(req))


class GenerationStream(StreamingResponse):
    """SSE response that cancels its generation however it ends, even if its body never started (a
    client gone before the first chunk), so that no sequence runs on for nobody."""

    def __init__(self, content: AsyncIterator[str], generation: Generation) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.generation = generation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.generation.cancel()


def new_generation(request: Request, rt: Runtime, plan: Plan) -> Generation:
    config: ServerConfig = request.app.state.config
    metrics: Metrics = request.app.state.metrics
    record = access_record(request)

    def on_end(stats: CompletionStats) -> None:
        metrics.observe_completion(stats)
        if record is not None:
            record.completed(stats)

    generation = Generation(rt, plan, timeout=config.request_timeout or None, on_end=on_end)
    admission: Admission = request.app.state.admission
    admission.track(generation)
    return generation


async def _complete(request: Request, meta: Meta, generation: Generation, *, legacy: bool) -> Response:
    watcher = asyncio.create_task(cancel_on_disconnect(request, generation))
    deltas: list[Delta] = []
    try:
        async for item in generation.deltas():
            if isinstance(item, Done):
                done = item
            else:
                deltas.append(item)
    finally:
        watcher.cancel()
        generation.cancel()  # no-op when finished; frees the slot if this handler was cancelled
    if done.error is not None:
        raise server_error(f"The engine failed while generating: {done.error}")
    message, finish = merge(deltas), done.finish_reason
    if legacy:
        message, finish = legacy_functions.message(message), legacy_functions.finish_reason(finish)
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return JSONResponse(meta.envelope("chat.completion") | {"choices": [choice], "usage": done.usage})


async def cancel_on_disconnect(request: Request, generation: Generation) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            generation.cancel()
            return


async def _stream(
    meta: Meta, generation: Generation, include_usage: bool, *, legacy: bool = False
) -> AsyncIterator[str]:
    """SSE body; starlette cancels this generator when the client disconnects, which cancels the sequence."""
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse_event(meta.envelope("chat.completion.chunk") | {"choices": [choice]} | extra)

    try:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        async for item in _guarded(generation):
            if isinstance(item, APIError):
                yield sse_event(item.body())
                return
            if not isinstance(item, Done):
                yield chunk(legacy_functions.delta(item) if legacy else item)
            elif item.error is not None:
                yield sse_event(server_error(f"The engine failed while generating: {item.error}").body())
                return
            else:
                finish = legacy_functions.finish_reason(item.finish_reason) if legacy else item.finish_reason
                yield chunk({}, finish)
                if include_usage:
                    yield sse_event(
                        meta.envelope("chat.completion.chunk") | {"choices": [], "usage": item.usage}
                    )
        yield DONE
    finally:
        generation.cancel()


async def _guarded(generation: Generation) -> AsyncIterator[Delta | Done | APIError]:
    """Deltas, with a mid-stream client-facing error (timeout, shutdown, a retry refused by a full
    queue) as the last item: the stream ends with it as an error event."""
    try:
        async for item in generation.deltas():
            yield item
    except APIError as exc:
        yield exc
