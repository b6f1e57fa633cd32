"""Anthropic Messages translation, pure logic: request → chat request, deltas → events → message."""

from __future__ import annotations

from typing import Any

import anthropic.types
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fncall.api.anthropic.events import BlockStream, assemble
from fncall.api.anthropic.protocol import MessagesRequest, to_chat
from fncall.api.choices import ChoiceBuilder, merge
from fncall.api.errors import APIError, anthropic_body, error_response
from fncall.api.metrics import route_label
from fncall.tools.formats import FALLBACK, FORMATS
from fncall.tools.spec import parse_tool_request

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
    CALL + '\n<tool_call>\n{"name": "get_time", "arguments": {"tz": "CET"}}\n</tool_call>',
    "<think>\nParis, so get_weather.\n</think>\n\n" + CALL,
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Pa',  # cut short by max_tokens
]
EVENT = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)


def events_for(text: str, cuts: list[int], *, qwen3: bool = False) -> tuple[list[dict[str, Any]], Any]:
    syntax = FORMATS["qwen3"].syntax if qwen3 else FALLBACK.syntax
    ids = iter(f"call_{n}" for n in range(10))
    builder, blocks = ChoiceBuilder(TOOLS, syntax, new_id=lambda: next(ids)), BlockStream()
    bounds = [0, *sorted(set(cuts)), len(text)]
    deltas = [d for a, b in zip(bounds, bounds[1:], strict=False) for d in builder.feed(text[a:b])]
    deltas += builder.finish()
    events = [e for d in deltas for e in blocks.feed(d)] + blocks.close()
    return events, merge(deltas)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(range(len(TEXTS))), st.lists(st.integers(0, 200), max_size=12), st.booleans())
def test_any_chunking_streams_to_the_one_shot_message(i: int, cuts: list[int], qwen3: bool) -> None:
    text = TEXTS[i]
    cuts = [c for c in cuts if c < len(text)]
    events, message = events_for(text, cuts, qwen3=qwen3)
    one_shot, _ = events_for(text, [], qwen3=qwen3)
    assert assemble(events) == assemble(one_shot)
    for event in events:
        EVENT.validate_python(event)
    # the blocks say what the chat message says: the same text and the same calls, in order
    blocks = assemble(events)
    text_out = "".join(b["text"] for b in blocks if b["type"] == "text")
    assert text_out == (message["content"] or "")
    uses = [(b["id"], b["name"]) for b in blocks if b["type"] == "tool_use"]
    assert uses == [(c["id"], c["function"]["name"]) for c in message.get("tool_calls", [])]


def test_blocks_open_and_close_in_order_with_their_indexes() -> None:
    events, _ = events_for("Sure. " + CALL, [3, 10, 40])
    kinds = [(e["type"], e.get("index")) for e in events if e["type"] != "content_block_delta"]
    assert kinds == [
        ("content_block_start", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_stop", 1),
    ]
    [text, use] = assemble(events)
    assert text == {"type": "text", "text": "Sure. "}
    assert use["type"] == "tool_use" and use["name"] == "get_weather" and use["input"] == {"city": "Paris"}


def test_cut_short_arguments_give_an_empty_input() -> None:
    events, _ = events_for(TEXTS[-1], [])
    assert assemble(events)[-1]["input"] == {}


def request(**fields: Any) -> MessagesRequest:
    body = {"model": "tiny", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]} | fields
    return MessagesRequest.model_validate(body)


def test_a_tool_loop_translates_into_chat_messages() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "timeout", "is_error": True},
                {"type": "text", "text": "Try again?"},
            ],
        },
    ]
    tools = [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}]
    chat = to_chat(
        request(
            system=[{"type": "text", "text": "Be brief."}],
            messages=messages,
            tools=tools,
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            stop_sequences=["END"],
            top_k=5,
        )
    )
    roles = [m.role for m in chat.messages]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert chat.messages[2].tool_calls[0].function.arguments == '{"city": "Paris"}'  # type: ignore[union-attr]
    assert chat.messages[3].content == "Error: timeout"
    assert chat.tool_choice == "required" and chat.parallel_tool_calls is False
    assert chat.stop == ["END"] and chat.top_k == 5 and chat.max_tokens == 10


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"name": "f"}]}, "tools[0].input_schema"),
        ({"tool_choice": {"type": "tool"}, "tools": [{"name": "f", "input_schema": {}}]}, "tool_choice.name"),
        ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]},
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "tool_use", "id": "x", "name": "f", "input": {}}]}
                ]
            },
            "messages[0].content[0]",
        ),
    ],
)
def test_what_has_no_meaning_here_is_refused_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(APIError) as info:
        to_chat(request(**fields))
    assert info.value.param == param and info.value.status == 400


def test_errors_take_anthropics_shape_on_its_routes_only() -> None:
    error = APIError("nope", status=429)
    assert anthropic_body(error) == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "nope"},
    }
    assert (
        error_response(error, "/v1/messages").body == error_response(error, "/v1/messages/count_tokens").body
    )
    assert b'"param"' in error_response(error, "/v1/chat/completions").body
    assert route_label("/v1/messages") == "/v1/messages"
    assert route_label("/v1/messages/count_tokens") == "/v1/messages/count_tokens"
