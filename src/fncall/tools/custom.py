"""Custom tools (OpenAI's `type: "custom"`): a call's input is free text, optionally held to a grammar.

The call travels through the one tool pipeline as a function call whose arguments are
`{"input": "<the text as a JSON string>"}`, so every format, the parser and the stream stay as they
are. The grammar therefore has to hold the *JSON-escaped* text: JSON escaping maps each character on
its own (`"` → `\\"`, a newline → `\\n`, …), so escaping every terminal of the user's grammar escapes
its whole language. A `regex` grammar becomes a JSON-schema `pattern` (llguidance quotes it itself);
a `lark` grammar is rewritten here: its string literals are escaped, and each `/regex/` terminal is
read with Python's `re` parser and written back so that characters JSON must escape come out escaped
(`(?:[class&&SAFE]|\\"|\\n…)`). The rewritten grammar is nested into the call's grammar with
llguidance's `%lark { … }`, so its rule names cannot clash with ours.

What cannot be rewritten is refused with `InvalidParam` naming `tools[i].format`: lookarounds, anchors
and back-references in terminals, `%import`s other than llguidance's `common` terminals.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from typing import Any, Literal

from fncall.errors import InvalidParam

INPUT = "input"  # the one argument a custom tool's call has
MAX_DEFINITION_BYTES = 64 * 1024
_SPECIALS = frozenset([0x22, 0x5C, *range(0x20)])  # what JSON strings must escape
_SAFE = r"[^\x{22}\x{5C}\x{0}-\x{1F}]"
# llguidance's `common` terminals that hold characters JSON escapes, spelled out so they get rewritten.
_COMMON = {
    "WS_INLINE": r"[ \t]+",
    "WS": r"[ \t\f\r\n]+",
    "CR": r"\r",
    "LF": r"\n",
    "NEWLINE": r"(\r?\n)+",
    "SH_COMMENT": r"#[^\n]*",
    "CPP_COMMENT": r"//[^\n]*",
    "SQL_COMMENT": r"--[^\n]*",
    "ESCAPED_STRING": r'"([^"\\]|\\.)*"',
}
_TOKENS = re.compile(
    r"(?P<comment>//[^\n]*)"
    r'|(?P<string>"(?:[^"\\\n]|\\.)*")(?P<sflags>i?)'
    r"|(?P<regex>/(?:[^/\\\n]|\\.)+/)(?P<rflags>[imslux]*)"
    r"|(?P<import>^%import\s+common\.(?P<name>[A-Z_]+)[ \t]*$)",
    re.MULTILINE,
)
# Directives whose text is not the input's (JSON, nested grammars): their strings cannot be rewritten.
_REFUSED = re.compile(r"%(json|lark|llguidance)\b")


@dataclass(slots=True, frozen=True)
class CustomFormat:
    """How a custom tool's input is constrained: not at all (`text`), or by a grammar."""

    syntax: Literal["text", "lark", "regex"] = "text"
    definition: str = ""


def parameters() -> dict[str, Any]:
    """The parameters schema a custom tool presents as a function (to templates and the parser)."""
    return {
        "type": "object",
        "properties": {INPUT: {"type": "string"}},
        "required": [INPUT],
        "additionalProperties": False,
    }


def check(fmt: CustomFormat, param: str) -> None:
    """Compiles the format's rule alone (no vocabulary needed); InvalidParam naming `param` if it fails."""
    from fncall.tools.constraint import grammar_error  # the llguidance adapter; imported late (cycle)

    error = grammar_error("%llguidance {}\nstart: args\n" + arguments_rule("args", fmt, {}, param))
    if error:
        raise InvalidParam(f"The custom tool's {fmt.syntax} grammar is invalid: {error}", param)


def arguments_rule(name: str, fmt: CustomFormat, json_style: dict[str, Any], param: str) -> str:
    """The llguidance rule `name` for the call's arguments object; InvalidParam naming `param`."""
    if len(fmt.definition.encode()) > MAX_DEFINITION_BYTES:
        raise InvalidParam(f"The grammar is larger than {MAX_DEFINITION_BYTES} bytes.", param)
    if fmt.syntax == "lark":
        head = json.dumps("{" + json.dumps(INPUT) + ': "')
        return f'{name}: {head} %lark {{\n{quote_lark(fmt.definition, param)}\n}} "\\"}}"'
    schema = parameters()
    if fmt.syntax == "regex":
        schema["properties"][INPUT]["pattern"] = f"^(?:{fmt.definition})$"
    return f"{name}: %json {json.dumps(schema | {'x-guidance': json_style})}"


