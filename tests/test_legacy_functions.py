"""The deprecated `functions` / `function_call` API on the real server, through the SDK's own types:
mapped onto tools, answered in the legacy shape (`message.function_call`, finish_reason
`function_call`), streamed the same as not."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Server
from tests.openapi_contract import validate

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def client(tiny_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=tiny_server.base_url, api_key="unused", max_retries=0)


def _request(**extra: Any) -> dict[str, Any]:
    base = {"model": "tiny", "messages": ASK, "functions": [WEATHER], "max_tokens": 40, "temperature": 0}
    return base | extra


def test_named_function_call_comes_back_in_the_legacy_shape(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(**_request(function_call={"name": "get_weather"}))
    validate("CreateChatCompletionResponse", reply.model_dump(mode="json", exclude_unset=True))
    choice = reply.choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.tool_calls is None and choice.message.content is None
    call = choice.message.function_call
    assert call is not None and call.name == "get_weather"
    assert isinstance(json.loads(call.arguments)["city"], str)


def test_streamed_legacy_call_equals_the_non_streamed_one(client: openai.OpenAI) -> None:
    kwargs = _request(function_call={"name": "get_weather"})
    whole = client.chat.completions.create(**kwargs).choices[0].message.function_call
    chunks = list(client.chat.completions.create(**kwargs, stream=True))
    name, arguments, finish = "", "", None
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(mode="json", exclude_unset=True))
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        assert not delta.tool_calls
        if delta.function_call is not None:
            name += delta.function_call.name or ""
            arguments += delta.function_call.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert whole is not None and (name, arguments) == (whole.name, whole.arguments)
    assert finish == "function_call"


def test_function_call_none_answers_in_text(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(**_request(function_call="none", max_tokens=5))
    choice = reply.choices[0]
    assert choice.message.function_call is None and choice.finish_reason in ("stop", "length")


def test_a_legacy_conversation_with_a_result_continues(client: openai.OpenAI) -> None:
    messages = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
        {"role": "function", "name": "get_weather", "content": '{"temperature": 21}'},
    ]
    reply = client.chat.completions.create(**_request(messages=messages, function_call="none", max_tokens=5))
    assert reply.choices[0].message.function_call is None


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"functions": None, "function_call": "auto"}, "function_call"),
        ({"function_call": "required"}, "function_call"),
        ({"function_call": {"name": "nope"}}, "function_call.name"),
        ({"function_call": {"name": 3}}, "function_call"),
        ({"functions": []}, "functions"),
        ({"functions": ["get_weather"]}, "functions[0]"),
        ({"functions": [{"name": "bad name"}]}, "functions[0].name"),
        ({"tools": [{"type": "function", "function": WEATHER}]}, "functions"),
    ],
)
def test_bad_legacy_requests_are_400_naming_the_parameter(
    tiny_server: Server, extra: dict[str, Any], param: str
) -> None:
    body = {k: v for k, v in _request(**extra).items() if v is not None}
    reply = httpx.post(tiny_server.base_url + "/chat/completions", json=body, timeout=60)
    assert reply.status_code == 400, reply.text
    validate("ErrorResponse", reply.json())
    assert reply.json()["error"]["param"] == param
