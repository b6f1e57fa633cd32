"""`POST /v1/responses`: the Responses request → the chat plan → the one generation path → a response
object, or its SSE events (`event: TYPE` lines, each with a `sequence_number`).

With `store` (the default) the finished response and its input items are written to the store
(`store.py`, in a worker thread) before the client is told it is complete: the last event or the JSON
body. `previous_response_id` puts that response's stored input and output before the new input."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fncall.api.access_log import access_record
from fncall.api.auth import tenant
from fncall.api.completions import GenerationStream, cancel_on_disconnect, new_generation
from fncall.api.errors import APIError, from_validation_error, model_not_found, server_error
from fncall.api.generation import Done, Generation
from fncall.api.responses.events import Event, ItemStream, usage
from fncall.api.responses.items import request_items, stored_items
from fncall.api.responses.protocol import ResponsesRequest, chat_error, to_chat
from fncall.api.responses.store import ResponseStore
from fncall.api.sse import sse_named
from fncall.api.translate import Plan, generation_plan
from fncall.runtime import Runtime

Saver = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(slots=True, frozen=True)
class _Request:
    req: ResponsesRequest
    plan: Plan
    items: list[dict[str, Any]]  # every input item the model sees, as stored
    tenant: str


async def _plan(request: Request) -> _Request:
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
    who = tenant(request.app.state.keys, request.headers)
    history = await _history(request.app.state.responses, req.previous_response_id, who)
    try:
        chat = to_chat(req, history)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    try:
        plan = await anyio.to_thread.run_sync(generation_plan, rt, chat)
    except APIError as exc:
        raise chat_error(exc) from None
    return _Request(req, plan, [*history, *stored_items(request_items(req.input))], who)


async def _history(store: ResponseStore, previous: str | None, who: str) -> list[dict[str, Any]]:
    if previous is None:
        return []
    found = await anyio.to_thread.run_sync(lambda: store.get(previous, tenant=who))
    if found is None:
        shown = previous if len(previous) <= 100 else previous[:100] + "…"
        raise APIError(
            f"Previous response with id '{shown}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return found.context


def _saver(request: Request, asked: _Request) -> Saver | None:
    """What writes the finished response to the store, or None when the request said `store: false`."""
    if asked.req.store is False:
        return None
    store: ResponseStore = request.app.state.responses

    async def save(response: dict[str, Any]) -> None:
        try:
            await anyio.to_thread.run_sync(lambda: store.put(response, asked.items, tenant=asked.tenant))
        except (sqlite3.Error, OSError) as exc:  # a broken or unwritable file: not claimed as stored
            raise server_error(f"The response could not be stored: {exc}") from exc

    return save


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
        "previous_response_id": req.previous_response_id,
        "reasoning": {"effort": None, "summary": None},
        "store": req.store is not False,
        "temperature": req.temperature,
        "text": {
            "format": req.text.format.model_dump() if req.text and req.text.format else {"type": "text"}
        },
        "tool_choice": req.tool_choice or "auto",
        "tools": [_echo(tool) for tool in req.tools or ()],
        "top_p": req.top_p,
        "truncation": "disabled",
        "metadata": req.metadata or {},
    } | ({"user": req.user} if req.user is not None else {})


def _echo(tool: dict[str, Any]) -> dict[str, Any]:
    """A function tool as the response lists it: `strict` stated (true unless the request said false)."""
    if tool.get("type") == "custom":
        return tool
    return {"description": None, "parameters": None} | tool | {"strict": tool.get("strict") is not False}


async def responses(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    asked = await _plan(request)
    generation = new_generation(request, rt, asked.plan)
    generation.start()
    response = _envelope(rt, asked.req)
    save = _saver(request, asked)
    if asked.req.stream:
        return GenerationStream(_stream(response, generation, save), generation)
    watcher = asyncio.create_task(cancel_on_disconnect(request, generation))
    try:
        async for event in _events(response, generation, save):
            last = event
    finally:
        watcher.cancel()
        generation.cancel()
    return JSONResponse(last["response"])


async def _events(
    response: dict[str, Any], generation: Generation, save: Saver | None
) -> AsyncIterator[Event]:
    """The output items' events, then response.completed (or .incomplete), stored first when `save` is
    given; raises APIError when cut short."""
    custom = frozenset(t["name"] for t in response["tools"] if t.get("type") == "custom")
    items = ItemStream(custom)
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
        if save is not None and item.finish_reason != "cancelled":  # a client gone: nothing to keep
            await save(response)
        yield {"type": "response.incomplete" if cut else "response.completed", "response": response}


async def _stream(response: dict[str, Any], generation: Generation, save: Saver | None) -> AsyncIterator[str]:
    sequence = 0

    def sse(event: Event) -> str:
        nonlocal sequence
        event = event | {"sequence_number": sequence}
        sequence += 1
        return sse_named(event)

    try:
        yield sse({"type": "response.created", "response": dict(response)})
        yield sse({"type": "response.in_progress", "response": dict(response)})
        async for event in _events(response, generation, save):
            yield sse(event)
    except APIError as exc:
        code = exc.code or exc.type
        yield sse({"type": "error", "code": code, "message": exc.message, "param": exc.param})
    finally:
        generation.cancel()
