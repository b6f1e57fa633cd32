"""Incremental tool-call parser: generated text, in any chunking, becomes Content/CallBegin/CallArgs events.

A character-level state machine: decisions depend only on the text so far, so any split of a text gives the
same (merged) events. Error policy: bad model output becomes `Content`, never an exception; only a
`CallSyntax` with an empty marker is refused (`ValueError`).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, get_args

_WS = " \t\n\r"  # JSON whitespace
_FENCE = "```"


@dataclass(frozen=True, slots=True)
class CallSyntax:
    """How one model family writes a call: `open` JSON-object `close`, with the keys named here."""

    open: str
    close: str
    name_key: str = "name"
    args_key: str = "arguments"
    fence: bool = False  # also accept a Markdown-fenced call at the very start of the output

    def __post_init__(self) -> None:
        if not self.open or not self.close:
            raise ValueError("CallSyntax.open and CallSyntax.close must be non-empty marker strings")


@dataclass(frozen=True, slots=True)
class Content:
    text: str


@dataclass(frozen=True, slots=True)
class CallBegin:
    index: int
    name: str


@dataclass(frozen=True, slots=True)
class CallArgs:
    index: int
    text: str


Event: TypeAlias = Content | CallBegin | CallArgs


@dataclass(slots=True)
class ParsedMessage:
    content: str | None
    calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON text)


_Elem: TypeAlias = tuple[Literal["ws", "lit", "opt", "name"], str]
_Status: TypeAlias = Literal["partial", "done", "fail"]
_Match: TypeAlias = tuple[_Status, int, int, str]


def _head_pattern(syntax: CallSyntax) -> list[_Elem]:
    """`{"name": "<declared>", "arguments": {` with JSON whitespace anywhere between the tokens."""
    tokens: list[_Elem] = [("lit", "{"), ("lit", json.dumps(syntax.name_key)), ("lit", ":"), ("name", "")]
    tokens += [("lit", ","), ("lit", json.dumps(syntax.args_key)), ("lit", ":"), ("lit", "{")]
    pattern: list[_Elem] = []
    for token in tokens:
        pattern += [("ws", ""), token]
    return pattern


def _tail_pattern(close: str) -> list[_Elem]:
    """After the arguments value: the object's `}` (tolerated when missing), then the close marker."""
    return [("ws", ""), ("opt", "}"), ("ws", ""), ("lit", close)]


def _match(text: str, pattern: Sequence[_Elem], names: Collection[str], elem: int, pos: int) -> _Match:
    """Resume matching `pattern[elem:]` at `text[pos:]`. Resuming where the last call stopped keeps a long run
    of whitespace linear, not quadratic. Returns the status, the element reached and where it starts (for
    'fail': the failing element) and the name matched on the way, if any."""
    name = ""
    for i in range(elem, len(pattern)):
        kind, lit = pattern[i]
        if kind == "ws":
            while pos < len(text) and text[pos] in _WS:
                pos += 1
            if pos == len(text):
                return "partial", i, pos, name
        elif kind == "name":
            status, end, name = _match_name(text, pos, names)
            if status != "done":
                return status, i, pos, name
            pos = end
        else:
            got = text[pos : pos + len(lit)]
            if got == lit:
                pos += len(lit)
            elif len(got) < len(lit) and lit.startswith(got):
                return "partial", i, pos, name
            elif kind == "lit":
                return "fail", i, pos, name
    return "done", len(pattern), pos, name


def _match_name(text: str, pos: int, names: Collection[str]) -> tuple[_Status, int, str]:
    if pos == len(text):
        return "partial", pos, ""
    if text[pos] != '"':
        return "fail", pos, ""
    end = text.find('"', pos + 1)
    if end < 0:
        so_far = text[pos + 1 :]
        return ("partial" if any(n.startswith(so_far) for n in names) else "fail"), pos, ""
    name = text[pos + 1 : end]
    return ("done" if name in names else "fail"), end + 1, name


