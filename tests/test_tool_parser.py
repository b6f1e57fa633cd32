"""Tool-call parser: table of outputs, hold-back, and any chunking gives the one-shot events."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fncall.tools.parser import (
    CallArgs,
    CallBegin,
    CallSyntax,
    Content,
    Event,
    ParsedMessage,
    Reasoning,
    ToolCallParser,
    collect,
    parse,
)

HERMES = CallSyntax("<tool_call>", "</tool_call>")
FENCED = CallSyntax("<tool_call>", "</tool_call>", fence=True)
LLAMA = CallSyntax("<|python_tag|>", "<|eom_id|>", args_key="parameters")
TOOLS = ("get_weather", "search", "get")

W = '<tool_call>\n{"name": "get_weather", "arguments": %s}\n</tool_call>'


def call(args: str, name: str = "get_weather") -> str:
    return W.replace("get_weather", name) % args


def msg(content: str | None, *calls: tuple[str, str]) -> ParsedMessage:
    return ParsedMessage(content, list(calls))


CASES = [
    pytest.param(HERMES, "Hello, world!", msg("Hello, world!"), id="plain"),
    pytest.param(HERMES, "", msg(None), id="empty"),
    pytest.param(
        HERMES, call('{"location": "Paris"}'), msg(None, ("get_weather", '{"location": "Paris"}')), id="one"
    ),
    pytest.param(
        HERMES,
        call('{"location": "Paris"}') + "\n" + call('{"q": "x"}', "search"),
        msg(None, ("get_weather", '{"location": "Paris"}'), ("search", '{"q": "x"}')),
        id="parallel",
    ),
    pytest.param(
        HERMES,
        "Let me check.\n" + call("{}"),
        msg("Let me check.\n", ("get_weather", "{}")),
        id="text-then-call",
    ),
    pytest.param(HERMES, call("{}") + "\n\n  ", msg(None, ("get_weather", "{}")), id="trailing-whitespace"),
    pytest.param(
        HERMES,
        '<tool_call>\n{"name": "get_weather", "arguments": {}}\n{"name": "search", "arguments": {"q": "x"}}',
        msg(None, ("get_weather", "{}"), ("search", '{"q": "x"}')),
        id="one-object-per-line-unclosed",
    ),
    pytest.param(
        HERMES,
        '<tool_call>\n{"name": "get_weather", "arguments": {}}\n{"note": 1}\n</tool_call>',
        msg('{"note": 1}\n</tool_call>', ("get_weather", "{}")),
        id="object-after-a-call-that-is-no-call",
    ),
    pytest.param(HERMES, call("{}") + "\nDone.", msg("Done.", ("get_weather", "{}")), id="text-after-call"),
    pytest.param(
        HERMES,
        '<tool_call>{"name":"get","arguments":{"a":1}}</tool_call><tool_call>{"name":"get","arguments":{}}'
        "</tool_call>",
        msg(None, ("get", '{"a":1}'), ("get", "{}")),
        id="compact-no-whitespace",
    ),
    pytest.param(
        HERMES,
        '<tool_call>\n  {\n  "name" :\n "get" ,\t"arguments"\n:\n{\n "a": [1, 2]\n}\n}\n</tool_call>',
        msg(None, ("get", '{\n "a": [1, 2]\n}')),
        id="whitespace-everywhere",
    ),
    pytest.param(
        HERMES,
        call('{"a": {"b": {"c": [1, {"d": null}]}}, "e": [{"f": true}, {"g": []}]}'),
        msg(None, ("get_weather", '{"a": {"b": {"c": [1, {"d": null}]}}, "e": [{"f": true}, {"g": []}]}')),
        id="nested",
    ),
    pytest.param(
        HERMES,
        call(r'{"s": "}{][", "q": "say \"hi}\"", "b": "back\\", "t": "</tool_call> \\\" }"}'),
        msg(
            None,
            ("get_weather", r'{"s": "}{][", "q": "say \"hi}\"", "b": "back\\", "t": "</tool_call> \\\" }"}'),
        ),
        id="tricky-strings",
    ),
    pytest.param(
        HERMES,
        call('{"city": "Zürich 東京 🌧", "u": "\\u00e9"}'),
        msg(None, ("get_weather", '{"city": "Zürich 東京 🌧", "u": "\\u00e9"}')),
        id="unicode",
    ),
    pytest.param(
        HERMES,
        call('{"a": 1}', "delete_everything"),
        msg(call('{"a": 1}', "delete_everything")),
        id="undeclared-name",
    ),
    pytest.param(
        HERMES,
        '<tool_call>\n{"arguments": {"q": "ü"}, "name": "search"}\n</tool_call>',
        msg(None, ("search", '{"q": "ü"}')),
        id="fallback-key-order",
    ),
    pytest.param(
        HERMES,
        '<tool_call>{"id": 7, "name": "search", "arguments": {"q": "</tool_call>"}}</tool_call>',
        msg(None, ("search", '{"q": "</tool_call>"}')),
        id="fallback-extra-key-and-marker-in-string",
    ),
    pytest.param(
        HERMES,
        '<tool_call>{"arguments": {}, "name": "nope"}</tool_call>',
        msg('<tool_call>{"arguments": {}, "name": "nope"}</tool_call>'),
        id="fallback-undeclared",
    ),
    pytest.param(
        HERMES,
        '<tool_call>{"name": "search", "arguments": "q"}</tool_call>',
        msg('<tool_call>{"name": "search", "arguments": "q"}</tool_call>'),
        id="arguments-not-an-object",
    ),
    pytest.param(
        HERMES,
        '<tool_call>{"name": "search" "arguments": {}}</tool_call> ok',
        msg('<tool_call>{"name": "search" "arguments": {}}</tool_call> ok'),
        id="invalid-json",
    ),
    pytest.param(HERMES, "<tool_call> is the tag", msg("<tool_call> is the tag"), id="marker-then-prose"),
    pytest.param(
        HERMES,
        '<tool_call>\n{"name": "get_weather", "arguments": {"location": "Par',
        msg(None, ("get_weather", '{"location": "Par')),
        id="truncated-mid-arguments",
    ),
    pytest.param(
        HERMES,
        '<tool_call>\n{"name": "get_weather", "argu',
        msg('<tool_call>\n{"name": "get_weather", "argu'),
        id="truncated-head",
    ),
    pytest.param(HERMES, "Sure <tool_ca", msg("Sure <tool_ca"), id="truncated-marker"),
    pytest.param(
        HERMES,
        call('{"a": 1}').replace("}\n</tool_call>", "\n</tool_call>"),
        msg(None, ("get_weather", '{"a": 1}')),
        id="missing-object-brace",
    ),
    pytest.param(
        HERMES,
        '<tool_call>{"name": "get", "arguments": {"a": 1}, "id": "x}"}</tool_call>',
        msg(None, ("get", '{"a": 1}')),
        id="extra-key-after-arguments",
    ),
    pytest.param(
        HERMES,
        '<tool_call>{"name": "get", "arguments": {}}\n'
        '<tool_call>{"name": "search", "arguments": {}}</tool_call>',
        msg(None, ("get", "{}"), ("search", "{}")),
        id="missing-close-then-next-call",
    ),
    pytest.param(
        HERMES,
        'a <tool_call><tool_call>{"name": "get", "arguments": {}}</tool_call>',
        msg("a <tool_call>", ("get", "{}")),
        id="marker-twice",
    ),
    pytest.param(
        HERMES,
        "<tool_call>" + "\n" * 5000 + '{"name": "get", "arguments": {}}' + " " * 5000 + "</tool_call>",
        msg(None, ("get", "{}")),
        id="long-whitespace-runs",
    ),
    pytest.param(
        FENCED,
        '```json\n{"name": "get_weather", "arguments": {"location": "Paris"}}\n```',
        msg(None, ("get_weather", '{"location": "Paris"}')),
        id="fence-json",
    ),
    pytest.param(
        FENCED,
        '\n ```\n{"name": "get_weather", "arguments": {"location": "Paris"}}\n```\n',
        msg(None, ("get_weather", '{"location": "Paris"}')),
        id="fence-no-tag",
    ),
    pytest.param(
        FENCED,
        '```json\n{"name": "get_weather", "arguments": {"location": "Paris"}}\n```\n\n'
        '```json\n{"name": "get_weather", "arguments": {"location": "Oslo"}}\n```\n',
        msg(None, ("get_weather", '{"location": "Paris"}'), ("get_weather", '{"location": "Oslo"}')),
        id="fences-in-a-row",
    ),
    pytest.param(
        FENCED,
        '```json\n{"name": "get_weather", "arguments": {}}\n```\nThis asks for the weather.',
        msg("This asks for the weather.", ("get_weather", "{}")),
        id="fence-then-text",
    ),
    pytest.param(
        FENCED,
        '```json\n{"name": "get_weather", "arguments": {}}\n```\n```python\nx = 1\n```',
        msg("```python\nx = 1\n```", ("get_weather", "{}")),
        id="fence-then-other-fence",
    ),
    pytest.param(
        FENCED,
        '```json\n{"name": "calculator", "arguments": {"x": 1}}\n```',
        msg('```json\n{"name": "calculator", "arguments": {"x": 1}}\n```'),
        id="fence-undeclared",
    ),
    pytest.param(
        FENCED,
        'Sure: ```json\n{"name": "get_weather", "arguments": {}}\n```',
        msg('Sure: ```json\n{"name": "get_weather", "arguments": {}}\n```'),
        id="fence-not-at-start",
    ),
    pytest.param(
        HERMES,
        '```json\n{"name": "get_weather", "arguments": {}}\n```',
        msg('```json\n{"name": "get_weather", "arguments": {}}\n```'),
        id="fence-disabled",
    ),
    pytest.param(
        FENCED,
        '```python\nprint("hi")\n```',
        msg('```python\nprint("hi")\n```'),
        id="fence-other-language",
    ),
    pytest.param(
        FENCED,
        "  " + call("{}"),
        msg("  ", ("get_weather", "{}")),
        id="fence-enabled-marker-call",
    ),
    pytest.param(
        FENCED,
        '{"name": "get_weather", "response": {"temp": 20}}',
        msg('{"name": "get_weather", "response": {"temp": 20}}'),
        id="bare-json-echo",
    ),
    pytest.param(
        LLAMA,
        '<|python_tag|>{"name": "search", "parameters": {"q": "x"}}<|eom_id|>',
        msg(None, ("search", '{"q": "x"}')),
        id="llama-parameters-key",
    ),
]


@pytest.mark.parametrize(("syntax", "text", "expected"), CASES)
def test_parse_table(syntax: CallSyntax, text: str, expected: ParsedMessage) -> None:
    assert collect(parse(syntax, TOOLS, text)) == expected
    assert normalise(stream(syntax, list(text))) == parse(syntax, TOOLS, text)


def test_marker_prefix_is_held_back_then_released() -> None:
    parser = ToolCallParser(HERMES, TOOLS)
    assert parser.feed("Hello <tool") == [Content("Hello ")]
    assert parser.feed("s") == [Content("<tools")]
    parser = ToolCallParser(HERMES, TOOLS)
    assert parser.feed("Hello <tool") == [Content("Hello ")]
    assert parser.feed('_call>\n{"name": "get", "arguments": {"a"') == [
        CallBegin(0, "get"),
        CallArgs(0, '{"a"'),
    ]
    assert parser.feed(": 1}}\n</tool_call>") == [CallArgs(0, ": 1}")]
    assert parser.finish() == []


def test_arguments_stream_before_the_call_closes() -> None:
    parser = ToolCallParser(HERMES, TOOLS)
    events = [parser.feed(ch) for ch in call('{"location": "Paris"}')]
    first_args = next(i for i, evs in enumerate(events) if any(isinstance(e, CallArgs) for e in evs))
    assert first_args < len(events) - len("}\n</tool_call>")
    assert all(not isinstance(e, Content) for evs in events for e in evs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"open": "", "name_end": ">"},
        {"open": "", "listed": True},
        {"open": "", "open_in_prompt": True},
        {"open": "<f=", "name_end": ">", "listed": True},
        {"open": "<tool_call>", "think": ("<think>", "")},
    ],
)
def test_inconsistent_syntaxes_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="CallSyntax"):
        CallSyntax(**kwargs)


# Property tests: any chunking of generated outputs gives the one-shot events.


def stream(syntax: CallSyntax, chunks: Iterable[str]) -> list[Event]:
    parser = ToolCallParser(syntax, TOOLS)
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    return events + parser.finish()


def normalise(events: Iterable[Event]) -> list[Event]:
    out: list[Event] = []
    for ev in events:
        last = out[-1] if out else None
        if isinstance(ev, Content) and isinstance(last, Content):
            out[-1] = Content(last.text + ev.text)
        elif isinstance(ev, Reasoning) and isinstance(last, Reasoning):
            out[-1] = Reasoning(last.text + ev.text)
        elif isinstance(ev, CallArgs) and isinstance(last, CallArgs) and last.index == ev.index:
            out[-1] = CallArgs(ev.index, last.text + ev.text)
        else:
            out.append(ev)
    return out


def splits(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


TRICKY = ["</tool_call>", "<tool_call>", '\\"', "\\", '"', "{", "}", "[", "```", "\n"]
json_text = st.one_of(st.text(max_size=6), st.sampled_from(TRICKY))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | json_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_text, inner, max_size=3),
    max_leaves=8,
)
arguments = st.dictionaries(json_text, json_values, max_size=4)
space = st.sampled_from(["", " ", "\n", "  ", "\n\t", "\r\n"])


@st.composite
def calls(
    draw: st.DrawFn, *, fenced: bool = False, names: tuple[str, ...] = TOOLS, streamed: bool | None = None
) -> tuple[str, dict[str, Any], str, str, bool]:
    """(text, arguments, name, raw arguments JSON, streamed) for one well-formed call."""
    name, args = draw(st.sampled_from(names)), draw(arguments)
    raw = json.dumps(args, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1])))
    key_order = [("name", json.dumps(name)), ("arguments", raw)]
    streamed = fenced or (draw(st.booleans()) if streamed is None else streamed)
    if not streamed:
        key_order.reverse()  # the fallback path
    s = [draw(space) for _ in range(12)]
    (k1, v1), (k2, v2) = key_order
    obj = f'{{{s[0]}"{k1}"{s[1]}:{s[2]}{v1}{s[3]},{s[4]}"{k2}"{s[5]}:{s[6]}{v2}{s[7]}}}'
    if fenced:
        return f"```{draw(st.sampled_from(['json', '']))}{s[8]}\n{obj}{s[9]}\n```", args, name, raw, streamed
    return f"<tool_call>{s[8]}{obj}{s[9]}</tool_call>", args, name, raw, streamed


plain = st.one_of(
    st.text(alphabet='ab <>{}`"\n/\\_:', max_size=8),
    st.sampled_from(
        [
            "<tool",
            "<tool_call>",
            "</tool_call>",
            "```json\n",
            "```",
            '{"name": "get_weather"',
            '"arguments": {',
        ]
    ),
    st.text(max_size=4),
)
fragment = st.one_of(
    plain,
    calls(names=(*TOOLS, "undeclared")).map(lambda c: c[0]),
    calls(fenced=True, names=(*TOOLS, "undeclared")).map(lambda c: c[0]),  # text, after another call
)


@st.composite
def mixed_texts(draw: st.DrawFn) -> list[str]:
    fenced = calls(fenced=True, names=(*TOOLS, "undeclared")).map(lambda c: c[0])
    head = draw(st.lists(st.tuples(space, fenced).map("".join), max_size=2))  # fences in a row
    return head + draw(st.lists(fragment, max_size=6))


def check_chunkings(syntax: CallSyntax, fragments: list[str], cuts: list[int], groups: list[int]) -> None:
    text = "".join(fragments)
    one_shot = parse(syntax, TOOLS, text)
    assert normalise(one_shot) == one_shot
    assert normalise(stream(syntax, splits(text, cuts))) == one_shot  # (a) random chunks
    assert normalise(stream(syntax, list(text))) == one_shot  # (b) one character at a time
    assert normalise(stream(syntax, [text])) == one_shot  # (c) one chunk
    # (d) chunks on fragment boundaries: several whole calls (or text pieces) per chunk
    bounds = sorted({g % (len(fragments) + 1) for g in groups} | {0, len(fragments)})
    chunks = ["".join(fragments[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    assert normalise(stream(syntax, chunks)) == one_shot
    assert collect(stream(syntax, splits(text, cuts))) == collect(one_shot)
    begun = [e.index for e in one_shot if isinstance(e, CallBegin)]
    assert begun == list(range(len(begun)))
    assert all(e.index in begun for e in one_shot if isinstance(e, CallArgs))


cut_lists = st.lists(st.integers(min_value=0, max_value=1000), max_size=12)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    syntax=st.sampled_from([HERMES, FENCED]),
    fragments=mixed_texts(),
    cuts=cut_lists,
    groups=st.lists(st.integers(min_value=0, max_value=10), max_size=4),
)
def test_any_chunking_gives_the_one_shot_events(
    syntax: CallSyntax, fragments: list[str], cuts: list[int], groups: list[int]
) -> None:
    check_chunkings(syntax, fragments, cuts, groups)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    first_fenced=st.booleans(),
    generated=st.lists(calls(), min_size=1, max_size=4),
    fenced=calls(fenced=True),
    gaps=st.lists(space, min_size=4, max_size=4),
    cuts=cut_lists,
    groups=st.lists(st.integers(min_value=0, max_value=10), max_size=4),
)
def test_well_formed_calls_are_returned_exactly(
    first_fenced: bool,
    generated: list[tuple[str, dict[str, Any], str, str, bool]],
    fenced: tuple[str, dict[str, Any], str, str, bool],
    gaps: list[str],
    cuts: list[int],
    groups: list[int],
) -> None:
    syntax = FENCED if first_fenced else HERMES
    if first_fenced:
        generated = [fenced, *generated]
    fragments = [f"{c[0]}{gap}" for c, gap in zip(generated, gaps + [""] * len(generated), strict=False)]
    check_chunkings(syntax, fragments, cuts, groups)
    parsed = collect(stream(syntax, splits("".join(fragments), cuts)))
    assert parsed.content is None
    assert [name for name, _ in parsed.calls] == [c[2] for c in generated]
    assert [json.loads(args) for _, args in parsed.calls] == [c[1] for c in generated]
    for (_, args), (_, _, _, raw, streamed) in zip(parsed.calls, generated, strict=True):
        assert args == raw or not streamed  # the streamed path passes the model's text through untouched


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    generated=st.lists(calls(streamed=True), min_size=1, max_size=4),
    closed=st.booleans(),
    cuts=cut_lists,
    groups=st.lists(st.integers(min_value=0, max_value=10), max_size=4),
)
def test_call_objects_one_per_line_in_one_block(
    generated: list[tuple[str, dict[str, Any], str, str, bool]],
    closed: bool,
    cuts: list[int],
    groups: list[int],
) -> None:
    """Qwen writes parallel calls as one JSON object per line inside a single block, often leaving the
    block unclosed at the end of its turn: every object is a call."""
    inner = [c[0].removeprefix("<tool_call>").removesuffix("</tool_call>") for c in generated]
    fragments = ["<tool_call>" + inner[0], *("\n" + i for i in inner[1:])] + (
        ["</tool_call>"] if closed else []
    )
    check_chunkings(HERMES, fragments, cuts, groups)
    parsed = collect(stream(HERMES, splits("".join(fragments), cuts)))
    assert parsed.content is None
    assert [(name, json.loads(args)) for name, args in parsed.calls] == [(c[2], c[1]) for c in generated]


@pytest.mark.parametrize(
    "head", ['```json\n{\n  "name": "get_weather",\n  "arguments"', '```json\n[ {"name": "get"']
)
def test_a_fenced_call_head_is_held_back_until_it_is_decided(head: str) -> None:
    """Nothing of a fence opening the answer is released while it may still be a call: the grammar
    rewrites that head into `<tool_call>` form and the server restarts parsing (tools/grammar.py)."""
    parser = ToolCallParser(FENCED, TOOLS)
    assert [e for ch in head for e in parser.feed(ch)] == []
