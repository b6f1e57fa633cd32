"""Property-based fuzzing of our published OpenAPI document (`/openapi.json`) with schemathesis, against
the real server on the tiny model: no 5xx, every status, content type and body as documented, and every
JSON body also valid against OpenAI's own schema.

The document is narrowed for the run, not for the server: `model` is the served one (else nearly every
case stops at a 404) and `max_tokens` is small and always sent (else a case could generate a thousand
tokens); examples are bounded and derandomized so the run fits in CI.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.schemas import BaseSchema

from tests.conftest import Server
from tests.openapi_contract import validate

# (operation, generation mode, examples): about a minute in all on the tiny model.
RUNS = [
    ("POST /v1/chat/completions", GenerationMode.POSITIVE, 100),
    ("POST /v1/chat/completions", GenerationMode.NEGATIVE, 80),
    ("POST /v1/responses", GenerationMode.POSITIVE, 40),
    ("POST /v1/responses", GenerationMode.NEGATIVE, 40),
    ("GET /v1/responses/{response_id}", GenerationMode.POSITIVE, 10),
    ("POST /v1/completions", GenerationMode.POSITIVE, 40),
    ("POST /v1/completions", GenerationMode.NEGATIVE, 30),
    ("GET /v1/models", GenerationMode.POSITIVE, 5),
    ("GET /v1/models/{model}", GenerationMode.POSITIVE, 20),
]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
OPENAI_COMPONENT = {
    "createChatCompletion": "CreateChatCompletionResponse",
    "createResponse": "Response",
    "getResponse": "Response",
    "createCompletion": "CreateCompletionResponse",
    "listModels": "ListModelsResponse",
    "retrieveModel": "Model",
}


def narrowed(doc: dict[str, Any], model_id: str) -> dict[str, Any]:
    request = doc["components"]["schemas"]["ChatCompletionRequest"]
    props = request["properties"]
    props["model"] = {"enum": [model_id, "tiny"]}
    props["max_tokens"] = {"type": "integer", "minimum": 1, "maximum": 4}
    props.pop("max_completion_tokens")
    request["required"] = [*request["required"], "max_tokens"]
    responses = doc["components"]["schemas"]["ResponsesRequest"]
    responses["properties"] |= {
        "model": {"enum": [model_id, "tiny"]},
        "max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 4},
        "stream": {"const": False},  # streamed events are checked by tests/test_responses_e2e.py
    }
    responses["required"] = [*responses["required"], "max_output_tokens"]
    legacy = doc["components"]["schemas"]["CompletionRequest"]
    legacy["properties"]["model"] = {"enum": [model_id, "tiny"]}
    legacy["properties"]["max_tokens"] = {"type": "integer", "minimum": 1, "maximum": 4}
    legacy["required"] = [*legacy["required"], "max_tokens"]
    return doc


@pytest.fixture(scope="module")
def published(tiny_server: Server) -> BaseSchema:
    doc = httpx.get(tiny_server.root + "/openapi.json").json()
    return schemathesis.openapi.from_dict(narrowed(doc, tiny_server.model_id))


@pytest.mark.parametrize(("label", "mode", "examples"), RUNS, ids=[f"{r[0]} {r[1].value}" for r in RUNS])
def test_published_api_holds_under_fuzzing(
    published: BaseSchema, tiny_server: Server, label: str, mode: GenerationMode, examples: int
) -> None:
    operation = published.find_operation_by_label(label)
    assert operation is not None, label
    component = OPENAI_COMPONENT[operation.definition.raw["operationId"]]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def check(case: Case) -> None:
        response = case.call(base_url=tiny_server.root, timeout=120)
        case.validate_response(response, checks=CHECKS)
        media_type = response.headers.get("content-type", [""])[0]
        if media_type.startswith("application/json"):
            body = json.loads(response.content)
            validate(component if response.status_code == 200 else "ErrorResponse", body)
        elif media_type.startswith("text/event-stream"):
            check_stream(
                response.content.decode(), component, responses=label.startswith("POST /v1/responses")
            )

    check()


def check_stream(text: str, component: str, *, responses: bool = False) -> None:
    """An SSE body: chunks valid against OpenAI's schema, then [DONE] (or an error event, then the end);
    for the Responses route, every event valid as a ResponseStreamEvent."""
    datas = [line.partition("data: ")[2] for line in text.split("\n\n") if "data: " in line]
    if responses:
        assert datas, text
        for data in datas:
            validate("ResponseStreamEvent", json.loads(data))
        return
    events = [line.removeprefix("data: ") for line in text.split("\n\n") if line.startswith("data: ")]
    assert events, text
    *chunks, last = events
    for chunk in chunks:
        if component == "CreateChatCompletionResponse":
            validate("CreateChatCompletionStreamResponse", json.loads(chunk))
        else:  # legacy chunks have the completion's shape, with finish_reason null before the last
            body = json.loads(chunk)
            for choice in body["choices"]:
                choice["finish_reason"] = choice["finish_reason"] or "stop"
            validate(component, body)
    if last != "[DONE]":
        validate("ErrorResponse", json.loads(last))
