"""The seed's weather example on the real default model (Qwen2.5-Coder-1.5B) through the Python SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.openapi_contract import validate

pytestmark = pytest.mark.default_model

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        },
    }
]
QUESTION = [{"role": "user", "content": "What's the weather like in San Francisco?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = start_server("--model", "default", "--ctx", "4096", "--parallel", "1")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=600)


def ask(client: openai.OpenAI, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="default",
        messages=messages,
        tools=TOOLS,
        temperature=0,
        max_tokens=200,
        **kwargs,  # type: ignore[arg-type]
    )


def tool_result(call_id: str, location: str) -> dict[str, Any]:
    content = json.dumps({"location": location, "temperature": "60", "unit": "fahrenheit"})
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def streamed(
    client: openai.OpenAI, messages: list[dict[str, Any]]
) -> tuple[str, list[tuple[str, str, str]], str]:
    """Content, calls (id, name, arguments) and finish reason assembled from the raw stream."""
    content, calls, finish = "", {}, ""
    for chunk in ask(client, messages, stream=True):
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
        choice = chunk.choices[0]
        content += choice.delta.content or ""
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            entry = calls.setdefault(delta.index, [delta.id, delta.function.name, ""])
            entry[2] += delta.function.arguments or ""
    return content, [tuple(c) for _, c in sorted(calls.items())], finish  # type: ignore[misc]


def test_weather_two_turns_non_streaming(client: openai.OpenAI) -> None:
    first = ask(client, QUESTION)
    validate("CreateChatCompletionResponse", first.model_dump(exclude_unset=True))
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    arguments = json.loads(call.function.arguments)
    assert call.function.name == "get_current_weather" and "San Francisco" in arguments["location"]
    conversation = [
        *QUESTION,
        choice.message.model_dump(exclude_none=True),
        tool_result(call.id, arguments["location"]),
    ]
    second = ask(client, conversation).choices[0]
    assert second.finish_reason == "stop" and second.message.tool_calls is None
    assert "60" in (second.message.content or "")


def test_weather_two_turns_streaming_equals_non_streaming(client: openai.OpenAI) -> None:
    whole = ask(client, QUESTION).choices[0].message
    content, calls, finish = streamed(client, QUESTION)
    assert finish == "tool_calls" and content == ""
    assert [(name, args) for _, name, args in calls] == [
        (c.function.name, c.function.arguments) for c in whole.tool_calls
    ]
    call_id, _, args = calls[0]
    assert call_id.startswith("call_")
    assistant = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": "get_current_weather", "arguments": args},
            }
        ],
    }
    conversation = [*QUESTION, assistant, tool_result(call_id, json.loads(args)["location"])]
    content, calls, finish = streamed(client, conversation)
    assert finish == "stop" and not calls and "60" in content
    assert content == ask(client, conversation).choices[0].message.content


def test_sdk_stream_helper_final_completion_equals_non_streamed(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="default",
        messages=QUESTION,
        tools=TOOLS,
        temperature=0,
        max_tokens=200,  # type: ignore[arg-type]
    ) as stream:
        final = stream.get_final_completion().choices[0]
    whole = ask(client, QUESTION).choices[0]
    assert final.finish_reason == whole.finish_reason == "tool_calls"
    assert [(c.function.name, c.function.arguments) for c in final.message.tool_calls or []] == [
        (c.function.name, c.function.arguments) for c in whole.message.tool_calls
    ]


STOCKS = [
    {
        "type": "function",
        "function": {
            "name": "get_stock_price",
            "description": "Get the latest price of a stock in US dollars.",
            "parameters": {
                "type": "object",
                "properties": {"symbol": {"type": "string"}},
                "required": ["symbol"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "buy_shares",
            "description": "Buy shares of a stock.",
            "parameters": {
                "type": "object",
                "properties": {"symbol": {"type": "string"}, "quantity": {"type": "integer"}},
                "required": ["symbol", "quantity"],
            },
        },
    },
]


def test_seed_example_as_written_gets_the_models_sampling(client: openai.OpenAI) -> None:
    """No temperature, as the seed sends it: the model's own defaults apply (a fixed seed only makes
    the run repeatable); the call, then an answer with the result, streamed and not."""
    for stream in (False, True):
        kwargs: dict[str, Any] = {"model": "default", "messages": QUESTION, "tools": TOOLS, "seed": 3}
        if stream:
            with client.chat.completions.stream(**kwargs) as events:
                message = events.get_final_completion().choices[0].message
        else:
            message = client.chat.completions.create(**kwargs).choices[0].message
        [call] = message.tool_calls or []
        location = json.loads(call.function.arguments)["location"]
        assert call.function.name == "get_current_weather" and "San Francisco" in location
        follow_up = [*QUESTION, message.model_dump(exclude_none=True), tool_result(call.id, location)]
        answer = client.chat.completions.create(**kwargs | {"messages": follow_up}).choices[0].message
        assert "60" in (answer.content or "")


def test_a_result_that_decides_the_next_action_gets_that_call(client: openai.OpenAI) -> None:
    """After a result the decision is made on the model's own probabilities without the answer's
    closing sentence (which moved this call's mass to prose): the condition holds, so it buys."""
    ask = "Check the price of ACME. If it is below 100 dollars, buy 10 shares."
    lookup = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_stock_price", "arguments": '{"symbol": "ACME"}'},
    }
    conversation = [
        {"role": "user", "content": ask},
        {"role": "assistant", "content": None, "tool_calls": [lookup]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"symbol": "ACME", "price": 87.5})},
    ]
    reply = client.chat.completions.create(
        model="default", messages=conversation, tools=STOCKS, temperature=0, max_tokens=100
    ).choices[0]
    assert reply.finish_reason == "tool_calls", reply.message.content
    [call] = reply.message.tool_calls or []
    assert call.function.name == "buy_shares"
    assert json.loads(call.function.arguments) == {"symbol": "ACME", "quantity": 10}


