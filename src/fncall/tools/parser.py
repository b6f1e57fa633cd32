"""Incremental tool-call parser: generated text, in any chunking, becomes Content/CallBegin/CallArgs events.

A character-level state machine driven by a family's `CallSyntax` (tools/syntax.py): decisions depend only
on the text so far, so any split of a text gives the same (merged) events. Error policy: bad model output
becomes `Content`, never an exception; only an inconsistent `CallSyntax` is refused (`ValueError`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, get_args

from fncall.tools.pythonic import KwargsToJson
from fncall.tools.syntax import (
    FENCE,
    WS,
    CallSyntax,
    Elem,
    Status,
    head_pattern,
    held_suffix,
    load_call,
    match,
    start_pattern,
    tail_pattern,
)

__all__ = [
    "CallArgs",
    "CallBegin",
    "CallSyntax",
    "Content",
    "Event",
    "ParsedMessage",
    "Reasoning",
    "ToolCallParser",
    "collect",
    "parse",
]


@dataclass(frozen=True, slots=True)
class Content:
    text: str


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Text of the model's reasoning block (Qwen3's <think>), kept out of content and calls."""

    text: str


@dataclass(frozen=True, slots=True)
class CallBegin:
    index: int
    name: str


@dataclass(frozen=True, slots=True)
class CallArgs:
    index: int
    text: str


Event: TypeAlias = Content | Reasoning | CallBegin | CallArgs


@dataclass(slots=True)
class ParsedMessage:
    content: str | None
    calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON text)
    reasoning: str | None = None


_REASONING = -1  # run key of reasoning text (content is None, call arguments their index)


_Mode: TypeAlias = Literal["think", "reason", "start", "text", "head", "block", "args", "tail", "skip"]


@dataclass(slots=True)
class _State:
    mode: _Mode
    buf: str = ""  # held-back text of the current mode
    calls: int = 0  # calls begun so far; the current call's index is calls - 1
    after_call: bool = False  # drop whitespace right after a call (or a reasoning block)
    close: str = ""  # what ends the current call block: syntax.close or the closing fence
    opened: str = ""  # the marker text consumed before the current head: given back if it is no call
    first: bool = True  # the head follows the open marker (not a list's `,`)
    elem: int = 0  # pattern matcher: element reached, where it starts in buf, the call's name once matched
    pos: int = 0
    name: str = ""
    depth: int = 0  # JSON scanner: nesting depth, string and escape state
    in_string: bool = False
    escape: bool = False
    kwargs: KwargsToJson | None = None  # pythonic arguments being translated to JSON


