"""Our own OpenAPI 3.1 document (`GET /openapi.json`); `docs.py` renders it at `/docs`.

Request bodies are described by the very pydantic models that parse them (`protocol.py`); responses by
the documentation-only models below, which say what we send (a subset of OpenAI's schema: the tests
check every body against both). Routes that an optional part of the server mounts (the playground)
describe themselves in `app.state.openapi_paths`, which is merged in.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response

from fncall import __version__
from fncall.api.protocol import ChatCompletionRequest, CompletionRequest
from fncall.api.responses import openapi as responses_openapi

FinishReason = Literal["stop", "length", "tool_calls"]


class ResponseFunctionCall(BaseModel):
    name: str
    arguments: str  # a JSON object, as text


class ResponseToolCall(BaseModel):
    id: str
    type: Literal["function"]
    function: ResponseFunctionCall


class ResponseMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None  # None when only tool calls were made
    refusal: None
    annotations: list[dict[str, Any]]
    tool_calls: list[ResponseToolCall] = []


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int]  # the token's exact bytes (its text may hold part of a UTF-8 character)


class ContentLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[ContentLogprob]  # content tokens only: none for tool calls or reasoning
    refusal: None


class Choice(BaseModel):
    index: int
    message: ResponseMessage
    logprobs: ChoiceLogprobs | None  # with `logprobs: true`
    finish_reason: FinishReason


class PromptTokensDetails(BaseModel):
    cached_tokens: int


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str
    choices: list[Choice]
    usage: Usage


class LegacyLogprobs(BaseModel):
    tokens: list[str]
    token_logprobs: list[float | None]  # null for an echoed prompt's first token, as OpenAI
    top_logprobs: list[dict[str, float] | None]
    text_offset: list[int]  # characters from the start of the choice's text


class TextChoice(BaseModel):
    text: str
    index: int  # prompt_index * n + choice
    logprobs: LegacyLogprobs | None  # with `logprobs: k`
    finish_reason: Literal["stop", "length"] | None  # None on stream chunks before the last


class TextCompletion(BaseModel):
    """Also each chunk of a streamed completion (the usage chunk last, with no choices)."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    system_fingerprint: str
    choices: list[TextChoice]
    usage: Usage | None = None


