"""`POST /v1/messages` and `/v1/messages/count_tokens`: Anthropic's request → the chat plan → the one
generation path → Anthropic's message, or its SSE events (`event: NAME` lines). Errors on these routes
take Anthropic's shape (errors.error_response picks it by path)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fncall.api.access_log import access_record
from fncall.api.anthropic.events import STOP_REASONS, BlockStream, Event, assemble, usage
from fncall.api.anthropic.protocol import CountTokensRequest, MessagesRequest, parse, to_chat
from fncall.api.completions import GenerationStream, cancel_on_disconnect, new_generation
from fncall.api.errors import APIError, anthropic_body, from_validation_error, model_not_found, server_error
from fncall.api.generation import Done, Generation
from fncall.api.sse import sse_named
from fncall.api.translate import Plan, generation_plan
from fncall.runtime import Runtime


async def _plan(
    request: Request, model: type[MessagesRequest] | type[CountTokensRequest]
) -> tuple[Any, Plan]:
    rt: Runtime = request.app.state.runtime
    req = parse(await request.body(), model)
    record = access_record(request)
    if record is not None:
        record.model = req.model
    if req.model not in rt.names:
        raise model_not_found(req.model)
    try:
        chat = to_chat(req)
        return req, await anyio.to_thread.run_sync(generation_plan, rt, chat)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    except APIError as exc:
        exc.param = exc.param and _param(exc.param)
        raise


def _param(chat_param: str) -> str:
    """Anthropic's name for a chat field: tools[0].function.parameters → tools[0].input_schema."""
    for chat, ours in ((".function.parameters", ".input_schema"), (".function.name", ".name")):
        chat_param = chat_param.replace(chat, ours)
    return chat_param


async def count_tokens(request: Request) -> Response:
    _, plan = await _plan(request, CountTokensRequest)
    return JSONResponse({"input_tokens": len(plan.generation.prompt)})


async def messages(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    req, plan = await _plan(request, MessagesRequest)
    generation = new_generation(request, rt, plan)
    generation.start()
    head = {
        "id": f"msg_{secrets.token_urlsafe(18)}",
        "type": "message",
        "role": "assistant",
        "model": rt.model_id,
    }
    if req.stream:
        start: dict[str, Any] = head | {"content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = {"input_tokens": len(plan.generation.prompt), "output_tokens": 0}
        return GenerationStream(_stream(start, generation), generation)
    watcher = asyncio.create_task(cancel_on_disconnect(request, generation))
    events: list[Event] = []
    try:
        async for event in _events(generation):
            events.append(event)
    finally:
        watcher.cancel()
        generation.cancel()
    end = events[-2]  # message_delta
    return JSONResponse(head | {"content": assemble(events)} | end["delta"] | {"usage": end["usage"]})


async def _events(generation: Generation) -> AsyncIterator[Event]:
    """The content blocks, message_delta, message_stop; raises APIError when cut short."""
    blocks = BlockStream()
    async for item in generation.deltas():
        if not isinstance(item, Done):
            for event in blocks.feed(item):
                yield event
            continue
        if item.error is not None:
            raise server_error(f"The engine failed while generating: {item.error}")
        for event in blocks.close():
            yield event
        reason = "stop_sequence" if item.stop_sequence else STOP_REASONS.get(item.finish_reason, "end_turn")
        stop = {"stop_reason": reason, "stop_sequence": item.stop_sequence}
        yield {"type": "message_delta", "delta": stop, "usage": usage(item.usage)}
        yield {"type": "message_stop"}


sse = sse_named


async def _stream(start: dict[str, Any], generation: Generation) -> AsyncIterator[str]:
    try:
        yield sse({"type": "message_start", "message": start})
        yield sse({"type": "ping"})
        async for event in _events(generation):
            yield sse(event)
    except APIError as exc:
        yield sse(anthropic_body(exc))
    finally:
        generation.cancel()