class ToolCallParser:
    """Streaming parser: `feed(delta)` returns the events known so far, `finish()` releases held-back text.

    Modes: `think` (does the output open a reasoning block?), `reason` (inside it), `start` (a fenced or
    anchored call at the start), `text`, `head` (after the open marker:
    the call's head), `block` (head did not match: json.loads the body at the close marker), `args`
    (streaming the arguments), `tail` (`}` and the close marker, or the next call object in the block),
    `skip` (extra keys after the arguments, up to the close marker or the object's end).
    """

    def __init__(self, syntax: CallSyntax, tool_names: Collection[str]) -> None:
        self._syntax = syntax
        self._names = frozenset(tool_names)
        self._heads = {True: head_pattern(syntax, first=True), False: head_pattern(syntax, first=False)}
        self._start = start_pattern(syntax)
        self._think: list[Elem] = [("ws", ""), ("lit", syntax.think[0])] if syntax.think else []
        self._text_head = syntax.text_name + syntax.name_end if syntax.text_name else ""
        self._state = _State(mode="text")
        if syntax.think_open:
            self._state.mode, self._state.after_call = "reason", True
        elif syntax.think:
            self._state.mode = "think"
        else:
            self._begin_output()
        self._queue: deque[str] = deque()
        self._out: list[Event] = []
        # text not yet in _out, joined when the kind changes or at a flush: (run key, parts)
        self._run: tuple[int | None, list[str]] = (None, [])
        self._steps: dict[_Mode, Callable[[str], None]] = {
            m: getattr(self, f"_step_{m}") for m in get_args(_Mode)
        }

    def feed(self, delta: str) -> list[Event]:
        self._queue.extend(delta)
        while self._queue:
            self._steps[self._state.mode](self._queue.popleft())
        return self._flush()

    def finish(self) -> list[Event]:
        """End of generation: a call cut off after CallBegin stays as streamed; held text becomes Content."""
        s = self._state
        if s.mode in ("think", "start", "text"):
            self._emit(None, s.buf.lstrip(WS) if s.after_call else s.buf)
        elif s.mode == "reason":
            self._emit(_REASONING, s.buf)
        elif s.mode in ("head", "block"):
            self._emit(None, s.opened + s.buf)
        s.mode, s.buf = "text", ""
        return self._flush()

    def _emit(self, key: int | None, text: str) -> None:
        """Content (key None), reasoning or CallArgs text; adjacent text of one kind is joined at the end."""
        if text and self._run[0] != key:
            self._end_run()
            self._run = (key, [])
        self._run[1].append(text)

    def _end_run(self) -> None:
        key, parts = self._run
        if text := "".join(parts):
            if key is None:
                self._out.append(Content(text))
            elif key == _REASONING:
                self._out.append(Reasoning(text))
            else:
                self._out.append(CallArgs(key, text))
        parts.clear()

    def _emit_call(self, name: str, args: str) -> None:
        s = self._state
        self._end_run()
        self._out.append(CallBegin(s.calls, name))
        self._emit(s.calls, args)
        s.calls += 1

    def _flush(self) -> list[Event]:
        self._end_run()
        out, self._out = self._out, []
        return out

    def _replay(self, text: str) -> None:
        """Process already-seen text again (in the new mode), before any unread input."""
        self._queue.extendleft(reversed(text))

    def _scan(self, ch: str) -> None:
        s = self._state
        if s.in_string:
            if s.escape:
                s.escape = False
            elif ch == "\\":
                s.escape = True
            elif ch == '"':
                s.in_string = False
        elif ch == '"':
            s.in_string = True
        elif ch in "{[":
            s.depth += 1
        elif ch in "}]":
            s.depth -= 1

    def _enter(self, mode: _Mode, *, depth: int = 0) -> None:
        s = self._state
        s.mode, s.buf, s.elem, s.pos, s.name = mode, "", 0, 0, ""
        s.depth, s.in_string, s.escape = depth, False, False

    def _begin_output(self) -> None:
        """The mode the output proper (after any reasoning block) starts in."""
        if self._start is not None:
            self._enter("start")
        elif self._syntax.open_in_prompt:
            self._enter_head(opened="", first=True)
        else:
            self._enter("text")

    def _enter_head(self, *, opened: str, first: bool) -> None:
        self._enter("head")
        self._state.opened, self._state.first = opened, first

    def _after_call(self) -> None:
        # anchored calls may follow one another, and so may fenced ones (Qwen writes parallel calls as
        # consecutive fences); otherwise text (or the next open marker) follows
        s = self._state
        again = not self._syntax.open or (self._syntax.fence and s.close == FENCE)
        self._enter("start" if again else "text")
        s.after_call = True

    def _advance(self, ch: str, pattern: Sequence[Elem]) -> tuple[Status, int]:
        """Buffer `ch` and resume matching `pattern`: the status and the position reached."""
        s = self._state
        s.buf += ch
        status, s.elem, s.pos, name = match(s.buf, pattern, self._names, s.elem, s.pos)
        s.name = name or s.name
        return status, s.pos

    def _step_think(self, ch: str) -> None:
        s = self._state
        status, _ = self._advance(ch, self._think)
        if status == "done":
            self._enter("reason")
            s.after_call = True
        elif status == "fail":
            held = s.buf
            self._begin_output()
            self._replay(held)

    def _step_reason(self, ch: str) -> None:
        s = self._state
        if s.after_call and not s.buf and ch in WS:
            return
        s.after_call = False
        buf, marker = s.buf + ch, self._syntax.think[1] if self._syntax.think else ""
        if buf.endswith(marker):
            self._begin_output()
            s.after_call = True
            return
        call = self._syntax.open
        if call and buf.endswith(call):  # a call ends an unclosed reasoning block (and is a call)
            self._emit(_REASONING, buf[: -len(call)].rstrip(WS))
            self._begin_output()
            self._replay(call)
            return
        # whitespace before a closing marker is not part of the reasoning: hold it until text follows
        keep = max(held_suffix(buf, marker), held_suffix(buf, call))
        text = buf[: len(buf) - keep].rstrip(WS)
        self._emit(_REASONING, text)
        s.buf = buf[len(text) :]

    def _step_text(self, ch: str) -> None:
        s = self._state
        if s.after_call and not s.buf and ch in WS:
            return
        s.after_call = False
        buf, marker = s.buf + ch, self._syntax.open
        if marker and buf == marker:
            s.close = self._syntax.close
            self._enter_head(opened=marker, first=True)
            return
        keep = held_suffix(buf, marker)
        self._emit(None, buf[: len(buf) - keep])
        s.buf = buf[len(buf) - keep :]

    def _step_start(self, ch: str) -> None:
        s = self._state
        assert self._start is not None
        status, _ = self._advance(ch, self._start)
        if status == "done":
            fenced = self._syntax.fence
            self._begin_call(s.name, FENCE if fenced else self._syntax.close)
        elif status == "fail":
            held = s.buf
            self._enter("text")
            self._replay(held)

    def _step_head(self, ch: str) -> None:
        s = self._state
        status, _ = self._advance(ch, self._heads[s.first])
        if self._text_head and self._text_head.startswith(s.buf):
            if s.buf == self._text_head:
                self._enter("text")  # the recipient is the user: plain text follows
            return
        if status == "done":
            self._begin_call(s.name, self._syntax.close)
        elif status == "fail":
            body, opened = s.buf, s.opened
            if self._can_block() and s.first and body.lstrip(WS).startswith("{"):
                self._enter("block")  # maybe a call in another key order: decide at the close marker
                s.opened = opened
            else:
                self._enter("text")  # not a call: the marker was just text
                self._emit(None, opened)
            self._replay(body)

    def _can_block(self) -> bool:
        syntax = self._syntax
        return bool(syntax.close) and not syntax.name_end and not syntax.listed

    def _begin_call(self, name: str, close: str) -> None:
        self._enter("args", depth=1)
        self._state.close = close
        self._state.kwargs = KwargsToJson() if self._syntax.pythonic else None
        self._emit_call(name, "{")

    def _step_args(self, ch: str) -> None:
        s = self._state
        if s.kwargs is not None:
            self._emit(s.calls - 1, s.kwargs.feed(ch))
            if s.kwargs.done:
                s.kwargs = None
                self._enter("tail")
            return
        self._emit(s.calls - 1, ch)
        self._scan(ch)
        if s.depth == 0:
            self._enter("tail")

    def _step_tail(self, ch: str) -> None:
        s = self._state
        status, pos = self._advance(ch, tail_pattern(self._syntax, s.close))
        if status == "done":
            rest = s.buf[pos:]
            if self._syntax.listed or self._syntax.pythonic:
                self._between(rest)
                return
            self._after_call()
            self._replay(rest)
        elif status == "fail":
            rest, extra_keys = s.buf[pos:], s.buf[pos:].startswith(",") and "}" not in s.buf[:pos]
            if rest.startswith("{") and "}" in s.buf[:pos] and self._can_block():
                # another call object in the same block (Qwen writes parallel calls one per line)
                self._enter_head(opened="", first=True)
                self._replay(rest)
                return
            # more keys after the arguments are part of the call: skip them; anything else is text
            if extra_keys and not self._syntax.name_end:
                self._enter("skip", depth=1 if self._syntax.listed else 0)
                s.after_call = True
                self._replay(rest[1:] if self._syntax.listed else rest)
                return
            self._after_call()
            self._replay(rest)

    def _between(self, rest: str) -> None:
        """In a call list, after a call object: `,` starts the next call, `]` ends the list."""
        if rest == "":
            return  # the tail pattern is done only at a non-space character; nothing to decide yet
        if rest[0] == ",":
            self._enter_head(opened=",", first=False)
            self._replay(rest[1:])
        else:
            self._after_call()
            self._replay(rest[1:] if rest[0] == "]" else rest)

    def _closed(self, ch: str) -> bool:
        """Buffer `ch`; True when the buffer ends with the block's close marker outside any JSON string."""
        s = self._state
        s.buf += ch
        self._scan(ch)
        return not s.in_string and s.buf.endswith(s.close)

    def _step_block(self, ch: str) -> None:
        s = self._state
        if not self._closed(ch):
            return
        body, opened = s.buf[: -len(s.close)], s.opened
        call = load_call(body, self._syntax, self._names)
        self._enter("text")
        if call is None:
            self._emit(None, opened + body + self._syntax.close)
            return
        self._emit_call(*call)
        s.after_call = True

    def _step_skip(self, ch: str) -> None:
        s = self._state
        if self._syntax.listed:
            # skip to the end of the call object, then decide as after its `}`
            s.buf += ch
            self._scan(ch)
            if s.depth == 0:
                self._enter("tail")
                self._replay("}")
            return
        if self._closed(ch):
            self._after_call()


