"""The shape every tool format has: one definition drives prompt rendering, the grammar and the parser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fncall.tools.parser import CallSyntax


@dataclass(slots=True, frozen=True)
class Markers:
    """How the grammar writes the call delimiters: a special token id if the vocabulary has one."""

    open: str
    close: str


@dataclass(slots=True, frozen=True)
class ToolFormat:
    name: str
    syntax: CallSyntax
    # True when a chat template renders tools and calls in this format.
    detects: Callable[[str], bool]
    # Instructions for templates that cannot render tools themselves (tool list → system text).
    instructions: Callable[[str], str]
    # Lark rule `call` for one call, given the markers; it refers to the rule `body` (the JSON object).
    call_rule: Callable[[Markers], str]
