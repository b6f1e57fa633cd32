"""Responses translation, pure logic: request → chat request, deltas → events → output items."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fncall.api.choices import ChoiceBuilder, merge
from fncall.api.errors import APIError
from fncall.api.responses.events import ItemStream, custom_input
from fncall.api.responses.items import request_items, stored_items
from fncall.api.responses.protocol import ResponsesRequest, to_chat
from fncall.tools.formats import FALLBACK, FORMATS
from fncall.tools.spec import parse_tool_request
from tests.openapi_contract import validate

TOOLS = parse_tool_request(
    [
        {"type": "function", "function": {"name": "get_weather"}},
        {"type": "function", "function": {"name": "get_time"}},
    ],
    None,
    None,
)
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
TEXTS = [
    "Hello there, friend.",
    CALL,
    "Sure. " + CALL + '\n<tool_call>\n{"name": "get_time", "arguments": {"tz": "CET"}}\n</tool_call>',
    "<think>\nParis, so get_weather.\n</think>\n\n" + CALL,
]


def run(text: str, cuts: list[int], *, qwen3: bool) -> tuple[list[dict[str, Any]], ItemStream, Any]:
    syntax = FORMATS["qwen3"].syntax if qwen3 else FALLBACK.syntax
    ids = iter(f"call_{n}" for n in range(10))
    builder, items = ChoiceBuilder(TOOLS, syntax, new_id=lambda: next(ids)), ItemStream()
    bounds = [0, *sorted(set(cuts)), len(text)]
    deltas = [d for a, b in zip(bounds, bounds[1:], strict=False) for d in builder.feed(text[a:b])]
    deltas += builder.finish()
    events = [e for d in deltas for e in items.feed(d)] + items.close()
    return events, items, merge(deltas)


def without_ids(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "id"} for item in output]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(range(len(TEXTS))), st.lists(st.integers(0, 200), max_size=12), st.booleans())
def test_any_chunking_gives_the_one_shot_output(i: int, cuts: list[int], qwen3: bool) -> None:
    text = TEXTS[i]
    events, items, message = run(text, [c for c in cuts if c < len(text)], qwen3=qwen3)
    _, one_shot, _ = run(text, [], qwen3=qwen3)
    assert without_ids(items.output) == without_ids(one_shot.output)
    for n, event in enumerate(events):
        validate("ResponseStreamEvent", event | {"sequence_number": n})
    # the done events carry the very items of the output, and the items say what the chat message says
    assert [e["item"] for e in events if e["type"] == "response.output_item.done"] == items.output
    texts = [c["text"] for item in items.output if item["type"] == "message" for c in item["content"]]
    assert "".join(texts) == (message["content"] or "")
    calls = [(c["call_id"], c["name"], c["arguments"]) for c in items.output if c["type"] == "function_call"]
    expected = [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls", [])
    ]
    assert calls == expected


def request(**fields: Any) -> ResponsesRequest:
    return ResponsesRequest.model_validate({"model": "tiny", "input": "hi"} | fields)


def test_a_tool_loop_translates_into_chat_messages() -> None:
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": '{"city": "Rome"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "18 C"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "20 C"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
    ]
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    chat = to_chat(
        request(
            input=items, instructions="Be brief.", tools=tools, max_output_tokens=9, parallel_tool_calls=False
        )
    )
    assert [m.role for m in chat.messages] == ["system", "user", "assistant", "tool", "tool"]
    assistant = chat.messages[2]
    assert assistant.content == "Checking." and len(assistant.tool_calls or []) == 2  # type: ignore[union-attr]
    assert chat.messages[4].content == "20 C"
    assert chat.tools and chat.tools[0]["function"]["strict"] is True
    assert chat.max_tokens == 9 and chat.parallel_tool_calls is False
    choice = {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "get_weather"}],
    }
    allowed = to_chat(request(tools=tools, tool_choice=choice)).tool_choice
    assert allowed == {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": choice["tools"]},
    }


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0].type"),
        ({"tools": [{"type": "custom", "name": "x", "format": "lark"}]}, "tools[0].format"),
        ({"tools": [{"type": "local_shell"}]}, "tools[0].type"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": 5}]}, "input[0].content"),
    ],
)
def test_what_has_no_meaning_here_is_refused_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(APIError) as info:
        to_chat(request(**fields))
    assert info.value.param == param and info.value.status == 400
    if param.endswith(".type") and "tools" in fields:
        assert "only 'function' and 'custom' tools run on this server" in info.value.message


def test_arguments_are_json_text_as_generated() -> None:
    _, items, _ = run(CALL, [5, 30], qwen3=False)
    [call] = items.output
    assert json.loads(call["arguments"]) == {"city": "Paris"} and call["status"] == "completed"


STORED_INPUT = [
    "Weather in Paris?",
    {"role": "developer", "content": [{"type": "input_text", "text": "Be brief."}]},
    {"type": "message", "role": "assistant", "content": "Checking."},
    {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "c1", "output": "18 C"},
    {"type": "reasoning", "summary": []},
]


def test_stored_items_have_ids_and_openais_listed_shapes() -> None:
    items = stored_items(request_items(STORED_INPUT[0]) + STORED_INPUT[1:])  # type: ignore[arg-type, operator]
    for item in items:
        validate("ItemResource", item)
    assert len({item["id"] for item in items}) == len(items)
    assert items[0]["content"] == [{"type": "input_text", "text": "Weather in Paris?"}]
    assert items[2]["content"][0]["type"] == "output_text"
    kept = stored_items([{"id": "msg_mine", "role": "user", "content": "x"}])
    assert kept[0]["id"] == "msg_mine"


def test_history_comes_before_the_new_input() -> None:
    history = stored_items(request_items(STORED_INPUT[3:5]))  # type: ignore[arg-type]
    history = stored_items(request_items("Weather in Paris?")) + history
    tools = [{"type": "function", "name": "get_weather"}]
    chat = to_chat(request(input="And in Rome?", instructions="Be brief.", tools=tools), history)
    assert [m.role for m in chat.messages] == ["system", "user", "assistant", "tool", "user"]


CUSTOM_TOOLS = parse_tool_request(
    [{"type": "custom", "custom": {"name": "calc"}}, {"type": "function", "function": {"name": "get_time"}}],
    None,
    None,
)
CUSTOM_CALL = '<tool_call>\n{"name": "calc", "arguments": {"input": "say \\"hi\\"\\n1 + 2"}}\n</tool_call>'


def run_custom(text: str, cuts: list[int]) -> tuple[list[dict[str, Any]], ItemStream]:
    ids = iter(f"call_{n}" for n in range(10))
    builder = ChoiceBuilder(CUSTOM_TOOLS, FALLBACK.syntax, new_id=lambda: next(ids))
    items = ItemStream(frozenset({"calc"}))
    bounds = [0, *sorted(set(cuts)), len(text)]
    deltas = [d for a, b in zip(bounds, bounds[1:], strict=False) for d in builder.feed(text[a:b])]
    deltas += builder.finish()
    return [e for d in deltas for e in items.feed(d)] + items.close(), items


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.integers(0, 120), max_size=10))
def test_a_custom_call_is_one_custom_tool_call_item_whatever_the_chunking(cuts: list[int]) -> None:
    text = "Sure. " + CUSTOM_CALL
    events, items = run_custom(text, [c for c in cuts if c < len(text)])
    for n, event in enumerate(events):
        validate("ResponseStreamEvent", event | {"sequence_number": n})
    message, call = items.output
    assert message["type"] == "message" and call["type"] == "custom_tool_call"
    assert call["input"] == 'say "hi"\n1 + 2' and call["name"] == "calc" and call["call_id"] == "call_0"
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["response.custom_tool_call_input.done", "response.output_item.done"]
    deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    assert "".join(deltas) == call["input"] and all(deltas)  # streamed as written, never empty
    assert events[-1]["item"] == call


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"input": "a\\nb"}', "a\nb"),
        ('{"input": "a\\nb', "a\nb"),
        ('{"input": "a\\', "a"),
        ('{"input": "a\\u00', "a"),
        ('{"input": ', ""),
        ("", ""),
    ],
)
def test_a_custom_input_cut_short_is_what_was_written(arguments: str, expected: str) -> None:
    assert custom_input(arguments) == expected


def test_custom_tools_and_their_items_translate_into_chat() -> None:
    tools = [
        {
            "type": "custom",
            "name": "calc",
            "format": {"type": "grammar", "syntax": "lark", "definition": "x"},
        },
        {"type": "custom", "name": "note"},
    ]
    turn = [
        {"role": "user", "content": "1+2?"},
        {"type": "custom_tool_call", "call_id": "c1", "name": "calc", "input": '1 + "2"'},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "3"},
    ]
    chat = to_chat(request(input=turn, tools=tools, tool_choice={"type": "custom", "name": "calc"}))
    assert chat.tools is not None
    assert chat.tools[0] == {
        "type": "custom",
        "custom": {
            "name": "calc",
            "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "x"}},
        },
    }
    assert chat.tools[1] == {"type": "custom", "custom": {"name": "note"}}
    assert chat.tool_choice == {"type": "function", "function": {"name": "calc"}}
    [call] = chat.messages[1].tool_calls  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"input": '1 + "2"'}
    assert chat.messages[2].role == "tool" and chat.messages[2].content == "3"