def test_results_of_two_calls_are_answered_not_refused(client: openai.OpenAI) -> None:
    """bench/scenarios.py's two-city fan-out after both results: the decision's call share is just over
    its threshold, so a call is forced and the model can only repeat an answered one; that attempt hands
    over to the answer with the tools and the closing sentence. It used to go to the tool-less
    conversation, where the model answered "I apologize, but I can't assist with that."
    (api/generation.py, _next_plan)."""
    from bench.scenarios import TASKS

    task = next(t for t in TASKS if t.id == "fan_weather_two")
    cities = ("Tokyo", "Paris")
    calls = [
        {
            "id": f"call_{c}",
            "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": c})},
        }
        for c in cities
    ]
    conversation = [
        {"role": "user", "content": task.ask},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *(
            {"role": "tool", "tool_call_id": f"call_{c}", "content": task.execute("get_weather", {"city": c})}
            for c in cities
        ),
    ]
    reply = client.chat.completions.create(
        model="default", messages=conversation, tools=task.openai_tools(), temperature=0, max_tokens=100
    ).choices[0]
    assert reply.finish_reason == "stop" and not reply.message.tool_calls
    answer = reply.message.content or ""
    assert "18" in answer and "12" in answer, answer


def test_a_made_up_call_after_results_gives_way_to_the_answer(client: openai.OpenAI) -> None:
    """Given the weather in Berlin and the EUR-USD rate it asked for, the model (greedy) goes on to book
    a taxi from "123 Main St" at 14:30, values nobody gave (with --no-ground-calls that call is the
    reply). None of them occurs in the conversation, so the call is dropped unseen and the answer is
    written instead, streamed as not (tools/grounding.py, api/generation.py)."""
    from bench.scenarios import TASKS

    task = next(t for t in TASKS if t.id == "fan_weather_and_rate")
    made = [
        ("get_weather", {"city": "Berlin"}),
        ("get_exchange_rate", {"from_currency": "EUR", "to_currency": "USD"}),
    ]
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, (n, a) in enumerate(made)
    ]
    conversation = [
        {"role": "user", "content": task.ask},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *(
            {"role": "tool", "tool_call_id": f"call_{i}", "content": task.execute(n, a)}
            for i, (n, a) in enumerate(made)
        ),
    ]
    kwargs: dict[str, Any] = dict(
        model="default", messages=conversation, tools=task.openai_tools(), temperature=0, max_tokens=200
    )
    reply = client.chat.completions.create(**kwargs).choices[0]
    assert reply.finish_reason == "stop" and not reply.message.tool_calls
    answer = reply.message.content or ""
    assert "1.08" in answer and "9" in answer, answer
    chunks = list(client.chat.completions.create(**kwargs, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)


RECTANGLE = [
    {
        "type": "function",
        "function": {
            "name": "integral",
            "description": "Calculate the definite integral of a function over an interval [a, b].",
            "parameters": {
                "type": "object",
                "properties": {
                    "function": {"description": "The function to integrate.", "type": "string"},
                    "a": {"description": "The lower bound of the interval.", "type": "number"},
                    "b": {"description": "The upper bound of the interval.", "type": "number"},
                },
                "required": ["function", "a", "b"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_rectangle_property",
            "description": "Get specific property of the rectangle (like length, width) based on perimeter "
            "and area. Note that the provided function is in Python 3 syntax.",
            "parameters": {
                "type": "object",
                "properties": {
                    "perimeter": {"description": "Perimeter of the rectangle.", "type": "integer"},
                    "area": {"description": "Area of the rectangle.", "type": "integer"},
                    "property": {
                        "description": "Specific property required. It can be length, width or diagonal.",
                        "type": "string",
                    },
                    "tolerance": {
                        "description": "Allowed error for calculations. (optional) Default 0.1 This is a "
                        "float type value.",
                        "type": "number",
                    },
                },
                "required": ["perimeter", "area", "property"],
            },
        },
    },
]


def test_a_second_call_is_not_lost_at_the_first_calls_closing_brace(client: openai.OpenAI) -> None:
    """BFCL's dev case parallel_multiple_3. Right after the first call's object Qwen2.5-Coder puts 0.99+
    on ending the turn (it skips its own `</tool_call>`), whether a next call is wanted or not, and this
    answer used to end there with the length alone. The turn may not end at the brace
    (tools/constraint.py): after the newline the model goes on to the width by itself. Streamed as not."""
    question = "What are the length and the width of a rectangle which has a perimeter of 14 and area of 15."
    kwargs: dict[str, Any] = {
        "model": "default",
        "messages": [{"role": "user", "content": question}],
        "tools": RECTANGLE,
        "temperature": 0,
        "max_tokens": 200,
    }
    reply = client.chat.completions.create(**kwargs).choices[0]
    assert reply.finish_reason == "tool_calls", reply.message.content
    made = [json.loads(c.function.arguments) for c in reply.message.tool_calls or []]
    asked = [(m["perimeter"], m["area"], m["property"]) for m in made]
    assert asked == [(14, 15, "length"), (14, 15, "width")]
    calls: dict[int, str] = {}
    for chunk in client.chat.completions.create(**kwargs, stream=True):
        for delta in chunk.choices[0].delta.tool_calls or []:
            calls[delta.index] = calls.get(delta.index, "") + (delta.function.arguments or "")
    assert [json.loads(calls[i]) for i in sorted(calls)] == made
