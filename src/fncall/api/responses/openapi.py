"""The Responses routes in our OpenAPI document (`api/openapi.py` merges them in): the request is the
pydantic model that parses it; the bodies we send are described by the documentation-only models
below, a subset of OpenAI's `Response`, `ResponseItemList` and the deleted-response answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from fncall.api.responses.protocol import ResponsesRequest


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: dict[str, int]
    output_tokens: int
    output_tokens_details: dict[str, int]
    total_tokens: int


class ResponseObject(BaseModel):
    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "incomplete", "in_progress"]
    model: str
    instructions: str | None
    # `message`, `function_call`, `custom_tool_call` and `reasoning` items, as OpenAI's `OutputItem`
    output: list[dict[str, Any]]
    previous_response_id: str | None
    store: bool
    text: dict[str, Any]
    tools: list[dict[str, Any]]
    usage: ResponseUsage | None = None


class ResponseItemList(BaseModel):
    object: Literal["list"]
    data: list[dict[str, Any]]  # the input items, each with an `id`, as OpenAI's `ItemResource`
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletedResponse(BaseModel):
    id: str
    object: Literal["response"]
    deleted: Literal[True]


MODELS: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
    (ResponsesRequest, "validation"),
    (ResponseObject, "serialization"),
    (ResponseItemList, "serialization"),
    (DeletedResponse, "serialization"),
]

_CREATE = (
    "OpenAI's Responses API, translated into the chat pipeline. Tools of type `function` and `custom` "
    "(with a `lark` or `regex` grammar, or free text); other hosted tools are a 400 naming "
    "`tools[i].type`. `text.format` as for chat's `response_format`. With `store` (default true) the "
    "response is kept (SQLite) for `previous_response_id` and the routes below, per API key."
)


def paths(
    ref: Callable[[str], dict[str, str]],
    json_body: Callable[[str, str], dict[str, Any]],
    errors: Callable[..., dict[str, Any]],
    security: dict[str, Any],
) -> dict[str, Any]:
    """Path items for the Responses routes, built with `api/openapi.py`'s helpers."""
    created = json_body("ResponseObject", "The response (JSON), or with `stream: true` its events (SSE)")
    created["content"]["text/event-stream"] = {"schema": {"type": "object"}}
    response_id = {"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}}
    page = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
        {"name": "after", "in": "query", "schema": {"type": "string"}},
    ]
    stored = errors("400", "401", "404", "503")
    return {
        "/v1/responses": {
            "post": {
                "operationId": "createResponse",
                "summary": "Create a response (Responses API, with tools and streaming)",
                "description": _CREATE,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("ResponsesRequest")}},
                },
                "responses": {"200": created, **errors("400", "401", "404", "413", "429", "503", "504")},
                **security,
            }
        },
        "/v1/responses/{response_id}": {
            "get": {
                "operationId": "getResponse",
                "summary": "Retrieve a stored response (404 for another API key's)",
                "parameters": [response_id],
                "responses": {"200": json_body("ResponseObject", "The stored response"), **stored},
                **security,
            },
            "delete": {
                "operationId": "deleteResponse",
                "summary": "Delete a stored response",
                "parameters": [response_id],
                "responses": {"200": json_body("DeletedResponse", "Deleted"), **stored},
                **security,
            },
        },
        "/v1/responses/{response_id}/input_items": {
            "get": {
                "operationId": "listInputItems",
                "summary": "The input items a stored response was made from (newest first by default)",
                "parameters": [response_id, *page],
                "responses": {"200": json_body("ResponseItemList", "A page of input items"), **stored},
                **security,
            }
        },
    }
