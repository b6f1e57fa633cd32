"""Malformed and hostile requests against the real server: each gets its documented 4xx in OpenAI's error
shape, naming the offending parameter, and the server keeps serving (a normal request right after works)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.openapi_contract import validate

ASK = [{"role": "user", "content": "Say hi."}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
MODEL = "tiny"


def tool(name: str, parameters: Any = None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


def nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


def schema_format(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": ASK, "max_tokens": 2} | fields


def raw(text: str) -> bytes:
    return text.replace("MODEL", MODEL).encode()


def with_field(field: str) -> bytes:
    """A valid request plus one field spelled as raw JSON text (for NaN and Infinity)."""
    return raw('{"model": "MODEL", "messages": [{"role": "user", "content": "x"}], ' + field + "}")


def call(call_id: str, arguments: str = "{}") -> dict[str, Any]:
    function = {"name": "get_weather", "arguments": arguments}
    return {"role": "assistant", "tool_calls": [{"id": call_id, "type": "function", "function": function}]}


# (name, body: bytes as sent or a JSON value, status, param, code or None when not asserted)
CASES: list[tuple[str, Any, int, str | None, str | None]] = [
    # -- not JSON, or JSON that is not a request
    ("empty body", b"", 400, None, "invalid_json"),
    ("truncated json", raw('{"model": "MODEL", "messages": ['), 400, None, "invalid_json"),
    ("invalid utf-8", b'{"model": "tiny", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400, None,
     "invalid_json"),
    ("lone surrogate escape", raw('{"model": "MODEL", "messages": [{"role": "user", "content": "\\ud800"}]}'),
     400, None, "invalid_json"),
    ("trailing garbage", raw('{"model": "MODEL", "messages": []} xyz'), 400, None, "invalid_json"),
    ("top-level array", b"[1, 2]", 400, None, None),
    ("top-level string", b'"hello"', 400, None, None),
    ("top-level null", b"null", 400, None, None),
    ("deeply nested json", raw('{"model": "MODEL", "x": ' + "[" * 5000 + "]" * 5000 + "}"), 400, None,
     "invalid_json"),
    ("body over the size limit", b'{"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}', 413, None,
     "request_too_large"),
    # -- NaN, infinities and out-of-range numbers
    ("NaN temperature", with_field('"temperature": NaN'), 400, "temperature", None),
    ("Infinity top_p", with_field('"top_p": Infinity'), 400, "top_p", None),
    ("-Infinity penalty", with_field('"presence_penalty": -Infinity'), 400, "presence_penalty", None),
    ("NaN logit bias", with_field('"logit_bias": {"1": NaN}'), 400, "logit_bias.1", None),
    ("temperature too high", body(temperature=2.5), 400, "temperature", None),
    ("temperature negative", body(temperature=-0.1), 400, "temperature", None),
    ("top_p above 1", body(top_p=1.5), 400, "top_p", None),
    ("presence_penalty above 2", body(presence_penalty=3), 400, "presence_penalty", None),
    ("seed beyond int64", body(seed=2**63), 400, "seed", None),
    # -- negative and zero limits
    ("max_tokens zero", body(max_tokens=0), 400, "max_tokens", None),
    ("max_tokens negative", body(max_tokens=-1), 400, "max_tokens", None),
    ("max_completion_tokens negative", body(max_completion_tokens=-5), 400, "max_completion_tokens", None),
    ("top_k negative", body(top_k=-1), 400, "top_k", None),
    ("repetition_penalty zero", body(repetition_penalty=0), 400, "repetition_penalty", None),
    ("repetition_penalty above 2", body(repetition_penalty=2.5), 400, "repetition_penalty", None),
    ("repetition_penalty a string", body(repetition_penalty="high"), 400, "repetition_penalty", None),
    ("top_logprobs negative", body(top_logprobs=-1), 400, "top_logprobs", None),
    ("n zero", body(n=0), 400, "n", None),
    ("n above --max-n", body(n=9), 400, "n", "invalid_value"),
    ("n 1000", body(n=1000), 400, "n", None),
    ("n a string", body(n="2"), 400, "n", None),
    ("top_logprobs 21", body(logprobs=True, top_logprobs=21), 400, "top_logprobs", None),
    ("top_logprobs without logprobs", body(top_logprobs=2), 400, "top_logprobs", "invalid_value"),
    # -- wrong types (strict: no coercion)
    ("model missing", {"messages": ASK}, 400, "model", "missing_required_parameter"),
    ("model a number", body(model=7), 400, "model", None),
    ("unknown model", body(model="gpt-9"), 404, "model", "model_not_found"),
    ("unserved hub-style model name", body(model="meta-llama/Meta-Llama-3.1-70B-Instruct"), 404, "model",
     "model_not_found"),
    ("model name 100 kB long", body(model="m" * 100_000), 404, "model", "model_not_found"),
    ("model a list of names", body(model=["tiny"]), 400, "model", None),
    ("messages missing", {"model": MODEL}, 400, "messages", "missing_required_parameter"),
    ("messages empty", body(messages=[]), 400, "messages", None),
    ("messages an object", body(messages={"role": "user"}), 400, "messages", None),
    ("message a string", body(messages=["hi"]), 400, "messages[0]", None),
    ("unknown role", body(messages=[{"role": "robot", "content": "x"}]), 400, "messages[0].role", None),
    ("role missing", body(messages=[{"content": "x"}]), 400, "messages[0].role", None),
    ("content a number", body(messages=[{"role": "user", "content": 5}]), 400, "messages[0].content", None),
    ("content part unknown", body(messages=[{"role": "user", "content": [{"type": "video"}]}]), 400,
     "messages[0].content[0].type", None),
    ("image part", body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
     400, "messages[0].content[0].type", None),
    ("max_tokens a float", body(max_tokens=1.5), 400, "max_tokens", None),
    ("max_tokens a string", body(max_tokens="2"), 400, "max_tokens", None),
    ("max_tokens a bool", body(max_tokens=True), 400, "max_tokens", None),
    ("temperature a string", body(temperature="hot"), 400, "temperature", None),
    ("stream a string", body(stream="yes"), 400, "stream", None),
    ("stream_options a list", body(stream_options=[True]), 400, "stream_options", None),
    # -- values we refuse
    ("five stops", body(stop=list("abcde")), 400, "stop", None),
    ("empty stop", body(stop=[""]), 400, "stop", None),
    ("logit_bias key not a token", body(logit_bias={"x": 1}), 400, "logit_bias", None),
    ("logit_bias token out of vocab", body(logit_bias={"99999999": 1}), 400, "logit_bias", None),
    ("logit_bias value too big", body(logit_bias={"1": 200}), 400, "logit_bias", None),
    ("logprobs a string", body(logprobs="yes"), 400, "logprobs", None),
    # -- structured outputs
    ("json_schema without json_schema", body(response_format={"type": "json_schema"}), 400,
     "response_format.json_schema", "invalid_value"),
    ("json_object without the word JSON", body(response_format={"type": "json_object"}), 400, "messages",
     "invalid_value"),
    ("response_format type unknown", body(response_format={"type": "yaml"}), 400, "response_format.type",
     None),
    ("response_format a string", body(response_format="json"), 400, "response_format", None),
    ("json_schema schema not compilable", body(response_format=schema_format({"type": "nope"})), 400,
     "response_format", "invalid_value"),
    ("json_schema schema 200 kB", body(response_format=schema_format({"description": "x" * 200_000})), 400,
     "response_format.json_schema.schema", "invalid_value"),
    ("json_schema nested 300 deep", body(response_format=schema_format(nested(300))), 400, None, None),
    # -- legacy functions / function_call
    ("functions and tools together", body(functions=[WEATHER["function"]], tools=[WEATHER]), 400, "functions",
     "invalid_value"),
    ("function_call without functions", body(function_call="auto"), 400, "function_call", "invalid_value"),
    ("function_call naming no function", body(functions=[WEATHER["function"]], function_call={"name": "x"}),
     400, "function_call.name", None),
    ("functions empty", body(functions=[]), 400, "functions", "invalid_value"),
    # -- tools
    ("tools an object", body(tools=WEATHER), 400, "tools", None),
    ("129 tools", body(tools=[tool(f"f{i}") for i in range(129)]), 400, "tools", None),
    ("tool name with spaces", body(tools=[tool("get weather")]), 400, "tools[0].function.name", None),
    ("tool name 65 chars", body(tools=[tool("f" * 65)]), 400, "tools[0].function.name", None),
    ("duplicate tool names", body(tools=[WEATHER, WEATHER]), 400, "tools[1].function.name", None),
    ("tool type not function", body(tools=[{"type": "custom", "custom": {}}]), 400, "tools[0].type", None),
    ("schema nested 40 deep", body(tools=[tool("f", nested(40))]), 400, "tools[0].function.parameters", None),
    ("schema over 64 KiB", body(tools=[tool("f", {"type": "object", "description": "x" * 70_000})]), 400,
     "tools[0].function.parameters", None),
    ("schema not an object type", body(tools=[tool("f", {"type": "array"})]), 400,
     "tools[0].function.parameters", None),
    ("tool_choice unknown mode", body(tools=[WEATHER], tool_choice="always"), 400, "tool_choice", None),
    ("tool_choice undeclared tool", body(tools=[WEATHER], tool_choice={"type": "function", "function":
     {"name": "nope"}}), 400, "tool_choice.function.name", None),
    ("tool_choice without tools", body(tool_choice="required"), 400, "tool_choice", None),
    ("unknown tool_call_id", body(messages=[*ASK, {"role": "tool", "tool_call_id": "call_x",
     "content": "1"}]), 400, "messages[1].tool_call_id", None),
    ("replayed arguments not json", body(messages=[*ASK, call("c1", "{oops"), {"role": "tool",
     "tool_call_id": "c1", "content": "{}"}], tools=[WEATHER]), 400,
     "messages[1].tool_calls[0].function.arguments", None),
    # -- huge inputs under the body limit
    ("prompt beyond the context", body(messages=[{"role": "user", "content": "word " * 20_000}]), 400,
     "messages", "context_length_exceeded"),
    ("20000 messages", body(messages=[{"role": "user", "content": "x"}] * 20_000), 400, "messages",
     "context_length_exceeded"),
]  # fmt: skip


def post(server: Server, payload: Any, path: str = "/v1/chat/completions") -> httpx.Response:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(
        server.root + path, content=content, headers={"Content-Type": "application/json"}, timeout=120
    )


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize(("name", "payload", "status", "param", "code"), CASES, ids=[c[0] for c in CASES])
def test_hostile_request_gets_its_4xx_and_the_server_keeps_serving(
    tiny_server: Server, name: str, payload: Any, status: int, param: str | None, code: str | None
) -> None:
    response = post(tiny_server, payload)
    assert response.status_code == status, response.text
    error = response.json()
    validate("ErrorResponse", error)
    assert error["error"]["param"] == param, error
    assert error["error"]["message"]
    if code is not None:
        assert error["error"]["code"] == code, error
    ok = post(tiny_server, body(max_tokens=1))
    assert ok.status_code == 200, ok.text


def test_a_chunked_body_over_the_limit_is_refused_while_read(tiny_server: Server) -> None:
    def chunks() -> Any:
        yield b'{"pad": "'
        for _ in range(80):
            yield b"x" * 65536
        yield b'"}'

    response = httpx.post(tiny_server.root + "/v1/chat/completions", content=chunks(), timeout=120)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


ODD_BUT_VALID = {
    "negative seed": body(seed=-5),
    "tiny temperature": body(temperature=1e-300),
    "huge top_k": body(top_k=10**30),
    "NUL and emoji in content": body(messages=[{"role": "user", "content": "a\u0000b 🦜 \u202e"}]),
    "unknown fields are ignored": body(frobnicate={"deep": [1, 2, {"x": None}]}),
    "integral floats for integers": body(max_tokens=2.0, n=1.0),
    "n at --max-n with 20 top_logprobs": body(n=8, logprobs=True, top_logprobs=20),
    # Found by schemathesis: a legacy `function` result once made a 500 (it has no tool_call_id).
    "legacy function result": body(messages=[*ASK, {"role": "function", "name": "f", "content": "1"}]),
}


@pytest.mark.parametrize("payload", ODD_BUT_VALID.values(), ids=ODD_BUT_VALID.keys())
def test_odd_but_valid_requests_are_served(tiny_server: Server, payload: dict[str, Any]) -> None:
    response = post(tiny_server, payload)
    assert response.status_code == 200, response.text
    validate("CreateChatCompletionResponse", response.json())


@pytest.mark.parametrize(("name", "payload", "status", "param", "code"), CASES, ids=[c[0] for c in CASES])
def test_the_playground_dry_run_refuses_what_the_route_refuses(
    tiny_server: Server, name: str, payload: Any, status: int, param: str | None, code: str | None
) -> None:
    """`POST /ui/api/check` (the page's check as you type) answers each hostile request exactly as the
    completion route does: same status, parameter and code (in its 200 answer; a body over the limit is
    refused before any route, with the status itself)."""
    response = post(tiny_server, payload, "/ui/api/check")
    answer = response.json()
    if status == 413:
        assert response.status_code == 413, response.text
    else:
        assert response.status_code == 200 and (answer.pop("ok"), answer.pop("status")) == (False, status)
    error = answer
    validate("ErrorResponse", error)
    assert error["error"]["param"] == param, error
    if code is not None:
        assert error["error"]["code"] == code, error
    ok = post(tiny_server, body(max_tokens=1), "/ui/api/check")
    assert ok.status_code == 200 and ok.json()["ok"] is True, ok.text


def text(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "prompt": "Say hi.", "max_tokens": 2} | fields


# `POST /v1/completions` (legacy text completions): (name, body, status, param, code or None)
TEXT_CASES: list[tuple[str, Any, int, str | None, str | None]] = [
    ("prompt missing", {"model": MODEL}, 400, "prompt", "missing_required_parameter"),
    ("prompt a number", text(prompt=5), 400, "prompt", None),
    ("prompt an object", text(prompt={"text": "hi"}), 400, "prompt", None),
    ("prompt mixing strings and ids", text(prompt=["a", 1]), 400, "prompt", None),
    ("prompt an empty list", text(prompt=[]), 400, "prompt", "invalid_value"),
    ("prompt empty", text(prompt=""), 400, "prompt", "invalid_value"),
    ("prompt token id negative", text(prompt=[1, -2]), 400, "prompt", None),
    ("prompt token id beyond the vocabulary", text(prompt=[[1], [10**9]]), 400, "prompt[1]", "invalid_value"),
    ("prompt beyond the context", text(prompt="word " * 20_000), 400, "prompt", "context_length_exceeded"),
    ("suffix", text(suffix="!"), 400, "suffix", "unsupported_value"),
    ("logprobs 6", text(logprobs=6), 400, "logprobs", None),
    ("best_of above n", text(best_of=2), 400, "best_of", "unsupported_value"),
    ("n 0", text(n=0), 400, "n", None),
    ("n above --max-n", text(n=9), 400, "n", "invalid_value"),
    ("prompts x n above --max-waiting", text(prompt=["x"] * 9, n=8), 400, "prompt", "invalid_value"),
    ("max_tokens zero", text(max_tokens=0), 400, "max_tokens", None),
    ("stop five strings", text(stop=list("abcde")), 400, "stop", None),
    ("model unknown", text(model="gpt-3.5-turbo-instruct"), 404, "model", "model_not_found"),
    ("NaN temperature", raw('{"model": "MODEL", "prompt": "x", "temperature": NaN}'), 400, "temperature",
     None),
]  # fmt: skip


@pytest.mark.parametrize(("name", "payload", "status", "param", "code"), TEXT_CASES,
                         ids=[c[0] for c in TEXT_CASES])  # fmt: skip
def test_hostile_text_completion_gets_its_4xx_and_the_server_keeps_serving(
    tiny_server: Server, name: str, payload: Any, status: int, param: str | None, code: str | None
) -> None:
    response = post(tiny_server, payload, "/v1/completions")
    assert response.status_code == status, response.text
    error = response.json()
    validate("ErrorResponse", error)
    assert error["error"]["param"] == param, error
    assert error["error"]["message"]
    if code is not None:
        assert error["error"]["code"] == code, error
    ok = post(tiny_server, text(max_tokens=1), "/v1/completions")
    assert ok.status_code == 200, ok.text
