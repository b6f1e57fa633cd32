"""The shape every tool format has: one definition drives prompt rendering, the grammar and the parser."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fncall.tools.syntax import CallSyntax

# A marker as the grammar must write it: `<[id]>` for a special token of the vocabulary, else a literal.
Tok = Callable[[str], str]
# An assistant turn's calls: (name, arguments object).
Calls = Sequence[tuple[str, dict[str, Any]]]
Messages = list[dict[str, Any]]


def openai_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def unchanged(messages: Messages) -> Messages:
    return messages


@dataclass(slots=True, frozen=True)
class ToolFormat:
    name: str
    syntax: CallSyntax
    # How `fncall formats` describes the detection rule, and the rule itself (template source → match).
    rule: str
    detects: Callable[[str], bool]
    # Instructions for templates that cannot render tools themselves (tool list → system text).
    instructions: Callable[[str], str]
    # The calls of one assistant turn written as the model writes them (fallback prompts, tests).
    spell: Callable[[Calls], str]
    # Lark rules defining `calls` (one turn's calls), given `Tok` and whether several calls are allowed.
    # They refer to the rule `body`: one call's name and arguments in the syntax's head style.
    calls_rules: Callable[[Tok, bool], list[str]]
    # Special tokens that identify the family in a vocabulary whose template renders no tools: then the
    # format is still the family's own, described in our system prompt.
    tokens: tuple[str, ...] = ()
    # Conversation adjustments the family's own template needs (ids, one call per turn, …).
    prepare: Callable[[Messages], Messages] = unchanged
    new_call_id: Callable[[], str] = openai_call_id


def json_call(
    name: str, arguments: dict[str, Any], *, name_key: str = "name", args_key: str = "arguments"
) -> str:
    return json.dumps({name_key: name, args_key: arguments}, ensure_ascii=False)


def random_id(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
