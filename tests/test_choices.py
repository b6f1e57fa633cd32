"""Deltas and merged messages from model text (pure logic, no model)."""

from __future__ import annotations

from fncall.api.choices import ChoiceBuilder, canonical_json, merge
from fncall.tools.formats import FALLBACK, FORMATS
from fncall.tools.spec import parse_tool_request

TOOLS = parse_tool_request([{"type": "function", "function": {"name": "get_weather"}}], None, None)
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def run(builder: ChoiceBuilder, text: str) -> list[dict[str, object]]:
    return [d for ch in text for d in builder.feed(ch)] + builder.finish()


def test_plain_text_without_tools() -> None:
    deltas = run(ChoiceBuilder(None, FALLBACK.syntax), "hi there")
    assert merge(deltas)["content"] == "hi there"


def test_calls_merge_into_tool_calls_with_null_content() -> None:
    builder = ChoiceBuilder(TOOLS, FALLBACK.syntax)
    message = merge(run(builder, CALL))
    assert message["content"] is None
    [call] = message["tool_calls"]
    assert call["id"].startswith("call_") and call["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert builder.finish_reason("stop") == "tool_calls" and builder.finish_reason("length") == "length"


def test_tool_choice_none_converts_nothing() -> None:
    none = parse_tool_request([{"type": "function", "function": {"name": "get_weather"}}], "none", None)
    assert merge(run(ChoiceBuilder(none, FALLBACK.syntax), CALL))["content"] == CALL


def test_repeating_an_answered_call_is_detected_and_shows_nothing() -> None:
    answered = frozenset({("get_weather", canonical_json({"city": "Paris"}))})
    builder = ChoiceBuilder(TOOLS, FALLBACK.syntax, answered)
    assert run(builder, CALL) == [] and builder.repeated


def test_a_new_call_or_text_after_results_is_released() -> None:
    answered = frozenset({("get_weather", canonical_json({"city": "Rome"}))})
    builder = ChoiceBuilder(TOOLS, FALLBACK.syntax, answered)
    assert merge(run(builder, CALL))["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert not builder.repeated
    text = ChoiceBuilder(TOOLS, FALLBACK.syntax, answered)
    assert text.feed("It is ") == [{"content": "It is "}]  # text is released as soon as it is text


def test_reasoning_streams_apart_from_content_and_calls() -> None:
    qwen3 = FORMATS["qwen3"]
    builder = ChoiceBuilder(TOOLS, qwen3.syntax, new_id=qwen3.new_call_id)
    deltas = run(builder, "<think>\nParis, so get_weather.\n</think>\n\n" + CALL)
    assert {"reasoning_content": "P"} in deltas  # streamed as it is generated
    message = merge(deltas)
    assert message["reasoning_content"] == "Paris, so get_weather."
    assert message["content"] is None and message["tool_calls"][0]["function"]["name"] == "get_weather"
    assert builder.finish_reason("stop") == "tool_calls"


def test_call_ids_come_from_the_format() -> None:
    mistral = FORMATS["mistral"]
    builder = ChoiceBuilder(TOOLS, mistral.syntax, new_id=mistral.new_call_id)
    message = merge(run(builder, '[TOOL_CALLS][{"name": "get_weather", "arguments": {}}]'))
    [call] = message["tool_calls"]
    assert len(call["id"]) == 9 and call["id"].isalnum()