def parse(syntax: CallSyntax, tool_names: Collection[str], text: str) -> list[Event]:
    """One-shot parse: the same events as streaming `text` in any chunking, merged."""
    parser = ToolCallParser(syntax, tool_names)
    events = parser.feed(text)
    for ev in parser.finish():  # released held-back text continues a trailing run of the same kind
        last = events[-1] if events else None
        if isinstance(ev, Content) and isinstance(last, Content):
            events[-1] = Content(last.text + ev.text)
        elif isinstance(ev, Reasoning) and isinstance(last, Reasoning):
            events[-1] = Reasoning(last.text + ev.text)
        else:
            events.append(ev)
    return events


def collect(events: Iterable[Event]) -> ParsedMessage:
    """Merge events into the message's content (None when empty), its calls in index order, its reasoning."""
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, tuple[str, list[str]]] = {}
    for ev in events:
        if isinstance(ev, Content):
            content.append(ev.text)
        elif isinstance(ev, Reasoning):
            reasoning.append(ev.text)
        elif isinstance(ev, CallBegin):
            calls[ev.index] = (ev.name, [])
        elif ev.index in calls:
            calls[ev.index][1].append(ev.text)
    text, thought = "".join(content), "".join(reasoning)
    parsed = [(name, "".join(parts)) for _, (name, parts) in sorted(calls.items())]
    return ParsedMessage(text or None, parsed, thought or None)
