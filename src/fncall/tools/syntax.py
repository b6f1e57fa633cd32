"""How a model family writes tool calls (`CallSyntax`), and the incremental pattern matching the parser
uses to recognise a call's head and tail in text that may still be growing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

WS = " \t\n\r"  # JSON whitespace
FENCE = "```"


@dataclass(frozen=True, slots=True)
class CallSyntax:
    """How one model family writes its calls; the grammar and this parser both follow it.

    A call is `open` + head + arguments object + tail + `close`. The head is either a JSON object's
    `{"<name_key>": "<name>", "<args_key>": ` (the arguments then close the object) or, with `name_end`, the
    bare name ended by `name_end` (`<function=NAME>{…}`). `listed` calls are one JSON list after a single
    `open` (`[TOOL_CALLS][{…}, {…}]`). With no `open`, calls are anchored: they may only begin the output
    (after whitespace and an optional `lead`) or follow another call.
    """

    open: str
    close: str = ""
    name_key: str = "name"
    args_key: str = "arguments"
    name_end: str = ""
    name_id: str = (
        ""  # with name_end: an optional `name_id` + call id may follow the name (Mistral's [CALL_ID])
    )
    listed: bool = False
    lead: str = ""
    fence: bool = False  # also accept Markdown-fenced calls (```json {…} ```) opening the output
    open_in_prompt: bool = False  # the generation prompt ends with `open`: the output starts in a head
    text_name: str = ""  # with name_end: this "name" introduces plain text (Functionary's `all`)
    think: tuple[str, str] | None = None  # a reasoning block the output may start with (Qwen3's <think>)
    think_open: bool = False  # the generation prompt opened that block: the output starts inside it
    pythonic: bool = False  # anchored `[name(key=value, …), …]` with Python literals (Llama 3.2)

    def __post_init__(self) -> None:
        if self.pythonic and (self.open or self.name_end or self.listed or self.fence):
            raise ValueError("CallSyntax.pythonic calls are anchored lists with their own heads")
        if (self.name_end or self.listed or self.open_in_prompt) and not self.open:
            raise ValueError("CallSyntax.name_end, listed and open_in_prompt need a non-empty open marker")
        if self.fence and not (self.open and self.close):  # a fenced call is rewritten into this form
            raise ValueError("CallSyntax.fence needs the open and close markers")
        if self.name_end and (self.listed or self.fence):
            raise ValueError("CallSyntax: a bare-name head cannot be listed or fenced")
        if self.think is not None and not all(self.think):
            raise ValueError("CallSyntax.think must be two non-empty markers")
        if self.think_open and self.think is None:
            raise ValueError("CallSyntax.think_open needs the think markers")

    @property
    def trigger(self) -> str:
        """The marker whose appearance starts a call: `open`, or `lead` for anchored calls."""
        return self.open or self.lead


Elem: TypeAlias = tuple[Literal["ws", "lit", "opt", "name", "bare", "upto"], str]
_MAX_ID = 64  # characters an "upto" element may skip (a call id)
Status: TypeAlias = Literal["partial", "done", "fail"]
Match: TypeAlias = tuple[Status, int, int, str]


def _spaced(tokens: Sequence[Elem]) -> list[Elem]:
    pattern: list[Elem] = []
    for token in tokens:
        pattern += [("ws", ""), token]
    return pattern


def object_head(syntax: CallSyntax) -> list[Elem]:
    """`{"name": "<declared>", "arguments": {` with JSON whitespace anywhere between the tokens."""
    tokens: list[Elem] = [("lit", "{"), ("lit", json.dumps(syntax.name_key)), ("lit", ":"), ("name", "")]
    tokens += [("lit", ","), ("lit", json.dumps(syntax.args_key)), ("lit", ":"), ("lit", "{")]
    return _spaced(tokens)


def head_pattern(syntax: CallSyntax, *, first: bool) -> list[Elem]:
    """What follows the open marker (or, in a call list, the `,` between calls) up to the arguments' `{`
    (for pythonic calls: up to the `(`)."""
    if syntax.pythonic:
        return [("ws", ""), ("bare", "("), ("lit", "(")]
    if syntax.name_end:
        end = syntax.name_end
        if syntax.name_id:  # NAME[CALL_ID]id[ARGS]: the name ends at either marker, the id is skipped
            return [
                ("bare", f"{end}\0{syntax.name_id}"),
                ("opt", syntax.name_id),
                ("upto", end),
                ("lit", end),
                ("ws", ""),
                ("lit", "{"),
            ]
        return [("bare", end), ("lit", end), ("ws", ""), ("lit", "{")]
    if syntax.listed and first:
        return [("ws", ""), ("lit", "["), *object_head(syntax)]
    return object_head(syntax)


def start_pattern(syntax: CallSyntax) -> list[Elem] | None:
    """A call that may only begin the output: a fenced one, or an anchored one (no open marker)."""
    if syntax.fence:  # `[` too: a fenced list of calls is held back until the grammar rewrites it
        return [("ws", ""), ("lit", FENCE), ("opt", "json"), ("ws", ""), ("opt", "["), *object_head(syntax)]
    if syntax.pythonic:
        return [("ws", ""), ("opt", syntax.lead), ("ws", ""), ("lit", "["), *head_pattern(syntax, first=True)]
    if not syntax.open:
        return [("ws", ""), ("opt", syntax.lead), *object_head(syntax)]
    return None


def tail_pattern(syntax: CallSyntax, close: str) -> list[Elem]:
    """After the arguments value: the call object's `}` (tolerated when missing), then the close marker.
    A listed call's `}` is required: what follows it (`,` or `]`) decides whether another call comes."""
    if syntax.name_end:
        return [("ws", ""), ("lit", close)]
    if syntax.pythonic:  # the `)` ended the arguments; `,` or `]` follows
        return [("ws", "")]
    if syntax.listed:
        return [("ws", ""), ("lit", "}"), ("ws", "")]
    return [("ws", ""), ("opt", "}"), ("ws", ""), ("lit", close)]


