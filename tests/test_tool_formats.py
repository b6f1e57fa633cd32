"""Each tool format's call syntax: its own spelling parses back to the same calls, streamed in any chunking
equal to non-streamed; a table of each family's edge cases; ids and message preparation per family."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fncall.tools.formats import FORMATS, ToolFormat, choose, detect, with_reasoning
from fncall.tools.formats.mistral import mistral_id
from fncall.tools.parser import CallArgs, CallBegin, Content, ParsedMessage, Reasoning, collect, parse
from tests.test_tool_parser import TRICKY, normalise, splits, stream

NAMES = ("get_weather", "search", "get")
# Every format, plus the fallback as given to templates that know <think> and to those whose generation
# prompt opens it.
THINKING = with_reasoning(FORMATS["hermes"], "<think>", "")
OPEN_THINK = with_reasoning(FORMATS["hermes"], "<think>", "<|Assistant|><think>\n")
FAMILIES = [*FORMATS.values(), THINKING, OPEN_THINK]


def parsed(fmt: ToolFormat, text: str) -> ParsedMessage:
    return collect(parse(fmt.syntax, NAMES, text))


CASES = [
    ("llama3", '{"name": "search", "parameters": {"q": "x"}}', None, [("search", '{"q": "x"}')]),
    ("llama3", '<|python_tag|>{"name": "get", "parameters": {}}', None, [("get", "{}")]),
    (
        "llama3",
        '{"name": "get", "parameters": {"a": 1}}\n{"name": "search", "parameters": {}}',
        None,
        [("get", '{"a": 1}'), ("search", "{}")],
    ),
    ("llama3", 'Sure: {"name": "get", "parameters": {}}', 'Sure: {"name": "get", "parameters": {}}', []),
    ("llama3", '{"name": "nope", "parameters": {}}', '{"name": "nope", "parameters": {}}', []),
    ("llama3", '{"name": "get", "arguments": {}}', '{"name": "get", "arguments": {}}', []),
    ("llama3", '{"name": "get", "parameters": {}} Done.', "Done.", [("get", "{}")]),
    (
        "mistral",
        '[TOOL_CALLS][{"name": "get", "arguments": {"a": 1}}, {"name": "search", "arguments": {"q": "]"}}]',
        None,
        [("get", '{"a": 1}'), ("search", '{"q": "]"}')],
    ),
    (
        "mistral",
        '[TOOL_CALLS][{"name": "get", "arguments": {}, "id": "abc123XYZ"}]</s>',
        "</s>",
        [("get", "{}")],
    ),
    (
        "mistral",
        '[TOOL_CALLS][{"name": "get", "arguments": {}}, {"name": "nope", "arguments": {}}]',
        ', {"name": "nope", "arguments": {}}]',
        [("get", "{}")],
    ),
    ("mistral", "[TOOL_CALLS] is a marker", "[TOOL_CALLS] is a marker", []),
    (
        "mistral-v11",
        '[TOOL_CALLS]get[ARGS]{"a": 1}[TOOL_CALLS]search[CALL_ID]a1b2c3d4e[ARGS]{}',
        None,
        [("get", '{"a": 1}'), ("search", "{}")],
    ),
    ("mistral-v11", "[TOOL_CALLS]nope[ARGS]{}", "[TOOL_CALLS]nope[ARGS]{}", []),
    (
        "functionary-v3.1",
        'Hi <function=get>{"a": 1}</function><function=search>{}</function>',
        "Hi ",
        [("get", '{"a": 1}'), ("search", "{}")],
    ),
    ("functionary-v3.1", "<function=nope>{}</function>", "<function=nope>{}</function>", []),
    ("functionary-v3.2", 'get\n{"a": 1}>>>search\n{}', None, [("get", '{"a": 1}'), ("search", "{}")]),
    ("functionary-v3.2", "all\nHello there!", "Hello there!", []),
    ("functionary-v3.2", 'all\nLet me look.>>>get\n{"a": [1]}', "Let me look.", [("get", '{"a": [1]}')]),
    ("functionary-v3.2", "Hello", "Hello", []),
    (
        "qwen3",
        "<think>\nI should call get.\n</think>\n\n<tool_call>\n"
        + '{"name": "get", "arguments": {}}\n</tool_call>',
        None,
        [("get", "{}")],
    ),
    ("qwen3", "<think>\n\n</think>\n\nParis is sunny.", "Paris is sunny.", []),
    (
        "llama3-pythonic",
        "[get(a=1, b='it\\'s \"x\"', c=True, d=None, e=(1, 2.5e-3)), search(q={'k': [False]})]",
        None,
        [
            ("get", '{"a": 1, "b": "it\'s \\"x\\"", "c": true, "d": null, "e": [1, 2.5e-3]}'),
            ("search", '{"q": {"k": [false]}}'),
        ],
    ),
    ("llama3-pythonic", "<|python_tag|>[get()]", None, [("get", "{}")]),
    ("llama3-pythonic", "[nope(a=1)]", "[nope(a=1)]", []),
    ("llama3-pythonic", "Try [get()]", "Try [get()]", []),
    ("llama3-pythonic", "[get(a=1)] Done.", "Done.", [("get", '{"a": 1}')]),
    ("qwen3", "No thinking here.", "No thinking here.", []),
]


@pytest.mark.parametrize(("family", "text", "content", "calls"), CASES)
def test_family_table(family: str, text: str, content: str | None, calls: list[tuple[str, str]]) -> None:
    syntax = FORMATS[family].syntax
    result = parsed(FORMATS[family], text)
    assert (result.content, result.calls) == (content, calls)
    one_shot = parse(syntax, NAMES, text)
    assert normalise(stream_with(syntax, list(text))) == one_shot


def stream_with(syntax: Any, chunks: list[str]) -> list[Any]:
    from fncall.tools.parser import ToolCallParser

    parser = ToolCallParser(syntax, NAMES)
    return [e for c in chunks for e in parser.feed(c)] + parser.finish()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I think.\n</think>\n\nParis.", [Reasoning("I think."), Content("Paris.")]),
        (
            'Hmm. <tool_call>\n{"name": "get", "arguments": {}}\n</tool_call>',
            [Reasoning("Hmm."), CallBegin(0, "get"), CallArgs(0, "{}")],
        ),
        ("Still thinking", [Reasoning("Still thinking")]),
        ("</think>Paris.", [Content("Paris.")]),
    ],
)
def test_a_generation_prompt_that_opens_reasoning(text: str, expected: list[Any]) -> None:
    assert OPEN_THINK.syntax.think_open and not THINKING.syntax.think_open
    assert parse(OPEN_THINK.syntax, NAMES, text) == expected
    assert normalise(stream_with(OPEN_THINK.syntax, list(text))) == expected


def test_reasoning_is_added_only_where_the_template_knows_it() -> None:
    assert with_reasoning(FORMATS["llama3"], "{{ messages }}", "x") is FORMATS["llama3"]
    assert with_reasoning(FORMATS["qwen3"], "<think>", "assistant\n") is FORMATS["qwen3"]


def test_qwen3_reasoning_is_kept_apart() -> None:
    text = "<think>\nLet me think.\n\n</think>\n\nThe answer."
    events = parse(FORMATS["qwen3"].syntax, NAMES, text)
    assert events == [Reasoning("Let me think."), Content("The answer.")]
    assert collect(events).reasoning == "Let me think."


# Round trip: a family's own spelling of any calls parses back to them, in any chunking.

json_text = st.one_of(st.text(max_size=6), st.sampled_from([*TRICKY, "[TOOL_CALLS]", ">>>", "</function>"]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | json_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_text, inner, max_size=3),
    max_leaves=8,
)
call_lists = st.lists(
    st.tuples(st.sampled_from(NAMES), st.dictionaries(json_text, json_values, max_size=3)),
    min_size=1,
    max_size=3,
)
# Keyword arguments can only be named by identifiers: Llama's pythonic calls cannot spell other keys.
keyword_call_lists = st.lists(
    st.tuples(
        st.sampled_from(NAMES),
        st.dictionaries(
            st.from_regex(r"[A-Za-z_]\w{0,5}", fullmatch=True, alphabet=st.characters(codec="ascii")),
            json_values,
            max_size=3,
        ),
    ),
    min_size=1,
    max_size=3,
)
cut_lists = st.lists(st.integers(min_value=0, max_value=1000), max_size=12)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(fmt=st.sampled_from(FAMILIES), data=st.data(), cuts=cut_lists)
def test_spelled_calls_round_trip_in_any_chunking(
    fmt: ToolFormat, data: st.DataObject, cuts: list[int]
) -> None:
    calls = data.draw(keyword_call_lists if fmt.syntax.pythonic else call_lists)
    text = fmt.spell(calls)
    one_shot = parse(fmt.syntax, NAMES, text)
    message = collect(one_shot)
    assert message.content is None, text
    assert [(name, json.loads(args)) for name, args in message.calls] == calls
    assert normalise(stream(fmt.syntax, splits(text, cuts))) == one_shot
    assert normalise(stream(fmt.syntax, list(text))) == one_shot


noise = st.one_of(
    st.text(alphabet='ab <>{}[]"\n/\\_:=', max_size=8),
    st.sampled_from(
        [
            "<think>",
            "</think>",
            "[TOOL_CALLS]",
            "[ARGS]",
            "[CALL_ID]",
            "<function=",
            "</function>",
            ">>>",
            "all\n",
            '{"name": "get", "parameters": {',
            '{"name": "get", "arguments": {',
            "<|python_tag|>",
            "get\n",
            ", ",
        ]
    ),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    fmt=st.sampled_from(FAMILIES),
    fragments=st.lists(noise, max_size=8),
    spelled=call_lists,
    where=st.integers(min_value=0, max_value=8),
    cuts=cut_lists,
)
def test_any_text_streams_as_it_parses(
    fmt: ToolFormat,
    fragments: list[str],
    spelled: list[tuple[str, dict[str, Any]]],
    where: int,
    cuts: list[int],
) -> None:
    fragments.insert(where % (len(fragments) + 1), fmt.spell(spelled))
    text = "".join(fragments)
    one_shot = parse(fmt.syntax, NAMES, text)
    assert normalise(one_shot) == one_shot
    assert normalise(stream(fmt.syntax, splits(text, cuts))) == one_shot
    assert normalise(stream(fmt.syntax, list(text))) == one_shot
    begun = [e.index for e in one_shot if isinstance(e, CallBegin)]
    assert begun == list(range(len(begun)))


# Ids and conversations per family.


@pytest.mark.parametrize("family", ["mistral", "mistral-v11"])
def test_mistral_ids_are_nine_alphanumerics(family: str) -> None:
    fmt = FORMATS[family]
    assert all(re.fullmatch(r"[a-zA-Z0-9]{9}", fmt.new_call_id()) for _ in range(50))
    call = {"id": "call_abc", "type": "function", "function": {"name": "get", "arguments": {}}}
    messages = fmt.prepare(
        [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_abc", "content": "1"},
        ]
    )
    assert messages[0]["tool_calls"][0]["id"] == messages[1]["tool_call_id"] == mistral_id("call_abc")
    assert re.fullmatch(r"[a-zA-Z0-9]{9}", mistral_id("call_abc")) and mistral_id("abcDEF123") == "abcDEF123"


def test_other_families_keep_openai_ids() -> None:
    assert FORMATS["hermes"].new_call_id().startswith("call_")


def test_llama3_gets_one_call_per_turn() -> None:
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "get", "arguments": {}}} for i in range(2)
    ]
    turns = FORMATS["llama3"].prepare([{"role": "assistant", "content": "ok", "tool_calls": calls}])
    assert [(t["content"], t["tool_calls"]) for t in turns] == [("ok", calls[:1]), (None, calls[1:])]


def test_functionary_v32_gets_arguments_as_text() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "get", "arguments": {"a": 1}}}
    [turn] = FORMATS["functionary-v3.2"].prepare(
        [{"role": "assistant", "content": None, "tool_calls": [call]}]
    )
    assert turn["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'


def test_forced_format_renders_natively_only_in_its_own_family() -> None:
    llama = "<|start_header_id|>ipython<|end_header_id|>"
    assert choose(llama, None)[0].name == "llama3" and choose(llama, None)[1]
    assert choose(llama, "llama3")[1] and not choose(llama, "hermes")[1]
    assert choose("plain", "mistral") == (FORMATS["mistral"], False)
    with pytest.raises(ValueError, match="unknown tool format"):
        choose("plain", "nope")


@pytest.mark.parametrize(
    ("tokens", "family"),
    [
        ({"[TOOL_CALLS]"}, "mistral"),
        ({"[TOOL_CALLS]", "[ARGS]"}, "mistral-v11"),
        ({"<|python_tag|>"}, "llama3"),
        ({"<tool_call>"}, "hermes"),
        ({"<tool_call>", "<think>"}, "qwen3"),
        (set(), "hermes"),  # the fallback
    ],
)
def test_templates_without_tools_are_detected_by_special_tokens(tokens: set[str], family: str) -> None:
    assert detect("{{ messages }}", tokens) == (FORMATS[family], False)


def test_the_template_wins_over_special_tokens() -> None:
    assert detect("[TOOL_CALLS]", {"<|python_tag|>"}) == (FORMATS["mistral"], True)
