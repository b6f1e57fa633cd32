"""The contract helper accepts what OpenAI sends and refuses what it would not."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.openapi_contract import ContractError, _schemas, convert_schema, errors, validate

Body = dict[str, Any]
CREATED = 1_732_000_000


def completion() -> Body:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": CREATED,
        "model": "tiny",
        "system_fingerprint": "fp_fncall",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 1,
            "total_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


def tool_call_completion() -> Body:
    body = completion()
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [call],
    }
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


def chunk(delta: Body, finish_reason: str | None = None) -> Body:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "tiny",
        "system_fingerprint": "fp_fncall",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def first_chunk() -> Body:
    return chunk({"role": "assistant", "content": ""})


def tool_call_chunk() -> Body:
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    return chunk({"tool_calls": [call]})


def usage_chunk() -> Body:
    body = chunk({})
    body["choices"] = []
    body["usage"] = {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    return body


def error_body() -> Body:
    message = "The model `gpt-9` does not exist"
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }


def models() -> Body:
    return {
        "object": "list",
        "data": [{"id": "tiny", "object": "model", "created": CREATED, "owned_by": "fncall"}],
    }


def request() -> Body:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    return {
        "model": "tiny",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            tool_call_completion()["choices"][0]["message"],
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ],
        "tools": [tool],
        "tool_choice": "auto",
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": None,
        "stop": None,
        "temperature": 0.2,
    }


def edited(make: Callable[[], Body], path: str, value: object = ...) -> Body:
    """A fresh ``make()`` body with the field at dotted ``path`` set to ``value`` (deleted when omitted)."""
    body = copy.deepcopy(make())
    *steps, last = [int(step) if step.isdigit() else step for step in path.split(".")]
    parent: Any = body
    for step in steps:
        parent = parent[step]
    if value is ...:
        del parent[last]
    else:
        parent[last] = value
    return body


RESPONSE = "CreateChatCompletionResponse"
CHUNK = "CreateChatCompletionStreamResponse"
REQUEST = "CreateChatCompletionRequest"

ACCEPTED = {
    "completion": (RESPONSE, completion()),
    "tool_call_completion": (RESPONSE, tool_call_completion()),
    "first_chunk": (CHUNK, first_chunk()),
    "content_chunk": (CHUNK, chunk({"content": "hi"})),
    "final_chunk": (CHUNK, chunk({}, "stop")),
    "tool_call_chunk": (CHUNK, tool_call_chunk()),
    "usage_chunk": (CHUNK, usage_chunk()),
    "chunk_usage_null": (CHUNK, edited(first_chunk, "usage", None)),
    "error": ("ErrorResponse", error_body()),
    "error_code_null": ("ErrorResponse", edited(error_body, "error.code", None)),
    "models": ("ListModelsResponse", models()),
    "model": ("Model", models()["data"][0]),
    "request": (REQUEST, request()),
}

# component, body, text one of the errors must contain
REFUSED = {
    "finish_reason": (
        RESPONSE,
        edited(completion, "choices.0.finish_reason", "banana"),
        "$.choices[0].finish_reason",
    ),
    "object_const": (RESPONSE, edited(completion, "object", "chat.completions"), "$.object"),
    "missing_choices": (RESPONSE, edited(completion, "choices"), "'choices' is a required property"),
    "created_string": (RESPONSE, edited(completion, "created", str(CREATED)), "$.created"),
    "prompt_tokens_string": (
        RESPONSE,
        edited(completion, "usage.prompt_tokens", "9"),
        "$.usage.prompt_tokens",
    ),
    "message_without_refusal": (
        RESPONSE,
        edited(completion, "choices.0.message.refusal"),
        "'refusal' is a required property",
    ),
    "tool_call_without_id": (
        RESPONSE,
        edited(tool_call_completion, "choices.0.message.tool_calls.0.id"),
        "$.choices[0].message.tool_calls[0]: 'id' is a required property",
    ),
    "chunk_finish_reason": (CHUNK, edited(first_chunk, "choices.0.finish_reason", "banana"), "finish_reason"),
    "chunk_missing_finish_reason": (
        CHUNK,
        edited(first_chunk, "choices.0.finish_reason"),
        "'finish_reason' is a required property",
    ),
    "chunk_object_const": (CHUNK, edited(first_chunk, "object", "chat.completion"), "$.object"),
    "chunk_prompt_tokens_string": (
        CHUNK,
        edited(usage_chunk, "usage.prompt_tokens", "9"),
        "$.usage.prompt_tokens",
    ),
    "tool_call_delta_without_index": (
        CHUNK,
        edited(tool_call_chunk, "choices.0.delta.tool_calls.0.index"),
        "'index' is a required property",
    ),
    "error_without_message": (
        "ErrorResponse",
        edited(error_body, "error.message"),
        "'message' is a required",
    ),
    "model_object_const": (
        "ListModelsResponse",
        edited(models, "data.0.object", "models"),
        "$.data[0].object",
    ),
    "request_without_messages": (REQUEST, edited(request, "messages"), "'messages' is a required property"),
    "request_n_zero": (REQUEST, edited(request, "n", 0), "$.n"),
    "tool_message_without_call_id": (
        REQUEST,
        edited(request, "messages.3.tool_call_id"),
        "$.messages[3]: 'tool_call_id' is a required property",
    ),
}


@pytest.mark.parametrize(("component", "body"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepts_openai_shaped_bodies(component: str, body: Body) -> None:
    validate(component, body)


@pytest.mark.parametrize(("component", "body", "expected"), REFUSED.values(), ids=REFUSED.keys())
def test_refuses_contract_violations(component: str, body: Body, expected: str) -> None:
    found = errors(component, body)
    assert any(expected in problem for problem in found), found
    with pytest.raises(ContractError, match=component):
        validate(component, body)


def test_message_names_path_and_value() -> None:
    with pytest.raises(AssertionError) as caught:
        validate(RESPONSE, edited(completion, "choices.0.finish_reason", "banana"))
    assert "$.choices[0].finish_reason: 'banana' is not one of" in str(caught.value)


def test_unknown_component_suggests_names() -> None:
    with pytest.raises(KeyError, match="CreateChatCompletionResponse"):
        errors("CreateChatCompletionResponce", {})


def test_missing_spec_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FNCALL_OPENAPI", str(tmp_path / "absent.yaml"))
    with pytest.raises(FileNotFoundError, match="FNCALL_OPENAPI"):
        errors("Model", {})


# schema in the OpenAPI dialect, instance, valid after conversion
CONVERSIONS = {
    "nullable": ({"type": "string", "nullable": True}, None, True),
    "not_nullable": ({"type": "string"}, None, False),
    "nullable_false": ({"type": "string", "nullable": False}, None, False),
    "nullable_enum_null": ({"type": "string", "enum": ["stop"], "nullable": True}, None, True),
    "nullable_enum_other": ({"type": "string", "enum": ["stop"], "nullable": True}, "banana", False),
    "nullable_ref_null": (
        {"$defs": {"U": {"required": ["n"]}}, "$ref": "#/$defs/U", "nullable": True},
        None,
        True,
    ),
    "nullable_ref_checked": (
        {"$defs": {"U": {"required": ["n"]}}, "$ref": "#/$defs/U", "nullable": True},
        {},
        False,
    ),
    "nullable_oneof": (
        {"oneOf": [{"type": "string", "nullable": True}, {"type": "array"}], "nullable": True},
        None,
        True,
    ),
    "exclusive_min_bound": ({"type": "number", "minimum": 0, "exclusiveMinimum": True}, 0, False),
    "exclusive_min_above": ({"type": "number", "minimum": 0, "exclusiveMinimum": True}, 0.5, True),
    "inclusive_min": ({"type": "number", "minimum": 0, "exclusiveMinimum": False}, 0, True),
    "stainless_const": ({"type": "string", "enum": ["model"], "x-stainless-const": True}, "models", False),
    "unknown_format": ({"type": "integer", "format": "unixtime"}, 1, True),
    "property_named_description": (
        {"properties": {"description": {"type": "string"}}},
        {"description": 1},
        False,
    ),
    "property_named_nullable": (
        {"properties": {"nullable": {"type": "string", "nullable": True}}},
        {"nullable": None},
        True,
    ),
    "enum_data_untouched": ({"enum": [{"nullable": True}]}, {"nullable": True}, True),
}


@pytest.mark.parametrize(("schema", "instance", "valid"), CONVERSIONS.values(), ids=CONVERSIONS.keys())
def test_convert_schema(schema: Body, instance: object, valid: bool) -> None:
    assert Draft202012Validator(convert_schema(schema)).is_valid(instance) is valid


def test_recursive_ref_points_at_component() -> None:
    schema = {"$recursiveAnchor": True, "properties": {"kids": {"items": {"$recursiveRef": "#"}}}}
    assert convert_schema(schema, component="Tree")["properties"]["kids"]["items"] == {
        "$ref": "#/components/schemas/Tree"
    }


def test_parsed_schemas_are_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "openapi.yaml"
    spec.write_text("components:\n  schemas:\n    N:\n      type: integer\n      nullable: true\n")
    monkeypatch.setenv("FNCALL_OPENAPI_CACHE", str(tmp_path / "cache"))
    load = _schemas.__wrapped__  # bypass the in-process cache
    assert load(spec) == {"N": {"type": ["integer", "null"]}}
    (cached,) = (tmp_path / "cache").glob("schemas-*.json")
    cached.write_text(json.dumps({"N": {"type": "string"}}))
    assert load(spec) == {"N": {"type": "string"}}  # served from disk
    spec.write_text("components:\n  schemas:\n    N:\n      type: boolean\n")
    assert load(spec) == {"N": {"type": "boolean"}}  # new spec, new key
    assert len(list((tmp_path / "cache").glob("schemas-*.json"))) == 1
