"""Chat deltas → Responses output items and stream events.

`ItemStream` turns each delta into events (an item opens on its first delta and is done when another
kind starts) and keeps the finished items; the non-streamed response's `output` is those same items, so
both answers are equal by construction. `sequence_number` is added when the events are sent.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from fncall.api.choices import Delta
from fncall.tools.custom import INPUT

Event = dict[str, Any]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


class ItemStream:
    """Output items for one generation: `feed` each delta, then `close`; `output` holds the done items.

    Calls of the `custom` tools become `custom_tool_call` items: their chat arguments are
    `{"input": "<JSON string>"}`, decoded as they grow, so `response.custom_tool_call_input.delta`
    events carry the input as it is written (an escape sequence once it is complete).
    """

    def __init__(self, custom: frozenset[str] = frozenset()) -> None:
        self.output: list[dict[str, Any]] = []
        self._custom = custom
        self._item: dict[str, Any] | None = None  # the open item
        self._call: int | None = None  # the chat index of the open function call
        self._arguments = ""  # a custom call's arguments so far

    def feed(self, delta: Delta) -> list[Event]:
        events: list[Event] = []
        if delta.get("reasoning_content"):
            events += self._text("reasoning", "reasoning_text", delta["reasoning_content"])
        if delta.get("content"):
            events += self._text("message", "output_text", delta["content"])
        for part in delta.get("tool_calls", ()):
            if "id" in part:
                events += self.close()
                events += self._open(self._call_item(part["id"], part["function"]["name"]))
                self._call = part["index"]
            if self._item is not None and self._item["type"] == "custom_tool_call":
                self._arguments += part["function"]["arguments"]
                events += self._custom_delta()
            elif part["function"]["arguments"] and self._item is not None:
                self._item["arguments"] += part["function"]["arguments"]
                events.append(
                    self._event("response.function_call_arguments.delta", delta=part["function"]["arguments"])
                )
        return events

    def _custom_delta(self) -> list[Event]:
        """The input decoded so far, past what was sent (decoding a longer prefix only extends it)."""
        assert self._item is not None
        sent, decoded = self._item["input"], custom_input(self._arguments)
        if len(decoded) <= len(sent):
            return []
        self._item["input"] = decoded
        return [self._event("response.custom_tool_call_input.delta", delta=decoded[len(sent) :])]

    def _call_item(self, call_id: str, name: str) -> dict[str, Any]:
        if name in self._custom:
            item = {"id": new_id("ctc"), "type": "custom_tool_call", "status": "in_progress"}
            return item | {"call_id": call_id, "name": name, "input": ""}
        item = {"id": new_id("fc"), "type": "function_call", "status": "in_progress"}
        return item | {"call_id": call_id, "name": name, "arguments": ""}

    def close(self) -> list[Event]:
        events = self._custom_delta() if self._item and self._item["type"] == "custom_tool_call" else []
        item, self._item, self._call, self._arguments = self._item, None, None, ""
        if item is None:
            return []
        index = len(self.output)
        if item["type"] == "custom_tool_call":
            where = {"item_id": item["id"], "output_index": index, "input": item["input"]}
            events.append({"type": "response.custom_tool_call_input.done"} | where)
        elif item["type"] == "function_call":
            done = {
                "item_id": item["id"],
                "output_index": index,
                "name": item["name"],
                "arguments": item["arguments"],
            }
            events.append({"type": "response.function_call_arguments.done"} | done)
        else:
            part = item["content"][0]
            kind = (
                "response.output_text.done"
                if part["type"] == "output_text"
                else "response.reasoning_text.done"
            )
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            extra: dict[str, Any] = {"logprobs": []} if part["type"] == "output_text" else {}
            events.append({"type": kind} | where | {"text": part["text"]} | extra)
            events.append({"type": "response.content_part.done"} | where | {"part": dict(part)})
        item["status"] = "completed"
        self.output.append(item)
        events.append({"type": "response.output_item.done", "output_index": index, "item": _copy(item)})
        return events

    def _text(self, kind: str, part_type: str, text: str) -> list[Event]:
        events: list[Event] = []
        if self._item is None or self._item["type"] != kind:
            events += self.close()
            part: dict[str, Any] = {"type": part_type, "text": ""}
            if kind == "message":
                part |= {"annotations": [], "logprobs": []}
                item: dict[str, Any] = {"id": new_id("msg"), "type": "message", "status": "in_progress"}
                item["role"] = "assistant"
            else:
                item = {"id": new_id("rs"), "type": "reasoning", "summary": []}
            events += self._open(item | {"content": []})
            assert self._item is not None
            self._item["content"].append(part)
            where = {"item_id": item["id"], "output_index": len(self.output), "content_index": 0}
            added = dict(part)
            events.append({"type": "response.content_part.added"} | where | {"part": added})
        assert self._item is not None
        self._item["content"][0]["text"] += text
        name = "response.output_text.delta" if kind == "message" else "response.reasoning_text.delta"
        extra: dict[str, Any] = {"logprobs": []} if kind == "message" else {}
        return [*events, self._event(name, content_index=0, delta=text, **extra)]

    def _open(self, item: dict[str, Any]) -> list[Event]:
        self._item = item
        return [{"type": "response.output_item.added", "output_index": len(self.output), "item": _copy(item)}]

    def _event(self, name: str, **fields: Any) -> Event:
        assert self._item is not None
        return {"type": name, "item_id": self._item["id"], "output_index": len(self.output)} | fields


def custom_input(arguments: str) -> str:
    """A custom call's input from its chat arguments `{"input": "…"}`; what can be read of it if cut short."""
    try:
        value = json.loads(arguments).get(INPUT)
    except (ValueError, AttributeError):
        value = None
    if isinstance(value, str):
        return value
    text = arguments.partition(":")[2].strip().removeprefix('"')  # cut short: decode what was written
    for end in range(len(text), max(len(text) - 8, -1), -1):  # only an escape can be left open
        try:
            decoded: str = json.loads('"' + text[:end] + '"')
            return decoded
        except ValueError:
            continue
    return ""


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    copied = dict(item)
    if "content" in copied:
        copied["content"] = [dict(part) for part in copied["content"]]
    return copied


def usage(chat_usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "input_tokens": chat_usage["prompt_tokens"],
        "input_tokens_details": {
            "cached_tokens": chat_usage["prompt_tokens_details"]["cached_tokens"],
            "cache_write_tokens": 0,
        },
        "output_tokens": chat_usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": chat_usage["total_tokens"],
    }
