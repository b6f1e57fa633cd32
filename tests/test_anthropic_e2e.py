"""`POST /v1/messages` end to end on the tiny model through the official `anthropic` SDK.

The grammar is what makes a 135M-parameter model call tools here (`any` and named choices), so these
tests check the promises (shapes, names, schema-valid inputs, event order), not the model's judgement.
Bodies and events are validated against the SDK's own types.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import jsonschema
import pydantic
import pytest

from tests.conftest import Server

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
CLOCK = {
    "name": "get_time",
    "description": "Current time in a timezone",
    "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
}
ASK = [{"role": "user", "content": "What's the weather like in Paris?"}]
ONE_CALL = {"type": "any", "disable_parallel_tool_use": True}
GREEDY = {"temperature": 0, "top_k": 1}
EVENT = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)


@pytest.fixture(scope="module")
def client(tiny_server: Server) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=tiny_server.root, api_key="unused", max_retries=0) as client:
        yield client


def create(client: anthropic.Anthropic, **kwargs: Any) -> anthropic.types.Message:
    # anthropic 2.x dropped temperature/top_p/top_k from its signature; the API (and we) still take them
    kwargs = {"model": "tiny", "messages": ASK, "max_tokens": 100, "extra_body": GREEDY} | kwargs
    message = client.messages.create(**kwargs)
    anthropic.types.Message.model_validate(message.model_dump())
    return message


def uses(message: anthropic.types.Message) -> list[anthropic.types.ToolUseBlock]:
    return [b for b in message.content if b.type == "tool_use"]


def test_any_calls_a_declared_tool_with_schema_valid_input(client: anthropic.Anthropic) -> None:
    # one call: with parallel use on, the tiny model keeps calling until max_tokens
    message = create(client, tools=[WEATHER, CLOCK], tool_choice=ONE_CALL)
    assert message.stop_reason == "tool_use" and message.role == "assistant"
    assert message.id.startswith("msg_") and message.type == "message"
    calls = uses(message)
    assert calls
    schemas = {t["name"]: t["input_schema"] for t in (WEATHER, CLOCK)}
    for call in calls:
        jsonschema.validate(call.input, schemas[call.name])
    assert message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0) > 0
    assert message.usage.output_tokens > 0


def test_named_tool_without_parallel_use_calls_exactly_that_tool(client: anthropic.Anthropic) -> None:
    choice = {"type": "tool", "name": "get_time", "disable_parallel_tool_use": True}
    message = create(client, tools=[WEATHER, CLOCK], tool_choice=choice)
    [call] = uses(message)
    assert call.name == "get_time" and isinstance(call.input["tz"], str)


def test_none_and_max_tokens(client: anthropic.Anthropic) -> None:
    message = create(client, tools=[WEATHER], tool_choice={"type": "none"}, max_tokens=3)
    assert not uses(message) and message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3 and message.content[0].type == "text"
    plain = create(client, max_tokens=60, system="Answer in one short sentence.")
    assert plain.stop_reason in ("end_turn", "max_tokens") and plain.stop_sequence is None


def test_a_stop_sequence_ends_the_message_and_is_named(client: anthropic.Anthropic) -> None:
    message = create(client, max_tokens=60, stop_sequences=[" "])
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == " "
    text = message.content[0].text if message.content and message.content[0].type == "text" else ""
    assert " " not in text


def test_stream_events_add_up_to_the_created_message(client: anthropic.Anthropic) -> None:
    kwargs: dict[str, Any] = {"tools": [WEATHER, CLOCK], "tool_choice": ONE_CALL}
    created = create(client, **kwargs)
    request = {"model": "tiny", "messages": ASK, "max_tokens": 100, "extra_body": GREEDY} | kwargs
    with client.messages.stream(**request) as stream:
        events = list(stream)
        final = stream.get_final_message()
    raw = [e for e in events if e.type in _RAW]
    for event in raw:
        EVENT.validate_python(event.model_dump())
    kinds = [e.type for e in raw]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    starts = [e.index for e in raw if e.type == "content_block_start"]
    stops = [e.index for e in raw if e.type == "content_block_stop"]
    assert starts == stops == list(range(len(final.content)))
    assert [b.model_dump(exclude={"id"}) for b in final.content] == [
        b.model_dump(exclude={"id"}) for b in created.content
    ]
    assert final.stop_reason == created.stop_reason == "tool_use"
    assert final.usage.output_tokens == created.usage.output_tokens


_RAW = {
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
}


def test_a_tool_result_turn_is_answered(client: anthropic.Anthropic) -> None:
    first = create(client, tools=[WEATHER], tool_choice=ONE_CALL)
    [call] = uses(first)
    messages = [
        *ASK,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 C, sunny"}],
        },
    ]
    answer = create(client, tools=[WEATHER], messages=messages, max_tokens=40)
    assert answer.stop_reason in ("end_turn", "max_tokens", "tool_use")
    failed = messages[:2] + [
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "down", "is_error": True}],
        }
    ]
    with client.messages.stream(model="tiny", messages=failed, max_tokens=20, extra_body=GREEDY) as stream:
        assert stream.get_final_message().stop_reason in ("end_turn", "max_tokens")


def test_count_tokens_matches_the_prompt_the_message_used(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model="tiny", messages=ASK, tools=[WEATHER])  # type: ignore[arg-type]
    message = create(client, tools=[WEATHER], max_tokens=1)
    assert counted.input_tokens == message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0)


def post(server: Server, payload: Any, path: str = "/v1/messages") -> httpx.Response:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(
        server.root + path, content=content, headers={"content-type": "application/json"}, timeout=120
    )


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "tiny", "max_tokens": 5, "messages": ASK} | fields


HOSTILE = [
    ("not json", b"{nope", 400, "invalid_request_error", "JSON"),
    ("max_tokens missing", {"model": "tiny", "messages": ASK}, 400, "invalid_request_error", "max_tokens"),
    ("max_tokens zero", body(max_tokens=0), 400, "invalid_request_error", "max_tokens"),
    ("empty messages", body(messages=[]), 400, "invalid_request_error", "messages"),
    ("bad role", body(messages=[{"role": "system", "content": "x"}]), 400, "invalid_request_error", "role"),
    ("temperature above 1", body(temperature=1.5), 400, "invalid_request_error", "temperature"),
    ("string temperature", body(temperature="0.5"), 400, "invalid_request_error", "temperature"),
    ("image block", body(messages=[{"role": "user", "content": [{"type": "image", "source": {}}]}]), 400,
     "invalid_request_error", "messages[0].content[0]"),
    ("server tool", body(tools=[{"type": "web_search_20250305", "name": "web_search"}]), 400,
     "invalid_request_error", "tools[0].type"),
    ("bad tool name", body(tools=[{"name": "no spaces", "input_schema": {"type": "object"}}]), 400,
     "invalid_request_error", "tools"),
    ("schema not an object", body(tools=[{"name": "f", "input_schema": {"type": "string"}}]), 400,
     "invalid_request_error", "tools"),
    ("tool_choice undeclared", body(tools=[WEATHER], tool_choice={"type": "tool", "name": "nope"}), 400,
     "invalid_request_error", "nope"),
    ("tool_choice without tools", body(tool_choice={"type": "any"}), 400, "invalid_request_error",
     "tool_choice"),
    ("unknown tool_use_id", body(messages=[*ASK, {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}]}]), 400, "invalid_request_error",
     "tool_call_id"),
    ("five stop sequences", body(stop_sequences=list("abcde")), 400, "invalid_request_error",
     "stop_sequences"),
    ("unknown model", body(model="claude-9"), 404, "not_found_error", "claude-9"),
    ("prompt beyond the context", body(messages=[{"role": "user", "content": "word " * 20_000}]), 400,
     "invalid_request_error", "context"),
    ("wrong method", None, 405, "invalid_request_error", "GET"),
    ("body over the limit", b'{"x": "' + b"x" * 5_000_000 + b'"}', 413, "request_too_large", "limit"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "payload", "status", "kind", "says"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_requests_get_anthropics_error_shape(
    tiny_server: Server, name: str, payload: Any, status: int, kind: str, says: str
) -> None:
    if payload is None:
        response = httpx.get(tiny_server.root + "/v1/messages", timeout=30)
    else:
        response = post(tiny_server, payload)
    assert response.status_code == status, response.text
    error = response.json()
    assert error == {"type": "error", "error": {"type": kind, "message": error["error"]["message"]}}
    assert says.lower() in error["error"]["message"].lower(), error
    assert post(tiny_server, body(max_tokens=1)).status_code == 200


def test_the_sdk_raises_its_own_errors(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="tiny", messages=ASK, max_tokens=5, extra_body={"temperature": 3})
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", messages=ASK, max_tokens=5)  # type: ignore[arg-type]


def test_metrics_count_the_route_and_its_completions(tiny_server: Server) -> None:
    before = httpx.get(tiny_server.root + "/metrics").text
    assert post(tiny_server, body(max_tokens=2)).status_code == 200
    after = httpx.get(tiny_server.root + "/metrics").text
    line = 'fncall_http_requests_total{method="POST",route="/v1/messages",status="200"}'
    assert _value(after, line) == _value(before, line) + 1
    length = 'fncall_completions_total{finish_reason="length"}'
    assert _value(after, length) == _value(before, length) + 1


def _value(exposition: str, sample: str) -> float:
    found = [ln.rsplit(" ", 1)[1] for ln in exposition.splitlines() if ln.startswith(sample + " ")]
    return float(found[0]) if found else 0.0


def test_all_three_routes_render_the_same_prompt(tiny_server: Server) -> None:
    """The edges translate into one pipeline: the same conversation and tools give the same prompt."""
    params = WEATHER["input_schema"]
    ask = ASK[0]["content"]
    tool = {"name": "get_weather", "description": WEATHER["description"], "parameters": params}
    chat = {
        "model": "tiny",
        "max_tokens": 1,
        "messages": ASK,
        "tools": [{"type": "function", "function": tool}],
    }
    responses = {
        "model": "tiny",
        "max_output_tokens": 1,
        "input": ask,
        "tools": [{"type": "function", **tool}],
    }
    counted = post(
        tiny_server, {"model": "tiny", "messages": ASK, "tools": [WEATHER]}, "/v1/messages/count_tokens"
    )
    prompt = post(tiny_server, chat, "/v1/chat/completions").json()["usage"]["prompt_tokens"]
    assert counted.json() == {"input_tokens": prompt}
    assert post(tiny_server, responses, "/v1/responses").json()["usage"]["input_tokens"] == prompt
