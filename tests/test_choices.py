"""Deltas and merged messages from model text (pure logic, no model)."""

from __future__ import annotations

import json

from fncall.api.choices import ChoiceBuilder, canonical_json, merge, merged_logprobs
from fncall.engine.sampling import TokenLogprob
from fncall.tools.formats import FALLBACK, FORMATS
from fncall.tools.grounding import Conversation
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


def _call(city: str) -> str:
    call = json.dumps({"name": "get_weather", "arguments": {"city": city}})
    return f"<tool_call>\n{call}\n</tool_call>"


def test_a_made_up_first_call_is_held_and_flagged_a_grounded_one_released() -> None:
    grounds = Conversation(["What is the weather in Paris?"])
    made_up = ChoiceBuilder(TOOLS, FALLBACK.syntax, grounds=grounds)
    assert run(made_up, _call("YourCityName")) == [] and made_up.ungrounded and not made_up.cut
    real = ChoiceBuilder(TOOLS, FALLBACK.syntax, grounds=grounds)
    assert merge(run(real, CALL))["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert not real.ungrounded


def test_a_made_up_later_call_cuts_the_turn_before_it() -> None:
    grounds = Conversation(["Weather in Paris and in Rome, then in my city?"])
    builder = ChoiceBuilder(TOOLS, FALLBACK.syntax, grounds=grounds)
    text = "\n".join([_call("Paris"), _call("Rome"), _call("YourCityName"), _call("Rome")])
    out = [d for ch in text for d in builder.feed(ch)]
    assert builder.cut and not builder.ungrounded
    assert builder.finish() == []
    calls = merge(out)["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == ['{"city": "Paris"}', '{"city": "Rome"}']
    assert builder.n_calls == 2 and builder.finish_reason("stop") == "tool_calls"


def test_a_later_call_streams_whole_once_complete() -> None:
    grounds = Conversation(["Weather in Paris and in Rome?"])
    builder = ChoiceBuilder(TOOLS, FALLBACK.syntax, grounds=grounds)
    fed_first = [d for ch in _call("Paris") + "\n" for d in builder.feed(ch)]
    assert merge(fed_first)["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    second = _call("Rome")
    head = [d for ch in second[:-20] for d in builder.feed(ch)]
    assert head == []  # held: not complete yet
    rest = [d for ch in second[-20:] for d in builder.feed(ch)] + builder.finish()
    assert merge(fed_first + rest)["tool_calls"][1]["function"]["arguments"] == '{"city": "Rome"}'


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


# -- log probabilities go to content only -------------------------------------------------------------


def fed(builder: ChoiceBuilder, pieces: list[str]) -> list[dict[str, object]]:
    """Feeds one piece per 'token', its log probability tagged by position, then finishes."""
    out = [d for i, piece in enumerate(pieces) for d in builder.feed(piece, [TokenLogprob(i, -float(i))])]
    return out + builder.finish()


def tokens_of(deltas: list[dict[str, object]]) -> list[int]:
    return [entry.token for entry in merged_logprobs(deltas)]


def test_without_tools_every_token_is_content() -> None:
    deltas = fed(ChoiceBuilder(None, FALLBACK.syntax), ["It", " is", " warm"])
    assert tokens_of(deltas) == [0, 1, 2]
    assert [d["logprobs"] for d in deltas] == [
        [TokenLogprob(0, -0.0)],
        [TokenLogprob(1, -1.0)],
        [TokenLogprob(2, -2.0)],
    ]


def test_call_tokens_have_none_and_held_back_text_gets_its_tokens_when_released() -> None:
    pieces = [
        "Sure",
        ". ",
        "<",
        "tool_call",
        ">\n",
        '{"name": "get_weather", ',
        '"arguments": {}}',
        "\n</tool_call>",
    ]
    deltas = fed(ChoiceBuilder(TOOLS, FALLBACK.syntax), pieces)
    message = merge(deltas)
    assert message["tool_calls"] and (message["content"] or "").startswith("Sure")
    assert tokens_of(deltas) == [0, 1]  # the markup and the call's tokens are dropped


def test_text_that_only_looked_like_a_call_keeps_its_tokens() -> None:
    deltas = fed(ChoiceBuilder(TOOLS, FALLBACK.syntax), ["a ", "<", "b", "> c"])
    assert merge(deltas)["content"] == "a <b> c"
    assert tokens_of(deltas) == [0, 1, 2, 3]


def test_reasoning_tokens_have_none() -> None:
    qwen3 = FORMATS["qwen3"]
    deltas = fed(ChoiceBuilder(TOOLS, qwen3.syntax), ["<think>", "hm", "</think>", "\n\n", "Hi", " there"])
    assert merge(deltas)["content"] == "Hi there"
    assert tokens_of(deltas) == [4, 5]  # `</think>` and the blank line before the answer are markup


def test_logprobs_do_not_reach_the_message() -> None:
    message = merge(fed(ChoiceBuilder(None, FALLBACK.syntax), ["x"]))
    assert "logprobs" not in message


def test_a_later_call_that_repeats_one_of_the_answer_cuts_the_turn_before_it() -> None:
    grounds = Conversation(["Weather in Paris and in Rome?"])
    builder = ChoiceBuilder(TOOLS, FALLBACK.syntax, grounds=grounds)
    paris_again = '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris"}}\n</tool_call>'
    text = "\n".join([_call("Paris"), _call("Rome"), paris_again, _call("Rome")])
    calls = merge(run(builder, text))["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == ['{"city": "Paris"}', '{"city": "Rome"}']
    assert builder.cut and builder.n_calls == 2 and builder.finish_reason("stop") == "tool_calls"


def test_calls_without_arguments_may_repeat() -> None:
    roll = parse_tool_request([{"type": "function", "function": {"name": "roll_die"}}], None, None)
    builder = ChoiceBuilder(roll, FALLBACK.syntax, grounds=Conversation(["Roll a die twice."]))
    one = '<tool_call>\n{"name": "roll_die", "arguments": {}}\n</tool_call>'
    assert len(merge(run(builder, f"{one}\n{one}"))["tool_calls"]) == 2 and not builder.cut


def test_a_later_call_cut_short_by_max_tokens_is_dropped() -> None:
    grounds = Conversation(["Weather in Paris and in Rome?"])
    builder = ChoiceBuilder(TOOLS, FALLBACK.syntax, grounds=grounds)
    text = _call("Paris") + "\n" + _call("Rome")[:-25]
    calls = merge(run(builder, text))["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == ['{"city": "Paris"}']
    assert builder.n_calls == 1 and builder.finish_reason("length") == "length"
