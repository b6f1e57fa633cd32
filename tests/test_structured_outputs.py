"""Structured outputs (`response_format` json_object / json_schema) on the real server through the SDK.

The tiny model writes poor JSON when free; constrained, every answer parses and validates, streamed or
not, and streaming gives the same text as the one-shot answer.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
import openai
import pydantic
import pytest
from jsonschema import Draft202012Validator

from tests.conftest import Server
from tests.openapi_contract import validate

ASK_JSON = [{"role": "user", "content": "Describe a person as JSON."}]
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "role": {"enum": ["admin", "user", "guest"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 3},
        "address": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 20},
                "zip": {"type": "string", "maxLength": 10},
            },
            "required": ["city"],
        },
    },
    "required": ["name", "age", "role", "address"],
}


@pytest.fixture(scope="module")
def client(tiny_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=tiny_server.base_url, api_key="unused", max_retries=0)


def _schema_format(schema: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": strict}}


def _both(client: openai.OpenAI, response_format: dict[str, Any], seed: int) -> tuple[str, str]:
    """The non-streamed and the streamed answer of the same greedy request (validated on the way)."""
    kwargs: Any = {
        "model": "tiny",
        "messages": ASK_JSON,
        "response_format": response_format,
        "max_tokens": 200,
        "temperature": 0,
        "seed": seed,
    }
    whole = client.chat.completions.create(**kwargs)
    validate("CreateChatCompletionResponse", whole.model_dump(mode="json", exclude_unset=True))
    message = whole.choices[0].message
    assert message.refusal is None and not message.tool_calls
    assert whole.choices[0].finish_reason == "stop"
    chunks = list(client.chat.completions.create(**kwargs, stream=True))
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(mode="json", exclude_unset=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return message.content or "", streamed


def test_json_object_is_an_object_streamed_or_not(client: openai.OpenAI) -> None:
    whole, streamed = _both(client, {"type": "json_object"}, seed=1)
    assert isinstance(json.loads(whole), dict)
    assert streamed == whole


@pytest.mark.parametrize("strict", [False, True])
def test_json_schema_answers_validate(client: openai.OpenAI, strict: bool) -> None:
    whole, streamed = _both(client, _schema_format(PERSON, strict=strict), seed=2)
    value = json.loads(whole)
    Draft202012Validator(PERSON).validate(value)
    assert set(value) <= set(PERSON["properties"])  # objects are closed: no invented keys
    assert streamed == whole


class Ticket(pydantic.BaseModel):
    title: str = pydantic.Field(max_length=30)
    priority: Literal["low", "high"]
    steps: list[str] = pydantic.Field(max_length=2)


def test_sdk_parse_helper_gets_a_valid_object(client: openai.OpenAI) -> None:
    parsed = client.chat.completions.parse(
        model="tiny",
        messages=[{"role": "user", "content": "File a ticket about a broken login page."}],
        response_format=Ticket,
        max_tokens=200,
        temperature=0,
    )
    ticket = parsed.choices[0].message.parsed
    assert isinstance(ticket, Ticket) and ticket.priority in ("low", "high")


def test_text_format_is_plain_text(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="tiny", messages=ASK_JSON, response_format={"type": "text"}, max_tokens=4, temperature=0
    )
    assert reply.choices[0].message.content


def test_tool_choice_none_with_a_schema_gives_json(client: openai.OpenAI) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    reply = client.chat.completions.create(
        model="tiny",
        messages=ASK_JSON,
        tools=[tool],  # type: ignore[list-item]
        tool_choice="none",
        response_format=_schema_format(PERSON),  # type: ignore[arg-type]
        max_tokens=200,
        temperature=0,
    )
    Draft202012Validator(PERSON).validate(json.loads(reply.choices[0].message.content or ""))


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.mark.parametrize(
    "question",
    ["What is the weather in Paris?", "Describe a person as JSON.", "Hello there, who are you?"],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tools_in_auto_give_calls_or_schema_valid_json(
    client: openai.OpenAI, question: str, seed: int
) -> None:
    kwargs: Any = {
        "model": "tiny",
        "messages": [{"role": "user", "content": question}],
        "tools": [WEATHER_TOOL],
        "response_format": _schema_format(PERSON),
        "max_tokens": 200,
        "temperature": 0,
    }
    whole = client.chat.completions.create(**kwargs)
    validate("CreateChatCompletionResponse", whole.model_dump(mode="json", exclude_unset=True))
    message = whole.choices[0].message
    if message.tool_calls:
        assert whole.choices[0].finish_reason == "tool_calls" and message.content is None
        for call in message.tool_calls:
            assert call.function.name == "get_weather"  # type: ignore[union-attr]
            assert isinstance(json.loads(call.function.arguments)["city"], str)  # type: ignore[union-attr]
    else:
        Draft202012Validator(PERSON).validate(json.loads(message.content or ""))
    chunks = list(client.chat.completions.create(**kwargs, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == (message.content or "")
    names = [
        t.function.name
        for c in chunks
        if c.choices
        for t in c.choices[0].delta.tool_calls or ()
        if t.function
    ]
    assert [n for n in names if n] == [c.function.name for c in message.tool_calls or ()]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fmt", "messages", "param"),
    [
        ({"type": "json_object"}, [{"role": "user", "content": "Hi"}], "messages"),
        ({"type": "json_schema"}, ASK_JSON, "response_format.json_schema"),
        (
            {"type": "json_schema", "json_schema": {"schema": PERSON}},
            ASK_JSON,
            "response_format.json_schema.name",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "a b", "schema": PERSON}},
            ASK_JSON,
            "response_format.json_schema.name",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "a", "schema": []}},
            ASK_JSON,
            "response_format.json_schema.schema",
        ),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": {"type": "object"}, "strict": "yes"},
            },
            ASK_JSON,
            "response_format.json_schema.strict",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "frobnicate"}}},
            ASK_JSON,
            "response_format",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "a", "schema": {"$ref": "#/$defs/nope"}}},
            ASK_JSON,
            "response_format",
        ),
        ({"type": "xml"}, ASK_JSON, "response_format.type"),
    ],
)
def test_bad_response_formats_are_400_naming_the_parameter(
    tiny_server: Server, fmt: dict[str, Any], messages: list[dict[str, Any]], param: str
) -> None:
    body = {"model": "tiny", "messages": messages, "response_format": fmt, "max_tokens": 2}
    reply = httpx.post(tiny_server.base_url + "/chat/completions", json=body, timeout=60)
    assert reply.status_code == 400, reply.text
    validate("ErrorResponse", reply.json())
    assert reply.json()["error"]["param"] == param
    ok = httpx.post(
        tiny_server.base_url + "/chat/completions",
        json={"model": "tiny", "messages": ASK_JSON, "max_tokens": 1},
        timeout=60,
    )
    assert ok.status_code == 200


def test_sampled_answers_with_tools_are_calls_or_json_and_both_occur(client: openai.OpenAI) -> None:
    kinds = set()
    for seed in range(8):
        reply = client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "What is the weather in Paris?"}],
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            response_format=_schema_format(PERSON),  # type: ignore[arg-type]
            max_tokens=200,
            temperature=1.0,
            seed=seed,
        )
        message = reply.choices[0].message
        if reply.choices[0].finish_reason == "length":  # an unbounded string argument ran on: cut short
            continue
        if message.tool_calls:
            kinds.add("calls")
            for call in message.tool_calls:
                assert isinstance(json.loads(call.function.arguments)["city"], str)  # type: ignore[union-attr]
        else:
            kinds.add("json")
            Draft202012Validator(PERSON).validate(json.loads(message.content or ""))
    assert kinds == {"calls", "json"}
