"""A request's input items as they are stored and listed (`GET /v1/responses/{id}/input_items`):
each with an `id` and in the shape OpenAI returns (`InputMessageResource`, `OutputMessage`,
`FunctionToolCallResource`, …). Called on input that `protocol.to_chat` has already accepted."""

from __future__ import annotations

from typing import Any

from fncall.api.responses.events import new_id

Item = dict[str, Any]


def request_items(given: str | list[Item]) -> list[Item]:
    """The request's `input` as a list of items (a string is one user message)."""
    return [{"role": "user", "content": given}] if isinstance(given, str) else list(given)


def stored_items(items: list[Item]) -> list[Item]:
    return [_stored(item) for item in items]


def _stored(item: Item) -> Item:
    kind = item.get("type", "message")
    if kind == "message":
        return _message(item)
    if kind in ("function_call", "custom_tool_call"):
        call: Item = {"id": _item_id(item, "fc" if kind == "function_call" else "ctc"), "type": kind}
        call |= {k: item[k] for k in ("call_id", "name", "arguments", "input") if k in item}
        return call | {"status": "completed"}
    if kind in ("function_call_output", "custom_tool_call_output"):
        prefix = "fco" if kind == "function_call_output" else "ctco"
        fields = {"type": kind, "call_id": item["call_id"], "output": item.get("output", "")}
        return {"id": _item_id(item, prefix)} | fields | {"status": "completed"}
    # reasoning: kept as sent, with an id
    summary = item.get("summary") if isinstance(item.get("summary"), list) else []
    reasoning: Item = {"id": _item_id(item, "rs"), "type": "reasoning", "summary": summary}
    return reasoning | ({"content": item["content"]} if isinstance(item.get("content"), list) else {})


def _message(item: Item) -> Item:
    role = item["role"]
    content = item.get("content")
    texts = [content] if isinstance(content, str) else [part["text"] for part in content or ()]
    parts: list[Item]
    if role == "assistant":
        parts = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []} for text in texts]
    else:
        parts = [{"type": "input_text", "text": text} for text in texts]
    message: Item = {"id": _item_id(item, "msg"), "type": "message", "role": role}
    return message | {"status": "completed", "content": parts}


def _item_id(item: Item, prefix: str) -> str:
    given = item.get("id")
    return given if isinstance(given, str) and given else new_id(prefix)