def _held_suffix(text: str, marker: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `marker`."""
    for k in range(min(len(text), len(marker) - 1), 0, -1):
        if text.endswith(marker[:k]):
            return k
    return 0


def _load_call(body: str, syntax: CallSyntax, names: Collection[str]) -> tuple[str, str] | None:
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


_Mode: TypeAlias = Literal["fence", "text", "head", "block", "args", "tail", "skip"]


@dataclass(slots=True)
class _State:
    mode: _Mode
    buf: str = ""  # held-back text of the current mode
    calls: int = 0  # calls begun so far; the current call's index is calls - 1
    after_call: bool = False  # drop whitespace right after a call
    close: str = ""  # what ends the current call block: syntax.close or the closing fence
    elem: int = 0  # pattern matcher: element reached, where it starts in buf, the call's name once matched
    pos: int = 0
    name: str = ""
    depth: int = 0  # JSON scanner: nesting depth, string and escape state
    in_string: bool = False
    escape: bool = False


class ToolCallParser:
    """Streaming parser: `feed(delta)` returns the events known so far, `finish()` releases held-back text.

    Modes: `fence` (start of output, fence=True), `text`, `head` (after the open marker: the call's head),
    `block` (head did not match: json.loads the body at the close marker), `args` (streaming the arguments),
    `tail` (`}` and the close marker), `skip` (extra keys after the arguments, up to the close marker).
    """

    def __init__(self, syntax: CallSyntax, tool_names: Collection[str]) -> None:
        self._syntax = syntax
        self._names = frozenset(tool_names)
        self._head = _head_pattern(syntax)
        self._fence: list[_Elem] = [("ws", ""), ("lit", _FENCE), ("opt", "json"), *self._head]
        self._state = _State(mode="fence" if syntax.fence else "text")
        self._queue: deque[str] = deque()
        self._out: list[Event] = []
        # text not yet in _out, joined when the kind changes or at a flush: (call index or None, parts)
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
        if s.mode in ("fence", "text"):
            self._emit(None, s.buf)
        elif s.mode in ("head", "block"):
            self._emit(None, self._syntax.open + s.buf)
        s.mode, s.buf = "text", ""
        return self._flush()

    def _emit(self, index: int | None, text: str) -> None:
        """Content (index None) or CallArgs text; adjacent text of one kind is joined once, at the end."""
        if text and self._run[0] != index:
            self._end_run()
            self._run = (index, [])
        self._run[1].append(text)

    def _end_run(self) -> None:
        index, parts = self._run
        if text := "".join(parts):
            self._out.append(Content(text) if index is None else CallArgs(index, text))
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

    def _step_text(self, ch: str) -> None:
        s = self._state
        if s.after_call and not s.buf and ch in _WS:
            return
        s.after_call = False
        buf, marker = s.buf + ch, self._syntax.open
        if buf == marker:
            s.close = self._syntax.close
            self._enter("head")
            return
        keep = _held_suffix(buf, marker)
        self._emit(None, buf[: len(buf) - keep])
        s.buf = buf[len(buf) - keep :]

    def _advance(self, ch: str, pattern: Sequence[_Elem]) -> tuple[_Status, int]:
        """Buffer `ch` and resume matching `pattern`: the status and the position reached."""
        s = self._state
        s.buf += ch
        status, s.elem, s.pos, name = _match(s.buf, pattern, self._names, s.elem, s.pos)
        s.name = name or s.name
        return status, s.pos

    def _step_fence(self, ch: str) -> None:
        s = self._state
        status, _ = self._advance(ch, self._fence)
        if status == "done":
            self._begin_call(s.name, _FENCE)
        elif status == "fail":
            held = s.buf
            self._enter("text")
            self._replay(held)

    def _step_head(self, ch: str) -> None:
        s = self._state
        status, _ = self._advance(ch, self._head)
        if status == "done":
            self._begin_call(s.name, self._syntax.close)
        elif status == "fail":
            body = s.buf
            if body.lstrip(_WS).startswith("{"):
                self._enter("block")  # maybe a call in another key order: decide at the close marker
            else:
                self._enter("text")  # not JSON at all: the marker was just text
                self._emit(None, self._syntax.open)
            self._replay(body)

    def _begin_call(self, name: str, close: str) -> None:
        self._enter("args", depth=1)
        self._state.close = close
        self._emit_call(name, "{")

    def _step_args(self, ch: str) -> None:
        s = self._state
        self._emit(s.calls - 1, ch)
        self._scan(ch)
        if s.depth == 0:
            self._enter("tail")

    def _step_tail(self, ch: str) -> None:
        s = self._state
        status, pos = self._advance(ch, _tail_pattern(s.close))
        if status == "done":
            self._enter("text")
            s.after_call = True
        elif status == "fail":
            rest, extra_keys = s.buf[pos:], s.buf[pos:].startswith(",") and "}" not in s.buf[:pos]
            # more keys after the arguments are part of the call: skip them; anything else is text
            self._enter("skip" if extra_keys else "text")
            s.after_call = True
            self._replay(rest)

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
        body = s.buf[: -len(s.close)]
        call = _load_call(body, self._syntax, self._names)
        self._enter("text")
        if call is None:
            self._emit(None, self._syntax.open + body + self._syntax.close)
            return
        self._emit_call(*call)
        s.after_call = True

    def _step_skip(self, ch: str) -> None:
        if self._closed(ch):
            self._enter("text")
            self._state.after_call = True


def parse(syntax: CallSyntax, tool_names: Collection[str], text: str) -> list[Event]:
    """One-shot parse: the same events as streaming `text` in any chunking, merged."""
    parser = ToolCallParser(syntax, tool_names)
    events = parser.feed(text)
    for ev in parser.finish():  # released held-back text continues a trailing Content
        if events and isinstance(ev, Content) and isinstance(events[-1], Content):
            events[-1] = Content(events[-1].text + ev.text)
        else:
            events.append(ev)
    return events


def collect(events: Iterable[Event]) -> ParsedMessage:
    """Merge events into the message's content (None when empty) and its calls, in index order."""
    content: list[str] = []
    calls: dict[int, tuple[str, list[str]]] = {}
    for ev in events:
        if isinstance(ev, Content):
            content.append(ev.text)
        elif isinstance(ev, CallBegin):
            calls[ev.index] = (ev.name, [])
        elif ev.index in calls:
            calls[ev.index][1].append(ev.text)
    text = "".join(content)
    return ParsedMessage(text or None, [(name, "".join(parts)) for _, (name, parts) in sorted(calls.items())])
