"""OpenAI chat messages (already schema-validated JSON) → the dicts Hugging Face chat templates expect.

Templates want `content` as a string, `tool_calls[].function.arguments` as an object, and know no
`developer` role; this is where those conventions are bridged, once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fncall.errors import InvalidParam


class ConversationError(InvalidParam):
    """The conversation itself is invalid."""


def to_template_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    known_calls: set[str] = set()
    out: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        item: dict[str, Any] = {"role": _role(msg["role"]), "content": _text(msg.get("content"), i)}
        if msg.get("name") is not None:
            item["name"] = msg["name"]
        calls = msg.get("tool_calls") or []
        if not calls and msg.get("function_call"):  # the deprecated shape; its result has no call id
            calls = [{"id": f"call_legacy{i}", "type": "function", "function": msg["function_call"]}]
        if calls:
            item["tool_calls"] = [_tool_call(call, i, j) for j, call in enumerate(calls)]
            known_calls.update(call["id"] for call in calls)
        if msg["role"] == "tool":
            item["tool_call_id"] = _tool_call_id(msg.get("tool_call_id"), known_calls, i)
        out.append(item)
    return out


def _tool_call_id(call_id: str | None, known: set[str], i: int) -> str:
    if call_id is None:
        raise ConversationError(
            f"messages[{i}] has role 'tool' but no 'tool_call_id'.", f"messages[{i}].tool_call_id"
        )
    if call_id not in known:
        raise ConversationError(
            f"messages[{i}].tool_call_id '{call_id}' does not match any earlier tool call.",
            f"messages[{i}].tool_call_id",
        )
    return call_id


def _role(role: str) -> str:
    # 'developer' is OpenAI's newer name for 'system'; legacy 'function' results are tool results.
    return {"developer": "system", "function": "tool"}.get(role, role)


def _text(content: str | Sequence[Mapping[str, Any]] | None, index: int) -> str | None:
    if content is None or isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        if part["type"] != "text":
            raise ConversationError(
                f"Content parts of type '{part['type']}' are not supported; send text parts only.",
                f"messages[{index}].content[{j}].type",
            )
        texts.append(part["text"])
    return "".join(texts)


def _tool_call(call: Mapping[str, Any], index: int, j: int) -> dict[str, Any]:
    function = call["function"]
    try:
        arguments = json.loads(function["arguments"]) if function["arguments"] else {}
    except json.JSONDecodeError as exc:
        raise ConversationError(
            f"messages[{index}].tool_calls[{j}].function.arguments is not valid JSON: {exc}.",
            f"messages[{index}].tool_calls[{j}].function.arguments",
        ) from exc
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments},
    }
