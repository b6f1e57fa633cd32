"""`POST /v1/responses` end to end on the tiny model through the official `openai` SDK.

The grammar is what makes a 135M-parameter model call tools here (`required` and named choices), so
these tests check the promises (shapes, names, schema-valid arguments, event order), not the model's
judgement. Bodies and events are validated against OpenAI's published schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from tests.conftest import Server
from tests.openapi_contract import validate

WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": WEATHER_PARAMS,
    "strict": True,
}
CLOCK = {
    "type": "function",
    "name": "get_time",
    "description": "Time in a timezone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
}
ASK = "What's the weather like in Paris?"
GREEDY: dict[str, Any] = {"temperature": 0, "max_output_tokens": 100}


@pytest.fixture(scope="module")
def client(tiny_server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=tiny_server.base_url, api_key="unused", max_retries=0) as client:
        yield client


def create(client: openai.OpenAI, **kwargs: Any) -> Any:
    response = client.responses.create(**({"model": "tiny", "input": ASK} | GREEDY | kwargs))
    validate("Response", response.model_dump(mode="json", exclude_unset=True, by_alias=True))
    return response


def calls(response: Any) -> list[Any]:
    return [item for item in response.output if item.type == "function_call"]


def test_required_calls_a_declared_tool_with_schema_valid_arguments(client: openai.OpenAI) -> None:
    response = create(client, tools=[WEATHER, CLOCK], tool_choice="required", parallel_tool_calls=False)
    assert response.status == "completed" and response.id.startswith("resp_")
    [call] = calls(response)
    schemas = {"get_weather": WEATHER_PARAMS, "get_time": CLOCK["parameters"]}
    jsonschema.validate(json.loads(call.arguments), schemas[call.name])
    assert call.call_id and call.status == "completed"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


def test_named_function_choice_and_string_input_items(client: openai.OpenAI) -> None:
    items = [{"role": "user", "content": [{"type": "input_text", "text": "Time in Tokyo?"}]}]
    response = create(
        client, input=items, instructions="Use tools.", tools=[WEATHER, CLOCK],
        tool_choice={"type": "function", "name": "get_time"}, parallel_tool_calls=False,
    )  # fmt: skip
    [call] = calls(response)
    assert call.name == "get_time" and isinstance(json.loads(call.arguments)["tz"], str)


def test_none_and_max_output_tokens_give_an_incomplete_text(client: openai.OpenAI) -> None:
    response = create(client, tools=[WEATHER], tool_choice="none", max_output_tokens=3)
    assert not calls(response) and response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].type == "message" and response.output_text
    assert response.usage.output_tokens == 3


def test_stream_events_are_in_order_and_add_up_to_the_created_response(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {
        "tools": [WEATHER, CLOCK],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }
    created = create(client, **kwargs)
    with client.responses.stream(model="tiny", input=ASK, **GREEDY, **kwargs) as stream:
        events = list(stream)
        final = stream.get_final_response()
    raw = [e.model_dump(mode="json", exclude_unset=True) for e in events]
    for event in raw:
        validate("ResponseStreamEvent", event)
    assert [e["sequence_number"] for e in raw] == list(range(len(raw)))
    kinds = [e["type"] for e in raw]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-3:-1] == ["response.function_call_arguments.done", "response.output_item.done"]
    strip = {"id", "call_id", "parsed_arguments"}  # the stream helper adds parsed_arguments
    assert [i.model_dump(exclude=strip) for i in final.output] == [
        i.model_dump(exclude=strip) for i in created.output
    ]
    assert final.usage.output_tokens == created.usage.output_tokens


def test_a_two_turn_loop_with_function_call_output(client: openai.OpenAI) -> None:
    first = create(client, tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)
    [call] = calls(first)
    turn = [
        {"role": "user", "content": ASK},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 C, sunny"},
    ]
    answer = create(client, input=turn, tools=[WEATHER], max_output_tokens=30)
    assert answer.status in ("completed", "incomplete")
    with client.responses.stream(model="tiny", input=turn, **GREEDY) as stream:  # type: ignore[arg-type]
        last = list(stream)[-1]
    assert last.type in ("response.completed", "response.incomplete") and last.response.output


def test_text_streams_as_output_text_deltas(client: openai.OpenAI) -> None:
    with client.responses.stream(model="tiny", input="Say hi.", temperature=0, max_output_tokens=8) as stream:
        events = list(stream)
    final = events[-1].response  # the SDK's get_final_response() waits for response.completed only
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text and deltas
    kinds = [e.type for e in events]
    assert kinds[2:4] == ["response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == [
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.incomplete",
    ]  # fmt: skip


CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 20}, "sunny": {"type": "boolean"}},
    "required": ["city", "sunny"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("stream", [False, True])
def test_text_format_json_schema_gives_schema_valid_json(client: openai.OpenAI, stream: bool) -> None:
    fmt = {"type": "json_schema", "name": "weather", "schema": CITY, "strict": True}
    kwargs: dict[str, Any] = {"model": "tiny", "input": ASK, "temperature": 0, "max_output_tokens": 60}
    if stream:
        with client.responses.stream(**kwargs, text={"format": fmt}) as events:  # type: ignore[arg-type]
            final = list(events)[-1].response  # type: ignore[union-attr]
    else:
        final = create(client, **kwargs, text={"format": fmt})
    assert final.status == "completed" and final.text.format.type == "json_schema"  # type: ignore[union-attr]
    jsonschema.validate(json.loads(final.output_text), CITY)


def test_text_format_json_object_and_the_sdks_parse(client: openai.OpenAI) -> None:
    json_object = {"format": {"type": "json_object"}}
    answer = create(client, input="Reply in JSON about Paris.", text=json_object, max_output_tokens=60)
    assert answer.status == "completed" and isinstance(json.loads(answer.output_text), dict)

    class City(BaseModel):
        city: str = Field(max_length=20)
        sunny: bool

    parsed = client.responses.parse(
        model="tiny", input=ASK, text_format=City, temperature=0, max_output_tokens=60
    )
    assert isinstance(parsed.output_parsed, City)


MATH_LARK = """
start: expr
expr: NUMBER (SP OP SP NUMBER)*
SP: " "
OP: "+" | "-" | "*"
NUMBER: /[0-9]{1,4}/
"""
CALC = {
    "type": "custom",
    "name": "calculator",
    "description": "Evaluates arithmetic",
    "format": {"type": "grammar", "syntax": "lark", "definition": MATH_LARK},
}
DATE = {
    "type": "custom",
    "name": "set_date",
    "format": {"type": "grammar", "syntax": "regex", "definition": r"\d{4}-\d{2}-\d{2}"},
}
NOTE = {"type": "custom", "name": "write_note", "description": "Saves a note"}


def custom_calls(response: Any) -> list[Any]:
    return [item for item in response.output if item.type == "custom_tool_call"]


@pytest.mark.parametrize(
    ("tool", "pattern"),
    [(CALC, r"[0-9]{1,4}( [-+*] [0-9]{1,4})*"), (DATE, r"\d{4}-\d{2}-\d{2}"), (NOTE, r"(?s).*")],
    ids=["lark", "regex", "free-form"],
)
def test_a_custom_tool_call_holds_to_its_grammar(client: openai.OpenAI, tool: Any, pattern: str) -> None:
    choice = {"type": "custom", "name": tool["name"]}
    response = create(client, input="What is 12 times 7?", tools=[tool, WEATHER], tool_choice=choice,
                      max_output_tokens=60)  # fmt: skip
    [call] = custom_calls(response)
    assert call.name == tool["name"] and call.call_id and response.status == "completed"
    assert re.fullmatch(pattern, call.input), call.input


def test_custom_tool_calls_stream_and_take_their_output(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {"tools": [CALC], "tool_choice": "required", "parallel_tool_calls": False}
    with client.responses.stream(model="tiny", input="12 times 7?", **GREEDY, **kwargs) as stream:
        events = list(stream)
    raw = [e.model_dump(mode="json", exclude_unset=True) for e in events]
    for event in raw:
        validate("ResponseStreamEvent", event)
    kinds = [e["type"] for e in raw]
    assert kinds[-3:-1] == ["response.custom_tool_call_input.done", "response.output_item.done"]
    [call] = custom_calls(events[-1].response)  # type: ignore[union-attr]
    assert raw[-3]["input"] == call.input and re.fullmatch(r"[0-9]{1,4}( [-+*] [0-9]{1,4})*", call.input)
    deltas = [e["delta"] for e in raw if e["type"] == "response.custom_tool_call_input.delta"]
    assert "".join(deltas) == call.input
    turn = [
        {"role": "user", "content": "12 times 7?"},
        {"type": "custom_tool_call", "call_id": call.call_id, "name": call.name, "input": call.input},
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "84"},
    ]
    answer = create(client, input=turn, tools=[CALC], tool_choice="none", max_output_tokens=10)
    assert answer.output and not custom_calls(answer)


def post(server: Server, payload: Any, path: str = "/v1/responses") -> httpx.Response:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(
        server.root + path, content=content, headers={"content-type": "application/json"}, timeout=120
    )


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "tiny", "input": ASK, "max_output_tokens": 2} | fields


HOSTILE = [
    ("not json", b"{nope", 400, None),
    ("input missing", {"model": "tiny"}, 400, "input"),
    ("input a number", body(input=5), 400, "input"),
    ("web_search tool", body(tools=[{"type": "web_search"}]), 400, "tools[0].type"),
    ("custom bad lark", body(tools=[CALC | {"format": {"type": "grammar", "syntax": "lark",
     "definition": "start: nope"}}]), 400, "tools[0].format"),
    ("custom bad regex", body(tools=[WEATHER, DATE | {"format": {"type": "grammar", "syntax": "regex",
     "definition": "(("}}]), 400, "tools[1].format"),
    ("custom lookahead", body(tools=[CALC | {"format": {"type": "grammar", "syntax": "lark",
     "definition": "start: /(?=a)a/"}}]), 400, "tools[0].format"),
    ("custom unknown syntax", body(tools=[CALC | {"format": {"type": "grammar", "syntax": "ebnf",
     "definition": "x"}}]), 400, "tools[0].format.syntax"),
    ("custom empty definition", body(tools=[CALC | {"format": {"type": "grammar", "syntax": "lark",
     "definition": " "}}]), 400, "tools[0].format.definition"),
    ("custom format not an object", body(tools=[CALC | {"format": "lark"}]), 400, "tools[0].format"),
    ("custom bad name", body(tools=[NOTE | {"name": "no spaces"}]), 400, "tools[0].name"),
    ("custom_tool_call without input", body(input=[{"type": "custom_tool_call", "call_id": "c",
     "name": "n"}]), 400, "input[0].input"),
    ("file_search second", body(tools=[WEATHER, {"type": "file_search", "vector_store_ids": []}]), 400,
     "tools[1].type"),
    ("mcp tool", body(tools=[{"type": "mcp", "server_label": "x", "server_url": "http://x"}]), 400,
     "tools[0].type"),
    ("hosted tool_choice", body(tools=[WEATHER], tool_choice={"type": "web_search_preview"}), 400,
     "tool_choice.type"),
    ("unknown item type", body(input=[{"type": "computer_call_output", "call_id": "x"}]), 400,
     "input[0].type"),
    ("image part", body(input=[{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]),
     400, "input[0].content[0]"),
    ("bad role", body(input=[{"role": "tool", "content": "x"}]), 400, "input[0].role"),
    ("function_call without call_id", body(input=[{"type": "function_call", "name": "f", "arguments": "{}"}]),
     400, "input[0].call_id"),
    ("unknown call_id", body(input=[{"role": "user", "content": "x"}, {"type": "function_call_output",
     "call_id": "nope", "output": "1"}]), 400, "messages[1].tool_call_id"),
    ("named undeclared", body(tools=[WEATHER], tool_choice={"type": "function", "name": "nope"}), 400,
     "tool_choice.function.name"),
    ("temperature too high", body(temperature=3), 400, "temperature"),
    ("max_output_tokens zero", body(max_output_tokens=0), 400, "max_output_tokens"),
    ("unknown previous_response_id", body(previous_response_id="resp_x"), 400, "previous_response_id"),
    ("previous_response_id a number", body(previous_response_id=5), 400, "previous_response_id"),
    ("previous_response_id huge", body(previous_response_id="r" * 100_000), 400, "previous_response_id"),
    ("store a string", body(store="yes"), 400, "store"),
    ("json_schema without name", body(text={"format": {"type": "json_schema", "schema": {}}}), 400,
     "text.format.name"),
    ("json_schema schema not an object", body(text={"format": {"type": "json_schema", "name": "x",
     "schema": 5}}), 400, "text.format.schema"),
    ("json_schema uncompilable", body(text={"format": {"type": "json_schema", "name": "x",
     "schema": {"type": "object", "properties": {"a": {"$ref": "#/nope"}}}}}), 400, "text.format"),
    ("json_object without the word", body(text={"format": {"type": "json_object"}}), 400, "input"),
    ("unknown text format", body(text={"format": {"type": "yaml"}}), 400, "text.format.type"),
    ("unknown model", body(model="gpt-9"), 404, "model"),
    ("prompt beyond the context", body(input="word " * 20_000), 400, "messages"),
    ("body over the limit", b'{"x": "' + b"x" * 5_000_000 + b'"}', 413, None),
]  # fmt: skip


@pytest.mark.parametrize(("name", "payload", "status", "param"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_requests_get_openai_errors_naming_the_param(
    tiny_server: Server, name: str, payload: Any, status: int, param: str | None
) -> None:
    for prefix in ("/v1", "/v1/openai"):
        response = post(tiny_server, payload, prefix + "/responses")
        assert response.status_code == status, response.text
        error = response.json()
        validate("ErrorResponse", error)
        assert error["error"]["param"] == param, error
    assert post(tiny_server, body()).status_code == 200


def test_metrics_count_the_route(tiny_server: Server) -> None:
    assert post(tiny_server, body()).status_code == 200
    exposition = httpx.get(tiny_server.root + "/metrics").text
    assert 'fncall_http_requests_total{method="POST",route="/v1/responses",status="200"}' in exposition
