"""`POST /v1/responses`: the Responses request → the chat plan → the one generation path → a response
object, or its SSE events (`event: TYPE` lines, each with a `sequence_number`). Nothing is stored yet:
`store` is accepted and answered as false."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fncall.api.access_log import access_record
from fncall.api.completions import GenerationStream, cancel_on_disconnect, new_generation
from fncall.api.errors import APIError, from_validation_error, model_not_found, server_error
from fncall.api.generation import Done, Generation
from fncall.api.responses.events import Event, ItemStream, usage
from fncall.api.responses.protocol import ResponsesRequest, to_chat
from fncall.api.sse import sse_named
from fncall.api.translate import Plan, generation_plan
from fncall.runtime import Runtime


async def _plan(request: Request) -> tuple[ResponsesRequest, Plan]:
    rt: Runtime = request.app.state.runtime
    try:
        req = ResponsesRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    record = access_record(request)
    if record is not None:
        record.model = req.model
    if req.model not in rt.names:
        raise model_not_found(req.model)
    try:
        chat = to_chat(req)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    return req, await anyio.to_thread.run_sync(generation_plan, rt, chat)


def _envelope(rt: Runtime, req: ResponsesRequest) -> dict[str, Any]:
    """The response object before generation: status in_progress, no output yet."""
    return {
        "id": f"resp_{secrets.token_hex(24)}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "model": rt.model_id,
        "output": [],
        "parallel_tool_calls": req.parallel_tool_calls is not False,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": req.temperature,
        "text": {"format": {"type": "text"}},
        "tool_choice": req.tool_choice or "auto",
        "tools": [_echo(tool) for tool in req.tools or ()],
        "top_p": req.top_p,
        "truncation": "disabled",
        "metadata": req.metadata or {},
    } | ({"user": req.user} if req.user is not None else {})


def _echo(tool: dict[str, Any]) -> dict[str, Any]:
    """A function tool as the response lists it: `strict` stated (true unless the request said false)."""
    return {"description": None, "parameters": None} | tool | {"strict": tool.get("strict") is not False}


async def responses(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    req, plan = await _plan(request)
    generation = new_generation(request, rt, plan)
    generation.start()
    response = _envelope(rt, req)
    if req.stream:
        return GenerationStream(_stream(response, generation), generation)
    watcher = asyncio.create_task(cancel_on_disconnect(request, generation))
    try:
        async for event in _events(response, generation):
            last = event
    finally:
        watcher.cancel()
        generation.cancel()
    return JSONResponse(last["response"])


async def _events(response: dict[str, Any], generation: Generation) -> AsyncIterator[Event]:
    """The output items' events, then response.completed (or .incomplete); raises APIError when cut short."""
    items = ItemStream()
    async for item in generation.deltas():
        if not isinstance(item, Done):
            for event in items.feed(item):
                yield event
            continue
        if item.error is not None:
            raise server_error(f"The engine failed while generating: {item.error}")
        for event in items.close():
            yield event
        cut = item.finish_reason == "length"
        response["status"] = "incomplete" if cut else "completed"
        response["incomplete_details"] = {"reason": "max_output_tokens"} if cut else None
        response["output"] = items.output
        response["usage"] = usage(item.usage)
        yield {"type": "response.incomplete" if cut else "response.completed", "response": response}


async def _stream(response: dict[str, Any], generation: Generation) -> AsyncIterator[str]:
    sequence = 0

    def sse(event: Event) -> str:
        nonlocal sequence
        event = event | {"sequence_number": sequence}
        sequence += 1
        return sse_named(event)

    try:
        yield sse({"type": "response.created", "response": dict(response)})
        yield sse({"type": "response.in_progress", "response": dict(response)})
        async for event in _events(response, generation):
            yield sse(event)
    except APIError as exc:
        code = exc.code or exc.type
        yield sse({"type": "error", "code": code, "message": exc.message, "param": exc.param})
    finally:
        generation.cancel()
