"""Chat deltas → Anthropic's content blocks and stream events.

`BlockStream` turns each delta into events (a block opens on its first delta and closes when another
kind starts); the non-streamed message is `assemble` over the very same events, so both answers are
equal by construction.
"""

from __future__ import annotations

import json
from typing import Any

from fncall.api.choices import Delta

Event = dict[str, Any]

STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


class BlockStream:
    """Content-block events for one generation: `feed` each delta, then `close`."""

    def __init__(self) -> None:
        self._index = -1
        self._open: str | None = None  # "text", "thinking", or the open call's chat index as "call:N"

    def feed(self, delta: Delta) -> list[Event]:
        events: list[Event] = []
        if delta.get("reasoning_content"):
            events += self._into("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            events.append(self._delta({"type": "thinking_delta", "thinking": delta["reasoning_content"]}))
        if delta.get("content"):
            events += self._into("text", {"type": "text", "text": ""})
            events.append(self._delta({"type": "text_delta", "text": delta["content"]}))
        for part in delta.get("tool_calls", ()):
            if "id" in part:
                block = {"type": "tool_use", "id": part["id"], "name": part["function"]["name"], "input": {}}
                events += self._into(f"call:{part['index']}", block)
            if part["function"]["arguments"]:
                json_delta = {"type": "input_json_delta", "partial_json": part["function"]["arguments"]}
                events.append(self._delta(json_delta))
        return events

    def close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        return [{"type": "content_block_stop", "index": self._index}]

    def _into(self, kind: str, block: dict[str, Any]) -> list[Event]:
        if self._open == kind:
            return []
        events = self.close()
        self._index += 1
        self._open = kind
        return [*events, {"type": "content_block_start", "index": self._index, "content_block": block}]

    def _delta(self, delta: dict[str, Any]) -> Event:
        return {"type": "content_block_delta", "index": self._index, "delta": delta}


def usage(chat_usage: dict[str, Any]) -> dict[str, Any]:
    cached = chat_usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
    return {
        "input_tokens": chat_usage["prompt_tokens"] - cached,
        "output_tokens": chat_usage["completion_tokens"],
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def assemble(events: list[Event]) -> list[dict[str, Any]]:
    """The content blocks the events add up to (tool_use inputs parsed from their JSON deltas)."""
    blocks: list[dict[str, Any]] = []
    partial: dict[int, str] = {}
    for event in events:
        if event["type"] == "content_block_start":
            blocks.append(dict(event["content_block"]))
        elif event["type"] == "content_block_delta":
            block, delta = blocks[event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            else:
                partial[event["index"]] = partial.get(event["index"], "") + delta["partial_json"]
    for index, text in partial.items():
        blocks[index]["input"] = _input(text)
    return blocks


def _input(text: str) -> dict[str, Any]:
    """A call's arguments; those cut short by max_tokens are not JSON yet and stay `{}`."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
