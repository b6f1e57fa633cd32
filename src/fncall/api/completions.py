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
from fncall.api.choices import Delta, merge, merged_logprobs
from fncall.api.errors import APIError, from_validation_error, model_not_found, server_error
from fncall.api.fanout import interleave, start_all, total_usage
from fncall.api.generation import CompletionStats, Done, Generation
from fncall.api.logprobs import Piece, chat_logprobs
from fncall.api.metrics import Metrics
from fncall.api.protocol import ChatCompletionRequest
from fncall.api.shutdown import Admission
from fncall.api.sse import DONE, sse_event
from fncall.api.translate import Plan, for_choice, generation_plan
from fncall.config import ServerConfig
from fncall.engine.sampling import TokenLogprob
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
    check_n(req.n, request.app.state.config)
    return req, await anyio.to_thread.run_sync(generation_plan, rt, req)


def check_n(n: int | None, config: ServerConfig) -> None:
    if n is not None and n > config.max_n:
        raise APIError(
            f"'n' is at most {config.max_n} on this server (--max-n).", param="n", code="invalid_value"
        )


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
    generations = [new_generation(request, rt, for_choice(plan, i)) for i in range(req.n or 1)]
    start_all(generations)
    # The response names the model as the request did (one of its aliases), like vLLM and OpenAI.
    meta = Meta(f"chatcmpl-{secrets.token_urlsafe(18)}", int(time.time()), req.model, rt.fingerprint)
    shape = Shape(legacy_functions.is_legacy(req), bool(req.logprobs), rt.model.piece)
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return GenerationStream(_stream(meta, generations, include_usage, shape), *generations)
    return await _complete(request, meta, generations, shape)


@dataclass(slots=True, frozen=True)
class Shape:
    """How a choice is written: the legacy `function_call` shape, with log probabilities or not."""

    legacy: bool
    logprobs: bool
    piece: Piece

    def logprobs_of(self, entries: list[TokenLogprob] | None) -> dict[str, Any] | None:
        if not self.logprobs:
            return None
        return chat_logprobs(entries or [], self.piece)


class GenerationStream(StreamingResponse):
    """SSE response that cancels its generation however it ends, even if its body never started (a
    client gone before the first chunk), so that no sequence runs on for nobody."""

    def __init__(self, content: AsyncIterator[str], *generations: Generation) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.generations = generations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            for generation in self.generations:
                generation.cancel()


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


async def _complete(request: Request, meta: Meta, generations: list[Generation], shape: Shape) -> Response:
    watcher = asyncio.create_task(cancel_on_disconnect(request, *generations))
    deltas: list[list[Delta]] = [[] for _ in generations]
    done: list[Done | None] = [None] * len(generations)
    try:
        async for index, item in interleave(generations):
            if isinstance(item, APIError):
                raise item
            if isinstance(item, Done):
                done[index] = item
            else:
                deltas[index].append(item)
    finally:
        watcher.cancel()
        for generation in generations:  # no-op when finished; frees the slot if this handler was cancelled
            generation.cancel()
    ended = [d for d in done if d is not None]
    if len(ended) < len(done):
        raise server_error("A completion ended without its result.")
    for d in ended:
        if d.error is not None:
            raise server_error(f"The engine failed while generating: {d.error}")
    choices = [_choice(i, deltas[i], d, shape) for i, d in enumerate(ended)]
    usage = total_usage([d.usage for d in ended], len(ended))
    return JSONResponse(meta.envelope("chat.completion") | {"choices": choices, "usage": usage})


def _choice(index: int, deltas: list[Delta], done: Done, shape: Shape) -> dict[str, Any]:
    message, finish = merge(deltas), done.finish_reason
    if shape.legacy:
        message, finish = legacy_functions.message(message), legacy_functions.finish_reason(finish)
    logprobs = shape.logprobs_of(merged_logprobs(deltas))
    return {"index": index, "message": message, "logprobs": logprobs, "finish_reason": finish}


async def cancel_on_disconnect(request: Request, *generations: Generation) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            for generation in generations:
                generation.cancel()
            return


async def _stream(
    meta: Meta, generations: list[Generation], include_usage: bool, shape: Shape
) -> AsyncIterator[str]:
    """SSE body; starlette cancels this generator when the client disconnects, which cancels the sequences.

    Each choice's chunks carry its `index`; with several choices their chunks interleave as they come."""
    extra = {"usage": None} if include_usage else {}

    def chunk(index: int, delta: Delta, finish_reason: str | None = None) -> str:
        entries = delta.pop("logprobs", None)
        logprobs = shape.logprobs_of(entries) if entries is not None else None
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
        return sse_event(meta.envelope("chat.completion.chunk") | {"choices": [choice]} | extra)

    usages: list[dict[str, Any]] = [{}] * len(generations)
    try:
        for index in range(len(generations)):
            yield chunk(index, {"role": "assistant", "content": "", "refusal": None})
        async for index, item in interleave(generations):
            if isinstance(item, APIError):
                yield sse_event(item.body())
                return
            if not isinstance(item, Done):
                yield chunk(index, legacy_functions.delta(item) if shape.legacy else item)
            elif item.error is not None:
                yield sse_event(server_error(f"The engine failed while generating: {item.error}").body())
                return
            else:
                finish = item.finish_reason
                yield chunk(index, {}, legacy_functions.finish_reason(finish) if shape.legacy else finish)
                usages[index] = item.usage
        if include_usage:
            usage = total_usage(usages, len(usages))
            yield sse_event(meta.envelope("chat.completion.chunk") | {"choices": [], "usage": usage})
        yield DONE
    finally:
        for generation in generations:
            generation.cancel()
