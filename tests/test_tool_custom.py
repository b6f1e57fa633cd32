"""Custom tools' grammars (tools/custom.py): the JSON-escaped language of the user's grammar, checked by
stepping llguidance through the tiny model's tokens of `{"input": <JSON string>}`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import llguidance
import llguidance.llamacpp
import pytest

from fncall.engine.llama import LlamaModel
from fncall.errors import InvalidParam
from fncall.tools.custom import CustomFormat, arguments_rule, check, quote_regex
from fncall.tools.spec import parse_tool_request

STYLE = {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}
SQL = CustomFormat(
    "lark",
    'start: "SELECT " COLS " FROM " NAME ";" NL?\n'
    "COLS: /[a-z]+(, [a-z]+)*/\nNAME: /[a-z_]+/ // a table\nNL: /\\n/\n%import common.WS\n%ignore WS\n",
)
QUOTED = CustomFormat("lark", 'start: STR ("," STR)*\nSTR: /"[^"\\\\]*"/\n')
LINES = CustomFormat("lark", "start: LINE+\nLINE: /.*\\n/\n")
NOT_A = CustomFormat("lark", "start: /[^a]+/\n")
SHOUT = CustomFormat("lark", 'start: "say\\n"i WORD\nWORD: /[a-z]+/i\n')
DATE = CustomFormat("regex", r"\d{3}-[a-z]+\n?")
FREE = CustomFormat()

CASES = [
    (SQL, "SELECT a, b FROM t;", True),
    (SQL, "SELECT a, b FROM t;\n", True),
    (SQL, "SELECT a FROM t", False),
    (QUOTED, '"a","b"', True),
    (QUOTED, "a", False),
    (LINES, "x y\nz\n", True),
    (LINES, "x\ty\n", True),
    (LINES, "x", False),
    (NOT_A, 'b"\\\n\t\x01', True),
    (NOT_A, "ba", False),
    (SHOUT, "SAY\nHello", True),
    (DATE, "123-abc", True),
    (DATE, "123-abc\n", True),
    (DATE, "12-abc", False),
    (FREE, 'any "thing"\n', True),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model: LlamaModel) -> Iterator[llguidance.LLTokenizer]:
    eog = [int(t) for t in tiny_model.eog_ids]
    yield llguidance.llamacpp.lltokenizer_from_vocab(tiny_model.vocab_handle, eos_token=eog)


@pytest.mark.parametrize(("fmt", "text", "admitted"), CASES)
def test_the_grammar_holds_the_json_escaped_input(
    tiny_model: LlamaModel, tokenizer: llguidance.LLTokenizer, fmt: CustomFormat, text: str, admitted: bool
) -> None:
    grammar = "%llguidance {}\nstart: args\n" + arguments_rule("args", fmt, STYLE, "p")
    matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
    assert not matcher.is_error(), matcher.get_error()
    arguments = json.dumps({"input": text}, ensure_ascii=False)
    tokens = tiny_model.tokenize(arguments, add_special=False)
    assert (matcher.consume_tokens(tokens) and matcher.is_accepting()) is admitted


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        (CustomFormat("lark", "start: foo"), "unknown name"),
        (CustomFormat("regex", "(("), "regex"),
        (CustomFormat("lark", "start: /(?=a)a/"), "assert"),
        (CustomFormat("lark", "start: /a\\1/"), "cannot be read"),
        (CustomFormat("lark", "start: /^a/"), "at"),
        (CustomFormat("lark", 'start: %json {"type": "string"}'), "%json"),
        (CustomFormat("lark", "x" * 70_000), "larger"),
    ],
)
def test_grammars_that_cannot_be_held_are_refused_naming_the_format(fmt: CustomFormat, message: str) -> None:
    with pytest.raises(InvalidParam, match=message) as info:
        check(fmt, "tools[3].format")
    assert info.value.param == "tools[3].format"


def test_a_regex_without_specials_is_written_back_unchanged_in_meaning() -> None:
    assert quote_regex("[a-z]+", "", "p") == "(?:(?:[[a-z]&&[^\\x{22}\\x{5C}\\x{0}-\\x{1F}]])){1,}"


def test_chat_spelling_builds_a_strict_one_string_tool_with_its_grammar_described() -> None:
    spec = {
        "name": "sql",
        "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /a/"}},
    }
    req = parse_tool_request([{"type": "custom", "custom": spec}], "required", None)
    assert req is not None
    [tool] = req.tools
    assert tool.custom == CustomFormat("lark", "start: /a/") and tool.parameters["required"] == ["input"]
    assert "lark grammar:\nstart: /a/" in tool.as_template_tool()["function"]["description"]
