"""Function calling end to end on the tiny model: every tool_choice mode through the official SDK.

The grammar is what makes a 135M-parameter model produce valid calls here, so these tests check the
promises (names, schema-valid arguments, counts, streaming shape), not the model's judgement.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from tests.conftest import Server
from tests.openapi_contract import validate

WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city, e.g. San Francisco"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
}
NESTED_PARAMS = {
    "type": "object",
    "$defs": {
        "item": {
            "type": "object",
            "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
            "required": ["sku", "qty"],
        }
    },
    "properties": {
        "customer": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "vip": {"type": "boolean"}},
            "required": ["name", "vip"],
        },
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 1, "maxItems": 3},
        "priority": {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["low", "high"]}]},
        "discount": {"type": "number"},
    },
    "required": ["customer", "items", "priority", "discount"],
}


def fn(name: str, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": f"{name} tool", "parameters": params, **extra},
    }


WEATHER = fn("get_current_weather", WEATHER_PARAMS)
ORDER = fn("place_order", NESTED_PARAMS)
ASK = [{"role": "user", "content": "What's the weather like in San Francisco?"}]


@pytest.fixture(scope="module")
def client(tiny_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=tiny_server.base_url, api_key="unused", max_retries=0)


def create(client: openai.OpenAI, **kwargs: Any) -> Any:
    kwargs = {"model": "tiny", "messages": ASK, "temperature": 0, "max_tokens": 120} | kwargs
    completion = client.chat.completions.create(**kwargs)
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    return completion


def check_calls(message: Any, tools: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    calls = []
    for call in message.tool_calls or []:
        assert call.type == "function" and call.id.startswith("call_")
        arguments = json.loads(call.function.arguments)
        jsonschema.validate(arguments, schemas[call.function.name])
        calls.append((call.function.name, arguments))
    assert len({c.id for c in message.tool_calls or []}) == len(calls)
    return calls


def test_required_gives_schema_valid_calls(client: openai.OpenAI) -> None:
    completion = create(client, tools=[WEATHER], tool_choice="required")
    choice = completion.choices[0]
    calls = check_calls(choice.message, [WEATHER])
    assert calls and all(name == "get_current_weather" for name, _ in calls)
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None


def test_named_choice_calls_exactly_that_function(client: openai.OpenAI) -> None:
    # The 135M model fills `items` with long SKUs: 120 tokens cut its arguments short once the call head's
    # separators were forced (the head's canonical tokens changed its greedy continuation).
    named = {"type": "function", "function": {"name": "place_order"}}
    completion = create(client, tools=[WEATHER, ORDER], tool_choice=named, max_tokens=200)
    calls = check_calls(completion.choices[0].message, [WEATHER, ORDER])
    assert [name for name, _ in calls] == ["place_order"]


def test_parallel_false_allows_at_most_one_call(client: openai.OpenAI) -> None:
    ask = [
        {"role": "user", "content": "Weather in Paris, Rome, Oslo and Lima, in celsius and in fahrenheit?"}
    ]
    completion = create(
        client, messages=ask, tools=[WEATHER], tool_choice="required", parallel_tool_calls=False
    )
    assert len(check_calls(completion.choices[0].message, [WEATHER])) == 1


def test_none_never_calls(client: openai.OpenAI) -> None:
    completion = create(client, tools=[WEATHER], tool_choice="none", max_tokens=40)
    choice = completion.choices[0]
    assert choice.message.tool_calls is None and choice.finish_reason in ("stop", "length")
    assert isinstance(choice.message.content, str)


def test_auto_answers_with_text_or_valid_calls(client: openai.OpenAI) -> None:
    completion = create(client, tools=[WEATHER, ORDER], max_tokens=60)
    choice = completion.choices[0]
    check_calls(choice.message, [WEATHER, ORDER])
    assert (choice.finish_reason == "tool_calls") == bool(choice.message.tool_calls)


def test_nested_and_strict_schemas_are_enforced(client: openai.OpenAI) -> None:
    strict = fn("place_order", NESTED_PARAMS, strict=True)
    ask = [{"role": "user", "content": "Order 2 apples (sku A1) for Ann, a VIP, high priority, 5% discount."}]
    completion = create(
        client,
        messages=ask,
        tools=[strict],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=300,
    )
    [(name, arguments)] = check_calls(completion.choices[0].message, [strict])
    closed = json.loads(
        json.dumps(NESTED_PARAMS).replace(
            '"type": "object"', '"type": "object", "additionalProperties": false'
        )
    )
    jsonschema.validate(arguments, closed)  # strict: no keys beyond the listed ones, at any depth
    assert isinstance(arguments["items"][0]["qty"], int)


def test_streamed_tool_calls_match_openai_shape_and_non_streamed(
    client: openai.OpenAI, tiny_server: Server
) -> None:
    kwargs: dict[str, Any] = {"tools": [WEATHER], "tool_choice": "required"}
    whole = create(client, **kwargs).choices[0]
    stream = client.chat.completions.create(
        model="tiny",
        messages=ASK,
        temperature=0,
        max_tokens=120,
        stream=True,
        **kwargs,  # type: ignore[arg-type]
    )
    chunks = list(stream)
    calls: dict[int, dict[str, Any]] = {}
    finishes = []
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
        choice = chunk.choices[0]
        finishes += [choice.finish_reason] if choice.finish_reason else []
        for delta in choice.delta.tool_calls or []:
            if delta.index not in calls:  # first delta of a call: id, type, name and empty arguments
                assert delta.id and delta.type == "function" and delta.function.name
                assert delta.function.arguments == ""
                calls[delta.index] = {"id": delta.id, "name": delta.function.name, "arguments": ""}
            else:
                assert delta.id is None and delta.function.name is None
                calls[delta.index]["arguments"] += delta.function.arguments
    assert finishes == ["tool_calls"]
    assert max(len(c["arguments"]) for c in calls.values()) > 0
    fragments = sum(
        1 for ch in chunks for d in (ch.choices[0].delta.tool_calls or []) if d.function.arguments
    )
    assert fragments > 1, "arguments must stream as they are generated, not in one piece at the end"
    expected = [(c.function.name, c.function.arguments) for c in whole.message.tool_calls]
    assert [(c["name"], c["arguments"]) for _, c in sorted(calls.items())] == expected


def test_sdk_stream_helper_final_equals_non_streamed(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {"model": "tiny", "messages": ASK, "temperature": 0, "max_tokens": 120}
    kwargs |= {"tools": [WEATHER], "tool_choice": "required"}
    with client.chat.completions.stream(**kwargs) as stream:
        final = stream.get_final_completion().choices[0]
    whole = client.chat.completions.create(**kwargs).choices[0]
    assert final.finish_reason == whole.finish_reason == "tool_calls"
    got = [(c.function.name, c.function.arguments) for c in final.message.tool_calls or []]
    assert got == [(c.function.name, c.function.arguments) for c in whole.message.tool_calls]


def test_multi_turn_with_tool_results_and_usage_counts_tools(client: openai.OpenAI) -> None:
    first = create(client, tools=[WEATHER], tool_choice="required").choices[0].message
    results = [
        {
            "role": "tool",
            "tool_call_id": c.id,
            "content": json.dumps({"temperature": 60, "unit": "fahrenheit"}),
        }
        for c in first.tool_calls
    ]
    conversation = [*ASK, first.model_dump(exclude_none=True), *results]
    second = create(client, messages=conversation, tools=[WEATHER], tool_choice="none", max_tokens=30)
    assert second.choices[0].message.tool_calls is None
    bare = create(client, max_tokens=1)
    with_tools = create(client, tools=[WEATHER, ORDER], tool_choice="none", max_tokens=1)
    assert with_tools.usage.prompt_tokens > bare.usage.prompt_tokens + 50


BAD = [
    ("bad name", {"tools": [fn("get weather", WEATHER_PARAMS)]}, "tools[0].function.name"),
    ("duplicate", {"tools": [WEATHER, WEATHER]}, "tools[1].function.name"),
    (
        "not a schema",
        {"tools": [fn("f", {"type": "object", "properties": {"a": {"type": 5}}})]},
        "tools[0].function.parameters",
    ),
    (
        "choice undeclared",
        {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
        "tool_choice.function.name",
    ),
    ("choice without tools", {"tool_choice": "required"}, "tool_choice"),
    ("legacy functions with tools", {"functions": [WEATHER["function"]], "tools": [WEATHER]}, "functions"),
    (
        "uncompilable schema",
        {
            "tools": [
                fn("f", {"type": "object", "properties": {"a": {"type": "string", "pattern": "(?<=x)y"}}})
            ],
            "tool_choice": "required",
        },
        "tools",
    ),
    (
        "unknown tool_call_id",
        {
            "messages": [*ASK, {"role": "tool", "tool_call_id": "call_nope", "content": "{}"}],
            "tools": [WEATHER],
        },
        "messages[1].tool_call_id",
    ),
    (
        "replayed arguments not json",
        {
            "messages": [
                *ASK,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "get_current_weather", "arguments": "{oops"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "{}"},
            ],
            "tools": [WEATHER],
        },
        "messages[1].tool_calls[0].function.arguments",
    ),
]


@pytest.mark.parametrize(("name", "extra", "param"), BAD, ids=[b[0] for b in BAD])
def test_bad_tool_requests_get_400_naming_the_param(
    tiny_server: Server, name: str, extra: dict[str, Any], param: str
) -> None:
    body = {"model": "tiny", "messages": ASK, "max_tokens": 5} | extra
    response = httpx.post(f"{tiny_server.base_url}/chat/completions", json=body, timeout=120)
    assert response.status_code == 400, response.text
    validate("ErrorResponse", response.json())
    assert response.json()["error"]["param"] == param