class Model(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[Model]


class Error(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: Error


_ERRORS = {
    "400": "Invalid request: the error's `param` names the field",
    "401": "Missing or wrong API key (only when the server has keys)",
    "404": "Unknown model, route or stored response",
    "413": "Body larger than --max-body-bytes",
    "429": "Queue full; retry after `Retry-After` seconds",
    "500": "Server error",
    "503": "Shutting down",
    "504": "Took longer than --request-timeout",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: _json("ErrorResponse", _ERRORS[status]) for status in statuses}


def _paths(secured: bool) -> dict[str, Any]:
    security: dict[str, Any] = {"security": [{"bearerAuth": []}]} if secured else {}
    completion = _json("ChatCompletion", "The completion (JSON), or with `stream: true` its chunks (SSE)")
    # Before OpenAPI 3.2 (no `itemSchema`), an event stream's `schema` describes one event: `data` holds a
    # chat.completion.chunk as JSON, or `[DONE]` last.
    event = {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}}
    completion["content"]["text/event-stream"] = {
        "schema": {"type": "object", "properties": event, "required": ["data"]}
    }
    text = _json("TextCompletion", "The completion (JSON), or with `stream: true` its chunks (SSE)")
    text["content"]["text/event-stream"] = completion["content"]["text/event-stream"]
    return responses_openapi.paths(_ref, _json, _errors, security) | {
        "/v1/chat/completions": {
            "post": {
                "operationId": "createChatCompletion",
                "summary": "Create a chat completion (with tools and streaming)",
                "description": "`response_format`: `text`; `json_object` (the answer is a JSON object; the "
                "messages must contain the word JSON); `json_schema` with `name`, `schema` and `strict` (the "
                "answer is JSON valid against the schema, enforced by a grammar; `strict` closes every "
                "object). A schema that cannot be compiled is a 400 naming `response_format`. With tools in "
                "`auto` mode the answer is calls or schema-valid JSON content. The "
                "deprecated `functions` / `function_call` map onto `tools` / `tool_choice` (one call at "
                "most) and are answered with `message.function_call` and `finish_reason: function_call`. "
                "`logprobs` / `top_logprobs` (0-20): each content token's log probability and its "
                "alternatives, taken after the grammar mask, penalties and `logit_bias` but before "
                "temperature and top-k/top-p/min-p truncation; tokens of tool calls and reasoning have "
                "none. `n`: that many choices (at most `--max-n`, default 8), each its own sequence "
                "sharing the prompt's KV cells, chunks tagged with their `index`; usage adds them up.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ChatCompletionRequest")}},
                },
                "responses": {"200": completion, **_errors("400", "401", "404", "413", "429", "503", "504")},
                **security,
            }
        },
        "/v1/completions": {
            "post": {
                "operationId": "createCompletion",
                "summary": "Create a legacy text completion (no chat template)",
                "description": "`prompt`: a string, a list of strings, or token ids (one list, or a list "
                "of lists); each prompt gets `n` choices, numbered `prompt_index * n + j`. `echo` puts the "
                "prompt before the text; `logprobs` (0-5) gives the legacy `{tokens, token_logprobs, "
                "top_logprobs, text_offset}`; with `echo` too, the prompt's tokens are scored and lead them "
                "(the first one null), as eval harnesses' loglikelihood requests need. `max_tokens` "
                "defaults to 16. Refused with a 400: `suffix`, `best_of` other than `n`. Streamed, every "
                "chunk is a `text_completion` object.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("CompletionRequest")}},
                },
                "responses": {"200": text, **_errors("400", "401", "404", "413", "429", "503", "504")},
                **security,
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "listModels",
                "summary": "List the served model",
                "description": "One entry per served name (`--served-model-name`, in order), or the "
                "model's derived id when none is given; every entry is the same model.",
                "responses": {"200": _json("ModelList", "The served model"), **_errors("401", "503")},
                **security,
            }
        },
        "/v1/models/{model}": {
            "get": {
                "operationId": "retrieveModel",
                "summary": "Retrieve the served model by its id or alias",
                "description": "Any name the model answers to (a served name, its derived id, the "
                "`--model` alias) returns a card with that name as `id`; others are 404.",
                "parameters": [
                    {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _json("Model", "The model"), **_errors("401", "404", "503")},
                **security,
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness and load (503 while shutting down); never needs a key",
                "responses": {
                    "200": {"description": "Serving"},
                    "503": {"description": "Draining, or (on Ray) no engine replica running"},
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format)",
                "responses": {"200": {"description": "Metrics", "content": {"text/plain": {}}}},
                **security,
            }
        },
    }


@lru_cache(maxsize=4)
def openapi_document(secured: bool, extra_paths: str = "{}") -> str:
    """The document as JSON text; built once per variant (pydantic schema generation takes ~50 ms).

    `extra_paths` is JSON text (hashable, so the variant can be cached) of more path items.
    """
    requests: list[type[BaseModel]] = [ChatCompletionRequest, CompletionRequest]
    models: list[type[BaseModel]] = [
        *requests,
        ChatCompletion,
        TextCompletion,
        ModelList,
        Model,
        ErrorResponse,
    ]
    _, top = models_json_schema(
        [
            *[(m, "validation" if m in requests else "serialization") for m in models],
            *responses_openapi.MODELS,
        ],
        ref_template="#/components/schemas/{model}",
    )
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "fncall",
            "version": __version__,
            "description": "OpenAI-compatible chat completions and Responses with function calling. "
            "Every `/v1` route is also served under `/v1/openai`. Errors have OpenAI's shape.",
        },
        "paths": _paths(secured) | json.loads(extra_paths),
        "components": {
            "schemas": top["$defs"],
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
    return json.dumps(doc)


async def openapi_endpoint(request: Request) -> Response:
    secured = bool(request.app.state.config.api_keys)
    extra = json.dumps(getattr(request.app.state, "openapi_paths", {}), sort_keys=True)
    return Response(openapi_document(secured, extra), media_type="application/json")
