"""tools/grounding.py: which call values come from the conversation and which are made up."""

from __future__ import annotations

import json

import pytest

from fncall.tools.grounding import Conversation, from_messages


def convo(*texts: str, schema: str = "") -> Conversation:
    return Conversation(texts, [schema] if schema else [])


@pytest.mark.parametrize(
    ("arguments", "made_up"),
    [
        ({"weight": 70, "height": 1.8}, True),  # a BMI for a question about a triangle
        ({"base": 10, "height": 5}, False),
        ({"product_id": "12345", "quantity": 1}, True),  # quantity 1 says nothing either way
        ({"city": "YourCityName"}, True),
        ({"city": "Tokyo, Japan"}, False),  # one word the user wrote is enough
        ({"flag": True, "note": None}, False),  # nothing informative: nothing to judge
        ({}, False),
        ({"rate": 0.02}, False),  # "2%" written as a fraction
        ({"items": [{"sku": "P-91"}]}, False),  # nested values, found in a tool result
        ({"path": "/reports/Q3.txt"}, False),
    ],
)
def test_calls_made_up_or_taken_from_the_conversation(arguments: dict, made_up: bool) -> None:
    c = convo(
        "Calculate the area of a triangle with base 10 and height 5. Weather in Tokyo? Rate 2%.",
        '{"results": [{"id": "P-91", "price": 15.0}], "files": ["Q3.txt"]}',
    )
    assert c.ungrounded(json.dumps(arguments)) is made_up


def test_numbers_in_words_and_with_separators_count() -> None:
    c = convo("Buy ten shares, budget 1,000 dollars.")
    assert not c.ungrounded('{"quantity": 10}')
    assert not c.ungrounded('{"budget": 1000}')
    assert c.ungrounded('{"quantity": 12}')


def test_a_value_the_schema_spells_says_nothing() -> None:
    schema = json.dumps({"properties": {"unit": {"enum": ["kilometers", "miles"]}}})
    assert not convo("Distance from Paris to Rome?", schema=schema).ungrounded('{"unit": "miles"}')
    assert convo("Distance from Paris to Rome?").ungrounded('{"unit": "miles"}')


def test_short_and_stop_words_do_not_ground_a_string() -> None:
    c = convo("Send it to me at the office, and the report for you.")
    assert c.ungrounded('{"to": "me@example.com"}')  # "me" is too short, "example"/"com" never said
    assert not c.ungrounded('{"to": "office"}')


def test_invalid_json_is_left_alone() -> None:
    assert not convo("x").ungrounded('{"a": ')


def test_from_messages_reads_text_results_and_earlier_call_arguments() -> None:
    messages = [
        {"role": "system", "content": "The user lives in Lisbon."},
        {"role": "user", "content": "Find the cheapest cable and add it to my cart."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "a", "function": {"name": "search", "arguments": {"query": "USB-C"}}}],
        },
        {"role": "tool", "tool_call_id": "a", "content": '[{"id": "P-91"}]'},
    ]
    c = from_messages(messages, [{"type": "function", "function": {"name": "search"}}])
    assert not c.ungrounded('{"product_id": "P-91"}')
    assert not c.ungrounded('{"city": "Lisbon"}')
    assert not c.ungrounded('{"q": "usb-c"}')
    assert c.ungrounded('{"product_id": "12345"}')


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], None, True),
        (["--no-ground-calls"], None, False),
        ([], "0", False),
        (["--ground-calls"], "0", True),
    ],
)
def test_the_flag_and_its_variable_reach_the_config(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: str | None, expected: bool
) -> None:
    from fncall import cli

    seen: list[bool] = []
    monkeypatch.setattr(cli, "_serve", lambda config: seen.append(config.ground_calls) or 0)
    if env is None:
        monkeypatch.delenv("FNCALL_GROUND_CALLS", raising=False)
    else:
        monkeypatch.setenv("FNCALL_GROUND_CALLS", env)
    assert cli.main(["serve", "--model", "tiny", *argv]) == 0 and seen == [expected]


def test_a_string_the_schema_spells_says_nothing_even_when_the_user_said_it() -> None:
    schema = json.dumps({"properties": {"sport": {"enum": ["cricket", "football"]}}})
    c = convo("Who plays in the cricket matches today?", schema=schema)
    assert c.ungrounded('{"date": "2023-10-05", "sport": "cricket"}')  # a date nobody gave
    assert not c.ungrounded('{"date": "today", "sport": "cricket"}')