def quote_lark(grammar: str, param: str) -> str:
    """The grammar with every terminal JSON-escaped (see the module's docstring)."""
    refused = _REFUSED.search(grammar)
    if refused:
        raise InvalidParam(f"'{refused[0]}' is not supported in a custom tool's grammar.", param)

    def rewrite(match: re.Match[str]) -> str:
        if match["comment"]:
            return ""
        if match["import"]:
            name = match["name"]
            return f"{name}: /{quote_regex(_COMMON[name], '', param)}/" if name in _COMMON else match[0]
        if match["string"]:
            text = _lark_string(match["string"])
            if match["sflags"] and any(ord(c) in _SPECIALS for c in text):
                return f"/{quote_regex(re.escape(text), 'i', param)}/"
            escaped = json.dumps(text, ensure_ascii=False)[1:-1]
            return json.dumps(escaped, ensure_ascii=False) + match["sflags"]
        body = match["regex"][1:-1].replace("\\/", "/")
        return "/" + quote_regex(body, match["rflags"], param).replace("/", "\\/") + "/"

    return _TOKENS.sub(rewrite, grammar)


def quote_regex(pattern: str, flags: str, param: str) -> str:
    """A regex (Rust syntax out) matching the JSON-escaped strings of what `pattern` matches."""
    py_flags = sum(getattr(re, f.upper()) for f in flags if f in "imsx")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tree = re._parser.parse(pattern, py_flags)  # type: ignore[attr-defined]
    except (re.error, FutureWarning, DeprecationWarning) as exc:
        raise InvalidParam(f"The grammar's terminal /{pattern}/ cannot be read: {exc}.", param) from exc
    return ("(?i)" if "i" in flags else "") + _Writer(param, "s" in flags, "i" in flags).seq(tree)


class _Writer:
    """Writes a parsed regex back (Rust syntax), JSON-escaping what it matches."""

    def __init__(self, param: str, dotall: bool, ignorecase: bool) -> None:
        self.param, self.dotall, self.ignorecase = param, dotall, ignorecase

    def seq(self, nodes: Any) -> str:
        return "".join(self.node(op, av) for op, av in nodes)

    def node(self, op: Any, av: Any) -> str:
        c = re._constants  # type: ignore[attr-defined]
        if op is c.LITERAL:
            return self._escaped(av) if av in _SPECIALS else _char(av)
        if op is c.NOT_LITERAL:
            return self._class([(c.NEGATE, None), (c.LITERAL, av)])
        if op is c.ANY:
            return self._class([(c.NEGATE, None)] + ([] if self.dotall else [(c.LITERAL, 10)]))
        if op is c.IN:
            return self._class(list(av))
        if op is c.BRANCH:
            return "(?:" + "|".join(self.seq(branch) for branch in av[1]) + ")"
        if op is c.SUBPATTERN and not av[1] and not av[2]:
            return f"(?:{self.seq(av[3])})"
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, high, sub = av
            bound = f"{{{low},}}" if high is c.MAXREPEAT else f"{{{low},{high}}}"
            return f"(?:{self.seq(sub)}){bound}"
        raise InvalidParam(
            f"The grammar uses {str(op).lower()} in a terminal, which custom tools do not support "
            "(no anchors, lookarounds, back-references or inline flags).",
            self.param,
        )

    def _class(self, items: list[tuple[Any, Any]]) -> str:
        c = re._constants  # type: ignore[attr-defined]
        negated = bool(items) and items[0][0] is c.NEGATE
        members = [item for item in items if item[0] is not c.NEGATE]
        text = "".join(_class_item(op, av, self.param) for op, av in members)
        inner = f"[^{text}]" if negated else f"[{text}]"
        if negated and not text:
            inner = r"[\s\S]"
        special = [ch for ch in sorted(_SPECIALS) if _member(ch, members) != negated]
        return "(?:" + "|".join([f"[{inner}&&{_SAFE}]", *(self._escaped(ch) for ch in special)]) + ")"

    def _escaped(self, code: int) -> str:
        text = "".join(_char(ord(ch)) for ch in json.dumps(chr(code))[1:-1])
        return f"(?-i:{text})" if self.ignorecase else text


def _char(code: int) -> str:
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:X}}}"


_CATEGORIES = {"DIGIT": r"\d", "NOT_DIGIT": r"\D", "SPACE": r"\s", "NOT_SPACE": r"\S", "WORD": r"\w"}
_CATEGORIES |= {"NOT_WORD": r"\W"}


def _class_item(op: Any, av: Any, param: str) -> str:
    c = re._constants  # type: ignore[attr-defined]
    if op is c.LITERAL:
        return _char(av)
    if op is c.RANGE:
        return f"{_char(av[0])}-{_char(av[1])}"
    if op is c.CATEGORY:
        return _CATEGORIES[str(av).removeprefix("CATEGORY_")]
    raise InvalidParam(f"The grammar uses {str(op).lower()} in a character class.", param)


def _member(code: int, items: list[tuple[Any, Any]]) -> bool:
    c = re._constants  # type: ignore[attr-defined]
    for op, av in items:
        if (op is c.LITERAL and av == code) or (op is c.RANGE and av[0] <= code <= av[1]):
            return True
        if op is c.CATEGORY and re.fullmatch(_CATEGORIES[str(av).removeprefix("CATEGORY_")], chr(code)):
            return True
    return False


def _lark_string(literal: str) -> str:
    """A Lark string literal's text (JSON-style escapes; others are kept as written)."""
    try:
        text: str = json.loads(literal)
    except json.JSONDecodeError:
        text = re.sub(r"\\(.)", r"\1", literal[1:-1])
    return text
