"""Model text → OpenAI message deltas (plain content, or tool calls parsed as they are generated).

Streaming sends each delta as a chunk; non-streaming merges the very same deltas into one message, so
both answers are equal by construction.
"""

from __future__ import annotations

import secrets
from typing import Any

from fncall.tools.parser import CallArgs, CallBegin, CallSyntax, Content, Event, ToolCallParser
from fncall.tools.spec import ToolRequest

Delta = dict[str, Any]


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


class ChoiceBuilder:
    def __init__(self, tools: ToolRequest | None, syntax: CallSyntax) -> None:
        parse = tools is not None and tools.mode != "none"  # "none": nothing is converted
        self._parser = ToolCallParser(syntax, tools.allowed) if parse and tools else None
        self.n_calls = 0

    def feed(self, text: str) -> list[Delta]:
        if self._parser is None:
            return [{"content": text}] if text else []
        return [self._delta(event) for event in self._parser.feed(text)]

    def finish(self) -> list[Delta]:
        return [self._delta(event) for event in self._parser.finish()] if self._parser else []

    def finish_reason(self, engine_reason: str) -> str:
        return "tool_calls" if self.n_calls and engine_reason == "stop" else engine_reason

    def _delta(self, event: Event) -> Delta:
        match event:
            case Content(text=text):
                return {"content": text}
            case CallBegin(index=index, name=name):
                self.n_calls += 1
                call = {"index": index, "id": new_call_id(), "type": "function"}
                return {"tool_calls": [call | {"function": {"name": name, "arguments": ""}}]}
            case CallArgs(index=index, text=text):
                return {"tool_calls": [{"index": index, "function": {"arguments": text}}]}


def merge(deltas: list[Delta]) -> dict[str, Any]:
    """The assistant message the deltas add up to: content None when only calls were made."""
    content: list[str] = []
    calls: list[dict[str, Any]] = []
    for delta in deltas:
        if "content" in delta:
            content.append(delta["content"])
        for part in delta.get("tool_calls", ()):
            if "id" in part:
                calls.append({"id": part["id"], "type": "function", "function": dict(part["function"])})
            else:
                calls[part["index"]]["function"]["arguments"] += part["function"]["arguments"]
    text = "".join(content)
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    message |= {"refusal": None, "annotations": []}
    if calls:
        message["tool_calls"] = calls
    return message