def match(text: str, pattern: Sequence[Elem], names: Collection[str], elem: int, pos: int) -> Match:
    """Resume matching `pattern[elem:]` at `text[pos:]`. Resuming where the last call stopped keeps a long run
    of whitespace linear, not quadratic. Returns the status, the element reached and where it starts (for
    'fail': the failing element) and the name matched on the way, if any."""
    name = ""
    for i in range(elem, len(pattern)):
        kind, lit = pattern[i]
        if kind == "ws":
            while pos < len(text) and text[pos] in WS:
                pos += 1
            if pos == len(text):
                return "partial", i, pos, name
        elif kind in ("name", "bare"):
            status, end, name = (_match_name if kind == "name" else _match_bare)(text, pos, names, lit)
            if status != "done":
                return status, i, pos, name
            pos = end
        elif kind == "upto":
            stop = text.find(lit, pos)
            if stop < 0:
                return ("partial" if len(text) - pos <= _MAX_ID + len(lit) else "fail"), i, pos, name
            pos = stop
        else:
            got = text[pos : pos + len(lit)]
            if got == lit:
                pos += len(lit)
            elif len(got) < len(lit) and lit.startswith(got):
                return "partial", i, pos, name
            elif kind == "lit":
                return "fail", i, pos, name
    return "done", len(pattern), pos, name


def _match_name(text: str, pos: int, names: Collection[str], _: str) -> tuple[Status, int, str]:
    if pos == len(text):
        return "partial", pos, ""
    if text[pos] != '"':
        return "fail", pos, ""
    return _match_bare(text, pos + 1, names, '"')


def _match_bare(text: str, pos: int, names: Collection[str], ends: str) -> tuple[Status, int, str]:
    """A declared name at `pos`, ended by one of `ends` (NUL-separated; not consumed unless a quote)."""
    markers = ends.split("\0")
    stops = [i for i in (text.find(end, pos) for end in markers) if i >= 0]
    if not stops:  # so far: a prefix of a name, or a name and a prefix of an end marker
        so_far = text[pos:]
        partial = any(
            n.startswith(so_far)
            or (so_far.startswith(n) and any(e.startswith(so_far[len(n) :]) for e in markers))
            for n in names
        )
        return ("partial" if partial else "fail"), pos, ""
    stop = min(stops)
    name = text[pos:stop]
    return ("done" if name in names else "fail"), stop + (ends == '"'), name


def held_suffix(text: str, marker: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `marker`."""
    for k in range(min(len(text), len(marker) - 1), 0, -1):
        if text.endswith(marker[:k]):
            return k
    return 0


def load_call(body: str, syntax: CallSyntax, names: Collection[str]) -> tuple[str, str] | None:
    """The fallback: a whole call object parsed at once, or None when it is not a call to a declared tool."""
    try:
        obj = json.loads(body)
        if not isinstance(obj, dict):
            return None
        name, args = obj.get(syntax.name_key), obj.get(syntax.args_key)
        if not isinstance(name, str) or name not in names or not isinstance(args, dict):
            return None
        return name, json.dumps(args, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None
